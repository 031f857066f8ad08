"""The HEP collector against real senders: sngrep replaying shared captures as HEP, and the
hep-wireshark captures' frames sent over UDP and TCP."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from scapy.layers.inet import UDP
from scapy.utils import rdpcap

from capture.hep import HepDecoder, encode_hep3
from capture.hepcollector import HepCollector
from capture.sipcapture import SipCapture, read_capture
from tests.services_sip import HEP_PCAPS, PCAPS, sip_first_line, sngrep_send_hep, tshark_fields

# message by message against tshark (the record tests below compare with read_capture)
SIP_PCAPS = ["sngrep/ipv6frag.pcap", "nDPI/FAX-Call-t38-CA-TDM-SIP-FB-1.pcap"]


def tshark_sip(path):
    """(time, first line) of every SIP message tshark finds in a capture."""
    rows = tshark_fields(path, ["frame.time_epoch", "sip.Method", "sip.Status-Code"])
    return [(float(t), m or s) for t, m, s in rows]


@pytest.mark.parametrize("name", SIP_PCAPS)
def test_sngrep_hep3_replay_delivers_every_sip_message_tshark_sees(name):
    got = []
    with HepCollector(got.append, port=0) as c:
        sngrep_send_hep(PCAPS / name, c.udp_port)
        c.wait_quiet(quiet=0.3, timeout=20)
    expected = tshark_sip(PCAPS / name)
    assert len(expected) > 0
    assert [sip_first_line(d.payload) for d in got] == [m for _, m in expected]
    # the capture time of each message survives the trip (HEP3 carries microseconds); for a
    # message in IPv6 fragments sngrep stamps the first fragment, tshark the last (~25 us later)
    assert all(abs(d.time - t) < 1e-3 for d, (t, _) in zip(got, expected, strict=True))
    assert c.stats.frames["udp"] == c.stats.delivered == len(expected)
    assert not c.stats.errors


def test_sngrep_hep2_replay(tmp_path):
    name = "sipnab/register-invite-reinvite-bye.pcap"
    got = []
    with HepCollector(got.append, port=0) as c:
        sngrep_send_hep(PCAPS / name, c.udp_port, version=2, capture_id=4242, workdir=tmp_path)
        c.wait_quiet(quiet=0.3, timeout=20)
    expected = tshark_sip(PCAPS / name)
    assert [sip_first_line(d.payload) for d in got] == [m for _, m in expected]
    assert {d.attrs["hep_version"] for d in got} == {2}
    assert {d.attrs["capture_id"] for d in got} == {4242}
    assert all(abs(d.time - t) < 1e-5 for d, (t, _) in zip(got, expected, strict=True))


RECORD_PCAPS = ["sipnab/register-invite-reinvite-bye.pcap", "sipnab/sip-over-tcp.pcap",
                "suricata-verify/aaa_sip-method.pcap", "sipnab/b2bua-asterisk.pcapng"]


class CollectorPipeline:
    """Collector → SipCapture → records, as ``fraudwatch serve`` runs it."""

    def __init__(self) -> None:
        self.capture = SipCapture()
        self.records = []

    def feed(self, d) -> None:
        self.records.extend(self.capture.feed_datagram(d))

    def finish(self) -> list:
        self.records.extend(self.capture.flush())
        return self.records


def record_facts(records):
    """Records as comparable facts, in a stable order; times kept apart (compared within
    1 ms: sngrep stamps a fragmented message with its first fragment, the reader its last)."""
    def facts(r):
        d = {k: getattr(r, k) for k in r.__slots__ if k not in ("origin", "attrs")}
        return r.record_kind, sorted((k, str(v)) for k, v in d.items()
                                     if k not in ("start", "time", "duration"))
    rows = sorted(records, key=lambda r: (facts(r), r.time))
    return [facts(r) for r in rows], [r.time for r in rows]


@pytest.mark.parametrize("name", RECORD_PCAPS)
def test_sngrep_replay_gives_the_records_of_reading_the_file(name):
    direct = read_capture(PCAPS / name)
    expected = list(direct)
    assert expected
    pipe = CollectorPipeline()
    with HepCollector(pipe.feed, port=0) as c:
        sngrep_send_hep(PCAPS / name, c.udp_port)
        c.wait_quiet(quiet=0.3, timeout=20)
    got = pipe.finish()
    assert pipe.capture.stats == direct.stats  # SIP messages by method and status
    (facts_got, t_got), (facts_exp, t_exp) = record_facts(got), record_facts(expected)
    assert facts_got == facts_exp
    assert all(abs(a - b) < 1e-3 for a, b in zip(t_got, t_exp, strict=True))
    assert not pipe.capture.errors and not c.stats.errors


def _hep_frames(name):
    return [bytes(p[UDP].payload) for p in rdpcap(str(HEP_PCAPS / name))]


def _direct(frames):
    dec = HepDecoder()
    out = [d for f in frames if (d := dec.decode(f)) is not None]
    return out, dec.errors


@pytest.mark.parametrize("name", ["hep.pcap", "hep3_compressed.pcap.pcapng"])
def test_hep_wireshark_frames_over_udp_and_tcp_equal_direct_decoding(name):
    frames = _hep_frames(name)
    expected, expected_errors = _direct(frames)
    got = []
    with HepCollector(got.append, port=0) as c:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for f in frames:
                s.sendto(f, ("127.0.0.1", c.udp_port))
        assert c.wait_for(len(frames), timeout=10)
        # TCP: the same frames as one stream, cut at odd places, so frames span segments
        stream = b"".join(frames)
        with socket.create_connection(("127.0.0.1", c.tcp_port), timeout=5) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for i in range(0, len(stream), 333):
                s.sendall(stream[i:i + 333])
                time.sleep(0.001)
        assert c.wait_for(2 * len(frames), timeout=10)
    udp, tcp = got[:len(expected)], got[len(expected):]
    for batch in (udp, tcp):
        assert [(d.time, d.src, d.dst, d.payload) for d in batch] == \
               [(d.time, d.src, d.dst, d.payload) for d in expected]
    assert c.stats.frames == {"udp": len(frames), "tcp": len(frames)}
    assert c.stats.errors == expected_errors + expected_errors
    assert c.stats.connections == 1
    # each reject is reported with where it came from: the sending agent
    rejects = c.decoders["udp"].rejects + c.decoders["tcp"].rejects
    assert len(rejects) == 2 * sum(expected_errors.values())
    assert all(where.startswith("127.0.0.1:") for where, _ in rejects)


@pytest.mark.parametrize("name", ["hep.pcap", "hep3_compressed.pcap.pcapng"])
def test_hep_frames_through_the_collector_equal_replaying_the_hep_capture(name):
    """The SIP layer unwraps HEP found in a capture file (any port): sending the same frames
    to the collector gives the same SIP messages and records."""
    direct = read_capture(HEP_PCAPS / name)
    expected = list(direct)
    pipe = CollectorPipeline()
    frames = _hep_frames(name)
    with HepCollector(pipe.feed, port=0) as c:
        with socket.create_connection(("127.0.0.1", c.tcp_port), timeout=5) as s:
            s.sendall(b"".join(frames))
        assert c.wait_for(len(frames), timeout=10)
    got = pipe.finish()
    assert sum(direct.stats.values()) > 0
    assert pipe.capture.stats == direct.stats
    assert record_facts(got) == record_facts(expected)


def test_tcp_junk_and_truncation_are_counted_and_the_collector_keeps_serving():
    good = encode_hep3(b"OPTIONS sip:a SIP/2.0\r\n\r\n", "10.0.0.1", 5060, "10.0.0.2", 5060,
                       time=3.0)
    got = []
    with HepCollector(got.append, port=0) as c:
        with socket.create_connection(("127.0.0.1", c.tcp_port), timeout=5) as s:
            s.sendall(b"GET / HTTP/1.1\r\n\r\n")
            assert s.recv(10) == b""  # closed by the collector
        with socket.create_connection(("127.0.0.1", c.tcp_port), timeout=5) as s:
            s.sendall(good + good[:15])
        with socket.create_connection(("127.0.0.1", c.tcp_port), timeout=5) as s:
            s.sendall(good)
        assert c.wait_for(3, timeout=10)
        deadline = time.monotonic() + 5
        while sum(c.stats.errors.values()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(got) == 2
    assert c.stats.errors == {"tcp: stream is not HEP3, connection closed": 1,
                              "tcp: truncated frame at connection end": 1}


def test_full_queue_drops_are_counted_not_hidden():
    release = threading.Event()
    got = []

    def slow_sink(d):
        release.wait(10)
        got.append(d)

    frame = encode_hep3(b"OPTIONS sip:a SIP/2.0\r\n\r\n", "10.0.0.1", 5060, "10.0.0.2", 5060,
                        time=1.0)
    with HepCollector(slow_sink, port=0, queue_size=2) as c:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for _ in range(20):
                s.sendto(frame, ("127.0.0.1", c.udp_port))
                time.sleep(0.01)  # one frame per batch: the queue holds 2 batches
        deadline = time.monotonic() + 5
        while c.stats.frames["udp"] < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        assert c.wait_for(20, timeout=10)
    assert c.stats.errors["queue full"] > 0
    assert len(got) + c.stats.errors["queue full"] == 20


def test_sink_errors_are_counted_and_stop_releases_the_ports():
    def bad_sink(d):
        raise RuntimeError("boom")

    c = HepCollector(bad_sink, port=0).start()
    frame = encode_hep3(b"BYE sip:a SIP/2.0\r\n\r\n", "10.0.0.1", 5060, "10.0.0.2", 5060,
                        time=1.0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(frame, ("127.0.0.1", c.udp_port))
    assert c.wait_for(1, timeout=5)
    c.stop()
    assert c.stats.errors == {"sink error: RuntimeError": 1}
    assert not c.running and not c._sink_thread.is_alive()
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as s:
            s.bind(("127.0.0.1", c.udp_port if kind == socket.SOCK_DGRAM else c.tcp_port))
