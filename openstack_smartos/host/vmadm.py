"""vmadm client: typed calls over a transport (reference §1).

Every call is one argv list; JSON payloads go on stdin only, never in argv
and never through a shell. Status lines come from stderr, data from stdout
(§1.1). A failure raises the class ``errors.classify`` picks: ``NotFound`` for
every "does not exist" wording (``No such zone configured``, ``VM <uuid> not
found``, ...), ``InvalidPayload``, ``UsageError``, ``AlreadyExists`` or
``CommandError``.

Parsing rule for ``list`` (``vmadm list -p`` joins fields with ':' and does not
escape colons inside values): a field is *colon-safe* when its values can never
contain ':' (uuids, numbers, booleans, states, brands, ...; see ``COLON_SAFE``).
At most one requested field may be unsafe; it is asked for last and the line
is split ``len(fields) - 1`` times, so that field keeps its colons. With two
or more unsafe fields (timestamps, MACs, IPv6 addresses, aliases, tags...)
the client uses ``lookup -j -o`` and sorts on its side instead, which gives
the same rows without ambiguity.
"""

from __future__ import annotations

import json
import re

from openstack_smartos.host import errors

CREATE_TIMEOUT = 900.0          # create blocks until provisioning ends (§12.2)
DEFAULT_LIST_FIELDS = ("uuid", "brand", "state", "alias")
_CREATED = re.compile(r"^Successfully created (?:VM )?([0-9a-fA-F-]{36})\s*$", re.MULTILINE)
_RECEIVED = re.compile(r"^Successfully received VM ([0-9a-fA-F-]{36})\s*$", re.MULTILINE)

INT_FIELDS = frozenset({
    "ram", "cpu_cap", "cpu_shares", "quota", "max_physical_memory", "max_swap",
    "max_locked_memory", "max_lwps", "zfs_io_priority", "zoneid", "pid", "vcpus",
    "exit_status", "flexible_disk_size", "free_space", "tmpfs", "zonedid"})
BOOL_FIELDS = frozenset({
    "autoboot", "do_not_inventory", "docker", "firewall_enabled", "hvm",
    "indestructible_delegated", "indestructible_zoneroot"})
COLON_SAFE = INT_FIELDS | BOOL_FIELDS | frozenset({
    "uuid", "type", "state", "brand", "zone_state", "zonename", "zonepath", "image_uuid",
    "owner_uuid", "billing_id", "zpool", "cpu_type"})
_FLAT_SAFE = re.compile(r"^(disks\.\d+\.(size|image_size|image_uuid|boot|media|model|zpool)"
                        r"|nics\.\d+\.(vlan_id|nic_tag|interface|model|primary))$")


def _colon_safe(field: str) -> bool:
    return field in COLON_SAFE or bool(_FLAT_SAFE.match(field))


def _filter_args(filters) -> list[str]:
    """{key: value} to vmadm filter arguments.

    A compiled regex (``re.compile``) or a string starting with '~' becomes
    ``key=~regex`` (case-insensitive on the host); booleans become
    true/false; everything else is compared as text.
    """
    args = []
    for key, value in (filters or {}).items():
        if isinstance(value, re.Pattern):
            text = "~" + value.pattern
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        args.append(f"{key}={text}")
    return args


def _convert(field, text):
    if text == "":
        return None
    base = field.rsplit(".", 1)[-1]
    if field in INT_FIELDS or base in ("size", "image_size", "vlan_id"):
        try:
            return int(text)
        except ValueError:
            return text
    if field in BOOL_FIELDS or base in ("boot", "primary"):
        return text == "true"
    return text


def _value_at(vm, path):
    if path in vm:
        return vm[path]
    head, _, rest = path.partition(".")
    node = vm.get(head)
    if head in ("tags", "customer_metadata", "internal_metadata"):
        return (node or {}).get(rest)
    for part in rest.split(".") if rest else []:
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.get(part)
        else:
            return None
    return node


class Vmadm:
    """``vmadm`` on one host."""

    def __init__(self, transport):
        self._t = transport

    def _run(self, *args, **kwargs):
        return self._t.run(["vmadm", *args], **kwargs)

    # -- create / read -------------------------------------------------------------
    def create(self, payload: dict, timeout: float | None = CREATE_TIMEOUT) -> str:
        """Create a VM from ``payload`` (JSON on stdin); return its uuid.

        Blocks until provisioning ends. Pass ``uuid`` in the payload to know
        the VM's uuid even when the command fails or times out (§12.1).
        """
        result = self._run("create", stdin=json.dumps(payload).encode(), timeout=timeout)
        if payload.get("uuid"):
            return payload["uuid"]
        match = _CREATED.search(result.stderr_text)
        if match is None:
            raise errors.CommandError(result.argv, result.exit_code, result.stderr,
                                      result.stdout)
        return match.group(1).lower()

    def get(self, uuid: str) -> dict:
        """The full VM object; raises NotFound."""
        return json.loads(self._run("get", uuid).stdout)

    def exists(self, uuid: str) -> bool:
        try:
            self.get(uuid)
        except errors.NotFound:
            return False
        return True

    def list(self, fields=DEFAULT_LIST_FIELDS, filters=None, sort=None) -> list[dict]:
        """``vmadm list -p -o <fields>``: one dict per VM, values typed.

        ``sort``: field names ('-' prefix for descending), as vmadm's ``-s``.
        Missing values are None. See the module docstring for the colon rule.
        """
        fields = list(fields)
        if not fields:
            raise ValueError("list needs at least one field")
        unsafe = [f for f in fields if not _colon_safe(f)]
        if len(unsafe) > 1:
            return self._list_via_lookup(fields, filters, sort)
        order = [f for f in fields if _colon_safe(f)] + unsafe
        args = ["list", "-p", "-o", ",".join(order)]
        if sort:
            args += ["-s", ",".join(sort)]
        args += _filter_args(filters)
        rows = []
        for line in self._run(*args).text.splitlines():
            if not line:
                continue
            values = line.split(":", len(order) - 1)
            values += [""] * (len(order) - len(values))
            parsed = {f: _convert(f, v) for f, v in zip(order, values)}
            rows.append({f: parsed[f] for f in fields})
        return rows

    def _list_via_lookup(self, fields, filters, sort):
        roots = sorted({f.split(".", 1)[0] for f in fields} | {
            s.lstrip("+-").split(".", 1)[0] for s in (sort or ())})
        vms = self.lookup(filters=filters, fields=roots)
        for key in reversed(list(sort or ())):
            name = key.lstrip("+-")
            present = [vm for vm in vms if _value_at(vm, name) is not None]
            absent = [vm for vm in vms if _value_at(vm, name) is None]
            present.sort(key=lambda vm: (isinstance(_value_at(vm, name), str),
                                         _value_at(vm, name)), reverse=key.startswith("-"))
            vms = present + absent
        return [{f: _value_at(vm, f) for f in fields} for vm in vms]

    def lookup(self, filters=None, fields=None, unique=False) -> list[dict]:
        """``vmadm lookup -j [-1] [-o fields]``: full objects (or only ``fields``).

        ``unique=True`` requires exactly one match (CommandError otherwise).
        Objects carry list's fake ``type`` and ``ram`` (§1.3 list).
        """
        args = ["lookup", "-j"]
        if unique:
            args.append("-1")
        if fields:
            args += ["-o", ",".join(fields)]
        args += _filter_args(filters)
        return json.loads(self._run(*args).stdout or b"[]")

    def lookup_uuids(self, filters=None) -> list[str]:
        """``vmadm lookup`` without -j: matching uuids."""
        return self._run("lookup", *_filter_args(filters)).text.split()

    # -- power ---------------------------------------------------------------------------
    def start(self, uuid: str, order: str | None = None, cdrom=None, disk=None,
              timeout: float | None = None) -> None:
        """Start (idempotent). HVM only: ``order`` ("cd" or "cd,once=d"),
        ``cdrom``/``disk`` as (path, model) pairs or lists of them."""
        args = ["start", uuid]
        if order:
            args.append(f"order={order}")
        for key, value in (("cdrom", cdrom), ("disk", disk)):
            for path, model in _pairs(value):
                args.append(f"{key}={path},{model}")
        self._run(*args, timeout=timeout)

    def stop(self, uuid: str, force: bool = False, timeout: int | None = None,
             command_timeout: float | None = None) -> None:
        """Stop (idempotent). ``timeout`` is vmadm's -t (HVM and docker only)."""
        args = ["stop", uuid]
        if force:
            args.append("-F")
        if timeout is not None:
            args += ["-t", str(int(timeout))]
        self._run(*args, timeout=command_timeout)

    def reboot(self, uuid: str, force: bool = False, timeout: float | None = None) -> None:
        args = ["reboot", uuid] + (["-F"] if force else [])
        self._run(*args, timeout=timeout)

    def kill(self, uuid: str, signal: str | None = None) -> None:
        args = ["kill"] + (["-s", signal] if signal else []) + [uuid]
        self._run(*args)

    # -- change ------------------------------------------------------------------------------
    def update(self, uuid: str, payload: dict, timeout: float | None = None) -> None:
        """Update with a JSON payload on stdin (set_*/remove_*, add_/update_/remove_
        nics and disks; ``{"prop": None}`` clears a property)."""
        self._run("update", uuid, stdin=json.dumps(payload).encode(), timeout=timeout)

    def delete(self, uuid: str, timeout: float | None = None) -> None:
        self._run("delete", uuid, timeout=timeout)

    def validate(self, action: str, payload: dict, brand: str | None = None) -> dict | None:
        """None when valid, else {bad_brand?, bad_properties?, bad_values?,
        missing_properties?} as vmadm reports them."""
        if action not in ("create", "update"):
            raise ValueError("action must be 'create' or 'update'")
        args = ["validate", action]
        if action == "update":
            if not brand:
                raise ValueError("validate update needs the brand")
            args.append(brand)
        result = self._run(*args, stdin=json.dumps(payload).encode(), check=False)
        if result.exit_code == 0:
            return None
        text = result.stderr_text
        start = text.find("{")
        if result.exit_code == 1 and start >= 0:
            try:
                return json.loads(text[start:text.rfind("}") + 1])
            except ValueError:
                pass
        raise errors.classify(result.argv, result.exit_code, result.stderr, result.stdout)

    # -- HVM ---------------------------------------------------------------------------------
    def info(self, uuid: str, types=None) -> dict:
        """``vmadm info`` (kvm: all types; bhyve: vnc). ``types``: names or None."""
        args = ["info", uuid]
        if types:
            args.append(",".join([types] if isinstance(types, str) else types))
        return json.loads(self._run(*args).stdout)

    def sysrq(self, uuid: str, kind: str) -> None:
        """``nmi`` (kvm, bhyve) or ``screenshot`` (kvm)."""
        self._run("sysrq", uuid, kind)

    # -- snapshots --------------------------------------------------------------------------
    def create_snapshot(self, uuid: str, name: str) -> None:
        self._run("create-snapshot", uuid, name)

    def rollback_snapshot(self, uuid: str, name: str) -> None:
        self._run("rollback-snapshot", uuid, name)

    def delete_snapshot(self, uuid: str, name: str) -> None:
        self._run("delete-snapshot", uuid, name)

    # -- send / receive ---------------------------------------------------------------------
    def send(self, uuid: str, out, timeout: float | None = None) -> None:
        """Write the VM's VMBUNDLE stream to the binary file ``out`` (stops the VM)."""
        self._run("send", uuid, stdout_to=out, timeout=timeout)

    def receive(self, stream, timeout: float | None = None) -> str:
        """Receive a VMBUNDLE (bytes or a binary file); the VM is left stopped."""
        result = self._run("receive", stdin=stream, timeout=timeout)
        match = _RECEIVED.search(result.stderr_text)
        if match is None:
            raise errors.CommandError(result.argv, result.exit_code, result.stderr,
                                      result.stdout)
        return match.group(1).lower()


def _pairs(value):
    if not value:
        return []
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return [value]
    return [tuple(v) for v in value]
