"""The emulated vmadm (reference §1-§4): ``main(ctx) -> exit code``.

Modules: ``cli`` (dispatch and usage), ``payload`` (validation, normalisation
and defaults; pure), ``proptable`` (the property table), ``store`` (VM records
and the ``vmadm get`` object), ``state`` (zone states and timed transitions),
``datasets`` (the VM's ZFS datasets), ``lifecycle`` (create, start, stop,
reboot, delete, info, sysrq, kill, console), ``update`` (update, validate),
``listing`` (get, list, lookup), ``snapshots``, ``sendrecv`` and ``events``.
"""

from __future__ import annotations


def main(ctx) -> int:
    from openstack_smartos.sim.vmadm import cli
    return cli.main(ctx)
