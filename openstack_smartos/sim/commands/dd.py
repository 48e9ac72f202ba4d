"""The emulated ``dd`` (illumos syntax), for the zvol device nodes only.

    dd of=/dev/zvol/rdsk/<dataset> [bs=N | ibs=N obs=N] [seek=N] [conv=...] [oflag=...]
    dd if=/dev/zvol/rdsk/<dataset> [bs=N | ibs=N obs=N] [skip=N] [count=N]

``/dev/zvol/rdsk/<dataset>`` and ``/dev/zvol/dsk/<dataset>`` name the volumes
of the emulated pool (a volume snapshot can be read, not written); without
``if=``/``of=``, stdin/stdout are used. Any other path fails to open, as a
missing file does. Data goes through ``sim.state.zfs.Pool.write_volume`` and
``read_volume``, so what ``dd`` writes is what clones, sends and images of the
volume hold. As illumos dd, it prints ``N+M records in`` / ``N+M records
out`` on stderr when it ends (full + partial records), errors as
``dd: <path>: open: <reason>`` (exit 1), and bad operands as
``dd: bad argument: "<operand>"`` (exit 2). Writing past the end of the
volume writes what fits and fails with ``write: No space left on device``.
"""

from __future__ import annotations

import re

from openstack_smartos.sim.state.zfs import Pool, ZFSError

DEVICE_PREFIXES = ("/dev/zvol/rdsk/", "/dev/zvol/dsk/")
DEFAULT_BLOCK = 512
WRITE_BATCH = 4 << 20          # bytes handed to the pool per transaction
READ_BATCH = 4 << 20
OPERANDS = ("if", "of", "bs", "ibs", "obs", "cbs", "count", "skip", "iseek", "seek",
            "oseek", "files", "conv", "iflag", "oflag", "status")
CONVERSIONS = ("notrunc", "sync", "noerror", "fsync", "fdatasync")
UNEMULATED_CONVERSIONS = ("ascii", "ebcdic", "ibm", "asciib", "ebcdicb", "ibmb",
                          "block", "unblock", "lcase", "ucase", "swab")
IFLAGS = ("fullblock", "direct", "dsync", "sync", "count_bytes", "skip_bytes")
OFLAGS = ("direct", "dsync", "sync", "seek_bytes")
_NUMBER = re.compile(r"^(\d+)([kKmMgGtTbw]?)$")
_SUFFIX = {"": 1, "k": 1 << 10, "K": 1 << 10, "m": 1 << 20, "M": 1 << 20,
           "g": 1 << 30, "G": 1 << 30, "t": 1 << 40, "T": 1 << 40, "b": 512, "w": 2}


class _Usage(Exception):
    pass


class _Failure(Exception):
    """A run-time error: message printed after ``dd: ``, exit 1."""


def _number(text):
    """illumos dd numbers: N[kmgtbw], products with 'x' (2x512k)."""
    total = 1
    for part in text.split("x"):
        match = _NUMBER.match(part)
        if not match:
            raise _Usage(f'bad numeric argument: "{text}"')
        total *= int(match.group(1)) * _SUFFIX[match.group(2)]
    return total


def _parse(args):
    opts = {}
    for arg in args:
        key, sep, value = arg.partition("=")
        if not sep or key not in OPERANDS or value == "":
            raise _Usage(f'bad argument: "{arg}"')
        opts[key] = value
    for key in ("bs", "ibs", "obs", "cbs", "count", "skip", "iseek", "seek", "oseek",
                "files"):
        if key in opts:
            opts[key] = _number(opts[key])
    for key in ("bs", "ibs", "obs"):
        if key in opts and opts[key] <= 0:
            raise _Usage(f'bad numeric argument: "{key}={opts[key]}"')
    for key, allowed in (("conv", CONVERSIONS), ("iflag", IFLAGS), ("oflag", OFLAGS)):
        values = [v for v in opts.get(key, "").split(",") if v]
        for value in values:
            if key == "conv" and value in UNEMULATED_CONVERSIONS:
                raise _Usage(f'conv={value} is not supported by this emulator')
            if value not in allowed:
                raise _Usage(f'bad argument: "{key}={opts[key]}"')
        opts[key] = set(values)
    if "iseek" in opts:
        opts.setdefault("skip", opts.pop("iseek"))
    if "oseek" in opts:
        opts.setdefault("seek", opts.pop("oseek"))
    if "bs" in opts:
        opts["ibs"] = opts["obs"] = opts["bs"]
    opts.setdefault("ibs", DEFAULT_BLOCK)
    opts.setdefault("obs", DEFAULT_BLOCK)
    return opts


class _Counts:
    def __init__(self):
        self.full_in = self.part_in = self.full_out = self.part_out = 0

    def report(self, ctx):
        ctx.err(f"{self.full_in}+{self.part_in} records in")
        ctx.err(f"{self.full_out}+{self.part_out} records out")


def _volume(pool, path, writing):
    """(dataset, volsize) for a zvol device path; raises _Failure like open(2)."""
    for prefix in DEVICE_PREFIXES:
        if path.startswith(prefix):
            name = path[len(prefix):]
            break
    else:
        raise _Failure(f"{path}: open: No such file or directory")
    try:
        props = pool.get_props(name) if name else None
    except ZFSError:
        props = None
    if not props or not isinstance(props.get("volsize"), int):
        raise _Failure(f"{path}: open: No such file or directory")
    if writing and props.get("type") == "snapshot":
        raise _Failure(f"{path}: open: Read-only file system")
    return name, props["volsize"]


def _read_records(source, ibs, count, sync, counts, cancel):
    """Yield input records (bytes) of up to ibs bytes from a file object."""
    done = 0
    while count is None or done < count:
        if cancel.is_set():
            raise _Failure("interrupted")
        record = source.read(ibs)
        if not record:
            return
        done += 1
        if len(record) == ibs:
            counts.full_in += 1
        else:
            counts.part_in += 1
            if sync:
                record += bytes(ibs - len(record))
        yield record


class _VolumeSource:
    """A file-like reader over an emulated volume, from a byte offset."""

    def __init__(self, pool, name, volsize, offset):
        self.pool, self.name, self.volsize, self.offset = pool, name, volsize, offset
        self._buffer = b""

    def read(self, size):
        while len(self._buffer) < size and self.offset < self.volsize:
            length = min(READ_BATCH, self.volsize - self.offset)
            self._buffer += self.pool.read_volume(self.name, self.offset, length)
            self.offset += length
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


def _skip_input(source, opts, is_volume, volsize):
    skip = opts.get("skip", 0)
    if not skip:
        return
    if is_volume:
        source.offset = min(volsize, skip * opts["ibs"])
        return
    for _ in range(skip):
        if not source.read(opts["ibs"]):
            return


class _VolumeSink:
    """Collects output records and writes them to the volume in batches."""

    def __init__(self, pool, name, path, volsize, offset, counts, obs):
        self.pool, self.name, self.path, self.volsize = pool, name, path, volsize
        self.offset, self.counts, self.obs = offset, counts, obs
        self._pending = bytearray()
        self._pending_records = []

    def record(self, data):
        self._pending += data
        self._pending_records.append(len(data))
        if len(self._pending) >= WRITE_BATCH:
            self.flush()

    def flush(self):
        if not self._pending:
            return
        data = bytes(self._pending)
        room = max(0, self.volsize - self.offset)
        fits = data[:room]
        if fits:
            try:
                self.pool.write_volume(self.name, self.offset, fits)
            except ZFSError as exc:
                raise _Failure(f"{self.path}: write: {exc.message}")
        written = len(fits)
        self.offset += written
        for length in self._pending_records:
            if written <= 0:
                break
            if written >= length and length == self.obs:
                self.counts.full_out += 1
            else:
                self.counts.part_out += 1
            written -= length
        self._pending.clear()
        self._pending_records.clear()
        if len(fits) < len(data):
            raise _Failure(f"{self.path}: write: No space left on device")


class _StreamSink:
    def __init__(self, out, counts, obs):
        self.out, self.counts, self.obs = out, counts, obs

    def record(self, data):
        self.out.write(data)
        if len(data) == self.obs:
            self.counts.full_out += 1
        else:
            self.counts.part_out += 1

    def flush(self):
        if hasattr(self.out, "flush"):
            self.out.flush()


def _copy(records, sink, opts):
    ibs, obs = opts["ibs"], opts["obs"]
    if ibs == obs:                       # bs=: one output record per input record
        for record in records:
            sink.record(record)
        return
    pending = bytearray()                # ibs != obs: reblock into obs-sized records
    for record in records:
        pending += record
        while len(pending) >= obs:
            sink.record(bytes(pending[:obs]))
            del pending[:obs]
    if pending:
        sink.record(bytes(pending))


def main(ctx) -> int:
    try:
        opts = _parse(ctx.args)
    except _Usage as exc:
        ctx.err(f"dd: {exc}")
        return 2
    counts = _Counts()
    pool = Pool(ctx.host)
    try:
        source, sink = _open(ctx, pool, opts, counts)
    except _Failure as exc:              # open errors: no statistics, as dd
        ctx.err(f"dd: {exc}")
        return 1
    code = 0
    try:
        records = _read_records(source, opts["ibs"], opts.get("count"),
                                "sync" in opts["conv"], counts, ctx.cancel)
        _copy(records, sink, opts)
        sink.flush()
    except _Failure as exc:
        ctx.err(f"dd: {exc}")
        code = 1
    counts.report(ctx)
    return code


def _open(ctx, pool, opts, counts):
    in_path, out_path = opts.get("if"), opts.get("of")
    if in_path and in_path not in ("/dev/stdin", "/dev/fd/0"):
        name, volsize = _volume(pool, in_path, writing=False)
        source = _VolumeSource(pool, name, volsize, 0)
    else:
        source, volsize = ctx.stdin, None
    in_volsize = volsize
    if out_path and out_path not in ("/dev/stdout", "/dev/fd/1"):
        name, volsize = _volume(pool, out_path, writing=True)
        offset = opts.get("seek", 0) * opts["obs"]
        if offset > volsize:
            raise _Failure(f"{out_path}: seek: Invalid argument")
        sink = _VolumeSink(pool, name, out_path, volsize, offset, counts, opts["obs"])
    else:
        sink = _StreamSink(ctx.stdout, counts, opts["obs"])
    _skip_input(source, opts, in_volsize is not None, in_volsize or 0)
    return source, sink
