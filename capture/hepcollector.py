"""A HEP collector: receives mirrored signalling over UDP and TCP and hands it on as datagrams.

SBCs, proxies and capture agents (Kamailio ``siptrace``, heplify, sngrep ``-H``) send
every SIP message they see to a collector on port 9060, wrapped in HEP. This collector
listens on UDP and TCP (TCP frames are delimited by the HEPv3 length field), decodes
each frame with :class:`~capture.hep.HepDecoder` on an asyncio loop in its own thread,
and passes the datagrams through a bounded queue to one consumer thread that calls the
``sink`` (typically a :class:`~capture.sipcapture.SipCapture` feeding the engine).
Every frame is counted; every reject and every drop (queue full, sink failure) is
counted by reason.

>>> got = []
>>> with HepCollector(got.append, port=0) as c:
...     import socket
...     from capture.hep import encode_hep3
...     with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
...         _ = s.sendto(encode_hep3(b"OPTIONS sip:a SIP/2.0\\r\\n\\r\\n", "10.0.0.1", 5060,
...                                  "10.0.0.2", 5060, time=1.5), ("127.0.0.1", c.udp_port))
...         _ = s.sendto(b"junk", ("127.0.0.1", c.udp_port))
...     c.wait_for(frames=2, timeout=5)
True
>>> [(d.src, d.time) for d in got], dict(c.stats.errors)
([('10.0.0.1', 1.5)], {'hep: not a HEP frame': 1})
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time as wallclock
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from capture.hep import HEP3_MAGIC, HEP_PORT, HepDecoder
from capture.packets import Datagram

_STOP = object()


@dataclass
class CollectorStats:
    """What the collector saw: frames and bytes by transport, rejects and drops by reason."""

    frames: Counter = field(default_factory=Counter)  # "udp" / "tcp" -> frames received
    bytes: Counter = field(default_factory=Counter)
    #: decoded datagrams handed to the sink
    delivered: int = 0
    #: rejected frames and dropped datagrams, by reason
    errors: Counter = field(default_factory=Counter)
    connections: int = 0

    @property
    def total_frames(self) -> int:
        return sum(self.frames.values())

    def to_dict(self) -> dict:
        return {"frames": dict(self.frames), "bytes": dict(self.bytes),
                "delivered": self.delivered, "errors": dict(self.errors),
                "connections": self.connections}


class HepCollector:
    """HEP over UDP and TCP into a ``sink(datagram)`` called from one consumer thread.

    Parameters
    ----------
    sink
        Called with each decoded SIP :class:`Datagram`, in arrival order, from one thread.
    host, port
        Where to listen (default ``0.0.0.0:9060`` is the operator's choice; tests use
        ``127.0.0.1`` and port 0 for a free port). UDP and TCP share the port number when
        possible.
    queue_size
        Bound of the queue between the network and the sink; when full, datagrams are
        dropped and counted (``queue full``) rather than growing memory without limit.
    max_connections, idle_timeout
        TCP bounds: concurrent agents, and seconds of silence before a connection is closed.
    """

    def __init__(self, sink: Callable[[Datagram], object], host: str = "127.0.0.1",
                 port: int = HEP_PORT, udp: bool = True, tcp: bool = True,
                 queue_size: int = 10_000, max_connections: int = 64,
                 idle_timeout: float = 300.0) -> None:
        self.sink = sink
        self.host, self.port = host, port
        self.udp, self.tcp = udp, tcp
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.decoder = HepDecoder()
        self.stats = CollectorStats()
        self.udp_port: int | None = None
        self.tcp_port: int | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._net_thread: threading.Thread | None = None
        self._sink_thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._progress = threading.Condition()
        self._closers: list[Callable[[], object]] = []
        self._tasks: set[asyncio.Task] = set()
        self._handled_frames = 0

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> HepCollector:
        self._sink_thread = threading.Thread(target=self._consume, name="hep-sink", daemon=True)
        self._sink_thread.start()
        self._net_thread = threading.Thread(target=self._run_loop, name="hep-net", daemon=True)
        self._net_thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            self.stop()
            raise self._startup_error
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, deliver what is queued, and join both threads."""
        loop = self._loop
        if loop is not None and self._net_thread is not None and self._net_thread.is_alive():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
            self._net_thread.join(timeout)
        if self._sink_thread is not None and self._sink_thread.is_alive():
            self._queue.put(_STOP)
            self._sink_thread.join(timeout)
        self._loop = None

    def __enter__(self) -> HepCollector:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_for(self, frames: int, timeout: float) -> bool:
        """Wait (wall clock, bounded) until ``frames`` frames were received and handled."""
        deadline = wallclock.monotonic() + timeout
        with self._progress:
            while self._handled() < frames:
                left = deadline - wallclock.monotonic()
                if left <= 0:
                    return False
                self._progress.wait(min(left, 0.2))
        return True

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 30.0) -> int:
        """Wait until no frame arrived for ``quiet`` seconds (bounded); the frames seen."""
        deadline = wallclock.monotonic() + timeout
        seen, since = -1, wallclock.monotonic()
        while wallclock.monotonic() < deadline:
            now_seen = self._handled()
            if now_seen != seen:
                seen, since = now_seen, wallclock.monotonic()
            elif wallclock.monotonic() - since >= quiet:
                break
            wallclock.sleep(0.05)
        return seen

    def _handled(self) -> int:
        # frames fully handled: rejected, dropped, or delivered to the sink
        return self._handled_frames

    # -- network side (asyncio thread) ----------------------------------------------------
    def _run_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._listen())
        except BaseException as e:  # noqa: BLE001 - reported to start()'s caller
            self._startup_error = e
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.close()

    async def _listen(self) -> None:
        loop = asyncio.get_running_loop()
        port = self.port
        if self.udp:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=(self.host, port))
            self.udp_port = transport.get_extra_info("sockname")[1]
            self._closers.append(transport.close)
            if port == 0:
                port = self.udp_port
        if self.tcp:
            try:
                server = await asyncio.start_server(self._serve_tcp, self.host, port)
            except OSError:
                if self.port != 0:
                    raise
                server = await asyncio.start_server(self._serve_tcp, self.host, 0)
            self.tcp_port = server.sockets[0].getsockname()[1]
            self._closers.append(server.close)

    async def _shutdown(self) -> None:
        for close in self._closers:
            close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        # transports close their sockets in a callback: let it run before the loop stops
        for _ in range(3):
            await asyncio.sleep(0)
        asyncio.get_running_loop().stop()

    def _frame(self, data: bytes, transport: str, peer: str) -> None:
        stats = self.stats
        stats.frames[transport] += 1
        stats.bytes[transport] += len(data)
        d = self.decoder.decode(data, wallclock.time(), "")
        if d is None:
            stats.errors[self.decoder.last_reason] += 1
            self._done()
            return
        d.attrs["collector_peer"] = peer
        try:
            self._queue.put_nowait(d)
        except queue.Full:
            stats.errors["queue full"] += 1
            self._done()

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        host, port = writer.get_extra_info("peername")[:2]
        peer = f"{host}:{port}"
        self.stats.connections += 1
        try:
            if len(self._tasks) > self.max_connections:
                self.stats.errors["tcp: too many connections"] += 1
                return
            while True:
                try:
                    head = await asyncio.wait_for(reader.readexactly(6), self.idle_timeout)
                except asyncio.IncompleteReadError as e:
                    if e.partial:
                        self.stats.errors["tcp: truncated frame at connection end"] += 1
                    return
                except TimeoutError:
                    self.stats.errors["tcp: idle connection closed"] += 1
                    return
                if head[:4] != HEP3_MAGIC:
                    # without the HEP3 length there is no way to find the next frame
                    self.stats.frames["tcp"] += 1
                    self.stats.errors["tcp: stream is not HEP3, connection closed"] += 1
                    self._done()
                    return
                total = int.from_bytes(head[4:6], "big")
                if total < 6:
                    self.stats.frames["tcp"] += 1
                    self.stats.errors["hep: bad total length"] += 1
                    self._done()
                    return
                try:
                    body = await asyncio.wait_for(reader.readexactly(total - 6),
                                                  self.idle_timeout)
                except (asyncio.IncompleteReadError, TimeoutError):
                    self.stats.errors["tcp: truncated frame at connection end"] += 1
                    return
                self._frame(head + body, "tcp", peer)
        except ConnectionError:
            self.stats.errors["tcp: connection reset"] += 1
        finally:
            self._tasks.discard(task)
            writer.close()

    # -- sink side (consumer thread) ------------------------------------------------------
    def _consume(self) -> None:
        get = self._queue.get
        sink = self.sink
        stats = self.stats
        while True:
            d = get()
            if d is _STOP:
                return
            try:
                sink(d)
            except Exception as e:  # noqa: BLE001 - one bad datagram must not stop the service
                stats.errors[f"sink error: {type(e).__name__}"] += 1
            stats.delivered += 1
            self._done()

    def _done(self) -> None:
        # called from either thread: the count and the wake-up under one lock
        with self._progress:
            self._handled_frames += 1
            self._progress.notify_all()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, collector: HepCollector) -> None:
        self.collector = collector

    def datagram_received(self, data: bytes, addr) -> None:
        self.collector._frame(data, "udp", f"{addr[0]}:{addr[1]}")

    def error_received(self, exc: Exception) -> None:
        self.collector.stats.errors[f"udp: {type(exc).__name__}"] += 1
