"""Helpers shared by the benchmarks: emulated hosts, images, served hosts.

Everything here goes through the emulator's public interfaces (init_host,
run_tool, imagebuild, smartos-sim serve/stop) or the host clients; nothing
reaches into emulator internals except the read-only counters in
``store_counters`` (row counts and pack sizes, for "what did it write").
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import shlex
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import _common  # noqa: F401  (puts the repo on sys.path)

from openstack_smartos.sim import tools
from openstack_smartos.sim.host import init_host

MIB = 1 << 20
SSHD_BINARY = "/usr/sbin/sshd"


def parse_args(description):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (its path goes to stderr)")
    return parser.parse_args()


@contextlib.contextmanager
def workdir(prefix, keep=False):
    path = tempfile.mkdtemp(prefix=f"bench-{prefix}-")
    try:
        yield Path(path)
    finally:
        if keep:
            print(f"kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def run(hostdir, argv, stdin=b"", stdout=None):
    """run_tool with byte buffers; returns (code, stdout bytes, stderr text)."""
    out = stdout if stdout is not None else io.BytesIO()
    err = io.BytesIO()
    source = stdin if hasattr(stdin, "read") else io.BytesIO(stdin)
    code = tools.run_tool(str(hostdir), list(argv), stdin=source, stdout=out, stderr=err)
    data = out.getvalue() if stdout is None else b""
    return code, data, err.getvalue().decode("utf-8", "replace")


def check(result, what):
    code, _out, err = result
    if code != 0:
        raise RuntimeError(f"{what} failed ({code}): {err.strip()}")
    return result


class DevNull:
    """A binary sink that counts what it is given."""

    def __init__(self):
        self.count = 0

    def write(self, data):
        self.count += len(data)
        return len(data)

    def flush(self):
        pass


# -- images --------------------------------------------------------------------

ZONE_FILES = {
    "root/etc/release": b"SmartOS benchmark zone image\n",
    "root/etc/motd": b"welcome\n" * 16,
    "root/opt/local/bin/app": os.urandom(64 * 1024),
}


def build_zone_image(out_dir):
    from openstack_smartos.sim import imagebuild
    return imagebuild.build_image(out_dir, "zone-dataset", name="bench-zone",
                                  version="1.0.0", files=ZONE_FILES, compression="gzip")


class DistinctVolume:
    """A readable volume of ``size`` bytes in which every 128 KiB block differs.

    Each MiB is one random MiB (drawn once) with a counter stamped at the
    start of each of its 128 KiB blocks, so blocks never repeat and the
    emulator's content-hash dedup has nothing to share. ``text_half=True``
    replaces the second half of each block with text-like, compressible
    bytes (still stamped, so still distinct).
    """

    def __init__(self, size, text_half=False, seed_mib=8):
        self.size = size
        self.offset = 0
        self._random = [os.urandom(MIB) for _ in range(seed_mib)]
        self._text_half = text_half
        line = b"2026-03-01T12:00:00Z INFO nova.compute.manager instance spawned ok\n"
        self._text = (line * (MIB // len(line) + 1))[:MIB]

    def _mib(self, index):
        base = bytearray(self._random[index % len(self._random)])
        block = 128 * 1024
        for start in range(0, MIB, block):
            if self._text_half:
                half = block // 2
                base[start + half:start + block] = self._text[start + half:start + block]
            stamp = f"block {index * 8 + start // block:012d} ".encode()
            base[start:start + len(stamp)] = stamp
            if self._text_half:
                # stamp the text half too, so it is not one repeated run
                base[start + half:start + half + len(stamp)] = stamp
        return bytes(base)

    def read(self, size=-1):
        if self.offset >= self.size:
            return b""
        want = self.size - self.offset if size is None or size < 0 else size
        want = min(want, self.size - self.offset)
        chunks = []
        while want > 0:
            index, within = divmod(self.offset, MIB)
            data = self._mib(index)[within:within + want]
            chunks.append(data)
            self.offset += len(data)
            want -= len(data)
        return b"".join(chunks)


def build_zvol_image(out_dir, size, *, name, compression="none", text_half=False):
    from openstack_smartos.sim import imagebuild
    return imagebuild.build_image(out_dir, "zvol", name=name, version="1.0.0",
                                  volume=DistinctVolume(size, text_half=text_half),
                                  volume_size=size, compression=compression)


def new_host(path, **kwargs):
    kwargs.setdefault("zpool_gib", 1024)
    kwargs.setdefault("memory_mib", 1 << 22)
    kwargs.setdefault("cpus", 256)
    host = init_host(path, **kwargs)
    # init_host returns the host with its SQLite connection open. Left open,
    # that connection pins the WAL (it is never checkpointed or reset), and
    # every later commit by run_tool pays for it: close it.
    host.close()
    return Path(path)


# -- counters ------------------------------------------------------------------

def store_counters(hostdir):
    """Rows in the emulated ZFS tables and bytes in pack files (read-only)."""
    hostdir = Path(hostdir)
    counts = {}
    conn = sqlite3.connect(f"file:{hostdir / 'state.db'}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'zfs_%'")]
        for table in tables:
            counts[table] = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        if "zfs_packs" in tables:
            counts["packs_size_column"] = conn.execute(
                "SELECT COALESCE(SUM(size), 0) FROM zfs_packs").fetchone()[0]
    finally:
        conn.close()
    pack_bytes, pack_files, other_db = 0, 0, []
    zfsdir = hostdir / "zfs"
    if zfsdir.exists():
        for root, _dirs, files in os.walk(zfsdir):
            for name in files:
                full = os.path.join(root, name)
                if name.endswith(".pack"):
                    pack_bytes += os.path.getsize(full)
                    pack_files += 1
                elif name.endswith((".db", ".sqlite")):
                    other_db.append(full)
    counts["pack_bytes"] = pack_bytes
    counts["pack_files"] = pack_files
    counts["db_bytes"] = sum(os.path.getsize(p) for p in hostdir.glob("state.db*"))
    if other_db:
        counts["other_databases"] = other_db
    return counts


def diff_counters(before, after):
    return {k: after[k] - before.get(k, 0) for k in after
            if isinstance(after[k], int) and after[k] != before.get(k, 0)}


# -- local:// wrappers and ssh:// serving -----------------------------------------

def tool_wrappers(hostdir, bindir=None):
    """A directory with one script per tool running ``smartos-sim exec``.

    Uses the emulator's own stand-ins (``sim.shims.write_shims``: DIR/bin)
    when the emulator has them, else reuses DIR/sshd/bin when ``smartos-sim
    serve`` wrote it, else writes equivalent scripts.
    """
    try:
        from openstack_smartos.sim import shims
    except ImportError:
        shims = None
    if shims is not None and bindir is None:
        return shims.write_shims(hostdir), "DIR/bin from sim.shims.write_shims"
    served = Path(hostdir) / "sshd" / "bin"
    if bindir is None and served.is_dir() and all((served / t).exists() for t in tools.TOOLS):
        return served, "reused DIR/sshd/bin (written by smartos-sim serve)"
    bindir = Path(bindir or Path(hostdir).parent / "bin")
    bindir.mkdir(parents=True, exist_ok=True)
    python = shlex.quote(sys.executable)
    for tool in tools.TOOLS:
        path = bindir / tool
        path.write_text("#!/bin/sh\n"
                        f"exec {python} -m openstack_smartos.sim exec "
                        f"{shlex.quote(str(hostdir))} -- {tool} \"$@\"\n")
        path.chmod(0o755)
    return bindir, "written by the benchmark"


def smartos_sim(*args):
    return subprocess.run([sys.executable, "-m", "openstack_smartos.sim", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          cwd=str(Path(_common.__file__).resolve().parent.parent))


_ADDRESSES = itertools.count(os.getpid() % 200)


def _free_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class Served:
    """``smartos-sim serve`` for one host dir, with a fresh ed25519 client key."""

    def __init__(self, hostdir, keydir):
        self.hostdir = Path(hostdir)
        self.keydir = Path(keydir)
        self.address = self.port = None
        self.serving = False

    def start(self):
        if not os.path.exists(SSHD_BINARY):
            raise RuntimeError(f"{SSHD_BINARY} is missing")
        self.keydir.mkdir(parents=True, exist_ok=True)
        self.key = self.keydir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench",
                        "-f", str(self.key)], check=True, stdin=subprocess.DEVNULL)
        last = None
        for _ in range(3):
            self.address = f"127.0.0.{2 + next(_ADDRESSES) % 250}"
            self.port = _free_port(self.address)
            result = smartos_sim("serve", self.hostdir, "--listen",
                                 f"{self.address}:{self.port}",
                                 "--authorized-keys", f"{self.key}.pub")
            if result.returncode == 0:
                self.serving = True
                return self
            last = f"smartos-sim serve failed ({result.returncode}): " \
                   f"{result.stdout}{result.stderr}".strip()
        raise RuntimeError(last)

    @property
    def uri(self):
        return f"ssh://root@{self.address}:{self.port}"

    @property
    def known_hosts(self):
        return str(self.hostdir / "sshd" / "known_hosts")

    def stop(self):
        if self.serving:
            smartos_sim("stop", self.hostdir)
            self.serving = False


def dumps(value):
    return json.dumps(value, sort_keys=True)


def rmtree(path):
    shutil.rmtree(path, ignore_errors=True)
