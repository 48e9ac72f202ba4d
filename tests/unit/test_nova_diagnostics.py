"""Server diagnostics from a VM and its zone kstats (pure, no mocks)."""

from __future__ import annotations

from openstack_smartos.host.kstat import ZoneStats
from openstack_smartos.nova.diagnostics import legacy_diagnostics

VM = {"uuid": "u", "state": "running", "max_physical_memory": 512, "zoneid": 7}


def test_running_zone_counters():
    stats = ZoneStats(
        zoneid=7, zonename="u",
        misc={"nsec_user": 3_000, "nsec_sys": 2_000, "boot_time": 1_000},
        memory={"rss": 64 << 20, "physcap": 512 << 20},
        zfs={"nread": 8192, "nwritten": 4096, "reads": 2, "writes": 1},
        links={"net0": {"rbytes64": 100, "obytes64": 50, "ipackets64": 3,
                        "opackets64": 2, "ierrors": 0, "oerrors": 1}})
    assert legacy_diagnostics(VM, stats, now=1_060.5) == {
        "state": "running", "uptime": 60, "cpu_time": 5_000,
        "memory": 512 * 1024, "memory-rss": 64 * 1024,
        "zfs_read_bytes": 8192, "zfs_write_bytes": 4096, "zfs_reads": 2, "zfs_writes": 1,
        "net0_rx": 100, "net0_tx": 50, "net0_rx_packets": 3, "net0_tx_packets": 2,
        "net0_rx_errors": 0, "net0_tx_errors": 1}


def test_stopped_vm_has_state_and_cap_only():
    assert legacy_diagnostics({**VM, "state": "stopped"}, None, now=0) == \
        {"state": "stopped", "memory": 512 * 1024}
