"""The Linux side of the data plane: ``ip`` and ``nft`` as argv lists.

Nothing here knows SmartOS; callers say which namespace and what to run.
Every failure raises ``DataPlaneError`` with the command's own message.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time

NETNS_DIR = "/run/netns"
TIMEOUT = 30


class DataPlaneError(Exception):
    """A Linux networking command failed; ``str()`` says which and why."""


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why this machine cannot give emulated hosts a data plane, or None.

    Asked at every VM change of a racked host; the answer does not change
    while the process runs.
    """
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return f"the {tool} command is missing (scripts/setup installs it)"
    return None


def run(argv, stdin: str | None = None, *, check=True) -> str:
    try:
        proc = subprocess.run(argv, input=stdin, capture_output=True, text=True,
                              timeout=TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataPlaneError(f"{' '.join(argv)}: {exc}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise DataPlaneError(f"{' '.join(argv[:6])}: {detail}")
    return proc.stdout


def ns_exists(name: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, name))


def ns_list(prefix: str = "") -> list[str]:
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if e.startswith(prefix))


def ns_add(name: str, *, loopback_up=True):
    run(["ip", "netns", "add", name])
    if loopback_up:
        run(["ip", "-n", name, "link", "set", "lo", "up"])


def ns_delete(name: str):
    """Delete a namespace (its links and nftables go with it); absent is fine."""
    if ns_exists(name):
        run(["ip", "netns", "delete", name], check=False)
        if ns_exists(name):
            raise DataPlaneError(f"cannot delete network namespace {name}")


def batch(ns: str, lines) -> None:
    lines = list(lines)
    if lines:
        run(["ip", "-n", ns, "-batch", "-"], "\n".join(lines) + "\n")


def in_ns(ns: str, argv, stdin: str | None = None, *, check=True) -> str:
    return run(["ip", "netns", "exec", ns, *argv], stdin, check=check)


def nft(ns: str, ruleset: str):
    in_ns(ns, ["nft", "-f", "-"], ruleset)


def nft_delete_table(ns: str, family: str, table: str):
    if ns_exists(ns):
        in_ns(ns, ["nft", "delete", "table", family, table], check=False)


def links(ns: str) -> list[dict]:
    """``ip -j link show`` in a namespace (empty when the namespace is gone)."""
    if not ns_exists(ns):
        return []
    return json.loads(run(["ip", "-j", "-n", ns, "link", "show"]) or "[]")


def addresses(ns: str) -> list[dict]:
    if not ns_exists(ns):
        return []
    return json.loads(run(["ip", "-j", "-n", ns, "address", "show"]) or "[]")


def link_exists(ns: str, name: str) -> bool:
    return ns_exists(ns) and subprocess.run(
        ["ip", "-n", ns, "link", "show", "dev", name], capture_output=True,
        timeout=TIMEOUT).returncode == 0


def sysctl(ns: str, settings: dict):
    in_ns(ns, ["sysctl", "-q", "-w", *(f"{k}={v}" for k, v in settings.items())])



def wait_forwarding(ns: str, ports, timeout: float = 5.0):
    """Wait until new bridge ports forward.

    A bridge enables a port once the kernel's linkwatch has seen its carrier,
    which for a veth between two namespaces can take up to a second; frames
    sent before are lost, so a cable is ready only when both ends forward.
    """
    pending = set(ports)
    deadline = time.monotonic() + timeout
    while pending:
        states = json.loads(run(["bridge", "-j", "-n", ns, "link", "show"]) or "[]")
        pending -= {port["ifname"] for port in states if port.get("state") == "forwarding"}
        if not pending:
            return
        if time.monotonic() > deadline:
            raise DataPlaneError(f"bridge ports {', '.join(sorted(pending))} in {ns} "
                                 f"do not forward after {timeout:.0f} s")
        time.sleep(0.02)
