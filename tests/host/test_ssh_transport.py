"""SSHTransport against real OpenSSH sshds serving emulated hosts."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import pwd
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import paramiko
import pytest

from openstack_smartos.host import errors, transport
from openstack_smartos.host.ssh import SSHTransport, command_line, quote_arg

SSHD = "/usr/sbin/sshd"
HAVE_SSHD = os.path.exists(SSHD)
NO_SSHD_REASON = f"{SSHD} is missing: install openssh-server to run the ssh tests"

pytestmark = [pytest.mark.ssh, pytest.mark.skipif(not HAVE_SSHD, reason=NO_SSHD_REASON)]


def smartos_sim(*args):
    return subprocess.run([sys.executable, "-m", "openstack_smartos.sim", *map(str, args)],
                          capture_output=True, text=True, stdin=subprocess.DEVNULL)


# -- reaching hosts -----------------------------------------------------------

def test_two_hosts_served_side_by_side(served_host):
    one, two = served_host(), served_host()
    assert one.address != two.address
    for served in (one, two):
        conn = served.transport()
        result = conn.run(["printf", "%s\\n", "hello", served.address])
        assert result.stdout == f"hello\n{served.address}\n".encode()
        # Tools resolve through the remote PATH, to this host's own bin/.
        where = conn.run(["/bin/sh", "-c", "command -v vmadm; command -v zfs"]).text
        bindir = served.hostdir / "sshd" / "bin"
        assert where.split() == [str(bindir / "vmadm"), str(bindir / "zfs")]
        # The tool scripts name this host's directory and nothing else.
        script = (bindir / "vmadm").read_text()
        assert str(served.hostdir) in script
        other = two if served is one else one
        assert str(other.hostdir) not in script


def test_each_host_answers_for_its_own_directory(served_host):
    if importlib.util.find_spec("openstack_smartos.sim.commands.sysinfo") is None:
        pytest.skip("the sysinfo emulator is not implemented yet")
    one = served_host(hostname="alpha")
    two = served_host(hostname="beta")
    for served, name in ((one, "alpha"), (two, "beta")):
        info = json.loads(served.transport().run(["sysinfo"]).stdout)
        assert info["Hostname"] == name
        assert info["UUID"] == served.host.config["uuid"]


def test_uri_forms_through_connect(served_host, ssh_keypair):
    served = served_host()
    conn = transport.connect(served.uri, key_file=str(ssh_keypair.private),
                             known_hosts=str(served.known_hosts))
    try:
        assert isinstance(conn, SSHTransport)
        assert (conn.host, conn.port, conn.username) == (served.address, served.port, "root")
        assert conn.run(["echo", "ok"]).stdout == b"ok\n"
    finally:
        conn.close()


def test_password_in_uri_is_refused():
    with pytest.raises(errors.TransportError, match="password"):
        SSHTransport("ssh://root:secret@127.0.0.2:22")


# -- one connection, many commands, many threads ------------------------------------

def test_connection_is_opened_lazily_and_reused(served_host):
    one, two = served_host(), served_host()
    conns = [one.transport(), two.transport()]
    assert [c.connections_opened for c in conns] == [0, 0]
    assert one.accepted_logins() == two.accepted_logins() == 0
    for i in range(25):
        for conn in conns:
            assert conn.run(["printf", "%s", str(i)]).stdout == str(i).encode()
    assert [c.connections_opened for c in conns] == [1, 1]
    # sshd's own count: one accepted login per host.
    assert one.accepted_logins() == 1
    assert two.accepted_logins() == 1


def test_many_threads_share_one_connection(served_host):
    served = served_host()
    conn = served.transport()
    results, failures = {}, []

    def worker(t):
        try:
            for c in range(10):
                token = f"t{t}-c{c}"
                out = conn.run(["printf", "%s|%s\\n", token, f"{t * 10 + c}"]).stdout
                results[(t, c)] = out
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert len(results) == 200
    for (t, c), out in results.items():
        assert out == f"t{t}-c{c}|{t * 10 + c}\n".encode()
    assert conn.connections_opened == 1
    assert served.accepted_logins() == 1
    assert conn.stats.round_trips == 200


def test_threads_mixing_stdin_and_early_exits_keep_the_connection(served_host):
    """Commands that read all stdin, none, or exit leaving it unread, at once:
    nothing may reach sshd after a channel's CLOSE (it would drop the
    connection for every thread)."""
    served = served_host()
    conn = served.transport()
    failures = []

    def worker(t):
        try:
            for c in range(10):
                want = f"{t}|{c}\n".encode()
                if c % 3 == 0:
                    out = conn.run(["cat"], stdin=want).stdout
                elif c % 3 == 1:
                    out = conn.run(["/bin/sh", "-c",
                                    'head -c 3 >/dev/null; printf "%s|%s\\n" "$1" "$2"',
                                    "sh", str(t), str(c)], stdin=b"x" * 300000).stdout
                else:
                    out = conn.run(["printf", "%s|%s\\n", str(t), str(c)]).stdout
                assert out == want, (t, c, out)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures
    assert conn.connections_opened == 1
    assert "nonexistent channel" not in served.sshd_log.read_text()


def test_no_stdin_means_empty_input(served_host):
    conn = served_host().transport()
    # A command that reads stdin must see EOF at once, not wait for input.
    assert conn.run(["cat"], timeout=30).stdout == b""
    assert conn.run(["wc", "-c"], stdin=b"", timeout=30).stdout.strip() == b"0"


def test_reconnects_once_after_the_connection_dropped(served_host):
    served = served_host()
    conn = served.transport()
    assert conn.run(["echo", "before"]).stdout == b"before\n"
    served.stop()   # kills the listener and its sessions: the connection drops
    served.start()  # same address, port and host key
    assert conn.run(["echo", "after"]).stdout == b"after\n"
    assert conn.connections_opened == 2
    assert served.accepted_logins() == 2


def test_close_then_use_reconnects(served_host):
    served = served_host()
    conn = served.transport()
    conn.run(["true"])
    conn.close()
    conn.run(["true"])
    assert conn.connections_opened == 2


def test_unreachable_host_is_a_transport_error(tmp_path, ssh_keypair):
    import socket
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]   # nothing listens once closed
    conn = SSHTransport(f"ssh://root@127.0.0.1:{port}", key_file=str(ssh_keypair.private),
                        known_hosts=str(tmp_path / "known_hosts"), connect_timeout=5)
    with pytest.raises(errors.TransportError) as info:
        conn.run(["true"])
    assert not isinstance(info.value, errors.HostKeyError)


def test_wrong_client_key_is_a_transport_error(served_host, tmp_path):
    served = served_host()
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True)
    conn = served.transport(key_file=str(other))
    with pytest.raises(errors.TransportError, match="authentication failed"):
        conn.run(["true"])


# -- host keys ----------------------------------------------------------------------

def test_unknown_host_key_is_refused_and_never_added(served_host, tmp_path):
    served = served_host()
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(errors.HostKeyError, match="not in"):
        served.transport(known_hosts=str(empty)).run(["true"])
    assert empty.read_text() == ""
    missing = tmp_path / "missing_known_hosts"
    with pytest.raises(errors.HostKeyError):
        served.transport(known_hosts=str(missing)).run(["true"])
    assert not missing.exists()


def test_wrong_host_key_is_refused(served_host, tmp_path):
    one, two = served_host(), served_host()
    # one's name with two's key: what a man in the middle would present.
    line = one.known_hosts.read_text().split(" ", 1)[0] + " " + \
        two.known_hosts.read_text().split(" ", 1)[1]
    forged = tmp_path / "forged_known_hosts"
    forged.write_text(line)
    with pytest.raises(errors.HostKeyError, match="mismatch"):
        one.transport(known_hosts=str(forged)).run(["true"])
    assert forged.read_text() == line


def test_host_key_is_verified_by_default_against_home_known_hosts(
        served_host, tmp_path, monkeypatch, ssh_keypair):
    served = served_host()
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    conn = SSHTransport(served.uri, key_file=str(ssh_keypair.private))
    try:
        with pytest.raises(errors.HostKeyError):
            conn.run(["true"])
        (home / ".ssh" / "known_hosts").write_text(served.known_hosts.read_text())
        assert conn.run(["echo", "trusted"]).stdout == b"trusted\n"
    finally:
        conn.close()


def test_verify_host_key_false_is_explicit(served_host, tmp_path):
    served = served_host()
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    conn = served.transport(known_hosts=str(empty), verify_host_key=False)
    assert conn.run(["echo", "unverified"]).stdout == b"unverified\n"
    assert empty.read_text() == ""


def test_host_key_survives_restart(served_host):
    served = served_host()
    before = served.known_hosts.read_text()
    served.stop()
    served.start()
    assert served.known_hosts.read_text() == before
    assert served.transport().run(["true"]).exit_code == 0


# -- commands: exit codes, timeouts, streams, stats -------------------------------

def test_exit_code_and_stderr(served_host):
    conn = served_host().transport()
    result = conn.run(["/bin/sh", "-c", "echo out; echo oops >&2; exit 3"], check=False)
    assert (result.exit_code, result.stdout, result.stderr) == (3, b"out\n", b"oops\n")
    with pytest.raises(errors.CommandError) as info:
        conn.run(["/bin/sh", "-c", "echo oops >&2; exit 4"])
    assert info.value.exit_code == 4
    assert info.value.message == "oops"


def test_missing_tool_exits_127(served_host):
    result = served_host().transport().run(["no-such-tool-here"], check=False)
    assert result.exit_code == 127


def test_timeout_raises_and_connection_survives(served_host):
    conn = served_host().transport()
    with pytest.raises(errors.CommandTimeout) as info:
        conn.run(["sleep", "5"], timeout=0.5)
    assert info.value.argv == ["sleep", "5"]
    assert conn.run(["echo", "still here"]).stdout == b"still here\n"
    assert conn.connections_opened == 1


def test_stdin_is_streamed(served_host):
    conn = served_host().transport()
    size = 3 * 1024 * 1024 + 17
    result = conn.run(["wc", "-c"], stdin=io.BytesIO(b"x" * size))
    assert int(result.stdout) == size
    payload = os.urandom(2 * 1024 * 1024 + 3)
    assert conn.run(["cat"], stdin=payload).stdout == payload


def test_command_that_ignores_stdin(served_host):
    conn = served_host().transport()
    result = conn.run(["head", "-c", "5"], stdin=b"y" * (4 * 1024 * 1024))
    assert result.stdout == b"yyyyy"


def test_stdout_to_streams_instead_of_buffering(served_host):
    conn = served_host().transport()
    sink = io.BytesIO()
    result = conn.run(["head", "-c", "3000000", "/dev/zero"], stdout_to=sink)
    assert result.stdout == b""
    data = sink.getvalue()
    assert len(data) == 3000000 and data.count(0) == 3000000


def test_large_stderr_does_not_stall_stdout(served_host):
    conn = served_host().transport()
    result = conn.run(["/bin/sh", "-c",
                       "head -c 2000000 /dev/zero >&2; head -c 2000000 /dev/zero"])
    assert len(result.stdout) == 2000000 and len(result.stderr) == 2000000


def test_stats_count_round_trips_and_bytes(served_host):
    conn = served_host().transport()
    conn.stats.reset()
    payload = b"z" * 100000
    conn.run(["cat"], stdin=payload)
    conn.run(["printf", "%s", "abc"])
    sink = io.BytesIO()
    conn.run(["head", "-c", "5000", "/dev/zero"], stdout_to=sink)
    snap = conn.stats.snapshot()
    assert snap["round_trips"] == 3
    assert snap["bytes_out"] >= len(payload) + len("printf") + len("head")
    assert snap["bytes_in"] == len(payload) + 3 + 5000
    assert snap["by_command"]["cat"] == 1
    assert snap["by_command"]["head -c"] == 1


def test_write_file_and_remove_file(served_host, tmp_path):
    conn = served_host().transport()
    # The remote shell's cwd is root's home: a $(touch NAME) that ran would
    # create NAME there (a slash would make the path a directory name).
    canary = Path(pwd.getpwnam("root").pw_dir) / f"canary-{uuid.uuid4().hex}"
    target = tmp_path / f"a b $(touch {canary.name}) `touch {canary.name}` 'q';x"
    conn.write_file(str(target), b"\x00payload\xff")
    assert target.read_bytes() == b"\x00payload\xff"
    assert target.stat().st_mode & 0o777 == 0o600
    assert not canary.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [target.name, "client-key", "hosts"])
    conn.write_file(str(target), b"replaced")
    assert target.read_bytes() == b"replaced"
    conn.remove_file(str(target))
    assert not target.exists()
    conn.remove_file(str(target))   # already gone: no error


def test_command_line_quotes_every_argument():
    assert quote_arg("a b") == b"'a b'"
    assert quote_arg("it's") == b"'it'\\''s'"
    assert quote_arg(b"\xff") == b"'\xff'"
    assert quote_arg("") == b"''"
    assert command_line(["vmadm", "get", "x"]) == b"'vmadm' 'get' 'x'"
    with pytest.raises(ValueError):
        quote_arg("a\0b")
    with pytest.raises(ValueError):
        command_line([])


# -- the server side ------------------------------------------------------------

def test_no_interactive_shell(served_host):
    served = served_host()
    client = paramiko.SSHClient()
    client.get_host_keys().load(str(served.known_hosts))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(served.address, served.port, username="root",
                   key_filename=str(served.key.private), allow_agent=False,
                   look_for_keys=False, timeout=10)
    try:
        channel = client.get_transport().open_session(timeout=10)
        channel.invoke_shell()
        channel.shutdown_write()
        stderr = channel.makefile_stderr("rb").read()
        assert channel.recv_exit_status() == 1
        assert b"no command given" in stderr
    finally:
        client.close()


def test_serve_refuses_non_loopback(sim_host, ssh_keypair):
    host = sim_host()
    for listen in ("0.0.0.0:2222", "10.1.2.3:2222", "192.168.0.1:22", "localhost:22"):
        result = smartos_sim("serve", host.root, "--listen", listen,
                             "--authorized-keys", ssh_keypair.public)
        assert result.returncode != 0, listen
        assert "127.0.0.0/8" in result.stderr, result.stderr
    assert not (host.root / "sshd" / "sshd.pid").exists()


def test_serve_twice_is_an_error_and_stop_is_idempotent(served_host):
    served = served_host()
    result = smartos_sim("serve", served.hostdir, "--listen", f"{served.address}:{served.port}",
                         "--authorized-keys", served.key.public)
    assert result.returncode != 0
    assert "already being served" in result.stderr
    assert served.transport().run(["true"]).exit_code == 0
    first = smartos_sim("stop", served.hostdir)
    assert first.returncode == 0 and "Stopped" in first.stdout
    second = smartos_sim("stop", served.hostdir)
    assert second.returncode == 0 and "not being served" in second.stdout


def test_serve_writes_the_expected_files(served_host):
    served = served_host()
    sshd_dir = served.hostdir / "sshd"
    line = served.known_hosts.read_text().strip()
    name, keytype, key = line.split()
    assert name == f"[{served.address}]:{served.port}"
    assert keytype == "ssh-ed25519" and key.startswith("AAAA")
    config = (sshd_dir / "sshd_config").read_text()
    for setting in ("PasswordAuthentication no", "KbdInteractiveAuthentication no",
                    "PubkeyAuthentication yes", "PermitRootLogin prohibit-password",
                    "UsePAM no", "X11Forwarding no", "AllowAgentForwarding no",
                    "AllowTcpForwarding no", f"ListenAddress {served.address}:{served.port}"):
        assert setting in config.splitlines(), setting
    for tool in ("vmadm", "imgadm", "zfs", "zpool", "sysinfo", "kstat", "fwadm",
                 "nictagadm"):
        assert os.access(sshd_dir / "bin" / tool, os.X_OK), tool
    assert (sshd_dir / "authorized_keys").read_bytes() == served.key.public.read_bytes()
