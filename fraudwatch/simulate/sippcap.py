"""SIP signalling of calls, registrations and scans, written as a classic pcap.

Packets are built from raw bytes with :mod:`struct` (Ethernet / IPv4 / UDP / SIP) for
speed: a million packets take seconds, not the minutes a packet library needs. Each
call becomes a dialog whose shape follows its disposition:

- ``ANSWERED``: INVITE, 100, 180, 200 (SDP), ACK, ... BYE, 200
- ``BUSY``: INVITE, 100, 486, ACK; ``NO ANSWER``: INVITE, 100, 180, 480, ACK;
  ``FAILED``: INVITE, 100, 503, ACK; ``CANCELLED``: INVITE, 100, 180, CANCEL, 200, 487, ACK

Registrations become REGISTER and the final response (``status``); scanner probes
become OPTIONS answered 404. Packets are written in time order (a heap holds the
dialogs in progress), so the file reads like a capture at the operator's SBC.

>>> import tempfile, subprocess
>>> from pathlib import Path
>>> from detector.records import Call, Registration
>>> path = Path(tempfile.mkdtemp()) / "x.pcap"
>>> stats = write_sip_pcap([Call(start=1793548800.0, caller="13812345678", callee="02161234567",
...                              duration=30, call_id="c1@x")],
...                        [Registration(time=1793548801.0, line="02161234567",
...                                      contact_ip="58.32.1.2", status=200, expires=3600)], path)
>>> stats.packets, stats.invites, stats.registers
(9, 1, 1)
"""

from __future__ import annotations

import csv
import heapq
import socket
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from detector.records import Call, Registration

SBC_IP = "10.20.0.10"          # the operator's session border controller / registrar
INTERNATIONAL_GW = "172.16.1.1"
DOMESTIC_GWS = ("172.16.2.1", "172.16.2.2", "172.16.2.3", "172.16.2.4")
ACCESS_NET = "10.40"           # P-CSCFs in front of mobile and business subscribers
SIP_PORT = 5060
SBC_AGENT = "fraudwatch-sim-sbc/1.0"
# Longest a simulated call lasts from INVITE to hang-up: talk (capped) plus ringing.
MAX_CALL_SPAN = 4 * 3600 + 120

_PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
_REC = struct.Struct("<IIII")
_ETH = bytes.fromhex("02000000000102000000000208 00".replace(" ", ""))
_IP_HEAD = struct.Struct("!BBHHHBBH")  # the IPv4 header up to the addresses
_UDP = struct.Struct("!HHHH")
_REASONS = {100: "Trying", 180: "Ringing", 200: "OK", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 407: "Proxy Authentication Required", 480: "Temporarily Unavailable",
            486: "Busy Here", 487: "Request Terminated", 500: "Server Internal Error",
            503: "Service Unavailable", 603: "Decline"}
FAILURE = {"BUSY": 486, "NO ANSWER": 480, "FAILED": 503}


@dataclass
class PcapStats:
    packets: int = 0
    invites: int = 0
    registers: int = 0
    options: int = 0
    bytes: int = 0


class _PcapFile:
    """Frames appended to a buffer and flushed in large writes.

    The IPv4 checksum is computed from the header's 16-bit words directly: the constant
    words are summed once, the addresses once per address pair.
    """

    _CONST = 0x4500 + 0x4000 + ((64 << 8) | 17)  # version/IHL/TOS, DF, TTL/UDP

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "wb")
        self._buf = bytearray(_PCAP_HEADER)
        self._pairs: dict[tuple[str, str], tuple[bytes, int]] = {}
        self._ip_id = 0
        self.packets = 0
        self.bytes = len(_PCAP_HEADER)

    def _pair(self, src: str, dst: str) -> tuple[bytes, int]:
        got = self._pairs.get((src, dst))
        if got is None:
            s, d = socket.inet_aton(src), socket.inet_aton(dst)
            words = sum(struct.unpack("!4H", s + d))
            got = self._pairs[(src, dst)] = (s + d, self._CONST + words)
        return got

    def write(self, t: float, src: str, sport: int, dst: str, dport: int, payload: bytes) -> None:
        addrs, partial = self._pair(src, dst)
        udp_len = 8 + len(payload)
        total = 20 + udp_len
        self._ip_id = ip_id = (self._ip_id + 1) & 0xFFFF
        csum = partial + total + ip_id
        csum = (csum & 0xFFFF) + (csum >> 16)
        csum = (csum & 0xFFFF) + (csum >> 16)
        frame_len = 14 + total
        sec = int(t)
        usec = int((t - sec) * 1e6 + 0.5)
        if usec >= 1_000_000:
            sec, usec = sec + 1, usec - 1_000_000
        buf = self._buf
        buf += _REC.pack(sec, usec, frame_len, frame_len)
        buf += _ETH
        buf += _IP_HEAD.pack(0x45, 0, total, ip_id, 0x4000, 64, 17, ~csum & 0xFFFF)
        buf += addrs
        buf += _UDP.pack(sport, dport, udp_len, 0)
        buf += payload
        self.packets += 1
        self.bytes += 16 + frame_len
        if len(buf) > 1 << 20:
            self._fh.write(buf)
            buf.clear()

    def close(self) -> None:
        self._fh.write(self._buf)
        self._buf.clear()
        self._fh.close()


def _sdp(ip: str, port: int, session: int) -> bytes:
    return (f"v=0\r\no=- {session} {session} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
            f"m=audio {port} RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n"
            f"a=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n"
            ).encode("ascii")


def _message(first_line: str, headers: list[str], body: bytes = b"",
             content_type: str = "application/sdp") -> bytes:
    if body:
        headers = headers + [f"Content-Type: {content_type}"]
    head = first_line + "\r\n" + "\r\n".join(headers) + f"\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("utf-8") + body


def _sip_user(number: str) -> str:
    # user part of a SIP URI: digits and '+' are safe; anything else is escaped
    if number.lstrip("+").isdigit() and number.isascii():
        return number
    return "".join(c if c.isascii() and (c.isalnum() or c in "+-_.!~*'()")
                   else "".join(f"%{b:02X}" for b in c.encode()) for c in number)


def caller_address(call: Call) -> str:
    """Where a call's signalling comes from: the device, or the operator's edge for it."""
    if call.src_ip:
        return call.src_ip
    h = zlib.crc32(call.caller.encode())
    if call.ingress == "international":
        return INTERNATIONAL_GW
    if call.ingress == "domestic":
        return DOMESTIC_GWS[h % len(DOMESTIC_GWS)]
    return f"{ACCESS_NET}.{(h >> 8) & 0xFF}.{max(1, h & 0xFF)}"


def _call_packets(call: Call, seq: int) -> list[tuple]:
    """(time, src, sport, dst, dport, payload) of one call's dialog."""
    src, dst = caller_address(call), SBC_IP
    h = zlib.crc32(call.call_id.encode() or str(seq).encode())
    caller, callee = _sip_user(call.caller), _sip_user(call.callee)
    call_id = call.call_id or f"{seq:x}@sim"
    sport = 5060 if call.src_ip else 5060 + (h & 0x3FF)
    branch = f"z9hG4bK{h:08x}{seq:x}"
    from_ = f"From: <sip:{caller}@{src}>;tag={h:08x}"
    to = f"To: <sip:{callee}@{dst}>"
    to_tagged = f"{to};tag={(h * 2654435761) & 0xFFFFFFFF:08x}"
    via = f"Via: SIP/2.0/UDP {src}:{sport};branch={branch}"
    cid = f"Call-ID: {call_id}"
    agent = [f"User-Agent: {call.user_agent}"] if call.user_agent else []
    t = call.start
    out = []

    def req(at, method, cseq, extra=(), body=b"", branch_via=via):
        line = f"{method} sip:{callee}@{dst} SIP/2.0"
        hdrs = [branch_via, "Max-Forwards: 70", from_, to_tagged if method in ("ACK", "BYE") else to, cid, f"CSeq: {cseq} {method}",
                f"Contact: <sip:{caller}@{src}:{sport}>", *agent]
        out.append((at, src, sport, dst, SIP_PORT, _message(line, hdrs, body)))

    def resp(at, code, cseq_method, cseq=1, tagged=True, body=b""):
        hdrs = [via, from_, to_tagged if tagged else to, cid, f"CSeq: {cseq} {cseq_method}",
                f"Server: {SBC_AGENT}"]
        if code == 200 and cseq_method == "INVITE":
            hdrs.append(f"Contact: <sip:{callee}@{dst}:{SIP_PORT}>")
        out.append((at, dst, SIP_PORT, src, sport,
                    _message(f"SIP/2.0 {code} {_REASONS[code]}", hdrs, body)))

    req(t, "INVITE", 1, body=_sdp(src, 10000 + 2 * (h % 10000), h))
    resp(t + 0.02, 100, "INVITE", tagged=False)
    disposition = call.disposition
    if disposition == "ANSWERED":
        ring = 1.0 + (h % 12)
        resp(t + 0.3, 180, "INVITE")
        answer = t + ring
        resp(answer, 200, "INVITE", body=_sdp(dst, 20000 + 2 * (h % 10000), h + 1))
        ack_via = f"Via: SIP/2.0/UDP {src}:{sport};branch={branch}a"
        req(answer + 0.05, "ACK", 1, "dialog", branch_via=ack_via)
        bye_at = answer + max(float(call.duration), 0.1)
        bye_via = f"Via: SIP/2.0/UDP {src}:{sport};branch={branch}b"
        req(bye_at, "BYE", 2, "dialog", branch_via=bye_via)
        hdrs = [bye_via, from_, to_tagged, cid, "CSeq: 2 BYE", f"Server: {SBC_AGENT}"]
        out.append((bye_at + 0.03, dst, SIP_PORT, src, sport, _message("SIP/2.0 200 OK", hdrs)))
    elif disposition == "CANCELLED":
        resp(t + 0.3, 180, "INVITE")
        cancel_at = t + 2.0 + (h % 15)
        req(cancel_at, "CANCEL", 1)
        resp(cancel_at + 0.02, 200, "CANCEL")
        resp(cancel_at + 0.04, 487, "INVITE")
        req(cancel_at + 0.06, "ACK", 1)
    else:
        code = FAILURE.get(disposition, 503)
        if code == 480:
            resp(t + 0.3, 180, "INVITE")
            end = t + 20.0 + (h % 40)
        else:
            end = t + 0.5 + (h % 3)
        resp(end, code, "INVITE")
        req(end + 0.02, "ACK", 1)
    return out


def _register_packets(reg: Registration, seq: int) -> list[tuple]:
    src, dst = reg.contact_ip, SBC_IP
    h = zlib.crc32(f"{reg.line}|{reg.time}|{seq}".encode())
    user = _sip_user(reg.line)
    via = f"Via: SIP/2.0/UDP {src}:{SIP_PORT};branch=z9hG4bK{h:08x}r{seq:x}"
    from_ = f"From: <sip:{user}@{dst}>;tag={h:08x}"
    to = f"To: <sip:{user}@{dst}>"
    cid = f"Call-ID: {h:08x}{seq:x}@{src}"
    agent = [f"User-Agent: {reg.user_agent}"] if reg.user_agent else []
    expires = reg.expires if reg.expires is not None else 3600
    request = _message(f"REGISTER sip:{dst} SIP/2.0",
                       [via, "Max-Forwards: 70", from_, to, cid, "CSeq: 1 REGISTER",
                        f"Contact: <sip:{user}@{src}:{SIP_PORT}>", f"Expires: {expires}", *agent])
    status = reg.status or 200
    hdrs = [via, from_, f"{to};tag={h ^ 0x5A5A5A5A:08x}", cid, "CSeq: 1 REGISTER",
            f"Server: {SBC_AGENT}"]
    if status == 200:
        hdrs.append(f"Contact: <sip:{user}@{src}:{SIP_PORT}>;expires={expires}")
    elif status == 401:
        hdrs.append(f'WWW-Authenticate: Digest realm="{dst}", nonce="{h:08x}{seq:x}", '
                    'algorithm=MD5, qop="auth"')
    reason = _REASONS.get(status, "Unknown")
    return [(reg.time, src, SIP_PORT, dst, SIP_PORT, request),
            (reg.time + 0.01, dst, SIP_PORT, src, SIP_PORT,
             _message(f"SIP/2.0 {status} {reason}", hdrs))]


def _options_packets(probe: tuple, seq: int) -> list[tuple]:
    t, src, ext, agent = probe
    dst = SBC_IP
    h = zlib.crc32(f"{src}|{ext}|{seq}".encode())
    user = _sip_user(ext)
    via = f"Via: SIP/2.0/UDP {src}:{SIP_PORT};branch=z9hG4bK{h:08x}o{seq:x}"
    from_ = f'From: "{agent}" <sip:100@{src}>;tag={h:08x}'
    to = f"To: <sip:{user}@{dst}>"
    cid = f"Call-ID: {h:08x}{seq:x}"
    request = _message(f"OPTIONS sip:{user}@{dst} SIP/2.0",
                       [via, "Max-Forwards: 70", from_, to, cid, "CSeq: 1 OPTIONS",
                        f"Contact: <sip:100@{src}:{SIP_PORT}>", "Accept: application/sdp",
                        f"User-Agent: {agent}"])
    response = _message("SIP/2.0 404 Not Found",
                        [via, from_, f"{to};tag={h ^ 0x33:08x}", cid, "CSeq: 1 OPTIONS",
                         f"Server: {SBC_AGENT}"])
    return [(float(t), src, SIP_PORT, dst, SIP_PORT, request),
            (float(t) + 0.01, dst, SIP_PORT, src, SIP_PORT, response)]


def write_sip_pcap(calls: Iterable[Call], registrations: Iterable[Registration],
                   path: str | Path, *, options: Iterable[tuple] = ()) -> PcapStats:
    """Write the SIP signalling of ``calls``, ``registrations`` and OPTIONS ``options``
    (``(time, source address, extension, User-Agent)``) to a pcap at ``path``.

    Inputs may come in any order (they are sorted in memory); packets are written in
    time order. For inputs too large for memory see :func:`write_simulation_pcap`.
    """
    starts: list[tuple[float, int, int, object]] = []
    for i, c in enumerate(calls):
        starts.append((c.start, 0, i, c))
    for i, r in enumerate(registrations):
        starts.append((r.time, 1, i, r))
    for i, o in enumerate(options):
        starts.append((float(o[0]), 2, i, o))
    starts.sort(key=lambda s: (s[0], s[1], s[2]))
    return _write_in_order(starts, Path(path))


def _write_in_order(starts: Iterable[tuple[float, int, int, object]], path: Path) -> PcapStats:
    """Dialogs given in start order -> packets in time order (a heap holds those under way)."""
    stats = PcapStats()
    out = _PcapFile(path)
    pending: list[tuple] = []
    n = 0
    try:
        for t0, what, i, item in starts:
            while pending and pending[0][0] <= t0:
                p = heapq.heappop(pending)
                out.write(p[0], *p[2:])
            if what == 0:
                packets = _call_packets(item, i)
                stats.invites += 1
            elif what == 1:
                packets = _register_packets(item, i)
                stats.registers += 1
            else:
                packets = _options_packets(item, i)
                stats.options += 1
            for p in packets:
                n += 1
                heapq.heappush(pending, (p[0], n, *p[1:]))
        while pending:
            p = heapq.heappop(pending)
            out.write(p[0], *p[2:])
    finally:
        out.close()
    stats.packets, stats.bytes = out.packets, out.bytes
    return stats


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def read_simulated_calls(path: Path) -> Iterator[Call]:
    """The calls of a simulated ``calls.csv`` (fast path for our own files), in file order."""
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        next(rows)
        for r in rows:
            yield Call(start=_epoch(r[0]), caller=r[1], callee=r[2], duration=float(r[3]),
                       disposition=r[4], ingress=r[5], caller_line=r[6], callee_line=r[7],
                       call_id=r[8], user_agent=r[9], src_ip=r[10])


def read_simulated_registrations(path: Path) -> Iterator[Registration]:
    with open(path, newline="", encoding="utf-8") as fh:
        rows = csv.reader(fh)
        next(rows)
        for r in rows:
            yield Registration(time=_epoch(r[0]), line=r[1], contact_ip=r[2], user_agent=r[3],
                               status=int(r[4]) if r[4] else None,
                               expires=int(r[5]) if r[5] else None)


def calls_by_start(calls_by_end: Iterable[Call], max_span: float = MAX_CALL_SPAN
                   ) -> Iterator[Call]:
    """Calls written in END order (as CDRs are) re-ordered by start with bounded memory.

    Once a call ending at E has been read, no later row can start before E - ``max_span``
    (the longest call plus ringing), so everything older is released.
    """
    held: list[tuple[float, int, Call]] = []
    watermark = float("-inf")
    for n, c in enumerate(calls_by_end):
        heapq.heappush(held, (c.start, n, c))
        watermark = max(watermark, c.start + c.duration - max_span)
        while held and held[0][0] <= watermark:
            yield heapq.heappop(held)[2]
    while held:
        yield heapq.heappop(held)[2]


def write_simulation_pcap(out: Path, options: Iterable[tuple] = ()) -> PcapStats:
    """``calls.pcap`` beside a simulation's ``calls.csv`` and ``registrations.csv``.

    Streams: calls are re-ordered by start within the longest call's span, registrations
    and probes are already in time order, so memory stays bounded at any scale.
    """
    path = Path(out) / "calls.pcap"
    calls = ((c.start, 0, i, c) for i, c in enumerate(
        calls_by_start(read_simulated_calls(Path(out) / "calls.csv"))))
    regs = ((r.time, 1, i, r) for i, r in enumerate(
        read_simulated_registrations(Path(out) / "registrations.csv")))
    probes = ((float(o[0]), 2, i, o) for i, o in enumerate(sorted(options)))
    return _write_in_order(heapq.merge(calls, regs, probes, key=lambda s: (s[0], s[1], s[2])),
                           path)
