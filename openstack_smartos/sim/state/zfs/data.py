"""Files and volume bytes in datasets: reads through the layer chain, writes through a mutator."""

from __future__ import annotations

from openstack_smartos.sim.state.zfs.names import ZFSError, _marks, _norm_path
from openstack_smartos.sim.state.zfs.blocks import BLOCK, _hash, _is_zero


class DataMixin:
    """Files and volumes of a Pool."""

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
