"""fwadm rules compiled into a VM's nftables filter (pure; smartos-contracts.md §9)."""

from openstack_smartos.sim.state.firewall import language
from openstack_smartos.sim.state.network import firewall

A = "11111111-0000-4000-8000-000000000001"
B = "22222222-0000-4000-8000-000000000002"
VMS = [{"uuid": A, "firewall_enabled": True, "tags": {"role": "web"},
        "nics": [{"ips": ["10.0.0.1/24", "fd00::1/64"]}, {"ips": ["192.168.0.1/24"]}]},
       {"uuid": B, "owner_uuid": "o1", "nics": [{"ips": ["10.0.0.2/24", "dhcp"]}]}]


def _rule(uuid, text, **extra):
    return {"uuid": uuid, "rule": text, "enabled": True, **extra}


def _entries(rules, vm=VMS[0]):
    inbound, outbound = firewall.entries(vm, rules, VMS, language.parse, language.vm_matches)
    return [e.line for e in inbound], [e.line for e in outbound]


def test_peers_are_the_addresses_of_every_nic_of_the_named_vms():
    inbound, outbound = _entries([_rule("r1", f"FROM vm {A} TO vm {B} ALLOW tcp PORT 80"),
                                  _rule("r2", f"FROM vm {B} TO vm {A} ALLOW udp PORTS 53, 60 - 70")])
    assert inbound == ['ip saddr 10.0.0.2 udp dport { 53, 60-70 } accept comment "r2"']
    assert outbound == ['ip daddr 10.0.0.2 tcp dport 80 accept comment "r1"']
    inbound, _ = _entries([_rule("r3", f"FROM vm {A} TO vm {A} ALLOW tcp PORT 1")])
    assert inbound == ['ip saddr { 10.0.0.1, 192.168.0.1 } tcp dport 1 accept comment "r3"',
                       'ip6 saddr fd00::1 tcp dport 1 accept comment "r3"']


def test_priority_then_the_rule_against_the_default_comes_first():
    rules = [_rule("block", "FROM any TO all vms BLOCK tcp PORT 22"),
             _rule("allow", "FROM any TO all vms ALLOW tcp PORT 22"),
             _rule("high", "FROM ip 10.9.9.9 TO all vms BLOCK tcp PORT 22 PRIORITY 3"),
             _rule("out-allow", "FROM all vms TO any ALLOW tcp PORT 25"),
             _rule("out-block", "FROM all vms TO any BLOCK tcp PORT 25")]
    inbound, outbound = _entries(rules)
    assert [line.split('"')[1] for line in inbound] == ["high", "allow", "block"]
    assert [line.split('"')[1] for line in outbound] == ["out-block", "out-allow"]


def test_icmp_types_families_and_disabled_or_foreign_rules():
    rules = [_rule("i4", "FROM any TO all vms ALLOW icmp TYPE 8 CODE 0"),
             _rule("i6", "FROM (ip fd00::9 OR ip 10.1.1.1) TO all vms ALLOW icmp6 TYPE all"),
             _rule("esp", "FROM any TO all vms ALLOW esp"),
             {**_rule("off", "FROM any TO all vms ALLOW tcp PORT 1"), "enabled": False},
             _rule("theirs", "FROM any TO all vms ALLOW tcp PORT 2", owner_uuid="o1")]
    inbound, _ = _entries(rules)
    assert inbound == ['icmp type 8 icmp code 0 accept comment "i4"',
                       'ip6 saddr fd00::9 meta l4proto ipv6-icmp accept comment "i6"',
                       'meta l4proto esp accept comment "esp"']


def test_ruleset_defaults_inbound_drop_outbound_accept_stateful():
    text = firewall.ruleset(VMS[0], [], VMS, language.parse, language.vm_matches)
    assert "type filter hook input priority 0; policy drop;" in text
    assert "type filter hook output priority 0; policy accept;" in text
    assert text.count("ct state established,related accept") == 2
