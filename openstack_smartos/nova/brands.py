"""Which vmadm brand an instance gets, from its image and its flavor.

Inputs
------

* ``image_props``: nova's standard image properties. Read here:
  ``img_hv_type`` (the hypervisor the image is built for) and ``hw_vm_mode``
  (``hvm`` for a hardware VM, ``exe`` for an OS container; nova's aliases
  ``hv`` and ``baremetal`` mean ``hvm``).
* ``smartos_image_type``: the image's own SmartOS type, the Glance property
  ``smartos_image_type``: ``zone-dataset`` (a SmartOS zone root),
  ``lx-dataset`` (a Linux root for LX zones) or ``zvol`` (a disk image);
  ``None`` when the image does not say (plain disk images uploaded to Glance).
* ``extra_specs``: the flavor's extra specs; only ``smartos:brand`` matters
  here.

Rule (first match wins)
-----------------------

1. ``img_hv_type`` ``bhyve`` or ``kvm``: that brand. The image must be a disk
   image (``zvol`` or no SmartOS type) and must not ask for ``hw_vm_mode=exe``.
2. ``hw_vm_mode=exe``: an OS container. ``lx`` when the image's own type is
   ``lx-dataset``; otherwise the zone brand (below). A ``zvol`` image cannot be
   a container.
3. ``smartos_image_type`` ``zone-dataset`` or ``lx-dataset`` without
   ``hw_vm_mode``: a container too (zone brand, or ``lx``). ``hw_vm_mode=hvm``
   with such an image is a contradiction.
4. Everything else (``hw_vm_mode=hvm`` or nothing, disk images):
   ``default_hvm_brand`` ([smartos] default_hvm_brand, bhyve by default).

The zone brand is ``smartos:brand`` from the flavor when set (``joyent`` or
``joyent-minimal``), else ``default_zone_brand``. ``smartos:brand`` only
chooses between those two native zone brands: it is ignored for LX and HVM
images, so one flavor can serve every kind of image, but a value naming any
other brand is always an error.

Contradictions (``img_hv_type=bhyve`` with a zone-dataset image,
``hw_vm_mode=exe`` with a zvol, a hypervisor SmartOS does not have such as
``xen``, a ``smartos:brand`` that is not a native zone brand) raise
``BrandError``.
"""

from __future__ import annotations

ZONE_BRANDS = ("joyent", "joyent-minimal")
LX_BRAND = "lx"
CONTAINER_BRANDS = ZONE_BRANDS + (LX_BRAND,)
HVM_BRANDS = ("bhyve", "kvm")
ALL_BRANDS = CONTAINER_BRANDS + HVM_BRANDS

ZONE_IMAGE_TYPE = "zone-dataset"
LX_IMAGE_TYPE = "lx-dataset"
DISK_IMAGE_TYPE = "zvol"
IMAGE_TYPES = (ZONE_IMAGE_TYPE, LX_IMAGE_TYPE, DISK_IMAGE_TYPE)

BRAND_EXTRA_SPEC = "smartos:brand"

# nova.objects.fields.VMMode canonicalises these aliases the same way.
_VM_MODE_ALIASES = {"hv": "hvm", "baremetal": "hvm"}


class BrandError(ValueError):
    """The image and flavor do not describe a VM this host can run."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def is_hvm(brand: str) -> bool:
    return brand in HVM_BRANDS


def is_container(brand: str) -> bool:
    return brand in CONTAINER_BRANDS


def _normalised(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip().lower()
    return text or None


def zone_brand(extra_specs: dict, default_zone_brand: str = "joyent") -> str:
    """The native zone brand: ``smartos:brand`` or the configured default."""
    # Case-sensitive, like nova's API validator and flavor.parse_extra_specs.
    requested = (extra_specs or {}).get(BRAND_EXTRA_SPEC)
    if requested is None:
        return default_zone_brand
    if requested not in ZONE_BRANDS:
        if requested in HVM_BRANDS:
            why = (f"{requested} is a hardware VM brand; it is chosen by the image "
                   f"(img_hv_type), not by the flavor")
        elif requested == LX_BRAND:
            why = "lx is chosen by the image (smartos_image_type=lx-dataset)"
        else:
            why = "it is not a SmartOS zone brand"
        raise BrandError(f"flavor extra spec {BRAND_EXTRA_SPEC}={requested!r} is invalid: "
                         f"{why}; use one of {', '.join(ZONE_BRANDS)}")
    return requested


def select_brand(image_props: dict, smartos_image_type: str | None, extra_specs: dict,
                 default_zone_brand: str = "joyent", default_hvm_brand: str = "bhyve") -> str:
    """Return the vmadm brand for this image and flavor (rule in the module docstring)."""
    image_props = image_props or {}
    extra_specs = extra_specs or {}
    if default_zone_brand not in ZONE_BRANDS:
        raise BrandError(f"default zone brand {default_zone_brand!r} is not one of "
                         f"{', '.join(ZONE_BRANDS)}")
    if default_hvm_brand not in HVM_BRANDS:
        raise BrandError(f"default HVM brand {default_hvm_brand!r} is not one of "
                         f"{', '.join(HVM_BRANDS)}")

    hv_type = _normalised(image_props.get("img_hv_type"))
    vm_mode = _normalised(image_props.get("hw_vm_mode"))
    vm_mode = _VM_MODE_ALIASES.get(vm_mode, vm_mode)
    image_type = _normalised(smartos_image_type)

    if hv_type is not None and hv_type not in HVM_BRANDS:
        raise BrandError(f"image property img_hv_type={hv_type!r} names a hypervisor "
                         f"SmartOS does not have; supported: {', '.join(HVM_BRANDS)}")
    if vm_mode is not None and vm_mode not in ("hvm", "exe"):
        raise BrandError(f"image property hw_vm_mode={vm_mode!r} is not supported on "
                         f"SmartOS; use hvm (hardware VM) or exe (OS container)")
    if image_type is not None and image_type not in IMAGE_TYPES:
        raise BrandError(f"image property smartos_image_type={image_type!r} is not one of "
                         f"{', '.join(IMAGE_TYPES)}")

    # Checked before any rule so that an invalid flavor fails the same way
    # whatever image it is booted with.
    flavor_zone_brand = zone_brand(extra_specs, default_zone_brand)
    container_image = image_type in (ZONE_IMAGE_TYPE, LX_IMAGE_TYPE)

    if hv_type is not None:
        if container_image:
            raise BrandError(f"image property img_hv_type={hv_type} asks for a hardware VM "
                             f"but the image is a {image_type} (an OS container root); "
                             f"hardware VMs boot zvol images")
        if vm_mode == "exe":
            raise BrandError(f"image properties img_hv_type={hv_type} and hw_vm_mode=exe "
                             f"contradict each other: exe means an OS container")
        return hv_type

    if vm_mode == "exe" or container_image:
        if image_type == DISK_IMAGE_TYPE:
            raise BrandError("image property hw_vm_mode=exe asks for an OS container but "
                             "the image is a zvol (a disk image); containers boot "
                             "zone-dataset or lx-dataset images")
        if vm_mode == "hvm":
            raise BrandError(f"image property hw_vm_mode=hvm asks for a hardware VM but the "
                             f"image is a {image_type} (an OS container root)")
        if image_type == LX_IMAGE_TYPE:
            return LX_BRAND
        return flavor_zone_brand

    return default_hvm_brand
