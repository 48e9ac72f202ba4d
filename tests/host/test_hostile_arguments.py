"""No argument can reach a shell unquoted.

Each hostile argument goes through ``printf '%s\\0' ARGS...``: over ssh:// the
remote /bin/sh parses the quoted command line, over local:// printf is exec'd
directly. Either way the bytes must come back exactly, and the payloads that
would run commands if they reached a shell must leave no trace.
"""

from __future__ import annotations

import os
import pwd
import random
import uuid
from pathlib import Path

import pytest

from openstack_smartos.host import errors
from openstack_smartos.host.transport import LocalTransport

SSHD = "/usr/sbin/sshd"
HAVE_SSHD = os.path.exists(SSHD)
NO_SSHD_REASON = f"{SSHD} is missing: install openssh-server to run the ssh tests"

# Where a command that escaped quoting would drop its canary: the remote
# shell's cwd (root's home) for relative names, /tmp for absolute ones.
HOME = Path(pwd.getpwnam("root").pw_dir)
TOKEN = uuid.uuid4().hex[:12]
CANARIES = [Path("/tmp") / f"smartos-canary-{TOKEN}-{n}" for n in range(9)]
RELATIVE_CANARY = f"smartos-canary-{TOKEN}-rel"

HOSTILE = [
    "'", "''", "'\\''", '"', '""', "it's", 'say "hi"', "'\"'\"'",
    ";", "; echo INJECTED", "a;b", "&&", "a && b", "||", "|", "a | b", "&",
    ">", ">>", "<", "a > b", "2>&1",
    "$(echo INJECTED)", "${HOME}", "$HOME", "$0", "$@", "$$", "$?", "$((1+1))",
    "`echo INJECTED`", "\\`", "\\", "\\\\", "\\n", "\\'",
    "*", "/*", "?", "[a-z]*", "{a,b}", "~", "~root", "!", "!!", "#", "# comment",
    "\n", "a\nb", "\n; echo INJECTED\n", "\t", "a\tb", "\r", "\x1b[31m", "\x7f",
    "-", "--", "-n", "-e", "--help", "-v -x",
    " ", "  leading", "trailing  ", "a b c", "",
    "héllo wörld", "日本語", "\u202eevil", "\udcff\udcfe",
    b"\xff\xfe", b"\x80", b"a\xffb c", b"'\xff'", b"\xc3\x28",
    f"$(touch {CANARIES[0]})",
    f"`touch {CANARIES[1]}`",
    f"; touch {CANARIES[2]}",
    f"&& touch {CANARIES[3]}",
    f"| touch {CANARIES[4]}",
    f"> {CANARIES[5]}",
    f"\"$(touch {CANARIES[6]})\"",
    f"'; touch {CANARIES[7]}; '",
    f"\ntouch {CANARIES[8]}\n",
    f"$(touch {RELATIVE_CANARY})",
    f"x`touch {RELATIVE_CANARY}`y",
    "x" * 10000,
]


def as_bytes(arg):
    return arg if isinstance(arg, bytes) else arg.encode("utf-8", "surrogateescape")


def expected(args):
    return b"".join(as_bytes(a) + b"\0" for a in args)


def assert_no_canaries():
    leftovers = [p for p in [*CANARIES, HOME / RELATIVE_CANARY] if p.exists()]
    for path in leftovers:
        path.unlink()
    assert not leftovers, f"a payload ran a command: {leftovers}"


@pytest.fixture(params=["ssh", "local"])
def conn(request):
    if request.param == "local":
        with LocalTransport() as local:
            yield local
        return
    if not HAVE_SSHD:
        pytest.skip(NO_SSHD_REASON)
    served_host = request.getfixturevalue("served_host")
    yield served_host().transport()


pytestmark = pytest.mark.ssh


def test_all_hostile_arguments_at_once(conn):
    result = conn.run(["printf", "%s\\0", *HOSTILE])
    assert result.stdout == expected(HOSTILE)
    assert result.stderr == b""
    assert_no_canaries()


def test_each_hostile_argument_alone(conn):
    mismatches = []
    for arg in HOSTILE:
        result = conn.run(["printf", "%s\\0", arg], check=False)
        if (result.exit_code, result.stdout) != (0, expected([arg])):
            mismatches.append((arg, result.exit_code, result.stdout, result.stderr))
    assert not mismatches
    assert_no_canaries()


def test_hostile_program_name_is_one_word(conn):
    """argv[0] is quoted too: the whole string is looked up as a command."""
    names = [f"printf; touch {CANARIES[0]}", f"$(touch {CANARIES[1]})",
             f"`touch {CANARIES[2]}`", "echo INJECTED", "printf %s\\0 x"]
    for name in names:
        try:
            result = conn.run([name, "x"], check=False)
        except errors.TransportError:
            continue   # local://: exec of a missing program fails outright
        assert result.exit_code == 127, (name, result)
        assert b"INJECTED" not in result.stdout
    assert_no_canaries()


def test_random_bytes_round_trip(conn):
    rng = random.Random(20240229)
    args = [bytes(rng.randrange(1, 256) for _ in range(rng.randrange(0, 40)))
            for _ in range(200)]
    result = conn.run(["printf", "%s\\0", *args])
    assert result.stdout == expected(args)


def test_path_arguments_reach_write_file_verbatim(conn, tmp_path):
    name = f"a b; $(touch {RELATIVE_CANARY}) `x` 'q' \"d\" *"
    target = tmp_path / name
    conn.write_file(str(target), b"ok")
    assert target.read_bytes() == b"ok"
    conn.remove_file(str(target))
    assert not target.exists()
    assert_no_canaries()


@pytest.mark.parametrize("bad", ["a\0b", b"a\0b", "\0", b"\0"])
def test_nul_byte_is_refused_before_anything_is_sent(conn, bad):
    with pytest.raises(ValueError):
        conn.run(["printf", "%s\\0", "fine", bad])
    assert conn.stats.round_trips == 0
    if getattr(conn, "scheme", "") == "ssh":
        assert conn.connections_opened == 0   # not even connected
