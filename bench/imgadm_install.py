"""Throughput of ``imgadm install`` relative to ``sha1sum`` of the same file.

Two zvol images built with imagebuild:

  raw    256 MiB of distinct random 128 KiB blocks, compression "none"
  gzip   256 MiB of realistic mixed content (each 128 KiB block half random,
         half text-like log lines), gzip-compressed

For each: ``sha1sum FILE`` (subprocess, median of 3, after a warm-up read so
the file is in the page cache for both sides), then ``imgadm install -m
MANIFEST -f FILE`` through ``tools.run_tool`` in process (median of 3, each
on a fresh host; host creation not timed), and once through the client
(``host.imgadm.install(manifest, open(file, "rb"))``) over sim://, which
streams the file on stdin. ``ratio = sha1sum_seconds / install_seconds``
(install throughput relative to sha1sum; the goal is >= 0.7). Throughput is
given for the file as stored (compressed input) and for the uncompressed
stream and the volume's logical size.

    .venv/bin/python bench/imgadm_install.py [--quick]   # --quick: 64 MiB, 1 run
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import _common  # noqa: E402
import _sim  # noqa: E402

from openstack_smartos.host import SmartOSHost  # noqa: E402

MIB = _sim.MIB


def warm(path):
    with open(path, "rb") as handle:
        while handle.read(8 * MIB):
            pass


def stream_size(path, compression):
    if compression == "none":
        return os.path.getsize(path)
    decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
    total = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(8 * MIB):
            total += len(decomp.decompress(chunk))
    return total + len(decomp.flush())


def time_sha1sum(path, runs):
    samples, digest = [], None
    for _ in range(runs):
        started = time.perf_counter()
        out = subprocess.run(["sha1sum", str(path)], check=True, capture_output=True,
                             text=True).stdout
        samples.append(time.perf_counter() - started)
        digest = out.split()[0]
    return samples, digest


def mbps(nbytes, seconds):
    return round(nbytes / 1e6 / seconds, 1) if seconds else None


def bench_case(work, label, size, compression, text_half, runs):
    started = time.perf_counter()
    manifest, mpath, fpath = _sim.build_zvol_image(
        work / f"img-{label}", size, name=f"bench-{label}", compression=compression,
        text_half=text_half)
    build_seconds = time.perf_counter() - started
    file_bytes = os.path.getsize(fpath)
    uncompressed = stream_size(fpath, compression)

    warm(fpath)
    warm(fpath)
    sha_samples, digest = time_sha1sum(fpath, runs)
    assert digest == manifest["files"][0]["sha1"], "sha1sum disagrees with the manifest"

    reference = None
    if compression == "gzip":
        # Context only: what decompressing and hashing the stream costs with
        # the system's own tools (gzip -dc | sha1sum).
        ref_samples = []
        for _ in range(runs):
            started = time.perf_counter()
            subprocess.run(f"gzip -dc '{fpath}' | sha1sum", shell=True, check=True,
                           capture_output=True)
            ref_samples.append(time.perf_counter() - started)
        reference = _common.summary(ref_samples)

    install_samples, wrote = [], None
    for run in range(runs):
        hostdir = _sim.new_host(work / f"host-{label}-{run}")
        warm(fpath)
        before = _sim.store_counters(hostdir)
        started = time.perf_counter()
        _sim.check(_sim.run(hostdir, ["imgadm", "install", "-q", "-m", mpath, "-f", fpath]),
                   "imgadm install")
        install_samples.append(time.perf_counter() - started)
        wrote = _sim.diff_counters(before, _sim.store_counters(hostdir))
        _sim.rmtree(hostdir)

    hostdir = _sim.new_host(work / f"host-{label}-client")
    warm(fpath)
    with SmartOSHost.connect(f"sim://{hostdir}") as host, open(fpath, "rb") as data:
        started = time.perf_counter()
        host.imgadm.install(manifest, data)
        client_seconds = time.perf_counter() - started
        stats = host.stats.snapshot()
    _sim.rmtree(hostdir)
    os.unlink(fpath)

    sha = statistics.median(sha_samples)
    inst = statistics.median(install_samples)
    return {
        "compression": compression,
        "volume_bytes": size,
        "file_bytes": file_bytes,
        "uncompressed_stream_bytes": uncompressed,
        "build_seconds": round(build_seconds, 3),
        "sha1sum": {**_common.summary(sha_samples),
                    "file_MBps": mbps(file_bytes, sha)},
        "install_run_tool": {
            **_common.summary(install_samples),
            "file_MBps": mbps(file_bytes, inst),
            "uncompressed_MBps": mbps(uncompressed, inst),
            "volume_MBps": mbps(size, inst),
            "pack_bytes_written": wrote.get("pack_bytes", 0),
            "bmap_rows_written": wrote.get("zfs_bmap", 0),
        },
        "install_client_sim": {
            "seconds": round(client_seconds, 3),
            "file_MBps": mbps(file_bytes, client_seconds),
            "uncompressed_MBps": mbps(uncompressed, client_seconds),
            "round_trips": stats["round_trips"],
            "bytes_out": stats["bytes_out"],
        },
        "ratio_sha1sum_over_install": round(sha / inst, 3),
        "reference_gzip_dc_pipe_sha1sum": reference,
        "ratio_sha1sum_over_client_install": round(sha / client_seconds, 3),
    }


def main():
    args = _sim.parse_args(__doc__.splitlines()[0])
    size = 64 * MIB if args.quick else 256 * MIB
    runs = 1 if args.quick else 3
    figures = {"runs": runs, "goal_ratio": 0.7, "cpus": os.cpu_count()}
    with _sim.workdir("install", args.keep) as work:
        figures["raw"] = bench_case(work, "raw", size, "none", False, runs)
        figures["gzip"] = bench_case(work, "gzip", size, "gzip", True, runs)
    rows = []
    for label in ("raw", "gzip"):
        case = figures[label]
        rows.append([label, case["file_bytes"] // MIB, case["sha1sum"]["median_ms"],
                     case["install_run_tool"]["median_ms"],
                     round(case["install_client_sim"]["seconds"] * 1000, 3),
                     case["install_run_tool"]["file_MBps"],
                     case["install_run_tool"]["uncompressed_MBps"],
                     case["ratio_sha1sum_over_install"],
                     case["ratio_sha1sum_over_client_install"]])
    _common.report("imgadm_install", figures, rows,
                   ["image", "file_MiB", "sha1sum_ms", "install_ms", "client_ms",
                    "file_MB/s", "uncompr_MB/s", "ratio", "ratio_client"])


if __name__ == "__main__":
    main()
