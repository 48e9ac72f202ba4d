"""Names of the Linux objects that realise an emulated host's network.

Every namespace the emulator makes starts with ``smartos-``, so an operator
(or a leak check) finds them with ``ip netns | grep smartos-``:

* ``smartos-rack-<rack id>``: a rack's switch, one bridge per segment;
* ``smartos-<host uuid[:8]>``: a host's global zone;
* ``smartos-<host uuid[:8]>-<vm uuid>``: a running VM (the zone, or the NIC
  side of a bhyve/KVM guest).

Linux link names are at most 15 characters, so the objects inside the
namespaces get short names derived from small indexes.
"""

from __future__ import annotations

import hashlib

PREFIX = "smartos-"
IFNAMSIZ = 15


def rack_ns(rack_id: str) -> str:
    return f"{PREFIX}rack-{rack_id}"


def host_ns(host_uuid: str) -> str:
    return f"{PREFIX}{host_uuid[:8]}"


def vm_ns(host_uuid: str, vm_uuid: str) -> str:
    return f"{host_ns(host_uuid)}-{vm_uuid}"


def rack_bridge(network_index: int, vlan: int) -> str:
    """The rack's bridge for one (physical network, VLAN) segment."""
    return f"n{network_index}v{vlan}"


def rack_port(host_index: int, if_index: int, vlan: int) -> str:
    """A host's cable end in the rack, for one physical link and VLAN."""
    return f"h{host_index}i{if_index}v{vlan}"


def uplink(if_index: int, vlan: int) -> str:
    """The host's end of that cable, a port of the segment's bridge."""
    return f"up{if_index}v{vlan}"


def segment_bridge(ifname: str, vlan: int) -> str:
    """The host's bridge for a physical link and VLAN: the link itself for 0."""
    return ifname if vlan == 0 else short(f"{ifname}v{vlan}")


def vnic(zonedid: int, interface: str) -> str:
    """A VM nic's host-side end, after SmartOS's ``z<id>_<interface>``."""
    return short(f"z{zonedid}_{interface}")


def short(name: str) -> str:
    """``name`` if Linux accepts it as a link name, else a stable digest of it."""
    if len(name) <= IFNAMSIZ:
        return name
    return name[:6] + hashlib.sha1(name.encode()).hexdigest()[:9]


def nft_table(vm_uuid: str) -> str:
    """The nftables table of one VM (anti-spoofing in the host namespace)."""
    return "vm_" + vm_uuid.replace("-", "_")
