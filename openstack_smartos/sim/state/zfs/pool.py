"""The pool: plumbing, lookups and dataset creation, composed with the other modules' mixins."""

from __future__ import annotations

import contextlib
import json
import time

from openstack_smartos.sim.state.zfs.names import (_NAME_RE, _SNAP_RE, ZFSError, _like_prefix,
                                                   _new_guid, _parent, _split, parse_size)
from openstack_smartos.sim.state.zfs.blocks import BLOCK, BlockStoreMixin
from openstack_smartos.sim.state.zfs.data import DataMixin
from openstack_smartos.sim.state.zfs.space import SpaceMixin
from openstack_smartos.sim.state.zfs.reservation import auto_refreservation
from openstack_smartos.sim.state.zfs.properties import PropertiesMixin
from openstack_smartos.sim.state.zfs.snapshots import SnapshotsMixin
from openstack_smartos.sim.state.zfs.send import SendMixin
from openstack_smartos.sim.state.zfs.receive import ReceiveMixin


class Pool(BlockStoreMixin, SpaceMixin, PropertiesMixin, SnapshotsMixin, DataMixin,
           SendMixin, ReceiveMixin):
    def __init__(self, host):
        self.host = host
        self.name = host.zpool
        self._readers = {}
        self._pack = None      # [name, fd, size, bytes not yet in zfs_packs] of the session's pack
        self._space_ok = False  # zfs_space known to be complete (see _ensure_space)

    # -- plumbing ---------------------------------------------------------------
    @property
    def db(self):
        return self.host.db

    @property
    def size(self) -> int:
        return int(self.host.config.get("zpool_gib", 256)) << 30

    def _packdir(self):
        path = self.host.path("zfs", "packs")
        path.mkdir(parents=True, exist_ok=True)
        return path

    @contextlib.contextmanager
    def _mutating(self):
        outermost = self.host._lock_depth == 0
        try:
            with self.host.locked():
                try:
                    self._ensure_space()
                    yield self.db
                finally:
                    self._close_pack()
        finally:
            if outermost:
                self._collect()

    def _txg(self) -> int:
        db = self.db
        db.execute("INSERT INTO zfs_meta (key, value) VALUES ('txg', 1) "
                   "ON CONFLICT(key) DO UPDATE SET value = value + 1")
        return db.execute("SELECT value FROM zfs_meta WHERE key='txg'").fetchone()[0]

    # -- lookups ------------------------------------------------------------------
    def _ds(self, name, verb="open"):
        row = self.db.execute("SELECT * FROM zfs_datasets WHERE name=?", (name,)).fetchone()
        if row is None:
            raise ZFSError(f"cannot {verb} '{name}': dataset does not exist")
        return row

    def _snap(self, name, verb="open"):
        dataset, snap = _split(name)
        row = self.db.execute(
            "SELECT s.*, d.name AS dsname, d.type AS dstype FROM zfs_snapshots s "
            "JOIN zfs_datasets d ON d.id = s.ds WHERE d.name=? AND s.snapname=?",
            (dataset, snap)).fetchone()
        if row is None:
            raise ZFSError(f"cannot {verb} '{name}': dataset does not exist")
        return row

    def _snap_by_id(self, snap_id):
        return self.db.execute(
            "SELECT s.*, d.name AS dsname, d.type AS dstype FROM zfs_snapshots s "
            "JOIN zfs_datasets d ON d.id = s.ds WHERE s.id=?", (snap_id,)).fetchone()

    def _snapname(self, srow) -> str:
        return f"{srow['dsname']}@{srow['snapname']}"

    def _ds_snaps(self, ds_id):
        return self.db.execute(
            "SELECT s.*, d.name AS dsname, d.type AS dstype FROM zfs_snapshots s "
            "JOIN zfs_datasets d ON d.id = s.ds WHERE s.ds=? ORDER BY s.createtxg, s.id",
            (ds_id,)).fetchall()

    def _latest_snap(self, ds_row, include_origin=True):
        snaps = self._ds_snaps(ds_row["id"])
        if snaps:
            return snaps[-1]
        if include_origin and ds_row["origin"] is not None:
            return self._snap_by_id(ds_row["origin"])
        return None

    def _descendants(self, name) -> list:
        rows = self.db.execute(
            "SELECT * FROM zfs_datasets WHERE name LIKE ? ESCAPE '\\' ORDER BY name",
            (_like_prefix(name + "/"),)).fetchall()
        return rows

    def _clones_of(self, snap_id) -> list:
        return [row["name"] for row in self.db.execute(
            "SELECT name FROM zfs_datasets WHERE origin=? ORDER BY name", (snap_id,))]

    def exists(self, name) -> bool:
        return self.type_of(name) is not None

    def type_of(self, name):
        if "@" in name:
            try:
                self._snap(name)
                return "snapshot"
            except ZFSError:
                return None
        row = self.db.execute("SELECT type FROM zfs_datasets WHERE name=?",
                              (name,)).fetchone()
        return row["type"] if row else None

    def children(self, name) -> list:
        self._ds(name)
        return [row["name"] for row in self._descendants(name)
                if "/" not in row["name"][len(name) + 1:]]

    # -- creation -----------------------------------------------------------------
    def ensure_pool(self):
        with self._mutating():
            if self.db.execute("SELECT 1 FROM zfs_datasets WHERE name=?",
                               (self.name,)).fetchone():
                return
            self._insert_ds(self.name, "filesystem", None, {})
            for child in ("cores", "config", "opt", "usbkey", "var"):
                self._insert_ds(f"{self.name}/{child}", "filesystem", None, {})

    def _insert_ds(self, name, type_, volsize, props, origin=None, parent_layer=None,
                   refer=0, guid=None, creation=None):
        db = self.db
        txg = self._txg()
        cur = db.execute(
            "INSERT INTO zfs_datasets (name, type, guid, creation, createtxg, layer, origin,"
            " volsize, props) VALUES (?,?,?,?,?,0,?,?,?)",
            (name, type_, guid or _new_guid(), creation or int(time.time()), txg, origin,
             volsize, json.dumps(props)))
        ds_id = cur.lastrowid
        layer = self._new_layer(parent_layer, ds_id, refer)
        db.execute("UPDATE zfs_datasets SET layer=? WHERE id=?", (layer, ds_id))
        return ds_id

    def _check_new(self, name, parents=False, verb="create"):
        if "@" in name or not _NAME_RE.match(name) or len(name) > 255:
            raise ZFSError(f"cannot {verb} '{name}': invalid dataset name")
        pool = name.split("/")[0]
        if pool != self.name:
            raise ZFSError(f"cannot {verb} '{name}': no such pool '{pool}'")
        if self.exists(name):
            raise ZFSError(f"cannot {verb} '{name}': dataset already exists")
        parent = _parent(name)
        if parent is None:
            raise ZFSError(f"cannot {verb} '{name}': missing dataset name")
        prow = self.db.execute("SELECT type FROM zfs_datasets WHERE name=?",
                               (parent,)).fetchone()
        if prow is None:
            if not parents:
                raise ZFSError(f"cannot {verb} '{name}': parent does not exist")
            self._check_new(parent, parents=True, verb=verb)
            self._insert_ds(parent, "filesystem", None, {})
        elif prow["type"] != "filesystem":
            raise ZFSError(f"cannot {verb} '{name}': parent is not a filesystem")

    def create_filesystem(self, name, props=None, parents=False):
        with self._mutating():
            if parents and self.type_of(name) == "filesystem":
                return
            self._check_new(name, parents)
            ds_id = self._insert_ds(name, "filesystem", None, {})
            self._apply_props(ds_id, props or {}, verb="create")

    def create_volume(self, name, volsize, props=None, sparse=False, parents=False):
        props = dict(props or {})
        with self._mutating():
            self._check_new(name, parents)
            volsize = parse_size(volsize)
            blocksize = parse_size(props.pop("volblocksize", 8192))
            if blocksize & (blocksize - 1) or not 512 <= blocksize <= BLOCK:
                raise ZFSError(f"cannot create '{name}': volume block size must be a "
                               "power of 2 from 512B to 128K")
            if volsize <= 0:
                raise ZFSError(f"cannot create '{name}': volume size cannot be zero")
            if volsize % blocksize:
                raise ZFSError(f"cannot create '{name}': volume size must be a multiple "
                               "of volume block size")
            local = {"volblocksize": blocksize}
            if not sparse and "refreservation" not in props:
                local["refreservation"] = auto_refreservation(
                    volsize, blocksize, props.get("copies", 1))
            ds_id = self._insert_ds(name, "volume", volsize, local)
            self._apply_props(ds_id, props, verb="create")
            self._check_created(ds_id, name)

    def _check_created(self, ds_id, name):
        """ENOSPC on create: the new dataset does not stay behind."""
        try:
            self._check_reservation(ds_id, f"cannot create '{name}': out of space")
        except ZFSError:
            self.destroy(name)
            raise

    def _check_reservation(self, ds_id, message):
        space = self._space()
        if space["pool_used"] > self.size:
            raise ZFSError(message)
        row = self.db.execute("SELECT name FROM zfs_datasets WHERE id=?", (ds_id,)).fetchone()
        name = _parent(row["name"])
        while name:
            info = space["ds"][name]
            if info["quota"] and info["used"] > info["quota"]:
                raise ZFSError(message)
            name = _parent(name)

    def snapshot(self, name, recursive=False, props=None):
        dataset, snap = _split(name)
        with self._mutating():
            if not snap or not _SNAP_RE.match(snap):
                raise ZFSError(f"cannot create snapshot '{name}': invalid character in name"
                               if snap else f"cannot create snapshot '{name}': empty "
                               "component or misplaced '@' or '#' delimiter in name")
            root = self._ds(dataset)
            rows = [root] + (self._descendants(dataset) if recursive else [])
            for row in rows:
                if self.db.execute("SELECT 1 FROM zfs_snapshots WHERE ds=? AND snapname=?",
                                   (row["id"], snap)).fetchone():
                    raise ZFSError(f"cannot create snapshot '{row['name']}@{snap}': "
                                   "dataset already exists")
            txg = self._txg()
            for row in rows:
                self._take_snapshot(row, snap, txg=txg, props=props)

    def _take_snapshot(self, row, snap, txg=None, guid=None, creation=None, props=None):
        db = self.db
        txg = txg or self._txg()
        refer = db.execute("SELECT refer FROM zfs_layers WHERE id=?",
                           (row["layer"],)).fetchone()[0]
        db.execute("INSERT INTO zfs_snapshots (ds, snapname, guid, creation, createtxg, "
                   "layer, volsize, props) VALUES (?,?,?,?,?,?,?,?)",
                   (row["id"], snap, guid or _new_guid(), creation or int(time.time()),
                    txg, row["layer"], row["volsize"], json.dumps(props or {})))
        new = self._new_layer(row["layer"], row["id"], refer)
        db.execute("UPDATE zfs_datasets SET layer=? WHERE id=?", (new, row["id"]))

    def clone(self, snapshot, target, props=None):
        with self._mutating():
            if "@" not in snapshot:
                raise ZFSError(f"cannot open '{snapshot}': operation only applies to "
                               "snapshots")
            srow = self._snap(snapshot)
            self._check_new(target)
            refer = self.db.execute("SELECT refer FROM zfs_layers WHERE id=?",
                                    (srow["layer"],)).fetchone()[0]
            origin_ds = self._ds(srow["dsname"])
            local = {}
            if srow["dstype"] == "volume":
                local["volblocksize"] = json.loads(origin_ds["props"]).get(
                    "volblocksize", 8192)
            ds_id = self._insert_ds(target, srow["dstype"], srow["volsize"], local,
                                    origin=srow["id"], parent_layer=srow["layer"],
                                    refer=refer)
            self._apply_props(ds_id, props or {}, verb="create")
            self._check_created(ds_id, target)
