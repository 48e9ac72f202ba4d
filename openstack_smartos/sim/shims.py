"""Executable stand-ins for the SmartOS tools of one emulated host.

``write_shims(hostdir)`` writes DIR/bin/<tool> for every emulated tool; each
runs ``smartos-sim exec DIR -- <tool> "$@"``. With that directory first on
PATH, programs that run ``vmadm``, ``zfs``... by name (the local:// transport,
the sshd sessions of ``smartos-sim serve``) reach the emulated host exactly as
they would reach the real tools in a SmartOS global zone.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

from openstack_smartos.sim.tools import TOOLS


def write_shims(hostdir, bindir=None) -> Path:
    hostdir = Path(hostdir).resolve()
    bindir = Path(bindir) if bindir else hostdir / "bin"
    bindir.mkdir(mode=0o755, parents=True, exist_ok=True)
    python = shlex.quote(sys.executable)
    for tool in sorted(TOOLS):
        path = bindir / tool
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            "#!/bin/sh\n"
            f"# {tool} on the emulated SmartOS host in {hostdir}\n"
            f"exec {python} -m openstack_smartos.sim exec {shlex.quote(str(hostdir))}"
            f" -- {tool} \"$@\"\n")
        tmp.chmod(0o755)
        os.replace(tmp, path)
    return bindir


def local_env(hostdir, base_env=None) -> dict:
    """An environment whose PATH finds this host's tools first."""
    env = dict(os.environ if base_env is None else base_env)
    bindir = write_shims(hostdir)
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    return env
