"""The emulated dd (zvol device nodes only) and the Zfs client's read/write_volume."""

from __future__ import annotations

import io
import os

import pytest

from openstack_smartos.host import SmartOSHost, errors
from openstack_smartos.sim import tools
from openstack_smartos.sim.state.zfs import Pool

MIB = 1 << 20


def run(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(str(host.root), list(argv), stdin=io.BytesIO(stdin),
                          stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue().decode()


@pytest.fixture
def host(sim_host):
    host = sim_host()
    with host.locked():
        pool = Pool(host)
        pool.create_volume("zones/vol", 4 * MIB)
        pool.create_filesystem("zones/fs")
    return host


def _volume(host, name="zones/vol"):
    return Pool(host).read_volume(name)


@pytest.mark.parametrize("device", ["/dev/zvol/rdsk/zones/vol", "/dev/zvol/dsk/zones/vol"])
def test_write_then_read(host, device):
    data = os.urandom(MIB + 1000)
    code, out, err = run(host, "dd", f"of={device}", "bs=1048576", stdin=data)
    assert code == 0, err
    assert out == b""
    assert err == "1+1 records in\n1+1 records out\n"
    volume = _volume(host)
    assert volume[:len(data)] == data and volume[len(data):] == bytes(4 * MIB - len(data))
    code, out, err = run(host, "dd", f"if={device}", "bs=1m")
    assert code == 0 and out == volume
    assert err == "4+0 records in\n4+0 records out\n"


def test_skip_count_seek_and_reblocking(host):
    data = bytes(range(256)) * 64                   # 16 KiB
    assert run(host, "dd", "of=/dev/zvol/rdsk/zones/vol", "bs=1k", "seek=2",
               "conv=notrunc", "oflag=sync", stdin=data)[0] == 0
    volume = _volume(host)
    assert volume[:2048] == bytes(2048) and volume[2048:2048 + len(data)] == data
    code, out, err = run(host, "dd", "if=/dev/zvol/rdsk/zones/vol", "bs=512", "skip=4",
                         "count=3")
    assert code == 0 and out == data[:1536]
    assert err == "3+0 records in\n3+0 records out\n"
    # ibs != obs: input records are reblocked into whole output records
    code, out, err = run(host, "dd", "if=/dev/zvol/rdsk/zones/vol", "ibs=512",
                         "obs=2k", "count=5")
    assert code == 0 and out == volume[:2560]
    assert err == "5+0 records in\n1+1 records out\n"


def test_default_block_and_stdin_to_stdout(host):
    code, out, err = run(host, "dd", stdin=b"x" * 1000)
    assert code == 0 and out == b"x" * 1000
    assert err == "1+1 records in\n1+1 records out\n"


def test_write_past_end_fails_after_writing_what_fits(host):
    data = os.urandom(5 * MIB)
    code, _, err = run(host, "dd", "of=/dev/zvol/rdsk/zones/vol", "bs=1m", stdin=data)
    assert code == 1
    lines = err.splitlines()
    assert "dd: /dev/zvol/rdsk/zones/vol: write: No space left on device" in lines
    assert lines[-2:] == ["5+0 records in", "4+0 records out"]
    assert _volume(host) == data[:4 * MIB]


@pytest.mark.parametrize("path", [
    "/dev/zvol/rdsk/zones/missing",     # no such dataset
    "/dev/zvol/rdsk/zones/fs",          # a filesystem has no device node
    "/dev/zvol/rdsk/",
    "/tmp/some-file",                   # only zvol devices are emulated
    "/dev/dsk/c0t0d0s0",
])
def test_open_errors(host, path):
    for operand in ("if", "of"):
        code, out, err = run(host, "dd", f"{operand}={path}", stdin=b"abc")
        assert code == 1 and out == b""
        assert err == f"dd: {path}: open: No such file or directory\n"


def test_snapshot_device_is_read_only(host):
    with host.locked():
        Pool(host).write_volume("zones/vol", 0, b"snap" * 128)
        Pool(host).snapshot("zones/vol@s1")
    code, out, _ = run(host, "dd", "if=/dev/zvol/rdsk/zones/vol@s1", "bs=512", "count=1")
    assert code == 0 and out == b"snap" * 128
    code, _, err = run(host, "dd", "of=/dev/zvol/rdsk/zones/vol@s1", stdin=b"x")
    assert code == 1 and "open: Read-only file system" in err


@pytest.mark.parametrize("args, message", [
    (["bogus=1"], 'dd: bad argument: "bogus=1"'),
    (["if"], 'dd: bad argument: "if"'),
    (["bs=abc"], 'dd: bad numeric argument: "abc"'),
    (["bs=0"], "dd: bad numeric argument"),
    (["conv=frobnicate"], 'dd: bad argument: "conv=frobnicate"'),
    (["oflag=weird"], 'dd: bad argument: "oflag=weird"'),
])
def test_usage_errors_exit_2(host, args, message):
    code, _, err = run(host, "dd", *args)
    assert code == 2 and err.startswith(message)


def test_numbers_take_illumos_suffixes(host):
    code, out, _ = run(host, "dd", "if=/dev/zvol/rdsk/zones/vol", "bs=2x1k", "count=1b")
    assert code == 0 and len(out) == 2048 * 512


def test_zfs_client_write_and_read_volume(host):
    client = SmartOSHost.connect(f"sim://{host.root}")
    data = os.urandom(3 * MIB + 1001)              # not a whole sector: padded
    sent = client.zfs.write_volume("zones/vol", io.BytesIO(data))
    assert sent == -(-len(data) // 512) * 512
    out = io.BytesIO()
    client.zfs.read_volume("zones/vol", out)
    assert out.getvalue() == data + bytes(4 * MIB - len(data))
    assert client.zfs.write_volume("zones/vol", b"bytes too") == 512
    snap = client.stats.snapshot()["by_command"]
    assert snap == {"dd": 3}      # counted per tool, never per path


def test_zfs_client_errors(host):
    client = SmartOSHost.connect(f"sim://{host.root}")
    with pytest.raises(errors.NotFound):
        client.zfs.write_volume("zones/missing", b"x")
    with pytest.raises(errors.NotFound):
        client.zfs.read_volume("zones/missing", io.BytesIO())
    with pytest.raises(errors.CommandError) as info:
        client.zfs.write_volume("zones/vol", bytes(5 * MIB))
    assert info.value.message == "dd: /dev/zvol/rdsk/zones/vol: write: No space left on device"
    with pytest.raises(ValueError):
        client.zfs.write_volume("-rf", b"x")
