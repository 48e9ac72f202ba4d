"""What the emulated data plane costs, and what it carries.

Needs root (network namespaces). In one run, on hosts of one rack:

  boot          ``vmadm create`` (autoboot) of a joyent-minimal zone with 1 and
                with 4 nics, on a host with the data plane and on one without
                (the ratio is the data plane's cost), median over N creates;
  teardown      ``vmadm delete`` of those zones (with the data plane);
  ping RTT      ``ping -c 50 -i 0.01`` between two zones on one host (a VLAN
                segment), and across two hosts over a VXLAN overlay (files plugin);
  throughput    one TCP stream of 256 MiB (64 with --quick) between the same
                pairs, sent and received by Python sockets in the namespaces;

and, as the ceiling Linux gives here, the same ping and TCP stream over a
plain veth pair between two namespaces made by this script (the ratios).

    sudo .venv/bin/python bench/vnic_dataplane.py [--quick] [--keep]
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import _sim  # noqa: E402

from openstack_smartos.sim import cli  # noqa: E402
from openstack_smartos.sim.host import SimHost  # noqa: E402
from openstack_smartos.sim.state.network import linux  # noqa: E402

SINK = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 5201)); s.listen(1); print("ready", flush=True)
c, _ = s.accept(); n = 0
while True:
    b = c.recv(1 << 20)
    if not b: break
    n += len(b)
print(n, flush=True)
"""
SOURCE = r"""
import socket, sys, time
total = int(sys.argv[2]); chunk = b"x" * (1 << 20)
s = socket.create_connection((sys.argv[1], 5201)); t = time.perf_counter(); sent = 0
while sent < total:
    s.sendall(chunk); sent += len(chunk)
s.shutdown(socket.SHUT_WR); s.recv(1); print(time.perf_counter() - t)
"""


def in_ns(ns, *argv, **kwargs):
    return subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True,
                          **kwargs)


def rtt_ms(ns, address, count):
    out = in_ns(ns, "ping", "-n", "-q", "-c", str(count), "-i", "0.01", address).stdout
    match = re.search(r"= [\d.]+/([\d.]+)/", out)
    if not match:
        raise RuntimeError(f"ping {address} from {ns} failed: {out}")
    return float(match.group(1))


def throughput_mib_s(server_ns, client_ns, address, size):
    sink = subprocess.Popen(["ip", "netns", "exec", server_ns, sys.executable, "-c", SINK,
                             address], stdout=subprocess.PIPE, text=True)
    try:
        assert sink.stdout.readline().strip() == "ready"
        out = in_ns(client_ns, sys.executable, "-c", SOURCE, address, str(size), check=True)
        received = int(sink.stdout.readline())
        assert received == size, (received, size)
        return size / (1 << 20) / float(out.stdout)
    finally:
        sink.kill()
        sink.wait()


def vmadm(hostdir, *argv, payload=None):
    stdin = json.dumps(payload).encode() if payload is not None else b""
    return _sim.check(_sim.run(hostdir, ["vmadm", *argv], stdin=stdin), " ".join(argv))


def install_zone_image(hostdir, work):
    manifest, mpath, fpath = _sim.build_zone_image(work)
    _sim.check(_sim.run(hostdir, ["imgadm", "install", "-q", "-m", mpath, "-f", fpath]),
               "imgadm install")
    return manifest["uuid"]


def zone_payload(image, nics):
    return {"brand": "joyent-minimal", "image_uuid": image, "autoboot": True, "nics": nics}


def create(hostdir, payload):
    err = vmadm(hostdir, "create", payload=payload)[2]
    return err.split()[-1]


def boot_figures(hostdir, image, repeat, tag):
    out = {}
    for count in (1, 4):
        samples, uuids = [], []
        for rep in range(repeat):
            nics = [{"nic_tag": tag, "ips": [f"10.{30 + i}.{rep}.{count}/24"]}
                    for i in range(count)]
            started = time.perf_counter()
            uuids.append(create(hostdir, zone_payload(image, nics)))
            samples.append(time.perf_counter() - started)
        teardown = []
        for uuid in uuids:
            started = time.perf_counter()
            vmadm(hostdir, "delete", uuid)
            teardown.append(time.perf_counter() - started)
        out[f"{count}_nics"] = {"create_start": _common.summary(samples),
                                "delete": _common.summary(teardown)}
    return out


def veth_ceiling(count, size):
    a, b = "smartos-bench-veth-a", "smartos-bench-veth-b"
    try:
        for ns in (a, b):
            linux.ns_add(ns)
        linux.run(["ip", "link", "add", "v0", "netns", a, "type", "veth", "peer", "name", "v0",
                   "netns", b])
        linux.batch(a, ["address add 10.99.0.1/24 dev v0", "link set v0 up"])
        linux.batch(b, ["address add 10.99.0.2/24 dev v0", "link set v0 up"])
        time.sleep(0.2)
        return rtt_ms(a, "10.99.0.2", count), throughput_mib_s(b, a, "10.99.0.2", size)
    finally:
        for ns in (a, b):
            linux.ns_delete(ns)


def main():
    args = _sim.parse_args(__doc__.splitlines()[0])
    reason = linux.unavailable_reason()
    if reason:
        sys.exit(f"vnic_dataplane: {reason}")
    repeat = 3 if args.quick else 10
    pings = 20 if args.quick else 50
    size = (64 if args.quick else 256) << 20
    # smartos-sim's own messages go to stderr: stdout is the JSON and the table.
    with _sim.workdir("vnic", args.keep) as work, contextlib.redirect_stdout(sys.stderr):
        rack = work / "rack"
        assert cli.main(["rack", "create", str(rack), "--network", "admin",
                         "--network", "external"]) == 0
        try:
            figures = run(work, rack, repeat, pings, size)
        finally:
            for name in ("plain", "h1", "h2"):
                if (work / name / "host.json").exists():
                    cli.main(["stop", str(work / name)])
            cli.main(["rack", "destroy", str(rack)])
    rows = []
    for kind in ("1_nics", "4_nics"):
        with_plane = figures["boot"]["dataplane"][kind]["create_start"]["median_ms"]
        without = figures["boot"]["state_only"][kind]["create_start"]["median_ms"]
        rows.append([f"create+start, {kind.replace('_', ' ')}", with_plane, without,
                     round(with_plane / without, 2)])
        rows.append([f"delete, {kind.replace('_', ' ')}",
                     figures["boot"]["dataplane"][kind]["delete"]["median_ms"],
                     figures["boot"]["state_only"][kind]["delete"]["median_ms"], ""])
    for pair in ("one_host", "vxlan_two_hosts"):
        item = figures["traffic"][pair]
        rows.append([f"ping RTT ms, {pair}", item["rtt_ms"], figures["veth"]["rtt_ms"],
                     round(item["rtt_ms"] / figures["veth"]["rtt_ms"], 2)])
        rows.append([f"TCP MiB/s, {pair}", item["tcp_mib_s"], figures["veth"]["tcp_mib_s"],
                     round(item["tcp_mib_s"] / figures["veth"]["tcp_mib_s"], 2)])
    _common.report("vnic_dataplane", figures, rows,
                   ["measure", "data plane", "baseline", "ratio"])


def run(work, rack, repeat, pings, size):
    plain = _sim.new_host(work / "plain")
    assert cli.main(["init", str(work / "h1"), "--rack", str(rack), "--nic-tag", "admin=admin",
                     "--nic-tag", "external=external", "--zpool-gib", "64"]) == 0
    assert cli.main(["init", str(work / "h2"), "--rack", str(rack), "--nic-tag", "admin=admin",
                     "--nic-tag", "external=external", "--zpool-gib", "64"]) == 0
    h1, h2 = work / "h1", work / "h2"
    images = {str(h): install_zone_image(h, work / f"img-{h.name}") for h in (plain, h1, h2)}
    boot = {"dataplane": boot_figures(h1, images[str(h1)], repeat, "external"),
            "state_only": boot_figures(plain, images[str(plain)], repeat, "external")}
    # Traffic: two zones on one host (VLAN 10 of external) and two over a VXLAN overlay.
    a = create(h1, zone_payload(images[str(h1)], [{"nic_tag": "external", "vlan_id": 10,
                                                  "ips": ["10.10.0.1/24"]}]))
    b = create(h1, zone_payload(images[str(h1)], [{"nic_tag": "external", "vlan_id": 10,
                                                  "ips": ["10.10.0.2/24"]}]))
    macs = {1: "02:00:5e:00:01:01", 2: "02:00:5e:00:01:02"}
    table = {}
    for n, host in ((1, h1), (2, h2)):
        table[macs[n]] = {"ip": SimHost(host).config["admin_ip"], "port": 4789,
                          "arp": f"10.20.0.{n}"}
    overlay_zones = []
    for n, host in ((1, h1), (2, h2)):
        ip = SimHost(host).config["admin_ip"]
        root = host / "root"
        (root / "var/run/smartdc/networking").mkdir(parents=True, exist_ok=True)
        (root / "var/run/smartdc/networking/overlay_rules.json").write_text(json.dumps({
            "bench_overlay": f"-e vxlan -s files -p vxlan/listen_ip={ip},"
                             "files/config=/var/tmp/bench.json -p mtu=1450"}))
        (root / "var/tmp").mkdir(parents=True, exist_ok=True)
        (root / "var/tmp/bench.json").write_text(json.dumps(table))
        overlay_zones.append(create(host, zone_payload(images[str(host)], [{
            "nic_tag": "bench_overlay/7000", "mac": macs[n], "mtu": 1450,
            "ips": [f"10.20.0.{n}/24"]}])))
    h1_uuid = SimHost(h1).config["uuid"][:8]
    h2_uuid = SimHost(h2).config["uuid"][:8]
    ns_a, ns_b = f"smartos-{h1_uuid}-{a}", f"smartos-{h1_uuid}-{b}"
    ns_x, ns_y = (f"smartos-{h1_uuid}-{overlay_zones[0]}",
                  f"smartos-{h2_uuid}-{overlay_zones[1]}")
    in_ns(ns_x, "ping", "-c", "3", "-W", "1", "10.20.0.2")   # warm the path
    traffic = {
        "one_host": {"rtt_ms": rtt_ms(ns_a, "10.10.0.2", pings),
                     "tcp_mib_s": round(throughput_mib_s(ns_b, ns_a, "10.10.0.2", size), 1)},
        "vxlan_two_hosts": {"rtt_ms": rtt_ms(ns_x, "10.20.0.2", pings),
                            "tcp_mib_s": round(throughput_mib_s(ns_y, ns_x, "10.20.0.2",
                                                                size), 1)},
    }
    rtt, tcp = veth_ceiling(pings, size)
    teardown = []
    for host, uuid in ((h1, a), (h1, b), (h1, overlay_zones[0]), (h2, overlay_zones[1])):
        started = time.perf_counter()
        vmadm(host, "delete", uuid)
        teardown.append(time.perf_counter() - started)
    started = time.perf_counter()
    cli.main(["stop", str(h1)])
    cli.main(["stop", str(h2)])
    host_teardown = time.perf_counter() - started
    return {"boot": boot, "traffic": traffic,
            "veth": {"rtt_ms": rtt, "tcp_mib_s": round(tcp, 1)},
            "teardown": {"delete_traffic_zones": _common.summary(teardown),
                         "two_hosts_stop_ms": round(host_teardown * 1000, 1)},
            "stream_bytes": size, "pings": pings, "repeat": repeat,
            "median_of_medians_ms": round(statistics.median(
                [v["create_start"]["median_ms"] for v in boot["dataplane"].values()]), 1)}


if __name__ == "__main__":
    main()
