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

MODULES. ``pool`` (the ``Pool`` class: plumbing, lookups, creation), composed
of mixins from ``blocks`` (block store, layers), ``data`` (files and volume
bytes), ``space`` (accounting), ``properties`` (set/inherit/views, list),
``snapshots`` (holds, destroy, rollback, rename, promote), ``send`` and
``receive``; ``stream`` (the stream codec), ``names`` (errors, property
tables, name and size helpers) and ``schema`` (tables and triggers).
"""

from __future__ import annotations

from openstack_smartos.sim.state.zfs.names import (ALIASES, ALL_PROPS, COMPRESSION, INHERITABLE,
                                                   LIMIT_PROPS, READONLY, SETTABLE, SIZE_PROPS,
                                                   ZFSError, canonical_prop, is_user_prop,
                                                   nicenum, parse_size)
from openstack_smartos.sim.state.zfs import schema  # noqa: F401  (registers the tables)
from openstack_smartos.sim.state.zfs.blocks import BLOCK
from openstack_smartos.sim.state.zfs.stream import MAGIC, MAGIC_V1, decode_token, encode_token
from openstack_smartos.sim.state.zfs.pool import Pool

__all__ = ["ALIASES", "ALL_PROPS", "BLOCK", "COMPRESSION", "INHERITABLE", "LIMIT_PROPS", "MAGIC",
           "MAGIC_V1", "READONLY", "SETTABLE", "SIZE_PROPS", "Pool", "ZFSError", "canonical_prop",
           "decode_token", "encode_token", "is_user_prop", "nicenum", "parse_size"]
