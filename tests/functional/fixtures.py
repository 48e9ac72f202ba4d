"""Harness for testing the SmartOS driver through nova's real functional stack.

What is real here: the nova REST API (wsgi-intercept), conductor, scheduler,
nova-compute with ``compute_driver = smartos.driver.SmartOSDriver`` loaded by
nova's own loader through the ``nova.virt.smartos`` shim, placement, and one
emulated SmartOS host per compute (``sim:///<hostdir>``). What is faked:
Keystone (stubbed), Glance (``GlanceFixture``, holding real image bytes),
Neutron and Cinder (nova's fixtures), RPC (``fake://``) and the databases
(in-memory sqlite).

Pieces:

* :class:`PytestCompatMixin` -- nova.test.TestCase under pytest >= 8 (the
  ``_clear_attrs`` fix).
* :func:`nova_api_paste_ini` -- where the nova wheel really installed
  api-paste.ini (``[wsgi] api_paste_config``).
* :class:`SmartOSShimFixture` -- puts ``shim/nova/virt`` on
  ``nova.virt.__path__``, so nova's loader imports the shim file itself, as it
  would from an installed wheel.
* :class:`SmartOSHostsFixture` -- one emulated host per compute, in a temp dir.
* :class:`ImageLibrary` / ``register_*_image`` -- Glance images with real bytes.
* ``vmadm_list`` / ``vmadm_get`` / ``zfs_list`` / ``imgadm_list`` -- look at an
  emulated host afterwards, through the emulator's own tools.
* :class:`SmartOSFunctionalBase` -- the base test class.
"""

from __future__ import annotations

import atexit
import functools
import importlib.metadata
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import uuid as uuidlib
from pathlib import Path

import fixtures

from nova import conf as nova_conf
from nova.tests.functional import integrated_helpers

from openstack_smartos.nova import conf as smartos_conf
from openstack_smartos.sim import faults as sim_faults
from openstack_smartos.sim import imagebuild
from openstack_smartos.sim.host import SimHost, init_host
from openstack_smartos.sim.tools import run_tool

CONF = nova_conf.CONF

REPO = Path(__file__).resolve().parents[2]
SHIM_VIRT_DIR = REPO / "shim" / "nova" / "virt"
DRIVER = "smartos.driver.SmartOSDriver"


# -- nova under pytest -------------------------------------------------------------

class PytestCompatMixin:
    """nova.test.TestCase's ``_clear_attrs`` cleanup deletes every public
    instance attribute. pytest >= 8 sets the test method as an instance
    attribute and deletes it after the run, so without this every test
    "fails" with AttributeError after passing. Keep ``test*`` attributes."""

    def _clear_attrs(self):
        for key in [k for k in self.__dict__ if k[0] != "_"]:
            if key != "id" and not key.startswith("test"):
                del self.__dict__[key]


@functools.lru_cache(maxsize=None)
def nova_api_paste_ini() -> str:
    """The nova wheel installs api-paste.ini as a data file (<venv>/etc/nova),
    not where nova's ConfFixture looks (<site-packages>/etc/nova)."""
    for item in importlib.metadata.files("nova") or ():
        if str(item).replace("\\", "/").endswith("etc/nova/api-paste.ini"):
            path = Path(item.locate()).resolve()
            if path.exists():
                return str(path)
    raise RuntimeError("api-paste.ini not found in the nova distribution")


class SmartOSShimFixture(fixtures.Fixture):
    """Make ``nova.virt.smartos`` importable the way an installed wheel does.

    The shim package lives in ``shim/nova/virt/smartos``; appending
    ``shim/nova/virt`` to ``nova.virt.__path__`` lets nova's loader
    (``importutils.import_object('nova.virt.smartos.driver.SmartOSDriver')``)
    import the shim's own files, with no sys.modules aliasing.
    """

    def __init__(self, virt_dir=SHIM_VIRT_DIR):
        super().__init__()
        self.virt_dir = str(virt_dir)

    def _setUp(self):
        import nova.virt
        if self.virt_dir not in nova.virt.__path__:
            nova.virt.__path__.append(self.virt_dir)
            self.addCleanup(self._remove)

    def _remove(self):
        import nova.virt
        # The imported modules stay in sys.modules (nova holds the class).
        try:
            nova.virt.__path__.remove(self.virt_dir)
        except ValueError:
            pass


def register_smartos_opts():
    """Register ``[smartos]`` on nova's CONF (idempotent) so tests can set flags
    before the driver module is imported."""
    smartos_conf.register_opts(CONF)


# -- emulated hosts ------------------------------------------------------------------

class SmartOSHostsFixture(fixtures.Fixture):
    """Emulated SmartOS hosts in a temp dir: ``add(name, **init_host_kwargs)``."""

    DEFAULTS = dict(cpus=8, memory_mib=16384, zpool_gib=256)

    def _setUp(self):
        self.root = Path(self.useFixture(fixtures.TempDir()).path)
        self.hosts: dict[str, SimHost] = {}

    def add(self, name, **kwargs) -> SimHost:
        kwargs = {**self.DEFAULTS, **kwargs}
        kwargs.setdefault("hostname", name)
        host = init_host(self.root / name, **kwargs)
        self.hosts[name] = host
        return host

    def __getitem__(self, name) -> SimHost:
        return self.hosts[name]

    def dir(self, name) -> Path:
        return Path(self.hosts[name].root)

    def uri(self, name) -> str:
        return sim_uri(self.hosts[name])


def sim_uri(host) -> str:
    return "sim://" + str(Path(getattr(host, "root", host)).resolve())


def host_uuid(host) -> str:
    return SimHost(getattr(host, "root", host)).config["uuid"]


# -- looking at a host -------------------------------------------------------------------

def run(host, *argv, stdin=b"", check=True):
    """Run a tool on the emulated host; returns (rc, stdout str, stderr str)."""
    hostdir = str(getattr(host, "root", host))
    out, err = io.BytesIO(), io.BytesIO()
    rc = run_tool(hostdir, [str(a) for a in argv], stdin=io.BytesIO(stdin),
                  stdout=out, stderr=err)
    result = (rc, out.getvalue().decode(errors="replace"),
              err.getvalue().decode(errors="replace"))
    if check and rc != 0:
        raise AssertionError(f"{' '.join(map(str, argv))} exited {rc}: {result[2]}")
    return result


def vmadm_list(host) -> dict[str, str]:
    """``vmadm list -p -o uuid,state`` as {uuid: state}."""
    _rc, out, _err = run(host, "vmadm", "list", "-p", "-o", "uuid,state")
    vms = {}
    for line in out.splitlines():
        if line.strip():
            uuid, state = line.split(":", 1)
            vms[uuid] = state
    return vms


def vmadm_lookup(host) -> list[dict]:
    """``vmadm lookup -j``: every VM object on the host."""
    return json.loads(run(host, "vmadm", "lookup", "-j")[1])


def vmadm_get(host, uuid) -> dict | None:
    rc, out, _err = run(host, "vmadm", "get", uuid, check=False)
    return json.loads(out) if rc == 0 else None


def zfs_list(host, props=("name",), types="filesystem,volume") -> list:
    """``zfs list -H -o <props> [-t types]``: a list of names (one prop) or tuples."""
    argv = ["zfs", "list", "-H", "-o", ",".join(props)]
    if types:
        argv += ["-t", types]
    _rc, out, _err = run(host, *argv)
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    if len(props) == 1:
        return [row[0] for row in rows]
    return [tuple(row) for row in rows]


def zfs_origins(host) -> dict[str, str]:
    """{dataset: origin} for every filesystem and volume ('-' when none)."""
    return dict(zfs_list(host, ("name", "origin")))


def imgadm_list(host) -> list[str]:
    """UUIDs of images installed on the host."""
    _rc, out, _err = run(host, "imgadm", "list", "-H", "-o", "uuid")
    return [line.strip() for line in out.splitlines() if line.strip()]


def datasets_of(host, instance_uuid) -> list[str]:
    """Every dataset or snapshot on the host whose name mentions the instance."""
    return [name for name in zfs_list(host, types="all") if instance_uuid in name]


def staged_files(directory="/var/tmp") -> set:
    """The driver's staged files on the host's /var/tmp. The emulator runs the
    tools in this process and file arguments are this machine's paths, so an
    emulated host's /var/tmp is the real one."""
    try:
        return {name for name in os.listdir(directory) if name.startswith("openstack")}
    except FileNotFoundError:
        return set()


add_fault = sim_faults.add_rule
clear_faults = sim_faults.clear


# -- images ----------------------------------------------------------------------------

# nova's TestCase points tempfile.tempdir at a per-test directory removed at
# teardown; whatever outlives one test goes under the process's real temp dir.
PROCESS_TMP = tempfile.gettempdir()
_BUILD_DIR = None
_BUILD_LOCK = threading.Lock()


def _build_dir() -> Path:
    global _BUILD_DIR
    if _BUILD_DIR is None:
        _BUILD_DIR = Path(tempfile.mkdtemp(prefix="smartos-functional-images-",
                                               dir=PROCESS_TMP))
        atexit.register(shutil.rmtree, str(_BUILD_DIR), True)
    return _BUILD_DIR


def raw_disk_bytes(size_mib=2, label=b"smartos-functional") -> bytes:
    """A small raw disk: an MBR boot signature and a recognisable pattern."""
    data = bytearray(size_mib << 20)
    data[0:len(label)] = label
    data[510:512] = b"\x55\xaa"
    marker = b"SMARTOS-FUNCTIONAL-DISK-BLOCK\n"
    for offset in range(1 << 20, len(data), 1 << 20):
        data[offset:offset + len(marker)] = marker
    return bytes(data)


class BuiltImage:
    """An image's bytes plus what Glance should say about it."""

    def __init__(self, kind, image_id, data, properties, disk_format="raw",
                 container_format="bare", manifest=None):
        self.kind = kind
        self.id = image_id
        self.data = data
        self.properties = properties
        self.disk_format = disk_format
        self.container_format = container_format
        self.manifest = manifest


@functools.lru_cache(maxsize=None)
def _zone_image_file(kind: str) -> tuple:
    """Build (once per process) an imgadm image file for zone/lx datasets."""
    image_type = {"zone": "zone-dataset", "lx": "lx-dataset"}[kind]
    image_uuid = str(uuidlib.uuid4())
    files = {"root/etc/release": f"SmartOS functional test {kind} image\n".encode(),
             "root/etc/motd": b"built by tests/functional\n"}
    extra = {}
    if kind == "lx":
        files["root/etc/os-release"] = b'NAME="Functional Linux"\nID=functest\n'
        extra = {"requirements": {"brand": "lx"}}
    with _BUILD_LOCK:
        manifest, _mpath, file_path = imagebuild.build_image(
            _build_dir() / kind, image_type, name=f"functional-{kind}",
            files=files, image_uuid=image_uuid, compression="gzip", **extra)
    return manifest, Path(file_path).read_bytes()


def build_image(kind: str) -> BuiltImage:
    """kind: zone | lx | bhyve | kvm."""
    if kind in ("zone", "lx"):
        manifest, data = _zone_image_file(kind)
        properties = {"smartos_image_type": manifest["type"], "hw_vm_mode": "exe"}
        if kind == "lx":
            properties["os_type"] = "linux"
        return BuiltImage(kind, manifest["uuid"], data, properties, manifest=manifest)
    if kind in ("bhyve", "kvm"):
        properties = {"smartos_image_type": "zvol", "img_hv_type": kind,
                      "hw_vm_mode": "hvm", "os_type": "linux"}
        return BuiltImage(kind, str(uuidlib.uuid4()), raw_disk_bytes(), properties)
    raise ValueError(kind)


def register_image(glance, image: BuiltImage, context=None, *, image_id=None,
                   name=None, properties=None, **metadata):
    """Store ``image`` in nova's GlanceFixture with its real bytes; returns the id."""
    meta = {
        "id": image_id or image.id,
        "name": name or f"functional-{image.kind}",
        "status": "active",
        "visibility": "public",
        "disk_format": image.disk_format,
        "container_format": image.container_format,
        "size": len(image.data),
        "min_ram": 0,
        "min_disk": 0,
        "properties": {**image.properties, **(properties or {})},
    }
    meta.update(metadata)
    glance.create(context, meta, data=io.BytesIO(image.data))
    return meta["id"]


# Flavors: name -> (memory_mb, vcpus, root_gb, extra_specs)
FLAVORS = {
    "zone": (512, 1, 5, {"smartos:cpu_cap": "100"}),
    "lx": (768, 1, 5, {}),
    "bhyve": (1024, 2, 10, {}),
    "kvm": (1024, 1, 10, {}),
}


# -- ssh-served hosts ------------------------------------------------------------------

HAVE_SSHD = os.path.exists("/usr/sbin/sshd")


def _smartos_sim(*args):
    return subprocess.run([sys.executable, "-m", "openstack_smartos.sim", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


class ServedHostFixture(fixtures.Fixture):
    """Serve an emulated host over a real sshd (``smartos-sim serve``), the
    nova-TestCase counterpart of tests/conftest.py's ``served_host``."""

    def __init__(self, host):
        super().__init__()
        self.host = host
        self.hostdir = Path(host.root)

    def _setUp(self):
        keydir = Path(self.useFixture(fixtures.TempDir()).path)
        self.key = keydir / "id_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "functional",
                        "-f", str(self.key)], check=True, stdin=subprocess.DEVNULL)
        last = None
        for attempt in range(3):
            self.address = f"127.0.0.{2 + (os.getpid() + attempt * 37) % 250}"
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((self.address, 0))
                self.port = sock.getsockname()[1]
            result = _smartos_sim("serve", self.hostdir, "--listen",
                                  f"{self.address}:{self.port}",
                                  "--authorized-keys", f"{self.key}.pub")
            if result.returncode == 0:
                self.addCleanup(_smartos_sim, "stop", self.hostdir)
                return
            last = result
        raise RuntimeError(f"smartos-sim serve failed: {last.stdout}{last.stderr}")

    @property
    def uri(self):
        return f"ssh://root@{self.address}:{self.port}"

    @property
    def known_hosts(self):
        return self.hostdir / "sshd" / "known_hosts"


# -- the base test class -----------------------------------------------------------------

class SmartOSFunctionalBase(PytestCompatMixin,
                            integrated_helpers.ProviderUsageBaseTestCase):
    """Nova's full in-process stack with SmartOS computes on emulated hosts.

    ``setUp`` starts API, conductor, scheduler and placement, then one compute
    (``compute1``) on its own emulated host unless ``START_COMPUTE`` is False.
    ``_start_smartos_compute(name, **host_kwargs)`` adds more: each gets a new
    host dir; ``[smartos] host_uri`` is set just before the compute starts
    (the driver reads it in ``init_host``).
    """

    compute_driver = DRIVER
    microversion = "latest"
    START_COMPUTE = True
    HOST_KWARGS: dict = {}
    SMARTOS_FLAGS: dict = {}     # extra [smartos] options for compute1

    def setUp(self):
        # Before super().setUp(): it starts the OSAPIFixture (api-paste) and
        # we want [smartos] registered before any flag is set.
        register_smartos_opts()
        self.flags(api_paste_config=nova_api_paste_ini(), group="wsgi")
        self.useFixture(SmartOSShimFixture())
        super().setUp()
        self.sim_hosts = self.useFixture(SmartOSHostsFixture())
        self._staged_before = staged_files()
        self.smartos_computes = {}
        self.served_hosts = {}
        if self.START_COMPUTE:
            self.compute1 = self._start_smartos_compute(
                "compute1", smartos_flags=self.SMARTOS_FLAGS, **self.HOST_KWARGS)
            self.host1 = self.sim_hosts["compute1"]

    # -- computes
    def _start_smartos_compute(self, name, *, serve_ssh=False, smartos_flags=None,
                               **host_kwargs):
        """A new emulated host and a nova-compute driving it (sim://, or ssh://
        through a real sshd when ``serve_ssh``)."""
        host = self.sim_hosts.add(name, **host_kwargs)
        flags = {"host_uri": self.sim_hosts.uri(name)}
        if serve_ssh:
            served = self.useFixture(ServedHostFixture(host))
            self.served_hosts[name] = served
            flags.update(host_uri=served.uri, ssh_key_file=str(served.key),
                         ssh_known_hosts_file=str(served.known_hosts))
        flags.update(smartos_flags or {})
        self.flags(group="smartos", **flags)
        compute = self._start_compute(name)
        self.smartos_computes[name] = compute
        return compute

    def _driver(self, name="compute1"):
        return self.smartos_computes[name].manager.driver

    # -- images and flavors
    def _register_image(self, kind, **kwargs) -> str:
        return register_image(self.glance, build_image(kind), **kwargs)

    def _flavor(self, kind, extra_spec=None, **kwargs) -> str:
        memory_mb, vcpus, disk, specs = FLAVORS[kind]
        args = dict(memory_mb=memory_mb, vcpu=vcpus, disk=disk, ephemeral=0, swap=0,
                    extra_spec={**specs, **(extra_spec or {})} or None)
        args.update(kwargs)
        return self._create_flavor(**args)

    def _console_output(self, server_id, length=None, expect_status=200):
        """POST os-getConsoleOutput: the output text, or the response if it failed."""
        response = self.api.api_post(
            f"/servers/{server_id}/action", {"os-getConsoleOutput": {"length": length}},
            check_response_status=False)
        self.assertEqual(expect_status, response.status, response.body)
        return response.body["output"] if response.status == 200 else response

    def _boot(self, image_id, flavor_id, expected_state="ACTIVE", **kwargs):
        return self._create_server(image_uuid=image_id, flavor_id=flavor_id,
                                   networks="none", expected_state=expected_state,
                                   **kwargs)

    def _fault(self, server) -> str:
        server = self.api.get_server(server["id"])
        fault = server.get("fault") or {}
        return f"{fault.get('message', '')}\n{fault.get('details', '')}"

    def _assert_host_clean_of(self, host, instance_uuid):
        self.assertNotIn(instance_uuid, vmadm_list(host))
        self.assertEqual([], datasets_of(host, instance_uuid))

    def _assert_nothing_staged(self):
        """No staged image files left, on the host (/var/tmp) or locally."""
        self.assertEqual(set(), staged_files() - self._staged_before)
        work_dir = CONF.smartos.image_work_dir
        if os.path.isdir(work_dir):
            self.assertEqual([], os.listdir(work_dir))
