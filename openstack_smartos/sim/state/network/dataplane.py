"""A racked host's data plane, kept in step with its VMs.

The VM store calls ``vm_saved`` whenever a VM record changes and
``vm_removed`` when it goes; fwadm calls ``refresh_firewalls``. What happens
follows SmartOS:

* a boot (a new zoneid) creates the VM's namespace with one link per nic,
  as the zone's boot builds its VNICs; a halt removes it;
* while the VM runs, the nics' protections (``allow_*_spoofing``,
  ``allowed_ips``, ...) follow updates at once, as ``vmadm update`` resets
  the VNICs' link properties; every other nic change (tags, VLANs, MTU,
  addresses, added or removed nics) waits for the next boot;
* firewall tables follow every rule and VM change at once.

What a running VM was booted with is kept in ``DIR/net/<uuid>.json``, apart
from the state database, because it describes the Linux objects, which a
rolled-back transaction does not undo.

A host without a rack, or on a machine without root, has no data plane:
every function here then does nothing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time

from openstack_smartos.sim.state.network import (firewall, linux, names, overlays, plan,
                                                 rack, varpd, vxlan)

RECORDS = "net"


def replacing(family: str, table: str, body: str = "") -> str:
    """An nft script that replaces ``table`` with ``body`` (nothing: removes it) atomically."""
    return f"table {family} {table} {{}}\ndelete table {family} {table}\n{body}"


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


NO_FILTER = _digest(replacing("inet", firewall.TABLE))


def active(host) -> bool:
    record = host.config.get("rack")
    return bool(record) and linux.unavailable_reason() is None and os.path.exists(
        os.path.join(record["dir"], rack.RACK_FILE))


def host_ns(host) -> str:
    return names.host_ns(host.config["uuid"])


def vm_ns(host, vm_uuid) -> str:
    return names.vm_ns(host.config["uuid"], vm_uuid)


# -- the global zone ---------------------------------------------------------------------
def power_on(host):
    """Give a racked host its network back if it has none (after a stop).

    Like a host that boots, its running VMs get their links and filters
    again. Cheap when the network is there: one stat of the namespace.
    """
    if not active(host) or linux.ns_exists(host_ns(host)):
        return
    from openstack_smartos.sim.state import vms as vmstore
    with host.locked():
        if ensure_host(host):
            for record in overlays.list_all(host):
                vxlan.overlay_up(host, record, host_ns(host), local_addresses(host))
                if record["search"] == "svp":
                    varpd.ensure_running(host)
            for vm in vmstore.all_vms(host):
                if vm.get("zoneid") is not None:
                    vm_booted(host, vm)
            sync_firewalls(host)


def ensure_host(host):
    """Build the host's namespace if it is missing; True when it was built."""
    if not active(host) or linux.ns_exists(host_ns(host)):
        return False
    cfg = host.config
    record = cfg["rack"]
    the_rack = rack.load(record["dir"])
    ns = host_ns(host)
    try:
        linux.ns_add(ns)
        with rack.locked(record["dir"]):
            rack.ensure_switch(record["dir"], the_rack)
            for ifname, link in sorted(record["links"].items()):
                mac = cfg["interfaces"][ifname]["mac"]
                lines = [f"link add {ifname} address {mac} type bridge forward_delay 0",
                         f"link set {ifname} up"]
                if link.get("address"):
                    lines.append(f"address add {link['address']} dev {ifname}")
                linux.batch(ns, lines)
                _cable(host, the_rack, link, ifname, 0)
    except BaseException:
        teardown_host(host)
        raise
    return True


def _cable(host, the_rack, link, bridge, vlan):
    """Plug one of the host's segments into the rack's switch."""
    rack_ns = names.rack_ns(the_rack["id"])
    rack_bridge = rack.ensure_segment_bridge(the_rack, link["network"], vlan)
    up = names.uplink(link["if_index"], vlan)
    port = names.rack_port(host.config["rack"]["index"], link["if_index"], vlan)
    linux.batch(host_ns(host), [f"link add {up} type veth peer name {port} netns {rack_ns}",
                                f"link set {up} master {bridge} up"])
    linux.batch(rack_ns, [f"link set {port} master {rack_bridge} up"])
    linux.wait_forwarding(host_ns(host), [up])
    linux.wait_forwarding(rack_ns, [port])



def teardown_host(host):
    """Remove the host's namespace and every VM namespace of it, and its varpd."""
    varpd.stop(host.root)
    record = host.config.get("rack")
    if record:
        # The kernel destroys a deleted namespace's links later, in the
        # background; unplug the cables now so that a new start finds the
        # rack's port names free.
        rack_ns = names.rack_ns(record["id"])
        prefix = f"h{record['index']}i"
        for link in linux.links(rack_ns):
            if link["ifname"].startswith(prefix):
                linux.run(["ip", "-n", rack_ns, "link", "delete", link["ifname"]], check=False)
    for ns in linux.ns_list(host_ns(host)):
        linux.ns_delete(ns)
    folder = host.path(RECORDS)
    for name in os.listdir(folder) if folder.exists() else ():
        if name.endswith(".json"):   # boot records; the varpd log stays for a post-mortem
            os.unlink(folder / name)


# -- overlays --------------------------------------------------------------------------
def local_addresses(host) -> list[str]:
    return [link["address"].split("/")[0]
            for link in host.config.get("rack", {}).get("links", {}).values()
            if link.get("address")]


def overlay_up(host, record):
    """A new overlay record: realise it when the host has a data plane."""
    if active(host):
        ensure_host(host)
        vxlan.overlay_up(host, record, host_ns(host), local_addresses(host))
        if record["search"] == "svp":
            varpd.ensure_running(host)


def overlay_down(host, record):
    if active(host):
        vxlan.overlay_down(record, host_ns(host))
        if not any(o["search"] == "svp" for o in overlays.list_all(host)):
            varpd.stop(host.root)


# -- segments: a nic tag and VLAN as a bridge in the host namespace ----------------------
def segment(host, nic_tag: str, vlan: int, made=None) -> tuple[str, int | None]:
    """The bridge a nic on this tag and VLAN plugs into, and its MTU limit if any.

    Overlays this creates from their rule are appended to ``made``.
    """
    cfg = host.config
    ns = host_ns(host)
    if overlays.parse_tag(nic_tag):
        if vlan:
            raise linux.DataPlaneError(f'nic tag "{nic_tag}": VLANs inside overlays are '
                                       "not emulated")
        try:
            existed = overlays.get(host, "".join(map(str, overlays.parse_tag(nic_tag))))
            record = overlays.ensure_for_tag(host, nic_tag)
            if existed is None and made is not None:
                made.append(record)
        except overlays.OverlayError as exc:
            # What statechange's dladm create-overlay printed, as the boot's failure.
            raise linux.DataPlaneError("; ".join(exc.lines())) from None
        return vxlan.bridge_name(record), vxlan.mtu(record)
    for ifname, iface in sorted(cfg.get("interfaces", {}).items()):
        if nic_tag not in iface.get("nic_tags", []):
            continue
        link = cfg["rack"]["links"].get(ifname)
        if link is None:
            break
        bridge = names.segment_bridge(ifname, vlan)
        if vlan and not linux.link_exists(ns, bridge):
            linux.batch(ns, [f"link add {bridge} type bridge forward_delay 0",
                             f"link set {bridge} up"])
            with rack.locked(cfg["rack"]["dir"]):
                _cable(host, rack.load(cfg["rack"]["dir"]), link, bridge, vlan)
        return bridge, None
    if nic_tag in cfg.get("etherstubs", {}):
        bridge = names.short(nic_tag if not vlan else f"{nic_tag}v{vlan}")
        if not linux.link_exists(ns, bridge):
            linux.batch(ns, [f"link add {bridge} type bridge forward_delay 0",
                             f"link set {bridge} up"])
        return bridge, None
    raise linux.DataPlaneError(f'nic tag "{nic_tag}" has no link on this host')


def _release_segments(host, bridges, leaving=()):
    """Remove VLAN segments no VM uses any more (and their cables)."""
    ns = host_ns(host)
    plugged = {}
    for link in linux.links(ns):
        if link.get("master") and link["ifname"] not in leaving:
            plugged.setdefault(link["master"], []).append(link["ifname"])
    for bridge in bridges:
        ports = plugged.get(bridge, [])
        if all(port.startswith("up") for port in ports) and not _is_physical(host, bridge):
            for port in ports:
                linux.run(["ip", "-n", ns, "link", "delete", port], check=False)
            linux.run(["ip", "-n", ns, "link", "delete", bridge], check=False)


def _is_physical(host, bridge):
    return bridge in host.config["rack"]["links"]


# -- VMs ---------------------------------------------------------------------------------
def _record_path(host, uuid):
    return host.path(RECORDS, f"{uuid}.json")


def booted_record(host, uuid) -> dict | None:
    try:
        return json.loads(_record_path(host, uuid).read_text())
    except FileNotFoundError:
        return None


def _write_record(host, uuid, record):
    path = _record_path(host, uuid)
    path.parent.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record))
    os.replace(tmp, path)


def vm_booted(host, vm: dict):
    """Build a running VM's namespace from its nics (replacing a stale one)."""
    uuid = vm["uuid"]
    wanted = plan.vm_plan(vm)
    vm_teardown(host, uuid, hostlinks=[nic.hostlink for nic in wanted.nics])
    ns = vm_ns(host, uuid)
    hns = host_ns(host)
    bridges, made = [], []
    try:
        linux.ns_add(ns, loopback_up=False)   # the guest batch brings lo up
        # illumos answers ARP only for the link's own addresses, and has no
        # duplicate address detection delay worth emulating.
        linux.sysctl(ns, {"net.ipv4.conf.all.arp_ignore": 1,
                          "net.ipv4.conf.all.arp_announce": 2,
                          "net.ipv6.conf.all.accept_dad": 0,
                          "net.ipv6.conf.default.accept_dad": 0})
        _wait_vnics_gone(hns, {nic.hostlink for nic in wanted.nics})
        lines = []
        for nic in wanted.nics:
            bridge, limit = segment(host, nic.nic_tag, nic.vlan, made)
            if limit is not None and nic.mtu > limit:
                raise linux.DataPlaneError(
                    f"error creating VNIC {nic.interface} (global NIC {nic.nic_tag}): "
                    f"mtu {nic.mtu} is above the overlay's mtu {limit}")
            bridges.append(bridge)
            lines += [f"link add {nic.hostlink} mtu {nic.mtu} type veth peer name "
                      f"{nic.interface} address {nic.mac} mtu {nic.mtu} netns {ns}",
                      f"link set {nic.hostlink} master {bridge} up"]
        linux.batch(hns, lines)
        linux.batch(ns, plan.guest_batch(wanted))
        # A zone's boot is done once its VNICs pass traffic (the kernel enables
        # a bridge port when linkwatch sees the carrier, up to a second later).
        linux.wait_forwarding(hns, [nic.hostlink for nic in wanted.nics])
        table = names.nft_table(uuid)
        if wanted.nics:
            linux.nft(hns, plan.spoof_ruleset(table, wanted.nics))
        _write_record(host, uuid, {
            "zoneid": vm.get("zoneid"), "bridges": bridges,
            "protection": _digest(replacing("netdev", table, plan.spoof_ruleset(
                table, wanted.nics) if wanted.nics else "")),
            "nics": [dataclasses.asdict(nic) for nic in wanted.nics]})
    except BaseException:
        with contextlib.suppress(linux.DataPlaneError):
            vm_teardown(host, uuid, bridges, [nic.hostlink for nic in wanted.nics])
            # The failed boot's transaction forgets the overlays it made: so must Linux.
            for record in made:
                overlay_down(host, record)
        raise


def _wait_vnics_gone(hns, hostlinks, timeout=5.0):
    """Let the kernel finish removing an earlier boot's VNICs; remove stragglers."""
    deadline = time.monotonic() + timeout
    while True:
        present = hostlinks & {link["ifname"] for link in linux.links(hns)}
        if not present:
            return
        if time.monotonic() > deadline:
            linux.batch(hns, [f"link delete {link}" for link in sorted(present)])
            return
        time.sleep(0.01)


def vm_teardown(host, uuid, bridges=None, hostlinks=()):
    record = booted_record(host, uuid)
    hns = host_ns(host)
    if record is not None or linux.ns_exists(vm_ns(host, uuid)):
        linux.nft_delete_table(hns, "netdev", names.nft_table(uuid))
    # Deleting the namespace takes its VNICs with it, all at once (one by one,
    # each deletion waits for the kernel's grace period); the kernel finishes
    # in the background, so their host ends may still be seen for a moment.
    leaving = set(hostlinks) | {n["hostlink"] for n in (record or {}).get("nics", ())}
    linux.ns_delete(vm_ns(host, uuid))
    bridges = set(bridges or ()) | set((record or {}).get("bridges", ()))
    if bridges and linux.ns_exists(hns):
        _release_segments(host, sorted(bridges), leaving)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(_record_path(host, uuid))


def vm_protections(host, vm: dict):
    """Apply changed nic protections to a running VM's VNICs at once."""
    record = booted_record(host, vm["uuid"])
    if record is None:
        return
    current = {nic.get("mac", "").lower(): nic for nic in vm.get("nics") or []}
    nics = []
    for booted in record["nics"]:
        nic = current.get(booted["mac"])
        # A removed nic's VNIC keeps its settings until the next boot.
        guard = plan.protection(nic) if nic else _protection(booted["protection"])
        nics.append(plan.NicPlan(**{**booted, "addresses": tuple(booted["addresses"]),
                                    "gateways": tuple(booted["gateways"]),
                                    "protection": guard}))
    table = names.nft_table(vm["uuid"])
    ruleset = replacing("netdev", table, plan.spoof_ruleset(table, nics) if nics else "")
    digest = _digest(ruleset)
    if record.get("protection") != digest:   # most updates change no nic
        linux.nft(host_ns(host), ruleset)
        record["protection"] = digest
        _write_record(host, vm["uuid"], record)


def _protection(saved: dict) -> plan.Protection:
    return plan.Protection(**{key: tuple(value) if isinstance(value, list) else value
                              for key, value in saved.items()})


def vm_saved(host, uuid, before_boot):
    """The store changed a VM: follow boots, halts and live nic changes."""
    if not active(host):
        return
    from openstack_smartos.sim.state import vms as vmstore
    ensure_host(host)
    vm = vmstore.get_vm(host, uuid)
    now_boot = vm.get("zoneid") if vm else None
    if now_boot is None:
        if before_boot is not None or booted_record(host, uuid):
            vm_teardown(host, uuid)
    elif now_boot != before_boot or booted_record(host, uuid) is None:
        vm_booted(host, vm)
    else:
        vm_protections(host, vm)
    sync_firewalls(host)


def vm_removed(host, uuid):
    if active(host):
        vm_teardown(host, uuid)
        sync_firewalls(host)


# -- firewalls ---------------------------------------------------------------------------
def sync_firewalls(host):
    """Give every running VM the filter its rules ask for (none when disabled).

    Called after every change of a VM or a rule: a rule naming a tag or a VM
    stands for addresses of other VMs, so any VM's change may change them.
    """
    if not active(host):
        return
    from openstack_smartos.sim.state import vms as vmstore
    from openstack_smartos.sim.state.firewall import language, store
    vms = vmstore.all_vms(host)
    rules = store.load_rules(host)
    parse, vm_matches = language.parse, language.vm_matches
    for vm in vms:
        record = booted_record(host, vm["uuid"])
        if record is None:
            continue
        body = firewall.ruleset(vm, rules, vms, parse, vm_matches) \
            if vm.get("firewall_enabled") else ""
        text = replacing("inet", firewall.TABLE, body)
        digest = _digest(text)
        if record.get("firewall", NO_FILTER) == digest:
            continue   # a new boot has no table: NO_FILTER is what it has
        linux.nft(vm_ns(host, vm["uuid"]), text)
        record["firewall"] = digest
        _write_record(host, vm["uuid"], record)
