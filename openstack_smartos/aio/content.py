"""What a new demo cloud offers: two small images built here, and flavors.

Nothing is downloaded. The zone image is an imgadm image file (a gzip ZFS
stream of a tiny dataset) made by the emulator's image builder; the bhyve
image is a small raw disk. Both are uploaded to Glance with the properties
the driver reads (``docs/operator-guide.md`` §3). The flavors carry
``smartos:*`` extra specs, which nova validates when they are created.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from openstack_smartos.aio.bootstrap import admin_connection
from openstack_smartos.aio.settings import DemoSettings

ZONE_IMAGE = "smartos-zone-demo"
BHYVE_IMAGE = "smartos-bhyve-demo"
RAW_DISK_MIB = 16

# name: (MiB, vCPUs, root GiB, extra specs)
FLAVORS = {
    "z1.small": (512, 1, 5, {"smartos:cpu_cap": "100", "smartos:zfs_io_priority": "100"}),
    "z1.medium": (2048, 2, 20, {"smartos:cpu_cap": "200", "smartos:max_lwps": "4000"}),
    "b1.small": (1024, 1, 10, {"smartos:bootrom": "uefi", "smartos:disk_driver": "virtio"}),
    "b1.medium": (4096, 2, 20, {"smartos:bootrom": "uefi", "smartos:nic_driver": "virtio"}),
}

IMAGE_PROPERTIES = {
    ZONE_IMAGE: {"smartos_image_type": "zone-dataset", "hw_vm_mode": "exe",
                 "os_distro": "smartos"},
    BHYVE_IMAGE: {"smartos_image_type": "zvol", "img_hv_type": "bhyve",
                  "hw_vm_mode": "hvm", "os_type": "linux"},
}


def zone_image_file(workdir: Path) -> Path:
    from openstack_smartos.sim import imagebuild
    files = {"root/etc/release": b"SmartOS demo zone image (openstack-smartos)\n",
             "root/etc/motd": b"Welcome to a zone of the openstack-smartos demo cloud.\n"}
    _manifest, _manifest_path, file_path = imagebuild.build_image(
        workdir / "zone", "zone-dataset", name=ZONE_IMAGE, files=files,
        compression="gzip")
    return Path(file_path)


def raw_disk_file(workdir: Path) -> Path:
    """A small raw disk with an MBR holding one Linux partition.

    Glance inspects uploads: a boot signature without a partition table
    fails its MBR safety check.
    """
    import struct
    sectors = (RAW_DISK_MIB << 20) // 512
    first = 2048
    entry = struct.pack("<B3sB3sII", 0x80, b"\xfe\xff\xff", 0x83, b"\xfe\xff\xff",
                        first, sectors - first)
    mbr = b"openstack-smartos demo disk".ljust(446, b"\0") + entry.ljust(64, b"\0") \
        + b"\x55\xaa"
    path = workdir / "bhyve.raw"
    with open(path, "wb") as disk:
        disk.write(mbr)
        disk.truncate(RAW_DISK_MIB << 20)
    return path


def create(settings: DemoSettings, progress=print):
    """Upload the images and create the flavors that are missing."""
    conn = admin_connection(settings)
    with tempfile.TemporaryDirectory(prefix="smartos-demo-images-") as tmp:
        builders = {ZONE_IMAGE: zone_image_file, BHYVE_IMAGE: raw_disk_file}
        for name, build in builders.items():
            if conn.image.find_image(name, ignore_missing=True):
                continue
            path = build(Path(tmp))
            conn.image.create_image(
                name=name, filename=str(path), disk_format="raw", container_format="bare",
                visibility="public", wait=True, allow_duplicates=False,
                **IMAGE_PROPERTIES[name])
            progress(f"image {name} uploaded ({path.stat().st_size // 1024} KiB)")
    for name, (ram, vcpus, disk, specs) in FLAVORS.items():
        if conn.compute.find_flavor(name, ignore_missing=True):
            continue
        flavor = conn.compute.create_flavor(name=name, ram=ram, vcpus=vcpus, disk=disk,
                                            is_public=True)
        conn.compute.create_flavor_extra_specs(flavor, specs)
        progress(f"flavor {name}: {ram} MiB, {vcpus} vCPU, {disk} GiB, "
                 + ", ".join(f"{k}={v}" for k, v in specs.items()))
