"""send / receive (§4.1, §4.2): the VMBUNDLE stream.

Each chunk starts with a 512-byte header of NUL-terminated ASCII fields,
zero-padded: ``MAGIC-VMBUNDLE``, ``1`` (version), ``CHECKSUM`` (unused), the
name, the size and the padded size. First a ``JSON`` chunk (the VM object,
``JSON.stringify(vm, null, 2) + "\\n"``, padded to 512), then for each
dataset a header with size 0 followed by the raw ``zfs send -R <ds>@sending``
stream of the emulated pool.
"""

from __future__ import annotations

import json
import time

from openstack_smartos.sim.state.vms import datasets, runtime, store
from openstack_smartos.sim.commands.vmadm.common import (
    Usage, fail, get_uuid, host_env, load_row, log_change, take_file_option)
from openstack_smartos.sim.commands.vmadm.lifecycle import validated_create
from openstack_smartos.sim.state.zfs import Pool, ZFSError

MAGIC = "MAGIC-VMBUNDLE"
VERSION = "1"
HEADER = 512
RECEIVE_TIMEOUT_MS = 86400          # added to Date.now() in ms, as vmadm does (§4.2)


def header(name: str, size: int, padded: int) -> bytes:
    fields = [MAGIC, VERSION, "CHECKSUM", name, str(size), str(padded)]
    raw = b"".join(f.encode() + b"\0" for f in fields)
    if len(raw) > HEADER:
        raise ValueError("VMBUNDLE header too long")
    return raw + bytes(HEADER - len(raw))


def parse_header(block: bytes):
    fields = block.split(b"\0")
    if len(block) != HEADER or len(fields) < 6 or fields[0].decode(errors="replace") != MAGIC:
        raise ValueError("invalid VMBUNDLE header")
    if fields[1] != VERSION.encode():
        raise ValueError(f"unsupported VMBUNDLE version {fields[1].decode(errors='replace')}")
    return fields[3].decode(), int(fields[4]), int(fields[5])


def _padded(size):
    return (size + HEADER - 1) // HEADER * HEADER


# -- send ---------------------------------------------------------------------------------------
def cmd_send(ctx, args):
    uuid = get_uuid(args, "send")           # a [target] argument is ignored (§4.1)
    if ctx.stdout_is_tty:
        fail("Cannot send VM to a TTY.")
    host = ctx.host
    pool = Pool(host)
    with host.locked():
        row = load_row(host, uuid)
        # VM.js send loads the object first (it carries the original state and
        # autoboot), then VM.stop stops the source, which sets autoboot=false.
        vm = store.build(host, row, pool)
        if runtime.derive(row.rt)["zone_state"] != "installed":
            row.rt["op"] = None
            runtime.halt(row.rt, time.time())
            row.cfg["autoboot"] = False
            store.save(host, row)
        names = [datasets.zoneroot(row.cfg), *datasets.outside_disks(row.cfg)]
    text = (json.dumps(vm, indent=2) + "\n").encode()
    ctx.write(header("JSON", len(text), _padded(len(text))))
    ctx.write(text + bytes(_padded(len(text)) - len(text)))
    for name in names:
        snap = f"{name}@sending"
        with host.locked():
            if pool.exists(snap):
                pool.destroy(snap, recursive=True)
            pool.snapshot(snap, recursive=True)
        try:
            ctx.write(header(name, 0, 0))
            pool.send(snap, ctx.stdout, replicate=True, props=True)
        finally:
            with host.locked():
                if pool.exists(snap):
                    pool.destroy(snap, recursive=True)
    log_change(ctx, "sent VM", vm_uuid=uuid)
    ctx.err(f"Successfully sent VM {uuid}")
    return 0


# -- receive -------------------------------------------------------------------------------------
def _read_exact(stream, size):
    chunks, need = [], size
    while need > 0:
        chunk = stream.read(need)
        if not chunk:
            break
        chunks.append(chunk)
        need -= len(chunk)
    return b"".join(chunks)


def _receive_payload(vm: dict) -> dict:
    """The create payload vmadm derives from a sent object (§4.2)."""
    payload = {k: v for k, v in vm.items()
               if k not in ("customer_metadata", "internal_metadata", "tags", "routes",
                            "snapshots", "zfs_filesystem")}
    for disk in payload.get("disks", ()):
        for key in ("path", "zfs_filesystem"):
            if disk.get("media") != "cdrom" and not disk.get("nocreate"):
                disk.pop(key, None)
        if disk.get("image_uuid"):
            disk.pop("block_size", None)
    return payload


def cmd_receive(ctx, args):
    filename, rest = take_file_option(args)
    if rest or filename not in (None, "-", "/dev/stdin"):
        raise Usage("receive reads the bundle from stdin only")
    host = ctx.host
    pool = Pool(host)
    stream = ctx.stdin
    try:
        name, size, padded = parse_header(_read_exact(stream, HEADER))
        if name != "JSON":
            raise ValueError("the bundle does not start with a JSON chunk")
        body = _read_exact(stream, padded)
        vm = json.loads(body[:size])
    except ValueError as exc:
        fail(f"Invalid VM bundle: {exc}")
    raw = _receive_payload(vm)
    with host.locked():
        env = host_env(host, pool)
        cfg, maps = validated_create(host, env, raw, "receive")
        uuid = cfg["uuid"]
        cfg["autoboot"] = vm.get("autoboot", cfg.get("autoboot", True))
        now = time.time()
        rt = runtime.new_runtime(store.counter(host, "zonedid"), now)
        expire = RECEIVE_TIMEOUT_MS / 1000.0
        runtime.begin(rt, "receive", expire, state="receiving", zone_state="installed",
                    transition_to="stopped", expire_seconds=expire, now=now)
        wanted = [datasets.zoneroot(cfg), *datasets.outside_disks(cfg)]
        rt["missing"] = {"datasets": [datasets.zoneroot(cfg)], "disks": [
            d for d in wanted[1:]], "filesystems": []}
        store.insert(host, cfg, rt)
    received = []
    try:
        while True:
            block = _read_exact(stream, HEADER)
            if not block:
                break
            name, _size, _padded = parse_header(block)
            if name not in wanted:
                raise ValueError(f"unexpected dataset {name} in the bundle")
            with host.locked():
                received.append(name)
                pool.receive(name, stream, force=True)
                if pool.exists(f"{name}@sending"):
                    pool.destroy(f"{name}@sending", recursive=True)
        missing = [name for name in wanted if name not in received]
        if missing:
            raise ValueError(f"missing datasets: {', '.join(missing)}")
    except (ValueError, ZFSError) as exc:
        with host.locked():
            datasets.undo(pool, received)
            store.delete(host, uuid)
        message = exc.message if isinstance(exc, ZFSError) else str(exc)
        fail(f"Failed to receive VM {uuid}: {message}")
    with host.locked():
        if not pool.exists(datasets.cores(cfg)):
            pool.create_filesystem(datasets.cores(cfg), props={"quota": datasets.CORES_QUOTA},
                                   parents=True)
        row = store.load(host, uuid)
        row.rt["op"] = None
        row.rt.pop("missing", None)
        row.rt["zone_state"] = "installed"
        if row.cfg.get("autoboot"):         # VM.install boots a VM received with autoboot
            runtime.boot(row.rt, store.counter_fn(host), time.time(), row.cfg)
        store.save(host, row)
    log_change(ctx, "received VM", vm_uuid=uuid)
    ctx.err(f"Successfully received VM {uuid}")
    return 0
