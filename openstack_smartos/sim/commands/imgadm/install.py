"""imgadm install and import (checksummed, decompressed, received), sources, delete, vacuum."""

from __future__ import annotations

import bz2
import hashlib
import json
import lzma
import os
import queue
import threading
import urllib.error
import urllib.request
import zlib

from openstack_smartos.sim.state import images as imgstore
from openstack_smartos.sim.state.zfs import Pool, ZFSError
from openstack_smartos.sim.commands.imgadm.common import (_CHUNK, DEFAULT_SOURCE, IMAGE_TYPES,
                                                          UUID_RE, ImgadmError, UsageError,
                                                          _clones_of, _installed, _not_installed,
                                                          _now_iso, _options, _pool_name)


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
