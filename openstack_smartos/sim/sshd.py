"""``smartos-sim serve`` / ``stop``: an emulated host behind a real OpenSSH sshd.

Everything lives in ``DIR/sshd/``: host key, sshd_config, a copy of the
authorized keys, the pid file, the log, a ``known_hosts`` line for clients,
the ForceCommand wrapper and ``bin/`` with one script per SmartOS tool.

A session runs the wrapper, which puts ``bin/`` first on PATH and hands the
client's command line to ``/bin/sh -c``: the quoted command is parsed by a
real POSIX shell, as the global zone's shell does on SmartOS. Only loopback
addresses (127.0.0.0/8) may be served.
"""

from __future__ import annotations

import ipaddress
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from openstack_smartos.sim.host import SimHost
from openstack_smartos.sim import shims

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"
PRIVSEP_DIR = "/run/sshd"
START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0

# Paths end up in sshd_config and in shell scripts: keep them unambiguous.
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._/+,@=:-]+$")


class ServeError(Exception):
    pass


def _paths(hostdir: Path) -> dict:
    base = hostdir / "sshd"
    return {
        "base": base,
        "bin": base / "bin",
        "host_key": base / "ssh_host_ed25519_key",
        "config": base / "sshd_config",
        "authorized_keys": base / "authorized_keys",
        "pid": base / "sshd.pid",
        "log": base / "sshd.log",
        "known_hosts": base / "known_hosts",
        "wrapper": base / "session",
        "address": base / "address",
    }


def parse_listen(listen: str):
    """'127.0.0.N:PORT' -> (address, port); only loopback addresses."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ServeError(f"--listen {listen!r}: expected 127.0.0.N:PORT")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        raise ServeError(f"--listen {listen!r}: {host!r} is not an IPv4 address "
                         "(only 127.0.0.0/8 may be served)") from None
    if address not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise ServeError(f"--listen {listen!r}: refusing to listen on {address}; "
                         "the emulator serves loopback addresses (127.0.0.0/8) only")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise ServeError(f"--listen {listen!r}: port out of range")
    return str(address), port


def known_hosts_name(address: str, port: int) -> str:
    return address if port == 22 else f"[{address}]:{port}"


def _running_pid(paths) -> int | None:
    """The pid of this dir's live sshd, or None (a stale pid file is removed)."""
    try:
        pid = int(paths["pid"].read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if _is_our_sshd(pid, paths["config"]):
        return pid
    try:
        paths["pid"].unlink()
    except OSError:
        pass
    return None


def _is_our_sshd(pid: int, config: Path) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    # sshd rewrites its process title ("sshd: /usr/sbin/sshd -f CONFIG ...
    # [listener]"), so look for the config path anywhere in it.
    return any(os.fsencode(str(config)) in part for part in cmdline)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry.name))
    return found


def _write_executable(path: Path, text: str):
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.chmod(0o755)
    os.replace(tmp, path)


def _write_files(hostdir: Path, paths, address, port, authorized_keys: Path):
    base = paths["base"]
    base.mkdir(mode=0o755, exist_ok=True)
    paths["bin"].mkdir(mode=0o755, exist_ok=True)
    if not paths["host_key"].exists():
        subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C",
                        f"smartos-sim@{hostdir.name}", "-f", str(paths["host_key"])],
                       check=True, stdin=subprocess.DEVNULL)
    paths["host_key"].chmod(0o600)

    keys = authorized_keys.read_bytes()
    tmp = paths["authorized_keys"].with_name("authorized_keys.tmp")
    tmp.write_bytes(keys)
    tmp.chmod(0o600)
    os.replace(tmp, paths["authorized_keys"])

    shims.write_shims(hostdir, paths["bin"])

    _write_executable(paths["wrapper"], (
        "#!/bin/sh\n"
        "# ForceCommand of smartos-sim serve: run the client's command line with\n"
        "# a POSIX shell, the emulated SmartOS tools first on PATH.\n"
        "if [ -z \"${SSH_ORIGINAL_COMMAND:-}\" ]; then\n"
        "    echo 'smartos-sim: no command given; interactive shells are not "
        "available' >&2\n"
        "    exit 1\n"
        "fi\n"
        f"PATH={shlex.quote(str(paths['bin']))}:${{PATH:-/usr/bin:/bin}}\n"
        "export PATH\n"
        "exec /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n"))

    config = f"""\
# Written by smartos-sim serve for {hostdir}; rewritten on every serve.
ListenAddress {address}:{port}
AddressFamily inet
HostKey {paths['host_key']}
PidFile {paths['pid']}
AuthorizedKeysFile {paths['authorized_keys']}
AuthorizedPrincipalsFile none
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitEmptyPasswords no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
UseDNS no
PermitTTY no
PermitUserEnvironment no
PermitUserRC no
AllowTcpForwarding no
AllowStreamLocalForwarding no
AllowAgentForwarding no
X11Forwarding no
PermitTunnel no
GatewayPorts no
PrintMotd no
PrintLastLog no
Banner none
LogLevel INFO
# The login shell runs ForceCommand; Debian's bash would source ~/.bashrc for
# sshd sessions at shell level 1 (slow, and none of the emulator's business).
SetEnv SHLVL=1
ForceCommand {shlex.quote(str(paths['wrapper']))}
"""
    tmp = paths["config"].with_name("sshd_config.tmp")
    tmp.write_text(config)
    tmp.chmod(0o600)
    os.replace(tmp, paths["config"])


def _host_key_line(paths) -> tuple[str, str]:
    """(key type and base64 from the .pub, fingerprint text)."""
    pub = Path(str(paths["host_key"]) + ".pub").read_text().split()
    fingerprint = subprocess.run(
        [SSH_KEYGEN, "-l", "-f", str(paths["host_key"]) + ".pub"],
        check=True, capture_output=True, text=True).stdout.strip()
    return f"{pub[0]} {pub[1]}", fingerprint


_FATAL = re.compile(r"^(fatal|Cannot bind any address|.*: terminating)", re.MULTILINE)


def _port_free(address, port) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def _wait_listening(address, port, paths, log_start, deadline):
    """The new sshd's pid once it answers on the port; None if it failed.

    sshd daemonizes before binding and writes its pid file after binding, so
    wait for the pid file, then for an SSH banner on the port.
    """
    while time.monotonic() < deadline:
        pid = _running_pid(paths)
        if pid is not None:
            try:
                with socket.create_connection((address, port), timeout=1) as sock:
                    sock.settimeout(2)
                    if sock.recv(64).startswith(b"SSH-"):
                        return pid
            except OSError:
                pass
        elif _FATAL.search(_log_tail(paths["log"], log_start)):
            return None
        time.sleep(0.05)
    return None


def serve(hostdir, listen, authorized_keys) -> int:
    """Serve the emulated host in ``hostdir`` over sshd; returns an exit code."""
    try:
        return _serve(hostdir, listen, authorized_keys)
    except ServeError as exc:
        print(f"smartos-sim serve: {exc}", file=sys.stderr)
        return 1


def _serve(hostdir, listen, authorized_keys) -> int:
    address, port = parse_listen(listen)
    hostdir = Path(hostdir).resolve()
    try:
        SimHost(hostdir)
    except FileNotFoundError as exc:
        raise ServeError(str(exc)) from None
    if not _SAFE_PATH.match(str(hostdir)):
        raise ServeError(f"{hostdir}: the host directory path may only hold "
                         "letters, digits and ._/+,@=:- (it goes into sshd_config)")
    if not _SAFE_PATH.match(sys.executable):
        raise ServeError(f"{sys.executable}: unsupported characters in the "
                         "Python interpreter's path")
    authorized_keys = Path(authorized_keys)
    if not authorized_keys.is_file():
        raise ServeError(f"--authorized-keys {authorized_keys}: no such file")
    if not os.path.exists(SSHD):
        raise ServeError(f"{SSHD} not found: install openssh-server")

    paths = _paths(hostdir)
    pid = _running_pid(paths)
    if pid is not None:
        where = paths["address"].read_text().strip() if paths["address"].exists() else "?"
        raise ServeError(f"{hostdir} is already being served at {where} "
                         f"(sshd pid {pid}); run smartos-sim stop {hostdir} first")

    if not _port_free(address, port):
        raise ServeError(f"{address}:{port} is already in use")
    _write_files(hostdir, paths, address, port, authorized_keys)
    os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)

    log = paths["log"]
    log_start = log.stat().st_size if log.exists() else 0
    proc = subprocess.run([SSHD, "-f", str(paths["config"]), "-E", str(log)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True)
    if proc.returncode != 0:
        raise ServeError(f"sshd failed (exit {proc.returncode}): "
                         f"{(proc.stderr or _log_tail(log, log_start)).strip()}")
    pid = _wait_listening(address, port, paths, log_start,
                          time.monotonic() + START_TIMEOUT)
    if pid is None:
        stray = _running_pid(paths)
        if stray is not None:
            _terminate(stray)
        raise ServeError(f"sshd did not start listening on {address}:{port}: "
                         f"{_log_tail(log, log_start).strip() or 'see ' + str(log)}")

    key, fingerprint = _host_key_line(paths)
    name = known_hosts_name(address, port)
    paths["known_hosts"].write_text(f"{name} {key}\n")
    paths["address"].write_text(f"{address}:{port}\n")
    print(f"Serving {hostdir} at ssh://root@{address}:{port} (sshd pid {pid})")
    print(f"Host key: {fingerprint}")
    print(f"known_hosts: {paths['known_hosts']}")
    return 0


def _log_tail(log: Path, start: int) -> str:
    try:
        with open(log, "rb") as handle:
            handle.seek(start)
            return handle.read()[-4000:].decode("utf-8", "replace")
    except OSError:
        return ""


def _terminate(pid: int) -> bool:
    """SIGTERM the sshd and the sessions it forked; wait. True when gone."""
    sessions = _children(pid)
    for target in [pid, *sessions]:
        try:
            os.kill(target, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in [pid, *sessions]):
            return True
        time.sleep(0.05)
    for target in [pid, *sessions]:
        try:
            os.kill(target, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.2)
    return not _alive(pid)


def stop(hostdir) -> int:
    hostdir = Path(hostdir).resolve()
    paths = _paths(hostdir)
    pid = _running_pid(paths)
    if pid is None:
        print(f"{hostdir} is not being served")
        return 0
    if not _terminate(pid):
        print(f"smartos-sim stop: sshd pid {pid} for {hostdir} did not exit",
              file=sys.stderr)
        return 1
    for stale in (paths["pid"], paths["address"]):
        try:
            stale.unlink()
        except FileNotFoundError:
            pass
    print(f"Stopped serving {hostdir} (sshd pid {pid})")
    return 0
