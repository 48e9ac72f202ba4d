"""The emulated zpool: list, get and status of the one pool."""

from __future__ import annotations

from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.zfs import nicenum
from openstack_smartos.sim.commands.zfs.common import _getopt, _reading, _table, _usage


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
