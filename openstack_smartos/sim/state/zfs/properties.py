"""Setting, inheriting and viewing dataset and snapshot properties; zfs list."""

from __future__ import annotations

import json

from openstack_smartos.sim.state.zfs.names import (_USER_PROP_RE, COMPRESSION, INHERITABLE,
                                                   LIMIT_PROPS, READONLY, SETTABLE, SIZE_PROPS,
                                                   ZFSError, _parent, _size_or_fail, _tree_order,
                                                   canonical_prop, is_user_prop, parse_size)
from openstack_smartos.sim.state.zfs.blocks import BLOCK
from openstack_smartos.sim.state.zfs.data import _Mutator
from openstack_smartos.sim.state.zfs.reservation import auto_refreservation


class PropertiesMixin:
    """Properties of a Pool's datasets and snapshots."""

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
                size = auto_refreservation(row["volsize"], props.get("volblocksize"),
                                           props.get("copies", 1))
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
            # libzfs zfs_setprop_error: ENOSPC on a (ref)reservation; nothing changes
            try:
                self._check_reservation(ds_id,
                                        f"{fail}: size is greater than available space")
            except ZFSError:
                db.execute("UPDATE zfs_datasets SET props=? WHERE id=?", (row["props"], ds_id))
                raise

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
        # libzfs zfs_add_synthetic_resv: a refreservation equal to the auto value
        # of the old size follows the new size; ENOSPC then reports the
        # refreservation (zfs_setprop_error).
        copies = props.get("copies", 1)
        follows = props.get("refreservation") == auto_refreservation(old, blocksize, copies)
        if follows:
            props["refreservation"] = auto_refreservation(size, blocksize, copies)
        self.db.execute("UPDATE zfs_datasets SET volsize=?, props=? WHERE id=?",
                        (size, json.dumps(props), row["id"]))
        if follows:
            try:
                self._check_reservation(row["id"],
                                        f"{fail}: size is greater than available space")
            except ZFSError:
                self.db.execute("UPDATE zfs_datasets SET volsize=?, props=? WHERE id=?",
                                (old, row["props"], row["id"]))
                raise

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



