"""Run one emulated tool against a host directory.

``run_tool`` is the emulator's whole interface: argv, stdin, stdout, stderr,
exit code. ``smartos-sim exec``, the sshd sessions of ``smartos-sim serve``
and the host layer's sim:// transport all come through here.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import sys
import threading
from typing import BinaryIO

from openstack_smartos.sim import faults
from openstack_smartos.sim.host import SimHost
from openstack_smartos.sim.state.network import dataplane
from openstack_smartos.sim.state.network.linux import DataPlaneError

TOOLS = {
    "vmadm": "openstack_smartos.sim.commands.vmadm",
    "imgadm": "openstack_smartos.sim.commands.imgadm",
    "zfs": "openstack_smartos.sim.commands.zfs",
    "zpool": "openstack_smartos.sim.commands.zfs",
    "sysinfo": "openstack_smartos.sim.commands.sysinfo",
    "kstat": "openstack_smartos.sim.commands.kstat",
    "fwadm": "openstack_smartos.sim.commands.fwadm",
    "nictagadm": "openstack_smartos.sim.commands.nictagadm",
    "dladm": "openstack_smartos.sim.commands.dladm",
    "ipadm": "openstack_smartos.sim.commands.ipadm",
    "dd": "openstack_smartos.sim.commands.dd",
    "tail": "openstack_smartos.sim.commands.tail",
}


class ToolFailure(Exception):
    """Raised by a tool: ``message`` goes to stderr, ``code`` is the exit code."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.message = message
        self.code = code


@dataclasses.dataclass
class ToolContext:
    host: SimHost
    argv: list            # argv[0] is the tool's basename
    stdin: BinaryIO
    stdout: BinaryIO
    stderr: BinaryIO
    cancel: threading.Event
    stdin_is_tty: bool = False
    stdout_is_tty: bool = False
    env: dict = dataclasses.field(default_factory=dict)

    @property
    def tool(self) -> str:
        return self.argv[0]

    @property
    def args(self) -> list:
        return self.argv[1:]

    def out(self, text: str = "", end: str = "\n"):
        self.stdout.write((text + end).encode("utf-8", "surrogateescape"))

    def err(self, text: str = "", end: str = "\n"):
        self.stderr.write((text + end).encode("utf-8", "surrogateescape"))

    def write(self, data: bytes):
        self.stdout.write(data)

    def open_input(self, path: str) -> BinaryIO:
        """Open a host path for reading; the stdin names mean our stdin."""
        if path in ("-", "/dev/stdin", "/dev/fd/0"):
            return _Unclosable(self.stdin)
        return open(path, "rb")

    def sleep(self, seconds: float) -> bool:
        """Sleep unless cancelled (caller gave up); True when cancelled."""
        return self.cancel.wait(seconds) if seconds > 0 else self.cancel.is_set()


class _Unclosable:
    def __init__(self, stream):
        self._stream = stream

    def read(self, size=-1):
        return self._stream.read(size)

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def run_tool(hostdir, argv, *, stdin, stdout, stderr, cancel=None,
             stdin_is_tty=False, stdout_is_tty=False, env=None) -> int:
    """Run ``argv`` (argv[0] a tool name or path) on the host in ``hostdir``."""
    name = os.path.basename(argv[0]) if argv else ""
    cancel = cancel or threading.Event()
    if name not in TOOLS:
        stderr.write(f"{name or argv!r}: command not found\n".encode())
        return 127
    host = SimHost(hostdir)
    ctx = ToolContext(host=host, argv=[name, *argv[1:]], stdin=stdin or _Empty(),
                      stdout=stdout, stderr=stderr, cancel=cancel,
                      stdin_is_tty=stdin_is_tty, stdout_is_tty=stdout_is_tty,
                      env=dict(env or {}))
    try:
        plan = faults.plan_for(host, ctx.argv)
        if plan.latency:
            ctx.sleep(plan.latency)
        if plan.hang is not None:
            ctx.sleep(plan.hang if plan.hang > 0 else 10 ** 9)
            return 1
        if plan.fail_before is not None:
            ctx.err(plan.fail_before.stderr)
            return plan.fail_before.exit_code
        module = importlib.import_module(TOOLS[name])
        try:
            dataplane.power_on(host)
            code = module.main(ctx)
        except ToolFailure as failure:
            if failure.message:
                ctx.err(failure.message)
            code = failure.code
        except DataPlaneError as failure:
            # The host's network refused (what a failed dladm would print).
            ctx.err(f"{name}: {failure}")
            code = 1
        if plan.fail_after is not None:
            ctx.err(plan.fail_after.stderr)
            return plan.fail_after.exit_code
        return code
    except BrokenPipeError:
        return 0  # as vmadm does on EPIPE
    finally:
        host.close()


class _Empty:
    def read(self, size=-1):
        return b""


def exec_main(hostdir, argv) -> int:
    """``smartos-sim exec DIR -- TOOL ARGS``: this process's real stdio."""
    stdin = sys.stdin.buffer
    stdout = sys.stdout.buffer
    code = run_tool(hostdir, argv, stdin=stdin, stdout=stdout, stderr=sys.stderr.buffer,
                    stdin_is_tty=os.isatty(0), stdout_is_tty=os.isatty(1),
                    env=dict(os.environ))
    try:
        stdout.flush()
    except BrokenPipeError:
        pass
    return code
