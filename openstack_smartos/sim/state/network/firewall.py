"""fwadm rules as a VM's stateful packet filter (pure).

SmartOS compiles the rules that name a VM into ipfilter rules for that VM,
the same for all its nics: inbound blocked and outbound allowed by default,
connections tracked, and among rules of equal priority the one against the
default policy wins (an inbound ALLOW beats a BLOCK, an outbound BLOCK beats
an ALLOW). ``ruleset`` writes the same policy as an nftables ``inet`` table
for the VM's namespace, where connection tracking works; rules are tried
highest priority first, then the rule against the default, so the first
match decides as ipf's ``quick`` rules do.

IPv6 neighbour discovery is let in, as a guest needs it to use IPv6 at all.
"""

from __future__ import annotations

import dataclasses
import ipaddress

TABLE = "smartos_fw"


@dataclasses.dataclass(frozen=True)
class Entry:
    """One rule as it applies to this VM in one direction."""
    priority: int
    against_default: bool
    order: int
    line: str


def vm_addresses(vm: dict) -> list[str]:
    out = []
    for nic in vm.get("nics") or []:
        for ip in nic.get("ips") or ([nic["ip"]] if nic.get("ip") else []):
            if ip not in ("dhcp", "addrconf"):
                out.append(ip.split("/")[0])
    return out


def owner_allows(rule: dict, vm: dict) -> bool:
    owner = rule.get("owner_uuid")
    return not owner or bool(rule.get("global")) or vm.get("owner_uuid") == owner


def peers(targets, rule, vms, vm_matches):
    """The addresses a side of a rule stands for, or None for ``any``."""
    addresses = []
    for target in targets:
        if target.kind == "any":
            return None
        if target.kind in ("ip", "subnet"):
            addresses.append(target.value)
            continue
        for other in vms:
            if owner_allows(rule, other) and vm_matches(target, other):
                addresses.extend(vm_addresses(other))
    return list(dict.fromkeys(addresses))


def _set(items):
    return items[0] if len(items) == 1 else "{ " + ", ".join(items) + " }"


def _protocol_matches(parsed):
    """nft matches for the rule's protocol part: (family or None, text)."""
    proto = parsed.protocol
    if proto in ("tcp", "udp"):
        if parsed.ports == "all":
            return [(None, f"meta l4proto {proto}")]
        ports = [str(a) if a == b else f"{a}-{b}" for a, b in parsed.ports]
        return [(None, f"{proto} dport {_set(ports)}")]
    if proto in ("icmp", "icmp6"):
        family, word = (4, "icmp") if proto == "icmp" else (6, "icmpv6")
        l4 = "icmp" if proto == "icmp" else "ipv6-icmp"
        if parsed.types == "all":
            return [(family, f"meta l4proto {l4}")]
        return [(family, f"{word} type {t}" + ("" if c is None else f" {word} code {c}"))
                for t, c in parsed.types]
    return [(None, f"meta l4proto {proto}")]  # ah, esp


def _lines(parsed, addresses, direction):
    """nft rule lines (without verdict) for one rule side and direction."""
    word = "saddr" if direction == "in" else "daddr"
    by_family = None
    if addresses is not None:
        by_family = {4: [], 6: []}
        for address in addresses:
            by_family[ipaddress.ip_network(address, strict=False).version].append(address)
    out = []
    for family, proto_match in _protocol_matches(parsed):
        if by_family is None:
            out.append(proto_match)
            continue
        for version in (family,) if family else (4, 6):
            if by_family[version]:
                ip = "ip" if version == 4 else "ip6"
                out.append(f"{ip} {word} {_set(by_family[version])} {proto_match}")
    return out


def entries(vm: dict, rules: list, vms: list, parse, vm_matches):
    """(inbound, outbound) entries of the enabled rules that name ``vm``."""
    inbound, outbound = [], []
    for order, rule in enumerate(rules):
        if not rule.get("enabled") or not owner_allows(rule, vm):
            continue
        parsed = parse(rule["rule"])
        priority = parsed.priority or 0
        verdict = "accept" if parsed.action == "ALLOW" else "drop"
        for direction, mine, other, bucket, against in (
                ("in", parsed.to_targets, parsed.from_targets, inbound, "ALLOW"),
                ("out", parsed.from_targets, parsed.to_targets, outbound, "BLOCK")):
            if not any(vm_matches(target, vm) for target in mine):
                continue
            addresses = peers(other, rule, vms, vm_matches)
            for line in _lines(parsed, addresses, direction):
                bucket.append(Entry(priority, parsed.action == against, order,
                                    f"{line} {verdict} comment \"{rule['uuid']}\""))
    key = lambda e: (-e.priority, not e.against_default, e.order)  # noqa: E731
    return sorted(inbound, key=key), sorted(outbound, key=key)


def ruleset(vm: dict, rules: list, vms: list, parse, vm_matches) -> str:
    """The VM's whole filter table (the caller replaces the earlier one with it)."""
    inbound, outbound = entries(vm, rules, vms, parse, vm_matches)
    lines = [
        f"table inet {TABLE} {{",
        "  chain input {",
        "    type filter hook input priority 0; policy drop;",
        '    iif "lo" accept',
        "    ct state established,related accept",
        "    ct state invalid drop",
        "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-advert } accept",
        *(f"    {e.line}" for e in inbound),
        "  }",
        "  chain output {",
        "    type filter hook output priority 0; policy accept;",
        "    ct state established,related accept",
        *(f"    {e.line}" for e in outbound),
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"
