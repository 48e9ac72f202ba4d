"""Boot to ACTIVE through the real Nova API: SmartOSDriver vs nova's FakeDriver.

Both computes run in one functional harness (tests/functional/fixtures.py:
API, conductor, scheduler, placement, Glance fixture with real image
bytes, in-memory databases, fake:// RPC):

  compute1  SmartOSDriver on an emulated host (sim://): joyent zone from the
            harness's zone image (fixtures.build_image("zone")), flavor
            fixtures.FLAVORS["zone"]; one untimed boot first installs the
            image, so the timed boots use a cached image
  compute2  nova.virt.fake.FakeDriver: same flavor, the same image bytes
            registered with hw_vm_mode=hvm (FakeDriver reports only hvm
            instances, so ImagePropertiesFilter would reject exe); one
            untimed boot first

Boots alternate between the two computes (forced with the 2.74 ``host``
field), so drift in the harness (database growth, GC) hits both alike.
Each boot: POST /servers (networks none), then GET every 5 ms until ACTIVE
(``_nova.boot_until_active``); the server is deleted (untimed) before the
next boot. Besides the boot time, each compute's ``driver.spawn`` is timed
(a wrapper on the driver object), which separates the driver's own cost
from the harness's (scheduling through fake:// RPC, whose listeners poll
every 50 ms, is most of a boot here). The harness's ``_create_server``
(0.5 s polling) is timed too, for reference. setUp is never timed.

Reported: median/p90/min per driver, ratio of boot medians smartos/fake
(target <= 1.3), driver.spawn medians, and host round trips per SmartOS boot.

    .venv/bin/python bench/nova_boot_ratio.py [--quick] [-n N]   # N=10, --quick 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _nova  # noqa: E402  (first: nova's threading mode)
import _common  # noqa: E402

from tests.functional import fixtures as sf  # noqa: E402

FAKE_HOST = "compute2"
BootCase = _nova.case_class("BootRatioBench", extra_fake=FAKE_HOST)


def body_for(count):
    def body(case):
        notes = []
        note = _nova.install_glance_adapter(case)
        if note:
            notes.append(note)
        flavor_id = case._flavor("zone")
        targets = {
            "smartos": {"host": "compute1", "image": case._register_image("zone"),
                        "timer": _nova.SpawnTimer(case.compute1),
                        "stats": case._driver().host.stats},
            "fake": {"host": FAKE_HOST,
                     "image": sf.register_image(case.glance, sf.build_image("zone"),
                                                properties={"hw_vm_mode": "hvm"},
                                                image_id=str(uuidlib.uuid4()),
                                                name="functional-zone-hvm"),
                     "timer": _nova.SpawnTimer(case.fake_compute), "stats": None},
        }
        out = {name: {"boot": [], "spawn": [], "helper": [], "trips": [], "commands": {}}
               for name in targets}
        for name, t in targets.items():          # first boots: image install, warm-up
            seconds, server = _nova.boot_until_active(case, t["image"], flavor_id,
                                                      host=t["host"])
            out[name]["first_boot_ms"] = round(seconds * 1000, 3)
            out[name]["first_spawn_ms"] = round(t["timer"].last() * 1000, 3)
            _nova.delete_and_wait(case, server)
        for index in range(count):
            order = ("smartos", "fake") if index % 2 == 0 else ("fake", "smartos")
            for name in order:
                t, o = targets[name], out[name]
                if t["stats"]:
                    t["stats"].reset()
                seconds, server = _nova.boot_until_active(case, t["image"], flavor_id,
                                                          host=t["host"])
                o["boot"].append(seconds)
                o["spawn"].append(t["timer"].last())
                if t["stats"]:
                    snap = t["stats"].snapshot()
                    o["trips"].append(snap["round_trips"])
                    for key, value in snap["by_command"].items():
                        o["commands"][key] = o["commands"].get(key, 0) + value
                _nova.delete_and_wait(case, server)
            for name in order:
                t = targets[name]
                seconds, server = _nova.helper_boot(case, t["image"], flavor_id,
                                                    host=t["host"])
                out[name]["helper"].append(seconds)
                _nova.delete_and_wait(case, server)
        results = {}
        for name, o in out.items():
            results[name] = {
                "boot": _common.summary(o["boot"]),
                "driver_spawn": _common.summary(o["spawn"]),
                "boot_minus_spawn": _common.summary(
                    [b - s for b, s in zip(o["boot"], o["spawn"])]),
                "helper_create_server": _common.summary(o["helper"]),
                "first_boot_ms": o["first_boot_ms"], "first_spawn_ms": o["first_spawn_ms"],
            }
            if o["trips"]:
                results[name]["host_round_trips_per_boot"] = {
                    "median": statistics.median(o["trips"]), "max": max(o["trips"]),
                    "by_command_mean": {k: round(v / count, 2)
                                        for k, v in sorted(o["commands"].items())},
                    "note": "POST to ACTIVE: spawn's vmadm create plus the manager's "
                            "state read; the state poller (every "
                            "[smartos]state_poll_interval s) may add a vmadm lookup"}
        results["notes"] = notes
        return results
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=3 boots per driver")
    parser.add_argument("-n", type=int, help="boots per driver (default 10, --quick 3)")
    args = parser.parse_args()
    count = args.n or (3 if args.quick else 10)
    started = time.perf_counter()
    results = _nova.run_case(BootCase, body_for(count))
    smartos, fake = results["smartos"], results["fake"]

    def ratio(key):
        return round(smartos[key]["median_ms"] / fake[key]["median_ms"], 3)

    figures = {
        "boots_per_driver": count, "poll_ms": _nova.POLL_SECONDS * 1000,
        "smartos": smartos, "fake": fake, "notes": results["notes"],
        "ratio_median": ratio("boot"), "target_ratio": 1.3,
        "met": ratio("boot") <= 1.3,
        "ratio_helper_create_server": ratio("helper_create_server"),
        "ratio_boot_minus_spawn": ratio("boot_minus_spawn"),
        "driver_spawn_extra_ms": round(smartos["driver_spawn"]["median_ms"]
                                       - fake["driver_spawn"]["median_ms"], 3),
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    rows = []
    for name, res in (("SmartOSDriver (zone, cached)", smartos), ("FakeDriver", fake)):
        rows.append([name, res["boot"]["median_ms"], res["boot"]["p90_ms"],
                     res["boot"]["min_ms"], res["driver_spawn"]["median_ms"],
                     res["first_boot_ms"], res["helper_create_server"]["median_ms"]])
    rows.append(["ratio smartos/fake", figures["ratio_median"], "-", "-", "-", "-",
                 figures["ratio_helper_create_server"]])
    _common.report("nova_boot_ratio", figures, rows,
                   ["driver", "boot_median_ms", "p90_ms", "min_ms", "spawn_median_ms",
                    "first_boot_ms", "helper_median_ms"])


if __name__ == "__main__":
    main()
