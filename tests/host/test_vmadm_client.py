"""The vmadm client over sim:// (argv lists, JSON on stdin, typed results, error classes)."""

from __future__ import annotations

import io
import re
import uuid as uuidlib

import pytest

from openstack_smartos.host import errors
from openstack_smartos.host.transport import connect
from openstack_smartos.host.vmadm import Vmadm


@pytest.fixture
def host(sim_host):
    return sim_host()


@pytest.fixture
def transport(host):
    t = connect("sim://" + str(host.root))
    yield t
    t.close()


@pytest.fixture
def vmadm(transport):
    return Vmadm(transport)


@pytest.fixture
def zone_image(host, install_image):
    return install_image(host, "zone-dataset")["uuid"]


@pytest.fixture
def zvol_image(host, install_image):
    return install_image(host, "zvol", size_mib=4096)["uuid"]


def zone_payload(image, **extra):
    return {"brand": "joyent", "image_uuid": image, **extra}


def test_create_returns_uuid_from_stderr_or_payload(vmadm, zone_image):
    uuid = vmadm.create(zone_payload(zone_image))
    assert re.fullmatch(r"[0-9a-f-]{36}", uuid)
    assert vmadm.get(uuid)["uuid"] == uuid
    wanted = str(uuidlib.uuid4())
    assert vmadm.create(zone_payload(zone_image, uuid=wanted)) == wanted


def test_payload_goes_on_stdin_never_in_argv(vmadm, transport, zone_image):
    alias = "$(rm -rf /); `reboot` 'quoted' \"x\" & | > <"
    uuid = vmadm.create(zone_payload(zone_image, alias=alias))
    assert vmadm.get(uuid)["alias"] == alias
    vmadm.update(uuid, {"alias": alias + "!"})
    assert vmadm.get(uuid)["alias"] == alias + "!"


def test_not_found_for_every_wording(vmadm):
    missing = str(uuidlib.uuid4())
    for call in (lambda: vmadm.get(missing), lambda: vmadm.start(missing),
                 lambda: vmadm.stop(missing), lambda: vmadm.delete(missing),
                 lambda: vmadm.update(missing, {"alias": "x"}),
                 lambda: vmadm.info(missing)):
        with pytest.raises(errors.NotFound):
            call()
    assert vmadm.exists(missing) is False


def test_invalid_payloads_raise_invalid_payload(vmadm, zone_image):
    with pytest.raises(errors.InvalidPayload) as info:
        vmadm.create({"brand": "joyent", "image_uuid": str(uuidlib.uuid4())})
    assert info.value.message == "Invalid value(s) for: image_uuid"
    with pytest.raises(errors.InvalidPayload):
        vmadm.create(zone_payload(zone_image, nics=[{"nic_tag": "nosuch"}]))
    with pytest.raises(errors.InvalidPayload):
        vmadm.create({"brand": "zone"})
    wanted = str(uuidlib.uuid4())
    vmadm.create(zone_payload(zone_image, uuid=wanted))
    with pytest.raises(errors.AlreadyExists):
        vmadm.create(zone_payload(zone_image, uuid=wanted))


def test_list_typed_rows_and_colon_rule(vmadm, zone_image):
    a = vmadm.create(zone_payload(zone_image, alias="db:primary:1", ram=512))
    b = vmadm.create(zone_payload(zone_image, alias="web", autoboot=False,
                                  nics=[{"nic_tag": "admin", "mac": "02:00:00:00:00:0a"}]))
    rows = vmadm.list(sort=["-ram"])
    assert rows == [{"uuid": a, "brand": "joyent", "state": "running", "alias": "db:primary:1"},
                    {"uuid": b, "brand": "joyent", "state": "stopped", "alias": "web"}]
    typed = vmadm.list(fields=("alias", "ram", "autoboot", "cpu_cap"), filters={"alias": "web"})
    assert typed == [{"alias": "web", "ram": 256, "autoboot": False, "cpu_cap": None}]
    two_unsafe = vmadm.list(fields=("uuid", "alias", "nics.0.mac", "create_timestamp"),
                            sort=["uuid"])
    assert [r["uuid"] for r in two_unsafe] == sorted([a, b])
    by_uuid = {r["uuid"]: r for r in two_unsafe}
    assert by_uuid[b]["nics.0.mac"] == "02:00:00:00:00:0a"
    assert by_uuid[a]["alias"] == "db:primary:1"
    assert by_uuid[a]["create_timestamp"].endswith("Z")
    assert vmadm.list(filters={"alias": re.compile("^DB")})[0]["uuid"] == a


def test_lookup(vmadm, zone_image, zvol_image):
    zone = vmadm.create(zone_payload(zone_image))
    kvm = vmadm.create({"brand": "kvm", "disks": [{"image_uuid": zvol_image,
                                                   "model": "virtio"}]})
    objs = vmadm.lookup({"type": "KVM"})
    assert [o["uuid"] for o in objs] == [kvm] and objs[0]["disks"][0]["size"] == 4096
    assert vmadm.lookup({"brand": "joyent"}, fields=["uuid", "ram"]) == [
        {"uuid": zone, "ram": 256}]
    assert vmadm.lookup_uuids({"brand": "kvm"}) == [kvm]
    with pytest.raises(errors.CommandError) as info:
        vmadm.lookup(unique=True)
    assert info.value.message == "Requested unique lookup but found 2 results."
    assert vmadm.lookup({"brand": "kvm"}, unique=True)[0]["uuid"] == kvm


def test_power_cycle(vmadm, zvol_image):
    uuid = vmadm.create({"brand": "bhyve", "disks": [{"image_uuid": zvol_image,
                                                      "model": "virtio"}]})
    vmadm.stop(uuid, timeout=30)
    assert vmadm.get(uuid)["state"] == "stopped"
    vmadm.stop(uuid)                                   # idempotent
    vmadm.start(uuid, order="cd", cdrom=("/image.iso", "ahci"))
    vmadm.start(uuid)                                  # idempotent
    zoneid = vmadm.get(uuid)["zoneid"]
    vmadm.reboot(uuid, force=True)
    assert vmadm.get(uuid)["zoneid"] != zoneid
    assert set(vmadm.info(uuid)) == {"vnc"}
    vmadm.sysrq(uuid, "nmi")
    with pytest.raises(errors.UsageError):
        vmadm.sysrq(uuid, "screenshot")
    vmadm.stop(uuid, force=True)
    vmadm.delete(uuid)
    assert not vmadm.exists(uuid)


def test_update_and_validate(vmadm, zone_image):
    uuid = vmadm.create(zone_payload(zone_image))
    vmadm.update(uuid, {"set_tags": {"role": "db"}, "max_physical_memory": 1024})
    vm = vmadm.get(uuid)
    assert vm["tags"] == {"role": "db"} and vm["max_physical_memory"] == 1024
    assert vmadm.validate("create", zone_payload(zone_image)) is None
    assert vmadm.validate("create", zone_payload(zone_image, bogus=1)) == {
        "bad_values": [], "bad_properties": ["bogus"], "missing_properties": []}
    assert vmadm.validate("update", {"ram": "x"}, brand="kvm") == {
        "bad_values": ["ram"], "bad_properties": [], "missing_properties": []}


def test_stop_timeout_is_refused_for_zones(vmadm, zone_image):
    uuid = vmadm.create(zone_payload(zone_image))
    with pytest.raises(errors.CommandError) as info:
        vmadm.stop(uuid, timeout=10)
    assert info.value.message == ("Timeout option is only supported for bhyve, KVM and "
                                  "docker containers.")


def test_snapshots_and_send_receive(vmadm, sim_host, install_image, zone_image):
    uuid = vmadm.create(zone_payload(zone_image, alias="moving"))
    vmadm.create_snapshot(uuid, "before")
    assert [s["name"] for s in vmadm.get(uuid)["snapshots"]] == ["before"]
    vmadm.rollback_snapshot(uuid, "before")
    vmadm.delete_snapshot(uuid, "before")
    with pytest.raises(errors.NotFound):
        vmadm.delete_snapshot(uuid, "before")
    bundle = io.BytesIO()
    vmadm.send(uuid, bundle)
    target_host = sim_host()
    install_image(target_host, "zone-dataset", uuid=zone_image)
    with connect("sim://" + str(target_host.root)) as target_transport:
        target = Vmadm(target_transport)
        assert target.receive(bundle.getvalue()) == uuid
        vm = target.get(uuid)
        # VM.js receive: VM.install boots a VM sent with autoboot true (test-send-recv.js).
        assert (vm["alias"], vm["state"]) == ("moving", "running")
