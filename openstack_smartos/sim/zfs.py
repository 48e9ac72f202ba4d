"""The emulated ZFS pool: datasets, snapshots, clones and zvols holding real
bytes in a copy-on-write, content-addressed block store inside the host dir.

API CONTRACT (used by vmadm, imgadm and the zfs/zpool CLI emulation). All
sizes are bytes. Names are full ZFS names ("zones/<uuid>", "zones/<uuid>@final").
Mutating methods take ``host.locked()`` themselves (nesting inside a caller's
``host.locked()`` is fine: they join its transaction).
Errors raise ``ZFSError(message)`` whose message is what illumos zfs prints
(e.g. "cannot open 'zones/x': dataset does not exist").

    pool = Pool(host)
    pool.ensure_pool()                         # creates "zones" (+ cores, config, opt, usbkey, var)
    pool.exists(name) -> bool                  # dataset or snapshot
    pool.type_of(name) -> "filesystem"|"volume"|"snapshot"|None
    pool.create_filesystem(name, props=None, parents=False)
    pool.create_volume(name, volsize, props=None, sparse=False, parents=False)
    pool.snapshot(name_at_snap, recursive=False, props=None)
    pool.clone(snapshot, target, props=None)   # O(1) whatever the size
    pool.destroy(name, recursive=False, dependents=False, force=False,
                 dry_run=False) -> [names destroyed, in order]
    pool.rollback(snapshot, destroy_newer=False, destroy_clones=False)
    pool.rename(old, new, parents=False)       # datasets, or snapshots within a dataset
    pool.promote(clone)
    pool.hold(tag, snapshot) / pool.release(tag, snapshot) / pool.holds(snapshot) -> [tags]
    pool.holds_detail(snapshot) -> [(tag, epoch)]
    pool.get_props(name) -> dict               # every property, exact values
    pool.get_sources(name) -> dict             # prop -> "local"|"default"|"-"|"inherited from X"
    pool.set_prop(name, prop, value)           # "quota", "refquota", "volsize", user props "a:b", ...
    pool.inherit_prop(name, prop)              # zfs inherit (drop the local value)
    pool.list(root=None, types=("filesystem","volume"), recursive=True, depth=None)
         -> [dict]                             # each: name, type and all props
    pool.snapshots(name) -> [dict]             # oldest first (creation order)
    pool.children(name) -> [names]
    pool.pool_stats() -> {"name","size","alloc","free","cap","health"}
    # Data. Filesystems hold files (path -> bytes); a volume holds one byte array.
    # Paths are normalised to "/a/b". Reads also accept a snapshot name.
    pool.write_file(dataset, path, data)       # whole-file replace, COW per 128 KiB block
    pool.read_file(dataset, path) -> bytes | None
    pool.remove_file(dataset, path)
    pool.list_files(dataset) -> [path]
    pool.write_volume(dataset, offset, data)
    pool.read_volume(dataset, offset=0, length=None) -> bytes
    # Replication streams (the emulator's own stream format, see below).
    pool.send(snapshot, out, *, incremental_from=None, intermediates=False,
              replicate=False, props=False, resume_token=None) -> int bytes
    pool.send_size(...same args...) -> int     # exactly what send would write
    pool.send_summary(...same args...) -> {"kind": "full"|"incremental", "from", "to", "size"}
    pool.receive(target, stream, *, force=False, unmounted=False,
                 resumable=False, exclude_props=(), set_props=None) -> [names created]
    pool.abort_receive(target)                 # zfs receive -A
    pool.close()                               # close cached pack file handles

A quota/refquota overrun on write raises "cannot write to 'X': disk quota
exceeded" (pool full: "out of space"); on receive "cannot receive <kind>
stream: out of space". ``receive(resumable=True)`` on a truncated stream
COMMITS the partial state before raising, so call it outside a caller's own
transaction if that transaction must survive. ``receive`` reads exactly the
stream's bytes (nothing after its end record), so streams can be concatenated.

Storage model. Every dataset has a chain of layers (zfs_layers). A layer maps
(path, block index) -> block hash (zfs_bmap; NULL hash = hole) and path ->
file size (zfs_files; -1 = deleted). The dataset writes into its top layer;
a snapshot freezes the top layer and the dataset continues on a new layer
whose parent is the frozen one; a clone's first layer has the snapshot's
layer as parent. Reads walk the chain, nearest layer first. Block contents
are content-addressed (blake2b-160), refcounted (zfs_store) and appended to
pack files under ``zfs/packs`` (one per write session); all-zero blocks are
holes and use no space. Packs without live blocks are deleted and sparse
packs compacted after each outermost mutation commits.

Properties every dataset reports (all sizes in bytes, "-" where not applicable):
type, creation (epoch seconds), used, available, referenced, logicalused,
logicalreferenced, usedbysnapshots, usedbydataset, usedbychildren,
usedbyrefreservation, quota, refquota, reservation, refreservation (0 = none),
volsize, volblocksize, recordsize, compression, compressratio, mountpoint,
mounted, origin, guid, createtxg, written, userrefs (snapshots), clones
(snapshots, comma separated or "-"), receive_resume_token ("-" when none),
snapshot_limit, filesystem_limit ("none" or a number), devices, encryption,
plus user props ("module:name").

STREAM FORMAT (version 2). 8-byte magic b"SIMZFS\\x00\\x02", u32 big-endian
length, a JSON descriptor (toname, toguid, fromname, fromguid, flags, datasets
with their snapshots guids and props, resume position). Then records, each
``type(1) | u32 length | payload | u32 crc32(type+length+payload)``:
S (section begin, JSON: dataset, snapshot, guid, fromguid, creation, type,
volsize), F (u16 path length, path, i64 size; -1 = deleted), B (u16 path
length, path, u64 block index, data; empty data = hole), E (u64 records in
the section), and finally Z (u32: the stream chain, a running crc32 over the
magic, length and descriptor bytes followed by the 4 crc bytes of every record
before Z, in order). Each record's own crc covers its bytes; the chain covers
the header and the sequence of records (a dropped, repeated or reordered
record fails it); a stream that ends before Z is truncated. ``receive`` also
accepts version 1 streams (magic b"SIMZFS\\x00\\x01"), whose Z record holds
the sha256 of every byte before it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import posixpath
import random
import re
import struct
import time
import uuid as uuidlib
import zlib

from openstack_smartos.sim.host import register_schema

BLOCK = 128 * 1024
MAGIC = b"SIMZFS\x00\x02"
MAGIC_V1 = b"SIMZFS\x00\x01"
_ZERO = bytes(BLOCK)
_COMPACT_MIN = 8 << 20

_SCHEMA = """
CREATE TABLE IF NOT EXISTS zfs_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS zfs_datasets (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, type TEXT NOT NULL,
  guid INTEGER NOT NULL, creation INTEGER NOT NULL, createtxg INTEGER NOT NULL,
  layer INTEGER NOT NULL, origin INTEGER, volsize INTEGER,
  props TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS zfs_snapshots (
  id INTEGER PRIMARY KEY, ds INTEGER NOT NULL, snapname TEXT NOT NULL,
  guid INTEGER NOT NULL, creation INTEGER NOT NULL, createtxg INTEGER NOT NULL,
  layer INTEGER NOT NULL, volsize INTEGER, props TEXT NOT NULL DEFAULT '{}',
  UNIQUE (ds, snapname));
CREATE INDEX IF NOT EXISTS zfs_snapshots_guid ON zfs_snapshots (guid);
CREATE TABLE IF NOT EXISTS zfs_holds (
  snap INTEGER NOT NULL, tag TEXT NOT NULL, created INTEGER NOT NULL,
  PRIMARY KEY (snap, tag));
CREATE TABLE IF NOT EXISTS zfs_layers (
  id INTEGER PRIMARY KEY, parent INTEGER, owner INTEGER NOT NULL,
  written INTEGER NOT NULL DEFAULT 0, shadowed INTEGER NOT NULL DEFAULT 0,
  refer INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS zfs_layers_parent ON zfs_layers (parent);
CREATE INDEX IF NOT EXISTS zfs_layers_owner ON zfs_layers (owner);
CREATE TABLE IF NOT EXISTS zfs_files (
  layer INTEGER NOT NULL, path TEXT NOT NULL, size INTEGER NOT NULL,
  PRIMARY KEY (layer, path)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS zfs_bmap (
  layer INTEGER NOT NULL, path TEXT NOT NULL, idx INTEGER NOT NULL,
  hash BLOB, size INTEGER NOT NULL,
  PRIMARY KEY (layer, path, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS zfs_store (
  hash BLOB PRIMARY KEY, pack TEXT NOT NULL, offset INTEGER NOT NULL,
  length INTEGER NOT NULL, refs INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS zfs_store_pack ON zfs_store (pack);
CREATE TABLE IF NOT EXISTS zfs_packs (
  name TEXT PRIMARY KEY, size INTEGER NOT NULL DEFAULT 0,
  live INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS zfs_partial (
  target TEXT PRIMARY KEY, ds INTEGER, state TEXT NOT NULL);
"""
register_schema(_SCHEMA)

# Space accounting, kept up to date by triggers so that "used"/"available" of
# one dataset (and the pool's total) cost O(depth) instead of a walk over every
# dataset. One row per dataset: w/s = SUM(written)/SUM(shadowed) of the layers
# it owns, refres/res = its refreservation/reservation, child = usedbychildren
# (the sum over its children of max(used, reservation)). A dataset's
# used = w + child + max(0, refres - (w - s)); what it charges its parent is
# max(used, res). Changes propagate to the parent row, recursively (the host
# connection enables recursive_triggers). Rows of a host created before this
# table existed are rebuilt on first mutation (Pool._ensure_space).
_CHARGE = "max({t}.w + {t}.child + max(0, {t}.refres - {t}.w + {t}.s), {t}.res)"
_SPACE_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS zfs_space (
  ds INTEGER PRIMARY KEY, parent INTEGER,
  w INTEGER NOT NULL DEFAULT 0, s INTEGER NOT NULL DEFAULT 0,
  refres INTEGER NOT NULL DEFAULT 0, res INTEGER NOT NULL DEFAULT 0,
  child INTEGER NOT NULL DEFAULT 0);
CREATE TRIGGER IF NOT EXISTS zfs_space_ds_ins AFTER INSERT ON zfs_datasets BEGIN
  INSERT OR REPLACE INTO zfs_space (ds, parent, refres, res) VALUES (NEW.id,
    (SELECT id FROM zfs_datasets
     WHERE name = rtrim(rtrim(NEW.name, replace(NEW.name, '/', '')), '/')),
    COALESCE(json_extract(NEW.props, '$.refreservation'), 0),
    COALESCE(json_extract(NEW.props, '$.reservation'), 0));
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_ds_props AFTER UPDATE OF props ON zfs_datasets BEGIN
  UPDATE zfs_space SET refres = COALESCE(json_extract(NEW.props, '$.refreservation'), 0),
    res = COALESCE(json_extract(NEW.props, '$.reservation'), 0) WHERE ds = NEW.id;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_ds_del AFTER DELETE ON zfs_datasets BEGIN
  DELETE FROM zfs_space WHERE ds = OLD.id;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_layer_ins AFTER INSERT ON zfs_layers
WHEN NEW.written != 0 OR NEW.shadowed != 0 BEGIN
  UPDATE zfs_space SET w = w + NEW.written, s = s + NEW.shadowed WHERE ds = NEW.owner;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_layer_del AFTER DELETE ON zfs_layers
WHEN OLD.written != 0 OR OLD.shadowed != 0 BEGIN
  UPDATE zfs_space SET w = w - OLD.written, s = s - OLD.shadowed WHERE ds = OLD.owner;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_layer_upd
AFTER UPDATE OF written, shadowed, owner ON zfs_layers
WHEN OLD.written != NEW.written OR OLD.shadowed != NEW.shadowed
  OR OLD.owner IS NOT NEW.owner BEGIN
  UPDATE zfs_space SET w = w - OLD.written, s = s - OLD.shadowed WHERE ds = OLD.owner;
  UPDATE zfs_space SET w = w + NEW.written, s = s + NEW.shadowed WHERE ds = NEW.owner;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_ins AFTER INSERT ON zfs_space
WHEN NEW.parent IS NOT NULL BEGIN
  UPDATE zfs_space SET child = child + {_CHARGE.format(t="NEW")} WHERE ds = NEW.parent;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_del AFTER DELETE ON zfs_space
WHEN OLD.parent IS NOT NULL BEGIN
  UPDATE zfs_space SET child = child - {_CHARGE.format(t="OLD")} WHERE ds = OLD.parent;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_upd AFTER UPDATE ON zfs_space
WHEN OLD.parent IS NEW.parent AND {_CHARGE.format(t="OLD")} != {_CHARGE.format(t="NEW")}
BEGIN
  UPDATE zfs_space SET child = child + {_CHARGE.format(t="NEW")} - {_CHARGE.format(t="OLD")}
  WHERE ds = NEW.parent;
END;
CREATE TRIGGER IF NOT EXISTS zfs_space_move AFTER UPDATE OF parent ON zfs_space
WHEN OLD.parent IS NOT NEW.parent BEGIN
  UPDATE zfs_space SET child = child - {_CHARGE.format(t="OLD")} WHERE ds = OLD.parent;
  UPDATE zfs_space SET child = child + {_CHARGE.format(t="NEW")} WHERE ds = NEW.parent;
END;
"""
register_schema(_SPACE_SCHEMA)


class ZFSError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


class _StreamBroken(Exception):
    """The input stream ended early or a record failed its checksum."""


# -- properties ---------------------------------------------------------------

SIZE_PROPS = {"quota", "refquota", "reservation", "refreservation", "volsize",
              "volblocksize", "recordsize"}
LIMIT_PROPS = {"snapshot_limit", "filesystem_limit"}
READONLY = {"type", "creation", "used", "available", "referenced", "logicalused",
            "logicalreferenced", "usedbysnapshots", "usedbydataset", "usedbychildren",
            "usedbyrefreservation", "compressratio", "refcompressratio", "origin",
            "guid", "createtxg", "written", "userrefs", "clones",
            "receive_resume_token", "mounted", "name", "encryption"}
INHERITABLE = {"compression": "off", "devices": "on", "atime": "on", "checksum": "on",
               "sync": "standard", "readonly": "off", "dedup": "off", "exec": "on",
               "setuid": "on", "zoned": "off", "primarycache": "all",
               "secondarycache": "all", "logbias": "latency", "snapdir": "hidden"}
SETTABLE = (SIZE_PROPS | LIMIT_PROPS | set(INHERITABLE)
            | {"mountpoint", "canmount", "copies"})
ALIASES = {"avail": "available", "refer": "referenced", "reserv": "reservation",
           "refreserv": "refreservation", "volblock": "volblocksize",
           "recsize": "recordsize", "lused": "logicalused",
           "lrefer": "logicalreferenced", "usedsnap": "usedbysnapshots",
           "usedds": "usedbydataset", "usedchild": "usedbychildren",
           "usedrefreserv": "usedbyrefreservation", "compress": "compression",
           "ratio": "compressratio", "refratio": "refcompressratio"}
COMPRESSION = {"on", "off", "lzjb", "gzip", "zle", "lz4",
               *(f"gzip-{n}" for n in range(1, 10))}
# The order "zfs get all" prints.
ALL_PROPS = ["type", "creation", "used", "available", "referenced", "compressratio",
             "mounted", "origin", "quota", "reservation", "volsize", "volblocksize",
             "recordsize", "mountpoint", "sharenfs", "checksum", "compression",
             "atime", "devices", "exec", "setuid", "readonly", "zoned", "snapdir",
             "canmount", "copies", "guid", "primarycache", "secondarycache",
             "usedbysnapshots", "usedbydataset", "usedbychildren",
             "usedbyrefreservation", "logbias", "dedup", "sync", "refcompressratio",
             "written", "logicalused", "logicalreferenced", "filesystem_limit",
             "snapshot_limit", "refquota", "refreservation", "userrefs", "clones",
             "createtxg", "receive_resume_token", "encryption"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+(/[A-Za-z0-9_.:\-]+)*$")
_SNAP_RE = re.compile(r"^[A-Za-z0-9_.:%\-]+$")
_USER_PROP_RE = re.compile(r"^[a-z0-9_.\-]+:[A-Za-z0-9_.:\-]+$")


def canonical_prop(prop: str) -> str:
    return ALIASES.get(prop, prop)


def is_user_prop(prop: str) -> bool:
    return ":" in prop


def parse_size(text, prop="size") -> int:
    """'10G', '512m', '1.5T', '4096', 'none' (0) -> bytes."""
    if isinstance(text, bool):
        raise ZFSError(f"bad numeric value '{text}'")
    if isinstance(text, int):
        return text
    value = str(text).strip()
    if value.lower() == "none":
        return 0
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([bkmgtpe]?)(?:i?b)?", value, re.I)
    if not match:
        raise ZFSError(f"bad numeric value '{value}'")
    number = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
    shift = "BKMGTPE".index(match.group(2).upper() or "B") * 10
    return int(number * (1 << shift))


def nicenum(num: int) -> str:
    """illumos zfs_nicenum: 0, 512, 1K, 1.50G, 10.5G, 123G."""
    num = int(num)
    index = 0
    value = num
    while value >= 1024 and index < 6:
        value //= 1024
        index += 1
    unit = "BKMGTPE"[index]
    if index == 0:
        return f"{num}"
    divisor = 1 << (10 * index)
    if num % divisor == 0:
        return f"{num // divisor}{unit}"
    for precision in (2, 1, 0):
        text = f"{num / divisor:.{precision}f}{unit}"
        if len(text) <= 5:
            return text
    return text


def _split(name: str):
    dataset, _, snap = name.partition("@")
    return dataset, snap


def _parent(name: str):
    return name.rsplit("/", 1)[0] if "/" in name else None


def _new_guid() -> int:
    return random.SystemRandom().randrange(1, 1 << 63)


def _norm_path(path: str) -> str:
    norm = posixpath.normpath("/" + str(path).lstrip("/"))
    if norm in ("/", "//"):
        raise ZFSError(f"invalid file path '{path}'")
    return norm


def _is_zero(data) -> bool:
    # startswith compares any bytes-like object with memcmp (memoryview ==
    # bytes compares item by item).
    return len(data) <= BLOCK and _ZERO.startswith(data)


def _hash(data) -> bytes:
    # sha256 runs on the CPU's SHA extensions where present: about twice the
    # speed of blake2b here, and the block hash is on the install hot path.
    return hashlib.sha256(data).digest()


# -- the pool ---------------------------------------------------------------------

class Pool:
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

    # -- block store ----------------------------------------------------------
    def _put(self, data, digest=None) -> bytes | None:
        """Store a block (refcount +1); None for an all-zero block.

        ``digest`` is the block's hash when the caller computed it already.
        """
        if digest is None:
            if _is_zero(data):
                return None
            digest = _hash(data)
        db = self.db
        pack = self._pack
        if pack is not None:
            # A pack is open: try the insert first (one statement for a new block).
            if db.execute("INSERT OR IGNORE INTO zfs_store (hash, pack, offset, length, "
                          "refs) VALUES (?, ?, ?, ?, 1)",
                          (digest, pack[0], pack[2], len(data))).rowcount:
                self._write_pack(data)
                return digest
            db.execute("UPDATE zfs_store SET refs = refs + 1 WHERE hash=?", (digest,))
            return digest
        if db.execute("UPDATE zfs_store SET refs = refs + 1 WHERE hash=?",
                      (digest,)).rowcount:
            return digest
        self._append(digest, data)
        return digest

    def _ref(self, digest):
        if digest is not None:
            self.db.execute("UPDATE zfs_store SET refs = refs + 1 WHERE hash=?", (digest,))

    def _append(self, digest, data):
        db = self.db
        if self._pack is None:
            name = uuidlib.uuid4().hex
            fd = os.open(self._packdir() / f"{name}.pack",
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
            db.execute("INSERT INTO zfs_packs (name, size, live) VALUES (?, 0, 0)", (name,))
            self._pack = [name, fd, 0, 0]
        pack = self._pack
        db.execute("INSERT INTO zfs_store (hash, pack, offset, length, refs) "
                   "VALUES (?, ?, ?, ?, 1)", (digest, pack[0], pack[2], len(data)))
        self._write_pack(data)

    def _write_pack(self, data):
        """Append data to the open pack (its zfs_store row is the caller's)."""
        pack = self._pack
        fd = pack[1]
        written = os.write(fd, data)
        if written < len(data):
            view = memoryview(data)[written:]
            while view:
                view = view[os.write(fd, view):]
        pack[2] += len(data)
        pack[3] += len(data)

    def _flush_pack(self):
        """Add the bytes appended since the last flush to the pack's row."""
        pack = self._pack
        if pack is not None and pack[3]:
            self.db.execute("UPDATE zfs_packs SET size = size + ?, live = live + ? "
                            "WHERE name=?", (pack[3], pack[3], pack[0]))
            pack[3] = 0

    def _close_pack(self):
        if self._pack is not None:
            try:
                self._flush_pack()
            finally:
                os.close(self._pack[1])
                self._pack = None

    def _unref(self, digest):
        if digest is None:
            return
        db = self.db
        row = db.execute("SELECT pack, length, refs FROM zfs_store WHERE hash=?",
                         (digest,)).fetchone()
        if row is None:
            return
        if row["refs"] > 1:
            db.execute("UPDATE zfs_store SET refs = refs - 1 WHERE hash=?", (digest,))
        else:
            db.execute("DELETE FROM zfs_store WHERE hash=?", (digest,))
            db.execute("UPDATE zfs_packs SET live = live - ? WHERE name=?",
                       (row["length"], row["pack"]))

    def _get(self, digest, length=BLOCK) -> bytes:
        if digest is None:
            return _ZERO[:length]
        row = self.db.execute("SELECT pack, offset, length FROM zfs_store WHERE hash=?",
                              (digest,)).fetchone()
        if row is None:
            raise ZFSError("pool I/O error: missing block " + digest.hex())
        fd = self._readers.get(row["pack"])
        if fd is None:
            fd = os.open(self._packdir() / f"{row['pack']}.pack", os.O_RDONLY)
            self._readers[row["pack"]] = fd
        return os.pread(fd, row["length"], row["offset"])

    def close(self):
        for fd in self._readers.values():
            os.close(fd)
        self._readers.clear()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _collect(self):
        """Delete dead and orphaned packs, compact sparse ones (after commit)."""
        self.close()
        dead = []
        with self.host.locked():
            db = self.db
            packdir = self._packdir()
            known = {row["name"]: row for row in db.execute("SELECT * FROM zfs_packs")}
            for entry in os.listdir(packdir):
                stem = entry[:-5] if entry.endswith(".pack") else None
                if stem is not None and stem not in known:
                    os.unlink(packdir / entry)   # orphan of a rolled-back session
            for name, row in known.items():
                if row["live"] <= 0:
                    db.execute("DELETE FROM zfs_packs WHERE name=?", (name,))
                    db.execute("DELETE FROM zfs_store WHERE pack=?", (name,))
                    dead.append(name)
                elif row["size"] >= _COMPACT_MIN and row["live"] * 2 < row["size"]:
                    for block in db.execute("SELECT hash, refs FROM zfs_store WHERE "
                                            "pack=?", (name,)).fetchall():
                        data = self._get(block["hash"])
                        db.execute("DELETE FROM zfs_store WHERE hash=?", (block["hash"],))
                        self._append(block["hash"], data)
                        db.execute("UPDATE zfs_store SET refs=? WHERE hash=?",
                                   (block["refs"], block["hash"]))
                    db.execute("DELETE FROM zfs_packs WHERE name=?", (name,))
                    dead.append(name)
            self._close_pack()
        self.close()
        for name in dead:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._packdir() / f"{name}.pack")

    # -- layers -----------------------------------------------------------------
    def _new_layer(self, parent, owner, refer=0) -> int:
        cur = self.db.execute("INSERT INTO zfs_layers (parent, owner, refer) VALUES (?,?,?)",
                              (parent, owner, refer))
        return cur.lastrowid

    def _chain(self, layer) -> list:
        rows = self.db.execute(
            "WITH RECURSIVE c(id, parent, depth) AS ("
            " SELECT id, parent, 0 FROM zfs_layers WHERE id=?"
            " UNION ALL SELECT l.id, l.parent, c.depth + 1 FROM zfs_layers l"
            " JOIN c ON l.id = c.parent) SELECT id FROM c ORDER BY depth", (layer,))
        return [row[0] for row in rows]

    def _free_layer(self, layer):
        db = self.db
        for row in db.execute("SELECT hash FROM zfs_bmap WHERE layer=? AND hash IS NOT NULL",
                              (layer,)).fetchall():
            self._unref(row[0])
        db.execute("DELETE FROM zfs_bmap WHERE layer=?", (layer,))
        db.execute("DELETE FROM zfs_files WHERE layer=?", (layer,))
        db.execute("DELETE FROM zfs_layers WHERE id=?", (layer,))

    def _recount(self, ds_id):
        """Recompute written/shadowed of a dataset's own layers."""
        db = self.db
        row = db.execute("SELECT layer FROM zfs_datasets WHERE id=?", (ds_id,)).fetchone()
        chain = self._chain(row["layer"])
        owners = dict(db.execute(
            f"SELECT id, owner FROM zfs_layers WHERE id IN ({_marks(chain)})", chain
        ).fetchall())
        own = [layer for layer in chain if owners.get(layer) == ds_id]
        for position, layer in enumerate(own):
            written = db.execute("SELECT COALESCE(SUM(size), 0) FROM zfs_bmap WHERE layer=?",
                                 (layer,)).fetchone()[0]
            above = own[:position]
            shadowed = 0
            if above:
                shadowed = db.execute(
                    "SELECT COALESCE(SUM(a.size), 0) FROM zfs_bmap a WHERE a.layer=? AND "
                    f"EXISTS (SELECT 1 FROM zfs_bmap b WHERE b.layer IN ({_marks(above)}) "
                    "AND b.path=a.path AND b.idx=a.idx)", [layer, *above]).fetchone()[0]
            db.execute("UPDATE zfs_layers SET written=?, shadowed=? WHERE id=?",
                       (written, shadowed, layer))

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
                local["refreservation"] = volsize
            ds_id = self._insert_ds(name, "volume", volsize, local)
            self._apply_props(ds_id, props, verb="create")
            self._check_reservation(ds_id, f"cannot create '{name}': out of space")

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
            self._check_reservation(ds_id, f"cannot create '{target}': out of space")

    # -- properties ---------------------------------------------------------------
    def _apply_props(self, ds_id, props, verb="set"):
        for prop, value in props.items():
            self._set_prop_id(ds_id, canonical_prop(prop), value, verb=verb)

    def set_prop(self, name, prop, value):
        prop = canonical_prop(prop)
        with self._mutating():
            if "@" in name:
                srow = self._snap(name)
                if not is_user_prop(prop):
                    raise ZFSError(f"cannot set property for '{name}': this property can "
                                   "not be modified for snapshots")
                props = json.loads(srow["props"])
                props[prop] = str(value)
                self.db.execute("UPDATE zfs_snapshots SET props=? WHERE id=?",
                                (json.dumps(props), srow["id"]))
                return
            row = self._ds(name)
            self._set_prop_id(row["id"], prop, value)

    def _set_prop_id(self, ds_id, prop, value, verb="set"):
        db = self.db
        row = db.execute("SELECT * FROM zfs_datasets WHERE id=?", (ds_id,)).fetchone()
        name = row["name"]
        fail = (f"cannot set property for '{name}'" if verb == "set"
                else f"cannot create '{name}'")
        props = json.loads(row["props"])
        if is_user_prop(prop):
            if not _USER_PROP_RE.match(prop):
                raise ZFSError(f"{fail}: invalid property '{prop}'")
            props[prop] = str(value)
        elif prop in READONLY:
            raise ZFSError(f"{fail}: '{prop}' is readonly")
        elif prop not in SETTABLE:
            raise ZFSError(f"{fail}: invalid property '{prop}'")
        elif prop in ("volsize", "volblocksize") and row["type"] != "volume":
            raise ZFSError(f"{fail}: '{prop}' does not apply to datasets of this type")
        elif prop == "recordsize" and row["type"] != "filesystem":
            raise ZFSError(f"{fail}: '{prop}' does not apply to datasets of this type")
        elif prop == "volsize":
            self._resize_volume(row, parse_size(value), fail)
            return
        elif prop == "volblocksize":
            if verb == "set":
                raise ZFSError(f"{fail}: 'volblocksize' is readonly")
            props[prop] = parse_size(value)
        elif prop in SIZE_PROPS:
            if str(value).lower() == "auto" and prop == "refreservation":
                if row["type"] != "volume":
                    raise ZFSError(f"{fail}: 'refreservation=auto' only applies to volumes")
                size = row["volsize"]
            else:
                size = _size_or_fail(value, fail)
            if prop in ("quota", "refquota") and size and verb == "set":
                info = self._space()["ds"][name]
                current = info["used"] if prop == "quota" else info["referenced"]
                if size < current:
                    raise ZFSError(f"{fail}: size is less than current used or "
                                   "reserved space")
            if prop == "recordsize" and (size & (size - 1) or not 512 <= size <= 1 << 20):
                raise ZFSError(f"{fail}: 'recordsize' must be power of 2 from 512B to 1M")
            props[prop] = size
        elif prop in LIMIT_PROPS:
            if str(value).lower() == "none":
                props.pop(prop, None)
            else:
                try:
                    props[prop] = int(value)
                except ValueError:
                    raise ZFSError(f"{fail}: bad numeric value '{value}'") from None
        elif prop == "compression":
            if str(value) not in COMPRESSION:
                raise ZFSError(f"{fail}: 'compression' must be one of "
                               "'on | off | lzjb | gzip | gzip-[1-9] | zle | lz4'")
            props[prop] = str(value)
        elif prop == "mountpoint" and row["type"] == "volume":
            raise ZFSError(f"{fail}: 'mountpoint' does not apply to datasets of this type")
        else:
            props[prop] = str(value)
        db.execute("UPDATE zfs_datasets SET props=? WHERE id=?", (json.dumps(props), ds_id))
        if prop in ("refreservation", "reservation") and verb == "set":
            self._check_reservation(ds_id, f"{fail}: out of space")

    def _resize_volume(self, row, size, fail):
        props = json.loads(row["props"])
        blocksize = props.get("volblocksize", 8192)
        if size <= 0:
            raise ZFSError(f"{fail}: volume size cannot be zero")
        if size % blocksize:
            raise ZFSError(f"{fail}: volume size must be a multiple of volume block size")
        old = row["volsize"]
        if size < old:
            mut = _Mutator(self, row, budget=False)
            first = size // BLOCK
            vis = mut.visible("", first, old // BLOCK + 1)
            for idx in sorted(vis):
                entry = vis[idx]
                if idx == first and size % BLOCK:
                    data = bytearray(self._get(entry[1], BLOCK) if entry[1] else BLOCK)
                    data[size % BLOCK:] = bytes(len(data) - size % BLOCK)
                    mut.put("", idx, bytes(data[:BLOCK]), entry)
                elif idx >= first + (1 if size % BLOCK else 0):
                    mut.put("", idx, b"", entry)
            mut.finish()
        if props.get("refreservation") == old:
            props["refreservation"] = size
        self.db.execute("UPDATE zfs_datasets SET volsize=?, props=? WHERE id=?",
                        (size, json.dumps(props), row["id"]))
        self._check_reservation(row["id"], f"{fail}: out of space")

    def inherit_prop(self, name, prop):
        prop = canonical_prop(prop)
        with self._mutating():
            row = self._ds(name)
            if prop in READONLY or (prop not in SETTABLE and not is_user_prop(prop)):
                raise ZFSError(f"'{prop}' property cannot be inherited")
            if prop in ("quota", "refquota", "reservation", "refreservation", "volsize",
                        "volblocksize"):
                raise ZFSError(f"'{prop}' property cannot be inherited\nuse 'zfs set "
                               f"{prop}=none' to clear")
            props = json.loads(row["props"])
            props.pop(prop, None)
            self.db.execute("UPDATE zfs_datasets SET props=? WHERE id=?",
                            (json.dumps(props), row["id"]))

    # -- accounting -----------------------------------------------------------------
    def _space_ready(self) -> bool:
        if self._space_ok:
            return True
        db = self.db
        ready = db.execute("SELECT 1 FROM zfs_meta WHERE key='space'").fetchone() is not None
        # Remember it only once committed: a rebuild in a transaction that
        # rolls back leaves the table as it was.
        self._space_ok = ready and not db.in_transaction
        return ready

    def _ensure_space(self):
        """Rebuild zfs_space from scratch if this host predates it (under the lock)."""
        if self._space_ready():
            return
        db = self.db
        full = self._space_full()["ds"]
        db.execute("DELETE FROM zfs_space")
        ids = {name: entry["id"] for name, entry in full.items()}
        # Parents first, with child = 0: the insert trigger adds each row's
        # charge to its parent, the update trigger carries it further up.
        for name in sorted(full, key=lambda n: n.count("/")):
            entry = full[name]
            written = entry["usedbydataset"] + entry["usedbysnapshots"]
            db.execute("INSERT INTO zfs_space (ds, parent, w, s, refres, res, child) "
                       "VALUES (?,?,?,?,?,?,0)",
                       (entry["id"], ids.get(_parent(name)), written,
                        entry["usedbysnapshots"], entry["refreservation"],
                        entry["reservation"]))
        db.execute("INSERT OR REPLACE INTO zfs_meta (key, value) VALUES ('space', 1)")

    def _space_full(self) -> dict:
        """Space accounting of every dataset, computed from the layers and props
        (what zfs_space holds incrementally; used for a host that predates it)."""
        db = self.db
        own = {row[0]: (row[1], row[2]) for row in db.execute(
            "SELECT owner, SUM(written), SUM(shadowed) FROM zfs_layers GROUP BY owner")}
        rows = db.execute("SELECT d.id, d.name, d.type, d.props, d.volsize, l.refer, "
                          "l.written FROM zfs_datasets d JOIN zfs_layers l "
                          "ON l.id = d.layer").fetchall()
        info = {}
        for row in rows:
            written, shadowed = own.get(row["id"], (0, 0))
            props = json.loads(row["props"])
            ubd = written - shadowed
            refres = props.get("refreservation", 0)
            info[row["name"]] = {
                "id": row["id"], "usedbydataset": ubd, "usedbysnapshots": shadowed,
                "usedbychildren": 0, "usedbyrefreservation": max(0, refres - ubd),
                "referenced": row["refer"], "written": row["written"],
                "quota": props.get("quota", 0), "refquota": props.get("refquota", 0),
                "reservation": props.get("reservation", 0), "refreservation": refres}
        for name in sorted(info, key=lambda n: -n.count("/")):
            entry = info[name]
            entry["used"] = (entry["usedbydataset"] + entry["usedbysnapshots"]
                             + entry["usedbychildren"] + entry["usedbyrefreservation"])
            parent = _parent(name)
            if parent in info:
                info[parent]["usedbychildren"] += max(entry["used"], entry["reservation"])
        root = info.get(self.name)
        pool_used = max(root["used"], root["reservation"]) if root else 0
        return {"ds": info, "pool_used": pool_used}

    def _space(self, root=None) -> dict:
        """{"ds": name -> accounting entry, "pool_used": bytes}.

        Entries are fetched per dataset on first access (O(1) each); with
        ``root`` the entries of that subtree are fetched in one query.
        """
        if not self._space_ready():
            return self._space_full()
        info = _SpaceInfo(self)
        if root is not None:
            info.prefetch(root)
        row = self.db.execute(
            f"SELECT {_CHARGE.format(t='sp')} FROM zfs_space sp "
            "JOIN zfs_datasets d ON d.id = sp.ds WHERE d.name=?", (self.name,)).fetchone()
        return {"ds": info, "pool_used": row[0] if row else 0}

    def _available(self, name, space) -> int:
        info = space["ds"]
        own = info[name]
        reserved = own["usedbyrefreservation"]
        avail = self.size - space["pool_used"] + reserved
        current = name
        while current:
            entry = info[current]
            if entry["quota"]:
                avail = min(avail, entry["quota"] - entry["used"] + reserved)
            current = _parent(current)
        if own["refquota"]:
            avail = min(avail, own["refquota"] - own["referenced"])
        return max(0, avail)

    def _budget(self, name):
        """(bytes the dataset may still grow by, limited-by-quota?)."""
        space = self._space()
        info = space["ds"]
        pool_room = self.size - space["pool_used"] + info[name]["usedbyrefreservation"]
        avail = self._available(name, space)
        return avail, avail < pool_room

    def pool_stats(self) -> dict:
        self._flush_pack()
        alloc = self.db.execute("SELECT COALESCE(SUM(live), 0) FROM zfs_packs").fetchone()[0]
        size = self.size
        return {"name": self.name, "size": size, "alloc": alloc, "free": size - alloc,
                "cap": (alloc * 100) // size if size else 0, "health": "ONLINE",
                "dedup": 1.0, "frag": 0}

    # -- property views ---------------------------------------------------------------
    def _inherited(self, name, prop):
        """(value, source) looking up the tree for an inheritable/user prop."""
        current = _parent(name)
        while current:
            row = self.db.execute("SELECT props FROM zfs_datasets WHERE name=?",
                                  (current,)).fetchone()
            if row is not None:
                props = json.loads(row["props"])
                if prop in props:
                    return props[prop], f"inherited from {current}"
            current = _parent(current)
        return None, None

    def _mountpoint(self, name, props):
        if "mountpoint" in props:
            return props["mountpoint"], "local"
        current, suffix = name, ""
        while True:
            parent = _parent(current)
            suffix = "/" + current.rsplit("/", 1)[-1] + suffix
            if parent is None:
                return "/" + name, "default"
            row = self.db.execute("SELECT props FROM zfs_datasets WHERE name=?",
                                  (parent,)).fetchone()
            pprops = json.loads(row["props"]) if row else {}
            if "mountpoint" in pprops:
                base = pprops["mountpoint"]
                if base in ("none", "legacy"):
                    return base, f"inherited from {parent}"
                rel = name[len(parent):]
                return base.rstrip("/") + rel, f"inherited from {parent}"
            current = parent

    def _partial_token(self, name, ds_id):
        row = self.db.execute("SELECT state FROM zfs_partial WHERE target=? OR ds=? "
                              "LIMIT 1", (name, ds_id)).fetchone()
        if row is None:
            return "-"
        return json.loads(row["state"]).get("token", "-")

    def _ds_view(self, row, space):
        name = row["name"]
        props = json.loads(row["props"])
        info = space["ds"][name]
        vol = row["type"] == "volume"
        values, sources = {}, {}

        def put(prop, value, source="-"):
            values[prop] = value
            sources[prop] = source

        put("name", name)
        put("type", row["type"])
        put("creation", row["creation"])
        for prop in ("used", "referenced", "usedbysnapshots", "usedbydataset",
                     "usedbychildren", "usedbyrefreservation", "written"):
            put(prop, info[prop])
        put("available", self._available(name, space))
        put("logicalused", info["used"])
        put("logicalreferenced", info["referenced"])
        put("compressratio", "1.00x")
        put("refcompressratio", "1.00x")
        for prop in ("quota", "refquota", "reservation", "refreservation"):
            put(prop, props.get(prop, 0), "local" if prop in props else "default")
        if vol:
            put("volsize", row["volsize"], "local")
            put("volblocksize", props.get("volblocksize", 8192), "default")
            put("recordsize", "-")
            put("mountpoint", "-")
            put("mounted", "-")
        else:
            put("volsize", "-")
            put("volblocksize", "-")
            put("recordsize", props.get("recordsize", BLOCK),
                "local" if "recordsize" in props else "default")
            put("mountpoint", *self._mountpoint(name, props))
            put("mounted", "no" if props.get("canmount") == "off" else "yes")
        put("canmount", props.get("canmount", "on"),
            "local" if "canmount" in props else "default")
        put("copies", props.get("copies", "1"), "local" if "copies" in props else "default")
        put("sharenfs", "off", "default")
        for prop, default in INHERITABLE.items():
            if prop in props:
                put(prop, props[prop], "local")
            else:
                value, source = self._inherited(name, prop)
                put(prop, value if value is not None else default, source or "default")
        origin = "-"
        if row["origin"] is not None:
            srow = self._snap_by_id(row["origin"])
            origin = self._snapname(srow) if srow else "-"
        put("origin", origin)
        put("guid", row["guid"])
        put("createtxg", row["createtxg"])
        put("userrefs", "-")
        put("clones", "-")
        put("receive_resume_token", self._partial_token(name, row["id"]))
        put("encryption", "off", "default")
        for prop in ("snapshot_limit", "filesystem_limit"):
            put(prop, props.get(prop, "none"), "local" if prop in props else "default")
        user = {}
        current = _parent(name)
        chain = []
        while current:
            chain.append(current)
            current = _parent(current)
        for ancestor in reversed(chain):
            arow = self.db.execute("SELECT props FROM zfs_datasets WHERE name=?",
                                   (ancestor,)).fetchone()
            if arow:
                for key, value in json.loads(arow["props"]).items():
                    if is_user_prop(key):
                        user[key] = (value, f"inherited from {ancestor}")
        for key, value in props.items():
            if is_user_prop(key):
                user[key] = (value, "local")
        for key in sorted(user):
            put(key, *user[key])
        return values, sources

    def _snap_view(self, srow):
        db = self.db
        values, sources = {}, {}

        def put(prop, value, source="-"):
            values[prop] = value
            sources[prop] = source

        layer = db.execute("SELECT * FROM zfs_layers WHERE id=?", (srow["layer"],)).fetchone()
        child = db.execute("SELECT id FROM zfs_layers WHERE parent=? AND owner=?",
                           (srow["layer"], srow["ds"])).fetchone()
        unique = 0
        if child is not None:
            unique = db.execute(
                "SELECT COALESCE(SUM(a.size), 0) FROM zfs_bmap a JOIN zfs_bmap b "
                "ON b.layer=? AND b.path=a.path AND b.idx=a.idx WHERE a.layer=?",
                (child[0], srow["layer"])).fetchone()[0]
        name = self._snapname(srow)
        put("name", name)
        put("type", "snapshot")
        put("creation", srow["creation"])
        put("used", unique)
        put("available", "-")
        put("referenced", layer["refer"])
        put("logicalused", unique)
        put("logicalreferenced", layer["refer"])
        put("written", layer["written"])
        put("compressratio", "1.00x")
        put("refcompressratio", "1.00x")
        for prop in ("usedbysnapshots", "usedbydataset", "usedbychildren",
                     "usedbyrefreservation", "quota", "refquota", "reservation",
                     "refreservation", "recordsize", "volblocksize", "mountpoint",
                     "mounted", "origin", "receive_resume_token", "snapshot_limit",
                     "filesystem_limit", "canmount"):
            put(prop, "-")
        put("volsize", srow["volsize"] if srow["dstype"] == "volume" else "-")
        put("guid", srow["guid"])
        put("createtxg", srow["createtxg"])
        holds = db.execute("SELECT COUNT(*) FROM zfs_holds WHERE snap=?",
                           (srow["id"],)).fetchone()[0]
        put("userrefs", holds)
        clones = self._clones_of(srow["id"])
        put("clones", ",".join(clones) if clones else "-")
        put("encryption", "off", "default")
        put("devices", "on", "default")
        for key, value in sorted(json.loads(srow["props"]).items()):
            put(key, value, "local")
        return values, sources

    def _view(self, name, space=None):
        if "@" in name:
            return self._snap_view(self._snap(name))
        row = self._ds(name)
        return self._ds_view(row, space or self._space())

    def get_props(self, name) -> dict:
        return self._view(name)[0]

    def get_sources(self, name) -> dict:
        return self._view(name)[1]

    def list(self, root=None, types=("filesystem", "volume"), recursive=True, depth=None):
        types = set(types)
        if root is not None and "@" in root:
            return [self._snap_view(self._snap(root))[0]]
        root = root or self.name
        space = self._space(root=root if (recursive or depth) else None)
        top = self._ds(root)
        base_depth = root.count("/")
        rows = [top] + (self._descendants(root) if recursive or depth else [])
        result = []
        for row in _tree_order(rows):
            level = row["name"].count("/") - base_depth
            if depth is not None and level > depth:
                continue
            if row["type"] in types:
                result.append(self._ds_view(row, space)[0])
            if "snapshot" in types and (depth is None or level + 1 <= depth
                                        or (level == 0 and not recursive and not depth)):
                for srow in self._ds_snaps(row["id"]):
                    result.append(self._snap_view(srow)[0])
        return result

    def snapshots(self, name) -> list:
        row = self._ds(name)
        return [self._snap_view(srow)[0] for srow in self._ds_snaps(row["id"])]

    # -- holds ------------------------------------------------------------------
    def hold(self, tag, snapshot):
        with self._mutating():
            srow = self._snap(snapshot)
            if self.db.execute("SELECT 1 FROM zfs_holds WHERE snap=? AND tag=?",
                               (srow["id"], tag)).fetchone():
                raise ZFSError(f"cannot hold snapshot '{snapshot}': tag already exists "
                               "on this dataset")
            self.db.execute("INSERT INTO zfs_holds (snap, tag, created) VALUES (?,?,?)",
                            (srow["id"], tag, int(time.time())))

    def release(self, tag, snapshot):
        with self._mutating():
            srow = self._snap(snapshot)
            if not self.db.execute("DELETE FROM zfs_holds WHERE snap=? AND tag=?",
                                   (srow["id"], tag)).rowcount:
                raise ZFSError(f"cannot release hold from snapshot '{snapshot}': no such "
                               "tag on this dataset")

    def holds(self, snapshot) -> list:
        return [tag for tag, _ in self.holds_detail(snapshot)]

    def holds_detail(self, snapshot) -> list:
        srow = self._snap(snapshot)
        return [(row["tag"], row["created"]) for row in self.db.execute(
            "SELECT tag, created FROM zfs_holds WHERE snap=? ORDER BY tag", (srow["id"],))]

    # -- destroy ---------------------------------------------------------------
    def destroy(self, name, recursive=False, dependents=False, force=False,
                dry_run=False) -> list:
        with self._mutating():
            if "@" in name:
                plan = self._plan_destroy_snapshot(name, recursive, dependents)
            else:
                plan = self._plan_destroy_dataset(name, recursive, dependents)
            names = [self._snapname(r) if kind == "snap" else r["name"]
                     for kind, r in plan]
            if dry_run:
                return names
            for kind, row in plan:
                snaps = [row] if kind == "snap" else self._ds_snaps(row["id"])
                for srow in snaps:
                    if self.db.execute("SELECT 1 FROM zfs_holds WHERE snap=?",
                                       (srow["id"],)).fetchone():
                        raise ZFSError(f"cannot destroy snapshot {self._snapname(srow)}: "
                                       "dataset is busy")
            for kind, row in plan:
                if kind == "snap":
                    self._destroy_snapshot(row)
                else:
                    self._destroy_dataset(row)
            return names

    def _plan_destroy_snapshot(self, name, recursive, dependents):
        dataset, snap = _split(name)
        root = self._ds(dataset, verb="destroy")
        rows = [root] + (self._descendants(dataset) if recursive else [])
        snaps = []
        for row in rows:
            srow = self.db.execute(
                "SELECT s.*, d.name AS dsname, d.type AS dstype FROM zfs_snapshots s "
                "JOIN zfs_datasets d ON d.id=s.ds WHERE s.ds=? AND s.snapname=?",
                (row["id"], snap)).fetchone()
            if srow is not None:
                snaps.append(srow)
        if not snaps:
            if recursive:
                raise ZFSError(f"could not find any snapshots to destroy; check snapshot "
                               "names.")
            raise ZFSError(f"cannot destroy '{name}': dataset does not exist")
        plan = []
        for srow in snaps:
            clones = self._clones_of(srow["id"])
            if clones and not dependents:
                raise ZFSError(f"cannot destroy '{self._snapname(srow)}': snapshot has "
                               "dependent clones\nuse '-R' to destroy the following "
                               "datasets:\n" + "\n".join(
                                   self._expand_names(clones)))
            for clone in clones:
                plan.extend(self._plan_destroy_dataset(clone, True, True))
            plan.append(("snap", srow))
        return _dedupe_plan(plan)

    def _expand_names(self, clones):
        out = []
        for clone in clones:
            for kind, row in self._plan_destroy_dataset(clone, True, True):
                out.append(self._snapname(row) if kind == "snap" else row["name"])
        return out

    def _plan_destroy_dataset(self, name, recursive, dependents):
        row = self._ds(name, verb="destroy")
        if name == self.name:
            raise ZFSError(f"cannot destroy '{name}': operation does not apply to pools\n"
                           f"use 'zfs destroy -r {name}' to destroy all datasets in the "
                           f"pool\nuse 'zpool destroy {name}' to destroy the pool itself")
        kind_word = "volume" if row["type"] == "volume" else "filesystem"
        descendants = self._descendants(name)
        if not recursive:
            snaps = self._ds_snaps(row["id"])
            if descendants or snaps:
                listing = [self._snapname(s) for s in snaps]
                for child in descendants:
                    listing.append(child["name"])
                    listing.extend(self._snapname(s) for s in self._ds_snaps(child["id"]))
                raise ZFSError(f"cannot destroy '{name}': {kind_word} has children\n"
                               "use '-r' to destroy the following datasets:\n"
                               + "\n".join(listing))
        plan = []
        order = list(reversed(_tree_order([row] + descendants)))
        inside = {r["name"] for r in order}
        outside_clones = []
        for drow in order:
            for srow in self._ds_snaps(drow["id"]):
                for clone in self._clones_of(srow["id"]):
                    if clone not in inside:
                        outside_clones.append(clone)
        if outside_clones and not dependents:
            raise ZFSError(f"cannot destroy '{name}': {kind_word} has dependent clones\n"
                           "use '-R' to destroy the following datasets:\n"
                           + "\n".join(self._expand_names(outside_clones)))
        for clone in outside_clones:
            plan.extend(self._plan_destroy_dataset(clone, True, True))
        # Clones inside the tree must go before the snapshots they depend on.
        for drow in order:
            plan.append(("ds", drow))
        plan = _dedupe_plan(plan)
        # Datasets within the tree that are clones of snapshots within it first.
        return _order_for_clones(self, plan)

    def _destroy_snapshot(self, srow):
        db = self.db
        # There may be several layers with this parent only if clones exist,
        # and those were destroyed first.
        child = db.execute("SELECT id FROM zfs_layers WHERE parent=? AND owner=?",
                           (srow["layer"], srow["ds"])).fetchone()
        layer = srow["layer"]
        if child is None:   # should not happen; drop the layer's data
            self._free_layer(layer)
        else:
            child = child[0]
            for row in db.execute(
                    "SELECT a.hash FROM zfs_bmap a JOIN zfs_bmap b ON b.layer=? AND "
                    "b.path=a.path AND b.idx=a.idx WHERE a.layer=? AND a.hash IS NOT NULL",
                    (child, layer)).fetchall():
                self._unref(row[0])
            db.execute("DELETE FROM zfs_bmap WHERE layer=? AND EXISTS (SELECT 1 FROM "
                       "zfs_bmap b WHERE b.layer=? AND b.path=zfs_bmap.path AND "
                       "b.idx=zfs_bmap.idx)", (layer, child))
            db.execute("UPDATE zfs_bmap SET layer=? WHERE layer=?", (child, layer))
            db.execute("DELETE FROM zfs_files WHERE layer=? AND EXISTS (SELECT 1 FROM "
                       "zfs_files b WHERE b.layer=? AND b.path=zfs_files.path)",
                       (layer, child))
            db.execute("UPDATE zfs_files SET layer=? WHERE layer=?", (child, layer))
            parent = db.execute("SELECT parent FROM zfs_layers WHERE id=?",
                                (layer,)).fetchone()[0]
            db.execute("UPDATE zfs_layers SET parent=? WHERE id=?", (parent, child))
            db.execute("DELETE FROM zfs_layers WHERE id=?", (layer,))
        db.execute("DELETE FROM zfs_holds WHERE snap=?", (srow["id"],))
        db.execute("DELETE FROM zfs_snapshots WHERE id=?", (srow["id"],))
        self._recount(srow["ds"])

    def _destroy_dataset(self, row):
        db = self.db
        for srow in self._ds_snaps(row["id"]):
            db.execute("DELETE FROM zfs_holds WHERE snap=?", (srow["id"],))
        db.execute("DELETE FROM zfs_snapshots WHERE ds=?", (row["id"],))
        for layer in db.execute("SELECT id FROM zfs_layers WHERE owner=?",
                                (row["id"],)).fetchall():
            self._free_layer(layer[0])
        db.execute("DELETE FROM zfs_partial WHERE ds=? OR target=?", (row["id"], row["name"]))
        db.execute("DELETE FROM zfs_datasets WHERE id=?", (row["id"],))

    # -- rollback ---------------------------------------------------------------
    def rollback(self, snapshot, destroy_newer=False, destroy_clones=False):
        with self._mutating():
            if "@" not in snapshot:
                raise ZFSError(f"cannot open '{snapshot}': operation only applies to "
                               "snapshots")
            srow = self._snap(snapshot)
            row = self._ds(srow["dsname"])
            newer = [s for s in self._ds_snaps(row["id"])
                     if (s["createtxg"], s["id"]) > (srow["createtxg"], srow["id"])]
            if newer and not (destroy_newer or destroy_clones):
                raise ZFSError(f"cannot rollback to '{snapshot}': more recent snapshots or "
                               "bookmarks exist\nuse '-r' to force deletion of the "
                               "following snapshots and bookmarks:\n"
                               + "\n".join(self._snapname(s) for s in newer))
            clones = [c for s in newer for c in self._clones_of(s["id"])]
            if clones and not destroy_clones:
                raise ZFSError(f"cannot rollback to '{snapshot}': clones of previous "
                               "snapshots exist\nuse '-R' to force deletion of the "
                               "following clones and dependents:\n"
                               + "\n".join(self._expand_names(clones)))
            for clone in clones:
                self.destroy(clone, recursive=True, dependents=True)
            for s in newer:
                if self.db.execute("SELECT 1 FROM zfs_holds WHERE snap=?",
                                   (s["id"],)).fetchone():
                    raise ZFSError(f"cannot destroy snapshot {self._snapname(s)}: "
                                   "dataset is busy")
            self._rollback_to(row, srow, newer)

    def _rollback_to(self, row, srow, newer=()):
        db = self.db
        layers = []
        top = row["layer"]
        chain = self._chain(top)
        for layer in chain:
            if layer == srow["layer"]:
                break
            layers.append(layer)
        for s in newer:
            db.execute("DELETE FROM zfs_holds WHERE snap=?", (s["id"],))
            db.execute("DELETE FROM zfs_snapshots WHERE id=?", (s["id"],))
        for layer in layers:
            self._free_layer(layer)
        refer = db.execute("SELECT refer FROM zfs_layers WHERE id=?",
                           (srow["layer"],)).fetchone()[0]
        new = self._new_layer(srow["layer"], row["id"], refer)
        db.execute("UPDATE zfs_datasets SET layer=?, volsize=? WHERE id=?",
                   (new, srow["volsize"] if row["type"] == "volume" else None, row["id"]))
        self._recount(row["id"])

    def _discard_changes(self, row):
        """Roll back to the latest snapshot (or origin), dropping the top layer."""
        latest = self._latest_snap(row)
        if latest is None:
            top = row["layer"]
            self._free_layer(top)
            new = self._new_layer(None, row["id"], 0)
            self.db.execute("UPDATE zfs_datasets SET layer=? WHERE id=?", (new, row["id"]))
            return
        if latest["ds"] != row["id"]:   # clone without snapshots: back to origin
            db = self.db
            self._free_layer(row["layer"])
            refer = db.execute("SELECT refer FROM zfs_layers WHERE id=?",
                               (latest["layer"],)).fetchone()[0]
            new = self._new_layer(latest["layer"], row["id"], refer)
            db.execute("UPDATE zfs_datasets SET layer=? WHERE id=?", (new, row["id"]))
            return
        self._rollback_to(row, latest)

    def _modified(self, row) -> bool:
        db = self.db
        return bool(db.execute("SELECT 1 FROM zfs_bmap WHERE layer=? LIMIT 1",
                               (row["layer"],)).fetchone()
                    or db.execute("SELECT 1 FROM zfs_files WHERE layer=? LIMIT 1",
                                  (row["layer"],)).fetchone())

    # -- rename / promote --------------------------------------------------------
    def rename(self, old, new, parents=False):
        with self._mutating():
            db = self.db
            if "@" in old or "@" in new:
                ods, osnap = _split(old)
                nds, nsnap = _split(new)
                if nds and nds != ods or "@" not in old:
                    raise ZFSError(f"cannot rename to '{new}': snapshots must be part of "
                                   "same dataset")
                srow = self._snap(old, verb="rename")
                if not nsnap or not _SNAP_RE.match(nsnap):
                    raise ZFSError(f"cannot rename to '{new}': invalid snapshot name")
                if db.execute("SELECT 1 FROM zfs_snapshots WHERE ds=? AND snapname=?",
                              (srow["ds"], nsnap)).fetchone():
                    raise ZFSError(f"cannot rename to '{ods}@{nsnap}': dataset already "
                                   "exists")
                db.execute("UPDATE zfs_snapshots SET snapname=? WHERE id=?",
                           (nsnap, srow["id"]))
                return
            row = self._ds(old, verb="rename")
            if old == self.name:
                raise ZFSError(f"cannot rename '{old}': operation does not apply to pools")
            if new.startswith(old + "/"):
                raise ZFSError(f"cannot rename to '{new}': New dataset name cannot be a "
                               "descendant of current dataset name")
            self._check_new(new, parents, verb="rename to")
            rows = [row] + self._descendants(old)
            for drow in rows:
                db.execute("UPDATE zfs_datasets SET name=? WHERE id=?",
                           (new + drow["name"][len(old):], drow["id"]))
            parent = db.execute("SELECT id FROM zfs_datasets WHERE name=?",
                                (_parent(new),)).fetchone()
            db.execute("UPDATE zfs_space SET parent=? WHERE ds=?",
                       (parent[0] if parent else None, row["id"]))
            for prow in db.execute("SELECT target FROM zfs_partial").fetchall():
                target = prow[0]
                if target == old or target.startswith(old + "/"):
                    db.execute("UPDATE zfs_partial SET target=? WHERE target=?",
                               (new + target[len(old):], target))

    def promote(self, clone):
        with self._mutating():
            db = self.db
            crow = self._ds(clone)
            if crow["origin"] is None:
                raise ZFSError(f"cannot promote '{clone}': not a cloned filesystem")
            origin = self._snap_by_id(crow["origin"])
            orow = self._ds(origin["dsname"])
            moving = [s for s in self._ds_snaps(orow["id"])
                      if (s["createtxg"], s["id"]) <= (origin["createtxg"], origin["id"])]
            own = {s["snapname"] for s in self._ds_snaps(crow["id"])}
            for s in moving:
                if s["snapname"] in own:
                    raise ZFSError(f"cannot promote '{clone}': snapshot name '{s['snapname']}'"
                                   f" from origin conflicts with '{clone}@{s['snapname']}' "
                                   "from target")
            layers = self._chain(origin["layer"])
            owners = dict(db.execute(
                f"SELECT id, owner FROM zfs_layers WHERE id IN ({_marks(layers)})",
                layers).fetchall())
            for layer in layers:
                if owners.get(layer) == orow["id"]:
                    db.execute("UPDATE zfs_layers SET owner=? WHERE id=?", (crow["id"], layer))
            for s in moving:
                db.execute("UPDATE zfs_snapshots SET ds=? WHERE id=?", (crow["id"], s["id"]))
            db.execute("UPDATE zfs_datasets SET origin=? WHERE id=?",
                       (orow["origin"], crow["id"]))
            db.execute("UPDATE zfs_datasets SET origin=? WHERE id=?", (origin["id"], orow["id"]))
            self._recount(crow["id"])
            self._recount(orow["id"])

    # -- data -----------------------------------------------------------------------
    def _data_ds(self, name, want):
        row = self._ds(name)
        if row["type"] != want:
            raise ZFSError(f"cannot access '{name}': not a {want}")
        return row

    def _read_view(self, name):
        """(chain, type, volsize) for a dataset or snapshot."""
        if "@" in name:
            srow = self._snap(name)
            return self._chain(srow["layer"]), srow["dstype"], srow["volsize"]
        row = self._ds(name)
        return self._chain(row["layer"]), row["type"], row["volsize"]

    def write_file(self, dataset, path, data):
        path = _norm_path(path)
        data = bytes(data)
        with self._mutating():
            row = self._data_ds(dataset, "filesystem")
            mut = _Mutator(self, row, error=f"cannot write to '{dataset}'")
            mut.write_file(path, data)
            mut.finish()

    def remove_file(self, dataset, path):
        path = _norm_path(path)
        with self._mutating():
            row = self._data_ds(dataset, "filesystem")
            mut = _Mutator(self, row, error=f"cannot remove from '{dataset}'")
            if mut.file_size(path) is None:
                raise ZFSError(f"cannot remove '{path}': No such file or directory")
            mut.remove_file(path)
            mut.finish()

    def read_file(self, dataset, path):
        path = _norm_path(path)
        chain, type_, _ = self._read_view(dataset)
        if type_ != "filesystem":
            raise ZFSError(f"cannot access '{dataset}': not a filesystem")
        size = _file_size(self.db, chain, path)
        if size is None:
            return None
        vis = _visible(self.db, chain, path)
        out = bytearray(size)
        for idx, (_, digest, _) in vis.items():
            start = idx * BLOCK
            if start >= size or digest is None:
                continue
            block = self._get(digest)
            out[start:start + len(block)] = block[:size - start]
        return bytes(out)

    def list_files(self, dataset) -> list:
        chain, type_, _ = self._read_view(dataset)
        if type_ != "filesystem":
            raise ZFSError(f"cannot access '{dataset}': not a filesystem")
        depth = {layer: i for i, layer in enumerate(chain)}
        best = {}
        for row in self.db.execute(
                f"SELECT layer, path, size FROM zfs_files WHERE layer IN ({_marks(chain)})",
                chain):
            d = depth[row[0]]
            if row[1] not in best or best[row[1]][0] > d:
                best[row[1]] = (d, row[2])
        return sorted(path for path, (_, size) in best.items() if size >= 0)

    def write_volume(self, dataset, offset, data):
        data = bytes(data)
        with self._mutating():
            row = self._data_ds(dataset, "volume")
            if offset < 0 or offset + len(data) > row["volsize"]:
                raise ZFSError(f"cannot write to '{dataset}': write beyond end of volume "
                               f"({offset + len(data)} > {row['volsize']})")
            if not data:
                return
            mut = _Mutator(self, row, error=f"cannot write to '{dataset}'")
            first, last = offset // BLOCK, (offset + len(data) - 1) // BLOCK
            vis = mut.visible("", first, last)
            for idx in range(first, last + 1):
                start = idx * BLOCK
                length = min(BLOCK, row["volsize"] - start)
                lo = max(offset, start)
                hi = min(offset + len(data), start + length)
                piece = data[lo - offset:hi - offset]
                if hi - lo == length:
                    block = piece
                else:
                    entry = vis.get(idx)
                    old = bytearray(self._get(entry[1], length) if entry and entry[1]
                                    else length)
                    old[lo - start:hi - start] = piece
                    block = bytes(old)
                mut.put("", idx, block, vis.get(idx))
            mut.finish()

    def read_volume(self, dataset, offset=0, length=None) -> bytes:
        chain, type_, volsize = self._read_view(dataset)
        if type_ != "volume":
            raise ZFSError(f"cannot access '{dataset}': not a volume")
        if length is None:
            length = volsize - offset
        length = max(0, min(length, volsize - offset))
        if length == 0:
            return b""
        first, last = offset // BLOCK, (offset + length - 1) // BLOCK
        vis = _visible(self.db, chain, "", first, last)
        out = bytearray(length)
        for idx, (_, digest, _) in vis.items():
            if digest is None:
                continue
            block = self._get(digest)
            start = idx * BLOCK
            lo, hi = max(offset, start), min(offset + length, start + len(block))
            if hi > lo:
                out[lo - offset:hi - offset] = block[lo - start:hi - start]
        return bytes(out)

    # -- send -----------------------------------------------------------------------
    def send(self, snapshot, out, *, incremental_from=None, intermediates=False,
             replicate=False, props=False, resume_token=None) -> int:
        desc, sections, skip = self._send_plan(snapshot, incremental_from, intermediates,
                                               replicate, props, resume_token)
        writer = _StreamOut(out)
        self._emit(writer, desc, sections, skip)
        return writer.count

    def send_size(self, snapshot=None, *, incremental_from=None, intermediates=False,
                  replicate=False, props=False, resume_token=None) -> int:
        desc, sections, skip = self._send_plan(snapshot, incremental_from, intermediates,
                                               replicate, props, resume_token)
        writer = _StreamOut(None)
        self._emit(writer, desc, sections, skip)
        return writer.count

    def send_summary(self, snapshot=None, **kwargs) -> dict:
        """What ``zfs send -nP`` describes: kind, from, to and size."""
        desc, _, _ = self._send_plan(snapshot, kwargs.get("incremental_from"),
                                     kwargs.get("intermediates", False),
                                     kwargs.get("replicate", False),
                                     kwargs.get("props", False),
                                     kwargs.get("resume_token"))
        return {"kind": "incremental" if desc["fromguid"] else "full",
                "from": desc["fromname"], "to": desc["toname"],
                "size": self.send_size(snapshot, **kwargs)}

    def _send_plan(self, snapshot, incremental_from, intermediates, replicate, props,
                   resume_token):
        skip = None
        if resume_token:
            token = decode_token(resume_token)
            srow = self.db.execute(
                "SELECT s.*, d.name AS dsname, d.type AS dstype FROM zfs_snapshots s "
                "JOIN zfs_datasets d ON d.id=s.ds WHERE s.guid=?",
                (token["toguid"],)).fetchone()
            if srow is None:
                raise ZFSError(f"cannot resume send: '{token.get('toname')}' used in the "
                               "initial send no longer exists")
            snapshot = self._snapname(srow)
            incremental_from = None
            if token.get("fromguid"):
                frow = self.db.execute(
                    "SELECT s.*, d.name AS dsname FROM zfs_snapshots s JOIN zfs_datasets d "
                    "ON d.id=s.ds WHERE s.guid=?", (token["fromguid"],)).fetchone()
                if frow is None:
                    raise ZFSError(f"cannot resume send: '{token.get('fromname')}' used in "
                                   "the initial send no longer exists")
                incremental_from = self._snapname(frow)
            intermediates = token.get("intermediates", False)
            replicate = token.get("replicate", False)
            props = token.get("props", False)
            skip = token
        if not snapshot or "@" not in snapshot:
            raise ZFSError(f"cannot send '{snapshot}': operation only applies to snapshots"
                           if snapshot else "missing snapshot argument")
        top_name, snapname = _split(snapshot)
        top_snap = self._snap(snapshot)
        top = self._ds(top_name)
        base_name = None
        base_full = None
        if incremental_from:
            fds, fsnap = _split(incremental_from if "@" in incremental_from
                                else "@" + incremental_from)
            if not fsnap:
                raise ZFSError(f"cannot send '{snapshot}': invalid incremental source")
            base_name = fsnap
            base_full = f"{fds or top_name}@{fsnap}"
            base = self._snap(base_full)
            if base["ds"] == top["id"] and (base["createtxg"], base["id"]) >= (
                    top_snap["createtxg"], top_snap["id"]):
                raise ZFSError(f"cannot send '{snapshot}': incremental source "
                               f"({base_full}) is not earlier than it")
            if base["layer"] not in self._chain(top_snap["layer"]):
                raise ZFSError(f"cannot send '{snapshot}': incremental source ({base_full}) "
                               "is not an ancestor snapshot")
        rows = [top] + (self._descendants(top_name) if replicate else [])
        sections = []
        dsdesc = []
        for row in _tree_order(rows):
            snaps = self._ds_snaps(row["id"])
            names = [s["snapname"] for s in snaps]
            if snapname not in names:
                continue
            upto = snaps[:names.index(snapname) + 1]
            rel = row["name"][len(top_name) + 1:]
            local = json.loads(row["props"])
            dsdesc.append({"name": rel, "type": row["type"], "volsize": row["volsize"],
                           "props": local if (props or replicate) else {},
                           "snapshots": [s["guid"] for s in upto]})
            if base_full is not None and row["id"] == top["id"]:
                base = self._snap(base_full)
                chain = [base] + ([s for s in upto if (s["createtxg"], s["id"]) > (
                    base["createtxg"], base["id"])] if intermediates else [upto[-1]])
                if base["ds"] != row["id"] and intermediates:
                    chain = [base] + upto   # a clone: every own snapshot after origin
                pairs = list(zip(chain, chain[1:]))
            elif base_name is not None and base_name in names:
                position = names.index(base_name)
                later = upto[position + 1:] if intermediates else [upto[-1]]
                chain = [snaps[position]] + later
                pairs = list(zip(chain, chain[1:]))
            elif replicate:
                pairs = [(None, upto[0])] + list(zip(upto, upto[1:]))
            else:
                pairs = [(None, upto[-1])]
            for base_row, snap_row in pairs:
                sections.append({"ds": row, "rel": rel, "base": base_row, "snap": snap_row})
        base_guid = self._snap(base_full)["guid"] if base_full else None
        desc = {"version": 1, "toname": snapshot, "toguid": top_snap["guid"],
                "fromname": base_full, "fromguid": base_guid,
                "replicate": bool(replicate), "intermediates": bool(intermediates),
                "props": bool(props), "datasets": dsdesc, "resume": None}
        if skip is not None:
            desc["resume"] = {"section": skip["section"], "records": skip["records"],
                              "begun": skip.get("begun", False)}
        return desc, sections, desc["resume"]

    def _section_records(self, base, snap):
        chain = self._chain(snap["layer"])
        if base is not None:
            layers = chain[:chain.index(base["layer"])]
        else:
            layers = chain
        if not layers:
            return
        depth = {layer: i for i, layer in enumerate(layers)}
        files = {}
        for layer, path, size in self.db.execute(
                f"SELECT layer, path, size FROM zfs_files WHERE layer IN ({_marks(layers)})",
                layers):
            if path not in files or files[path][0] > depth[layer]:
                files[path] = (depth[layer], size)
        blocks = {}
        for layer, path, idx, digest, size in self.db.execute(
                "SELECT layer, path, idx, hash, size FROM zfs_bmap "
                f"WHERE layer IN ({_marks(layers)})", layers):
            key = (path, idx)
            current = blocks.get(key)
            if current is None or current[0] > depth[layer]:
                blocks[key] = (depth[layer], digest, size)
        by_path = {}
        for (path, idx), (_, digest, size) in blocks.items():
            if base is None and digest is None:
                continue
            by_path.setdefault(path, []).append((idx, digest, size))
        for path in sorted(set(by_path) | set(files)):
            if path in files:
                size = files[path][1]
                if base is None and size < 0:
                    continue
                yield ("F", path, size)
            for idx, digest, size in sorted(by_path.get(path, ()), key=lambda b: b[0]):
                yield ("B", path, idx, digest, size)

    def _emit(self, writer, desc, sections, skip):
        writer.header(desc)
        for number, section in enumerate(sections):
            if skip is not None and number < skip["section"]:
                continue
            offset = skip["records"] if skip is not None and number == skip["section"] else 0
            snap, base = section["snap"], section["base"]
            head = {"ds": section["rel"], "snap": snap["snapname"], "guid": snap["guid"],
                    "creation": snap["creation"], "type": section["ds"]["type"],
                    "volsize": snap["volsize"], "props": json.loads(snap["props"]),
                    "fromguid": base["guid"] if base is not None else None,
                    "section": number, "resumed": offset if (
                        skip is not None and number == skip["section"] and skip["begun"])
                    else None}
            writer.record(b"S", json.dumps(head).encode())
            count = 0
            for record in self._section_records(base, snap):
                count += 1
                if count <= offset:
                    continue
                path = record[1].encode("utf-8", "surrogateescape")
                if record[0] == "F":
                    writer.record(b"F", struct.pack(">H", len(path)) + path
                                  + struct.pack(">q", record[2]))
                else:
                    prefix = struct.pack(">H", len(path)) + path + struct.pack(">Q", record[2])
                    if writer.dry:
                        writer.skip_record(len(prefix) + record[4])
                    else:
                        data = self._get(record[3], record[4]) if record[3] else b""
                        writer.record(b"B", prefix + data)
            writer.record(b"E", struct.pack(">Q", count))
        writer.finish()

    # -- receive ---------------------------------------------------------------------
    def receive(self, target, stream, *, force=False, unmounted=False, resumable=False,
                exclude_props=(), set_props=None) -> list:
        reader = _StreamIn(stream)
        try:
            magic = reader.read(len(MAGIC))
        except _StreamBroken:
            raise ZFSError("cannot receive: failed to read from stream") from None
        if magic not in (MAGIC, MAGIC_V1):
            raise ZFSError("cannot receive: invalid stream (bad magic number)")
        reader.start(magic)
        try:
            length = struct.unpack(">I", reader.read(4))[0]
            desc = json.loads(reader.read(length))
        except (_StreamBroken, ValueError):
            raise ZFSError("cannot receive: invalid stream (failed to read header)") from None
        receiver = _Receiver(self, target, desc, reader, force=force, resumable=resumable,
                             exclude_props=exclude_props, set_props=set_props or {})
        outcome = None
        with self._mutating():
            try:
                receiver.run()
            except _StreamBroken:
                if resumable and receiver.can_resume():
                    token = receiver.save_partial()
                    outcome = ZFSError(
                        f"cannot receive {receiver.kind} stream: checksum mismatch or "
                        "incomplete stream.\nPartially received snapshot is saved.\n"
                        "A resuming stream can be generated on the sending system by "
                        f"running:\n    zfs send -t {token}")
                else:
                    raise ZFSError(f"cannot receive {receiver.kind} stream: checksum "
                                   "mismatch or incomplete stream") from None
        if outcome is not None:
            raise outcome
        return receiver.created

    def abort_receive(self, target):
        with self._mutating():
            db = self.db
            row = db.execute("SELECT * FROM zfs_partial WHERE target=?", (target,)).fetchone()
            if row is None:
                dsrow = db.execute("SELECT id FROM zfs_datasets WHERE name=?",
                                   (target,)).fetchone()
                if dsrow is None:
                    raise ZFSError(f"cannot open '{target}': dataset does not exist")
                row = db.execute("SELECT * FROM zfs_partial WHERE ds=?",
                                 (dsrow["id"],)).fetchone()
            if row is None:
                raise ZFSError(f"'{target}' does not have any resumable receive state "
                               "to abort")
            state = json.loads(row["state"])
            db.execute("DELETE FROM zfs_partial WHERE target=?", (row["target"],))
            if row["ds"] is not None:
                dsrow = db.execute("SELECT * FROM zfs_datasets WHERE id=?",
                                   (row["ds"],)).fetchone()
                if dsrow is not None:
                    if state.get("new") and not self._ds_snaps(dsrow["id"]):
                        self._destroy_dataset(dsrow)
                    else:
                        self._discard_changes(dsrow)


# -- helpers ------------------------------------------------------------------------

_SPACE_COLUMNS = (
    "SELECT d.id, d.name, l.refer, l.written AS top, sp.w, sp.s, sp.refres, sp.res, "
    "sp.child, COALESCE(json_extract(d.props, '$.quota'), 0) AS quota, "
    "COALESCE(json_extract(d.props, '$.refquota'), 0) AS refquota "
    "FROM zfs_datasets d JOIN zfs_space sp ON sp.ds = d.id "
    "JOIN zfs_layers l ON l.id = d.layer ")


class _SpaceInfo(dict):
    """name -> accounting entry, read from zfs_space when first asked for."""

    def __init__(self, pool):
        super().__init__()
        self.db = pool.db

    def __missing__(self, name):
        row = self.db.execute(_SPACE_COLUMNS + "WHERE d.name=?", (name,)).fetchone()
        if row is None:
            raise KeyError(name)
        entry = self[name] = _space_entry(row)
        return entry

    def prefetch(self, root):
        for row in self.db.execute(
                _SPACE_COLUMNS + "WHERE d.name=? OR d.name LIKE ? ESCAPE '\\'",
                (root, _like_prefix(root + "/"))):
            self[row["name"]] = _space_entry(row)


def _space_entry(row) -> dict:
    written, shadowed, refres = row["w"], row["s"], row["refres"]
    ubd = written - shadowed
    urefres = max(0, refres - ubd)
    return {"id": row["id"], "usedbydataset": ubd, "usedbysnapshots": shadowed,
            "usedbychildren": row["child"], "usedbyrefreservation": urefres,
            "referenced": row["refer"], "written": row["top"], "quota": row["quota"],
            "refquota": row["refquota"], "reservation": row["res"],
            "refreservation": refres,
            "used": ubd + shadowed + row["child"] + urefres}


def _marks(items) -> str:
    return ",".join("?" * len(items)) or "NULL"


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _size_or_fail(value, fail):
    try:
        return parse_size(value)
    except ZFSError as exc:
        raise ZFSError(f"{fail}: {exc.message}") from None


def _tree_order(rows):
    """Parents before children, siblings by name."""
    return sorted(rows, key=lambda r: r["name"].split("/"))


def _dedupe_plan(plan):
    seen, out = set(), []
    for kind, row in plan:
        key = (kind, row["id"])
        if key not in seen:
            seen.add(key)
            out.append((kind, row))
    return out


def _order_for_clones(pool, plan):
    """Destroy datasets whose origin is a snapshot of another planned dataset first."""
    snap_owner = {}
    for kind, row in plan:
        if kind == "ds":
            for srow in pool._ds_snaps(row["id"]):
                snap_owner[srow["id"]] = row["id"]
    remaining = list(plan)
    ordered = []
    while remaining:
        progressed = False
        for entry in list(remaining):
            kind, row = entry
            if kind != "ds":
                ordered.append(entry)
                remaining.remove(entry)
                progressed = True
                continue
            blockers = [r for k, r in remaining if k == "ds" and r is not row and (
                r["name"].startswith(row["name"] + "/")
                or snap_owner.get(r["origin"]) == row["id"])]
            if not blockers:
                ordered.append(entry)
                remaining.remove(entry)
                progressed = True
        if not progressed:   # a cycle cannot happen; be safe
            ordered.extend(remaining)
            break
    return ordered


def _visible(db, chain, path, lo=None, hi=None) -> dict:
    """idx -> (layer, hash, size): the nearest entry in the chain."""
    depth = {layer: i for i, layer in enumerate(chain)}
    sql = (f"SELECT layer, idx, hash, size FROM zfs_bmap WHERE layer IN ({_marks(chain)}) "
           "AND path=?")
    args = [*chain, path]
    if lo is not None:
        sql += " AND idx BETWEEN ? AND ?"
        args += [lo, hi]
    best = {}
    for layer, idx, digest, size in db.execute(sql, args):
        current = best.get(idx)
        if current is None or depth[current[0]] > depth[layer]:
            best[idx] = (layer, digest, size)
    return best


def _file_size(db, chain, path):
    depth = {layer: i for i, layer in enumerate(chain)}
    best = None
    for layer, size in db.execute(
            f"SELECT layer, size FROM zfs_files WHERE layer IN ({_marks(chain)}) AND path=?",
            [*chain, path]):
        if best is None or depth[best[0]] > depth[layer]:
            best = (layer, size)
    if best is None or best[1] < 0:
        return None
    return best[1]


class _Mutator:
    """Writes into a dataset's top layer, keeping the space accounting."""

    def __init__(self, pool, row, error="cannot write", budget=True, receive_kind=None):
        self.pool = pool
        self.db = pool.db
        self.ds = row["id"]
        self.name = row["name"]
        self.top = row["layer"]
        self.chain = pool._chain(self.top)
        owners = dict(self.db.execute(
            f"SELECT id, owner FROM zfs_layers WHERE id IN ({_marks(self.chain)})",
            self.chain).fetchall())
        self.own = {layer for layer in self.chain if owners.get(layer) == self.ds}
        self.d_written = 0
        self.d_refer = 0
        self.shadow = {}
        self.error = error
        self.receive_kind = receive_kind
        self.known = None      # (path, idx) -> entry, when the caller knows every entry
        self.limit = None
        if budget:
            self.limit, self.by_quota = pool._budget(self.name)

    def visible(self, path, lo=None, hi=None):
        return _visible(self.db, self.chain, path, lo, hi)

    def _over(self):
        if self.receive_kind:
            raise ZFSError(f"cannot receive {self.receive_kind} stream: out of space")
        raise ZFSError(f"{self.error}: " + ("disk quota exceeded" if self.by_quota
                                           else "out of space"))

    def put(self, path, idx, data, prev):
        """Make block (path, idx) hold data (b"" or zeros = hole)."""
        digest = None if _is_zero(data) else _hash(data)
        size = len(data) if digest is not None else 0
        if (prev[1] if prev is not None else None) == digest:
            return      # same content (or a hole over nothing)
        if digest is not None:
            self.pool._put(data, digest)
        if prev is not None:
            layer, old_digest, old_size = prev
            self.d_refer -= old_size
            if layer == self.top:
                self.pool._unref(old_digest)
                self.d_written -= old_size
            elif layer in self.own and old_size:
                self.shadow[layer] = self.shadow.get(layer, 0) + old_size
        self.db.execute("INSERT OR REPLACE INTO zfs_bmap (layer, path, idx, hash, size) "
                        "VALUES (?,?,?,?,?)", (self.top, path, idx, digest, size))
        if self.known is not None:
            self.known[(path, idx)] = (self.top, digest, size)
        self.d_written += size
        self.d_refer += size
        if self.limit is not None and self.d_written > 0 and self.d_written > self.limit:
            self._over()

    def file_size(self, path):
        return _file_size(self.db, self.chain, path)

    def set_file(self, path, size):
        self.db.execute("INSERT OR REPLACE INTO zfs_files (layer, path, size) VALUES (?,?,?)",
                        (self.top, path, size))

    def write_file(self, path, data):
        vis = self.visible(path)
        nblocks = (len(data) + BLOCK - 1) // BLOCK
        for idx in range(nblocks):
            self.put(path, idx, data[idx * BLOCK:(idx + 1) * BLOCK], vis.get(idx))
        for idx, entry in vis.items():
            if idx >= nblocks:
                self.put(path, idx, b"", entry)
        self.set_file(path, len(data))

    def truncate_file(self, path, size):
        vis = self.visible(path)
        nblocks = (size + BLOCK - 1) // BLOCK
        for idx, entry in vis.items():
            if idx >= nblocks:
                self.put(path, idx, b"", entry)

    def remove_file(self, path):
        for idx, entry in self.visible(path).items():
            self.put(path, idx, b"", entry)
        self.set_file(path, -1)

    def finish(self):
        db = self.db
        db.execute("UPDATE zfs_layers SET written = written + ?, refer = refer + ? "
                   "WHERE id=?", (self.d_written, self.d_refer, self.top))
        for layer, amount in self.shadow.items():
            db.execute("UPDATE zfs_layers SET shadowed = shadowed + ? WHERE id=?",
                       (amount, layer))
        self.d_written = self.d_refer = 0
        self.shadow = {}


# -- stream codec ---------------------------------------------------------------------

class _StreamOut:
    def __init__(self, out):
        self.out = out
        self.dry = out is None
        self.count = 0
        self.chain = 0          # see STREAM FORMAT

    def _raw(self, data):
        if not self.dry:
            self.out.write(data)
        self.count += len(data)

    def header(self, desc):
        body = json.dumps(desc, sort_keys=True).encode()
        head = MAGIC + struct.pack(">I", len(body)) + body
        self.chain = zlib.crc32(head)
        self._raw(head)

    def record(self, kind, payload):
        head = kind + struct.pack(">I", len(payload))
        tail = struct.pack(">I", zlib.crc32(payload, zlib.crc32(head)))
        if not self.dry:
            self.chain = zlib.crc32(tail, self.chain)
        self._raw(head + payload + tail)

    def skip_record(self, payload_len):
        self.count += 9 + payload_len

    def finish(self):
        self.record(b"Z", struct.pack(">I", self.chain))
        if not self.dry and hasattr(self.out, "flush"):
            self.out.flush()


class _StreamIn:
    """Reads a stream: ``read`` for the header, then ``record`` per record.

    A source with ``read_view(size)`` (exactly ``size`` bytes unless at the
    end, as bytes or a memoryview) hands record payloads over without a copy.
    """

    def __init__(self, stream):
        self.stream = stream
        self._view = getattr(stream, "read_view", None)
        self.sha = None         # version 1: sha256 of every byte read
        self.chain = 0          # version 2: see STREAM FORMAT
        self.count = 0
        self._header = []

    def start(self, magic):
        """Set the stream version from the magic (already read)."""
        header = b"".join(self._header)
        if magic == MAGIC_V1:
            self.sha = hashlib.sha256(header)
        else:
            self.chain = zlib.crc32(header)
        self._header = None

    def _take(self, size, view=False):
        if view and self._view is not None:
            data = self._view(size)
        else:
            chunks = []
            need = size
            while need > 0:
                chunk = self.stream.read(need)
                if not chunk:
                    break
                chunks.append(chunk)
                need -= len(chunk)
            data = b"".join(chunks)
        if len(data) != size:
            raise _StreamBroken("truncated")
        if self.sha is not None:
            self.sha.update(data)
        self.count += size
        return data

    def read(self, size):
        data = self._take(size)
        if self._header is not None:
            self._header.append(data)
        elif self.sha is None:
            self.chain = zlib.crc32(data, self.chain)
        return data

    def record(self):
        """(kind, payload, what the Z record must hold if this is it)."""
        if self.sha is not None:
            before = self.sha.copy().digest()
        else:
            before = struct.pack(">I", self.chain)
        head = self._take(5)
        kind, length = head[:1], struct.unpack(">I", head[1:])[0]
        if kind not in b"SFBEZ" or length > (BLOCK + 70000):
            raise _StreamBroken("bad record")
        payload = self._take(length, view=True)
        tail = self._take(4)
        if zlib.crc32(payload, zlib.crc32(head)) != struct.unpack(">I", tail)[0]:
            raise _StreamBroken("checksum")
        if self.sha is None:
            self.chain = zlib.crc32(tail, self.chain)
        return kind, payload, before


def encode_token(data: dict) -> str:
    raw = json.dumps(data, sort_keys=True).encode()
    body = base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")
    return f"1-{zlib.crc32(raw):08x}-{len(raw):x}-{body}"


def decode_token(token: str) -> dict:
    try:
        version, crc, _, body = token.split("-", 3)
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if version != "1" or int(crc, 16) != zlib.crc32(raw):
            raise ValueError
        return json.loads(raw)
    except (ValueError, zlib.error, TypeError):
        raise ZFSError("cannot resume send: resume token is corrupt or truncated") from None


class _Receiver:
    def __init__(self, pool, target, desc, reader, *, force, resumable, exclude_props,
                 set_props):
        self.pool = pool
        self.db = pool.db
        self.target, self.target_snap = _split(target)
        self.desc = desc
        self.reader = reader
        self.force = force
        self.resumable = resumable
        self.exclude = set(exclude_props)
        self.set_props = dict(set_props)
        self.created = []
        self.kind = "incremental" if desc.get("fromguid") else "new filesystem"
        self.section = None        # current S header
        self.section_no = desc["resume"]["section"] if desc.get("resume") else 0
        self.records = 0           # records applied in the current section
        self.mut = None
        self.cur_row = None
        self.new_ds = False
        self.touched = []          # (rel, dataset id) received into
        self.prior = None
        self.forced_top = False

    # names ---------------------------------------------------------------------------
    def _name(self, rel):
        return self.target if not rel else f"{self.target}/{rel}"

    def _dsdesc(self, rel):
        for entry in self.desc.get("datasets", []):
            if entry["name"] == rel:
                return entry
        return {"name": rel, "props": {}, "snapshots": []}

    # driving -------------------------------------------------------------------------
    def run(self):
        pool, db = self.pool, self.db
        partial = db.execute("SELECT * FROM zfs_partial WHERE target=?",
                             (self.target,)).fetchone()
        resume = self.desc.get("resume")
        if resume:
            if partial is None:
                raise ZFSError(f"cannot receive resume stream: destination '{self.target}'"
                               " has no partially-complete state from \"zfs receive -s\"")
            state = json.loads(partial["state"])
            if (state.get("toguid") != self.desc["toguid"]
                    or state.get("section") != resume["section"]
                    or state.get("records") != resume["records"]):
                raise ZFSError("cannot receive resume stream: the resume token does not "
                               f"match the partially received state of '{self.target}'")
            self.prior = state
            self.created = list(state.get("created", []))
            db.execute("DELETE FROM zfs_partial WHERE target=?", (self.target,))
        elif partial is not None:
            raise ZFSError(f"cannot receive {self.kind} stream: destination "
                           f"{self.target} contains partially-complete state from "
                           "\"zfs receive -s\".")
        elif not self.desc.get("fromguid"):
            if pool.exists(self.target):
                if not self.force:
                    raise ZFSError(f"cannot receive new filesystem stream: destination "
                                   f"'{self.target}' exists\nmust specify -F to overwrite it")
                pool.destroy(self.target, recursive=True)
                self.forced_top = True
            parent = _parent(self.target)
            if parent is None or not pool.exists(parent):
                raise ZFSError(f"cannot receive new filesystem stream: parent of "
                               f"'{self.target}' does not exist")
        else:
            if pool.type_of(self.target) not in ("filesystem", "volume"):
                raise ZFSError(f"cannot receive incremental stream: destination "
                               f"'{self.target}' does not exist")
        while True:
            # payload may be a memoryview (see _StreamIn.record)
            kind, payload, before = self.reader.record()
            if kind == b"S":
                self.begin(json.loads(bytes(payload)))
            elif kind == b"F":
                self._need_section()
                (plen,) = struct.unpack_from(">H", payload)
                path = bytes(payload[2:2 + plen]).decode("utf-8", "surrogateescape")
                (size,) = struct.unpack_from(">q", payload, 2 + plen)
                self.apply_file(path, size)
            elif kind == b"B":
                self._need_section()
                (plen,) = struct.unpack_from(">H", payload)
                path = bytes(payload[2:2 + plen]).decode("utf-8", "surrogateescape")
                (idx,) = struct.unpack_from(">Q", payload, 2 + plen)
                data = payload[10 + plen:]
                self.mut.put(path, idx, data, self._prev(path, idx))
                self.records += 1
            elif kind == b"E":
                self._need_section()
                self.end()
            elif kind == b"Z":
                if bytes(payload) != before:
                    raise ZFSError(f"cannot receive {self.kind} stream: checksum mismatch "
                                   "or incomplete stream")
                break
        if self.section is not None:
            raise ZFSError(f"cannot receive {self.kind} stream: invalid stream "
                           "(section not ended)")
        self.apply_props()

    def _need_section(self):
        if self.section is None:
            raise _StreamBroken("record outside a section")

    def _prev(self, path, idx):
        if self.mut.known is not None:
            return self.mut.known.get((path, idx))
        return _visible(self.db, self.mut.chain, path, idx, idx).get(idx)

    def begin(self, head):
        pool, db = self.pool, self.db
        if self.section is not None:
            raise _StreamBroken("nested section")
        name = self._name(head["ds"])
        self.section = head
        self.section_no = head.get("section", self.section_no)
        self.records = 0
        self.new_ds = False
        kind = "incremental" if head["fromguid"] else "new filesystem"
        self.kind = kind
        if head.get("resumed") is not None:
            row = pool._ds(name)
            if self.prior is None or self.prior.get("ds") != row["id"]:
                raise ZFSError("cannot receive resume stream: partial state mismatch")
            self.records = head["resumed"]
            self.new_ds = bool(self.prior.get("new"))
        elif head["fromguid"] is None:
            if pool.exists(name):
                if not (self.force and name != self.target):
                    raise ZFSError(f"cannot receive new filesystem stream: destination "
                                   f"'{name}' exists\nmust specify -F to overwrite it")
                pool.destroy(name, recursive=True)
            parent = _parent(name)
            if parent is None or pool.type_of(parent) != "filesystem":
                raise ZFSError(f"cannot receive new filesystem stream: parent of '{name}' "
                               "does not exist")
            local = {}
            if head["type"] == "volume":
                blocksize = self._dsdesc(head["ds"]).get("props", {}).get("volblocksize")
                local["volblocksize"] = blocksize or 8192
            pool._insert_ds(name, head["type"], head.get("volsize"), local)
            self.created.append(name)
            self.new_ds = True
        else:
            row = pool._ds(name, verb="receive into") if pool.exists(name) else None
            if row is None:
                raise ZFSError(f"cannot receive incremental stream: destination '{name}' "
                               "does not exist")
            if self.force:
                if self.desc.get("replicate"):
                    keep = set(self._dsdesc(head["ds"]).get("snapshots", []))
                    keep.add(head["fromguid"])
                    for srow in reversed(pool._ds_snaps(row["id"])):
                        if srow["guid"] not in keep:
                            pool.destroy(pool._snapname(srow), dependents=False)
                    row = pool._ds(name)
                pool._discard_changes(row)
                row = pool._ds(name)
            latest = pool._latest_snap(row)
            if latest is None or latest["guid"] != head["fromguid"]:
                raise ZFSError(f"cannot receive incremental stream: most recent snapshot "
                               f"of {name} does not match incremental source")
            if pool._modified(row):
                raise ZFSError(f"cannot receive incremental stream: destination {name} has "
                               "been modified\nsince most recent snapshot")
            if db.execute("SELECT 1 FROM zfs_snapshots WHERE ds=? AND snapname=?",
                          (row["id"], self._snapname(head))).fetchone():
                raise ZFSError(f"cannot receive incremental stream: destination snapshot "
                               f"'{name}@{self._snapname(head)}' exists")
        row = pool._ds(name)
        if row["type"] == "volume" and head.get("volsize") and \
                row["volsize"] != head["volsize"]:
            db.execute("UPDATE zfs_datasets SET volsize=? WHERE id=?",
                       (head["volsize"], row["id"]))
            row = pool._ds(name)
        self.cur_row = row
        self.mut = _Mutator(pool, row, receive_kind=kind)
        if self.new_ds and head.get("resumed") is None and self.mut.chain == [row["layer"]]:
            # A new dataset's only layer starts empty: every block entry it
            # gets comes through this mutator, which tracks them.
            self.mut.known = {}

    def _snapname(self, head):
        if self.target_snap and not head["ds"] and not self.desc.get("replicate") \
                and not self.desc.get("intermediates"):
            return self.target_snap
        return head["snap"]

    def apply_file(self, path, size):
        if size < 0:
            if self.mut.file_size(path) is not None:
                self.mut.remove_file(path)
            else:
                self.mut.set_file(path, -1)
        else:
            old = self.mut.file_size(path)
            self.mut.set_file(path, size)
            if old is not None and size < old:
                self.mut.truncate_file(path, size)
        self.records += 1

    def end(self):
        pool = self.pool
        head = self.section
        self.mut.finish()
        row = pool._ds(self._name(head["ds"]))
        pool._take_snapshot(row, self._snapname(head), guid=head["guid"],
                            creation=head["creation"], props=head.get("props"))
        self.created.append(f"{row['name']}@{self._snapname(head)}")
        self.touched.append((head["ds"], row["id"]))
        self.section = None
        self.mut = None
        self.prior = None
        self.section_no += 1
        self.records = 0

    def apply_props(self):
        pool = self.pool
        seen = set()
        for rel, ds_id in self.touched + ([("", None)] if self.set_props else []):
            if rel in seen:
                continue
            seen.add(rel)
            name = self._name(rel)
            if not pool.exists(name):
                continue
            row = pool._ds(name)
            props = dict(self._dsdesc(rel).get("props") or {})
            props.pop("volblocksize", None)
            if not rel:
                props.update(self.set_props)
            for prop, value in props.items():
                prop = canonical_prop(prop)
                if prop in self.exclude or prop in READONLY:
                    continue
                pool._set_prop_id(row["id"], prop, value, verb="receive")

    # partial state -------------------------------------------------------------------
    def can_resume(self) -> bool:
        return self.section is not None or bool(self.touched) or self.prior is not None

    def save_partial(self) -> str:
        if self.mut is not None:
            self.mut.finish()
        ds_id = self.cur_row["id"] if self.section is not None else None
        token_data = {"toguid": self.desc["toguid"], "toname": self.desc["toname"],
                      "fromguid": self.desc.get("fromguid"),
                      "fromname": self.desc.get("fromname"),
                      "replicate": self.desc.get("replicate", False),
                      "intermediates": self.desc.get("intermediates", False),
                      "props": self.desc.get("props", False),
                      "section": self.section_no, "records": self.records,
                      "begun": self.section is not None,
                      "bytes": self.reader.count}
        token = encode_token(token_data)
        state = dict(token_data, token=token, ds=ds_id, new=self.new_ds,
                     created=self.created)
        self.db.execute("INSERT OR REPLACE INTO zfs_partial (target, ds, state) "
                        "VALUES (?,?,?)", (self.target, ds_id, json.dumps(state)))
        return token
