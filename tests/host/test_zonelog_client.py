"""The zoneadmd log client: console output from ``tail -c`` of console.log (§5)."""

from __future__ import annotations

import pytest

import openstack_smartos.sim.state.zfs  # noqa: F401  (tables registered before init_host)
from openstack_smartos.host import errors
from openstack_smartos.host.transport import connect
from openstack_smartos.host.zonelog import ZoneLogs, console_bytes
from openstack_smartos.sim.state import zonelog as sim_zonelog
from openstack_smartos.sim.host import SimHost, init_host

UUID = "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"


@pytest.fixture
def host(tmp_path):
    init_host(tmp_path / "h")
    return SimHost(tmp_path / "h")


@pytest.fixture
def logs(host):
    transport = connect("sim://" + str(host.root))
    yield ZoneLogs(transport)
    transport.close()


def write_console(host, data: bytes, uuid=UUID):
    sim_zonelog.append(host, {"uuid": uuid, "brand": "joyent"},
                       [sim_zonelog.record(host, 0.0, [("stream", "logfile"), ("msg", "open")]),
                        sim_zonelog.console_records(host, data, 0.0)], 0.0)


def test_console_returns_the_bytes_the_guest_printed(host, logs):
    printed = b"boot \xc3\xa9t\xc3\xa9\r\n\x1b[1mlogin:\x1b[0m \r\n"
    write_console(host, printed)
    assert logs.console(UUID) == printed
    assert logs.transport.stats.snapshot()["by_command"] == {"tail -c": 1}


def test_console_of_a_zone_that_never_booted_is_empty(logs):
    assert logs.console(UUID) == b""


def test_console_keeps_only_the_last_max_bytes_of_whole_records(host, logs):
    write_console(host, b"".join(b"line %05d\n" % n for n in range(5000)))
    out = logs.console(UUID, max_bytes=1000)
    assert len(out) == 1000
    assert out.endswith(b"line 04999\n")
    assert out.split(b"\n")[1:-1] == [b"line %05d" % n for n in range(4910, 5000)]
    assert logs.transport.stats.snapshot()["by_command"] == {"tail -c": 2}


def test_other_failures_are_raised(logs, host):
    (sim_zonelog.zone_dir(host, UUID) / "logs" / "console.log").mkdir(parents=True)
    with pytest.raises(errors.CommandError, match="Is a directory"):
        logs.console(UUID)


def test_parse_drops_a_torn_first_line_and_non_records():
    log = (b'"msg":"cut", "stream":"console" }\n'
           b'{ "msg":"a\\u00e9\\n", "stream":"console" }\n'
           b'not json\n'
           b'{ "stream":"logfile", "msg":"close" }\n'
           b'{ "msg":"b", "stream":"console" }\n')
    assert console_bytes(log, partial_first_line=True) == b"a\xe9\nb"
