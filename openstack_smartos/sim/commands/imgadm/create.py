"""imgadm create: an image (manifest and compressed stream) from a VM."""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import os
import uuid as uuidlib
import zlib

from openstack_smartos.sim.state.zfs import Pool
from openstack_smartos.sim.commands.imgadm.common import ImgadmError, UsageError, _options


def cmd_create(ctx, rest):
    """imgadm create [-c comp] [-o dir] -m manifest|- <vm-uuid> [field=value ...]."""
    opts, positional = _options(rest, flags=("q", "i"), valued=("m", "o", "c", "s", "p"))
    if not positional:
        raise UsageError("missing <vm-uuid>")
    vm_uuid, fields = positional[0], positional[1:]
    from openstack_smartos.sim.state import vms as vmstore
    vm = vmstore.get_vm(ctx.host, vm_uuid)
    if vm is None:
        raise ImgadmError("VmNotFound", f'vm "{vm_uuid}" was not found')
    if vm.get("state") != "stopped":
        raise ImgadmError("VmNotStopped",
                          f'vm "{vm_uuid}" is not stopped (state: {vm.get("state")})')
    manifest = {}
    if opts.get("m"):
        with ctx.open_input(opts["m"][-1]) as handle:
            manifest = json.loads(handle.read() or b"{}")
    for field in fields:
        key, _, value = field.partition("=")
        manifest[key] = value
    for key in ("name", "version"):
        if not manifest.get(key):
            raise ImgadmError("ManifestValidation", f'manifest is missing "{key}"')
    compression = (opts.get("c") or ["none"])[-1]
    if compression not in ("none", "gzip", "bzip2", "xz"):
        raise UsageError(f'invalid compression "{compression}"')
    hvm = vm["brand"] in ("kvm", "bhyve")
    if hvm:
        disks = [d for d in vm.get("disks", []) if d.get("boot")] or vm.get("disks", [])
        if not disks:
            raise ImgadmError("InvalidManifest", f"vm {vm_uuid} has no disk to image")
        dataset = disks[0]["zfs_filesystem"]
        image_type = "zvol"
    else:
        dataset = vm["zfs_filesystem"]
        image_type = "lx-dataset" if vm["brand"] == "lx" else "zone-dataset"
    manifest.setdefault("uuid", str(uuidlib.uuid4()))
    manifest.setdefault("v", 2)
    manifest.setdefault("owner", vm.get("owner_uuid") or "00000000-0000-0000-0000-000000000000")
    manifest.setdefault("type", image_type)
    manifest.setdefault("os", "linux" if vm["brand"] == "lx" else ("other" if hvm else "smartos"))
    manifest.setdefault("state", "active")
    manifest.setdefault("disabled", False)
    manifest.setdefault("public", False)
    if hvm:
        manifest.setdefault("image_size", disks[0].get("size"))
        manifest.setdefault("disk_driver", disks[0].get("model", "virtio"))
        manifest.setdefault("nic_driver", vm.get("nic_driver", "virtio"))
        manifest.setdefault("cpu_type", vm.get("cpu_type", "host"))
    if opts.get("i"):
        raise ImgadmError("NotSupported",
                          "incremental images (-i) are not supported by this emulator")
    out_dir = (opts.get("o") or [os.getcwd()])[-1]
    base = os.path.join(out_dir, f"{manifest['name']}-{manifest['version']}")
    suffix = {"none": "", "gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}[compression]
    file_path = f"{base}.zfs{suffix}"
    pool = Pool(ctx.host)
    snap = f"{dataset}@imgadm-create-{manifest['uuid'][:8]}"
    with ctx.host.locked():
        pool.snapshot(snap)
    try:
        compressor = _compressor(compression)
        sha1, size = hashlib.sha1(), 0
        with open(file_path, "wb") as handle:
            writer = _HashingWriter(handle, compressor)
            pool.send(snap, writer)
            writer.close()
            sha1, size = writer.sha1, writer.size
    finally:
        with ctx.host.locked():
            pool.destroy(snap)
    manifest["files"] = [{"sha1": sha1.hexdigest(), "size": size, "compression": compression}]
    with open(f"{base}.imgmanifest", "w") as handle:
        json.dump(manifest, handle, indent=2)
    ctx.out(f"Created image {manifest['uuid']} ({manifest['name']}@{manifest['version']})")
    ctx.out(f"Wrote image manifest: {base}.imgmanifest")
    ctx.out(f"Wrote image file: {file_path}")
    return 0


def _compressor(compression):
    if compression == "gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    if compression == "bzip2":
        return bz2.BZ2Compressor()
    if compression == "xz":
        return lzma.LZMACompressor()
    return None


class _HashingWriter:
    def __init__(self, handle, compressor):
        self.handle = handle
        self.compressor = compressor
        self.sha1 = hashlib.sha1()
        self.size = 0

    def _emit(self, data):
        if data:
            self.sha1.update(data)
            self.size += len(data)
            self.handle.write(data)

    def write(self, data):
        self._emit(self.compressor.compress(data) if self.compressor else bytes(data))
        return len(data)

    def flush(self):
        pass

    def close(self):
        if self.compressor is not None:
            self._emit(self.compressor.flush())
