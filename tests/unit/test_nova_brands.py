"""Brand selection from image properties and flavor extra specs (nova/brands.py)."""

from __future__ import annotations

import pytest

from openstack_smartos.nova.brands import BrandError, select_brand


@pytest.mark.parametrize("props, image_type, specs, expected", [
    # img_hv_type names the hypervisor
    ({"img_hv_type": "bhyve"}, None, {}, "bhyve"),
    ({"img_hv_type": "kvm"}, "zvol", {}, "kvm"),
    ({"img_hv_type": "KVM", "hw_vm_mode": "hvm"}, None, {}, "kvm"),
    # hw_vm_mode=exe: an OS container
    ({"hw_vm_mode": "exe"}, "zone-dataset", {}, "joyent"),
    ({"hw_vm_mode": "exe"}, None, {}, "joyent"),
    ({"hw_vm_mode": "exe"}, "lx-dataset", {}, "lx"),
    ({"hw_vm_mode": "exe"}, "zone-dataset", {"smartos:brand": "joyent-minimal"},
     "joyent-minimal"),
    # the image's own type alone also means a container
    ({}, "zone-dataset", {}, "joyent"),
    ({}, "lx-dataset", {}, "lx"),
    ({}, "zone-dataset", {"smartos:brand": "joyent-minimal"}, "joyent-minimal"),
    # everything else: the default HVM brand
    ({}, None, {}, "bhyve"),
    ({}, "zvol", {}, "bhyve"),
    ({"hw_vm_mode": "hvm"}, None, {}, "bhyve"),
    ({"hw_vm_mode": "hv"}, "zvol", {}, "bhyve"),        # nova's alias of hvm
    ({"os_type": "linux", "hw_disk_bus": "virtio"}, None, {}, "bhyve"),
    # smartos:brand only picks between native zone brands; ignored elsewhere
    ({}, "zvol", {"smartos:brand": "joyent-minimal"}, "bhyve"),
    ({}, "lx-dataset", {"smartos:brand": "joyent-minimal"}, "lx"),
    # other namespaces do not matter
    ({}, "zone-dataset", {"hw:cpu_policy": "dedicated"}, "joyent"),
])
def test_rule(props, image_type, specs, expected):
    assert select_brand(props, image_type, specs) == expected


def test_defaults_are_configurable():
    assert select_brand({}, None, {}, default_hvm_brand="kvm") == "kvm"
    assert select_brand({}, "zone-dataset", {},
                        default_zone_brand="joyent-minimal") == "joyent-minimal"
    # the flavor beats the configured default
    assert select_brand({}, "zone-dataset", {"smartos:brand": "joyent"},
                        default_zone_brand="joyent-minimal") == "joyent"
    # an explicit hypervisor beats the configured default
    assert select_brand({"img_hv_type": "bhyve"}, None, {}, default_hvm_brand="kvm") == "bhyve"


@pytest.mark.parametrize("props, image_type, specs, words", [
    ({"img_hv_type": "bhyve"}, "zone-dataset", {}, ["img_hv_type=bhyve", "zone-dataset"]),
    ({"img_hv_type": "kvm"}, "lx-dataset", {}, ["img_hv_type=kvm", "lx-dataset"]),
    ({"img_hv_type": "bhyve", "hw_vm_mode": "exe"}, None, {}, ["hw_vm_mode=exe"]),
    ({"hw_vm_mode": "exe"}, "zvol", {}, ["hw_vm_mode=exe", "zvol"]),
    ({"hw_vm_mode": "hvm"}, "zone-dataset", {}, ["hw_vm_mode=hvm", "zone-dataset"]),
    ({"img_hv_type": "xen"}, None, {}, ["xen", "bhyve"]),
    ({"img_hv_type": "qemu"}, "zvol", {}, ["qemu"]),
    ({"hw_vm_mode": "xen"}, None, {}, ["hw_vm_mode", "xen"]),
    ({}, "docker-ish", {}, ["smartos_image_type", "docker-ish"]),
    ({}, "zone-dataset", {"smartos:brand": "bhyve"}, ["smartos:brand", "hardware VM"]),
    ({}, "zone-dataset", {"smartos:brand": "lx"}, ["smartos:brand", "lx-dataset"]),
    ({}, "zone-dataset", {"smartos:brand": "solaris10"}, ["smartos:brand", "solaris10"]),
    # an invalid flavor fails whatever the image
    ({}, "zvol", {"smartos:brand": "kvm"}, ["smartos:brand"]),
])
def test_contradictions_raise_brand_error(props, image_type, specs, words):
    with pytest.raises(BrandError) as caught:
        select_brand(props, image_type, specs)
    for word in words:
        assert word in caught.value.message


def test_bad_configured_defaults():
    with pytest.raises(BrandError, match="default zone brand"):
        select_brand({}, None, {}, default_zone_brand="lx")
    with pytest.raises(BrandError, match="default HVM brand"):
        select_brand({}, None, {}, default_hvm_brand="joyent")


def test_none_inputs_mean_nothing_set():
    assert select_brand(None, None, None) == "bhyve"


@pytest.mark.parametrize("value", ["Joyent-Minimal", "", " joyent"])
def test_brand_spec_is_exact_like_the_api_validator(value):
    with pytest.raises(BrandError):
        select_brand({}, "zone-dataset", {"smartos:brand": value})
