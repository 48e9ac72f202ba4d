"""The emulated ZFS pool and the zfs/zpool commands (reference §10, §6.2, §4.3, §12).

Each test's docstring names the fact of the reference (or of ZFS behaviour
the reference relies on) that it checks.
"""

from __future__ import annotations

import io
import os

import pytest

from openstack_smartos.sim import tools
from openstack_smartos.sim.state.zfs import BLOCK, Pool, ZFSError, decode_token

MIB = 1 << 20


def rnd(n, seed=0):
    """Incompressible, non-repeating bytes (each 128 KiB block differs)."""
    import random
    return random.Random(seed).randbytes(n)


@pytest.fixture
def pool(sim_host):
    host = sim_host()
    p = Pool(host)
    yield p
    p.close()
    host.close()


@pytest.fixture
def two_pools(sim_host):
    hosts = [sim_host(), sim_host()]
    pools = [Pool(h) for h in hosts]
    yield pools
    for p, h in zip(pools, hosts):
        p.close()
        h.close()


def send_bytes(pool, snapshot, **kwargs) -> bytes:
    out = io.BytesIO()
    written = pool.send(snapshot, out, **kwargs)
    assert written == len(out.getvalue())
    return out.getvalue()


def run(host, *argv, stdin=b"", tty=False):
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(host.root, list(argv), stdin=io.BytesIO(stdin), stdout=out,
                          stderr=err, stdout_is_tty=tty)
    return code, out.getvalue(), err.getvalue().decode()


def pack_bytes(pool) -> int:
    packdir = pool.host.path("zfs", "packs")
    return sum(f.stat().st_size for f in packdir.iterdir()) if packdir.exists() else 0


def bmap_rows(pool) -> int:
    return pool.db.execute("SELECT COUNT(*) FROM zfs_bmap").fetchone()[0]


# -- naming and errors ----------------------------------------------------------

def test_pool_root_and_messages(pool):
    """§10.1/§0: the pool is `zones`; zfs prints "cannot open 'X': dataset does not
    exist", "dataset already exists" and "parent does not exist"."""
    assert pool.exists("zones")
    with pytest.raises(ZFSError, match=r"^cannot open 'zones/nope': dataset does not "
                                       r"exist$"):
        pool.get_props("zones/nope")
    pool.create_filesystem("zones/a")
    with pytest.raises(ZFSError, match=r"cannot create 'zones/a': dataset already exists"):
        pool.create_filesystem("zones/a")
    with pytest.raises(ZFSError, match=r"cannot create 'zones/x/y': parent does not exist"):
        pool.create_filesystem("zones/x/y")
    pool.create_filesystem("zones/x/y", parents=True)
    assert pool.type_of("zones/x") == "filesystem"
    with pytest.raises(ZFSError, match="no such pool 'tank'"):
        pool.create_filesystem("tank/a")


def test_destroy_with_children_needs_r(pool):
    """§10.3 destroy [-r]: a dataset with snapshots or children needs -r, and zfs
    lists what would be destroyed."""
    pool.create_filesystem("zones/vm")
    pool.create_volume("zones/vm/disk0", 16 * MIB)
    pool.snapshot("zones/vm@s1", recursive=True)
    with pytest.raises(ZFSError) as info:
        pool.destroy("zones/vm")
    assert info.value.message.splitlines()[:2] == [
        "cannot destroy 'zones/vm': filesystem has children",
        "use '-r' to destroy the following datasets:"]
    assert "zones/vm/disk0" in info.value.message and "zones/vm@s1" in info.value.message
    assert pool.destroy("zones/vm", dry_run=True, recursive=True)
    assert pool.exists("zones/vm")
    pool.destroy("zones/vm", recursive=True)
    assert not pool.exists("zones/vm") and not pool.exists("zones/vm/disk0")


# -- copy-on-write ----------------------------------------------------------------

def test_clone_and_snapshot_are_constant_cost(pool):
    """§11: "The ZFS clone of an image is near-instant and uses almost no space":
    snapshot and clone copy no block map rows and write no block data."""
    pool.create_filesystem("zones/img")
    pool.write_file("zones/img", "/big", rnd(40 * BLOCK))
    rows, data = bmap_rows(pool), pack_bytes(pool)
    assert rows == 40
    pool.snapshot("zones/img@final")
    for n in range(5):
        pool.clone("zones/img@final", f"zones/vm{n}", props={"quota": "10g"})
    assert bmap_rows(pool) == rows
    assert pack_bytes(pool) == data
    props = pool.get_props("zones/vm3")
    assert props["used"] == 0
    assert props["referenced"] == 40 * BLOCK
    assert props["origin"] == "zones/img@final"
    assert pool.read_file("zones/vm3", "/big") == rnd(40 * BLOCK)
    # A write to one clone copies only the block it changes.
    data = bytearray(rnd(40 * BLOCK))
    data[5] ^= 0xFF
    pool.write_file("zones/vm3", "/big", bytes(data))
    assert bmap_rows(pool) == rows + 1
    assert pool.get_props("zones/vm3")["used"] == BLOCK
    assert pool.read_file("zones/vm2", "/big") == rnd(40 * BLOCK)
    assert pool.read_file("zones/img@final", "/big") == rnd(40 * BLOCK)


def test_files_and_volumes_hold_bytes(pool):
    """§10.1: zoneroots are filesystems, HVM disks are volumes (zvols of volsize,
    unwritten parts read as zeros)."""
    pool.create_filesystem("zones/fs")
    pool.write_file("zones/fs", "etc/motd", b"hello")
    assert pool.read_file("zones/fs", "/etc/motd") == b"hello"
    assert pool.list_files("zones/fs") == ["/etc/motd"]
    pool.remove_file("zones/fs", "/etc/motd")
    assert pool.read_file("zones/fs", "/etc/motd") is None
    pool.create_volume("zones/vol", 4 * MIB, sparse=True)
    assert pool.read_volume("zones/vol") == bytes(4 * MIB)
    pool.write_volume("zones/vol", BLOCK - 3, b"abcdef")
    got = pool.read_volume("zones/vol", BLOCK - 5, 10)
    assert got == b"\0\0abcdef\0\0"
    with pytest.raises(ZFSError):
        pool.write_volume("zones/vol", 4 * MIB - 1, b"xx")


def test_space_accounting_reflects_real_bytes(pool):
    """§10.3/§10.4: used/available/referenced/usedbysnapshots are real byte counts;
    zero blocks are holes; destroying frees the blocks (pack files removed)."""
    before_pool = pool.pool_stats()["alloc"]
    avail0 = pool.get_props("zones")["available"]
    pool.create_filesystem("zones/fs")
    pool.write_file("zones/fs", "/zeros", bytes(8 * MIB))
    assert pool.get_props("zones/fs")["used"] == 0
    pool.write_file("zones/fs", "/data", rnd(3 * MIB))
    props = pool.get_props("zones/fs")
    assert props["used"] == props["referenced"] == 3 * MIB
    assert pool.get_props("zones")["available"] == avail0 - 3 * MIB
    assert pool.pool_stats()["alloc"] == before_pool + 3 * MIB
    pool.snapshot("zones/fs@a")
    pool.write_file("zones/fs", "/data", rnd(MIB, seed=1))
    props = pool.get_props("zones/fs")
    assert props["referenced"] == MIB
    assert props["usedbysnapshots"] == 3 * MIB
    assert props["used"] == 4 * MIB
    assert pool.get_props("zones/fs@a")["used"] == 3 * MIB
    pool.destroy("zones/fs@a")
    assert pool.get_props("zones/fs")["used"] == MIB
    assert pool.pool_stats()["alloc"] == before_pool + MIB
    pool.destroy("zones/fs", recursive=True)
    assert pool.pool_stats()["alloc"] == before_pool
    assert pack_bytes(pool) == 0


def test_volume_reservations(pool):
    """§10.3/§10.4: a volume reserves refreservation=auto unless sparse (-s): volsize
    plus its metadata (libzfs zvol_volsize_to_reservation: 1 GiB at 8 KiB blocks is
    (7 + 128 + 1) indirect blocks, twice, of 128 KiB = 34 MiB more); the reservation
    counts in the parent's used; a volsize change moves an auto refreservation along
    (zfs_add_synthetic_resv) and fails as the refreservation does (zfs_setprop_error)."""
    auto_1g = (1024 + 34) * MIB
    pool.create_filesystem("zones/vm", props={"quota": "2200m"})
    pool.create_volume("zones/vm/disk0", "1G")
    assert pool.get_props("zones/vm/disk0")["refreservation"] == auto_1g
    assert pool.get_props("zones/vm")["used"] == auto_1g
    pool.create_volume("zones/vm/disk1", "1G", sparse=True)
    assert pool.get_props("zones/vm/disk1")["refreservation"] == 0
    pool.set_prop("zones/vm/disk1", "refreservation", "auto")
    assert pool.get_props("zones/vm/disk1")["refreservation"] == auto_1g
    with pytest.raises(ZFSError, match="out of space"):
        pool.create_volume("zones/vm/disk2", "512M")
    with pytest.raises(ZFSError, match="size is greater than available space"):
        pool.set_prop("zones/vm/disk0", "volsize", "1536M")
    pool.destroy("zones/vm/disk1")
    pool.set_prop("zones/vm/disk0", "volsize", "1536M")
    props = pool.get_props("zones/vm/disk0")
    assert (props["volsize"], props["refreservation"]) == (1536 * MIB, (1536 + 50) * MIB)
    pool.set_prop("zones/vm/disk0", "refreservation", "1536M")     # no longer auto
    pool.set_prop("zones/vm/disk0", "volsize", "1600M")
    assert pool.get_props("zones/vm/disk0")["refreservation"] == 1536 * MIB


def test_quota_enforced_on_writes(pool):
    """§10.4: quota (OS VMs' disk size) and refquota (bhyve zoneroot) limit writes
    (EDQUOT: "disk quota exceeded")."""
    pool.create_filesystem("zones/os", props={"quota": "1m"})
    pool.write_file("zones/os", "/a", rnd(512 * 1024))
    with pytest.raises(ZFSError, match="disk quota exceeded"):
        pool.write_file("zones/os", "/b", rnd(768 * 1024, seed=2))
    assert pool.read_file("zones/os", "/b") is None          # nothing half-written
    assert pool.get_props("zones/os")["used"] == 512 * 1024
    pool.create_filesystem("zones/bhyve", props={"refquota": "256k"})
    with pytest.raises(ZFSError, match="disk quota exceeded"):
        pool.write_file("zones/bhyve", "/x", rnd(3 * BLOCK))
    with pytest.raises(ZFSError, match="size is less than current used"):
        pool.set_prop("zones/os", "quota", "100k")


def test_dependent_clones_block_destroy(pool):
    """§6.2/§10.3: an image's @final with clones cannot be destroyed; -R lists and
    destroys the clones."""
    pool.create_filesystem("zones/img")
    pool.snapshot("zones/img@final")
    pool.clone("zones/img@final", "zones/vm1")
    with pytest.raises(ZFSError) as info:
        pool.destroy("zones/img@final")
    assert info.value.message == (
        "cannot destroy 'zones/img@final': snapshot has dependent clones\n"
        "use '-R' to destroy the following datasets:\nzones/vm1")
    with pytest.raises(ZFSError, match="filesystem has dependent clones"):
        pool.destroy("zones/img", recursive=True)
    assert pool.get_props("zones/img@final")["clones"] == "zones/vm1"
    pool.destroy("zones/img@final", dependents=True)
    assert not pool.exists("zones/vm1") and not pool.exists("zones/img@final")


def test_holds_block_destroy(pool):
    """§10.1/§12.14: `@indestructible` with hold tag do_not_destroy cannot be
    destroyed ("dataset is busy") until the hold is released."""
    pool.create_filesystem("zones/vm")
    pool.snapshot("zones/vm@indestructible")
    pool.hold("do_not_destroy", "zones/vm@indestructible")
    assert pool.holds("zones/vm@indestructible") == ["do_not_destroy"]
    assert pool.get_props("zones/vm@indestructible")["userrefs"] == 1
    with pytest.raises(ZFSError, match=r"^cannot destroy snapshot "
                                       r"zones/vm@indestructible: dataset is busy$"):
        pool.destroy("zones/vm@indestructible")
    with pytest.raises(ZFSError, match="dataset is busy"):
        pool.destroy("zones/vm", recursive=True)
    with pytest.raises(ZFSError, match="tag already exists"):
        pool.hold("do_not_destroy", "zones/vm@indestructible")
    pool.release("do_not_destroy", "zones/vm@indestructible")
    pool.destroy("zones/vm", recursive=True)
    assert not pool.exists("zones/vm")


def test_rollback(pool):
    """§10.2: vmadm rollback runs `zfs rollback -r`, which destroys newer snapshots;
    without -r zfs refuses and lists them."""
    pool.create_filesystem("zones/vm")
    pool.write_file("zones/vm", "/f", b"one")
    pool.snapshot("zones/vm@vmsnap-a")
    pool.write_file("zones/vm", "/f", b"two")
    pool.snapshot("zones/vm@vmsnap-b")
    pool.write_file("zones/vm", "/f", b"three")
    with pytest.raises(ZFSError) as info:
        pool.rollback("zones/vm@vmsnap-a")
    assert info.value.message == (
        "cannot rollback to 'zones/vm@vmsnap-a': more recent snapshots or bookmarks "
        "exist\nuse '-r' to force deletion of the following snapshots and bookmarks:\n"
        "zones/vm@vmsnap-b")
    pool.rollback("zones/vm@vmsnap-b")          # the latest: no -r needed
    assert pool.read_file("zones/vm", "/f") == b"two"
    pool.rollback("zones/vm@vmsnap-a", destroy_newer=True)
    assert pool.read_file("zones/vm", "/f") == b"one"
    assert [s["name"] for s in pool.snapshots("zones/vm")] == ["zones/vm@vmsnap-a"]
    assert pool.get_props("zones/vm")["usedbysnapshots"] == 0


def test_promote_and_rename(pool):
    """§10.3: promote swaps a clone with its origin; rename moves a dataset with
    its children and snapshots (imgadm renames <uuid>-partial to <uuid>)."""
    pool.create_filesystem("zones/img-partial")
    pool.write_file("zones/img-partial", "/f", b"base")
    pool.snapshot("zones/img-partial@snap1")
    pool.rename("zones/img-partial@snap1", "zones/img-partial@final")
    pool.rename("zones/img-partial", "zones/img")
    assert pool.exists("zones/img@final")
    pool.clone("zones/img@final", "zones/vm")
    pool.promote("zones/vm")
    assert pool.get_props("zones/img")["origin"] == "zones/vm@final"
    assert pool.get_props("zones/vm")["origin"] == "-"
    pool.destroy("zones/img")
    assert pool.read_file("zones/vm@final", "/f") == b"base"


# -- replication ----------------------------------------------------------------

def test_round_trip_between_hosts(two_pools):
    """§4.1/§10.3: a full `zfs send` received on another host reproduces the bytes
    and the snapshot (same guid, so later incrementals apply)."""
    src, dst = two_pools
    src.create_filesystem("zones/fs")
    src.write_file("zones/fs", "/a", rnd(3 * BLOCK + 17))
    src.write_file("zones/fs", "/empty", b"")
    src.create_volume("zones/vol", 2 * MIB)
    src.write_volume("zones/vol", 1000, rnd(300 * 1024, seed=5))
    src.snapshot("zones/fs@s1")
    src.snapshot("zones/vol@s1")
    stream = send_bytes(src, "zones/fs@s1")
    assert src.send_size("zones/fs@s1") == len(stream)
    created = dst.receive("zones/fs", io.BytesIO(stream))
    assert "zones/fs@s1" in created
    assert dst.read_file("zones/fs", "/a") == rnd(3 * BLOCK + 17)
    assert dst.read_file("zones/fs", "/empty") == b""
    assert dst.get_props("zones/fs@s1")["guid"] == src.get_props("zones/fs@s1")["guid"]
    dst.receive("zones/copy", io.BytesIO(send_bytes(src, "zones/vol@s1")))
    assert dst.read_volume("zones/copy") == src.read_volume("zones/vol")
    assert dst.get_props("zones/copy")["volsize"] == 2 * MIB


def test_incremental_send_carries_only_changed_blocks(two_pools):
    """§4.3 sync: `zfs send -i @a ds@b` carries only what changed between the two
    snapshots, so later syncs are small."""
    src, dst = two_pools
    src.create_volume("zones/disk", 16 * MIB)
    src.write_volume("zones/disk", 0, rnd(16 * MIB))
    src.snapshot("zones/disk@m1")
    src.write_volume("zones/disk", 5 * MIB + 10, b"changed!")
    src.write_volume("zones/disk", 9 * MIB, b"again")
    src.snapshot("zones/disk@m2")
    full = send_bytes(src, "zones/disk@m1")
    incremental = send_bytes(src, "zones/disk@m2", incremental_from="zones/disk@m1")
    assert len(full) > 16 * MIB
    assert 2 * BLOCK <= len(incremental) < 2 * BLOCK + 4096
    assert src.send_size("zones/disk@m2", incremental_from="@m1") == len(incremental)
    dst.receive("zones/disk", io.BytesIO(full))
    dst.receive("zones/disk", io.BytesIO(incremental))
    assert dst.read_volume("zones/disk") == src.read_volume("zones/disk@m2")


def test_replicate_includes_children_and_props(two_pools):
    """§4.1/§10.1: bhyve disks are children of the zoneroot and travel with -R,
    with their snapshots and properties."""
    src, dst = two_pools
    src.create_filesystem("zones/vm", props={"quota": "3g", "refquota": "1g"})
    src.create_volume("zones/vm/disk0", "64M")
    src.set_prop("zones/vm", "com.joyent:tag", "x")
    src.write_file("zones/vm", "/config", b"cfg")
    src.write_volume("zones/vm/disk0", 0, rnd(2 * MIB))
    src.snapshot("zones/vm@old", recursive=True)
    src.write_volume("zones/vm/disk0", MIB, b"newer")
    src.snapshot("zones/vm@sending", recursive=True)
    stream = send_bytes(src, "zones/vm@sending", replicate=True)
    dst.receive("zones/vm", io.BytesIO(stream), force=True)
    assert dst.read_volume("zones/vm/disk0") == src.read_volume("zones/vm/disk0")
    assert [s["name"] for s in dst.snapshots("zones/vm/disk0")] == [
        "zones/vm/disk0@old", "zones/vm/disk0@sending"]
    props = dst.get_props("zones/vm")
    assert (props["quota"], props["refquota"]) == (3 << 30, 1 << 30)
    assert props["com.joyent:tag"] == "x"
    assert dst.get_props("zones/vm/disk0")["refreservation"] == 68 * MIB   # auto: 64M + 4M
    assert dst.read_file("zones/vm", "/config") == b"cfg"


def test_intermediates_and_guid_checks(two_pools):
    """§4.3/§10.3: -I recreates every intermediate snapshot, -i only the last; an
    incremental needs the target's latest snapshot to be the stream's source."""
    src, dst = two_pools
    src.create_filesystem("zones/fs")
    for n in range(1, 4):
        src.write_file("zones/fs", f"/f{n}", rnd(BLOCK, seed=n))
        src.snapshot(f"zones/fs@s{n}")
    dst.receive("zones/fs", io.BytesIO(send_bytes(src, "zones/fs@s1")))
    only_last = send_bytes(src, "zones/fs@s3", incremental_from="@s2")
    with pytest.raises(ZFSError, match=r"^cannot receive incremental stream: most recent "
                                       r"snapshot of zones/fs does not match incremental "
                                       r"source$"):
        dst.receive("zones/fs", io.BytesIO(only_last))
    stream = send_bytes(src, "zones/fs@s3", incremental_from="zones/fs@s1",
                        intermediates=True)
    dst.receive("zones/fs", io.BytesIO(stream))
    assert [s["name"] for s in dst.snapshots("zones/fs")] == [
        "zones/fs@s1", "zones/fs@s2", "zones/fs@s3"]
    assert dst.read_file("zones/fs@s2", "/f2") == rnd(BLOCK, seed=2)
    assert dst.read_file("zones/fs@s2", "/f3") is None
    assert dst.read_file("zones/fs", "/f3") == rnd(BLOCK, seed=3)


def test_receive_force_and_existing_target(two_pools):
    """§4.3 step 5 / §10.3: a full stream into an existing dataset needs -F; -F
    rolls a modified target back to its latest snapshot before an incremental."""
    src, dst = two_pools
    src.create_filesystem("zones/fs")
    src.snapshot("zones/fs@a")
    full = send_bytes(src, "zones/fs@a")
    dst.receive("zones/fs", io.BytesIO(full))
    with pytest.raises(ZFSError) as info:
        dst.receive("zones/fs", io.BytesIO(full))
    assert info.value.message == ("cannot receive new filesystem stream: destination "
                                  "'zones/fs' exists\nmust specify -F to overwrite it")
    src.write_file("zones/fs", "/x", b"x")
    src.snapshot("zones/fs@b")
    inc = send_bytes(src, "zones/fs@b", incremental_from="@a")
    dst.write_file("zones/fs", "/local", b"target-side change")
    with pytest.raises(ZFSError, match="has been modified"):
        dst.receive("zones/fs", io.BytesIO(inc))
    dst.receive("zones/fs", io.BytesIO(inc), force=True)
    assert dst.read_file("zones/fs", "/local") is None
    assert dst.read_file("zones/fs", "/x") == b"x"


def test_resume_after_truncation(two_pools):
    """§4.3 step 4-5: `zfs receive -s` keeps a truncated receive; the target's
    receive_resume_token feeds `zfs send -t`, which sends only the rest."""
    src, dst = two_pools
    src.create_volume("zones/disk", 8 * MIB)
    src.write_volume("zones/disk", 0, rnd(8 * MIB))
    src.snapshot("zones/disk@m1")
    full = send_bytes(src, "zones/disk@m1")
    cut = full[:len(full) // 2]
    with pytest.raises(ZFSError, match="Partially received snapshot is saved") as info:
        dst.receive("zones/disk", io.BytesIO(cut), resumable=True)
    token = dst.get_props("zones/disk")["receive_resume_token"]
    assert token != "-" and token in info.value.message
    assert decode_token(token)["toguid"] == src.get_props("zones/disk@m1")["guid"]
    with pytest.raises(ZFSError, match="partially-complete state"):
        dst.receive("zones/disk", io.BytesIO(full))
    rest = send_bytes(src, None, resume_token=token)
    assert len(rest) < len(full) * 0.6
    assert src.send_size(resume_token=token) == len(rest)
    dst.receive("zones/disk", io.BytesIO(rest), resumable=True)
    assert dst.get_props("zones/disk")["receive_resume_token"] == "-"
    assert dst.read_volume("zones/disk@m1") == rnd(8 * MIB)
    assert dst.get_props("zones/disk@m1")["guid"] == src.get_props("zones/disk@m1")["guid"]


def test_abort_resumable_receive(two_pools):
    """§10.3: `zfs receive -A` discards partial state (a new dataset disappears)."""
    src, dst = two_pools
    src.create_filesystem("zones/fs")
    src.write_file("zones/fs", "/a", rnd(6 * BLOCK))
    src.snapshot("zones/fs@s")
    full = send_bytes(src, "zones/fs@s")
    with pytest.raises(ZFSError):
        dst.receive("zones/fs", io.BytesIO(full[:-5000]), resumable=True)
    assert dst.exists("zones/fs")
    dst.abort_receive("zones/fs")
    assert not dst.exists("zones/fs")
    with pytest.raises(ZFSError, match="does not exist"):
        dst.abort_receive("zones/fs")


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_corrupt_stream_leaves_nothing(two_pools, damage):
    """§4.2/§10.3: a truncated (without -s) or corrupt stream fails and leaves no
    dataset and no stored blocks behind."""
    src, dst = two_pools
    src.create_filesystem("zones/fs")
    src.write_file("zones/fs", "/a", rnd(10 * BLOCK))
    src.snapshot("zones/fs@s")
    stream = bytearray(send_bytes(src, "zones/fs@s"))
    if damage == "truncate":
        stream = stream[:len(stream) - 100]
    else:
        stream[len(stream) // 2] ^= 0x01
    before = pack_bytes(dst)
    with pytest.raises(ZFSError, match="checksum mismatch or incomplete stream"):
        dst.receive("zones/fs", io.BytesIO(bytes(stream)))
    assert not dst.exists("zones/fs")
    assert pack_bytes(dst) == before
    assert dst.pool_stats()["alloc"] == 0


def test_receive_respects_quota(two_pools):
    """§10.4/§4.3 step 7: receives count against the quota of the target's
    ancestors (bhyve quota is relaxed during sync for this reason)."""
    src, dst = two_pools
    src.create_filesystem("zones/fs")
    src.write_file("zones/fs", "/a", rnd(2 * MIB))
    src.snapshot("zones/fs@s")
    dst.create_filesystem("zones/small", props={"quota": "1m"})
    with pytest.raises(ZFSError, match=r"^cannot receive new filesystem stream: out of "
                                       r"space$"):
        dst.receive("zones/small/fs", io.BytesIO(send_bytes(src, "zones/fs@s")))
    assert not dst.exists("zones/small/fs")


def test_clone_incremental_from_origin(two_pools):
    """§6.2: incremental images are received on top of a clone of the origin's
    @final; `zfs send -i origin@final clone@snap` carries only the clone's delta."""
    src, dst = two_pools
    for p in (src, dst):
        p.create_filesystem("zones/base")
    src.write_file("zones/base", "/os", rnd(4 * BLOCK))
    src.snapshot("zones/base@final")
    dst.receive("zones/base2", io.BytesIO(send_bytes(src, "zones/base@final")))
    src.clone("zones/base@final", "zones/img")
    src.write_file("zones/img", "/app", b"app")
    src.snapshot("zones/img@final")
    delta = send_bytes(src, "zones/img@final", incremental_from="zones/base@final")
    assert len(delta) < BLOCK
    dst.clone("zones/base2@final", "zones/img")
    dst.receive("zones/img", io.BytesIO(delta))
    assert dst.read_file("zones/img", "/app") == b"app"
    assert dst.read_file("zones/img", "/os") == rnd(4 * BLOCK)


# -- CLI ------------------------------------------------------------------------------

def test_cli_list_formats(sim_host):
    """§10.3: `zfs list -Hp -o ...` is tab-separated exact numbers; without -H
    columns are aligned under a header with human sizes."""
    host = sim_host()
    assert run(host, "zfs", "create", "-o", "quota=1536m", "zones/vm")[0] == 0
    code, out, _ = run(host, "zfs", "list", "-Hp", "-o", "name,used,avail,refer,quota,"
                       "refquota,origin", "-t", "filesystem,volume,snapshot", "zones/vm")
    assert code == 0
    assert out.decode() == "zones/vm\t0\t1610612736\t0\t1610612736\t0\t-\n"
    code, out, _ = run(host, "zfs", "list", "-o", "name,quota", "zones/vm")
    assert out.decode().splitlines() == ["NAME      QUOTA", "zones/vm  1.50G"]
    code, _, err = run(host, "zfs", "list", "zones/none")
    assert code == 1 and err == "cannot open 'zones/none': dataset does not exist\n"
    code, _, err = run(host, "zfs", "list", "-Z")
    assert code == 2 and "invalid option 'Z'" in err


def test_cli_snapshots_by_creation_and_get(sim_host):
    """§4.3 step 1 / §10.3: `zfs list -t snapshot -r -H -s creation -o name`
    lists oldest first; `zfs get -Hp -o value receive_resume_token` is "-"."""
    host = sim_host()
    run(host, "zfs", "create", "zones/vm")
    run(host, "zfs", "create", "-V", "16M", "zones/vm/disk0")
    for n in (3, 1, 2):
        assert run(host, "zfs", "snapshot", "-r", f"zones/vm@vm-migration-{n}")[0] == 0
    _, out, _ = run(host, "zfs", "list", "-t", "snapshot", "-r", "-H", "-s", "creation",
                    "-o", "name", "zones/vm")
    names = out.decode().split()
    top = [n for n in names if n.startswith("zones/vm@")]
    assert top == ["zones/vm@vm-migration-3", "zones/vm@vm-migration-1",
                   "zones/vm@vm-migration-2"]
    assert len(names) == 6
    _, out, _ = run(host, "zfs", "get", "-Hp", "-o", "value", "receive_resume_token",
                    "zones/vm")
    assert out == b"-\n"
    _, out, _ = run(host, "zfs", "get", "-H", "-o", "property,value,source", "volsize",
                    "zones/vm/disk0")
    assert out == b"volsize\t16M\tlocal\n"


def test_cli_send_receive_and_tty(sim_host):
    """§4.1/§12.11: send refuses a terminal stdout; `send -nP` ends with
    "size <bytes>" equal to the stream; `recv -u -s -F -x encryption` works."""
    a, b = sim_host(), sim_host()
    run(a, "zfs", "create", "zones/fs")
    run(a, "zfs", "snapshot", "zones/fs@s")
    code, out, err = run(a, "zfs", "send", "zones/fs@s", tty=True)
    assert code == 1 and out == b""
    assert err == ("Error: Stream can not be written to a terminal.\n"
                   "You must redirect standard output.\n")
    code, stream, _ = run(a, "zfs", "send", "-R", "zones/fs@s")
    assert code == 0
    code, out, _ = run(a, "zfs", "send", "--parsable", "--dryrun", "-R", "zones/fs@s")
    assert out.decode().splitlines()[-1] == f"size\t{len(stream)}"
    code, _, err = run(b, "zfs", "recv", "-u", "-s", "-F", "-x", "encryption", "zones/fs",
                       stdin=stream)
    assert code == 0, err
    code, out, _ = run(b, "zfs", "list", "-H", "-o", "name", "-t", "snapshot", "zones/fs")
    assert out == b"zones/fs@s\n"


def test_cli_zpool_list(sim_host):
    """§10/§7: `zpool list` reports the pool sized from the host's zpool_gib."""
    host = sim_host(zpool_gib=100)
    code, out, _ = run(host, "zpool", "list", "-Hp", "-o", "name,size,alloc,free,cap,"
                       "health")
    assert code == 0
    assert out.decode() == f"zones\t{100 << 30}\t0\t{100 << 30}\t0\tONLINE\n"
    code, _, err = run(host, "zpool", "list", "tank")
    assert code == 1 and "no such pool" in err


def test_cli_destroy_dry_run_and_errors(sim_host):
    """§10.3: `zfs destroy -nv` is a dry run; failures exit 1 with zfs's message."""
    host = sim_host()
    run(host, "zfs", "create", "zones/img")
    run(host, "zfs", "snapshot", "zones/img@final")
    run(host, "zfs", "clone", "-F", "-o", "quota=10g", "zones/img@final", "zones/vm")
    code, _, err = run(host, "zfs", "destroy", "zones/img@final")
    assert code == 1 and "snapshot has dependent clones" in err
    code, out, _ = run(host, "zfs", "destroy", "-nvR", "zones/img@final")
    assert code == 0
    assert out.decode().splitlines() == ["would destroy zones/vm",
                                         "would destroy zones/img@final"]
    assert Pool(host).exists("zones/vm")
    assert os.path.isdir(host.path("zfs"))
