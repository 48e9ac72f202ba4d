"""fwadm rules enforced: inbound default-deny, outbound default-allow, stateful, at once.

smartos-contracts.md §9 and smartos-live src/fw docs/rules.md: rules apply to
VMs with firewall_enabled, to all their nics alike; the rule against the
default policy wins at equal priority; PRIORITY n is tried first; changes
(fwadm add / update / delete / enable / disable, vmadm tag and
firewall_enabled updates) take effect immediately.
"""

from __future__ import annotations

from netprobe import connects, nic, ns_of, ok, ping, reaches


def _three(rack, listen):
    host = rack.host("h1")
    client = rack.zone(host, nic(ip="10.0.0.1/24"))
    server = rack.zone(host, nic(ip="10.0.0.2/24"), nic(tag="admin", ip="198.18.0.20/24"),
                       firewall_enabled=True, tags={"role": "web"})
    other = rack.zone(host, nic(ip="10.0.0.3/24"))
    for port in (80, 81):
        listen(ns_of(host, server), "0.0.0.0", port)
    listen(ns_of(host, client), "0.0.0.0", 8080)
    return host, client, server, other


def _rule(host, text, *flags):
    out = ok(host, "fwadm", "add", "-e", *flags, text).out
    return out.splitlines()[1].split()[0]


def test_inbound_is_blocked_and_outbound_allowed_by_default(rack, listen):
    host, client, server, other = _three(rack, listen)
    assert not connects(ns_of(host, client), "10.0.0.2", 80)
    assert not ping(ns_of(host, client), "10.0.0.2")
    # Outbound connections and their replies pass (stateful).
    assert connects(ns_of(host, server), "10.0.0.1", 8080)
    assert reaches(ns_of(host, server), "10.0.0.1")
    # A VM without the firewall is not filtered.
    assert reaches(ns_of(host, client), "10.0.0.3")


def test_a_vm_rule_allows_one_peer_and_port_on_every_nic(rack, listen):
    host, client, server, other = _three(rack, listen)
    _rule(host, f"FROM vm {client} TO vm {server} ALLOW tcp PORT 80")
    assert connects(ns_of(host, client), "10.0.0.2", 80)
    assert not connects(ns_of(host, client), "10.0.0.2", 81)
    assert not connects(ns_of(host, other), "10.0.0.2", 80)
    # Per VM, all its nics alike: the admin nic's address is open to the peer too,
    # and the peer's other addresses are not the peer.
    ok(host, "vmadm", "update", client, stdin={"add_nics": [nic(tag="admin",
                                                               ip="198.18.0.21/24")]})
    ok(host, "vmadm", "reboot", client)
    assert connects(ns_of(host, client), "198.18.0.20", 80)


def test_tag_rules_follow_vmadm_tag_updates_at_once(rack, listen):
    host, client, server, other = _three(rack, listen)
    _rule(host, "FROM tag role = lb TO tag role = web ALLOW tcp PORTS 80 - 81")
    assert not connects(ns_of(host, client), "10.0.0.2", 80)
    ok(host, "vmadm", "update", client, stdin={"set_tags": {"role": "lb"}})
    assert connects(ns_of(host, client), "10.0.0.2", 80)
    assert connects(ns_of(host, client), "10.0.0.2", 81)
    ok(host, "vmadm", "update", server, stdin={"remove_tags": ["role"]})
    assert not connects(ns_of(host, client), "10.0.0.2", 80)


def test_rules_follow_enable_disable_update_and_delete(rack, listen):
    host, client, server, other = _three(rack, listen)
    rule = _rule(host, "FROM any TO all vms ALLOW icmp TYPE 8 CODE 0")
    assert reaches(ns_of(host, client), "10.0.0.2")
    ok(host, "fwadm", "disable", rule)
    assert not ping(ns_of(host, client), "10.0.0.2")
    ok(host, "fwadm", "enable", rule)
    assert reaches(ns_of(host, client), "10.0.0.2")
    ok(host, "fwadm", "update", rule, f"FROM ip 10.0.0.3 TO vm {server} ALLOW icmp TYPE 8")
    assert not ping(ns_of(host, client), "10.0.0.2")
    assert reaches(ns_of(host, other), "10.0.0.2")
    ok(host, "fwadm", "delete", rule)
    assert not ping(ns_of(host, other), "10.0.0.2")


def test_outbound_block_and_priority(rack, listen):
    host, client, server, other = _three(rack, listen)
    listen(ns_of(host, client), "0.0.0.0", 8081)
    _rule(host, f"FROM vm {server} TO subnet 10.0.0.0/24 BLOCK tcp PORTS 8080 - 8081")
    assert not connects(ns_of(host, server), "10.0.0.1", 8080)
    # At equal priority an ALLOW does not beat the outbound BLOCK ...
    _rule(host, f"FROM vm {server} TO ip 10.0.0.1 ALLOW tcp PORT 8081")
    assert not connects(ns_of(host, server), "10.0.0.1", 8081)
    # ... a higher PRIORITY does.
    _rule(host, f"FROM vm {server} TO ip 10.0.0.1 ALLOW tcp PORT 8081 PRIORITY 10")
    assert connects(ns_of(host, server), "10.0.0.1", 8081)
    assert not connects(ns_of(host, server), "10.0.0.1", 8080)


def test_an_inbound_block_loses_to_an_allow_of_equal_priority(rack, listen):
    host, client, server, other = _three(rack, listen)
    _rule(host, f"FROM vm {client} TO vm {server} BLOCK tcp PORT 80")
    _rule(host, f"FROM any TO vm {server} ALLOW tcp PORT 80")
    assert connects(ns_of(host, client), "10.0.0.2", 80)
    _rule(host, f"FROM vm {client} TO vm {server} BLOCK tcp PORT 80 PRIORITY 5")
    assert not connects(ns_of(host, client), "10.0.0.2", 80)
    assert connects(ns_of(host, other), "10.0.0.2", 80)


def test_firewall_enabled_false_lifts_the_filter_and_true_restores_it(rack, listen):
    host, client, server, other = _three(rack, listen)
    ok(host, "vmadm", "update", server, stdin={"firewall_enabled": False})
    assert connects(ns_of(host, client), "10.0.0.2", 81)
    ok(host, "vmadm", "update", server, stdin={"firewall_enabled": True})
    assert not connects(ns_of(host, client), "10.0.0.2", 81)
    # A rebooted VM gets its filter again.
    ok(host, "vmadm", "reboot", server)
    assert not connects(ns_of(host, client), "10.0.0.2", 81)


def test_an_owners_rule_applies_only_to_that_owners_vms(rack, listen):
    host = rack.host("h1")
    owner = "930896af-bf8c-48d4-885c-6573a94b1853"
    client = rack.zone(host, nic(ip="10.0.0.1/24"))
    mine = rack.zone(host, nic(ip="10.0.0.2/24"), firewall_enabled=True, owner_uuid=owner)
    theirs = rack.zone(host, nic(ip="10.0.0.3/24"), firewall_enabled=True)
    for vm in (mine, theirs):
        listen(ns_of(host, vm), "0.0.0.0", 22)
    _rule(host, "FROM any TO all vms ALLOW tcp PORT 22", "-O", owner)
    assert connects(ns_of(host, client), "10.0.0.2", 22)
    assert not connects(ns_of(host, client), "10.0.0.3", 22)
    _rule(host, "FROM any TO all vms ALLOW tcp PORT 22", "-g")
    assert connects(ns_of(host, client), "10.0.0.3", 22)
