"""zoneadmd's console log and the emulated tail that reads it (smartos-contracts §5)."""

from __future__ import annotations

import io
import json

import pytest

from openstack_smartos.sim.state import zonelog
from openstack_smartos.sim.tools import run_tool
from tests.sim.test_vmadm import bhyve, create, host, kvm, set_timings, vmadm, zone  # noqa: F401
from tests.sim.test_vmadm import zone_image, zvol_image  # noqa: F401


def tail(host, *argv, stdin=b""):
    out, err = io.BytesIO(), io.BytesIO()
    code = run_tool(host.root, ["tail", *argv], stdin=io.BytesIO(stdin), stdout=out,
                    stderr=err)
    return code, out.getvalue(), err.getvalue().decode()


def records(host, uuid):
    code, out, err = tail(host, "-n", "+1", f"/zones/{uuid}/logs/console.log")
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def console_text(recs) -> bytes:
    return b"".join(r["msg"].encode("latin-1") for r in recs if r["stream"] == "console")


def test_each_boot_opens_the_log_and_the_guest_prints_its_hostname(host, zone_image):
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "hostname": "web01"})
    recs = records(host, uuid)
    assert [r["msg"] for r in recs if r["stream"] == "logfile"] == ["open"]
    assert b"web01 console login:" in console_text(recs)
    first = recs[0]
    assert first["name"] == "zoneadmd" and first["level"] == 30 and first["v"] == 0
    assert first["hostname"] == host.config["hostname"]
    assert first["time"].endswith("Z") and len(first["time"].split(".")[1]) == 10


def test_stop_start_and_reboot_append_close_and_open(host, zone):
    assert vmadm(host, "stop", zone).code == 0
    assert vmadm(host, "start", zone).code == 0
    assert vmadm(host, "reboot", zone).code == 0
    events = [r["msg"] for r in records(host, zone) if r["stream"] == "logfile"]
    assert events == ["open", "close", "open", "close", "open"]
    assert console_text(records(host, zone)).count(b"svc.startd: The system is down.") == 2


def test_timed_transitions_log_when_they_finish(host, zone):
    set_timings(host, stop_seconds=0.2)
    assert vmadm(host, "stop", zone).code == 0
    assert [r["msg"] for r in records(host, zone) if r["stream"] == "logfile"] == \
        ["open", "close"]


def test_autoboot_false_writes_nothing_until_started(host, zone_image):
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image, "autoboot": False})
    code, _, err = tail(host, f"/zones/{uuid}/logs/console.log")
    assert code == 1 and err == f"tail: /zones/{uuid}/logs/console.log: " \
                                 f"No such file or directory\n"


def test_bhyve_guest_console_is_logged_and_kvm_is_not(host, bhyve, kvm):
    assert b"login:" in console_text(records(host, bhyve))
    kvm_recs = records(host, kvm)
    assert console_text(kvm_recs) == b""
    assert [r["msg"] for r in kvm_recs] == ["open"]


def test_delete_removes_the_zonepath_logs(host, zone):
    path = zonelog.zone_dir(host, zone) / "logs" / "console.log"
    assert path.exists()
    assert vmadm(host, "delete", zone).code == 0
    assert not zonelog.zone_dir(host, zone).exists()


def test_escaping_is_per_byte_and_reversible():
    raw = b'a"b\\c\td\x1b[0m\xc3\xa9\xff\r\n'
    escaped = zonelog.escape(raw)
    assert escaped == 'a\\"b\\\\c\\td\\u001b[0m\\u00c3\\u00a9\\u00ff\\r\\n'
    assert json.loads(f'"{escaped}"').encode("latin-1") == raw


def test_zlog_max_size_rotates(host, zone_image):
    uuid = create(host, {"brand": "joyent", "image_uuid": zone_image,
                         "zlog_max_size": 1 << 20})
    cfg = {"uuid": uuid, "brand": "joyent", "zlog_max_size": 1 << 20}
    line = b"x" * 1000 + b"\n"
    zonelog.append(host, cfg, [zonelog.console_records(host, line * 1100, 0.0)], 0.0)
    logs = sorted(p.name for p in (zonelog.zone_dir(host, uuid) / "logs").iterdir())
    assert logs[0] == "console.log" and logs[1].startswith("console.log.19700101T")
    assert [r["msg"] for r in records(host, uuid)][0] == "open-rotate"


@pytest.mark.parametrize("argv, expected", [
    (["-c", "4"], b"ne3\n"),
    (["-c4"], b"ne3\n"),
    (["-c", "+7"], b"line2\nline3\n"),
    (["-n", "2"], b"line2\nline3\n"),
    (["-n", "+2"], b"line2\nline3\n"),
    ([], b"line1\nline2\nline3\n"),
    (["-b", "1"], b"line1\nline2\nline3\n"),
])
def test_tail_offsets_on_stdin(host, argv, expected):
    code, out, err = tail(host, *argv, stdin=b"line1\nline2\nline3\n")
    assert (code, out, err) == (0, expected, "")


@pytest.mark.parametrize("argv, message", [
    (["-c", "x"], "tail: illegal offset -- x\n"),
    (["-z"], "tail: illegal option -- z\nusage: tail [-F | -f | -r] [-q] "
             "[-b # | -c # | -n #] [file ...]\n"),
    (["-c"], "tail: option requires an argument -- c\nusage: tail [-F | -f | -r] [-q] "
             "[-b # | -c # | -n #] [file ...]\n"),
    (["relative.log"], "tail: relative.log: No such file or directory\n"),
])
def test_tail_errors_exit_1(host, argv, message):
    assert tail(host, *argv) == (1, b"", message)
