"""Packet capture files (pcap, pcapng, NetMon 2) to transport payloads (:class:`Datagram`).

Direct ``struct`` parsing over a memory map: scapy or pyshark dissection is one to three
orders of magnitude too slow for replaying a day of signalling.

Supported: classic pcap (both byte orders, micro- and nanosecond timestamps, the
Kuznetzov variant), pcapng (several sections and interfaces, each with its link type,
timestamp resolution and offset; enhanced, simple and obsolete packet blocks) and
Microsoft Network Monitor 2.x files. Link layers: Ethernet with 802.1Q/QinQ tags and
PPPoE sessions, Linux cooked v1/v2, raw IPv4/IPv6, BSD loopback (null and loop), PPP.
Network layer: IPv4 and IPv6 (extension headers), IP-in-IP tunnels (4in4, 6in4, 4in6,
6in6), IPv4 and IPv6 fragment reassembly in bounded buffers with a timeout.
Transport: UDP datagrams and TCP segments (``attrs`` holds ``seq`` and ``flags``).

Nothing here raises on bad input: truncated files and packets are counted by reason in
``errors`` and reading goes on with the next packet.

>>> import io, struct, tempfile, os
>>> udp = struct.pack("!HHHH", 5060, 5062, 8 + 4, 0) + b"ping"
>>> ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
...                  bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp
>>> frame = b"\\x00" * 12 + b"\\x08\\x00" + ip
>>> data = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
>>> data += struct.pack("<IIII", 100, 500000, len(frame), len(frame)) + frame
>>> fd, name = tempfile.mkstemp(); n = os.write(fd, data); os.close(fd)
>>> [(d.time, d.src, d.sport, d.dst, d.dport, d.transport, d.payload) for d in read_packets(name)]
[(100.5, '10.0.0.1', 5060, '10.0.0.2', 5062, 'udp', b'ping')]
>>> os.unlink(name)
"""

from __future__ import annotations

import mmap
import socket
import struct
from collections import Counter, OrderedDict
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from capture.packets import Datagram

# -- link types (tcpdump.org/linktypes.html) ---------------------------------------------
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_PPP = 9
LINKTYPE_RAW_OLD = 12
LINKTYPE_PPP_ETHER = 51
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
ETH_VLAN = (0x8100, 0x88A8, 0x9100, 0x9200)
ETH_PPPOE_SESSION = 0x8864

IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_IPV6 = 4, 6, 17, 41
IPV6_EXTENSIONS = {0, 43, 60, 135, 139, 140}  # hop-by-hop, routing, dest opts, mobility, HIP, shim6
IPV6_FRAGMENT, IPV6_AH, IPV6_NONE = 44, 51, 59

#: how many fragmented datagrams may wait for their missing pieces at once
MAX_FRAGMENT_BUFFERS = 4096
#: how long (capture time) a fragment waits for the rest of its datagram
FRAGMENT_TIMEOUT = 30.0
#: the largest datagram reassembly will build (IPv4/IPv6 maximum)
MAX_DATAGRAM = 65535
#: tunnels inside tunnels deeper than this are refused (hostile input)
MAX_TUNNEL_DEPTH = 4

_U16 = struct.Struct("!H")
_IPV4 = struct.Struct("!BBHHHBB2x4s4s")
_IPV6 = struct.Struct("!4xHBB16s16s")
_PORTS = struct.Struct("!HH")
_TCP = struct.Struct("!HHIIBB")

_ADDR_CACHE: dict[bytes, str] = {}
_inet_ntoa = socket.inet_ntoa


def _addr4(raw: bytes) -> str:
    # addresses repeat endlessly in signalling: a dict lookup beats inet_ntoa
    s = _ADDR_CACHE.get(raw)
    if s is None:
        if len(_ADDR_CACHE) > 65536:
            _ADDR_CACHE.clear()
        s = _ADDR_CACHE[raw] = _inet_ntoa(raw)
    return s


def _addr6(raw: bytes) -> str:
    s = _ADDR_CACHE.get(raw)
    if s is None:
        if len(_ADDR_CACHE) > 65536:
            _ADDR_CACHE.clear()
        s = _ADDR_CACHE[raw] = socket.inet_ntop(socket.AF_INET6, raw)
    return s


class _Fragments:
    """Bounded IPv4/IPv6 fragment reassembly (oldest evicted, stale ones time out)."""

    __slots__ = ("buffers", "errors")

    def __init__(self, errors: Counter) -> None:
        # key -> [first_seen, {offset: bytes}, total_length or -1, header]
        self.buffers: OrderedDict = OrderedDict()
        self.errors = errors

    def add(self, key, time: float, offset: int, more: bool, data: bytes):
        """The whole payload once every piece of ``key`` arrived, else None."""
        buffers = self.buffers
        if buffers:
            self._expire(time)
        entry = buffers.get(key)
        if entry is None:
            if len(buffers) >= MAX_FRAGMENT_BUFFERS:
                buffers.popitem(last=False)
                self.errors["fragment_evicted"] += 1
            entry = buffers[key] = [time, {}, -1]
        end = offset + len(data)
        if end > MAX_DATAGRAM:
            del buffers[key]
            self.errors["fragment_oversized"] += 1
            return None
        pieces = entry[1]
        if offset not in pieces or len(pieces[offset]) < len(data):
            pieces[offset] = data
        if not more:
            entry[2] = end
        total = entry[2]
        if total < 0:
            return None
        # complete when the pieces cover [0, total) without holes
        covered = 0
        for off in sorted(pieces):
            if off > covered:
                return None
            covered = max(covered, off + len(pieces[off]))
        if covered < total:
            return None
        del buffers[key]
        out = bytearray(total)
        for off in sorted(pieces):
            chunk = pieces[off][: max(0, total - off)]
            out[off:off + len(chunk)] = chunk
        return bytes(out)

    def _expire(self, now: float) -> None:
        buffers = self.buffers
        while buffers:
            key, entry = next(iter(buffers.items()))
            if now - entry[0] <= FRAGMENT_TIMEOUT:
                break
            del buffers[key]
            self.errors["fragment_timeout"] += 1

    def close(self) -> None:
        if self.buffers:
            self.errors["fragment_incomplete"] += len(self.buffers)
            self.buffers.clear()


class PacketDecoder:
    """Link layer frames to Datagrams; keeps the fragment buffers of one capture.

    >>> dec = PacketDecoder(Counter())
    >>> dec.decode(LINKTYPE_RAW, b"\\x45", 1.0, "x#1")
    []
    >>> dict(dec.errors)
    {'truncated_packet': 1}
    """

    def __init__(self, errors: Counter) -> None:
        self.errors = errors
        self.fragments = _Fragments(errors)

    def decode(self, linktype: int, frame: bytes, time: float, origin: str) -> list[Datagram]:
        """The Datagrams in one captured frame (usually zero or one)."""
        try:
            return self._link(linktype, frame, time, origin)
        except (struct.error, IndexError, ValueError, OSError):
            self.errors["truncated_packet"] += 1
            return []

    def _link(self, linktype: int, frame: bytes, time: float, origin: str) -> list[Datagram]:
        if linktype == LINKTYPE_ETHERNET:
            return self._ethertype((frame[12] << 8) | frame[13], frame, 14, time, origin)
        if linktype == LINKTYPE_LINUX_SLL:
            return self._ethertype((frame[14] << 8) | frame[15], frame, 16, time, origin)
        if linktype == LINKTYPE_LINUX_SLL2:
            return self._ethertype((frame[0] << 8) | frame[1], frame, 20, time, origin)
        if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OLD, LINKTYPE_IPV4, LINKTYPE_IPV6):
            return self._ip(frame, 0, time, origin, 0)
        if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
            family = int.from_bytes(frame[0:4], "big" if linktype == LINKTYPE_LOOP else "little")
            if family > 0xFFFF:  # written on a host of the other byte order
                family = int.from_bytes(frame[0:4], "little" if linktype == LINKTYPE_LOOP
                                        else "big")
            if family == 2:
                return self._ipv4(frame, 4, time, origin, 0)
            if family in (10, 23, 24, 28, 30):
                return self._ipv6(frame, 4, time, origin, 0)
            return []
        if linktype == LINKTYPE_PPP_ETHER:
            return self._ppp(frame, 6, time, origin)
        if linktype == LINKTYPE_PPP:
            pos = 2 if frame[0] == 0xFF and frame[1] == 0x03 else 0
            return self._ppp(frame, pos, time, origin)
        self.errors[f"unsupported_linktype:{linktype}"] += 1
        return []

    def _ethertype(self, etype: int, frame: bytes, pos: int, time: float, origin: str):
        while etype in ETH_VLAN:
            etype = (frame[pos + 2] << 8) | frame[pos + 3]
            pos += 4
        if etype == ETH_IPV4:
            return self._ipv4(frame, pos, time, origin, 0)
        if etype == ETH_IPV6:
            return self._ipv6(frame, pos, time, origin, 0)
        if etype == ETH_PPPOE_SESSION:
            return self._ppp(frame, pos + 6, time, origin)
        return []

    def _ppp(self, frame: bytes, pos: int, time: float, origin: str):
        proto = (frame[pos] << 8) | frame[pos + 1]
        if proto == 0x0021:
            return self._ipv4(frame, pos + 2, time, origin, 0)
        if proto == 0x0057:
            return self._ipv6(frame, pos + 2, time, origin, 0)
        return []

    def _ip(self, frame: bytes, pos: int, time: float, origin: str, depth: int):
        version = frame[pos] >> 4
        if version == 4:
            return self._ipv4(frame, pos, time, origin, depth)
        if version == 6:
            return self._ipv6(frame, pos, time, origin, depth)
        self.errors["bad_ip_version"] += 1
        return []

    def _ipv4(self, frame: bytes, pos: int, time: float, origin: str, depth: int):
        vihl, _tos, total, ident, frag, _ttl, proto, src, dst = _IPV4.unpack_from(frame, pos)
        ihl = (vihl & 0x0F) * 4
        if vihl >> 4 != 4 or ihl < 20 or total < ihl:
            self.errors["bad_ip_header"] += 1
            return []
        end = pos + total
        if end > len(frame):
            # truncated by the snap length (or a lying length): nothing reliable inside
            self.errors["truncated_packet"] += 1
            return []
        start = pos + ihl
        if frag & 0x3FFF:  # more-fragments flag or a non-zero offset
            whole = self.fragments.add((4, src, dst, ident, proto), time,
                                       (frag & 0x1FFF) * 8, bool(frag & 0x2000),
                                       bytes(frame[start:end]))
            if whole is None:
                return []
            return self._transport(proto, whole, 0, len(whole), _addr4(src), _addr4(dst),
                                   time, origin, depth)
        return self._transport(proto, frame, start, end, _addr4(src), _addr4(dst), time,
                               origin, depth)

    def _ipv6(self, frame: bytes, pos: int, time: float, origin: str, depth: int):
        plen, nxt, _hops, src, dst = _IPV6.unpack_from(frame, pos)
        if frame[pos] >> 4 != 6:
            self.errors["bad_ip_header"] += 1
            return []
        start = pos + 40
        end = start + plen
        if end > len(frame):
            self.errors["truncated_packet"] += 1
            return []
        frag = None
        while nxt in IPV6_EXTENSIONS or nxt in (IPV6_FRAGMENT, IPV6_AH):
            if start + 8 > end:
                self.errors["truncated_packet"] += 1
                return []
            following = frame[start]
            if nxt == IPV6_FRAGMENT:
                offset_flags = (frame[start + 2] << 8) | frame[start + 3]
                ident = int.from_bytes(frame[start + 4:start + 8], "big")
                frag = ((offset_flags & 0xFFF8), bool(offset_flags & 1), ident)
                start += 8
            elif nxt == IPV6_AH:
                start += (frame[start + 1] + 2) * 4
            else:
                start += (frame[start + 1] + 1) * 8
            nxt = following
        if start > end:
            self.errors["truncated_packet"] += 1
            return []
        if frag is not None and (frag[0] or frag[1]):
            whole = self.fragments.add((6, src, dst, frag[2]), time, frag[0], frag[1],
                                       bytes(frame[start:end]))
            if whole is None:
                return []
            # the protocol of the reassembled payload is the fragment header's next header
            return self._transport(nxt, whole, 0, len(whole), _addr6(src), _addr6(dst),
                                   time, origin, depth)
        return self._transport(nxt, frame, start, end, _addr6(src), _addr6(dst), time,
                               origin, depth)

    def _transport(self, proto: int, buf: bytes, start: int, end: int, src: str, dst: str,
                   time: float, origin: str, depth: int) -> list[Datagram]:
        if proto == IPPROTO_UDP:
            if start + 8 > end:
                self.errors["truncated_packet"] += 1
                return []
            sport, dport = _PORTS.unpack_from(buf, start)
            ulen = (buf[start + 4] << 8) | buf[start + 5]
            if ulen >= 8 and start + ulen <= end:
                end = start + ulen  # ignore Ethernet padding
            elif ulen != 0:  # 0 is allowed for IPv6 jumbograms
                self.errors["bad_udp_length"] += 1
            return [Datagram(time, src, sport, dst, dport, "udp", bytes(buf[start + 8:end]),
                             origin)]
        if proto == IPPROTO_TCP:
            if start + 20 > end:
                self.errors["truncated_packet"] += 1
                return []
            sport, dport, seq, _ack, off, flags = _TCP.unpack_from(buf, start)
            hlen = (off >> 4) * 4
            if hlen < 20 or start + hlen > end:
                self.errors["bad_tcp_header"] += 1
                return []
            payload = bytes(buf[start + hlen:end])
            if not payload and not flags & 0x07:  # bare ACKs carry nothing for SIP
                return []
            return [Datagram(time, src, sport, dst, dport, "tcp", payload, origin,
                             {"seq": seq, "flags": flags})]
        if proto in (IPPROTO_IPIP, IPPROTO_IPV6):
            if depth >= MAX_TUNNEL_DEPTH:
                self.errors["tunnel_too_deep"] += 1
                return []
            inner = buf[start:end] if start or end != len(buf) else buf
            if proto == IPPROTO_IPIP:
                return self._ipv4(inner, 0, time, origin, depth + 1)
            return self._ipv6(inner, 0, time, origin, depth + 1)
        return []


# -- file formats ----------------------------------------------------------------------
_PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6, 16), b"\xa1\xb2\xc3\xd4": (">", 1e-6, 16),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9, 16), b"\xa1\xb2\x3c\x4d": (">", 1e-9, 16),
    b"\x34\xcd\xb2\xa1": ("<", 1e-6, 24), b"\xa1\xb2\xcd\x34": (">", 1e-6, 24),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
NETMON2_MAGIC = b"GMBU"
#: NetMon media types to link types
_NETMON_MEDIA = {1: LINKTYPE_ETHERNET, 0xFFE0: LINKTYPE_RAW, 0xFFE1: LINKTYPE_RAW}


def is_capture(head: bytes) -> bool:
    """Whether the first bytes of a file look like a capture this module reads.

    >>> is_capture(b"\\xd4\\xc3\\xb2\\xa1"), is_capture(b"start,caller")
    (True, False)
    """
    return head[:4] in _PCAP_MAGICS or head[:4] in (PCAPNG_MAGIC, NETMON2_MAGIC)


def read_packets(path: str | Path, errors: Counter | None = None) -> Iterator[Datagram]:
    """The UDP datagrams and TCP segments of a capture file, in file order.

    ``origin`` of each Datagram is ``<file name>#<frame number>`` (1-based, as Wireshark
    numbers frames). Problems are counted in ``errors`` by reason, never raised.
    """
    prefix = Path(path).name + "#"
    for item in read_payloads(path, errors):
        if type(item) is tuple:
            time, src, sport, dst, dport, payload, number = item
            yield Datagram(time, src, sport, dst, dport, "udp", payload, prefix + str(number))
        else:
            yield item  # type: ignore[misc]


#: what :func:`read_payloads` yields for a plain UDP datagram:
#: (time, src, sport, dst, dport, payload, frame number)
PlainUdp = tuple[float, str, int, str, int, bytes, int]


def read_payloads(path: str | Path, errors: Counter | None = None
                  ) -> Iterator[PlainUdp | Datagram]:
    """:func:`read_packets` for hot loops: the bulk of signalling (Ethernet, IPv4 without
    options, not a fragment, UDP) comes as a :data:`PlainUdp` tuple, with no Datagram
    and no origin string built (``<file name>#<frame number>`` when one is needed);
    everything else as the Datagram :func:`read_packets` gives. One generator deep (each
    ``yield from`` level costs per packet)."""
    errors = errors if errors is not None else Counter()
    path = Path(path)
    try:
        with open(path, "rb") as f:
            try:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:  # empty file
                errors["empty_file"] += 1
                return iter(())
    except OSError:
        errors["unreadable_file"] += 1
        return iter(())
    if bytes(data[:4]) in _PCAP_MAGICS:
        return _read_pcap(data, path.name, errors)
    return _read(data, path.name, errors)


def read_frames(path: str | Path, errors: Counter | None = None
                ) -> Iterator[tuple[int, float, int, bytes]]:
    """(frame number, time, link type, frame bytes) of every packet in a capture file."""
    errors = errors if errors is not None else Counter()
    try:
        with open(path, "rb") as f:
            try:
                data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError:
                errors["empty_file"] += 1
                return
    except OSError:
        errors["unreadable_file"] += 1
        return
    with data:
        yield from _frames(data, errors)


#: Ethernet type, then the IPv4 header (version/IHL, total length, fragment field,
#: protocol, addresses) and the UDP ports and length, of a frame at its start
_ETH_IPV4_UDP = struct.Struct("!12xHB1xH2xH1xB2x4s4sHHH")


def _read(data, name: str, errors: Counter) -> Iterator[PlainUdp | Datagram]:
    """pcapng, NetMon and anything else: frames from _frames (closes ``data``)."""
    with data:
        yield from _read_frames(data, name, errors)


def _read_frames(data, name: str, errors: Counter) -> Iterator[PlainUdp | Datagram]:
    decoder = PacketDecoder(errors)
    decode = decoder.decode
    plain = _ETH_IPV4_UDP.unpack_from
    cache = _ADDR_CACHE
    prefix = name + "#"
    for number, time, linktype, frame in _frames(data, errors):
        # fast path for the bulk of signalling: Ethernet / IPv4 (no options, not a
        # fragment, complete) / UDP; everything else takes the general decoder
        caplen = len(frame)
        if linktype == 1 and caplen >= 42:
            etype, vihl, total, frag, proto, src, dst, sport, dport, ulen = plain(frame)
            if etype == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF \
                    and 28 <= total <= caplen - 14 and 8 <= ulen <= total - 20:
                s = cache.get(src) or _addr4(src)
                d = cache.get(dst) or _addr4(dst)
                yield time, s, sport, d, dport, frame[42:34 + ulen], number
                continue
        yield from decode(linktype, frame, time, prefix + str(number))
    decoder.fragments.close()


def _read_pcap(data, name: str, errors: Counter) -> Iterator[PlainUdp | Datagram]:
    """Classic pcap records and the plain Ethernet/IPv4/UDP fast path in one loop, one
    generator deep: the same checks and counts as :func:`_pcap_frames` and
    :func:`_read_frames`'s loop, with the payload cut straight out of the map (one copy,
    no frame object). Closes ``data``."""
    with data:
        decoder = PacketDecoder(errors)
        order, unit, rec_len = _PCAP_MAGICS[bytes(data[:4])]
        size = len(data)
        if size < 24:
            errors["truncated_file"] += 1
            size = linktype = 0  # no records
        else:
            linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
        record = struct.Struct(order + "IIII").unpack_from
        plain = _ETH_IPV4_UDP.unpack_from if size and linktype == LINKTYPE_ETHERNET else None
        decode = decoder.decode
        cache = _ADDR_CACHE
        prefix = name + "#"
        pos, number = 24, 0
        while pos < size:
            if pos + rec_len > size:
                errors["truncated_file"] += 1
                break
            sec, frac, caplen, _origlen = record(data, pos)
            pos += rec_len
            if caplen > 0x40000:
                errors["bad_record_length"] += 1  # no way to find the next record
                break
            number += 1
            nxt = pos + caplen
            if nxt > size:
                errors["truncated_file"] += 1
                break
            time = sec + frac * unit
            if plain is not None and caplen >= 42:
                etype, vihl, total, frag, proto, src, dst, sport, dport, ulen = plain(data, pos)
                if etype == 0x0800 and vihl == 0x45 and proto == 17 and not frag & 0x3FFF \
                        and 28 <= total <= caplen - 14 and 8 <= ulen <= total - 20:
                    s = cache.get(src) or _addr4(src)
                    d = cache.get(dst) or _addr4(dst)
                    yield time, s, sport, d, dport, data[pos + 42:pos + 34 + ulen], number
                    pos = nxt
                    continue
            yield from decode(linktype, data[pos:nxt], time, prefix + str(number))
            pos = nxt
        decoder.fragments.close()


def _frames(data, errors: Counter) -> Iterator[tuple[int, float, int, bytes]]:
    magic = bytes(data[:4])
    if magic in _PCAP_MAGICS:
        return _pcap_frames(data, errors)
    if magic == PCAPNG_MAGIC:
        return _pcapng_frames(data, errors)
    if magic == NETMON2_MAGIC:
        return _netmon_frames(data, errors)
    errors["not_a_capture"] += 1
    return iter(())


def _pcap_frames(data, errors: Counter) -> Iterator[tuple[int, float, int, bytes]]:
    order, unit, rec_len = _PCAP_MAGICS[bytes(data[:4])]
    size = len(data)
    if size < 24:
        errors["truncated_file"] += 1
        return
    linktype = struct.unpack_from(order + "I", data, 20)[0] & 0xFFFF
    header = struct.Struct(order + "IIII")
    unpack = header.unpack_from
    pos, number = 24, 0
    while pos < size:
        if pos + rec_len > size:
            errors["truncated_file"] += 1
            return
        sec, frac, caplen, _origlen = unpack(data, pos)
        pos += rec_len
        if caplen > 0x40000:
            errors["bad_record_length"] += 1  # no way to find the next record
            return
        number += 1
        if pos + caplen > size:
            errors["truncated_file"] += 1
            return
        yield number, sec + frac * unit, linktype, data[pos:pos + caplen]
        pos += caplen


def _pcapng_frames(data, errors: Counter) -> Iterator[tuple[int, float, int, bytes]]:
    size = len(data)
    pos, number = 0, 0
    order = "<"
    # per interface: (link type, seconds per tick, offset seconds, snap length)
    interfaces: list[tuple[int, float, int, int]] = []
    while pos < size:
        if pos + 12 > size:
            errors["truncated_file"] += 1
            return
        if bytes(data[pos:pos + 4]) == PCAPNG_MAGIC:
            bom = bytes(data[pos + 8:pos + 12])
            if bom == b"\x4d\x3c\x2b\x1a":
                order = "<"
            elif bom == b"\x1a\x2b\x3c\x4d":
                order = ">"
            else:
                errors["bad_pcapng_section"] += 1
                return
            interfaces = []
        btype, blen = struct.unpack_from(order + "II", data, pos)
        if blen < 12 or blen % 4 or pos + blen > size:
            errors["truncated_file" if pos + blen > size and blen >= 12 else "bad_block_length"] += 1
            return
        body = pos + 8
        if btype == 1:  # interface description
            linktype, snaplen = struct.unpack_from(order + "H2xI", data, body)
            resol, offset = _idb_options(data, body + 8, pos + blen - 4, order)
            interfaces.append((linktype, resol, offset, snaplen))
        elif btype in (6, 2):  # enhanced / obsolete packet block
            if btype == 6:
                iface, hi, lo, caplen, _orig = struct.unpack_from(order + "IIIII", data, body)
            else:
                iface, hi, lo, caplen, _orig = struct.unpack_from(order + "H2xIIII", data, body)
            number += 1
            start = body + 20
            if iface >= len(interfaces) or start + caplen > pos + blen - 4:
                errors["bad_packet_block"] += 1
            else:
                linktype, resol, offset, _snap = interfaces[iface]
                yield number, ((hi << 32) | lo) * resol + offset, linktype, \
                    data[start:start + caplen]
        elif btype == 3:  # simple packet block: first interface, no timestamp
            number += 1
            if not interfaces:
                errors["bad_packet_block"] += 1
            else:
                orig = struct.unpack_from(order + "I", data, body)[0]
                linktype, _resol, _offset, snap = interfaces[0]
                caplen = min(orig, blen - 16, snap or orig)
                yield number, 0.0, linktype, data[body + 4:body + 4 + caplen]
        pos += blen


def _idb_options(data, pos: int, end: int, order: str) -> tuple[float, int]:
    resol, offset = 1e-6, 0
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", data, pos)
        if code == 0:
            break
        value = data[pos + 4:pos + 4 + length]
        if code == 9 and length >= 1:  # if_tsresol
            v = value[0]
            resol = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
        elif code == 14 and length == 8:  # if_tsoffset
            offset = struct.unpack(order + "q", value)[0]
        pos += 4 + ((length + 3) & ~3)
    return resol, offset


def _netmon_frames(data, errors: Counter) -> Iterator[tuple[int, float, int, bytes]]:
    """Microsoft Network Monitor 2.x: a header, frames, and a table of frame offsets."""
    size = len(data)
    if size < 40:
        errors["truncated_file"] += 1
        return
    _minor, major, media = struct.unpack_from("<BBH", data, 4)
    if major != 2:
        errors["unsupported_netmon_version"] += 1
        return
    year, month, _dow, day, hour, minute, second, ms = struct.unpack_from("<8H", data, 8)
    table_offset, table_length = struct.unpack_from("<II", data, 24)
    try:
        start = datetime(year, month, day, hour, minute, second, ms * 1000,
                         tzinfo=UTC).timestamp()
    except ValueError:
        start = 0.0
    linktype = _NETMON_MEDIA.get(media, LINKTYPE_ETHERNET)
    if table_offset + table_length > size:
        errors["truncated_file"] += 1
        table_length = max(0, (size - table_offset) // 4 * 4)
    for number in range(1, table_length // 4 + 1):
        offset = struct.unpack_from("<I", data, table_offset + (number - 1) * 4)[0]
        if offset + 16 > size:
            errors["truncated_file"] += 1
            continue
        usec, _length, caplen = struct.unpack_from("<QII", data, offset)
        if offset + 16 + caplen > size:
            errors["truncated_file"] += 1
            continue
        yield number, start + usec * 1e-6, linktype, data[offset + 16:offset + 16 + caplen]
