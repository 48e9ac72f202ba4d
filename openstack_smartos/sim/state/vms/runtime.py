"""VM runtime state (§3): zone_state, boots, timed transitions.

A VM's runtime record (JSON in the store) holds the raw zone state, the
current boot (zoneid, pid, boot_timestamp), the last exit, the ``failed`` flag
and at most one operation in progress (``op``). An op is what a concurrent
reader sees while vmadm is blocked in create/start/stop/reboot: it has a
visible ``state`` (provisioning, ready, stopping, shutting_down), an ``until``
time when the emulated guest is done, and an ``id`` so the vmadm process that
started it finishes only its own op. A reader that finds an op past its
``until`` finishes it itself (the writer may have died or been cancelled).
"""

from __future__ import annotations

import datetime
import random
import secrets
import time

HVM_STOP_TIMEOUT = 180


def iso(ts: float | None = None) -> str:
    ts = time.time() if ts is None else ts
    moment = datetime.datetime.fromtimestamp(ts, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def new_runtime(zonedid: int, now: float) -> dict:
    return {"zone_state": "installed", "zonedid": zonedid, "failed": False, "op": None,
            "init_restarts": 0, "last_modified": iso(now)}


def boot(rt: dict, counter, at: float, cfg: dict):
    """A new boot of the zone: fresh zoneid, init pid and boot timestamp."""
    rt["zone_state"] = "running"
    rt["zoneid"] = counter("zoneid")
    rt["pid"] = counter("pid")
    rt["boot_timestamp"] = iso(at)
    rt["init_restarts"] = 0
    rt.pop("exit_status", None)
    rt.pop("exit_timestamp", None)
    port = cfg.get("vnc_port", 0)
    if cfg.get("brand") in ("kvm", "bhyve") and port != -1:
        rt["vnc_port"] = port if port else random.randrange(5901, 65535)
    else:
        rt.pop("vnc_port", None)


def halt(rt: dict, at: float, exit_status: int = 0):
    rt["zone_state"] = "installed"
    for key in ("zoneid", "pid", "boot_timestamp", "vnc_port"):
        rt.pop(key, None)
    rt["exit_status"] = exit_status
    rt["exit_timestamp"] = iso(at)


def begin(rt: dict, kind: str, seconds: float, *, state: str, zone_state: str,
          transition_to: str | None = None, expire_seconds: float | None = None,
          now: float | None = None) -> dict:
    now = time.time() if now is None else now
    op = {"id": secrets.token_hex(8), "kind": kind, "until": now + max(0.0, seconds),
          "state": state, "zone_state": zone_state}
    if transition_to is not None:
        op["transition_to"] = transition_to
        op["transition_expire"] = int((now + (expire_seconds or 0)) * 1000)
    rt["op"] = op
    return op


def finish(rt: dict, counter, cfg: dict, at: float | None = None):
    """Complete the op in progress as the emulated guest would have."""
    op = rt.get("op")
    if not op:
        return
    at = op["until"] if at is None else at
    rt["op"] = None
    kind = op["kind"]
    if kind in ("provision", "start"):
        rt["zone_state"] = "running"
    elif kind == "stop":
        halt(rt, at)
    elif kind == "reboot":
        boot(rt, counter, at, cfg)


def expired(rt: dict, now: float | None = None) -> bool:
    op = rt.get("op")
    return bool(op) and op["until"] <= (time.time() if now is None else now)


def derive(rt: dict) -> dict:
    """The state-related keys of the VM object (§3 derivation)."""
    op = rt.get("op")
    zone_state = op["zone_state"] if op else rt["zone_state"]
    if rt.get("failed"):
        state = "failed"
    elif op:
        state = op["state"]
    else:
        state = "stopped" if zone_state == "installed" else zone_state
    out = {"state": state, "zone_state": zone_state, "zonedid": rt.get("zonedid")}
    if op and "transition_to" in op:
        out["transition_to"] = op["transition_to"]
        out["transition_expire"] = op["transition_expire"]
    if zone_state in ("running", "ready", "shutting_down") and "zoneid" in rt:
        out["zoneid"] = rt["zoneid"]
        out["pid"] = rt["pid"]
        out["boot_timestamp"] = rt["boot_timestamp"]
        out["init_restarts"] = rt.get("init_restarts", 0)
    else:
        for key in ("exit_status", "exit_timestamp"):
            if key in rt:
                out[key] = rt[key]
    return out


def is_running(rt: dict) -> bool:
    return derive(rt)["zone_state"] == "running"
