"""Hostile input: mutated SIP messages and capture files never raise, never hang, and stay
within bounded memory (tracemalloc peak)."""

from __future__ import annotations

import time
import tracemalloc
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture.packets import Datagram
from capture.pcapfile import read_packets
from capture.pcapindex import warm_up
from capture.sip import SipParseError, parse_message
from capture.sipcapture import SipCapture, read_capture
from tests.capture_support import PCAPS, SIPMSG

MESSAGES = [p.read_bytes() for p in sorted(SIPMSG.glob("*.dat"))]
SMALL_PCAPS = sorted(p for p in PCAPS.rglob("*") if p.is_file() and p.stat().st_size < 70_000)
PCAP_BYTES = [p.read_bytes() for p in SMALL_PCAPS]
PROPS = ("call_id", "cseq_method", "cseq_num", "from_uri", "from_user", "from_tag", "to_user",
         "to_tag", "pai_user", "identity_present", "user_agent", "contact_uri", "expires",
         "sdp_connection", "sdp_media_ports", "request_user", "label", "content_length")
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def mutated(draw, corpus):
    data = bytearray(draw(st.sampled_from(corpus)))
    for _ in range(draw(st.integers(0, 8))):
        if not data:
            break
        kind = draw(st.sampled_from(["flip", "cut", "insert", "digits", "dup"]))
        i = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "cut":
            del data[i:]
        elif kind == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "digits":   # oversized lengths and numbers
            data[i:i] = b"99999999999"
        else:
            j = draw(st.integers(i, min(len(data), i + 64)))
            data[i:i] = data[i:j] * draw(st.integers(1, 20))
    return bytes(data)


@FUZZ
@given(mutated(MESSAGES))
def test_mutated_sip_messages_parse_or_are_rejected(data):
    try:
        msg = parse_message(data)
    except SipParseError as e:
        assert e.reason
        return
    for prop in PROPS:
        getattr(msg, prop)


@FUZZ
@given(mutated(MESSAGES), st.sampled_from(["udp", "tcp"]))
def test_mutated_messages_through_sip_capture(data, transport):
    cap = SipCapture()
    attrs = {"seq": 1, "flags": 0x18} if transport == "tcp" else {}
    cap.feed_datagram(Datagram(1.0, "192.0.2.1", 5060, "192.0.2.2", 5060, transport, data,
                               attrs=attrs))
    cap.flush()
    assert sum(cap.stats.values()) <= 1 + data.count(b"SIP/2.0")


@FUZZ
@given(mutated(PCAP_BYTES))
def test_mutated_capture_files_never_raise_or_hang(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "m.pcap"
    path.write_bytes(data)
    errors = Counter()
    warm_up()  # numba compiles on a machine's first use: seconds not to count here
    started = time.monotonic()
    n = sum(1 for _ in read_packets(path, errors))
    result = read_capture(path)
    records = list(result)
    assert time.monotonic() - started < 10
    assert n >= 0 and len(records) <= sum(result.stats.values())


def test_hostile_stream_memory_is_bounded():
    """A flood of half-open dialogs, fragments, TCP streams and garbage stays bounded."""
    from tests.capture_support import ipv4, udp

    cap = SipCapture(max_dialogs=1000)
    cap.tcp.max_streams = 2000
    tracemalloc.start()
    try:
        for i in range(8_000):
            invite = (f"INVITE sip:{i}@b SIP/2.0\r\nCall-ID: flood{i}\r\nCSeq: 1 INVITE\r\n"
                      f"From: <sip:x@a>;tag={i}\r\nTo: <sip:{i}@b>\r\n\r\n").encode()
            cap.feed_datagram(Datagram(i * 0.001, "192.0.2.1", 5060, "192.0.2.2", 5060,
                                       "udp", invite))
            # never-finished TCP messages on ever new streams
            cap.feed_datagram(Datagram(i * 0.001, "192.0.2.9", i, "192.0.2.2", 5060,
                                       "tcp", b"INVITE sip:x SIP/2.0\r\nContent-Length: 50000"
                                       b"\r\n\r\n" + b"a" * 200,
                                       attrs={"seq": 7, "flags": 0x18}))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(cap.tracker.calls) <= 1000
    assert len(cap.tcp.streams) <= cap.tcp.max_streams
    assert peak < 32 * 1024 * 1024
    assert cap.tracker.counts["dialog_evicted"] == 7_000
    # and fragments: never-completed first fragments
    from capture.pcapfile import LINKTYPE_RAW, MAX_FRAGMENT_BUFFERS, PacketDecoder
    dec = PacketDecoder(Counter())
    for i in range(MAX_FRAGMENT_BUFFERS * 3):
        frag = ipv4("192.0.2.1", "192.0.2.2", 17, udp(1, 2, b"z" * 1000)[:1000],
                    ident=i % 65535, flags_offset=0x2000)
        dec.decode(LINKTYPE_RAW, frag, 1.0, "")
    assert len(dec.fragments.buffers) <= MAX_FRAGMENT_BUFFERS
