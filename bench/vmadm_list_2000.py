"""``vmadm list -p -o uuid,type,ram,state,alias`` on a host with 2,000 VMs.

The VMs are created honestly through the emulator: one ``vmadm create``
(run_tool, JSON payload on stdin) per VM, joyent zones from an installed zone
image, a third running and the rest stopped (``autoboot: false``), with mixed
aliases (plain, none, with colons, non-ASCII). Then:

  emulator   run_tool(["vmadm", "list", "-p", "-o", ...]) with the output
             discarded: the emulated host's cost
  parse      the client's ``Vmadm.list`` parsing the captured output, through
             a stub transport that returns those bytes without running
             anything (Vmadm.list parses inline; it has no separate function)
  client     ``host.vmadm.list(fields)`` over sim:// end to end, and the same
             minus the emulator time the transport measured (stats.seconds)

    .venv/bin/python bench/vmadm_list_2000.py [--quick]   # --quick: 200 VMs
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import _sim  # noqa: E402

from openstack_smartos.host import SmartOSHost, transport, vmadm  # noqa: E402

FIELDS = ["uuid", "type", "ram", "state", "alias"]
ARGV = ["vmadm", "list", "-p", "-o", ",".join(FIELDS)]


class CannedTransport(transport.Transport):
    """Returns the same stdout for every command; runs nothing."""

    scheme = "canned"

    def __init__(self, stdout: bytes):
        super().__init__("canned://")
        self.stdout = stdout

    def _execute(self, argv, stdin, timeout, stdout_to):
        return 0, self.stdout, b""

    def write_file(self, path, data, timeout=None):
        raise NotImplementedError


def alias_for(index):
    kind = index % 5
    if kind == 0:
        return None                                   # no alias at all
    if kind == 1:
        return f"web-{index:05d}"
    if kind == 2:
        return f"db:primary:{index}"                  # colons: must stay in one field
    if kind == 3:
        return f"büro-{index}"                        # non-ASCII
    return f"worker.{index}.example.com"


def main():
    args = _sim.parse_args(__doc__.splitlines()[0])
    count = 200 if args.quick else 2000
    repeat = 5 if args.quick else 10
    figures = {"vms": count, "fields": FIELDS, "repeat": repeat}
    with _sim.workdir("list", args.keep) as work:
        hostdir = work / "host"
        _sim.new_host(hostdir)
        manifest, mpath, fpath = _sim.build_zone_image(work / "img")
        _sim.check(_sim.run(hostdir, ["imgadm", "install", "-q", "-m", mpath, "-f", fpath]),
                   "imgadm install")

        started = time.perf_counter()
        expected, per_create = {}, []
        for index in range(count):
            vm_uuid = str(uuidlib.uuid4())
            payload = {"uuid": vm_uuid, "brand": "joyent", "image_uuid": manifest["uuid"],
                       "ram": 128 * (1 + index % 8), "autoboot": index % 3 == 0}
            alias = alias_for(index)
            if alias is not None:
                payload["alias"] = alias
            one = time.perf_counter()
            _sim.check(_sim.run(hostdir, ["vmadm", "create"],
                                stdin=json.dumps(payload).encode()), "vmadm create")
            per_create.append(time.perf_counter() - one)
            expected[vm_uuid] = alias
        create_seconds = time.perf_counter() - started
        figures["create"] = {"seconds": round(create_seconds, 3),
                             "per_vm_ms": round(create_seconds / count * 1000, 3),
                             # does one create get slower as the host fills up?
                             "first_tenth": _common.summary(per_create[:count // 10]),
                             "last_tenth": _common.summary(per_create[-(count // 10):])}

        # The emulator alone, output discarded (one warm-up run first).
        sink = _sim.DevNull()
        _sim.check(_sim.run(hostdir, ARGV, stdout=sink), "vmadm list")
        output_bytes = sink.count
        _, samples = _common.timed(
            lambda: _sim.check(_sim.run(hostdir, ARGV, stdout=_sim.DevNull()), "list"),
            repeat=repeat)
        figures["emulator"] = _common.summary(samples)
        figures["output_bytes"] = output_bytes

        # The client's parser on the captured bytes.
        _code, captured, _err = _sim.check(_sim.run(hostdir, ARGV), "vmadm list")
        canned = vmadm.Vmadm(CannedTransport(captured))
        rows, samples = _common.timed(lambda: canned.list(FIELDS), repeat=repeat)
        figures["parse"] = _common.summary(samples)
        figures["parse"]["rows"] = len(rows)
        got = {row["uuid"]: row["alias"] for row in rows}
        figures["parse"]["aliases_match"] = got == expected

        # The client end to end over sim://, and minus the emulator's share.
        with SmartOSHost.connect(f"sim://{hostdir}") as host:
            host.vmadm.list(FIELDS)
            host.stats.reset()
            rows, samples = _common.timed(lambda: host.vmadm.list(FIELDS), repeat=repeat)
            stats = host.stats.snapshot()
        figures["client_sim"] = _common.summary(samples)
        figures["client_sim"].update({
            "round_trips": stats["round_trips"],
            "bytes_in_per_call": stats["bytes_in"] // repeat,
            "transport_seconds_per_call_ms": round(stats["seconds"] / repeat * 1000, 3),
            "client_side_per_call_ms": round(
                (sum(samples) - stats["seconds"]) / repeat * 1000, 3),
        })
        figures["store"] = {k: v for k, v in _sim.store_counters(hostdir).items()
                            if k in ("db_bytes", "zfs_datasets", "zfs_layers")}

    rows = [
        ["create (all VMs)", round(create_seconds * 1000, 1), "-", "-",
         f"{figures['create']['per_vm_ms']} ms/VM"],
        ["emulator list", figures["emulator"]["median_ms"], figures["emulator"]["p90_ms"],
         figures["emulator"]["min_ms"], f"{output_bytes} bytes out"],
        ["client parse", figures["parse"]["median_ms"], figures["parse"]["p90_ms"],
         figures["parse"]["min_ms"], f"{figures['parse']['rows']} rows"],
        ["client list sim://", figures["client_sim"]["median_ms"],
         figures["client_sim"]["p90_ms"], figures["client_sim"]["min_ms"],
         f"{figures['client_sim']['round_trips']} round trips"],
    ]
    _common.report("vmadm_list_2000", figures, rows,
                   ["step", "median_ms", "p90_ms", "min_ms", "note"])


if __name__ == "__main__":
    main()
