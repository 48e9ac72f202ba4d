"""VM records in the host database and the ``vmadm get`` object built from them.

One row per VM: ``config`` (the stored properties, as normalised at create
and changed by update) and ``runtime`` (see ``runtime``). Properties that live
in ZFS on SmartOS (quota, disk sizes, snapshots, metadata/tags/routes files)
are read back from the emulated pool when the object is built, so a change
made with the zfs tool shows in ``vmadm get`` as it would on a real host.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time

from openstack_smartos.sim.state import zonelog
from openstack_smartos.sim.state.network import dataplane
from openstack_smartos.sim.host import register_schema
from openstack_smartos.sim.state.vms import datasets, runtime
from openstack_smartos.sim.commands.vmadm.proptable import HVM_BRANDS
from openstack_smartos.sim.commands.vmadm.values import GIB, MIB
from openstack_smartos.sim.state.zfs import Pool, ZFSError

register_schema("""
CREATE TABLE IF NOT EXISTS vmadm_vms (
    uuid TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    config TEXT NOT NULL,
    runtime TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS vmadm_counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS vmadm_addrs (
    uuid TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS vmadm_addrs_value ON vmadm_addrs (kind, value);
CREATE INDEX IF NOT EXISTS vmadm_addrs_uuid ON vmadm_addrs (uuid);
CREATE TABLE IF NOT EXISTS vmadm_meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
""")

COUNTER_START = {"zoneid": 1, "zonedid": 1, "pid": 4001, "seq": 1}
COUNTER_STEP = {"pid": 13}
MAP_KEYS = ("customer_metadata", "internal_metadata", "tags", "routes")


@dataclasses.dataclass
class Row:
    uuid: str
    cfg: dict
    rt: dict
    # The boot (zoneid) the row was loaded with: save() compares it with the
    # new one to tell zoneadmd's console log about boots and halts.
    loaded_boot: int | None = dataclasses.field(default=None, compare=False)


def counter(host, name: str) -> int:
    """Next value of a host-wide counter (call inside ``host.locked()``)."""
    db = host.db
    row = db.execute("SELECT value FROM vmadm_counters WHERE name = ?", (name,)).fetchone()
    value = COUNTER_START.get(name, 1) if row is None else row["value"]
    db.execute("INSERT OR REPLACE INTO vmadm_counters (name, value) VALUES (?, ?)",
               (name, value + COUNTER_STEP.get(name, 1)))
    return value


def counter_fn(host):
    return lambda name: counter(host, name)


def load(host, uuid) -> Row | None:
    row = host.db.execute("SELECT uuid, config, runtime FROM vmadm_vms WHERE uuid = ?",
                          (uuid,)).fetchone()
    return _row(row) if row else None


def load_all(host) -> list[Row]:
    rows = host.db.execute("SELECT uuid, config, runtime FROM vmadm_vms ORDER BY seq")
    return [_row(r) for r in rows.fetchall()]


def _row(row) -> Row:
    rt = json.loads(row["runtime"])
    return Row(row["uuid"], json.loads(row["config"]), rt, rt.get("zoneid"))


def insert(host, cfg: dict, rt: dict):
    host.db.execute("INSERT INTO vmadm_vms (uuid, seq, config, runtime) VALUES (?, ?, ?, ?)",
                    (cfg["uuid"], counter(host, "seq"), json.dumps(cfg), json.dumps(rt)))
    _index_addrs(host, cfg["uuid"], cfg)
    if rt.get("zoneid") is not None:
        zonelog.booted(host, cfg, time.time())
    dataplane.vm_saved(host, cfg["uuid"], None)


def save(host, row: Row, *, touch=True):
    if touch:
        row.rt["last_modified"] = runtime.iso()
    host.db.execute("UPDATE vmadm_vms SET config = ?, runtime = ? WHERE uuid = ?",
                    (json.dumps(row.cfg), json.dumps(row.rt), row.uuid))
    _index_addrs(host, row.uuid, row.cfg)
    booted_before = row.loaded_boot
    _log_console(host, row)
    dataplane.vm_saved(host, row.uuid, booted_before)


def _log_console(host, row: Row):
    now_boot = row.rt.get("zoneid")
    if now_boot == row.loaded_boot:
        return
    if now_boot is None:
        zonelog.halted(host, row.cfg, time.time())
    else:
        zonelog.booted(host, row.cfg, time.time(), halted_first=row.loaded_boot is not None)
    row.loaded_boot = now_boot


def delete(host, uuid):
    host.db.execute("DELETE FROM vmadm_vms WHERE uuid = ?", (uuid,))
    host.db.execute("DELETE FROM vmadm_addrs WHERE uuid = ?", (uuid,))
    zonelog.removed(host, uuid)
    dataplane.vm_removed(host, uuid)


# -- MAC / IP index -------------------------------------------------------------------
# vmadm_addrs maps each VM's MACs and IP addresses (without prefix length) to
# its uuid, so create/update/receive can check for conflicts without loading
# every VM. Lookups treat index hits as candidates and confirm them against the
# VM's config with the same key derivation as ``nic_keys``.
def nic_keys(cfg):
    """(macs, ip keys) a VM holds: ip keys are (nic_tag, vlan_id or None, ips entry).

    vmadm's hasConflictingIP compares the ``ips`` strings (prefix included)
    and the vlan_id strictly (absent is not 0).
    """
    macs, ips = [], []
    for nic in cfg.get("nics", ()):
        if nic.get("mac"):
            macs.append(nic["mac"])
        for ip in nic.get("ips", ()):
            if ip not in ("dhcp", "addrconf"):
                ips.append((nic.get("nic_tag"), nic.get("vlan_id"), ip))
    return macs, ips


def _addr_rows(uuid, cfg):
    """Index rows for a VM; tolerant of odd values (lookups confirm hits)."""
    rows = set()
    nics = cfg.get("nics")
    for nic in nics if isinstance(nics, list) else ():
        if not isinstance(nic, dict):
            continue
        if nic.get("mac") and isinstance(nic["mac"], str):
            rows.add((uuid, "mac", nic["mac"]))
        ips = nic.get("ips")
        for ip in ips if isinstance(ips, list) else ():
            if isinstance(ip, str) and ip not in ("dhcp", "addrconf"):
                rows.add((uuid, "ip", ip.split("/")[0]))
    return rows


def _index_addrs(host, uuid, cfg):
    db = host.db
    db.execute("DELETE FROM vmadm_addrs WHERE uuid = ?", (uuid,))
    rows = _addr_rows(uuid, cfg)
    if rows:
        db.executemany("INSERT INTO vmadm_addrs (uuid, kind, value) VALUES (?, ?, ?)", rows)


def addr_index_ready(host) -> bool:
    """Whether vmadm_addrs covers every VM; built here when the lock is held."""
    db = host.db
    if db.execute("SELECT 1 FROM vmadm_meta WHERE key = 'addrs'").fetchone():
        return True
    if not host._lock_depth:
        return False
    db.execute("DELETE FROM vmadm_addrs")
    for row in load_all(host):
        rows = _addr_rows(row.uuid, row.cfg)
        if rows:
            db.executemany("INSERT INTO vmadm_addrs (uuid, kind, value) VALUES (?, ?, ?)",
                           rows)
    db.execute("INSERT OR REPLACE INTO vmadm_meta (key, value) VALUES ('addrs', 1)")
    return True


class _InUse:
    """``key in self``: whether a VM other than ``exclude`` holds the key."""

    kind = ""

    def __init__(self, host, exclude=None):
        self.host = host
        self.exclude = exclude
        self._all = None

    def _value(self, key):
        raise NotImplementedError

    def _holds(self, cfg, key) -> bool:
        raise NotImplementedError

    def _everything(self):
        if self._all is None:
            self._all = {k for row in load_all(self.host) if row.uuid != self.exclude
                         for k in self._keys(row.cfg)}
        return self._all

    def __contains__(self, key):
        try:
            value = self._value(key)
        except TypeError:
            return key in self._everything()
        if value is None:
            return False
        for (uuid,) in self.host.db.execute(
                "SELECT DISTINCT uuid FROM vmadm_addrs WHERE kind = ? AND value = ?",
                (self.kind, value)).fetchall():
            if uuid == self.exclude:
                continue
            row = load(self.host, uuid)
            if row is not None and key in self._keys(row.cfg):
                return True
        return False


class MacsInUse(_InUse):
    kind = "mac"

    def _value(self, key):
        if not key:
            return None
        if not isinstance(key, str):
            raise TypeError
        return key

    def _keys(self, cfg):
        return nic_keys(cfg)[0]


class IpsInUse(_InUse):
    kind = "ip"

    def _value(self, key):
        if not isinstance(key, tuple) or len(key) != 3 or not isinstance(key[2], str):
            raise TypeError
        return key[2].split("/")[0]

    def _keys(self, cfg):
        return nic_keys(cfg)[1]


def exists(host, uuid) -> bool:
    return host.db.execute("SELECT 1 FROM vmadm_vms WHERE uuid = ?",
                           (uuid,)).fetchone() is not None


# -- timed transitions ---------------------------------------------------------------
def settle(host, uuid=None, rows=None) -> bool:
    """Finish ops whose time has passed (the writer may be gone).

    ``rows``: the rows to look at, already loaded. True if any op finished.
    """
    if rows is None:
        rows = [load(host, uuid)] if uuid else load_all(host)
    now = time.time()
    if not any(r and runtime.expired(r.rt, now) for r in rows):
        return False
    with host.locked():
        for r in rows:
            if r is None:
                continue
            current = load(host, r.uuid)
            if current and runtime.expired(current.rt, now):
                runtime.finish(current.rt, counter_fn(host), current.cfg)
                save(host, current)
    return True


def complete(host, uuid, op_id):
    """The writer's end of an op it started (no-op if a reader did it)."""
    with host.locked():
        row = load(host, uuid)
        if row and row.rt.get("op") and row.rt["op"]["id"] == op_id:
            runtime.finish(row.rt, counter_fn(host), row.cfg, at=time.time())
            save(host, row)


# -- the VM object ------------------------------------------------------------------------
def build(host, row: Row, pool=None, fields=None, *, private=False) -> dict:
    """The ``vmadm get`` object. ``fields``: top-level keys needed (None: all).

    ``private``: the row is the caller's own throw-away copy, so the object may
    share (and change) its values instead of deep-copying them.
    """
    cfg, rt = row.cfg, row.rt
    if fields is not None and not isinstance(fields, (set, frozenset)):
        fields = set(fields)
    need = (lambda *keys: True) if fields is None else (
        lambda *keys: not fields.isdisjoint(keys))
    vm = dict(cfg) if private else copy.deepcopy(cfg)
    uuid = cfg["uuid"]
    brand = cfg["brand"]
    vm.update({
        "zonepath": f"/zones/{uuid}",
        "zfs_filesystem": datasets.zoneroot(cfg),
        "hvm": brand in HVM_BRANDS,
        "v": 1,
        "server_uuid": host.config.get("uuid"),
        "platform_buildstamp": host.config.get("live_image"),
        "last_modified": rt.get("last_modified"),
    })
    vm.update(runtime.derive(rt))
    # vmload: these lists are always present, if only empty.
    vm.setdefault("nics", [])
    vm.setdefault("resolvers", [])
    if brand in HVM_BRANDS:
        vm.setdefault("disks", [])
    for key in ("missing",):
        if key in rt:
            vm[key] = rt[key]
    if pool is None and need(*MAP_KEYS, "quota", "disks", "snapshots", "free_space"):
        pool = Pool(host)
    if need(*MAP_KEYS):
        vm.update(datasets.read_maps(pool, cfg))
    if need("quota", "disks", "snapshots", "free_space"):
        _zfs_facts(pool, cfg, vm)
    if fields is not None:     # callers pick keys by name: the order is not seen
        return {key: value for key, value in vm.items() if value is not None}
    return {key: vm[key] for key in sorted(vm) if vm[key] is not None}


def _zfs_facts(pool, cfg, vm):
    root = datasets.zoneroot(cfg)
    brand = cfg["brand"]
    try:
        props = pool.get_props(root)
    except ZFSError:
        return
    key = "refquota" if brand == "bhyve" else "quota"
    quota = datasets.props_int(props, key)
    if quota is not None:
        vm["quota"] = quota // GIB
    used_by_snaps = 0
    volsizes = 0
    for disk in vm.get("disks", ()):
        name = disk.get("zfs_filesystem")
        if not name or disk.get("media") == "cdrom" or disk.get("nocreate"):
            continue
        try:
            dprops = pool.get_props(name)
        except ZFSError:
            continue
        volsize = datasets.props_int(dprops, "volsize")
        if volsize is not None:
            disk["size"] = volsize // MIB
            volsizes += volsize
        blocksize = datasets.props_int(dprops, "volblocksize")
        if blocksize:
            disk["block_size"] = blocksize
        refres = datasets.props_int(dprops, "refreservation")
        if refres is not None:
            # vmload addDiskProperties: Math.ceil(bytes / MiB); auto includes metadata
            disk["refreservation"] = -(-refres // MIB)
        if dprops.get("compression") not in (None, "-"):
            disk["compression"] = dprops["compression"]
        used_by_snaps += datasets.props_int(dprops, "usedbysnapshots") or 0
    # vmload lists snapshots for every brand (kvm: [], it has none).
    snaps = []
    try:
        listed = pool.snapshots(root)
    except ZFSError:
        listed = []
    for snap in listed:
        name = snap["name"].split("@", 1)[1]
        if not name.startswith("vmsnap-"):
            continue
        snaps.append({"name": name[len("vmsnap-"):],
                      "size": (datasets.props_int(snap, "written")
                               or datasets.props_int(snap, "used") or 0) // MIB,
                      "created_at": runtime.iso(datasets.props_int(snap, "creation") or 0)})
    vm["snapshots"] = list(reversed(snaps))
    if brand == "bhyve" and cfg.get("flexible_disk_size"):
        used_by_snaps += datasets.props_int(props, "usedbysnapshots") or 0
        vm["free_space"] = max(0, cfg["flexible_disk_size"] - (volsizes + used_by_snaps) // MIB)


def get_object(host, uuid, fields=None) -> dict | None:
    row = load(host, uuid)
    if row is not None and settle(host, uuid, rows=[row]):
        row = load(host, uuid)
    return build(host, row, fields=fields, private=True) if row else None


def all_objects(host, fields=None) -> list[dict]:
    rows = load_all(host)
    if settle(host, rows=rows):
        rows = load_all(host)
    pool = None
    if fields is None or set(fields) & {*MAP_KEYS, "quota", "disks", "snapshots",
                                        "free_space"}:
        pool = Pool(host)
    return [build(host, row, pool, fields, private=True) for row in rows]
