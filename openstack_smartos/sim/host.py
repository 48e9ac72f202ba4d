"""An emulated host: its directory, configuration, state database and lock."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import random
import sqlite3
import threading
import time
import uuid as uuidlib
from pathlib import Path

CONFIG = "host.json"
DATABASE = "state.db"
LOCKFILE = "lock"

# Each emulator module registers its tables here (CREATE TABLE IF NOT EXISTS).
_SCHEMAS: list[str] = []


def register_schema(sql: str):
    if sql not in _SCHEMAS:
        _SCHEMAS.append(sql)


DEFAULT_TIMINGS = {
    # Seconds a transition stays visible to other readers. vmadm blocks for
    # them, as on SmartOS, so polling code paths get exercised.
    "provision_seconds": 0.0,
    "start_seconds": 0.0,
    "stop_seconds": 0.0,
    "reboot_seconds": 0.0,
}


def init_host(root, *, hostname=None, cpus=8, memory_mib=16384, zpool_gib=256,
              nic_tags=("admin", "external"), host_uuid=None, admin_ip="127.0.0.1",
              rack_dir=None):
    """Create an emulated host in ``root`` (which must be empty or absent).

    With ``rack_dir``, ``nic_tags`` are ``TAG=NETWORK`` pairs: the host's
    physical links plug into those networks of the rack, and it gets a real
    network (``state.network``); its Admin IP is its address on the admin
    tag's network.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    if (root / CONFIG).exists():
        raise FileExistsError(f"{root} already holds an emulated host")
    rng = random.Random()
    host_uuid = host_uuid or str(uuidlib.uuid4())
    rack_record = None
    if rack_dir is not None:
        from openstack_smartos.sim.state.network import rack
        pairs = [tag.partition("=") for tag in nic_tags]
        if any(not sep or not tag or not net for tag, sep, net in pairs):
            raise ValueError("with a rack, nic tags are TAG=NETWORK")
        rack_record = rack.join(rack_dir, host_uuid, root,
                                {tag: net for tag, _, net in pairs})
        nic_tags = tuple(tag for tag, _, _ in pairs)
    interfaces = {}
    for index, tag in enumerate(nic_tags):
        mac = "00:" + ":".join(f"{rng.randrange(256):02x}" for _ in range(5))
        interfaces[f"e1000g{index}"] = {"mac": mac, "nic_tags": [tag],
                                        "ip4addr": admin_ip if tag == "admin" else ""}
    if rack_record is not None:
        for ifname, link in rack_record["links"].items():
            interfaces[ifname]["ip4addr"] = link["address"].split("/")[0]
            if link["tag"] == "admin":
                admin_ip = interfaces[ifname]["ip4addr"]
    config = {
        "uuid": host_uuid,
        "hostname": hostname or f"sim-{host_uuid[:8]}",
        "cpus": int(cpus),
        "memory_mib": int(memory_mib),
        "zpool": "zones",
        "zpool_gib": int(zpool_gib),
        "nic_tags": list(nic_tags),
        "interfaces": interfaces,
        "admin_ip": admin_ip,
        "boot_time": int(time.time()),
        "live_image": "20260301T000000Z",
        "timings": dict(DEFAULT_TIMINGS),
    }
    if rack_record is not None:
        config["rack"] = rack_record
    (root / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    for sub in ("var/tmp", "var/imgadm/images", "var/log/vm/logs"):
        (root / "root" / sub).mkdir(parents=True, exist_ok=True)
    host = SimHost(root)
    with host.locked():
        from openstack_smartos.sim.state import zfs  # noqa: creates the pool
        zfs.Pool(host).ensure_pool()
    if rack_record is not None:
        from openstack_smartos.sim.state.network import dataplane
        dataplane.ensure_host(host)
    # Close the connection: an idle open one keeps SQLite's write-ahead log
    # from being checkpointed away, which slows every later commit. The
    # returned host reopens it on first use.
    host.close()
    return host


def _statements(script):
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip():
                yield statement
            statement = ""
    if statement.strip():
        yield statement


class SimHost:
    """One emulated host. Cheap to construct; open per tool invocation."""

    def __init__(self, root):
        self.root = Path(root)
        if not (self.root / CONFIG).exists():
            raise FileNotFoundError(f"{self.root}: not an emulated SmartOS host "
                                    "(run smartos-sim init first)")
        self._config = None
        self._db = None
        self._lock_depth = 0
        self._lock_fd = None
        self._owner = threading.get_ident()

    # -- configuration ---------------------------------------------------
    @property
    def config(self) -> dict:
        if self._config is None:
            self._config = json.loads((self.root / CONFIG).read_text())
        return self._config

    def save_config(self):
        tmp = self.root / (CONFIG + ".tmp")
        tmp.write_text(json.dumps(self.config, indent=2) + "\n")
        os.replace(tmp, self.root / CONFIG)

    @property
    def timings(self) -> dict:
        return {**DEFAULT_TIMINGS, **self.config.get("timings", {})}

    @property
    def zpool(self) -> str:
        return self.config.get("zpool", "zones")

    def path(self, *parts) -> Path:
        return self.root.joinpath(*parts)

    # -- database ----------------------------------------------------------
    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            conn = sqlite3.connect(self.root / DATABASE, timeout=60,
                                   isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            # zfs space accounting propagates up the dataset tree by triggers
            # that update their own table (see zfs._SPACE_SCHEMA).
            conn.execute("PRAGMA recursive_triggers=ON")
            conn.row_factory = sqlite3.Row
            self._db = conn
            self._schemas_applied = 0
            self._schema_digests = None
        # Modules register their tables when first imported, which may be
        # after this connection opened: apply any new ones now. Schemas this
        # database already holds (by digest, see _apply_schema) are skipped.
        while self._schemas_applied < len(_SCHEMAS):
            self._apply_schema(_SCHEMAS[self._schemas_applied])
            self._schemas_applied += 1
        return self._db

    def _apply_schema(self, sql):
        db = self._db
        digest = hashlib.sha1(sql.encode()).hexdigest()
        if self._schema_digests is None:
            db.execute("CREATE TABLE IF NOT EXISTS sim_schemas (digest TEXT PRIMARY KEY)")
            self._schema_digests = {row[0] for row in db.execute(
                "SELECT digest FROM sim_schemas")}
        if digest in self._schema_digests:
            return
        for statement in _statements(sql):
            db.execute(statement)  # executescript would COMMIT
        db.execute("INSERT OR IGNORE INTO sim_schemas (digest) VALUES (?)", (digest,))
        self._schema_digests.add(digest)

    @contextlib.contextmanager
    def transaction(self):
        """A write transaction; nested uses join the outer one."""
        db = self.db
        if db.in_transaction:
            yield db
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        else:
            db.execute("COMMIT")

    # -- host-wide lock (processes and threads) ---------------------------
    @contextlib.contextmanager
    def locked(self):
        """Serialise mutations across every process using this host."""
        if self._lock_depth:
            self._lock_depth += 1
            try:
                yield self
            finally:
                self._lock_depth -= 1
            return
        fd = os.open(self.root / LOCKFILE, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_fd = fd
            self._lock_depth = 1
            with self.transaction():
                yield self
        finally:
            self._lock_depth = 0
            self._lock_fd = None
            os.close(fd)  # closing releases the flock

    def close(self):
        if self._db is not None:
            self._db.close()
            self._db = None
