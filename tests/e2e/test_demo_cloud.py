"""The demo cloud end to end: ``openstack-smartos demo`` and the unmodified
``openstack`` CLI, each result checked on the emulated hosts with
``smartos-sim exec``.

One cloud (embedded mode: SQLite, in-process messaging) is started for the
module on its own loopback address, so a demo a developer is running does
not collide with it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
ADDRESS = "127.0.0.41"
pytestmark = [pytest.mark.ssh, pytest.mark.timeout(900)]

if not os.path.exists("/usr/sbin/sshd"):
    pytest.skip("/usr/sbin/sshd is missing", allow_module_level=True)


def demo(*args, check=True, timeout=600):
    result = subprocess.run([str(BIN / "openstack-smartos"), "demo", *args],
                            capture_output=True, text=True, timeout=timeout)
    if check and result.returncode:
        raise AssertionError(f"demo {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


class Cloud:
    def __init__(self, state_dir: Path):
        self.state_dir = state_dir
        self.env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(state_dir / "clouds.yaml")}

    def openstack(self, *args, cloud="demo", check=True):
        """The unmodified openstack CLI; JSON output parsed when there is some."""
        result = subprocess.run([str(BIN / "openstack"), "--os-cloud", cloud, *args],
                                capture_output=True, text=True, env=self.env, timeout=300)
        if check and result.returncode:
            raise AssertionError(f"openstack {' '.join(args)} exited {result.returncode}:\n"
                                 f"{result.stderr}")
        out = result.stdout.strip()
        if "-f" in args and out:
            return json.loads(out)
        return result if not check else out

    def host_dir(self, index: int) -> Path:
        return self.state_dir / "hosts" / f"smartos-{index}"

    def vmadm(self, index: int, *args) -> str:
        return subprocess.run([str(BIN / "smartos-sim"), "exec", str(self.host_dir(index)),
                               "--", "vmadm", *args], capture_output=True, text=True,
                              check=True).stdout

    def vm(self, server_id: str):
        """(host index, vmadm get object) of the server's VM, or None."""
        for index in (1, 2):
            listed = self.vmadm(index, "list", "-p", "-o", "uuid")
            if server_id in listed.split():
                return index, json.loads(self.vmadm(index, "get", server_id))
        return None

    def wait_status(self, name, status, timeout=120):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = self.openstack("server", "show", name, "-f", "json")
            if server["status"] == status:
                return server
            time.sleep(1)
        raise AssertionError(f"{name} is {server['status']}, not {status}")


def _processes_of(state_dir: Path) -> list[str]:
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(state_dir) in line]


def start_cloud(state_dir, *options):
    started = demo("--state-dir", str(state_dir), "--detach", *options)
    assert "The demo cloud is up" in started.stdout
    return Cloud(state_dir)


def stop_cloud(cloud):
    demo("stop", "--state-dir", str(cloud.state_dir))
    assert _processes_of(cloud.state_dir) == []


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    cloud = start_cloud(tmp_path_factory.mktemp("demo-cloud"), "--address", ADDRESS)
    yield cloud
    stop_cloud(cloud)


def test_zone_and_bhyve_servers_through_their_lifecycle(cloud):
    lifecycle(cloud)


def lifecycle(cloud):
    zone = cloud.openstack("server", "create", "--image", "smartos-zone-demo", "--flavor",
                           "z1.small", "--nic", "none", "--wait", "zone1", "-f", "json")
    vm = cloud.openstack("server", "create", "--image", "smartos-bhyve-demo", "--flavor",
                         "b1.small", "--nic", "none", "--wait", "vm1", "-f", "json")
    assert (zone["status"], vm["status"]) == ("ACTIVE", "ACTIVE")

    listed = {s["Name"]: s["Status"] for s in cloud.openstack("server", "list", "-f", "json")}
    assert listed == {"zone1": "ACTIVE", "vm1": "ACTIVE"}
    _, zone_vm = cloud.vm(zone["id"])
    _, bhyve_vm = cloud.vm(vm["id"])
    assert (zone_vm["brand"], zone_vm["state"], zone_vm["hostname"]) == \
        ("joyent", "running", "zone1")
    assert zone_vm["cpu_cap"] == 100 and zone_vm["max_physical_memory"] == 512
    assert (bhyve_vm["brand"], bhyve_vm["state"], bhyve_vm["bootrom"]) == \
        ("bhyve", "running", "uefi")
    shown = cloud.openstack("server", "show", "zone1", "-f", "json")
    assert "z1.small" in json.dumps(shown["flavor"])

    log = cloud.openstack("console", "log", "show", "zone1")
    assert "zone1 console login:" in log
    assert "vm1 login:" in cloud.openstack("console", "log", "show", "vm1")

    boot_before = zone_vm["boot_timestamp"]
    cloud.openstack("server", "reboot", "--wait", "zone1")
    _, zone_vm = cloud.vm(zone["id"])
    assert zone_vm["state"] == "running" and zone_vm["boot_timestamp"] != boot_before
    assert cloud.openstack("console", "log", "show", "zone1").count("console login:") == 2

    cloud.openstack("server", "stop", "vm1")
    cloud.wait_status("vm1", "SHUTOFF")
    assert cloud.vm(vm["id"])[1]["state"] == "stopped"
    cloud.openstack("server", "start", "vm1")
    cloud.wait_status("vm1", "ACTIVE")
    assert cloud.vm(vm["id"])[1]["state"] == "running"

    cloud.openstack("server", "delete", "--wait", "zone1", "vm1")
    assert cloud.openstack("server", "list", "-f", "json") == []
    assert cloud.vm(zone["id"]) is None and cloud.vm(vm["id"]) is None


def test_servers_spread_over_both_hosts(cloud):
    for name in ("a", "b", "c", "d"):
        cloud.openstack("server", "create", "--image", "smartos-zone-demo", "--flavor",
                        "z1.medium", "--nic", "none", name)
    hosts = set()
    for name in ("a", "b", "c", "d"):
        server = cloud.wait_status(name, "ACTIVE")
        hosts.add(cloud.vm(server["id"])[0])
    assert hosts == {1, 2}
    cloud.openstack("server", "delete", "--wait", "a", "b", "c", "d")
    assert cloud.vmadm(1, "list", "-H") == "" and cloud.vmadm(2, "list", "-H") == ""


def test_bad_flavor_extra_spec_is_refused(cloud):
    # nova validates extra specs from microversion 2.86 on.
    result = cloud.openstack("--os-compute-api-version", "2.86", "flavor", "set",
                             "--property", "smartos:cpu_cap=lots",
                             "z1.small", cloud="demo-admin", check=False)
    assert result.returncode != 0
    assert "400" in result.stderr and "'lots' is not a valid integer value" in result.stderr
    flavor = cloud.openstack("flavor", "show", "z1.small", "-f", "json", cloud="demo-admin")
    assert "smartos:cpu_cap='100'" in json.dumps(flavor["properties"]).replace('"', "'") \
        or flavor["properties"].get("smartos:cpu_cap") == "100"


def test_restart_keeps_the_cloud(cloud):
    cloud.openstack("server", "create", "--image", "smartos-zone-demo", "--flavor",
                    "z1.small", "--nic", "none", "--wait", "survivor")
    demo("stop", "--state-dir", str(cloud.state_dir))
    assert _processes_of(cloud.state_dir) == []
    restarted = demo("--state-dir", str(cloud.state_dir), "--detach")
    assert "databases ready" not in restarted.stdout       # state kept, nothing redone
    server = cloud.wait_status("survivor", "ACTIVE")
    assert cloud.vm(server["id"])[1]["state"] == "running"
    cloud.openstack("server", "delete", "--wait", "survivor")


def test_tempest_curated_subset(cloud, tmp_path):
    """tempest-config's file drives tempest's own compute API tests: all pass."""
    from openstack_smartos.aio import tempest
    from openstack_smartos.aio.settings import DemoSettings
    subset = Path(__file__).with_name("tempest-subset.txt")
    wanted = [line for line in subset.read_text().splitlines()
              if line and not line.startswith("#")]
    result = tempest.run(DemoSettings.load(cloud.state_dir), tmp_path / "ws",
                         include_list=subset)
    assert result["failed"] == 0, result["failed_tests"]
    assert (result["passed"], result["skipped"]) == (len(wanted), 0), result
    conf = (tmp_path / "ws" / "etc" / "tempest.conf").read_text()
    assert "console_output = true" in conf and "pause = false" in conf


def test_tempest_config_needs_a_running_demo(tmp_path):
    result = subprocess.run([str(BIN / "openstack-smartos"), "tempest-config",
                             "--state-dir", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 1 and "no demo cloud" in result.stderr


def test_second_start_is_refused_and_leaves_the_first_running(cloud):
    result = demo("--state-dir", str(cloud.state_dir), "--detach", check=False)
    assert result.returncode == 1 and "already running" in result.stderr
    assert cloud.openstack("server", "list", "-f", "json") == []


def test_busy_port_is_a_clear_error_and_starts_nothing(tmp_path):
    address = "127.0.0.42"
    with socket.socket() as busy:
        busy.bind((address, 5000))
        busy.listen()
        result = demo("--state-dir", str(tmp_path / "d"), "--address", address, "--detach",
                      check=False)
    assert result.returncode == 1
    assert f"{address}:5000 (keystone) is in use" in result.stdout + result.stderr
    assert _processes_of(tmp_path / "d") == []


def test_address_must_be_loopback(tmp_path):
    result = demo("--state-dir", str(tmp_path / "d"), "--address", "10.0.0.1", check=False)
    assert result.returncode == 2 and "loopback" in result.stderr


def test_stop_without_a_cloud(tmp_path):
    result = demo("stop", "--state-dir", str(tmp_path / "none"))
    assert "no demo cloud" in result.stdout


# -- deployed mode: every service in its own process, on MariaDB and RabbitMQ -----------------
DEPLOYED_ADDRESS = "127.0.0.44"


def _service_up(port) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _ensure_service(port, argv, timeout=60):
    """Start the machine's MariaDB or RabbitMQ if it is down (as the env notes say)."""
    if _service_up(port):
        return
    subprocess.run(argv, check=False, capture_output=True)
    deadline = time.monotonic() + timeout
    while not _service_up(port):
        if time.monotonic() > deadline:
            pytest.fail(f"{argv[0]} did not start on port {port}")
        time.sleep(1)


@pytest.fixture
def deployed_cloud(tmp_path):
    import pymysql
    _ensure_service(3306, ["start-stop-daemon", "--start", "--oknodo", "--background",
                           "--exec", "/usr/sbin/mariadbd"])
    _ensure_service(5672, ["rabbitmq-server", "-detached"], timeout=120)
    tag = f"smartos_e2e_{os.getpid()}"
    subprocess.run(["rabbitmqctl", "-q", "add_vhost", tag], check=True, capture_output=True)
    subprocess.run(["rabbitmqctl", "-q", "set_permissions", "-p", tag, "guest", ".*", ".*",
                    ".*"], check=True, capture_output=True)
    cloud = None
    try:
        cloud = start_cloud(tmp_path / "state", "--address", DEPLOYED_ADDRESS,
                            "--database-url", "mysql+pymysql://root@127.0.0.1",
                            "--transport-url", f"rabbit://guest:guest@127.0.0.1:5672/{tag}",
                            "--database-prefix", f"{tag}_")
        yield cloud
    finally:
        if cloud is not None:
            stop_cloud(cloud)
        connection = pymysql.connect(host="127.0.0.1", user="root")
        with connection.cursor() as cursor:
            cursor.execute("SHOW DATABASES LIKE %s", (f"{tag}\\_%",))
            for (name,) in cursor.fetchall():
                cursor.execute(f"DROP DATABASE `{name}`")
        connection.close()
        subprocess.run(["rabbitmqctl", "-q", "delete_vhost", tag], capture_output=True)


def test_deployed_mode_runs_each_service_in_its_own_process(deployed_cloud):
    processes = _processes_of(deployed_cloud.state_dir)
    for binary in ("nova-conductor", "nova-scheduler"):
        assert sum(f"/{binary} " in p for p in processes) >= 1, processes
    assert sum("/nova-compute " in p for p in processes) == 2
    for service in ("keystone", "glance", "placement", "nova-api"):
        assert any(f"aio.services {service} " in p for p in processes), processes
    lifecycle(deployed_cloud)
