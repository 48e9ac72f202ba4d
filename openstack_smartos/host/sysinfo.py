"""Client for ``sysinfo`` (reference §7).

    info = Sysinfo(transport)
    info.get()            # the whole JSON object, cached in this client
    info.get(refresh=True)  # sysinfo -f: the host rebuilds its cache too
    info.uuid, info.cpu_count, info.memory_mib, info.zpool_size_gib,
    info.boot_time, info.nic_tags()

sysinfo's JSON types are inconsistent ("MiB of Memory" and "Boot Time" are
strings, core counts numbers); the properties here return ints.
"""

from __future__ import annotations

import json

from openstack_smartos.host import errors


class Sysinfo:
    def __init__(self, transport, timeout: float | None = 60):
        self.transport = transport
        self.timeout = timeout
        self._cache: dict | None = None

    def get(self, refresh: bool = False) -> dict:
        """The sysinfo object; ``refresh`` runs ``sysinfo -f`` (host-side refresh)."""
        if self._cache is not None and not refresh:
            return self._cache
        argv = ["sysinfo", "-f"] if refresh else ["sysinfo"]
        result = self.transport.run(argv, timeout=self.timeout)
        try:
            info = json.loads(result.stdout)
        except ValueError as exc:
            raise errors.SmartOSError(f"sysinfo printed invalid JSON: {exc}") from exc
        if not isinstance(info, dict):
            raise errors.SmartOSError("sysinfo printed JSON that is not an object")
        self._cache = info
        return info

    def invalidate(self):
        """Forget the client-side copy (the next read asks the host again)."""
        self._cache = None

    def update_cache(self):
        """``sysinfo -u``: make the host rebuild its cache (after nic/zpool changes)."""
        self.transport.run(["sysinfo", "-u"], timeout=self.timeout)
        self._cache = None

    def parsable(self) -> dict:
        """``sysinfo -p`` as a dict of Key_Name -> str (shell quoting removed)."""
        result = self.transport.run(["sysinfo", "-p"], timeout=self.timeout)
        return parse_parsable(result.text)

    # -- convenience ---------------------------------------------------------
    def _int(self, key, default=None):
        value = self.get().get(key, default)
        if value is None:
            raise errors.SmartOSError(f"sysinfo has no {key!r}")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise errors.SmartOSError(f"sysinfo {key!r} is not a number: {value!r}") \
                from None

    @property
    def uuid(self) -> str:
        return self.get()["UUID"]

    @property
    def hostname(self) -> str:
        return self.get().get("Hostname", "")

    @property
    def live_image(self) -> str:
        return self.get().get("Live Image", "")

    @property
    def admin_ip(self) -> str:
        return self.get().get("Admin IP", "")

    @property
    def cpu_count(self) -> int:
        """Online logical CPUs (falls back to the legacy "CPU Total Cores")."""
        info = self.get()
        if "CPU Online Count" in info:
            return self._int("CPU Online Count")
        return self._int("CPU Total Cores")

    @property
    def cpu_sockets(self) -> int:
        info = self.get()
        key = "CPU Socket Count" if "CPU Socket Count" in info else "CPU Physical Cores"
        return self._int(key)

    @property
    def cpu_cores(self) -> int:
        return self._int("CPU Core Count", self.cpu_count)

    @property
    def cpu_type(self) -> str:
        return self.get().get("CPU Type", "")

    @property
    def memory_mib(self) -> int:
        return self._int("MiB of Memory")

    @property
    def zpool(self) -> str:
        return self.get().get("Zpool", "zones")

    @property
    def zpool_size_gib(self) -> int:
        return self._int("Zpool Size in GiB")

    @property
    def boot_time(self) -> int:
        """Epoch seconds (sysinfo prints a string)."""
        return self._int("Boot Time")

    @property
    def bhyve_capable(self) -> bool:
        return bool(self.get().get("Bhyve Capable", False))

    @property
    def vm_capable(self) -> bool:
        return bool(self.get().get("VM Capable", False))

    def nic_tags(self) -> list[str]:
        """Tags from every interface's "NIC Names" (physical and aggregations), sorted.

        Etherstubs are not in sysinfo; use ``Nictagadm.list()`` for those.
        """
        tags = set()
        for nic in (self.get().get("Network Interfaces") or {}).values():
            tags.update(nic.get("NIC Names") or [])
        return sorted(tags)

    def interfaces(self) -> dict:
        return dict(self.get().get("Network Interfaces") or {})


def parse_parsable(text: str) -> dict:
    """Turn ``Key='value'`` / ``Key=value`` lines into a dict of strings."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if not sep:
            continue
        out[key] = _unquote(value)
    return out


def _unquote(value: str) -> str:
    result, i, quoted = [], 0, False
    while i < len(value):
        char = value[i]
        if char == "'":
            quoted = not quoted
        elif char == "\\" and not quoted and i + 1 < len(value):
            i += 1
            result.append(value[i])
        else:
            result.append(char)
        i += 1
    return "".join(result)
