"""Client for ``kstat -p`` (reference §8).

    ks = Kstat(transport)
    ks.read(module="unix", name="system_pages")
        -> {("unix", 0, "system_pages", "freemem"): 123456, ...}
    ks.zone_stats()   # every zone's CPU, memory, caps, I/O, NIC and TCP kstats,
                      # in one command, keyed by zonename (the VM UUID)

Values are ints where they are integers, floats for hrtime pseudo-statistics
(crtime, snaptime) and strings otherwise. Per-zone kstat names are cut to 30
characters, so zones are keyed on the zonename *statistic* and the instance
(zoneid), never on the kstat name.
"""

from __future__ import annotations

import dataclasses
import re

from openstack_smartos.host import errors

# The per-zone kstats zone_stats() reads, as kstat selectors (one command).
ZONE_SELECTORS = (
    "zones:::",
    "caps:::",
    "memory_cap:::",
    "zone_vfs:::",
    "zone_zfs:::",
    "link:0:/^z[0-9]+_/:",
    "tcp::tcp:",
)

_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+\.\d+$")
_LINK = re.compile(r"^z(\d+)_(.+)$")


def parse_value(text: str):
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text


def parse(text: str) -> dict:
    """Parse ``kstat -p`` output into {(module, instance, name, statistic): value}."""
    out = {}
    for line in text.splitlines():
        if not line:
            continue
        key, sep, value = line.partition("\t")
        if not sep:
            continue  # -T timestamps and other non-data lines
        module, _, rest = key.partition(":")
        instance, _, rest = rest.partition(":")
        name, _, statistic = rest.rpartition(":")
        try:
            instance = int(instance)
        except ValueError:
            continue
        out[(module, instance, name, statistic)] = parse_value(value)
    return out


@dataclasses.dataclass
class ZoneStats:
    """The kstats of one running zone."""

    zoneid: int
    zonename: str
    misc: dict = dataclasses.field(default_factory=dict)      # zones:<zid> (zone_misc)
    memory: dict = dataclasses.field(default_factory=dict)    # memory_cap
    caps: dict = dataclasses.field(default_factory=dict)      # "cpucaps", "swapresv", ...
    vfs: dict = dataclasses.field(default_factory=dict)       # zone_vfs
    zfs: dict = dataclasses.field(default_factory=dict)       # zone_zfs
    links: dict = dataclasses.field(default_factory=dict)     # interface -> net stats
    tcp: dict = dataclasses.field(default_factory=dict)       # mib2

    @property
    def cpu_nsec(self) -> int:
        """CPU time used since the zone booted (user + sys), in ns."""
        return int(self.misc.get("nsec_user", 0)) + int(self.misc.get("nsec_sys", 0))

    @property
    def boot_time(self) -> int | None:
        return self.misc.get("boot_time")

    @property
    def rss(self) -> int | None:
        return self.memory.get("rss")

    @property
    def physcap(self) -> int | None:
        return self.memory.get("physcap")

    @property
    def cpu_cap(self) -> int | None:
        """The cap in percent of one CPU, or None when there is no cap."""
        return self.caps.get("cpucaps", {}).get("value")


class Kstat:
    def __init__(self, transport, timeout: float | None = 60):
        self.transport = transport
        self.timeout = timeout

    def _run(self, argv) -> dict:
        result = self.transport.run(argv, timeout=self.timeout, check=False)
        if result.exit_code == 1 and not result.stderr.strip():
            return {}  # nothing matched
        if result.exit_code != 0:
            raise errors.classify(argv, result.exit_code, result.stderr, result.stdout)
        return parse(result.text)

    def read(self, module=None, instance=None, name=None, statistic=None) -> dict:
        """``kstat -p`` with the given selectors (globs or /regex/ allowed)."""
        argv = ["kstat", "-p"]
        for flag, value in (("-m", module), ("-i", instance), ("-n", name),
                            ("-s", statistic)):
            if value is not None:
                argv += [flag, str(value)]
        return self._run(argv)

    def select(self, *selectors: str) -> dict:
        """``kstat -p module:instance:name:statistic ...`` (union of selectors)."""
        return self._run(["kstat", "-p", *selectors])

    def zone_stats(self, zoneid=None) -> dict[str, ZoneStats]:
        """Every running zone's kstats in ONE command, keyed by zonename.

        With ``zoneid``, only that zone (still one command).
        """
        selectors = list(ZONE_SELECTORS)
        if zoneid is not None:
            zid = int(zoneid)
            selectors = [f"zones:{zid}::", f"caps:{zid}::", f"memory_cap:{zid}::",
                         f"zone_vfs:{zid}::", f"zone_zfs:{zid}::",
                         f"link:0:/^z{zid}_/:", f"tcp:{zid}:tcp:"]
        return group_zones(self.select(*selectors))


_PSEUDO = ("class", "crtime", "snaptime")


def group_zones(stats: dict) -> dict[str, ZoneStats]:
    """Group parsed per-zone kstats by zone (the global zone included)."""
    by_id: dict[int, dict] = {}
    for (module, instance, name, statistic), value in stats.items():
        if statistic in _PSEUDO and module != "zones":
            continue
        if module == "link":
            match = _LINK.match(name)
            if not match:
                continue
            zid, section, sub = int(match.group(1)), "links", match.group(2)
        elif module == "caps":
            zid, section = instance, "caps"
            sub = re.sub(rf"_zone_{instance}$", "", name)
        elif module in ("zones", "memory_cap", "zone_vfs", "zone_zfs", "tcp"):
            zid, section, sub = instance, module, None
        else:
            continue
        zone = by_id.setdefault(zid, {})
        if sub is None:
            zone.setdefault(section, {})[statistic] = value
        else:
            zone.setdefault(section, {}).setdefault(sub, {})[statistic] = value
    out = {}
    for zid, zone in sorted(by_id.items()):
        misc = zone.get("zones")
        if not misc or "zonename" not in misc:
            continue  # no zone_misc kstat: not a zone we can name
        misc = {k: v for k, v in misc.items() if k not in _PSEUDO}
        zonename = str(misc["zonename"])
        out[zonename] = ZoneStats(
            zoneid=zid, zonename=zonename, misc=misc,
            memory=zone.get("memory_cap", {}), caps=zone.get("caps", {}),
            vfs=zone.get("zone_vfs", {}), zfs=zone.get("zone_zfs", {}),
            links=zone.get("links", {}), tcp=zone.get("tcp", {}))
    return out
