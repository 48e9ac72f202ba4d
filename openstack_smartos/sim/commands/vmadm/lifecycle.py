"""create, start, stop, reboot, delete, kill, console, info, sysrq (§1.3, §3, §5)."""

from __future__ import annotations

import json
import random
import time

from openstack_smartos.sim.state.vms import datasets, runtime, store
from openstack_smartos.sim.commands.vmadm import nics as nicrules
from openstack_smartos.sim.commands.vmadm import payload as payloads
from openstack_smartos.sim.commands.vmadm.common import (
    Usage, check_conflicts, check_nic_tags, fail, get_uuid, host_env, load_row, nic_tags,
    log_change, read_payload, take_file_option, wait_op)
from openstack_smartos.sim.commands.vmadm.payload import HVM_BRANDS
from openstack_smartos.sim.state.zfs import Pool, ZFSError


# -- create ------------------------------------------------------------------------------------
def cmd_create(ctx, args):
    filename, rest = take_file_option(args)
    if rest:
        raise Usage(f"Invalid argument: {rest[0]}")
    raw = read_payload(ctx, filename, "create")
    uuid, op, seconds = create_vm(ctx, raw)
    wait_op(ctx, uuid, op, seconds)
    log_change(ctx, "created VM", vm_uuid=uuid)
    ctx.err(f"Successfully created VM {uuid}")
    return 0


def create_vm(ctx, raw, *, receiving=False):
    """Validate, create datasets and the record under the lock; no waiting.

    Returns (uuid, op or None, seconds to wait). A failure removes whatever
    was created, so nothing of the VM is left behind.
    """
    host = ctx.host
    pool = Pool(host)
    with host.locked():
        env = host_env(host, pool)
        action = "receive" if receiving else "create"
        cfg, maps = validated_create(host, env, raw, action)
        uuid = cfg["uuid"]
        now = time.time()
        rt = runtime.new_runtime(store.counter(host, "zonedid"), now)
        op, seconds = None, 0.0
        if receiving:
            return cfg, maps, rt
        created = []
        try:
            datasets.create_all(pool, cfg, maps, created)
            if cfg.get("autoboot"):
                runtime.boot(rt, store.counter_fn(host), now, cfg)
                seconds = float(host.timings.get("provision_seconds", 0) or 0)
                if seconds > 0:
                    op = runtime.begin(rt, "provision", seconds, state="provisioning",
                                     zone_state="running", now=now)
            store.insert(host, cfg, rt)
        except ZFSError as exc:
            datasets.undo(pool, created)
            fail(exc.message)
        except BaseException:
            datasets.undo(pool, created)
            raise
    return uuid, op, seconds


def validated_create(host, env, raw, action):
    """validate_create, then lookupConflicts and validateNicTags; fails with vmadm's message."""
    try:
        cfg, maps, problems = payloads.validate_create(raw, env, action)
    except payloads.PayloadError as exc:
        fail(str(exc))
    if problems.fatal:
        fail(problems.message())
    if store.exists(host, cfg["uuid"]):
        fail(f"VM with UUID {cfg['uuid']} already exists")
    check_conflicts(env, cfg.get("nics"))
    check_nic_tags(env, cfg.get("nics"))
    return cfg, maps


# -- start / stop / reboot ------------------------------------------------------------------
def _start_options(args, brand):
    options = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or brand not in HVM_BRANDS or key not in ("order", "cdrom", "disk"):
            raise Usage(f"Invalid argument to start: {key}")
        if key == "order":
            if "order" in options:
                raise Usage("Invalid argument to start: order may only be given once")
            options["order"] = value
        else:
            path, _, model = value.partition(",")
            if not path or not model:
                raise Usage(f"Invalid argument to start: {key}")
            options.setdefault(key, []).append({"path": path, "model": model})
    return options


def cmd_start(ctx, args):
    uuid = get_uuid(args, "start")
    host = ctx.host
    with host.locked():
        row = load_row(host, uuid)
        options = _start_options(args[1:], row.cfg["brand"])
        current = runtime.derive(row.rt)
        if current["state"] == "running":
            ctx.err(f"VM {uuid} is already 'running'")
            return 0
        startable = current["state"] == "stopped" or (
            current["state"] == "provisioning" and current["zone_state"] == "installed")
        if not startable:
            fail(f'Unable to start VM {uuid}: Cannot start vm from state '
                 f'"{current["state"]}", must be "stopped".')
        problem = nicrules.tag_problem(nic_tags(host), row.cfg.get("nics"))
        if problem:
            fail(f"Unable to start VM {uuid}: {problem}")
        row.cfg["autoboot"] = True
        now = time.time()
        runtime.boot(row.rt, store.counter_fn(host), now, row.cfg)
        if options:
            row.rt["boot_options"] = options
        else:
            row.rt.pop("boot_options", None)
        seconds = float(host.timings.get("start_seconds", 0) or 0)
        op = None
        if seconds > 0:
            op = runtime.begin(row.rt, "start", seconds, state="ready", zone_state="ready",
                             now=now)
        store.save(host, row)
    wait_op(ctx, uuid, op, seconds)
    log_change(ctx, "started VM", vm_uuid=uuid)
    ctx.err(f"Successfully started VM {uuid}")
    return 0


def _stop_options(args):
    force, timeout, uuid = False, None, None
    items = list(args)
    while items:
        item = items.pop(0)
        if item == "-F":
            force = True
        elif item == "-t":
            if not items:
                raise Usage("-t requires a timeout")
            value = items.pop(0)
            if not value.isdigit() or int(value) <= 0:
                raise Usage(f"Invalid timeout: {value}")
            timeout = int(value)
        elif uuid is None and not item.startswith("-"):
            uuid = item
        else:
            raise Usage(f"Invalid argument: {item}")
    return uuid, force, timeout


def _running_zone(rt):
    return runtime.derive(rt)["zone_state"] in ("running", "ready", "shutting_down")


def cmd_stop(ctx, args):
    uuid, force, timeout = _stop_options(args)
    uuid = get_uuid([uuid] if uuid else [], "stop")
    host = ctx.host
    with host.locked():
        row = load_row(host, uuid)
        brand = row.cfg["brand"]
        if timeout is not None and brand not in HVM_BRANDS and not row.cfg.get("docker"):
            fail("Timeout option is only supported for bhyve, KVM and docker containers.")
        row.cfg["autoboot"] = False
        current = runtime.derive(row.rt)
        if not _running_zone(row.rt):
            store.save(host, row)
            ctx.err(f"VM {uuid} is already not 'running' (currently: {current['state']})")
            return 0
        seconds = float(host.timings.get("stop_seconds", 0) or 0)
        op = None
        now = time.time()
        if force or seconds <= 0:
            row.rt["op"] = None
            runtime.halt(row.rt, now)
        elif brand in HVM_BRANDS:
            op = runtime.begin(row.rt, "stop", seconds, state="stopping", zone_state="running",
                             transition_to="stopped",
                             expire_seconds=timeout or runtime.HVM_STOP_TIMEOUT, now=now)
        else:
            op = runtime.begin(row.rt, "stop", seconds, state="shutting_down",
                             zone_state="shutting_down", now=now)
        store.save(host, row)
    wait_op(ctx, uuid, op, seconds)
    log_change(ctx, "stopped VM", vm_uuid=uuid)
    ctx.err(f"Successfully completed stop for VM {uuid}")
    return 0


def cmd_reboot(ctx, args):
    force = "-F" in args
    rest = [a for a in args if a != "-F"]
    if len(rest) > 1:
        raise Usage(f"Invalid argument: {rest[1]}")
    uuid = get_uuid(rest, "reboot")
    host = ctx.host
    with host.locked():
        row = load_row(host, uuid)
        brand = row.cfg["brand"]
        current = runtime.derive(row.rt)
        if current["state"] != "running" and not (row.cfg.get("docker")
                                                  and current["state"] == "stopped"):
            fail(f'Cannot reboot vm from state "{current["state"]}", must be "running"')
        problem = nicrules.tag_problem(nic_tags(host), row.cfg.get("nics"))
        if problem:
            fail(f"Cannot reboot vm: {problem}")
        seconds = float(host.timings.get("reboot_seconds", 0) or 0)
        op = None
        now = time.time()
        if force or seconds <= 0:
            row.rt["op"] = None
            runtime.boot(row.rt, store.counter_fn(host), now, row.cfg)
        elif brand in HVM_BRANDS:
            op = runtime.begin(row.rt, "reboot", seconds, state="stopping", zone_state="running",
                             transition_to="start",
                             expire_seconds=runtime.HVM_STOP_TIMEOUT, now=now)
        else:
            op = runtime.begin(row.rt, "reboot", seconds, state="shutting_down",
                             zone_state="shutting_down", now=now)
        store.save(host, row)
    wait_op(ctx, uuid, op, seconds)
    log_change(ctx, "rebooted VM", vm_uuid=uuid)
    ctx.err(f"Successfully completed reboot for VM {uuid}")
    return 0


# -- delete --------------------------------------------------------------------------------------
def cmd_delete(ctx, args):
    if len(args) > 1:
        raise Usage(f"Invalid argument: {args[1]}")
    uuid = get_uuid(args, "delete")
    host = ctx.host
    pool = Pool(host)
    with host.locked():
        store.settle(host, uuid)
        row = store.load(host, uuid)
        if row is None:
            fail(f"Failed to delete VM {uuid}: VM {uuid} not found")
        for flag in ("indestructible_zoneroot", "indestructible_delegated"):
            if row.cfg.get(flag):
                fail(f"Failed to delete VM {uuid}: {flag} is set, cannot delete")
        try:
            datasets.destroy_all(pool, row.cfg)
        except ZFSError as exc:
            fail(f"Failed to delete VM {uuid}: {exc.message}")
        store.delete(host, uuid)
    log_change(ctx, "deleted VM", vm_uuid=uuid)
    ctx.err(f"Successfully deleted VM {uuid}")
    return 0


# -- kill / console ------------------------------------------------------------------------------
def _signal_name(text):
    text = text.upper()
    if text.isdigit():
        names = {"1": "SIGHUP", "2": "SIGINT", "9": "SIGKILL", "15": "SIGTERM"}
        return names.get(text, text)
    return text if text.startswith("SIG") else "SIG" + text


def cmd_kill(ctx, args):
    signal, rest = "SIGTERM", []
    items = list(args)
    while items:
        item = items.pop(0)
        if item == "-s":
            if not items:
                raise Usage("-s requires a signal")
            signal = _signal_name(items.pop(0))
        elif item.startswith("-") and len(item) > 1:
            signal = _signal_name(item[1:])
        else:
            rest.append(item)
    uuid = get_uuid(rest, "kill")
    with ctx.host.locked():
        row = load_row(ctx.host, uuid)
        if not runtime.is_running(row.rt):
            fail(f"Cannot find running init PID for VM {uuid}")
    ctx.err(f'Sent signal "{signal}" to init process for VM {uuid}')
    return 0


def cmd_console(ctx, args):
    uuid = get_uuid(args, "console")
    row = load_row(ctx.host, uuid)
    current = runtime.derive(row.rt)["state"]
    if current != "running":
        fail(f'cannot connect to console when state is "{current}" must be "running".')
    fail("Command failed: zlogin -C: not a tty; console sessions need an interactive "
         "terminal")


# -- info / sysrq -----------------------------------------------------------------------------
INFO_TYPES = {"kvm": ("all", "block", "blockstats", "chardev", "cpus", "kvm", "pci", "spice",
                      "status", "version", "vnc"),
              "bhyve": ("all", "vnc")}


def cmd_info(ctx, args):
    uuid = get_uuid(args, "info")
    types = [t for arg in args[1:] for t in arg.replace(",", " ").split()] or ["all"]
    row = load_row(ctx.host, uuid)
    brand = row.cfg["brand"]
    prefix = f"Unable to get VM info for VM {uuid}: "
    if brand not in INFO_TYPES:
        fail(f"{prefix}no info types supported for brand {brand}")
    current = runtime.derive(row.rt)["state"]
    if current not in ("running", "stopping"):
        fail(f'{prefix}Unable to get info for vm from state "{current}", '
             'must be "running" or "stopping".')
    for kind in types:
        if kind not in INFO_TYPES[brand]:
            fail(f"{prefix}unknown info type {kind}")
    if "all" in types:
        types = [t for t in INFO_TYPES[brand] if t != "all"]
    info = {}
    for kind in types:
        info[kind] = _info(ctx.host, row, kind)
    ctx.out(json.dumps(info, indent=2))
    return 0


def _info(host, row, kind):
    cfg, rt = row.cfg, row.rt
    if kind == "vnc":
        port = rt.get("vnc_port")
        if not port:
            return {}
        out = {"host": host.config.get("admin_ip", "127.0.0.1"), "port": port}
        if port >= 5900:
            out["display"] = port - 5900
        if cfg.get("vnc_password"):
            out["password"] = cfg["vnc_password"]
        return out
    if kind == "spice":
        if not cfg.get("spice_port") or cfg["spice_port"] < 0:
            return {}
        out = {"host": host.config.get("admin_ip", "127.0.0.1"), "port": cfg["spice_port"]}
        for key, name in (("spice_password", "password"), ("spice_opts", "spice_opts")):
            if cfg.get(key):
                out[name] = cfg[key]
        return out
    running = runtime.derive(rt)["state"] == "running"
    if kind == "status":
        return {"running": running, "singlestep": False,
                "status": "running" if running else "shutdown", "hwsetup": True}
    if kind == "version":
        return {"qemu": {"micro": 0, "minor": 14, "major": 0}, "package": " (qemu-kvm-devel)"}
    if kind == "kvm":
        return {"enabled": True, "present": True}
    if kind == "cpus":
        rng = random.Random(rt.get("pid", 0))
        return [{"CPU": n, "current": n == 0, "halted": False, "pc": rng.randrange(1 << 32),
                 "thread_id": rt.get("pid", 0) + 1 + n} for n in range(cfg.get("vcpus", 1))]
    disks = [d for d in cfg.get("disks", ())]
    disks += [{"path": c["path"], "media": "cdrom", "model": c["model"]}
              for c in rt.get("boot_options", {}).get("cdrom", ())]
    if kind == "block":
        return [{"device": f"{'ide' if d.get('media') == 'cdrom' else d.get('model', 'virtio')}"
                           f"{i}-hd0", "locked": False, "removable": d.get("media") == "cdrom",
                 "inserted": {"ro": d.get("media") == "cdrom", "drv": "raw",
                              "encrypted": False, "file": d.get("path")},
                 "type": "unknown"} for i, d in enumerate(disks)]
    if kind == "blockstats":
        return [{"device": f"{d.get('model', 'virtio')}{i}-hd0",
                 "stats": {"wr_highest_offset": 0, "wr_bytes": 0, "wr_operations": 0,
                           "rd_bytes": 0, "rd_operations": 0}} for i, d in enumerate(disks)]
    if kind == "chardev":
        root = f"/zones/{cfg['uuid']}/root/tmp"
        return [{"filename": f"unix:{root}/vm.qmp,server", "label": "charmonitor"},
                {"filename": f"unix:{root}/vm.console,server", "label": "serial0"},
                {"filename": f"unix:{root}/vm.ttyb,server", "label": "serial1"}]
    if kind == "pci":
        devices = [{"bus": 0, "slot": slot, "function": 0, "class_info": {"desc": desc}}
                   for slot, desc in enumerate(["Host bridge", "ISA bridge", "VGA controller"])]
        for nic in cfg.get("nics", ()):
            devices.append({"bus": 0, "slot": len(devices), "function": 0,
                            "class_info": {"desc": "Ethernet controller"},
                            "mac": nic.get("mac")})
        for _disk in cfg.get("disks", ()):
            devices.append({"bus": 0, "slot": len(devices), "function": 0,
                            "class_info": {"desc": "SCSI controller"}})
        return [{"bus": 0, "devices": devices}]
    return {}


SYSRQ = {"kvm": ("nmi", "screenshot"), "bhyve": ("nmi",)}


def cmd_sysrq(ctx, args):
    uuid = get_uuid(args, "sysrq")
    if len(args) != 2:
        raise Usage("sysrq requires a type: nmi or screenshot")
    kind = args[1]
    row = load_row(ctx.host, uuid)
    if kind not in SYSRQ.get(row.cfg["brand"], ()):
        raise Usage(f"Invalid sysrq type: {kind}")
    current = runtime.derive(row.rt)["state"]
    if current not in ("running", "stopping"):
        fail(f'Unable to send {kind} to VM {uuid}: VM is not running (currently: {current})')
    if kind == "screenshot":
        with ctx.host.locked():
            pool = Pool(ctx.host)
            header = b"P6\n640 400\n255\n"
            pool.write_file(datasets.zoneroot(row.cfg), "root/tmp/vm.ppm",
                            header + bytes(640 * 400 * 3))
        ctx.err(f"Sent screenshot sysrq to VM {uuid}")
    else:
        ctx.err(f"Sent NMI to VM {uuid}")
    return 0
