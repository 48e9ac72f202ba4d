"""Clients for ``dladm`` and ``ipadm`` (net-formats §0, §1, §3).

    links = Dladm(transport)
    links.show_phys()             -> [{"link", "media", "state", "speed", "duplex", "device"}]
    links.phys_macs()             -> {link: mac}   (dladm's unpadded form)
    links.show_link(zone=None)    -> [{"link", "class", "mtu", "state", "bridge", "over"}]
    links.show_vnic(zone=None, link=None) -> [{"link", "over", "speed", "macaddress",
                                              "macaddrtype", "vid", "zone"}]
    links.show_etherstub()        -> [names]
    links.create_etherstub(name); links.delete_etherstub(name)
    links.show_overlay(["sdc_overlay4000"]) -> {name: {property: {"perm", "required",
                                                "value", "default", "possible"}}}
    links.create_overlay(name, "vxlan", "svp", 4000, {"svp/host": ..., ...})
    links.delete_overlay(name)
    Ipadm(transport).show_addr()  -> [{"addrobj", "type", "state", "addr"}]

Every listing is one command in parsable mode (``-p -o`` with two fields or
more, so ``:`` and ``\\`` arrive escaped and are unescaped here). Values
dladm prints as empty or ``--`` come back as None; numbers as ints. Errors
come from ``errors.classify``: "object not found" is NotFound, "object
already exists" AlreadyExists, "link busy" Busy.
"""

from __future__ import annotations

from openstack_smartos.host import errors
from openstack_smartos.host.nictagadm import split_escaped

PHYS = ("link", "media", "state", "speed", "duplex", "device")
LINK = ("link", "class", "mtu", "state", "bridge", "over")
VNIC = ("link", "over", "speed", "macaddress", "macaddrtype", "vid", "zone")
OVERLAY = ("link", "property", "perm", "req", "value", "default", "possible")
ADDR = ("addrobj", "type", "state", "addr")
_INTS = ("speed", "mtu", "vid")


def parse_rows(text: str, fields) -> list[dict]:
    """Parsable ofmt output for several ``fields``: one dict per line."""
    rows = []
    for line in text.splitlines():
        if not line:
            continue
        values = split_escaped(line)
        if len(values) != len(fields):
            raise errors.SmartOSError(f"cannot parse {line!r} as {','.join(fields)}")
        row = {}
        for name, value in zip(fields, values):
            if value in ("", "--"):
                value = None
            elif name in _INTS and value.isdigit():
                value = int(value)
            row[name] = value
        rows.append(row)
    return rows


def _fields(fields) -> str:
    return ",".join(fields)


class Dladm:
    def __init__(self, transport, timeout: float | None = 60):
        self.transport = transport
        self.timeout = timeout

    def _run(self, argv, check=True):
        return self.transport.run(argv, timeout=self.timeout, check=check)

    def _rows(self, argv, fields) -> list[dict]:
        return parse_rows(self._run(argv).text, fields)

    # -- listings ------------------------------------------------------------------
    def show_phys(self, link: str | None = None) -> list[dict]:
        argv = ["dladm", "show-phys", "-p", "-o", _fields(PHYS)]
        return self._rows(argv + ([link] if link else []), PHYS)

    def phys_macs(self) -> dict:
        rows = self._rows(["dladm", "show-phys", "-m", "-p", "-o", "link,address"],
                          ("link", "address"))
        return {row["link"]: row["address"] for row in rows}

    def show_link(self, zone: str | None = None, link: str | None = None) -> list[dict]:
        """Links of the global zone and the VNICs lent to zones; only ``zone``'s with it."""
        argv = ["dladm", "show-link", "-p", "-o", _fields(LINK)]
        argv += ["-z", zone] if zone is not None else []
        return self._rows(argv + ([link] if link else []), LINK)

    def show_vnic(self, zone: str | None = None, link: str | None = None,
                  vnic: str | None = None) -> list[dict]:
        """VNICs; ``zone`` keeps one zone's (and names ``vnic`` in its namespace),
        ``link`` those over a lower link."""
        argv = ["dladm", "show-vnic", "-p", "-o", _fields(VNIC)]
        argv += ["-z", zone] if zone is not None else []
        argv += ["-l", link] if link is not None else []
        return self._rows(argv + ([vnic] if vnic else []), VNIC)

    def show_etherstub(self) -> list[str]:
        result = self._run(["dladm", "show-etherstub", "-p", "-o", "link"])
        return [line for line in result.text.splitlines() if line]

    # -- etherstubs ----------------------------------------------------------------
    def create_etherstub(self, name: str, temporary: bool = False):
        self._run(["dladm", "create-etherstub"] + (["-t"] if temporary else []) + [name])

    def delete_etherstub(self, name: str, temporary: bool = False):
        argv = ["dladm", "delete-etherstub"] + (["-t"] if temporary else []) + [name]
        result = self._run(argv, check=False)
        if result.exit_code == 0:
            return
        error = errors.classify(argv, result.exit_code, result.stderr, result.stdout)
        if error.message == f"dladm: invalid link name '{name}'":
            # delete-etherstub says only this (no status) for a name it does not know
            error = errors.NotFound(argv, result.exit_code, result.stderr, result.stdout)
        raise error

    # -- overlays ------------------------------------------------------------------
    def show_overlay(self, names=None) -> dict:
        """{overlay: {property: {"perm", "required", "value", "default", "possible"}}}.

        Without ``names``, every overlay. Requested names that are no overlay
        are left out (dladm warns and exits 1 for them, printing the others).
        """
        names = [names] if isinstance(names, str) else list(names or [])
        argv = ["dladm", "show-overlay", "-p", "-o", _fields(OVERLAY), *names]
        result = self._run(argv, check=False)
        if result.exit_code != 0 and not (names and result.exit_code == 1 and _only_misses(
                result.stderr_text)):
            raise errors.classify(argv, result.exit_code, result.stderr, result.stdout)
        out = {}
        for row in parse_rows(result.text, OVERLAY):
            out.setdefault(row["link"], {})[row["property"]] = {
                "perm": row["perm"], "required": row["req"] == "y", "value": row["value"],
                "default": row["default"],
                "possible": row["possible"].split(",") if row["possible"] else None}
        return out

    def overlay_exists(self, name: str) -> bool:
        return name in self.show_overlay([name])

    def create_overlay(self, name: str, encap: str, search: str, vnetid: int,
                       props: dict | None = None, temporary: bool = False):
        """``dladm create-overlay``; each property is its own ``-p k=v``."""
        argv = ["dladm", "create-overlay"] + (["-t"] if temporary else [])
        argv += ["-e", encap, "-s", search, "-v", str(int(vnetid))]
        for key, value in (props or {}).items():
            value = str(value)
            if not key or "," in key or "=" in key or "," in value:
                raise ValueError(f"overlay property {key!r}={value!r}: dladm splits "
                                 "properties at ',' and names at '='")
            argv += ["-p", f"{key}={value}"]
        self._run(argv + [name])

    def delete_overlay(self, name: str, temporary: bool = False):
        self._run(["dladm", "delete-overlay"] + (["-t"] if temporary else []) + [name])


def _only_misses(stderr: str) -> bool:
    lines = [line for line in stderr.splitlines() if line.strip()]
    return bool(lines) and all(
        line.startswith("dladm: warning: ") and (
            line.endswith(": object not found") or line.endswith(" is not an overlay"))
        for line in lines)


class Ipadm:
    def __init__(self, transport, timeout: float | None = 60):
        self.transport = transport
        self.timeout = timeout

    def show_addr(self, addrobj: str | None = None) -> list[dict]:
        """Addresses (``addrobj`` ``<if>/`` for one interface's)."""
        argv = ["ipadm", "show-addr", "-p", "-o", _fields(ADDR)]
        result = self.transport.run(argv + ([addrobj] if addrobj else []),
                                    timeout=self.timeout)
        return parse_rows(result.text, ADDR)
