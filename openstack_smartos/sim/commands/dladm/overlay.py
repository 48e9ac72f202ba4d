"""dladm create-overlay, delete-overlay and show-overlay (net-formats §1.6).

The records, their validation and the data plane are ``state.network.overlays``;
this module parses arguments in dladm's order and prints what it returns.
"""

from __future__ import annotations

import ipaddress
import re

from openstack_smartos.sim.commands import netstate
from openstack_smartos.sim.commands.dladm import die, parse, usage
from openstack_smartos.sim.commands.dladm.links import check_link_name
from openstack_smartos.sim.commands.ofmt import Field, Printer, select
from openstack_smartos.sim.state.network import overlays
from openstack_smartos.sim.tools import ToolFailure

ULONG_MAX = 2 ** 64 - 1
PROP_FIELDS = [Field("LINK", 19), Field("PROPERTY", 19), Field("PERM", 5), Field("REQ", 4),
               Field("VALUE", 11), Field("DEFAULT", 10), Field("POSSIBLE", 10)]
FMA_FIELDS = [Field("LINK", 20), Field("STATUS", 8), Field("DETAILS", 52)]
TARGET_FIELDS = [Field("LINK", 20), Field("TARGET", 18), Field("DESTINATION", 42)]


def _refused(error: overlays.OverlayError) -> ToolFailure:
    return ToolFailure("\n".join(error.lines()), 1)


def _props(values) -> dict:
    props = {}
    for item in ",".join(values).split(","):
        key, sep, value = item.partition("=")
        if not key or not sep:
            raise die("invalid overlay property")
        props[key] = value
    return props


def cmd_create_overlay(ctx, args):
    opts, operands = parse(args, ":te:s:v:p:", "create-overlay", repeatable="esvp")
    vnetid = opts.get("v")
    if vnetid is not None:
        if not re.fullmatch(r"[0-9]+", vnetid):
            raise die(f"couldn't parse virtual networkd id: {vnetid}")
        if int(vnetid) > ULONG_MAX:
            raise die(f"virtual networkd id too large: {vnetid}")
    props = _props(opts["p"]) if "p" in opts else {}
    if vnetid is None:
        raise die("missing required virtual network id")
    if "e" not in opts:
        raise die("missing required encapsulation plugin")
    if "s" not in opts:
        raise die("missing required search plugin")
    if not operands:
        raise die("missing device name")
    if len(operands) > 1:
        raise usage()
    name = operands[0]
    check_link_name(name)
    host = ctx.host
    try:
        with host.locked(), host.transaction():
            overlays.create(host, name, opts["e"], opts["s"], int(vnetid), props)
    except overlays.OverlayError as error:
        raise _refused(error) from None
    return 0


def cmd_delete_overlay(ctx, args):
    _, operands = parse(args, ":t", "delete-overlay")
    if len(operands) != 1:
        raise usage()
    host = ctx.host
    try:
        with host.locked(), host.transaction():
            overlays.delete(host, operands[0], netstate.all_vms(host))
    except overlays.OverlayError as error:
        raise _refused(error) from None
    return 0


def _destination(target) -> str:
    ip = str(target.get("ip", ""))
    try:
        address = ipaddress.ip_address(ip)
        mapped = getattr(address, "ipv4_mapped", None)
        ip = str(mapped or address)
    except ValueError:
        pass
    port = target.get("port")
    return f"{ip}:{port}" if port not in (None, "") else ip


def _property_rows(record):
    for prop, perm, required, value, default, possible in overlays.properties(record):
        # a property left unset holds its default (mtu 1400, vxlan/listen_port 4789...)
        value = default if value in (None, "") else value
        yield {"link": record["name"], "property": prop, "perm": perm or "--",
               "req": "y" if required else "-", "value": value or "--",
               "default": default or "--", "possible": possible or "--"}


def _fma_rows(record):
    yield {"link": record["name"], "status": "ONLINE", "details": "-"}


def _target_rows(record):
    for target in record.get("targets") or []:
        yield {"link": record["name"], "target": netstate.dladm_mac(target.get("mac", "")),
               "destination": _destination(target)}


def cmd_show_overlay(ctx, args):
    opts, operands = parse(args, ":ftpo:", "show-overlay", repeatable="oft")
    modes = {"f": (FMA_FIELDS, _fma_rows), "t": (TARGET_FIELDS, _target_rows)}
    mode = ([k for k in opts if k in modes] or [None])[-1]  # the last of -f / -t wins
    template, rows_of = modes.get(mode, (PROP_FIELDS, _property_rows))
    parsable = bool(opts.get("p"))
    fields = select(ctx, template, opts.get("o"), parsable)
    host = ctx.host
    records, code = [], 0
    if not operands:
        records = overlays.list_all(host)
    for name in operands:
        record = overlays.get(host, name)
        if record is not None:
            records.append(record)
            continue
        code = 1
        if netstate.link_class(host, name) is None:
            ctx.err(f"dladm: warning: failed to find {name}: object not found")
        elif mode == "f":
            raise die(f"datalink {name} is not an overlay device")
        else:
            ctx.err(f"dladm: warning: {name} is not an overlay")
    printer = Printer(ctx, fields, parsable=parsable, wrap=True)
    for record in records:
        for row in rows_of(record):
            printer.row(row)
    return code


COMMANDS = {"create-overlay": cmd_create_overlay, "delete-overlay": cmd_delete_overlay,
            "show-overlay": cmd_show_overlay}
