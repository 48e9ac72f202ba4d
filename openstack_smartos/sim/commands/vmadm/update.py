"""vmadm update (§1.3 update, §2.3, §2.4) and validate."""

from __future__ import annotations

import json
import re

from openstack_smartos.sim.state.vms import datasets, runtime, store
from openstack_smartos.sim.commands.vmadm import nics as nicrules
from openstack_smartos.sim.commands.vmadm import payload as payloads
from openstack_smartos.sim.commands.vmadm.common import (
    Usage, check_conflicts, check_nic_tags, fail, get_uuid, host_env, load_row,
    log_change, read_payload, take_file_option)
from openstack_smartos.sim.commands.vmadm.proptable import BRANDS, HVM_BRANDS
from openstack_smartos.sim.commands.vmadm.values import (MAP_PROPS, MEMORY_OVERHEAD, MIB,
                                                         COMPRESSION_TYPES, DISK_MODELS,
                                                         MIN_HVM_OVERHEAD, MIN_SWAP,
                                                         PayloadError, Problems)
from openstack_smartos.sim.state.zfs import Pool, ZFSError

ZFS_ROOT_PROPS = {"zfs_root_compression": "compression", "zfs_root_recsize": "recordsize",
                  "zfs_snapshot_limit": "snapshot_limit",
                  "zfs_filesystem_limit": "filesystem_limit"}


def cmd_update(ctx, args):
    uuid = get_uuid(args, "update")
    rest = args[1:]
    filename, rest = take_file_option(rest)
    raw = None
    if filename is not None or not rest:
        if rest:
            raise Usage(f"Invalid argument: {rest[0]}")
        raw = read_payload(ctx, filename, "update")
    host = ctx.host
    pool = Pool(host)
    with host.locked():
        row = load_row(host, uuid)
        brand = row.cfg["brand"]
        problems = Problems()
        if raw is None:
            try:
                raw = payloads.parse_key_values(rest, brand, problems)
            except payloads.PayloadError as exc:
                raise Usage(str(exc)) from None
        clean, more = payloads.validate_update(raw, brand)
        for name in more.bad_values:
            problems.value(name)
        if problems.fatal:
            fail(problems.message())
        check_disk_state(row.cfg, clean, runtime.derive(row.rt))
        try:
            apply_update(host, pool, row, clean)
        except ZFSError as exc:
            fail(exc.message)
        store.save(host, row)
    log_change(ctx, "updated VM", vm_uuid=uuid)
    ctx.err(f"Successfully updated VM {uuid}")
    return 0


def apply_update(host, pool, row, clean):
    cfg = row.cfg
    brand = cfg["brand"]
    uuid = cfg["uuid"]
    env = host_env(host, pool, exclude=uuid)
    problems = Problems()
    maps = None
    plain = {k: v for k, v in clean.items()
             if not k.startswith(payloads.UPDATE_SPECIAL) or k in ("update_disks",)}
    plain.pop("update_disks", None)

    # Key/value maps: set_<map> / remove_<map>.
    for name in MAP_PROPS:
        if f"set_{name}" in clean or f"remove_{name}" in clean:
            if maps is None:
                maps = datasets.read_maps(pool, cfg)
            maps[name].update(clean.get(f"set_{name}", {}))
            for key in clean.get(f"remove_{name}", ()):
                maps[name].pop(str(key), None)

    if any(key in clean for key in ("add_nics", "update_nics", "remove_nics")):
        cfg["nics"] = _update_nics(env, cfg, clean)

    if brand in HVM_BRANDS:
        _update_disks(pool, cfg, clean, env)
    if brand not in HVM_BRANDS:
        _update_keyed(cfg, clean, "filesystems", "target")
    if brand == "bhyve":
        _update_keyed(cfg, clean, "pci_devices", "path")

    # Plain properties (JSON null clears).
    fix_memory(plain, cfg, brand)
    if "quota" in plain and plain["quota"] is None and brand != "bhyve":
        plain["quota"] = 0          # unset: zfs quota=none, shown as 0
    if plain.get("cpu_cap") == 0:
        plain["cpu_cap"] = None     # cpu_cap 0 removes the cap
    old_quota = cfg.get("quota")
    old_flexible = cfg.get("flexible_disk_size")
    for key, value in plain.items():
        if value is None:
            cfg.pop(key, None)
        elif isinstance(value, list) and key in ("limit_priv", "fs_allowed"):
            cfg[key] = ",".join(value)
        else:
            cfg[key] = value
    if brand not in HVM_BRANDS:
        cfg.pop("ram", None)
    if brand == "bhyve" and "flexible_disk_size" in plain and cfg.get("flexible_disk_size"):
        total = sum(d.get("size", 0) for d in datasets.owned_disks(cfg))
        if cfg["flexible_disk_size"] < total:
            fail("Invalid value(s) for: flexible_disk_size")
    root = datasets.zoneroot(cfg)
    if pool.exists(root):
        # VM.js applyUpdates: setQuota only when quota or flexible_disk_size changes
        # (disk changes adjust the bhyve zoneroot in createResizeDeleteVolume).
        if cfg.get("quota") != old_quota or (brand == "bhyve" and (
                "flexible_disk_size" in plain
                and plain["flexible_disk_size"] != old_flexible)):
            cfg.setdefault("quota", 1 if brand == "bhyve" else 10)
            datasets.set_quota(pool, cfg)
        for key, prop in ZFS_ROOT_PROPS.items():
            if key in plain:
                value = plain[key]
                if value is None:
                    value = {"compression": "off", "recordsize": 131072}.get(prop, "none")
                pool.set_prop(root, prop, value)
        for flag, dataset in (("indestructible_zoneroot", root),
                              ("indestructible_delegated", f"{root}/data")):
            if flag in plain:
                datasets.set_indestructible(pool, dataset, bool(plain[flag]))
                if not plain[flag]:
                    cfg.pop(flag, None)
        if maps is not None:
            datasets.write_maps(pool, cfg, maps)


def _update_nics(env, cfg, clean):
    """add_nics, update_nics and remove_nics, in vmadm's order of checks."""
    brand = cfg["brand"]
    current = [dict(n) for n in cfg.get("nics", ())]
    adds = clean.get("add_nics", [])
    updates = clean.get("update_nics", [])
    removes = clean.get("remove_nics", [])
    try:
        nicrules.normalise_adds(adds, env.new_mac, env.macs_in_use)
        for change in updates:
            nicrules.upgrade_update(current, change)
        nicrules.check(brand, brand in HVM_BRANDS, adds, updates, current, removes, vm=cfg)
    except PayloadError as exc:
        fail(str(exc))
    result = nicrules.merge(current, adds, updates, removes,
                            prefix="eth" if brand == "lx" else "net")
    changed = {n.get("mac") for n in adds} | {n.get("mac") for n in updates}
    check_conflicts(env, [n for n in result if n.get("mac") in changed])
    check_nic_tags(env, adds + updates)
    return result


TMPFS_BRANDS = ("joyent", "joyent-minimal", "builder", "lx")


def fix_memory(payload, vm, brand):
    """VM.js fixPayloadMemory on update: the caps keep their relation to max_physical_memory.

    locked keeps its distance below mpm, swap its distance above (or follows mpm
    from the 256 MiB floor), tmpfs its ratio; HVM keeps ram + 256 MiB; then
    locked <= mpm <= swap.
    """
    given = {k for k, v in payload.items() if v is not None}
    if "ram" in given and "max_physical_memory" not in given:
        payload["max_physical_memory"] = payload["ram"] + MEMORY_OVERHEAD.get(brand, 0)
        given.add("max_physical_memory")
    old_mpm = vm.get("max_physical_memory")
    if "max_physical_memory" in given:
        mpm = payload["max_physical_memory"]
        if "max_locked_memory" not in given:
            if "max_locked_memory" in vm and old_mpm is not None:
                payload["max_locked_memory"] = mpm - (old_mpm - vm["max_locked_memory"])
            else:
                payload["max_locked_memory"] = mpm
            given.add("max_locked_memory")
        if "max_swap" not in given:
            old_swap = vm.get("max_swap")
            if old_swap is not None and old_mpm is not None:
                if old_swap == MIN_SWAP and mpm >= MIN_SWAP:
                    payload["max_swap"] = mpm
                else:
                    payload["max_swap"] = mpm + (old_swap - old_mpm)
            else:
                payload["max_swap"] = mpm
            payload["max_swap"] = max(payload["max_swap"], MIN_SWAP)
            given.add("max_swap")
    if "tmpfs" in given:
        payload["tmpfs"] = min(payload["tmpfs"], payload.get("max_physical_memory") or old_mpm
                               or payload["tmpfs"])
    elif "max_physical_memory" in given and brand in TMPFS_BRANDS:
        if old_mpm and "tmpfs" in vm:
            payload["tmpfs"] = int(vm["tmpfs"] / old_mpm * payload["max_physical_memory"] + 0.5)
        else:
            payload["tmpfs"] = payload["max_physical_memory"]
        given.add("tmpfs")
    if brand in HVM_BRANDS:
        floor = (payload["ram"] if "ram" in given else vm.get("ram", 256)) + MIN_HVM_OVERHEAD
        for key in ("max_physical_memory", "max_locked_memory"):
            if floor > (payload[key] if key in given else vm.get(key, 0)):
                payload[key] = floor
                given.add(key)
    mpm = payload["max_physical_memory"] if "max_physical_memory" in given else old_mpm
    if mpm is not None:
        if "max_locked_memory" in given and payload["max_locked_memory"] > mpm:
            payload["max_locked_memory"] = mpm
        if "max_swap" in given and payload["max_swap"] < mpm:
            payload["max_swap"] = mpm


def _disk_index(disk, brand):
    """VM.js update: the used indexes come from the paths (``/disk<N>`` on bhyve,
    ``-disk<N>`` on kvm)."""
    pattern = r"/disk(\d+)$" if brand == "bhyve" else r"-disk(\d+)$"
    match = re.search(pattern, disk.get("path") or "")
    return int(match.group(1)) if match else None


LIVE_DISK_KEYS = ("compression", "path", "refreservation")


def check_disk_state(cfg, clean, current):
    """VM.js checkPayloadProperties (update): disks change only while stopped (or
    provisioning and installed); update_disks of compression/refreservation live."""
    stopped = current["state"] == "stopped" or (
        current["state"] == "provisioning" and current["zone_state"] == "installed")
    if stopped or cfg["brand"] not in HVM_BRANDS:
        return
    where = f'state is "stopped", currently: {current["state"]} ({current["zone_state"]})'
    if "add_disks" in clean or "remove_disks" in clean:
        fail(f"updates to disks are only allowed when {where}")
    if any(key not in LIVE_DISK_KEYS for change in clean.get("update_disks", ())
           for key in change):
        fail(f"at least one specified update to disks is only allowed when {where}")


def _check_disk_updates(brand, changes):
    """VM.js checkPayloadProperties on update_disks, in its order."""
    for change in changes:
        if change.get("refreservation") == "auto":
            fail("cannot change refreservation to auto on existing disk")
        if "compression" in change and change["compression"] not in COMPRESSION_TYPES:
            fail("invalid compression type for disk, must be one of: "
                 + ", ".join(COMPRESSION_TYPES))
        if "block_size" in change:
            fail("cannot change .block_size for a disk after creation")
        if "model" in change and change["model"] not in DISK_MODELS[brand]:
            fail(f'"{change["model"]}" is not a valid disk model for {brand} brand. '
                 f'Valid are: {",".join(DISK_MODELS[brand])}')


def _zfs_step(action):
    """A zfs command inside VM.update's pipeline: vasync's MultiError around node's
    execFile error ('Command failed: ' + stderr)."""
    try:
        action()
    except ZFSError as exc:
        fail(f"first of 1 error: Command failed: {exc.message}")


def _update_disks(pool, cfg, clean, env):
    brand = cfg["brand"]
    zpds = datasets.zoneroot(cfg)
    disks = [dict(d) for d in cfg.get("disks", ())]
    used = [i for i in (_disk_index(d, brand) for d in disks) if i is not None]
    _check_disk_updates(brand, clean.get("update_disks", ()))
    changed = False
    if clean.get("add_disks"):
        problems = Problems()
        new = clean["add_disks"]
        try:
            payloads._normalise_disks({"disk_driver": cfg.get("disk_driver")}, brand,
                                      cfg["uuid"], cfg["zpool"], env, problems, key="add_disks",
                                      disks=new, used=used,
                                      fallback=(cfg.get("disks") or [{}])[0].get("model"))
        except PayloadError as exc:
            fail(str(exc))
        if problems.fatal:
            fail(problems.message())
    # VM.update's order: remove_disks, add_disks, then applyUpdates.
    before = {d.get("path") for d in disks}
    for path in clean.get("remove_disks", ()):
        target = next((d for d in disks if d.get("path") == path), None)
        if target is None:
            continue
        if target in datasets.owned_disks({"disks": [target]}) and pool.exists(
                target["zfs_filesystem"]):
            pool.destroy(target["zfs_filesystem"], recursive=True)
        disks.remove(target)
        changed = True
    if clean.get("add_disks"):
        new = clean["add_disks"]
        for disk in datasets.owned_disks({"disks": new}):
            _zfs_step(lambda: datasets.create_disk(pool, disk, zpds))
        disks.extend(new)
        changed = True
    # applyUpdates (resize, compression, refreservation) matches the disks of the
    # VM as loaded before the update.
    for change in clean.get("update_disks", ()):
        target = next((d for d in disks if d.get("path") == change.get("path")
                       and d.get("path") in before), None)
        if target is None:
            continue                # VM.js: entries matching no disk are ignored
        allow_shrink = change.pop("dangerous_allow_shrink", False)
        if "size" in change and change["size"] != target.get("size"):
            current = _current_size(pool, target)
            if change["size"] < current and not allow_shrink:
                fail("first of 1 error: cannot resize disk: new size must be greater than "
                     f"current size. ({current} > {change['size']})")
            if change["size"] != current and target in datasets.owned_disks(
                    {"disks": [target]}):
                _zfs_step(lambda: datasets.resize_disk(pool, zpds, target, change["size"]))
        name = target.get("zfs_filesystem")
        if name and pool.exists(name):
            if "compression" in change:
                _zfs_step(lambda: pool.set_prop(name, "compression", change["compression"]))
            if "refreservation" in change:
                _zfs_step(lambda: pool.set_prop(name, "refreservation",
                                                f"{change['refreservation']}M"))
        target.update({k: v for k, v in change.items() if k != "path"})
        changed = True
    if changed:
        cfg["disks"] = disks


def _current_size(pool, disk):
    try:
        volsize = datasets.props_int(pool.get_props(disk["zfs_filesystem"]), "volsize")
    except (ZFSError, KeyError):
        volsize = None
    return volsize // MIB if volsize else disk.get("size", 0)


def _update_keyed(cfg, clean, name, key):
    items = [dict(i) for i in cfg.get(name, ())]
    changed = False
    for value in clean.get(f"remove_{name}", ()):
        items = [i for i in items if i.get(key) != value]
        changed = True
    for item in clean.get(f"add_{name}", ()):
        items = [i for i in items if i.get(key) != item.get(key)] + [item]
        changed = True
    for item in clean.get(f"update_{name}", ()):
        target = next((i for i in items if i.get(key) == item.get(key)), None)
        if target is not None:
            target.update(item)
            changed = True
    if changed:
        if items:
            cfg[name] = items
        else:
            cfg.pop(name, None)


# -- validate ------------------------------------------------------------------------------
def cmd_validate(ctx, args):
    if not args or args[0] not in ("create", "update"):
        raise Usage("validate requires an action: create or update")
    action = args[0]
    rest = args[1:]
    brand = None
    if action == "update":
        if not rest or rest[0].startswith("-"):
            raise Usage("validate update requires a brand")
        brand, rest = rest[0], rest[1:]
    filename, rest = take_file_option(rest)
    if rest:
        raise Usage(f"Invalid argument: {rest[0]}")
    raw = read_payload(ctx, filename, "validate")
    problems = Problems()
    if action == "create":
        brand = raw.get("brand")
        if not brand:
            # VM.js exports.validate: a falsy brand is reported as the string 'undefined'
            problems.bad_brand = "undefined"
            ctx.err(json.dumps(problems.report(), indent=2))
            return 1
        env = payloads.Env(zpool=ctx.host.zpool, pools=(ctx.host.zpool,), check_images=False)
        _, _, found = payloads.validate_create(raw, env, checks=False)
        if found.bad_brand is not None:
            problems.bad_brand = found.bad_brand
        problems.bad_properties += found.bad_properties
        problems.bad_values += found.bad_values
        problems.missing_properties += [m for m in found.missing_properties
                                        if m not in problems.missing_properties]
    else:
        if brand not in BRANDS:
            problems.bad_brand = brand
        else:
            _, found = payloads.validate_update(raw, brand)
            problems.bad_properties += found.bad_properties
            problems.bad_values += found.bad_values
    if problems.valid:
        ctx.err(f"VALID '{action}' payload for {brand} brand VMs.")
        return 0
    ctx.err(json.dumps(problems.report(), indent=2))
    return 1
