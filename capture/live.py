"""Live capture: SIP from a network interface, through a BPF filter, as datagrams.

A scapy :class:`~scapy.sendrecv.AsyncSniffer` reads the interface through a Linux packet
socket with a kernel BPF filter (so only signalling crosses into Python) and hands each
frame's raw bytes to a small decoder (Ethernet/VLAN/Linux cooked → IPv4/IPv6 → UDP/TCP);
scapy's own per-packet dissection is skipped because it costs far more than the SIP
parsing that follows. HEP frames seen on the wire (a mirror port towards a collector)
are unwrapped. The datagrams go to a ``sink``, typically a
:class:`~capture.sipcapture.SipCapture`.

The filter is configurable because SIP runs on any port: the default covers the
well-known ones. Frames that cannot be decoded are counted by reason, never raised.

>>> frame = bytes(6) + bytes(6) + b"\\x08\\x00" + _ipv4_udp(b"OPTIONS sip:x SIP/2.0\\r\\n\\r\\n")
>>> dec = FrameDecoder()
>>> d = dec.decode(frame, 12.5)
>>> (d.src, d.sport, d.dst, d.dport, d.transport, d.time, d.payload[:7])
('10.0.0.1', 5060, '10.0.0.2', 5060, 'udp', 12.5, b'OPTIONS')
"""

from __future__ import annotations

import socket
import struct
import threading
from collections import Counter
from collections.abc import Callable

from capture.hep import HepDecoder, is_hep
from capture.packets import Datagram

#: SIP on its well-known ports, over UDP and TCP (TLS 5061 is not readable anyway)
DEFAULT_BPF = "udp port 5060 or tcp port 5060 or udp port 5080 or tcp port 5080"

_ETHER_TYPES_VLAN = (0x8100, 0x88A8, 0x9100)
_IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options: skippable
_PACKET_OUTGOING = 4


class FrameDecoder:
    """Raw link-layer frames → :class:`Datagram`; counts what it cannot use by reason."""

    def __init__(self, link: str = "ether", hep: bool = True) -> None:
        #: ``ether``, ``sll`` (Linux cooked) or ``ip`` (no link header)
        self.link = link
        self.frames = 0
        self.errors: Counter = Counter()
        #: frames read fine but carrying nothing for the SIP layer (TCP ACKs, ARP)
        self.ignored: Counter = Counter()
        self.hep = HepDecoder() if hep else None

    def decode(self, frame: bytes, time: float, origin: str = "") -> Datagram | None:
        self.frames += 1
        try:
            return self._decode(frame, time, origin)
        except (struct.error, IndexError, ValueError, OSError):
            self.errors["truncated or malformed frame"] += 1
            return None

    def _decode(self, frame: bytes, time: float, origin: str) -> Datagram | None:
        if self.link == "ether":
            etype = (frame[12] << 8) | frame[13]
            pos = 14
            while etype in _ETHER_TYPES_VLAN:
                etype = (frame[pos + 2] << 8) | frame[pos + 3]
                pos += 4
        elif self.link == "sll":
            etype = (frame[14] << 8) | frame[15]
            pos = 16
        else:
            etype = 0x0800 if frame[0] >> 4 == 4 else 0x86DD
            pos = 0
        if etype == 0x0800:
            first = frame[pos]
            if first >> 4 != 4:
                self.errors["bad IPv4 header"] += 1
                return None
            ihl = (first & 0x0F) * 4
            total = (frame[pos + 2] << 8) | frame[pos + 3]
            flags_frag = (frame[pos + 6] << 8) | frame[pos + 7]
            proto = frame[pos + 9]
            if flags_frag & 0x3FFF:
                # a fragment: SIP over UDP larger than the MTU; not reassembled live
                self.errors["ip fragment (not reassembled)"] += 1
                return None
            src = socket.inet_ntop(socket.AF_INET, frame[pos + 12:pos + 16])
            dst = socket.inet_ntop(socket.AF_INET, frame[pos + 16:pos + 20])
            end = pos + total if total else len(frame)
            pos += ihl
        elif etype == 0x86DD:
            proto = frame[pos + 6]
            plen = (frame[pos + 4] << 8) | frame[pos + 5]
            src = socket.inet_ntop(socket.AF_INET6, frame[pos + 8:pos + 24])
            dst = socket.inet_ntop(socket.AF_INET6, frame[pos + 24:pos + 40])
            end = pos + 40 + plen
            pos += 40
            while proto in _IPV6_EXT:
                proto = frame[pos]
                pos += (frame[pos + 1] + 1) * 8
            if proto == 44:
                self.errors["ip fragment (not reassembled)"] += 1
                return None
        else:
            self.ignored["not IP"] += 1
            return None
        if end > len(frame):
            self.errors["truncated or malformed frame"] += 1
            return None
        if proto == 17:
            sport, dport = struct.unpack_from(">HH", frame, pos)
            payload = frame[pos + 8:end]
            transport = "udp"
        elif proto == 6:
            sport, dport = struct.unpack_from(">HH", frame, pos)
            payload = frame[pos + (frame[pos + 12] >> 4) * 4:end]
            transport = "tcp"
            if not payload:
                self.ignored["tcp without payload"] += 1
                return None
        else:
            self.ignored[f"ip protocol {proto}"] += 1
            return None
        return Datagram(time, src, sport, dst, dport, transport, payload, origin)

    def datagrams(self, frame: bytes, time: float, origin: str = "") -> list[Datagram]:
        """The datagrams for the SIP layer in one frame: none, one, or HEP's inner ones."""
        d = self.decode(frame, time, origin)
        if d is None:
            return []
        if self.hep is not None and is_hep(d.payload):
            before = sum(self.hep.errors.values())
            inner = self.hep.decapsulate(d)
            if sum(self.hep.errors.values()) > before:
                self.errors[self.hep.last_reason] += 1
            return inner
        return [d]


def _ipv4_udp(payload: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2",
              sport: int = 5060, dport: int = 5060) -> bytes:
    """An IPv4/UDP packet (for examples and tests)."""
    udp = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + udp


class LiveCapture:
    """Sniffs an interface and hands SIP datagrams to ``sink``, from the sniffer's thread.

    Parameters
    ----------
    sink
        Called with each :class:`Datagram`, in capture order.
    interface
        Network interface, e.g. ``eth0`` or ``lo``.
    bpf
        Kernel capture filter (tcpdump syntax), e.g. ``udp port 5060 or udp port 5062``.
    """

    def __init__(self, sink: Callable[[Datagram], object], interface: str = "lo",
                 bpf: str = DEFAULT_BPF, hep: bool = True) -> None:
        self.sink = sink
        self.interface = interface
        self.bpf = bpf
        self.hep = hep
        self.decoder: FrameDecoder | None = None
        self.delivered = 0
        self.sink_errors: Counter = Counter()
        self._sniffer = None
        self._lock = threading.Lock()

    def start(self) -> LiveCapture:
        from scapy.sendrecv import AsyncSniffer

        sock = _listen_socket(self.interface, self.bpf)
        self.decoder = FrameDecoder(link=_link_of(sock), hep=self.hep)
        origin = f"live:{self.interface}"
        datagrams = self.decoder.datagrams
        sink = self.sink

        def on_frame(pkt) -> None:
            for d in datagrams(pkt.load, float(pkt.time), origin):
                try:
                    sink(d)
                except Exception as e:  # noqa: BLE001 - one bad datagram must not stop capture
                    self.sink_errors[f"sink error: {type(e).__name__}"] += 1
                self.delivered += 1

        self._sniffer = AsyncSniffer(opened_socket=sock, prn=on_frame, store=False)
        self._sniffer.start()
        return self

    def stop(self) -> None:
        sniffer, self._sniffer = self._sniffer, None
        if sniffer is not None and sniffer.running:
            sniffer.stop(join=True)

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def errors(self) -> Counter:
        """Frames that could not be used and datagrams the sink refused, by reason."""
        out = Counter(self.sink_errors)
        if self.decoder is not None:
            out.update(self.decoder.errors)
        return out

    @property
    def frames(self) -> int:
        return self.decoder.frames if self.decoder is not None else 0


def _listen_socket(interface: str, bpf: str):
    from scapy.arch.linux import L2ListenSocket
    from scapy.config import conf

    class _RawListenSocket(L2ListenSocket):
        """Frames as raw bytes; on loopback each packet is seen going out and coming in:
        like libpcap, keep only the incoming copy."""

        def recv_raw(self, x=65535):
            pkt, sa_ll, ts = self._recv_raw(self.ins, x)
            if self._loopback and sa_ll[2] == _PACKET_OUTGOING:
                return None, None, None
            if ts is None:
                from scapy.arch.linux import get_last_packet_timestamp

                ts = get_last_packet_timestamp(self.ins)
            return conf.raw_layer, pkt, ts

    sock = _RawListenSocket(iface=interface, filter=bpf)
    sock._link_class = sock.LL
    sock._loopback = interface == "lo" or _is_loopback(interface)
    return sock


def _is_loopback(interface: str) -> bool:
    try:
        with open(f"/sys/class/net/{interface}/type") as fh:
            return fh.read().strip() == "772"  # ARPHRD_LOOPBACK
    except OSError:
        return False


def _link_of(sock) -> str:
    name = getattr(sock._link_class, "__name__", "")
    return {"CookedLinux": "sll", "IP": "ip", "IPv6": "ip", "Raw": "ip"}.get(name, "ether")
