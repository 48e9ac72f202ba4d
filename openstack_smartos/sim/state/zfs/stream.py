"""The replication stream codec: writer, reader and resume tokens (STREAM FORMAT, package doc)."""

from __future__ import annotations

import base64
import hashlib
import json
import struct
import zlib

from openstack_smartos.sim.state.zfs.names import ZFSError
from openstack_smartos.sim.state.zfs.blocks import BLOCK


MAGIC = b"SIMZFS\x00\x02"
MAGIC_V1 = b"SIMZFS\x00\x01"


class _StreamBroken(Exception):
    """The input stream ended early or a record failed its checksum."""


class _StreamOut:
    def __init__(self, out):
        self.out = out
        self.dry = out is None
        self.count = 0
        self.chain = 0          # see STREAM FORMAT

    def _raw(self, data):
        if not self.dry:
            self.out.write(data)
        self.count += len(data)

    def header(self, desc):
        body = json.dumps(desc, sort_keys=True).encode()
        head = MAGIC + struct.pack(">I", len(body)) + body
        self.chain = zlib.crc32(head)
        self._raw(head)

    def record(self, kind, payload):
        head = kind + struct.pack(">I", len(payload))
        tail = struct.pack(">I", zlib.crc32(payload, zlib.crc32(head)))
        if not self.dry:
            self.chain = zlib.crc32(tail, self.chain)
        self._raw(head + payload + tail)

    def skip_record(self, payload_len):
        self.count += 9 + payload_len

    def finish(self):
        self.record(b"Z", struct.pack(">I", self.chain))
        if not self.dry and hasattr(self.out, "flush"):
            self.out.flush()


class _StreamIn:
    """Reads a stream: ``read`` for the header, then ``record`` per record.

    A source with ``read_view(size)`` (exactly ``size`` bytes unless at the
    end, as bytes or a memoryview) hands record payloads over without a copy.
    """

    def __init__(self, stream):
        self.stream = stream
        self._view = getattr(stream, "read_view", None)
        self.sha = None         # version 1: sha256 of every byte read
        self.chain = 0          # version 2: see STREAM FORMAT
        self.count = 0
        self._header = []

    def start(self, magic):
        """Set the stream version from the magic (already read)."""
        header = b"".join(self._header)
        if magic == MAGIC_V1:
            self.sha = hashlib.sha256(header)
        else:
            self.chain = zlib.crc32(header)
        self._header = None

    def _take(self, size, view=False):
        if view and self._view is not None:
            data = self._view(size)
        else:
            chunks = []
            need = size
            while need > 0:
                chunk = self.stream.read(need)
                if not chunk:
                    break
                chunks.append(chunk)
                need -= len(chunk)
            data = b"".join(chunks)
        if len(data) != size:
            raise _StreamBroken("truncated")
        if self.sha is not None:
            self.sha.update(data)
        self.count += size
        return data

    def read(self, size):
        data = self._take(size)
        if self._header is not None:
            self._header.append(data)
        elif self.sha is None:
            self.chain = zlib.crc32(data, self.chain)
        return data

    def record(self):
        """(kind, payload, what the Z record must hold if this is it)."""
        if self.sha is not None:
            before = self.sha.copy().digest()
        else:
            before = struct.pack(">I", self.chain)
        head = self._take(5)
        kind, length = head[:1], struct.unpack(">I", head[1:])[0]
        if kind not in b"SFBEZ" or length > (BLOCK + 70000):
            raise _StreamBroken("bad record")
        payload = self._take(length, view=True)
        tail = self._take(4)
        if zlib.crc32(payload, zlib.crc32(head)) != struct.unpack(">I", tail)[0]:
            raise _StreamBroken("checksum")
        if self.sha is None:
            self.chain = zlib.crc32(tail, self.chain)
        return kind, payload, before


def encode_token(data: dict) -> str:
    raw = json.dumps(data, sort_keys=True).encode()
    body = base64.urlsafe_b64encode(zlib.compress(raw)).decode().rstrip("=")
    return f"1-{zlib.crc32(raw):08x}-{len(raw):x}-{body}"


def decode_token(token: str) -> dict:
    try:
        version, crc, _, body = token.split("-", 3)
        raw = zlib.decompress(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        if version != "1" or int(crc, 16) != zlib.crc32(raw):
            raise ValueError
        return json.loads(raw)
    except (ValueError, zlib.error, TypeError):
        raise ZFSError("cannot resume send: resume token is corrupt or truncated") from None
