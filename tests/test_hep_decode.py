"""HEP v1/v2/v3 decoding: round trips, real captures checked against sngrep and tshark, fuzz."""

from __future__ import annotations

import gzip
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from capture.hep import (
    HepDecoder,
    HepError,
    decapsulate,
    decode,
    encode_hep2,
    encode_hep3,
    is_hep,
    split_hep3,
)
from capture.packets import Datagram
from tests.services_sip import (
    HEP_PCAPS,
    sip_first_line,
    sngrep_unwrap_hep,
    tshark_fields,
    write_udp_pcap,
)

SIP = b"INVITE sip:13812345678@10.0.0.2 SIP/2.0\r\nCall-ID: abc@h\r\nContent-Length: 0\r\n\r\n"


def test_hep3_round_trip_keeps_addresses_time_and_identity():
    frame = encode_hep3(SIP, "192.0.2.1", 5062, "192.0.2.9", 5060, time=1700000000.123456,
                        transport="tcp", capture_id=77, node="sbc-east", correlation_id="abc@h",
                        auth_key="secret")
    d = decode(frame)
    assert (d.src, d.sport, d.dst, d.dport, d.transport) == ("192.0.2.1", 5062, "192.0.2.9",
                                                             5060, "tcp")
    assert abs(d.time - 1700000000.123456) < 1e-6
    assert d.payload == SIP
    assert d.attrs["capture_id"] == 77 and d.attrs["node"] == "sbc-east"
    assert d.attrs["correlation_id"] == "abc@h"
    assert "secret" not in repr(d.attrs)  # the auth key is not kept where evidence could show it
    assert d.origin == "hep:sbc-east"


def test_hep3_ipv6_and_gzip_payload():
    d = decode(encode_hep3(SIP, "2001:db8::1", 5060, "2001:db8::2", 5080, time=5.5,
                           compress=True))
    assert (d.src, d.dst, d.dport, d.payload, d.time) == ("2001:db8::1", "2001:db8::2", 5080,
                                                          SIP, 5.5)


def test_hep3_skips_vendor_and_unknown_chunks():
    frame = encode_hep3(SIP, "10.0.0.1", 1, "10.0.0.2", 2, time=1.0)
    extra = (struct.pack(">HHH", 0x0002, 0x000F, 10) + b"evil"       # vendor "payload": skipped
             + struct.pack(">HHH", 0, 0x00FE, 9) + b"abc")          # unknown generic chunk
    body = frame[6:] + extra
    d = decode(b"HEP3" + struct.pack(">H", 6 + len(body)) + body)
    assert d.payload == SIP


def test_hep2_and_hep1():
    d2 = decode(encode_hep2(SIP, "10.1.1.1", 5060, "10.1.1.2", 5070, time=1600000000.25,
                            capture_id=9))
    assert (d2.src, d2.dst, d2.sport, d2.dport, d2.payload) == ("10.1.1.1", "10.1.1.2", 5060,
                                                                5070, SIP)
    assert d2.time == 1600000000.25 and d2.attrs == {"hep_version": 2, "capture_id": 9}
    d1 = decode(encode_hep2(SIP, "::1", 5060, "::2", 5060, time=0, version=1), received=42.0)
    assert (d1.src, d1.dst, d1.time, d1.attrs["hep_version"]) == ("::1", "::2", 42.0, 1)


def test_hep2_length_byte_is_not_trusted():
    # sngrep 1.6 stores the high byte of the total length in hp_l
    frame = bytearray(encode_hep2(SIP, "10.1.1.1", 5060, "10.1.1.2", 5070, time=1.0))
    frame[1] = 0x01
    assert decode(bytes(frame)).payload == SIP


def test_rejects_are_counted_by_reason_never_raised():
    dec = HepDecoder()
    good = encode_hep3(SIP, "10.0.0.1", 1, "10.0.0.2", 2, time=1.0)
    inputs = [b"", b"HEP3", good[:20], b"INVITE sip:x SIP/2.0\r\n\r\n", good[:4] + b"\x00\x02",
              encode_hep3(b"log line", "10.0.0.1", 1, "10.0.0.2", 2, time=1.0, proto_type=100),
              good[:-1] + good[-1:]]
    results = [dec.decode(x) for x in inputs]
    assert results[-1] is not None and all(r is None for r in results[:-1])
    assert dec.frames == len(inputs) and dec.decoded == 1
    assert sum(dec.errors.values()) == len(inputs) - 1
    assert dec.errors["hep: not SIP (protocol type 100)"] == 1
    assert dec.errors["hep: truncated frame"] == 1


def test_decompression_bomb_is_refused():
    bomb = gzip.compress(b"A" * (4 << 20))
    body = encode_hep3(b"x", "10.0.0.1", 1, "10.0.0.2", 2, time=1.0)[6:-7]
    body += struct.pack(">HHH", 0, 0x0010, 6 + len(bomb)) + bomb
    try:
        decode(b"HEP3" + struct.pack(">H", 6 + len(body)) + body)
    except HepError as e:
        assert e.reason == "hep: compressed payload too large"
    else:
        raise AssertionError("a 4 MiB inflated payload was accepted")


def test_split_stream_and_decapsulate_many_frames_in_one_segment():
    frames = [encode_hep3(SIP.replace(b"abc", str(i).encode()), "10.0.0.1", 1, "10.0.0.2", 2,
                          time=float(i)) for i in range(3)]
    stream = b"".join(frames)
    got, used = split_hep3(stream + frames[0][:10])
    assert got == frames and used == len(stream)
    outer = Datagram(9.0, "10.9.9.9", 40000, "10.9.9.1", 9060, "tcp", stream, origin="f#1")
    inner = decapsulate(outer)
    assert [d.time for d in inner] == [0.0, 1.0, 2.0]
    assert is_hep(stream) and not is_hep(SIP)
    dec = HepDecoder()
    junk = Datagram(9.0, "10.9.9.9", 40000, "10.9.9.1", 9060, "udp", b"HEP3\x00\x09xyz",
                    origin="cap.pcap#7")
    assert dec.decapsulate(junk) == []
    assert dec.rejects == [("cap.pcap#7", "hep: truncated chunk header")]


def test_hep_pcap_matches_sngrep_own_hep_decoding(tmp_path):
    """hep.pcap: 8 HEP3 frames, 6 of them SIP; sngrep -E unwraps the same 6, tshark reads them."""
    dec = HepDecoder()
    ours = []
    for p in rdpcap(str(HEP_PCAPS / "hep.pcap")):
        d = dec.decode(bytes(p[UDP].payload), float(p.time))
        if d is not None:
            ours.append(d)
    assert dec.frames == 8
    assert dict(dec.errors) == {"hep: not SIP (protocol type 100)": 1,
                                "hep: not SIP (protocol type 5)": 1}
    theirs = tshark_fields(sngrep_unwrap_hep(HEP_PCAPS / "hep.pcap", tmp_path / "inner.pcap"),
                           ["frame.time_epoch", "ip.src", "ip.dst", "sip.Method",
                            "sip.Status-Code", "sip.Call-ID"])
    assert len(theirs) == len(ours) == 6
    for d, (t, src, dst, method, status, call_id) in zip(ours, theirs, strict=True):
        assert abs(d.time - float(t)) < 1e-5
        assert (d.src, d.dst) == (src, dst)
        assert sip_first_line(d.payload) == (method or status)
        assert call_id.encode() in d.payload


def test_compressed_hep3_capture_inflates_to_sip_that_tshark_dissects(tmp_path):
    """hep3_compressed: SIP over TCP mirrored as gzip chunks (sngrep and tshark cannot inflate
    them); the inflated payloads, written as plain packets, are SIP to tshark, message by message."""
    dec = HepDecoder()
    ours = []
    for p in rdpcap(str(HEP_PCAPS / "hep3_compressed.pcap.pcapng")):
        ours.extend(dec.decapsulate(Datagram(float(p.time), "", 0, "", 0, "udp",
                                             bytes(p[UDP].payload))))
    assert dec.frames == 21 and not dec.errors
    assert {d.transport for d in ours} == {"tcp"} and {d.attrs["capture_id"] for d in ours} == {228}
    rows = tshark_fields(write_udp_pcap(ours, tmp_path / "inner.pcap"),
                         ["sip.Method", "sip.Status-Code", "sip.CSeq"])
    assert len(rows) == 21
    assert [r[0] or r[1] for r in rows] == [sip_first_line(d.payload) for d in ours]
    assert sorted({r[0] or r[1] for r in rows}) == ["200", "401", "REGISTER"]


_valid = st.builds(
    lambda payload, sport, t, comp, node: encode_hep3(payload, "10.0.0.1", sport, "10.0.0.2",
                                                      5060, time=t, compress=comp, node=node),
    st.binary(min_size=1, max_size=200), st.integers(0, 65535),
    st.floats(0, 4e9, allow_nan=False), st.booleans(), st.none() | st.text(max_size=10))


@settings(max_examples=300, deadline=None)
@given(frame=_valid, cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)),
                                   max_size=6))
def test_fuzz_mutated_frames_never_raise(frame, cuts):
    data = bytearray(frame)
    for pos, byte in cuts:
        if data:
            data[pos % len(data)] = byte
    dec = HepDecoder()
    d = dec.decode(bytes(data))
    assert dec.frames == 1 and dec.decoded + sum(dec.errors.values()) == 1
    if d is not None:
        assert isinstance(d.payload, bytes) and d.transport in ("udp", "tcp", "sctp")
    dec.decapsulate(Datagram(0.0, "", 0, "", 0, "tcp", bytes(data)))


@settings(max_examples=300, deadline=None)
@given(junk=st.binary(max_size=300) | st.binary(max_size=300).map(lambda b: b"HEP3" + b)
       | st.binary(max_size=300).map(lambda b: b"\x02\x10\x02\x11" + b))
def test_fuzz_junk_never_raises(junk):
    dec = HepDecoder()
    dec.decode(junk)
    assert dec.decoded + sum(dec.errors.values()) == 1
