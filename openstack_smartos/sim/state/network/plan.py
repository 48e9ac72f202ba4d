"""What a running VM's network looks like, from its ``vmadm get`` object (pure).

``vm_plan`` turns the VM's nics into links as SmartOS's zone boot
(``setup_net`` in the brand's statechange script) builds them: one VNIC per
nic on its nic tag and VLAN, with its MAC, MTU (1500 unless set) and the
link protections vmadm asks for. ``ip_batch`` and ``spoof_ruleset`` render
the plan as ``ip -batch`` lines and an nftables ruleset, so everything the
data plane runs can be read (and tested) without running it.

HVM guests configure their own addresses on SmartOS (from DHCP or the
metadata); the emulator configures the nic's static ``ips`` on the guest
side, as a guest using them would.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from openstack_smartos.sim.state.network import names

DEFAULT_MTU = 1500


@dataclasses.dataclass(frozen=True)
class Protection:
    """SmartOS's VNIC ``protection`` link property, as packet rules.

    ``mac`` is the only source MAC allowed (None: mac-nospoof off);
    ``ipv4``/``ipv6`` the allowed source addresses or networks (None: any);
    ``dhcp_server``: whether DHCP server replies may leave the VM;
    ``restricted``: only IPv4, IPv6 and ARP frames may leave.
    """
    mac: str | None
    ipv4: tuple | None
    ipv6: tuple | None
    dhcp_server: bool
    restricted: bool


@dataclasses.dataclass(frozen=True)
class NicPlan:
    interface: str
    mac: str
    nic_tag: str
    vlan: int
    mtu: int
    addresses: tuple      # "10.0.0.5/24", ...
    gateways: tuple
    primary: bool
    protection: Protection
    hostlink: str         # the VNIC's name in the host namespace


@dataclasses.dataclass(frozen=True)
class VmPlan:
    uuid: str
    nics: tuple
    routes: tuple         # (destination, via address or None, device or None)

    def nic(self, interface):
        return next(n for n in self.nics if n.interface == interface)


def _flag(nic, key) -> bool:
    return bool(nic.get(key))


def _static_ips(nic):
    return [ip for ip in nic.get("ips") or [] if ip not in ("dhcp", "addrconf")]


def protection(nic: dict) -> Protection:
    ip_spoofing = (_flag(nic, "allow_ip_spoofing") or _flag(nic, "allow_dhcp_spoofing")
                   or _flag(nic, "dhcp_server"))
    ipv4 = ipv6 = None
    if not ip_spoofing:
        allowed = [ip.split("/")[0] for ip in _static_ips(nic)]
        allowed += list(nic.get("allowed_ips") or [])
        if nic.get("vrrp_primary_ip"):
            allowed.append(nic["vrrp_primary_ip"])
        nets = [ipaddress.ip_network(a, strict=False) for a in allowed]
        ips = nic.get("ips") or []
        # Addresses a DHCP or SLAAC client obtains are allowed as the kernel
        # learns them (dynamic-methods); the emulator does not learn, so
        # those nics may use any source address of that family.
        ipv4 = None if "dhcp" in ips else tuple(str(n) for n in nets if n.version == 4)
        ipv6 = None if "addrconf" in ips else (
            ("fe80::/10",) + tuple(str(n) for n in nets if n.version == 6))
    return Protection(
        mac=None if _flag(nic, "allow_mac_spoofing") else nic["mac"].lower(),
        ipv4=ipv4, ipv6=ipv6,
        dhcp_server=_flag(nic, "allow_dhcp_spoofing") or _flag(nic, "dhcp_server"),
        restricted=not _flag(nic, "allow_restricted_traffic"))


def nic_plan(nic: dict, zonedid: int) -> NicPlan:
    interface = nic.get("interface") or "net0"
    return NicPlan(
        interface=interface, mac=nic["mac"].lower(), nic_tag=nic["nic_tag"],
        vlan=int(nic.get("vlan_id") or 0), mtu=int(nic.get("mtu") or DEFAULT_MTU),
        addresses=tuple(_static_ips(nic)),
        gateways=tuple(nic.get("gateways") or ([nic["gateway"]] if nic.get("gateway")
                                               else [])),
        primary=bool(nic.get("primary")), protection=protection(nic),
        hostlink=names.vnic(zonedid, interface))


def vm_plan(vm: dict) -> VmPlan:
    nics = tuple(nic_plan(nic, int(vm.get("zonedid") or 0)) for nic in vm.get("nics") or []
                 if nic.get("mac") and nic.get("nic_tag"))
    return VmPlan(uuid=vm["uuid"], nics=nics, routes=_routes(vm, nics))


def _routes(vm, nics):
    """Default routes from the nics' gateways (the primary's first), then ``routes``."""
    routes = []
    ordered = sorted(nics, key=lambda n: not n.primary)
    for nic in ordered:
        for gateway in nic.gateways:
            family = ipaddress.ip_address(gateway).version
            default = "default" if family == 4 else "::/0"
            if not any(r[0] == default for r in routes):
                routes.append((default, gateway, None))
    for destination, target in sorted((vm.get("routes") or {}).items()):
        if target.startswith("nics[") and target.endswith("]"):
            index = int(target[5:-1])
            all_nics = vm.get("nics") or []
            if index < len(all_nics):
                routes.append((destination, None, all_nics[index].get("interface")))
        else:
            routes.append((destination, target, None))
    return tuple(routes)


# -- rendering ------------------------------------------------------------------------
def guest_batch(plan: VmPlan) -> list[str]:
    """``ip -batch`` lines run in the VM's namespace once its links exist."""
    lines = ["link set lo up"]
    for nic in plan.nics:
        for address in nic.addresses:
            lines.append(f"address add {address} dev {nic.interface}")
        lines.append(f"link set {nic.interface} up")
    for destination, via, device in plan.routes:
        # The family follows from the addresses: "default" is IPv4's, "::/0" IPv6's.
        lines.append(f"route add {destination} " + (f"via {via}" if via else f"dev {device}"))
    return lines


def _set(items):
    return "{ " + ", ".join(items) + " }"


def spoof_ruleset(table: str, nics) -> str:
    """The VM's anti-spoofing table: one netdev ingress chain per host-side VNIC.

    Frames the VM sends enter the host namespace on its VNIC, which is where
    SmartOS's mac layer enforces ``protection``.
    """
    lines = [f"table netdev {table} {{"]
    for nic in nics:
        rules = []
        guard = nic.protection
        if guard.mac:
            rules.append(f"ether saddr != {guard.mac} drop")
        if guard.restricted:
            rules.append("ether type != { ip, ip6, arp } drop")
        if not guard.dhcp_server:
            rules.append("udp sport 67 udp dport 68 drop")
            rules.append("udp sport 547 udp dport 546 drop")
        if guard.ipv4 is not None:
            # 0.0.0.0 is what a host probing for address conflicts uses.
            allowed = _set(("0.0.0.0", *guard.ipv4))
            rules.append(f"arp saddr ip != {allowed} drop")
            rules.append(f"ip saddr != {allowed} drop")
        if guard.ipv6 is not None:
            rules.append(f"ip6 saddr != {_set(('::', *guard.ipv6))} drop")
        lines.append(f"  chain {nic.interface} {{")
        lines.append(f'    type filter hook ingress device "{nic.hostlink}" priority 0; '
                     "policy accept;")
        lines.extend(f"    {rule}" for rule in rules)
        lines.append("  }")
    lines.append("}")
    return "\n".join(lines) + "\n"
