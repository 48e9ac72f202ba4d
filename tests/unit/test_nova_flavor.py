"""Flavor and smartos:* extra specs to vmadm resource controls (nova/flavor.py),
and nova-api's validators for the same specs (nova/extra_specs.py)."""

from __future__ import annotations

import pytest

from openstack_smartos.nova import flavor
from openstack_smartos.nova.flavor import (EXTRA_SPECS, InvalidExtraSpec, hvm_device_options,
                                           parse_extra_specs, resource_controls)


# -- parse_extra_specs -------------------------------------------------------------------
def test_parse_types_values_and_ignores_other_namespaces():
    parsed = parse_extra_specs({
        "smartos:cpu_cap": "250", "smartos:cpu_shares": "300",
        "smartos:zfs_io_priority": "0", "smartos:max_lwps": "4000",
        "smartos:max_swap": "2048", "smartos:brand": "joyent-minimal",
        "smartos:flexible_disk_size": "40960", "smartos:disk_driver": "nvme",
        "smartos:nic_driver": "e1000", "smartos:bootrom": "uefi",
        "hw:cpu_policy": "dedicated", "quota:cpu_limit": "abc", "resources:VCPU": "2",
    })
    assert parsed == {"cpu_cap": 250, "cpu_shares": 300, "zfs_io_priority": 0,
                      "max_lwps": 4000, "max_swap": 2048, "brand": "joyent-minimal",
                      "flexible_disk_size": 40960, "disk_driver": "nvme",
                      "nic_driver": "e1000", "bootrom": "uefi"}


def test_parse_empty():
    assert parse_extra_specs({}) == {} and parse_extra_specs(None) == {}


@pytest.mark.parametrize("key, value, reason", [
    ("smartos:cpu_cap", "abc", "not an integer"),
    ("smartos:cpu_cap", "-1", "minimum 0"),
    ("smartos:cpu_cap", "1.5", "not an integer"),
    ("smartos:cpu_shares", "0", "minimum 1"),
    ("smartos:cpu_shares", "65536", "maximum 65535"),
    ("smartos:zfs_io_priority", "1025", "maximum 1024"),
    ("smartos:max_lwps", "100", "minimum 256"),
    ("smartos:max_swap", "255", "minimum 256"),
    ("smartos:cpu_burst_percent", "99", "minimum 100"),
    ("smartos:brand", "bhyve", "not one of joyent, joyent-minimal"),
    ("smartos:disk_driver", "floppy", "not one of"),
    ("smartos:nic_driver", "vmxnet3", "not one of"),
    ("smartos:bootrom", "coreboot", "not one of"),
    ("smartos:flexible_disk_size", "0", "minimum 1"),
    ("smartos:no_such_thing", "1", "unknown smartos extra spec"),
])
def test_parse_rejects(key, value, reason):
    with pytest.raises(InvalidExtraSpec) as caught:
        parse_extra_specs({key: value})
    assert caught.value.key == key and caught.value.value == value
    assert reason in caught.value.reason
    assert key in str(caught.value)


# -- containers --------------------------------------------------------------------------
@pytest.mark.parametrize("brand", ["joyent", "joyent-minimal", "lx"])
def test_container_defaults(brand):
    controls = resource_controls(brand, 2048, 2, 20, 1024, {})
    assert controls == {"max_physical_memory": 2048, "max_locked_memory": 2048,
                        "max_swap": 3072, "quota": 20, "cpu_cap": 200, "cpu_shares": 200,
                        "zfs_io_priority": 100}


def test_container_small_memory_swap_floor_and_zero_root():
    controls = resource_controls("joyent", 128, 1, 0, 0, {})
    assert controls["max_swap"] == 256                       # vmadm's minimum
    assert controls["quota"] == flavor.DEFAULT_ZONE_QUOTA_GIB == 10
    assert controls["cpu_cap"] == 100


def test_container_ephemeral_adds_to_the_one_filesystem():
    assert resource_controls("joyent", 1024, 1, 20, 0, {}, ephemeral_gb=5)["quota"] == 25
    assert resource_controls("lx", 1024, 1, 0, 0, {}, ephemeral_gb=5)["quota"] == 15


def test_container_overrides():
    controls = resource_controls("joyent", 1024, 4, 10, 0, {
        "smartos:cpu_cap": "150", "smartos:cpu_shares": "7", "smartos:zfs_io_priority": "500",
        "smartos:max_lwps": "5000", "smartos:max_swap": "8192"})
    assert controls["cpu_cap"] == 150 and controls["cpu_shares"] == 7
    assert controls["zfs_io_priority"] == 500 and controls["max_lwps"] == 5000
    assert controls["max_swap"] == 8192


def test_cpu_cap_zero_means_no_cap():
    assert "cpu_cap" not in resource_controls("joyent", 1024, 4, 10, 0, {"smartos:cpu_cap": "0"})


def test_cpu_burst_percent():
    controls = resource_controls("joyent", 1024, 2, 10, 0, {"smartos:cpu_burst_percent": "150"})
    assert controls["cpu_cap"] == 300
    controls = resource_controls("bhyve", 1024, 4, 10, 0, {"smartos:cpu_burst_percent": "200"})
    assert controls["cpu_cap"] == 800


def test_cpu_cap_and_burst_together_is_an_error():
    with pytest.raises(InvalidExtraSpec, match="cannot be combined"):
        resource_controls("joyent", 1024, 2, 10, 0,
                          {"smartos:cpu_cap": "100", "smartos:cpu_burst_percent": "150"})


def test_cpu_shares_default_is_proportional_and_capped():
    assert resource_controls("joyent", 1024, 8, 10, 0, {})["cpu_shares"] == 800
    assert resource_controls("bhyve", 1024, 1000, 10, 0, {})["cpu_shares"] == 65535


def test_max_swap_below_memory_is_an_error():
    with pytest.raises(InvalidExtraSpec, match="below the flavor's memory"):
        resource_controls("joyent", 4096, 1, 10, 0, {"smartos:max_swap": "2048"})


def test_bad_spec_is_raised_from_resource_controls():
    with pytest.raises(InvalidExtraSpec):
        resource_controls("joyent", 1024, 1, 10, 0, {"smartos:cpu_shares": "lots"})


@pytest.mark.parametrize("args", [
    ("joyent", 0, 1, 10, 0), ("joyent", 1024, 0, 10, 0), ("joyent", 1024, 1, -1, 0),
    ("joyent", 1024, 1, 10, -5), ("joyent", "1024", 1, 10, 0), ("solaris10", 1024, 1, 10, 0),
])
def test_impossible_flavors(args):
    with pytest.raises(ValueError):
        resource_controls(*args, {})


# -- hardware VMs ------------------------------------------------------------------------
def test_bhyve_defaults():
    controls = resource_controls("bhyve", 4096, 2, 20, 512, {}, ephemeral_gb=10)
    disks = (20 + 10) * 1024
    assert controls == {"ram": 4096, "vcpus": 2, "quota": 1,
                        "flexible_disk_size": disks + disks * 20 // 100,
                        "cpu_shares": 200, "zfs_io_priority": 100}
    # memory caps are left to vmadm (ram + its overhead)
    assert "max_physical_memory" not in controls and "max_swap" not in controls


def test_bhyve_flexible_disk_size_counts_the_real_boot_disk():
    controls = resource_controls("bhyve", 1024, 1, 0, 0, {}, boot_disk_mib=10240)
    assert controls["flexible_disk_size"] == 12288
    # rounded up so the headroom is never lost to integer division
    assert flavor.flexible_disk_size(1001, {}) == 1001 + 201


def test_bhyve_flexible_disk_size_override():
    specs = {"smartos:flexible_disk_size": "102400"}
    assert resource_controls("bhyve", 1024, 1, 20, 0, specs)["flexible_disk_size"] == 102400
    with pytest.raises(InvalidExtraSpec, match="smaller than the VM's disks"):
        resource_controls("bhyve", 1024, 1, 20, 0, {"smartos:flexible_disk_size": "1024"})


def test_kvm_defaults_and_ignored_specs():
    controls = resource_controls("kvm", 2048, 2, 20, 0, {
        "smartos:flexible_disk_size": "1", "smartos:max_swap": "256"})
    assert controls == {"ram": 2048, "vcpus": 2, "quota": 10, "cpu_shares": 200,
                        "zfs_io_priority": 100}


def test_hvm_cap_only_when_asked():
    assert "cpu_cap" not in resource_controls("bhyve", 1024, 2, 10, 0, {})
    assert resource_controls("kvm", 1024, 2, 10, 0, {"smartos:cpu_cap": "50"})["cpu_cap"] == 50


# -- HVM devices -------------------------------------------------------------------------
def test_device_options_defaults():
    assert hvm_device_options("bhyve", {}) == {"disk_driver": "virtio", "nic_driver": "virtio"}
    assert hvm_device_options("kvm", {}) == {"disk_driver": "virtio", "nic_driver": "virtio"}
    assert hvm_device_options("joyent", {"smartos:disk_driver": "nvme"}) == {}


def test_device_options_per_brand():
    assert hvm_device_options("bhyve", {"smartos:disk_driver": "nvme",
                                        "smartos:nic_driver": "e1000",
                                        "smartos:bootrom": "uefi"}) == {
        "disk_driver": "nvme", "nic_driver": "e1000", "bootrom": "uefi"}
    assert hvm_device_options("kvm", {"smartos:disk_driver": "scsi",
                                      "smartos:bootrom": "bios"}) == {
        "disk_driver": "scsi", "nic_driver": "virtio"}
    with pytest.raises(InvalidExtraSpec, match="kvm disks are virtio, ide, scsi"):
        hvm_device_options("kvm", {"smartos:disk_driver": "nvme"})
    with pytest.raises(InvalidExtraSpec, match="bhyve disks are virtio, ahci, nvme"):
        hvm_device_options("bhyve", {"smartos:disk_driver": "ide"})
    with pytest.raises(InvalidExtraSpec, match="BIOS only"):
        hvm_device_options("kvm", {"smartos:bootrom": "uefi"})


# -- nova-api validators -----------------------------------------------------------------
@pytest.fixture
def nova_validators():
    """nova's validator registry with our module registered as the entry point would."""
    from nova.api.validation.extra_specs import validators

    from openstack_smartos.nova import extra_specs

    saved = dict(validators.VALIDATORS), set(validators.NAMESPACES)
    for validator in extra_specs.register():
        validators.VALIDATORS[validator.name] = validator
        validators.NAMESPACES.add(validator.name_regex.split(":", 1)[0])
    yield validators
    validators.VALIDATORS.clear()
    validators.VALIDATORS.update(saved[0])
    validators.NAMESPACES.clear()
    validators.NAMESPACES.update(saved[1])


def _sample_values(spec):
    """Values on both sides of every bound of a spec."""
    if spec.kind is int:
        good, bad = [], ["abc", "1.5"]
        if spec.minimum is not None:
            good.append(str(spec.minimum))
            bad.append(str(spec.minimum - 1))
        if spec.maximum is not None:
            good.append(str(spec.maximum))
            bad.append(str(spec.maximum + 1))
        return good or ["12345"], bad
    return list(spec.choices), ["nonsense", spec.choices[0].upper()]


def test_nova_validate_rejects_bad_values(nova_validators):
    from nova import exception

    with pytest.raises(exception.ValidationError):
        nova_validators.validate("smartos:cpu_cap", "abc")
    with pytest.raises(exception.ValidationError, match="does not appear to be a valid"):
        nova_validators.validate("smartos:no_such_thing", "1")
    nova_validators.validate("smartos:cpu_cap", "400")


@pytest.mark.parametrize("spec", EXTRA_SPECS, ids=lambda spec: spec.key)
def test_nova_and_driver_agree(nova_validators, spec):
    """Every value on either side of every bound: accepted by both or refused by both."""
    from nova import exception

    good, bad = _sample_values(spec)
    for value in good:
        nova_validators.validate(spec.key, value)
        parse_extra_specs({spec.key: value})
    for value in bad:
        with pytest.raises(exception.ValidationError):
            nova_validators.validate(spec.key, value)
        with pytest.raises(InvalidExtraSpec):
            parse_extra_specs({spec.key: value})


def test_validators_cover_the_table_and_carry_descriptions():
    from openstack_smartos.nova.extra_specs import EXTRA_SPEC_VALIDATORS, register

    assert register() is EXTRA_SPEC_VALIDATORS
    assert [v.name for v in EXTRA_SPEC_VALIDATORS] == [spec.key for spec in EXTRA_SPECS]
    assert all(v.description and v.name.startswith("smartos:") for v in EXTRA_SPEC_VALIDATORS)


def test_nova_loads_the_validators_through_the_entry_point():
    from importlib.metadata import entry_points

    if not any(ep.name == "smartos" for ep in
               entry_points(group="nova.api.extra_spec_validators")):
        pytest.skip("the nova.api.extra_spec_validators entry point is not installed")
    from nova import exception
    from nova.api.validation.extra_specs import validators

    validators.load_validators()
    with pytest.raises(exception.ValidationError):
        validators.validate("smartos:cpu_cap", "abc")
    validators.validate("smartos:cpu_cap", "300")
