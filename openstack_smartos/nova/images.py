"""Glance images on a SmartOS host: downloaded once per host, installed with imgadm.

Every boot clones an installed image (``<pool>/<uuid>@final``); this module
makes sure the image is there. The SmartOS image uuid is the Glance image id.

    cache = ImageCache(host, CONF.smartos)
    manifest = cache.ensure(context, image_id)     # installed manifest

What the Glance image holds is said by its property ``smartos_image_type``:

* ``zone-dataset`` / ``lx-dataset``: the data is an imgadm image file (a ZFS
  stream, gzip/bzip2/xz-compressed or not: detected from its magic bytes).
  ``Imgadm.install`` streams it and its manifest into private staging files
  in /var/tmp (imgadm checks the file's size and sha1 before reading it),
  installs them and removes them: 3 round trips over sim:// and local://,
  5 over ssh:// (one ``rm`` per staged file), besides the first
  ``imgadm get``; the image data crosses the network once.
* ``zvol`` or absent: a disk image (``disk_format`` raw or qcow2). qcow2 is
  checked with oslo.utils' format inspector (no backing file, no data file,
  nothing unsafe) and converted locally with ``qemu-img convert -O raw``.
  The raw bytes become an imgadm zvol image on the host through public
  tool interfaces only:

  1. ``vmadm create``: a stopped scratch bhyve VM (autoboot false,
     do_not_inventory) with one blank disk of the image size, marked in
     internal_metadata as an import scratch VM of this deployment;
  2. ``dd of=/dev/zvol/rdsk/<pool>/<scratch>/disk0``: the raw bytes, streamed
     on stdin (the only time the image data crosses the network);
  3. ``imgadm create -c none -o /var/tmp -m - <scratch>``: the image file,
     written on the host next to imgadm's own staging files;
  4. ``imgadm install -m /dev/stdin -f /var/tmp/<file>``: the manifest on
     stdin, the image file read on the host;
  5. ``vmadm delete <scratch>`` and removal of the two staged files.

  That is 5 round trips over sim:// and local://, 7 over ssh:// (where each
  staged file removal is one more ``rm``), besides the first ``imgadm get``.

``ensure`` of an installed image is one ``imgadm get``. Concurrent ``ensure``
calls for one image on one host serialise on a process-wide lock keyed by
(host URI, image id), shared by every ImageCache, so the image is
downloaded and installed once; the waiters then find it with one more
``imgadm get``.

Installed manifests carry ``tags["openstack:managed_by"]`` (the deployment
marker) and ``tags["openstack:glance_id"]``; ``cleanup`` only ever deletes
images that carry this deployment's marker.

A failure anywhere removes what the attempt created, on the host (scratch VM,
staged files, a partly installed image) and locally, and raises
``ImageInstallError``; the next ``ensure`` starts afresh.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import subprocess
import tempfile
import threading
import uuid as uuidlib
import weakref

from oslo_log import log as logging

from openstack_smartos.host import errors

LOG = logging.getLogger(__name__)

MIB = 1 << 20
OWNER = "00000000-0000-0000-0000-000000000000"
DATASET_TYPES = ("zone-dataset", "lx-dataset")
IMAGE_TYPES = DATASET_TYPES + ("zvol",)
DISK_FORMATS = ("raw", "qcow2")
DISK_CONTAINER_FORMATS = (None, "", "bare", "ovf")
TAG_GLANCE_ID = "openstack:glance_id"
TAG_MANAGED_BY = "openstack:managed_by"
# internal_metadata of a scratch VM: the deployment it belongs to, the image.
SCRATCH_FOR = "openstack:image_import_for"
SCRATCH_IMAGE = "openstack:image_import"
HOST_STAGING_DIR = "/var/tmp"
SCRATCH_PREFIX = "openstack-import-"
DEFAULT_VERSION = "1.0.0"
_CHUNK = 1 << 20

_MAGIC = ((b"\x1f\x8b", "gzip"), (b"BZh", "bzip2"), (b"\xfd7zXZ\x00", "xz"))
_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")
_VERSION_BAD = re.compile(r"[^A-Za-z0-9._+~-]+")

_OS_BY_DISTRO = {
    **dict.fromkeys(("windows", "msdos"), "windows"),
    **dict.fromkeys(("freebsd", "netbsd", "openbsd", "dragonfly", "dragonflybsd"), "bsd"),
    "smartos": "smartos",
    **dict.fromkeys(("arch", "centos", "debian", "fedora", "gentoo", "mandrake",
                     "mandriva", "mes", "opensuse", "rhel", "sled", "sles", "suse",
                     "ubuntu", "alpine", "rocky", "almalinux", "oraclelinux", "ol",
                     "cirros", "coreos", "flatcar", "linux", "amzn", "photon"), "linux"),
}
_OS_BY_TYPE = {"linux": "linux", "windows": "windows", "freebsd": "bsd", "bsd": "bsd",
               "smartos": "smartos"}
_DISK_DRIVERS = {"virtio": "virtio", "ide": "ide", "scsi": "scsi", "sata": "ahci",
                 "ahci": "ahci", "nvme": "nvme"}
_NIC_DRIVERS = ("virtio", "e1000", "rtl8139")


class ImageInstallError(Exception):
    """The Glance image could not be installed on the SmartOS host."""

    def __init__(self, image_id, reason):
        self.image_id = image_id
        self.reason = reason
        super().__init__(f"image {image_id}: {reason}")


class _Refused(Exception):
    """The image cannot be used as it is (its format, properties or data)."""


# -- one lock per image (and host) for the whole process ---------------------------
class _ImageLock:
    __slots__ = ("lock", "attempts", "__weakref__")

    def __init__(self):
        self.lock = threading.Lock()
        self.attempts = 0             # install attempts ended (under ``lock``)


_LOCKS: "weakref.WeakValueDictionary" = weakref.WeakValueDictionary()
_LOCKS_GUARD = threading.Lock()
_IN_FLIGHT: set = set()          # (host uri, image uuid) being installed now


def _lock_for(key) -> _ImageLock:
    """The process-wide lock of one (host, image); kept while anyone holds it."""
    with _LOCKS_GUARD:
        entry = _LOCKS.get(key)
        if entry is None:
            entry = _ImageLock()
            _LOCKS[key] = entry
        return entry


class ImageCache:
    """The images of one SmartOS host, installed from Glance on demand.

    host: a ``SmartOSHost``; conf_group: ``CONF.smartos`` (zpool,
    image_transfer_timeout, image_work_dir, deployment_marker);
    glance_api: ``nova.image.glance.API()`` by default (anything with
    ``get(context, id)`` and ``download(context, id, data=fileobj)``, as
    ``nova.image.glance.API``);
    work_dir: local staging directory (default ``image_work_dir``).
    """

    def __init__(self, host, conf_group, glance_api=None, work_dir=None):
        self.host = host
        self.conf = conf_group
        self._glance = glance_api
        self.work_dir = work_dir or conf_group.image_work_dir
        self.pool = conf_group.zpool
        self.marker = conf_group.deployment_marker
        self.timeout = float(conf_group.image_transfer_timeout)
        self.create_timeout = float(getattr(conf_group, "create_timeout", 900) or 900)

    @property
    def glance(self):
        if self._glance is None:
            from nova.image import glance
            self._glance = glance.API()
        return self._glance

    @property
    def _uri(self):
        return getattr(self.host.transport, "uri", id(self.host))

    # -- public API ----------------------------------------------------------------
    def ensure(self, context, image_id) -> dict:
        """The installed manifest of the Glance image, installing it if needed.

        One ``imgadm get`` when the image is installed already. Concurrent
        calls for one image (same host, same process) install it once.
        """
        return self._ensure(context, image_id)[0]

    def cache_image(self, context, image_id) -> bool:
        """Nova's image pre-caching: True if installed now, False if present."""
        return self._ensure(context, image_id)[1]

    def cleanup(self, in_use_image_uuids) -> list:
        """Delete this deployment's installed images that nothing uses.

        An image is deleted when it carries our ``openstack:managed_by`` tag,
        is not in ``in_use_image_uuids``, is not being installed right now
        and has no clones (imgadm refuses to delete it otherwise). Images
        without our tag are never touched. Scratch VMs left by an import
        that died with its process are removed too. Returns the uuids of the
        deleted images.
        """
        in_use = {str(u).lower() for u in (in_use_image_uuids or ())}
        self._remove_stale_scratch_vms()
        try:
            images = self.host.imgadm.list({f"tags.{TAG_MANAGED_BY}": self.marker})
        except errors.SmartOSError as exc:
            LOG.warning("Image cache cleanup: cannot list images: %s", exc)
            return []
        deleted = []
        for entry in images:
            manifest = entry.get("manifest") or {}
            uuid = str(manifest.get("uuid") or "").lower()
            if not _UUID_RE.match(uuid) or uuid in in_use:
                continue
            if (manifest.get("tags") or {}).get(TAG_MANAGED_BY) != self.marker:
                continue
            if entry.get("zpool") not in (None, self.pool):
                continue
            if (self._uri, uuid) in _IN_FLIGHT:
                continue
            try:
                self.host.imgadm.delete(uuid, pool=self.pool)
            except errors.ImageNotInstalled:
                continue
            except errors.CommandError as exc:
                if "ImageHasDependentClones" in exc.stderr:
                    continue                            # in use by a VM after all
                LOG.warning("Image cache cleanup: cannot delete image %s: %s", uuid, exc)
                continue
            except errors.SmartOSError as exc:
                LOG.warning("Image cache cleanup: cannot delete image %s: %s", uuid, exc)
                continue
            LOG.info("Deleted unused image %s (%s) from the SmartOS host",
                     uuid, manifest.get("name"))
            deleted.append(uuid)
        return deleted

    # -- ensure ----------------------------------------------------------------------
    def _ensure(self, context, image_id):
        uuid = str(image_id or "").lower()
        if not _UUID_RE.match(uuid):
            raise ImageInstallError(image_id, "a SmartOS image needs a Glance image id "
                                              "that is a UUID")
        key = (self._uri, uuid)
        entry = _lock_for(key)        # held from here: its attempt count stays valid
        seen = entry.attempts
        manifest = self._installed(uuid)
        if manifest is not None:
            return manifest, False
        with entry.lock:
            # Another attempt ended since we looked: it may have installed it.
            if entry.attempts != seen:
                manifest = self._installed(uuid)
                if manifest is not None:
                    return manifest, False
            with _LOCKS_GUARD:
                _IN_FLIGHT.add(key)
            try:
                return self._install(context, uuid), True
            finally:
                entry.attempts += 1
                with _LOCKS_GUARD:
                    _IN_FLIGHT.discard(key)

    def _installed(self, uuid):
        try:
            return self.host.imgadm.get(uuid, pool=self.pool)["manifest"]
        except errors.ImageNotInstalled:
            return None
        except errors.SmartOSError as exc:
            raise ImageInstallError(uuid, f"cannot look the image up on the host: "
                                          f"{_describe(exc)}") from exc

    def _install(self, context, uuid):
        # (always, action): host clean-up, run in reverse order on failure;
        # the ``always`` ones (scratch VM, staged files) also run on success.
        undo = []
        local_dir = None
        try:
            meta = self.glance.get(context, uuid)
            kind = _image_kind(meta)
            os.makedirs(self.work_dir, exist_ok=True)
            local_dir = tempfile.mkdtemp(prefix=f"{uuid}.", dir=self.work_dir)
            path = os.path.join(local_dir, "image")
            sha1, size = self._download(context, uuid, meta, path)
            if kind in DATASET_TYPES:
                manifest = self._install_dataset(uuid, meta, kind, path, sha1, size, undo)
            else:
                manifest = self._install_zvol(uuid, meta, path, local_dir, undo)
            LOG.info("Installed Glance image %s (%s) as a %s image on the SmartOS host",
                     uuid, manifest["name"], kind)
            return manifest
        except Exception as exc:
            reason = _describe(exc)
            LOG.warning("Installing Glance image %s failed: %s; cleaning up", uuid, reason)
            self._rollback(undo)
            raise ImageInstallError(uuid, reason) from exc
        finally:
            _run_cleanup(self._undo_pending(undo))
            if local_dir:
                shutil.rmtree(local_dir, ignore_errors=True)

    @staticmethod
    def _undo_pending(undo):
        """Clean-up actions that run even on success (staged files, scratch VM)."""
        actions = [action for always, action in reversed(undo) if always]
        undo.clear()
        return actions

    @staticmethod
    def _rollback(undo):
        _run_cleanup([action for _always, action in reversed(undo)])
        undo.clear()

    # -- download -------------------------------------------------------------------
    def _download(self, context, uuid, meta, path):
        """Glance -> local file; returns (sha1 hex, size), checks Glance's hashes."""
        hashes = {"sha1": hashlib.sha1()}
        algo, expected = meta.get("os_hash_algo"), meta.get("os_hash_value")
        if algo and expected and algo in hashlib.algorithms_available:
            hashes.setdefault(algo, hashlib.new(algo))
        if meta.get("checksum"):
            hashes["md5"] = hashlib.md5(usedforsecurity=False)
        with open(path, "wb") as handle:
            writer = _HashingWriter(handle, hashes)
            self.glance.download(context, uuid, data=writer)
            handle.flush()
        if writer.size == 0:
            raise _Refused("the Glance image has no data")
        if algo and expected and algo in hashes and hashes[algo].hexdigest() != expected:
            raise _Refused(f"downloaded data does not match Glance's {algo} hash")
        if "md5" in hashes and hashes["md5"].hexdigest() != meta["checksum"]:
            raise _Refused("downloaded data does not match Glance's checksum (md5)")
        return hashes["sha1"].hexdigest(), writer.size

    # -- zone-dataset / lx-dataset ----------------------------------------------------
    def _install_dataset(self, uuid, meta, kind, path, sha1, size, undo):
        with open(path, "rb") as handle:
            compression = _compression_of(handle.read(8))
        manifest = self._manifest(uuid, meta, kind, [{"sha1": sha1, "size": size,
                                                      "compression": compression}])
        undo.append((False, lambda: self._remove_partial_image(uuid)))
        with open(path, "rb") as handle:
            try:
                self.host.imgadm.install(manifest, handle, pool=self.pool,
                                         timeout=self.timeout)
            except errors.CommandError as exc:
                if "ImageAlreadyInstalled" not in exc.stderr:
                    raise
                undo.clear()      # someone else installed it: it is not ours to undo
                return self._installed(uuid) or manifest
        return manifest

    # -- zvol -------------------------------------------------------------------------
    def _install_zvol(self, uuid, meta, path, local_dir, undo):
        raw = path
        if meta.get("disk_format") == "qcow2":
            _check_qcow2(path)
            raw = os.path.join(local_dir, "raw")
            _qemu_img_convert(path, raw, self.timeout)
            os.unlink(path)
        raw_size = os.path.getsize(raw)
        if raw_size == 0:
            raise _Refused("the disk image is empty")
        image_size = -(-raw_size // MIB)
        manifest = self._manifest(uuid, meta, "zvol", [{"compression": "none"}],
                                  image_size=image_size)
        scratch = str(uuidlib.uuid4())
        undo.append((True, lambda: self._delete_scratch_vm(scratch)))
        self.host.vmadm.create(self._scratch_payload(scratch, uuid, image_size),
                               timeout=self.create_timeout)
        with open(raw, "rb") as handle:
            self.host.zfs.write_volume(f"{self.pool}/{scratch}/disk0", handle,
                                       timeout=self.timeout)
        token = secrets.token_hex(6)
        staging = {"v": 2, "uuid": uuid, "owner": OWNER,
                   "name": f"{SCRATCH_PREFIX}{uuid}", "version": token,
                   "type": "zvol", "os": manifest["os"],
                   "requirements": dict(manifest.get("requirements") or {})}
        base = f"{HOST_STAGING_DIR}/{staging['name']}-{token}"
        files = [f"{base}.imgmanifest", f"{base}.zfs"]
        undo.append((True, lambda: [self._remove_host_file(f) for f in files]))
        result = self.host.transport.run(
            ["imgadm", "create", "-c", "none", "-o", HOST_STAGING_DIR, "-m", "-", scratch],
            stdin=json.dumps(staging).encode(), timeout=self.timeout)
        written = _written_paths(result.text)
        for extra in written.values():
            if extra not in files:            # imgadm named them otherwise: clean those
                files.append(extra)
        image_file = written.get("file", files[1])
        undo.append((False, lambda: self._remove_partial_image(uuid)))
        try:
            self.host.transport.run(
                ["imgadm", "install", "-q", "-P", self.pool, "-m", "/dev/stdin",
                 "-f", image_file],
                stdin=json.dumps(manifest).encode(), timeout=self.timeout)
        except errors.CommandError as exc:
            if "ImageAlreadyInstalled" not in exc.stderr:
                raise
            undo[:] = [item for item in undo if item[0]]
            return self._installed(uuid) or manifest
        return manifest

    def _scratch_payload(self, scratch, uuid, image_size):
        return {
            "uuid": scratch, "brand": "bhyve",
            "alias": f"{SCRATCH_PREFIX}{uuid[:8]}",
            "autoboot": False, "do_not_inventory": True,
            "ram": 256, "vcpus": 1,
            "disks": [{"size": image_size, "boot": True, "model": "virtio"}],
            "internal_metadata": {SCRATCH_FOR: self.marker, SCRATCH_IMAGE: uuid},
        }

    # -- manifest ----------------------------------------------------------------------
    def _manifest(self, uuid, meta, kind, files, image_size=None):
        props = meta.get("properties") or {}
        manifest = {
            "v": 2, "uuid": uuid, "owner": OWNER,
            "name": _sanitise(meta.get("name"), _NAME_BAD, 512) or f"glance-{uuid[:8]}",
            "version": _sanitise(props.get("smartos_image_version"), _VERSION_BAD, 128)
            or DEFAULT_VERSION,
            "type": kind, "os": _os_of(kind, props),
            "state": "active", "disabled": False, "public": False,
            "published_at": _now_iso(), "files": files,
            "tags": {TAG_GLANCE_ID: uuid, TAG_MANAGED_BY: self.marker},
        }
        requirements = {}
        hv_type = str(props.get("img_hv_type") or "").lower()
        if kind == "lx-dataset":
            requirements["brand"] = "lx"
        elif kind == "zvol" and hv_type in ("bhyve", "kvm"):
            requirements["brand"] = hv_type
            if hv_type == "bhyve" and props.get("hw_firmware_type") in ("uefi", "bios"):
                requirements["bootrom"] = props["hw_firmware_type"]
        if requirements:
            manifest["requirements"] = requirements
        if kind == "zvol":
            manifest.update({
                "image_size": image_size,
                "disk_driver": _DISK_DRIVERS.get(str(props.get("hw_disk_bus") or ""),
                                                 "virtio"),
                "nic_driver": (props.get("hw_vif_model")
                               if props.get("hw_vif_model") in _NIC_DRIVERS else "virtio"),
                "cpu_type": "host",
            })
        return manifest

    # -- host clean-up --------------------------------------------------------------------
    def _remove_partial_image(self, uuid):
        """After a failed install: delete the image if it got installed (and is
        ours), and imgadm's ``-partial`` dataset if a killed imgadm left it."""
        try:
            manifest = self.host.imgadm.get(uuid, pool=self.pool)["manifest"]
        except errors.ImageNotInstalled:
            manifest = None
        if manifest is not None:
            tags = manifest.get("tags") or {}
            if tags.get(TAG_MANAGED_BY) == self.marker and tags.get(TAG_GLANCE_ID) == uuid:
                self.host.imgadm.delete(uuid, pool=self.pool)
        try:
            self.host.zfs.destroy(f"{self.pool}/{uuid}-partial", recursive=True)
        except errors.NotFound:
            pass

    def _delete_scratch_vm(self, scratch):
        try:
            self.host.vmadm.delete(scratch, timeout=self.create_timeout)
        except errors.NotFound:
            pass

    def _remove_host_file(self, path):
        self.host.transport.remove_file(path)

    def _remove_stale_scratch_vms(self):
        """Scratch VMs of this deployment whose import is not running here."""
        try:
            vms = self.host.vmadm.lookup(filters={f"internal_metadata.{SCRATCH_FOR}":
                                                  self.marker},
                                         fields=["uuid", "internal_metadata"])
        except errors.SmartOSError as exc:
            LOG.warning("Image cache cleanup: cannot list scratch VMs: %s", exc)
            return
        for vm in vms:
            metadata = vm.get("internal_metadata") or {}
            if metadata.get(SCRATCH_FOR) != self.marker:
                continue
            if (self._uri, str(metadata.get(SCRATCH_IMAGE) or "").lower()) in _IN_FLIGHT:
                continue
            LOG.info("Removing scratch VM %s left by an interrupted image import",
                     vm["uuid"])
            _run_cleanup([lambda uuid=vm["uuid"]: self._delete_scratch_vm(uuid)])


# -- helpers ---------------------------------------------------------------------------
class _HashingWriter:
    """The file object Glance writes into: hashes and counts as it writes."""

    def __init__(self, handle, hashes):
        self._handle = handle
        self._hashes = hashes
        self.size = 0

    def write(self, data):
        for digest in self._hashes.values():
            digest.update(data)
        self.size += len(data)
        return self._handle.write(data)

    def truncate(self, size=0):        # nova truncates after a bad signature
        self.size = size
        return self._handle.truncate(size)

    def flush(self):
        self._handle.flush()


def _run_cleanup(actions):
    for action in actions:
        try:
            action()
        except Exception as exc:      # keep cleaning; report what is left
            LOG.warning("Image install clean-up step failed: %s", _describe(exc))


def _image_kind(meta) -> str:
    props = meta.get("properties") or {}
    declared = props.get("smartos_image_type")
    if declared is not None and declared not in IMAGE_TYPES:
        raise _Refused(f"unknown smartos_image_type {declared!r}: expected one of "
                       f"{', '.join(IMAGE_TYPES)}")
    if declared in DATASET_TYPES:
        return declared
    disk_format = meta.get("disk_format")
    if disk_format not in DISK_FORMATS:
        raise _Refused(f"disk_format {disk_format!r} is not supported: SmartOS disk "
                       "images must be raw or qcow2 (or set smartos_image_type to "
                       "zone-dataset or lx-dataset for imgadm image files)")
    if meta.get("container_format") not in DISK_CONTAINER_FORMATS:
        raise _Refused(f"container_format {meta.get('container_format')!r} is not "
                       "supported for disk images: expected bare")
    return "zvol"


def _compression_of(head: bytes) -> str:
    for magic, name in _MAGIC:
        if head.startswith(magic):
            return name
    return "none"


def _check_qcow2(path):
    from oslo_utils.imageutils import format_inspector
    try:
        inspector = format_inspector.detect_file_format(path)
    except format_inspector.ImageFormatError as exc:
        raise _Refused(f"the qcow2 image cannot be inspected: {exc}")
    if inspector is None or str(inspector) != "qcow2":
        raise _Refused(f"the image is declared qcow2 but its data is "
                       f"{str(inspector) if inspector else 'not recognised'}")
    try:
        inspector.safety_check()
    except format_inspector.SafetyCheckFailed as exc:
        raise _Refused("the qcow2 image is unsafe: " + "; ".join(
            f"{name}: {reason}" for name, reason in sorted(exc.failures.items())))
    except format_inspector.ImageFormatError as exc:
        raise _Refused(f"the qcow2 image failed its safety check: {exc}")


def _qemu_img_convert(src, dst, timeout):
    argv = ["qemu-img", "convert", "-f", "qcow2", "-O", "raw", src, dst]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              timeout=timeout)
    except FileNotFoundError:
        raise _Refused("qemu-img is not installed on the nova-compute host; it is "
                       "needed to convert qcow2 images (install qemu-utils)")
    except subprocess.TimeoutExpired:
        raise _Refused(f"qemu-img convert took longer than {timeout:g}s")
    if proc.returncode != 0:
        message = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _Refused("qemu-img convert failed: " + (message[-1] if message
                                                      else f"exit {proc.returncode}"))


def _written_paths(text):
    paths = {}
    for line in text.splitlines():
        if line.startswith("Wrote image manifest: "):
            paths["manifest"] = line.split(": ", 1)[1].strip()
        elif line.startswith("Wrote image file: "):
            paths["file"] = line.split(": ", 1)[1].strip()
    return paths


def _os_of(kind, props) -> str:
    distro = str(props.get("os_distro") or "").lower()
    if distro in _OS_BY_DISTRO:
        return _OS_BY_DISTRO[distro]
    os_type = str(props.get("os_type") or "").lower()
    if os_type in _OS_BY_TYPE:
        return _OS_BY_TYPE[os_type]
    return {"zone-dataset": "smartos", "lx-dataset": "linux"}.get(kind, "other")


def _sanitise(value, bad, limit) -> str:
    text = bad.sub("-", str(value or "")).strip("-.")
    return text[:limit]


def _now_iso():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _describe(exc) -> str:
    if isinstance(exc, errors.CommandError):
        return f"{errors.display_argv(exc.argv[:2])} failed: {exc.message or exc}"
    if isinstance(exc, _Refused):
        return str(exc)
    name = type(exc).__name__
    text = str(exc)
    return f"{name}: {text}" if text else name
