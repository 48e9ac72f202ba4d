"""Shared output for benchmarks: a JSON document on stdout, then a short table."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def timed(function, repeat=1):
    """Run ``function`` ``repeat`` times; return (last result, [seconds...])."""
    samples, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        samples.append(time.perf_counter() - started)
    return result, samples


def summary(samples):
    ordered = sorted(samples)
    return {"median_ms": round(statistics.median(ordered) * 1000, 3),
            "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 3),
            "min_ms": round(ordered[0] * 1000, 3), "n": len(ordered)}


def report(name, figures, rows, headers):
    """Print {"benchmark": name, ...figures} as JSON, then rows as a table."""
    print(json.dumps({"benchmark": name, **figures}, indent=2, sort_keys=True))
    table = [list(map(str, headers))] + [[_fmt(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(headers))]
    print()
    for index, row in enumerate(table):
        print("  ".join(v.ljust(widths[i]) for i, v in enumerate(row)).rstrip())
        if index == 0:
            print("  ".join("-" * w for w in widths))


def _fmt(value):
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
