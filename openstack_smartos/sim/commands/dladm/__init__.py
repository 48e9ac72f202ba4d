"""Emulated ``dladm`` (net-formats §0, §1): links, VNICs, etherstubs, overlays.

    dladm show-phys [-m | -P] [[-p] -o field,...] [link]
    dladm show-link [-pP] [-o field,...] [-z zone] [link]
    dladm show-vnic [-pP] [-l link] [-z zone] [-o field,...] [vnic]
    dladm show-etherstub [[-p] -o link] [link]
    dladm create-etherstub [-t] <link> / delete-etherstub [-t] [-z zone] <link>
    dladm create-overlay [-t] -e encap -s search -v vnetid [-p k=v,...] <overlay>
    dladm delete-overlay [-t] <overlay>
    dladm show-overlay [-f | -t] [[-p] -o field,...] [overlay...]

Everything comes from the emulated state (``commands.netstate``), so the
output is the same with or without a data plane. Output follows libofmt
(``commands.ofmt``); messages are dladm's: ``dladm: <msg>`` and exit 1.
"""

from __future__ import annotations

from openstack_smartos.sim.commands import ofmt
from openstack_smartos.sim.tools import ToolFailure

USAGES = {
    "show-link": "    show-link        [-pP] [-o <field>,..] [-s [-i <interval>]] "
                 "[-z <zone>] [<link>]",
    "show-phys": "    show-phys        [-m | -H | -P] [[-p] [-o <field>[,...]] [<link>]",
    "show-vnic": "    show-vnic        [-pP] [-l <link>] [-z <zone>] [-s [-i <interval>]] "
                 "[<link>]",
    "create-etherstub": "    create-etherstub [-t] <link>",
    "delete-etherstub": "    delete-etherstub [-t] <link>",
    "show-etherstub": "    show-etherstub   [-t] [<link>]",
    "create-overlay": "    create-overlay   [-t] -e <encap> -s <search> -v <vnetid>\n"
                      "\t\t     [ -p <prop>=<value>[,...]] <overlay>",
    "delete-overlay": "    delete-overlay   [-t] <overlay>",
    "show-overlay": "    show-overlay     [-f | -t] [[-p] -o <field>,...] [<overlay>]",
}


def die(message: str) -> ToolFailure:
    return ToolFailure(f"dladm: {message}", 1)


def usage() -> ToolFailure:
    return ToolFailure("usage: dladm <subcommand> <args> ...\n"
                       + "\n".join(USAGES.values()), 1)


def parse(args, spec, command, repeatable="o"):
    """getopt for a subcommand: ({letter: value}, operands), dladm's messages.

    ``repeatable`` letters may be given more than once (the last wins, or,
    for overlay ``-p``, all are kept as a list); others are refused.
    """
    try:
        pairs, operands = ofmt.getopt(args, spec)
    except ofmt.OptError as exc:
        what = "requires a value" if exc.missing_value else None
        text = (f"option '-{exc.letter}' {what}" if what
                else f"unrecognized option '-{exc.letter}'")
        raise die(f"{text}\nusage: {USAGES[command]}") from None
    opts = {}
    for letter, value in pairs:
        if letter in opts and letter not in repeatable:
            raise die(f"the option -{letter} cannot be specified more than once")
        if letter == "p" and "p" in repeatable and value is not True:
            opts.setdefault("p", []).append(value)
        else:
            opts[letter] = value
    return opts, operands


def main(ctx) -> int:
    from openstack_smartos.sim.commands.dladm import links, overlay
    commands = {**links.COMMANDS, **overlay.COMMANDS}
    args = ctx.args or ["show-link"]
    command = commands.get(args[0])
    if command is None:
        ctx.err(f"dladm: unknown subcommand '{args[0]}'")
        raise usage()
    return command(ctx, args[1:])
