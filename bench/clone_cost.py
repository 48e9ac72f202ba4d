"""Cost of cloning a small and a large installed zvol image: should not depend on size.

Two zvol images of real, distinct data (every 128 KiB block differs, so the
emulator's content-hash dedup cannot shrink them), built with imagebuild
(compression "none" to keep building fast) and installed with imgadm on one
emulated host: 64 MiB and 4 GiB (1 GiB, with a note, when under 20 GiB of
disk is free; --quick: 64 MiB and 512 MiB). For each image:

  zfs clone     ``zfs clone zones/<img>@final zones/<new>`` through the zfs CLI
                emulation (run_tool), median over 20 clones
  vmadm create  a bhyve VM whose disk0 is the image (autoboot false),
                median over 10 creates

and what each operation wrote: rows added to the emulated ZFS tables
(zfs_bmap block map, zfs_store block index, ...) in DIR/state.db and bytes
appended to pack files under DIR/zfs/packs. The ratios large/small of median
time and of bytes written should be close to 1.

    .venv/bin/python bench/clone_cost.py [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import sys
import time
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import _sim  # noqa: E402

MIB = _sim.MIB
GIB = 1 << 30


def per_op(diffs):
    """Mean of each counter over the operations (0 where it never moved)."""
    keys = sorted({k for d in diffs for k in d})
    return {k: round(sum(d.get(k, 0) for d in diffs) / len(diffs), 1) for k in keys}


def measure_clones(hostdir, image_uuid, count):
    samples, diffs = [], []
    for _ in range(count):
        target = f"zones/clone-{uuidlib.uuid4().hex[:12]}"
        before = _sim.store_counters(hostdir)
        started = time.perf_counter()
        _sim.check(_sim.run(hostdir, ["zfs", "clone", f"zones/{image_uuid}@final", target]),
                   "zfs clone")
        samples.append(time.perf_counter() - started)
        diffs.append(_sim.diff_counters(before, _sim.store_counters(hostdir)))
    return samples, diffs


def measure_creates(hostdir, image_uuid, count):
    samples, diffs = [], []
    for index in range(count):
        payload = {"brand": "bhyve", "ram": 1024, "vcpus": 1, "autoboot": False,
                   "alias": f"bhyve-{index}",
                   "disks": [{"image_uuid": image_uuid, "boot": True, "model": "virtio"}]}
        before = _sim.store_counters(hostdir)
        started = time.perf_counter()
        _sim.check(_sim.run(hostdir, ["vmadm", "create"], stdin=json.dumps(payload).encode()),
                   "vmadm create")
        samples.append(time.perf_counter() - started)
        diffs.append(_sim.diff_counters(before, _sim.store_counters(hostdir)))
    return samples, diffs


def written_bytes(diff):
    return diff.get("pack_bytes", 0)


def main():
    args = _sim.parse_args(__doc__.splitlines()[0])
    clones, creates = (5, 3) if args.quick else (20, 10)
    small = 64 * MIB
    notes = []
    with _sim.workdir("clone", args.keep) as work:
        free = shutil.disk_usage(work).free
        if args.quick:
            large = 512 * MIB
        elif free < 20 * GIB:
            large = 1 * GIB
            notes.append(f"only {free / GIB:.1f} GiB free (< 20 GiB): large image is "
                         "1 GiB instead of 4 GiB")
        else:
            large = 4 * GIB
        figures = {"free_disk_gib": round(free / GIB, 1), "clones": clones,
                   "creates": creates, "notes": notes}

        hostdir = work / "host"
        _sim.new_host(hostdir)
        images = {}
        for label, size in (("small", small), ("large", large)):
            started = time.perf_counter()
            manifest, mpath, fpath = _sim.build_zvol_image(work / f"img-{label}", size,
                                                           name=f"bench-{label}")
            built = time.perf_counter() - started
            before = _sim.store_counters(hostdir)
            started = time.perf_counter()
            _sim.check(_sim.run(hostdir, ["imgadm", "install", "-q", "-m", mpath,
                                          "-f", fpath]), "imgadm install")
            installed = time.perf_counter() - started
            diff = _sim.diff_counters(before, _sim.store_counters(hostdir))
            os.unlink(fpath)          # free the disk; the host holds the data now
            images[label] = {"uuid": manifest["uuid"], "size_mib": size // MIB,
                             "build_seconds": round(built, 3),
                             "install_seconds": round(installed, 3),
                             "install_wrote": {k: diff.get(k, 0) for k in (
                                 "pack_bytes", "zfs_bmap", "zfs_store")}}

        # Flush the image data out of the page cache's dirty list first, and
        # alternate small and large one operation at a time, so both see the
        # same pool (the emulator's accounting grows with the dataset count).
        os.sync()
        samples = {label: {"zfs_clone": ([], []), "vmadm_create": ([], [])}
                   for label in images}
        for index in range(max(clones, creates)):
            order = ("small", "large") if index % 2 == 0 else ("large", "small")
            for label in order:
                if index < clones:
                    t, d = measure_clones(hostdir, images[label]["uuid"], 1)
                    samples[label]["zfs_clone"][0].extend(t)
                    samples[label]["zfs_clone"][1].extend(d)
                if index < creates:
                    t, d = measure_creates(hostdir, images[label]["uuid"], 1)
                    samples[label]["vmadm_create"][0].extend(t)
                    samples[label]["vmadm_create"][1].extend(d)
        results = {}
        for label, image in images.items():
            results[label] = {"image": image}
            for op, (times, diffs) in samples[label].items():
                results[label][op] = {**_common.summary(times), "wrote_per_op": per_op(diffs)}
        figures["results"] = results

    def ratio(a, b):
        return round(a / b, 3) if b else (1.0 if a == b else None)

    ratios = {}
    for op in ("zfs_clone", "vmadm_create"):
        big, little = results["large"][op], results["small"][op]
        big_bytes = big["wrote_per_op"].get("pack_bytes", 0)
        little_bytes = little["wrote_per_op"].get("pack_bytes", 0)
        ratios[op] = {
            "time_large_over_small": ratio(big["median_ms"], little["median_ms"]),
            # Both sides usually write (almost) nothing: vmadm create's three small
            # metadata files dedup against earlier creates. A ratio of two numbers
            # under one 128 KiB block says nothing, so it is reported as 1.0 then.
            "pack_bytes_large_over_small": (
                1.0 if max(big_bytes, little_bytes) < 128 * 1024
                else ratio(big_bytes, little_bytes)),
            "pack_bytes_per_op": {"large": big_bytes, "small": little_bytes},
            "bmap_rows_large_over_small": ratio(big["wrote_per_op"].get("zfs_bmap", 0),
                                                little["wrote_per_op"].get("zfs_bmap", 0)),
        }
    figures["ratios"] = ratios

    rows = []
    for label in ("small", "large"):
        for op in ("zfs_clone", "vmadm_create"):
            entry = results[label][op]
            wrote = entry["wrote_per_op"]
            rows.append([f"{label} ({results[label]['image']['size_mib']} MiB)", op,
                         entry["median_ms"], entry["p90_ms"], wrote.get("pack_bytes", 0),
                         wrote.get("zfs_bmap", 0), wrote.get("zfs_store", 0)])
    for op, r in ratios.items():
        rows.append(["ratio large/small", op, r["time_large_over_small"], "-",
                     r["pack_bytes_large_over_small"], r["bmap_rows_large_over_small"], "-"])
    _common.report("clone_cost", figures, rows,
                   ["image", "operation", "median_ms", "p90_ms", "pack_bytes/op",
                    "bmap_rows/op", "store_rows/op"])


if __name__ == "__main__":
    main()
