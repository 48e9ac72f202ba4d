"""zfs send and zfs receive."""

from __future__ import annotations

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.zfs import canonical_prop, nicenum
from openstack_smartos.sim.commands.zfs.common import _getopt, _props_option, _reading, _usage


def zfs_send(ctx, pool, args):
    opts, rest = _getopt(args, "DnPpRvLecwbhi:I:t:",
                         ["replicate", "props", "dryrun", "parsable", "verbose",
                          "large-block", "embed", "compressed", "raw", "resume="])
    dry = parsable = verbose = False
    kwargs = {"incremental_from": None, "intermediates": False, "replicate": False,
              "props": False, "resume_token": None}
    for opt, value in opts:
        if opt in ("-n", "--dryrun"):
            dry = True
        elif opt in ("-P", "--parsable"):
            parsable = True
        elif opt in ("-v", "--verbose"):
            verbose = True
        elif opt in ("-R", "--replicate"):
            kwargs["replicate"] = True
        elif opt in ("-p", "--props"):
            kwargs["props"] = True
        elif opt in ("-i", "-I"):
            if kwargs["incremental_from"]:
                raise _usage("cannot specify multiple -i/-I options")
            kwargs["incremental_from"] = value if "@" in value else "@" + value
            kwargs["intermediates"] = opt == "-I"
        elif opt in ("-t", "--resume"):
            kwargs["resume_token"] = value
    snapshot = None
    if kwargs["resume_token"]:
        if rest:
            raise _usage("too many arguments")
    else:
        if not rest:
            raise _usage("missing snapshot argument")
        if len(rest) > 1:
            raise _usage("too many arguments")
        snapshot = rest[0]
        if "@" not in snapshot:
            raise ToolFailure(f"cannot send '{snapshot}': missing '@' delimiter in "
                              "snapshot name")
        inc = kwargs["incremental_from"]
        if inc and inc.startswith("@"):
            kwargs["incremental_from"] = snapshot.split("@", 1)[0] + inc
    if not dry and ctx.stdout_is_tty:
        raise ToolFailure("Error: Stream can not be written to a terminal.\n"
                          "You must redirect standard output.")
    with _reading(pool):
        if dry or parsable or verbose:
            summary = pool.send_summary(snapshot, **kwargs)
            if summary["kind"] == "full":
                line = f"full\t{summary['to']}\t{summary['size']}"
            else:
                line = (f"incremental\t{summary['from']}\t{summary['to']}"
                        f"\t{summary['size']}")
            emit = ctx.out if dry else ctx.err
            if parsable:
                emit(line)
                emit(f"size\t{summary['size']}")
            else:
                kind = summary["kind"]
                if kind == "full":
                    emit(f"send from @ to {summary['to']} estimated size is "
                         f"{nicenum(summary['size'])}")
                else:
                    emit(f"send from {summary['from']} to {summary['to']} estimated "
                         f"size is {nicenum(summary['size'])}")
                emit(f"total estimated size is {nicenum(summary['size'])}")
        if dry:
            return 0
        pool.send(snapshot, ctx.stdout, **kwargs)
    return 0


def zfs_receive(ctx, pool, args):
    opts, rest = _getopt(args, "uFsAnvdex:o:")
    flags = {o for o, _ in opts}
    exclude, props = [], {}
    for opt, value in opts:
        if opt == "-x":
            exclude.append(canonical_prop(value))
        elif opt == "-o":
            _props_option(value, props)
    if "-d" in flags or "-e" in flags:
        raise ToolFailure("cannot receive: -d and -e are not supported by this emulator", 2)
    if not rest:
        raise _usage("missing snapshot argument")
    if len(rest) > 1:
        raise _usage("too many arguments")
    target = rest[0]
    if "-A" in flags:
        pool.abort_receive(target)
        return 0
    if ctx.stdin_is_tty:
        raise ToolFailure("Error: Backup stream can not be read from a terminal.\n"
                          "You must redirect standard input.")
    if "-n" in flags:
        while ctx.stdin.read(1 << 20):
            pass
        return 0
    created = pool.receive(target, ctx.stdin, force="-F" in flags, unmounted="-u" in flags,
                           resumable="-s" in flags, exclude_props=exclude, set_props=props)
    if "-v" in flags:
        for name in created:
            if "@" in name:
                ctx.out(f"received {name}")
    return 0
