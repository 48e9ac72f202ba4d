"""Where the emulated vmadm keeps VMs (owned by the vmadm emulation).

Other emulated tools (kstat, fwadm) read VMs only through ``all_vms`` and
``get_vm``, which return the same objects ``vmadm get`` prints.

STATUS: being implemented with the vmadm emulation.
"""

from __future__ import annotations


def all_vms(host) -> list[dict]:
    """Every VM on the host, as full ``vmadm get`` objects."""
    raise NotImplementedError


def get_vm(host, uuid) -> dict | None:
    raise NotImplementedError
