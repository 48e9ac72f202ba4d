"""Emulated ``fwadm`` (reference §9): the rule language and the command.

Rules live in the host's SQLite state (table ``fw_rules``, see
``state.firewall.store``), as the JSON objects ``fwadm get`` prints; every mutation
runs under the host lock. Rules are disabled unless ``-e`` or
``"enabled": true``. ``vms`` lists the VMs with the firewall enabled that a
rule names (vm, tag or all vms targets, limited to the rule's owner unless it
is global); ``rules`` lists every rule that names a VM.

Modules: ``rules`` (the rule language: ``parse``, ``Rule``, ``RuleError``),
``common`` (options, serialisation, the VMs a rule names, output) and ``cli``
(payloads, subcommands, dispatch).
"""

from __future__ import annotations


def main(ctx) -> int:
    from openstack_smartos.sim.commands.fwadm import cli
    return cli.main(ctx)
