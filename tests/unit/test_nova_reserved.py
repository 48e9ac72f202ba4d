"""Memory the host gives VMs beyond nova's allocations (pure, no mocks)."""

from __future__ import annotations

from openstack_smartos.nova.reserved import memory_outside_allocations, reserved_memory_mb

KEY, MARK = "openstack:managed_by", "openstack-nova"
OURS = {"internal_metadata": {KEY: MARK}}


def vm(brand, ram=None, cap=None, **extra):
    return {"brand": brand, "ram": ram, "max_physical_memory": cap, **extra}


def test_our_hvm_overhead_is_outside_allocations():
    assert memory_outside_allocations(vm("bhyve", 1024, 2304, **OURS), KEY, MARK) == 1280
    assert memory_outside_allocations(vm("kvm", 2048, 3072, **OURS), KEY, MARK) == 1024


def test_our_zones_are_capped_at_their_allocation():
    assert memory_outside_allocations(vm("joyent", 512, 512, **OURS), KEY, MARK) == 0
    assert memory_outside_allocations(vm("lx", 512, 512, **OURS), KEY, MARK) == 0


def test_foreign_vms_hold_their_whole_cap():
    assert memory_outside_allocations(vm("joyent", 256, 256), KEY, MARK) == 256
    other = vm("bhyve", 1024, 2304, internal_metadata={KEY: "other-cloud"})
    assert memory_outside_allocations(other, KEY, MARK) == 2304


def test_missing_figures_count_as_zero():
    assert memory_outside_allocations({"brand": "joyent"}, KEY, MARK) == 0
    assert memory_outside_allocations(vm("bhyve", None, 2304, **OURS), KEY, MARK) == 2304


def test_reserved_adds_configured_and_is_capped_at_total():
    vms = [vm("bhyve", 1024, 2304, **OURS), vm("joyent", 256, 256)]
    assert reserved_memory_mb(vms, KEY, MARK, 512, 65536) == 512 + 1280 + 256
    assert reserved_memory_mb([], KEY, MARK, 512, 65536) == 512
    assert reserved_memory_mb(vms, KEY, MARK, 512, 1000) == 1000
