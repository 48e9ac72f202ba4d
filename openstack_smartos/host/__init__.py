"""Typed clients for the SmartOS host tools, over a transport chosen by URI.

    host = SmartOSHost.connect("ssh://root@10.0.0.5:22", key_file=...)
    host.vmadm.get(uuid)

One call path: every client method builds an argv list, runs it through the
host's transport (JSON payloads on stdin), and parses the output. Failures
raise the classes in ``errors``.
"""

from __future__ import annotations

from openstack_smartos.host import errors, transport
from openstack_smartos.host.transport import Transport, connect


class SmartOSHost:
    """A SmartOS host: one transport, one client per tool."""

    def __init__(self, transport_: Transport):
        from openstack_smartos.host import (dladm, fwadm, imgadm, kstat, nictagadm,
                                            sysinfo, vmadm, zfs, zonelog)
        self.transport = transport_
        self.vmadm = vmadm.Vmadm(transport_)
        self.imgadm = imgadm.Imgadm(transport_)
        self.zfs = zfs.Zfs(transport_)
        self.zpool = zfs.Zpool(transport_)
        self.sysinfo = sysinfo.Sysinfo(transport_)
        self.kstat = kstat.Kstat(transport_)
        self.fwadm = fwadm.Fwadm(transport_)
        self.nictagadm = nictagadm.Nictagadm(transport_)
        self.dladm = dladm.Dladm(transport_)
        self.ipadm = dladm.Ipadm(transport_)
        self.zonelogs = zonelog.ZoneLogs(transport_)

    @classmethod
    def connect(cls, uri: str, **options) -> "SmartOSHost":
        return cls(connect(uri, **options))

    @property
    def stats(self):
        return self.transport.stats

    def close(self):
        self.transport.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


__all__ = ["SmartOSHost", "Transport", "connect", "errors", "transport"]
