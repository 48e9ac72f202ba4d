"""The complete vmadm create payload (nova/payload.py), checked against the emulator."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import uuid as uuidlib

import pytest
from nova.network import model as netmodel

from openstack_smartos.nova import brands, metadata, vifs
from openstack_smartos.nova.flavor import InvalidExtraSpec
from openstack_smartos.nova.payload import InstanceSpec, PayloadError, build_create_payload
from openstack_smartos.sim.tools import run_tool

INSTANCE = "1d6a0f53-9c1b-4e0a-8f43-5f3a2b1c0d9e"
IMAGE = "2e7b1064-0d2c-4f1b-9054-6a4b3c2d1e0f"
NET = "7c2d6a4f-5d0e-4a52-9bd4-3f0c1a2b3c4d"


def network_info():
    subnet = netmodel.Subnet(
        cidr="10.0.0.0/24", gateway=netmodel.IP(address="10.0.0.1", type="gateway"),
        dns=[netmodel.IP(address="10.0.0.2", type="dns")],
        ips=[netmodel.FixedIP(address="10.0.0.5")],
        routes=[netmodel.Route(cidr="192.168.9.0/24", gateway=netmodel.IP(address="10.0.0.9"))])
    v6 = netmodel.Subnet(cidr="fd00::/64", ips=[netmodel.FixedIP(address="fd00::5")])
    network = netmodel.Network(id=NET, label="private", subnets=[subnet, v6], mtu=1500,
                               physical_network="physnet1")
    return netmodel.NetworkInfo([netmodel.VIF(id="port-1", address="fa:16:3e:11:22:33",
                                              network=network, details={"vlan": 100})])


def spec_for(brand, **overrides):
    """An InstanceSpec assembled the way the driver does, through the other modules."""
    nw_info = network_info()
    extra_specs = overrides.pop("extra_specs", {})
    customer, internal = metadata.guest_metadata(
        hostname="web-1", key_data="ssh-ed25519 AAAA test\n",
        user_data_b64=base64.b64encode(b"#cloud-config\n{}\n").decode(),
        instance_metadata={"role": "web"}, admin_password="pw", instance_uuid=INSTANCE)
    fields = dict(
        uuid=INSTANCE, name="web 1 (prod)", hostname="web-1", brand=brand, image_uuid=IMAGE,
        image_size_mib=10240 if brands.is_hvm(brand) else None,
        memory_mb=2048, vcpus=2, root_gb=20, ephemeral_gb=0, swap_mb=512,
        extra_specs=extra_specs,
        nics=vifs.nics_from_network_info(nw_info, brand, {"physnet1": "external"}, "admin"),
        resolvers=vifs.resolvers_from_network_info(nw_info),
        routes=vifs.routes_from_network_info(nw_info),
        customer_metadata=customer, internal_metadata=internal,
        owner_marker="openstack-nova", kernel_version="4.3.0" if brand == "lx" else None,
        flavor_name="m1.small")
    fields.update(overrides)
    return InstanceSpec(**fields)


# -- containers --------------------------------------------------------------------------
def test_joyent_payload():
    payload = build_create_payload(spec_for("joyent"))
    assert payload["uuid"] == INSTANCE and payload["brand"] == "joyent"
    assert payload["alias"] == "web 1 (prod)" and payload["hostname"] == "web-1"
    assert payload["image_uuid"] == IMAGE and payload["autoboot"] is True
    assert "disks" not in payload and "kernel_version" not in payload
    assert payload["max_physical_memory"] == 2048 and payload["max_swap"] == 2560
    assert payload["quota"] == 20 and payload["cpu_cap"] == 200
    assert payload["nics"] == [{"mac": "fa:16:3e:11:22:33", "nic_tag": "external",
                                "vlan_id": 100, "ips": ["10.0.0.5/24", "fd00::5/64"],
                                "gateways": ["10.0.0.1"], "primary": True, "mtu": 1500,
                                "network_uuid": NET}]
    assert payload["resolvers"] == ["10.0.0.2"]
    assert payload["routes"] == {"192.168.9.0/24": "10.0.0.9"}
    assert payload["customer_metadata"]["cloud-init:user-data"] == "#cloud-config\n{}\n"
    assert payload["customer_metadata"]["role"] == "web"
    assert payload["internal_metadata"] == {
        "root_pw": "pw", "admin_pw": "pw", "openstack:instance_uuid": INSTANCE,
        "openstack:managed_by": "openstack-nova", "openstack:flavor_name": "m1.small"}


def test_lx_needs_a_kernel_version():
    assert build_create_payload(spec_for("lx"))["kernel_version"] == "4.3.0"
    with pytest.raises(PayloadError, match="kernel_version"):
        build_create_payload(spec_for("lx", kernel_version=None))


def test_zone_ephemeral_goes_into_the_quota():
    assert build_create_payload(spec_for("joyent", ephemeral_gb=5))["quota"] == 25


def test_autoboot_false_and_no_nics():
    payload = build_create_payload(spec_for("joyent-minimal", autoboot=False, nics=[],
                                            resolvers=[], routes={}, name=""))
    assert payload["autoboot"] is False and "nics" not in payload and "alias" not in payload
    assert payload["resolvers"] == [] and "routes" not in payload


# -- hardware VMs ------------------------------------------------------------------------
def test_bhyve_payload():
    payload = build_create_payload(spec_for("bhyve", ephemeral_gb=10, extra_specs={
        "smartos:disk_driver": "nvme", "smartos:bootrom": "uefi"}))
    assert "image_uuid" not in payload
    assert payload["disks"] == [
        {"image_uuid": IMAGE, "boot": True, "model": "nvme", "image_size": 10240,
         "size": 20480},
        {"size": 10240, "model": "nvme"}]
    assert payload["disk_driver"] == "nvme" and payload["nic_driver"] == "virtio"
    assert payload["bootrom"] == "uefi"
    assert payload["ram"] == 2048 and payload["vcpus"] == 2 and payload["quota"] == 1
    assert payload["flexible_disk_size"] == 30720 + 6144
    assert payload["nics"][0]["model"] == "virtio"


def test_bhyve_boot_disk_is_at_least_the_image():
    payload = build_create_payload(spec_for("bhyve", root_gb=0, image_size_mib=8192))
    assert payload["disks"][0]["size"] == 8192
    assert payload["flexible_disk_size"] == 8192 + 1639


def test_root_disk_smaller_than_image_is_an_error():
    with pytest.raises(PayloadError, match="smaller than the image"):
        build_create_payload(spec_for("bhyve", root_gb=5, image_size_mib=10240))
    with pytest.raises(PayloadError, match="size is unknown"):
        build_create_payload(spec_for("bhyve", root_gb=0, image_size_mib=None))


def test_kvm_boot_disk_keeps_the_image_size():
    payload = build_create_payload(spec_for("kvm", extra_specs={"smartos:disk_driver": "ide"}))
    assert payload["disks"] == [{"image_uuid": IMAGE, "boot": True, "model": "ide",
                                 "image_size": 10240}]
    assert "flexible_disk_size" not in payload and payload["quota"] == 10


def test_hvm_nics_without_model_get_the_nic_driver():
    nics = [{"mac": "fa:16:3e:00:00:01", "nic_tag": "admin"}]
    payload = build_create_payload(spec_for("bhyve", nics=nics,
                                            extra_specs={"smartos:nic_driver": "e1000"}))
    assert payload["nics"][0]["model"] == "e1000"
    assert "model" not in nics[0]        # the spec's list is not modified


# -- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, match", [
    ({"brand": "solaris10"}, "unknown brand"),
    ({"uuid": "not-a-uuid"}, "instance uuid"),
    ({"image_uuid": "ubuntu"}, "image uuid"),
    ({"hostname": "web_1"}, "hostname"),
    ({"hostname": ""}, "hostname"),
    ({"owner_marker": ""}, "owner_marker"),
    ({"memory_mb": 0}, "memory_mb"),
    ({"customer_metadata": {"root_pw": "x"}}, "_pw"),
    ({"customer_metadata": {"nested": {"a": 1}}}, "scalar"),
])
def test_payload_errors(overrides, match):
    with pytest.raises(PayloadError, match=match):
        build_create_payload(dataclasses.replace(spec_for("joyent"), **overrides))


def test_bad_extra_specs_surface_as_invalid_extra_spec():
    with pytest.raises(InvalidExtraSpec):
        build_create_payload(spec_for("joyent", extra_specs={"smartos:cpu_cap": "lots"}))
    with pytest.raises(InvalidExtraSpec):
        build_create_payload(spec_for("kvm", extra_specs={"smartos:disk_driver": "nvme"}))


# -- against the emulator ----------------------------------------------------------------
def vmadm(host, *argv, payload):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["vmadm", *argv], stdin=io.BytesIO(json.dumps(payload).encode()),
                    stdout=out, stderr=err)
    return code, out.getvalue().decode(), err.getvalue().decode()


ALL_BRANDS = ["joyent", "joyent-minimal", "lx", "bhyve", "kvm"]
RICH_SPECS = {"bhyve": {"smartos:disk_driver": "ahci", "smartos:bootrom": "uefi",
                        "smartos:cpu_burst_percent": "150", "smartos:max_lwps": "3000"},
              "kvm": {"smartos:disk_driver": "scsi", "smartos:nic_driver": "e1000",
                      "smartos:cpu_cap": "100"},
              "joyent": {"smartos:cpu_shares": "50", "smartos:zfs_io_priority": "200",
                         "smartos:max_swap": "4096"}}


@pytest.mark.parametrize("brand", ALL_BRANDS)
def test_emulator_validates_the_payload(sim_host, brand):
    host = sim_host()
    payload = build_create_payload(spec_for(brand, ephemeral_gb=2,
                                            extra_specs=RICH_SPECS.get(brand, {})))
    code, _, err = vmadm(host, "validate", "create", payload=payload)
    assert code == 0, err
    assert f"VALID 'create' payload for {brand} brand VMs." in err


@pytest.mark.parametrize("brand", ALL_BRANDS)
def test_emulator_creates_the_vm(sim_host, install_image, brand):
    """vmadm create also checks the image type, nic tags and disk sizes."""
    host = sim_host()
    image_type = {"lx": "lx-dataset", "bhyve": "zvol", "kvm": "zvol"}.get(brand, "zone-dataset")
    install_image(host, image_type, uuid=IMAGE, size_mib=10240 if image_type == "zvol" else None)
    spec = spec_for(brand, autoboot=False, ephemeral_gb=1, extra_specs=RICH_SPECS.get(brand, {}))
    code, _, err = vmadm(host, "create", payload=build_create_payload(spec))
    assert code == 0, err
    code, out, err = vmadm(host, "get", INSTANCE, payload={})
    assert code == 0, err
    vm = json.loads(out)
    assert vm["brand"] == brand and vm["hostname"] == "web-1" and vm["alias"] == "web 1 (prod)"
    assert vm["internal_metadata"]["openstack:managed_by"] == "openstack-nova"
    assert vm["nics"][0]["vlan_id"] == 100 and vm["nics"][0]["primary"] is True
    if brands.is_hvm(brand):
        assert vm["ram"] == 2048 and vm["vcpus"] == 2
        assert vm["disks"][0]["boot"] is True and len(vm["disks"]) == 2
    else:
        assert vm["max_physical_memory"] == 2048 and vm["quota"] == 21


def test_instance_spec_field_names():
    """The driver builds InstanceSpec by keyword: keep the names stable."""
    names = {field.name for field in dataclasses.fields(InstanceSpec)}
    assert {"uuid", "name", "hostname", "brand", "image_uuid", "image_size_mib", "memory_mb",
            "vcpus", "root_gb", "ephemeral_gb", "swap_mb", "extra_specs", "nics",
            "resolvers", "customer_metadata", "internal_metadata", "owner_marker",
            "kernel_version", "autoboot", "flavor_name"} <= names


def test_uuid_is_lowercased():
    upper = str(uuidlib.uuid4()).upper()
    payload = build_create_payload(spec_for("joyent", uuid=upper))
    assert payload["uuid"] == upper.lower()
    assert payload["internal_metadata"]["openstack:instance_uuid"] == upper.lower()
