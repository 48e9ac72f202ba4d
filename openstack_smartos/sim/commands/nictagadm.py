"""Emulated ``nictagadm`` (reference §7).

Normal tags are the ``nic_tags`` of the host's physical interfaces in the
host configuration (what sysinfo reports as "NIC Names"); local tags are
etherstubs, kept in the configuration under ``etherstubs``. Every change is
made under the host lock and refreshes the sysinfo cache, as the real tool
runs ``sysinfo -u``.

    nictagadm list [-l|-L] [-p] [-d delim]
    nictagadm exists [-l] <name>...
    nictagadm add [-l] [-p mac=..,mtu=..] <name> [mac]
    nictagadm update [-p mac=..,mtu=..] <name> [mac]
    nictagadm delete [-f] <name>
    nictagadm vms <name>
"""

from __future__ import annotations

import re

from openstack_smartos.sim.commands import netstate
from openstack_smartos.sim.state.network import overlays
from openstack_smartos.sim.tools import ToolFailure

USAGE = """Usage: nictagadm <subcommand> [options]

Subcommands:
    add       [-l] [-p prop=value,...] <name> [mac address]
    delete    [-f] <name>
    exists    [-l] <name> [name1]...
    list      [-l | -L] [-p] [-d delim]
    update    [-p prop=value,...] <name> [mac address]
    vms       <name>"""

_TAG_RE = re.compile(r"^[A-Za-z0-9_]{1,31}$")
_LINK_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,29}[0-9]$")
_MAC_RE = re.compile(r"^[0-9A-Fa-f]{1,2}(:[0-9A-Fa-f]{1,2}){5}$")


def _usage(message: str | None = None):
    text = (f"nictagadm: error: {message}\n" if message else "") + USAGE
    return ToolFailure(text, 2)


def _fail(message: str):
    return ToolFailure(f"nictagadm: error: {message}", 1)


def normalize_mac(mac: str) -> str:
    if not _MAC_RE.match(mac or ""):
        raise _fail(f'invalid MAC address "{mac}"')
    return ":".join(f"{int(part, 16):02x}" for part in mac.split(":"))


def all_tags(host) -> dict:
    """name -> {"name", "mac", "link", "type", "mtu"?} for every nic tag."""
    cfg = host.config
    tags = {}
    mtus = cfg.get("nic_tag_props", {})
    for ifname in sorted(cfg.get("interfaces", {})):
        nic = cfg["interfaces"][ifname]
        for tag in nic.get("nic_tags", []):
            if tag not in tags:
                tags[tag] = {"name": tag, "mac": nic.get("mac", "-"), "link": ifname,
                             "type": "normal"}
                if "mtu" in mtus.get(tag, {}):
                    tags[tag]["mtu"] = mtus[tag]["mtu"]
    for name in overlays.rules(host):
        tags.setdefault(name, {"name": name, "mac": "-", "link": "-", "type": "overlay_rule"})
    for name, props in sorted(cfg.get("etherstubs", {}).items()):
        tags.setdefault(name, {"name": name, "mac": "-", "link": "-",
                               "type": "etherstub", **({"mtu": props["mtu"]}
                                                       if "mtu" in props else {})})
    return tags


def tag_exists(types: dict, tag) -> bool:
    """``nictagadm exists`` for one name, given {tag: type}: an overlay rule is no
    tag itself, but ``<rule>/<n>`` is one for 0 <= n <= 4294967294."""
    if not isinstance(tag, str):
        return False
    parsed = overlays.parse_tag(tag)
    if parsed is not None:
        return types.get(parsed[0]) == "overlay_rule"
    return tag in types and types[tag] != "overlay_rule"


def _tag(host, name):
    """The tag record for a name that is a tag of its own (not an overlay rule)."""
    tag = all_tags(host).get(name)
    return tag if tag is not None and tag["type"] != "overlay_rule" else None


def _vms_using(host, tag) -> list[str]:
    return sorted(vm["uuid"] for vm in netstate.all_vms(host)
                  if any(nic.get("nic_tag") == tag for nic in vm.get("nics", []) or []))


def _split_opts(args, flags, valued=()):
    """Getopt-style parsing: returns (options dict, operands)."""
    opts, operands = {}, []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            operands.extend(args[i + 1:])
            break
        if arg.startswith("-") and len(arg) > 1:
            j = 1
            while j < len(arg):
                letter = arg[j]
                if letter in valued:
                    value = arg[j + 1:]
                    if not value:
                        i += 1
                        if i >= len(args):
                            raise _usage(f"option -{letter} needs a value")
                        value = args[i]
                    opts[letter] = value
                    break
                if letter not in flags:
                    raise _usage(f"unknown option -{letter}")
                opts[letter] = True
                j += 1
        else:
            operands.append(arg)
        i += 1
    return opts, operands


def _props(text):
    props = {}
    for item in (text or "").split(","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or key not in ("mac", "mtu"):
            raise _usage(f'invalid property "{item}" (expected mac=... or mtu=...)')
        props[key] = value
    if "mtu" in props:
        try:
            mtu = int(props["mtu"])
        except ValueError:
            raise _fail(f'invalid MTU "{props["mtu"]}"') from None
        if not 576 <= mtu <= 9000:
            raise _fail(f'MTU {mtu} is out of range (576-9000)')
        props["mtu"] = mtu
    return props


def _escape(field, delim):
    return field.replace("\\", "\\\\").replace(delim, "\\" + delim) if delim else field


def cmd_list(ctx, args):
    opts, operands = _split_opts(args, "lLp", valued="d")
    if operands:
        raise _usage("list takes no operands")
    if opts.get("l") and opts.get("L"):
        raise _usage("-l and -L cannot be used together")
    delim = opts.get("d", ":")
    if "d" in opts and not opts.get("p"):
        raise _usage("-d can only be used with -p")
    rows = []
    for tag in all_tags(ctx.host).values():
        local = tag["type"] == "etherstub"
        if (opts.get("l") and not local) or (opts.get("L") and local):
            continue
        rows.append((tag["name"], tag["mac"], tag["link"], tag["type"].replace("_", " ")))
    if opts.get("p"):
        for row in rows:
            ctx.out(delim.join(_escape(field, delim) for field in row))
        return 0
    ctx.out(f"{'NAME':<20} {'MACADDRESS':<18} {'LINK':<15} TYPE")
    for name, mac, link, kind in rows:
        ctx.out(f"{name:<20} {mac:<18} {link:<15} {kind}")
    return 0


def cmd_exists(ctx, args):
    opts, names = _split_opts(args, "l")
    if not names:
        raise _usage("exists needs at least one nic tag name")
    types = {name: tag["type"] for name, tag in all_tags(ctx.host).items()}
    missing = [name for name in names if not tag_exists(types, name)]
    for name in missing:
        ctx.err(name if opts.get("l") else f"invalid tag: {name}")
    return 1 if missing else 0


def cmd_add(ctx, args):
    opts, operands = _split_opts(args, "l", valued="p")
    props = _props(opts.get("p"))
    if not operands or len(operands) > 2:
        raise _usage("add needs a nic tag name and, for a normal tag, a MAC address")
    name = operands[0]
    mac = operands[1] if len(operands) > 1 else props.get("mac")
    if not _TAG_RE.match(name):
        raise _fail(f'invalid nic tag name "{name}": use up to 31 letters, digits '
                    'and underscores')
    with netstate.changing_config(ctx.host) as cfg:
        if name in all_tags(ctx.host):
            raise _fail(f'nic tag "{name}" already exists')
        if opts.get("l"):
            if mac:
                raise _usage("an etherstub (-l) takes no MAC address")
            if not _LINK_RE.match(name):
                raise _fail(f'invalid etherstub name "{name}": a link name must start '
                            'with a letter and end with a number')
            entry = {"mtu": props["mtu"]} if "mtu" in props else {}
            if not netstate.add_etherstub(ctx.host, name, entry):  # dladm create-etherstub
                raise _fail(f"Could not create etherstub '{name}'")
        else:
            if not mac:
                raise _usage("a normal nic tag needs a MAC address")
            _attach(cfg, name, normalize_mac(mac))
            if "mtu" in props:
                cfg.setdefault("nic_tag_props", {})[name] = {"mtu": props["mtu"]}
    return 0


def _attach(cfg, name, mac):
    for ifname, nic in cfg.get("interfaces", {}).items():
        if normalize_mac(nic.get("mac", "0:0:0:0:0:0")) == mac:
            nic.setdefault("nic_tags", []).append(name)
            if name not in cfg.setdefault("nic_tags", []):
                cfg["nic_tags"].append(name)
            return ifname
    raise _fail(f'MAC address "{mac}" is not the address of a physical nic on this host')


def _detach(cfg, name):
    for nic in cfg.get("interfaces", {}).values():
        if name in nic.get("nic_tags", []):
            nic["nic_tags"] = [t for t in nic["nic_tags"] if t != name]
    if name in cfg.get("nic_tags", []):
        cfg["nic_tags"] = [t for t in cfg["nic_tags"] if t != name]


def cmd_update(ctx, args):
    opts, operands = _split_opts(args, "", valued="p")
    props = _props(opts.get("p"))
    if not operands or len(operands) > 2:
        raise _usage("update needs a nic tag name")
    name = operands[0]
    mac = operands[1] if len(operands) > 1 else props.get("mac")
    if not mac and "mtu" not in props:
        raise _usage("update needs a MAC address or -p mtu=...")
    with netstate.changing_config(ctx.host) as cfg:
        tag = _tag(ctx.host, name)
        if tag is None:
            raise _fail(f'nic tag "{name}" does not exist')
        if tag["type"] == "etherstub":
            if mac:
                raise _fail(f'cannot set the MAC address of etherstub "{name}"')
            cfg["etherstubs"][name]["mtu"] = props["mtu"]
        else:
            if mac:
                mac = normalize_mac(mac)
                _detach(cfg, name)
                _attach(cfg, name, mac)
            if "mtu" in props:
                cfg.setdefault("nic_tag_props", {})[name] = {"mtu": props["mtu"]}
    return 0


def cmd_delete(ctx, args):
    opts, operands = _split_opts(args, "f")
    if len(operands) != 1:
        raise _usage("delete needs exactly one nic tag name")
    name = operands[0]
    with netstate.changing_config(ctx.host) as cfg:
        tag = _tag(ctx.host, name)
        if tag is None:
            raise _fail(f'nic tag "{name}" does not exist')
        users = _vms_using(ctx.host, name)
        if users and not opts.get("f"):
            raise _fail(f'nic tag "{name}" is in use by VMs: {" ".join(users)} '
                        "(use -f to delete it anyway)")
        if tag["type"] == "etherstub":
            del cfg["etherstubs"][name]
        else:
            _detach(cfg, name)
            cfg.get("nic_tag_props", {}).pop(name, None)
    return 0


def cmd_vms(ctx, args):
    _, operands = _split_opts(args, "")
    if len(operands) != 1:
        raise _usage("vms needs exactly one nic tag name")
    name = operands[0]
    if _tag(ctx.host, name) is None:
        raise _fail(f'nic tag "{name}" does not exist')
    for uuid in _vms_using(ctx.host, name):
        ctx.out(uuid)
    return 0


COMMANDS = {"list": cmd_list, "exists": cmd_exists, "add": cmd_add,
            "update": cmd_update, "delete": cmd_delete, "vms": cmd_vms}



def main(ctx) -> int:
    args = ctx.args
    if not args:
        raise _usage()
    if args[0] in ("-h", "-?", "--help", "help"):
        ctx.out(USAGE)
        return 0
    command = COMMANDS.get(args[0])
    if command is None:
        raise _usage(f'unknown subcommand "{args[0]}"')
    return command(ctx, args[1:])
