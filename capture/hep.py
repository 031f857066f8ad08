"""HEP (Homer Encapsulation Protocol) v1, v2 and v3: mirrored signalling → :class:`Datagram`.

Carriers mirror SIP to collectors wrapped in HEP: the original addresses, ports and
capture time travel with the payload. This module unwraps one HEP frame into the
:class:`~capture.packets.Datagram` the SIP layer reads, so that mirrored traffic and
captured traffic go through the same pipeline.

HEPv3 (``HEP3`` + u16 total length, then chunks of vendor u16, type u16, length u16
including the 6-byte chunk header, value) is decoded chunk by chunk: generic chunks
(vendor 0) are read, unknown and vendor chunks skipped. HEPv1/v2 are the older fixed
headers (version, length, family, protocol, ports, addresses; v2 adds the capture time
and capture id). Junk never raises out of :class:`HepDecoder`: it is counted by reason.

>>> frame = encode_hep3(b"OPTIONS sip:a@b SIP/2.0\\r\\n\\r\\n", "10.0.0.1", 5060,
...                     "10.0.0.2", 5060, time=1737076323.25, capture_id=2001, node="sbc-1")
>>> dec = HepDecoder()
>>> d = dec.decode(frame)
>>> d.src, d.dport, d.time, d.attrs["capture_id"], d.attrs["node"], d.origin
('10.0.0.1', 5060, 1737076323.25, 2001, 'sbc-1', 'hep:sbc-1')
>>> dec.decode(b"HEP3\\x00", where="10.1.1.1:9060") is None, dict(dec.errors), dec.rejects
(True, {'hep: frame shorter than its header': 1}, [('10.1.1.1:9060', 'hep: frame shorter than its header')])

Checked against real captures and tools (``tests/test_hep_decode.py``)
-----------------------------------------------------------------------
Debian 12's tshark 4.0 has no HEP dissector (``-d udp.port==9060,hep`` is refused;
sipcapture's Lua plugin is not packaged), so the references are sngrep and tshark's
SIP dissector:

- ``hep-wireshark/hep.pcap``: 8 HEPv3 frames; 6 carry SIP (INVITE, 100, 407, OPTIONS,
  200, PUBLISH), exactly what ``sngrep -E`` unwraps (addresses, microsecond times and
  Call-IDs equal, read back with tshark); one is a log line (protocol type 100) and one
  an RTCP JSON report (type 5): counted as not SIP.
- ``hep-wireshark/hep3_compressed.pcap.pcapng``: 21 frames (7 messages mirrored three
  times), SIP over TCP in gzip chunks (0x0010), which sngrep 1.6 cannot inflate; the
  inflated payloads, written as plain packets, are 21 SIP messages to tshark (REGISTER,
  401, 200), message for message.
- sngrep ``-H`` as a sender (v3, and v2 via ``eep.send.version 2``): every SIP message of
  the shared captures arrives, equal to tshark's dissection of the file. sngrep showed
  two v2 details handled here: its length byte holds garbage (the high byte of the total
  length), and the time header is the padded 12-byte C struct, not 10 bytes.

References
----------
HEP3 specification, sipcapture/HEP (``docs/HEP3_Network_Protocol_Specification_REV_36``);
Kamailio ``sipcapture`` module and sngrep ``capture_eep.c`` for v1/v2 layouts.
"""

from __future__ import annotations

import socket
import struct
import zlib
from collections import Counter
from collections.abc import Iterator

from capture.packets import Datagram

HEP_PORT = 9060
HEP3_MAGIC = b"HEP3"

#: HEPv3 generic chunk types (vendor 0)
CHUNK_IP_FAMILY = 0x0001
CHUNK_IP_PROTO = 0x0002
CHUNK_SRC_IP4 = 0x0003
CHUNK_DST_IP4 = 0x0004
CHUNK_SRC_IP6 = 0x0005
CHUNK_DST_IP6 = 0x0006
CHUNK_SRC_PORT = 0x0007
CHUNK_DST_PORT = 0x0008
CHUNK_TIME_SEC = 0x0009
CHUNK_TIME_USEC = 0x000A
CHUNK_PROTO_TYPE = 0x000B
CHUNK_CAPTURE_ID = 0x000C
CHUNK_AUTH_KEY = 0x000E
CHUNK_PAYLOAD = 0x000F
CHUNK_PAYLOAD_GZIP = 0x0010
CHUNK_CORRELATION_ID = 0x0011
CHUNK_NODE_NAME = 0x0013

#: HEP protocol type of SIP; others (RTCP reports, logs, QoS JSON) are not signalling
PROTO_TYPE_SIP = 1

_AF_INET = 2
#: AF_INET6 is 10 on Linux, 24/28/30 on the BSDs and macOS: agents send their own
_AF_INET6 = (10, 24, 28, 30)
_TRANSPORTS = {17: "udp", 6: "tcp", 132: "sctp"}
_U16 = struct.Struct(">H")
_CHUNK = struct.Struct(">HHH")
_V12 = struct.Struct(">BBBBHH")
#: C struct {u32 sec; u32 usec; u16 captid} padded to 12 bytes, in the (little-endian)
#: host order of the agents that send v2 (Kamailio, sngrep)
_V2_TIME = struct.Struct("<IIHxx")
#: a gzip payload may not inflate beyond this (decompression bombs)
MAX_INFLATED = 1 << 20


class HepError(ValueError):
    """A frame that is not usable HEP; ``reason`` is the counter key."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_hep(payload: bytes) -> bool:
    """Whether a transport payload looks like a HEP frame (v3 magic or a v1/v2 header).

    SIP starts with an ASCII letter, so a first byte of 1 or 2 cannot be SIP.

    >>> is_hep(b"HEP3\\x00\\x10"), is_hep(b"INVITE sip:x SIP/2.0"), is_hep(b"\\x02\\x10\\x02\\x11")
    (True, False, True)
    """
    if payload[:4] == HEP3_MAGIC:
        return True
    return (len(payload) >= 4 and payload[0] in (1, 2)
            and (payload[2] == _AF_INET or payload[2] in _AF_INET6)
            and payload[3] in _TRANSPORTS)


def decode(frame: bytes, received: float = 0.0, origin: str = "") -> Datagram:
    """One HEP frame as a Datagram; raises :class:`HepError` with the reason if unusable.

    ``received`` is the time the frame arrived, used only when the frame carries no
    capture time (HEPv1).
    """
    if frame[:4] == HEP3_MAGIC:
        return _decode_v3(frame, received, origin)
    if frame[:1] in (b"\x01", b"\x02"):
        return _decode_v12(frame, received, origin)
    raise HepError("hep: not a HEP frame")


def _ip4(value: bytes, what: str) -> str:
    if len(value) != 4:
        raise HepError(f"hep: bad {what} IPv4 chunk length")
    return socket.inet_ntop(socket.AF_INET, value)


def _ip6(value: bytes, what: str) -> str:
    if len(value) != 16:
        raise HepError(f"hep: bad {what} IPv6 chunk length")
    return socket.inet_ntop(socket.AF_INET6, value)


def _uint(value: bytes, what: str) -> int:
    if len(value) in (1, 2, 4, 8):
        return int.from_bytes(value, "big")
    raise HepError(f"hep: bad {what} chunk length")


def _text(value: bytes) -> str:
    return value.rstrip(b"\x00").decode("utf-8", "replace")


def _decode_v3(frame: bytes, received: float, origin: str) -> Datagram:
    size = len(frame)
    if size < 6:
        raise HepError("hep: frame shorter than its header")
    total = (frame[4] << 8) | frame[5]
    if total < 6:
        raise HepError("hep: bad total length")
    if total > size:
        raise HepError("hep: truncated frame")
    # One pass collects the generic chunks' values; the fields are read afterwards (a
    # dict store per chunk is cheaper than a branch chain per chunk).
    chunks: dict[int, bytes] = {}
    pos = 6
    unpack = _CHUNK.unpack_from
    while pos < total:
        if pos + 6 > total:
            raise HepError("hep: truncated chunk header")
        vendor, ctype, length = unpack(frame, pos)
        if length < 6:
            raise HepError("hep: bad chunk length")
        end = pos + length
        if end > total:
            raise HepError("hep: chunk beyond frame end")
        if vendor == 0:
            chunks[ctype] = frame[pos + 6:end]
        # vendor chunks carry nothing the SIP layer uses
        pos = end
    get = chunks.get
    value = get(CHUNK_PROTO_TYPE)
    ptype = PROTO_TYPE_SIP if value is None else _uint(value, "protocol type")
    if ptype != PROTO_TYPE_SIP:
        raise HepError(f"hep: not SIP (protocol type {ptype})")
    payload = get(CHUNK_PAYLOAD)
    if payload is None:
        value = get(CHUNK_PAYLOAD_GZIP)
        if value is None:
            raise HepError("hep: no payload chunk")
        payload = _inflate(value)
    value = get(CHUNK_SRC_IP4)
    if value is not None:
        src = _ip4(value, "source")
        dst = _ip4(get(CHUNK_DST_IP4, b""), "destination")
    else:
        value = get(CHUNK_SRC_IP6)
        src = _ip6(value, "source") if value is not None else ""
        value = get(CHUNK_DST_IP6)
        dst = _ip6(value, "destination") if value is not None else ""
    value = get(CHUNK_SRC_PORT)
    sport = _uint(value, "source port") if value is not None else 0
    value = get(CHUNK_DST_PORT)
    dport = _uint(value, "destination port") if value is not None else 0
    value = get(CHUNK_IP_PROTO)
    proto = _uint(value, "protocol id") if value is not None else 17
    value = get(CHUNK_TIME_SEC)
    if value is None:
        time = received
    else:
        value2 = get(CHUNK_TIME_USEC)
        usec = _uint(value2, "time") if value2 is not None else 0
        if usec >= 1_000_000:
            raise HepError("hep: bad microseconds")
        time = _uint(value, "time") + usec / 1e6
    attrs: dict = {"hep_version": 3}
    value = get(CHUNK_CAPTURE_ID)
    if value is not None:
        attrs["capture_id"] = _uint(value, "capture id")
    value = get(CHUNK_NODE_NAME)
    if value is not None:
        attrs["node"] = _text(value)
    value = get(CHUNK_CORRELATION_ID)
    if value is not None:
        attrs["correlation_id"] = _text(value)
    if CHUNK_AUTH_KEY in chunks:
        # the key itself stays out of attrs: it is a secret, and attrs end up in evidence
        attrs["authenticated"] = True
    where = attrs.get("node") or attrs.get("capture_id")
    return Datagram(time, src, sport, dst, dport, _TRANSPORTS.get(proto, "udp"), payload,
                    origin or (f"hep:{where}" if where is not None else "hep"), attrs)


def _inflate(value: bytes) -> bytes:
    # wbits 47: gzip or zlib header, detected
    inflater = zlib.decompressobj(47)
    try:
        out = inflater.decompress(value, MAX_INFLATED)
    except zlib.error:
        raise HepError("hep: bad compressed payload") from None
    if inflater.unconsumed_tail:
        raise HepError("hep: compressed payload too large")
    return out


def _decode_v12(frame: bytes, received: float, origin: str) -> Datagram:
    # The length byte is unreliable in the wild (sngrep 1.6 writes the high byte of the
    # total length there), so the header size comes from the version and family.
    if len(frame) < 8:
        raise HepError("hep: frame shorter than its header")
    version, _length, family, proto, sport, dport = _V12.unpack_from(frame, 0)
    if family == _AF_INET:
        af, pos = socket.AF_INET, 16
    elif family in _AF_INET6:
        af, pos = socket.AF_INET6, 40
    else:
        raise HepError("hep: unknown address family")
    if len(frame) < pos:
        raise HepError("hep: frame shorter than its header")
    half = 8 + (pos - 8) // 2
    src = socket.inet_ntop(af, frame[8:half])
    dst = socket.inet_ntop(af, frame[half:pos])
    attrs: dict = {"hep_version": version}
    time = received
    if version == 2:
        if len(frame) < pos + _V2_TIME.size:
            raise HepError("hep: frame shorter than its header")
        sec, usec, capture_id = _V2_TIME.unpack_from(frame, pos)
        if usec >= 1_000_000:
            raise HepError("hep: bad microseconds")
        time = sec + usec / 1e6
        attrs["capture_id"] = capture_id
        pos += _V2_TIME.size
    payload = frame[pos:]
    if not payload:
        raise HepError("hep: no payload chunk")
    where = attrs.get("capture_id")
    return Datagram(time, src, sport, dst, dport, _TRANSPORTS.get(proto, "udp"), payload,
                    origin or (f"hep:{where}" if where is not None else "hep"), attrs)


def split_hep3(buffer: bytes | bytearray) -> tuple[list[bytes], int]:
    """Complete HEPv3 frames at the start of a stream buffer, and how many bytes they used.

    On TCP, HEPv3 frames follow each other; the total-length field delimits them.

    >>> a = encode_hep3(b"x", "1.2.3.4", 1, "1.2.3.5", 2, time=0.0)
    >>> frames, used = split_hep3(a + a + a[:5])
    >>> len(frames), used == 2 * len(a)
    (2, True)
    """
    frames: list[bytes] = []
    pos = 0
    n = len(buffer)
    while pos + 6 <= n and buffer[pos:pos + 4] == HEP3_MAGIC:
        total = _U16.unpack_from(buffer, pos + 4)[0]
        if total < 6:
            break
        if pos + total > n:
            break
        frames.append(bytes(buffer[pos:pos + total]))
        pos += total
    return frames, pos


class HepDecoder:
    """Decodes HEP frames, counting frames, bytes and rejects by reason; never raises.

    Non-SIP HEP payloads (RTCP reports, logs) are counted under their reason, like junk:
    nothing vanishes without a count.
    """

    def __init__(self) -> None:
        self.frames = 0
        self.bytes = 0
        self.decoded = 0
        self.errors: Counter = Counter()
        #: the first rejects: (where, reason), for reports
        self.rejects: list[tuple[str, str]] = []
        #: the reason of the latest reject
        self.last_reason = ""

    def decode(self, frame: bytes, received: float = 0.0, origin: str = "",
               where: object = None) -> Datagram | None:
        """One frame as a Datagram, or None (counted). ``where`` locates a rejected frame
        in reports (``file#frame``, the sender's address); ``origin`` by default."""
        self.frames += 1
        self.bytes += len(frame)
        try:
            d = decode(frame, received, origin)
        except HepError as e:
            self._reject(where if where is not None else origin, e.reason)
            return None
        except Exception as e:  # noqa: BLE001 - junk must be counted, never crash the collector
            self._reject(where if where is not None else origin,
                         f"hep: undecodable ({type(e).__name__})")
            return None
        self.decoded += 1
        return d

    def _reject(self, where: object, reason: str) -> None:
        self.errors[reason] += 1
        self.last_reason = reason
        if len(self.rejects) < 100:
            if isinstance(where, tuple):  # a socket address
                where = f"{where[0]}:{where[1]}"
            self.rejects.append((str(where), reason))

    def decapsulate(self, datagram: Datagram) -> list[Datagram]:
        """The SIP datagrams inside a captured datagram that carries HEP."""
        payload = datagram.payload
        where = datagram.origin
        if payload[:4] == HEP3_MAGIC:
            frames, used = split_hep3(payload)
            if used < len(payload):
                # a frame cut by a segment boundary, or junk after the frames
                if frames:
                    self._reject(where, "hep: trailing bytes after frames")
                else:
                    frames = [payload]
        else:
            frames = [payload]
        out = []
        for frame in frames:
            d = self.decode(frame, datagram.time, "", where)
            if d is not None:
                d.attrs["outer"] = where
                out.append(d)
        return out

    def stats(self) -> dict[str, int]:
        return {"frames": self.frames, "bytes": self.bytes, "decoded": self.decoded,
                "rejected": sum(self.errors.values())}


_DEFAULT = HepDecoder()


def decapsulate(datagram: Datagram, decoder: HepDecoder | None = None) -> list[Datagram]:
    """The SIP datagrams carried by a HEP datagram (on any port); junk is counted, not raised.

    >>> outer = Datagram(5.0, "10.9.9.9", 40000, "10.9.9.1", 9060, "udp",
    ...                  encode_hep3(b"BYE sip:x SIP/2.0\\r\\n\\r\\n", "1.1.1.1", 5060,
    ...                              "2.2.2.2", 5062, time=7.5), origin="cap.pcap#3")
    >>> [(d.src, d.dport, d.time, d.attrs["outer"]) for d in decapsulate(outer)]
    [('1.1.1.1', 5062, 7.5, 'cap.pcap#3')]
    """
    return (decoder or _DEFAULT).decapsulate(datagram)


def iter_decode(frames: Iterator[bytes], decoder: HepDecoder | None = None) -> Iterator[Datagram]:
    """Decode a stream of frames, skipping (and counting) the unusable ones."""
    decoder = decoder or HepDecoder()
    for frame in frames:
        d = decoder.decode(frame)
        if d is not None:
            yield d


# -- encoding: for tests, the simulator and forwarding ------------------------------------
def _chunk(ctype: int, value: bytes, vendor: int = 0) -> bytes:
    return _CHUNK.pack(vendor, ctype, 6 + len(value)) + value


def encode_hep3(payload: bytes, src: str, sport: int, dst: str, dport: int, time: float,
                transport: str = "udp", capture_id: int | None = None, node: str | None = None,
                correlation_id: str | None = None, auth_key: str | None = None,
                compress: bool = False, proto_type: int = PROTO_TYPE_SIP) -> bytes:
    """A HEPv3 frame, as an agent (Kamailio, heplify, sngrep) would send it."""
    v6 = ":" in src
    family = socket.AF_INET6 if v6 else socket.AF_INET
    sec = int(time)
    usec = int(round((time - sec) * 1e6))
    if usec >= 1_000_000:
        sec, usec = sec + 1, usec - 1_000_000
    proto = {v: k for k, v in _TRANSPORTS.items()}[transport]
    parts = [
        _chunk(CHUNK_IP_FAMILY, bytes([10 if v6 else _AF_INET])),
        _chunk(CHUNK_IP_PROTO, bytes([proto])),
        _chunk(CHUNK_SRC_IP6 if v6 else CHUNK_SRC_IP4, socket.inet_pton(family, src)),
        _chunk(CHUNK_DST_IP6 if v6 else CHUNK_DST_IP4, socket.inet_pton(family, dst)),
        _chunk(CHUNK_SRC_PORT, _U16.pack(sport)),
        _chunk(CHUNK_DST_PORT, _U16.pack(dport)),
        _chunk(CHUNK_TIME_SEC, struct.pack(">I", sec)),
        _chunk(CHUNK_TIME_USEC, struct.pack(">I", usec)),
        _chunk(CHUNK_PROTO_TYPE, bytes([proto_type])),
    ]
    if capture_id is not None:
        parts.append(_chunk(CHUNK_CAPTURE_ID, struct.pack(">I", capture_id)))
    if auth_key is not None:
        parts.append(_chunk(CHUNK_AUTH_KEY, auth_key.encode()))
    if correlation_id is not None:
        parts.append(_chunk(CHUNK_CORRELATION_ID, correlation_id.encode()))
    if node is not None:
        parts.append(_chunk(CHUNK_NODE_NAME, node.encode()))
    if compress:
        import gzip

        parts.append(_chunk(CHUNK_PAYLOAD_GZIP, gzip.compress(payload, mtime=0)))
    else:
        parts.append(_chunk(CHUNK_PAYLOAD, payload))
    body = b"".join(parts)
    return HEP3_MAGIC + _U16.pack(6 + len(body)) + body


def encode_hep2(payload: bytes, src: str, sport: int, dst: str, dport: int, time: float,
                capture_id: int = 0, version: int = 2, transport: str = "udp") -> bytes:
    """A HEPv1 (``version=1``, no time) or HEPv2 frame, Kamailio's layout."""
    v6 = ":" in src
    family = socket.AF_INET6 if v6 else socket.AF_INET
    addrs = socket.inet_pton(family, src) + socket.inet_pton(family, dst)
    proto = {v: k for k, v in _TRANSPORTS.items()}[transport]
    head = _V12.pack(version, 8 + len(addrs), 10 if v6 else _AF_INET, proto, sport, dport)
    frame = head + addrs
    if version == 2:
        sec = int(time)
        frame += _V2_TIME.pack(sec, int(round((time - sec) * 1e6)) % 1_000_000, capture_id)
    return frame + payload
