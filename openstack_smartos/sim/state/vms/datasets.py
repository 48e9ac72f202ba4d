"""The ZFS side of a VM (§10.1, §10.4), through the emulated pool.

Layout: the zoneroot ``<pool>/<uuid>`` (OS: a clone of ``<image>@final``;
kvm: a small filesystem; bhyve: the parent of its disks), kvm disks
``<pool>/<uuid>-diskN``, bhyve disks ``<pool>/<uuid>/diskN``, and
``<pool>/cores/<uuid>``. Metadata, tags and routes are files in the zoneroot
(``config/*.json``) so they travel with send/receive.
"""

from __future__ import annotations

import json

from openstack_smartos.sim.commands.vmadm.proptable import HVM_BRANDS
from openstack_smartos.sim.commands.vmadm.values import GIB, MIB
from openstack_smartos.sim.state.zfs import ZFSError
from openstack_smartos.sim.state.zfs.reservation import auto_refreservation

CORES_QUOTA = 100 * GIB
METADATA_FILE = "config/metadata.json"
TAGS_FILE = "config/tags.json"
ROUTES_FILE = "config/routes.json"


def zoneroot(cfg) -> str:
    return f"{cfg['zpool']}/{cfg['uuid']}"


def cores(cfg) -> str:
    return f"{cfg['zpool']}/cores/{cfg['uuid']}"


def owned_disks(cfg):
    """Disks whose zvol vmadm created (not cdroms, not nocreate)."""
    return [d for d in cfg.get("disks", ())
            if d.get("zfs_filesystem") and d.get("media") != "cdrom" and not d.get("nocreate")]


def outside_disks(cfg):
    """Disk datasets that are not under the zoneroot (kvm)."""
    root = zoneroot(cfg) + "/"
    return [d["zfs_filesystem"] for d in owned_disks(cfg)
            if not d["zfs_filesystem"].startswith(root)]


def _root_props(cfg):
    props = {}
    if cfg.get("zfs_root_recsize") not in (None, 131072):
        props["recordsize"] = cfg["zfs_root_recsize"]
    if cfg.get("zfs_root_compression"):
        props["compression"] = cfg["zfs_root_compression"]
    if cfg.get("zfs_snapshot_limit") is not None:
        props["snapshot_limit"] = cfg["zfs_snapshot_limit"]
    if cfg.get("zfs_filesystem_limit") is not None:
        props["filesystem_limit"] = cfg["zfs_filesystem_limit"]
    return props


def create_all(pool, cfg, maps, created: list):
    """Create every dataset of a new VM; ``created`` collects names for undo."""
    brand = cfg["brand"]
    root = zoneroot(cfg)
    props = _root_props(cfg)
    if brand not in HVM_BRANDS:
        props["quota"] = cfg["quota"] * GIB
        pool.clone(f"{cfg['zpool']}/{cfg['image_uuid']}@final", root, props=props)
        created.append(root)
        if cfg.get("delegate_dataset"):
            data = f"{root}/data"
            # vmadm passes -o compression / -o recsize only when the payload has
            # zfs_data_compression / zfs_data_recsize; otherwise they are inherited.
            props = {}
            if cfg.get("zfs_data_compression"):
                props["compression"] = cfg["zfs_data_compression"]
            if cfg.get("zfs_data_recsize"):
                props["recordsize"] = cfg["zfs_data_recsize"]
            pool.create_filesystem(data, props=props)
            cfg["datasets"] = [data]
    elif brand == "kvm":
        props["quota"] = cfg["quota"] * GIB
        pool.create_filesystem(root, props=props)
        created.append(root)
    else:
        props["refquota"] = max(1, cfg["quota"]) * GIB
        pool.create_filesystem(root, props=props)
        created.append(root)
    for disk in owned_disks(cfg):
        create_disk(pool, disk, root)
        created.append(disk["zfs_filesystem"])
    if brand == "bhyve":
        apply_bhyve_quota(pool, cfg)
    name = cores(cfg)
    if not pool.exists(name):
        pool.create_filesystem(name, props={"quota": CORES_QUOTA}, parents=True)
        created.append(name)
    write_maps(pool, cfg, maps)
    for flag, dataset in (("indestructible_zoneroot", root),
                          ("indestructible_delegated", f"{root}/data")):
        if cfg.get(flag):
            set_indestructible(pool, dataset, True)


def create_disk(pool, disk, zpds=None):
    """VM.js createVolume: a clone of ``<image>@final`` or a blank zvol.

    refreservation unset means ``auto`` (volsize + metadata): a blank zvol gets
    it from ``zfs create`` itself, a clone from ``-o refreservation=auto``; a
    given one is ``<N>M``. compression only when given (else inherited).
    ``zpds``: the zoneroot; a volume under it (bhyve) goes through
    createResizeDeleteVolume, which first raises the zoneroot's quota and
    reservation by the metadata part of the auto refreservation.
    """
    dataset = disk["zfs_filesystem"]
    size = disk.get("size", disk.get("image_size")) * MIB
    refres = disk.get("refreservation")
    props = {}
    if "compression" in disk:
        props["compression"] = disk["compression"]
    if disk.get("image_uuid"):
        image = f"{disk['zpool']}/{disk['image_uuid']}"
        if "size" in disk:
            props["volsize"] = f"{disk['size']}M"
        props["refreservation"] = "auto" if refres is None else f"{refres}M"

        def change():
            pool.clone(f"{image}@final", dataset, props=props)
        image_props = pool.get_props(image) if refres is None else {}
        blocksize = _int(image_props.get("volblocksize"))
        copies = _int(image_props.get("copies")) or 1
    else:
        blocksize = disk.get("block_size", 8192)
        copies = 1
        props["volblocksize"] = blocksize
        if refres is not None:
            props["refreservation"] = f"{refres}M"

        def change():
            pool.create_volume(dataset, size, props=props)
    delta = 0
    if zpds and dataset.startswith(zpds + "/") and refres is None:
        # volsizeToRefreservation: what `zfs create -nPV <bytes> -o copies=<c>
        # -o volblocksize=<vbs> <vol>` prints as its refreservation line.
        delta = auto_refreservation(size, blocksize, copies) - size
    resize_under_quota(pool, zpds, delta, change)


def resize_under_quota(pool, zpds, delta, change):
    """VM.js createResizeDeleteVolume: with a quota on the zoneroot, raise quota and
    reservation by ``delta`` (metadata bytes) before ``change``, lower them after a
    negative one, and restore them when ``change`` fails."""
    quota = _int(pool.get_props(zpds).get("quota")) if zpds and delta else 0
    if not quota:
        change()
        return
    if delta > 0:
        _bump(pool, zpds, quota + delta)
    try:
        change()
    except ZFSError:
        if delta > 0:
            _bump(pool, zpds, quota)
        raise
    if delta < 0:
        _bump(pool, zpds, quota + delta)


def _bump(pool, zpds, value):
    pool.set_prop(zpds, "quota", value)
    pool.set_prop(zpds, "reservation", value)


def resize_disk(pool, zpds, disk, new_mib):
    """VM.js resizeDisks (after its shrink check): getRefresDelta, then
    ``zfs set volsize=<bytes>``; a volume outside the zoneroot needs no delta."""
    name = disk["zfs_filesystem"]
    newsize = new_mib * MIB
    delta = 0
    if name.startswith(zpds + "/"):
        props = pool.get_props(name)
        volsize = _int(props.get("volsize")) or 0
        current_md = (_int(props.get("refreservation")) or 0) - volsize
        new_md = auto_refreservation(newsize, _int(props.get("volblocksize")),
                                     _int(props.get("copies")) or 1) - newsize
        delta = new_md - current_md
    resize_under_quota(pool, zpds, delta,
                       lambda: pool.set_prop(name, "volsize", newsize))


def apply_bhyve_quota(pool, cfg):
    """VM.js setQuotaBhyve (§10.4): refreservation=none and refquota on the zoneroot,
    refreservation=auto on its volumes, then quota = reservation = refquota + their
    refreservations (+ flexible_disk_size - their volsizes), or the payload quota
    when that is larger; refreservation = refquota - 1 MiB."""
    root = zoneroot(cfg)
    refquota = max(1, cfg["quota"]) * GIB
    pool.set_prop(root, "refreservation", "none")
    pool.set_prop(root, "refquota", refquota)
    volumes = [v for v in pool.list(root, types=("volume",), recursive=True)]
    for volume in volumes:
        pool.set_prop(volume["name"], "refreservation", "auto")
    refres = sum(_int(pool.get_props(v["name"]).get("refreservation")) or 0 for v in volumes)
    volsizes = sum(_int(v.get("volsize")) or 0 for v in volumes)
    if cfg.get("flexible_disk_size"):
        total = refres + refquota + cfg["flexible_disk_size"] * MIB - volsizes
    else:
        total = refres + refquota
    total = max(total, cfg["quota"] * GIB)
    pool.set_prop(root, "quota", total)
    pool.set_prop(root, "reservation", total)
    pool.set_prop(root, "refreservation", max(0, refquota - MIB))


def set_quota(pool, cfg):
    if cfg["brand"] == "bhyve":
        apply_bhyve_quota(pool, cfg)
    else:
        pool.set_prop(zoneroot(cfg), "quota", cfg["quota"] * GIB)


def set_indestructible(pool, dataset, on: bool):
    snap = f"{dataset}@indestructible"
    if on:
        if not pool.exists(dataset):
            return
        if not pool.exists(snap):
            pool.snapshot(snap)
        if "do_not_destroy" not in pool.holds(snap):
            pool.hold("do_not_destroy", snap)
    elif pool.exists(snap):
        if "do_not_destroy" in pool.holds(snap):
            pool.release("do_not_destroy", snap)
        pool.destroy(snap)


def write_maps(pool, cfg, maps):
    root = zoneroot(cfg)
    pool.write_file(root, METADATA_FILE, _json({
        "customer_metadata": maps.get("customer_metadata", {}),
        "internal_metadata": maps.get("internal_metadata", {})}))
    pool.write_file(root, TAGS_FILE, _json(maps.get("tags", {})))
    pool.write_file(root, ROUTES_FILE, _json(maps.get("routes", {})))


def read_maps(pool, cfg) -> dict:
    root = zoneroot(cfg)
    maps = {"customer_metadata": {}, "internal_metadata": {}, "tags": {}, "routes": {}}
    try:
        metadata = _load(pool.read_file(root, METADATA_FILE))
        tags = _load(pool.read_file(root, TAGS_FILE))
        routes = _load(pool.read_file(root, ROUTES_FILE))
    except ZFSError:
        return maps
    for key in ("customer_metadata", "internal_metadata"):
        if isinstance(metadata.get(key), dict):
            maps[key] = metadata[key]
    maps["tags"] = tags if isinstance(tags, dict) else {}
    maps["routes"] = routes if isinstance(routes, dict) else {}
    return maps


def _json(obj) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def _load(data):
    if not data:
        return {}
    try:
        return json.loads(data)
    except ValueError:
        return {}


def destroy_all(pool, cfg):
    """Everything the VM owns: zoneroot (recursively), kvm disks, cores."""
    names = [zoneroot(cfg), *outside_disks(cfg), cores(cfg)]
    for name in names:
        if pool.exists(name):
            pool.destroy(name, recursive=True, force=True)


def undo(pool, created):
    """Best-effort removal of the datasets a failed create made."""
    for name in reversed(created):
        try:
            if pool.exists(name):
                pool.destroy(name, recursive=True, force=True)
        except ZFSError:
            pass


def _int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def props_int(props, key):
    return _int(props.get(key))
