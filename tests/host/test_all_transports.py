"""The same client calls over local://, sim:// and ssh:// give the same results.

local:// runs the tools by name from PATH, as nova-compute in a SmartOS
global zone does; here PATH starts with the emulated host's tool stand-ins
(``smartos-sim shims``). ssh:// reaches a host served by ``smartos-sim serve``.
"""

from __future__ import annotations

import uuid as uuidlib

import pytest

from openstack_smartos.host import SmartOSHost, errors
from openstack_smartos.host.transport import LocalTransport, connect
from openstack_smartos.sim import imagebuild, shims


@pytest.fixture(params=["sim", "local", "ssh"])
def smartos(request, sim_host):
    """(SmartOSHost, SimHost) over each transport."""
    sim = sim_host(cpus=12, memory_mib=24576)
    if request.param == "sim":
        transport = connect(f"sim://{sim.root}")
    elif request.param == "local":
        transport = LocalTransport(env=shims.local_env(sim.root))
    else:
        served = request.getfixturevalue("served_host")(host=sim)
        transport = served.transport()
    host = SmartOSHost(transport)
    yield host, sim
    host.close()


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    out = tmp_path_factory.mktemp("images")
    zone = imagebuild.build_image(out, "zone-dataset", name="zone", version="1",
                                  files={"etc/motd": b"hi\n"})
    disk = imagebuild.build_image(out, "zvol", name="disk", version="1",
                                  volume=b"\x01" * (2 << 20), volume_size=16 << 20)
    return {"zone": zone, "zvol": disk}


def test_sysinfo_reflects_the_host(smartos):
    host, sim = smartos
    assert host.sysinfo.uuid == sim.config["uuid"]
    assert host.sysinfo.cpu_count == 12
    assert host.sysinfo.memory_mib == 24576


def test_image_and_vm_lifecycle(smartos, images):
    host, sim = smartos
    for kind in ("zone", "zvol"):
        manifest, _, path = images[kind]
        with open(path, "rb") as data:
            host.imgadm.install(manifest, data)
    zone_image, disk_image = images["zone"][0], images["zvol"][0]
    assert {i["manifest"]["uuid"] for i in host.imgadm.list()} == {
        zone_image["uuid"], disk_image["uuid"]}

    zone = str(uuidlib.uuid4())
    assert host.vmadm.create({"uuid": zone, "brand": "joyent", "alias": "z1",
                              "image_uuid": zone_image["uuid"],
                              "max_physical_memory": 256,
                              "customer_metadata": {"k": "v"}}) == zone
    vm = str(uuidlib.uuid4())
    host.vmadm.create({"uuid": vm, "brand": "bhyve", "ram": 512, "vcpus": 1,
                       "disks": [{"image_uuid": disk_image["uuid"], "boot": True,
                                  "model": "virtio"}]})
    assert host.vmadm.get(zone)["customer_metadata"] == {"k": "v"}
    states = {row["uuid"]: row["state"] for row in host.vmadm.list()}
    assert states == {zone: "running", vm: "running"}

    origins = {d["name"]: d["origin"] for d in host.zfs.list(["zones"], recursive=True)}
    assert origins[f"zones/{zone}"] == f"zones/{zone_image['uuid']}@final"
    assert origins[f"zones/{vm}/disk0"] == f"zones/{disk_image['uuid']}@final"

    host.vmadm.stop(vm)
    assert host.vmadm.get(vm)["state"] == "stopped"
    host.vmadm.start(vm)
    assert host.vmadm.get(vm)["state"] == "running"

    for uuid in (zone, vm):
        host.vmadm.delete(uuid)
    assert host.vmadm.list() == []
    names = [d["name"] for d in host.zfs.list(["zones"], recursive=True)]
    assert not [n for n in names if zone in n or vm in n]


def test_errors_are_classified_the_same(smartos):
    host, _ = smartos
    missing = str(uuidlib.uuid4())
    with pytest.raises(errors.NotFound) as info:
        host.vmadm.get(missing)
    assert info.value.exit_code == 1
    assert info.value.message == f"zoneadm: {missing}: No such zone configured"
    with pytest.raises(errors.ImageNotInstalled):
        host.imgadm.get(missing)
    with pytest.raises(errors.InvalidPayload):
        host.vmadm.create({"brand": "joyent", "image_uuid": missing})
    with pytest.raises(errors.NotFound):
        host.zfs.get(f"zones/{missing}", ["used"])


def test_every_call_is_counted(smartos):
    host, _ = smartos
    host.stats.reset()
    host.vmadm.list()
    host.zfs.list(["zones"])
    snap = host.stats.snapshot()
    assert snap["round_trips"] == 2
    assert snap["by_command"] == {"vmadm list": 1, "zfs list": 1}
    assert snap["bytes_in"] > 0 and snap["bytes_out"] > 0
