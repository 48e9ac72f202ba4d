"""vmadm's disk refreservation, size and growth rules as smartos-live specifies them
(VM.js createVolume, volsizeToRefreservation, createResizeDeleteVolume, resizeDisks,
setQuotaBhyve, validateDiskSource, validateImages, checkPayloadProperties;
vmload/index.js; src/vm/tests/test-bhyve-disk-resize.js), and the zfs behaviour they
rely on (illumos zfs_main.c zfs_do_create, libzfs zvol_volsize_to_reservation).
Each test names the rule and its source.
"""

from __future__ import annotations

import io
import json
import math

import pytest

from openstack_smartos.sim.state.zfs import Pool
from openstack_smartos.sim.state.zfs.reservation import auto_refreservation
from openstack_smartos.sim.tools import run_tool
from test_vmadm import Run, create, host, vmadm, zvol_image  # noqa: F401 (fixtures)

MIB = 1 << 20
IMAGE_MIB = 10240          # the zvol_image fixture


def zfs(host, *argv):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["zfs", *argv], stdin=io.BytesIO(b""), stdout=out, stderr=err)
    return Run(code, out.getvalue().decode(), err.getvalue().decode())


def fails(host, *argv, stdin=b""):
    result = vmadm(host, *argv, stdin=stdin)
    assert result.code == 1, (result.code, result.err)
    return result.err.strip()


def get(host, uuid):
    return vmadm(host, "get", uuid).json


def props(host, name):
    with host.locked():
        return Pool(host).get_props(name)


def bhyve_payload(image, **extra):
    payload = {"brand": "bhyve", "autoboot": False, "ram": 1024,
               "disks": [{"image_uuid": image, "boot": True, "model": "virtio"}]}
    payload.update(extra)
    return payload


# -- the auto refreservation ------------------------------------------------------------------
def test_auto_refreservation_formula():
    """libzfs zvol_volsize_to_reservation (no raidz vdev): volsize + (7 + indirect blocks
    at 1024 per level) * min(3, copies + 1) * 128 KiB; 10 GiB at 8 KiB is 10563 MiB."""
    assert auto_refreservation(10240 * MIB, 8192) == 10240 * MIB + 1290 * 2 * 128 * 1024
    assert math.ceil(auto_refreservation(10240 * MIB, 8192) / MIB) == 10563
    assert auto_refreservation(64 * MIB, 8192, copies=2) == 2 * 64 * MIB + 16 * 3 * 128 * 1024


def test_zfs_create_dry_run_parsable(host):
    """zfs_main.c zfs_do_create: -n is a dry run, -P (implies -v) prints 'create\\t<ds>'
    then 'property\\t<name>\\t<value>' in the order given, the computed refreservation
    last; VM.js volsizeToRefreservation parses that line. Nothing is created."""
    result = zfs(host, "create", "-nPV", str(10240 * MIB), "-o", "copies=1",
                 "-o", "volblocksize=8192", "zones/nope/disk0")
    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "create\tzones/nope/disk0", f"property\tvolsize\t{10240 * MIB}",
        "property\tcopies\t1", "property\tvolblocksize\t8192",
        f"property\trefreservation\t{auto_refreservation(10240 * MIB, 8192)}"]
    assert zfs(host, "list", "zones/nope/disk0").code == 1
    given = zfs(host, "create", "-nP", "-o", "refreservation=1G", "-V", "1G", "zones/v")
    assert given.out.splitlines()[1:] == ["property\trefreservation\t1G",
                                          f"property\tvolsize\t{1 << 30}"]
    sparse = zfs(host, "create", "-nPs", "-V", "1G", "zones/v")
    assert "refreservation" not in sparse.out


def test_zfs_create_volume_reserves_auto(host):
    """zfs_do_create: a non-sparse volume gets refreservation=zvol_volsize_to_reservation;
    `zfs get -Hp refreservation` shows the bytes."""
    assert zfs(host, "create", "-V", "64M", "zones/vol").code == 0
    got = zfs(host, "get", "-Hpo", "value", "refreservation", "zones/vol")
    assert int(got.out) == auto_refreservation(64 * MIB) == 68 * MIB


def test_blank_disk_refreservation_is_auto(host):
    """VM.js createVolume: refreservation unset means auto (`zfs create -o
    volblocksize=<vbs> -V <size>M`, no refreservation option); vmload addDiskProperties
    shows Math.ceil(bytes / MiB); compression is not passed, so it is inherited (off)."""
    uuid = create(host, {"brand": "kvm", "autoboot": False,
                         "disks": [{"size": 10240, "model": "virtio"}]})
    disk = get(host, uuid)["disks"][0]
    assert (disk["size"], disk["refreservation"], disk["block_size"]) == (10240, 10563, 8192)
    assert disk["compression"] == "off"
    zprops = props(host, disk["zfs_filesystem"])
    assert zprops["refreservation"] == auto_refreservation(10240 * MIB, 8192)
    assert "compression" not in zprops or zprops["compression"] == "off"


def test_given_refreservation_is_megabytes(host):
    """VM.js createVolume: a given refreservation is `-o refreservation=<N>M`."""
    uuid = create(host, {"brand": "kvm", "autoboot": False,
                         "disks": [{"size": 1024, "model": "virtio", "refreservation": 0}]})
    assert get(host, uuid)["disks"][0]["refreservation"] == 0


def test_cloned_disk_refreservation_is_auto(host, zvol_image):
    """VM.js createVolume cloneVolumeFunc: `zfs clone -F -o refreservation=auto` of
    <image>@final; the clone keeps the image's volblocksize."""
    uuid = create(host, bhyve_payload(zvol_image))
    disk = get(host, uuid)["disks"][0]
    assert disk["size"] == IMAGE_MIB
    assert disk["refreservation"] == math.ceil(
        auto_refreservation(IMAGE_MIB * MIB, disk["block_size"]) / MIB)


def test_bhyve_quota_uses_the_auto_refreservations(host, zvol_image):
    """VM.js setQuotaBhyve: quota = reservation = refquota + sum(auto refreservation)
    (+ flexible_disk_size - sum(volsize)); refreservation = refquota - 1 MiB."""
    uuid = create(host, bhyve_payload(zvol_image))
    root = props(host, f"zones/{uuid}")
    refres = props(host, f"zones/{uuid}/disk0")["refreservation"]
    assert refres > IMAGE_MIB * MIB
    assert root["quota"] == root["reservation"] == (1 << 30) + refres
    assert root["refreservation"] == (1 << 30) - MIB
    flex = create(host, bhyve_payload(zvol_image, flexible_disk_size=IMAGE_MIB + 1024))
    root = props(host, f"zones/{flex}")
    refres = props(host, f"zones/{flex}/disk0")["refreservation"]
    assert root["quota"] == (1 << 30) + refres - IMAGE_MIB * MIB + (IMAGE_MIB + 1024) * MIB


# -- size and image_size on create ----------------------------------------------------------------
def test_size_below_image_size(host, zvol_image):
    """VM.js validateImages: size < the manifest's image_size is the bad value 'size';
    test-bhyve-disk-resize.js 'create fails when size < image_size'."""
    payload = bhyve_payload(zvol_image)
    payload["disks"][0]["size"] = IMAGE_MIB - 1024
    assert fails(host, "create", stdin=payload) == "Invalid value(s) for: size"


def test_size_above_image_size_grows_the_clone(host, zvol_image):
    """VM.js validateDiskSource: size with image_uuid is a bad property (not removed:
    the regex only matches disks.*.x), so `-o volsize=<size>M` grows the clone;
    test-bhyve-disk-resize.js 'boot disk is grown when size > image_size'."""
    payload = bhyve_payload(zvol_image)
    payload["disks"][0]["size"] = IMAGE_MIB + 1024
    uuid = create(host, payload)
    assert get(host, uuid)["disks"][0]["size"] == IMAGE_MIB + 1024


def test_wrong_image_size(host, zvol_image):
    """VM.js validateImages (EBADSIZE): a given image_size other than the manifest's is
    the bad value disks.<i>.image_size."""
    payload = bhyve_payload(zvol_image)
    payload["disks"][0]["image_size"] = 512
    assert fails(host, "create", stdin=payload) == "Invalid value(s) for: disks.0.image_size"


def test_blank_disk_needs_size(host):
    """VM.js validateDiskSource: a disk without image_uuid needs size."""
    assert fails(host, "create", stdin={"brand": "kvm", "disks": [{"model": "virtio"}]}) == (
        "Missing required properties: disks.0.size")


def test_block_size_and_compression_messages(host, zvol_image):
    """VM.js checkPayloadProperties (add_disks, create included): block_size must be
    validRecordSize, not with image_uuid; compression one of COMPRESSION_TYPES; path only
    with nocreate or cdrom."""
    def disk_error(**disk):
        return fails(host, "create", stdin={"brand": "kvm", "disks": [
            {"model": "virtio", **disk}]})
    assert disk_error(size=1024, block_size=1000) == (
        "invalid .block_size(1000), must be 512-131072 and a power of 2.")
    assert disk_error(image_uuid=zvol_image, block_size=8192) == (
        "setting both .block_size and .image_uuid on a volume is invalid")
    assert disk_error(size=1024, compression="zstd") == (
        "invalid compression setting for disk, must be one of: on, off, gzip, gzip-1, "
        "gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle")
    assert disk_error(size=1024, path="/dev/zvol/rdsk/zones/x") == (
        "you cannot specify a path for a disk unless you set nocreate=true")


def test_negative_refreservation(host):
    """proptable.js disks.*.refreservation min 0, then VM.js validate's own check with the
    numeric index."""
    assert fails(host, "create", stdin={"brand": "kvm", "disks": [
        {"model": "virtio", "size": 1024, "refreservation": -1}]}) == (
        "Invalid value(s) for: disks.*.refreservation,disks.0.refreservation")


def test_validate_reports_disk_sources(host, zvol_image):
    """vmadm validate: VM.validate only (no imgadm lookup fills image_size); all three
    arrays are printed."""
    result = vmadm(host, "validate", "create", stdin={"brand": "bhyve", "disks": [
        {"image_uuid": zvol_image, "size": 20480, "block_size": 8192}, {"image_size": 5}]})
    assert json.loads(result.err) == {
        "bad_values": [],
        "bad_properties": ["disks.0.size", "disks.0.block_size", "disks.1.image_size"],
        "missing_properties": ["disks.0.image_size", "disks.1.size"]}


def test_validate_without_brand(host):
    """VM.js exports.validate: a missing brand is {"bad_brand": "undefined"}."""
    result = vmadm(host, "validate", "create", stdin={"alias": "x"})
    assert result.code == 1 and json.loads(result.err) == {"bad_brand": "undefined"}


# -- update: state, growth, add -------------------------------------------------------------------
def test_disk_updates_need_a_stopped_vm(host):
    """VM.js checkPayloadProperties (update): add/remove_disks only when stopped; while
    running update_disks may change only path, compression and refreservation."""
    uuid = create(host, {"brand": "kvm", "disks": [{"size": 1024, "model": "virtio"}]})
    path = get(host, uuid)["disks"][0]["path"]
    assert fails(host, "update", uuid, stdin={"remove_disks": [path]}) == (
        'updates to disks are only allowed when state is "stopped", currently: running '
        "(running)")
    assert fails(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "boot": True}]}) == (
        "at least one specified update to disks is only allowed when state is "
        '"stopped", currently: running (running)')
    ok = vmadm(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "compression": "lz4", "refreservation": 512}]})
    assert ok.code == 0, ok.err
    disk = get(host, uuid)["disks"][0]
    assert (disk["compression"], disk["refreservation"]) == ("lz4", 512)


def test_update_disks_value_messages(host):
    """VM.js checkPayloadProperties (update_disks): compression type message; block_size
    is add-only (a bad property, dropped); 'auto' is not an integer (bad value before
    'cannot change refreservation to auto on existing disk' can be reached)."""
    uuid = create(host, {"brand": "kvm", "autoboot": False,
                         "disks": [{"size": 1024, "model": "virtio"}]})
    path = get(host, uuid)["disks"][0]["path"]
    assert fails(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "compression": "zstd"}]}).startswith(
        "invalid compression type for disk, must be one of: on, off, gzip, ")
    assert fails(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "refreservation": "auto"}]}) == (
        "Invalid value(s) for: disks.*.refreservation")


def test_grow_fails_without_flexible_disk_size(host, zvol_image):
    """test-bhyve-disk-resize.js 'grow fails without flexible_disk_size': quota =
    reservation on the zoneroot leave no room; the zfs error comes back as
    'first of 1 error: Command failed: cannot set property for ...: size is greater than
    available space' (vasync MultiError, node execFile, libzfs zfs_setprop_error)."""
    payload = bhyve_payload(zvol_image)
    payload["disks"].append({"model": "virtio", "size": 2048})
    uuid = create(host, payload)
    path = get(host, uuid)["disks"][1]["path"]
    message = fails(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "size": 2048 + 1024}]})
    assert message == (f"first of 1 error: Command failed: cannot set property for "
                       f"'zones/{uuid}/disk1': size is greater than available space")
    assert get(host, uuid)["disks"][1]["size"] == 2048
    quota = props(host, f"zones/{uuid}")["quota"]
    assert quota == (1 << 30) + sum(props(host, f"zones/{uuid}/disk{i}")["refreservation"]
                                    for i in (0, 1))     # restored after the failure


def test_grow_within_flexible_disk_size(host, zvol_image):
    """test-bhyve-disk-resize.js 'data disk can be grown with update_disk': with
    flexible_disk_size the growth fits; createResizeDeleteVolume raised quota and
    reservation by the metadata delta (getRefresDelta)."""
    payload = bhyve_payload(zvol_image, flexible_disk_size=IMAGE_MIB + 3072)
    payload["disks"].append({"model": "virtio", "size": 2048})
    uuid = create(host, payload)
    before = props(host, f"zones/{uuid}")["quota"]
    old = props(host, f"zones/{uuid}/disk1")["refreservation"]
    path = get(host, uuid)["disks"][1]["path"]
    assert vmadm(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "size": 3072}]}).code == 0
    disk = get(host, uuid)["disks"][1]
    assert disk["size"] == 3072
    new = props(host, f"zones/{uuid}/disk1")["refreservation"]
    assert new == auto_refreservation(3072 * MIB, disk["block_size"])
    delta = (new - 3072 * MIB) - (old - 2048 * MIB)
    root = props(host, f"zones/{uuid}")
    assert root["quota"] == root["reservation"] == before + delta


def test_add_disk_up_to_flexible_disk_size(host, zvol_image):
    """test-bhyve-disk-resize.js 'add a disk works up to flexible_disk_size'; without
    it the zfs create fails inside the update pipeline."""
    uuid = create(host, bhyve_payload(zvol_image, flexible_disk_size=IMAGE_MIB + 1024))
    assert vmadm(host, "update", uuid, stdin={"add_disks": [
        {"model": "virtio", "size": 1024}]}).code == 0
    disks = get(host, uuid)["disks"]
    assert [d["size"] for d in disks] == [IMAGE_MIB, 1024]
    assert disks[1]["path"] == f"/dev/zvol/rdsk/zones/{uuid}/disk1"
    tight = create(host, bhyve_payload(zvol_image))
    message = fails(host, "update", tight, stdin={"add_disks": [
        {"model": "virtio", "size": 1024}]})
    assert message == (f"first of 1 error: Command failed: cannot create "
                       f"'zones/{tight}/disk1': out of space")


def test_kvm_disk_size_is_not_updatable(host):
    """proptable.js disks.*.size: update allowed for bhyve only (kvm: bad property,
    dropped)."""
    uuid = create(host, {"brand": "kvm", "autoboot": False,
                         "disks": [{"size": 1024, "model": "virtio"}]})
    path = get(host, uuid)["disks"][0]["path"]
    assert vmadm(host, "update", uuid, stdin={"update_disks": [
        {"path": path, "size": 2048}]}).code == 0
    assert get(host, uuid)["disks"][0]["size"] == 1024


def test_add_disks_fill_index_gaps(host):
    """VM.js update/createVolumes: a new disk takes the lowest index not used by the
    VM's disk paths."""
    uuid = create(host, {"brand": "kvm", "autoboot": False, "disk_driver": "virtio",
                         "disks": [{"size": 512}, {"size": 512}, {"size": 512}]})
    middle = get(host, uuid)["disks"][1]["path"]
    assert vmadm(host, "update", uuid, stdin={"remove_disks": [middle]}).code == 0
    assert vmadm(host, "update", uuid, stdin={"add_disks": [{"size": 256}]}).code == 0
    paths = sorted(d["path"] for d in get(host, uuid)["disks"])
    assert paths == [f"/dev/zvol/rdsk/zones/{uuid}-disk{i}" for i in range(3)]
