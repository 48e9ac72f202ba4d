"""The data plane's plan for a VM, from its vmadm object (pure, no Linux)."""

from openstack_smartos.sim.state.network import names, plan

UUID = "5c5a2b5e-9a0f-4d5e-8c7e-1f2e3d4c5b6a"


def _vm(**nic):
    base = {"interface": "net0", "mac": "02:08:20:AA:BB:01", "nic_tag": "external",
            "ips": ["10.0.0.5/24"], "gateways": ["10.0.0.1"], "primary": True}
    return {"uuid": UUID, "zonedid": 7, "nics": [{**base, **nic}]}


def test_nic_defaults_follow_zone_boot():
    nic = plan.vm_plan(_vm()).nics[0]
    assert nic.mtu == 1500 and nic.vlan == 0
    assert nic.mac == "02:08:20:aa:bb:01"
    assert nic.hostlink == "z7_net0"
    assert nic.addresses == ("10.0.0.5/24",)


def test_default_protection_is_every_nospoof_and_restricted():
    guard = plan.vm_plan(_vm()).nics[0].protection
    assert guard.mac == "02:08:20:aa:bb:01"
    assert guard.ipv4 == ("10.0.0.5/32",)
    assert guard.ipv6 == ("fe80::/10",)
    assert not guard.dhcp_server and guard.restricted


def test_allowed_ips_and_vrrp_primary_ip_join_the_allowed_sources():
    guard = plan.protection(_vm(allowed_ips=["10.1.0.0/16", "fd00::7"],
                                vrrp_primary_ip="10.0.0.9")["nics"][0])
    assert guard.ipv4 == ("10.0.0.5/32", "10.1.0.0/16", "10.0.0.9/32")
    assert guard.ipv6 == ("fe80::/10", "fd00::7/128")


def test_allow_flags_lift_each_protection():
    guard = plan.protection(_vm(allow_mac_spoofing=True, allow_ip_spoofing=True,
                                allow_restricted_traffic=True)["nics"][0])
    assert guard.mac is None and guard.ipv4 is None and guard.ipv6 is None
    assert not guard.restricted and not guard.dhcp_server


def test_dhcp_spoofing_allows_server_replies_and_any_source():
    for key in ("allow_dhcp_spoofing", "dhcp_server"):
        guard = plan.protection(_vm(**{key: True})["nics"][0])
        assert guard.dhcp_server and guard.ipv4 is None


def test_dhcp_nic_may_use_any_ipv4_source():
    guard = plan.protection(_vm(ips=["dhcp"])["nics"][0])
    assert guard.ipv4 is None and guard.ipv6 == ("fe80::/10",)


def test_routes_primary_gateway_first_then_vm_routes():
    vm = _vm()
    vm["nics"].append({"interface": "net1", "mac": "02:00:00:00:00:02", "nic_tag": "admin",
                       "ips": ["192.168.0.5/24"], "gateways": ["192.168.0.1"]})
    vm["nics"].reverse()
    vm["routes"] = {"172.16.0.0/12": "192.168.0.254", "10.9.0.0/16": "nics[0]"}
    routes = plan.vm_plan(vm).routes
    assert routes == (("default", "10.0.0.1", None), ("10.9.0.0/16", None, "net1"),
                      ("172.16.0.0/12", "192.168.0.254", None))


def test_guest_batch_configures_addresses_links_and_routes():
    lines = plan.guest_batch(plan.vm_plan(_vm(ips=["10.0.0.5/24", "fd00::5/64"])))
    assert lines == ["link set lo up", "address add 10.0.0.5/24 dev net0",
                     "address add fd00::5/64 dev net0", "link set net0 up",
                     "route add default via 10.0.0.1"]


def test_spoof_ruleset_hooks_the_vnic_with_each_rule():
    text = plan.spoof_ruleset("t", plan.vm_plan(_vm()).nics)
    assert 'hook ingress device "z7_net0"' in text
    assert "ether saddr != 02:08:20:aa:bb:01 drop" in text
    assert "ip saddr != { 0.0.0.0, 10.0.0.5/32 } drop" in text
    assert "udp sport 67 udp dport 68 drop" in text
    assert "ether type != { ip, ip6, arp } drop" in text
    lifted = plan.spoof_ruleset("t", plan.vm_plan(_vm(
        allow_mac_spoofing=True, allow_ip_spoofing=True, allow_dhcp_spoofing=True,
        allow_restricted_traffic=True)).nics)
    assert "drop" not in lifted


def test_names_fit_linux_and_contain_the_vm_uuid():
    host = "0f1e2d3c-0000-4000-8000-000000000000"
    assert names.vm_ns(host, UUID) == f"smartos-0f1e2d3c-{UUID}"
    assert names.host_ns(host) == "smartos-0f1e2d3c"
    long = names.vnic(123456789, "net12")
    assert len(long) <= 15 and long == names.vnic(123456789, "net12")
    assert names.segment_bridge("e1000g0", 0) == "e1000g0"
    assert names.segment_bridge("e1000g0", 4095) == "e1000g0v4095"
