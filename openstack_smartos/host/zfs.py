"""Typed clients for ``zfs`` and ``zpool`` on a SmartOS host.

Every method builds an argv list (dataset names are separate arguments,
never formatted into a shell string), runs it through the transport and
parses ``-Hp`` output into typed values: ints for sizes, counts, guids and
times, ``None`` for "-" (and for "none" limits), strings otherwise.
Failures raise the classes in ``openstack_smartos.host.errors``
(``NotFound`` for "dataset does not exist", ``UsageError`` for exit 2, ...).
"""

from __future__ import annotations

import io

from openstack_smartos.host import errors

ZFS = "zfs"  # by name: PATH finds /usr/sbin/zfs on SmartOS
ZPOOL = "zpool"

DEFAULT = ("name", "type", "used", "available", "referenced", "quota", "refquota",
           "reservation", "refreservation", "volsize", "origin", "mountpoint",
           "creation")
INT_PROPS = {"used", "available", "avail", "referenced", "refer", "quota", "refquota",
             "reservation", "refreservation", "volsize", "volblocksize", "recordsize",
             "logicalused", "logicalreferenced", "usedbysnapshots", "usedbydataset",
             "usedbychildren", "usedbyrefreservation", "written", "creation",
             "createtxg", "guid", "userrefs", "snapshot_limit", "filesystem_limit",
             "snapshot_count", "filesystem_count", "copies",
             # zpool
             "size", "allocated", "alloc", "free", "capacity", "cap",
             "fragmentation", "frag", "expandsize", "checkpoint"}
FLOAT_PROPS = {"compressratio", "refcompressratio", "dedupratio", "dedup"}
SEND_TIMEOUT = 24 * 3600.0
ZVOL_RDSK = "/dev/zvol/rdsk/"
DD_BLOCK = 1 << 20
SECTOR = 512
POOL_COLUMNS = ("name", "size", "allocated", "free", "capacity", "health")


def parse_value(prop, text):
    """One ``-Hp`` cell to a Python value."""
    if text in ("-", ""):
        return None
    if prop in INT_PROPS:
        if text == "none":
            return None
        try:
            return int(text)
        except ValueError:
            return text
    if prop in FLOAT_PROPS:
        try:
            return float(text.rstrip("x%"))
        except ValueError:
            return text
    return text


def _bool_flags(**flags):
    return [flag for flag, on in flags.items() if on]


def _props_args(props):
    args = []
    for key, value in (props or {}).items():
        args += ["-o", f"{key}={_prop_text(value)}"]
    return args


def _prop_text(value):
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _check_name(name):
    if not isinstance(name, str) or not name or name.startswith("-"):
        raise ValueError(f"invalid ZFS dataset name {name!r}")
    return name


class Zfs:
    """``zfs`` on one host."""

    def __init__(self, transport):
        self.transport = transport

    def _run(self, args, **kwargs):
        return self.transport.run([ZFS, *args], **kwargs)

    # -- inspection ---------------------------------------------------------------
    def list(self, names=None, *, types=("filesystem", "volume"), recursive=False,
             depth=None, props=DEFAULT, sort=None) -> list:
        props = list(props)
        argv = ["list", "-H", "-p", "-o", ",".join(props), "-t", ",".join(types)]
        if depth is not None:
            argv += ["-d", str(int(depth))]
        elif recursive:
            argv.append("-r")
        if sort:
            argv += ["-s", sort]
        if isinstance(names, str):
            names = [names]
        argv += [_check_name(n) for n in names or ()]
        result = self._run(argv)
        return [self._row(props, line) for line in result.text.splitlines() if line]

    @staticmethod
    def _row(props, line):
        cells = line.split("\t")
        if len(cells) != len(props):
            raise errors.SmartOSError(f"zfs list: unexpected line {line!r}")
        return {prop: (cell if prop == "name" else parse_value(prop, cell))
                for prop, cell in zip(props, cells)}

    def exists(self, name) -> bool:
        try:
            self.get(name, ["type"])
        except errors.NotFound:
            return False
        return True

    def get(self, name, props) -> dict:
        if isinstance(props, str):
            props = [props]
        result = self._run(["get", "-H", "-p", "-o", "property,value", ",".join(props),
                            _check_name(name)])
        values = {}
        for line in result.text.splitlines():
            if not line:
                continue
            prop, _, value = line.partition("\t")
            values[prop] = parse_value(prop, value)
        return values

    def snapshots(self, name, recursive=False) -> list:
        """Snapshot names of a dataset, oldest first."""
        argv = ["list", "-t", "snapshot", "-H", "-s", "creation", "-o", "name"]
        argv += ["-r"] if recursive else ["-d", "1"]
        argv.append(_check_name(name))
        return [line for line in self._run(argv).text.splitlines() if line]

    # -- changes --------------------------------------------------------------------
    def set(self, name, **props):
        if not props:
            return
        pairs = [f"{key.replace('__', ':')}={_prop_text(value)}"
                 for key, value in props.items()]
        self._run(["set", *pairs, _check_name(name)])

    def set_props(self, name, props: dict):
        """Like set() but for property names that are not identifiers ("a:b")."""
        if props:
            self._run(["set", *(f"{k}={_prop_text(v)}" for k, v in props.items()),
                       _check_name(name)])

    def inherit(self, name, prop):
        self._run(["inherit", prop, _check_name(name)])

    def snapshot(self, name, recursive=False):
        self._run(["snapshot", *_bool_flags(**{"-r": recursive}), _check_name(name)])

    def clone(self, snapshot, target, props=None):
        self._run(["clone", *_props_args(props), _check_name(snapshot), _check_name(target)])

    def create_filesystem(self, name, props=None, parents=False):
        self._run(["create", *_bool_flags(**{"-p": parents}), *_props_args(props),
                   _check_name(name)])

    def create_volume(self, name, size, props=None, sparse=False, parents=False):
        self._run(["create", *_bool_flags(**{"-p": parents, "-s": sparse}),
                   *_props_args(props), "-V", str(size), _check_name(name)])

    def destroy(self, name, recursive=False, dependents=False, force=False):
        flags = _bool_flags(**{"-r": recursive, "-R": dependents, "-f": force})
        self._run(["destroy", *flags, _check_name(name)])

    def destroy_dry_run(self, name, recursive=False, dependents=False) -> list:
        flags = _bool_flags(**{"-r": recursive, "-R": dependents})
        result = self._run(["destroy", "-n", "-p", *flags, _check_name(name)])
        return [line.split("\t", 1)[1] for line in result.text.splitlines()
                if line.startswith("destroy\t")]

    def rollback(self, snapshot, destroy_newer=False, destroy_clones=False):
        flags = _bool_flags(**{"-r": destroy_newer and not destroy_clones,
                               "-R": destroy_clones})
        self._run(["rollback", *flags, _check_name(snapshot)])

    def rename(self, old, new, parents=False):
        self._run(["rename", *_bool_flags(**{"-p": parents}), _check_name(old),
                   _check_name(new)])

    def promote(self, clone):
        self._run(["promote", _check_name(clone)])

    def hold(self, tag, snapshot, recursive=False):
        self._run(["hold", *_bool_flags(**{"-r": recursive}), tag, _check_name(snapshot)])

    def release(self, tag, snapshot, recursive=False):
        self._run(["release", *_bool_flags(**{"-r": recursive}), tag,
                   _check_name(snapshot)])

    def holds(self, snapshot) -> list:
        result = self._run(["holds", "-H", "-p", _check_name(snapshot)])
        return [line.split("\t")[1] for line in result.text.splitlines() if line]

    # -- replication ----------------------------------------------------------------
    @staticmethod
    def _send_args(snapshot, incremental_from, intermediates, replicate, props,
                   resume_token):
        if resume_token:
            return ["-t", resume_token]
        args = _bool_flags(**{"-R": replicate, "-p": props})
        if incremental_from:
            args += ["-I" if intermediates else "-i", incremental_from]
        args.append(_check_name(snapshot))
        return args

    def send(self, snapshot, out, incremental_from=None, intermediates=False,
             replicate=False, props=False, resume_token=None, timeout=SEND_TIMEOUT):
        """Stream ``zfs send`` into the binary file object ``out``."""
        args = self._send_args(snapshot, incremental_from, intermediates, replicate,
                               props, resume_token)
        self._run(["send", *args], stdout_to=out, timeout=timeout)

    def send_size(self, snapshot=None, incremental_from=None, intermediates=False,
                  replicate=False, props=False, resume_token=None, timeout=None) -> int:
        """``zfs send -nP``: the exact size of the stream, in bytes."""
        args = self._send_args(snapshot, incremental_from, intermediates, replicate,
                               props, resume_token)
        result = self._run(["send", "-n", "-P", *args], timeout=timeout)
        lines = [line for line in (result.text + "\n" + result.stderr_text).splitlines()
                 if line.strip()]
        for line in reversed(lines):
            fields = line.split()
            if fields and fields[0] in ("size", "full", "incremental"):
                return int(fields[-1])
        raise errors.SmartOSError(f"zfs send -nP: no size in output {result.text!r}")

    def receive(self, target, stream, force=False, unmounted=False, resumable=False,
                exclude_props=(), set_props=None, timeout=SEND_TIMEOUT):
        """``zfs receive`` from bytes or a binary file object."""
        args = _bool_flags(**{"-u": unmounted, "-F": force, "-s": resumable})
        for prop in exclude_props:
            args += ["-x", prop]
        args += _props_args(set_props)
        self._run(["receive", *args, _check_name(target)], stdin=stream, timeout=timeout)

    def resume_token(self, name) -> str | None:
        return self.get(name, ["receive_resume_token"]).get("receive_resume_token")

    def abort_receive(self, name):
        self._run(["receive", "-A", _check_name(name)])

    # -- volume contents (dd on the raw zvol device) ----------------------------------
    def write_volume(self, dataset, stream, timeout=None) -> int:
        """Write ``stream`` (bytes or a binary file object) at the start of a volume.

        One ``dd of=/dev/zvol/rdsk/<volume>`` with the data on stdin. The raw
        device takes whole sectors only, so the data is padded with zeros to
        a multiple of 512 bytes; ``ibs``/``obs`` make dd reblock the short
        reads of a pipe into whole 1 MiB writes. Writing past the volume's
        size fails (``CommandError``, dd's "No space left on device"); a
        missing volume raises ``NotFound``. Returns the bytes sent (padded).
        ``timeout`` None: the transport's default; pass one sized for the data.
        """
        reader = _SectorPadded(stream)
        self._dd([f"of={ZVOL_RDSK}{_check_name(dataset)}", f"ibs={DD_BLOCK}",
                  f"obs={DD_BLOCK}"], stdin=reader, timeout=timeout)
        return reader.count

    def read_volume(self, dataset, out, timeout=None) -> None:
        """Stream a volume's (or volume snapshot's) whole contents into ``out``
        (a binary file object): ``dd if=/dev/zvol/rdsk/<dataset>`` on stdout."""
        self._dd([f"if={ZVOL_RDSK}{_check_name(dataset)}", f"bs={DD_BLOCK}"],
                 stdout_to=out, timeout=timeout)

    def _dd(self, operands, **kwargs):
        argv = ["dd", *operands]
        result = self.transport.run(argv, check=False, **kwargs)
        if result.exit_code != 0:
            # dd prints its error, then the record counts: put the error last,
            # where CommandError.message looks.
            lines = result.stderr_text.splitlines()
            stderr = "\n".join([l for l in lines if not l.startswith("dd: ")]
                               + [l for l in lines if l.startswith("dd: ")])
            if "open: No such file or directory" in stderr:
                raise errors.NotFound(argv, result.exit_code, stderr, result.stdout)
            raise errors.classify(argv, result.exit_code, stderr, result.stdout)
        return result


class _SectorPadded:
    """A binary reader over bytes or a file object that pads its end with
    zeros to a whole number of sectors, counting what it hands out."""

    def __init__(self, source):
        if isinstance(source, (bytes, bytearray, memoryview)):
            source = io.BytesIO(bytes(source))
        self._source = source
        self._padding = None
        self.count = 0

    def read(self, size=-1):
        if size is None:
            size = -1
        if self._padding is None:
            data = self._source.read(size)
            if data:
                self.count += len(data)
                return data
            self._padding = bytes(-self.count % SECTOR)   # end of the source
        data = self._padding if size < 0 else self._padding[:size]
        self._padding = self._padding[len(data):]
        self.count += len(data)
        return data


class Zpool:
    """``zpool`` on one host."""

    def __init__(self, transport):
        self.transport = transport

    def list(self, names=None, props=POOL_COLUMNS) -> list:
        props = list(props)
        argv = [ZPOOL, "list", "-H", "-p", "-o", ",".join(props)]
        if isinstance(names, str):
            names = [names]
        argv += list(names or ())
        result = self.transport.run(argv)
        rows = []
        for line in result.text.splitlines():
            if not line:
                continue
            cells = line.split("\t")
            rows.append({prop: (cell if prop in ("name", "health")
                                else parse_value(prop, cell))
                         for prop, cell in zip(props, cells)})
        return rows

    def get(self, pool, props) -> dict:
        if isinstance(props, str):
            props = [props]
        result = self.transport.run([ZPOOL, "get", "-H", "-p", "-o", "property,value",
                                     ",".join(props), pool])
        values = {}
        for line in result.text.splitlines():
            prop, _, value = line.partition("\t")
            values[prop] = parse_value(prop, value)
        return values
