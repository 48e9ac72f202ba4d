"""imgadm: dispatch of argv to the subcommands, and the usage text."""

from __future__ import annotations

from openstack_smartos.sim.commands.imgadm.common import ImgadmError, UsageError
from openstack_smartos.sim.commands.imgadm.listing import cmd_get, cmd_list
from openstack_smartos.sim.commands.imgadm.install import (cmd_delete, cmd_import, cmd_install,
                                                           cmd_sources, cmd_vacuum)
from openstack_smartos.sim.commands.imgadm.create import cmd_create


def main(ctx) -> int:
    args = list(ctx.args)
    while args and args[0] in ("-v", "--verbose", "-E"):
        args.pop(0)
    if not args or args[0] in ("-h", "--help", "help"):
        ctx.out(USAGE)
        return 0
    if args[0] == "--version":
        ctx.out("imgadm 3.10.0")
        return 0
    sub, rest = args[0], args[1:]
    handler = COMMANDS.get(ALIASES.get(sub, sub))
    if handler is None:
        ctx.err(f'imgadm: error (UnknownCommand): unknown command: "{sub}"')
        return 2
    try:
        return handler(ctx, rest) or 0
    except ImgadmError as exc:
        ctx.err(f"imgadm {sub}: error ({exc.code_name}): {exc.message}")
        return exc.code
    except UsageError as exc:
        ctx.err(f"imgadm {sub}: error (Usage): {exc}")
        return 2


COMMANDS = {
    "list": cmd_list, "get": cmd_get, "install": cmd_install, "import": cmd_import,
    "delete": cmd_delete, "vacuum": cmd_vacuum, "create": cmd_create,
    "sources": cmd_sources,
}
ALIASES = {"info": "get", "destroy": "delete"}

USAGE = """Usage:
    imgadm [<options>] <command> [<args>...]

Commands:
    sources [<options>]        list and edit image sources
    import [-P <pool>] <uuid>  import image from a source
    install [-P <pool>] -m <manifest> -f <file>
                               import from local image data
    list [<filters>]           list installed images
    get [-P <pool>] <uuid>     info on an installed image
    delete [-P <pool>] <uuid>  remove an installed image
    vacuum [-n] [-f]           delete unused images
    create [<options>] <vm-uuid> [<manifest-field>=<value> ...]
                               create an image from a VM"""
