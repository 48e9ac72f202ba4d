"""Racks of emulated hosts with a real data plane.

Every test here leaves the machine as it found it: the ``rack`` fixture
destroys the rack and then checks that no namespace, link or nftables
table the emulator made is left, whatever the test did.
"""

from __future__ import annotations

import pytest

from netprobe import Listener, Rack, root_state, smartos_namespaces, varpd_processes
from openstack_smartos.sim import cli
from openstack_smartos.sim.state.network import linux

REASON = linux.unavailable_reason()
PURE = ("test_plan.py", "test_svp_protocol.py", "test_overlay_records.py",
        "test_firewall_rules.py")


def pytest_collection_modifyitems(items):
    for item in items:
        if "/sim/network/" in str(item.fspath) and item.fspath.basename not in PURE:
            item.add_marker(pytest.mark.dataplane)
            if REASON:
                item.add_marker(pytest.mark.skip(reason=f"no data plane here: {REASON}"))


@pytest.fixture
def rack(tmp_path, install_image):
    before = root_state()
    path = tmp_path / "rack"
    assert cli.main(["rack", "create", str(path), "--network", "admin",
                     "--network", "external"]) == 0
    the_rack = Rack(path, install_image)
    try:
        yield the_rack
    finally:
        for host in the_rack.hosts:
            cli.main(["stop", str(host.root)])
        if (path / "rack.json").exists():
            assert cli.main(["rack", "destroy", str(path)]) == 0
        assert smartos_namespaces() == []
        assert root_state() == before
        assert varpd_processes(path.parent) == []


@pytest.fixture
def listen():
    made = []

    def start(ns, address, port, proto="tcp"):
        listener = Listener(ns, address, port, proto)
        made.append(listener)
        return listener

    yield start
    for listener in made:
        listener.close()
