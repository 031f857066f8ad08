"""Live capture on loopback with real sipp calls, and the frame decoder on odd frames."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.hep import encode_hep3
from capture.live import FrameDecoder, LiveCapture, _ipv4_udp
from tests.services_sip import Sipp, free_port, sip_first_line

ETHER_IP4 = bytes(12) + b"\x08\x00"
SIP = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: q@h\r\n\r\n"


def wait_bound(port: int, timeout: float = 5.0) -> None:
    """Wait until some process listens on UDP ``port`` (binding it ourselves then fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on udp {port}")


def wait_settled(items: list, quiet: float = 0.3, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    n, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if len(items) != n:
            n, since = len(items), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


def call_id(payload: bytes) -> str:
    for line in payload.split(b"\r\n"):
        if line.lower().startswith(b"call-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return ""


@pytest.fixture
def sipp(tmp_path):
    s = Sipp(tmp_path)
    yield s
    s.stop()


def test_live_capture_sees_every_call_sipp_made(sipp):
    uas_port, uac_port, other_port = free_port(), free_port(), free_port()
    calls = 12
    got = []
    with LiveCapture(got.append, "lo", f"udp port {uas_port} or udp port {uac_port}") as live:
        sipp.uas(uas_port)
        wait_bound(uas_port)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # outside the filter
            s.sendto(SIP, ("127.0.0.1", other_port))
        stats = sipp.uac(uas_port, uac_port, calls=calls, rate=50)
        wait_settled(got)
    assert stats["exit_code"] == "0", stats
    assert int(stats["SuccessfulCall(C)"]) == calls
    dialogs: dict[str, list[str]] = {}
    for d in got:
        dialogs.setdefault(call_id(d.payload), []).append(sip_first_line(d.payload))
    # each packet once (loopback shows it going out and coming in), each call complete
    assert len(dialogs) == calls
    assert all(msgs == ["INVITE", "180", "200", "ACK", "BYE", "200"]
               for msgs in dialogs.values()), dialogs
    assert {d.dport for d in got} == {uas_port, uac_port}
    assert all(d.origin == "live:lo" and d.transport == "udp" for d in got)
    assert live.frames == len(got) and not live.errors
    # event time is the capture time of each packet, in order
    times = [d.time for d in got]
    assert times == sorted(times) and abs(times[0] - time.time()) < 60


def test_sink_failures_are_counted_and_capture_goes_on():
    port = free_port()
    seen = []

    def picky(d):
        seen.append(d)
        if len(seen) == 1:
            raise ValueError("first one is bad")

    with LiveCapture(picky, "lo", f"udp port {port}") as live:
        time.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(3):
                s.sendto(SIP, ("127.0.0.1", port))
        wait_settled(seen)
    assert len(seen) == 3 and live.errors == {"sink error: ValueError": 1}


def test_hep_on_the_wire_is_unwrapped():
    port = free_port()
    got = []
    frame = encode_hep3(SIP, "198.51.100.7", 5060, "198.51.100.8", 5062, time=1234.5)
    with LiveCapture(got.append, "lo", f"udp port {port}"):
        time.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(frame, ("127.0.0.1", port))
        wait_settled(got)
    assert [(d.src, d.dport, d.time, d.payload) for d in got] == \
           [("198.51.100.7", 5062, 1234.5, SIP)]


def test_decoder_vlan_ipv6_tcp_and_fragments():
    dec = FrameDecoder()
    vlan = bytes(12) + b"\x81\x00\x00\x64\x08\x00" + _ipv4_udp(SIP)
    assert dec.decode(vlan, 1.0).payload == SIP
    udp = struct.pack(">HHHH", 5060, 5070, 8 + len(SIP), 0) + SIP
    ip6 = (struct.pack(">IHBB", 6 << 28, len(udp), 17, 64) + socket.inet_pton(socket.AF_INET6,
           "2001:db8::1") + socket.inet_pton(socket.AF_INET6, "2001:db8::2"))
    d6 = dec.decode(bytes(12) + b"\x86\xdd" + ip6 + udp, 2.0)
    assert (d6.src, d6.dst, d6.dport, d6.payload) == ("2001:db8::1", "2001:db8::2", 5070, SIP)
    tcp = struct.pack(">HHIIBBHHH", 5060, 40000, 1, 0, 5 << 4, 0x18, 1000, 0, 0) + SIP
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0,
                     socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
    dt = dec.decode(ETHER_IP4 + ip + tcp, 3.0)
    assert (dt.transport, dt.sport, dt.payload) == ("tcp", 5060, SIP)
    frag = bytearray(ETHER_IP4 + _ipv4_udp(SIP))
    frag[14 + 6] = 0x20  # more fragments
    assert dec.decode(bytes(frag), 4.0) is None
    assert dec.decode(ETHER_IP4 + _ipv4_udp(SIP)[:30], 5.0) is None
    assert dec.errors == {"ip fragment (not reassembled)": 1, "truncated or malformed frame": 1}
    assert dec.frames == 5


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["ether", "sll", "ip"]))
def test_decoder_never_raises_on_junk(junk, link):
    dec = FrameDecoder(link=link)
    dec.datagrams(junk, 0.0)
    dec.datagrams(ETHER_IP4 + junk, 0.0)
    assert dec.frames == 2
