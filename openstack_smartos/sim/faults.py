"""Fault and latency injection, per host (the file ``faults.json`` in DIR).

{"latency_ms": 20,
 "rules": [{"match": "vmadm create", "action": "fail", "exit_code": 1,
            "stderr": "...", "times": 1, "seconds": null}]}

``match`` is compared word by word with the start of the command line
(tool name first), so "vmadm create" matches every create and "vmadm" every
vmadm call. Actions:
  fail        exit with ``exit_code`` and ``stderr`` before doing anything;
  fail_after  do the work (its side effects stay), then fail the same way;
  hang        never answer (until the caller gives up), or for ``seconds``;
  delay       answer normally after ``seconds``.
``times`` limits how often a rule fires (absent: every time).
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os

FILE = "faults.json"
ACTIONS = ("fail", "fail_after", "hang", "delay")


@dataclasses.dataclass
class Failure:
    exit_code: int
    stderr: str


@dataclasses.dataclass
class Plan:
    latency: float = 0.0
    hang: float | None = None
    fail_before: Failure | None = None
    fail_after: Failure | None = None


def _path(host):
    return host.path(FILE)


def _load(path):
    try:
        with open(path) as handle:
            return json.load(handle)
    except FileNotFoundError:
        return {}


def plan_for(host, argv) -> Plan:
    path = _path(host)
    if not path.exists():
        return Plan()
    with open(path, "r+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        spec = json.load(handle) if os.fstat(handle.fileno()).st_size else {}
        plan = Plan(latency=float(spec.get("latency_ms", 0)) / 1000.0)
        changed = False
        for rule in spec.get("rules", []):
            words = rule["match"].split()
            if [str(a) for a in argv[:len(words)]] != words:
                continue
            if rule.get("times") is not None:
                if rule["times"] <= 0:
                    continue
                rule["times"] -= 1
                changed = True
            action = rule["action"]
            failure = Failure(int(rule.get("exit_code", 1)),
                              rule.get("stderr") or f"injected failure: {rule['match']}")
            if action == "fail":
                plan.fail_before = failure
            elif action == "fail_after":
                plan.fail_after = failure
            elif action == "hang":
                plan.hang = float(rule.get("seconds") or 0)
            elif action == "delay":
                plan.latency += float(rule.get("seconds") or 0)
            break
        if changed:
            spec["rules"] = [r for r in spec["rules"] if r.get("times", 1) != 0]
            handle.seek(0)
            handle.truncate()
            json.dump(spec, handle, indent=2)
    return plan


def _update(host, mutate):
    path = _path(host)
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        text = handle.read()
        spec = json.loads(text) if text.strip() else {}
        mutate(spec)
        handle.seek(0)
        handle.truncate()
        json.dump(spec, handle, indent=2)


def add_rule(host, match, action, *, exit_code=1, stderr=None, times=None, seconds=None):
    if action not in ACTIONS:
        raise ValueError(f"unknown fault action {action!r}; expected one of {ACTIONS}")
    rule = {"match": match, "action": action, "exit_code": exit_code}
    if stderr is not None:
        rule["stderr"] = stderr
    if times is not None:
        rule["times"] = int(times)
    if seconds is not None:
        rule["seconds"] = float(seconds)
    _update(host, lambda spec: spec.setdefault("rules", []).append(rule))


def set_latency(host, milliseconds):
    _update(host, lambda spec: spec.__setitem__("latency_ms", float(milliseconds)))


def clear(host):
    try:
        os.unlink(_path(host))
    except FileNotFoundError:
        pass
