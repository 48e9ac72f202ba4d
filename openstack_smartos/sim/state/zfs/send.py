"""zfs send: planning a stream's sections and emitting their records."""

from __future__ import annotations

import json
import struct

from openstack_smartos.sim.state.zfs.names import ZFSError, _marks, _split, _tree_order
from openstack_smartos.sim.state.zfs.stream import _StreamOut, decode_token


class SendMixin:
    """zfs send from a Pool."""

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



