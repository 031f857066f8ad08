"""Live capture: SIP from a network interface, through a BPF filter, as datagrams.

A scapy :class:`~scapy.sendrecv.AsyncSniffer` reads the interface through a Linux packet
socket with a kernel BPF filter (so only signalling crosses into Python). Each frame's
raw bytes go to the same link-layer decoder as capture files
(:class:`capture.pcapfile.PacketDecoder`: VLANs, tunnels, IP fragment reassembly, TCP
sequence numbers for stream reassembly); scapy's own per-packet dissection is skipped
because it costs far more than the SIP parsing that follows. The datagrams go to a
``sink``, typically :meth:`capture.sipcapture.SipCapture.feed_datagram` (which also
unwraps HEP seen on the wire).

The filter is configurable because SIP runs on any port; the default covers the usual
ones. Frames that cannot be decoded are counted by reason in ``errors``, never raised.

>>> link_type("lo"), link_type("no-such-interface")
(1, 1)
"""

from __future__ import annotations

import socket
import time as wallclock
from collections import Counter
from collections.abc import Callable

from capture.packets import Datagram
from capture.pcapfile import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_RAW, PacketDecoder

#: SIP on its usual ports, over UDP and TCP (TLS on 5061 is not readable anyway)
DEFAULT_BPF = "udp port 5060 or tcp port 5060 or udp port 5080 or tcp port 5080"

_PACKET_OUTGOING = 4
#: kernel receive buffer asked for the packet socket (forced when root)
RECEIVE_BUFFER = 16 << 20
#: frames read per wake-up of the sniffer, at most
_BATCH = 64
#: ARPHRD types (``/sys/class/net/IF/type``) → pcap link type of the frames read
_ARPHRD_LINKTYPES = {1: LINKTYPE_ETHERNET, 772: LINKTYPE_ETHERNET,  # Ethernet, loopback
                     65534: LINKTYPE_RAW, 776: LINKTYPE_RAW, 778: LINKTYPE_RAW,  # tun, sit, gre
                     512: LINKTYPE_LINUX_SLL}


def _arphrd(interface: str) -> int | None:
    try:
        with open(f"/sys/class/net/{interface}/type") as fh:
            return int(fh.read().strip())
    except (OSError, ValueError):
        return None


def link_type(interface: str) -> int:
    """The pcap link type of frames read from ``interface`` (Ethernet when unknown)."""
    return _ARPHRD_LINKTYPES.get(_arphrd(interface) or 1, LINKTYPE_ETHERNET)


class LiveCapture:
    """Sniffs an interface and hands datagrams to ``sink``, from the sniffer's thread.

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
                 bpf: str = DEFAULT_BPF) -> None:
        self.sink = sink
        self.interface = interface
        self.bpf = bpf
        #: frames and datagrams that could not be used, by reason
        self.errors: Counter = Counter()
        self.frames = 0
        self.delivered = 0
        self._sniffer = None

    def start(self) -> LiveCapture:
        from scapy.sendrecv import AsyncSniffer

        sock = _listen_socket(self.interface, self.bpf)
        decode = PacketDecoder(self.errors).decode
        linktype = link_type(self.interface)
        origin = f"live:{self.interface}"
        sink = self.sink
        errors = self.errors

        def on_frames(frames: _Frames) -> None:
            self.frames += len(frames)
            for frame, time in frames:
                for d in decode(linktype, frame, time, origin):
                    try:
                        sink(d)
                    except Exception as e:  # noqa: BLE001 - a bad datagram must not stop capture
                        errors[f"sink error: {type(e).__name__}"] += 1
                    self.delivered += 1

        self._sniffer = AsyncSniffer(opened_socket=sock, prn=on_frames, store=False)
        self._sniffer.start()
        return self

    def stop(self) -> None:
        sniffer, self._sniffer = self._sniffer, None
        if sniffer is not None and sniffer.running:
            sniffer.stop(join=True)

    @property
    def running(self) -> bool:
        return self._sniffer is not None and self._sniffer.running

    def __enter__(self) -> LiveCapture:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class _Frames(list):
    """Raw frames ``(bytes, capture time)`` read in one go; scapy's sniff loop hands it to
    the callback like a packet (it sets ``sniffed_on`` on it)."""

    __slots__ = ("sniffed_on",)


def _listen_socket(interface: str, bpf: str):
    from scapy.arch.linux import L2ListenSocket

    loopback = _arphrd(interface) == 772

    class _RawListenSocket(L2ListenSocket):
        """Frames as raw bytes, many per wake-up, no scapy dissection. On loopback every
        packet is seen going out and coming in: like libpcap, keep the incoming copy."""

        def recv(self, x=65535, **kwargs):
            frames = _Frames()
            ins = self.ins
            for _ in range(_BATCH):
                try:
                    # scapy's reader: kernel timestamp and VLAN tag from ancillary data
                    data, sa_ll, ts = self._recv_raw(ins, x)
                except (BlockingIOError, InterruptedError):
                    break
                if loopback and sa_ll[2] == _PACKET_OUTGOING:
                    continue
                frames.append((data, ts if ts is not None else wallclock.time()))
            return frames

    sock = _RawListenSocket(iface=interface, filter=bpf)
    sock.ins.setblocking(False)  # sniff() waits in select; recv drains what is there
    try:
        # signalling comes in bursts; the default buffer (~200 KiB, and on loopback every
        # packet twice) overflows within a few hundred INVITEs
        sock.ins.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33),
                            RECEIVE_BUFFER)
    except OSError:
        sock.ins.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    return sock
