"""fwadm: rule payloads, the subcommands and the dispatch of argv."""

from __future__ import annotations

import io
import json
import uuid as uuidlib

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.firewall.language import _UUID_RE, RuleError, parse
from openstack_smartos.sim.commands.fwadm.common import (USAGE, _all_vms, _find_vm, _ipf,
                                                         _parse_args, _report, _serialise, _table,
                                                         _unknown, _usage, _uuid_arg, _version,
                                                         affected_vms, rule_applies)
from openstack_smartos.sim.state.network import dataplane
from openstack_smartos.sim.state.firewall.store import _delete, _save, get_rule, load_rules


# -- payloads ------------------------------------------------------------------------

def _read_payload(ctx, opts, required):
    source = opts.get("f")
    if source is None:
        if not required:
            return None
        source = "-"
    try:
        with ctx.open_input(source) as handle:
            data = handle.read()
    except OSError as exc:
        raise ToolFailure(f"Error reading {source}: {exc.strerror or exc}", 1) from None
    if not data.strip():
        if required and opts.get("f") is None:
            raise _usage("no rule given: pass rule text, -f FILE or JSON on stdin")
        raise ToolFailure(f"Error reading {source}: no rules given", 1)
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ToolFailure(f"Error parsing JSON from {source}: {exc}", 1) from None
    if isinstance(doc, list):
        doc = {"rules": doc}
    if not isinstance(doc, dict):
        raise ToolFailure("Error: payload must be a JSON object", 1)
    if "rules" not in doc and "remoteVMs" not in doc:
        doc = {"rules": [doc]}
    if doc.get("remoteVMs"):
        raise ToolFailure("remoteVMs are not supported by this emulated host", 1)
    rules = doc.get("rules") or []
    if not isinstance(rules, list) or not all(isinstance(r, dict) for r in rules):
        raise ToolFailure("Error: \"rules\" must be an array of rule objects", 1)
    return rules


def _build_rule(data, opts, errors, existing=None):
    """Validate one rule payload (merged over ``existing``); None on error."""
    rule = dict(existing or {})
    if "rule" in data or existing is None:
        text = data.get("rule")
        if not isinstance(text, str) or not text.strip():
            errors.append("Error: rule text is missing")
            return None
        try:
            rule["rule"] = parse(text).text
        except RuleError as exc:
            errors.append(str(exc))
            return None
    if "uuid" in data and existing is None:
        if not isinstance(data["uuid"], str) or not _UUID_RE.match(data["uuid"]):
            errors.append(f"Invalid rule UUID: {data['uuid']!r}")
            return None
        rule["uuid"] = data["uuid"].lower()
    rule.setdefault("uuid", str(uuidlib.uuid4()))
    if "enabled" in data:
        rule["enabled"] = bool(data["enabled"])
    if opts.get("e"):
        rule["enabled"] = True
    rule.setdefault("enabled", False)
    owner = data.get("owner_uuid", opts.get("O"))
    is_global = data.get("global", True if opts.get("g") else None)
    if owner is not None:
        if not isinstance(owner, str) or not _UUID_RE.match(owner):
            errors.append(f"Invalid owner UUID: {owner!r}")
            return None
        rule["owner_uuid"] = owner.lower()
        if is_global is None:
            rule.pop("global", None)
    if is_global is not None:
        if is_global:
            rule["global"] = True
            if owner is None:
                rule.pop("owner_uuid", None)
        else:
            rule.pop("global", None)
    if rule.get("global") and rule.get("owner_uuid"):
        errors.append("Error: a rule cannot have both owner_uuid and global set")
        return None
    description = data.get("description", opts.get("desc"))
    if description is not None:
        rule["description"] = str(description)
    if "log" in data:
        rule["log"] = bool(data["log"])
    rule.setdefault("log", False)
    rule.setdefault("created_by", data.get("created_by", "fwadm"))
    rule["version"] = _version()
    return rule


# -- commands ------------------------------------------------------------------------

def cmd_add(ctx, opts, operands):
    if operands:
        payloads = [{"rule": " ".join(operands)}]
        if opts.get("f"):
            raise _usage("give rule text or -f, not both")
    else:
        payloads = _read_payload(ctx, opts, required=True)
    errors, built = [], []
    with ctx.host.locked():
        for data in payloads:
            rule = _build_rule(data, opts, errors)
            if rule is None:
                continue
            if get_rule(ctx.host, rule["uuid"]) or \
                    any(r["uuid"] == rule["uuid"] for r in built):
                errors.append(f"Rule {rule['uuid']} already exists")
                continue
            built.append(rule)
        _save_all(ctx, opts, built, errors)
    return _report_saved(ctx, opts, "Added rules:", built)


def cmd_update(ctx, opts, operands):
    payloads = _read_payload(ctx, opts, required=False)
    uuid = _uuid_arg(operands[0]) if operands else None
    if payloads is None:
        if uuid is None:
            raise _usage("update needs a rule UUID")
        data = {"rule": " ".join(operands[1:])} if len(operands) > 1 else {}
        payloads = [data]
    elif len(operands) > 1:
        raise _usage("give rule text or -f, not both")
    errors, built = [], []
    with ctx.host.locked():
        for data in payloads:
            target = data.get("uuid") or uuid
            if not target:
                errors.append("Error: a rule to update needs a uuid")
                continue
            existing = get_rule(ctx.host, str(target))
            if existing is None:
                errors.append(f"Unknown rule: {target}")
                continue
            rule = _build_rule({k: v for k, v in data.items() if k != "uuid"}, opts,
                               errors, existing)
            if rule is not None:
                built.append(rule)
        _save_all(ctx, opts, built, errors)
    return _report_saved(ctx, opts, "Updated rules:", built)


def _save_all(ctx, opts, built, errors):
    """Save every rule of an add or update, or none when any was refused."""
    if errors:
        raise ToolFailure("\n".join(errors), 1)
    if not opts.get("dryrun"):
        for rule in built:
            _save(ctx.host, rule)
        dataplane.sync_firewalls(ctx.host)


def _report_saved(ctx, opts, heading, built):
    vms = _all_vms(ctx.host)
    if opts.get("stdout"):
        for line in _ipf(ctx.host, built, vms):
            ctx.out(line)
    _report(ctx, opts, heading, built, affected_vms(ctx.host, built, vms))
    return 0


def _by_uuids(ctx, operands, command):
    if not operands:
        raise _usage(f"{command} needs at least one rule UUID")
    uuids = [_uuid_arg(u) for u in operands]
    rules = []
    for uuid in uuids:
        rule = get_rule(ctx.host, uuid)
        if rule is None:
            raise _unknown(uuid)
        rules.append(rule)
    return rules


def cmd_delete(ctx, opts, operands):
    with ctx.host.locked():
        rules = _by_uuids(ctx, operands, "delete")
        if not opts.get("dryrun"):
            for rule in rules:
                _delete(ctx.host, rule["uuid"])
            dataplane.sync_firewalls(ctx.host)
    _report(ctx, opts, "Deleted rules:", rules, affected_vms(ctx.host, rules))
    return 0


def _set_enabled(ctx, opts, operands, enabled):
    word = "enable" if enabled else "disable"
    with ctx.host.locked():
        rules = _by_uuids(ctx, operands, word)
        for rule in rules:
            if rule["enabled"] != enabled:
                rule["enabled"] = enabled
                rule["version"] = _version()
                if not opts.get("dryrun"):
                    _save(ctx.host, rule)
        dataplane.sync_firewalls(ctx.host)
    _report(ctx, opts, f"{word.capitalize()}d rules:", rules, affected_vms(ctx.host, rules))
    return 0


def cmd_enable(ctx, opts, operands):
    return _set_enabled(ctx, opts, operands, True)


def cmd_disable(ctx, opts, operands):
    return _set_enabled(ctx, opts, operands, False)


def cmd_get(ctx, opts, operands):
    if len(operands) != 1:
        raise _usage("get needs exactly one rule UUID")
    rule = get_rule(ctx.host, _uuid_arg(operands[0]))
    if rule is None:
        raise _unknown(operands[0])
    ctx.out(json.dumps(_serialise(rule), indent=2))
    return 0


def cmd_list(ctx, opts, operands):
    if operands:
        raise _usage("list takes no operands")
    _table(ctx, opts, load_rules(ctx.host))
    return 0


def cmd_vms(ctx, opts, operands):
    if len(operands) != 1:
        raise _usage("vms needs exactly one rule UUID")
    rule = get_rule(ctx.host, _uuid_arg(operands[0]))
    if rule is None:
        raise _unknown(operands[0])
    vms = affected_vms(ctx.host, [rule])
    if opts.get("j"):
        ctx.out(json.dumps(vms, indent=2))
    else:
        for uuid in vms:
            ctx.out(uuid)
    return 0


def cmd_rules(ctx, opts, operands):
    if len(operands) != 1:
        raise _usage("rules needs exactly one VM UUID")
    vm = _find_vm(ctx.host, operands[0])
    _table(ctx, opts, [r for r in load_rules(ctx.host) if rule_applies(r, vm)])
    return 0


def cmd_status(ctx, opts, operands):
    if len(operands) != 1:
        raise _usage("status needs exactly one VM UUID")
    vm = _find_vm(ctx.host, operands[0])
    running = bool(vm.get("firewall_enabled"))
    status = "running" if running else "stopped"
    if opts.get("j"):
        doc = {"running": running}
        if opts.get("v"):
            doc["rules"] = sum(1 for r in load_rules(ctx.host)
                               if r["enabled"] and rule_applies(r, vm))
        ctx.out(json.dumps(doc))
    elif opts.get("v"):
        count = sum(1 for r in load_rules(ctx.host) if r["enabled"] and rule_applies(r, vm))
        ctx.out(f"status: {status}")
        ctx.out(f"rules: {count}")
    else:
        ctx.out(status)
    return 0


def _start_stop(ctx, opts, operands, start):
    if len(operands) != 1:
        raise _usage(f"{'start' if start else 'stop'} needs exactly one VM UUID")
    uuid = _find_vm(ctx.host, operands[0])["uuid"]
    from openstack_smartos.sim import tools
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(ctx.host.root, ["vmadm", "update", uuid,
                                          f"firewall_enabled={'true' if start else 'false'}"],
                          stdin=None, stdout=out, stderr=err, cancel=ctx.cancel)
    if code != 0:
        ctx.write(out.getvalue())
        raise ToolFailure(err.getvalue().decode("utf-8", "replace").rstrip("\n"), code)
    ctx.out(f"Firewall {'started' if start else 'stopped'} for VM {uuid}")
    return 0


def cmd_start(ctx, opts, operands):
    return _start_stop(ctx, opts, operands, True)


def cmd_stop(ctx, opts, operands):
    return _start_stop(ctx, opts, operands, False)


COMMANDS = {"add": cmd_add, "update": cmd_update, "delete": cmd_delete,
            "enable": cmd_enable, "disable": cmd_disable, "get": cmd_get,
            "list": cmd_list, "vms": cmd_vms, "rules": cmd_rules, "status": cmd_status,
            "start": cmd_start, "stop": cmd_stop}



def main(ctx) -> int:
    args = list(ctx.args)
    json_errors = "-j" in args or "--json" in args
    try:
        opts, operands = _parse_args(args)
        if not operands:
            if opts.get("v") or args[:1] in (["-h"], ["--help"]):
                ctx.out(USAGE)
                return 0
            raise _usage("no command given")
        command = operands[0].lower()
        if command == "help":
            ctx.out(USAGE)
            return 0
        handler = COMMANDS.get(command)
        if handler is None:
            raise _usage(f"unknown command: {operands[0]}")
        return handler(ctx, opts, operands[1:])
    except ToolFailure as failure:
        if json_errors and failure.message:
            messages = [m for m in failure.message.split("\n\n")[0].splitlines() if m]
            if failure.code == 2:
                messages = messages[:1]
            doc = {"errors": [{"message": m} for m in messages]}
            raise ToolFailure(json.dumps(doc), failure.code) from None
        raise
