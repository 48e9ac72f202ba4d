"""``openstack-smartos demo``: start, supervise and stop the demo cloud.

The supervisor creates the emulated SmartOS hosts (first start), serves each
over a real sshd, prepares the databases and the catalog (first start),
starts the service processes, uploads the demo images and flavors (first
start), writes clouds.yaml and prints how to use it. It then watches its
children until Ctrl-C, SIGTERM (``demo stop``) or the death of one of them,
and stops everything it started. State lives in the state directory, so the
next start resumes the same cloud.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

from openstack_smartos.aio import bootstrap, configs, content, deployed
from openstack_smartos.aio.settings import (
    ADMIN_PASSWORD, DEMO_PASSWORD, PORTS, REGION, DemoSettings)

SERVICES = ("keystone", "glance", "nova")
READY_TIMEOUT = 300
HOST_SIZE = dict(cpus=16, memory_mib=65536, zpool_gib=512)


class DemoError(Exception):
    pass


class Progress:
    def __init__(self, out=sys.stdout):
        self.started = time.monotonic()
        self.out = out

    def __call__(self, text):
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=self.out, flush=True)


def running_pid(settings: DemoSettings) -> int | None:
    """The pid of this state directory's live supervisor, if any."""
    try:
        pid = int(settings.path("demo.pid").read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
        return None
    return pid


def _ports_free(settings: DemoSettings):
    import socket
    for service, port in PORTS.items():
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((settings.address, port)) == 0:
                raise DemoError(f"{settings.address}:{port} ({service}) is in use: "
                                "is another demo cloud running?")


# -- emulated hosts -----------------------------------------------------------------------
def _sim(*args, check=True):
    return subprocess.run([sys.executable, "-m", "openstack_smartos.sim", *map(str, args)],
                          check=check, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True)


def serve_hosts(settings: DemoSettings, progress):
    """Create the hosts that do not exist yet and serve them all over sshd."""
    from openstack_smartos.sim.host import init_host
    key = settings.path("ssh", "id_ed25519")
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C",
                        "openstack-smartos-demo", "-f", str(key)], check=True)
    known = []
    for index in range(1, settings.hosts + 1):
        hostdir = settings.host_dir(index)
        if not (hostdir / "host.json").exists():
            init_host(hostdir, hostname=settings.host_name(index),
                      admin_ip=settings.address, **HOST_SIZE)
            progress(f"emulated SmartOS host {settings.host_name(index)} created in {hostdir}")
        _sim("stop", hostdir, check=False)          # an sshd left by a crash
        result = _sim("serve", hostdir, "--listen",
                      f"{settings.address}:{settings.ssh_port(index)}",
                      "--authorized-keys", f"{key}.pub", check=False)
        if result.returncode:
            raise DemoError(f"serving {hostdir} over ssh failed: {result.stderr.strip()}")
        known.append((hostdir / "sshd" / "known_hosts").read_text())
    settings.path("ssh", "known_hosts").write_text("".join(known))
    progress(f"{settings.hosts} host(s) served over sshd on {settings.address}, ports "
             f"{settings.ssh_port(1)}-{settings.ssh_port(settings.hosts)}")


def stop_hosts(settings: DemoSettings):
    for index in range(1, settings.hosts + 1):
        if settings.host_dir(index).exists():
            _sim("stop", settings.host_dir(index), check=False)


# -- service processes ----------------------------------------------------------------------
def _start_service(settings: DemoSettings, name: str) -> subprocess.Popen:
    """One of ``aio.services``' processes; it prints READY when it serves."""
    return _spawn(settings, name, [sys.executable, "-m", "openstack_smartos.aio.services",
                                   name, str(settings.state_dir)], stdout=subprocess.PIPE)


def _start_nova_binary(settings: DemoSettings, binary: str, name: str, files: dict,
                       *config_names) -> subprocess.Popen:
    """A nova console script (deployed mode) with nova.conf and its own files."""
    argv = [str(bootstrap.tool_path(binary)), "--config-file", str(files["nova"])]
    for config in config_names:
        argv += ["--config-file", str(files[config])]
    return _spawn(settings, name, argv, stdout=None)


def _spawn(settings, name, argv, stdout):
    log = open(settings.path("log", f"{name}.stdout"), "ab")
    try:
        return subprocess.Popen(argv, stdout=stdout if stdout else log, stderr=log,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    finally:
        log.close()


def _wait_ready(settings: DemoSettings, name: str, proc: subprocess.Popen):
    """Wait for the child's READY line; its other output goes to its log."""
    import select
    deadline = time.monotonic() + READY_TIMEOUT
    with open(settings.path("log", f"{name}.stdout"), "ab") as log:
        while time.monotonic() < deadline:
            readable, _, _ = select.select([proc.stdout], [], [], 1.0)
            if not readable:
                if proc.poll() is not None:
                    break
                continue
            line = proc.stdout.readline()
            if not line:
                break
            if line.strip() == b"READY":
                return
            log.write(line)
            log.flush()
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    raise DemoError(f"the {name} service did not start (exit {proc.returncode}); see "
                    f"{settings.path('log', name + '.stdout')} and "
                    f"{settings.path('log', name + '.log')}")


def _wait_http(url: str, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=5)
            return
        except urllib.error.HTTPError:
            return                                  # it answers
        except OSError:
            time.sleep(0.2)
    raise DemoError(f"{url} does not answer")


def write_clouds_yaml(settings: DemoSettings):
    clouds = {}
    for cloud, user, password, project in (("demo-admin", "admin", ADMIN_PASSWORD, "admin"),
                                           ("demo", "demo", DEMO_PASSWORD, "demo")):
        clouds[cloud] = {
            "auth": {"auth_url": settings.auth_url, "username": user, "password": password,
                     "project_name": project, "user_domain_name": "Default",
                     "project_domain_name": "Default"},
            "region_name": REGION, "identity_api_version": 3, "interface": "public"}
    path = settings.path("clouds.yaml")
    path.write_text(json.dumps({"clouds": clouds}, indent=2) + "\n")   # JSON is YAML
    return path


def usage_text(settings: DemoSettings) -> str:
    clouds = settings.path("clouds.yaml")
    return "\n".join([
        "",
        "The demo cloud is up. Use it with the openstack client:",
        f"    export OS_CLIENT_CONFIG_FILE={clouds}",
        "    openstack --os-cloud demo server create --image smartos-zone-demo "
        "--flavor z1.small --nic none --wait zone1",
        "    openstack --os-cloud demo server create --image smartos-bhyve-demo "
        "--flavor b1.small --nic none --wait vm1",
        "    openstack --os-cloud demo console log show zone1",
        "    openstack --os-cloud demo-admin hypervisor list",
        "Servers boot without networks (--nic none) until the Neutron integration lands.",
        f"Look at an emulated host: smartos-sim exec {settings.host_dir(1)} -- vmadm list",
        f"Logs: {settings.path('log')}",
        "",
    ])


class Supervisor:
    def __init__(self, settings: DemoSettings, progress=None):
        self.settings = settings
        self.progress = progress or Progress()
        self.children: dict[str, subprocess.Popen] = {}
        self.stopping = False

    def start(self):
        settings, progress = self.settings, self.progress
        if running_pid(settings):
            raise DemoError(f"a demo cloud is already running from {settings.state_dir}")
        _ports_free(settings)
        first = not settings.path("ready").exists()
        files = configs.write_all(settings)
        settings.path("demo.pid").write_text(str(os.getpid()))
        if not settings.embedded:
            deployed.check_backends(settings)
            progress(f"database server and message broker answer "
                     f"({deployed.describe(settings)})")
        serve_hosts(settings, progress)
        if first:
            bootstrap.create_databases(settings, files, progress)
        self.children["keystone"] = _start_service(settings, "keystone")
        _wait_ready(settings, "keystone", self.children["keystone"])
        progress(f"keystone answers on {settings.auth_url}")
        if first:
            bootstrap.register_catalog(settings)
            progress("projects admin and demo, service users and the catalog registered")
        if settings.embedded:
            self._start_and_wait("glance", "nova")
            progress(f"glance, placement and nova answer; {settings.hosts} nova-compute(s) "
                     "drive their SmartOS host over ssh://")
        else:
            self._start_deployed(files)
        if first:
            content.create(settings, progress)
        write_clouds_yaml(settings)
        settings.path("ready").write_text("ready\n")
        progress("ready")

    def _start_and_wait(self, *names):
        for name in names:
            self.children[name] = _start_service(self.settings, name)
        for name in names:
            _wait_ready(self.settings, name, self.children[name])

    def _start_deployed(self, files):
        """Every service in a process of its own, as a real deployment runs them."""
        settings, progress = self.settings, self.progress
        self._start_and_wait("glance", "placement", "nova-api")
        progress("glance, placement and nova-api answer")
        for binary in ("nova-conductor", "nova-scheduler"):
            self.children[binary] = _start_nova_binary(settings, binary, binary, files,
                                                       "nova-db", binary)
        # A compute that pings the conductor before its queue exists loses
        # the message and waits a whole RPC timeout.
        deployed.wait_for_consumer(settings, "conductor", self.children["nova-conductor"])
        progress("nova-conductor and nova-scheduler run")
        names = []
        for index in range(1, settings.hosts + 1):
            name = f"nova-compute-{settings.host_name(index)}"
            self.children[name] = _start_nova_binary(settings, "nova-compute", name, files,
                                                     f"nova-compute-{index}")
            names.append(settings.host_name(index))
        deployed.map_computes(settings, files, names, self.children)
        progress(f"{settings.hosts} nova-compute process(es) drive their SmartOS host "
                 "over ssh:// and are mapped to cell1")

    def watch(self):
        """Until a signal or a child's death; returns the exit code."""
        while not self.stopping:
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    self.progress(f"the {name} service exited ({proc.returncode}); stopping")
                    return 1
            time.sleep(0.5)
        return 0

    def stop(self, *_):
        self.stopping = True
        # Reverse start order: computes first, then what they talk to.
        for proc in reversed(list(self.children.values())):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        stop_hosts(self.settings)
        try:
            if self.settings.path("demo.pid").read_text() == str(os.getpid()):
                self.settings.path("demo.pid").unlink()
        except FileNotFoundError:
            pass


def run(settings: DemoSettings, progress=None) -> int:
    """Start in the foreground and supervise until stopped."""
    supervisor = Supervisor(settings, progress)
    signal.signal(signal.SIGTERM, lambda *_: setattr(supervisor, "stopping", True))
    signal.signal(signal.SIGINT, lambda *_: setattr(supervisor, "stopping", True))
    try:
        supervisor.start()
        print(usage_text(settings), flush=True)
        code = supervisor.watch()
    except (DemoError, bootstrap.BootstrapError, deployed.DeployedError) as exc:
        supervisor.progress(f"error: {exc}")
        code = 1
    except BaseException as exc:
        supervisor.progress(f"error: {exc!r}")
        code = 1
    finally:
        supervisor.stop()
        supervisor.progress("stopped")
    return code


def start_detached(settings: DemoSettings) -> int:
    """Run the supervisor in the background; return once it is ready or failed."""
    if running_pid(settings):
        raise DemoError(f"a demo cloud is already running from {settings.state_dir}")
    settings.path("log").mkdir(parents=True, exist_ok=True)
    log_path = settings.path("log", "supervisor.log")
    offset = log_path.stat().st_size if log_path.exists() else 0
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "openstack_smartos.cli", "demo", "--state-dir",
             str(settings.state_dir), "--foreground"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
    shown = offset
    while True:
        with open(log_path, "rb") as log:
            log.seek(shown)
            text = log.read().decode(errors="replace")
        shown += len(text.encode())
        sys.stdout.write(text)
        sys.stdout.flush()
        if "The demo cloud is up" in text:
            print(f"Running in the background (pid {proc.pid}); stop it with: "
                  f"openstack-smartos demo stop --state-dir {settings.state_dir}")
            return 0
        if proc.poll() is not None:
            return proc.returncode or 1
        time.sleep(0.3)


def stop(settings: DemoSettings, timeout=60) -> int:
    pid = running_pid(settings)
    if pid is None:
        print(f"no demo cloud is running from {settings.state_dir}")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("demo cloud stopped")
            return 0
        time.sleep(0.2)
    raise DemoError(f"the supervisor (pid {pid}) did not stop within {timeout} s")
