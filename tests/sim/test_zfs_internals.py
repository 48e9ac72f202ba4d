"""Internals of the emulated pool that keep it fast without changing behaviour:
the incremental space accounting (zfs_space) and the stream chain checksum."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from openstack_smartos.sim.state.zfs import BLOCK, MAGIC, MAGIC_V1, Pool, ZFSError

MIB = 1 << 20


def rnd(n, seed=0):
    import random
    return random.Random(seed).randbytes(n)


@pytest.fixture
def two_pools(sim_host):
    hosts = [sim_host(), sim_host()]
    pools = [Pool(h) for h in hosts]
    yield pools
    for p, h in zip(pools, hosts):
        p.close()
        h.close()


def assert_space_consistent(pool):
    """The trigger-maintained figures equal a recomputation from the layers."""
    full = pool._space_full()
    fast = pool._space(root=pool.name)
    assert fast["pool_used"] == full["pool_used"]
    for name, entry in full["ds"].items():
        got = fast["ds"][name]
        assert {k: got[k] for k in entry} == entry, name
    assert set(fast["ds"]) == set(full["ds"])


def test_incremental_space_matches_recomputation(two_pools):
    src, dst = two_pools
    for pool in (src, dst):
        assert_space_consistent(pool)
    src.create_filesystem("zones/a", props={"quota": 64 * MIB})
    src.create_filesystem("zones/a/b/c", parents=True)
    src.write_file("zones/a/b/c", "/f", rnd(5 * BLOCK))
    src.write_file("zones/a/b", "/g", rnd(3 * BLOCK, seed=1))
    assert_space_consistent(src)
    src.create_volume("zones/a/vol", 4 * MIB)               # refreservation = volsize
    src.write_volume("zones/a/vol", 0, rnd(2 * BLOCK, seed=2))
    src.set_prop("zones/a/b", "reservation", 8 * MIB)
    src.set_prop("zones/a/b", "refreservation", MIB)
    assert_space_consistent(src)
    src.snapshot("zones/a@s1", recursive=True)
    src.write_file("zones/a/b/c", "/f", rnd(5 * BLOCK, seed=3))   # shadows the snapshot
    src.snapshot("zones/a/b/c@s2")
    src.remove_file("zones/a/b/c", "/f")
    assert_space_consistent(src)
    src.clone("zones/a/b/c@s1", "zones/clone")
    src.write_file("zones/clone", "/h", rnd(2 * BLOCK, seed=4))
    src.promote("zones/clone")
    assert_space_consistent(src)
    src.rename("zones/a/b", "zones/moved")
    assert_space_consistent(src)
    src.rollback("zones/moved/c@s2", destroy_newer=True)
    src.set_prop("zones/a/vol", "volsize", 2 * MIB)
    src.set_prop("zones/moved", "reservation", 0)
    assert_space_consistent(src)
    src.destroy("zones/moved/c@s2")
    src.destroy("zones/a", recursive=True, dependents=True)
    assert_space_consistent(src)

    src.create_filesystem("zones/r")
    src.write_file("zones/r", "/x", rnd(4 * BLOCK, seed=5))
    src.create_volume("zones/r/v", MIB)
    src.snapshot("zones/r@s", recursive=True)
    out = io.BytesIO()
    src.send("zones/r@s", out, replicate=True)
    dst.create_filesystem("zones/in", props={"quota": 32 * MIB})
    dst.receive("zones/in/r", io.BytesIO(out.getvalue()))
    assert_space_consistent(dst)
    assert dst.get_props("zones/in")["used"] == dst._space_full()["ds"]["zones/in"]["used"]


def test_space_table_rebuilt_for_older_hosts(sim_host):
    """A host whose database predates zfs_space gets it rebuilt on first mutation;
    until then readers compute the figures from the layers."""
    host = sim_host()
    pool = Pool(host)
    pool.create_filesystem("zones/a", props={"quota": 16 * MIB})
    pool.write_file("zones/a", "/f", rnd(3 * BLOCK))
    pool.create_volume("zones/a/v", 2 * MIB)
    expected = pool.get_props("zones/a")
    with host.locked():
        host.db.execute("DELETE FROM zfs_meta WHERE key='space'")
        host.db.execute("UPDATE zfs_space SET w = 0, child = 12345")   # stale rows
    stale = Pool(host)
    assert stale.get_props("zones/a") == expected       # computed, not from the table
    stale.create_filesystem("zones/b")                  # a mutation rebuilds
    assert stale._space_ready()
    assert_space_consistent(stale)
    assert stale.get_props("zones/a") == expected


def _records(stream):
    """(header bytes, [(kind, record bytes)]) of a version 2 stream."""
    (length,) = struct.unpack(">I", stream[8:12])
    pos = 12 + length
    header, records = stream[:pos], []
    while pos < len(stream):
        (size,) = struct.unpack(">I", stream[pos + 1:pos + 5])
        records.append((stream[pos:pos + 1], stream[pos:pos + 9 + size]))
        pos += 9 + size
    return header, records


def _sample_stream(pool):
    pool.create_filesystem("zones/fs")
    pool.write_file("zones/fs", "/a", rnd(4 * BLOCK))
    pool.snapshot("zones/fs@s")
    out = io.BytesIO()
    pool.send("zones/fs@s", out)
    return out.getvalue()


def test_stream_chain_detects_dropped_record(two_pools):
    """Every record passes its own crc, but a record is missing: the Z chain fails."""
    src, dst = two_pools
    stream = _sample_stream(src)
    assert stream.startswith(MAGIC)
    header, records = _records(stream)
    assert [k for k, _ in records][-1] == b"Z"
    blocks = [i for i, (k, _) in enumerate(records) if k == b"B"]
    kept = [r for i, (_, r) in enumerate(records) if i != blocks[1]]
    with pytest.raises(ZFSError, match="checksum mismatch or incomplete stream"):
        dst.receive("zones/fs", io.BytesIO(header + b"".join(kept)))
    assert not dst.exists("zones/fs")
    dst.receive("zones/fs", io.BytesIO(stream))
    assert dst.read_file("zones/fs@s", "/a") == rnd(4 * BLOCK)


def test_version_1_streams_still_received(two_pools):
    """Streams written before the chain (Z = sha256 of all prior bytes) still work."""
    import hashlib
    src, dst = two_pools
    header, records = _records(_sample_stream(src))
    body = MAGIC_V1 + header[len(MAGIC):] + b"".join(r for k, r in records if k != b"Z")
    head = b"Z" + struct.pack(">I", 32)
    payload = hashlib.sha256(body).digest()
    crc = zlib.crc32(payload, zlib.crc32(head))
    old = body + head + payload + struct.pack(">I", crc)
    dst.receive("zones/fs", io.BytesIO(old))
    assert dst.read_file("zones/fs@s", "/a") == rnd(4 * BLOCK)
    bad = body + head + bytes(32) + struct.pack(">I", zlib.crc32(bytes(32), zlib.crc32(head)))
    with pytest.raises(ZFSError, match="checksum mismatch or incomplete stream"):
        dst.receive("zones/other", io.BytesIO(bad))
