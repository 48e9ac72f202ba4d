"""VXLAN overlays as SmartOS does them: overlay rules, nic tags rule/vnet, files and svp.

neutron-integration.md §6.3-6.4 and illumos overlay(7), overlay_files(5),
libvarpd_svp: a zone's boot creates the overlay <rule><vnet> from the rule;
a MAC is reachable only where the search plugin says; broadcasts do not
cross; proxy ARP answers from the plugin; svp asks the server per miss and
follows its invalidation log.
"""

from __future__ import annotations

import json

import pytest

from netprobe import in_ns, nic, ns_of, ok, ping, reaches, smartos_namespaces, tool
from openstack_smartos.sim import cli
from openstack_smartos.sim.state.network import linux
from svp_server import SVPServer

RULES = "var/run/smartdc/networking/overlay_rules.json"


def _write(host, path, data):
    target = host.path("root", path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data))


def _files_rule(host, mtu=1450):
    ip = host.config["admin_ip"]
    _write(host, RULES, {"sdc_overlay": f"-e vxlan -s files -p vxlan/listen_ip={ip},"
                                        f"files/config=/var/tmp/vnets.json -p mtu={mtu}"})


def _mac(n):
    return f"02:00:5e:00:00:{n:02x}"


def _entry(host, n):
    return {"ip": host.config["admin_ip"], "port": 4789, "arp": f"10.50.0.{n}"}


def test_files_overlay_connects_its_vnet_across_hosts_and_nothing_else(rack):
    h1, h2 = rack.host("h1"), rack.host("h2")
    table = {_mac(1): _entry(h1, 1), _mac(2): _entry(h2, 2), _mac(3): _entry(h2, 3)}
    for host in (h1, h2):
        _files_rule(host)
        _write(host, "var/tmp/vnets.json", table)
    a = rack.zone(h1, nic("sdc_overlay/4000", "10.50.0.1/24", mac=_mac(1), mtu=1450))
    b = rack.zone(h2, nic("sdc_overlay/4000", "10.50.0.2/24", mac=_mac(2), mtu=1450))
    c = rack.zone(h2, nic("sdc_overlay/4001", "10.50.0.3/24", mac=_mac(3), mtu=1450))
    unlisted = rack.zone(h2, nic("sdc_overlay/4000", "10.50.0.4/24", mac=_mac(4), mtu=1450))
    assert reaches(ns_of(h1, a), "10.50.0.2") and reaches(ns_of(h2, b), "10.50.0.1")
    # The full overlay MTU crosses: 1450 - 28 bytes of IP and ICMP headers.
    assert in_ns(ns_of(h1, a), "ping", "-c1", "-W1", "-M", "do", "-s", "1422",
                 "10.50.0.2").returncode == 0
    assert not ping(ns_of(h1, a), "10.50.0.3")       # another vnet
    assert not ping(ns_of(h1, a), "10.50.0.4")       # no mapping: nothing is flooded
    # The zones' boots made the overlays from the rule, as dladm shows them.
    names = {o["name"] for o in _overlays(h2)}
    assert names == {"sdc_overlay4000", "sdc_overlay4001"}
    assert c and unlisted


def _overlays(host):
    from openstack_smartos.sim.state.network import overlays
    with host.locked():
        return overlays.list_all(host)


def test_a_vnic_mtu_above_the_overlays_fails_the_boot_and_leaves_nothing(rack):
    host = rack.host("h1")
    _files_rule(host, mtu=1400)
    _write(host, "var/tmp/vnets.json", {})
    payload = {"brand": "joyent-minimal", "image_uuid": rack.image(host), "autoboot": True,
               "nics": [nic("sdc_overlay/4000", "10.50.0.1/24")]}
    result = tool(host, "vmadm", "create", stdin=payload)
    assert result.code == 1 and "above the overlay's mtu 1400" in result.err
    assert tool(host, "vmadm", "list", "-H").out == ""
    prefix = f"smartos-{host.config['uuid'][:8]}"
    assert [ns for ns in smartos_namespaces() if ns.startswith(prefix + "-")] == []
    assert _overlays(host) == []
    assert not [link for link in linux.links(prefix) if link["ifname"].startswith(("sdc", "vx"))]


def test_a_missing_overlay_rule_fails_the_boot(rack):
    host = rack.host("h1")
    payload = {"brand": "joyent-minimal", "image_uuid": rack.image(host), "autoboot": True,
               "nics": [nic("nosuchrule/4000", "10.50.0.1/24")]}
    result = tool(host, "vmadm", "create", stdin=payload)
    assert result.code == 1 and "nosuchrule" in result.err


@pytest.fixture
def svp_server():
    server = SVPServer()
    yield server
    server.close()


def _svp_rule(host, server):
    ip = host.config["admin_ip"]
    _write(host, RULES, {"sdc_overlay": f"-e vxlan -s svp -p svp/host={server.address} "
                                        f"-p svp/port={server.port} -p svp/underlay_ip={ip} "
                                        f"-p vxlan/listen_ip={ip} -p mtu=1450"})
    assert cli.main(["timings", str(host.root), "svp_log_seconds=0.3"]) == 0


def test_svp_overlay_asks_the_server_and_follows_a_move(rack, svp_server):
    h1, h2, h3 = rack.host("h1"), rack.host("h2"), rack.host("h3")
    for host in (h1, h2, h3):
        _svp_rule(host, svp_server)
    svp_server.place(4000, _mac(1), "10.50.0.1", h1.config["admin_ip"])
    svp_server.place(4000, _mac(2), "10.50.0.2", h2.config["admin_ip"])
    svp_server.place(4001, _mac(3), "10.50.0.3", h2.config["admin_ip"])
    a = rack.zone(h1, nic("sdc_overlay/4000", "10.50.0.1/24", mac=_mac(1), mtu=1450))
    b = rack.zone(h2, nic("sdc_overlay/4000", "10.50.0.2/24", mac=_mac(2), mtu=1450))
    rack.zone(h2, nic("sdc_overlay/4001", "10.50.0.3/24", mac=_mac(3), mtu=1450))
    # The first ARP of each side is lost while varpd asks (its answer is then
    # in the proxy table); the guests' ARP retransmission gets through.
    assert reaches(ns_of(h1, a), "10.50.0.2", timeout=10)
    assert svp_server.count(0x05) >= 2          # VL3_REQ: each side's ARP was asked for
    assert not ping(ns_of(h1, a), "10.50.0.3")    # the server knows it on vnet 4001 only
    # The VM moves to h3 (same MAC and IP); the server logs it for every host.
    ok(h2, "vmadm", "delete", b)
    moved = rack.zone(h3, nic("sdc_overlay/4000", "10.50.0.2/24", mac=_mac(2), mtu=1450))
    svp_server.move(4000, _mac(2), h3.config["admin_ip"],
                    [h.config["admin_ip"] for h in (h1, h2, h3)])
    assert reaches(ns_of(h1, a), "10.50.0.2", timeout=15)
    assert svp_server.count(0x0B) >= 1          # LOG_RM: the records were consumed
    assert moved


def test_dladm_overlay_commands_drive_the_linux_overlay(rack):
    host = rack.host("h1")
    ip = host.config["admin_ip"]
    _write(host, "var/tmp/vnets.json", {})
    ok(host, "dladm", "create-overlay", "-e", "vxlan", "-s", "files", "-v", "4100", "-p",
       f"vxlan/listen_ip={ip},files/config=/var/tmp/vnets.json,mtu=1450", "sdc_overlay4100")
    global_zone = f"smartos-{host.config['uuid'][:8]}"
    vx = {link["ifname"]: link for link in linux.links(global_zone)}["vx1004"]
    assert vx["mtu"] == 1450 and vx.get("master") == "sdc_overlay4100"
    _write(host, RULES, {"sdc_overlay": "-e vxlan -s files"})   # the rule names the overlay
    zone = rack.zone(host, nic("sdc_overlay/4100", "10.50.0.1/24", mtu=1450))
    vnics = ok(host, "dladm", "show-vnic", "-p", "-o", "LINK,OVER,ZONE").out.split()
    assert f"net0:sdc_overlay4100:{zone}" in vnics
    busy = tool(host, "dladm", "delete-overlay", "sdc_overlay4100")
    assert busy.code == 1 and "link busy" in busy.err
    ok(host, "vmadm", "stop", zone)
    ok(host, "dladm", "delete-overlay", "sdc_overlay4100")
    assert not [l for l in linux.links(global_zone) if l["ifname"] in ("vx1004",
                                                                       "sdc_overlay4100")]
    # An underlay address the host does not have cannot be listened on.
    bad = tool(host, "dladm", "create-overlay", "-e", "vxlan", "-s", "files", "-v", "4101",
               "-p", "vxlan/listen_ip=192.0.2.1,files/config=/var/tmp/vnets.json",
               "sdc_overlay4101")
    assert bad.code == 1 and "overlay creation failed: invalid argument" in bad.err
    assert "sdc_overlay4101" not in ok(host, "dladm", "show-link", "-p", "-o", "LINK").out
