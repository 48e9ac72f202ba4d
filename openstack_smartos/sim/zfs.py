"""The emulated ZFS pool: datasets, snapshots, clones and zvols holding real
bytes in a copy-on-write, content-addressed block store inside the host dir.

API CONTRACT (used by vmadm, imgadm and the zfs/zpool CLI emulation). All
sizes are bytes. Names are full ZFS names ("zones/<uuid>", "zones/<uuid>@final").
Every method must be called with ``host.locked()`` held for mutations.
Errors raise ``ZFSError(message)`` whose message is what illumos zfs prints
(e.g. "cannot open 'zones/x': dataset does not exist").

    pool = Pool(host)
    pool.ensure_pool()                         # creates the root dataset "zones"
    pool.exists(name) -> bool                  # dataset or snapshot
    pool.create_filesystem(name, props=None, parents=False)
    pool.create_volume(name, volsize, props=None, sparse=False, parents=False)
    pool.snapshot(name_at_snap, recursive=False)
    pool.clone(snapshot, target, props=None)   # O(1) whatever the size
    pool.destroy(name, recursive=False, dependents=False, force=False)
    pool.rename(old, new)
    pool.promote(clone)
    pool.hold(tag, snapshot) / pool.release(tag, snapshot) / pool.holds(snapshot) -> [tags]
    pool.get_props(name) -> dict               # every property, exact values
    pool.set_prop(name, prop, value)           # "quota", "refquota", "volsize", user props "a:b", ...
    pool.list(root=None, types=("filesystem","volume"), recursive=True, depth=None)
         -> [dict]                             # each: name, type and all props
    pool.snapshots(name) -> [dict]             # oldest first (creation order)
    pool.children(name) -> [names]
    # Data. Filesystems hold files (path -> bytes); a volume holds one byte array.
    pool.write_file(dataset, path, data)       # whole-file replace, COW
    pool.read_file(dataset, path) -> bytes | None
    pool.remove_file(dataset, path)
    pool.list_files(dataset) -> [path]
    pool.write_volume(dataset, offset, data)
    pool.read_volume(dataset, offset=0, length=None) -> bytes
    # Replication streams (the emulator's own stream format).
    pool.send(snapshot, out, *, incremental_from=None, intermediates=False,
              replicate=False, props=False, resume_token=None) -> int bytes
    pool.send_size(...same args...) -> int     # zfs send -nP estimate
    pool.receive(target, stream, *, force=False, unmounted=False,
                 resumable=False, exclude_props=(), set_props=None) -> [names created]
    pool.abort_receive(target)                 # zfs receive -A

Properties every dataset reports (all sizes in bytes, "-" where not applicable):
type, creation (epoch seconds), used, available, referenced, logicalused,
usedbysnapshots, usedbydataset, usedbychildren, usedbyrefreservation,
quota, refquota, reservation, refreservation, volsize, volblocksize,
recordsize, compression, compressratio, mountpoint, origin, guid,
createtxg, written, userrefs (snapshots), clones (snapshots),
receive_resume_token, snapshot_limit, filesystem_limit, devices, plus user props.

STATUS: being implemented (see the zfs helper task).
"""

from __future__ import annotations


class ZFSError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


class Pool:
    def __init__(self, host):
        self.host = host
        self.name = host.zpool

    def ensure_pool(self):
        pass
