"""Holds, destroy, rollback, rename and promote: snapshots, clones and their dependents."""

from __future__ import annotations

import time

from openstack_smartos.sim.state.zfs.names import (_SNAP_RE, ZFSError, _marks, _parent, _split,
                                                   _tree_order)


class SnapshotsMixin:
    """Holds, destroy, rollback, rename and promote on a Pool."""

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
