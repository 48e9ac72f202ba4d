"""The complete ``vmadm create`` payload of an instance.

``InstanceSpec`` gathers plain values (the driver fills it from the nova
instance, flavor, image and network_info, typically with ``brands``,
``vifs`` and ``metadata``); ``build_create_payload`` turns it into the JSON
object ``vmadm create`` reads:

* ``uuid`` = the nova instance uuid, so the VM and the instance share one
  id; ``alias`` = the display name; ``hostname``; ``brand``; ``autoboot``;
* containers: ``image_uuid`` (the zone root is a clone of the image);
  ``kernel_version`` for lx (required by vmadm);
* hardware VMs: ``disks``: disk0 clones the zvol image (``boot``, ``model``
  = the disk driver). Its size in MiB is max(root_gb x 1024, image size); a
  flavor root disk smaller than the image is a ``PayloadError``. bhyve grows
  the clone to that size at create; kvm cannot (vmadm clones kvm disks at the
  image's size), so a kvm boot disk is the image's size. disk1 is the
  ephemeral disk (ephemeral_gb x 1024 MiB) when ephemeral_gb > 0.
  ``disk_driver``/``nic_driver``/``bootrom`` from ``flavor.hvm_device_options``;
* the resource controls of ``flavor.resource_controls``;
* ``nics`` (HVM NICs without a model get the NIC driver), ``resolvers``
  (always present, as vmadm stores it), ``routes`` when any;
* ``customer_metadata``; ``internal_metadata`` plus
  ``openstack:managed_by`` = the deployment marker (VMs without it are never
  touched by the driver), ``openstack:instance_uuid`` and, when known,
  ``openstack:flavor_name``.
"""

from __future__ import annotations

import copy
import dataclasses
import re

from openstack_smartos.nova import flavor as flavors
from openstack_smartos.nova.brands import ALL_BRANDS, LX_BRAND, is_hvm

MANAGED_BY_KEY = "openstack:managed_by"
INSTANCE_UUID_KEY = "openstack:instance_uuid"
FLAVOR_NAME_KEY = "openstack:flavor_name"
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                     r"[0-9a-fA-F]{12}$")
# RFC 1123 host names, the form vmadm accepts.
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


class PayloadError(ValueError):
    """The instance cannot be described as a vmadm create payload."""


@dataclasses.dataclass
class InstanceSpec:
    """Everything a vmadm create payload is built from, as plain values."""

    uuid: str
    name: str                      # nova display name -> vmadm alias
    hostname: str
    brand: str
    image_uuid: str
    memory_mb: int
    vcpus: int
    root_gb: int
    owner_marker: str              # [smartos] deployment_marker
    image_size_mib: int | None = None   # zvol images: the image's size
    ephemeral_gb: int = 0
    swap_mb: int = 0
    extra_specs: dict = dataclasses.field(default_factory=dict)
    nics: list = dataclasses.field(default_factory=list)
    resolvers: list = dataclasses.field(default_factory=list)
    routes: dict = dataclasses.field(default_factory=dict)
    customer_metadata: dict = dataclasses.field(default_factory=dict)
    internal_metadata: dict = dataclasses.field(default_factory=dict)
    kernel_version: str | None = None
    autoboot: bool = True
    flavor_name: str | None = None


def _check_identity(spec: InstanceSpec):
    if spec.brand not in ALL_BRANDS:
        raise PayloadError(f"unknown brand {spec.brand!r}")
    if not UUID_RE.match(str(spec.uuid)):
        raise PayloadError(f"instance uuid {spec.uuid!r} is not a UUID")
    if not UUID_RE.match(str(spec.image_uuid)):
        raise PayloadError(f"image uuid {spec.image_uuid!r} is not a UUID")
    if not spec.hostname or len(spec.hostname) > 255 or not HOSTNAME_RE.match(spec.hostname):
        raise PayloadError(f"hostname {spec.hostname!r} is not a valid host name")
    if not spec.owner_marker:
        raise PayloadError("owner_marker is empty: every VM must carry the deployment marker")


def boot_disk_mib(root_gb: int, image_size_mib: int | None) -> int:
    """Size of an HVM boot disk: the flavor's root disk, at least the image."""
    wanted = root_gb * 1024
    if image_size_mib is None:
        if wanted <= 0:
            raise PayloadError("the flavor has no root disk size (root_gb 0) and the "
                               "image's size is unknown")
        return wanted
    if 0 < wanted < image_size_mib:
        raise PayloadError(f"the flavor's root disk ({root_gb} GiB) is smaller than the "
                           f"image ({image_size_mib} MiB)")
    return max(wanted, image_size_mib)


def _disks(spec: InstanceSpec, boot_mib: int, disk_model: str) -> list:
    boot = {"image_uuid": spec.image_uuid, "boot": True, "model": disk_model}
    if spec.image_size_mib is not None:
        boot["image_size"] = spec.image_size_mib
    if spec.brand == "bhyve":
        boot["size"] = boot_mib     # bhyve grows the image clone to this size
    disks = [boot]
    if spec.ephemeral_gb > 0:
        disks.append({"size": spec.ephemeral_gb * 1024, "model": disk_model})
    return disks


def _metadata_map(name: str, values: dict) -> dict:
    out = {}
    for key, value in (values or {}).items():
        if not isinstance(value, (str, int, float, bool)):
            raise PayloadError(f"{name}[{key!r}] is not a scalar (vmadm metadata is flat)")
        out[str(key)] = value
    return out


def build_create_payload(spec: InstanceSpec) -> dict:
    """The ``vmadm create`` payload for ``spec`` (rules: module docstring)."""
    _check_identity(spec)
    payload = {"uuid": spec.uuid.lower(), "brand": spec.brand, "hostname": spec.hostname,
               "autoboot": bool(spec.autoboot)}
    if spec.name:
        payload["alias"] = spec.name
    try:
        if is_hvm(spec.brand):
            boot_mib = boot_disk_mib(spec.root_gb, spec.image_size_mib)
            devices = flavors.hvm_device_options(spec.brand, spec.extra_specs)
            payload.update(devices)
            payload["disks"] = _disks(spec, boot_mib, devices["disk_driver"])
            # A kvm boot disk stays at the image's size (see the module docstring).
            real_boot_mib = boot_mib if spec.brand == "bhyve" else spec.image_size_mib
        else:
            payload["image_uuid"] = spec.image_uuid
            real_boot_mib = None
            if spec.brand == LX_BRAND:
                if not spec.kernel_version:
                    raise PayloadError("lx zones need a kernel_version")
                payload["kernel_version"] = spec.kernel_version
        payload.update(flavors.resource_controls(
            spec.brand, spec.memory_mb, spec.vcpus, spec.root_gb, spec.swap_mb,
            spec.extra_specs, ephemeral_gb=spec.ephemeral_gb, boot_disk_mib=real_boot_mib))
    except (flavors.InvalidExtraSpec, PayloadError):
        raise
    except ValueError as exc:      # impossible flavor numbers (negative sizes...)
        raise PayloadError(str(exc)) from exc

    if spec.nics:
        nics = copy.deepcopy(list(spec.nics))
        if is_hvm(spec.brand):
            for nic in nics:
                nic.setdefault("model", payload["nic_driver"])
        payload["nics"] = nics
    payload["resolvers"] = list(spec.resolvers or ())
    if spec.routes:
        payload["routes"] = dict(spec.routes)

    customer = _metadata_map("customer_metadata", spec.customer_metadata)
    misplaced = [key for key in customer if key.endswith("_pw")]
    if misplaced:
        raise PayloadError(f"customer_metadata keys {misplaced} end in _pw: the metadata "
                           f"agent serves such keys from internal_metadata only")
    internal = _metadata_map("internal_metadata", spec.internal_metadata)
    internal[MANAGED_BY_KEY] = spec.owner_marker
    internal[INSTANCE_UUID_KEY] = spec.uuid.lower()
    if spec.flavor_name:
        internal[FLAVOR_NAME_KEY] = spec.flavor_name
    payload["customer_metadata"] = customer
    payload["internal_metadata"] = internal
    return payload
