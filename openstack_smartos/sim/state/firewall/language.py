"""The fwadm rule language (reference §9): tokenizer, parser, canonical text.

    FROM <targets> TO <targets> <ALLOW|BLOCK> <protocol> <ports/types> [PRIORITY n]

``parse(text)`` returns a ``Rule`` or raises ``RuleError`` with a message
that says where the text went wrong; ``Rule.text`` is the canonical form
(upper-case keywords, lower-case target words and protocol, ``PORTS a - b``).
Written from the described behaviour, not from fwadm's source.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re


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
