"""Round-trip latency of ``vmadm list`` (client ``host.vmadm.list()``) per transport.

One emulated host with 10 joyent zones (created through vmadm from an
installed zone image), reached three ways:

  sim://    the emulator in this process (no process, no network)
  local://  LocalTransport; PATH points at one wrapper script per tool that
            runs ``python -m openstack_smartos.sim exec DIR -- TOOL ...``
            (a fresh Python process per call, as a real fork/exec would be)
  ssh://    the host served by ``smartos-sim serve`` on 127.0.0.N, reached
            with SSHTransport (paramiko, one persistent connection), a fresh
            ed25519 client key; each call is a session running the same
            wrapper under sshd

    .venv/bin/python bench/transport_latency.py [--quick]
"""

from __future__ import annotations

import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import _sim  # noqa: E402

from openstack_smartos.host import SmartOSHost  # noqa: E402
from openstack_smartos.host.transport import LocalTransport  # noqa: E402

VMS = 10


def measure(host, calls):
    """Warm up once, then time ``calls`` list() calls; round trips counted."""
    rows = host.vmadm.list()            # warm-up: connection, imports, caches
    host.stats.reset()
    _, samples = _common.timed(host.vmadm.list, repeat=calls)
    stats = host.stats.snapshot()
    figures = _common.summary(samples)
    figures.update({
        "rows": len(rows),
        "round_trips": stats["round_trips"],
        "round_trips_per_call": stats["round_trips"] / calls,
        "bytes_in_per_call": stats["bytes_in"] // calls,
        "bytes_out_per_call": stats["bytes_out"] // calls,
    })
    return figures


def main():
    args = _sim.parse_args(__doc__.splitlines()[0])
    calls = 10 if args.quick else 50
    figures = {"calls": calls, "vms": VMS, "python": sys.version.split()[0]}
    results = {}
    with _sim.workdir("latency", args.keep) as work:
        hostdir = work / "host"
        _sim.new_host(hostdir)
        setup_started = time.perf_counter()
        manifest, _mpath, fpath = _sim.build_zone_image(work / "img")
        with SmartOSHost.connect(f"sim://{hostdir}") as sim:
            with open(fpath, "rb") as data:
                sim.imgadm.install(manifest, data)
            for index in range(VMS):
                sim.vmadm.create({"brand": "joyent", "image_uuid": manifest["uuid"],
                                  "alias": f"zone-{index:02d}", "ram": 256,
                                  "autoboot": index % 2 == 0})
        figures["setup_seconds"] = round(time.perf_counter() - setup_started, 3)

        # ssh first: serve writes DIR/sshd/bin, which local:// then reuses.
        served = _sim.Served(hostdir, work / "client-key")
        ssh_error = None
        try:
            served.start()
        except Exception as exc:  # noqa: BLE001 - reported, not fatal
            ssh_error = f"smartos-sim serve: {exc}"
        try:
            # sim://
            with SmartOSHost.connect(f"sim://{hostdir}") as host:
                results["sim"] = measure(host, calls)

            # local://
            bindir, origin = _sim.tool_wrappers(hostdir)
            env = dict(os.environ)
            env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
            with SmartOSHost(LocalTransport("local://", env=env)) as host:
                results["local"] = measure(host, calls)
                results["local"]["wrappers"] = origin

            # ssh://
            if ssh_error is None:
                try:
                    with SmartOSHost.connect(served.uri, key_file=str(served.key),
                                             known_hosts=served.known_hosts) as host:
                        results["ssh"] = measure(host, calls)
                        results["ssh"]["uri"] = served.uri
                except Exception as exc:  # noqa: BLE001
                    traceback.print_exc(file=sys.stderr)
                    ssh_error = f"{type(exc).__name__}: {exc}"
            if ssh_error is not None:
                results["ssh"] = {"skipped": ssh_error}
        finally:
            served.stop()

    figures["transports"] = results
    rows = []
    for name in ("sim", "local", "ssh"):
        entry = results.get(name, {})
        if "skipped" in entry:
            rows.append([name, "-", "-", "-", "-", "skipped: " + entry["skipped"][:60]])
            continue
        rows.append([name, entry["median_ms"], entry["p90_ms"], entry["min_ms"],
                     entry["round_trips_per_call"], entry["bytes_in_per_call"]])
    _common.report("transport_latency", figures, rows,
                   ["transport", "median_ms", "p90_ms", "min_ms", "round_trips/call",
                    "bytes_in/call"])


if __name__ == "__main__":
    main()
