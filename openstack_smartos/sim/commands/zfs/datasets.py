"""zfs subcommands on datasets and snapshots: list, get, set, create, destroy, rename, holds."""

from __future__ import annotations

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.zfs import ALL_PROPS, ZFSError, is_user_prop
from openstack_smartos.sim.state.zfs.names import parse_size
from openstack_smartos.sim.state.zfs.reservation import auto_refreservation
from openstack_smartos.sim.commands.zfs.common import (NUMERIC_COLUMNS, _check_prop, _date,
                                                       _getopt, _header, _props_option, _reading,
                                                       _select, _sort_key, _table, _types, _usage,
                                                       format_value)


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
    """zfs create [-Pnpsv] [-b blocksize] [-o prop=value] ... [-V size] name.

    -n is a dry run, -v prints what is (or would be) created, -P (parsable,
    implies -v) prints ``create\t<name>`` then ``property\t<name>\t<value>``
    for each property in the order given (zfs_main.c zfs_do_create), the
    computed refreservation of a non-sparse volume last. VM.js
    volsizeToRefreservation reads that line from ``zfs create -nPV``.
    """
    opts, rest = _getopt(args, "PnpsuvV:b:o:")
    props = {}
    shown = {}                 # what -v/-P print: -V/-b as numbers, -o as given
    parents = sparse = dry = verbose = parsable = False
    volsize = None
    for opt, value in opts:
        if opt == "-p":
            parents = True
        elif opt == "-s":
            sparse = True
        elif opt == "-n":
            dry = True
        elif opt == "-v":
            verbose = True
        elif opt == "-P":
            verbose = parsable = True
        elif opt == "-V":
            volsize = _size_argument(value, "volume size")
            shown["volsize"] = volsize
        elif opt == "-b":
            props["volblocksize"] = value
            shown["volblocksize"] = _size_argument(value, "volume block size")
        elif opt == "-o":
            _props_option(value, props)
            shown[value.partition("=")[0]] = value.partition("=")[2]
    if sparse and volsize is None or volsize is None and "volblocksize" in props:
        raise _usage("'-s' and '-b' can only be used when creating a volume")
    if not rest:
        raise _usage("missing volume argument" if volsize is not None
                     else "missing filesystem argument")
    if len(rest) > 1:
        raise _usage("too many arguments")
    name = rest[0]
    if volsize is not None and not sparse and "refreservation" not in props:
        shown["refreservation"] = auto_refreservation(
            volsize, _size_argument(props.get("volblocksize", 8192), "volume block size"),
            props.get("copies", 1))
    if verbose:
        if parents and not pool.exists(name):
            ctx.out(f"create_ancestors\t{name}" if parsable else
                    f"{'would create' if dry else 'create'} ancestors of {name}")
        ctx.out(f"create\t{name}" if parsable else
                f"{'would create' if dry else 'create'} {name}")
        for prop, value in shown.items():
            ctx.out(f"property\t{prop}\t{value}" if parsable else f"\t{prop}={value}")
    if dry:
        if name.split("/")[0] != pool.name:
            raise ToolFailure(f"cannot open '{name.split('/')[0]}': no such pool", 1)
        return 0
    if volsize is not None:
        pool.create_volume(name, volsize, props=props, sparse=sparse, parents=parents)
    else:
        pool.create_filesystem(name, props=props, parents=parents)
    return 0


def _size_argument(value, what):
    try:
        return parse_size(value)
    except ZFSError:
        raise ToolFailure(f"bad {what} '{value}': bad numeric value '{value}'", 1) from None


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
