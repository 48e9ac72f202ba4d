"""The vmadm property table (data/vmadm-properties.txt), loaded once.

Each line: ``name | type=T | create:LETTERS receive:... update:... add:... |
default=... | required={...} | check_as=... | ...``. Letters are brands:
J=joyent M=joyent-minimal B=builder L=lx K=kvm H=bhyve.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from importlib import resources

BRAND_LETTERS = {"joyent": "J", "joyent-minimal": "M", "builder": "B",
                 "lx": "L", "kvm": "K", "bhyve": "H"}
BRANDS = tuple(BRAND_LETTERS)
HVM_BRANDS = ("kvm", "bhyve")
OS_BRANDS = ("joyent", "joyent-minimal", "builder", "lx")
ACTIONS = ("create", "receive", "update", "add")


@dataclasses.dataclass(frozen=True)
class Prop:
    name: str
    type: str | None                      # None: not a payload property
    actions: dict                         # action -> set of brand letters
    default: object = None
    has_default: bool = False
    required: dict = dataclasses.field(default_factory=dict)  # action -> letters
    check_as: str | None = None
    deprecated: bool = False

    def allowed(self, action: str, brand: str) -> bool:
        letter = BRAND_LETTERS.get(brand)
        return self.type is not None and letter in self.actions.get(action, ())

    def required_for(self, action: str, brand: str) -> bool:
        return BRAND_LETTERS.get(brand, "?") in self.required.get(action, "")


def _parse_line(line: str) -> Prop:
    fields = [f.strip() for f in line.split(" | ")]
    name, rest = fields[0], fields[1:]
    ptype, actions, required, default, has_default = None, {}, {}, None, False
    check_as, deprecated = None, False
    for field in rest:
        if field.startswith("type="):
            ptype = field[5:]
        elif field == "(not payload)":
            ptype = None
        elif field.startswith("default="):
            has_default = True
            default = json.loads(field[8:])
        elif field.startswith("required="):
            required = json.loads(field[9:])
        elif field.startswith("check_as="):
            check_as = field[9:]
        elif field == "deprecated=true":
            deprecated = True
        elif ":" in field and "=" not in field:
            for word in field.split():
                action, _, letters = word.partition(":")
                if action in ACTIONS:
                    actions[action] = set(letters)
    return Prop(name, ptype, actions, default, has_default, required, check_as, deprecated)


@functools.lru_cache(maxsize=1)
def table() -> dict:
    text = resources.files("openstack_smartos.sim").joinpath(
        "data/vmadm-properties.txt").read_text()
    props = {}
    for line in text.splitlines():
        if line.strip():
            prop = _parse_line(line)
            props[prop.name] = prop
    return props


def get(name: str) -> Prop | None:
    return table().get(name)


def sub_prop(collection: str, key: str) -> Prop | None:
    """The table entry of ``<collection>.*.<key>`` (e.g. nics.*.ip)."""
    return table().get(f"{collection}.*.{key}")
