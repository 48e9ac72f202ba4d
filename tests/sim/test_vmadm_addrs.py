"""MAC/IP conflict checks through the address index (vmadm_addrs), which spares
create/update/receive from loading every VM on the host."""

from __future__ import annotations

import io
import json

import pytest

from openstack_smartos.sim.tools import run_tool

CONFLICT = "Conflict detected with another vm, please check the MAC, IP, and VRID"


def vmadm(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    if isinstance(stdin, dict):
        stdin = json.dumps(stdin).encode()
    code = run_tool(host.root, ["vmadm", *argv], stdin=io.BytesIO(stdin), stdout=out,
                    stderr=err)
    return code, err.getvalue().decode()


@pytest.fixture
def host(sim_host):
    return sim_host()


@pytest.fixture
def image(host, install_image):
    return install_image(host, "zone-dataset")["uuid"]


def zone(image, *nics):
    return {"brand": "joyent", "image_uuid": image, "autoboot": False, "nics": list(nics)}


def test_ip_and_mac_conflicts(host, image):
    code, err = vmadm(host, "create", stdin=zone(
        image, {"nic_tag": "admin", "ips": ["10.0.0.5/24"], "mac": "02:00:00:00:00:01"},
        {"nic_tag": "external", "vlan_id": 7, "ips": ["10.9.0.5/24"]}))
    assert code == 0, err
    first = err.split()[-1]
    for nic in ({"nic_tag": "admin", "ips": ["10.0.0.5/24"]},          # same address
                {"nic_tag": "external", "vlan_id": 7, "ips": ["10.9.0.5/24"]},
                {"nic_tag": "admin", "mac": "2:0:0:0:0:1"}):
        code, err = vmadm(host, "create", stdin=zone(image, nic))
        assert (code, err.strip()) == (1, CONFLICT), nic
    # VM.js hasConflictingIP compares the ips entries as strings and vlan_id
    # strictly: another prefix, no vlan_id (not 0) or another tag is no conflict.
    for nic in ({"nic_tag": "external", "ips": ["10.0.0.5/24"]},       # other tag
                {"nic_tag": "external", "vlan_id": 8, "ips": ["10.9.0.5/24"]},
                {"nic_tag": "admin", "ips": ["10.0.0.5/16"]},
                {"nic_tag": "external", "vlan_id": 0, "ips": ["10.9.0.5/24"]}):
        code, err = vmadm(host, "create", stdin=zone(image, nic))
        assert code == 0, (nic, err)
    # An update does not conflict with the VM's own addresses ...
    code, err = vmadm(host, "update", first, stdin={"update_nics": [
        {"mac": "02:00:00:00:00:01", "ips": ["10.0.0.5/24"]}]})
    assert code == 0, err
    # ... and a deleted VM's addresses are free again.
    assert vmadm(host, "delete", first)[0] == 0
    code, err = vmadm(host, "create", stdin=zone(
        image, {"nic_tag": "admin", "ips": ["10.0.0.5/24"], "mac": "02:00:00:00:00:01"}))
    assert code == 0, err


def test_index_built_for_older_hosts(host, image):
    """A host created before the index existed gets it built on the next create."""
    code, err = vmadm(host, "create", stdin=zone(
        image, {"nic_tag": "admin", "ips": ["10.0.0.5/24"], "mac": "02:00:00:00:00:01"}))
    assert code == 0, err
    with host.locked():
        host.db.execute("DELETE FROM vmadm_addrs")
        host.db.execute("DELETE FROM vmadm_meta")
    host.close()
    code, err = vmadm(host, "create", stdin=zone(image, {"nic_tag": "admin",
                                                         "ips": ["10.0.0.5/24"]}))
    assert (code, err.strip()) == (1, CONFLICT)
    code, err = vmadm(host, "create", stdin=zone(image, {"nic_tag": "admin",
                                                         "mac": "02:00:00:00:00:01"}))
    assert (code, err.strip()) == (1, CONFLICT)
    # (a failed create rolls the index back with everything else; a good one keeps it)
    code, err = vmadm(host, "create", stdin=zone(image, {"nic_tag": "admin",
                                                         "mac": "02:00:00:00:00:02"}))
    assert code == 0, err
    rows = host.db.execute("SELECT kind, value FROM vmadm_addrs").fetchall()
    assert sorted(map(tuple, rows)) == [("ip", "10.0.0.5"), ("mac", "02:00:00:00:00:01"),
                                        ("mac", "02:00:00:00:00:02")]
