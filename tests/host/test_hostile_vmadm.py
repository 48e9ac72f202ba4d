"""Hostile aliases, metadata and names through the vmadm and zfs clients.

Values travel in JSON on stdin (create, update) or as argv elements
(lookup/list filters, snapshot and dataset names). Over ssh:// the remote
/bin/sh parses the quoted command line; nothing may run, and every value
must come back exactly.
"""

from __future__ import annotations

import uuid as uuidlib
from pathlib import Path

import pytest

from openstack_smartos.host import SmartOSHost, errors
from openstack_smartos.host.transport import LocalTransport
from openstack_smartos.sim import imagebuild, shims

TOKEN = uuidlib.uuid4().hex[:10]
CANARY = Path("/tmp") / f"smartos-hostile-{TOKEN}"

HOSTILE = [
    f"$(touch {CANARY})", f"`touch {CANARY}`", f"; touch {CANARY}", f"' ; touch {CANARY}; '",
    f'" ; touch {CANARY}; "', f"\ntouch {CANARY}\n", f"a && touch {CANARY}",
    f"| touch {CANARY}", "$HOME", "*", "it's \"quoted\"", "tab\there", "-v", "--help",
    "日本語 ünïcode", "x" * 2000,
]


@pytest.fixture(params=["ssh", "local"])
def host(request, sim_host, tmp_path):
    sim = sim_host()
    manifest, _, path = imagebuild.build_image(tmp_path / "img", "zone-dataset",
                                               files={"etc/motd": b"hi\n"})
    if request.param == "ssh":
        transport = request.getfixturevalue("served_host")(host=sim).transport()
    else:
        transport = LocalTransport(env=shims.local_env(sim.root))
    client = SmartOSHost(transport)
    with open(path, "rb") as data:
        client.imgadm.install(manifest, data)
    client.image_uuid = manifest["uuid"]
    yield client
    client.close()
    assert not CANARY.exists(), "a hostile value reached a shell"


def test_alias_and_metadata_round_trip(host):
    for value in HOSTILE:
        _round_trip(host, value)


def _round_trip(host, value):
    uuid = host.vmadm.create({
        "brand": "joyent", "image_uuid": host.image_uuid, "alias": value,
        "autoboot": False, "customer_metadata": {"user-script": value, value[:100]: "k"},
        "tags": {"role": value}})
    vm = host.vmadm.get(uuid)
    assert vm["alias"] == value
    assert vm["customer_metadata"] == {"user-script": value, value[:100]: "k"}
    assert vm["tags"] == {"role": value}
    # The same value as an argv element: a lookup filter must match exactly it.
    assert [row["uuid"] for row in host.vmadm.lookup({"alias": value})] == [uuid]
    host.vmadm.update(uuid, {"alias": value + "!", "set_customer_metadata": {"x": value}})
    vm = host.vmadm.get(uuid)
    assert vm["alias"] == value + "!" and vm["customer_metadata"]["x"] == value
    host.vmadm.delete(uuid)


def test_hostile_names_are_refused_not_run(host):
    uuid = host.vmadm.create({"brand": "joyent", "image_uuid": host.image_uuid,
                              "autoboot": False})
    for value in HOSTILE[:9]:
        with pytest.raises(errors.CommandError) as info:
            host.vmadm.create_snapshot(uuid, value)
        assert "Invalid snapshot name" in info.value.message
        with pytest.raises(errors.NotFound):
            host.zfs.get(f"zones/{value}", ["used"])
        # Not a UUID: vmadm's usage error, whatever the bytes.
        with pytest.raises(errors.UsageError) as info:
            host.vmadm.get(value)
        assert "Invalid or missing UUID for get" in info.value.stderr
    host.vmadm.delete(uuid)


def test_non_utf8_filter_bytes_are_harmless(host):
    uuid = host.vmadm.create({"brand": "joyent", "image_uuid": host.image_uuid,
                              "autoboot": False, "alias": "plain"})
    rows = host.vmadm.lookup({"alias": b"\xff\xfe$(touch " + bytes(CANARY) + b")"})
    assert rows == []
    host.vmadm.delete(uuid)
