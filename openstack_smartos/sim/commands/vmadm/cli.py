"""vmadm's command line: global flags, dispatch, usage errors (§1.1, §1.2)."""

from __future__ import annotations

from openstack_smartos.sim.commands.vmadm import lifecycle, listing, update
from openstack_smartos.sim.commands.vmadm.common import USAGE, Usage

GLOBAL_FLAGS = ("-d", "--debug", "-v", "--verbose")
ALIASES = {"boot": "start", "halt": "stop", "destroy": "delete", "json": "get",
           "recv": "receive"}


def _commands():
    from openstack_smartos.sim.commands.vmadm import events, sendrecv, snapshots
    return {
        "create": lifecycle.cmd_create, "start": lifecycle.cmd_start,
        "stop": lifecycle.cmd_stop, "reboot": lifecycle.cmd_reboot,
        "delete": lifecycle.cmd_delete, "kill": lifecycle.cmd_kill,
        "console": lifecycle.cmd_console, "info": lifecycle.cmd_info,
        "sysrq": lifecycle.cmd_sysrq, "update": update.cmd_update,
        "validate": update.cmd_validate, "get": listing.cmd_get,
        "list": listing.cmd_list, "lookup": listing.cmd_lookup,
        "create-snapshot": snapshots.cmd_create_snapshot,
        "delete-snapshot": snapshots.cmd_delete_snapshot,
        "rollback-snapshot": snapshots.cmd_rollback_snapshot,
        "send": sendrecv.cmd_send, "receive": sendrecv.cmd_receive,
        "events": events.cmd_events,
    }


def main(ctx) -> int:
    args = [a for a in ctx.args if a not in GLOBAL_FLAGS]
    if not args:
        ctx.err(USAGE, end="")
        return 2
    command = args[0]
    if command in ("-h", "-?", "--help", "help"):
        ctx.out(USAGE, end="")
        return 0
    handler = _commands().get(ALIASES.get(command, command))
    if handler is None:
        ctx.err(f'Invalid command: "{command}".')
        ctx.err(USAGE, end="")
        return 2
    try:
        return handler(ctx, args[1:]) or 0
    except Usage as usage:
        if usage.message:
            ctx.err(usage.message)
        ctx.err(USAGE, end="")
        return 2
