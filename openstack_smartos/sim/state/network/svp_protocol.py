"""The SVP wire format that varpd's svp plugin speaks to its server (Triton's portolan).

Written from illumos-joyent's description of the protocol
(``usr/src/lib/varpd/svp``): a 16-byte header (version 1, op, payload size,
request id, CRC-32 over the header with a zero CRC field and the payload),
integers in network order except the id, which the server echoes as the
same 4 bytes; IP addresses are 16 bytes, IPv4 as v4-mapped IPv6. Pure: bytes
in, tuples out, so both ends (the emulated varpd and any server) share it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import struct
import uuid as uuidlib
import zlib

VERSION = 1
HEADER = struct.Struct("!HHI4sI")
DEFAULT_PORT = 1296

PING, PONG, VL2_REQ, VL2_ACK, VL3_REQ, VL3_ACK = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
BULK_REQ, BULK_ACK, LOG_REQ, LOG_ACK, LOG_RM, LOG_RM_ACK, SHOOTDOWN = range(0x07, 0x0E)
OK, FATAL, NOTFOUND, BADL3TYPE, BADBULK = range(5)
VL3_IP, VL3_IPV6 = 1, 2
LOG_VL2, LOG_VL3 = 1, 2
LOG_BUDGET = 1024     # the client's buffer for a LOG_ACK payload

VL2_REQ_S = struct.Struct("!6s2xI")
VL2_ACK_S = struct.Struct("!HH16s")
VL3_REQ_S = struct.Struct("!16sII")
VL3_ACK_S = struct.Struct("!I6sH16s")
LOG_REQ_S = struct.Struct("!I16s")
LOG_VL2_S = struct.Struct("!I16s6s2xI")
LOG_VL3_S = struct.Struct("!I16s16s2xHI")


class ProtocolError(Exception):
    """A malformed SVP message; the connection must be reset."""


@dataclasses.dataclass(frozen=True)
class Message:
    op: int
    ident: bytes
    payload: bytes


def mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def mac_text(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def ip_bytes(address: str) -> bytes:
    ip = ipaddress.ip_address(address)
    if ip.version == 4:
        ip = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + ip.packed)
    return ip.packed


def ip_text(raw: bytes) -> str:
    ip = ipaddress.IPv6Address(raw)
    return str(ip.ipv4_mapped or ip)


def encode(op: int, ident: bytes, payload: bytes = b"") -> bytes:
    header = HEADER.pack(VERSION, op, len(payload), ident, 0)
    crc = zlib.crc32(header + payload) & 0xFFFFFFFF
    return HEADER.pack(VERSION, op, len(payload), ident, crc) + payload


def read_message(read) -> Message:
    """One message from ``read(n)`` (which returns exactly n bytes or raises)."""
    header = read(HEADER.size)
    version, op, size, ident, crc = HEADER.unpack(header)
    if version != VERSION:
        raise ProtocolError(f"unsupported SVP version {version}")
    if size > 1 << 20:
        raise ProtocolError(f"SVP message of {size} bytes")
    payload = read(size) if size else b""
    expected = zlib.crc32(HEADER.pack(version, op, size, ident, 0) + payload) & 0xFFFFFFFF
    if crc != expected:
        raise ProtocolError("SVP CRC mismatch")
    return Message(op, ident, payload)


# -- requests and answers ---------------------------------------------------------------
def vl2_req(mac: str, vnet: int) -> bytes:
    return VL2_REQ_S.pack(mac_bytes(mac), vnet)


def parse_vl2_req(payload: bytes):
    mac, vnet = VL2_REQ_S.unpack(payload)
    return mac_text(mac), vnet


def vl2_ack(status: int, port: int = 0, address: str = "::") -> bytes:
    return VL2_ACK_S.pack(status, port, ip_bytes(address))


def parse_vl2_ack(payload: bytes):
    if len(payload) != VL2_ACK_S.size:
        raise ProtocolError("VL2_ACK of the wrong size")
    status, port, address = VL2_ACK_S.unpack(payload)
    return status, port, ip_text(address)


def vl3_req(address: str, vnet: int, kind: int | None = None) -> bytes:
    if kind is None:
        kind = VL3_IP if ipaddress.ip_address(address).version == 4 else VL3_IPV6
    return VL3_REQ_S.pack(ip_bytes(address), kind, vnet)


def parse_vl3_req(payload: bytes):
    address, kind, vnet = VL3_REQ_S.unpack(payload)
    return ip_text(address), kind, vnet


def vl3_ack(status: int, mac: str = "00:00:00:00:00:00", port: int = 0,
            address: str = "::") -> bytes:
    return VL3_ACK_S.pack(status, mac_bytes(mac), port, ip_bytes(address))


def parse_vl3_ack(payload: bytes):
    if len(payload) != VL3_ACK_S.size:
        raise ProtocolError("VL3_ACK of the wrong size")
    status, mac, port, address = VL3_ACK_S.unpack(payload)
    return status, mac_text(mac), port, ip_text(address)


def log_req(underlay_ip: str, budget: int = LOG_BUDGET) -> bytes:
    return LOG_REQ_S.pack(budget, ip_bytes(underlay_ip))


def parse_log_req(payload: bytes):
    budget, address = LOG_REQ_S.unpack(payload)
    return budget, ip_text(address)


@dataclasses.dataclass(frozen=True)
class LogRecord:
    kind: int                  # LOG_VL2 or LOG_VL3
    ident: str                 # the record's UUID
    vnet: int
    mac: str | None = None     # VL2
    ip: str | None = None      # VL3
    vlan: int = 0


def log_ack(status: int, records, budget: int = LOG_BUDGET) -> bytes:
    """A LOG_ACK holding as many records as fit in ``budget`` bytes."""
    out = struct.pack("!I", status)
    for record in records:
        raw_id = uuidlib.UUID(record.ident).bytes
        if record.kind == LOG_VL2:
            item = LOG_VL2_S.pack(LOG_VL2, raw_id, mac_bytes(record.mac), record.vnet)
        else:
            item = LOG_VL3_S.pack(LOG_VL3, raw_id, ip_bytes(record.ip), record.vlan,
                                  record.vnet)
        if len(out) + len(item) > budget:
            break
        out += item
    return out


def parse_log_ack(payload: bytes):
    if len(payload) < 4:
        raise ProtocolError("LOG_ACK too short")
    (status,) = struct.unpack_from("!I", payload)
    records, offset = [], 4
    while offset < len(payload):
        (kind,) = struct.unpack_from("!I", payload, offset)
        shape = {LOG_VL2: LOG_VL2_S, LOG_VL3: LOG_VL3_S}.get(kind)
        if shape is None or offset + shape.size > len(payload):
            raise ProtocolError("bad LOG_ACK record")
        fields = shape.unpack_from(payload, offset)
        ident = str(uuidlib.UUID(bytes=fields[1]))
        if kind == LOG_VL2:
            records.append(LogRecord(LOG_VL2, ident, fields[3], mac=mac_text(fields[2])))
        else:
            records.append(LogRecord(LOG_VL3, ident, fields[4], ip=ip_text(fields[2]),
                                     vlan=fields[3]))
        offset += shape.size
    return status, records


def log_rm(idents) -> bytes:
    idents = list(idents)
    return struct.pack("!I", len(idents)) + b"".join(uuidlib.UUID(i).bytes for i in idents)


def parse_log_rm(payload: bytes) -> list[str]:
    (count,) = struct.unpack_from("!I", payload)
    if len(payload) != 4 + 16 * count:
        raise ProtocolError("LOG_RM of the wrong size")
    return [str(uuidlib.UUID(bytes=payload[4 + 16 * i:20 + 16 * i])) for i in range(count)]


def log_rm_ack(status: int) -> bytes:
    return struct.pack("!I", status)
