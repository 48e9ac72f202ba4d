"""The emulated imgadm: list, get, install, import, delete, create, sources, vacuum.

Images are datasets ``<pool>/<uuid>`` with one snapshot ``@final`` (filesystems
for zone-dataset and lx-dataset, volumes for zvol); their manifests are cached
in ``imgstore``. ``install`` checksums and decompresses real bytes and
receives them through the emulated ZFS, as imgadm does.
"""

from __future__ import annotations

import bz2
import datetime
import hashlib
import json
import lzma
import os
import queue
import re
import threading
import urllib.error
import urllib.request
import uuid as uuidlib
import zlib

from openstack_smartos.sim import imgstore
from openstack_smartos.sim.tools import ToolFailure
from openstack_smartos.sim.zfs import Pool, ZFSError

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


def main(ctx) -> int:
    args = list(ctx.args)
    while args and args[0] in ("-v", "--verbose", "-E"):
        args.pop(0)
    if not args or args[0] in ("-h", "--help", "help"):
        ctx.out(USAGE)
        return 0
    if args[0] == "--version":
        ctx.out("imgadm 3.10.0")
        return 0
    sub, rest = args[0], args[1:]
    handler = COMMANDS.get(ALIASES.get(sub, sub))
    if handler is None:
        ctx.err(f'imgadm: error (UnknownCommand): unknown command: "{sub}"')
        return 2
    try:
        return handler(ctx, rest) or 0
    except ImgadmError as exc:
        ctx.err(f"imgadm {sub}: error ({exc.code_name}): {exc.message}")
        return exc.code
    except UsageError as exc:
        ctx.err(f"imgadm {sub}: error (Usage): {exc}")
        return 2


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
        from openstack_smartos.sim import vmstore
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


# -- install / import ----------------------------------------------------------
def _validate_manifest(manifest):
    problems = []
    for key in ("uuid", "name", "version", "type", "os"):
        if not manifest.get(key):
            problems.append(f'"{key}" is missing')
    if manifest.get("uuid") and not UUID_RE.match(str(manifest["uuid"])):
        problems.append(f'"uuid" is invalid: {manifest["uuid"]}')
    if manifest.get("type") and manifest["type"] not in IMAGE_TYPES:
        problems.append(f'"type" is invalid: {manifest["type"]}')
    files = manifest.get("files")
    if not files or not isinstance(files, list) or not isinstance(files[0], dict):
        problems.append('"files" is missing')
    elif files[0].get("compression", "none") not in ("gzip", "bzip2", "xz", "none"):
        problems.append(f'"files.0.compression" is invalid: {files[0]["compression"]}')
    if manifest.get("type") == "zvol":
        for key in ("image_size",):
            if manifest.get(key) is None:
                problems.append(f'"{key}" is required for zvol images')
    if problems:
        raise ImgadmError("ManifestValidation",
                          "manifest validation error: " + "; ".join(problems))


class _Decompressor:
    def __init__(self, compression):
        if compression == "gzip":
            self._obj = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif compression == "bzip2":
            self._obj = bz2.BZ2Decompressor()
        elif compression == "xz":
            self._obj = lzma.LZMADecompressor()
        else:
            self._obj = None

    def feed(self, data):
        if self._obj is None:
            return data
        try:
            return self._obj.decompress(data)
        except (zlib.error, OSError, lzma.LZMAError, EOFError, ValueError) as exc:
            raise ImgadmError("UncompressionError", f"error uncompressing image file: {exc}")

    def finish(self):
        if self._obj is None:
            return b""
        tail = self._obj.flush() if hasattr(self._obj, "flush") else b""
        if not self._obj.eof:
            raise ImgadmError("UncompressionError",
                              "error uncompressing image file: truncated data")
        return tail


class _ImageStream:
    """File-like view of the uncompressed image while it is being read.

    A reader thread hashes (sha1) and decompresses the bytes as they arrive,
    so checksum and decompression overlap with the ZFS receive that consumes
    this stream in the caller's thread (both release the GIL). ``read_view``
    hands out slices of the decompressed chunks without copying them.
    """

    def __init__(self, source, compression, cancel):
        self.sha1 = hashlib.sha1()
        self.size = 0
        self._decomp = _Decompressor(compression)
        self._queue = queue.Queue(maxsize=8)
        self._cur = b""         # the chunk being read, from offset _off
        self._off = 0
        self._done = False
        self._cancel = cancel
        self._thread = threading.Thread(target=self._pump, args=(source,), daemon=True)
        self._thread.start()

    def _pump(self, source):
        try:
            while not self._cancel.is_set():
                chunk = source.read(_CHUNK)
                if not chunk:
                    self._queue.put(self._decomp.finish())
                    break
                self.sha1.update(chunk)
                self.size += len(chunk)
                self._queue.put(self._decomp.feed(chunk))
        except BaseException as exc:  # handed to the consumer
            self._queue.put(exc)
        self._queue.put(None)

    def _next(self) -> bool:
        """Make the next non-empty chunk current; False at the end."""
        while not self._done:
            item = self._queue.get()
            if item is None:
                self._done = True
            elif isinstance(item, BaseException):
                self._done = True
                raise item
            elif item:
                self._cur, self._off = item, 0
                return True
        return False

    def read_view(self, size):
        """Exactly ``size`` bytes (fewer only at the end): bytes or a memoryview."""
        cur, off = self._cur, self._off
        avail = len(cur) - off
        if avail >= size:
            self._off = off + size
            if off == 0 and size == len(cur):
                return cur
            return memoryview(cur)[off:off + size]
        parts = [memoryview(cur)[off:]] if avail else []
        need = size - avail
        self._cur, self._off = b"", 0
        while need > 0 and self._next():
            cur = self._cur
            if len(cur) > need:
                parts.append(memoryview(cur)[:need])
                self._off = need
                need = 0
            else:
                parts.append(cur)
                need -= len(cur)
                self._cur = b""
        return b"".join(parts)

    def read(self, size=-1):
        if size is None or size < 0:
            parts = [memoryview(self._cur)[self._off:]]
            self._cur, self._off = b"", 0
            while self._next():
                parts.append(self._cur)
                self._cur = b""
            return b"".join(parts)
        data = self.read_view(size)
        return data if isinstance(data, bytes) else bytes(data)

    def drain(self):
        self._cur, self._off = b"", 0
        while self._next():
            self._cur = b""


def install_image(ctx, manifest, source_stream, zpool, source_url=None, quiet=False):
    """Verify, decompress and receive one image; on any failure leave nothing."""
    _validate_manifest(manifest)
    uuid = manifest["uuid"]
    pool = Pool(ctx.host)
    target = f"{zpool}/{uuid}"
    partial = f"{target}-partial"
    file_info = manifest["files"][0]
    with ctx.host.locked():
        if _installed(ctx, zpool).get(uuid) is not None or pool.exists(target):
            raise ImgadmError("ImageAlreadyInstalled",
                              f'image "{uuid}" is already installed on zpool "{zpool}"')
        if manifest.get("origin"):
            # Incremental images need a receive on top of a clone of the
            # origin; the emulator does not offer that yet.
            raise ImgadmError("NotSupported",
                              f"incremental image {uuid} (origin {manifest['origin']}) "
                              "is not supported by this emulator")
        if pool.exists(partial):
            pool.destroy(partial, recursive=True, force=True)
    stream = _ImageStream(source_stream, file_info.get("compression", "none"), ctx.cancel)
    try:
        with ctx.host.locked():
            try:
                pool.receive(partial, stream, unmounted=True)
            except ZFSError as exc:
                stream.drain()
                raise ImgadmError("InternalError",
                                  f"zfs receive of image {uuid} failed: {exc.message}")
            stream.drain()
            if "size" in file_info and stream.size != int(file_info["size"]):
                raise ImgadmError("DownloadError",
                                  f"image file size mismatch: expected {file_info['size']}, "
                                  f"got {stream.size}")
            if file_info.get("sha1") and stream.sha1.hexdigest() != file_info["sha1"]:
                raise ImgadmError("DownloadError",
                                  f"image file checksum (sha1) mismatch: expected "
                                  f"{file_info['sha1']}, got {stream.sha1.hexdigest()}")
            snaps = [s["name"].split("@", 1)[1] for s in pool.snapshots(partial)]
            if len(snaps) != 1:
                raise ImgadmError("UnexpectedNumberOfSnapshots",
                                  f"image {uuid} stream holds {len(snaps)} snapshots, "
                                  "expected 1")
            if snaps[0] != "final":
                pool.rename(f"{partial}@{snaps[0]}", f"{partial}@final")
            pool.rename(partial, target)
            manifest = dict(manifest)
            manifest.setdefault("published_at", _now_iso())
            imgstore.put_image(ctx.host, manifest, zpool, source_url)
    except BaseException:
        with ctx.host.locked():
            if pool.exists(partial):
                pool.destroy(partial, recursive=True, force=True)
        raise
    return manifest


def cmd_install(ctx, rest):
    opts, positional = _options(rest, flags=("q",), valued=("m", "f", "P"))
    if positional:
        raise UsageError(f'unexpected args ({len(positional)}): "{" ".join(positional)}"')
    if not opts.get("m") or not opts.get("f"):
        raise UsageError("-m <manifest> and -f <file> are required")
    manifest_path, file_path = opts["m"][-1], opts["f"][-1]
    for what, path in (("manifest", manifest_path), ("file", file_path)):
        if path not in ("-", "/dev/stdin", "/dev/fd/0") and not os.path.exists(path):
            raise UsageError(f'{what} path does not exist: "{path}"')
    try:
        with ctx.open_input(manifest_path) as handle:
            manifest = json.loads(handle.read())
    except ValueError as exc:
        raise ImgadmError("InvalidManifest", f"invalid manifest JSON: {exc}")
    if not isinstance(manifest, dict):
        raise ImgadmError("InvalidManifest", "manifest is not a JSON object")
    zpool = _pool_name(ctx, opts)
    label = f"{manifest.get('uuid')} ({manifest.get('name')}@{manifest.get('version')})"
    ctx.out(f"Installing image {label}")
    with ctx.open_input(file_path) as source:
        install_image(ctx, manifest, source, zpool)
    ctx.out(f"Installed image {label}")
    return 0


def _sources(ctx):
    return ctx.host.config.get("imgadm_sources", [DEFAULT_SOURCE])


def cmd_sources(ctx, rest):
    opts, positional = _options(rest, flags=("j", "v", "k", "f", "c", "e"),
                                valued=("a", "d", "t"))
    sources = list(_sources(ctx))
    changed = False
    for url in opts.get("a", []):
        if any(s["url"] == url for s in sources):
            ctx.out(f"Already have {opts.get('t', ['imgapi'])[-1]} source \"{url}\", no change")
            continue
        entry = {"url": url, "type": (opts.get("t") or ["imgapi"])[-1]}
        if opts.get("k"):
            entry["insecure"] = True
        sources.append(entry)
        changed = True
        ctx.out(f'Added "{entry["type"]}" image source "{url}"')
    for url in opts.get("d", []):
        if not any(s["url"] == url for s in sources):
            ctx.out(f'Do not have image source "{url}", no change')
            continue
        sources = [s for s in sources if s["url"] != url]
        changed = True
        ctx.out(f'Deleted image source "{url}"')
    if changed:
        with ctx.host.locked():
            ctx.host.config["imgadm_sources"] = sources
            ctx.host.save_config()
        return 0
    if opts.get("a") or opts.get("d"):
        return 0
    if opts.get("j"):
        ctx.out(json.dumps([{"url": s["url"], "type": s.get("type", "imgapi"),
                             "insecure": bool(s.get("insecure"))} for s in sources], indent=2))
    elif opts.get("v"):
        ctx.out("URL  TYPE  INSECURE")
        for s in sources:
            ctx.out(f"{s['url']}  {s.get('type', 'imgapi')}  {bool(s.get('insecure'))}".lower())
    else:
        for s in sources:
            ctx.out(s["url"])
    return 0


def _fetch(url, timeout=30):
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    return urllib.request.urlopen(request, timeout=timeout)


def cmd_import(ctx, rest):
    opts, positional = _options(rest, flags=("q", "zstream"), valued=("P", "S", "C"))
    if len(positional) != 1:
        raise UsageError("incorrect number of args")
    uuid = positional[0]
    zpool = _pool_name(ctx, opts)
    installed = _installed(ctx, zpool).get(uuid)
    if installed is not None:
        manifest = installed["manifest"]
        ctx.out(f"Image {uuid} ({manifest.get('name')} {manifest.get('version')}) "
                "is already installed, skipping")
        return 0
    urls = opts.get("S") or [s["url"] for s in _sources(ctx)]
    errors = []
    for base in urls:
        base = base.rstrip("/")
        try:
            with _fetch(f"{base}/images/{uuid}") as response:
                manifest = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            errors.append(f"{base}: HTTP {exc.code}")
            continue
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{base}: {exc}")
            continue
        label = f"{uuid} ({manifest.get('name')}@{manifest.get('version')})"
        ctx.out(f'Importing {label} from "{base}"')
        ctx.out(f"Gather image {uuid} ancestry")
        size = (manifest.get("files") or [{}])[0].get("size", 0)
        ctx.out(f"Must download and install 1 image ({size / 1048576:.1f} MiB)")
        try:
            with _fetch(f"{base}/images/{uuid}/file", timeout=300) as response:
                install_image(ctx, manifest, response, zpool, source_url=base)
        except (urllib.error.URLError, OSError) as exc:
            raise ImgadmError("DownloadError", f"error downloading image {uuid}: {exc}")
        ctx.out(f"Downloaded image {uuid} ({size / 1048576:.1f} MiB)")
        ctx.out(f"Imported image {label}")
        return 0
    if errors and all("HTTP 404" in e for e in errors):
        raise ImgadmError("ActiveImageNotFound",
                          f"an active image \"{uuid}\" was not found in image sources")
    raise ImgadmError("ActiveImageNotFound" if not errors else "SourcePing",
                      f'could not find image "{uuid}" in image sources: ' + "; ".join(errors))


def cmd_delete(ctx, rest):
    opts, positional = _options(rest, valued=("P",))
    if len(positional) != 1:
        raise UsageError("incorrect number of args")
    uuid = positional[0]
    zpool = _pool_name(ctx, opts)
    pool = Pool(ctx.host)
    with ctx.host.locked():
        if _installed(ctx, zpool).get(uuid) is None:
            raise _not_installed(uuid, zpool)
        clones = _clones_of(pool, zpool, uuid)
        if clones:
            more = f" and {len(clones) - 1} others..." if len(clones) > 1 else ""
            raise ImgadmError("ImageHasDependentClones",
                              f'image "{uuid}" has dependent clones: {clones[0]}{more}')
        pool.destroy(f"{zpool}/{uuid}", recursive=True)
        imgstore.delete_image(ctx.host, uuid)
    ctx.out(f"Deleted image {uuid}")
    return 0


def cmd_vacuum(ctx, rest):
    opts, positional = _options(rest, flags=("n", "f", "force", "dry-run"))
    if not (opts.get("f") or opts.get("force") or opts.get("n") or opts.get("dry-run")):
        raise UsageError("vacuum needs -f (no prompt in a non-interactive session) or -n")
    pool = Pool(ctx.host)
    zpool = ctx.host.zpool
    with ctx.host.locked():
        for uuid, image in sorted(_installed(ctx, zpool).items()):
            if _clones_of(pool, zpool, uuid):
                continue
            manifest = image["manifest"]
            label = f"{uuid} ({manifest.get('name')}@{manifest.get('version')})"
            if opts.get("n") or opts.get("dry-run"):
                ctx.out(f"[dry-run] Deleted image {label}")
                continue
            pool.destroy(f"{zpool}/{uuid}", recursive=True)
            imgstore.delete_image(ctx.host, uuid)
            ctx.out(f"Deleted image {label}")
    return 0


def cmd_create(ctx, rest):
    """imgadm create [-c comp] [-o dir] -m manifest|- <vm-uuid> [field=value ...]."""
    opts, positional = _options(rest, flags=("q", "i"), valued=("m", "o", "c", "s", "p"))
    if not positional:
        raise UsageError("missing <vm-uuid>")
    vm_uuid, fields = positional[0], positional[1:]
    from openstack_smartos.sim import vmstore
    vm = vmstore.get_vm(ctx.host, vm_uuid)
    if vm is None:
        raise ImgadmError("VmNotFound", f'vm "{vm_uuid}" was not found')
    if vm.get("state") != "stopped":
        raise ImgadmError("VmNotStopped",
                          f'vm "{vm_uuid}" is not stopped (state: {vm.get("state")})')
    manifest = {}
    if opts.get("m"):
        with ctx.open_input(opts["m"][-1]) as handle:
            manifest = json.loads(handle.read() or b"{}")
    for field in fields:
        key, _, value = field.partition("=")
        manifest[key] = value
    for key in ("name", "version"):
        if not manifest.get(key):
            raise ImgadmError("ManifestValidation", f'manifest is missing "{key}"')
    compression = (opts.get("c") or ["none"])[-1]
    if compression not in ("none", "gzip", "bzip2", "xz"):
        raise UsageError(f'invalid compression "{compression}"')
    hvm = vm["brand"] in ("kvm", "bhyve")
    if hvm:
        disks = [d for d in vm.get("disks", []) if d.get("boot")] or vm.get("disks", [])
        if not disks:
            raise ImgadmError("InvalidManifest", f"vm {vm_uuid} has no disk to image")
        dataset = disks[0]["zfs_filesystem"]
        image_type = "zvol"
    else:
        dataset = vm["zfs_filesystem"]
        image_type = "lx-dataset" if vm["brand"] == "lx" else "zone-dataset"
    manifest.setdefault("uuid", str(uuidlib.uuid4()))
    manifest.setdefault("v", 2)
    manifest.setdefault("owner", vm.get("owner_uuid") or "00000000-0000-0000-0000-000000000000")
    manifest.setdefault("type", image_type)
    manifest.setdefault("os", "linux" if vm["brand"] == "lx" else ("other" if hvm else "smartos"))
    manifest.setdefault("state", "active")
    manifest.setdefault("disabled", False)
    manifest.setdefault("public", False)
    if hvm:
        manifest.setdefault("image_size", disks[0].get("size"))
        manifest.setdefault("disk_driver", disks[0].get("model", "virtio"))
        manifest.setdefault("nic_driver", vm.get("nic_driver", "virtio"))
        manifest.setdefault("cpu_type", vm.get("cpu_type", "host"))
    if opts.get("i"):
        raise ImgadmError("NotSupported",
                          "incremental images (-i) are not supported by this emulator")
    out_dir = (opts.get("o") or [os.getcwd()])[-1]
    base = os.path.join(out_dir, f"{manifest['name']}-{manifest['version']}")
    suffix = {"none": "", "gzip": ".gz", "bzip2": ".bz2", "xz": ".xz"}[compression]
    file_path = f"{base}.zfs{suffix}"
    pool = Pool(ctx.host)
    snap = f"{dataset}@imgadm-create-{manifest['uuid'][:8]}"
    with ctx.host.locked():
        pool.snapshot(snap)
    try:
        compressor = _compressor(compression)
        sha1, size = hashlib.sha1(), 0
        with open(file_path, "wb") as handle:
            writer = _HashingWriter(handle, compressor)
            pool.send(snap, writer)
            writer.close()
            sha1, size = writer.sha1, writer.size
    finally:
        with ctx.host.locked():
            pool.destroy(snap)
    manifest["files"] = [{"sha1": sha1.hexdigest(), "size": size, "compression": compression}]
    with open(f"{base}.imgmanifest", "w") as handle:
        json.dump(manifest, handle, indent=2)
    ctx.out(f"Created image {manifest['uuid']} ({manifest['name']}@{manifest['version']})")
    ctx.out(f"Wrote image manifest: {base}.imgmanifest")
    ctx.out(f"Wrote image file: {file_path}")
    return 0


def _compressor(compression):
    if compression == "gzip":
        return zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    if compression == "bzip2":
        return bz2.BZ2Compressor()
    if compression == "xz":
        return lzma.LZMACompressor()
    return None


class _HashingWriter:
    def __init__(self, handle, compressor):
        self.handle = handle
        self.compressor = compressor
        self.sha1 = hashlib.sha1()
        self.size = 0

    def _emit(self, data):
        if data:
            self.sha1.update(data)
            self.size += len(data)
            self.handle.write(data)

    def write(self, data):
        self._emit(self.compressor.compress(data) if self.compressor else bytes(data))
        return len(data)

    def flush(self):
        pass

    def close(self):
        if self.compressor is not None:
            self._emit(self.compressor.flush())


def _now_iso():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


COMMANDS = {
    "list": cmd_list, "get": cmd_get, "install": cmd_install, "import": cmd_import,
    "delete": cmd_delete, "vacuum": cmd_vacuum, "create": cmd_create,
    "sources": cmd_sources,
}
ALIASES = {"info": "get", "destroy": "delete"}

USAGE = """Usage:
    imgadm [<options>] <command> [<args>...]

Commands:
    sources [<options>]        list and edit image sources
    import [-P <pool>] <uuid>  import image from a source
    install [-P <pool>] -m <manifest> -f <file>
                               import from local image data
    list [<filters>]           list installed images
    get [-P <pool>] <uuid>     info on an installed image
    delete [-P <pool>] <uuid>  remove an installed image
    vacuum [-n] [-f]           delete unused images
    create [<options>] <vm-uuid> [<manifest-field>=<value> ...]
                               create an image from a VM"""
