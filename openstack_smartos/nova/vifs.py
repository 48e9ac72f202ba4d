"""nova network_info (VIF dicts) translated into vmadm ``nics``, resolvers and routes.

Input: the VIFs of ``instance.get_network_info()`` (``nova.network.model.VIF``
is a dict subclass) or plain dicts of the same shape.

One vmadm NIC per VIF, in order:

* ``mac`` = the port's MAC; ``network_uuid`` = the network id;
* ``nic_tag``: the network's physical network (network ``meta``
  ``physical_network``, else VIF details ``physical_network``) looked up in
  ``physnet_nic_tags`` ([smartos] physical_network_nic_tags); networks with
  no physical network, or one missing from the map, get ``default_nic_tag``;
* ``vlan_id``: VIF details ``vlan``, else details ``segmentation_id`` when
  details ``network_type`` is ``vlan``, else network meta ``vlan``; absent
  (untagged) otherwise. A segmentation id of any other network type (vxlan,
  geneve) is never a VLAN;
* ``ips``: each fixed IP as ``address/prefix`` (IPv4 and IPv6). A subnet
  without a fixed IP of the port asks the guest to configure itself:
  ``dhcp`` for IPv4, ``addrconf`` (SLAAC) for IPv6. No subnets: no ``ips``
  (an L2-only port). kvm NICs take a single IPv4 address (vmadm stores more,
  but a KVM guest is given only the nic's first, as ``ip``); more raise
  ``VifError``. Floating IPs are NATed by Neutron and not listed;
* ``gateways``: the IPv4 gateways of the subnets (vmadm has no IPv6
  gateway; IPv6 guests learn theirs from router advertisements);
* ``primary`` on the first NIC (vmadm takes its gateway and resolvers);
* ``mtu`` when the network has one, except below 1500 on a nic tag that is
  not an overlay (``rule/vnet``): vmadm refuses an MTU under 1500 on a
  physical link, and such a link carries 1500 anyway. (A tunnelled Neutron
  network on a physical tag is a mapping to fix, not an MTU to set.)
* ``model`` (HVM brands only): ``nic_model``, default ``virtio``;
* anti-spoofing. vmadm filters IP, MAC and DHCP-server spoofing and non-IP
  traffic by default. When the port has port security disabled (VIF details
  or binding profile ``port_security_enabled`` false) the NIC gets
  ``allow_ip_spoofing``, ``allow_mac_spoofing``, ``allow_dhcp_spoofing`` and
  ``allow_restricted_traffic``, which is what Neutron means by no port
  security. ``port_filter`` is deliberately not used: it says whether the
  backend applies security groups, not whether anti-spoofing is wanted.
  Allowed address pairs (VIF details or VIF ``allowed_address_pairs``:
  ``[{"ip_address": ..., "mac_address": ...}]`` or plain strings) become
  ``allowed_ips``; a pair whose MAC is not the port's MAC also sets
  ``allow_mac_spoofing``, since vmadm has no per-MAC allowance.

``resolvers_from_network_info``: the DNS servers of every subnet, in order,
without duplicates. ``routes_from_network_info``: the subnets' IPv4 host
routes as vmadm ``routes`` (destination -> gateway; the default route is left
to ``gateways``).
"""

from __future__ import annotations

import ipaddress
import re

from openstack_smartos.nova.brands import is_hvm

UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}$")
NO_PORT_SECURITY_FLAGS = ("allow_ip_spoofing", "allow_mac_spoofing", "allow_dhcp_spoofing",
                          "allow_restricted_traffic")
DEFAULT_NIC_MODEL = "virtio"


class VifError(ValueError):
    """A VIF that cannot be expressed as a vmadm NIC."""


def _address(value) -> str | None:
    """An address from a nova IP model, a plain dict or a string."""
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return value.get("address") or None


def _meta(model) -> dict:
    return (model or {}).get("meta") or {}


def _subnets(vif) -> list:
    return ((vif.get("network") or {}).get("subnets")) or []


def _falsy(value) -> bool:
    """False, or a string meaning false (binding profiles carry strings too)."""
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0", "no", "off")
    return value is False


def _physical_network(vif) -> str | None:
    return (_meta(vif.get("network")).get("physical_network")
            or (vif.get("details") or {}).get("physical_network"))


def nic_tag_for(vif, physnet_nic_tags: dict, default_nic_tag: str) -> str:
    physnet = _physical_network(vif)
    if physnet and physnet in (physnet_nic_tags or {}):
        return physnet_nic_tags[physnet]
    return default_nic_tag


def vlan_id_for(vif) -> int | None:
    details = vif.get("details") or {}
    vlan = details.get("vlan")
    if vlan in (None, "") and str(details.get("network_type", "")).lower() == "vlan":
        vlan = details.get("segmentation_id")
    if vlan in (None, ""):
        vlan = _meta(vif.get("network")).get("vlan")
    if vlan in (None, ""):
        return None
    try:
        vlan = int(vlan)
    except (TypeError, ValueError):
        raise VifError(f"port {vif.get('id')}: VLAN id {vlan!r} is not a number") from None
    if not 0 <= vlan <= 4095:
        raise VifError(f"port {vif.get('id')}: VLAN id {vlan} is outside 0-4095")
    return vlan or None    # 0 is untagged: say nothing


def ips_and_gateways(vif) -> tuple[list, list]:
    ips, gateways = [], []
    for subnet in _subnets(vif):
        cidr = subnet.get("cidr")
        if not cidr:
            continue
        network = ipaddress.ip_network(cidr, strict=False)
        fixed = [_address(ip) for ip in subnet.get("ips") or ()
                 if (ip.get("type") if isinstance(ip, dict) else None) in (None, "fixed")]
        fixed = [address for address in fixed if address]
        if fixed:
            ips.extend(f"{address}/{network.prefixlen}" for address in fixed)
        else:
            ips.append("dhcp" if network.version == 4 else "addrconf")
        gateway = _address(subnet.get("gateway"))
        if gateway and ipaddress.ip_address(gateway).version == 4:
            gateways.append(gateway)
    return list(dict.fromkeys(ips)), list(dict.fromkeys(gateways))


def _allowed_address_pairs(vif) -> list:
    details = vif.get("details") or {}
    pairs = details.get("allowed_address_pairs")
    if pairs is None:
        pairs = vif.get("allowed_address_pairs", _meta(vif).get("allowed_address_pairs"))
    return list(pairs or ())


def port_security_disabled(vif) -> bool:
    details = vif.get("details") or {}
    profile = vif.get("profile") or {}
    return (_falsy(details.get("port_security_enabled"))
            or _falsy(profile.get("port_security_enabled")))


def _anti_spoofing(vif, mac: str) -> dict:
    if port_security_disabled(vif):
        return {flag: True for flag in NO_PORT_SECURITY_FLAGS}
    allowed, other_mac = [], False
    for pair in _allowed_address_pairs(vif):
        if isinstance(pair, str):
            address, pair_mac = pair, None
        else:
            address, pair_mac = pair.get("ip_address"), pair.get("mac_address")
        if address:
            allowed.append(address)
        if pair_mac and pair_mac.lower() != mac.lower():
            other_mac = True
    flags = {}
    if allowed:
        flags["allowed_ips"] = list(dict.fromkeys(allowed))
    if other_mac:
        flags["allow_mac_spoofing"] = True
    return flags


PHYSICAL_MIN_MTU = 1500


def nics_from_network_info(vifs: list, brand: str, physnet_nic_tags: dict,
                           default_nic_tag: str, *, nic_model: str | None = None) -> list:
    """vmadm ``nics`` for these VIFs (rules in the module docstring)."""
    nics = []
    for index, vif in enumerate(vifs or ()):
        mac = vif.get("address")
        if not mac:
            raise VifError(f"port {vif.get('id')} has no MAC address")
        nic = {"mac": mac.lower(), "nic_tag": nic_tag_for(vif, physnet_nic_tags,
                                                         default_nic_tag)}
        vlan = vlan_id_for(vif)
        if vlan is not None:
            nic["vlan_id"] = vlan
        ips, gateways = ips_and_gateways(vif)
        if brand == "kvm":
            ipv4 = [ip for ip in ips if ip == "dhcp" or (ip != "addrconf" and ":" not in ip)]
            if len(ipv4) > 1:
                raise VifError(f"port {vif.get('id')} has {len(ipv4)} IPv4 addresses; kvm "
                               f"NICs carry only one (use bhyve, or one IPv4 per port)")
        if ips:
            nic["ips"] = ips
        if gateways:
            nic["gateways"] = gateways
        if index == 0:
            nic["primary"] = True
        mtu = _meta(vif.get("network")).get("mtu")
        if mtu and (int(mtu) >= PHYSICAL_MIN_MTU or "/" in nic["nic_tag"]):
            nic["mtu"] = int(mtu)
        if is_hvm(brand):
            nic["model"] = nic_model or DEFAULT_NIC_MODEL
        network_id = (vif.get("network") or {}).get("id")
        if network_id and UUID_RE.match(str(network_id)):
            nic["network_uuid"] = str(network_id).lower()
        nic.update(_anti_spoofing(vif, mac))
        nics.append(nic)
    return nics


def resolvers_from_network_info(vifs: list) -> list:
    """DNS servers of every subnet, in VIF and subnet order, without duplicates."""
    resolvers = []
    for vif in vifs or ():
        for subnet in _subnets(vif):
            for server in subnet.get("dns") or ():
                address = _address(server)
                if address and address not in resolvers:
                    resolvers.append(address)
    return resolvers


def routes_from_network_info(vifs: list) -> dict:
    """vmadm ``routes``: IPv4 host routes of the subnets (the first one for a destination wins)."""
    routes = {}
    for vif in vifs or ():
        for subnet in _subnets(vif):
            for route in subnet.get("routes") or ():
                destination, gateway = route.get("cidr"), _address(route.get("gateway"))
                if not destination or not gateway:
                    continue
                network = ipaddress.ip_network(destination, strict=False)
                if network.version != 4 or network.prefixlen == 0:
                    continue
                key = (str(network.network_address) if network.prefixlen == 32
                       else str(network))
                routes.setdefault(key, gateway)
    return routes
