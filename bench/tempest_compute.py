"""Tempest's compute API tests against the demo cloud: passed, skipped, failed.

Starts a demo cloud (embedded mode, 2 hosts, its own state directory and
address) unless --state-dir names a running one, writes its tempest.conf
with ``openstack-smartos tempest-config``'s code, runs
``tempest run --regex '^tempest\\.api\\.compute'`` (or --include-list) and
prints the counts and the failed tests, then stops the cloud it started.

    .venv/bin/python bench/tempest_compute.py [--state-dir DIR] [--include-list FILE]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _common

from openstack_smartos.aio import tempest
from openstack_smartos.aio.settings import DemoSettings

ADDRESS = "127.0.0.47"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--state-dir")
    parser.add_argument("--include-list")
    args = parser.parse_args()
    cli = str(Path(sys.executable).with_name("openstack-smartos"))
    own = args.state_dir is None
    state_dir = args.state_dir or tempfile.mkdtemp(prefix="smartos-tempest-")
    started = time.monotonic()
    if own:
        subprocess.run([cli, "demo", "--state-dir", state_dir, "--address", ADDRESS,
                        "--detach"], check=True, stdout=subprocess.DEVNULL)
    cloud_seconds = round(time.monotonic() - started, 1)
    try:
        settings = DemoSettings.load(state_dir)
        result = tempest.run(settings, Path(state_dir) / f"tempest-{int(time.time())}",
                             include_list=args.include_list)
    finally:
        if own:
            subprocess.run([cli, "demo", "stop", "--state-dir", state_dir], check=False,
                           stdout=subprocess.DEVNULL)
    figures = {"cloud_start_seconds": cloud_seconds if own else None,
               "selection": args.include_list or r"^tempest\.api\.compute", **result}
    _common.report("tempest_compute", figures,
                   [[result["passed"], result["skipped"], result["failed"],
                     result["seconds"]]],
                   ["passed", "skipped", "failed", "seconds"])


if __name__ == "__main__":
    main()
