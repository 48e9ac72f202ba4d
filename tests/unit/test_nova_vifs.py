"""nova network_info to vmadm nics, resolvers and routes (nova/vifs.py)."""

from __future__ import annotations

import pytest
from nova.network import model as netmodel

from openstack_smartos.nova.vifs import (VifError, nics_from_network_info,
                                         resolvers_from_network_info, routes_from_network_info)

NET1 = "7c2d6a4f-5d0e-4a52-9bd4-3f0c1a2b3c4d"
NET2 = "0b9e8d7c-6f5a-4b3c-8d2e-1f0a9b8c7d6e"
TAGS = {"physnet1": "external", "provider": "admin"}


def real_vif(port="port-1", mac="FA:16:3E:00:00:01", net_id=NET1, physnet="physnet1",
             mtu=1500, details=None, profile=None, with_v6=True):
    """A VIF built with nova's own network model, as nova-compute hands it over."""
    v4 = netmodel.Subnet(
        cidr="10.0.0.0/24",
        gateway=netmodel.IP(address="10.0.0.1", type="gateway"),
        dns=[netmodel.IP(address="10.0.0.2", type="dns"),
             netmodel.IP(address="8.8.8.8", type="dns")],
        ips=[netmodel.FixedIP(address="10.0.0.5",
                              floating_ips=[netmodel.IP(address="172.24.4.9",
                                                        type="floating")])],
        routes=[netmodel.Route(cidr="192.168.50.0/24",
                               gateway=netmodel.IP(address="10.0.0.254")),
                netmodel.Route(cidr="10.9.9.9/32", gateway=netmodel.IP(address="10.0.0.253")),
                netmodel.Route(cidr="0.0.0.0/0", gateway=netmodel.IP(address="10.0.0.1"))],
    )
    subnets = [v4]
    if with_v6:
        subnets.append(netmodel.Subnet(
            cidr="fd00:1::/64",
            gateway=netmodel.IP(address="fd00:1::1", type="gateway"),
            dns=[netmodel.IP(address="fd00:1::53", type="dns")],
            ips=[netmodel.FixedIP(address="fd00:1::5")]))
    network = netmodel.Network(id=net_id, bridge=None, label="private", subnets=subnets,
                               mtu=mtu, physical_network=physnet, tunneled=False)
    return netmodel.VIF(id=port, address=mac, network=network, type="other",
                        details=details or {"port_filter": True}, profile=profile or {},
                        vnic_type="normal", active=True)


def plain_vif(mac="fa:16:3e:00:00:02", net_id=NET2, subnets=(), details=None, meta=None,
              profile=None, **extra):
    vif = {"id": "port-2", "address": mac,
           "network": {"id": net_id, "bridge": None, "label": "n",
                       "subnets": list(subnets), "meta": meta or {}},
           "details": details or {}, "profile": profile or {}, "type": "other",
           "vnic_type": "normal", "meta": {}}
    vif.update(extra)
    return vif


def test_real_nova_vif_to_zone_nic():
    vifs = netmodel.NetworkInfo([real_vif()])
    [nic] = nics_from_network_info(vifs, "joyent", TAGS, "external")
    assert nic == {"mac": "fa:16:3e:00:00:01", "nic_tag": "external",
                   "ips": ["10.0.0.5/24", "fd00:1::5/64"], "gateways": ["10.0.0.1"],
                   "primary": True, "mtu": 1500, "network_uuid": NET1}


def test_hvm_nics_get_a_model_and_only_the_first_is_primary():
    vifs = [real_vif(), real_vif(port="p2", mac="fa:16:3e:00:00:09", net_id=NET2,
                                 physnet="provider", mtu=None)]
    nics = nics_from_network_info(vifs, "bhyve", TAGS, "external")
    assert [n.get("primary") for n in nics] == [True, None]
    assert [n["model"] for n in nics] == ["virtio", "virtio"]
    assert nics[1]["nic_tag"] == "admin" and "mtu" not in nics[1]
    nics = nics_from_network_info(vifs, "bhyve", TAGS, "external", nic_model="e1000")
    assert {n["model"] for n in nics} == {"e1000"}


def test_nic_tag_fallbacks():
    assert nics_from_network_info([real_vif(physnet=None)], "joyent", TAGS,
                                  "internal")[0]["nic_tag"] == "internal"
    assert nics_from_network_info([real_vif(physnet="unmapped")], "joyent", TAGS,
                                  "internal")[0]["nic_tag"] == "internal"
    # hw_veb-style ports name the physical network in the VIF details
    vif = plain_vif(details={"physical_network": "provider"})
    assert nics_from_network_info([vif], "joyent", TAGS, "x")[0]["nic_tag"] == "admin"


@pytest.mark.parametrize("details, meta, expected", [
    ({"vlan": "120"}, {}, 120),
    ({"vlan": 7}, {}, 7),
    ({"network_type": "vlan", "segmentation_id": 300}, {}, 300),
    ({"network_type": "vxlan", "segmentation_id": 300}, {}, None),
    ({"segmentation_id": 300}, {}, None),
    ({}, {"vlan": 42}, 42),
    ({"vlan": 0}, {}, None),
    ({}, {}, None),
])
def test_vlan_id(details, meta, expected):
    [nic] = nics_from_network_info([plain_vif(details=details, meta=meta)], "joyent", {}, "e")
    assert nic.get("vlan_id") == expected


@pytest.mark.parametrize("vlan", ["abc", 4096, -1])
def test_bad_vlan(vlan):
    with pytest.raises(VifError, match="VLAN"):
        nics_from_network_info([plain_vif(details={"vlan": vlan})], "joyent", {}, "e")


def test_subnet_without_fixed_ip_asks_the_guest_to_configure_itself():
    subnets = [{"cidr": "10.1.0.0/16", "gateway": {"address": None}, "ips": [], "dns": []},
               {"cidr": "2001:db8::/64", "gateway": None, "ips": [], "dns": []}]
    [nic] = nics_from_network_info([plain_vif(subnets=subnets)], "joyent", {}, "e")
    assert nic["ips"] == ["dhcp", "addrconf"] and "gateways" not in nic


def test_port_without_subnets_has_no_ips():
    [nic] = nics_from_network_info([plain_vif()], "joyent", {}, "e")
    assert "ips" not in nic and "gateways" not in nic


def test_kvm_takes_one_ipv4_per_nic():
    subnets = [{"cidr": "10.1.0.0/24", "ips": [{"address": "10.1.0.5", "type": "fixed"},
                                              {"address": "10.1.0.6", "type": "fixed"}]}]
    with pytest.raises(VifError, match="kvm"):
        nics_from_network_info([plain_vif(subnets=subnets)], "kvm", {}, "e")
    # bhyve has no such limit; kvm is fine with one IPv4 plus IPv6
    assert len(nics_from_network_info([plain_vif(subnets=subnets)], "bhyve", {},
                                      "e")[0]["ips"]) == 2
    assert nics_from_network_info([real_vif()], "kvm", {}, "e")[0]["ips"] == [
        "10.0.0.5/24", "fd00:1::5/64"]


def test_non_uuid_network_ids_are_left_out():
    [nic] = nics_from_network_info([plain_vif(net_id="flat-net")], "joyent", {}, "e")
    assert "network_uuid" not in nic


def test_missing_mac_is_an_error():
    with pytest.raises(VifError, match="MAC"):
        nics_from_network_info([plain_vif(mac=None)], "joyent", {}, "e")


# -- anti-spoofing -----------------------------------------------------------------------
SPOOF_FLAGS = {"allow_ip_spoofing": True, "allow_mac_spoofing": True,
               "allow_dhcp_spoofing": True, "allow_restricted_traffic": True}


@pytest.mark.parametrize("details, profile", [
    ({"port_security_enabled": False}, {}),
    ({}, {"port_security_enabled": "false"}),
])
def test_no_port_security_allows_spoofing(details, profile):
    [nic] = nics_from_network_info([plain_vif(details=details, profile=profile)],
                                   "joyent", {}, "e")
    assert SPOOF_FLAGS.items() <= nic.items()


def test_port_filter_false_keeps_the_protection():
    [nic] = nics_from_network_info([plain_vif(details={"port_filter": False})],
                                   "joyent", {}, "e")
    assert not any(key.startswith("allow") for key in nic)


def test_allowed_address_pairs():
    pairs = [{"ip_address": "10.0.0.100", "mac_address": "fa:16:3e:00:00:02"},
             {"ip_address": "10.0.0.128/25"}, "10.0.0.200"]
    [nic] = nics_from_network_info(
        [plain_vif(details={"allowed_address_pairs": pairs})], "joyent", {}, "e")
    assert nic["allowed_ips"] == ["10.0.0.100", "10.0.0.128/25", "10.0.0.200"]
    assert "allow_mac_spoofing" not in nic
    # a pair with another MAC (VRRP) needs MAC spoofing: vmadm has no allowed MACs
    pairs = [{"ip_address": "10.0.0.100", "mac_address": "00:00:5e:00:01:01"}]
    [nic] = nics_from_network_info([plain_vif(allowed_address_pairs=pairs)],
                                   "joyent", {}, "e")
    assert nic["allowed_ips"] == ["10.0.0.100"] and nic["allow_mac_spoofing"] is True


# -- resolvers and routes ----------------------------------------------------------------
def test_resolvers_in_order_without_duplicates():
    vifs = [real_vif(), real_vif(port="p2", mac="fa:16:3e:00:00:03", with_v6=False)]
    assert resolvers_from_network_info(vifs) == ["10.0.0.2", "8.8.8.8", "fd00:1::53"]
    assert resolvers_from_network_info([]) == []


def test_routes():
    assert routes_from_network_info([real_vif()]) == {"192.168.50.0/24": "10.0.0.254",
                                                      "10.9.9.9": "10.0.0.253"}
    assert routes_from_network_info([plain_vif()]) == {}


def test_mtu_below_1500_is_left_out_on_physical_tags_and_kept_on_overlays():
    """vmadm refuses an MTU under 1500 on a physical nic tag (VM.js lookupInvalidNicTagMTUs)."""
    [nic] = nics_from_network_info([real_vif(mtu=1450)], "joyent", TAGS, "external")
    assert "mtu" not in nic
    [nic] = nics_from_network_info([real_vif(mtu=9000)], "joyent", TAGS, "external")
    assert nic["mtu"] == 9000
    [nic] = nics_from_network_info([real_vif(mtu=1450, physnet=None)], "joyent", TAGS,
                                   "sdc_overlay/4097")
    assert nic["mtu"] == 1450 and nic["nic_tag"] == "sdc_overlay/4097"
