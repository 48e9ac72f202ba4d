"""The host's datalinks as dladm, nictagadm and sysinfo see them.

All of it comes from the emulated state, so it holds with or without a data
plane: physical links are ``host.config["interfaces"]``, etherstubs
``host.config["etherstubs"]``, overlays the records of
``state.network.overlays``, and every nic of a running VM (one with a
``zoneid``) is a VNIC named by its zone-local ``interface`` (net0, ...),
lent by the global zone to that zone (its ZONE is the VM's zonename).
"""

from __future__ import annotations

import contextlib
import re

from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.state.network import overlays

PHYS_SPEED = 10000
DEFAULT_MTU = 1500
ETHERSTUB_MTU = 9000


# -- configuration changes ------------------------------------------------------------
@contextlib.contextmanager
def changing_config(host):
    """Change ``host.config`` under the host lock; saved (and sysinfo's cache
    refreshed) only when the block ends without an exception."""
    with host.locked():
        host._config = None  # re-read under the lock: another process may have changed it
        yield host.config
        host.save_config()
        from openstack_smartos.sim.commands import sysinfo
        sysinfo.refresh(host)


def valid_link_name(name: str) -> bool:
    """dladm_valid_linkname: [A-Za-z0-9_.], no leading digit, ending in a number
    without leading zeros (the length is checked apart: under 32)."""
    match = re.fullmatch(r"[A-Za-z_.][A-Za-z0-9_.]*?([0-9]+)", name or "")
    return bool(match) and (len(match.group(1)) == 1 or match.group(1)[0] != "0")


def link_class(host, name: str) -> str | None:
    """The class of a global-zone link name: phys, etherstub, overlay or None."""
    cfg = host.config
    if name in cfg.get("interfaces", {}):
        return "phys"
    if name in cfg.get("etherstubs", {}):
        return "etherstub"
    if overlays.get(host, name) is not None:
        return "overlay"
    return None


def add_etherstub(host, name: str, entry: dict | None = None) -> bool:
    """Record an etherstub in the (freshly read, locked) configuration.

    False when the name is taken by another link (dladm's EEXIST). Shared by
    ``dladm create-etherstub`` and ``nictagadm add -l``, which runs it.
    """
    if link_class(host, name) is not None:
        return False
    host.config.setdefault("etherstubs", {})[name] = dict(entry or {})
    return True


# -- VMs and their VNICs ----------------------------------------------------------------
def all_vms(host) -> list[dict]:
    try:
        return vmstore.all_vms(host)
    except NotImplementedError:  # no VM store on this host yet
        return []


def running_vms(host, vms=None) -> list[dict]:
    return [vm for vm in (all_vms(host) if vms is None else vms)
            if vm.get("zoneid") is not None]


def resolve_tag(host, tag) -> str | None:
    """The global-zone link a nic tag puts a VNIC on (statechange ``setup_net``)."""
    if not isinstance(tag, str) or not tag:
        return None
    parsed = overlays.parse_tag(tag)
    if parsed is not None:
        return f"{parsed[0]}{parsed[1]}"
    cfg = host.config
    for ifname in sorted(cfg.get("interfaces", {})):
        if tag in cfg["interfaces"][ifname].get("nic_tags", []):
            return ifname
    if tag in cfg.get("etherstubs", {}) or tag in cfg.get("interfaces", {}):
        return tag
    return None


def vnics(host, vms=None) -> list[dict]:
    """One record per nic of every running VM, in VM then nic order."""
    out = []
    for vm in sorted(running_vms(host, vms), key=lambda v: v.get("zoneid") or 0):
        zone = vm.get("zonename") or vm["uuid"]
        for index, nic in enumerate(vm.get("nics") or []):
            tag = nic.get("nic_tag", "")
            out.append({
                "link": nic.get("interface") or f"net{index}",
                "over": resolve_tag(host, tag) or tag,
                "mac": nic.get("mac", ""),
                "vid": int(nic.get("vlan_id") or 0),
                "mtu": int(nic.get("mtu") or DEFAULT_MTU),
                "zone": zone,
                "uuid": vm["uuid"],
            })
    return out


def users_of(host, link: str, vms=None) -> list[str]:
    """Zones with a VNIC over ``link`` (which make it busy)."""
    return sorted({v["zone"] for v in vnics(host, vms) if v["over"] == link})


# -- physical links -------------------------------------------------------------------
def phys_mtu(host, ifname: str) -> int:
    """The MTU of a physical link: the largest MTU of its nic tags, else 1500."""
    cfg = host.config
    props = cfg.get("nic_tag_props", {})
    tags = cfg["interfaces"][ifname].get("nic_tags", [])
    return max([int(props.get(t, {}).get("mtu", DEFAULT_MTU)) for t in tags] + [DEFAULT_MTU])


def phys_state(host, ifname: str) -> str:
    return host.config["interfaces"][ifname].get("link_status", "up")


def dladm_mac(mac: str) -> str:
    """A MAC as dladm prints it: hex without leading zeros; all zero is ``unknown``."""
    try:
        parts = [int(p, 16) for p in (mac or "").split(":")]
    except ValueError:
        return mac or ""
    if not any(parts):
        return "unknown"
    return ":".join(f"{p:x}" for p in parts)
