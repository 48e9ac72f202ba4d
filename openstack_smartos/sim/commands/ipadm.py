"""Emulated ``ipadm show-addr`` (net-formats §3).

    ipadm show-addr [[-p] -o field,...] [addrobj | ifname/]

The global zone's addresses: loopback (created by ``ipadm create-addr -t``,
so its address objects are ``lo0/v4`` and ``lo0/v6`` and temporary), and one
per physical interface with an ``ip4addr`` in the host configuration, which
SmartOS plumbs with ifconfig, so ipadm knows no name for it: ``<if>/?``.
"""

from __future__ import annotations

from openstack_smartos.sim.commands import ofmt
from openstack_smartos.sim.commands.ofmt import Field, Printer, select
from openstack_smartos.sim.tools import ToolFailure

SHOW_ADDR_USAGE = "\tshow-addr\t[[-p] -o <field>,...] [<addrobj>]\n"
FIELDS = [Field("ADDROBJ", 18), Field("TYPE", 9), Field("STATE", 13), Field("CURRENT", 8),
          Field("PERSISTENT", 11), Field("ADDR", 46)]
DEFAULT_FIELDS = ["addrobj", "type", "state", "addr"]
DEFAULT_PREFIX = 24


def die(message: str) -> ToolFailure:
    return ToolFailure(f"ipadm: {message}", 1)


def addresses(host) -> list[dict]:
    """show-addr rows (ifname, addrobj, type, state, current, persistent, addr)."""
    cfg = host.config
    links = (cfg.get("rack") or {}).get("links") or {}
    rows = [{"ifname": "lo0", "addrobj": "lo0/v4", "addr": "127.0.0.1/8", "current": "U--t-"}]
    for ifname in sorted(cfg.get("interfaces", {})):
        ip = cfg["interfaces"][ifname].get("ip4addr")
        if not ip:
            continue
        address = (links.get(ifname) or {}).get("address") or ""
        prefix = address.partition("/")[2] or DEFAULT_PREFIX
        rows.append({"ifname": ifname, "addrobj": f"{ifname}/?", "addr": f"{ip}/{prefix}",
                     "current": "U----"})
    rows.append({"ifname": "lo0", "addrobj": "lo0/v6", "addr": "::1/128", "current": "U--t-"})
    for row in rows:
        row.update(type="static", state="ok", persistent="---")
    return rows


def show_addr(ctx, args):
    try:
        pairs, operands = ofmt.getopt(args, "po:")
    except ofmt.OptError as exc:
        # getopt_long without a leading ':' in its option string: a missing
        # value is reported like an unknown option.
        raise die(f"unrecognized option '-{exc.letter}'\nusage: {SHOW_ADDR_USAGE}") from None
    opts = dict(pairs)
    parsable = bool(opts.get("p"))
    if parsable and "o" not in opts:
        raise die("-p requires -o")
    addrobj = ifname = None
    if len(operands) == 1:
        addrobj = operands[0]
        if "/" not in addrobj:
            raise die("Invalid address object name provided")
        if addrobj.endswith("/") and addrobj.count("/") == 1:
            ifname, addrobj = addrobj[:-1], None
    elif operands:
        raise die(f"Usage: {SHOW_ADDR_USAGE}")
    fields = select(ctx, FIELDS, opts.get("o"), parsable, DEFAULT_FIELDS)
    rows = [r for r in addresses(ctx.host) if ifname is None or r["ifname"] == ifname]
    if addrobj is not None:
        # An address ipadm did not create has no name: "<if>/?" is only printed.
        rows = [r for r in rows if r["addrobj"] == addrobj and not addrobj.endswith("/?")]
    printer = Printer(ctx, fields, parsable=parsable)
    for row in rows:
        printer.row(row)
    if addrobj is not None and not rows:
        raise die("Address object not found")
    return 0


USAGE = "usage:  ipadm <subcommand> <args> ...\n" + SHOW_ADDR_USAGE


def main(ctx) -> int:
    args = ctx.args
    if not args:
        raise ToolFailure(USAGE, 1)
    if args[0] != "show-addr":
        ctx.err(f"ipadm: unknown subcommand '{args[0]}'")
        raise ToolFailure(USAGE, 1)
    return show_addr(ctx, args[1:])
