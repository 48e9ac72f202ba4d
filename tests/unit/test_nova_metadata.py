"""Instance data to SmartOS customer/internal metadata (nova/metadata.py)."""

from __future__ import annotations

import base64
import gzip

import pytest

from openstack_smartos.nova.metadata import (MetadataError, guest_metadata,
                                             ignored_metadata_keys)

UUID = "4f0c8b2e-1d3a-4b5c-9e8f-7a6b5c4d3e2f"
KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB4 user@example\n"


def b64(data) -> str:
    return base64.b64encode(data if isinstance(data, bytes) else data.encode()).decode()


def test_minimal():
    customer, internal = guest_metadata(hostname="web-1", instance_uuid=UUID)
    assert customer == {"hostname": "web-1"}
    assert internal == {"openstack:instance_uuid": UUID}


def test_key_pair():
    customer, _ = guest_metadata(hostname="h", key_data=KEY, instance_uuid=UUID)
    assert customer["root_authorized_keys"] == KEY


def test_cloud_config_goes_to_cloud_init():
    text = "#cloud-config\npackages: [htop]\n"
    customer, _ = guest_metadata(hostname="h", user_data_b64=b64(text), instance_uuid=UUID)
    assert customer["cloud-init:user-data"] == text and customer["user-data"] == text
    assert "user-script" not in customer


def test_script_goes_to_user_script_only():
    """Not also cloud-init:user-data: cloud-init guests would run it twice."""
    text = "#!/bin/sh\necho hello > /tmp/hello\n"
    customer, _ = guest_metadata(hostname="h", user_data_b64=b64(text), instance_uuid=UUID)
    assert customer["user-script"] == text and customer["user-data"] == text
    assert "cloud-init:user-data" not in customer


def test_utf8_user_data_survives():
    text = "#cloud-config\nwrite_files: [{path: /x, content: 'héllo ✓'}]\n"
    customer, _ = guest_metadata(hostname="h", user_data_b64=b64(text), instance_uuid=UUID)
    assert customer["cloud-init:user-data"] == text


def test_binary_user_data_is_refused():
    with pytest.raises(MetadataError, match="not UTF-8"):
        guest_metadata(hostname="h", user_data_b64=b64(gzip.compress(b"#cloud-config\n")),
                       instance_uuid=UUID)


def test_bad_base64_is_refused():
    with pytest.raises(MetadataError, match="base64"):
        guest_metadata(hostname="h", user_data_b64="abc", instance_uuid=UUID)


def test_empty_user_data_sets_nothing():
    customer, _ = guest_metadata(hostname="h", user_data_b64="", instance_uuid=UUID)
    assert customer == {"hostname": "h"}


def test_admin_password_only_when_given():
    _, internal = guest_metadata(hostname="h", admin_password="s3cret", instance_uuid=UUID)
    assert internal["root_pw"] == "s3cret" and internal["admin_pw"] == "s3cret"
    _, internal = guest_metadata(hostname="h", admin_password=None, instance_uuid=UUID)
    assert "root_pw" not in internal and "admin_pw" not in internal


def test_instance_metadata_copied_with_reserved_keys_protected():
    metadata = {"role": "db", "count": 3, "hostname": "evil", "root_authorized_keys": "evil",
                "user-script": "evil", "cloud-init:user-data": "evil", "user-data": "evil",
                "sdc:uuid": "evil", "openstack:managed_by": "evil", "db_pw": "hunter2"}
    customer, internal = guest_metadata(hostname="h", key_data=KEY, instance_uuid=UUID,
                                        instance_metadata=metadata)
    assert customer == {"role": "db", "count": "3", "hostname": "h",
                        "root_authorized_keys": KEY}
    # _pw keys are only ever served from internal_metadata
    assert internal == {"db_pw": "hunter2", "openstack:instance_uuid": UUID}
    assert ignored_metadata_keys(metadata) == [
        "hostname", "root_authorized_keys", "user-script", "cloud-init:user-data",
        "user-data", "sdc:uuid", "openstack:managed_by"]


def test_admin_password_beats_instance_metadata():
    _, internal = guest_metadata(hostname="h", admin_password="real", instance_uuid=UUID,
                                 instance_metadata={"root_pw": "from-user"})
    assert internal["root_pw"] == "real"


def test_extra_is_trusted_and_applied_last():
    customer, internal = guest_metadata(
        hostname="h", instance_uuid=UUID, instance_metadata={"role": "db"},
        extra={"role": "operator", "motd_sys_info": "true", "api_pw": "x"})
    assert customer["role"] == "operator" and customer["motd_sys_info"] == "true"
    assert internal["api_pw"] == "x"


def test_arguments_are_keyword_only():
    with pytest.raises(TypeError):
        guest_metadata("h", None, None, None, None, UUID)
