"""Build image files (manifest + compressed stream) that the emulator installs.

The stream inside is the emulator's own ZFS stream format, so these images
are for emulated hosts only; they are what tests, benchmarks and the demo
cloud boot from, without downloading anything.
"""

from __future__ import annotations

import datetime
import json
import os
import tempfile
import uuid as uuidlib

from openstack_smartos.sim.commands.imgadm import create as imgadm_create
from openstack_smartos.sim.host import init_host
from openstack_smartos.sim.state.zfs import Pool

_CHUNK = 4 << 20


def build_image(out_dir, image_type="zone-dataset", *, name="sim-image", version="1.0.0",
                files=None, volume=None, volume_size=None, compression="gzip",
                os_name=None, image_uuid=None, requirements=None, extra=None):
    """Write <name>-<version>.imgmanifest and .zfs[.gz|.bz2|.xz] into out_dir.

    zone-dataset / lx-dataset: ``files`` maps paths to bytes.
    zvol: ``volume`` is bytes or a readable binary file; ``volume_size``
    (bytes) defaults to its length rounded up to a MiB.
    Returns (manifest dict, manifest path, file path).
    """
    image_uuid = image_uuid or str(uuidlib.uuid4())
    os.makedirs(out_dir, exist_ok=True)
    base = os.path.join(out_dir, f"{name}-{version}")
    suffix = {"none": "", "gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}[compression]
    file_path = f"{base}.zfs{suffix}"
    with tempfile.TemporaryDirectory(prefix="imagebuild-") as scratch:
        host = init_host(os.path.join(scratch, "host"), zpool_gib=1024)
        pool = Pool(host)
        dataset = f"{host.zpool}/{image_uuid}"
        with host.locked():
            if image_type == "zvol":
                data = volume if volume is not None else b""
                length = len(data) if isinstance(data, (bytes, bytearray)) else None
                size = volume_size or _round_mib(length or 0) or (1 << 20)
                pool.create_volume(dataset, size, props={"refreservation": "none"})
                _write_volume(pool, dataset, data)
            else:
                pool.create_filesystem(dataset)
                for path, content in sorted((files or {}).items()):
                    pool.write_file(dataset, path, content)
            pool.snapshot(f"{dataset}@final")
        with open(file_path, "wb") as handle:
            writer = imgadm_create._HashingWriter(handle, imgadm_create._compressor(compression))
            with host.locked():
                pool.send(f"{dataset}@final", writer)
            writer.close()
        host.close()
    manifest = {
        "v": 2, "uuid": image_uuid, "owner": "00000000-0000-0000-0000-000000000000",
        "name": name, "version": version, "state": "active", "disabled": False,
        "public": True, "published_at": _now(), "type": image_type,
        "os": os_name or {"zone-dataset": "smartos", "lx-dataset": "linux"}.get(
            image_type, "linux"),
        "files": [{"sha1": writer.sha1.hexdigest(), "size": writer.size,
                   "compression": compression}],
    }
    if image_type == "zvol":
        manifest.update({"image_size": size // (1 << 20), "nic_driver": "virtio",
                         "disk_driver": "virtio", "cpu_type": "host"})
    if requirements:
        manifest["requirements"] = requirements
    manifest.update(extra or {})
    manifest_path = f"{base}.imgmanifest"
    with open(manifest_path, "w") as handle:
        json.dump(manifest, handle, indent=2)
    return manifest, manifest_path, file_path


def _write_volume(pool, dataset, data):
    if isinstance(data, (bytes, bytearray)):
        for offset in range(0, len(data), _CHUNK):
            pool.write_volume(dataset, offset, bytes(data[offset:offset + _CHUNK]))
        return
    offset = 0
    while True:
        chunk = data.read(_CHUNK)
        if not chunk:
            return
        pool.write_volume(dataset, offset, chunk)
        offset += len(chunk)


def _round_mib(length):
    mib = 1 << 20
    return -(-length // mib) * mib


def _now():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
