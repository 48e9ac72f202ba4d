"""Client for ``nictagadm`` (reference §7).

    tags = Nictagadm(transport)
    tags.list()                 -> [{"name", "mac", "link", "type"}, ...]
    tags.exists(["admin", "x"]) -> ["x"]      # the missing names
    tags.add_etherstub("stub0"); tags.add("storage", mac); tags.delete("stub0")
    tags.vms("external")        -> [vm uuids]

``mac`` and ``link`` are None for etherstubs and overlay rules (nictagadm
prints "-"). ``type`` is normal, aggr, etherstub or overlay_rule (nictagadm
prints the last as "overlay rule"). An overlay rule is no tag itself:
``exists`` accepts ``<rule>/<vnet>`` for it.
"""

from __future__ import annotations

from openstack_smartos.host import errors

FIELDS = ("name", "mac", "link", "type")


def split_escaped(line: str, delim: str = ":") -> list[str]:
    """Split a parsable line on ``delim``, honouring backslash escapes."""
    fields, current, i = [], [], 0
    while i < len(line):
        char = line[i]
        if char == "\\" and i + 1 < len(line):
            current.append(line[i + 1])
            i += 2
            continue
        if line.startswith(delim, i):
            fields.append("".join(current))
            current = []
            i += len(delim)
            continue
        current.append(char)
        i += 1
    fields.append("".join(current))
    return fields


def parse_list(text: str, delim: str = ":") -> list[dict]:
    tags = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = split_escaped(line, delim)
        if len(fields) == 9 and delim == ":":
            # MAC printed without escapes: name:aa:bb:cc:dd:ee:ff:link:type
            fields = [fields[0], ":".join(fields[1:7]), fields[7], fields[8]]
        if len(fields) != 4:
            raise errors.SmartOSError(f"nictagadm list -p: cannot parse {line!r}")
        tag = dict(zip(FIELDS, fields))
        tag["type"] = tag["type"].replace(" ", "_")
        for key in ("mac", "link"):
            if tag[key] in ("-", ""):
                tag[key] = None
        tags.append(tag)
    return tags


class Nictagadm:
    def __init__(self, transport, timeout: float | None = 60):
        self.transport = transport
        self.timeout = timeout

    def list(self, local: bool | None = None) -> list[dict]:
        """All tags; ``local=True`` only etherstubs, ``local=False`` none of them."""
        argv = ["nictagadm", "list", "-p"]
        if local is True:
            argv.append("-l")
        elif local is False:
            argv.append("-L")
        return parse_list(self.transport.run(argv, timeout=self.timeout).text)

    def names(self) -> list[str]:
        return [tag["name"] for tag in self.list()]

    def overlay_rules(self) -> list[str]:
        """The overlay rule names (nic tags ``<rule>/<vnet>`` name their overlays)."""
        return [tag["name"] for tag in self.list() if tag["type"] == "overlay_rule"]

    def exists(self, names) -> list[str]:
        """The names among ``names`` that are not nic tags (empty: all exist)."""
        names = [names] if isinstance(names, str) else list(names)
        if not names:
            return []
        argv = ["nictagadm", "exists", "-l", *names]
        result = self.transport.run(argv, timeout=self.timeout, check=False)
        if result.exit_code == 0:
            return []
        if result.exit_code == 1:
            reported = result.stderr_text.split()
            missing = [name for name in names if name in reported]
            if missing or not reported:
                return missing or list(names)
        raise errors.classify(argv, result.exit_code, result.stderr, result.stdout)

    def add(self, name: str, mac: str, mtu: int | None = None):
        """A normal tag on the physical NIC with ``mac``."""
        argv = ["nictagadm", "add"]
        if mtu is not None:
            argv += ["-p", f"mtu={int(mtu)}"]
        self.transport.run(argv + [name, mac], timeout=self.timeout)

    def add_etherstub(self, name: str, mtu: int | None = None):
        argv = ["nictagadm", "add", "-l"]
        if mtu is not None:
            argv += ["-p", f"mtu={int(mtu)}"]
        self.transport.run(argv + [name], timeout=self.timeout)

    def update(self, name: str, mac: str | None = None, mtu: int | None = None):
        props = []
        if mac is not None:
            props.append(f"mac={mac}")
        if mtu is not None:
            props.append(f"mtu={int(mtu)}")
        if not props:
            raise ValueError("update needs mac or mtu")
        self.transport.run(["nictagadm", "update", "-p", ",".join(props), name],
                           timeout=self.timeout)

    def delete(self, name: str, force: bool = False):
        argv = ["nictagadm", "delete"] + (["-f"] if force else []) + [name]
        self.transport.run(argv, timeout=self.timeout)

    def vms(self, name: str) -> list[str]:
        result = self.transport.run(["nictagadm", "vms", name], timeout=self.timeout)
        return [line.strip() for line in result.text.splitlines() if line.strip()]
