"""Emulated ``sysinfo`` (reference §7).

    sysinfo        JSON (from the cache, built when missing)
    sysinfo -p     shell-style Key_Name='value' lines
    sysinfo -f     refresh the cache, then print
    sysinfo -u     refresh the cache only

The cache lives at ``/tmp/.sysinfo.json`` inside the host's root, as on
SmartOS, so changes to the host configuration are seen only after ``-u`` or
``-f`` (or a new boot of the host, which empties /tmp). ``nictagadm`` refreshes
it after changing tags, as the real one does.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading

from openstack_smartos.sim.tools import ToolFailure

CPU_TYPE = "Intel(R) Xeon(R) CPU E5-2670 0 @ 2.60GHz"
CPU_MHZ = 2600
BHYVE_MAX_VCPUS = 32
USAGE = "Usage: sysinfo [-f|-p|-u]"


def topology(cpus: int) -> dict:
    """Sockets, cores and threads for ``cpus`` logical CPUs (shared with kstat)."""
    cpus = max(1, int(cpus))
    sockets = 2 if cpus >= 16 and cpus % 4 == 0 else 1
    per_socket = cpus // sockets
    threads = 2 if per_socket >= 4 and per_socket % 2 == 0 else 1
    return {"sockets": sockets, "threads_per_core": threads,
            "cores": cpus // threads, "cpus_per_socket": per_socket,
            "cores_per_socket": per_socket // threads}


def _padded_mac(mac: str) -> str:
    try:
        return ":".join(f"{int(part, 16):02x}" for part in mac.split(":"))
    except ValueError:
        return mac


def network_interfaces(host) -> dict:
    """"Network Interfaces" (net-formats §4): one entry per physical link, its
    zero-padded MAC, its address (or ""), its link state and the nic tags
    whose MAC is this link's."""
    cfg = host.config
    interfaces = {}
    for ifname in sorted(cfg.get("interfaces", {})):
        nic = cfg["interfaces"][ifname]
        interfaces[ifname] = {
            "MAC Address": _padded_mac(nic.get("mac", "")),
            "ip4addr": nic.get("ip4addr", "") or "",
            "Link Status": nic.get("link_status", "up"),
            "NIC Names": list(nic.get("nic_tags", [])),
        }
    return interfaces


def _cache_path(host):
    return host.path("root", "tmp", ".sysinfo.json")


def build(host) -> dict:
    """The sysinfo object for the host's current configuration."""
    cfg = host.config
    cpus = int(cfg.get("cpus", 1))
    topo = topology(cpus)
    zpool_gib = int(cfg.get("zpool_gib", 0))
    serial = hashlib.sha256(cfg["uuid"].encode()).hexdigest()[:10].upper()
    admin_tag = "admin"
    interfaces = network_interfaces(host)
    boot_time = int(cfg.get("boot_time", 0))
    return {
        "Live Image": cfg.get("live_image", ""),
        "System Type": "SunOS",
        "Boot Time": str(boot_time),
        "Manufacturer": "smartos-sim",
        "Product": "Emulated SmartOS host",
        "Serial Number": f"SIM-{serial}",
        "SKU Number": "",
        "HW Version": "",
        "HW Family": "",
        "Setup": "false",
        "VM Capable": True,
        "Bhyve Capable": True,
        "Bhyve Max Vcpus": BHYVE_MAX_VCPUS,
        "HVM API": True,
        "CPU Type": CPU_TYPE,
        "CPU Virtualization": "vmx",
        "CPU Physical Cores": topo["sockets"],
        "Admin NIC Tag": admin_tag,
        "UUID": cfg["uuid"],
        "Hostname": cfg.get("hostname", ""),
        "CPU Total Cores": cpus,
        "CPU Socket Count": topo["sockets"],
        "CPU Core Count": topo["cores"],
        "CPU Online Count": cpus,
        "CPU Count": cpus,
        "MiB of Memory": str(int(cfg.get("memory_mib", 0))),
        "Zpool": cfg.get("zpool", "zones"),
        "Zpool Encrypted": False,
        "Zpool Disks": "c1t0d0",
        "Zpool Profile": "striped",
        "Zpool Creation": int(cfg.get("zpool_creation", boot_time)),
        "Zpool Size in GiB": zpool_gib,
        "Disks": {"c1t0d0": {"Size in GB": int(zpool_gib * 2 ** 30 / 10 ** 9)}},
        "Boot Parameters": {"smartos": "true", "console": "text", "boot_args": "",
                            "bootargs": ""},
        "Network Interfaces": interfaces,
        "Virtual Network Interfaces": {},
        "Link Aggregations": {},
        "Admin IP": cfg.get("admin_ip", ""),
    }


def refresh(host) -> dict:
    """``sysinfo -u``: rebuild the cache and return the new object."""
    info = build(host)
    path = _cache_path(host)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n")
    os.replace(tmp, path)
    return info


def load(host) -> dict:
    """The cached object; rebuilt when absent or from an earlier boot."""
    try:
        info = json.loads(_cache_path(host).read_text())
    except (FileNotFoundError, ValueError):
        return refresh(host)
    if info.get("Boot Time") != str(int(host.config.get("boot_time", 0))):
        return refresh(host)
    return info


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _scalar(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return _shell_quote(str(value))


def _key(text: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in text.replace(" ", "_"))


def parsable(info: dict, rules=()) -> list[str]:
    """The ``-p`` lines for a sysinfo object; ``Nic_Tags`` also names the
    host's overlay ``rules`` (as ``nictagadm list -L`` does)."""
    lines = []
    tags = []
    for key, value in info.items():
        if key == "Network Interfaces":
            for ifname, nic in value.items():
                prefix = f"Network_Interface_{_key(ifname)}_"
                lines.append(prefix + "MAC_Address=" + _scalar(nic.get("MAC Address", "")))
                lines.append(prefix + "IPv4_Address=" + _scalar(nic.get("ip4addr", "")))
                lines.append(prefix + "Link_Status=" + _scalar(nic.get("Link Status", "")))
                names = nic.get("NIC Names", [])
                lines.append(prefix + "NIC_Names=" + _scalar(",".join(names)))
                for tag in names:
                    tags.append(tag)
                    lines.append(f"NIC_{_key(tag)}=" + _scalar(ifname))
        elif key == "Virtual Network Interfaces":
            for ifname, vnic in value.items():
                prefix = f"Virtual_Network_Interface_{_key(ifname)}_"
                for sub, subval in vnic.items():
                    if not isinstance(subval, (dict, list)):
                        lines.append(prefix + _key(sub) + "=" + _scalar(subval))
        elif key == "Disks":
            for disk, props in value.items():
                lines.append(f"Disk_{_key(disk)}_size_in_GB="
                             + _scalar(props.get("Size in GB", 0)))
        elif key == "Boot Parameters":
            for param, pval in value.items():
                lines.append(f"Boot_Parameter_{_key(param)}=" + _scalar(pval))
        elif isinstance(value, (dict, list)):
            continue
        else:
            lines.append(_key(key) + "=" + _scalar(value))
    lines.append("Nic_Tags=" + _scalar(",".join(dict.fromkeys([*tags, *rules]))))
    return lines


def main(ctx) -> int:
    mode = None
    for arg in ctx.args:
        if arg in ("-f", "-p", "-u"):
            if mode is not None and mode != arg:
                raise ToolFailure(USAGE, 2)
            mode = arg
        elif arg in ("-h", "-?", "--help"):
            ctx.out(USAGE)
            return 0
        else:
            raise ToolFailure(f"sysinfo: unknown option {arg!r}\n{USAGE}", 2)
    if mode == "-u":
        refresh(ctx.host)
        return 0
    info = refresh(ctx.host) if mode == "-f" else load(ctx.host)
    if mode == "-p":
        from openstack_smartos.sim.state.network import overlays
        for line in parsable(info, overlays.rules(ctx.host)):
            ctx.out(line)
    else:
        ctx.out(json.dumps(info, indent=2))
    return 0
