"""The data plane through the host clients over sim://, local:// and ssh://.

Over local:// and ssh:// each command runs in another process (a tool
stand-in, or an sshd session), as on a real host; the namespaces, links and
filters they make are the same, and two racked hosts reached over different
transports share an overlay.
"""

from __future__ import annotations

import json

import pytest

from netprobe import ns_of, ping, reaches
from openstack_smartos.host import SmartOSHost
from openstack_smartos.host.transport import LocalTransport, connect
from openstack_smartos.sim import shims

RULES = "var/run/smartdc/networking/overlay_rules.json"


def _client(request, sim):
    if request.param == "sim":
        return SmartOSHost(connect(f"sim://{sim.root}"))
    if request.param == "local":
        return SmartOSHost(LocalTransport(env=shims.local_env(sim.root)))
    served = request.getfixturevalue("served_host")(host=sim)
    return SmartOSHost(served.transport())


@pytest.fixture(params=["sim", "local", "ssh"])
def two_hosts(request, rack):
    hosts = [rack.host("h1"), rack.host("h2")]
    clients = [_client(request, host) for host in hosts]
    yield rack, hosts, clients
    for client in clients:
        client.close()


def _overlay_rule(host):
    ip = host.config["admin_ip"]
    path = host.path("root", RULES)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"sdc_overlay": f"-e vxlan -s files -p vxlan/listen_ip={ip},"
                                               "files/config=/var/tmp/vnet.json -p mtu=1450"}))


def test_zones_made_through_each_transport_talk_over_a_vlan_and_an_overlay(two_hosts):
    rack, hosts, clients = two_hosts
    macs = ["02:00:5e:00:02:01", "02:00:5e:00:02:02"]
    table = {mac: {"ip": host.config["admin_ip"], "port": 4789, "arp": f"10.60.0.{n + 1}"}
             for n, (mac, host) in enumerate(zip(macs, hosts))}
    uuids = []
    for n, (host, client) in enumerate(zip(hosts, clients)):
        _overlay_rule(host)
        host.path("root", "var/tmp").mkdir(parents=True, exist_ok=True)
        host.path("root", "var/tmp/vnet.json").write_text(json.dumps(table))
        uuids.append(client.vmadm.create({
            "brand": "joyent-minimal", "image_uuid": rack.image(host), "autoboot": True,
            "nics": [{"nic_tag": "external", "vlan_id": 300, "ips": [f"10.61.0.{n + 1}/24"]},
                     {"nic_tag": "sdc_overlay/5000", "mac": macs[n], "mtu": 1450,
                      "ips": [f"10.60.0.{n + 1}/24"]}]}))
    a, b = ns_of(hosts[0], uuids[0]), ns_of(hosts[1], uuids[1])
    assert reaches(a, "10.61.0.2") and reaches(b, "10.60.0.1")
    clients[1].vmadm.stop(uuids[1])
    assert not ping(a, "10.60.0.2")
    clients[1].vmadm.start(uuids[1])
    assert reaches(a, "10.60.0.2")
    for client, uuid in zip(clients, uuids):
        client.vmadm.delete(uuid)
