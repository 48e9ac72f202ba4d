"""zfs and zpool: dispatch of argv to the subcommands."""

from __future__ import annotations

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.zfs import Pool, ZFSError
from openstack_smartos.sim.commands.zfs.common import _usage
from openstack_smartos.sim.commands.zfs.datasets import (zfs_clone, zfs_create, zfs_destroy,
                                                         zfs_get, zfs_hold, zfs_holds, zfs_inherit,
                                                         zfs_list, zfs_promote, zfs_release,
                                                         zfs_rename, zfs_rollback, zfs_set,
                                                         zfs_snapshot)
from openstack_smartos.sim.commands.zfs.replication import zfs_receive, zfs_send
from openstack_smartos.sim.commands.zfs.zpool import _zpool


def main(ctx) -> int:
    args = list(ctx.args)
    if not args:
        raise _usage("missing command", ctx.tool)
    pool = Pool(ctx.host)
    try:
        if ctx.tool == "zpool":
            return _zpool(ctx, pool, args)
        command, rest = args[0], args[1:]
        handler = COMMANDS.get(command)
        if handler is None:
            raise _usage(f"unrecognized command '{command}'")
        return handler(ctx, pool, rest)
    except ZFSError as exc:
        raise ToolFailure(exc.message, exc.code) from None
    finally:
        pool.close()


COMMANDS = {
    "list": zfs_list, "get": zfs_get, "set": zfs_set, "inherit": zfs_inherit,
    "snapshot": zfs_snapshot, "snap": zfs_snapshot, "clone": zfs_clone,
    "create": zfs_create, "destroy": zfs_destroy, "rollback": zfs_rollback,
    "rename": zfs_rename, "promote": zfs_promote, "hold": zfs_hold,
    "release": zfs_release, "holds": zfs_holds, "send": zfs_send,
    "receive": zfs_receive, "recv": zfs_receive,
}
