"""Payload validation, normalisation and defaults (pure functions).

Nothing here touches the host: what the checks need from it (pool names,
NIC tags, installed images, MACs in use) arrives in an ``Env``.

The rules follow the reference (§1.1, §1.3, §2): properties not allowed for
the action and brand are dropped (and reported as ``bad_properties`` by
``vmadm validate`` only); wrong values, missing required properties and a bad
brand are fatal.

Constants, ``Problems``, ``Env`` and the checks of single values are in
``values``.
"""

from __future__ import annotations

from openstack_smartos.sim.commands.vmadm import nics, proptable
from openstack_smartos.sim.commands.vmadm.proptable import BRANDS, HVM_BRANDS
from openstack_smartos.sim.commands.vmadm.values import (_BAD, COLLECTIONS, DISK_MODELS,
                                                         HVM_LIMIT_PRIV, IMAGE_TYPES, MAC_RE,
                                                         MAP_PROPS, MEMORY_OVERHEAD,
                                                         MIN_HVM_OVERHEAD, MIN_SWAP,
                                                         SUB_CHECKS, TOP_CHECKS,
                                                         ZERO_UUID, Env, PayloadError, Problems,
                                                         COMPRESSION_TYPES, _pow2, coerce,
                                                         from_string, unset)


# -- the property filter -------------------------------------------------------------
def filter_properties(payload: dict, action: str, brand: str, problems: Problems,
                      *, keep=()) -> dict:
    """Keep the properties allowed for ``action``/``brand``, coerced to their types.

    Disallowed keys are recorded in ``problems.bad_properties`` and dropped;
    values that cannot be coerced or fail their check go to ``bad_values``.
    ``None`` values are kept for update (they clear) and dropped otherwise.
    """
    out = {}
    for key, value in payload.items():
        if key in keep:
            out[key] = value
            continue
        prop = proptable.get(key)
        if prop is None or not prop.allowed(action, brand):
            problems.bad_properties.append(key)
            continue
        if value is None or unset(prop.type, value):
            if action == "update":
                out[key] = None
            continue
        converted = coerce(prop.type, value)
        if converted is _BAD:
            problems.value(key)
            continue
        check = TOP_CHECKS.get(key)
        if check is not None:
            try:
                ok = check(converted)
            except (TypeError, ValueError):
                ok = False
            if not ok:
                problems.value(key)
                continue
        collection = prop.check_as or (key if key in COLLECTIONS else None)
        if prop.type == "object-array" and collection:
            sub_action = "update" if key.startswith("update_") else "add"
            converted = [
                _filter_item(collection, item, sub_action, brand, problems, f"{collection}.*")
                for item in converted]
        out[key] = converted
    return out


def _filter_item(collection, item, action, brand, problems, where):
    out = {}
    check = SUB_CHECKS.get(collection)
    for key, value in item.items():
        prop = proptable.sub_prop(collection, key)
        if prop is None or not prop.allowed(action, brand):
            if f"{where}.{key}" not in problems.bad_properties:
                problems.bad_properties.append(f"{where}.{key}")
            continue
        if value is None or unset(prop.type, value):
            continue
        converted = coerce(prop.type, value)
        ok = converted is not _BAD
        if ok and check is not None:
            try:
                ok = check(key, converted, brand)
            except (TypeError, ValueError):
                ok = False
        if not ok:
            problems.value(f"{where}.{key}")
            continue
        out[key] = converted
    return out


# -- create ------------------------------------------------------------------------------
normalise_mac = nics.normalise_mac


def brand_of(payload: dict) -> str:
    return payload.get("brand", "joyent") if isinstance(payload, dict) else "joyent"


def check_brand(brand, problems: Problems) -> bool:
    if not isinstance(brand, str) or brand not in BRANDS:
        problems.bad_brand = brand
        return False
    return True


def validate_create(raw: dict, env: Env, action: str = "create", *, checks=True):
    """Return (config, metadata maps, problems).

    ``config`` holds every stored property with defaults applied; the maps are
    customer_metadata, internal_metadata, tags and routes. ``checks``: also
    the rules of checkPayloadProperties, which raise ``PayloadError`` (not
    for ``vmadm validate``, which runs VM.validate only).
    """
    problems = Problems()
    brand = brand_of(raw)
    if not check_brand(brand, problems):
        return None, None, problems
    raw = dict(raw)
    # Deprecated spellings (§2.2): dataset_uuid and zfs_storage_pool_name.
    if "dataset_uuid" in raw and proptable.get("dataset_uuid").allowed(action, brand):
        value = raw.pop("dataset_uuid")
        raw.setdefault("image_uuid", value)
    if "zfs_storage_pool_name" in raw:
        value = raw.pop("zfs_storage_pool_name")
        if proptable.get("zfs_storage_pool_name").allowed(action, brand):
            raw.setdefault("zpool", value)
        else:
            problems.bad_properties.append("zfs_storage_pool_name")
    cfg = filter_properties(raw, action, brand, problems)
    cfg["brand"] = brand
    hvm = brand in HVM_BRANDS
    for name, prop in proptable.table().items():
        if prop.required_for(action, brand) and name not in cfg and name != "brand":
            if name in problems.bad_values:
                continue
            problems.missing(name)
    if cfg.get("zpool", env.zpool) not in env.pools:
        problems.value("zpool")
    maps = {key: cfg.pop(key, {}) for key in MAP_PROPS}
    uuid = cfg.get("uuid") or (env.new_uuid() if env.new_uuid else None)
    cfg["uuid"] = uuid
    zpool = cfg.setdefault("zpool", env.zpool)

    # Images (§1.1: `imgadm get -P <pool> <uuid>`, manifest.type per brand).
    if "image_uuid" in cfg and env.check_images:
        manifest = env.image(cfg["image_uuid"])
        if manifest is None or manifest.get("type") not in IMAGE_TYPES[brand]:
            problems.value("image_uuid")
    if hvm:
        _normalise_disks(cfg, brand, uuid, zpool, env, problems, checks=checks)
        negative_refreservations(raw, "disks", problems)
    if problems.fatal or not checks:
        return cfg, maps, problems
    if "nics" in cfg:
        adds = cfg["nics"]
        if hvm and cfg.get("nic_driver"):
            for nic in adds:
                if not nic.get("model"):
                    nic["model"] = cfg["nic_driver"]
        nics.normalise_adds(adds, env.new_mac, env.macs_in_use)
        nics.check(brand, hvm, adds=adds)
        cfg["nics"] = nics.merge([], adds, prefix="eth" if brand == "lx" else "net",
                                 creating=True)
    _apply_defaults(cfg, brand, env)
    return cfg, maps, problems


def disk_dataset(brand, zpool, uuid, index):
    if brand == "kvm":
        return f"{zpool}/{uuid}-disk{index}"
    return f"{zpool}/{uuid}/disk{index}"


def _disk_model(disk, brand, driver, fallback):
    """VM.js checkPayloadProperties: the model from disk_driver (or disks[0] on add)."""
    if not disk.get("model"):
        if driver or fallback:
            disk["model"] = driver or fallback
        else:
            raise PayloadError(f"missing .model option for disk: {nics.js(disk)}")
    if disk["model"] not in DISK_MODELS[brand]:
        raise PayloadError(f'"{disk["model"]}" is not a valid disk model for {brand} brand. '
                           f'Valid are: {",".join(DISK_MODELS[brand])}')


def _disk_checks(disk):
    """VM.js checkPayloadProperties on add_disks (create renames disks to add_disks)."""
    if "path" in disk and disk.get("media") != "cdrom" and not disk.get("nocreate"):
        raise PayloadError("you cannot specify a path for a disk unless you set nocreate=true")
    if "block_size" in disk and not _pow2(disk["block_size"]):
        raise PayloadError(f"invalid .block_size({disk['block_size']}), must be 512-131072 "
                           "and a power of 2.")
    if "block_size" in disk and "image_uuid" in disk:
        raise PayloadError("setting both .block_size and .image_uuid on a volume is invalid")
    if "compression" in disk and disk["compression"] not in COMPRESSION_TYPES:
        raise PayloadError("invalid compression setting for disk, must be one of: "
                           + ", ".join(COMPRESSION_TYPES))


def _disk_source(disk, name, flexible, env, problems):
    """VM.validate validateDiskSource and validateImages for one disk (media disk).

    With image_uuid: image_size is required (imgadm's manifest supplies it),
    block_size is a bad property, and so is size unless flexible_disk_size is
    in the payload; a size below the manifest's image_size is the bad value
    ``size``. Without: size is required, image_size/image_name are bad
    properties. Bad properties with a numeric index are not removed by
    normalizePayload (its regex matches ``disks.*.<x>`` only).
    """
    if "image_uuid" not in disk:
        if "size" not in disk:
            problems.missing(f"{name}.size")
        for key in ("image_name", "image_size"):
            if key in disk:
                problems.bad_properties.append(f"{name}.{key}")
        return
    if "image_size" not in disk:
        problems.missing(f"{name}.image_size")
    if "size" in disk and not flexible:
        problems.bad_properties.append(f"{name}.size")
    if "block_size" in disk:
        problems.bad_properties.append(f"{name}.block_size")
    if not env.check_images:
        return
    manifest = env.image(disk["image_uuid"])
    if manifest is None or manifest.get("type") != "zvol":
        problems.value(f"{name}.image_uuid")
        return
    size = manifest.get("image_size")
    if size is None:
        return
    if "image_size" in disk:
        if disk["image_size"] != int(size):
            problems.value(f"{name}.image_size")
        return
    disk["image_size"] = int(size)
    if f"{name}.image_size" in problems.missing_properties:
        problems.missing_properties.remove(f"{name}.image_size")
    if "size" in disk and disk["size"] < int(size):
        problems.value("size")


def negative_refreservations(raw, key, problems):
    """VM.js validate, after validateImages: a negative refreservation is also the bad
    value ``<key>.<index>.refreservation`` (besides ``disks.*.refreservation``)."""
    for position, disk in enumerate(raw.get(key) or ()):
        value = disk.get("refreservation") if isinstance(disk, dict) else None
        if coerce("integer", value) not in (_BAD, None) and coerce("integer", value) < 0:
            problems.value(f"{key}.{position}.refreservation")


def _normalise_disks(cfg, brand, uuid, zpool, env, problems, key="disks", disks=None,
                     first_index=0, new_uuid=None, checks=True, fallback=None, used=()):
    """Disk defaults (VM.js applyZoneDefaults, createVolume). ``used``: the disk
    indexes the VM has already; new disks take the lowest free ones."""
    disks = cfg.get(key) if disks is None else disks
    if not disks:
        return
    driver = cfg.get("disk_driver")
    taken = set(used)
    index = first_index
    cdrom_slot = disk_slot = 0
    for position, disk in enumerate(disks):
        name = f"{key}.{position}"
        if key == "disks":
            disk.setdefault("media", "disk")       # applyZoneDefaults: create only
        if disk.get("media", "disk") == "disk":
            _disk_source(disk, name, "flexible_disk_size" in cfg, env, problems)
        if checks and not problems.fatal:
            _disk_checks(disk)
            _disk_model(disk, brand, driver, fallback)
        disk_zpool = disk.setdefault("zpool", zpool)
        if disk_zpool not in env.pools:
            problems.value(f"{name}.zpool")
        if disk.get("media") == "cdrom" or disk.get("nocreate"):
            if "path" not in disk:
                problems.missing(f"{name}.path")
        else:
            while index in taken:
                index += 1
            taken.add(index)
            if "image_uuid" in disk and "size" not in disk and "image_size" in disk:
                disk["size"] = disk["image_size"]
            dataset = disk_dataset(brand, disk_zpool, uuid, index)
            disk["path"] = f"/dev/zvol/rdsk/{dataset}"
            disk["zfs_filesystem"] = dataset
            if "image_uuid" not in disk:
                disk.setdefault("block_size", 8192)   # getOptimalVolblocksize, no raidz
        disk.setdefault("boot", False)
        if brand == "bhyve":
            if new_uuid is not None or env.new_uuid is not None:
                disk.setdefault("uuid", (new_uuid or env.new_uuid)())
            if disk.get("media") == "cdrom":
                disk.setdefault("pci_slot", f"0:3:{cdrom_slot}")
                cdrom_slot += 1
            else:
                disk.setdefault("pci_slot", f"0:4:{disk_slot}")
                disk_slot += 1
    if brand == "bhyve" and "flexible_disk_size" in cfg:
        total = sum(d.get("size", 0) for d in disks if d.get("media") != "cdrom")
        if cfg["flexible_disk_size"] < total:
            problems.value("flexible_disk_size")


def _apply_defaults(cfg, brand, env):
    """§1.3 and §2 defaults, memory rules included."""
    hvm = brand in HVM_BRANDS
    cfg.setdefault("autoboot", True)
    cfg.setdefault("owner_uuid", ZERO_UUID)
    cfg.setdefault("billing_id", ZERO_UUID)
    cfg.setdefault("cpu_shares", 100)
    cfg["cpu_shares"] = min(cfg["cpu_shares"], 65535)
    cfg.setdefault("zfs_io_priority", 100)
    cfg.setdefault("max_lwps", 2000)
    for key in ("max_msg_ids", "max_sem_ids", "max_shm_ids"):
        cfg.setdefault(key, 4096)
    cfg.setdefault("quota", 1 if brand == "bhyve" else 10)
    cfg.setdefault("zfs_root_recsize", 131072)
    cfg.setdefault("firewall_enabled", False)
    cfg.setdefault("resolvers", [])
    cfg.setdefault("zonename", cfg["uuid"])
    cfg.setdefault("create_timestamp", env.now)
    if hvm:
        cfg.setdefault("vcpus", 1)
        cfg.setdefault("ram", 256)
        cfg.setdefault("limit_priv", HVM_LIMIT_PRIV)
    else:
        cfg.setdefault("dns_domain", "local")
        cfg.setdefault("limit_priv", "default")
    apply_memory(cfg, brand, explicit=set(cfg))
    if isinstance(cfg.get("limit_priv"), list):
        cfg["limit_priv"] = ",".join(cfg["limit_priv"])
    if isinstance(cfg.get("fs_allowed"), list):
        cfg["fs_allowed"] = ",".join(cfg["fs_allowed"])


def apply_memory(cfg, brand, explicit):
    """Derive the memory caps (§2.2): OS from ram (256), HVM ram + overhead.

    ``explicit``: the keys the payload set itself; the others are derived.
    """
    if brand in HVM_BRANDS:
        ram = cfg.get("ram", 256)
        if "max_physical_memory" not in explicit:
            cfg["max_physical_memory"] = ram + MEMORY_OVERHEAD[brand]
        cfg["max_physical_memory"] = max(cfg["max_physical_memory"], ram + MIN_HVM_OVERHEAD)
    else:
        ram = cfg.pop("ram", None)
        if "max_physical_memory" not in explicit or "max_physical_memory" not in cfg:
            cfg["max_physical_memory"] = ram if ram is not None else cfg.get(
                "max_physical_memory", 256)
    mpm = cfg["max_physical_memory"]
    if "max_locked_memory" not in explicit or "max_locked_memory" not in cfg:
        cfg["max_locked_memory"] = mpm
    cfg["max_locked_memory"] = min(cfg["max_locked_memory"], mpm)
    if "max_swap" not in explicit or "max_swap" not in cfg:
        cfg["max_swap"] = max(mpm, MIN_SWAP)
    cfg["max_swap"] = max(cfg["max_swap"], mpm)       # fixPayloadMemory raises it to mpm
    if "max_shm_memory" not in explicit or "max_shm_memory" not in cfg:
        cfg["max_shm_memory"] = mpm
    if brand not in HVM_BRANDS:
        if "tmpfs" not in explicit or "tmpfs" not in cfg:
            cfg["tmpfs"] = mpm
        cfg["tmpfs"] = min(cfg["tmpfs"], mpm)


# -- update -------------------------------------------------------------------------------
UPDATE_SPECIAL = ("set_", "remove_", "add_", "update_")


def validate_update(raw: dict, brand: str):
    """Filter an update payload. Returns (clean payload, problems)."""
    problems = Problems()
    clean = filter_properties(raw, "update", brand, problems)
    # remove_* lists of MACs/paths/keys are plain lists; normalise MACs.
    if "remove_nics" in clean:
        clean["remove_nics"] = [normalise_mac(m) if MAC_RE.match(m) else m
                                for m in clean["remove_nics"]]
    for item in clean.get("update_nics", ()):
        if "mac" in item:
            item["mac"] = normalise_mac(item["mac"])
    return clean, problems


def parse_key_values(args, brand, problems: Problems) -> dict:
    """``update <uuid> key=value ...``: values are strings converted per type."""
    payload = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep:
            raise PayloadError(f"Invalid argument: {arg}")
        prop = proptable.get(key)
        if prop is None or prop.type is None:
            payload[key] = value           # dropped later as a bad property
            continue
        if value == "" and prop.type not in ("object-array", "flat-object"):
            payload[key] = None            # `key=`: the command line's way to unset
            continue
        converted = from_string(prop.type, value)
        if converted is _BAD:
            problems.value(key)
            continue
        payload[key] = converted
    return payload
