"""Transports: how a command reaches a SmartOS host.

A transport runs one argv list on the host, with optional bytes on stdin, and
returns exit code, stdout and stderr. Nothing is ever joined into a shell
string here except by the SSH transport, which quotes every argument.
Every call has a timeout and is counted per host (round trips, bytes).
"""

from __future__ import annotations

import abc
import collections
import contextlib
import dataclasses
import io
import os
import re
import subprocess
import threading
import time
import urllib.parse

from openstack_smartos.host import errors

DEFAULT_TIMEOUT = 300.0
_CHUNK = 1 << 20


@dataclasses.dataclass
class Result:
    argv: list
    exit_code: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")

    @property
    def stderr_text(self) -> str:
        return self.stderr.decode("utf-8", "replace")


class HostStats:
    """Per-host call counters, readable by benchmarks. Thread-safe."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.round_trips = 0
            self.bytes_out = 0      # argv and stdin sent to the host
            self.bytes_in = 0       # stdout and stderr received from it
            self.seconds = 0.0
            self.by_command = collections.Counter()

    def record(self, argv, sent, received, seconds):
        key = _command_key(argv)
        with self._lock:
            self.round_trips += 1
            self.bytes_out += sent
            self.bytes_in += received
            self.seconds += seconds
            self.by_command[key] += 1

    def snapshot(self) -> dict:
        with self._lock:
            return {"round_trips": self.round_trips, "bytes_out": self.bytes_out,
                    "bytes_in": self.bytes_in, "seconds": round(self.seconds, 6),
                    "by_command": dict(self.by_command)}


_SUBCOMMAND = re.compile(r"-{0,2}[A-Za-z][A-Za-z0-9-]{0,31}")


def _command_key(argv) -> str:
    """'vmadm create', 'sysinfo -f', 'dd': a bounded set of keys (never a
    path or a UUID, which would grow the counters without limit)."""
    tool = _to_text(argv[0]).rsplit("/", 1)[-1] if argv else ""
    if len(argv) > 1 and _SUBCOMMAND.fullmatch(_to_text(argv[1])):
        return f"{tool} {_to_text(argv[1])}"
    return tool


class Transport(abc.ABC):
    """Run commands on one SmartOS host."""

    scheme = ""

    def __init__(self, uri: str, default_timeout: float = DEFAULT_TIMEOUT):
        self.uri = uri
        self.default_timeout = default_timeout
        self.stats = HostStats()

    def run(self, argv, *, stdin=None, timeout=None, check=True,
            stdout_to=None) -> Result:
        """Run argv on the host.

        stdin: None, bytes, or a binary file object streamed in chunks.
        stdout_to: a binary file object that receives stdout as it arrives
        (for zfs send and similar), instead of buffering it in the Result.
        check: raise a classified CommandError on a non-zero exit.
        """
        argv = [_check_arg(a) for a in argv]
        timeout = self.default_timeout if timeout is None else timeout
        counted_in = _CountingReader(stdin)
        counted_out = _CountingWriter(stdout_to) if stdout_to is not None else None
        started = time.monotonic()
        try:
            code, out, err = self._execute(argv, counted_in, timeout, counted_out)
        finally:
            elapsed = time.monotonic() - started
        sent = sum(len(_to_bytes(a)) + 1 for a in argv) + counted_in.count
        received = (counted_out.count if counted_out else 0)
        received += len(out) + len(err)
        self.stats.record(argv, sent, received, elapsed)
        result = Result(argv, code, out, err)
        if check and code != 0:
            raise errors.classify(argv, code, err, out)
        return result

    @abc.abstractmethod
    def _execute(self, argv, stdin, timeout, stdout_to):
        """Return (exit_code, stdout_bytes, stderr_bytes)."""

    @abc.abstractmethod
    def write_file(self, path: str, data, timeout=None):
        """Create or replace a private file on the host.

        ``data`` is bytes or a binary file object, streamed in chunks (image
        files are staged this way).
        """

    def remove_file(self, path: str, timeout=None):
        self.run(["rm", "-f", "--", path], timeout=timeout)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _write_private_file(transport_, path, data, timeout=None):
    """write_file for transports whose host paths are local paths."""
    started = time.monotonic()
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    source = _CountingReader(data)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            for chunk in source.chunks():
                handle.write(chunk)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    transport_.stats.record(["write_file"], source.count, 0,
                            time.monotonic() - started)


def _remove_local_file(_transport, path, timeout=None):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class LocalTransport(Transport):
    """local://: the tools run on this machine (nova-compute in the global zone)."""

    scheme = "local"

    def __init__(self, uri="local://", default_timeout=DEFAULT_TIMEOUT, env=None):
        super().__init__(uri, default_timeout)
        self.env = env

    def _execute(self, argv, stdin, timeout, stdout_to):
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, env=self.env)
        except OSError as exc:
            raise errors.TransportError(
                f"cannot run {errors.display_argv(argv)}: {exc}") from exc
        return _pump_process(proc, argv, stdin, timeout, stdout_to)

    write_file = _write_private_file
    remove_file = _remove_local_file


class SimTransport(Transport):
    """sim:///path/to/hostdir: the emulator, in process, without sshd.

    This is the one place the host layer reaches into the emulator, and it
    does so only through the same argv/stdin/stdout/stderr contract as the
    other transports: the emulator runs the tool named by argv[0].
    """

    scheme = "sim"

    def __init__(self, uri, default_timeout=DEFAULT_TIMEOUT):
        super().__init__(uri, default_timeout)
        parsed = urllib.parse.urlsplit(uri)
        self.hostdir = urllib.parse.unquote(parsed.path)
        if not self.hostdir or not os.path.isdir(self.hostdir):
            raise errors.TransportError(f"{uri}: no emulated host at {self.hostdir!r}")
        from openstack_smartos.sim import tools  # the one crossing point
        self._tools = tools

    def _execute(self, argv, stdin, timeout, stdout_to):
        stdout = stdout_to if stdout_to is not None else io.BytesIO()
        stderr = io.BytesIO()
        cancel = threading.Event()
        outcome = {}

        def target():
            try:
                outcome["code"] = self._tools.run_tool(
                    self.hostdir, [_to_text(a) for a in argv], stdin=stdin,
                    stdout=stdout, stderr=stderr, cancel=cancel)
            except BaseException as exc:  # surfaced in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=target, daemon=True,
                                  name=f"sim:{_to_text(argv[0])}")
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            cancel.set()
            raise errors.CommandTimeout(argv, timeout)
        if "error" in outcome:
            raise errors.TransportError(
                f"emulator crashed running {errors.display_argv(argv)}: "
                f"{outcome['error']!r}") from outcome["error"]
        out = b"" if stdout_to is not None else stdout.getvalue()
        return outcome["code"], out, stderr.getvalue()

    # The emulator runs on this machine: its host paths are local paths.
    write_file = _write_private_file
    remove_file = _remove_local_file


def _pump_process(proc, argv, stdin, timeout, stdout_to):
    """Feed stdin and drain stdout/stderr of a local process, with a deadline."""
    out_chunks, err_chunks = [], []

    def feed():
        try:
            for chunk in stdin.chunks():
                proc.stdin.write(chunk)
        except (BrokenPipeError, OSError):
            pass
        finally:
            try:
                proc.stdin.close()
            except OSError:
                pass

    def drain(pipe, sink, chunks):
        for chunk in iter(lambda: pipe.read1(_CHUNK), b""):
            if sink is not None:
                sink.write(chunk)
            else:
                chunks.append(chunk)

    threads = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=drain, args=(proc.stdout, stdout_to, out_chunks),
                                daemon=True),
               threading.Thread(target=drain, args=(proc.stderr, None, err_chunks),
                                daemon=True)]
    for thread in threads:
        thread.start()
    # Wait on the pipes, not with proc.wait(timeout): on Python 3.11 that
    # polls with sleeps of up to 50 ms, a large share of a short command.
    deadline = time.monotonic() + timeout
    for thread in threads[1:]:
        thread.join(max(0.0, deadline - time.monotonic()))
        if thread.is_alive():
            proc.kill()
            proc.wait()
            raise errors.CommandTimeout(argv, timeout)
    try:
        proc.wait(max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise errors.CommandTimeout(argv, timeout)
    threads[0].join()
    return proc.returncode, b"".join(out_chunks), b"".join(err_chunks)


class _CountingReader:
    """Wraps the stdin argument; yields chunks and counts bytes."""

    def __init__(self, source):
        self.source = source
        self.count = 0

    def chunks(self):
        if self.source is None:
            return
        if isinstance(self.source, (bytes, bytearray, memoryview)):
            data = bytes(self.source)
            for start in range(0, len(data), _CHUNK):
                chunk = data[start:start + _CHUNK]
                self.count += len(chunk)
                yield chunk
            return
        while True:
            chunk = self.source.read(_CHUNK)
            if not chunk:
                return
            self.count += len(chunk)
            yield chunk

    # File-like face, for consumers that read().
    def read(self, size=-1):
        if not hasattr(self, "_buffer"):
            self._buffer = bytearray()
            self._iter = self.chunks()
        while size < 0 or len(self._buffer) < size:
            chunk = next(self._iter, None)
            if chunk is None:
                break
            self._buffer += chunk
        if size < 0:
            data, self._buffer = bytes(self._buffer), bytearray()
        else:
            data, self._buffer = bytes(self._buffer[:size]), self._buffer[size:]
        return data

    def isatty(self):
        return False


class _CountingWriter:
    def __init__(self, sink):
        self.sink = sink
        self.count = 0

    def write(self, data):
        self.count += len(data)
        return self.sink.write(data)

    def flush(self):
        if hasattr(self.sink, "flush"):
            self.sink.flush()

    def isatty(self):
        return False


def _check_arg(arg):
    if isinstance(arg, (bytes, bytearray)):
        arg = bytes(arg)
        if b"\0" in arg:
            raise ValueError("a command argument cannot contain a NUL byte")
        return arg
    if not isinstance(arg, str):
        raise TypeError(f"command arguments must be str or bytes, not {type(arg).__name__}")
    if "\0" in arg:
        raise ValueError("a command argument cannot contain a NUL byte")
    return arg


def _to_bytes(arg):
    return arg if isinstance(arg, bytes) else arg.encode("utf-8", "surrogateescape")


def _to_text(arg):
    return arg.decode("utf-8", "surrogateescape") if isinstance(arg, bytes) else arg


def connect(uri: str, **options) -> Transport:
    """Choose the transport from the URI scheme: local://, sim://, ssh://."""
    scheme = urllib.parse.urlsplit(uri).scheme
    if scheme == "local":
        return LocalTransport(uri, **options)
    if scheme == "sim":
        return SimTransport(uri, **options)
    if scheme == "ssh":
        from openstack_smartos.host import ssh
        return ssh.SSHTransport(uri, **options)
    raise errors.TransportError(
        f"unsupported host URI {uri!r}: expected local://, ssh://user@host:port "
        "or sim:///path/to/hostdir")
