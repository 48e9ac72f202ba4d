"""The emulated ``zfs`` and ``zpool`` commands (illumos syntax and output).

Everything is done through ``openstack_smartos.sim.state.zfs.Pool``; this package
only parses argv and formats output. Failures print to stderr and exit 1;
usage errors exit 2.

Modules: ``cli`` (dispatch), ``common`` (usage, options, formatting),
``datasets`` (the zfs subcommands on datasets and snapshots), ``replication``
(send, receive) and ``zpool``.
"""

from __future__ import annotations


def main(ctx) -> int:
    from openstack_smartos.sim.commands.zfs import cli
    return cli.main(ctx)
