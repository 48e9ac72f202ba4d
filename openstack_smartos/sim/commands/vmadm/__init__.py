"""The emulated vmadm (reference §1-§4): ``main(ctx) -> exit code``.

Modules: ``cli`` (dispatch and usage), ``payload`` (validation, normalisation
and defaults; pure), ``values`` (payload constants, ``Problems``, ``Env`` and
checks of single values), ``proptable`` (the property table), ``common``
(helpers of the subcommands), ``lifecycle`` (create, start, stop, reboot,
delete, info, sysrq, kill, console), ``update`` (update, validate),
``listing`` (get, list, lookup), ``snapshots``, ``sendrecv`` and ``events``.
The VM records, runtime states and datasets are host state: ``state.vms``
(``store``, ``runtime``, ``datasets``).
"""

from __future__ import annotations


def main(ctx) -> int:
    from openstack_smartos.sim.commands.vmadm import cli
    return cli.main(ctx)
