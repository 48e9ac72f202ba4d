"""Client for zoneadmd's logs under a zone's ``<zonepath>/logs`` (reference §5).

    logs = ZoneLogs(transport)
    logs.console(uuid, max_bytes=100 << 10)   # what the zone console printed

zoneadmd copies the zone console (for bhyve, the guest's com1) to
``console.log``, one bunyan JSON record per line with the bytes escaped one
by one (``\\u00XX``). The client reads only the end of the file with
``tail -c`` and turns the console records back into the bytes the guest
printed. A zone that has never booted has no log: that reads as no output.
"""

from __future__ import annotations

import json

from openstack_smartos.host import errors

# A record costs about 170 bytes plus the (escaped) text it carries.
RECORD_OVERHEAD = 4
MAX_READ = 64 << 20


class ZoneLogs:
    def __init__(self, transport, timeout: float | None = 60):
        self.transport = transport
        self.timeout = timeout

    def console(self, uuid: str, max_bytes: int = 100 << 10,
                zonepath: str | None = None) -> bytes:
        """The last ``max_bytes`` (at most) the zone console printed.

        One ``tail -c`` usually does; a log of very short lines (where the
        records weigh far more than the text) is read again, further back.
        """
        path = f"{zonepath or '/zones/' + uuid}/logs/console.log"
        read = max_bytes * RECORD_OVERHEAD
        while True:
            try:
                result = self.transport.run(["tail", "-c", str(read), path],
                                            timeout=self.timeout)
            except errors.CommandError as exc:
                if "No such file or directory" in exc.message:
                    return b""
                raise
            more_in_file = len(result.stdout) >= read
            output = console_bytes(result.stdout, partial_first_line=more_in_file)
            if len(output) >= max_bytes or not more_in_file or read >= MAX_READ:
                return output[-max_bytes:]
            read = min(read * 8, MAX_READ)


def console_bytes(log: bytes, *, partial_first_line: bool = False) -> bytes:
    """The console stream's bytes from zoneadmd log records.

    ``partial_first_line``: the text starts mid-file, so its first line is
    the tail of a record and is dropped. Lines that are not records (a file
    being rotated, a torn write) are skipped.
    """
    lines = log.split(b"\n")
    if partial_first_line:
        lines = lines[1:]
    out = []
    for line in lines:
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("stream") == "console":
            message = entry.get("msg")
            if isinstance(message, str):
                out.append(message.encode("latin-1", "replace"))
    return b"".join(out)
