"""imgadm list and imgadm get."""

from __future__ import annotations

import json

from openstack_smartos.sim.state.zfs import Pool
from openstack_smartos.sim.commands.imgadm.common import (LIST_COLUMNS, LIST_SORT, UsageError,
                                                          _clones_of, _installed, _not_installed,
                                                          _options, _pool_name)


# -- list / get -------------------------------------------------------------------
def _row(image, clones):
    manifest = image["manifest"]
    published = manifest.get("published_at", "")
    row = dict(manifest)
    row.update({
        "pub": published[:10], "published_date": published[:10],
        "published": published[:19] + ("Z" if published else ""),
        "source": image.get("source") or "", "zpool": image["zpool"],
        "clones": clones, "size": (manifest.get("files") or [{}])[0].get("size", 0),
    })
    return row


def _lookup_path(obj, path):
    for part in path.split("."):
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _matches(row, filters):
    for key, value in filters:
        actual = _lookup_path(row, key)
        if value.startswith("~"):
            if actual is None or value[1:] not in str(actual):
                return False
        elif value in ("true", "false") and isinstance(actual, bool):
            if actual != (value == "true"):
                return False
        elif actual is None or str(actual) != value:
            return False
    return True


def cmd_list(ctx, rest):
    opts, positional = _options(rest, flags=("j", "H", "docker", "h"),
                                valued=("o", "s", "P"))
    filters = []
    for arg in positional:
        if "=" not in arg:
            raise UsageError(f'invalid filter: "{arg}" (must be of the form "field=value")')
        key, value = arg.split("=", 1)
        filters.append((key, value))
    pool = Pool(ctx.host)
    zpool = _pool_name(ctx, opts)
    images = _installed(ctx, zpool)
    rows = []
    for uuid, image in images.items():
        row = _row(image, len(_clones_of(pool, zpool, uuid)))
        if _matches(row, filters):
            rows.append((row, image))
    sort_keys = (opts.get("s") or [LIST_SORT])[-1].split(",")
    for key in reversed(sort_keys):
        descending = key.startswith("-")
        key = key.lstrip("-+")
        rows.sort(key=lambda item: str(item[0].get(key) or ""), reverse=descending)
    if opts.get("j"):
        ctx.out(json.dumps([image for _, image in rows], indent=2))
        return 0
    columns = (opts.get("o") or [LIST_COLUMNS])[-1].split(",")
    table = [[_cell(row.get(c)) for c in columns] for row, _ in rows]
    if not opts.get("H"):
        table.insert(0, [c.upper() for c in columns])
    widths = [max([len(r[i]) for r in table] or [0]) for i in range(len(columns))]
    for line in table:
        ctx.out("  ".join(v.ljust(widths[i]) for i, v in enumerate(line)).rstrip())
    return 0


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def cmd_get(ctx, rest):
    opts, positional = _options(rest, flags=("r",), valued=("P",))
    if len(positional) != 1:
        raise UsageError("incorrect number of args")
    uuid = positional[0]
    zpool = _pool_name(ctx, opts)
    image = _installed(ctx, zpool).get(uuid)
    if image is None:
        raise _not_installed(uuid, zpool)
    result = {"manifest": image["manifest"], "zpool": zpool}
    if image.get("source"):
        result["source"] = image["source"]
    if opts.get("r"):
        pool = Pool(ctx.host)
        result["children"] = {
            "snapshots": [s["name"] for s in pool.snapshots(f"{zpool}/{uuid}")],
            "clones": _clones_of(pool, zpool, uuid)}
    ctx.out(json.dumps(result, indent=2))
    return 0
