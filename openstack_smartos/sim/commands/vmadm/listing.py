"""get, list and lookup (§1.3): columns, filters, fake ``type``/``ram`` fields."""

from __future__ import annotations

import json
import re

from openstack_smartos.sim.state.vms import store
from openstack_smartos.sim.commands.vmadm.common import Usage, fail, get_uuid
from openstack_smartos.sim.commands.vmadm.payload import HVM_BRANDS, MAC_RE, normalise_mac

# LIST_FIELDS: key -> (header, width), in the reference's order.
LIST_FIELDS = {
    "uuid": ("UUID", 36), "type": ("TYPE", 4), "ram": ("RAM", 7), "state": ("STATE", 16),
    "alias": ("ALIAS", 10), "brand": ("BRAND", 14), "autoboot": ("AUTOBOOT", 8),
    "cpu_cap": ("CPU_CAP", 7), "cpu_shares": ("CPU_SHARE", 9), "quota": ("QUOTA", 5),
    "max_physical_memory": ("MAX_PHYS", 8), "max_swap": ("MAX_SWAP", 8),
    "max_locked_memory": ("MAX_LOCKED", 10), "max_lwps": ("MAX_LWP", 7),
    "zfs_io_priority": ("IO_PRIORITY", 11), "zone_state": ("ZONE_STATE", 10),
    "zonename": ("ZONENAME", 12), "zonepath": ("ZONEPATH", 40), "zoneid": ("ZONEID", 6),
    "pid": ("PID", 6), "vcpus": ("VCPUS", 5), "hostname": ("HOSTNAME", 32),
    "image_uuid": ("IMAGE_UUID", 36), "owner_uuid": ("OWNER_UUID", 36),
    "billing_id": ("BILLING_ID", 36), "create_timestamp": ("CREATE_TIMESTAMP", 24),
    "boot_timestamp": ("BOOT_TIMESTAMP", 24), "dns_domain": ("DOMAIN", 32),
    "do_not_inventory": ("DNI", 5), "docker": ("DOCKER", 6), "exit_status": ("EXIT", 4),
    "exit_timestamp": ("EXIT_TIMESTAMP", 24), "firewall_enabled": ("FIREWALL_ENABLED", 16),
    "flexible_disk_size": ("FLEX_DISK_SIZE", 14), "free_space": ("FREE_SPACE", 14),
    "hvm": ("HVM", 5), "indestructible_delegated": ("INDESTR_DATA", 12),
    "indestructible_zoneroot": ("INDESTR_ROOT", 12), "package_name": ("PACKAGE_NAME", 32),
    "package_version": ("PACKAGE_VER", 11), "qemu_extra_opts": ("QEMU_EXTRA_OPTS", 15),
    "tmpfs": ("TMPFS", 5), "cpu_type": ("CPU_TYPE", 8), "zpool": ("ZPOOL", 12),
}
DEFAULT_COLUMNS = ["uuid", "type", "ram", "state", "alias"]
DEFAULT_SORT = ["ram", "uuid"]
FILTER_PATTERNS = [
    re.compile(r"^disks\.(\d+|\*)\.(boot|image_name|image_size|image_uuid|size|media|model"
               r"|zpool)$"),
    re.compile(r"^nics\.(\d+|\*)\.(dhcp_server|gateway|interface|ip|mac|model|netmask"
               r"|nic_tag|vlan_id)$"),
    re.compile(r"^(tags|customer_metadata|internal_metadata)\..+$"),
]
FLAT_FIELD = re.compile(r"^(disks|nics|filesystems)\.\d+\.[A-Za-z0-9_]+$"
                        r"|^(tags|customer_metadata|internal_metadata)\..+$")
TYPES = {"joyent": "OS", "joyent-minimal": "OS", "builder": "OS", "lx": "LX",
         "kvm": "KVM", "bhyve": "BHYV"}


def add_fake_fields(vm):
    """list/lookup's ``type`` (cut to 4 characters) and ``ram`` for OS VMs."""
    vm["type"] = TYPES.get(vm.get("brand"), "OS")
    if vm.get("brand") not in HVM_BRANDS and "max_physical_memory" in vm:
        vm["ram"] = vm["max_physical_memory"]
    return vm


def _roots(keys):
    return {key.split(".", 1)[0] for key in keys}


def objects(host, keys=None):
    """VM objects with the fake fields; ``keys``: the top-level keys needed."""
    fields = None
    if keys is not None:
        fields = _roots(keys) | {"brand", "max_physical_memory", "uuid"}
    return [add_fake_fields(vm) for vm in store.all_objects(host, fields)]


def value_at(vm, path):
    """A (possibly flattened) key's value; a list of values for ``*``."""
    if path in vm:
        return vm[path]
    head, _, rest = path.partition(".")
    if head in ("tags", "customer_metadata", "internal_metadata"):
        return (vm.get(head) or {}).get(rest)
    node = vm.get(head)
    parts = rest.split(".") if rest else []
    if not parts:
        return node
    index, sub = parts[0], ".".join(parts[1:])
    if not isinstance(node, list):
        return None
    if index == "*":
        return [item.get(sub) for item in node if isinstance(item, dict) and sub in item]
    if index.isdigit() and int(index) < len(node) and isinstance(node[int(index)], dict):
        return node[int(index)].get(sub)
    return None


def to_text(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return ",".join(to_text(v) for v in value) if isinstance(value, list) else json.dumps(value)
    return str(value)


def parse_filters(items, kind):
    filters = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise Usage(f"Invalid argument: {item}")
        if key not in LIST_FIELDS and not any(p.match(key) for p in FILTER_PATTERNS):
            fail(f'Invalid {"filter" if kind == "list" else "lookup"} key: "{key}"')
        if value.startswith("~"):
            try:
                filters.append((key, re.compile(value[1:], re.IGNORECASE)))
            except re.error as exc:
                fail(f"Invalid regular expression /{value[1:]}/: {exc}")
        else:
            if key.endswith(".mac") and MAC_RE.match(value):
                value = normalise_mac(value)
            filters.append((key, value))
    return filters


def matches(vm, filters):
    for key, wanted in filters:
        value = value_at(vm, key)
        values = value if isinstance(value, list) and ".*." in key else [value]
        if key.endswith(".mac"):
            values = [normalise_mac(v) if isinstance(v, str) and MAC_RE.match(v) else v
                      for v in values]
        found = False
        for candidate in values:
            if candidate is None:
                continue
            text = to_text(candidate)
            if isinstance(wanted, re.Pattern):
                found = wanted.search(text) is not None
            else:
                found = text == wanted
            if found:
                break
        if not found:
            return False
    return True


def _options(args, flags, valued):
    opts, rest = {}, []
    items = list(args)
    while items:
        item = items.pop(0)
        if item.startswith("-") and len(item) > 1 and "=" not in item:
            letters = item[1:]
            while letters:
                letter, letters = letters[0], letters[1:]
                if letter in valued:
                    value = letters or (items.pop(0) if items else None)
                    if value is None:
                        raise Usage(f"-{letter} requires an argument")
                    opts[letter] = value
                    letters = ""
                elif letter in flags:
                    opts[letter] = True
                else:
                    raise Usage(f"Invalid option: -{letter}")
        else:
            rest.append(item)
    return opts, rest


def _fields(text, option):
    fields = [f for f in text.split(",") if f]
    for field in fields:
        name = field.lstrip("+-") if option == "s" else field
        if "*" in name or not (name in LIST_FIELDS or FLAT_FIELD.match(name)):
            fail(f'Invalid field for -{option}: "{name}"')
    return fields


def _sort_key(value):
    if value is None:
        return (2, 0, "")
    if isinstance(value, bool):
        return (1, 0, str(value).lower())
    if isinstance(value, (int, float)):
        return (0, value, "")
    return (1, 0, to_text(value))


def cmd_list(ctx, args):
    opts, rest = _options(args, flags="pHh", valued="os")
    columns = _fields(opts["o"], "o") if "o" in opts else list(DEFAULT_COLUMNS)
    sort = _fields(opts["s"], "s") if "s" in opts else list(DEFAULT_SORT)
    filters = parse_filters(rest, "list")
    keys = set(columns) | {s.lstrip("+-") for s in sort} | {k for k, _ in filters}
    vms = [vm for vm in objects(ctx.host, keys) if matches(vm, filters)]
    for field in reversed(sort):
        descending = field.startswith("-")
        name = field.lstrip("+-")
        present = [vm for vm in vms if value_at(vm, name) is not None]
        absent = [vm for vm in vms if value_at(vm, name) is None]
        present.sort(key=lambda vm: _sort_key(value_at(vm, name)), reverse=descending)
        vms = present + absent
    parsable = bool(opts.get("p"))
    header = not parsable and not opts.get("H") or bool(opts.get("h"))
    if parsable:
        for vm in vms:
            ctx.out(":".join("" if value_at(vm, c) is None else to_text(value_at(vm, c))
                             for c in columns))
        return 0
    widths = [LIST_FIELDS.get(c, (c.upper(), 20))[1] for c in columns]
    if header:
        names = [LIST_FIELDS.get(c, (c.upper(), 20))[0] for c in columns]
        ctx.out("  ".join(n.ljust(w) for n, w in zip(names, widths)).rstrip())
    for vm in vms:
        cells = []
        for column, width in zip(columns, widths):
            value = value_at(vm, column)
            cells.append(("-" if value is None else to_text(value)).ljust(width))
        ctx.out("  ".join(cells).rstrip())
    return 0


def cmd_lookup(ctx, args):
    opts, rest = _options(args, flags="j1", valued="o")
    if "o" in opts and not opts.get("j"):
        fail("Cannot specify -o without -j")
    filters = parse_filters(rest, "lookup")
    fields = [f for f in opts["o"].split(",") if f] if "o" in opts else None
    keys = None
    if fields is not None:
        keys = set(fields) | {k for k, _ in filters}
    elif not opts.get("j"):
        keys = {k for k, _ in filters}
    vms = [vm for vm in objects(ctx.host, keys) if matches(vm, filters)]
    if opts.get("1") and len(vms) != 1:
        fail(f"Requested unique lookup but found {len(vms)} results.")
    if not opts.get("j"):
        for vm in vms:
            ctx.out(vm["uuid"])
        return 0
    if fields is not None:
        vms = [{f: value_at(vm, f) for f in fields if value_at(vm, f) is not None}
               for vm in vms]
    else:
        vms = [{k: vm[k] for k in sorted(vm)} for vm in vms]
    ctx.out(json.dumps(vms, indent=2, sort_keys=True))
    return 0


def cmd_get(ctx, args):
    if len(args) > 1:
        raise Usage(f"Invalid argument: {args[1]}")
    uuid = get_uuid(args, "get")
    vm = store.get_object(ctx.host, uuid)
    if vm is None:
        fail(f"zoneadm: {uuid}: No such zone configured")
    ctx.out(json.dumps(vm, indent=2, sort_keys=True))
    return 0
