"""Payload constants, the problem list, Env, and the coercion and checks of single values (pure)."""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import re
from typing import Callable


ZERO_UUID = "00000000-0000-0000-0000-000000000000"
HVM_LIMIT_PRIV = "default,-file_link_any,-net_access,-proc_fork,-proc_info,-proc_session"
MIB = 1 << 20
GIB = 1 << 30
UUID_RE = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")
MAC_RE = re.compile(r"^[0-9a-fA-F]{1,2}(:[0-9a-fA-F]{1,2}){5}$")
HOSTNAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
COMPRESSIONS = {"on", "off", "lz4", "lzjb", "zle", "gzip"} | {f"gzip-{n}" for n in range(1, 10)}
# VM.js exports.COMPRESSION_TYPES, in its order (the disk messages list them).
COMPRESSION_TYPES = ("on", "off", "gzip", *(f"gzip-{n}" for n in range(1, 10)), "lz4", "lzjb",
                     "zle")
DISK_MODELS = {"kvm": ("virtio", "scsi", "ide"), "bhyve": ("virtio", "ahci", "nvme")}
VGA = ("cirrus", "std", "vmware", "qxl", "xenfb")
IMAGE_TYPES = {"joyent": ("zone-dataset",), "joyent-minimal": ("zone-dataset",),
               "builder": ("zone-dataset",), "lx": ("lx-dataset", "docker"),
               "kvm": ("zone-dataset", "zvol"), "bhyve": ("zone-dataset", "zvol")}
MEMORY_OVERHEAD = {"kvm": 1024, "bhyve": 1280}
MIN_HVM_OVERHEAD = 256
MIN_SWAP = 256
MAP_PROPS = ("customer_metadata", "internal_metadata", "tags", "routes")
COLLECTIONS = ("nics", "disks", "filesystems", "pci_devices")
_BAD = object()


class PayloadError(Exception):
    """A payload problem that is not a property check (JSON, conflicts)."""


@dataclasses.dataclass
class Problems:
    bad_brand: str | None = None
    bad_properties: list = dataclasses.field(default_factory=list)
    bad_values: list = dataclasses.field(default_factory=list)
    missing_properties: list = dataclasses.field(default_factory=list)

    @property
    def fatal(self) -> bool:
        return bool(self.bad_brand is not None or self.bad_values or self.missing_properties)

    def value(self, name):
        if name not in self.bad_values:
            self.bad_values.append(name)

    def missing(self, name):
        if name not in self.missing_properties:
            self.missing_properties.append(name)

    def message(self) -> str:
        if self.bad_brand is not None:
            return f"Invalid brand while validating payload: {json.dumps(self.bad_brand)}"
        if self.bad_values:
            return "Invalid value(s) for: " + ",".join(self.bad_values)
        if self.missing_properties:
            return "Missing required properties: " + ",".join(self.missing_properties)
        return ""

    def report(self) -> dict:
        """What ``vmadm validate`` prints for an invalid payload: VM.validate's
        errors object, always its three arrays in this order (VM.js
        exports.validate), or only ``bad_brand``."""
        if self.bad_brand is not None:
            return {"bad_brand": self.bad_brand}
        return {key: list(getattr(self, key))
                for key in ("bad_values", "bad_properties", "missing_properties")}

    @property
    def valid(self) -> bool:
        return not self.fatal and not self.bad_properties


@dataclasses.dataclass
class Env:
    """What validation needs to know about the host."""
    zpool: str = "zones"
    pools: tuple = ("zones",)
    nic_tags: frozenset | None = None            # None: do not check tags
    image: Callable[[str], dict | None] = lambda uuid: None
    macs_in_use: dict = dataclasses.field(default_factory=dict)   # mac -> vm uuid
    ips_in_use: dict = dataclasses.field(default_factory=dict)    # (tag, vlan, ip) -> uuid
    new_uuid: Callable[[], str] = None
    new_mac: Callable[[], str] = None
    now: str = ""
    check_images: bool = True


# -- scalar coercion ---------------------------------------------------------------
def coerce(ptype: str, value):
    """Convert a payload value to the property type; ``_BAD`` when impossible."""
    if ptype == "integer":
        if isinstance(value, bool):
            return _BAD
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            return int(value)
        return _BAD
    if ptype == "boolean":
        if isinstance(value, bool):
            return value
        if value in (1, "1") and not isinstance(value, bool):
            return True            # deprecated, accepted by VM.validate
        if value in ("true", "false"):
            return value == "true"
        return _BAD
    if ptype in ("string", "zpool"):
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return _BAD
    if ptype == "uuid":
        if isinstance(value, str) and UUID_RE.match(value):
            return value
        return _BAD
    if ptype == "list":
        if isinstance(value, str):
            return [item for item in value.split(",") if item != ""]
        if isinstance(value, list) and all(_scalar(v) for v in value):
            return list(value)
        return _BAD
    if ptype == "flat-object":
        if isinstance(value, dict) and all(_scalar(v) for v in value.values()):
            return dict(value)
        return _BAD
    if ptype == "object-array":
        if isinstance(value, list) and all(isinstance(v, dict) for v in value):
            return [dict(v) for v in value]
        return _BAD
    return value


def unset(ptype: str, value) -> bool:
    """'' (or blanks) for an integer: VM.validate's way to unset it, like null."""
    return ptype == "integer" and isinstance(value, str) and not value.strip()


def _scalar(value):
    return isinstance(value, (str, int, float, bool))


def from_string(ptype: str, text: str):
    """``vmadm update uuid key=value``: a command-line string to the property type."""
    if ptype in ("object-array", "flat-object"):
        try:
            return coerce(ptype, json.loads(text))
        except ValueError:
            return _BAD
    return coerce(ptype, text)


# -- value checks -----------------------------------------------------------------------
def _ipv4(text):
    try:
        ipaddress.IPv4Address(text)
        return True
    except (ValueError, TypeError):
        return False


def _ip(text):
    try:
        ipaddress.ip_address(text)
        return True
    except (ValueError, TypeError):
        return False


def _cidr(text):
    if not isinstance(text, str) or "/" not in text:
        return False
    addr, _, prefix = text.partition("/")
    if not prefix.isdigit():
        return False
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return int(prefix) <= (32 if ip.version == 4 else 128)


def _pow2(n, low=512, high=131072):
    return low <= n <= high and n & (n - 1) == 0


def _range(low, high=None):
    return lambda v: v >= low and (high is None or v <= high)


TOP_CHECKS = {
    "ram": _range(1), "vcpus": _range(1, 64), "max_physical_memory": _range(1),
    "max_swap": _range(1), "max_locked_memory": _range(1), "max_shm_memory": _range(1),
    "max_lwps": _range(1), "max_msg_ids": _range(0), "max_sem_ids": _range(0),
    "max_shm_ids": _range(0), "cpu_shares": _range(0), "cpu_cap": _range(0),
    "quota": _range(0), "zfs_io_priority": _range(0), "tmpfs": _range(0),
    "zfs_root_recsize": _pow2, "zfs_data_recsize": _pow2,
    "zfs_root_compression": lambda v: v in COMPRESSIONS,
    "zfs_data_compression": lambda v: v in COMPRESSIONS,
    "zfs_snapshot_limit": _range(0), "zfs_filesystem_limit": _range(0),
    "vnc_port": _range(-1, 65535), "spice_port": _range(-1, 65535),
    "vnc_password": lambda v: len(v) <= 8,
    "hostname": lambda v: bool(HOSTNAME_RE.match(v)) and len(v) <= 255,
    "resolvers": lambda v: all(_ip(r) for r in v),
    "kernel_version": lambda v: bool(v.strip()),
    "vga": lambda v: v in VGA, "flexible_disk_size": _range(0),
    "mdata_exec_timeout": _range(0), "zlog_max_size": _range(0),
    "virtio_txburst": _range(0), "virtio_txtimer": _range(0),
    "owner_uuid": lambda v: bool(UUID_RE.match(v)),
    "billing_id": lambda v: bool(UUID_RE.match(v)),
    "bootrom": lambda v: v in ("bios", "uefi") or v.startswith("/"),
    "routes": lambda v: all(_route(k, val) for k, val in v.items()),
    "set_routes": lambda v: all(_route(k, val) for k, val in v.items()),
}


def _route(dest, gateway):
    if not (_ip(dest) or _cidr(dest)):
        return False
    gateway = str(gateway)
    return (_ip(gateway) or bool(re.fullmatch(r"nics\[\d+\]", gateway))
            or bool(re.fullmatch(r"macs\[[0-9a-fA-F:]+\]", gateway)))


def _valid_cid(value):
    """utils.validCID: 0x and hex digits, even length, at most 512 characters."""
    return (isinstance(value, str) and bool(re.fullmatch(r"0x[0-9a-fA-F]+", value))
            and len(value) % 2 == 0 and len(value) <= 512)


def _check_nic_value(key, value, brand):
    """VM.validate's checks of nics.*.<key> (the other NIC rules are in ``nics``)."""
    if key == "mac":
        return bool(MAC_RE.match(value))
    if key == "vrrp_primary_ip":
        return _ipv4(value)
    if key == "vlan_id":
        return 0 <= value <= 4095
    if key == "mtu":
        return 576 <= value <= 9000
    if key == "vrrp_vrid":
        return 0 <= value <= 255
    if key == "allowed_dhcp_cids":
        return all(_valid_cid(v) for v in value)
    return True


def _check_disk_value(key, value, brand):
    """proptable.js: block_size, size, image_size and refreservation are integers with
    min 0; block_size and compression values are checkPayloadProperties' (payload)."""
    if key == "media":
        return value in ("disk", "cdrom")
    if key in ("block_size", "size", "image_size", "refreservation"):
        return value >= 0
    if key == "pci_slot":
        return bool(re.fullmatch(r"(\d+:)?(\d+:)?\d+", value))
    if key == "guest_block_size":
        return bool(re.fullmatch(r"\d+(/\d+)?", value))
    return True


SUB_CHECKS = {"nics": _check_nic_value, "disks": _check_disk_value}
