"""Overlay devices (illumos overlay(7), ``dladm create-overlay``) and overlay rules.

An overlay is a VXLAN network: a 24-bit vnet id, the underlay address it
listens on (``vxlan/listen_ip``), an MTU (1400 unless set) and a varpd
search plugin that says where each overlay MAC lives: ``files`` (a JSON file
read once, when the overlay is created) or ``svp`` (a server asked over TCP,
see ``svp``). Records live in the table ``net_overlays``; on a host with a
data plane each overlay is also a Linux bridge with a vxlan port in the
host's namespace (``dataplane``).

Overlay rules are SmartOS's way to name overlays from nic tags: the JSON
object in ``/var/run/smartdc/networking/overlay_rules.json`` maps a rule
name to ``dladm create-overlay`` arguments without ``-v``; a nic tag
``<rule>/<vnet>`` means the overlay ``<rule><vnet>``, which a zone's boot
creates from the rule when it is missing (statechange ``setup_net``).
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex

from openstack_smartos.sim.host import register_schema

register_schema("""CREATE TABLE IF NOT EXISTS net_overlays (
    name TEXT PRIMARY KEY,
    body TEXT NOT NULL
);""")

RULES_PATH = "var/run/smartdc/networking/overlay_rules.json"
RULE_RE = re.compile(r"^[a-zA-Z0-9_]*[a-zA-Z_]$")
TAG_RE = re.compile(r"^([a-zA-Z_0-9]+)/([0-9]+)$")
# A link name ends in a number without leading zeros (dladm_valid_linkname).
LINK_RE = re.compile(r"^(?:[A-Za-z_.]|[A-Za-z_.][A-Za-z0-9_.]*[A-Za-z_.])(0|[1-9][0-9]*)$")
MAX_VNET = 2 ** 24 - 1
MTU_RANGE = (576, 8900)

# (property, perm, required, default, possible) in the order show-overlay prints them.
GENERIC = [("mtu", "rw", False, "1400", "576-8900"), ("vnetid", "rw", False, None, None),
           ("encap", "r-", False, None, "vxlan"), ("varpd/id", "r-", False, None, None)]
ENCAP = {"vxlan": [("vxlan/listen_ip", "rw", True, None, None),
                   ("vxlan/listen_port", "rw", True, "4789", "1-65535")]}
SEARCH = {"files": [("files/config", "rw", True, None, None)],
          "svp": [("svp/host", "rw", True, None, None),
                  ("svp/port", "rw", True, "1296", "1-65535"),
                  ("svp/underlay_ip", "rw", True, None, None),
                  ("svp/underlay_port", "rw", True, "1339", "1-65535")]}
SEARCH_PLUGINS = ("direct", "files", "svp")


class OverlayError(Exception):
    """dladm's refusal: ``warnings`` (its errlist) and the final status string."""

    def __init__(self, status: str, warnings=(), action="overlay creation failed"):
        super().__init__(status)
        self.status = status
        self.warnings = list(warnings)
        self.action = action

    def lines(self) -> list[str]:
        final = f"{self.action}: {self.status}" if self.action else self.status
        return [f"dladm: warning: {w}" for w in self.warnings] + [f"dladm: {final}"]


def properties(record: dict) -> list[tuple]:
    """(property, perm, required, value, default, possible) rows of an overlay."""
    rows = []
    table = GENERIC + ENCAP.get(record["encap"], []) + \
        [("search", "r-", False, None, ",".join(SEARCH_PLUGINS))] + \
        SEARCH.get(record["search"], [])
    for name, perm, required, default, possible in table:
        value = {"vnetid": str(record["vnetid"]), "encap": record["encap"],
                 "search": record["search"],
                 "varpd/id": str(record["varpd_id"])}.get(name, record["props"].get(name))
        rows.append((name, perm, required, value, default, possible))
    return rows


def prop(record: dict, name: str) -> str | None:
    for row in properties(record):
        if row[0] == name:
            return row[3] if row[3] is not None else row[4]
    return None


# -- records ---------------------------------------------------------------------------
def list_all(host) -> list[dict]:
    return [json.loads(r["body"]) for r in
            host.db.execute("SELECT body FROM net_overlays ORDER BY name")]


def get(host, name: str) -> dict | None:
    row = host.db.execute("SELECT body FROM net_overlays WHERE name = ?", (name,)).fetchone()
    return json.loads(row["body"]) if row else None


def validate(host, name, encap, search, vnetid, props) -> dict:
    """The record ``dladm create-overlay`` would make, or OverlayError."""
    if vnetid is None:
        raise OverlayError("missing required virtual network id", action="")
    if not encap:
        raise OverlayError("missing required encapsulation plugin", action="")
    if not search:
        raise OverlayError("missing required search plugin", action="")
    if not name:
        raise OverlayError("missing device name", action="")
    if len(name) >= 32:
        raise OverlayError(f"link name too long '{name}'", action="")
    if not LINK_RE.match(name):
        raise OverlayError(f"invalid link name '{name}'", action="")
    try:
        vnet = int(vnetid)
    except ValueError:
        raise OverlayError(f"couldn't parse virtual networkd id: {vnetid}", action="") from None
    if encap not in ENCAP:
        raise OverlayError("object not found")
    if vnet < 0 or vnet > MAX_VNET:
        raise OverlayError("invalid argument")
    if search not in SEARCH:
        raise OverlayError("object not found",
                           ["failed to create varpd instance: No such file or directory"])
    known = {row[0] for row in GENERIC + ENCAP[encap] + SEARCH[search]}
    for key in props:
        if key not in known or key in ("vnetid", "encap", "varpd/id"):
            raise OverlayError("invalid overlay property", action="")
    if get(host, name) or _link_taken(host, name):
        raise OverlayError("object already exists")
    if any(o["encap"] == encap and o["vnetid"] == vnet for o in list_all(host)):
        raise OverlayError("object already exists")
    record = {"name": name, "encap": encap, "search": search, "vnetid": vnet,
              "props": dict(props), "varpd_id": _next_varpd_id(host)}
    _check_values(record)
    missing = [p for p, _, req, default, _ in SEARCH[search]
               if req and default is None and p not in props]
    if missing:
        raise OverlayError("try again later", [
            "failed to activate varpd instance: Resource temporarily unavailable",
            *(f"unset required property: {p}" for p in missing)])
    missing = [p for p, _, req, default, _ in ENCAP[encap]
               if req and default is None and p not in props]
    if missing:
        raise OverlayError("invalid argument", [
            "failed to activate device: Invalid argument",
            *(f"unset required property: {p}" for p in missing)])
    return record


def _check_values(record):
    for key, value in record["props"].items():
        if key.endswith("_ip"):
            try:
                address = ipaddress.ip_address(value)
            except ValueError:
                address = None
            if address is None or address.is_multicast:
                raise OverlayError("invalid argument", [f"failed to set property {key}"])
        elif key == "mtu" or key.endswith("port"):
            low, high = MTU_RANGE if key == "mtu" else (1, 65535)
            if not value.isdigit() or not low <= int(value) <= high:
                raise OverlayError("invalid argument", [f"failed to set property {key}"])


def _link_taken(host, name) -> bool:
    cfg = host.config
    return name in cfg.get("interfaces", {}) or name in cfg.get("etherstubs", {})


def _next_varpd_id(host) -> int:
    return max([o["varpd_id"] for o in list_all(host)] + [0]) + 1


def create(host, name, encap, search, vnetid, props) -> dict:
    """``dladm create-overlay``: validate, record, and bring up (call under the host lock)."""
    from openstack_smartos.sim.state.network import dataplane
    record = validate(host, name, encap, search, vnetid, props)
    host.db.execute("INSERT INTO net_overlays (name, body) VALUES (?, ?)",
                    (record["name"], json.dumps(record)))
    dataplane.overlay_up(host, record)   # undoes itself on failure; the caller rolls back
    return record


def delete(host, name: str, vms):
    """``dladm delete-overlay``: refused while a running VM has a VNIC on it."""
    from openstack_smartos.sim.state.network import dataplane
    record = get(host, name)
    action = f"failed to delete {name}"
    if record is None:
        raise OverlayError("invalid argument" if _link_taken(host, name)
                           else "object not found", action=action)
    if users(host, name, vms):
        raise OverlayError("link busy", action=action)
    host.db.execute("DELETE FROM net_overlays WHERE name = ?", (name,))
    dataplane.overlay_down(host, record)


def ensure_for_tag(host, tag: str) -> dict:
    """The overlay a nic tag ``rule/vnet`` names, created from its rule if missing."""
    rule, vnet = parse_tag(tag)
    name = f"{rule}{vnet}"
    record = get(host, name)
    if record is not None:
        return record
    text = rules(host).get(rule)
    if text is None:
        raise OverlayError(f"zone had tag {rule} which indicates an overlay rule, "
                           "no corresponding overlay rule found.", action="")
    args = parse_rule_args(text)
    return create(host, name, args["encap"], args["search"], vnet, args["props"])


def users(host, name: str, vms) -> list[str]:
    """Running VMs with a VNIC over the overlay (which make it busy)."""
    out = []
    for vm in vms:
        if vm.get("zoneid") is None:
            continue
        for nic in vm.get("nics") or []:
            parsed = parse_tag(nic.get("nic_tag", ""))
            if parsed and parsed[0] + str(parsed[1]) == name:
                out.append(vm["uuid"])
    return out


# -- overlay rules ---------------------------------------------------------------------
def rules(host) -> dict:
    """Overlay rules from overlay_rules.json (invalid names skipped, as nictagadm does)."""
    path = host.path("root", RULES_PATH)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and len(k) < 20
            and RULE_RE.match(k) and isinstance(v, str)}


def parse_tag(tag: str):
    """(rule, vnet) for an overlay nic tag ``rule/vnet``, else None."""
    match = TAG_RE.match(tag or "")
    if not match:
        return None
    vnet = int(match.group(2))
    return (match.group(1), vnet) if vnet <= 4294967294 else None


def parse_rule_args(text: str) -> dict:
    """``-e vxlan -s svp -p k=v ...`` (a rule's dladm arguments) as create arguments."""
    args = shlex.split(text)
    out = {"encap": None, "search": None, "props": {}}
    i = 0
    while i < len(args):
        flag = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if flag in ("-e", "-s", "-p") and value is None:
            raise OverlayError(f"option '{flag[1]}' requires a value", action="")
        if flag == "-e":
            out["encap"] = value
        elif flag == "-s":
            out["search"] = value
        elif flag == "-p":
            for item in value.split(","):
                key, sep, val = item.partition("=")
                if not sep:
                    raise OverlayError("invalid overlay property", action="")
                out["props"][key] = val
        elif flag == "-t":
            i += 1
            continue
        else:
            raise OverlayError(f"unrecognized option '{flag}'", action="")
        i += 2
    return out
