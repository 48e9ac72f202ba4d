"""Shared by the fwadm subcommands: usage, options, rule serialisation, VMs named, output."""

from __future__ import annotations

import json
import os
import re
import time

from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.firewall.language import _UUID_RE, parse, vm_matches


USAGE = """Usage: fwadm [-j] [-v] <command> [options]

Commands:
    add [-f file] [-e] [-g] [-O owner] [--desc d] [--dryrun] [--stdout] [rule text]
    update [-f file] <rule uuid> [rule text] [-e] [-g] [-O owner] [--desc d]
    delete <rule uuid>...
    enable <rule uuid>...
    disable <rule uuid>...
    get <rule uuid>
    list [-j] [-o fields] [-p] [-d delim]
    vms <rule uuid>
    rules <vm uuid>
    status [-v] <vm uuid>
    start <vm uuid>
    stop <vm uuid>"""

LIST_FIELDS = ("uuid", "enabled", "rule", "owner_uuid", "global", "description",
               "created_by", "log", "version")
_FLAGS = {"-e", "-g", "-j", "-v", "-p", "--dryrun", "--stdout", "--enable", "--global",
          "--json", "--verbose", "--parseable"}
_VALUED = {"-f": "f", "--file": "f", "-O": "O", "--owner_uuid": "O", "--owner-uuid": "O",
           "--desc": "desc", "--description": "desc", "-o": "o", "-d": "d"}
_FLAG_NAMES = {"-e": "e", "--enable": "e", "-g": "g", "--global": "g", "-j": "j",
               "--json": "j", "-v": "v", "--verbose": "v", "-p": "p", "--parseable": "p",
               "--dryrun": "dryrun", "--stdout": "stdout"}


def _usage(message=None):
    return ToolFailure((f"fwadm: {message}\n" if message else "") + USAGE, 2)


def _parse_args(args):
    opts, operands, i = {}, [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands.extend(args[i + 1:])
            break
        name, sep, inline = arg.partition("=") if arg.startswith("--") else (arg, "", "")
        if name in _VALUED:
            if sep:
                value = inline
            else:
                i += 1
                if i >= len(args):
                    raise _usage(f"option {name} needs a value")
                value = args[i]
            opts[_VALUED[name]] = value
        elif arg in _FLAGS:
            opts[_FLAG_NAMES[arg]] = True
        elif arg.startswith("--"):
            raise _usage(f"unknown option {name}")
        elif arg.startswith("-") and len(arg) > 1 and arg != "-" and \
                not re.fullmatch(r"-\d+", arg) and arg[1:2].isalpha():
            # bundled single-letter flags such as -ej
            letters = arg[1:]
            if not all(f"-{c}" in _FLAG_NAMES for c in letters):
                raise _usage(f"unknown option {arg}")
            for c in letters:
                opts[_FLAG_NAMES[f"-{c}"]] = True
        else:
            operands.append(arg)
        i += 1
    return opts, operands


def _uuid_arg(text, what="rule"):
    if not _UUID_RE.match(text or ""):
        raise _usage(f"invalid {what} UUID: {text!r}")
    return text.lower()


def _version():
    return f"{int(time.time() * 1000)}.{os.getpid() % 1000000:06d}"


def _serialise(rule):
    """Key order and presence as fwadm prints them."""
    out = {"uuid": rule["uuid"], "rule": rule["rule"], "enabled": bool(rule["enabled"])}
    if rule.get("owner_uuid"):
        out["owner_uuid"] = rule["owner_uuid"]
    if rule.get("global"):
        out["global"] = True
    if rule.get("description"):
        out["description"] = rule["description"]
    out["created_by"] = rule.get("created_by", "fwadm")
    out["log"] = bool(rule.get("log", False))
    out["version"] = rule["version"]
    return out


def _unknown(uuid):
    return ToolFailure(f"Unknown rule: {uuid}", 1)


# -- VMs ------------------------------------------------------------------------

def _all_vms(host):
    try:
        return vmstore.all_vms(host)
    except NotImplementedError:  # no VM store on this host yet
        return []


def _find_vm(host, uuid):
    uuid = _uuid_arg(uuid, "VM")
    try:
        vm = vmstore.get_vm(host, uuid)
    except NotImplementedError:
        vm = next((v for v in _all_vms(host) if v.get("uuid") == uuid), None)
    if vm is None:
        raise ToolFailure(f'VM "{uuid}" not found', 1)
    return vm


def _owner_ok(rule, vm):
    owner = rule.get("owner_uuid")
    return not owner or rule.get("global") or vm.get("owner_uuid") == owner


def rule_applies(rule: dict, vm: dict) -> bool:
    """Whether ``rule`` names ``vm`` on either side (ignores firewall_enabled)."""
    if not _owner_ok(rule, vm):
        return False
    parsed = parse(rule["rule"])
    return any(vm_matches(target, vm) for target in parsed.targets())


def affected_vms(host, rules, vms=None) -> list[str]:
    """UUIDs of VMs with the firewall enabled that the rules apply to."""
    vms = _all_vms(host) if vms is None else vms
    return sorted({vm["uuid"] for vm in vms if vm.get("firewall_enabled")
                   for rule in rules if rule_applies(rule, vm)})


# -- output ----------------------------------------------------------------------

def _line(rule):
    enabled = "true" if rule["enabled"] else "false"
    return f"{rule['uuid']} {enabled:<7} {rule['rule']}"


def _report(ctx, opts, title, rules, vms=None):
    if opts.get("j"):
        doc = {"rules": [_serialise(r) for r in rules]}
        if vms is not None:
            doc["vms"] = vms
        ctx.out(json.dumps(doc, indent=2))
        return
    if rules:
        ctx.out(title)
        for rule in rules:
            ctx.out(_line(rule))


def _field(rule, name):
    value = _serialise(rule).get(name)
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _table(ctx, opts, rules):
    if opts.get("j"):
        ctx.out(json.dumps([_serialise(r) for r in rules], indent=2))
        return
    fields = [f.strip().lower() for f in opts.get("o", "uuid,enabled,rule").split(",")
              if f.strip()]
    bad = [f for f in fields if f not in LIST_FIELDS]
    if bad or not fields:
        raise _usage(f"invalid field(s) for -o: {', '.join(bad) or '(none)'} "
                     f"(valid: {', '.join(LIST_FIELDS)})")
    rows = [[_field(rule, f) for f in fields] for rule in rules]
    if opts.get("p"):
        delim = opts.get("d", ":")
        for row in rows:
            ctx.out(delim.join(row))
        return
    header = [f.upper() for f in fields]
    widths = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(len(fields))]
    if fields[:2] == ["uuid", "enabled"]:
        widths[0], widths[1] = max(widths[0], 36), max(widths[1], 7)
    for row in [header] + rows:
        cells = [cell.ljust(widths[i]) if i < len(row) - 1 else cell
                 for i, cell in enumerate(row)]
        ctx.out(" ".join(cells))


def _ipf(host, rules, vms) -> list[str]:
    """A simplified ipf.conf per affected VM (for --stdout)."""
    lines = []
    by_uuid = {vm["uuid"]: vm for vm in vms}
    for vm_uuid in affected_vms(host, rules, vms):
        vm = by_uuid[vm_uuid]
        lines.append(f"# /zones/{vm_uuid}/config/ipf.conf (smartos-sim)")
        for rule in rules:
            if not rule["enabled"] or not rule_applies(rule, vm):
                continue
            parsed = parse(rule["rule"])
            for direction, mine, other in (("in", parsed.to_targets, parsed.from_targets),
                                           ("out", parsed.from_targets, parsed.to_targets)):
                if not any(vm_matches(t, vm) for t in mine):
                    continue
                verb = "pass" if parsed.action == "ALLOW" else "block"
                word = "from" if direction == "in" else "to"
                for peer in _peers(other, vms):
                    for port in _ipf_ports(parsed):
                        keep = " keep state" if verb == "pass" else ""
                        lines.append(f"{verb} {direction} quick proto {parsed.protocol} "
                                     f"{word} {peer}{port}{keep}  # {rule['uuid']}")
        lines.append("block in all")
        lines.append("pass out quick all keep state")
    return lines


def _peers(targets, vms):
    peers = []
    for target in targets:
        if target.kind == "any":
            peers.append("any")
        elif target.kind in ("ip", "subnet"):
            peers.append(target.value)
        else:
            for vm in vms:
                if vm_matches(target, vm):
                    for nic in vm.get("nics") or []:
                        for ip in nic.get("ips") or [nic.get("ip")]:
                            if ip and ip not in ("dhcp", "addrconf"):
                                peers.append(ip.split("/")[0])
    return list(dict.fromkeys(peers))


def _ipf_ports(parsed):
    if parsed.protocol in ("tcp", "udp") and parsed.ports != "all":
        return [f" port = {a}" if a == b else f" port {a} : {b}"
                for a, b in parsed.ports]
    if parsed.protocol in ("icmp", "icmp6") and parsed.types != "all":
        return [f" icmp-type {t}" + ("" if c is None else f" code {c}")
                for t, c in parsed.types]
    return [""]
