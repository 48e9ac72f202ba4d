"""Conformance of the emulated sysinfo, kstat and nictagadm (reference §7, §8).

Each test's docstring names the fact of the reference it checks. VMs come
from fixture objects patched into ``vmstore`` (the vmadm emulation owns the
real store); one test at the end uses ``vmadm create`` when it exists.
"""

from __future__ import annotations

import io
import json
import re
import shlex

import pytest

# Imported up front so its tables are registered before init_host opens the
# state database (init_host imports it lazily, after connecting).
import openstack_smartos.sim.state.zfs  # noqa: F401

from openstack_smartos.sim.commands import kstat as sim_kstat
from openstack_smartos.sim import tools
from openstack_smartos.sim.state import vms as vmstore
from openstack_smartos.sim.host import SimHost, init_host

MIB = 1 << 20


def run(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    code = tools.run_tool(host.root, list(argv), stdin=io.BytesIO(stdin), stdout=out,
                          stderr=err)
    return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture
def host(tmp_path):
    return init_host(tmp_path / "h", cpus=4, memory_mib=8192, zpool_gib=300,
                     hostname="node1")


def make_vm(uuid, zoneid=None, state="running", boot="2026-01-01T00:00:00.000Z",
            brand="joyent", **extra):
    vm = {"uuid": uuid, "zonename": uuid, "brand": brand, "state": state,
          "max_physical_memory": 1024, "max_swap": 1024, "max_locked_memory": 1024,
          "max_lwps": 2000, "owner_uuid": "00000000-0000-0000-0000-000000000000",
          "firewall_enabled": False, "tags": {},
          "nics": [{"interface": "net0", "mac": "b2:1e:ba:a5:6e:70",
                    "nic_tag": "external", "ips": ["10.0.0.5/24"]}]}
    if zoneid is not None:
        vm.update(zoneid=zoneid, boot_timestamp=boot, pid=4000 + zoneid)
    vm.update(extra)
    return vm


UUID_A = "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
UUID_B = "0d0c3e4f-1111-4222-8333-944455556666"
BOOT = "2026-01-01T00:00:00.000Z"
BOOT_EPOCH = 1767225600  # 2026-01-01T00:00:00Z


@pytest.fixture
def vms(monkeypatch):
    """A mutable list of VM objects served by vmstore.all_vms/get_vm."""
    current = []
    monkeypatch.setattr(vmstore, "all_vms", lambda host: [dict(v) for v in current])
    monkeypatch.setattr(vmstore, "get_vm", lambda host, uuid: next(
        (dict(v) for v in current if v["uuid"] == uuid), None))
    return current


@pytest.fixture
def clock(monkeypatch):
    """Set the kstat emulator's clock: ``clock(epoch_seconds)``."""
    state = {"now": BOOT_EPOCH + 100.0}
    monkeypatch.setattr(sim_kstat, "_now", lambda: state["now"])

    def set_time(value):
        state["now"] = float(value)
    return set_time


def kstat_p(host, *args):
    code, out, err = run(host, "kstat", "-p", *args)
    assert code in (0, 1), err
    stats = {}
    for line in out.splitlines():
        key, value = line.split("\t", 1)
        stats[key] = value
    return code, stats


# -- sysinfo -----------------------------------------------------------------------

def test_sysinfo_memory_and_boot_time_are_strings(host):
    """§7: "MiB of Memory" and "Boot Time" are JSON strings (epoch seconds / MiB)."""
    code, out, _ = run(host, "sysinfo")
    assert code == 0
    info = json.loads(out)
    assert info["MiB of Memory"] == "8192"
    assert isinstance(info["Boot Time"], str)
    assert info["Boot Time"] == str(host.config["boot_time"])


def test_sysinfo_core_counts_are_numbers(host):
    """§7: CPU counts are JSON numbers; CPU Total Cores is the logical CPU count."""
    info = json.loads(run(host, "sysinfo")[1])
    for key in ("CPU Total Cores", "CPU Online Count", "CPU Count", "CPU Socket Count",
                "CPU Core Count", "CPU Physical Cores", "Zpool Size in GiB"):
        assert type(info[key]) is int, key
    assert info["CPU Online Count"] == 4
    assert info["CPU Total Cores"] == 4
    assert info["CPU Physical Cores"] == info["CPU Socket Count"]


def test_sysinfo_identity_pool_and_capabilities(host):
    """§7: UUID, Hostname, Zpool, "Zpool Size in GiB", VM/Bhyve Capable bools, vmx."""
    info = json.loads(run(host, "sysinfo")[1])
    assert info["UUID"] == host.config["uuid"]
    assert info["Hostname"] == "node1"
    assert info["Zpool"] == "zones"
    assert info["Zpool Size in GiB"] == 300
    assert info["VM Capable"] is True
    assert info["Bhyve Capable"] is True
    assert info["CPU Virtualization"] == "vmx"
    assert info["Live Image"] == host.config["live_image"]
    assert info["System Type"] == "SunOS"
    assert info["Admin IP"] == "127.0.0.1"


def test_sysinfo_network_interfaces_nic_names(host):
    """§7: "Network Interfaces" maps each NIC to MAC Address, ip4addr, Link Status
    and "NIC Names" (the nic tags)."""
    info = json.loads(run(host, "sysinfo")[1])
    nics = info["Network Interfaces"]
    assert set(nics) == set(host.config["interfaces"])
    for ifname, nic in host.config["interfaces"].items():
        assert nics[ifname]["MAC Address"] == nic["mac"]
        assert nics[ifname]["NIC Names"] == nic["nic_tags"]
        assert nics[ifname]["Link Status"] == "up"
    names = sorted(t for n in nics.values() for t in n["NIC Names"])
    assert names == ["admin", "external"]


def test_sysinfo_parsable_shell_lines(host):
    """§7: -p prints shell-style Key_Name='value' lines (spaces become underscores)."""
    code, out, _ = run(host, "sysinfo", "-p")
    assert code == 0
    values = {}
    for line in out.splitlines():
        assert re.match(r"^[A-Za-z0-9_]+=", line), line
        key, _, raw = line.partition("=")
        values[key] = shlex.split(raw)[0] if raw else ""
    assert values["Live_Image"] == host.config["live_image"]
    assert values["MiB_of_Memory"] == "8192"
    assert values["CPU_Online_Count"] == "4"
    assert values["UUID"] == host.config["uuid"]
    assert "CPU_Physical_Cores=1" in out.splitlines()
    assert values["Nic_Tags"].split(",") == ["admin", "external"]


def test_sysinfo_is_cached_until_refreshed(host):
    """§7: output is cached (/tmp/.sysinfo.json); -u refreshes it only, -f refreshes
    and prints."""
    assert json.loads(run(host, "sysinfo")[1])["Hostname"] == "node1"
    edit = SimHost(host.root)
    edit.config["hostname"] = "renamed"
    edit.save_config()
    assert json.loads(run(host, "sysinfo")[1])["Hostname"] == "node1"
    code, out, err = run(host, "sysinfo", "-u")
    assert (code, out) == (0, "")
    assert json.loads(run(host, "sysinfo")[1])["Hostname"] == "renamed"
    edit.config["memory_mib"] = 4096
    edit.save_config()
    assert json.loads(run(host, "sysinfo", "-f")[1])["MiB of Memory"] == "4096"


def test_sysinfo_bad_option_is_usage_error(host):
    """§0/§7: an unknown option is a usage error (exit 2, message on stderr)."""
    code, out, err = run(host, "sysinfo", "-z")
    assert code == 2 and out == "" and "Usage" in err


# -- nictagadm ----------------------------------------------------------------------------

def test_nictagadm_list_columns(host):
    """§7 (nictagadm list): default columns NAME MACADDRESS LINK TYPE."""
    code, out, _ = run(host, "nictagadm", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "MACADDRESS", "LINK", "TYPE"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    admin_mac = host.config["interfaces"]["e1000g0"]["mac"]
    assert rows["admin"] == ["admin", admin_mac, "e1000g0", "normal"]
    assert set(rows) == {"admin", "external"}


def test_nictagadm_list_parsable(host):
    """§7 (nictagadm list -p): no header, fields separated by ':' (escaped in MACs);
    -d changes the delimiter."""
    out = run(host, "nictagadm", "list", "-p")[1]
    lines = out.splitlines()
    assert len(lines) == 2
    mac = host.config["interfaces"]["e1000g0"]["mac"]
    assert lines[0] == "admin:" + mac.replace(":", "\\:") + ":e1000g0:normal"
    out = run(host, "nictagadm", "list", "-p", "-d", "|")[1]
    assert out.splitlines()[0] == f"admin|{mac}|e1000g0|normal"


def test_nictagadm_exists(host):
    """§7, net-formats §2: exists exits 0 when all exist; otherwise 1, with one
    stderr line per missing name ("invalid tag: <name>", just the name with -l)."""
    assert run(host, "nictagadm", "exists", "admin", "external")[0] == 0
    code, out, err = run(host, "nictagadm", "exists", "admin", "nope")
    assert (code, out, err) == (1, "", "invalid tag: nope\n")
    code, out, err = run(host, "nictagadm", "exists", "-l", "admin", "nope", "gone")
    assert code == 1 and out == ""
    assert err.splitlines() == ["nope", "gone"]
    assert run(host, "nictagadm", "exists")[0] == 2


def test_nictagadm_etherstub_lifecycle(host):
    """§7: add -l creates an etherstub tag (listed by nictagadm, usable as nic_tag);
    list -l shows only local tags, -L hides them; delete removes it."""
    assert run(host, "nictagadm", "add", "-l", "stub0")[0] == 0
    assert run(host, "nictagadm", "exists", "-l", "stub0")[0] == 0
    rows = [l.split(":") for l in run(host, "nictagadm", "list", "-p", "-l")[1].splitlines()]
    assert rows == [["stub0", "-", "-", "etherstub"]]
    names = [l.split(":")[0] for l in
             run(host, "nictagadm", "list", "-p", "-L")[1].splitlines()]
    assert names == ["admin", "external"]
    code, _, err = run(host, "nictagadm", "add", "-l", "stub0")
    assert code == 1 and "already exists" in err
    assert run(host, "nictagadm", "delete", "stub0")[0] == 0
    assert run(host, "nictagadm", "exists", "stub0")[0] == 1
    code, _, err = run(host, "nictagadm", "delete", "stub0")
    assert code == 1 and "does not exist" in err


def test_nictagadm_add_normal_tag_shows_in_sysinfo(host):
    """§7: NIC tags come from sysinfo "NIC Names"; a tag added on a NIC's MAC shows
    there (nictagadm refreshes the sysinfo cache)."""
    json.loads(run(host, "sysinfo")[1])  # populate the cache first
    mac = host.config["interfaces"]["e1000g1"]["mac"]
    assert run(host, "nictagadm", "add", "storage", mac)[0] == 0
    info = json.loads(run(host, "sysinfo")[1])
    assert info["Network Interfaces"]["e1000g1"]["NIC Names"] == ["external", "storage"]
    code, _, err = run(host, "nictagadm", "add", "other", "02:00:00:00:00:99")
    assert code == 1 and "physical nic" in err
    code, _, err = run(host, "nictagadm", "add", "nomac")
    assert code == 2


def test_nictagadm_delete_refuses_tag_in_use(host, vms):
    """§7 (nictagadm delete [-f]): a tag used by a VM's NIC is kept unless -f; vms
    lists the VMs using a tag."""
    vms.append(make_vm(UUID_A, zoneid=5))
    code, out, _ = run(host, "nictagadm", "vms", "external")
    assert (code, out.split()) == (0, [UUID_A])
    assert run(host, "nictagadm", "vms", "admin")[1] == ""
    code, _, err = run(host, "nictagadm", "delete", "external")
    assert code == 1 and "in use" in err
    assert run(host, "nictagadm", "exists", "external")[0] == 0
    assert run(host, "nictagadm", "delete", "-f", "external")[0] == 0
    assert run(host, "nictagadm", "exists", "external")[0] == 1


def test_nictagadm_usage(host):
    """§0: usage errors exit 2."""
    assert run(host, "nictagadm")[0] == 2
    assert run(host, "nictagadm", "frobnicate")[0] == 2
    assert run(host, "nictagadm", "list", "-x")[0] == 2


# -- kstat ----------------------------------------------------------------------------------

def test_kstat_parsable_format_and_global_stats(host, clock):
    """§8: kstat -p prints module:instance:name:statistic<TAB>value; the host's
    unix:0:system_misc:boot_time, system_pages and one cpu_info per CPU exist."""
    code, stats = kstat_p(host)
    assert code == 0
    for key in stats:
        assert len(key.split(":")) >= 4
    assert stats["unix:0:system_misc:boot_time"] == str(host.config["boot_time"])
    assert stats["unix:0:system_pages:pagestotal"] == str(8192 * MIB // 4096)
    assert 0 < int(stats["unix:0:system_pages:freemem"]) <= 8192 * MIB // 4096
    cpus = {k.split(":")[1] for k in stats if k.startswith("cpu_info:")}
    assert cpus == {"0", "1", "2", "3"}
    assert stats["cpu_info:2:cpu_info2:state"] == "on-line"


def test_kstat_per_zone_names_and_ids(host, vms, clock):
    """§8: per-zone kstats use instance = zoneid and name = zonename cut to 30
    characters; the zonename statistic holds the full name."""
    vms.append(make_vm(UUID_A, zoneid=7, boot=BOOT, cpu_cap=150))
    _, stats = kstat_p(host)
    short = UUID_A[:30]
    assert stats[f"zones:7:{short}:zonename"] == UUID_A
    assert stats[f"memory_cap:7:{short}:zonename"] == UUID_A
    assert f"zone_vfs:7:{short}:reads" in stats
    assert f"zone_zfs:7:{short}:nwritten" in stats
    assert f"tcp:7:tcp:currEstab" in stats
    assert f"link:0:z7_net0:rbytes64" in stats
    for rctl in ("lockedmem", "swapresv", "nprocs", "lwps", "cpucaps"):
        assert f"caps:7:{rctl}_zone_7:usage" in stats
    assert stats["zones:7:" + short + ":boot_time"] == str(BOOT_EPOCH)
    assert stats["zones:7:" + short + ":init_pid"] == "4007"


def test_kstat_memory_cap_from_vm(host, vms, clock):
    """§8: memory_cap physcap is bytes (max_physical_memory MiB × 2^20); rss never
    exceeds it; swapcap from max_swap."""
    vms.append(make_vm(UUID_A, zoneid=3, max_physical_memory=2048, max_swap=4096))
    _, stats = kstat_p(host, "memory_cap:3::")
    prefix = f"memory_cap:3:{UUID_A[:30]}:"
    assert int(stats[prefix + "physcap"]) == 2048 * MIB
    assert int(stats[prefix + "swapcap"]) == 4096 * MIB
    assert 0 < int(stats[prefix + "rss"]) <= 2048 * MIB
    assert stats[prefix + "class"] == "zone_memory_cap"


def test_kstat_cpucaps_only_with_cap(host, vms, clock):
    """§8: caps:<zid>:cpucaps_zone_<zid> is absent when there is no cpu_cap; value is
    the cap in percent."""
    vms.append(make_vm(UUID_A, zoneid=3))
    vms.append(make_vm(UUID_B, zoneid=4, cpu_cap=250))
    _, stats = kstat_p(host, "caps:::")
    assert not any(k.startswith("caps:3:cpucaps") for k in stats)
    assert stats["caps:4:cpucaps_zone_4:value"] == "250"
    assert int(stats["caps:4:cpucaps_zone_4:usage"]) <= 250
    assert stats["caps:3:swapresv_zone_3:zonename"] == UUID_A


def test_kstat_stopped_vms_have_no_zone_kstats(host, vms, clock):
    """§8/§2.2: zoneid exists only while running, so a stopped VM has no per-zone
    kstats."""
    vms.append(make_vm(UUID_A, zoneid=None, state="stopped"))
    _, stats = kstat_p(host)
    assert not any(UUID_A[:30] in key or value == UUID_A for key, value in stats.items())
    assert not any(key.startswith("link:") for key in stats)
    assert {k.split(":")[1] for k in stats if k.startswith("zones:")} == {"0"}


def test_kstat_counters_grow_while_running(host, vms, clock):
    """§8: nsec_user/nsec_sys, I/O and NIC counters are counters: they only grow
    while the zone runs, and CPU time stays within the cap."""
    vms.append(make_vm(UUID_A, zoneid=9, cpu_cap=50, vcpus=2, brand="bhyve", ram=512))
    keys = [f"zones:9:{UUID_A[:30]}:nsec_user", f"zones:9:{UUID_A[:30]}:nsec_sys",
            f"zone_vfs:9:{UUID_A[:30]}:reads", "link:0:z9_net0:obytes64",
            "tcp:9:tcp:activeOpens"]
    samples = []
    for elapsed in (100, 200, 5000):
        clock(BOOT_EPOCH + elapsed)
        _, stats = kstat_p(host)
        samples.append([int(stats[k]) for k in keys])
        cpu = int(stats[keys[0]]) + int(stats[keys[1]])
        assert cpu <= elapsed * 1e9 * 0.5  # cap 50% of one CPU
    for before, after in zip(samples, samples[1:]):
        for a, b in zip(before, after):
            assert b >= a
    assert samples[2][0] > samples[0][0]
    assert samples[2][3] > samples[0][3]


def test_kstat_counters_reset_at_new_boot(host, vms, clock):
    """§8: counters reset when the zone reboots: zoneid and kstats are recreated."""
    vms.append(make_vm(UUID_A, zoneid=9))
    clock(BOOT_EPOCH + 10000)
    _, before = kstat_p(host, "zones:::nsec_user")
    old = int(before[f"zones:9:{UUID_A[:30]}:nsec_user"])
    vms[0] = make_vm(UUID_A, zoneid=12, boot="2026-01-01T02:45:00.000Z")  # 9900 s later
    _, after = kstat_p(host, "zones:::nsec_user")
    assert f"zones:9:{UUID_A[:30]}:nsec_user" not in after
    assert int(after[f"zones:12:{UUID_A[:30]}:nsec_user"]) < old


def test_kstat_selectors(host, vms, clock):
    """§8: select with -m/-i/-n/-s and module:instance:name:statistic operands
    (globs and /regex/); exit 1 when nothing matches."""
    vms.append(make_vm(UUID_A, zoneid=5))
    vms.append(make_vm(UUID_B, zoneid=6))
    _, stats = kstat_p(host, "-m", "zones", "-i", "6")
    assert stats and all(k.startswith(f"zones:6:{UUID_B[:30]}:") for k in stats)
    _, stats = kstat_p(host, "-m", "zones", "-s", "nsec_*")
    assert sorted(k.split(":")[3] for k in stats if k.split(":")[1] == "5") == \
        ["nsec_sys", "nsec_user", "nsec_waitrq"]
    _, stats = kstat_p(host, "link:0:/^z[0-9]+_net0$/:rbytes64", "tcp:5:tcp:currEstab")
    assert set(stats) == {"link:0:z5_net0:rbytes64", "link:0:z6_net0:rbytes64",
                          "tcp:5:tcp:currEstab"}
    _, stats = kstat_p(host, "-c", "zone_memory_cap", "-s", "physcap")
    assert len(stats) == 2
    code, stats = kstat_p(host, "nosuch:::")
    assert code == 1 and stats == {}
    assert run(host, "kstat", "-Z")[0] == 2


def test_kstat_json(host, vms, clock):
    """§8: kstat -j prints JSON: module, instance, name, class and the statistics."""
    vms.append(make_vm(UUID_A, zoneid=5))
    code, out, _ = run(host, "kstat", "-j", "-m", "memory_cap")
    assert code == 0
    doc = json.loads(out)
    assert len(doc) == 1
    ks = doc[0]
    assert (ks["module"], ks["instance"], ks["name"], ks["class"]) == \
        ("memory_cap", 5, UUID_A[:30], "zone_memory_cap")
    assert ks["data"]["physcap"] == 1024 * MIB
    assert ks["data"]["zonename"] == UUID_A


def test_kstat_with_vmadm_created_vm(host):
    """§8 with the real emulated vmadm: a VM made by vmadm create has zone kstats
    keyed on its zoneid."""
    pytest.importorskip("openstack_smartos.sim.state.vms.store")
    host = SimHost(host.root)  # a connection opened after the VM store's tables exist
    try:
        vmstore.all_vms(host)
    except NotImplementedError:
        pytest.skip("the vmadm emulation is not available yet")
    uuid = "7e57c0de-0000-4000-8000-00000000ab01"
    payload = {"uuid": uuid, "brand": "bhyve", "alias": "ks", "ram": 256, "vcpus": 1,
               "cpu_cap": 100, "nics": [{"nic_tag": "external", "ips": ["10.9.0.2/24"],
                        "model": "virtio"}]}
    code, out, err = run(host, "vmadm", "create", stdin=json.dumps(payload).encode())
    assert code == 0, err
    vm = vmstore.get_vm(host, uuid)
    assert vm.get("state") == "running" and vm.get("zoneid") is not None
    _, stats = kstat_p(host, f"zones:{vm['zoneid']}::zonename")
    assert list(stats.values()) == [uuid]
    _, stats = kstat_p(host, f"memory_cap:{vm['zoneid']}::physcap")
    assert list(stats.values()) == [str(vm["max_physical_memory"] * MIB)]
    _, stats = kstat_p(host, f"caps:{vm['zoneid']}:cpucaps_zone_{vm['zoneid']}:value")
    assert list(stats.values()) == ["100"]
    assert run(host, "vmadm", "stop", uuid)[0] == 0
    _, stats = kstat_p(host, "zones:::zonename")
    assert uuid not in stats.values()
    assert run(host, "vmadm", "start", uuid)[0] == 0
    vm = vmstore.get_vm(SimHost(host.root), uuid)
    _, stats = kstat_p(host, "zones:::zonename")
    assert stats[f"zones:{vm['zoneid']}:{uuid[:30]}:zonename"] == uuid
