"""TCP reassembly and SIP framing by Content-Length, checked against tshark on the same
segments."""

from __future__ import annotations

from collections import Counter

from capture.packets import Datagram
from capture.sipcapture import SipCapture, read_capture
from capture.tcpstream import MAX_PENDING, TcpReassembler
from tests.capture_support import ethernet, ipv4, tcp, tshark_sip_counts, write_pcap


def sip(method: str, n: int, body: bytes = b"") -> bytes:
    return (f"{method} sip:u@192.0.2.2 SIP/2.0\r\nVia: SIP/2.0/TCP 192.0.2.1\r\n"
            f"Call-ID: tcp{n}\r\nCSeq: {n} {method}\r\nFrom: <sip:1@a>;tag=1\r\n"
            f"To: <sip:2@b>\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body


def stream_pcap(path, chunks: list[bytes], order: list[int] | None = None):
    """One client->server TCP stream (SYN, then ``chunks`` as segments, then FIN)."""
    isn = 1000
    segs = [(0.0, tcp(40000, 5060, isn, b"", flags=0x02))]
    seq = isn + 1
    data = []
    for i, c in enumerate(chunks):
        data.append((1.0 + i, tcp(40000, 5060, seq, c)))
        seq += len(c)
    if order:
        data = [data[i] for i in order]
    segs += data + [(99.0, tcp(40000, 5060, seq, b"", flags=0x11))]
    frames = [(t, ethernet(0x0800, ipv4("192.0.2.1", "192.0.2.2", 6, s))) for t, s in segs]
    return write_pcap(path, 1, frames)


def test_several_messages_per_segment_and_one_across_segments(tmp_path):
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\n"
    stream = sip("INVITE", 1, body) + sip("OPTIONS", 2) + sip("INFO", 3, b"Signal=5\r\n")
    cut1, cut2 = 40, len(sip("INVITE", 1, body)) + 10
    path = stream_pcap(tmp_path / "s.pcap", [stream[:cut1], stream[cut1:cut2], stream[cut2:]])
    result = read_capture(path)
    list(result)
    assert result.stats == Counter({"method:INVITE": 1, "method:OPTIONS": 1, "method:INFO": 1})
    assert result.stats == tshark_sip_counts(path)
    assert not result.errors


def test_out_of_order_and_retransmitted_segments(tmp_path):
    stream = sip("REGISTER", 1) + sip("REGISTER", 2)
    chunks = [stream[i:i + 50] for i in range(0, len(stream), 50)]
    order = [0, 2, 1, 1, 3] + list(range(4, len(chunks)))   # swap, then a retransmission
    path = stream_pcap(tmp_path / "o.pcap", chunks, order)
    result = read_capture(path)
    records = list(result)
    # tshark only reassembles out-of-order segments when asked to
    assert result.stats == Counter({"method:REGISTER": 2}) == tshark_sip_counts(
        path, extra=("-o", "tcp.reassemble_out_of_order:TRUE"))
    assert len(records) == 2 and not result.errors


def test_missing_content_length_ends_at_available_data_and_is_counted():
    errors = Counter()
    r = TcpReassembler(errors)
    msg = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"
    assert r.feed("a", 1, "b", 2, 10, 0x18, msg, 1.0) == [msg]
    assert errors == Counter({"tcp_no_content_length": 1})


def test_gap_is_counted_and_stream_resumes():
    errors = Counter()
    r = TcpReassembler(errors)
    first = sip("OPTIONS", 1)
    out = r.feed("a", 1, "b", 2, 0, 0x18, first[:30], 1.0)
    # the rest of the first message is lost; later messages arrive beyond the gap
    seq = 5000
    for i in range(MAX_PENDING + 1):
        m = sip("OPTIONS", 10 + i)
        out += r.feed("a", 1, "b", 2, seq, 0x18, m, 2.0 + i)
        seq += len(m)
    assert errors["tcp_gap"] == 1
    assert out and all(m.startswith(b"OPTIONS") for m in out)
    assert len(out) == MAX_PENDING + 1


def test_http_on_a_sip_port_is_not_sip():
    cap = SipCapture()
    http = b"GET /index.html HTTP/1.1\r\nHost: 192.0.2.2:5060\r\n\r\n"
    d = Datagram(1.0, "192.0.2.1", 40000, "192.0.2.2", 5060, "tcp", http,
                 attrs={"seq": 1, "flags": 0x18})
    assert cap.feed_datagram(d) == [] and not cap.stats


def test_streams_are_bounded():
    errors = Counter()
    r = TcpReassembler(errors, max_streams=10)
    for port in range(100):
        r.feed("a", port, "b", 5060, 1, 0x18, b"INVITE sip:x SIP/2.0\r\n", 1.0)
    assert len(r.streams) == 10
    assert errors["tcp_stream_evicted"] == 90


def test_oversized_buffer_is_dropped_and_counted():
    errors = Counter()
    r = TcpReassembler(errors, max_buffer=1000)
    head = b"INVITE sip:x SIP/2.0\r\nContent-Length: 999999\r\n\r\n"
    out = r.feed("a", 1, "b", 2, 0, 0x18, head, 1.0)
    assert errors["tcp_oversized_message"] == 1 and out == [head]
