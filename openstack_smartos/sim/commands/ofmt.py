"""illumos libofmt, the table printer of dladm and ipadm (net-formats §0).

Human mode pads each column to its field width (the width includes the
separating space); a value as wide as its column or wider is followed by
one space and the overflow is taken out of the next columns' padding; the
last column is not padded; empty values print ``--``. The header (the field
names) comes before data rows 1, 24, 47, ... when stdout is not a terminal
(``TIOCGWINSZ`` fails, so the window is 24 rows). With ``wrap`` (show-link,
show-overlay) a value wider than its column is split at commas over extra
lines. Parsable mode joins fields with ``:``, escaping ``:`` and ``\\`` only
when more than one field is printed, prints empty values as empty and no
header. Getopt for these tools lives here too.
"""

from __future__ import annotations

from typing import NamedTuple

from openstack_smartos.sim.tools import ToolFailure

WINDOW_ROWS = 24


class Field(NamedTuple):
    name: str
    width: int


def fail(tool: str, message: str) -> ToolFailure:
    return ToolFailure(f"{tool}: {message}", 1)


def select(ctx, template, fields_str, parsable, default=None):
    """The fields ``-o`` names (case-insensitive; ``all`` is the whole template).

    ``default`` (a list of names) is used without ``-o``; when it is None the
    caller gave ofmt no field list, which parsable mode refuses.
    """
    tool = ctx.tool
    by_name = {f.name.lower(): f for f in template}
    if fields_str is None:
        if default is None:
            if parsable:
                raise fail(tool, "output fields must be specified in parsable mode")
            return list(template)
        fields_str = ",".join(default)
    if fields_str.lower() == "all":
        if parsable:
            raise fail(tool, "output field `all' invalid in parsable mode")
        return list(template)
    chosen, bad = [], []
    for name in fields_str.split(","):
        field = by_name.get(name.strip().lower())
        (chosen if field else bad).append(field or name)
    if not chosen:
        raise fail(tool, "no valid output fields")
    if bad:
        plural = "s" if len(bad) > 1 else ""
        names = "".join(f" `{b}'" for b in bad)
        if parsable:
            raise fail(tool, f"unknown output field{plural}:{names}")
        ctx.err(f"{tool}: warning: ignoring unknown output field{plural}:{names}")
    return chosen


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(":", "\\:")


def _fit(pieces, start, width):
    """The comma-separated pieces from ``start`` that fit in ``width``."""
    def piece(i):
        return pieces[i] + ("," if i + 1 < len(pieces) else "")
    text, i = piece(start), start + 1
    while i < len(pieces) and len(text) + len(piece(i)) < width:
        text += piece(i)
        i += 1
    return text, i


class Printer:
    """Rows of one ofmt handle: ``row({field name (lower): value})``."""

    def __init__(self, ctx, fields, parsable=False, wrap=False, header=True):
        self.ctx = ctx
        self.fields = list(fields)
        self.parsable = parsable
        self.wrap = wrap and not parsable
        self.header = header and not parsable
        self.rows = 0

    def row(self, values: dict):
        texts = ["" if values.get(f.name.lower()) is None
                 else str(values[f.name.lower()]) for f in self.fields]
        if self.parsable:
            if len(texts) == 1:
                self.ctx.out(texts[0])
            else:
                self.ctx.out(":".join(_escape(t) for t in texts))
            return
        if self.header and (self.rows == 0 or (
                not self.ctx.stdout_is_tty and self.rows % (WINDOW_ROWS - 1) == 0)):
            self.ctx.out(self._line([f.name for f in self.fields]))
        self.rows += 1
        if not self.wrap:
            self.ctx.out(self._line([t or "--" for t in texts]))
            return
        split = [t.split(",") if t else [""] for t in texts]
        nexts = [0] * len(texts)
        first = True
        while first or any(n < len(p) for n, p in zip(nexts, split)):
            line = []
            for i, field in enumerate(self.fields):
                if nexts[i] >= len(split[i]):
                    line.append("")
                    continue
                text, nexts[i] = _fit(split[i], nexts[i], field.width)
                line.append(text or ("--" if first else ""))
            self.ctx.out(self._line(line))
            first = False

    def _line(self, values) -> str:
        out, overflow = [], 0
        for i, (field, value) in enumerate(zip(self.fields, values)):
            if i + 1 == len(self.fields):
                out.append(value)
                break
            width = field.width
            if len(value) + overflow >= width:
                overflow += len(value) - width + 1
                out.append(value + " ")
                continue
            if overflow:
                compress = min(overflow, width - len(value))
                overflow -= compress
                width -= compress
            out.append(value.ljust(width))
        return "".join(out)


# -- getopt ------------------------------------------------------------------------------
class OptError(Exception):
    def __init__(self, letter, missing_value):
        super().__init__(letter)
        self.letter = letter
        self.missing_value = missing_value


def getopt(args, spec: str):
    """POSIX getopt(3): (list of (letter, value or True), operands).

    Options end at ``--`` or the first operand; OptError for an unknown
    option or a missing value.
    """
    valued = {spec[i] for i in range(len(spec) - 1) if spec[i + 1] == ":"}
    letters = set(spec.replace(":", ""))
    opts, i = [], 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        j = 1
        while j < len(arg):
            letter = arg[j]
            if letter not in letters:
                raise OptError(letter, False)
            if letter in valued:
                value = arg[j + 1:]
                if not value:
                    i += 1
                    if i >= len(args):
                        raise OptError(letter, True)
                    value = args[i]
                opts.append((letter, value))
                break
            opts.append((letter, True))
            j += 1
        i += 1
    return opts, list(args[i:])
