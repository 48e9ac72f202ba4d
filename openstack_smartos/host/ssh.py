"""ssh://user@host:port: run the SmartOS tools over one persistent SSH connection.

One paramiko connection per transport, opened on first use and shared by
every thread; each command gets its own session channel. The command line is
the only shell string the host layer ever builds: every argv element is
single-quoted (embedded single quotes become ``'\\''``), so the remote POSIX
shell sees each argument as one literal word, whatever bytes it holds.

Security defaults: the host key must be in a known_hosts file (unknown or
changed keys raise ``HostKeyError``; keys are never added), authentication is
by key only (``key_file``, else the agent and the default key files).
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import threading
import time
import urllib.parse

import paramiko

from openstack_smartos.host import errors, transport

LOG = logging.getLogger(__name__)

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"
DEFAULT_PORT = 22
_RECV = 1 << 16
# OpenSSH's sshd allows 10 sessions per connection (MaxSessions); stay below.
DEFAULT_MAX_SESSIONS = 8


def quote_arg(arg) -> bytes:
    """One argument as a single-quoted POSIX shell word, as bytes."""
    data = arg if isinstance(arg, bytes) else arg.encode("utf-8", "surrogateescape")
    if b"\0" in data:
        raise ValueError("a command argument cannot contain a NUL byte")
    return b"'" + data.replace(b"'", b"'\\''") + b"'"


def command_line(argv) -> bytes:
    """The remote command line: every argument quoted, joined by spaces."""
    if not argv:
        raise ValueError("empty command")
    return b" ".join(quote_arg(arg) for arg in argv)


class _RejectUnknownHost(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        raise errors.HostKeyError(
            f"host key for {hostname} is not in {self.known_hosts} "
            f"({key.get_name()} {key.fingerprint}); verify the fingerprint and "
            "add the key to known_hosts (it is never added automatically)")


class _AcceptAnyHost(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        LOG.warning("not verifying the host key of %s (%s %s): "
                    "verify_host_key=False", hostname, key.get_name(), key.fingerprint)


_GUARD_WAIT = 5.0


def _guarded_close(channel, message):
    """Handle the host's CLOSE only between two of our data sends.

    paramiko builds a data message under the channel lock and writes it after
    releasing the lock; if its transport thread answers the host's CLOSE in
    that gap, the data reaches sshd after our CLOSE, for a channel sshd has
    freed, and sshd drops the whole connection ("data packet referred to
    nonexistent channel"). The feeder holds the channel's send guard around
    each send, and this handler takes it before answering the CLOSE. Sends
    never wait for the window while holding the guard; the bounded wait only
    matters during a re-key, where falling back is the lesser evil.
    """
    guard = getattr(channel, "_smartos_send_guard", None)
    held = guard.acquire(timeout=_GUARD_WAIT) if guard is not None else False
    try:
        paramiko.Channel._handle_close(channel, message)
    finally:
        if held:
            guard.release()


def _install_close_guard(connection):
    table = dict(connection._channel_handler_table)
    table[paramiko.common.MSG_CHANNEL_CLOSE] = _guarded_close
    connection._channel_handler_table = table  # this connection only


class _Feeder:
    """Streams stdin into a channel, then sends EOF.

    paramiko lets a thread build a channel message under the channel lock
    and send it after releasing the lock, while its transport thread may
    answer the host's CLOSE in between; a data or EOF message that reaches
    sshd after the CLOSE makes it drop the whole connection. So this thread
    sends only while the window is open (never blocking inside paramiko),
    stops as soon as the channel is closed or it is told to, and is always
    joined before this side closes the channel. Commands without input get
    ``</dev/null`` instead and no EOF at all.
    """

    _SEND = 1 << 15

    def __init__(self, channel, stdin):
        self.channel = channel
        self.stdin = stdin
        self.failure = None
        self._halt = threading.Event()
        self._thread = None
        self._guard = threading.Lock()
        channel._smartos_send_guard = self._guard

    def start(self):
        if self.stdin is not None:
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name="ssh:stdin")
            self._thread.start()

    def is_alive(self):
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout=None):
        if self._thread is not None:
            self._thread.join(timeout)

    def stop(self, wait=5.0):
        self._halt.set()
        self.join(wait)

    def _halted(self):
        return self._halt.is_set() or self.channel.closed

    def _run(self):
        channel = self.channel
        try:
            for chunk in self.stdin.chunks():
                view = memoryview(chunk)
                while view:
                    if self._halted():
                        return
                    if not channel.send_ready():   # window full: wait for it
                        self._halt.wait(0.002)
                        continue
                    with self._guard:
                        if self._halted():
                            return
                        sent = channel.send(bytes(view[:self._SEND]))
                    view = view[sent:]
            with self._guard:
                if not self._halted():
                    channel.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the channel closed under us: the command's result tells
        except BaseException as exc:  # the stdin source itself failed
            self.failure = exc
            channel.close()   # from the sending thread: nothing can follow it


class SSHTransport(transport.Transport):
    """Run commands on a SmartOS host over SSH (ssh://user@host:port)."""

    scheme = "ssh"

    def __init__(self, uri, *, key_file=None, known_hosts=None, verify_host_key=True,
                 connect_timeout=10, default_timeout=transport.DEFAULT_TIMEOUT,
                 max_sessions=DEFAULT_MAX_SESSIONS):
        super().__init__(uri, default_timeout)
        parsed = urllib.parse.urlsplit(uri)
        if parsed.scheme != "ssh":
            raise errors.TransportError(f"{uri!r} is not an ssh:// URI")
        if parsed.password is not None:
            raise errors.TransportError(
                f"{parsed.hostname}: passwords are not supported in ssh:// URIs; "
                "use key authentication")
        if not parsed.hostname:
            raise errors.TransportError(f"{uri!r}: no host name")
        try:
            port = parsed.port
        except ValueError as exc:
            raise errors.TransportError(f"{uri!r}: bad port") from exc
        if parsed.path not in ("", "/") or parsed.query or parsed.fragment:
            raise errors.TransportError(
                f"{uri!r}: expected ssh://user@host:port with nothing after it")
        self.host = parsed.hostname
        self.port = port or DEFAULT_PORT
        self.username = (urllib.parse.unquote(parsed.username) if parsed.username
                         else getpass.getuser())
        self.key_file = os.path.expanduser(key_file) if key_file else None
        self.verify_host_key = bool(verify_host_key)
        self.known_hosts = os.path.expanduser(known_hosts or DEFAULT_KNOWN_HOSTS)
        self.connect_timeout = connect_timeout
        self.connections_opened = 0   # how many SSH connections were made
        self._lock = threading.Lock()
        self._client = None
        self._sessions = threading.BoundedSemaphore(max(1, int(max_sessions)))

    def __repr__(self):
        return f"<SSHTransport {self.username}@{self.host}:{self.port}>"

    # -- connection --------------------------------------------------------
    def _connect(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self.verify_host_key:
            keys = client.get_host_keys()  # not saved anywhere: never auto-added
            if os.path.exists(self.known_hosts):
                try:
                    keys.load(self.known_hosts)
                except (OSError, paramiko.SSHException) as exc:
                    raise errors.HostKeyError(
                        f"cannot read known_hosts {self.known_hosts}: {exc}") from exc
            client.set_missing_host_key_policy(_RejectUnknownHost(self.known_hosts))
        else:
            client.set_missing_host_key_policy(_AcceptAnyHost())
        where = f"{self.username}@{self.host}:{self.port}"
        try:
            sock = socket.create_connection((self.host, self.port),
                                            timeout=self.connect_timeout)
        except OSError as exc:
            client.close()
            raise errors.TransportError(f"cannot connect to {where}: {exc}") from exc
        # Commands are many small request/reply exchanges: no Nagle delays.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            client.connect(
                self.host, port=self.port, username=self.username, password=None,
                key_filename=self.key_file, allow_agent=self.key_file is None,
                look_for_keys=self.key_file is None, timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout, auth_timeout=self.connect_timeout,
                channel_timeout=self.connect_timeout, passphrase=None, sock=sock)
        except errors.SmartOSError:
            client.close()
            sock.close()
            raise
        except paramiko.BadHostKeyException as exc:
            client.close()
            sock.close()
            raise errors.HostKeyError(
                f"host key mismatch for {where}: the server offered "
                f"{exc.key.get_name()} {exc.key.fingerprint}, {self.known_hosts} "
                f"expects {exc.expected_key.get_name()} {exc.expected_key.fingerprint}"
            ) from exc
        except paramiko.AuthenticationException as exc:
            client.close()
            sock.close()
            raise errors.TransportError(
                f"ssh authentication failed for {where}"
                f"{' with key ' + self.key_file if self.key_file else ''}: {exc}") from exc
        except (paramiko.SSHException, OSError, EOFError) as exc:
            client.close()
            sock.close()
            raise errors.TransportError(f"cannot connect to {where}: {exc}") from exc
        connection = client.get_transport()
        if connection is not None:
            connection.set_keepalive(30)
            _install_close_guard(connection)
        self.connections_opened += 1
        return client

    def _current(self) -> paramiko.SSHClient:
        """The live connection, opened (or reopened, if it dropped) on demand."""
        with self._lock:
            client = self._client
            if client is not None:
                conn = client.get_transport()
                if conn is not None and conn.is_active():
                    return client
                client.close()
                self._client = None
            self._client = self._connect()
            return self._client

    def _discard(self, client):
        with self._lock:
            if self._client is client:
                self._client = None
        client.close()

    def _open_channel(self, command: bytes, deadline: float):
        """A session channel running ``command``; reconnects once if the
        connection turns out to be dead before the command was sent."""
        attempt = 1
        backoff = 0.005
        give_up = min(deadline, time.monotonic() + self.connect_timeout)
        while True:
            client = self._current()
            conn = client.get_transport()
            try:
                channel = conn.open_session(timeout=self.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if conn.is_active() and not isinstance(exc, EOFError):
                    # The host refused the session while the connection is
                    # fine: sshd frees a session slot a little after the
                    # previous command ended, so a busy connection can
                    # briefly hit MaxSessions. (paramiko reports a refusal as
                    # ChannelException, or, when threads race for the saved
                    # exception, as a bare SSHException.) Retry for a while.
                    if time.monotonic() + backoff >= give_up:
                        raise errors.TransportError(
                            f"{self.host}:{self.port}: cannot open an SSH session: "
                            f"{exc or type(exc).__name__}") from exc
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 0.2)
                    continue
                self._discard(client)
                if attempt == 2:
                    raise errors.TransportError(
                        f"{self.host}:{self.port}: connection lost: "
                        f"{exc or type(exc).__name__}") from exc
                LOG.info("%s: connection dropped, reconnecting", self)
                attempt += 1
                continue
            try:
                channel.exec_command(command)
            except (paramiko.SSHException, EOFError, OSError) as exc:
                channel.close()
                # The request may have reached the host: never run it twice.
                raise errors.TransportError(
                    f"{self.host}:{self.port}: cannot start the command: "
                    f"{exc or type(exc).__name__}") from exc
            return channel

    def close(self):
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # -- commands -------------------------------------------------------------
    def _execute(self, argv, stdin, timeout, stdout_to):
        command = command_line(argv)
        has_stdin = stdin is not None and getattr(stdin, "source", stdin) is not None
        if not has_stdin:
            # No input: the remote shell gives the command /dev/null, and no
            # EOF has to be sent (see _Feeder for why that matters).
            command += b" </dev/null"
        deadline = time.monotonic() + timeout
        if not self._sessions.acquire(timeout=max(0.0, timeout)):
            raise errors.CommandTimeout(argv, timeout)
        try:
            channel = self._open_channel(command, deadline)
            feeder = _Feeder(channel, stdin if has_stdin else None)
            try:
                return self._pump(channel, feeder, argv, timeout, deadline, stdout_to)
            finally:
                feeder.stop()
                channel.close()
        finally:
            self._sessions.release()

    def _pump(self, channel, feeder, argv, timeout, deadline, stdout_to):
        err_chunks = []

        def drain_stderr():
            try:
                while True:
                    chunk = channel.recv_stderr(_RECV)
                    if not chunk:
                        return
                    err_chunks.append(chunk)
            except (OSError, EOFError, paramiko.SSHException):
                pass

        reader = threading.Thread(target=drain_stderr, daemon=True,
                                  name=f"{self}:stderr")
        reader.start()
        feeder.start()
        try:
            out = self._read_stdout(channel, argv, timeout, deadline, stdout_to)
            if not channel.status_event.wait(max(0.0, deadline - time.monotonic())):
                raise errors.CommandTimeout(argv, timeout)
            reader.join(max(0.0, deadline - time.monotonic()))
            if reader.is_alive():
                raise errors.CommandTimeout(argv, timeout)
            # The command has exited. Let the feeder finish on its own (the
            # host closes the channel if the command left input unread)
            # before the channel is closed from this side.
            feeder.join(max(0.0, deadline - time.monotonic()))
            if feeder.is_alive():
                raise errors.CommandTimeout(argv, timeout)
        except BaseException:
            feeder.stop()
            channel.close()
            reader.join(5)
            raise
        if feeder.failure is not None:
            raise feeder.failure
        code = channel.exit_status
        if code == -1:
            conn = channel.get_transport()
            if conn is None or not conn.is_active():
                raise errors.TransportError(
                    f"{self.host}:{self.port}: connection lost while running "
                    f"{errors.display_argv(argv)}")
            # No exit-status: the command was killed by a signal (OpenSSH's
            # client reports that as 255).
            code = 255
        return code, out, b"".join(err_chunks)

    def _read_stdout(self, channel, argv, timeout, deadline, stdout_to) -> bytes:
        chunks = []
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise errors.CommandTimeout(argv, timeout)
            channel.settimeout(remaining)
            try:
                chunk = channel.recv(_RECV)
            except socket.timeout:
                continue
            except (OSError, EOFError, paramiko.SSHException) as exc:
                raise errors.TransportError(
                    f"{self.host}:{self.port}: lost the connection while running "
                    f"{errors.display_argv(argv)}: {exc}") from exc
            if not chunk:
                return b"".join(chunks)
            if stdout_to is not None:
                stdout_to.write(chunk)
            else:
                chunks.append(chunk)

    # -- files ------------------------------------------------------------------
    def write_file(self, path, data, timeout=None):
        self.run(["/bin/sh", "-c", 'umask 077 && cat > "$1"', "sh", path],
                 stdin=data, timeout=timeout)

    def remove_file(self, path, timeout=None):
        self.run(["rm", "-f", "--", path], timeout=timeout)
