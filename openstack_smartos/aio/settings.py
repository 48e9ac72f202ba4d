"""Where the demo cloud keeps its state, where it listens, who logs in.

A demo's settings are saved in ``<state_dir>/demo.json`` when it is first
created; later starts, ``demo stop`` and ``tempest-config`` read them back, so
a restart finds the same addresses, hosts and databases.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

REGION = "RegionOne"
ADMIN_PASSWORD = "admin"
DEMO_PASSWORD = "demo"
SERVICE_PASSWORD = "service-secret"   # keystone users nova, glance, placement
SERVICE_USERS = ("nova", "glance", "placement")

# Service -> port on the demo's address (the usual OpenStack ports).
PORTS = {"keystone": 5000, "glance": 9292, "placement": 8778, "nova": 8774,
         "network": 9696}
SSH_BASE_PORT = 2200        # emulated host N listens on SSH_BASE_PORT + N
DATABASES = ("keystone", "glance", "placement", "nova_api", "nova_cell0", "nova")


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return Path(base) / "openstack-smartos" / "demo"


@dataclasses.dataclass
class DemoSettings:
    state_dir: Path
    address: str = "127.0.0.1"
    hosts: int = 2
    database_url: str | None = None    # mysql+pymysql://user:pw@host[:port]; None: SQLite
    transport_url: str | None = None   # rabbit://...; None: in-process (fake:/)
    database_prefix: str = "smartos_demo_"   # of the database names on a server

    def __post_init__(self):
        self.state_dir = Path(self.state_dir).resolve()

    # -- persistence
    @property
    def file(self) -> Path:
        return self.state_dir / "demo.json"

    def save(self):
        self.state_dir.mkdir(parents=True, exist_ok=True)
        data = dataclasses.asdict(self)
        data["state_dir"] = str(self.state_dir)
        self.file.write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, state_dir) -> "DemoSettings":
        path = Path(state_dir).resolve() / "demo.json"
        data = json.loads(path.read_text())
        data["state_dir"] = Path(state_dir).resolve()
        return cls(**data)

    # -- derived
    @property
    def embedded(self) -> bool:
        """SQLite and in-process messaging: nothing outside this machine's venv."""
        return self.database_url is None and self.transport_url is None

    def url(self, service: str, path: str = "") -> str:
        return f"http://{self.address}:{PORTS[service]}{path}"

    @property
    def auth_url(self) -> str:
        return self.url("keystone", "/v3")

    def database(self, name: str) -> str:
        if self.database_url is None:
            return f"sqlite:///{self.state_dir / 'db' / (name + '.sqlite')}"
        return f"{self.database_url.rstrip('/')}/{self.database_prefix}{name}"

    @property
    def messaging_url(self) -> str:
        return self.transport_url or "fake:/"

    def path(self, *parts) -> Path:
        return self.state_dir.joinpath(*parts)

    def host_name(self, index: int) -> str:
        return f"smartos-{index}"

    def host_dir(self, index: int) -> Path:
        return self.path("hosts", self.host_name(index))

    def ssh_port(self, index: int) -> int:
        return SSH_BASE_PORT + index

    def host_uri(self, index: int) -> str:
        import getpass
        return f"ssh://{getpass.getuser()}@{self.address}:{self.ssh_port(index)}"
