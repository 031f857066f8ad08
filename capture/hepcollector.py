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
import select
import socket
import threading
import time as wallclock
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from capture.hep import HEP3_MAGIC, HEP_PORT, HepDecoder, split_hep3
from capture.packets import Datagram

_STOP = object()
#: UDP frames read per queue hand-off, at most
_UDP_BATCH = 64


@dataclass
class CollectorStats:
    """What the collector saw: frames and bytes by transport, rejects and drops by reason."""

    # both keys exist from the start: readers in other threads never see the dict grow
    frames: Counter = field(default_factory=lambda: Counter(udp=0, tcp=0))
    bytes: Counter = field(default_factory=lambda: Counter(udp=0, tcp=0))
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
        Where to listen (an operator may choose ``0.0.0.0:9060``; tests use ``127.0.0.1``
        and port 0 for a free port). UDP and TCP share the port number when possible.
    queue_size
        Bound of the queue between the network and the sink, in batches (a UDP batch is
        at most 64 frames, a TCP batch what one read brought); when full, datagrams are
        dropped and counted (``queue full``) rather than growing memory without limit.
    max_connections, idle_timeout
        TCP bounds: concurrent agents, and seconds of silence before a connection is closed.
    udp_buffer
        Kernel receive buffer asked for the UDP socket (bursts from many agents).
    """

    def __init__(self, sink: Callable[[Datagram], object], host: str = "127.0.0.1",
                 port: int = HEP_PORT, udp: bool = True, tcp: bool = True,
                 queue_size: int = 10_000, max_connections: int = 64,
                 idle_timeout: float = 300.0, udp_buffer: int = 8 << 20) -> None:
        self.sink = sink
        self.host, self.port = host, port
        self.udp, self.tcp = udp, tcp
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.udp_buffer = udp_buffer
        #: one decoder per receiving thread: their counters are never shared
        self.decoders = {"udp": HepDecoder(), "tcp": HepDecoder()}
        self.stats = CollectorStats()
        self.udp_port: int | None = None
        self.tcp_port: int | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._udp_sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._threads: list[threading.Thread] = []
        self._sink_thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._closing = False
        self._closers: list[Callable[[], object]] = []
        self._tasks: set[asyncio.Task] = set()
        # frames handled without reaching the sink (rejected, dropped), per receiving thread
        self._not_delivered = {"udp": 0, "tcp": 0}
        self._error_lock = threading.Lock()

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> HepCollector:
        self._sink_thread = threading.Thread(target=self._consume, name="hep-sink", daemon=True)
        self._sink_thread.start()
        try:
            if self.udp:
                self._open_udp()
            if self.tcp:
                loop_thread = threading.Thread(target=self._run_loop, name="hep-tcp",
                                               daemon=True)
                self._threads.append(loop_thread)
                loop_thread.start()
                self._ready.wait(10)
                if self._startup_error is not None:
                    raise self._startup_error
        except BaseException:
            self.stop()
            raise
        return self

    def _open_udp(self) -> None:
        sock = socket.socket(socket.AF_INET6 if ":" in self.host else socket.AF_INET,
                             socket.SOCK_DGRAM)
        try:
            # bursts from many agents: ask for a large kernel buffer (forced when root)
            sock.setsockopt(socket.SOL_SOCKET, getattr(socket, "SO_RCVBUFFORCE", 33),
                            self.udp_buffer)
        except OSError:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.udp_buffer)
            except OSError:
                pass
        try:
            sock.bind((self.host, self.port))
        except OSError:
            sock.close()
            raise
        sock.setblocking(False)
        self._udp_sock = sock
        self.udp_port = sock.getsockname()[1]
        t = threading.Thread(target=self._udp_loop, args=(sock,), name="hep-udp", daemon=True)
        self._threads.append(t)
        t.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, deliver what is queued, and join the threads."""
        self._closing = True
        loop = self._loop
        if loop is not None and loop.is_running():
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop)
        for t in self._threads:
            t.join(timeout)
        self._threads.clear()
        if self._udp_sock is not None:
            self._udp_sock.close()
            self._udp_sock = None
        if self._sink_thread is not None and self._sink_thread.is_alive():
            self._queue.put(_STOP)
            self._sink_thread.join(timeout)
        self._loop = None

    @property
    def running(self) -> bool:
        return any(t.is_alive() for t in self._threads)

    def __enter__(self) -> HepCollector:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_for(self, frames: int, timeout: float) -> bool:
        """Wait (wall clock, bounded) until ``frames`` frames were received and handled."""
        deadline = wallclock.monotonic() + timeout
        while self.handled < frames:
            if wallclock.monotonic() >= deadline:
                return False
            wallclock.sleep(0.01)
        return True

    def wait_quiet(self, quiet: float = 0.5, timeout: float = 30.0) -> int:
        """Wait until no frame was handled for ``quiet`` seconds (bounded); frames handled."""
        deadline = wallclock.monotonic() + timeout
        seen, since = -1, wallclock.monotonic()
        while wallclock.monotonic() < deadline:
            now_seen = self.handled
            if now_seen != seen:
                seen, since = now_seen, wallclock.monotonic()
            elif wallclock.monotonic() - since >= quiet:
                break
            wallclock.sleep(0.02)
        return seen

    @property
    def handled(self) -> int:
        """Frames fully handled: delivered to the sink, rejected, or dropped."""
        return self.stats.delivered + sum(self._not_delivered.values())

    @property
    def errors(self) -> Counter:
        return self.stats.errors

    # -- UDP (its own thread: a blocking receive loop beats an event loop per datagram) ----
    def _udp_loop(self, sock: socket.socket) -> None:
        recv = sock.recvfrom
        batch = self._batch
        wait = select.select
        ready = [sock]
        while not self._closing:
            if not wait(ready, (), (), 0.2)[0]:  # the timeout is how soon stop() is noticed
                continue
            # drain what is waiting: one queue hand-off per batch, not per frame, is what
            # keeps up with bursts
            frames = []
            for _ in range(_UDP_BATCH):
                try:
                    frames.append(recv(65535))
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    if self._closing:
                        return
                    self._error(f"udp: {type(e).__name__}", "udp", frame=False)
                    break
            if frames:
                batch(frames, "udp")

    # -- TCP (asyncio, one task per agent connection) ---------------------------------------
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
        port = self.udp_port if self.port == 0 and self.udp_port else self.port
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

    async def _serve_tcp(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._tasks.add(task)
        peer = writer.get_extra_info("peername")
        self.stats.connections += 1
        buf = bytearray()
        try:
            if len(self._tasks) > self.max_connections:
                self._error("tcp: too many connections", "tcp", frame=False)
                return
            while True:
                # read what is there (many frames at a time), then cut frames by length
                try:
                    async with asyncio.timeout(self.idle_timeout):
                        data = await reader.read(1 << 16)
                except TimeoutError:
                    self._error("tcp: idle connection closed", "tcp", frame=False)
                    return
                if not data:
                    if buf:
                        self._error("tcp: truncated frame at connection end", "tcp", False)
                    return
                buf += data
                frames, used = split_hep3(buf)
                if used:
                    del buf[:used]
                if frames:
                    self._batch([(f, peer) for f in frames], "tcp")
                if len(buf) >= 6:
                    # split_hep3 stopped before a complete frame: either it is still
                    # arriving, or the stream is not (or no longer) HEP3
                    if buf[:4] != HEP3_MAGIC:
                        self.stats.frames["tcp"] += 1
                        self._error("tcp: stream is not HEP3, connection closed", "tcp")
                        return
                    if (buf[4] << 8) | buf[5] < 6:
                        self.stats.frames["tcp"] += 1
                        self._error("hep: bad total length", "tcp")
                        return
                elif buf and not HEP3_MAGIC.startswith(bytes(buf[:4])):
                    self.stats.frames["tcp"] += 1
                    self._error("tcp: stream is not HEP3, connection closed", "tcp")
                    return
        except ConnectionError:
            self._error("tcp: connection reset", "tcp", frame=False)
        except asyncio.CancelledError:
            # stop() with an agent still connected: end quietly (a cancelled connection
            # task makes asyncio's stream callback log a traceback)
            if buf:
                self._error("tcp: truncated frame at connection end", "tcp", frame=False)
        finally:
            self._tasks.discard(task)
            writer.close()

    # -- both transports ------------------------------------------------------------------
    def _batch(self, frames: list[tuple[bytes, object]], transport: str) -> None:
        stats = self.stats
        decoder = self.decoders[transport]
        decode = decoder.decode
        received = wallclock.time()
        out = []
        nbytes = 0
        for data, peer in frames:
            nbytes += len(data)
            d = decode(data, received, "", peer)
            if d is None:
                self._error(decoder.last_reason, transport)
                continue
            d.attrs["collector_peer"] = f"{peer[0]}:{peer[1]}" if peer else ""
            out.append(d)
        stats.frames[transport] += len(frames)
        stats.bytes[transport] += nbytes
        if out:
            try:
                self._queue.put_nowait(out)
            except queue.Full:
                with self._error_lock:
                    stats.errors["queue full"] += len(out)
                self._not_delivered[transport] += len(out)

    def _error(self, reason: str, transport: str, frame: bool = True) -> None:
        with self._error_lock:  # rare path; both receiving threads count here
            self.stats.errors[reason] += 1
        if frame:
            self._not_delivered[transport] += 1  # only this transport's thread writes it

    # -- sink side (consumer thread) ------------------------------------------------------
    def _consume(self) -> None:
        get = self._queue.get
        sink = self.sink
        stats = self.stats
        while True:
            batch = get()
            if batch is _STOP:
                return
            for d in batch:
                try:
                    sink(d)
                except Exception as e:  # noqa: BLE001 - a bad datagram must not stop the service
                    with self._error_lock:
                        stats.errors[f"sink error: {type(e).__name__}"] += 1
                stats.delivered += 1
