"""The delegated dataset's ZFS properties as vmadm creates it (VM.js createDelegatedDataset:
``zfs create [-o compression=<zfs_data_compression>] [-o recsize=<zfs_data_recsize>]``)."""

from __future__ import annotations

import io

from openstack_smartos.sim.tools import run_tool
from test_vmadm import Run, create, host, zone_image  # noqa: F401 (fixtures)


def zfs_get(host, prop, dataset):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["zfs", "get", "-H", "-o", "value,source", prop, dataset],
                    stdin=io.BytesIO(b""), stdout=out, stderr=err)
    result = Run(code, out.getvalue().decode(), err.getvalue().decode())
    assert result.code == 0, result.err
    return tuple(result.out.strip().split("\t"))


def test_delegated_dataset_inherits_compression_and_recordsize_unless_given(host, zone_image):
    plain = create(host, {"brand": "joyent", "image_uuid": zone_image,
                          "delegate_dataset": True})
    assert zfs_get(host, "compression", f"zones/{plain}/data")[1] != "local"
    assert zfs_get(host, "recordsize", f"zones/{plain}/data")[1] != "local"
    tuned = create(host, {"brand": "joyent", "image_uuid": zone_image, "delegate_dataset": True,
                          "zfs_data_compression": "lz4", "zfs_data_recsize": 8192})
    assert zfs_get(host, "compression", f"zones/{tuned}/data") == ("lz4", "local")
    assert zfs_get(host, "recordsize", f"zones/{tuned}/data") == ("8K", "local")
