"""Probes for tests of the emulated data plane: run tools, look inside namespaces,
send packets, listen and connect."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
import time

from openstack_smartos.sim import cli
from openstack_smartos.sim.host import SimHost
from openstack_smartos.sim.state.network import linux
from openstack_smartos.sim.tools import run_tool


def root_state():
    """What the emulator must never leave behind in the machine's own namespace."""
    links = json.loads(subprocess.run(["ip", "-j", "link", "show"], capture_output=True,
                                      text=True).stdout or "[]")
    ruleset = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
    return (sorted(link["ifname"] for link in links), ruleset)


def varpd_processes(under) -> list[str]:
    """Emulated varpd processes of hosts under a directory (none may outlive a test)."""
    out = subprocess.run(["ps", "-ww", "-eo", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "network.varpd" in line and str(under) in line]


def smartos_namespaces():
    return linux.ns_list("smartos-")


@dataclasses.dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


def tool(host, *argv, stdin=b""):
    if isinstance(stdin, (dict, list)):
        stdin = json.dumps(stdin).encode()
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, list(argv), stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return Result(code, out.getvalue().decode(), err.getvalue().decode())


def ok(host, *argv, stdin=b""):
    result = tool(host, *argv, stdin=stdin)
    assert result.code == 0, f"{argv}: {result.err}"
    return result


class Rack:
    def __init__(self, path, install_image):
        self.path = path
        self.hosts = []
        self._install_image = install_image
        self._image = {}

    def host(self, name, tags=("admin=admin", "external=external"), **kwargs):
        hostdir = self.path.parent / name
        argv = ["init", str(hostdir), "--rack", str(self.path)]
        for tag in tags:
            argv += ["--nic-tag", tag]
        for key, value in kwargs.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        assert cli.main(argv) == 0
        host = SimHost(hostdir)
        self.hosts.append(host)
        return host

    def image(self, host):
        if host.root not in self._image:
            self._image[host.root] = self._install_image(host, "zone-dataset")["uuid"]
        return self._image[host.root]

    def zone(self, host, *nics, **props):
        payload = {"brand": "joyent-minimal", "image_uuid": self.image(host),
                   "autoboot": True, "nics": list(nics), **props}
        result = ok(host, "vmadm", "create", stdin=payload)
        return result.err.split()[-1]


def ns_of(host, vm_uuid):
    return f"smartos-{host.config['uuid'][:8]}-{vm_uuid}"


def in_ns(ns, *argv, timeout=10):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True,
                          text=True, timeout=timeout)


def ping(ns, address, source=None, count=1):
    """Whether ``address`` answers within 2 s: a guest whose ARP for it failed a
    moment ago retransmits only once a second, as Linux does."""
    argv = ["ping", "-n", "-q", "-c", str(count), "-w", "2"]
    if source:
        argv += ["-I", source]
    return in_ns(ns, *argv, address).returncode == 0


def reaches(ns, address, source=None, timeout=6.0):
    """Whether ``address`` answers within ``timeout``: for checks after a change,
    where a prober whose ARP failed just before gives up on its queued packets
    (Linux drops them when the entry fails, after three one-second probes)."""
    return wait_for(lambda: ping(ns, address, source=source), timeout)


LISTENER = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_DGRAM if sys.argv[3] == "udp" else socket.SOCK_STREAM
s = socket.socket(family, kind)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
if kind == socket.SOCK_STREAM:
    s.listen(16)
print("ready", flush=True)
while True:
    if kind == socket.SOCK_STREAM:
        c, _ = s.accept(); c.sendall(b"hello\n"); c.close()
    else:
        data, peer = s.recvfrom(100); s.sendto(b"hello\n", peer)
"""

CONNECT = r"""
import socket, sys
family = socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET
kind = socket.SOCK_DGRAM if sys.argv[3] == "udp" else socket.SOCK_STREAM
s = socket.socket(family, kind); s.settimeout(float(sys.argv[4]))
try:
    if kind == socket.SOCK_STREAM:
        s.connect((sys.argv[1], int(sys.argv[2]))); data = s.recv(10)
    else:
        s.sendto(b"hi", (sys.argv[1], int(sys.argv[2]))); data = s.recv(10)
except OSError:
    sys.exit(1)
sys.exit(0 if data == b"hello\n" else 2)
"""


class Listener:
    def __init__(self, ns, address, port, proto="tcp"):
        self.proc = subprocess.Popen(["ip", "netns", "exec", ns, sys.executable, "-c",
                                      LISTENER, address, str(port), proto],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.close()
            raise RuntimeError(f"listener in {ns} failed: {self.proc.stderr.read()}")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def connects(ns, address, port, proto="tcp", timeout=1.0):
    return in_ns(ns, sys.executable, "-c", CONNECT, address, str(port), proto,
                 str(timeout)).returncode == 0


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def nic(tag="external", ip=None, **extra):
    out = {"nic_tag": tag, **extra}
    if ip:
        out["ips"] = [ip]
    return out
