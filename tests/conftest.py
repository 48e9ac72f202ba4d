"""Shared fixtures: emulated hosts, SSH key pairs, hosts served over sshd."""

from __future__ import annotations

import os

# nova must choose its concurrency mode before any nova module is imported,
# whichever test directory pytest collects first (tests/unit imports the
# driver too); see tests/functional/__init__.py for the rule and the mode.
os.environ.setdefault("OS_NOVA_DISABLE_EVENTLET_PATCHING", "true")
from nova import monkey_patch  # noqa: E402
monkey_patch.patch(backend="threading")

import dataclasses  # noqa: E402
import itertools
import socket
import subprocess
import sys
from pathlib import Path

import pytest

SSHD_BINARY = "/usr/sbin/sshd"
HAVE_SSHD = os.path.exists(SSHD_BINARY)
NO_SSHD_REASON = f"{SSHD_BINARY} is missing: install openssh-server to run the ssh tests"


# -- emulated hosts ---------------------------------------------------------

@pytest.fixture
def fake_vms(monkeypatch):
    """A mutable list of VM objects that ``vmstore.all_vms`` serves in this process,
    for the emulated tools that only read VMs (dladm, nictagadm, ...)."""
    from openstack_smartos.sim.state import vms as vmstore

    current = []
    monkeypatch.setattr(vmstore, "all_vms", lambda host: [dict(v) for v in current])
    return current


@pytest.fixture
def sim_host(tmp_path):
    """Factory: ``sim_host(name=None, **init_host_kwargs) -> SimHost``.

    Each call creates a fresh emulated host under ``tmp_path/hosts/``;
    ``host.root`` is its directory (use ``sim://{host.root}`` as a URI).
    """
    from openstack_smartos.sim.host import init_host

    counter = itertools.count(1)

    def make(name=None, **kwargs):
        name = name or f"host{next(counter)}"
        return init_host(tmp_path / "hosts" / name, **kwargs)

    return make


# -- ssh -------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class KeyPair:
    private: Path
    public: Path


@pytest.fixture
def ssh_keypair(tmp_path):
    """A fresh ed25519 client key pair (no passphrase): ``.private``, ``.public``."""
    keydir = tmp_path / "client-key"
    keydir.mkdir()
    private = keydir / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "pytest",
                    "-f", str(private)], check=True, stdin=subprocess.DEVNULL)
    return KeyPair(private=private, public=Path(str(private) + ".pub"))


def _smartos_sim(*args):
    return subprocess.run([sys.executable, "-m", "openstack_smartos.sim", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


# 127.0.0.N addresses handed to served hosts; start at a per-process offset so
# concurrent test runs tend to use different addresses (ports are checked free).
_ADDRESSES = itertools.count(os.getpid() % 200)


def _next_address() -> str:
    return f"127.0.0.{2 + next(_ADDRESSES) % 250}"


def _free_port(address) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class ServedHost:
    """An emulated host behind its own sshd (``smartos-sim serve``)."""

    host: object            # the SimHost
    address: str
    port: int
    key: KeyPair
    _transports: list = dataclasses.field(default_factory=list, repr=False)
    serving: bool = False

    @property
    def hostdir(self) -> Path:
        return Path(self.host.root)

    @property
    def uri(self) -> str:
        return f"ssh://root@{self.address}:{self.port}"

    @property
    def known_hosts(self) -> Path:
        return self.hostdir / "sshd" / "known_hosts"

    @property
    def sshd_log(self) -> Path:
        return self.hostdir / "sshd" / "sshd.log"

    def accepted_logins(self) -> int:
        """How many SSH logins sshd has accepted (one per client connection)."""
        if not self.sshd_log.exists():
            return 0
        return self.sshd_log.read_text(errors="replace").count("Accepted publickey for")

    def transport(self, **options):
        """An SSHTransport to this host (closed at teardown)."""
        from openstack_smartos.host.ssh import SSHTransport
        options.setdefault("key_file", str(self.key.private))
        options.setdefault("known_hosts", str(self.known_hosts))
        transport = SSHTransport(self.uri, **options)
        self._transports.append(transport)
        return transport

    def start(self):
        result = _smartos_sim("serve", self.hostdir, "--listen",
                              f"{self.address}:{self.port}",
                              "--authorized-keys", self.key.public)
        if result.returncode != 0:
            raise RuntimeError(f"smartos-sim serve failed ({result.returncode}): "
                               f"{result.stdout}{result.stderr}")
        self.serving = True
        return result

    def stop(self):
        result = _smartos_sim("stop", self.hostdir)
        self.serving = False
        if result.returncode != 0:
            raise RuntimeError(f"smartos-sim stop failed: {result.stdout}{result.stderr}")
        return result

    def close_transports(self):
        while self._transports:
            self._transports.pop().close()


@pytest.fixture
def served_host(sim_host, ssh_keypair):
    """Factory: ``served_host(host=None, **init_host_kwargs) -> ServedHost``.

    Serves an emulated host (a new one unless ``host`` is given) with
    ``smartos-sim serve`` on a free port of its own 127.0.0.N address,
    authorising ``ssh_keypair``. ``.uri``, ``.known_hosts``, ``.key.private``
    and ``.transport(**options)`` reach it; every sshd is stopped and every
    transport made by ``.transport()`` closed at teardown.
    """
    if not HAVE_SSHD:
        pytest.skip(NO_SSHD_REASON)
    served = []

    def make(host=None, **kwargs):
        host = host or sim_host(**kwargs)
        last_error = None
        for _attempt in range(3):   # a port can be taken between probe and bind
            address = _next_address()
            entry = ServedHost(host=host, address=address, port=_free_port(address),
                               key=ssh_keypair)
            try:
                entry.start()
            except RuntimeError as exc:
                last_error = exc
                continue
            served.append(entry)
            return entry
        raise last_error

    yield make
    for entry in served:
        entry.close_transports()
    for entry in served:
        _smartos_sim("stop", entry.hostdir)


# -- installed images (without imgadm) -----------------------------------------------

@pytest.fixture
def install_image():
    """Factory: ``install_image(host, type="zone-dataset", uuid=None, size_mib=...)``.

    Installs an image as imgadm leaves it, using only the emulated ZFS and
    the image store: the dataset ``<pool>/<uuid>`` (a filesystem, or a volume
    for ``zvol``) with its ``@final`` snapshot, and the cached manifest.
    Returns the manifest.
    """
    import uuid as uuidlib

    from openstack_smartos.sim.state import images as imgstore
    from openstack_smartos.sim.state.zfs import Pool

    def install(host, image_type="zone-dataset", uuid=None, size_mib=None, **manifest):
        uuid = uuid or str(uuidlib.uuid4())
        pool = Pool(host)
        with host.locked():
            if image_type == "zvol":
                size_mib = size_mib or 10240
                pool.create_volume(f"{host.zpool}/{uuid}", size_mib << 20, sparse=True)
            else:
                pool.create_filesystem(f"{host.zpool}/{uuid}")
                pool.write_file(f"{host.zpool}/{uuid}", "root/etc/release",
                                b"SmartOS test image\n")
            pool.snapshot(f"{host.zpool}/{uuid}@final")
            record = {"v": 2, "uuid": uuid, "name": f"test-{image_type}", "version": "1.0.0",
                      "type": image_type, "os": "linux" if image_type != "zone-dataset"
                      else "smartos", "state": "active", "disabled": False, "public": True,
                      "published_at": "2026-01-01T00:00:00Z", **manifest}
            if image_type == "zvol":
                record["image_size"] = size_mib
            imgstore.put_image(host, record, host.zpool)
        return record

    return install
