"""Shared by the zfs and zpool commands: usage texts, option parsing, value formatting, tables."""

from __future__ import annotations

import contextlib
import getopt
import time

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.zfs import (ALL_PROPS, READONLY, SETTABLE, ZFSError,
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
