"""The NIC rules of vmadm, as smartos-live's VM.js and nic.js apply them (pure).

The steps, in vmadm's order:

* ``normalise_adds``: NICs being added (all of ``nics`` at create) get a MAC,
  ``interface`` becomes ``physical``, ``primary`` is ``true`` or absent, and
  the old ``ip``/``netmask``/``gateway`` fields become ``ips``/``gateways``
  (VM.js normalizeNics, nic.js upgradeNic/upgradeNicAdds);
* ``upgrade_update``: the same for one ``update_nics`` entry, which may take
  the netmask or address of the NIC it changes (nic.js updateNic);
* ``check``: the cross-NIC rules of VM.js checkPayloadProperties, each with
  its own message (duplicate MAC/IP/VRID, primary flags, gateways, ``ips``,
  ``nic_tag``, HVM ``model``, ``allowed_ips``, ``allowed_dhcp_cids``, VRRP);
* ``merge``: the NIC list after an update or create, with the primary flag
  moved or a successor chosen as VM.js buildNicZonecfg does, and the derived
  ``ip``/``netmask``/``gateway``/``interface`` fields of ``vmadm get``;
* ``tag_problem``: VM.js validateNicTags (``nictagadm exists``, then the MTU
  floor of physical tags), run at create, update, start and reboot.

Failures raise ``PayloadError`` with vmadm's message.
"""

from __future__ import annotations

import ipaddress
import json
import re

from openstack_smartos.sim.commands.vmadm.values import MAC_RE, PayloadError

AUTOCONF = ("dhcp", "addrconf")
TAG_ADD_RE = re.compile(r"^[a-zA-Z0-9_/]+$")
TAG_UPDATE_RE = re.compile(r"^[a-zA-Z0-9_]+$")
MAX_IPS = 20
MAX_ALLOWED_IPS = 13
MAX_CIDS = 20
MAX_NIC_ADDRESSES = 32
MIN_PHYSICAL_MTU = 1500
PRIVATE_NETS = tuple(ipaddress.ip_network(n) for n in
                     ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def js(value) -> str:
    """JSON.stringify(value)."""
    return json.dumps(value, separators=(",", ":"))


def js_str(value) -> str:
    """'' + value in JavaScript, for the scalars a payload carries."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def normalise_mac(mac: str) -> str:
    return ":".join(f"{int(part, 16):02x}" for part in mac.split(":"))


def vrrp_mac(vrid) -> str:
    return f"00:00:5e:00:01:{int(vrid):02x}"


# -- addresses (ip.js) -----------------------------------------------------------------------
def is_ipv4(text) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except (ValueError, TypeError):
        return False


def is_ipv6(text) -> bool:
    try:
        ipaddress.IPv6Address(text)
        return True
    except (ValueError, TypeError):
        return False


def is_netmask(text) -> bool:
    if not is_ipv4(text):
        return False
    inverse = ~int(ipaddress.IPv4Address(text)) & 0xFFFFFFFF
    return (inverse + 1) & inverse == 0


def netmask_bits(text) -> int:
    return bin(int(ipaddress.IPv4Address(text))).count("1")


def _prefix(text):
    parts = text.split("/") if isinstance(text, str) else []
    if len(parts) != 2 or not re.match(r"^\d+", parts[1]):
        return None, None
    return parts[0], int(re.match(r"^\d+", parts[1]).group())


def is_cidr_v4(text) -> bool:
    addr, plen = _prefix(text)
    return addr is not None and is_ipv4(addr) and 8 <= plen <= 32


def is_cidr_input(text) -> bool:
    if text in AUTOCONF:
        return True
    addr, plen = _prefix(text)
    if addr is None:
        return False
    if is_ipv4(addr):
        return 8 <= plen <= 32
    return is_ipv6(addr) and 0 <= plen <= 128


def is_private(ip) -> bool:
    address = ip.split("/")[0] if isinstance(ip, str) else ip
    if not is_ipv4(address):
        return False
    return any(ipaddress.IPv4Address(address) in net for net in PRIVATE_NETS)


def _allowed_ips_problem(values):
    invalid = []
    for value in values:
        if is_ipv4(value) or is_ipv6(value):
            continue
        parts = str(value).split("/")
        if len(parts) != 2 or not parts[1].isdigit():
            invalid.append(value)
        elif is_ipv4(parts[0]):
            if not 1 <= int(parts[1]) <= 32:
                invalid.append(value)
        elif is_ipv6(parts[0]):
            if not 1 <= int(parts[1]) <= 128:
                invalid.append(value)
        else:
            invalid.append(value)
    if invalid:
        return "invalid allowed_ips: " + ", ".join(str(v) for v in invalid)
    if len(values) > MAX_ALLOWED_IPS:
        return f"Maximum of {MAX_ALLOWED_IPS} allowed_ips per nic"
    return None


# -- normalisation -----------------------------------------------------------------------------
def upgrade(nic: dict) -> dict:
    """nic.js upgradeNic: ip/netmask -> ips, gateway -> gateways."""
    if "netmask" in nic and not is_netmask(nic["netmask"]):
        raise PayloadError(f"Specified netmask value is invalid: {js_str(nic['netmask'])}")
    if "ip" in nic:
        if "ips" not in nic:
            if nic["ip"] in AUTOCONF:
                nic["ips"] = [nic["ip"]]
            elif "netmask" in nic:
                nic["ips"] = [f"{nic['ip']}/{netmask_bits(nic['netmask'])}"]
                del nic["netmask"]
            else:
                raise PayloadError(f"Missing .netmask option for NIC: {js(nic)}")
        del nic["ip"]
    if "gateway" in nic:
        if "gateways" not in nic:
            nic["gateways"] = [nic["gateway"]]
        del nic["gateway"]
    return nic


def normalise_adds(nics, new_mac, macs_in_use=()):
    """VM.js normalizeNics and nic.js upgradeNicAdds for ``nics``/``add_nics``."""
    for nic in nics:
        if "mac" not in nic:
            if "vrrp_vrid" in nic:
                nic["mac"] = vrrp_mac(nic["vrrp_vrid"])
            elif new_mac is not None:
                mac = new_mac()
                while mac in macs_in_use:
                    mac = new_mac()
                nic["mac"] = mac
        elif isinstance(nic["mac"], str) and MAC_RE.match(nic["mac"]):
            nic["mac"] = normalise_mac(nic["mac"])
        nic.pop("index", None)
        if "interface" in nic:
            nic["physical"] = nic.pop("interface")
        if "primary" in nic:
            if nic["primary"]:
                nic["primary"] = True
            else:
                del nic["primary"]
    for nic in nics:
        upgrade(nic)
        nic.setdefault("ips", [])
    return nics


def upgrade_update(current, change):
    """nic.js updateNic: ``change`` is one update_nics entry, ``current`` the VM's NICs."""
    if "mac" not in change:
        raise PayloadError("NIC object needs a .mac property to update")
    target = next((n for n in current if n.get("mac") == change["mac"]), None)
    if target is None:
        raise PayloadError("There is no existing NIC with that mac address")

    def existing_ip():
        ips = target.get("ips")
        if ips is not None:
            if len(ips) == 1 and is_cidr_v4(ips[0]):
                addr, plen = _prefix(ips[0])
                mask = str(ipaddress.IPv4Network(f"0.0.0.0/{plen}").netmask)
                return addr, mask
        elif "ip" in target:
            return target["ip"], target.get("netmask")
        raise PayloadError("Need a single existing IPv4 address to update .ip or .netmask")

    if "ips" not in change:
        if "netmask" in change and "ip" not in change:
            change["ip"] = existing_ip()[0]
        elif "netmask" not in change and "ip" in change and change["ip"] not in AUTOCONF:
            netmask = existing_ip()[1]
            if netmask is None:
                raise PayloadError("Updating IP address of NIC, but there is currently no "
                                   "specified netmask")
            change["netmask"] = netmask
    return upgrade(change)


# -- checkPayloadProperties --------------------------------------------------------------------
def check(brand, model_required, adds=(), updates=(), current=(), removes=(), vm=None):
    """The NIC rules of VM.js checkPayloadProperties.

    ``adds``/``updates``: the normalised add_nics (all nics at create) and
    update_nics; ``current``: the VM's NICs; ``vm``: the VM's config (None at
    create) for the HVM model fallbacks. Adds may get ``model`` set.
    """
    updated_ips = {u["mac"] for u in updates if "mac" in u and "ips" in u}
    result = {}
    current_ips, current_macs, current_vrids = [], [], []
    for nic in current:
        mac = nic.get("mac") or (vrrp_mac(nic["vrrp_vrid"]) if "vrrp_vrid" in nic else None)
        if mac is not None:
            result.setdefault(mac, dict(nic))
        if mac not in updated_ips:
            current_ips += [ip for ip in nic.get("ips", ()) if ip not in AUTOCONF]
        if "mac" in nic:
            current_macs.append(nic["mac"])
        if "vrrp_vrid" in nic:
            current_vrids.append(nic["vrrp_vrid"])
    macs, ips, vrids, primary_ips = [], [], [], []
    primaries = 0
    for field, nics in (("add_nics", adds), ("update_nics", updates)):
        for n in nics:
            if "vrrp_vrid" in n:
                if n["vrrp_vrid"] in current_vrids or n["vrrp_vrid"] in vrids:
                    raise PayloadError("Cannot add multiple NICs with the same VRID: "
                                       f"{js_str(n['vrrp_vrid'])}")
                vrids.append(n["vrrp_vrid"])
            if field == "add_nics" and "mac" in n:
                if n["mac"] in macs or n["mac"] in current_macs:
                    raise PayloadError(f"Cannot add multiple NICs with the same MAC: {n['mac']}")
                macs.append(n["mac"])
            if "primary" in n:
                if n["primary"] is not True:
                    raise PayloadError("invalid value for NIC's primary flag: "
                                       f"{js_str(n['primary'])} (must be true)")
                primaries += 1
            for gateway in n.get("gateways", ()):
                if not is_ipv4(gateway):
                    raise PayloadError(f"Static gateways must be IPv4 addresses: {gateway}")
            if "ips" in n:
                if len(n["ips"]) > MAX_IPS:
                    raise PayloadError(f"nic.*.ips contains {len(n['ips'])} addresses, but is "
                                       f"limited to {MAX_IPS}")
                for ip in n["ips"]:
                    if ip in AUTOCONF:
                        continue
                    if not is_cidr_input(ip):
                        raise PayloadError(f"Invalid IP for NIC: {js(n)}")
                    if ip in ips or ip in current_ips:
                        raise PayloadError(f"Cannot add multiple NICs with the same IP: {ip}")
                    ips.append(ip)
            if field == "add_nics" and "vrrp_vrid" in n and n.get("mac") != vrrp_mac(
                    n["vrrp_vrid"]):
                raise PayloadError("Cannot set both mac and vrrp_vrid")
            if "vrrp_primary_ip" in n:
                primary_ips.append(n["vrrp_primary_ip"])
            if model_required and field == "add_nics" and not n.get("model"):
                _fallback_model(n, vm)
            if field == "add_nics" and not TAG_ADD_RE.match(str(n.get("nic_tag", ""))):
                raise PayloadError(f"invalid or missing .nic_tag option for NIC: {js(n)}")
            if field == "update_nics" and "model" in n and not n["model"]:
                raise PayloadError(f"invalid .model option for NIC: {js(n)}")
            if field == "update_nics" and "nic_tag" in n and not TAG_UPDATE_RE.match(
                    str(n["nic_tag"])):
                raise PayloadError(f"invalid .nic_tag option for NIC: {js(n)}")
            mac = n.get("mac") or (vrrp_mac(n["vrrp_vrid"]) if "vrrp_vrid" in n else None)
            if mac is not None:
                result.setdefault(mac, {}).update(n)
            if "allowed_ips" in n:
                problem = _allowed_ips_problem(n["allowed_ips"])
                if problem:
                    raise PayloadError(problem)
            cids = n.get("allowed_dhcp_cids")
            if cids is not None:
                if len(cids) > MAX_CIDS:
                    raise PayloadError(f"nics.*.allowed_dhcp_cids contains {len(cids)} Client "
                                       f"Identifiers, but is limited to {MAX_CIDS}")
                if len(",".join(cids)) >= 1024:
                    raise PayloadError("nics.*.allowed_dhcp_cids contains too many long "
                                       "Client Identifiers")
    for mac in removes:
        gone = result.pop(mac, None)
        for ip in (gone or {}).get("ips", ()):
            for pool in (ips, current_ips):
                if ip in pool:
                    pool.remove(ip)
    _check_result(result, primary_ips, current_ips + ips)
    if primaries > 1:
        raise PayloadError("payload specifies more than 1 primary NIC")


def _fallback_model(nic, vm):
    if vm is not None and vm.get("nic_driver"):
        nic["model"] = vm["nic_driver"]
    elif vm is not None and vm.get("nics") and vm["nics"][0].get("model"):
        nic["model"] = vm["nics"][0]["model"]
    else:
        raise PayloadError(f"missing .model option for NIC: {js(nic)}")


def _check_result(result, primary_ips, all_ips):
    only_vrrp = True
    for n in result.values():
        if "vrrp_vrid" in n:
            for ip in n.get("ips", ()):
                if ip.split("/")[0] in primary_ips:
                    raise PayloadError("Cannot set vrrp_primary_ip to the IP of a VRRP nic")
            if "vrrp_primary_ip" not in n:
                raise PayloadError("vrrp_vrid set but not vrrp_primary_ip")
        else:
            only_vrrp = False
        count = (len(n.get("allowed_ips", ())) + (1 if "vrrp_primary_ip" in n else 0)
                 + len(n.get("ips", ())))
        if count > MAX_NIC_ADDRESSES:
            raise PayloadError("More than 32 IPs cannot be associated with a NIC")
    if only_vrrp and result:
        raise PayloadError("VM cannot contain only VRRP nics")
    addresses = {ip.split("/")[0] for ip in all_ips}
    for ip in primary_ips:
        if ip not in addresses:
            raise PayloadError("vrrp_primary_ip must belong to the same VM")


# -- the NIC list after the change (buildNicZonecfg / createZone) ------------------------------
def merge(current, adds=(), updates=(), removes=(), *, prefix="net", creating=False):
    """The VM's NICs after create (``creating``) or update, as ``vmadm get`` shows them."""
    nics = [dict(n) for n in current]
    new_primary = None
    for n in list(adds) + list(updates):
        if n.get("primary"):
            new_primary = n.get("mac")
    if removes and new_primary is None:
        new_primary = _successor(nics, removes)
    nics = [n for n in nics if n.get("mac") not in removes]
    for change in updates:
        target = next((n for n in nics if n.get("mac") == change.get("mac")), None)
        if target is not None:
            target.update({k: v for k, v in change.items() if k not in ("mac", "netmask")})
    nics += [dict(n) for n in adds]
    if creating and nics and not any(n.get("primary") for n in nics):
        nics[0]["primary"] = True
    if new_primary is not None:
        for n in nics:
            n.pop("primary", None)
            if n.get("mac") == new_primary:
                n["primary"] = True
    used = {n.get("interface") for n in nics} | {n.get("physical") for n in nics}
    counter = 0
    for n in nics:
        physical = n.pop("physical", None)
        if physical:
            n["interface"] = physical
        elif not n.get("interface"):
            while f"{prefix}{counter}" in used:
                counter += 1
            n["interface"] = f"{prefix}{counter}"
            used.add(n["interface"])
        derive(n)
    return nics


def _successor(nics, removes):
    """The NIC that becomes primary when the primary is removed (or None)."""
    chosen = None
    for mac in removes:
        public = private = None
        should_choose = False
        for nic in nics:
            if nic.get("mac") == mac and nic.get("primary"):
                should_choose = True
            elif nic.get("mac") not in removes and "ips" in nic:
                for ip in nic["ips"]:
                    if private is None and is_private(ip):
                        private = nic.get("mac")
                        break
                    if public is None and not is_private(ip):
                        public = nic.get("mac")
                        break
        if should_choose:
            chosen = public or private
    return chosen


def derive(nic):
    """ip/netmask from the first dhcp or IPv4 entry of ips; gateway from gateways."""
    for key in ("ip", "netmask", "gateway"):
        nic.pop(key, None)
    ips = nic.get("ips")
    if not ips:
        nic.pop("ips", None)
    else:
        first = next((ip for ip in ips if ip == "dhcp" or is_cidr_v4(ip)), None)
        if first == "dhcp":
            nic["ip"] = "dhcp"
        elif first is not None:
            iface = ipaddress.IPv4Interface(first)
            nic["ip"] = str(iface.ip)
            nic["netmask"] = str(iface.netmask)
    gateways = nic.get("gateways")
    if gateways:
        first = next((g for g in gateways if is_ipv4(g)), None)
        if first is not None:
            nic["gateway"] = first
    elif "gateways" in nic:
        del nic["gateways"]


# -- nic tags (validateNicTags) -----------------------------------------------------------------
def tag_exists(tags: dict, tag) -> bool:
    """nictagadm exists: a tag, etherstub or link; ``rule/<vnet>`` for overlay rules."""
    from openstack_smartos.sim.commands import nictagadm
    return nictagadm.tag_exists(tags, tag)


def tag_problem(tags: dict | None, nics) -> str | None:
    """vmadm's message for NICs on missing tags or below a physical tag's MTU (None: fine)."""
    if tags is None or not nics:
        return None
    named = [n for n in nics if "nic_tag" in n]
    bad = [n["nic_tag"] for n in named if not tag_exists(tags, n["nic_tag"])]
    if bad:
        return "\n".join(f'Invalid nic tag "{tag}"' for tag in dict.fromkeys(bad))
    lowest = {}
    for index, nic in enumerate(nics):
        if "nic_tag" in nic and "mtu" in nic:
            tag = nic["nic_tag"]
            if tag not in lowest or nic["mtu"] < lowest[tag][0]:
                lowest[tag] = (nic["mtu"], index, nic.get("mac"))
    lines = [f'nic {index} ({mac}): MTU is below the supported MTU ({MIN_PHYSICAL_MTU}) of nic '
             f'tag "{tag}"' for tag, kind in tags.items() if tag in lowest
             and kind == "normal" and lowest[tag][0] < MIN_PHYSICAL_MTU
             for _mtu, index, mac in [lowest[tag]]]
    return "\n".join(lines) or None
