"""nova-api validators for the ``smartos:*`` flavor extra specs.

Registered through the ``nova.api.extra_spec_validators`` entry point, which
nova loads with stevedore and calls ``register()`` on. The validators are
generated from ``flavor.EXTRA_SPECS``, the table the driver parses the specs
with, so the API and the driver cannot disagree about a value.
"""

from __future__ import annotations

from nova.api.validation.extra_specs import base

from openstack_smartos.nova.flavor import EXTRA_SPECS, ExtraSpec


def _validator(spec: ExtraSpec) -> base.ExtraSpecValidator:
    value = {"type": spec.kind, "description": spec.description}
    if spec.kind is int:
        if spec.minimum is not None:
            value["min"] = spec.minimum
        if spec.maximum is not None:
            value["max"] = spec.maximum
    else:
        value["enum"] = list(spec.choices)
    return base.ExtraSpecValidator(name=spec.key, description=spec.description, value=value)


EXTRA_SPEC_VALIDATORS = [_validator(spec) for spec in EXTRA_SPECS]


def register():
    return EXTRA_SPEC_VALIDATORS
