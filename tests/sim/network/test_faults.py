"""Injected faults at each vmadm and fwadm call leave the data plane as the state says.

A fault before a command (``fail``) changes nothing; a fault after it
(``fail_after``: the command ran, then reported failure) leaves what it did.
Either way the namespaces and filters on the host match the VMs' states,
and deleting everything leaves nothing behind (the rack fixture checks).
"""

from __future__ import annotations

import pytest

from netprobe import nic, ns_of, ok, smartos_namespaces, tool
from openstack_smartos.sim import faults
from openstack_smartos.sim.state.network import linux


def _consistent(host):
    """Every running VM has its namespace and filter table, no other VM has one."""
    vms = tool(host, "vmadm", "lookup", "-j").json
    prefix = f"smartos-{host.config['uuid'][:8]}-"
    have = {ns[len(prefix):] for ns in smartos_namespaces() if ns.startswith(prefix)}
    running = {vm["uuid"] for vm in vms if vm["state"] == "running"}
    assert have == running
    for vm in vms:
        if vm["uuid"] in running and vm.get("firewall_enabled"):
            tables = linux.in_ns(ns_of(host, vm["uuid"]), ["nft", "list", "tables"])
            assert "smartos_fw" in tables
    return running


STEPS = [
    ("vmadm create", lambda rack, host, vm: rack.zone(host, nic(ip="10.0.0.9/24"),
                                                      firewall_enabled=True)),
    ("vmadm stop", lambda rack, host, vm: tool(host, "vmadm", "stop", vm)),
    ("vmadm start", lambda rack, host, vm: tool(host, "vmadm", "start", vm)),
    ("vmadm reboot", lambda rack, host, vm: tool(host, "vmadm", "reboot", vm)),
    ("vmadm update", lambda rack, host, vm: tool(host, "vmadm", "update", vm,
                                                 stdin={"firewall_enabled": False})),
    ("fwadm add", lambda rack, host, vm: tool(host, "fwadm", "add", "-e",
                                              f"FROM any TO vm {vm} ALLOW tcp PORT 22")),
    ("vmadm delete", lambda rack, host, vm: tool(host, "vmadm", "delete", vm)),
]


@pytest.mark.parametrize("action", ["fail", "fail_after"])
@pytest.mark.parametrize("point", [name for name, _ in STEPS])
def test_a_fault_at_each_call_keeps_the_data_plane_consistent(rack, point, action):
    host = rack.host("h1")
    vm = rack.zone(host, nic(ip="10.0.0.5/24"), firewall_enabled=True)
    faults.add_rule(host, point, action, times=1)
    tried = 0
    for name, step in STEPS:
        try:
            step(rack, host, vm)
        except AssertionError:
            assert name == point   # a create through rack.zone asserts success
        _consistent(host)
        tried += 1
    assert tried == len(STEPS)
    faults.clear(host)
    for uuid in tool(host, "vmadm", "lookup").out.split():
        ok(host, "vmadm", "delete", uuid)
    assert _consistent(host) == set()
