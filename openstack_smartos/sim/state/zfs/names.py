"""ZFS errors, property tables, and the name and size helpers the pool's modules share."""

from __future__ import annotations

import posixpath
import random
import re


class ZFSError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


# -- properties ---------------------------------------------------------------

SIZE_PROPS = {"quota", "refquota", "reservation", "refreservation", "volsize",
              "volblocksize", "recordsize"}
LIMIT_PROPS = {"snapshot_limit", "filesystem_limit"}
READONLY = {"type", "creation", "used", "available", "referenced", "logicalused",
            "logicalreferenced", "usedbysnapshots", "usedbydataset", "usedbychildren",
            "usedbyrefreservation", "compressratio", "refcompressratio", "origin",
            "guid", "createtxg", "written", "userrefs", "clones",
            "receive_resume_token", "mounted", "name", "encryption"}
INHERITABLE = {"compression": "off", "devices": "on", "atime": "on", "checksum": "on",
               "sync": "standard", "readonly": "off", "dedup": "off", "exec": "on",
               "setuid": "on", "zoned": "off", "primarycache": "all",
               "secondarycache": "all", "logbias": "latency", "snapdir": "hidden"}
SETTABLE = (SIZE_PROPS | LIMIT_PROPS | set(INHERITABLE)
            | {"mountpoint", "canmount", "copies"})
ALIASES = {"avail": "available", "refer": "referenced", "reserv": "reservation",
           "refreserv": "refreservation", "volblock": "volblocksize",
           "recsize": "recordsize", "lused": "logicalused",
           "lrefer": "logicalreferenced", "usedsnap": "usedbysnapshots",
           "usedds": "usedbydataset", "usedchild": "usedbychildren",
           "usedrefreserv": "usedbyrefreservation", "compress": "compression",
           "ratio": "compressratio", "refratio": "refcompressratio"}
COMPRESSION = {"on", "off", "lzjb", "gzip", "zle", "lz4",
               *(f"gzip-{n}" for n in range(1, 10))}
# The order "zfs get all" prints.
ALL_PROPS = ["type", "creation", "used", "available", "referenced", "compressratio",
             "mounted", "origin", "quota", "reservation", "volsize", "volblocksize",
             "recordsize", "mountpoint", "sharenfs", "checksum", "compression",
             "atime", "devices", "exec", "setuid", "readonly", "zoned", "snapdir",
             "canmount", "copies", "guid", "primarycache", "secondarycache",
             "usedbysnapshots", "usedbydataset", "usedbychildren",
             "usedbyrefreservation", "logbias", "dedup", "sync", "refcompressratio",
             "written", "logicalused", "logicalreferenced", "filesystem_limit",
             "snapshot_limit", "refquota", "refreservation", "userrefs", "clones",
             "createtxg", "receive_resume_token", "encryption"]

_NAME_RE = re.compile(r"^[A-Za-z0-9_.:\-]+(/[A-Za-z0-9_.:\-]+)*$")
_SNAP_RE = re.compile(r"^[A-Za-z0-9_.:%\-]+$")
_USER_PROP_RE = re.compile(r"^[a-z0-9_.\-]+:[A-Za-z0-9_.:\-]+$")


def canonical_prop(prop: str) -> str:
    return ALIASES.get(prop, prop)


def is_user_prop(prop: str) -> bool:
    return ":" in prop


def parse_size(text, prop="size") -> int:
    """'10G', '512m', '1.5T', '4096', 'none' (0) -> bytes."""
    if isinstance(text, bool):
        raise ZFSError(f"bad numeric value '{text}'")
    if isinstance(text, int):
        return text
    value = str(text).strip()
    if value.lower() == "none":
        return 0
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([bkmgtpe]?)(?:i?b)?", value, re.I)
    if not match:
        raise ZFSError(f"bad numeric value '{value}'")
    number = float(match.group(1)) if "." in match.group(1) else int(match.group(1))
    shift = "BKMGTPE".index(match.group(2).upper() or "B") * 10
    return int(number * (1 << shift))


def nicenum(num: int) -> str:
    """illumos zfs_nicenum: 0, 512, 1K, 1.50G, 10.5G, 123G."""
    num = int(num)
    index = 0
    value = num
    while value >= 1024 and index < 6:
        value //= 1024
        index += 1
    unit = "BKMGTPE"[index]
    if index == 0:
        return f"{num}"
    divisor = 1 << (10 * index)
    if num % divisor == 0:
        return f"{num // divisor}{unit}"
    for precision in (2, 1, 0):
        text = f"{num / divisor:.{precision}f}{unit}"
        if len(text) <= 5:
            return text
    return text


def _split(name: str):
    dataset, _, snap = name.partition("@")
    return dataset, snap


def _parent(name: str):
    return name.rsplit("/", 1)[0] if "/" in name else None


def _new_guid() -> int:
    return random.SystemRandom().randrange(1, 1 << 63)


def _norm_path(path: str) -> str:
    norm = posixpath.normpath("/" + str(path).lstrip("/"))
    if norm in ("/", "//"):
        raise ZFSError(f"invalid file path '{path}'")
    return norm


def _marks(items) -> str:
    return ",".join("?" * len(items)) or "NULL"


def _like_prefix(prefix: str) -> str:
    return prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _size_or_fail(value, fail):
    try:
        return parse_size(value)
    except ZFSError as exc:
        raise ZFSError(f"{fail}: {exc.message}") from None


def _tree_order(rows):
    """Parents before children, siblings by name."""
    return sorted(rows, key=lambda r: r["name"].split("/"))
