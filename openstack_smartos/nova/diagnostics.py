"""Server diagnostics from the VM and its zone's kstats (pure).

nova's standardised diagnostics (API microversion 2.48 on) name the driver
from a closed list of in-tree drivers, so an out-of-tree driver can only
answer the older free-form form (``get_diagnostics``), as a flat dict:

* ``state``, ``uptime`` (seconds since the zone booted), ``cpu_time`` (ns of
  user and system time, ``zones`` kstat);
* ``memory`` (the zone's cap) and ``memory-rss`` in KiB (``memory_cap``);
* ``zfs_read_bytes`` / ``zfs_write_bytes`` / ``zfs_reads`` / ``zfs_writes``
  (``zone_zfs``);
* per VNIC ``<interface>_rx``, ``_tx`` (bytes), ``_rx_packets``,
  ``_tx_packets``, ``_rx_errors``, ``_tx_errors`` (``link``).

A VM that is not running has no zone kstats: its diagnostics are its state
and its memory cap.
"""

from __future__ import annotations

LINK_FIELDS = {"rx": "rbytes64", "tx": "obytes64", "rx_packets": "ipackets64",
               "tx_packets": "opackets64", "rx_errors": "ierrors", "tx_errors": "oerrors"}
ZFS_FIELDS = {"zfs_read_bytes": "nread", "zfs_write_bytes": "nwritten",
              "zfs_reads": "reads", "zfs_writes": "writes"}


def legacy_diagnostics(vm: dict, stats, now: float) -> dict:
    """``vm``: its ``vmadm get`` object; ``stats``: its ZoneStats or None."""
    out = {"state": vm.get("state")}
    cap = vm.get("max_physical_memory")
    if cap is not None:
        out["memory"] = int(cap) * 1024
    if stats is None:
        return out
    if stats.boot_time:
        out["uptime"] = max(0, int(now) - int(stats.boot_time))
    out["cpu_time"] = stats.cpu_nsec
    if stats.rss is not None:
        out["memory-rss"] = int(stats.rss) // 1024
    for key, statistic in ZFS_FIELDS.items():
        if statistic in stats.zfs:
            out[key] = int(stats.zfs[statistic])
    for interface, link in sorted(stats.links.items()):
        for suffix, statistic in LINK_FIELDS.items():
            if statistic in link:
                out[f"{interface}_{suffix}"] = int(link[statistic])
    return out
