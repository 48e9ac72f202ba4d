"""Helpers shared by the vmadm subcommands: usage errors, UUIDs, payload input,
the host facts validation needs, and the bunyan log of each change."""

from __future__ import annotations

import json
import os
import random
import time
import uuid as uuidlib

from openstack_smartos.sim.state import images as imgstore
from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.commands.vmadm import nics as nicrules
from openstack_smartos.sim.commands.vmadm import payload as payloads
from openstack_smartos.sim.state.vms import runtime, store

USAGE = """Usage: vmadm <command> [options]

    create [-f <filename>]
    create-snapshot <uuid> <snapname>
    console <uuid>
    delete <uuid>
    delete-snapshot <uuid> <snapname>
    events [-fjr] [uuid]
    get <uuid>
    info <uuid> [type,...]
    install <uuid>
    kill [-s SIGNAL|-SIGNAL] <uuid>
    list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]
    lookup [-j|-1] [-o field,...] [field=value ...]
    reboot <uuid> [-F]
    receive [-f <filename>]
    reprovision <uuid> [-f <filename>]
    rollback-snapshot <uuid> <snapname>
    send <uuid> [target]
    start <uuid> [option=value ...]
    stop <uuid> [-F] [-t timeout]
    sysrq <uuid> <nmi|screenshot>
    update <uuid> [-f <filename>]
     -or- update <uuid> property=value [property=value ...]
    validate create [-f <filename>]
    validate update <brand> [-f <filename>]

    For help on a specific command, see the vmadm(8) man page.
"""


class Usage(Exception):
    """A usage error: the message (if any), then the usage text; exit 2."""

    def __init__(self, message: str = ""):
        super().__init__(message)
        self.message = message


def fail(message: str, code: int = 1):
    raise ToolFailure(message, code)


def is_uuid(text) -> bool:
    """vmadm's getUUID: length 36 and dashes at 8, 13, 18 and 23."""
    return (isinstance(text, str) and len(text) == 36
            and all(text[i] == "-" for i in (8, 13, 18, 23)))


def get_uuid(args, command) -> str:
    if not args or not is_uuid(args[0]):
        raise Usage(f"Invalid or missing UUID for {command}")
    return args[0]


def not_found(uuid):
    fail(f"VM {uuid} not found")


def load_row(host, uuid):
    """The VM's row with expired transitions settled; 'not found' otherwise."""
    store.settle(host, uuid)
    row = store.load(host, uuid)
    if row is None:
        not_found(uuid)
    return row


# -- payload input ---------------------------------------------------------------------
def take_file_option(args):
    """Remove ``-f <file>`` from args; return (file or None, rest)."""
    rest, filename = [], None
    items = list(args)
    while items:
        item = items.pop(0)
        if item == "-f":
            if not items:
                raise Usage("-f requires a filename")
            filename = items.pop(0)
        elif item.startswith("-f") and len(item) > 2:
            filename = item[2:]
        else:
            rest.append(item)
    return filename, rest


def read_payload(ctx, filename, verb) -> dict:
    if filename is None or filename in ("-", "/dev/stdin"):
        if filename is None and ctx.stdin_is_tty:
            raise Usage(f"Will not {verb} from stdin when stdin is a tty.")
        data = ctx.stdin.read()
    else:
        try:
            with open(filename, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            fail(f"File: {filename} does not exist.")
        except OSError as exc:
            fail(f"File: {filename} cannot be read: {exc.strerror}")
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    try:
        payload = json.loads(text)
    except ValueError as exc:
        reason = "Unexpected end of JSON input" if not text.strip() else str(exc)
        fail(f"Invalid JSON payload: {reason}")
    if not isinstance(payload, dict):
        fail("Invalid JSON payload: payload must be an object")
    return payload


# -- host facts ----------------------------------------------------------------------------
def nic_tags(host) -> dict:
    """Tag name -> type (normal, etherstub, overlay_rule; "link" for a physical link name)."""
    try:
        from openstack_smartos.sim.commands import nictagadm
        tags = {name: info.get("type", "normal")
                for name, info in nictagadm.all_tags(host).items()}
    except (ImportError, AttributeError):
        tags = {}
        for info in host.config.get("interfaces", {}).values():
            tags.update(dict.fromkeys(info.get("nic_tags", ()), "normal"))
        tags.update(dict.fromkeys(host.config.get("etherstubs", ()), "etherstub"))
    for link in host.config.get("interfaces", {}):
        tags.setdefault(link, "link")
    return tags


def image_lookup(host, pool):
    """``imgadm get -P <pool> <uuid>``: the manifest of an installed image."""
    def lookup(uuid):
        manifest = imgstore.get_image(host, uuid)
        if manifest is None:
            return None
        zpool = host.zpool
        if not pool.exists(f"{zpool}/{uuid}@final"):
            return None
        return manifest
    return lookup


def random_mac() -> str:
    """utils.generateMAC: first octet <1..f>2 (locally administered), then 01-ff."""
    first = (random.randrange(1, 16) << 4) | 0x02
    return ":".join(f"{b:02x}" for b in [first] + [random.randrange(1, 256) for _ in range(5)])


def host_env(host, pool, rows=None, exclude=None) -> payloads.Env:
    if rows is None and store.addr_index_ready(host):
        # Targeted lookups in the address index instead of loading every VM.
        macs = store.MacsInUse(host, exclude)
        ips = store.IpsInUse(host, exclude)
    else:
        rows = store.load_all(host) if rows is None else rows
        macs, ips = {}, {}
        for row in rows:
            if row.uuid == exclude:
                continue
            row_macs, row_ips = store.nic_keys(row.cfg)
            for mac in row_macs:
                macs[mac] = row.uuid
            for key in row_ips:
                ips[key] = row.uuid
    return payloads.Env(zpool=host.zpool, pools=(host.zpool,), nic_tags=nic_tags(host),
                        image=image_lookup(host, pool), macs_in_use=macs, ips_in_use=ips,
                        new_uuid=lambda: str(uuidlib.uuid4()), new_mac=random_mac,
                        now=runtime.iso())


CONFLICT = "Conflict detected with another vm, please check the MAC, IP, and VRID"


def check_conflicts(env, nics):
    """lookupConflicts: a MAC, or an IP (exact ``ips`` entry) on the same tag and vlan_id."""
    for nic in nics or ():
        if nic.get("mac") in env.macs_in_use:
            fail(CONFLICT)
        for ip in nic.get("ips", ()):
            if ip in ("dhcp", "addrconf"):
                continue
            if (nic.get("nic_tag"), nic.get("vlan_id"), ip) in env.ips_in_use:
                fail(CONFLICT)


def check_nic_tags(env, nics, prefix=""):
    """validateNicTags: fail with vmadm's message (after ``prefix``) if a tag is bad."""
    problem = nicrules.tag_problem(env.nic_tags, nics)
    if problem:
        fail(prefix + problem)


# -- the per-run log (/var/log/vm/logs/<epoch-ms>-<pid6>-vmadm.log) --------------------------
def log_change(ctx, message, **fields):
    logdir = ctx.host.path("root", "var", "log", "vm", "logs")
    try:
        logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        pid = os.getpid() % 1000000
        record = {"name": "vmadm", "hostname": ctx.host.config.get("hostname"),
                  "pid": pid, "level": 30, "msg": message, "time": runtime.iso(now), "v": 0,
                  "req_id": ctx.env.get("REQ_ID") or ctx.env.get("req_id")
                  or str(uuidlib.uuid4()), "argv": ["vmadm", *ctx.args], **fields}
        path = logdir / f"{int(now * 1000)}-{pid:06d}-vmadm.log"
        with open(path, "a") as handle:
            handle.write(json.dumps(record) + "\n")
    except OSError:
        pass


def wait_op(ctx, uuid, op, seconds):
    """Block like vmadm does while the transition runs, then finish it."""
    if op is None:
        return True
    if ctx.sleep(seconds):
        return False            # the caller gave up; a reader settles it later
    store.complete(ctx.host, uuid, op["id"])
    return True
