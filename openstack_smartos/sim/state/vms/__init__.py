"""The VMs of the emulated host, kept by the vmadm emulation (``commands.vmadm``).

Other emulated tools (kstat, fwadm, imgadm, nictagadm) read VMs only through
``all_vms`` and ``get_vm``, which return the same objects ``vmadm get``
prints (records live in the ``vmadm_vms`` table; see ``state.vms.store``).

Modules: ``store`` (VM records and the ``vmadm get`` object), ``runtime``
(zone states and timed transitions) and ``datasets`` (the VMs' ZFS datasets).
"""

from __future__ import annotations


def all_vms(host) -> list[dict]:
    """Every VM on the host, as full ``vmadm get`` objects."""
    from openstack_smartos.sim.state.vms import store
    return store.all_objects(host)


def get_vm(host, uuid) -> dict | None:
    from openstack_smartos.sim.state.vms import store
    return store.get_object(host, uuid)
