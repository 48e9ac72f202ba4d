"""vmadm's disk, memory and update rules as smartos-live specifies them (VM.js,
proptable.js, src/vm/tests/). Each test names the rule and its source.

The NIC rules are in test_vmadm_conformance.py.
"""

from __future__ import annotations

import pytest

from test_vmadm import create, host, vmadm, zone_image, zvol_image  # noqa: F401 (fixtures)


def fails(host, *argv, stdin=b""):
    result = vmadm(host, *argv, stdin=stdin)
    assert result.code == 1, (result.code, result.err)
    return result.err.strip()


def updated(host, uuid, **payload):
    result = vmadm(host, "update", uuid, stdin=payload)
    assert result.code == 0, result.err
    return vmadm(host, "get", uuid).json


MEMORY = ("max_physical_memory", "max_locked_memory", "max_swap")


def memory(vm, keys=MEMORY):
    return tuple(vm.get(key) for key in keys)


@pytest.fixture
def hvm(host, zvol_image):
    def make(brand="kvm", **extra):
        return create(host, {"brand": brand, "autoboot": False, "ram": 1024,
                             "disks": [{"image_uuid": zvol_image, "boot": True,
                                        "model": "virtio"}], **extra})
    return make


@pytest.fixture
def zone(host, zone_image):
    return create(host, {"brand": "joyent", "image_uuid": zone_image, "autoboot": False})


# -- disks --------------------------------------------------------------------------------------
def test_disk_model_is_required_without_disk_driver(host, zvol_image):
    """VM.js checkPayloadProperties l.5393: 'missing .model option for disk: <JSON>'."""
    assert fails(host, "create", stdin={"brand": "kvm", "disks": [{"size": 1024}]}) == (
        'missing .model option for disk: {"size":1024,"media":"disk"}')


@pytest.mark.parametrize("brand,valid", [("kvm", "virtio,scsi,ide"),
                                         ("bhyve", "virtio,ahci,nvme")])
def test_invalid_disk_model(host, brand, valid):
    """VM.js checkPayloadProperties: '"<model>" is not a valid disk model for <brand> brand.
    Valid are: ...' (BRAND_OPTIONS disk_models)."""
    assert fails(host, "create", stdin={"brand": brand, "disks": [
        {"size": 1024, "model": "floppy"}]}) == (
        f'"floppy" is not a valid disk model for {brand} brand. Valid are: {valid}')


def test_add_disk_takes_the_model_of_disk0(host, hvm):
    """VM.js checkPayloadProperties: add_disks model from vmobj.disk_driver, else
    disks[0].model; test-update-kvm.js 'add disk1 ... same model as disk0'."""
    uuid = hvm()
    vm = updated(host, uuid, add_disks=[{"size": 512}])
    assert [d["model"] for d in vm["disks"]] == ["virtio", "virtio"]
    assert "media" not in vm["disks"][1]     # applyZoneDefaults sets media on create only


def test_disk_shrink_protection(host, hvm):
    """VM.js resizeDisks: 'cannot resize disk: new size must be greater than current size.
    (<old> > <new>)' behind 'first of 1 error: '; dangerous_allow_shrink allows it;
    test-bhyve-disk-resize.js 'disk shrink protection works'."""
    uuid = hvm("bhyve", flexible_disk_size=20480)
    path = vmadm(host, "get", uuid).json["disks"][0]["path"]
    assert fails(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "size": 5120}]}) == (
        "first of 1 error: cannot resize disk: new size must be greater than current size. "
        "(10240 > 5120)")
    vm = updated(host, uuid, update_disks=[{"path": path, "size": 5120,
                                            "dangerous_allow_shrink": True}])
    assert vm["disks"][0]["size"] == 5120 and "dangerous_allow_shrink" not in vm["disks"][0]


def test_update_disks_ignores_unknown_paths(host, hvm):
    """VM.js update: update_disks entries whose path matches no disk are skipped."""
    uuid = hvm()
    assert vmadm(host, "update", uuid, stdin={"update_disks": [
        {"path": "/dev/zvol/rdsk/zones/nope", "boot": True}]}).code == 0


# -- memory ---------------------------------------------------------------------------------------
def test_os_ram_updates_move_every_cap(host, zone):
    """VM.js fixPayloadMemory(payload, vmobj); test-update.js (joyent-minimal) 'ram 512/128':
    locked keeps its distance, swap follows from the 256 floor, tmpfs its ratio."""
    keys = MEMORY + ("tmpfs",)
    assert memory(updated(host, zone, ram=512), keys) == (512, 512, 512, 512)
    assert memory(updated(host, zone, ram=128), keys) == (128, 128, 256, 128)
    assert memory(updated(host, zone, max_physical_memory=2048), keys) == (
        2048, 2048, 2048, 2048)
    assert memory(updated(host, zone, max_physical_memory=512), keys) == (512, 512, 512, 512)


def test_explicit_caps_are_clamped_not_refused(host, zone):
    """VM.js fixPayloadMemory: max_locked_memory <= mpm, max_swap >= mpm, tmpfs <= mpm;
    test-update.js 'max_swap (down)', 'max_locked_memory' of mpm + 256."""
    assert memory(updated(host, zone, max_physical_memory=1024)) == (1024, 1024, 1024)
    assert updated(host, zone, max_swap=512)["max_swap"] == 1024
    assert updated(host, zone, max_locked_memory=1280)["max_locked_memory"] == 1024
    assert updated(host, zone, tmpfs=4096)["tmpfs"] == 1024


def test_create_raises_an_explicit_max_swap_to_mpm(host, zone_image):
    """VM.js fixPayloadMemory at create: max_swap < mpm is raised to mpm, not to 256."""
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "autoboot": False,
                         "max_physical_memory": 1024, "max_swap": 512})
    assert vmadm(host, "get", uuid).json["max_swap"] == 1024


def test_bhyve_memory_updates(host, hvm):
    """VM.js fixPayloadMemory with the bhyve overhead (1280) and min overhead (256);
    test-update-bhyve.js: ram gives mpm = locked = swap = ram + 1280, and
    {ram: 2048, max_physical_memory: 2048} gives all 2304."""
    uuid = hvm("bhyve")
    assert memory(updated(host, uuid, ram=1536)) == (2816, 2816, 2816)
    assert memory(updated(host, uuid, ram=2048, max_physical_memory=2048)) == (2304, 2304, 2304)


# -- removing properties, lists in get ----------------------------------------------------------
def test_removing_properties(host, zone):
    """VM.js normalizePayload: '' or null unsets an integer (quota 0 is zfs quota=none);
    cpu_cap 0 removes the cap; test-update.js 'remove quota', 'set then unset simple
    properties', l.1299-1324 'cpu_cap is gone'."""
    vm = updated(host, zone, cpu_cap=100, alias="web")
    assert (vm["cpu_cap"], vm["alias"]) == (100, "web")
    vm = updated(host, zone, cpu_cap=0, alias=None, quota=None)
    assert "cpu_cap" not in vm and "alias" not in vm and vm["quota"] == 0
    assert updated(host, zone, cpu_cap=50)["cpu_cap"] == 50
    assert vmadm(host, "update", zone, "cpu_cap=").code == 0
    assert "cpu_cap" not in vmadm(host, "get", zone).json


def test_empty_lists_are_shown(host, zone, hvm):
    """vmload-xml.js / vmload index.js: nics, resolvers and snapshots are always lists
    (kvm included, which also has disks); test-defaults.js <EMPTY-ARRAY>."""
    vm = vmadm(host, "get", zone).json
    assert (vm["nics"], vm["resolvers"], vm["snapshots"]) == ([], [], [])
    kvm = vmadm(host, "get", hvm()).json
    assert (kvm["nics"], kvm["snapshots"]) == ([], [])
