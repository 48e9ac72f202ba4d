"""The two payloads of seed 002 (a 2013 SmartOS talk): a zone with the deprecated
``dataset_uuid`` and a kvm VM with string numbers and an unknown key. Both must create
VMs once their images are installed (reference §1.1: unknown keys are dropped)."""

from __future__ import annotations

import io
import json

import pytest

from openstack_smartos.sim.tools import run_tool

ZONE_IMAGE = "3766d58c-d777-11e1-89c1-4fa1b8ed5c1e"     # base 1.7.1
KVM_IMAGE = "8700b668-0da4-11e2-bde4-17221283a2f4"      # centos-6 1.3.0

ZONEDEF = """{ "brand": "joyent", "dataset_uuid": "3766d58c-d777-11e1-89c1-4fa1b8ed5c1e",
"nics": [ { "nic_tag": "admin", "ip": "192.168.146.140", "netmask": "255.255.255.0",
"gateway": "192.168.146.2" } ] }"""

MYVMSPEC = """{ "brand": "kvm", "resolvers": [ "208.67.222.222", "8.8.4.4" ],
"default-gateway": "192.168.146.2", "ram": "512", "vcpus": "1", "nics": [ { "nic_tag":
"admin", "ip": "192.168.146.150", "netmask": "255.255.255.0", "gateway": "192.168.146.2",
"model": "virtio", "primary": true } ], "disks": [ { "image_uuid":
"8700b668-0da4-11e2-bde4-17221283a2f4", "boot": true, "model": "virtio", "size": 10240,
"image_size": 10240 } ] }"""


def vmadm(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["vmadm", *argv], stdin=io.BytesIO(stdin), stdout=out,
                    stderr=err)
    return code, out.getvalue().decode(), err.getvalue().decode()


@pytest.fixture
def host(sim_host, install_image):
    host = sim_host()
    install_image(host, "zone-dataset", uuid=ZONE_IMAGE, name="base", version="1.7.1")
    install_image(host, "zvol", uuid=KVM_IMAGE, size_mib=10240, name="centos-6",
                  version="1.3.0")
    return host


def test_zonedef_with_dataset_uuid(host, tmp_path):
    """§2.2: dataset_uuid (deprecated) names the image; `vmadm create -f /tmp/zonedef`."""
    path = tmp_path / "zonedef"
    path.write_text(ZONEDEF)
    code, out, err = vmadm(host, "create", "-f", str(path))
    assert code == 0 and out == ""
    assert err.startswith("Successfully created VM ")
    uuid = err.split()[-1]
    vm = json.loads(vmadm(host, "get", uuid)[1])
    assert vm["image_uuid"] == ZONE_IMAGE and vm["brand"] == "joyent"
    assert "dataset_uuid" not in vm
    nic = vm["nics"][0]
    assert (nic["interface"], nic["ip"], nic["ips"], nic["gateways"], nic["primary"]) == (
        "net0", "192.168.146.140", ["192.168.146.140/24"], ["192.168.146.2"], True)
    assert vm["state"] == "running"


def test_myvmspec_kvm_with_string_numbers(host):
    """§1.1: unknown `default-gateway` dropped; "512" accepted as ram; disk cloned."""
    code, out, err = vmadm(host, "create", stdin=MYVMSPEC.encode())
    assert code == 0, err
    uuid = err.split()[-1]
    vm = json.loads(vmadm(host, "get", uuid)[1])
    assert (vm["ram"], vm["vcpus"], vm["max_physical_memory"]) == (512, 1, 1536)
    assert vm["resolvers"] == ["208.67.222.222", "8.8.4.4"]
    assert "default-gateway" not in vm and "default_gateway" not in vm
    disk = vm["disks"][0]
    assert (disk["image_uuid"], disk["size"], disk["path"]) == (
        KVM_IMAGE, 10240, f"/dev/zvol/rdsk/zones/{uuid}-disk0")
    info = json.loads(vmadm(host, "info", uuid, "vnc")[1])
    assert info["vnc"]["host"] == host.config["admin_ip"]
