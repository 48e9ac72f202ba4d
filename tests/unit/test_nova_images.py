"""The image cache (nova/images.py): Glance images installed on emulated hosts.

Glance is a small fake with the interface of nova's ``GlanceFixture``
(``create(context, metadata, data=fileobj)``, ``show``, ``download``): the
real fixture can be instantiated outside nova's test base (``test=None`` plus
``_imagedata = {}``, which its setUp normally creates), but importing
``nova.tests.fixtures`` applies eventlet monkey patching to the whole test
process unless OS_NOVA_DISABLE_EVENTLET_PATCHING is set first, which would
change the threading these tests exercise.
"""

from __future__ import annotations

import copy
import glob
import hashlib
import io
import os
import shutil
import struct
import subprocess
import threading
import time
import uuid as uuidlib

import pytest
from oslo_config import cfg

from openstack_smartos.host import SmartOSHost
from openstack_smartos.nova import conf as smartos_conf
from openstack_smartos.nova import images
from openstack_smartos.nova.images import ImageCache, ImageInstallError
from openstack_smartos.sim import faults, imagebuild
from openstack_smartos.sim.state.zfs import Pool

MIB = 1 << 20
MARKER = "openstack-test"
ZONE_FILES = {"etc/motd": b"hello from glance\n", "opt/blob": os.urandom(200_000)}
HAVE_QEMU_IMG = shutil.which("qemu-img") is not None


class FakeGlance:
    """nova.tests.fixtures.GlanceFixture's storage and calls, without nova's test base."""

    def __init__(self):
        self.images, self._imagedata = {}, {}
        self.downloads = 0
        self.fail_download = None

    def create(self, context, metadata, data=None):
        image_id = str(metadata.get("id") or uuidlib.uuid4())
        meta = copy.deepcopy(metadata)
        meta["id"] = image_id
        meta.setdefault("status", "active")
        meta.setdefault("properties", {})
        self.images[image_id] = meta
        if data is not None:
            self._imagedata[image_id] = data.read()
        return copy.deepcopy(meta)

    def get(self, context, image_id, include_locations=False, show_deleted=True):
        if image_id not in self.images:
            raise LookupError(f"image {image_id} not found")
        return copy.deepcopy(self.images[image_id])

    def download(self, context, image_id, data=None, dst_path=None, trusted_certs=None):
        self.get(context, image_id)
        self.downloads += 1
        if self.fail_download:
            raise self.fail_download
        payload = self._imagedata.get(image_id, b"")
        if data is not None:
            for start in range(0, len(payload), 65536):
                data.write(payload[start:start + 65536])
        elif dst_path:
            with open(dst_path, "wb") as handle:
                handle.write(payload)


@pytest.fixture
def conf():
    conf = cfg.ConfigOpts()
    smartos_conf.register_opts(conf)
    conf([], project="nova")
    conf.set_override("deployment_marker", MARKER, group="smartos")
    conf.set_override("image_transfer_timeout", 120, group="smartos")
    return conf.smartos


@pytest.fixture
def env(sim_host, tmp_path, conf):
    class Env:
        sim = sim_host()
        host = SmartOSHost.connect(f"sim://{sim.root}")
        glance = FakeGlance()
        work_dir = tmp_path / "work"
        baseline = None

        def cache(self):
            return ImageCache(self.host, conf, glance_api=self.glance,
                              work_dir=str(self.work_dir))

        def datasets(self):
            with self.sim.locked():
                return {d["name"] for d in Pool(self.sim).list(root=self.sim.zpool)}

        def assert_clean(self, image_ids=()):
            """Nothing of ours left: datasets, VMs, images, host and local files."""
            assert self.datasets() == self.baseline
            assert self.host.vmadm.lookup_uuids() == []
            assert [i["manifest"]["uuid"] for i in self.host.imgadm.list()] == []
            for image_id in image_ids:
                assert glob.glob(f"/var/tmp/*{image_id}*") == []
                assert staged_files(image_id) == set()
            assert not self.work_dir.exists() or os.listdir(self.work_dir) == []

    env = Env()
    env.baseline = env.datasets()
    yield env
    for image_id in env.glance.images:
        for leftover in glob.glob(f"/var/tmp/*{image_id}*"):
            os.unlink(leftover)


def staged_files(image_id):
    """Files staged in /var/tmp for this image: imports, and the manifests the
    host clients stage under random names (other test runs may share /var/tmp)."""
    found = set(glob.glob(f"/var/tmp/openstack-import-{image_id}*"))
    for path in glob.glob("/var/tmp/openstack-smartos-*"):
        try:
            with open(path, "rb") as handle:
                if image_id.encode() in handle.read():
                    found.add(path)
        except FileNotFoundError:
            pass
    return found


def add_zone_image(env, tmp_path, image_type="zone-dataset", compression="gzip",
                   name="base zone/64", properties=None, corrupt=False):
    image_id = str(uuidlib.uuid4())
    _, _, path = imagebuild.build_image(tmp_path / image_id, image_type, files=ZONE_FILES,
                                        compression=compression)
    with open(path, "rb") as handle:
        data = handle.read()
    if corrupt:
        data = data[:len(data) // 2] + bytes(64) + data[len(data) // 2 + 64:]
    props = {"smartos_image_type": image_type, **(properties or {})}
    env.glance.create(None, {"id": image_id, "name": name, "disk_format": "raw",
                             "container_format": "bare", "size": len(data),
                             "properties": props}, data=io.BytesIO(data))
    return image_id, data


def add_disk_image(env, data, disk_format="raw", properties=None, **meta):
    image_id = str(uuidlib.uuid4())
    env.glance.create(None, {"id": image_id, "name": "disk image", "disk_format": disk_format,
                             "container_format": "bare", "size": len(data),
                             "properties": properties or {}, **meta},
                      data=io.BytesIO(data))
    return image_id


def volume_bytes(env, dataset):
    out = io.BytesIO()
    env.host.zfs.read_volume(dataset, out)
    return out.getvalue()


# -- zone-dataset and lx-dataset images ---------------------------------------------------

@pytest.mark.parametrize("compression", ["gzip", "bzip2", "xz", "none"])
def test_zone_image_installed_from_glance(env, tmp_path, compression):
    image_id, data = add_zone_image(env, tmp_path, compression=compression,
                                    properties={"smartos_image_version": "20260301"})
    cache = env.cache()
    manifest = cache.ensure(None, image_id)
    assert manifest["uuid"] == image_id and manifest["type"] == "zone-dataset"
    assert manifest["os"] == "smartos" and manifest["version"] == "20260301"
    assert manifest["name"] == "base-zone-64"
    assert manifest["files"] == [{"sha1": hashlib.sha1(data).hexdigest(), "size": len(data),
                                  "compression": compression}]
    assert manifest["tags"] == {"openstack:glance_id": image_id,
                                "openstack:managed_by": MARKER}
    assert manifest["public"] is False and manifest["state"] == "active"
    installed = env.host.imgadm.get(image_id)["manifest"]
    assert installed["tags"] == manifest["tags"]
    with env.sim.locked():
        assert Pool(env.sim).read_file(f"zones/{image_id}", "opt/blob") == \
            ZONE_FILES["opt/blob"]
    # a boot clones it
    vm = env.host.vmadm.create({"brand": "joyent", "image_uuid": image_id, "ram": 128,
                                "autoboot": False})
    assert env.host.vmadm.get(vm)["image_uuid"] == image_id
    assert staged_files(image_id) == set()
    assert os.listdir(env.work_dir) == []


def test_lx_image(env, tmp_path):
    image_id, _ = add_zone_image(env, tmp_path, image_type="lx-dataset", compression="xz",
                                 name="ubuntu-24.04",
                                 properties={"os_distro": "ubuntu"})
    manifest = env.cache().ensure(None, image_id)
    assert manifest["type"] == "lx-dataset" and manifest["os"] == "linux"
    assert manifest["requirements"] == {"brand": "lx"}
    assert env.host.imgadm.get(image_id)["manifest"]["type"] == "lx-dataset"


# -- disk images -> zvol images ----------------------------------------------------------

def test_raw_disk_image_becomes_zvol_image(env):
    data = os.urandom(2 * MIB + 12345)          # not a whole MiB, not a whole sector
    image_id = add_disk_image(env, data, properties={
        "img_hv_type": "bhyve", "hw_firmware_type": "uefi", "os_type": "linux",
        "hw_disk_bus": "nvme", "hw_vif_model": "e1000"})
    env.host.stats.reset()
    manifest = env.cache().ensure(None, image_id)
    stats = env.host.stats.snapshot()
    assert manifest["type"] == "zvol" and manifest["image_size"] == 3
    assert manifest["os"] == "linux"
    assert manifest["requirements"] == {"brand": "bhyve", "bootrom": "uefi"}
    assert (manifest["disk_driver"], manifest["nic_driver"], manifest["cpu_type"]) == \
        ("nvme", "e1000", "host")
    assert manifest["files"] == [{"compression": "none"}]
    # the image's bytes are the raw data, then zeros
    image = volume_bytes(env, f"zones/{image_id}@final")
    assert len(image) == 3 * MIB
    assert image[:len(data)] == data and image[len(data):] == bytes(3 * MIB - len(data))
    # nothing else stays: no scratch VM, no staging dataset, no files
    assert env.datasets() == env.baseline | {f"zones/{image_id}"}
    assert env.host.vmadm.lookup_uuids() == []
    assert glob.glob(f"/var/tmp/*{image_id}*") == [] and os.listdir(env.work_dir) == []
    # one streamed upload, 6 round trips
    assert stats["round_trips"] == 6, stats
    assert stats["by_command"] == {"imgadm get": 1, "vmadm create": 1, "imgadm create": 1,
                                   "imgadm install": 1, "vmadm delete": 1, "dd": 1}
    assert len(data) <= stats["bytes_out"] < len(data) + 64 * 1024
    # bhyve boots clone it
    vm = env.host.vmadm.create({"brand": "bhyve", "ram": 256, "autoboot": False,
                                "disks": [{"image_uuid": image_id, "boot": True,
                                           "model": "virtio"}]})
    disk = env.host.vmadm.get(vm)["disks"][0]["zfs_filesystem"]
    assert volume_bytes(env, disk)[:len(data)] == data


def qcow2_header(virtual_size=4 * MIB, backing=False, data_file=False):
    """A qcow2 v3 header (enough for the format inspector's checks)."""
    header = struct.pack(">4sIQIIQIIQQIIQQQQII", b"QFI\xfb", 3, 4096 if backing else 0,
                         8 if backing else 0, 16, virtual_size, 0, 0, 0, 0, 0, 0, 0,
                         4 if data_file else 0, 0, 0, 4, 104)
    return header + bytes(65536 - len(header))


@pytest.mark.skipif(not HAVE_QEMU_IMG, reason="qemu-img is missing (install qemu-utils)")
def test_qcow2_disk_image_is_converted(env, tmp_path):
    raw = os.urandom(MIB) + bytes(MIB) + os.urandom(512 * 3)
    (tmp_path / "disk.raw").write_bytes(raw)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2",
                    str(tmp_path / "disk.raw"), str(tmp_path / "disk.qcow2")], check=True)
    image_id = add_disk_image(env, (tmp_path / "disk.qcow2").read_bytes(),
                              disk_format="qcow2")
    manifest = env.cache().ensure(None, image_id)
    assert manifest["type"] == "zvol" and manifest["image_size"] == 3
    image = volume_bytes(env, f"zones/{image_id}")
    assert image[:len(raw)] == raw and image[len(raw):] == bytes(len(image) - len(raw))
    assert os.listdir(env.work_dir) == []


@pytest.mark.parametrize("data, reason", [
    (qcow2_header(backing=True), "unsafe: backing_file"),
    (qcow2_header(data_file=True), "unsafe: data_file"),
    (os.urandom(MIB), "declared qcow2 but its data is"),
])
def test_unsafe_qcow2_refused(env, data, reason):
    image_id = add_disk_image(env, data, disk_format="qcow2")
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, image_id)
    assert info.value.image_id == image_id and reason in info.value.reason
    env.assert_clean([image_id])


def test_missing_qemu_img_is_reported(env, monkeypatch):
    image_id = add_disk_image(env, qcow2_header(), disk_format="qcow2")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, image_id)
    assert "qemu-img is not installed" in info.value.reason
    assert "qemu-utils" in info.value.reason
    env.assert_clean([image_id])


@pytest.mark.parametrize("meta, reason", [
    ({"disk_format": "vmdk"}, "disk_format 'vmdk' is not supported"),
    ({"container_format": "docker"}, "container_format 'docker' is not supported"),
    ({"properties": {"smartos_image_type": "docker"}}, "unknown smartos_image_type"),
])
def test_unsupported_images_refused(env, meta, reason):
    image_id = add_disk_image(env, os.urandom(4096), **{"disk_format": "raw", **meta})
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, image_id)
    assert reason in info.value.reason
    env.assert_clean([image_id])


def test_glance_checksums_verified(env):
    data = os.urandom(8192)
    good = add_disk_image(env, data, checksum=hashlib.md5(data).hexdigest(),
                          os_hash_algo="sha512",
                          os_hash_value=hashlib.sha512(data).hexdigest())
    bad = add_disk_image(env, data, os_hash_algo="sha512", os_hash_value="0" * 128)
    assert env.cache().ensure(None, good)["uuid"] == good
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, bad)
    assert "sha512" in info.value.reason


def test_not_a_uuid(env):
    with pytest.raises(ImageInstallError):
        env.cache().ensure(None, "not-a-uuid")


# -- once per host, cached after --------------------------------------------------------

def test_cached_ensure_is_one_round_trip(env, tmp_path):
    image_id, _ = add_zone_image(env, tmp_path)
    cache = env.cache()
    env.host.stats.reset()
    assert cache.cache_image(None, image_id) is True
    uncached = env.host.stats.snapshot()
    # The manifest and the image file are staged on the host, then installed.
    assert uncached["by_command"] == {"imgadm get": 1, "write_file": 2, "imgadm install": 1}
    env.host.stats.reset()
    manifest = cache.ensure(None, image_id)
    assert env.host.stats.snapshot()["round_trips"] == 1
    assert manifest["uuid"] == image_id
    assert cache.cache_image(None, image_id) is False
    assert env.glance.downloads == 1


@pytest.mark.parametrize("kind", ["zone", "zvol"])
def test_concurrent_ensure_installs_once(env, tmp_path, kind):
    if kind == "zone":
        image_id, _ = add_zone_image(env, tmp_path)
    else:
        image_id = add_disk_image(env, os.urandom(MIB))
    env.host.stats.reset()
    barrier = threading.Barrier(8)
    results, failures = [], []

    def boot():
        cache = env.cache()              # one ImageCache per user, one lock registry
        barrier.wait()
        try:
            results.append(cache.ensure(None, image_id))
        except Exception as exc:   # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=boot) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert failures == [] and len(results) == 8
    assert {r["uuid"] for r in results} == {image_id}
    by_command = env.host.stats.snapshot()["by_command"]
    assert by_command["imgadm install"] == 1
    assert env.glance.downloads == 1
    # 8 fast-path lookups, and one more for each thread that waited on the lock
    assert 8 <= by_command["imgadm get"] <= 15


def test_two_hosts_install_independently(env, sim_host, tmp_path, conf):
    image_id, _ = add_zone_image(env, tmp_path)
    other = SmartOSHost.connect(f"sim://{sim_host().root}")
    env.cache().ensure(None, image_id)
    ImageCache(other, conf, glance_api=env.glance,
               work_dir=str(env.work_dir)).ensure(None, image_id)
    assert other.imgadm.exists(image_id) and env.host.imgadm.exists(image_id)
    assert env.glance.downloads == 2


# -- failures leave nothing behind ---------------------------------------------------------

@pytest.mark.parametrize("kind", ["zone", "zvol"])
@pytest.mark.parametrize("match, action", [
    ("imgadm install", "fail"),
    ("imgadm install", "fail_after"),
    ("imgadm install", "hang"),
    ("vmadm create", "fail"),
    ("vmadm create", "fail_after"),
    ("dd", "fail"),
    ("dd", "fail_after"),
    ("imgadm create", "fail"),
    ("imgadm create", "fail_after"),
    ("imgadm get", "fail"),
])
def test_host_failure_leaves_host_clean_and_retry_works(env, tmp_path, conf, kind, match,
                                                          action):
    if kind == "zone":
        if match.split()[0] in ("vmadm", "dd") or match == "imgadm create":
            pytest.skip("zone images do not use this command")
        image_id, _ = add_zone_image(env, tmp_path)
    else:
        image_id = add_disk_image(env, os.urandom(MIB + 4096))
    cache = env.cache()
    if action == "hang":
        conf_timeout = conf.image_transfer_timeout
        cache.timeout = 0.5
    faults.add_rule(env.sim, match, action, times=1,
                    seconds=2 if action == "hang" else None)
    with pytest.raises(ImageInstallError) as info:
        cache.ensure(None, image_id)
    assert info.value.image_id == image_id
    if action == "hang":
        cache.timeout = conf_timeout
        assert "timed out" in info.value.reason
        time.sleep(2.5)                 # the hung emulated command ends
    env.assert_clean([image_id])
    faults.clear(env.sim)
    manifest = cache.ensure(None, image_id)
    assert manifest["uuid"] == image_id and env.host.imgadm.exists(image_id)
    assert env.host.vmadm.lookup_uuids() == []
    assert glob.glob(f"/var/tmp/*{image_id}*") == []


def test_corrupt_image_file_leaves_host_clean(env, tmp_path):
    image_id, _ = add_zone_image(env, tmp_path, corrupt=True)
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, image_id)
    assert "imgadm install failed" in info.value.reason
    env.assert_clean([image_id])
    # Glance gets a good copy of the image: the next ensure installs it
    _, _, path = imagebuild.build_image(tmp_path / "good", "zone-dataset", files=ZONE_FILES)
    with open(path, "rb") as handle:
        env.glance._imagedata[image_id] = handle.read()
    assert env.cache().ensure(None, image_id)["uuid"] == image_id


def test_download_failure(env, tmp_path):
    image_id, _ = add_zone_image(env, tmp_path)
    env.glance.fail_download = OSError("connection reset by glance")
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, image_id)
    assert "connection reset by glance" in info.value.reason
    env.assert_clean([image_id])
    env.glance.fail_download = None
    assert env.cache().ensure(None, image_id)["uuid"] == image_id


def test_empty_and_unknown_images(env):
    empty = add_disk_image(env, b"")
    with pytest.raises(ImageInstallError) as info:
        env.cache().ensure(None, empty)
    assert "no data" in info.value.reason
    with pytest.raises(ImageInstallError):
        env.cache().ensure(None, str(uuidlib.uuid4()))     # not in Glance
    env.assert_clean([empty])


# -- cleanup -----------------------------------------------------------------------------

def test_cleanup_deletes_only_our_unused_images(env, tmp_path, conf, install_image):
    cache = env.cache()
    unused, _ = add_zone_image(env, tmp_path)
    in_use, _ = add_zone_image(env, tmp_path)
    cloned = add_disk_image(env, os.urandom(MIB))
    for image_id in (unused, in_use, cloned):
        cache.ensure(None, image_id)
    env.host.vmadm.create({"brand": "bhyve", "ram": 256, "autoboot": False,
                           "disks": [{"image_uuid": cloned, "boot": True,
                                      "model": "virtio"}]})
    foreign = install_image(env.sim)["uuid"]                              # no tags
    other_marker = install_image(env.sim, tags={"openstack:managed_by": "another-cloud"})
    # a scratch VM left by an import that died with its process, and one of
    # another deployment
    stale = env.host.vmadm.create(cache._scratch_payload(str(uuidlib.uuid4()),
                                                         str(uuidlib.uuid4()), 1))
    theirs = cache._scratch_payload(str(uuidlib.uuid4()), str(uuidlib.uuid4()), 1)
    theirs["internal_metadata"][images.SCRATCH_FOR] = "another-cloud"
    theirs = env.host.vmadm.create(theirs)

    assert cache.cleanup({in_use.upper()}) == [unused]
    installed = {i["manifest"]["uuid"] for i in env.host.imgadm.list()}
    assert installed == {in_use, cloned, foreign, other_marker["uuid"]}
    vms = set(env.host.vmadm.lookup_uuids())
    assert stale not in vms and theirs in vms
    assert cache.cleanup(set()) == [in_use]                 # cloned still has a clone
    assert cache.cleanup(set()) == []


# -- the same over every transport --------------------------------------------------------

@pytest.mark.parametrize("transport", ["local", "ssh"])
def test_install_over_other_transports(request, env, tmp_path, conf, transport):
    """local:// (the tools by name from PATH) and ssh:// (a served emulated host):
    the same commands, plus one ``rm`` per staged file over ssh."""
    from openstack_smartos.host.transport import LocalTransport
    from openstack_smartos.sim import shims
    if transport == "local":
        host = SmartOSHost(LocalTransport(env=shims.local_env(env.sim.root)))
    else:
        served = request.getfixturevalue("served_host")(host=env.sim)
        host = SmartOSHost(served.transport())
    cache = ImageCache(host, conf, glance_api=env.glance, work_dir=str(env.work_dir))
    zone_id, _ = add_zone_image(env, tmp_path)
    data = os.urandom(MIB + 777)
    disk_id = add_disk_image(env, data)
    rounds = {}
    for image_id in (zone_id, disk_id):
        host.stats.reset()
        assert cache.cache_image(None, image_id) is True
        rounds[image_id] = host.stats.snapshot()
    host.stats.reset()
    cache.ensure(None, disk_id)
    assert host.stats.snapshot()["round_trips"] == 1
    extra = 1 if transport == "ssh" else 0          # over ssh, one rm per staged file
    assert rounds[zone_id]["round_trips"] == 4 + 2 * extra, rounds[zone_id]
    assert rounds[disk_id]["round_trips"] == 6 + 2 * extra, rounds[disk_id]
    assert volume_bytes(env, f"zones/{disk_id}")[:len(data)] == data
    assert host.vmadm.lookup_uuids() == []
    for image_id in (zone_id, disk_id):
        assert staged_files(image_id) == set()
    host.close()
