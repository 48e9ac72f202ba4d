"""The typed zfs/zpool client over the sim:// transport (reference §10, §4.3).

Each test's docstring names the fact of the reference that it checks.
"""

from __future__ import annotations

import io
import random

import pytest

from openstack_smartos.host import errors
from openstack_smartos.host.transport import connect
from openstack_smartos.host.zfs import Zfs, Zpool
from openstack_smartos.sim.state.zfs import Pool

MIB = 1 << 20


@pytest.fixture
def hosts(sim_host):
    """Two emulated hosts, each with (SimHost, Zfs client)."""
    made = []
    for _ in range(2):
        host = sim_host()
        transport = connect("sim://" + str(host.root))
        made.append((host, Zfs(transport), transport))
    yield made
    for host, _, transport in made:
        transport.close()
        host.close()


def data(n, seed=0):
    return random.Random(seed).randbytes(n)


def test_list_is_typed(hosts):
    """§10.3: `zfs list -Hp -o name,used,avail,refer,quota,refquota,origin` parsed:
    sizes are ints, "-" is None."""
    host, zfs, transport = hosts[0]
    zfs.create_filesystem("zones/vm", props={"quota": "10g"})
    zfs.create_volume("zones/vm/disk0", "64M", props={"volblocksize": "8k"})
    rows = zfs.list(["zones/vm"], recursive=True)
    assert [r["name"] for r in rows] == ["zones/vm", "zones/vm/disk0"]
    vm, disk = rows
    assert vm["quota"] == 10 << 30 and vm["type"] == "filesystem"
    assert vm["origin"] is None and vm["volsize"] is None
    # refreservation=auto: volsize + (7 + 8 + 1) * 2 metadata blocks of 128 KiB
    assert disk["volsize"] == 64 * MIB and disk["refreservation"] == 68 * MIB
    assert vm["used"] == 68 * MIB
    assert isinstance(vm["available"], int) and vm["available"] == 10 * 1024 * MIB - 68 * MIB
    argv = transport.stats.snapshot()["by_command"]
    assert "zfs list" in argv
    assert zfs.get("zones/vm", ["quota", "refquota"]) == {"quota": 10 << 30, "refquota": 0}
    assert Zpool(transport).list()[0]["name"] == "zones"


def test_errors_are_classified(hosts):
    """§10.3 and the host error hierarchy: a missing dataset is NotFound, an
    existing one AlreadyExists, a bad option a UsageError (exit 2)."""
    _, zfs, transport = hosts[0]
    with pytest.raises(errors.NotFound, match="dataset does not exist"):
        zfs.list(["zones/nope"])
    zfs.create_filesystem("zones/a")
    with pytest.raises(errors.AlreadyExists):
        zfs.create_filesystem("zones/a")
    with pytest.raises(errors.UsageError):
        transport.run(["/usr/sbin/zfs", "list", "-Z"])
    assert not zfs.exists("zones/b") and zfs.exists("zones/a")
    with pytest.raises(ValueError):
        zfs.destroy("-r")            # never lets a name turn into an option


def test_snapshot_clone_destroy_cycle(hosts):
    """§6.2/§10.2: clone of an image's @final, vmsnap snapshots oldest first,
    rollback -r, and destroy of the clone and its dependants."""
    host, zfs, _ = hosts[0]
    zfs.create_filesystem("zones/img")
    zfs.snapshot("zones/img@final")
    zfs.clone("zones/img@final", "zones/vm", props={"quota": "5g"})
    assert zfs.get("zones/vm", ["origin"])["origin"] == "zones/img@final"
    for name in ("b", "a", "c"):
        zfs.snapshot(f"zones/vm@vmsnap-{name}")
    assert zfs.snapshots("zones/vm") == ["zones/vm@vmsnap-b", "zones/vm@vmsnap-a",
                                         "zones/vm@vmsnap-c"]
    with pytest.raises(errors.CommandError) as info:
        zfs.rollback("zones/vm@vmsnap-b")
    assert "more recent snapshots or bookmarks exist" in info.value.stderr
    assert info.value.message == "zones/vm@vmsnap-c"      # the last stderr line
    zfs.rollback("zones/vm@vmsnap-b", destroy_newer=True)
    assert zfs.snapshots("zones/vm") == ["zones/vm@vmsnap-b"]
    with pytest.raises(errors.CommandError) as info:
        zfs.destroy("zones/img@final")
    assert info.value.stderr.startswith("cannot destroy 'zones/img@final': snapshot has "
                                        "dependent clones\n")
    zfs.hold("do_not_destroy", "zones/vm@vmsnap-b")
    assert zfs.holds("zones/vm@vmsnap-b") == ["do_not_destroy"]
    with pytest.raises(errors.CommandError, match="dataset is busy"):
        zfs.destroy("zones/vm", recursive=True)
    zfs.release("do_not_destroy", "zones/vm@vmsnap-b")
    zfs.destroy("zones/img", recursive=True, dependents=True)
    assert not zfs.exists("zones/vm") and not zfs.exists("zones/img")


def test_set_and_user_props(hosts):
    """§10.3: `zfs set quota=<N>g|none` and user properties."""
    _, zfs, _ = hosts[0]
    zfs.create_filesystem("zones/vm")
    zfs.set("zones/vm", quota="20g", refquota=None)
    zfs.set_props("zones/vm", {"com.joyent:owner": "me"})
    got = zfs.get("zones/vm", ["quota", "refquota", "com.joyent:owner"])
    assert got == {"quota": 20 << 30, "refquota": 0, "com.joyent:owner": "me"}
    zfs.set("zones/vm", quota=None)
    assert zfs.get("zones/vm", ["quota"])["quota"] == 0


def test_migration_sync_between_hosts(hosts):
    """§4.3 sync: first sync `send --replicate @vm-migration-1`, later syncs
    `send --replicate -I @N-1 @N`, estimate with -nP, received with
    `receive -u -s -F -x encryption`; the target ends with identical bytes."""
    (src_host, src, _), (dst_host, dst, _) = hosts
    src.create_filesystem("zones/vm")
    src.create_volume("zones/vm/disk0", "32M")
    src_pool = Pool(src_host)
    src_pool.write_volume("zones/vm/disk0", 0, data(8 * MIB))
    src.snapshot("zones/vm@vm-migration-1", recursive=True)
    estimate = src.send_size("zones/vm@vm-migration-1", replicate=True)
    buf = io.BytesIO()
    src.send("zones/vm@vm-migration-1", buf, replicate=True)
    assert len(buf.getvalue()) == estimate > 8 * MIB
    dst.receive("zones/vm", buf.getvalue(), force=True, unmounted=True, resumable=True,
                exclude_props=("encryption",))
    assert dst.resume_token("zones/vm") is None
    src_pool.write_volume("zones/vm/disk0", 3 * MIB, b"dirty")
    src.snapshot("zones/vm@vm-migration-2", recursive=True)
    src.snapshot("zones/vm@vm-migration-3", recursive=True)
    inc = io.BytesIO()
    src.send("zones/vm@vm-migration-3", inc, incremental_from="@vm-migration-1",
             intermediates=True, replicate=True)
    assert len(inc.getvalue()) < 256 * 1024
    dst.receive("zones/vm", io.BytesIO(inc.getvalue()), force=True, unmounted=True,
                resumable=True)
    assert dst.snapshots("zones/vm/disk0") == [
        "zones/vm/disk0@vm-migration-1", "zones/vm/disk0@vm-migration-2",
        "zones/vm/disk0@vm-migration-3"]
    dst_pool = Pool(dst_host)
    assert dst_pool.read_volume("zones/vm/disk0") == src_pool.read_volume("zones/vm/disk0")
    src_pool.close()
    dst_pool.close()


def test_resume_token_flow(hosts):
    """§4.3 step 4: when `receive_resume_token` is not "-", `zfs send -t <token>`
    resumes; `receive -A` aborts."""
    (src_host, src, _), (_, dst, _) = hosts
    src.create_volume("zones/disk", "8M")
    pool = Pool(src_host)
    pool.write_volume("zones/disk", 0, data(8 * MIB, seed=3))
    pool.close()
    src.snapshot("zones/disk@m1")
    buf = io.BytesIO()
    src.send("zones/disk@m1", buf)
    stream = buf.getvalue()
    with pytest.raises(errors.CommandError, match="zfs send -t"):
        dst.receive("zones/disk", stream[: len(stream) // 3], resumable=True)
    token = dst.resume_token("zones/disk")
    assert token
    assert src.send_size(resume_token=token) < len(stream)
    rest = io.BytesIO()
    src.send(None, rest, resume_token=token)
    dst.receive("zones/disk", rest.getvalue(), resumable=True)
    assert dst.resume_token("zones/disk") is None
    assert dst.snapshots("zones/disk") == ["zones/disk@m1"]
    # A second interrupted receive, this time aborted.
    src.snapshot("zones/disk@m2")
    with pytest.raises(errors.CommandError):
        dst.receive("zones/disk", b"garbage", resumable=True)
    assert dst.resume_token("zones/disk") is None
    with pytest.raises(errors.CommandError, match="resumable receive state"):
        dst.abort_receive("zones/disk")
