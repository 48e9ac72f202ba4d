"""The dladm and ipadm clients, and nictagadm's overlay rules, over sim:// and ssh://.

Each test's docstring names the section of the network formats research
(net-formats §0-§3) or the client contract it checks.
"""

from __future__ import annotations

import json

import pytest

import openstack_smartos.sim.state.zfs  # noqa: F401  (tables before init_host)

from openstack_smartos.host import SmartOSHost, errors
from openstack_smartos.host.dladm import parse_rows
from openstack_smartos.host.transport import connect
from openstack_smartos.sim.state.network import overlays

VM_A = "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
FILES = {"vxlan/listen_ip": "127.0.0.1", "files/config": "/var/tmp/x.json"}


@pytest.fixture
def sim(sim_host):
    return sim_host()


@pytest.fixture
def host(sim):
    with SmartOSHost(connect(f"sim://{sim.root}")) as smartos:
        yield smartos


@pytest.fixture
def vms(fake_vms):
    return fake_vms


def running(uuid, zoneid, *nics):
    return {"uuid": uuid, "zonename": uuid, "state": "running", "zoneid": zoneid,
            "nics": list(nics)}


def test_parse_rows_unescapes_and_types():
    """§0: with several fields ':' and '\\' come escaped; empty and -- are None."""
    rows = parse_rows("net0:2\\:8\\:20\\:ab\\:c\\:1:0:--:a\\\\b\n", (
        "link", "macaddress", "vid", "zone", "over"))
    assert rows == [{"link": "net0", "macaddress": "2:8:20:ab:c:1", "vid": 0, "zone": None,
                     "over": "a\\b"}]


def test_phys_and_links(host, sim):
    """§1.2/§1.3: physical links with ints for speed and mtu, MACs as dladm prints them."""
    phys = host.dladm.show_phys()
    assert [p["link"] for p in phys] == sorted(sim.config["interfaces"])
    assert phys[0] == {"link": "e1000g0", "media": "Ethernet", "state": "up", "speed": 10000,
                       "duplex": "full", "device": "e1000g0"}
    mac = sim.config["interfaces"]["e1000g0"]["mac"]
    assert host.dladm.phys_macs()["e1000g0"] == ":".join(
        f"{int(p, 16):x}" for p in mac.split(":"))
    links = host.dladm.show_link()
    assert links[0] == {"link": "e1000g0", "class": "phys", "mtu": 1500, "state": "up",
                        "bridge": None, "over": None}


def test_vnics_of_running_zones_in_one_call(host, vms):
    """§1.4: one command lists the VNICs; zone= narrows and names the namespace."""
    host.dladm.create_etherstub("stub0")
    vms.append(running(VM_A, 3, {"interface": "net0", "mac": "02:08:20:ab:0c:01",
                                 "nic_tag": "external", "vlan_id": 5},
                       {"interface": "net1", "mac": "02:08:20:ab:0c:02", "nic_tag": "stub0"}))
    host.stats.reset()
    vnics = host.dladm.show_vnic()
    assert host.stats.round_trips == 1
    assert vnics == [
        {"link": "net0", "over": "e1000g1", "speed": 10000, "macaddress": "2:8:20:ab:c:1",
         "macaddrtype": "fixed", "vid": 5, "zone": VM_A},
        {"link": "net1", "over": "stub0", "speed": 0, "macaddress": "2:8:20:ab:c:2",
         "macaddrtype": "fixed", "vid": 0, "zone": VM_A}]
    assert [v["link"] for v in host.dladm.show_vnic(zone=VM_A, vnic="net1")] == ["net1"]
    assert host.dladm.show_vnic(link="stub0")[0]["link"] == "net1"
    assert host.dladm.show_vnic(zone="other") == []
    with pytest.raises(errors.NotFound):
        host.dladm.show_vnic(vnic="net0")  # not in the global zone's namespace
    assert [link["class"] for link in host.dladm.show_link(zone=VM_A)] == ["vnic", "vnic"]
    with pytest.raises(errors.Busy) as busy:
        host.dladm.delete_etherstub("stub0")
    assert busy.value.message == "dladm: vnic deletion failed: link busy"


def test_etherstub_round_trip_and_errors(host):
    """§1.5: create, list, delete; a duplicate is AlreadyExists, an unknown NotFound."""
    host.dladm.create_etherstub("stub0", temporary=True)
    assert host.dladm.show_etherstub() == ["stub0"]
    assert "stub0" in [t["name"] for t in host.nictagadm.list(local=True)]
    with pytest.raises(errors.AlreadyExists):
        host.dladm.create_etherstub("stub0")
    host.dladm.delete_etherstub("stub0")
    assert host.dladm.show_etherstub() == []
    with pytest.raises(errors.NotFound):
        host.dladm.delete_etherstub("stub0")
    with pytest.raises(errors.CommandError) as bad:
        host.dladm.create_etherstub("stub")
    assert bad.value.message == "dladm: invalid link name 'stub'"


def test_overlay_round_trip(host):
    """§1.6: create with one -p per property; show_overlay gives each property's perm,
    required, value, default and possible values; delete; missing names left out."""
    host.dladm.create_overlay("sdc_overlay4000", "vxlan", "files", 4000, FILES)
    shown = host.dladm.show_overlay(["sdc_overlay4000", "nope0"])
    props = shown["sdc_overlay4000"]
    assert list(shown) == ["sdc_overlay4000"]
    assert props["vnetid"]["value"] == "4000"
    assert props["mtu"] == {"perm": "rw", "required": False, "value": "1400",
                            "default": "1400", "possible": ["576-8900"]}
    assert props["search"]["possible"] == ["direct", "files", "svp"]
    assert props["files/config"]["required"] is True
    assert host.dladm.overlay_exists("sdc_overlay4000")
    assert not host.dladm.overlay_exists("other4000")
    assert host.dladm.show_overlay() == shown
    host.dladm.delete_overlay("sdc_overlay4000")
    assert host.dladm.show_overlay() == {}
    with pytest.raises(errors.NotFound):
        host.dladm.delete_overlay("sdc_overlay4000")


def test_overlay_refusals(host, vms):
    """§1.6: the errlist stays in stderr, the last line is the message; duplicates are
    AlreadyExists; a busy overlay is Busy; commas in values are refused locally."""
    with pytest.raises(errors.CommandError) as missing:
        host.dladm.create_overlay("sdc_overlay4000", "vxlan", "files", 4000,
                                  {"vxlan/listen_ip": "127.0.0.1"})
    assert missing.value.message == "dladm: overlay creation failed: try again later"
    assert "unset required property: files/config" in missing.value.stderr
    host.dladm.create_overlay("sdc_overlay4000", "vxlan", "files", 4000, FILES)
    with pytest.raises(errors.AlreadyExists):
        host.dladm.create_overlay("other4000", "vxlan", "files", 4000, FILES)
    with pytest.raises(ValueError):
        host.dladm.create_overlay("x1", "vxlan", "files", 1, {"files/config": "/a,b"})
    vms.append(running(VM_A, 3, {"interface": "net0", "mac": "02:00:00:00:00:01",
                                 "nic_tag": "sdc_overlay/4000"}))
    with pytest.raises(errors.Busy):
        host.dladm.delete_overlay("sdc_overlay4000")


def test_ipadm_show_addr(host, sim):
    """§3: loopback, the configured interfaces as <if>/?, IPv6 unescaped."""
    addrs = host.ipadm.show_addr()
    assert [a["addrobj"] for a in addrs] == ["lo0/v4", "e1000g0/?", "lo0/v6"]
    assert addrs[-1] == {"addrobj": "lo0/v6", "type": "static", "state": "ok",
                         "addr": "::1/128"}
    with pytest.raises(errors.NotFound):
        host.ipadm.show_addr("lo0/v9")


def test_nictagadm_overlay_rules(host, sim):
    """§2: overlay rules are listed with type overlay_rule; exists takes rule/N only."""
    path = sim.path("root", overlays.RULES_PATH)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"sdc_overlay": "-e vxlan -s svp"}))
    assert host.nictagadm.overlay_rules() == ["sdc_overlay"]
    rule = [t for t in host.nictagadm.list() if t["name"] == "sdc_overlay"][0]
    assert rule == {"name": "sdc_overlay", "mac": None, "link": None, "type": "overlay_rule"}
    assert host.nictagadm.exists(["sdc_overlay/4000", "admin"]) == []
    assert host.nictagadm.exists(["sdc_overlay", "nope/1"]) == ["sdc_overlay", "nope/1"]


def test_dladm_over_ssh(served_host):
    """The same calls over ssh://: argv quoting, escaped ':' in values, error classes."""
    served = served_host()
    with SmartOSHost(served.transport()) as host:
        config = {**FILES, "files/config": "/var/tmp/a:b 'c'.json"}
        host.dladm.create_overlay("sdc_overlay4000", "vxlan", "files", 4000, config)
        props = host.dladm.show_overlay("sdc_overlay4000")["sdc_overlay4000"]
        assert props["files/config"]["value"] == "/var/tmp/a:b 'c'.json"
        host.dladm.create_etherstub("stub0")
        assert host.dladm.show_etherstub() == ["stub0"]
        assert [p["link"] for p in host.dladm.show_phys()] == ["e1000g0", "e1000g1"]
        with pytest.raises(errors.AlreadyExists):
            host.dladm.create_overlay("sdc_overlay4000", "vxlan", "files", 4001, FILES)
        with pytest.raises(errors.NotFound):
            host.dladm.delete_overlay("nope0")
