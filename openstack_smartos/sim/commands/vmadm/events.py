"""vmadm events [-f] [-j] [-r] [uuid]: vminfod-style events from polling the store."""

from __future__ import annotations

import json

from openstack_smartos.sim.state.vms import runtime, store
from openstack_smartos.sim.commands.vmadm.common import Usage, is_uuid

POLL_SECONDS = 0.2


def _changes(old, new, path=()):
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            if key in ("last_modified",):
                continue
            if key not in new:
                out.append(_change(path + (key,), "removed", old[key], None))
            elif key not in old:
                out.append(_change(path + (key,), "added", None, new[key]))
            else:
                out += _changes(old[key], new[key], path + (key,))
        return out
    if old != new:
        return [_change(path, "changed", old, new)]
    return []


def _change(path, action, old, new):
    pretty = ".".join("*" if isinstance(p, int) else str(p) for p in path)
    change = {"path": list(path), "prettyPath": pretty, "action": action}
    if old is not None:
        change["oldValue"] = old
    if new is not None:
        change["newValue"] = new
    return change


def cmd_events(ctx, args):
    full = as_json = ready = False
    uuid = None
    for arg in args:
        if arg.startswith("-") and len(arg) > 1:
            for letter in arg[1:]:
                if letter == "f":
                    full = True
                elif letter == "j":
                    as_json = True
                elif letter == "r":
                    ready = True
                else:
                    raise Usage(f"Invalid option: -{letter}")
        elif is_uuid(arg) and uuid is None:
            uuid = arg
        else:
            raise Usage(f"Invalid or missing UUID for events")
    seen = {vm["uuid"]: vm for vm in store.all_objects(ctx.host)}
    if ready:
        _emit(ctx, {"type": "ready", "date": runtime.iso(), "uuid": "vmadm-events"},
              as_json, full)
    while not ctx.sleep(POLL_SECONDS):
        current = {vm["uuid"]: vm for vm in store.all_objects(ctx.host)}
        for key in sorted(set(seen) | set(current)):
            if uuid and key != uuid:
                continue
            old, new = seen.get(key), current.get(key)
            if old is None:
                event = {"type": "create", "vm": new}
            elif new is None:
                event = {"type": "delete"}
            else:
                changes = _changes(old, new)
                if not changes:
                    continue
                event = {"type": "modify", "vm": new, "changes": changes}
            event.update({"date": runtime.iso(), "zonename": key, "uuid": key})
            _emit(ctx, event, as_json, full, alias=(new or old or {}).get("alias"))
        seen = current
    return 0


def _emit(ctx, event, as_json, full, alias=None):
    if as_json:
        ctx.out(json.dumps(event))
    else:
        date = event["date"] if full else event["date"][11:]
        zonename = event.get("zonename", "") if full else event.get("zonename", "")[:8]
        alias = alias or "-"
        if len(alias) > 30:
            alias = alias[:27] + "..."
        if event["type"] == "modify":
            for change in event["changes"]:
                ctx.out(f"[{date}] {zonename} {alias} modify: {change['prettyPath']} "
                        f"{change['action']} :: {json.dumps(change.get('oldValue'))} -> "
                        f"{json.dumps(change.get('newValue'))}")
        else:
            ctx.out(f"[{date}] {zonename} {alias} {event['type']}")
    try:
        ctx.stdout.flush()
    except (AttributeError, ValueError):
        pass
