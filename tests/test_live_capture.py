"""Live capture on loopback with real sipp calls: every call sipp made becomes a call record."""

from __future__ import annotations

import socket
import time

import pytest
from scapy.error import Scapy_Exception

from capture.hep import encode_hep3
from capture.live import LiveCapture
from capture.sipcapture import SipCapture
from detector.records import Call
from tests.services_sip import Sipp, free_port, sip_first_line

SIP = b"OPTIONS sip:x SIP/2.0\r\nCall-ID: q@h\r\nCSeq: 1 OPTIONS\r\n\r\n"


def wait_listening(port: int, kind: int = socket.SOCK_DGRAM, timeout: float = 5.0) -> None:
    """Wait until some process holds ``port`` (binding it ourselves then fails)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def wait_settled(count, quiet: float = 0.3, timeout: float = 10.0) -> None:
    """Wait (bounded) until ``count()`` stops changing."""
    deadline = time.monotonic() + timeout
    n, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        if count() != n:
            n, since = count(), time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)


class Pipeline:
    """Live datagrams → SipCapture → records (what ``fraudwatch serve`` does)."""

    def __init__(self) -> None:
        self.capture = SipCapture()
        self.datagrams = []
        self.records = []

    def feed(self, d) -> None:
        self.datagrams.append(d)
        self.records.extend(self.capture.feed_datagram(d))

    def finish(self) -> list:
        self.records.extend(self.capture.flush())
        return self.records


@pytest.fixture
def sipp(tmp_path):
    s = Sipp(tmp_path)
    yield s
    s.stop()


@pytest.mark.parametrize("transport,calls", [("udp", 12), ("tcp", 6)])
def test_every_call_sipp_made_becomes_a_call_record(sipp, transport, calls):
    uas_port, uac_port, other_port = free_port(), free_port(), free_port()
    flag = "u1" if transport == "udp" else "t1"
    pipe = Pipeline()
    bpf = f"{transport} port {uas_port} or {transport} port {uac_port}"
    with LiveCapture(pipe.feed, "lo", bpf) as live:
        sipp.uas(uas_port, transport=flag)
        wait_listening(uas_port, socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # outside the filter
            s.sendto(SIP, ("127.0.0.1", other_port))
        stats = sipp.uac(uas_port, uac_port, calls=calls, rate=50, transport=flag)
        wait_settled(lambda: live.frames)
    records = pipe.finish()
    assert stats["exit_code"] == "0", stats
    assert int(stats["SuccessfulCall(C)"]) == calls
    assert len(records) == calls
    assert all(isinstance(r, Call) and r.disposition == "ANSWERED" for r in records)
    assert len({r.call_id for r in records}) == calls
    assert {(r.caller, r.callee, r.origin) for r in records} == {("sipp", "service", "live:lo")}
    # event time is the capture time of the packets, not when the records were made
    starts = sorted(r.start for r in records)
    assert abs(starts[0] - time.time()) < 120 and starts[-1] - starts[0] < 30
    assert not live.errors and not pipe.capture.errors
    counts = pipe.capture.stats
    assert counts["method:INVITE"] == counts["method:BYE"] == counts["method:ACK"] == calls
    if transport == "udp":
        # each packet once: on loopback the kernel shows it going out and coming in
        firsts = [sip_first_line(d.payload) for d in pipe.datagrams]
        assert len(firsts) == 6 * calls and firsts.count("INVITE") == calls
        assert {d.dport for d in pipe.datagrams} == {uas_port, uac_port}


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
        wait_settled(lambda: len(seen))
    assert len(seen) == 3 and live.errors == {"sink error: ValueError": 1}


def test_hep_on_the_wire_is_unwrapped_by_the_sip_layer():
    port = free_port()
    pipe = Pipeline()
    frame = encode_hep3(SIP, "198.51.100.7", 5060, "198.51.100.8", 5062, time=1234.5)
    with LiveCapture(pipe.feed, "lo", f"udp port {port}") as live:
        time.sleep(0.2)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(frame, ("127.0.0.1", port))
            s.sendto(b"\x02junk that is not HEP", ("127.0.0.1", port))
        wait_settled(lambda: live.frames)
    pipe.finish()
    assert live.frames == 2
    assert dict(pipe.capture.stats) == {"method:OPTIONS": 1}


def test_bad_filter_or_interface_is_an_error_not_a_silent_capture_of_nothing():
    with pytest.raises(Scapy_Exception, match="not-a-port"):
        LiveCapture(lambda d: None, "lo", "udp port not-a-port").start()
    with pytest.raises(ValueError, match="no-such-if0"):
        LiveCapture(lambda d: None, "no-such-if0", "udp").start()
