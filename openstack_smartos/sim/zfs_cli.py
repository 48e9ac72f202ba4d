"""The emulated ``zfs`` and ``zpool`` commands (illumos syntax and output).

Everything is done through ``openstack_smartos.sim.zfs.Pool``; this module
only parses argv and formats output. Failures print to stderr and exit 1;
usage errors exit 2.
"""

from __future__ import annotations

import contextlib
import getopt
import time

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.zfs import (ALL_PROPS, READONLY, SETTABLE, Pool, ZFSError,
                                       canonical_prop, is_user_prop, nicenum)

SIZE_COLUMNS = {"used", "available", "referenced", "logicalused", "logicalreferenced",
                "usedbysnapshots", "usedbydataset", "usedbychildren",
                "usedbyrefreservation", "quota", "refquota", "reservation",
                "refreservation", "volsize", "volblocksize", "recordsize", "written"}
NONE_WHEN_ZERO = {"quota", "refquota", "reservation", "refreservation"}
NUMERIC_COLUMNS = SIZE_COLUMNS | {"userrefs", "guid", "createtxg", "creation"}
HEADERS = {"available": "AVAIL", "referenced": "REFER", "compressratio": "RATIO",
           "refcompressratio": "REFRATIO", "usedbysnapshots": "USEDSNAP",
           "usedbydataset": "USEDDS", "usedbychildren": "USEDCHILD",
           "usedbyrefreservation": "USEDREFRESERV", "reservation": "RESERV",
           "refreservation": "REFRESERV", "volblocksize": "VOLBLOCK",
           "recordsize": "RECSIZE", "logicalused": "LUSED",
           "logicalreferenced": "LREFER", "receive_resume_token": "RESUMETOK",
           "snapshot_limit": "SSLIMIT", "filesystem_limit": "FSLIMIT",
           "compression": "COMPRESS", "primarycache": "PRIMARYCACHE"}
TYPE_ALIASES = {"filesystem": "filesystem", "fs": "filesystem", "volume": "volume",
                "vol": "volume", "snapshot": "snapshot", "snap": "snapshot",
                "bookmark": None, "all": "all"}

ZFS_USAGE = """usage: zfs command args ...
where 'command' is one of the following:

\tcreate [-p] [-o property=value] ... <filesystem>
\tcreate [-ps] [-b blocksize] [-o property=value] ... -V <size> <volume>
\tdestroy [-fnpRrv] <filesystem|volume>
\tdestroy [-dnpRrv] <filesystem|volume>@<snap>[%<snap>][,...]

\tsnapshot [-r] [-o property=value] ... <filesystem|volume>@<snap> ...
\trollback [-rRf] <snapshot>
\tclone [-p] [-o property=value] ... <snapshot> <filesystem|volume>
\tpromote <clone-filesystem>
\trename [-f] <filesystem|volume|snapshot> <filesystem|volume|snapshot>
\trename [-f] -p <filesystem|volume> <filesystem|volume>

\tlist [-Hp] [-r|-d max] [-o property[,...]] [-s property]...
\t    [-S property]... [-t type[,...]] [filesystem|volume|snapshot] ...

\tset <property=value> ... <filesystem|volume|snapshot> ...
\tget [-rHp] [-d max] [-o "all" | field[,...]]
\t    [-t type[,...]] [-s source[,...]]
\t    <"all" | property[,...]> [filesystem|volume|snapshot] ...
\tinherit [-r] <property> <filesystem|volume|snapshot> ...

\tsend [-DnPpRvLec] [-[iI] snapshot] <snapshot>
\tsend [-nvPe] -t <receive_resume_token>
\treceive [-vnsFu] [-o <property>=<value>] ... [-x <property>] ...
\t    <filesystem|volume|snapshot>
\treceive -A <filesystem|volume>

\thold [-r] <tag> <snapshot> ...
\tholds [-r] <snapshot> ...
\trelease [-r] <tag> <snapshot> ..."""

ZPOOL_USAGE = """usage: zpool command args ...
where 'command' is one of the following:

\tlist [-Hp] [-o property[,...]] [-T d|u] [pool] ... [interval [count]]
\tstatus [-vx] [-T d|u] [pool] ... [interval [count]]
\tget [-Hp] [-o "all" | field[,...]] <"all" | property[,...]> <pool> ..."""


def _usage(message="", tool="zfs"):
    text = ZFS_USAGE if tool == "zfs" else ZPOOL_USAGE
    return ToolFailure((message + "\n" if message else "") + text, 2)


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


def _getopt(args, short, long=(), tool="zfs"):
    try:
        return getopt.getopt(args, short, list(long))
    except getopt.GetoptError as exc:
        if "requires argument" in exc.msg:
            raise _usage(f"missing argument for '{exc.opt}' option", tool) from None
        raise _usage(f"invalid option '{exc.opt}'", tool) from None


def _props_option(value, props):
    prop, sep, val = value.partition("=")
    if not sep or not prop:
        raise _usage(f"missing '=' for property=value argument")
    if prop in props:
        raise ToolFailure(f"property '{prop}' specified multiple times", 2)
    props[prop] = val


@contextlib.contextmanager
def _reading(pool):
    """A consistent read snapshot (deferred transaction, no host lock)."""
    db = pool.db
    if db.in_transaction:
        yield
        return
    db.execute("BEGIN")
    try:
        yield
    finally:
        db.execute("COMMIT")


# -- formatting -------------------------------------------------------------------

def format_value(prop, value, parsable):
    if value is None or value == "-":
        return "-"
    if prop in SIZE_COLUMNS and isinstance(value, int):
        if value == 0 and prop in NONE_WHEN_ZERO and not parsable:
            return "none"
        return str(value) if parsable else nicenum(value)
    if prop == "creation" and isinstance(value, int):
        return str(value) if parsable else _date(value)
    if prop in ("compressratio", "refcompressratio") and parsable:
        return str(value).rstrip("x")
    return str(value)


def _date(epoch):
    return time.strftime("%a %b %e %H:%M %Y", time.localtime(epoch))


def _table(ctx, headers, rows, scripted, right=()):
    if scripted:
        for row in rows:
            ctx.out("\t".join(row))
        return
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for line in [headers] + rows:
        cells = []
        for i, cell in enumerate(line):
            last = i == len(line) - 1
            if i in right:
                cells.append(cell.rjust(widths[i]))
            else:
                cells.append(cell if last else cell.ljust(widths[i]))
        ctx.out("  ".join(cells).rstrip())


def _header(prop):
    if is_user_prop(prop):
        return prop
    return HEADERS.get(prop, prop.upper())


def _check_prop(prop, allow_name=True):
    prop = canonical_prop(prop)
    if prop == "name" and allow_name:
        return prop
    if is_user_prop(prop) or prop in ALL_PROPS or prop in SETTABLE or prop in READONLY:
        return prop
    raise ToolFailure(f"bad property list: invalid property '{prop}'\n" + ZFS_USAGE
                      .split("\n\n")[0], 2)


def _types(value):
    types = set()
    for item in value.split(","):
        if item not in TYPE_ALIASES:
            raise ToolFailure(f"invalid type '{item}'\nfor type list, expected one or more "
                              "of:\n\tfilesystem\n\tsnapshot\n\tvolume\n\tbookmark\n\tall",
                              2)
        kind = TYPE_ALIASES[item]
        if kind == "all":
            types |= {"filesystem", "volume", "snapshot"}
        elif kind:
            types.add(kind)
    return types


def _select(pool, names, types, recursive, depth):
    """The datasets (dicts of props) zfs list/get would show, and errors."""
    out, errors = [], []
    if not names:
        out = pool.list(None, types=types, recursive=True, depth=depth)
        return out, errors
    for name in names:
        try:
            if "@" in name:
                if recursive or depth is not None:
                    # zfs list -r ds@snap: that snapshot on the dataset and descendants.
                    dataset, snap = name.split("@", 1)
                    for entry in pool.list(dataset, types={"filesystem", "volume"},
                                           recursive=True, depth=depth):
                        full = f"{entry['name']}@{snap}"
                        if pool.exists(full):
                            out.append(pool.get_props(full))
                    if not pool.exists(name):
                        raise ZFSError(f"cannot open '{name}': dataset does not exist")
                else:
                    out.append(pool.get_props(name))
            else:
                kind = pool.type_of(name)
                if kind is None:
                    raise ZFSError(f"cannot open '{name}': dataset does not exist")
                if recursive or depth is not None:
                    out.extend(pool.list(name, types=types, recursive=True, depth=depth))
                elif types <= {"snapshot"}:
                    # zfs list -t snapshot <fs>: that dataset's snapshots.
                    out.extend(e for e in pool.list(name, types={"snapshot"},
                                                    recursive=False)
                               if e["type"] == "snapshot")
                else:
                    out.append(pool.get_props(name))
        except ZFSError as exc:
            errors.append(exc.message)
    return out, errors


def _sort_key(prop):
    def key(entry):
        value = entry.get(prop, "-")
        if prop == "creation":
            return (0, entry.get("creation", 0), entry.get("createtxg", 0))
        if isinstance(value, int):
            return (0, value, "")
        if value in ("-", None):
            return (2, 0, "")
        return (1, 0, str(value))
    return key


# -- zfs subcommands ----------------------------------------------------------------

def zfs_list(ctx, pool, args):
    opts, names = _getopt(args, "Hprd:o:s:S:t:")
    scripted = parsable = recursive = False
    depth = None
    columns = ["name", "used", "available", "referenced", "mountpoint"]
    sorts = []
    types = None
    for opt, value in opts:
        if opt == "-H":
            scripted = True
        elif opt == "-p":
            parsable = True
        elif opt == "-r":
            recursive = True
        elif opt == "-d":
            try:
                depth = int(value)
            except ValueError:
                raise _usage(f"invalid depth '{value}'") from None
        elif opt == "-o":
            columns = [_check_prop(p) for p in value.split(",")]
        elif opt in ("-s", "-S"):
            sorts.append((_check_prop(value), opt == "-S"))
        elif opt == "-t":
            types = _types(value)
    if types is None:
        types = {"filesystem", "volume"}
        if any("@" in n for n in names):
            types.add("snapshot")
    with _reading(pool):
        entries, errors = _select(pool, names, types, recursive, depth)
    entries = [e for e in entries if e["type"] in types or any(
        e["name"] == n for n in names)]
    for prop, reverse in reversed(sorts):
        entries.sort(key=_sort_key(prop), reverse=reverse)
    rows = [[format_value(c, e.get(c, "-"), parsable) for c in columns] for e in entries]
    for message in errors:
        ctx.err(message)
    if rows or names:
        right = {i for i, c in enumerate(columns) if c in NUMERIC_COLUMNS}
        if rows:
            _table(ctx, [_header(c) for c in columns], rows, scripted, right)
    elif not scripted:
        ctx.out("no datasets available")
    return 1 if errors else 0


def zfs_get(ctx, pool, args):
    opts, rest = _getopt(args, "Hprd:o:s:t:")
    scripted = parsable = recursive = False
    depth = None
    fields = ["name", "property", "value", "source"]
    sources = None
    types = {"filesystem", "volume", "snapshot"}
    for opt, value in opts:
        if opt == "-H":
            scripted = True
        elif opt == "-p":
            parsable = True
        elif opt == "-r":
            recursive = True
        elif opt == "-d":
            depth = int(value)
        elif opt == "-o":
            fields = value.split(",")
            if fields == ["all"]:
                fields = ["name", "property", "value", "received", "source"]
            for field in fields:
                if field not in ("name", "property", "value", "source", "received"):
                    raise _usage(f"invalid field '{field}'")
        elif opt == "-s":
            sources = set(value.split(","))
        elif opt == "-t":
            types = _types(value)
    if not rest:
        raise _usage("missing property argument")
    requested = rest[0].split(",")
    names = rest[1:]
    if requested != ["all"]:
        requested = [_check_prop(p, allow_name=True) for p in requested]
    with _reading(pool):
        entries, errors = _select(pool, names, types if not names else
                                  types | {"filesystem", "volume"}, recursive, depth)
        rows = []
        for entry in entries:
            if entry["type"] not in types:
                continue
            srcs = pool.get_sources(entry["name"])
            props = requested
            if props == ["all"]:
                props = [p for p in ALL_PROPS if p in entry] + sorted(
                    p for p in entry if is_user_prop(p))
            for prop in props:
                value = entry.get(prop, "-")
                source = srcs.get(prop, "-")
                if prop == "name":
                    source = "-"
                short = source.split(" ")[0]
                if sources and short not in sources and not (
                        short == "-" and "none" in sources):
                    continue
                cells = {"name": entry["name"], "property": prop,
                         "value": format_value(prop, value, parsable),
                         "source": source, "received": "-"}
                rows.append([cells[f] for f in fields])
    for message in errors:
        ctx.err(message)
    if rows:
        _table(ctx, [f.upper() for f in fields], rows, scripted)
    return 1 if errors else 0


def zfs_set(ctx, pool, args):
    opts, rest = _getopt(args, "")
    assignments = [a for a in rest if "=" in a and "@" not in a.split("=", 1)[0]]
    names = rest[len(assignments):]
    if not assignments:
        raise _usage("missing property=value argument(s)" if rest else
                     "missing property=value argument(s)")
    if not names:
        raise _usage("missing dataset name(s)")
    failed = False
    for name in names:
        for assignment in assignments:
            prop, _, value = assignment.partition("=")
            try:
                pool.set_prop(name, prop, value)
            except ZFSError as exc:
                ctx.err(exc.message)
                failed = True
    return 1 if failed else 0


def zfs_inherit(ctx, pool, args):
    opts, rest = _getopt(args, "rS")
    recursive = any(o == "-r" for o, _ in opts)
    if len(rest) < 2:
        raise _usage("missing property argument" if not rest else "missing dataset argument")
    prop, names = rest[0], rest[1:]
    for name in names:
        targets = [name]
        if recursive:
            targets += [e["name"] for e in pool.list(name, recursive=True)][1:]
        for target in targets:
            pool.inherit_prop(target, prop)
    return 0


def zfs_snapshot(ctx, pool, args):
    opts, names = _getopt(args, "ro:")
    recursive = False
    props = {}
    for opt, value in opts:
        if opt == "-r":
            recursive = True
        elif opt == "-o":
            _props_option(value, props)
    if not names:
        raise _usage("missing snapshot argument")
    for name in names:
        if "@" not in name:
            raise ToolFailure(f"cannot create snapshot '{name}': empty component or "
                              "misplaced '@' or '#' delimiter in name")
        pool.snapshot(name, recursive=recursive, props=props or None)
    return 0


def zfs_clone(ctx, pool, args):
    opts, rest = _getopt(args, "pFo:")
    props = {}
    for opt, value in opts:
        if opt == "-o":
            _props_option(value, props)
    if len(rest) < 2:
        raise _usage("missing source dataset argument" if not rest
                     else "missing target dataset argument")
    if len(rest) > 2:
        raise _usage("too many arguments")
    parents = any(o == "-p" for o, _ in opts)
    if parents:
        parent = rest[1].rsplit("/", 1)[0]
        if parent and not pool.exists(parent):
            pool.create_filesystem(parent, parents=True)
    pool.clone(rest[0], rest[1], props=props)
    return 0


def zfs_create(ctx, pool, args):
    opts, rest = _getopt(args, "psV:b:o:")
    props = {}
    parents = sparse = False
    volsize = None
    for opt, value in opts:
        if opt == "-p":
            parents = True
        elif opt == "-s":
            sparse = True
        elif opt == "-V":
            volsize = value
        elif opt == "-b":
            props["volblocksize"] = value
        elif opt == "-o":
            _props_option(value, props)
    if not rest:
        raise _usage("missing filesystem argument")
    if len(rest) > 1:
        raise _usage("too many arguments")
    if sparse and volsize is None:
        raise _usage("'-s' and '-b' can only be used when creating a volume")
    if volsize is not None:
        pool.create_volume(rest[0], volsize, props=props, sparse=sparse, parents=parents)
    else:
        if "volblocksize" in props:
            raise _usage("'-s' and '-b' can only be used when creating a volume")
        pool.create_filesystem(rest[0], props=props, parents=parents)
    return 0


def zfs_destroy(ctx, pool, args):
    opts, rest = _getopt(args, "rRfnvpd")
    flags = {o for o, _ in opts}
    if not rest:
        raise _usage("missing dataset argument")
    if len(rest) > 1:
        raise _usage("too many arguments")
    name = rest[0]
    dry = "-n" in flags
    names = pool.destroy(name, recursive="-r" in flags or "-R" in flags,
                         dependents="-R" in flags, force="-f" in flags, dry_run=dry)
    if "-v" in flags or "-p" in flags:
        for item in names:
            if "-p" in flags:
                ctx.out(f"destroy\t{item}")
            else:
                ctx.out(f"{'would' if dry else 'will'} destroy {item}")
    return 0


def zfs_rollback(ctx, pool, args):
    opts, rest = _getopt(args, "rRf")
    flags = {o for o, _ in opts}
    if len(rest) != 1:
        raise _usage("missing dataset argument" if not rest else "too many arguments")
    pool.rollback(rest[0], destroy_newer="-r" in flags or "-R" in flags,
                  destroy_clones="-R" in flags)
    return 0


def zfs_rename(ctx, pool, args):
    opts, rest = _getopt(args, "fpr")
    flags = {o for o, _ in opts}
    if len(rest) != 2:
        raise _usage("missing source dataset argument" if not rest else
                     "missing target dataset argument" if len(rest) == 1 else
                     "too many arguments")
    old, new = rest
    if "-r" in flags:
        if "@" not in old:
            raise _usage("source dataset for recursive rename must be a snapshot")
        dataset, snap = old.split("@", 1)
        newsnap = new.split("@", 1)[1] if "@" in new else new
        for entry in pool.list(dataset, recursive=True):
            if pool.exists(f"{entry['name']}@{snap}"):
                pool.rename(f"{entry['name']}@{snap}", f"{entry['name']}@{newsnap}")
        return 0
    if "@" in old and not new.startswith("@") and "@" not in new:
        new = "@" + new
    if new.startswith("@"):
        new = old.split("@", 1)[0] + new
    pool.rename(old, new, parents="-p" in flags)
    return 0


def zfs_promote(ctx, pool, args):
    opts, rest = _getopt(args, "")
    if len(rest) != 1:
        raise _usage("missing clone filesystem argument" if not rest else
                     "too many arguments")
    pool.promote(rest[0])
    return 0


def _hold_targets(pool, names, recursive):
    for name in names:
        if "@" not in name:
            raise ToolFailure(f"'{name}' is not a snapshot")
        if not recursive:
            yield name
            continue
        dataset, snap = name.split("@", 1)
        if not pool.exists(dataset):
            raise ZFSError(f"cannot open '{dataset}': dataset does not exist")
        for entry in pool.list(dataset, recursive=True):
            full = f"{entry['name']}@{snap}"
            if pool.exists(full):
                yield full


def _hold_or_release(pool, args, operation):
    opts, rest = _getopt(args, "r")
    recursive = any(o == "-r" for o, _ in opts)
    if len(rest) < 2:
        raise _usage("too few arguments")
    tag, names = rest[0], rest[1:]
    for name in list(_hold_targets(pool, names, recursive)):
        operation(tag, name)
    return 0


def zfs_hold(ctx, pool, args):
    return _hold_or_release(pool, args, pool.hold)


def zfs_release(ctx, pool, args):
    return _hold_or_release(pool, args, pool.release)


def zfs_holds(ctx, pool, args):
    opts, rest = _getopt(args, "rHp")
    flags = {o for o, _ in opts}
    if not rest:
        raise _usage("missing snapshot argument")
    rows = []
    for name in list(_hold_targets(pool, rest, "-r" in flags)):
        for tag, created in pool.holds_detail(name):
            stamp = str(created) if "-p" in flags else _date(created)
            rows.append([name, tag, stamp])
    if rows or "-H" not in flags:
        _table(ctx, ["NAME", "TAG", "TIMESTAMP"], rows, "-H" in flags)
    return 0


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


COMMANDS = {
    "list": zfs_list, "get": zfs_get, "set": zfs_set, "inherit": zfs_inherit,
    "snapshot": zfs_snapshot, "snap": zfs_snapshot, "clone": zfs_clone,
    "create": zfs_create, "destroy": zfs_destroy, "rollback": zfs_rollback,
    "rename": zfs_rename, "promote": zfs_promote, "hold": zfs_hold,
    "release": zfs_release, "holds": zfs_holds, "send": zfs_send,
    "receive": zfs_receive, "recv": zfs_receive,
}


# -- zpool ------------------------------------------------------------------------

ZPOOL_COLUMNS = ["name", "size", "allocated", "free", "checkpoint", "expandsize",
                 "fragmentation", "capacity", "dedupratio", "health", "altroot"]
ZPOOL_ALIASES = {"alloc": "allocated", "cap": "capacity", "frag": "fragmentation",
                 "dedup": "dedupratio", "expandsz": "expandsize", "ckpoint": "checkpoint"}
ZPOOL_HEADERS = {"allocated": "ALLOC", "capacity": "CAP", "fragmentation": "FRAG",
                 "dedupratio": "DEDUP", "expandsize": "EXPANDSZ",
                 "checkpoint": "CKPOINT"}


def _zpool_values(pool, parsable):
    stats = pool.pool_stats()
    size = lambda n: str(n) if parsable else nicenum(n)  # noqa: E731
    return {"name": stats["name"], "size": size(stats["size"]),
            "allocated": size(stats["alloc"]), "free": size(stats["free"]),
            "checkpoint": "-", "expandsize": "-",
            "fragmentation": "0" if parsable else "0%",
            "capacity": str(stats["cap"]) if parsable else f"{stats['cap']}%",
            "dedupratio": "1.00" if parsable else "1.00x", "health": stats["health"],
            "altroot": "-", "guid": str(abs(hash(stats["name"])) % (1 << 63)),
            "readonly": "off", "autoexpand": "off", "version": "-",
            "bootfs": "-", "failmode": "wait"}


def _zpool(ctx, pool, args):
    command, rest = args[0], args[1:]
    if command == "list":
        opts, names = _getopt(rest, "Hpo:T:", tool="zpool")
        flags = {o for o, _ in opts}
        columns = ZPOOL_COLUMNS
        for opt, value in opts:
            if opt == "-o":
                columns = [ZPOOL_ALIASES.get(c, c) for c in value.split(",")]
                for column in columns:
                    if column not in ZPOOL_COLUMNS and column != "guid":
                        raise _usage(f"invalid property '{column}'", "zpool")
        for name in names:
            if name != pool.name:
                raise ToolFailure(f"cannot open '{name}': no such pool")
        with _reading(pool):
            values = _zpool_values(pool, "-p" in flags)
        headers = [ZPOOL_HEADERS.get(c, c.upper()) for c in columns]
        right = {i for i, c in enumerate(columns)
                 if c in ("size", "allocated", "free", "fragmentation", "capacity",
                          "dedupratio", "expandsize", "checkpoint")}
        _table(ctx, headers, [[values[c] for c in columns]], "-H" in flags, right)
        return 0
    if command == "get":
        opts, rest2 = _getopt(rest, "Hpo:", tool="zpool")
        flags = {o for o, _ in opts}
        fields = ["name", "property", "value", "source"]
        for opt, value in opts:
            if opt == "-o":
                fields = value.split(",")
        if not rest2:
            raise _usage("missing property argument", "zpool")
        props = rest2[0].split(",")
        names = rest2[1:] or [pool.name]
        for name in names:
            if name != pool.name:
                raise ToolFailure(f"cannot open '{name}': no such pool")
        with _reading(pool):
            values = _zpool_values(pool, "-p" in flags)
        if props == ["all"]:
            props = [p for p in values if p != "name"]
        rows = []
        for prop in props:
            prop = ZPOOL_ALIASES.get(prop, prop)
            if prop not in values:
                raise _usage(f"bad property list: invalid property '{prop}'", "zpool")
            cells = {"name": pool.name, "property": prop, "value": values[prop],
                     "source": "-" if prop not in ("autoexpand", "failmode") else "default"}
            rows.append([cells[f] for f in fields])
        _table(ctx, [f.upper() for f in fields], rows, "-H" in flags)
        return 0
    if command == "status":
        opts, names = _getopt(rest, "vxT:", tool="zpool")
        for name in names:
            if name != pool.name:
                raise ToolFailure(f"cannot open '{name}': no such pool")
        if any(o == "-x" for o, _ in opts):
            ctx.out("all pools are healthy")
            return 0
        ctx.out(f"  pool: {pool.name}\n state: ONLINE\n  scan: none requested\nconfig:\n\n"
                f"\tNAME        STATE     READ WRITE CKSUM\n"
                f"\t{pool.name:<10}  ONLINE       0     0     0\n"
                f"\t  c1t0d0    ONLINE       0     0     0\n\nerrors: No known data errors")
        return 0
    raise _usage(f"unrecognized command '{command}'", "zpool")
