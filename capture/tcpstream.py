"""TCP stream reassembly and SIP message framing (RFC 3261 section 18.3).

Over TCP a segment may carry several SIP messages, and a message may span segments;
messages are delimited by the header block's end and ``Content-Length``. Streams are
keyed by their 4-tuple and bounded in number, in buffered bytes and in out-of-order
segments: hostile or lossy captures cost counted errors, never unbounded memory.

>>> from collections import Counter
>>> r = TcpReassembler(Counter())
>>> msg = b"OPTIONS sip:a@b SIP/2.0\\r\\nContent-Length: 4\\r\\n\\r\\nbody"
>>> r.feed("1.1.1.1", 5060, "2.2.2.2", 5060, 1000, 0x18, msg[:30], 1.0)
[]
>>> out = r.feed("1.1.1.1", 5060, "2.2.2.2", 5060, 1030, 0x18, msg[30:] + msg, 2.0)
>>> [m == msg for m in out]
[True, True]
"""

from __future__ import annotations

import re
from collections import Counter, OrderedDict

from capture.sip import looks_like_sip

FIN, SYN, RST = 0x01, 0x02, 0x04

#: streams followed at once (least recently active evicted beyond this)
MAX_STREAMS = 10000
#: bytes buffered per stream waiting for the rest of a message
MAX_BUFFER = 256 * 1024
#: out-of-order segments held per stream before declaring a gap
MAX_PENDING = 32

_CONTENT_LENGTH = re.compile(rb"(?:^|\n)(?:content-length|l)[ \t]*:[ \t]*(\d+)", re.IGNORECASE)


class _Stream:
    __slots__ = ("next_seq", "buffer", "pending")

    def __init__(self, next_seq: int) -> None:
        self.next_seq = next_seq
        self.buffer = bytearray()
        self.pending: dict[int, bytes] = {}


class TcpReassembler:
    """Per-direction TCP byte streams cut into SIP messages."""

    def __init__(self, errors: Counter, max_streams: int = MAX_STREAMS,
                 max_buffer: int = MAX_BUFFER) -> None:
        self.errors = errors
        self.max_streams = max_streams
        self.max_buffer = max_buffer
        self.streams: OrderedDict[tuple, _Stream] = OrderedDict()

    def feed(self, src: str, sport: int, dst: str, dport: int, seq: int, flags: int,
             payload: bytes, time: float) -> list[bytes]:
        """The complete SIP messages this segment finishes, in stream order."""
        key = (src, sport, dst, dport)
        streams = self.streams
        stream = streams.get(key)
        if flags & SYN:
            if stream is not None and stream.buffer:
                self.errors["tcp_incomplete_message"] += 1
            stream = _Stream((seq + 1) & 0xFFFFFFFF)
            self._put(key, stream)
            seq = (seq + 1) & 0xFFFFFFFF
        elif stream is None:
            if not payload:
                return []
            stream = _Stream(seq)  # joined mid-stream: take this segment as the start
            self._put(key, stream)
        else:
            streams.move_to_end(key)
        out: list[bytes] = []
        if payload:
            self._add(stream, seq, payload)
            out = self._frame(stream, final=False)
        if flags & (FIN | RST):
            out.extend(self._frame(stream, final=True))
            streams.pop(key, None)
        return out

    def flush(self) -> list[bytes]:
        """What is left in every stream (end of capture), as messages."""
        out = []
        for stream in self.streams.values():
            out.extend(self._frame(stream, final=True))
        self.streams.clear()
        return out

    # -- internals --------------------------------------------------------------------
    def _put(self, key: tuple, stream: _Stream) -> None:
        streams = self.streams
        streams[key] = stream
        streams.move_to_end(key)
        while len(streams) > self.max_streams:
            _, old = streams.popitem(last=False)
            self.errors["tcp_stream_evicted"] += 1
            if old.buffer:
                self.errors["tcp_incomplete_message"] += 1

    def _add(self, stream: _Stream, seq: int, payload: bytes) -> None:
        ahead = (seq - stream.next_seq) & 0xFFFFFFFF
        if ahead == 0:
            self._append(stream, payload)
        elif ahead >= 0x80000000:  # starts before what we have: retransmission or overlap
            behind = 0x100000000 - ahead
            if behind < len(payload):
                self._append(stream, payload[behind:])
            # else: a pure retransmission, already delivered
        else:
            stream.pending[seq] = payload
            if len(stream.pending) <= MAX_PENDING:
                return
            self._skip_gap(stream)
        self._drain(stream)

    def _drain(self, stream: _Stream) -> None:
        pending = stream.pending
        while pending:
            # deliver queued segments that now fit (or overlap) the stream's end
            for pseq in list(pending):
                ahead = (pseq - stream.next_seq) & 0xFFFFFFFF
                if ahead == 0 or ahead >= 0x80000000:
                    data = pending.pop(pseq)
                    behind = 0 if ahead == 0 else 0x100000000 - ahead
                    if behind < len(data):
                        self._append(stream, data[behind:])
                    break
            else:
                return

    def _skip_gap(self, stream: _Stream) -> None:
        """Give up on missing bytes: drop the partial message, resume at the next segment."""
        self.errors["tcp_gap"] += 1
        stream.buffer.clear()
        first = min(stream.pending, key=lambda s: (s - stream.next_seq) & 0xFFFFFFFF)
        stream.next_seq = first

    def _append(self, stream: _Stream, data: bytes) -> None:
        stream.next_seq = (stream.next_seq + len(data)) & 0xFFFFFFFF
        if len(stream.buffer) + len(data) > self.max_buffer:
            self.errors["tcp_buffer_overflow"] += 1
            stream.buffer.clear()
            return
        stream.buffer += data

    def _frame(self, stream: _Stream, final: bool) -> list[bytes]:
        buf = stream.buffer
        out: list[bytes] = []
        while buf:
            if buf[:1] in (b"\r", b"\n"):  # keep-alive CRLFs between messages
                stripped = buf.lstrip(b"\r\n")
                del buf[: len(buf) - len(stripped)]
                continue
            eol = buf.find(b"\n")
            if eol < 0 and not final:
                break  # the start line is not complete yet
            if not looks_like_sip(bytes(buf[:eol + 1] if eol >= 0 else buf)):
                # not SIP (HTTP on 5060, a stream joined mid-message, TLS...): resync
                # at the next start line if there is one in the buffer
                nxt = _next_start(buf)
                if nxt < 0:
                    buf.clear()
                    break
                self.errors["tcp_skipped_bytes"] += 1
                del buf[:nxt]
                continue
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if final:
                    self.errors["tcp_incomplete_message"] += 1
                    out.append(bytes(buf))
                    buf.clear()
                break
            head_end = end + 4
            m = _CONTENT_LENGTH.search(buf, 0, end + 2)
            if m is None:
                # no Content-Length: the message is what there is (counted; RFC 3261
                # makes the header mandatory over stream transports)
                self.errors["tcp_no_content_length"] += 1
                out.append(bytes(buf))
                buf.clear()
                break
            total = head_end + int(m.group(1))
            if total > len(buf):
                if total - head_end > self.max_buffer:
                    self.errors["tcp_oversized_message"] += 1
                    out.append(bytes(buf))
                    buf.clear()
                elif final:
                    self.errors["tcp_incomplete_message"] += 1
                    out.append(bytes(buf))
                    buf.clear()
                break
            out.append(bytes(buf[:total]))
            del buf[:total]
        return out


_NEXT_START = re.compile(rb"\r\n(?:SIP/2\.0 \d{3}|[A-Za-z]+ [^ \r\n]+ SIP/2\.0\r\n)")


def _next_start(buf: bytearray) -> int:
    m = _NEXT_START.search(buf)
    return m.start() + 2 if m else -1
