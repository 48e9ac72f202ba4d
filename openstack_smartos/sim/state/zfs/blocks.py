"""The content-addressed block store (pack files, refcounts) and the layer chains of datasets."""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid as uuidlib

from openstack_smartos.sim.state.zfs.names import ZFSError, _marks


BLOCK = 128 * 1024
_ZERO = bytes(BLOCK)
_COMPACT_MIN = 8 << 20


def _is_zero(data) -> bool:
    # startswith compares any bytes-like object with memcmp (memoryview ==
    # bytes compares item by item).
    return len(data) <= BLOCK and _ZERO.startswith(data)


def _hash(data) -> bytes:
    # sha256 runs on the CPU's SHA extensions where present: about twice the
    # speed of blake2b here, and the block hash is on the install hot path.
    return hashlib.sha256(data).digest()


class BlockStoreMixin:
    """The block store and layers of a Pool."""

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
