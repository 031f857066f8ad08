"""SIP transactions and dialogs to records: one :class:`Call` per INVITE dialog, one
:class:`Registration` per REGISTER transaction.

Calls are keyed by Call-ID, so the legs a proxy forwards (same Call-ID) make one call;
retransmissions and re-INVITEs change nothing. A call's record is emitted when it ends:
at a BYE (answered calls), at its final non-2xx response, or by timeout (no BYE seen, no
final response seen). Memory is bounded: at most ``max_dialogs`` calls and registrations
in progress, the oldest evicted (and counted) beyond that.

Disposition from the final response to the INVITE: 2xx ANSWERED; 486/600 BUSY; 480/408
(or none) NO ANSWER; 487 CANCELLED; any other 3xx-6xx FAILED. A 401/407 challenge or a
3xx redirect is not final for the call: the caller usually retries with the same Call-ID.

>>> from capture.sip import parse_message
>>> def sip(text): return parse_message(text.replace("\\n", "\\r\\n").encode())
>>> inv = sip("INVITE sip:13812345678@b SIP/2.0\\nCall-ID: c1\\nCSeq: 1 INVITE\\n"
...           "From: <sip:+85512345678@gw>;tag=1\\nTo: <sip:13812345678@b>\\n\\n")
>>> ok = sip("SIP/2.0 200 OK\\nCall-ID: c1\\nCSeq: 1 INVITE\\n"
...          "From: <sip:+85512345678@gw>;tag=1\\nTo: <sip:13812345678@b>;tag=2\\n\\n")
>>> bye = sip("BYE sip:13812345678@b SIP/2.0\\nCall-ID: c1\\nCSeq: 2 BYE\\n\\n")
>>> t = DialogTracker(trunks={"203.0.113.0/24": "international"})
>>> t.feed(inv, 100.0, "203.0.113.9", 5060, "10.0.0.1", 5060)
[]
>>> t.feed(ok, 105.0, "10.0.0.1", 5060, "203.0.113.9", 5060)
[]
>>> [call] = t.feed(bye, 165.0, "203.0.113.9", 5060, "10.0.0.1", 5060)
>>> call.caller, call.callee, call.duration, call.disposition, call.ingress
('+85512345678', '13812345678', 60.0, 'ANSWERED', 'international')
"""

from __future__ import annotations

import ipaddress
import math
from collections import Counter, OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from capture.sip import CallFields, SipMessage, _cseq, parse_message, scan_call_fields
from detector.records import Call, Registration

#: how long an answered call with no message at all (no BYE, no session refresh) is kept
#: before it is closed by timeout (s): session timers (RFC 4028) refresh every 30 min by
#: default, and records emitted later than the engine's allowed lateness (2 h) arrive late
DIALOG_TIMEOUT = 3600.0
#: how long a call that was never answered waits for its final response (s)
SETUP_TIMEOUT = 300.0
#: how long a REGISTER waits for its final response (s)
REGISTER_TIMEOUT = 64.0
#: calls and registrations in progress at once (oldest evicted beyond)
MAX_DIALOGS = 200_000
#: Call-IDs remembered after their record was emitted (late retransmissions, BYE's 200)
MAX_CLOSED = 100_000
#: capture seconds between two timeout sweeps
SWEEP_EVERY = 30.0
#: requests that only show a call is alive
_IN_DIALOG = frozenset({"CANCEL", "ACK", "PRACK", "UPDATE", "INFO"})


def disposition(status: int | None) -> str:
    """The record contract's disposition for the final status of an INVITE.

    >>> [disposition(s) for s in (200, 486, 600, 480, 408, None, 487, 404, 503, 603)]
    ['ANSWERED', 'BUSY', 'BUSY', 'NO ANSWER', 'NO ANSWER', 'NO ANSWER', 'CANCELLED', \
'FAILED', 'FAILED', 'FAILED']
    """
    if status is None or status < 200:
        return "NO ANSWER"
    if status < 300:
        return "ANSWERED"
    if status in (486, 600):
        return "BUSY"
    if status in (480, 408):
        return "NO ANSWER"
    if status == 487:
        return "CANCELLED"
    return "FAILED"


class TrunkMap:
    """Source address to ingress: trunk CIDRs are ``international`` or ``domestic``
    gateways, every other address is one of the operator's ``access`` lines.

    Accepts a mapping ``{cidr: ingress}`` or a list of ``{cidr, ingress}`` entries (the
    ``trunks`` list in ``rules/lists/trunks.yaml``). Longest prefix wins.

    >>> m = TrunkMap([{"cidr": "10.1.0.0/16", "ingress": "domestic"},
    ...               {"cidr": "10.1.2.0/24", "ingress": "international"}])
    >>> m.ingress("10.1.2.3"), m.ingress("10.1.9.9"), m.ingress("192.0.2.1"), m.ingress("x")
    ('international', 'domestic', 'access', 'access')
    """

    def __init__(self, trunks: Mapping[str, str] | Iterable[Any] | None = None) -> None:
        entries: list[tuple[str, str]] = []
        if isinstance(trunks, Mapping):
            entries = [(str(k), str(v)) for k, v in trunks.items()]
        elif trunks:
            for item in trunks:
                if isinstance(item, Mapping):
                    entries.append((str(item.get("cidr", "")), str(item.get("ingress", ""))))
                elif isinstance(item, (list, tuple)) and len(item) == 2:
                    entries.append((str(item[0]), str(item[1])))
        nets = []
        for cidr, ingress in entries:
            if ingress not in ("international", "domestic", "access"):
                raise ValueError(f"trunk {cidr}: ingress must be international, domestic or "
                                 f"access, not {ingress!r}")
            nets.append((ipaddress.ip_network(cidr, strict=False), ingress))
        nets.sort(key=lambda n: n[0].prefixlen, reverse=True)
        self.networks = nets
        self._cache: dict[str, str] = {}

    def ingress(self, ip: str) -> str:
        hit = self._cache.get(ip)
        if hit is not None:
            return hit
        found = "access"
        if self.networks:
            try:
                addr = ipaddress.ip_address(ip.strip("[]"))
            except ValueError:
                addr = None
            if addr is not None:
                for net, ingress in self.networks:
                    if addr.version == net.version and addr in net:
                        found = ingress
                        break
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[ip] = found
        return found


class _Call:
    __slots__ = ("start", "caller", "callee", "user_agent", "src_ip", "origin",
                 "status", "answer", "last", "identity", "call_id")

    def __init__(self, msg: SipMessage | CallFields, time: float, src: str,
                 origin: str) -> None:
        self.call_id = msg.call_id
        self.start = time
        self.caller = msg.pai_user or msg.from_user
        self.callee = msg.to_user or msg.request_user
        self.user_agent = msg.user_agent
        self.src_ip = src
        self.origin = origin
        self.status: int | None = None
        self.answer: float | None = None
        self.last = time
        self.identity = msg.identity_present


class DialogTracker:
    """Turns a time-ordered stream of SIP messages into call and registration records."""

    def __init__(self, trunks: Any = None, dialog_timeout: float = DIALOG_TIMEOUT,
                 max_dialogs: int = MAX_DIALOGS, setup_timeout: float = SETUP_TIMEOUT,
                 register_timeout: float = REGISTER_TIMEOUT,
                 errors: Counter | None = None) -> None:
        #: losses (``dialog_evicted``) are also counted here, e.g. SipCapture's errors
        self.errors = errors
        self.trunks = trunks if isinstance(trunks, TrunkMap) else TrunkMap(trunks)
        self.dialog_timeout = dialog_timeout
        self.setup_timeout = setup_timeout
        self.register_timeout = register_timeout
        self.max_dialogs = max_dialogs
        self.calls: OrderedDict[str, _Call] = OrderedDict()
        # (call_id, cseq) -> [time, line, contact_ip, user_agent, origin]
        self.registers: OrderedDict[tuple, list] = OrderedDict()
        self.closed: OrderedDict[Any, None] = OrderedDict()
        #: what happened, by kind: dialog_timeout, dialog_evicted, orphan_response, ...
        self.counts: Counter = Counter()
        #: capture time of the next timeout sweep (the first message sets it, sweeps not)
        self._next_sweep = -math.inf
        self._swept = False

    # -- input --------------------------------------------------------------------------
    def feed(self, msg: SipMessage, time: float, src: str = "", sport: int = 0,
             dst: str = "", dport: int = 0, origin: str = "") -> list:
        """The records this message completes (usually none)."""
        out = self.feed_parts(msg.is_request, msg.method, msg.status, msg.call_id, None,
                              msg, b"", time, src, dst, origin)
        return out if out else []

    def feed_parts(self, is_request: bool, method: str, status: int, call_id: str,
                   cseq: str | None, msg: SipMessage | None, data: bytes, time: float,
                   src: str, dst: str, origin: str) -> list | tuple:
        """:meth:`feed` by parts, for hot loops: either ``msg``, or a message known by its
        :func:`~capture.sip.scan_message` (the first five arguments; ``data`` is the
        message, ``cseq`` is read only where the scan gives it). Most messages only move
        a dialog on; a scanned one is parsed further only when a record needs more than
        the scan (a new call: :func:`~capture.sip.scan_call_fields`, else the parser; a
        new REGISTER, a 2xx or orphan response to one: the parser). Returns the records
        completed, or an empty tuple.

        ``data`` and ``origin`` are read only for an INVITE or a REGISTER and a final
        response whose CSeq names REGISTER (capture.pcapindex's USE relies on it: other
        messages may come with ``b""`` and ``""``); an INVITE's ``msg`` may be the
        :class:`~capture.sip.CallFields` of :func:`~capture.sip.scan_call_fields`."""
        out = self.tick(time) if time >= self._next_sweep else ()
        if not call_id:
            self.counts["no_call_id"] += 1
            return out
        if is_request:
            if method == "INVITE":
                self._invite(msg, data, call_id, time, src, origin)
            elif method == "BYE":
                call = self.calls.get(call_id)
                if call is not None:
                    if call.answer is None:
                        # a BYE without a 2xx seen (lost, or a pre-answer teardown)
                        call.status = call.status if call.status and call.status < 300 else 200
                        call.answer = call.start
                    record = self._close(call_id, time, "bye")
                    return [*out, record] if out else [record]
            elif method in _IN_DIALOG:
                call = self.calls.get(call_id)
                if call is not None:
                    call.last = time
            elif method == "REGISTER":
                if msg is not None:
                    cseq = msg.header("cseq")
                self._register(msg, data, (call_id, _cseq(cseq)[0]), time, src,  # type: ignore[arg-type]
                               origin)
            return out
        if status < 200:
            return out
        if msg is not None:
            cseq = msg.header("cseq")
        parts = cseq.split()  # type: ignore[union-attr]
        cseq_method = parts[-1] if parts else ""  # as _cseq() gives it, number or not
        if cseq_method == "INVITE":
            call = self.calls.get(call_id)
            if call is None:
                if call_id not in self.closed:
                    self.counts["orphan_response"] += 1
                return out
            call.last = time
            if call.answer is not None:
                return out  # 2xx retransmission or a re-INVITE's response
            if status < 300:
                call.status, call.answer = status, time
            elif status in (401, 407) or status < 400:
                call.status = status  # challenged or redirected: a retry may follow
            else:
                call.status = status
                record = self._close(call_id, time, "final")
                return [*out, record] if out else [record]
        elif cseq_method == "REGISTER":
            record = self._register_response(msg, data, status,
                                              (call_id, _cseq(cseq)[0]),  # type: ignore[arg-type]
                                              time, dst, origin)
            if record is not None:
                return [*out, record] if out else [record]
        return out

    def tick(self, time: float) -> list | tuple:
        """:meth:`feed_parts` of a message that moves no dialog: a response with a Call-ID
        that is provisional, or final to a CSeq method other than INVITE and REGISTER.
        All it does is the timeout sweep that may be due at its time."""
        if time >= self._next_sweep:
            self._next_sweep = time + SWEEP_EVERY
            if self._swept:
                return self.flush(now=time)
            self._swept = True  # the first message only schedules the first sweep
        return ()

    def flush(self, now: float | None = None) -> list:
        """Records of dialogs and registrations that timed out by ``now`` (capture time);
        with no ``now`` (end of input), of everything still open."""
        out: list = []
        calls = self.calls
        if now is None:
            ended = list(calls)
        else:  # a sweep every SWEEP_EVERY over every open call: one comprehension
            answered, setup = self.dialog_timeout, self.setup_timeout
            ended = [call_id for call_id, call in calls.items()
                     if now - call.last > (answered if call.answer is not None else setup)]
        for call_id in ended:
            call = calls[call_id]
            self.counts["dialog_timeout" if now is not None else "dialog_open_at_end"] += 1
            out.append(self._close(call_id, call.last, "timeout" if now is not None else "end"))
        for key in list(self.registers):
            entry = self.registers[key]
            if now is not None and now - entry[0] <= self.register_timeout:
                break  # ordered by REGISTER time
            del self.registers[key]
            self.counts["register_unanswered"] += 1
            out.append(Registration(time=entry[0], line=entry[1], contact_ip=entry[2],
                                    user_agent=entry[3], origin=entry[4]))
        return out

    # -- calls --------------------------------------------------------------------------
    def _invite(self, msg: SipMessage | None, data: bytes, call_id: str, time: float,
                src: str, origin: str) -> None:
        calls = self.calls
        call = calls.get(call_id)
        if call is not None:
            call.last = time
            if call.answer is None and call.status is not None and call.status >= 300:
                call.status = None  # a retry after a challenge or redirect
            return  # retransmission, retry, re-INVITE or the next proxy leg
        if call_id in self.closed:
            return  # a late retransmission or re-INVITE of a finished call
        if len(calls) >= self.max_dialogs:
            self._evict()
        if msg is None:  # scanned: its caller and callee are found the same way
            msg = scan_call_fields(data, call_id) or parse_message(data)  # type: ignore[assignment]
        calls[call_id] = _Call(msg, time, src, origin)  # type: ignore[arg-type]

    def _close(self, call_id: str, end: float, how: str) -> Call:
        call = self.calls.pop(call_id)
        self._remember(call_id)
        duration = 0.0
        if call.answer is not None:
            duration = max(0.0, round(end - call.answer, 6))
        attrs: dict[str, Any] = {"ended": how}
        if call.status is not None:
            attrs["sip_status"] = call.status
        if call.identity:
            attrs["identity"] = True
        disp = disposition(call.status)
        if how in ("timeout", "end") and call.status is not None and call.answer is None \
                and (call.status in (401, 407) or call.status < 400):
            disp = "FAILED"  # challenged or redirected and never retried
        return Call(start=call.start, caller=call.caller, callee=call.callee,
                    duration=duration, disposition=disp,
                    ingress=self.trunks.ingress(call.src_ip), call_id=call.call_id,
                    user_agent=call.user_agent, src_ip=call.src_ip, origin=call.origin,
                    attrs=attrs)

    def _evict(self) -> None:
        # the oldest entry of either table goes: calls first, they are the bigger ones
        if self.calls:
            call_id, _ = self.calls.popitem(last=False)
            self._remember(call_id)
        elif self.registers:
            self.registers.popitem(last=False)
        self.counts["dialog_evicted"] += 1
        if self.errors is not None:
            self.errors["dialog_evicted"] += 1

    def _remember(self, key: Any) -> None:
        closed = self.closed
        closed[key] = None
        if len(closed) > MAX_CLOSED:
            closed.popitem(last=False)

    # -- registrations ------------------------------------------------------------------
    def _register(self, msg: SipMessage | None, data: bytes, key: tuple, time: float,
                  src: str, origin: str) -> None:
        if key in self.registers or key in self.closed:
            return  # retransmission
        if len(self.registers) + len(self.calls) >= self.max_dialogs:
            self._evict()
        if msg is None:
            msg = parse_message(data)
        self.registers[key] = [time, msg.to_user or msg.from_user, src, msg.user_agent,
                               origin]

    def _register_response(self, msg: SipMessage | None, data: bytes, status: int,
                           key: tuple, time: float, dst: str,
                           origin: str) -> Registration | None:
        entry = self.registers.pop(key, None)
        if entry is None:
            if key in self.closed:
                return None  # retransmitted response
            self.counts["orphan_response"] += 1
            # capture started after the REGISTER: the response still tells the outcome
            if msg is None:
                msg = parse_message(data)
            entry = [time, msg.to_user or msg.from_user, dst, "", origin]
        self._remember(key)
        expires = None
        if 200 <= status < 300:
            if msg is None:
                msg = parse_message(data)
            expires = msg.expires
        return Registration(time=entry[0], line=entry[1], contact_ip=entry[2],
                            user_agent=entry[3], status=status, expires=expires,
                            origin=entry[4])
