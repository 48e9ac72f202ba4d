"""The emulated varpd: one process per host that answers its svp overlays' misses.

illumos's varpd asks the svp server where an unknown destination lives;
here the kernel reports the same misses (the vxlan devices are made with
``l2miss l3miss``), ``ip monitor neigh`` shows them, and this process asks
the server named by the overlay's ``svp/host`` and ``svp/port``:

* an unknown MAC -> VL2_REQ -> a forwarding entry to its underlay address;
* an ARP or neighbour solicitation for an unknown IP -> VL3_REQ -> the
  neighbour entry proxy ARP answers with, and the MAC's forwarding entry;
* every 5-10 s (``svp_log_seconds`` in the host's timings to change it) a
  LOG_REQ per server with this host's ``svp/underlay_ip``: a VL2 record
  drops the MAC's entry (the next packet asks again), a VL3 record asks
  for the IP again; the records are then removed with LOG_RM.

Run as ``python -m openstack_smartos.sim.state.network.varpd HOSTDIR``; it
writes ``DIR/net/varpd.pid`` once it listens, and exits when the host's
namespace goes away. ``ensure_running`` and ``stop`` manage it.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

from openstack_smartos.sim.state.network import linux, names
from openstack_smartos.sim.state.network import svp_protocol as svp

PIDFILE = "varpd.pid"
NEGATIVE_SECONDS = 1.0


def _pidfile(hostdir) -> str:
    return os.path.join(hostdir, "net", PIDFILE)


def running_pid(hostdir) -> int | None:
    try:
        pid = int(open(_pidfile(hostdir)).read())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read()
    except OSError:
        return None
    return pid if b"varpd" in cmdline else None


def ensure_running(host):
    hostdir = str(host.root)
    if running_pid(hostdir):
        return
    os.makedirs(os.path.join(hostdir, "net"), exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_pidfile(hostdir))
    log = open(os.path.join(hostdir, "net", "varpd.log"), "ab")
    proc = subprocess.Popen([sys.executable, "-m", __name__, hostdir], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=log, start_new_session=True)
    log.close()
    deadline = time.monotonic() + 10
    while not running_pid(hostdir):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise linux.DataPlaneError("varpd did not start (see net/varpd.log)")
        time.sleep(0.02)


def stop(hostdir):
    pid = running_pid(str(hostdir))
    if pid:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while running_pid(str(hostdir)) and time.monotonic() < deadline:
            time.sleep(0.02)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_pidfile(str(hostdir)))


class Remote:
    """One svp server: a TCP connection, opened again after any failure."""

    def __init__(self, address, port):
        self.address, self.port = address, int(port)
        self.sock = None
        self.lock = threading.Lock()
        self.next_id = 1

    def _read(self, size):
        data = b""
        while len(data) < size:
            chunk = self.sock.recv(size - len(data))
            if not chunk:
                raise ConnectionError("svp server closed the connection")
            data += chunk
        return data

    def ask(self, op, payload, answer_op):
        with self.lock:
            try:
                if self.sock is None:
                    self.sock = socket.create_connection((self.address, self.port), timeout=30)
                ident = self.next_id.to_bytes(4, "little")
                self.next_id = self.next_id % 0x7FFFFFFF + 1
                self.sock.sendall(svp.encode(op, ident, payload))
                reply = svp.read_message(self._read)
                if reply.ident != ident or reply.op != answer_op:
                    raise svp.ProtocolError("unexpected SVP reply")
                return reply.payload
            except (OSError, svp.ProtocolError):
                if self.sock is not None:
                    self.sock.close()
                self.sock = None
                raise


class Varpd:
    def __init__(self, hostdir):
        from openstack_smartos.sim.host import SimHost
        self.hostdir = hostdir
        self.host = SimHost(hostdir)
        self.ns = names.host_ns(self.host.config["uuid"])
        self.remotes = {}
        self.negative = {}
        self.overlays = {}
        self.stopping = threading.Event()

    # -- the host's svp overlays, by vxlan device -------------------------------------
    def refresh(self):
        from openstack_smartos.sim.state.network import overlays, vxlan
        self.host.close()
        self.overlays = {vxlan.vxlan_name(r): r for r in overlays.list_all(self.host)
                         if r["search"] == "svp"}
        self.host.close()

    def overlay(self, device):
        if device not in self.overlays:
            self.refresh()
        return self.overlays.get(device)

    def remote(self, record):
        from openstack_smartos.sim.state.network.overlays import prop
        key = (prop(record, "svp/host"), prop(record, "svp/port"))
        if key not in self.remotes:
            self.remotes[key] = Remote(*key)
        return self.remotes[key]

    # -- misses ---------------------------------------------------------------------
    def on_line(self, line):
        words = line.split()
        if len(words) < 3 or words[0] != "miss":
            return
        if words[1] == "dev" and "lladdr" in words:
            device, mac = words[2], words[words.index("lladdr") + 1]
            self.lookup(device, "vl2", mac)
        elif len(words) >= 4 and words[2] == "dev":
            self.lookup(words[3], "vl3", words[1])

    def lookup(self, device, kind, key):
        from openstack_smartos.sim.state.network import vxlan
        record = self.overlay(device)
        if record is None or self.negative.get((device, key), 0) > time.monotonic():
            return
        remote = self.remote(record)
        try:
            if kind == "vl2":
                status, port, address = svp.parse_vl2_ack(remote.ask(
                    svp.VL2_REQ, svp.vl2_req(key, record["vnetid"]), svp.VL2_ACK))
                entry = {"mac": key, "ip": address, "port": port}
            else:
                status, mac, port, address = svp.parse_vl3_ack(remote.ask(
                    svp.VL3_REQ, svp.vl3_req(key, record["vnetid"]), svp.VL3_ACK))
                family = "ndp" if ":" in key else "arp"
                entry = {"mac": mac, "ip": address, "port": port, family: key}
        except (OSError, svp.ProtocolError) as exc:
            print(f"varpd: {device} {kind} {key}: {exc}", flush=True)
            self.negative[(device, key)] = time.monotonic() + NEGATIVE_SECONDS
            return
        if status != svp.OK:
            self.negative[(device, key)] = time.monotonic() + NEGATIVE_SECONDS
            return
        with contextlib.suppress(linux.DataPlaneError):
            vxlan.install(self.ns, record, [entry])

    # -- the invalidation log -----------------------------------------------------------
    def poll_log(self):
        from openstack_smartos.sim.state.network import vxlan
        from openstack_smartos.sim.state.network.overlays import prop
        self.refresh()
        by_remote = {}
        for record in self.overlays.values():
            key = (self.remote(record), prop(record, "svp/underlay_ip"))
            by_remote.setdefault(key, {})[record["vnetid"]] = record
        for (remote, underlay), by_vnet in by_remote.items():
            try:
                status, records = svp.parse_log_ack(remote.ask(
                    svp.LOG_REQ, svp.log_req(underlay), svp.LOG_ACK))
            except (OSError, svp.ProtocolError):
                continue
            done = []
            for item in records if status == svp.OK else ():
                record = by_vnet.get(item.vnet)
                if item.kind == svp.LOG_VL2:
                    if record is not None:
                        vxlan.forget(self.ns, record, mac=item.mac)
                    done.append(item.ident)
                    continue
                try:
                    answer = svp.parse_vl3_ack(remote.ask(
                        svp.VL3_REQ, svp.vl3_req(item.ip, item.vnet, svp.VL3_IPV6), svp.VL3_ACK))
                except (OSError, svp.ProtocolError):
                    continue
                if answer[0] in (svp.OK, svp.NOTFOUND):
                    done.append(item.ident)
                if record is not None:
                    vxlan.forget(self.ns, record, ip=item.ip)
                    if answer[0] == svp.OK:
                        vxlan.install(self.ns, record, [{"mac": answer[1], "ip": answer[3],
                                                         "port": answer[2], "arp": item.ip}])
            if done:
                with contextlib.suppress(OSError, svp.ProtocolError):
                    remote.ask(svp.LOG_RM, svp.log_rm(done), svp.LOG_RM_ACK)

    def log_loop(self):
        while not self.stopping.is_set():
            seconds = self.host.timings.get("svp_log_seconds") or 5 + random.random() * 5
            self.host.close()
            if self.stopping.wait(float(seconds)):
                return
            if not linux.ns_exists(self.ns):
                self.stopping.set()
                return
            try:
                self.poll_log()
            except Exception as exc:  # keep polling, as varpd does
                print(f"varpd: log: {exc}", flush=True)

    def run(self):
        monitor = subprocess.Popen(["ip", "-n", self.ns, "monitor", "neigh"],
                                   stdout=subprocess.PIPE, text=True)
        signal.signal(signal.SIGTERM, lambda *_: monitor.kill())
        threading.Thread(target=self.log_loop, daemon=True).start()
        threading.Thread(target=self._watch, args=(monitor,), daemon=True).start()
        time.sleep(0.1)   # ip monitor subscribes before it prints anything
        with open(_pidfile(self.hostdir) + ".tmp", "w") as out:
            out.write(str(os.getpid()))
        os.replace(_pidfile(self.hostdir) + ".tmp", _pidfile(self.hostdir))
        for line in monitor.stdout:
            try:
                self.on_line(line)
            except Exception as exc:
                print(f"varpd: {line.strip()}: {exc}", flush=True)
        self.stopping.set()

    def _watch(self, monitor):
        while not self.stopping.wait(1.0):
            if not linux.ns_exists(self.ns):
                monitor.kill()
                return


if __name__ == "__main__":
    Varpd(sys.argv[1]).run()
