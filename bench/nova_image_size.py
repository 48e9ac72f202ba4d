"""Boot time through the Nova API with a small and a large cached bhyve image.

One functional harness (tests/functional/fixtures.py), SmartOSDriver on an
emulated host (sim://). Two raw disk images in the harness's Glance fixture,
real non-zero data in which every 128 KiB block differs (``_sim.DistinctVolume``;
the emulator dedups equal blocks): 64 MiB and 4 GiB (1 GiB, with a note,
when under 20 GiB of disk is free; --quick: 64 MiB and 512 MiB). Properties
smartos_image_type=zvol, img_hv_type=bhyve, hw_vm_mode=hvm; flavor
fixtures.FLAVORS["bhyve"] (10 GiB root disk).

A first boot of each image installs it (Glance download, scratch VM, dd,
imgadm create, imgadm install): timed and reported, not part of the ratio.
Then N boots of each (N=10, --quick 3), alternating small and large, each
deleted (untimed) before the next: POST /servers (networks none), GET every
5 ms until ACTIVE. Also per boot: the driver's ``spawn`` time (a wrapper on
the driver object), host round trips, and the bytes the emulator appended
to its pack files (what the clone wrote). Target: ratio large/small of the
median boot time close to 1.

    .venv/bin/python bench/nova_image_size.py [--quick] [-n N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _nova  # noqa: E402  (first: nova's threading mode)
import _common  # noqa: E402
import _sim  # noqa: E402

MIB = _sim.MIB
GIB = 1 << 30
PROPS = {"smartos_image_type": "zvol", "img_hv_type": "bhyve", "hw_vm_mode": "hvm",
         "os_type": "linux"}

SizeCase = _nova.case_class("ImageSizeBench", host_kwargs={"zpool_gib": 1024})


def register(case, label, size):
    """A raw image of ``size`` distinct-block bytes in the Glance fixture."""
    image_id = str(uuidlib.uuid4())
    meta = {"id": image_id, "name": f"bench-bhyve-{label}", "status": "active",
            "visibility": "public", "disk_format": "raw", "container_format": "bare",
            "size": size, "min_ram": 0, "min_disk": 0, "properties": dict(PROPS)}
    started = time.perf_counter()
    # The fixture keeps the bytes in memory (it reads the whole file object).
    case.glance.create(None, meta, data=_sim.DistinctVolume(size))
    return image_id, time.perf_counter() - started


def body_for(sizes, count):
    def body(case):
        notes = []
        note = _nova.install_glance_adapter(case)
        if note:
            notes.append(note)
        hostdir = case.sim_hosts.dir("compute1")
        timer = _nova.SpawnTimer(case.compute1)
        stats = case._driver().host.stats
        flavor_id = case._flavor("bhyve")
        images, out = {}, {}
        for label, size in sizes.items():
            image_id, built = register(case, label, size)
            stats.reset()
            seconds, server = _nova.boot_until_active(case, image_id, flavor_id)
            snap = stats.snapshot()
            images[label] = image_id
            out[label] = {"size_mib": size // MIB, "glance_register_seconds": round(built, 3),
                          "first_boot_ms": round(seconds * 1000, 3),
                          "first_spawn_ms": round(timer.last() * 1000, 3),
                          "first_boot_round_trips": snap["round_trips"],
                          "first_boot_by_command": snap["by_command"],
                          "boot": [], "spawn": [], "trips": [], "pack_bytes": []}
            _nova.delete_and_wait(case, server)
            # The fixture's copy is no longer needed: free the memory.
            case.glance._imagedata.pop(image_id, None)
        os.sync()
        for index in range(count):
            order = list(sizes) if index % 2 == 0 else list(reversed(sizes))
            for label in order:
                o = out[label]
                before = _sim.store_counters(hostdir)
                stats.reset()
                seconds, server = _nova.boot_until_active(case, images[label], flavor_id)
                o["trips"].append(stats.snapshot()["round_trips"])
                o["boot"].append(seconds)
                o["spawn"].append(timer.last())
                diff = _sim.diff_counters(before, _sim.store_counters(hostdir))
                o["pack_bytes"].append(diff.get("pack_bytes", 0))
                _nova.delete_and_wait(case, server)
        for label, o in out.items():
            o["boot"] = _common.summary(o.pop("boot"))
            o["driver_spawn"] = _common.summary(o.pop("spawn"))
            o["round_trips_per_boot_median"] = statistics.median(o.pop("trips"))
            o["pack_bytes_per_boot_median"] = statistics.median(o.pop("pack_bytes"))
        out["notes"] = notes
        return out
    return body


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB vs 512 MiB, N=3")
    parser.add_argument("-n", type=int, help="boots per image (default 10, --quick 3)")
    args = parser.parse_args()
    count = args.n or (3 if args.quick else 10)
    notes = []
    free = shutil.disk_usage(tempfile.gettempdir()).free
    if args.quick:
        large = 512 * MIB
    elif free < 20 * GIB:
        large = 1 * GIB
        notes.append(f"only {free / GIB:.1f} GiB free (< 20 GiB): large image is 1 GiB "
                     "instead of 4 GiB")
    else:
        large = 4 * GIB
    sizes = {"small": 64 * MIB, "large": large}
    started = time.perf_counter()
    results = _nova.run_case(SizeCase, body_for(sizes, count))
    notes.extend(results.pop("notes"))
    small, big = results["small"], results["large"]

    def ratio(key):
        return round(big[key]["median_ms"] / small[key]["median_ms"], 3)

    figures = {
        "free_disk_gib": round(free / GIB, 1), "boots_per_image": count,
        "poll_ms": _nova.POLL_SECONDS * 1000, "results": results, "notes": notes,
        "ratio_boot_median": ratio("boot"), "ratio_driver_spawn_median": ratio("driver_spawn"),
        "target": "ratio large/small close to 1",
        "wall_seconds": round(time.perf_counter() - started, 1),
    }
    rows = []
    for label, res in results.items():
        rows.append([f"{label} ({res['size_mib']} MiB)", res["boot"]["median_ms"],
                     res["boot"]["p90_ms"], res["driver_spawn"]["median_ms"],
                     res["round_trips_per_boot_median"], res["pack_bytes_per_boot_median"],
                     res["first_boot_ms"]])
    rows.append(["ratio large/small", figures["ratio_boot_median"], "-",
                 figures["ratio_driver_spawn_median"], "-", "-", "-"])
    _common.report("nova_image_size", figures, rows,
                   ["image", "boot_median_ms", "p90_ms", "spawn_median_ms", "round_trips",
                    "pack_bytes", "first_boot_ms"])


if __name__ == "__main__":
    main()
