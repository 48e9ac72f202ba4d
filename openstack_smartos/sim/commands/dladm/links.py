"""dladm show-phys, show-link, show-vnic and the etherstub subcommands (§1.1-§1.5).

Name spaces (§1.1): the global zone's links are the physical links,
etherstubs and overlays; a running VM's VNICs keep their zone-local names
(net0, ...) and are found by name only with ``-z <zonename>``, while the
walks without ``-z`` list them too (they are on loan from the global zone).
"""

from __future__ import annotations

from openstack_smartos.sim.commands import netstate
from openstack_smartos.sim.commands.dladm import die, parse, usage
from openstack_smartos.sim.commands.ofmt import Field, Printer, select
from openstack_smartos.sim.state.network import overlays

PHYS_FIELDS = [Field("LINK", 13), Field("MEDIA", 21), Field("STATE", 11), Field("SPEED", 7),
               Field("DUPLEX", 10), Field("DEVICE", 13), Field("FLAGS", 7)]
PHYS_M_FIELDS = [Field("LINK", 13), Field("SLOT", 9), Field("ADDRESS", 19),
                 Field("INUSE", 5), Field("CLIENT", 13)]
LINK_FIELDS = [Field("LINK", 12), Field("CLASS", 10), Field("MTU", 7), Field("STATE", 9),
               Field("BRIDGE", 11), Field("OVER", 30)]
VNIC_FIELDS = [Field("LINK", 13), Field("OVER", 11), Field("SPEED", 6),
               Field("MACADDRESS", 18), Field("MACADDRTYPE", 12), Field("VID", 5),
               Field("ZONE", 20)]


def _fields(ctx, opts, template, default, all_is_default=False):
    """-p/-o handling of show-phys and show-link (they check -p themselves)."""
    parsable, fields_str = bool(opts.get("p")), opts.get("o")
    if all_is_default:
        if parsable and fields_str is None:
            raise die("-p requires -o")
        if parsable and fields_str.lower() == "all":
            raise die('"-o all" is invalid with -p')
        if fields_str is not None and fields_str.lower() == "all":
            fields_str = None
    return select(ctx, template, fields_str, parsable, default)


def _expect(kind, want, missing, wrong):
    """dladm's two refusals of a link name: unknown, or a link of another class."""
    if kind is None:
        raise die(missing)
    if kind != want:
        raise die(wrong)


def _one_operand(operands):
    if len(operands) > 1:
        raise usage()
    return operands[0] if operands else None


# -- show-phys ----------------------------------------------------------------------------
def cmd_show_phys(ctx, args):
    opts, operands = parse(args, ":pPmo:", "show-phys")
    if opts.get("m") and opts.get("P"):
        raise die("-m not compatible with -P")
    link = _one_operand(operands)
    if opts.get("m"):
        fields = _fields(ctx, opts, PHYS_M_FIELDS,
                         ["link", "slot", "address", "inuse", "client"], True)
    else:
        default = (["link", "device", "media", "flags"] if opts.get("P") else
                   ["link", "media", "state", "speed", "duplex", "device"])
        fields = _fields(ctx, opts, PHYS_FIELDS, default, True)
    host = ctx.host
    names = sorted(host.config.get("interfaces", {}))
    if link is not None:
        _expect(netstate.link_class(host, link), "phys",
                f"link {link} is not valid: object not found",
                f"failed to show physical link {link}: invalid argument")
        names = [link]
    printer = Printer(ctx, fields, parsable=bool(opts.get("p")))
    for name in names:
        nic = host.config["interfaces"][name]
        if opts.get("m"):
            printer.row({"link": name, "slot": "primary",
                         "address": netstate.dladm_mac(nic.get("mac", "")),
                         "inuse": "yes", "client": name})
            continue
        up = netstate.phys_state(host, name) == "up"
        printer.row({"link": name, "media": "Ethernet",
                     "state": netstate.phys_state(host, name),
                     "speed": netstate.PHYS_SPEED if up else 0,
                     "duplex": "full" if up else "unknown", "device": name,
                     "flags": "-----"})
    return 0


# -- show-link ----------------------------------------------------------------------------
def gz_link_rows(host) -> list[dict]:
    """The global zone's own links as show-link rows: phys, etherstubs, overlays."""
    cfg = host.config
    rows = [{"link": name, "class": "phys", "mtu": netstate.phys_mtu(host, name),
             "state": netstate.phys_state(host, name)}
            for name in sorted(cfg.get("interfaces", {}))]
    rows += [{"link": name, "class": "etherstub",
              "mtu": props.get("mtu", netstate.ETHERSTUB_MTU), "state": "unknown"}
             for name, props in sorted(cfg.get("etherstubs", {}).items())]
    rows += [{"link": record["name"], "class": "overlay",
              "mtu": overlays.prop(record, "mtu"), "state": "up"}
             for record in overlays.list_all(host)]
    return rows


def _vnic_link_row(vnic):
    return {"link": vnic["link"], "class": "vnic", "mtu": vnic["mtu"], "state": "up",
            "over": vnic["over"]}


def cmd_show_link(ctx, args):
    opts, operands = parse(args, ":pPo:z:", "show-link")
    link = _one_operand(operands)
    default = (["link", "class", "bridge", "over"] if opts.get("P") else
               ["link", "class", "mtu", "state", "bridge", "over"])
    fields = _fields(ctx, opts, LINK_FIELDS, default, True)
    host = ctx.host
    zone = opts.get("z")
    if zone is not None:
        rows = [_vnic_link_row(v) for v in netstate.vnics(host) if v["zone"] == zone]
    else:
        rows = gz_link_rows(host)
    if link is not None:
        rows = [row for row in rows if row["link"] == link][:1]
        if not rows:
            raise die(f"link {link} is not valid: object not found")
    elif zone is None:
        rows += [_vnic_link_row(v) for v in netstate.vnics(host)]
    printer = Printer(ctx, fields, parsable=bool(opts.get("p")), wrap=True)
    for row in rows:
        printer.row(row)
    return 0


# -- show-vnic / show-etherstub -----------------------------------------------------------
def _vnic_rows(host, zone):
    speeds = {name: netstate.PHYS_SPEED for name in host.config.get("interfaces", {})
              if netstate.phys_state(host, name) == "up"}
    return [{"link": v["link"], "over": v["over"], "speed": speeds.get(v["over"], 0),
             "macaddress": netstate.dladm_mac(v["mac"]), "macaddrtype": "fixed",
             "vid": v["vid"], "zone": v["zone"] or "--"}
            for v in netstate.vnics(host) if zone is None or v["zone"] == zone]


def _lookup(host, zone, name):
    """The class of ``name`` in the namespace ``-z`` selects (vnic, phys, ...)."""
    if zone is None:
        return netstate.link_class(host, name)
    if any(v["link"] == name for v in netstate.vnics(host) if v["zone"] == zone):
        return "vnic"
    return None


def cmd_show_vnic(ctx, args):
    opts, operands = parse(args, ":pPl:o:z:", "show-vnic")
    vnic = _one_operand(operands)
    host = ctx.host
    zone = opts.get("z")
    fields = select(ctx, VNIC_FIELDS, opts.get("o"), bool(opts.get("p")))
    over = opts.get("l")
    if over is not None and _lookup(host, zone, over) is None:
        raise die(f"invalid link name '{over}': object not found")
    rows = _vnic_rows(host, zone)
    if vnic is not None:
        _expect(_lookup(host, zone, vnic), "vnic",
                f"invalid vnic name '{vnic}': object not found",
                f"failed to show vnic '{vnic}': invalid argument")
        rows = [row for row in rows if row["link"] == vnic]
    if over is not None:
        rows = [row for row in rows if row["over"] == over]
    printer = Printer(ctx, fields, parsable=bool(opts.get("p")))
    for row in rows:
        printer.row(row)
    return 0


def cmd_show_etherstub(ctx, args):
    opts, operands = parse(args, ":pPl:si:o:z:", "show-etherstub")
    if "l" in opts or "s" in opts or "i" in opts:
        raise die("option not supported for this command")
    link = _one_operand(operands)
    host = ctx.host
    fields = select(ctx, VNIC_FIELDS, opts.get("o"), bool(opts.get("p")), ["link"])
    zone = opts.get("z")
    names = [] if zone is not None else sorted(host.config.get("etherstubs", {}))
    if link is not None:
        _expect(_lookup(host, zone, link), "etherstub",
                f"invalid vnic name '{link}': object not found",
                f"failed to show vnic '{link}': invalid argument")
        names = [link]
    printer = Printer(ctx, fields, parsable=bool(opts.get("p")))
    for name in names:
        printer.row({"link": name, "over": "", "speed": 0, "macaddress": "",
                     "macaddrtype": "", "vid": 0, "zone": "--"})
    return 0


# -- create-etherstub / delete-etherstub ----------------------------------------------------
def check_link_name(name: str):
    if len(name) >= 32:
        raise die(f"link name too long '{name}'")
    if not netstate.valid_link_name(name):
        raise die(f"invalid link name '{name}'")


def cmd_create_etherstub(ctx, args):
    _, operands = parse(args, ":tR:", "create-etherstub")
    if len(operands) != 1:
        raise usage()
    name = operands[0]
    check_link_name(name)
    with netstate.changing_config(ctx.host):
        if not netstate.add_etherstub(ctx.host, name):
            raise die("etherstub creation failed: object already exists")
    return 0


def cmd_delete_etherstub(ctx, args):
    opts, operands = parse(args, ":tR:z:", "delete-etherstub")
    if len(operands) != 1:
        raise usage()
    name = operands[0]
    host = ctx.host
    with netstate.changing_config(host) as cfg:
        _expect(_lookup(host, opts.get("z"), name), "etherstub",
                f"invalid link name '{name}'", f"'{name}' is not an etherstub")
        if netstate.users_of(host, name):
            raise die("vnic deletion failed: link busy")
        del cfg["etherstubs"][name]
    return 0


COMMANDS = {"show-phys": cmd_show_phys, "show-link": cmd_show_link,
            "show-vnic": cmd_show_vnic, "show-etherstub": cmd_show_etherstub,
            "create-etherstub": cmd_create_etherstub,
            "delete-etherstub": cmd_delete_etherstub}
