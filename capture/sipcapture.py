"""From packets to records: Datagrams -> SIP messages -> calls and registrations.

:class:`SipCapture` takes :class:`~capture.packets.Datagram` objects from any source (a
capture file, the HEP collector, the live sniffer), detects SIP by content on any port,
reassembles TCP streams, parses, counts, and hands messages to the
:class:`~capture.dialogs.DialogTracker`. Encapsulations (HEP, by default) are unwrapped
by the ``decapsulate`` hooks first.

Counters: ``stats`` counts every SIP message seen (``method:INVITE``, ``status:200``;
retransmissions included, as tshark counts them); ``errors`` counts what could not be
used, by reason (``truncated_packet``, ``bad_sip:<reason>``, ``tcp_gap``, ...).

>>> from capture.packets import Datagram
>>> cap = SipCapture(trunks={"198.51.100.0/24": "domestic"})
>>> inv = (b"INVITE sip:02161234567@10.0.0.1 SIP/2.0\\r\\nCall-ID: k\\r\\nCSeq: 1 INVITE\\r\\n"
...        b"From: <sip:13812345678@198.51.100.7>;tag=9\\r\\nTo: <sip:02161234567@x>\\r\\n\\r\\n")
>>> cap.feed_datagram(Datagram(10.0, "198.51.100.7", 5060, "10.0.0.1", 5060, "udp", inv))
[]
>>> busy = b"SIP/2.0 486 Busy Here\\r\\nCall-ID: k\\r\\nCSeq: 1 INVITE\\r\\n\\r\\n"
>>> [c] = cap.feed_datagram(Datagram(12.0, "10.0.0.1", 5060, "198.51.100.7", 5060, "udp", busy))
>>> c.caller, c.callee, c.disposition, c.ingress, dict(cap.stats)
('13812345678', '02161234567', 'BUSY', 'domestic', {'method:INVITE': 1, 'status:486': 1})
"""

from __future__ import annotations

import mmap
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from capture.dialogs import DialogTracker
from capture.packets import Datagram
from capture.pcapfile import PacketDecoder, read_packets, read_payloads
from capture.sip import (
    KNOWN_METHODS,
    CallFields,
    SipMessage,
    SipParseError,
    call_fields,
    looks_like_sip,
    parse_message,
    scan_message,
)
from capture.tcpstream import TcpReassembler

#: a hook: the Datagrams inside an encapsulating Datagram, or None when it is not one
Decapsulator = Callable[[Datagram], "list[Datagram] | None"]

#: the stats keys of scanned messages, built once
_METHOD_KEYS = {m: "method:" + m for m in KNOWN_METHODS}
_STATUS_KEYS = {code: f"status:{code}" for code in range(100, 700)}


def hep_decapsulator() -> Decapsulator | None:
    """A hook unwrapping HEP (v1-v3, any port) with :mod:`capture.hep`, if available."""
    try:
        from capture.hep import HepDecoder, is_hep
    except ImportError:  # pragma: no cover - capture.hep ships with fraudwatch
        return None
    decoder = HepDecoder()

    def unwrap(d: Datagram) -> list[Datagram] | None:
        payload = d.payload
        if not payload or payload[0] > 2 and payload[:4] != b"HEP3" or not is_hep(payload):
            return None
        return decoder.decapsulate(d)

    unwrap.decoder = decoder  # type: ignore[attr-defined]  # its counters, for reports
    # it passes over anything that starts like SIP: a replay's hot loop may skip it then
    unwrap.passes_sip = True  # type: ignore[attr-defined]
    return unwrap


class SipCapture:
    """SIP over UDP and TCP to records, with counters.

    Parameters: ``trunks`` (CIDR -> ingress, see :class:`~capture.dialogs.TrunkMap`),
    ``decapsulate`` (hooks tried in order on every Datagram; default: HEP),
    ``dialog_timeout``/``max_dialogs`` (passed to the tracker), ``on_message`` (called
    with ``(msg, datagram)`` for every parsed message, e.g. for ladder diagrams).
    """

    def __init__(self, trunks: Any = None, decapsulate: list[Decapsulator] | None = None,
                 dialog_timeout: float | None = None, max_dialogs: int | None = None,
                 on_message: Callable[[SipMessage, Datagram], None] | None = None,
                 track: bool = True) -> None:
        kw: dict[str, Any] = {}
        if dialog_timeout is not None:
            kw["dialog_timeout"] = dialog_timeout
        if max_dialogs is not None:
            kw["max_dialogs"] = max_dialogs
        self.stats: Counter = Counter()
        self.errors: Counter = Counter()
        self.tracker = DialogTracker(trunks=trunks, errors=self.errors, **kw)
        if decapsulate is None:
            hook = hep_decapsulator()
            decapsulate = [hook] if hook else []
        self.decapsulate = list(decapsulate)
        for hook in self.decapsulate:  # HEP frames it rejects (junk, RTCP, logs): counted here
            if getattr(hook, "decoder", None) is not None:
                hook.decoder.errors = self.errors
        self.tcp = TcpReassembler(self.errors)
        self.on_message = on_message
        self.track = track
        #: datagrams fed, and those that carried SIP
        self.datagrams = 0
        self.sip_datagrams = 0

    def feed_datagram(self, d: Datagram) -> list:
        """The records this datagram completes (usually none)."""
        self.datagrams += 1
        for hook in self.decapsulate:
            inner = hook(d)
            if inner is not None:
                out: list = []
                for x in inner:
                    out.extend(self._transport(x))
                return out
        return self._transport(d)

    def _scan_ok(self) -> bool:
        """Whether a message :func:`~capture.sip.scan_message` vouches for may skip
        :meth:`feed_datagram`'s way: no per-message hook, and every decapsulation hook
        passes over what starts like SIP (a scanned message does)."""
        return self.on_message is None and all(
            getattr(hook, "passes_sip", False) for hook in self.decapsulate)

    def _transport(self, d: Datagram) -> list:
        payload = d.payload
        if d.transport == "tcp":
            attrs = d.attrs
            if "seq" not in attrs:  # a source that already framed the stream (HEP)
                return self._message(payload, d) if payload else []
            messages = self.tcp.feed(d.src, d.sport, d.dst, d.dport, attrs["seq"],
                                     attrs.get("flags", 0), payload, d.time)
            out: list = []
            for data in messages:
                out.extend(self._message(data, d))
            return out
        if not payload:
            return []
        # RTP/RTCP/STUN/DNS... fail this cheap test; a start line of garbage that ends in
        # SIP/2.0 passes it, and its rejection by the parser is counted
        if not looks_like_sip(payload):
            return []
        return self._message(payload, d)

    def _message(self, data: bytes, d: Datagram) -> list:
        try:
            msg = parse_message(data)
        except SipParseError as e:
            if e.reason not in ("not_sip", "keepalive"):
                self.errors[f"bad_sip:{e.reason}"] += 1
            return []
        self.sip_datagrams += 1
        stats = self.stats
        if msg.is_request:
            stats["method:" + msg.method] += 1
        else:
            stats[f"status:{msg.status}"] += 1
        if self.on_message is not None:
            self.on_message(msg, d)
        if not self.track:
            return []
        return self.tracker.feed(msg, d.time, d.src, d.sport, d.dst, d.dport, d.origin)

    def flush(self) -> list:
        """End of input: messages left in TCP buffers, then every open dialog."""
        out: list = []
        for data in self.tcp.flush():
            out.extend(self._message(data, Datagram(0.0, "", 0, "", 0, "tcp", data, "")))
        out.extend(self.tracker.flush())
        return out


class CaptureResult:
    """The records of a capture file, as an iterable; ``stats``/``errors`` are complete
    once it has been iterated."""

    def __init__(self, path: str | Path, trunks: Any = None, index: bool = True,
                 **options: Any) -> None:
        self.path = Path(path)
        self.capture = SipCapture(trunks=trunks, **options)
        self.stats = self.capture.stats
        self.errors = self.capture.errors
        self.packets = 0
        #: whether a classic pcap is read through capture.pcapindex (if numba imports);
        #: False keeps the pure-Python loop, which gives the same (the tests compare)
        self.index = index

    def __iter__(self) -> Iterator:
        capture = self.capture
        feed = capture.feed_datagram
        if not capture._scan_ok():
            n = 0
            for d in read_packets(self.path, self.errors):
                n += 1
                records = feed(d)
                if records:
                    yield from records
            self.packets = n
            yield from capture.flush()
            return
        if self.index:
            index = _open_index(self.path)
            if index is not None:
                yield from self._indexed(index)
                return
        yield from self._scanned()

    def _scanned(self) -> Iterator:
        capture = self.capture
        # The hot loop of a replay. Plain UDP comes as a tuple (read_payloads); a message
        # scan_message vouches for is counted and goes to the tracker right here (which
        # parses it in full only if a record needs it): what feed_datagram would do for
        # it, minus the Datagram, the HEP hook (it passes SIP over) and looks_like_sip
        # (implied). Anything else takes feed_datagram's way. Scanned messages are
        # counted in a plain dict (a Counter += costs 2.5 times more), added to stats
        # before any message takes the other way (stats keep first-seen order) and at the
        # end.
        stats = capture.stats
        counts: dict[str, int] = {}
        feed_parts = capture.tracker.feed_parts if capture.track else None
        method_keys, status_keys = _METHOD_KEYS, _STATUS_KEYS
        scan_message_ = scan_message
        prefix = self.path.name + "#"
        n = scanned = 0
        try:
            for item in read_payloads(self.path, self.errors):
                n += 1
                if type(item) is tuple:
                    time, src, sport, dst, dport, payload, number = item
                    scan = scan_message_(payload)
                    if scan is not None:
                        scanned += 1
                        is_request, method, status, call_id, cseq = scan
                        key = method_keys[method] if is_request else status_keys[status]
                        try:
                            counts[key] += 1
                        except KeyError:
                            counts[key] = 1
                        if feed_parts is not None:
                            records = feed_parts(is_request, method, status, call_id, cseq,
                                                 None, payload, time, src, dst,
                                                 prefix + str(number))
                            if records:
                                yield from records
                        continue
                    item = Datagram(time, src, sport, dst, dport, "udp", payload,
                                    prefix + str(number))
                records = self._feed_after(counts, item)
                if records:
                    yield from records
        finally:
            stats.update(counts)
            capture.datagrams += scanned
            capture.sip_datagrams += scanned
            self.packets = n
        yield from capture.flush()


    def _feed_after(self, counts: dict[str, int], item: Any) -> list:
        """``feed_datagram(item)``, the scanned messages counted so far added to the stats
        first (stats keep first-seen order)."""
        if counts:
            self.capture.stats.update(counts)
            counts.clear()
        return self.capture.feed_datagram(item)

    def _indexed(self, index: Any) -> Iterator:
        """:meth:`_scanned` over a :class:`~capture.pcapindex.PcapIndex`: the record
        checks, frame decoding and the scan are the kernel's, and a message it vouches
        for costs here a few list reads, the Call-ID's decoding and the tracker.
        Everything else takes the same steps as in _scanned, in the same order: the
        kernel's KIND_UDP is _scanned's tuple, KIND_FRAME its ``decode`` of a frame,
        and a reading error is counted where _read_pcap counts it."""
        from capture import pcapindex as px

        capture = self.capture
        stats = capture.stats
        errors = self.errors
        counts: dict[str, int] = {}
        feed_parts = capture.tracker.feed_parts if capture.track else None
        tick = capture.tracker.tick
        keys = _index_keys()
        addrs = px.ADDRESSES
        scan_message_ = scan_message
        decoder = PacketDecoder(errors)
        decode, linktype = decoder.decode, index.linktype
        data = index.buf
        prefix = self.path.name + "#"
        n = scanned = 0
        try:
            with data:
                for chunk in index.chunks():
                    array, fields = chunk.array, chunk.fields
                    first = number = chunk.first - 1
                    for key, time, start, end, src, dst, cs, ce, qs, qe, use in zip(
                            array[px.KEY].tolist(), chunk.times, array[px.START].tolist(),
                            array[px.END].tolist(), array[px.SRC].tolist(),
                            array[px.DST].tolist(), array[px.CALL_ID].tolist(),
                            array[px.CALL_ID_END].tolist(), array[px.CSEQ].tolist(),
                            array[px.CSEQ_END].tolist(), array[px.USE].tolist(),
                            strict=True):
                        number += 1
                        if key >= 0:  # KIND_SIP: the kernel vouches for the scan
                            n += 1
                            scanned += 1
                            is_request, method, status, count_key = keys[key]
                            try:
                                counts[count_key] += 1
                            except KeyError:
                                counts[count_key] = 1
                            if feed_parts is None:
                                continue
                            if use == px.USE_TICK:  # moves no dialog: no Call-ID needed
                                records = tick(time)
                                if records:
                                    yield from records
                                continue
                            # decoded as scan_message does (surrogateescape is the
                            # strict codec on valid UTF-8)
                            call_id = data[cs:ce].decode("utf-8", "surrogateescape")
                            cseq = None if qs < 0 else \
                                data[qs:qe].decode("utf-8", "surrogateescape")
                            if use == px.USE_NOTHING:  # no payload copy, no origin
                                records = feed_parts(is_request, method, status, call_id,
                                                     cseq, None, b"", time, addrs[src],
                                                     addrs[dst], "")
                            else:
                                msg = None if use < 0 else \
                                    _call_fields(data, call_id, fields[use])
                                records = feed_parts(is_request, method, status, call_id,
                                                     cseq, msg, data[start:end], time,
                                                     addrs[src], addrs[dst],
                                                     prefix + str(number))
                            if records:
                                yield from records
                            continue
                        i = number - first - 1
                        kind = array[px.KIND, i]
                        if kind == 1:  # KIND_UDP: as _scanned's tuple
                            payload = data[start:end]
                            scan = scan_message_(payload)
                            if scan is not None:
                                n += 1
                                scanned += 1
                                is_request, method, status, call_id, cseq = scan
                                count_key = _METHOD_KEYS[method] if is_request \
                                    else _STATUS_KEYS[status]
                                try:
                                    counts[count_key] += 1
                                except KeyError:
                                    counts[count_key] = 1
                                if feed_parts is not None:
                                    records = feed_parts(is_request, method, status, call_id,
                                                         cseq, None, payload, time,
                                                         addrs[src], addrs[dst],
                                                         prefix + str(number))
                                    if records:
                                        yield from records
                                continue
                            items = [Datagram(time, addrs[src], int(array[px.SPORT, i]),
                                              addrs[dst], int(array[px.DPORT, i]), "udp",
                                              payload, prefix + str(number))]
                        else:  # KIND_FRAME
                            items = decode(linktype, data[start:end], time,
                                           prefix + str(number))
                        for item in items:
                            n += 1
                            records = self._feed_after(counts, item)
                            if records:
                                yield from records
                    if chunk.stop is not None:
                        errors[chunk.stop] += 1
                decoder.fragments.close()
        finally:
            stats.update(counts)
            capture.datagrams += scanned
            capture.sip_datagrams += scanned
            self.packets = n
        yield from capture.flush()


def _call_fields(data: Any, call_id: str, spans: list[int]) -> CallFields | None:
    """The CallFields of an INVITE from the spans capture.pcapindex.scan_fields found."""
    f = spans
    return call_fields(call_id, data[f[0]:f[1]].decode("utf-8", "surrogateescape"),
                       data[f[2]:f[3]].decode("utf-8", "surrogateescape"),
                       data[f[4]:f[5]].decode("utf-8", "surrogateescape"),
                       data[f[6]:f[7]].decode("utf-8", "surrogateescape"), bool(f[8]),
                       data[f[9]:f[10]].decode("utf-8", "surrogateescape"))


def _open_index(path: Path) -> Any:
    """A :class:`~capture.pcapindex.PcapIndex` over the file's memory map, or None: not
    a classic pcap, unreadable, or numba missing (the caller reads it the Python way,
    which counts any error)."""
    try:
        from capture.pcapindex import PcapIndex
    except ImportError:  # pragma: no cover - numba is a dependency; the old loop works
        return None
    try:
        with open(path, "rb") as f:
            data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):
        return None
    if PcapIndex.header(data) is None:
        data.close()
        return None
    return PcapIndex(data)


_KEYS: list[tuple[bool, str, int, str] | None] = []


def _index_keys() -> list[tuple[bool, str, int, str] | None]:
    """The index's KEY -> (is_request, method, status, stats key), as scan_message and
    the loop give them."""
    if not _KEYS:
        from capture.pcapindex import METHODS

        keys: list[tuple[bool, str, int, str] | None] = [None] * 700
        for i, method in enumerate(METHODS):
            keys[i] = (True, method, 0, _METHOD_KEYS[method])
        for status in range(100, 700):
            keys[status] = (False, "", status, _STATUS_KEYS[status])
        _KEYS.extend(keys)
    return _KEYS


def read_capture(path: str | Path, trunks: Any = None, **options: Any) -> CaptureResult:
    """The call and registration records of a pcap/pcapng file.

    >>> result = read_capture("/nonexistent.pcap")
    >>> list(result), dict(result.errors)
    ([], {'unreadable_file': 1})
    """
    return CaptureResult(path, trunks=trunks, **options)


def sip_messages(path: str | Path, errors: Counter | None = None
                 ) -> Iterator[tuple[Datagram, SipMessage]]:
    """Every SIP message of a capture file with the Datagram that completed it."""
    found: list[tuple[Datagram, SipMessage]] = []
    cap = SipCapture(on_message=lambda m, d: found.append((d, m)), track=False)
    if errors is not None:
        cap.errors = cap.tcp.errors = cap.tracker.errors = errors
    for d in read_packets(path, cap.errors):
        cap.feed_datagram(d)
        if found:
            yield from found
            found.clear()
    cap.flush()
    yield from found


def call_messages(path: str | Path, call_id: str) -> list[tuple[float, str, str, str]]:
    """(time, ``src:port``, ``dst:port``, label) of one call's messages, for a ladder
    diagram; the label is the method or ``status reason``."""
    return [(d.time, _endpoint(d.src, d.sport), _endpoint(d.dst, d.dport), m.label)
            for d, m in sip_messages(path) if m.call_id == call_id]


def _endpoint(ip: str, port: int) -> str:
    return f"{ip}:{port}"  # as fraudwatch.report.ladder writes endpoints
