"""The sysinfo, kstat, nictagadm and fwadm clients over the sim:// transport.

Each test's docstring names the fact of the reference (or the client
contract) it checks.
"""

from __future__ import annotations

import pytest

# Imported up front so its tables are registered before init_host opens the
# state database (init_host imports it lazily, after connecting).
import openstack_smartos.sim.state.zfs  # noqa: F401

from openstack_smartos.host import errors
from openstack_smartos.host.fwadm import Fwadm
from openstack_smartos.host.kstat import Kstat, ZoneStats, parse
from openstack_smartos.host.nictagadm import Nictagadm, parse_list
from openstack_smartos.host.sysinfo import Sysinfo
from openstack_smartos.host.transport import connect
from openstack_smartos.sim.commands import kstat as sim_kstat
from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.host import init_host

MIB = 1 << 20
VM_A = "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
VM_B = "0d0c3e4f-1111-4222-8333-944455556666"
OWNER = "930896af-bf8c-48d4-885c-6573a94b1853"
BOOT_EPOCH = 1767225600  # 2026-01-01T00:00:00Z


@pytest.fixture
def hostdir(tmp_path):
    init_host(tmp_path / "h", cpus=4, memory_mib=8192)
    return tmp_path / "h"


@pytest.fixture
def transport(hostdir):
    t = connect("sim://" + str(hostdir))
    yield t
    t.close()


@pytest.fixture
def vms(monkeypatch):
    current = [
        {"uuid": VM_A, "zonename": VM_A, "brand": "bhyve", "state": "running",
         "zoneid": 11, "boot_timestamp": "2026-01-01T00:00:00.000Z", "pid": 999,
         "ram": 1024, "vcpus": 2, "max_physical_memory": 2304, "max_swap": 2304,
         "max_locked_memory": 2304, "cpu_cap": 200, "owner_uuid": OWNER,
         "firewall_enabled": True, "tags": {"role": "web"},
         "nics": [{"interface": "net0", "nic_tag": "external"},
                  {"interface": "net1", "nic_tag": "admin"}]},
        {"uuid": VM_B, "zonename": VM_B, "brand": "joyent", "state": "stopped",
         "max_physical_memory": 256, "owner_uuid": OWNER, "firewall_enabled": False,
         "tags": {}, "nics": [{"interface": "net0", "nic_tag": "external"}]},
    ]
    monkeypatch.setattr(vmstore, "all_vms", lambda host: [dict(v) for v in current])
    monkeypatch.setattr(vmstore, "get_vm", lambda host, uuid: next(
        (dict(v) for v in current if v["uuid"] == uuid), None))
    monkeypatch.setattr(sim_kstat, "_now", lambda: BOOT_EPOCH + 3600.0)
    return current


# -- sysinfo -------------------------------------------------------------------------

def test_sysinfo_reflects_host_figures(hostdir, transport):
    """§7: the client returns ints for "MiB of Memory" / "Boot Time" (strings in the
    JSON) and for the CPU, pool figures; values match the emulated host."""
    import json
    config = json.loads((hostdir / "host.json").read_text())
    info = Sysinfo(transport)
    assert info.cpu_count == 4
    assert info.memory_mib == 8192 and isinstance(info.memory_mib, int)
    assert info.uuid == config["uuid"]
    assert info.zpool_size_gib == config["zpool_gib"]
    assert info.boot_time == config["boot_time"] and isinstance(info.boot_time, int)
    assert info.nic_tags() == ["admin", "external"]
    assert info.hostname == config["hostname"]
    assert info.bhyve_capable is True
    assert info.get()["MiB of Memory"] == "8192"


def test_sysinfo_client_caches_and_refreshes(transport):
    """Client contract: get() is cached per client (one round trip); get(refresh=True)
    runs `sysinfo -f`."""
    info = Sysinfo(transport)
    transport.stats.reset()
    info.get()
    info.get()
    _ = info.memory_mib, info.cpu_count, info.uuid
    assert transport.stats.round_trips == 1
    info.get(refresh=True)
    snap = transport.stats.snapshot()
    assert snap["round_trips"] == 2
    assert snap["by_command"].get("sysinfo -f") == 1


def test_sysinfo_parsable(transport):
    """§7: `sysinfo -p` Key_Name='value' lines parse back to the JSON values."""
    info = Sysinfo(transport)
    flat = info.parsable()
    assert flat["MiB_of_Memory"] == "8192"
    assert flat["UUID"] == info.uuid
    assert flat["Nic_Tags"] == "admin,external"


# -- kstat -----------------------------------------------------------------------------

def test_kstat_read_types(transport, hostdir):
    """§8: `kstat -p` keys are (module, instance, name, statistic); numeric values
    come back as ints."""
    ks = Kstat(transport)
    pages = ks.read(module="unix", instance=0, name="system_pages")
    assert pages[("unix", 0, "system_pages", "pagestotal")] == 8192 * MIB // 4096
    assert isinstance(pages[("unix", 0, "system_pages", "freemem")], int)
    assert pages[("unix", 0, "system_pages", "class")] == "pages"
    cpus = ks.read(module="cpu_info", statistic="state")
    assert sorted(k[1] for k in cpus) == [0, 1, 2, 3]
    assert set(cpus.values()) == {"on-line"}
    assert ks.read(module="nosuchmodule") == {}


def test_kstat_parse_handles_colons_and_floats():
    """§8: the statistic is after the last ':'; hrtimes such as crtime are floats."""
    stats = parse("zones:5:abc:nsec_user\t123\nzones:5:abc:crtime\t12.500000000\n"
                  "zones:5:abc:zonename\tabc\n")
    assert stats == {("zones", 5, "abc", "nsec_user"): 123,
                     ("zones", 5, "abc", "crtime"): 12.5,
                     ("zones", 5, "abc", "zonename"): "abc"}


def test_kstat_zone_stats_one_call(transport, vms):
    """§8: zone_stats() reads every running zone's CPU, caps, memory, VFS, ZFS, NIC
    and TCP kstats in ONE command, keyed by the zonename statistic."""
    ks = Kstat(transport)
    transport.stats.reset()
    zones = ks.zone_stats()
    assert transport.stats.round_trips == 1
    assert VM_B not in zones  # stopped: no zone kstats
    zone = zones[VM_A]
    assert isinstance(zone, ZoneStats)
    assert zone.zoneid == 11
    assert zone.physcap == 2304 * MIB
    assert 0 < zone.rss <= zone.physcap
    assert zone.cpu_cap == 200
    assert 0 < zone.cpu_nsec <= 3600 * 10 ** 9 * 2
    assert zone.boot_time == BOOT_EPOCH
    assert set(zone.links) == {"net0", "net1"}
    assert zone.links["net0"]["rbytes64"] > 0
    assert {"swapresv", "lockedmem", "nprocs", "lwps", "cpucaps"} <= set(zone.caps)
    assert zone.tcp["rtoAlgorithm"] == 4
    assert zone.vfs["zonename"] == VM_A and "nwritten" in zone.zfs
    assert zones["global"].zoneid == 0
    only = ks.zone_stats(zoneid=11)
    assert list(only) == [VM_A]
    assert only[VM_A].links.keys() == {"net0", "net1"}


# -- nictagadm ---------------------------------------------------------------------------

def test_nictagadm_list_and_exists(transport, hostdir):
    """§7: list (-p) gives name, MAC, link and type; exists() returns the missing
    names (from `exists -l` stderr)."""
    tags = Nictagadm(transport)
    listed = {t["name"]: t for t in tags.list()}
    assert set(listed) == {"admin", "external"}
    assert listed["admin"]["link"] == "e1000g0"
    assert listed["admin"]["type"] == "normal"
    assert listed["admin"]["mac"] == Sysinfo(transport).interfaces()["e1000g0"]["MAC Address"]
    assert tags.exists(["admin", "external"]) == []
    assert tags.exists(["admin", "nope", "gone"]) == ["nope", "gone"]
    assert tags.exists("admin") == []


def test_nictagadm_etherstub_round_trip(transport, vms):
    """§7: add -l makes an etherstub (mac/link None); delete refuses a tag a VM uses
    (errors.CommandError) unless forced; vms() lists the users."""
    tags = Nictagadm(transport)
    tags.add_etherstub("stub0", mtu=9000)
    assert tags.list(local=True) == [{"name": "stub0", "mac": None, "link": None,
                                      "type": "etherstub"}]
    assert [t["name"] for t in tags.list(local=False)] == ["admin", "external"]
    with pytest.raises(errors.AlreadyExists):
        tags.add_etherstub("stub0")
    tags.delete("stub0")
    assert tags.exists(["stub0"]) == ["stub0"]
    assert tags.vms("external") == sorted([VM_A, VM_B])
    with pytest.raises(errors.CommandError, match="in use"):
        tags.delete("external")
    tags.delete("external", force=True)
    assert tags.exists(["external"]) == ["external"]
    with pytest.raises(errors.NotFound):
        tags.delete("external")


def test_nictagadm_parse_unescaped_macs():
    """§7: `list -p` is ':'-separated; MAC colons may or may not be escaped."""
    expected = [{"name": "admin", "mac": "00:0c:29:a1:d5:48", "link": "e1000g0",
                 "type": "normal"}]
    assert parse_list("admin:00\\:0c\\:29\\:a1\\:d5\\:48:e1000g0:normal\n") == expected
    assert parse_list("admin:00:0c:29:a1:d5:48:e1000g0:normal\n") == expected


# -- fwadm ---------------------------------------------------------------------------------

def test_fwadm_add_get_list(transport, vms):
    """§9: add (JSON on stdin, -j results) returns stored rules with uuids, canonical
    text and `enabled`; get and list return the same JSON."""
    fw = Fwadm(transport)
    added = fw.add([f"from any to vm {VM_A} allow tcp port 22",
                    {"rule": "FROM any TO tag role = web ALLOW tcp PORTS 443, 80",
                     "enabled": False, "description": "web"}],
                   enable=True, owner_uuid=OWNER)
    assert [r["enabled"] for r in added] == [True, False]
    assert added[0]["rule"] == f"FROM any TO vm {VM_A} ALLOW tcp PORT 22"
    assert added[1]["rule"] == "FROM any TO tag role = web ALLOW tcp PORTS 80, 443"
    assert all(r["owner_uuid"] == OWNER for r in added)
    assert fw.get(added[1]["uuid"]) == added[1]
    assert [r["uuid"] for r in fw.list()] == [r["uuid"] for r in added]
    assert {r["uuid"] for r in fw.rules_for_vm(VM_A)} == {r["uuid"] for r in added}
    assert fw.rules_for_vm(VM_B) == []
    assert fw.vms(added[0]["uuid"]) == [VM_A]
    assert fw.status(VM_A) is True and fw.status(VM_B) is False


def test_fwadm_update_enable_disable_delete(transport):
    """§9: update/enable/disable/delete by uuid; a missing rule is errors.NotFound and
    an invalid rule a CommandError carrying fwadm's message."""
    fw = Fwadm(transport)
    (rule,) = fw.add("FROM any TO all vms ALLOW tcp PORT 22")
    assert rule["enabled"] is False
    updated = fw.update(rule["uuid"], rule="FROM any TO all vms ALLOW tcp PORT 2222",
                        description="moved")
    assert updated["rule"].endswith("PORT 2222") and updated["description"] == "moved"
    assert fw.enable(rule["uuid"])[0]["enabled"] is True
    assert fw.get(rule["uuid"])["enabled"] is True
    assert fw.disable([rule["uuid"]])[0]["enabled"] is False
    assert [r["uuid"] for r in fw.delete(rule["uuid"])] == [rule["uuid"]]
    with pytest.raises(errors.NotFound):
        fw.get(rule["uuid"])
    with pytest.raises(errors.NotFound):
        fw.enable(rule["uuid"])
    with pytest.raises(errors.CommandError) as info:
        fw.add("FROM any TO any ALLOW tcp PORT 1")
    assert info.value.message == "rule does not affect VMs"
    assert fw.list() == []
