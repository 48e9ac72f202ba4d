"""The SVP wire format (illumos-joyent libvarpd_svp_prot.h), pure."""

import struct
import zlib

import pytest

from openstack_smartos.sim.state.network import svp_protocol as svp


def test_header_is_big_endian_with_crc32_over_zeroed_header_and_payload():
    ident = (7).to_bytes(4, "little")
    wire = svp.encode(svp.VL2_REQ, ident, svp.vl2_req("02:08:20:aa:bb:01", 4000))
    version, op, size, raw_id, crc = struct.unpack("!HHI4sI", wire[:16])
    assert (version, op, size, raw_id) == (1, 3, 12, ident)
    assert crc == zlib.crc32(wire[:12] + b"\0\0\0\0" + wire[16:])
    chunks = iter([wire[:16], wire[16:]])
    message = svp.read_message(lambda n: next(chunks))
    assert svp.parse_vl2_req(message.payload) == ("02:08:20:aa:bb:01", 4000)


def test_a_corrupted_message_is_refused():
    wire = bytearray(svp.encode(svp.VL2_ACK, b"\0\0\0\1", svp.vl2_ack(svp.OK, 4789, "10.0.0.5")))
    wire[-1] ^= 1
    chunks = iter([bytes(wire[:16]), bytes(wire[16:])])
    with pytest.raises(svp.ProtocolError, match="CRC"):
        svp.read_message(lambda n: next(chunks))


def test_acks_have_the_exact_sizes_the_client_requires():
    assert len(svp.vl2_ack(svp.OK, 4789, "10.0.0.5")) == 20
    assert len(svp.vl3_ack(svp.OK, "02:00:00:00:00:01", 4789, "10.0.0.5")) == 28
    assert svp.parse_vl3_ack(svp.vl3_ack(svp.OK, "02:00:00:00:00:01", 4789, "10.0.0.5")) == \
        (0, "02:00:00:00:00:01", 4789, "10.0.0.5")
    with pytest.raises(svp.ProtocolError):
        svp.parse_vl2_ack(b"\0" * 19)


def test_ipv4_travels_v4_mapped_and_vl3_types():
    payload = svp.vl3_req("10.50.0.2", 4000)
    assert payload[:16] == b"\0" * 10 + b"\xff\xff" + bytes([10, 50, 0, 2])
    assert svp.parse_vl3_req(payload) == ("10.50.0.2", svp.VL3_IP, 4000)
    assert svp.parse_vl3_req(svp.vl3_req("10.50.0.2", 4000, svp.VL3_IPV6))[1] == svp.VL3_IPV6
    assert svp.parse_vl3_req(svp.vl3_req("fd00::2", 7))[:2] == ("fd00::2", svp.VL3_IPV6)


def test_log_ack_records_fit_the_clients_1024_byte_buffer():
    records = [svp.LogRecord(svp.LOG_VL2, f"00000000-0000-4000-8000-{i:012d}", 4000,
                             mac="02:00:00:00:00:01") for i in range(40)]
    payload = svp.log_ack(svp.OK, records)
    assert len(payload) <= 1024 and (len(payload) - 4) % 32 == 0
    status, parsed = svp.parse_log_ack(payload)
    assert status == svp.OK and parsed == records[:len(parsed)] and len(parsed) == 31
    vl3 = svp.LogRecord(svp.LOG_VL3, "00000000-0000-4000-8000-000000000001", 9,
                        ip="10.0.0.1", vlan=3)
    assert svp.parse_log_ack(svp.log_ack(svp.OK, [vl3]))[1] == [vl3]
    ids = [r.ident for r in records[:3]]
    assert svp.parse_log_rm(svp.log_rm(ids)) == ids
