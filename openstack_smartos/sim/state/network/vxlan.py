"""Overlays on Linux: a bridge with one vxlan port per overlay, in the host's namespace.

The vxlan device learns nothing and floods nothing (``nolearning``, no
all-zeros forwarding entry), and answers ARP and neighbour solicitations
from its own neighbour table (``proxy``), which is what an illumos overlay
does with varpd's answers: broadcast and multicast do not cross it, a MAC
is reachable only once the search plugin says where it lives, and ARP is
answered by proxy. Its forwarding (MAC -> underlay address) and neighbour
(IP -> MAC) entries come from the overlay's search plugin: the ``files``
JSON once, at creation, or the svp server on each miss (``varpd``).

VLANs inside an overlay are not emulated: a nic with a vlan_id on an
overlay tag is refused at boot.
"""

from __future__ import annotations

import ipaddress
import json

from openstack_smartos.sim.state.network import linux, names
from openstack_smartos.sim.state.network.overlays import OverlayError, prop


def bridge_name(record: dict) -> str:
    return names.short(record["name"])


def vxlan_name(record: dict) -> str:
    return f"vx{record['vnetid']:x}"


def mtu(record: dict) -> int:
    return int(prop(record, "mtu"))


def overlay_up(host, record: dict, ns: str, local_addresses):
    """Create the overlay's bridge and vxlan port, then load its plugin's entries."""
    listen = prop(record, "vxlan/listen_ip")
    if ipaddress.ip_address(listen) not in {ipaddress.ip_address(a) for a in local_addresses}:
        # The kernel cannot bind the underlay socket to an address it lacks.
        raise OverlayError("invalid argument", [
            "failed to activate device: Cannot assign requested address"])
    bridge, vx = bridge_name(record), vxlan_name(record)
    size = mtu(record)
    try:
        linux.batch(ns, [
            f"link add {bridge} mtu {size} type bridge forward_delay 0",
            f"link add {vx} mtu {size} type vxlan id {record['vnetid']} local {listen} "
            f"dstport {prop(record, 'vxlan/listen_port')} nolearning proxy l2miss l3miss",
            f"link set {vx} master {bridge} up",
            f"link set {bridge} up"])
        if record["search"] == "files":
            install(ns, record, files_entries(host, record))
    except BaseException:
        overlay_down(record, ns)
        raise


def overlay_down(record: dict, ns: str):
    for link in (vxlan_name(record), bridge_name(record)):
        if linux.link_exists(ns, link):
            linux.run(["ip", "-n", ns, "link", "delete", link], check=False)


def files_entries(host, record: dict) -> list[dict]:
    """The ``files/config`` JSON as entries {mac, ip, port, arp?, ndp?} (overlay_files(5))."""
    path = prop(record, "files/config")
    try:
        data = json.loads(host.path("root", path.lstrip("/")).read_text())
    except FileNotFoundError:
        raise OverlayError("object not found", [
            "failed to activate varpd instance: No such file or directory"]) from None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise OverlayError("invalid argument", [
            "failed to activate varpd instance: Invalid argument"])
    entries = []
    for mac, value in data.items():
        try:
            mac = ":".join(f"{int(part, 16):02x}" for part in mac.split(":"))
            assert len(mac) == 17 and isinstance(value, dict)
        except (ValueError, AssertionError):
            raise OverlayError("invalid argument", [
                "failed to activate varpd instance: Invalid argument"]) from None
        port = value.get("port")
        if not value.get("ip") or not isinstance(port, int) or not 0 < port <= 65535:
            continue   # the lookup drops packets for such an entry
        entries.append({"mac": mac, "ip": value["ip"], "port": port,
                        "arp": value.get("arp"), "ndp": value.get("ndp")})
    return entries


def install(ns: str, record: dict, entries):
    """Program where each MAC lives and what proxy ARP/NDP answers."""
    vx = vxlan_name(record)
    fdb, neigh = [], []
    for entry in entries:
        fdb.append(f"fdb replace {entry['mac']} dev {vx} dst {entry['ip']} "
                   f"port {entry['port']} self permanent")
        for key in ("arp", "ndp"):
            if entry.get(key):
                neigh.append(f"neigh replace {entry[key]} lladdr {entry['mac']} dev {vx} "
                             "nud permanent")
    if fdb:
        linux.run(["bridge", "-n", ns, "-batch", "-"], "\n".join(fdb) + "\n")
    linux.batch(ns, neigh)


def forget(ns: str, record: dict, mac: str | None = None, ip: str | None = None):
    """Drop a cached mapping (an svp shootdown)."""
    vx = vxlan_name(record)
    if mac:
        linux.run(["bridge", "-n", ns, "fdb", "delete", mac, "dev", vx, "self"], check=False)
    if ip:
        linux.run(["ip", "-n", ns, "neigh", "delete", ip, "dev", vx], check=False)
