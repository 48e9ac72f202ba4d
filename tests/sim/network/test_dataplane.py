"""The emulated network carries packets, following vmadm's life cycle only."""

from __future__ import annotations

import json

from netprobe import (in_ns, nic, ns_of, ok, ping, reaches, smartos_namespaces, tool,
                      wait_for)
from openstack_smartos.sim.state.network import linux


def _links(ns):
    return {link["ifname"]: link for link in linux.links(ns)}


def test_zone_namespace_has_the_nic_as_vmadm_describes_it(rack):
    host = rack.host("h1")
    uuid = rack.zone(host, nic(ip="10.0.0.5/24", gateways=["10.0.0.1"], mtu=9000,
                               mac="02:08:20:aa:bb:01"))
    ns = ns_of(host, uuid)
    assert ns in smartos_namespaces() and uuid in ns
    net0 = _links(ns)["net0"]
    assert net0["address"] == "02:08:20:aa:bb:01" and net0["mtu"] == 9000
    assert "UP" in net0["flags"]
    addrs = [a for link in linux.addresses(ns) if link["ifname"] == "net0"
             for a in link["addr_info"] if a["family"] == "inet"]
    assert [(a["local"], a["prefixlen"]) for a in addrs] == [("10.0.0.5", 24)]
    routes = json.loads(in_ns(ns, "ip", "-j", "route", "show", "default").stdout)
    assert routes[0]["gateway"] == "10.0.0.1"


def test_zones_on_one_tag_reach_each_other_on_one_host_and_across_the_rack(rack):
    h1, h2 = rack.host("h1"), rack.host("h2")
    a = rack.zone(h1, nic(ip="10.0.0.1/24"))
    b = rack.zone(h1, nic(ip="10.0.0.2/24"))
    c = rack.zone(h2, nic(ip="10.0.0.3/24"))
    assert reaches(ns_of(h1, a), "10.0.0.2")
    assert reaches(ns_of(h1, a), "10.0.0.3")
    assert reaches(ns_of(h2, c), "10.0.0.1")
    # Another nic tag is another physical network.
    d = rack.zone(h2, nic(tag="admin", ip="10.0.0.4/24"))
    assert not ping(ns_of(h1, a), "10.0.0.4")
    # The global zones have their Admin IP on the admin network.
    e = rack.zone(h2, nic(tag="admin", ip="198.18.0.50/24"))
    assert h1.config["admin_ip"] == "198.18.0.1"
    assert reaches(ns_of(h2, e), "198.18.0.1") and reaches(ns_of(h2, e), "198.18.0.2")
    assert d


def test_vlans_of_one_tag_are_isolated_segments_across_hosts(rack):
    h1, h2 = rack.host("h1"), rack.host("h2")
    a100 = rack.zone(h1, nic(ip="10.1.0.1/24", vlan_id=100))
    b100 = rack.zone(h2, nic(ip="10.1.0.2/24", vlan_id=100))
    c200 = rack.zone(h2, nic(ip="10.1.0.3/24", vlan_id=200))
    d0 = rack.zone(h2, nic(ip="10.1.0.4/24"))
    assert reaches(ns_of(h1, a100), "10.1.0.2")
    assert not ping(ns_of(h1, a100), "10.1.0.3")
    assert not ping(ns_of(h1, a100), "10.1.0.4")
    assert reaches(ns_of(h2, b100), "10.1.0.1")
    # Deleting the last VM of a VLAN removes that segment from the host.
    ok(h2, "vmadm", "delete", c200)
    assert "e1000g1v200" not in _links(f"smartos-{h2.config['uuid'][:8]}")
    assert d0


def test_stop_takes_links_away_start_and_reboot_bring_them_back(rack):
    host = rack.host("h1")
    a = rack.zone(host, nic(ip="10.0.0.1/24"))
    b = rack.zone(host, nic(ip="10.0.0.2/24"))
    ok(host, "vmadm", "stop", b)
    assert ns_of(host, b) not in smartos_namespaces()
    assert not ping(ns_of(host, a), "10.0.0.2")
    ok(host, "vmadm", "start", b)
    assert reaches(ns_of(host, a), "10.0.0.2")
    ok(host, "vmadm", "reboot", b)
    assert reaches(ns_of(host, a), "10.0.0.2")
    ok(host, "vmadm", "delete", b)
    assert ns_of(host, b) not in smartos_namespaces()


def test_nic_changes_wait_for_the_next_boot(rack):
    host = rack.host("h1")
    a = rack.zone(host, nic(ip="10.0.0.1/24"))
    b = rack.zone(host, nic(ip="10.0.0.2/24"))
    global_zone = f"smartos-{host.config['uuid'][:8]}"
    ok(host, "vmadm", "update", b, stdin={"add_nics": [nic(tag="admin", ip="198.18.0.60/24")]})
    assert set(_links(ns_of(host, b))) == {"lo", "net0"}
    assert not ping(global_zone, "198.18.0.60")
    ok(host, "vmadm", "reboot", b)
    assert set(_links(ns_of(host, b))) == {"lo", "net0", "net1"}
    assert reaches(global_zone, "198.18.0.60") and reaches(ns_of(host, a), "10.0.0.2")
    mac = tool(host, "vmadm", "get", b).json["nics"][1]["mac"]
    ok(host, "vmadm", "update", b, stdin={"remove_nics": [mac]})
    assert "net1" in _links(ns_of(host, b))
    ok(host, "vmadm", "stop", b)
    ok(host, "vmadm", "start", b)
    assert "net1" not in _links(ns_of(host, b))


def test_a_host_stopped_and_used_again_gets_its_running_vms_back(rack):
    host = rack.host("h1")
    a = rack.zone(host, nic(ip="10.0.0.1/24"))
    b = rack.zone(host, nic(ip="10.0.0.2/24"))
    from openstack_smartos.sim import cli
    assert cli.main(["stop", str(host.root)]) == 0
    assert not [ns for ns in smartos_namespaces() if host.config["uuid"][:8] in ns]
    ok(host, "vmadm", "list")
    assert reaches(ns_of(host, a), "10.0.0.2") and b


def test_a_failed_boot_leaves_no_namespace_and_the_vm_stopped(rack, monkeypatch):
    host = rack.host("h1")
    a = rack.zone(host, nic(ip="10.0.0.1/24"), nic(tag="admin", ip="198.18.0.70/24",
                                                   vlan_id=42))
    ok(host, "vmadm", "stop", a)
    global_zone = f"smartos-{host.config['uuid'][:8]}"
    before = set(_links(global_zone))

    def refuse(ns, ruleset):
        raise linux.DataPlaneError("nft: injected failure")

    # The last step of a boot (the VNICs' protections) fails: everything the
    # boot made before goes again, and the VM stays stopped.
    monkeypatch.setattr(linux, "nft", refuse)
    result = tool(host, "vmadm", "start", a)
    assert result.code == 1 and "injected failure" in result.err
    assert tool(host, "vmadm", "get", a).json["state"] == "stopped"
    assert ns_of(host, a) not in smartos_namespaces()
    # (the kernel removes a deleted namespace's VNICs in the background)
    assert wait_for(lambda: set(_links(global_zone)) == before)
    monkeypatch.undo()
    ok(host, "vmadm", "start", a)
    assert "e1000g0v42" in _links(global_zone) and "e1000g0v42" not in before
