"""Shared by the imgadm subcommands: errors, option parsing, which datasets are images."""

from __future__ import annotations

import datetime
import re

from openstack_smartos.sim.state import images as imgstore
from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.state.zfs import Pool


DEFAULT_SOURCE = {"url": "https://images.smartos.org", "type": "imgapi"}
LIST_COLUMNS = "uuid,name,version,os,type,pub"
LIST_SORT = "published_at,name"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
IMAGE_TYPES = ("zone-dataset", "lx-dataset", "zvol", "docker", "lxd", "other")
_CHUNK = 1 << 20


class ImgadmError(ToolFailure):
    """Printed as ``imgadm <subcmd>: error (<Code>): <message>``."""

    def __init__(self, code_name, message, exit_code=1):
        super().__init__(message, exit_code)
        self.code_name = code_name


class UsageError(Exception):
    pass


def _options(rest, flags=(), valued=()):
    """Tiny getopt: returns (opts, positional). Values may repeat."""
    opts, positional = {}, []
    items = list(rest)
    while items:
        item = items.pop(0)
        if item == "--":
            positional.extend(items)
            break
        if item.startswith("-") and item != "-":
            name = item.lstrip("-")
            value = None
            if "=" in name and item.startswith("--"):
                name, value = name.split("=", 1)
            if name in valued:
                if value is None:
                    if not items:
                        raise UsageError(f"option {item} requires an argument")
                    value = items.pop(0)
                opts.setdefault(name, []).append(value)
            elif name in flags:
                opts[name] = True
            elif len(name) > 1 and not item.startswith("--") and all(c in flags for c in name):
                for letter in name:
                    opts[letter] = True
            else:
                raise UsageError(f'unknown option: "{item}"')
        else:
            positional.append(item)
    return opts, positional


def _pool_name(ctx, opts):
    return (opts.get("P") or [ctx.host.zpool])[-1]


# -- which datasets are images ------------------------------------------------
def _installed(ctx, zpool):
    """{uuid: {"manifest", "zpool", "source"}} for every installed image."""
    pool = Pool(ctx.host)
    cached = {img["manifest"]["uuid"]: img for img in imgstore.all_images(ctx.host)}
    zoneroots = _zoneroot_names(ctx)
    images = {}
    for ds in pool.list(root=zpool, types=("filesystem", "volume"), depth=1):
        name = ds["name"]
        uuid = name.split("/", 1)[1] if "/" in name else ""
        if not UUID_RE.match(uuid) or uuid in zoneroots:
            continue
        if str(ds.get("imgadm:ignore", "")) == "true":
            continue
        snaps = [s["name"].split("@", 1)[1] for s in pool.snapshots(name)]
        if ds.get("origin") not in (None, "-", "") and "final" not in snaps:
            continue  # a clone of an image, not an image
        entry = cached.get(uuid) or {"manifest": {"uuid": uuid}, "zpool": zpool}
        images[uuid] = {"manifest": entry["manifest"], "zpool": zpool,
                        "source": entry.get("source")}
    return images


def _zoneroot_names(ctx):
    try:
        from openstack_smartos.sim.state import vms as vmstore
        return {vm["uuid"] for vm in vmstore.all_vms(ctx.host)}
    except NotImplementedError:
        return set()


def _clones_of(pool, zpool, uuid):
    prefix = f"{zpool}/{uuid}@"
    return [ds["name"] for ds in pool.list(root=zpool, types=("filesystem", "volume"))
            if str(ds.get("origin") or "").startswith(prefix)]


def _not_installed(uuid, zpool):
    return ImgadmError("ImageNotInstalled",
                       f'image "{uuid}" was not found on zpool "{zpool}"', 3)


def _now_iso():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
