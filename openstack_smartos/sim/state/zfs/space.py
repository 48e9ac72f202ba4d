"""Space accounting: used, available and quotas from the zfs_space table."""

from __future__ import annotations

import json

from openstack_smartos.sim.state.zfs.names import _like_prefix, _parent
from openstack_smartos.sim.state.zfs.schema import _CHARGE


class SpaceMixin:
    """Space accounting of a Pool."""

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
