"""zoneadmd's console log: ``/zones/<uuid>/logs/console.log`` of each zone.

On SmartOS, zoneadmd relays the zone console (``/dev/zconsole``; for bhyve
that is the guest's com1) and copies everything the zone prints to
``<zonepath>/logs/console.log``, one bunyan JSON record per line:

    { "time": "2026-11-25T03:05:19.123456000Z", "v": 0, "hostname": "h", \
"name": "zoneadmd","pid": 4242, "level": 30, "msg":"login: \\n", "stream":"console" }

The console stream is line buffered (a record per line). Bytes outside
printable ASCII are written as ``\\u00XX`` (one per byte, whatever the
encoding), so the original bytes are ``msg.encode("latin-1")``. zoneadmd
writes ``{"stream":"logfile","msg":"open"}`` when it starts serving the
console (each boot) and ``"close"`` when it stops (each halt). With the
``zlog-max-size`` zone attribute (vmadm ``zlog_max_size``, at least 1 MiB)
a log that grows past it is renamed ``console.log.<YYYYmmddTHHMMSSZ>`` and a
new one is opened. KVM guests print to the ``vm.console`` socket instead, so
their log holds only the open/close records.

The emulated host keeps the file under DIR/root/zones/<uuid>/logs, and the
emulated guests print a short, brand-shaped boot and shutdown transcript.
"""

from __future__ import annotations

import datetime
import os
import shutil
import time

LOG_NAME = "console.log"
ROTATE_MIN = 1 << 20
_ESCAPES = {0x5C: "\\\\", 0x22: '\\"', 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n",
            0x0D: "\\r", 0x09: "\\t"}


def zone_dir(host, uuid):
    return host.path("root", "zones", uuid)


def escape(data: bytes) -> str:
    """zoneadmd's JSON escaping: per byte, non-printables as \\u00XX."""
    out = []
    for byte in data:
        if byte in _ESCAPES:
            out.append(_ESCAPES[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\u{byte:04x}")
    return "".join(out)


def _stamp(at: float) -> str:
    moment = datetime.datetime.fromtimestamp(at, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond * 1000:09d}Z"


def record(host, at: float, pairs) -> bytes:
    """One log line, laid out as zoneadmd's make_json lays it out."""
    preamble = (f'"time": "{_stamp(at)}", "v": 0, "hostname": "{host.config["hostname"]}", '
                f'"name": "zoneadmd","pid": {_zoneadmd_pid(host)}, "level": 30')
    body = "".join(f', "{key}":"{value}"' for key, value in pairs)
    return ("{ " + preamble + body + " }\n").encode("ascii")


def _zoneadmd_pid(host) -> int:
    return 1000 + int(host.config["uuid"][:4], 16) % 9000


def console_records(host, data: bytes, at: float) -> bytes:
    """The records for console output ``data``: one per line."""
    lines = data.splitlines(keepends=True)
    return b"".join(record(host, at, [("msg", escape(line)), ("stream", "console")])
                    for line in lines)


def _event(host, at, what) -> bytes:
    return record(host, at, [("stream", "logfile"), ("msg", what)])


def append(host, cfg: dict, chunks: list, at: float):
    """Append records to the VM's console log, rotating as zoneadmd does."""
    logdir = zone_dir(host, cfg["uuid"]) / "logs"
    logdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = logdir / LOG_NAME
    limit = cfg.get("zlog_max_size") or 0
    if limit:
        limit = max(int(limit), ROTATE_MIN)
    log = open(path, "ab")
    try:
        os.fchmod(log.fileno(), 0o600)
        for chunk in chunks:
            log.write(chunk)
            if limit and log.tell() > limit:
                stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(at))
                os.replace(path, path.with_name(f"{LOG_NAME}.{stamp}"))
                log.write(_event(host, at, "close-rotate"))
                log.close()
                log = open(path, "ab")
                log.write(_event(host, at, "open-rotate"))
    finally:
        log.close()


def booted(host, cfg: dict, at: float, *, halted_first=False):
    """zoneadmd serves a new boot's console: open record, then the guest's output."""
    chunks = []
    if halted_first:
        chunks += _halt_chunks(host, cfg, at)
    chunks.append(_event(host, at, "open"))
    chunks.append(console_records(host, boot_transcript(host, cfg), at))
    append(host, cfg, chunks, at)


def halted(host, cfg: dict, at: float):
    append(host, cfg, _halt_chunks(host, cfg, at), at)


def _halt_chunks(host, cfg, at):
    return [console_records(host, halt_transcript(cfg), at), _event(host, at, "close")]


def removed(host, uuid: str):
    """zoneadm uninstall removes the zonepath, logs included."""
    shutil.rmtree(zone_dir(host, uuid), ignore_errors=True)


# -- what the emulated guests print ------------------------------------------------------------
def _name(cfg) -> str:
    return cfg.get("hostname") or cfg.get("alias") or cfg["uuid"]


def boot_transcript(host, cfg: dict) -> bytes:
    brand, name = cfg["brand"], _name(cfg)
    if brand == "kvm":
        return b""      # the guest's serial port is the vm.console socket
    if brand == "bhyve":
        lines = ["BdsDxe: loading Boot0001 \"UEFI BHYVE SATA DISK\"",
                 "[    0.000000] Linux version 6.1.0-smartos-sim (bhyve guest)",
                 "[    0.000000] Command line: root=LABEL=root console=ttyS0",
                 f"[    1.204511] systemd[1]: Set hostname to <{name}>.",
                 f"cloud-init: SmartOS datasource: hostname {name}",
                 "", f"{name} login: "]
    elif brand == "lx":
        kernel = cfg.get("kernel_version") or "4.3.0"
        lines = [f"lx-brand: emulating Linux {kernel} on SmartOS {host.config['live_image']}",
                 f"systemd[1]: Set hostname to <{name}>.",
                 "", f"{name} login: "]
    else:
        lines = ["Loading smf(7) service descriptions: 1/1",
                 "Reading ZFS config: done.",
                 "Mounting ZFS filesystems: (1/1)",
                 f"Hostname: {name}", "", f"{name} console login: "]
    return ("\r\n".join(lines) + "\r\n").encode()


def halt_transcript(cfg: dict) -> bytes:
    brand = cfg["brand"]
    if brand == "kvm":
        return b""
    if brand in ("bhyve", "lx"):
        return b"[  OK  ] Reached target System Power Off.\r\nreboot: Power down\r\n"
    return b"svc.startd: The system is coming down.  Please wait.\r\n" \
           b"svc.startd: The system is down.\r\n"
