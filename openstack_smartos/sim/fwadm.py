"""Emulated ``fwadm`` (reference §9): the rule language and the command.

Rules live in the host's SQLite state (table ``fw_rules``), as the JSON
objects ``fwadm get`` prints; every mutation runs under the host lock.
Rules are disabled unless ``-e`` or ``"enabled": true``. ``vms`` lists the
VMs with the firewall enabled that a rule names (vm, tag or all vms targets,
limited to the rule's owner unless it is global); ``rules`` lists every rule
that names a VM.

The rule language:

    FROM <targets> TO <targets> <ALLOW|BLOCK> <protocol> <ports/types> [PRIORITY n]

``parse(text)`` returns a ``Rule`` or raises ``RuleError`` with a message
that says where the text went wrong; ``Rule.text`` is the canonical form
(upper-case keywords, lower-case target words and protocol, ``PORTS a - b``).
Written from the described behaviour, not from fwadm's source.
"""

from __future__ import annotations

import dataclasses
import io
import ipaddress
import json
import os
import re
import time
import uuid as uuidlib

from openstack_smartos.sim import vmstore
from openstack_smartos.sim.host import register_schema
from openstack_smartos.sim.tools import ToolFailure

# ---------------------------------------------------------------------------
# The rule language
# ---------------------------------------------------------------------------

MAX_TARGETS = 24
MAX_PORTS = 24
MAX_PRIORITY = 100
PROTOCOLS = ("tcp", "udp", "icmp", "icmp6", "ah", "esp")
KEYWORDS = {"from", "to", "allow", "block", "any", "all", "vms", "vm", "ip", "subnet",
            "tag", "or", "and", "port", "ports", "type", "code", "priority", *PROTOCOLS}
_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}"
                      r"-[0-9a-fA-F]{12}$")
_BARE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")


class RuleError(ValueError):
    """The rule text is invalid; ``str(error)`` is the message for the user."""


@dataclasses.dataclass(frozen=True)
class Target:
    kind: str                 # any, all, vm, ip, subnet, tag
    value: str | None = None  # uuid, address, network or tag name
    tag_value: str | None = None

    @property
    def affects_vms(self) -> bool:
        return self.kind in ("all", "vm", "tag")

    @property
    def text(self) -> str:
        if self.kind == "any":
            return "any"
        if self.kind == "all":
            return "all vms"
        if self.kind == "tag":
            text = "tag " + quote(self.value)
            if self.tag_value is not None:
                text += " = " + quote(self.tag_value)
            return text
        return f"{self.kind} {self.value}"


@dataclasses.dataclass
class Rule:
    from_targets: list
    to_targets: list
    action: str                  # ALLOW or BLOCK
    protocol: str
    ports: object = None         # "all" or [(start, end)] for tcp/udp
    types: object = None         # "all" or [(type, code|None)] for icmp/icmp6
    priority: int | None = None

    @property
    def text(self) -> str:
        parts = ["FROM", _targets_text(self.from_targets), "TO",
                 _targets_text(self.to_targets), self.action, self.protocol]
        if self.protocol in ("tcp", "udp"):
            if self.ports == "all":
                parts.append("PORT all")
            elif len(self.ports) == 1 and self.ports[0][0] == self.ports[0][1]:
                parts.append(f"PORT {self.ports[0][0]}")
            else:
                parts.append("PORTS " + ", ".join(
                    str(a) if a == b else f"{a} - {b}" for a, b in self.ports))
        elif self.protocol in ("icmp", "icmp6"):
            if self.types == "all":
                parts.append("TYPE all")
            else:
                items = [f"TYPE {t}" + ("" if c is None else f" CODE {c}")
                         for t, c in self.types]
                parts.append(items[0] if len(items) == 1
                             else "(" + " AND ".join(items) + ")")
        if self.priority is not None:
            parts.append(f"PRIORITY {self.priority}")
        return " ".join(parts)

    def targets(self, side=None):
        if side == "from":
            return list(self.from_targets)
        if side == "to":
            return list(self.to_targets)
        return list(self.from_targets) + list(self.to_targets)


def quote(text: str) -> str:
    if _BARE_RE.match(text) and text.lower() not in KEYWORDS:
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _targets_text(targets):
    if len(targets) == 1:
        return targets[0].text
    return "(" + " OR ".join(t.text for t in targets) + ")"


@dataclasses.dataclass
class _Token:
    kind: str    # word, string, sym
    text: str
    pos: int     # 1-based character position


def _tokenize(text):
    tokens, i = [], 0
    while i < len(text):
        char = text[i]
        if char.isspace():
            i += 1
        elif char in "(),=":
            tokens.append(_Token("sym", char, i + 1))
            i += 1
        elif char == '"':
            start, i, value = i, i + 1, []
            while i < len(text) and text[i] != '"':
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                value.append(text[i])
                i += 1
            if i >= len(text):
                raise RuleError(f"Error at character {start + 1}: unterminated quoted "
                                "string")
            tokens.append(_Token("string", "".join(value), start + 1))
            i += 1
        else:
            start = i
            while i < len(text) and not text[i].isspace() and text[i] not in '(),="':
                i += 1
            tokens.append(_Token("word", text[start:i], start + 1))
    return tokens


class _Parser:
    def __init__(self, text):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    # -- token helpers
    def peek(self, offset=0):
        index = self.index + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def next(self):
        token = self.peek()
        if token is not None:
            self.index += 1
        return token

    def is_kw(self, token, *words):
        return (token is not None and token.kind == "word"
                and token.text.lower() in words)

    def error(self, token, expected):
        if token is None:
            return RuleError(f"Error at end of rule: expected {expected}")
        return RuleError(f"Error at character {token.pos}: '{token.text}', "
                         f"expected {expected}")

    def expect_kw(self, *words, expected=None):
        token = self.next()
        if not self.is_kw(token, *words):
            raise self.error(token, expected or " or ".join(w.upper() for w in words))
        return token.text.lower()

    def expect_sym(self, sym):
        token = self.next()
        if token is None or token.kind != "sym" or token.text != sym:
            raise self.error(token, f"'{sym}'")
        return token

    def at_sym(self, sym):
        token = self.peek()
        return token is not None and token.kind == "sym" and token.text == sym

    # -- grammar
    def rule(self):
        self.expect_kw("from")
        from_targets = self.targets("FROM")
        self.expect_kw("to")
        to_targets = self.targets("TO")
        action = self.expect_kw("allow", "block").upper()
        token = self.next()
        if not self.is_kw(token, *PROTOCOLS):
            raise self.error(token, "a protocol (tcp, udp, icmp, icmp6, ah or esp)")
        protocol = token.text.lower()
        rule = Rule(from_targets, to_targets, action, protocol)
        if protocol in ("tcp", "udp"):
            rule.ports = self.ports()
        elif protocol in ("icmp", "icmp6"):
            rule.types = self.types()
        if self.is_kw(self.peek(), "priority"):
            self.next()
            token = self.next()
            if token is None or not re.fullmatch(r"\d+", token.text):
                raise self.error(token, "a priority number")
            value = int(token.text)
            if value > MAX_PRIORITY:
                raise RuleError(f"priority {value} is invalid (must be between 0 and "
                                f"{MAX_PRIORITY})")
            rule.priority = value
        token = self.peek()
        if token is not None:
            expected = "PRIORITY or end of rule" if rule.priority is None else "end of rule"
            raise self.error(token, expected)
        return rule

    def targets(self, side):
        if self.at_sym("("):
            self.next()
            targets = [self.target()]
            while self.is_kw(self.peek(), "or"):
                self.next()
                targets.append(self.target())
            self.expect_sym(")")
        else:
            targets = [self.target()]
        unique = list(dict.fromkeys(targets))
        if len(unique) > MAX_TARGETS:
            raise RuleError(f"{side}: too many targets ({len(unique)}); the maximum is "
                            f"{MAX_TARGETS}")
        if len(unique) > 1 and any(t.kind in ("any", "all") for t in unique):
            word = "any" if any(t.kind == "any" for t in unique) else "all vms"
            raise RuleError(f"{side}: '{word}' cannot be combined with other targets")
        return unique

    def target(self):
        token = self.next()
        expected = "a target (any, all vms, vm, ip, subnet, tag or '(')"
        if not self.is_kw(token, "any", "all", "vm", "ip", "subnet", "tag"):
            raise self.error(token, expected)
        word = token.text.lower()
        if word == "any":
            return Target("any")
        if word == "all":
            self.expect_kw("vms", expected="VMS")
            return Target("all")
        value = self.next()
        if value is None or value.kind == "sym":
            raise self.error(value, f"a value after '{token.text}'")
        if word == "vm":
            if not _UUID_RE.match(value.text):
                raise RuleError(f"Error at character {value.pos}: '{value.text}' is not "
                                "a valid VM UUID")
            return Target("vm", value.text.lower())
        if word == "ip":
            try:
                address = ipaddress.ip_address(value.text)
            except ValueError:
                raise RuleError(f'IP address "{value.text}" is invalid') from None
            return Target("ip", str(address))
        if word == "subnet":
            if "/" not in value.text:
                raise RuleError(f'Subnet "{value.text}" is invalid (it needs a prefix '
                                'length, e.g. 10.0.0.0/8)')
            try:
                network = ipaddress.ip_network(value.text, strict=True)
            except ValueError:
                try:
                    loose = ipaddress.ip_network(value.text, strict=False)
                except ValueError:
                    raise RuleError(f'Subnet "{value.text}" is invalid') from None
                raise RuleError(f'Subnet "{value.text}" is invalid (must be {loose})') \
                    from None
            return Target("subnet", str(network))
        # tag
        name = value.text
        if self.at_sym("="):
            self.next()
            tag_value = self.next()
            if tag_value is None or tag_value.kind == "sym":
                raise self.error(tag_value, "a tag value after '='")
            return Target("tag", name, tag_value.text)
        return Target("tag", name)

    def _number(self, token, what, low, high):
        if token is None or not re.fullmatch(r"\d+", token.text):
            raise self.error(token, what)
        value = int(token.text)
        if not low <= value <= high:
            raise RuleError(f"{what} {value} is invalid (must be between {low} and "
                            f"{high})")
        return value

    def _port_item(self):
        token = self.next()
        if token is not None and token.kind == "word":
            match = re.fullmatch(r"(\d+)-(\d*)", token.text)
            if match:
                start = self._number(_Token("word", match.group(1), token.pos),
                                     "port", 1, 65535)
                end_token = (_Token("word", match.group(2), token.pos)
                             if match.group(2) else self.next())
                end = self._number(end_token, "port", 1, 65535)
                return self._range(start, end)
        start = self._number(token, "port", 1, 65535)
        following = self.peek()
        if following is not None and following.kind == "word" \
                and following.text.startswith("-"):
            self.next()
            rest = following.text[1:]
            end = self._number(_Token("word", rest, following.pos) if rest else self.next(),
                               "port", 1, 65535)
            return self._range(start, end)
        return (start, start)

    @staticmethod
    def _range(start, end):
        if start > end:
            raise RuleError(f"port range {start} - {end} is invalid (start is greater "
                            "than end)")
        return (start, end)

    def ports(self):
        token = self.peek()
        if self.is_kw(token, "port"):
            self.next()
            if self.is_kw(self.peek(), "all"):
                self.next()
                return "all"
            ports = [self._port_item()]
        elif self.is_kw(token, "ports"):
            self.next()
            ports = [self._port_item()]
            while self.at_sym(","):
                self.next()
                ports.append(self._port_item())
        elif self.at_sym("("):
            self.next()
            self.expect_kw("port")
            ports = [self._port_item()]
            while self.is_kw(self.peek(), "and"):
                self.next()
                self.expect_kw("port")
                ports.append(self._port_item())
            self.expect_sym(")")
        else:
            raise self.error(token, "PORT, PORTS or '('")
        ports = sorted(set(ports))
        if len(ports) > MAX_PORTS:
            raise RuleError(f"too many ports ({len(ports)}); the maximum is {MAX_PORTS}")
        return ports

    def _type_item(self):
        self.expect_kw("type")
        icmp_type = self._number(self.next(), "ICMP type", 0, 255)
        code = None
        if self.is_kw(self.peek(), "code"):
            self.next()
            code = self._number(self.next(), "ICMP code", 0, 255)
        return (icmp_type, code)

    def types(self):
        token = self.peek()
        if self.is_kw(token, "type"):
            if self.is_kw(self.peek(1), "all"):
                self.index += 2
                return "all"
            return [self._type_item()]
        if self.at_sym("("):
            self.next()
            types = [self._type_item()]
            while self.is_kw(self.peek(), "and"):
                self.next()
                types.append(self._type_item())
            self.expect_sym(")")
            types = list(dict.fromkeys(types))
            if len(types) > MAX_PORTS:
                raise RuleError(f"too many ICMP types ({len(types)}); the maximum is "
                                f"{MAX_PORTS}")
            return types
        raise self.error(token, "TYPE or '('")


def parse(text: str) -> Rule:
    """Parse rule text; raise RuleError when it is invalid."""
    if not isinstance(text, str) or not text.strip():
        raise RuleError("rule text is empty")
    rule = _Parser(text).rule()
    if not any(t.affects_vms for t in rule.targets()):
        raise RuleError("rule does not affect VMs")
    return rule


def canonical(text: str) -> str:
    return parse(text).text


def vm_matches(target: Target, vm: dict) -> bool:
    """Whether ``target`` names this VM (vm uuid, tag or all vms)."""
    if target.kind == "all":
        return True
    if target.kind == "vm":
        return vm.get("uuid", "").lower() == target.value
    if target.kind == "tag":
        tags = vm.get("tags") or {}
        if target.value not in tags:
            return False
        if target.tag_value is None:
            return True
        value = tags[target.value]
        if isinstance(value, bool):
            value = "true" if value else "false"
        return str(value) == target.tag_value
    return False


# ---------------------------------------------------------------------------
# The fwadm command
# ---------------------------------------------------------------------------

register_schema("""CREATE TABLE IF NOT EXISTS fw_rules (
    seq  INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL
);""")


def _db(host):
    return host.db

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


# -- storage ------------------------------------------------------------------

def load_rules(host) -> list[dict]:
    return [json.loads(row["body"])
            for row in _db(host).execute("SELECT body FROM fw_rules ORDER BY seq")]


def get_rule(host, uuid) -> dict | None:
    row = _db(host).execute("SELECT body FROM fw_rules WHERE uuid = ?",
                          (uuid.lower(),)).fetchone()
    return json.loads(row["body"]) if row else None


def _save(host, rule):
    _db(host).execute("INSERT INTO fw_rules (uuid, body) VALUES (?, ?) "
                    "ON CONFLICT(uuid) DO UPDATE SET body = excluded.body",
                    (rule["uuid"], json.dumps(rule)))


def _delete(host, uuid):
    _db(host).execute("DELETE FROM fw_rules WHERE uuid = ?", (uuid,))


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
