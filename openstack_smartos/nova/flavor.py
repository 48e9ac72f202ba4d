"""Flavor sizes and ``smartos:*`` extra specs translated into vmadm properties.

Small pure functions: plain numbers and the extra specs dict in, a vmadm
payload fragment out. ``EXTRA_SPECS`` is the one table of ``smartos:*`` keys;
``parse_extra_specs`` and nova's API validators (``extra_specs.py``) are
both derived from it, so they accept exactly the same values.

Resource controls (units: memory MiB, quota GiB, cpu_cap percent of one CPU)
-----------------------------------------------------------------------------

OS containers (joyent, joyent-minimal, lx):

* ``max_physical_memory`` = ``max_locked_memory`` = flavor memory;
* ``max_swap`` = memory + flavor swap, at least 256 (vmadm's minimum);
  ``smartos:max_swap`` overrides it and may not be below the memory;
* ``quota`` = root_gb + ephemeral_gb: a zone has one filesystem, so the
  ephemeral allowance nova accounts for is added to it; root_gb 0 counts as
  ``DEFAULT_ZONE_QUOTA_GIB`` (10, vmadm's own default);
* ``cpu_cap`` = 100 x vcpus (one vCPU is one whole CPU), see CPU below.

Hardware VMs (bhyve, kvm):

* ``ram`` = flavor memory, ``vcpus`` = flavor vcpus. ``max_physical_memory``
  is left to vmadm, which adds the hypervisor overhead (ram + 1280 MiB for
  bhyve, ram + 1024 for kvm);
* ``quota`` is the zone root only (the disks are separate zvols):
  1 GiB for bhyve (its minimum zoneroot refquota, contracts §10.4) and 10 GiB
  for kvm (vmadm's default; qemu writes its logs and core files there);
* no ``cpu_cap`` by default: the guest cannot run more threads than its
  vcpus anyway, and a cap would also throttle the device emulation threads.
  ``smartos:cpu_cap`` and ``smartos:cpu_burst_percent`` still apply;
* bhyve ``flexible_disk_size`` (MiB) = the disks (boot + ephemeral) plus 20%
  for snapshots (vmadm refuses snapshots of bhyve VMs without it), or
  ``smartos:flexible_disk_size``, which must hold the disks;
* the flavor's swap is not turned into a disk; ``smartos:max_swap`` is
  ignored for HVM (bhyve reserves the guest memory itself).

All brands: ``cpu_shares`` = 100 x vcpus (capped at 65535) unless
``smartos:cpu_shares``, so a bigger flavor gets a proportionally larger fair
share; ``zfs_io_priority`` = 100 (vmadm's default) unless
``smartos:zfs_io_priority``; ``max_lwps`` only when ``smartos:max_lwps``.

CPU: ``smartos:cpu_cap`` sets the cap directly (0 = no cap).
``smartos:cpu_burst_percent`` sets it relative to the flavor instead:
cap = vcpus x percent, so 2 vCPUs with 150 may burst to 3 CPUs. Setting both
is an error.

HVM devices (``hvm_device_options``): ``disk_driver`` and ``nic_driver``
default to ``virtio``; ``smartos:disk_driver`` accepts virtio, ahci, nvme
(bhyve) or virtio, ide, scsi (kvm); ``smartos:nic_driver`` virtio, e1000,
rtl8139; ``smartos:bootrom`` bios or uefi (bhyve; kvm boots BIOS only, so
uefi is an error there). Containers ignore these specs, so one flavor can
serve every kind of image.
"""

from __future__ import annotations

import dataclasses

from openstack_smartos.nova.brands import (ALL_BRANDS, BRAND_EXTRA_SPEC, ZONE_BRANDS,
                                           is_container, is_hvm)

NAMESPACE = "smartos"
DEFAULT_ZONE_QUOTA_GIB = 10
ZONEROOT_QUOTA_GIB = {"bhyve": 1, "kvm": 10}
DEFAULT_ZFS_IO_PRIORITY = 100
CPU_SHARES_PER_VCPU = 100
MAX_CPU_SHARES = 65535
MIN_SWAP_MIB = 256
SNAPSHOT_HEADROOM_PERCENT = 20
DEFAULT_DEVICE_MODEL = "virtio"
DISK_MODELS = {"bhyve": ("virtio", "ahci", "nvme"), "kvm": ("virtio", "ide", "scsi")}
NIC_MODELS = ("virtio", "e1000", "rtl8139")
BOOTROMS = ("bios", "uefi")


@dataclasses.dataclass(frozen=True)
class ExtraSpec:
    """One ``smartos:*`` flavor extra spec: an int range or a set of strings."""

    key: str
    kind: type
    description: str
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple = ()

    @property
    def name(self) -> str:
        """The key without its namespace: ``cpu_cap`` for ``smartos:cpu_cap``."""
        return self.key.split(":", 1)[1]


EXTRA_SPECS = (
    ExtraSpec("smartos:cpu_cap", int, minimum=0, description=(
        "CPU cap in percent of one CPU (300 = three CPUs); 0 means no cap. "
        "Default for OS containers: 100 x vcpus; hardware VMs are not capped.")),
    ExtraSpec("smartos:cpu_burst_percent", int, minimum=100, maximum=10000, description=(
        "CPU cap relative to the flavor: cap = vcpus x this percent, so 150 lets "
        "each vCPU burst to 1.5 CPUs when the host is idle. Not with smartos:cpu_cap.")),
    ExtraSpec("smartos:cpu_shares", int, minimum=1, maximum=MAX_CPU_SHARES, description=(
        "Fair-share scheduler shares of the zone. Default: 100 x vcpus.")),
    ExtraSpec("smartos:zfs_io_priority", int, minimum=0, maximum=1024, description=(
        "Relative ZFS I/O priority of the zone under contention (zone.zfs-io-priority; "
        "the rctl's maximum is 1024). Default 100.")),
    ExtraSpec("smartos:max_lwps", int, minimum=256, maximum=2**31 - 1, description=(
        "Maximum number of threads (lightweight processes) in the zone. "
        "Default: vmadm's 2000.")),
    ExtraSpec("smartos:max_swap", int, minimum=MIN_SWAP_MIB, description=(
        "Swap cap of an OS container in MiB; not below the flavor's memory. "
        "Default: memory + flavor swap. Ignored for hardware VMs.")),
    ExtraSpec(BRAND_EXTRA_SPEC, str, choices=ZONE_BRANDS, description=(
        "Zone brand for instances booted from zone-dataset images: joyent, or "
        "joyent-minimal (no zoneinit). Ignored for LX and hardware VM images.")),
    ExtraSpec("smartos:flexible_disk_size", int, minimum=1, description=(
        "bhyve only: MiB the VM may use for its disks and their snapshots; at least "
        "the disks' size. Default: the disks plus 20%.")),
    ExtraSpec("smartos:disk_driver", str,
              choices=tuple(dict.fromkeys(DISK_MODELS["bhyve"] + DISK_MODELS["kvm"])),
              description=("Hardware VMs: disk model, virtio (default), ahci or nvme for "
                           "bhyve; virtio, ide or scsi for kvm.")),
    ExtraSpec("smartos:nic_driver", str, choices=NIC_MODELS, description=(
        "Hardware VMs: NIC model, virtio (default), e1000 or rtl8139.")),
    ExtraSpec("smartos:bootrom", str, choices=BOOTROMS, description=(
        "bhyve only: firmware, bios (default) or uefi.")),
)
EXTRA_SPECS_BY_KEY = {spec.key: spec for spec in EXTRA_SPECS}


class InvalidExtraSpec(ValueError):
    """A ``smartos:*`` extra spec with a bad value, or an unknown one."""

    def __init__(self, key: str, value, reason: str):
        super().__init__(f"flavor extra spec {key}={value!r} is invalid: {reason}")
        self.key = key
        self.value = value
        self.reason = reason


def _parse_one(spec: ExtraSpec, value):
    if spec.kind is int:
        # int() of the text, as nova's API validator does, so a value the API
        # accepted is never refused here.
        if isinstance(value, bool):
            raise InvalidExtraSpec(spec.key, value, "not an integer")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise InvalidExtraSpec(spec.key, value, "not an integer") from None
        if spec.minimum is not None and number < spec.minimum:
            raise InvalidExtraSpec(spec.key, value, f"less than the minimum {spec.minimum}")
        if spec.maximum is not None and number > spec.maximum:
            raise InvalidExtraSpec(spec.key, value, f"greater than the maximum {spec.maximum}")
        return number
    if value not in spec.choices:
        raise InvalidExtraSpec(spec.key, value, "not one of " + ", ".join(spec.choices))
    return value


def parse_extra_specs(extra_specs: dict) -> dict:
    """The flavor's ``smartos:*`` extra specs, typed and keyed by short name.

    Other namespaces are ignored; unknown ``smartos:*`` keys and bad values
    raise ``InvalidExtraSpec``.
    """
    parsed = {}
    for key, value in (extra_specs or {}).items():
        if not key.startswith(NAMESPACE + ":"):
            continue
        spec = EXTRA_SPECS_BY_KEY.get(key)
        if spec is None:
            raise InvalidExtraSpec(key, value, "unknown smartos extra spec; known: "
                                   + ", ".join(EXTRA_SPECS_BY_KEY))
        parsed[spec.name] = _parse_one(spec, value)
    return parsed


def _check_sizes(memory_mb, vcpus, root_gb, swap_mb, ephemeral_gb):
    for name, value, minimum in (("memory_mb", memory_mb, 1), ("vcpus", vcpus, 1),
                                 ("root_gb", root_gb, 0), ("swap_mb", swap_mb, 0),
                                 ("ephemeral_gb", ephemeral_gb, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"flavor {name} must be an integer >= {minimum}, got {value!r}")


def cpu_cap(brand: str, vcpus: int, specs: dict) -> int | None:
    """The cpu_cap to set (percent of one CPU), or None for no cap."""
    if "cpu_cap" in specs and "cpu_burst_percent" in specs:
        raise InvalidExtraSpec("smartos:cpu_burst_percent", specs["cpu_burst_percent"],
                               "cannot be combined with smartos:cpu_cap")
    if "cpu_cap" in specs:
        return specs["cpu_cap"] or None
    if "cpu_burst_percent" in specs:
        return vcpus * specs["cpu_burst_percent"]
    return 100 * vcpus if is_container(brand) else None


def flexible_disk_size(disks_mib: int, specs: dict) -> int | None:
    """bhyve flexible_disk_size in MiB for disks totalling ``disks_mib``."""
    if "flexible_disk_size" in specs:
        wanted = specs["flexible_disk_size"]
        if wanted < disks_mib:
            raise InvalidExtraSpec("smartos:flexible_disk_size", wanted,
                                   f"smaller than the VM's disks ({disks_mib} MiB)")
        return wanted
    if disks_mib <= 0:
        return None
    headroom = -(-disks_mib * SNAPSHOT_HEADROOM_PERCENT // 100)   # rounded up
    return disks_mib + headroom


def resource_controls(brand: str, memory_mb: int, vcpus: int, root_gb: int, swap_mb: int,
                      extra_specs: dict, *, ephemeral_gb: int = 0,
                      boot_disk_mib: int | None = None) -> dict:
    """The vmadm resource-control properties for a flavor (rules: module docstring).

    ``boot_disk_mib``: the HVM boot disk's real size when the caller knows it
    (the image may be larger than root_gb); it counts towards bhyve's
    flexible_disk_size. Default root_gb x 1024.
    """
    if brand not in ALL_BRANDS:
        raise ValueError(f"unknown brand {brand!r}")
    _check_sizes(memory_mb, vcpus, root_gb, swap_mb, ephemeral_gb)
    specs = parse_extra_specs(extra_specs)
    controls = {}
    if is_container(brand):
        max_swap = max(memory_mb + swap_mb, MIN_SWAP_MIB)
        if "max_swap" in specs:
            max_swap = specs["max_swap"]
            if max_swap < memory_mb:
                raise InvalidExtraSpec("smartos:max_swap", max_swap,
                                       f"below the flavor's memory ({memory_mb} MiB)")
        controls.update(
            max_physical_memory=memory_mb,
            max_locked_memory=memory_mb,
            max_swap=max_swap,
            quota=(root_gb or DEFAULT_ZONE_QUOTA_GIB) + ephemeral_gb,
        )
    else:
        controls.update(ram=memory_mb, vcpus=vcpus, quota=ZONEROOT_QUOTA_GIB[brand])
        if brand == "bhyve":
            boot = boot_disk_mib if boot_disk_mib is not None else root_gb * 1024
            size = flexible_disk_size(boot + ephemeral_gb * 1024, specs)
            if size is not None:
                controls["flexible_disk_size"] = size
    cap = cpu_cap(brand, vcpus, specs)
    if cap is not None:
        controls["cpu_cap"] = cap
    controls["cpu_shares"] = specs.get("cpu_shares",
                                       min(CPU_SHARES_PER_VCPU * vcpus, MAX_CPU_SHARES))
    controls["zfs_io_priority"] = specs.get("zfs_io_priority", DEFAULT_ZFS_IO_PRIORITY)
    if "max_lwps" in specs:
        controls["max_lwps"] = specs["max_lwps"]
    return controls


def hvm_device_options(brand: str, extra_specs: dict) -> dict:
    """``disk_driver``, ``nic_driver`` and ``bootrom`` of a hardware VM ({} for zones).

    The drivers are set explicitly because vmadm uses them as the model of
    disks and NICs added later (volume and interface attach).
    """
    specs = parse_extra_specs(extra_specs)
    if not is_hvm(brand):
        return {}
    disk_driver = specs.get("disk_driver", DEFAULT_DEVICE_MODEL)
    if disk_driver not in DISK_MODELS[brand]:
        raise InvalidExtraSpec("smartos:disk_driver", disk_driver,
                               f"{brand} disks are " + ", ".join(DISK_MODELS[brand]))
    options = {"disk_driver": disk_driver,
               "nic_driver": specs.get("nic_driver", DEFAULT_DEVICE_MODEL)}
    bootrom = specs.get("bootrom")
    if brand == "bhyve" and bootrom is not None:
        options["bootrom"] = bootrom
    elif bootrom == "uefi":
        # kvm (qemu) VMs on SmartOS always boot from BIOS: bios is a no-op there.
        raise InvalidExtraSpec("smartos:bootrom", bootrom, f"{brand} VMs boot with BIOS only")
    return options
