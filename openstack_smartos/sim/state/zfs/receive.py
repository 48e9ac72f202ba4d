"""zfs receive: applying a stream, resumable partial state and receive -A."""

from __future__ import annotations

import json
import struct

from openstack_smartos.sim.state.zfs.names import (READONLY, ZFSError, _parent, _split,
                                                   canonical_prop)
from openstack_smartos.sim.state.zfs.stream import (MAGIC, MAGIC_V1, _StreamBroken, _StreamIn,
                                                    encode_token)
from openstack_smartos.sim.state.zfs.data import _Mutator, _visible


class ReceiveMixin:
    """zfs receive into a Pool."""

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
