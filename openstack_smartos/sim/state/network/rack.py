"""Racks: the emulated physical network that hosts plug into.

A rack is a directory holding ``rack.json`` and a lock, and a switch
namespace with one bridge per (physical network, VLAN) segment. A host
plugged into a rack has one physical link per nic tag in its global-zone
namespace, cabled to the segment of that tag's network. There are no VLAN
headers anywhere (this kernel has no 802.1Q devices): each VLAN of a nic tag
is its own segment, cabled separately, so VLANs are isolated as on a switch.

Each host has an address on every network it is plugged into, ``.<index>``
of the network's CIDR: the admin link's address is the host's Admin IP, and
any of them can be an overlay's underlay (``vxlan/listen_ip``).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import secrets
from pathlib import Path

from openstack_smartos.sim.state.network import linux, names, varpd

RACK_FILE = "rack.json"
DEFAULT_CIDRS = "198.18.{index}.0/24"


class RackError(Exception):
    """A rack command was refused; ``str()`` says why."""


def create(rackdir, networks) -> dict:
    reason = linux.unavailable_reason()
    if reason:
        raise RackError(f"cannot create a rack here: {reason}")
    root = Path(rackdir)
    if (root / RACK_FILE).exists():
        raise RackError(f"{root} already holds a rack")
    parsed = {}
    for index, spec in enumerate(networks or ["admin", "external"]):
        name, _, cidr = spec.partition("=")
        if not name or name in parsed:
            raise RackError(f"invalid or repeated network name {spec!r}")
        cidr = cidr or DEFAULT_CIDRS.format(index=index)
        try:
            net = ipaddress.ip_network(cidr)
        except ValueError as exc:
            raise RackError(f"network {name}: {exc}") from None
        parsed[name] = {"index": index, "cidr": str(net)}
    root.mkdir(parents=True, exist_ok=True)
    rack = {"id": secrets.token_hex(3), "networks": parsed, "hosts": {}, "next_host": 1}
    _save(root, rack)
    ensure_switch(root, rack)
    return rack


def load(rackdir) -> dict:
    path = Path(rackdir) / RACK_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise RackError(f"{rackdir} is not a rack (smartos-sim rack create)") from None


def _save(root, rack):
    tmp = Path(root) / (RACK_FILE + ".tmp")
    tmp.write_text(json.dumps(rack, indent=2) + "\n")
    os.replace(tmp, Path(root) / RACK_FILE)


@contextlib.contextmanager
def locked(rackdir):
    """Serialise changes to a rack's switch across hosts and processes."""
    fd = os.open(Path(rackdir) / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def ensure_switch(rackdir, rack):
    ns = names.rack_ns(rack["id"])
    if not linux.ns_exists(ns):
        linux.ns_add(ns)


def ensure_segment_bridge(rack, network: str, vlan: int) -> str:
    """The switch's bridge for (network, VLAN), made when first needed."""
    ns = names.rack_ns(rack["id"])
    bridge = names.rack_bridge(rack["networks"][network]["index"], vlan)
    if not linux.link_exists(ns, bridge):
        linux.batch(ns, [f"link add {bridge} type bridge forward_delay 0",
                         f"link set {bridge} up"])
    return bridge


def join(rackdir, host_uuid: str, hostdir, tags: dict) -> dict:
    """Register a host; ``tags`` maps nic tag -> network. Returns its rack record."""
    root = Path(rackdir).resolve()
    with locked(root):
        rack = load(root)
        unknown = sorted(set(tags.values()) - set(rack["networks"]))
        if unknown:
            raise RackError(f"rack {root} has no network {', '.join(unknown)} "
                            f"(it has {', '.join(rack['networks'])})")
        index = rack["next_host"]
        limit = min(ipaddress.ip_network(n["cidr"]).num_addresses - 2
                    for n in rack["networks"].values())
        if index > limit:
            raise RackError(f"rack {root} is full ({limit} hosts)")
        rack["next_host"] = index + 1
        rack["hosts"][host_uuid] = {"index": index, "dir": str(Path(hostdir).resolve())}
        _save(root, rack)
    record = {"dir": str(root), "id": rack["id"], "index": index, "links": {}}
    for if_index, (tag, network) in enumerate(tags.items()):
        cidr = ipaddress.ip_network(rack["networks"][network]["cidr"])
        record["links"][f"e1000g{if_index}"] = {
            "tag": tag, "network": network, "if_index": if_index,
            "address": f"{cidr.network_address + index}/{cidr.prefixlen}"}
    return record


def destroy(rackdir):
    """Remove the rack's switch and every namespace of its hosts, then the rack."""
    root = Path(rackdir)
    rack = load(root)
    problems = []
    for host_uuid, member in rack["hosts"].items():
        varpd.stop(member["dir"])
        for ns in linux.ns_list(names.host_ns(host_uuid)):
            try:
                linux.ns_delete(ns)
            except linux.DataPlaneError as exc:
                problems.append(str(exc))
    try:
        linux.ns_delete(names.rack_ns(rack["id"]))
    except linux.DataPlaneError as exc:
        problems.append(str(exc))
    if problems:
        raise RackError("; ".join(problems))
    (root / RACK_FILE).unlink()
    with contextlib.suppress(OSError):
        (root / "lock").unlink()
        root.rmdir()
