"""The emulated ``tail`` (illumos syntax), for the emulated host's own files.

    tail [-b [+|-]N | -c [+|-]N | -n [+|-]N] [file]

illumos tail is FreeBSD's: ``-c N`` prints the last N bytes, ``-c +N`` from
byte N on (1-based); ``-b`` counts 512-byte blocks and ``-n`` lines the same
way (default ``-n 10``). Without a file, stdin is read. Files are the emulated
host's: an absolute path names DIR/root/<path>, where the emulator keeps what
a SmartOS global zone would hold there (``/zones/<uuid>/logs/console.log``,
``/var/log/vm/logs``). Errors are printed as
``tail: <file>: No such file or directory`` (exit 1); bad options print the
usage line; every failure exits 1.
"""

from __future__ import annotations

import re

from openstack_smartos.sim.tools import ToolFailure

USAGE = "usage: tail [-F | -f | -r] [-q] [-b # | -c # | -n #] [file ...]"
_NUMBER = re.compile(r"^([+-]?)(\d+)$")
_UNITS = {"-b": 512, "-c": 1}
CHUNK = 1 << 16


def _parse(args):
    unit, count, from_start = "lines", 10, False
    files = []
    items = list(args)
    while items:
        arg = items.pop(0)
        if arg == "--":
            files.extend(items)
            break
        option = arg[:2]
        if option in ("-b", "-c", "-n"):
            value = arg[2:] or (items.pop(0) if items else None)
            if value is None:
                raise ToolFailure(f"tail: option requires an argument -- {option[1]}\n{USAGE}")
            match = _NUMBER.match(value)
            if not match:
                raise ToolFailure(f"tail: illegal offset -- {value}")
            sign, digits = match.groups()
            unit = "lines" if option == "-n" else "bytes"
            count = int(digits) * _UNITS.get(option, 1)
            from_start = sign == "+"
        elif arg.startswith("-") and arg != "-":
            raise ToolFailure(f"tail: illegal option -- {arg[1:2]}\n{USAGE}")
        else:
            files.append(arg)
    if len(files) > 1:
        raise ToolFailure("tail: the emulator reads one file at a time")
    return unit, count, from_start, (files[0] if files else None)


def _open(ctx, name):
    if name is None or name == "-":
        return ctx.stdin, False
    if not name.startswith("/"):
        raise ToolFailure(f"tail: {name}: No such file or directory")
    path = ctx.host.path("root", *[p for p in name.split("/") if p not in ("", ".", "..")])
    try:
        return open(path, "rb"), True
    except FileNotFoundError:
        raise ToolFailure(f"tail: {name}: No such file or directory") from None
    except IsADirectoryError:
        raise ToolFailure(f"tail: {name}: Is a directory") from None


def _last_bytes(stream, count, seekable):
    if seekable:
        stream.seek(0, 2)
        stream.seek(max(0, stream.tell() - count))
        return stream.read()
    data = b""
    while chunk := stream.read(CHUNK):
        data = (data + chunk)[-count:] if count else b""
    return data


def main(ctx) -> int:
    unit, count, from_start, name = _parse(ctx.args)
    stream, seekable = _open(ctx, name)
    try:
        if unit == "bytes":
            if from_start:
                if seekable:
                    stream.seek(max(0, count - 1))
                    data = stream.read()
                else:
                    data = stream.read()[max(0, count - 1):]
            else:
                data = _last_bytes(stream, count, seekable)
        else:
            lines = stream.read().splitlines(keepends=True)
            if from_start:
                lines = lines[max(0, count - 1):]
            else:
                lines = lines[-count:] if count else []
            data = b"".join(lines)
    finally:
        if seekable:
            stream.close()
    ctx.write(data)
    return 0
