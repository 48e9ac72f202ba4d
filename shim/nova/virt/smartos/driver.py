from openstack_smartos.nova.driver import SmartOSDriver  # noqa: F401

__all__ = ["SmartOSDriver"]
