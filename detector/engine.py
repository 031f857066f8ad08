"""The detection engine: orders records by event time and runs every detector on them.

Records may arrive out of order (CDRs are written when calls end, so a stream is
ordered by end time, not start). The engine holds them in a reorder buffer and releases
them in event-time order once the watermark (newest event time seen minus the allowed
lateness) has passed them, with a tie-break on the record's content, so that any
arrival order within the lateness gives the same alerts. A record later than that is
still processed (never lost) and counted as ``late``.

>>> from detector.records import Sms
>>> eng = Engine(kinds=[])
>>> eng.push(Sms(time=10.0, sender="1069", recipient="138")) + eng.flush()
[]
>>> eng.stats.records["sms"]
1
"""

from __future__ import annotations

import heapq
import importlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from detector.alerts import KINDS, Alert
from detector.base import Detector
from detector.notice import NoticeBoard
from detector.records import Call, Feedback, Registration, Sms
from detector.rulefiles import RuleSet, parse_duration

_HANDLERS = {Call: "on_call", Sms: "on_sms", Registration: "on_registration",
             Feedback: "on_feedback"}


def load_detector(kind: str, rules: RuleSet) -> Detector:
    """The detector of a kind: module ``detector.<kind>`` exposes it as ``DETECTOR``."""
    try:
        module = importlib.import_module(f"detector.{kind}")
    except ModuleNotFoundError as e:
        if e.name != f"detector.{kind}":
            raise
        raise UnknownDetector(f"rule kind {kind!r} has no detector module detector.{kind}") from None
    return module.DETECTOR(rules)


class UnknownDetector(ValueError):
    """A rule names a detection kind this build has no detector for."""


@dataclass
class EngineStats:
    records: Counter = field(default_factory=Counter)
    alerts: Counter = field(default_factory=Counter)  # (kind, severity) -> n
    late: int = 0


class Engine:
    """Runs detectors over records in event-time order.

    Parameters
    ----------
    rules
        The rule set (default: the installed ``rules/``).
    kinds
        Which detection kinds to run (default: every enabled rule whose module exists).
    lateness
        Allowed lateness in seconds (default from ``rules/settings.yaml``).
    detectors
        Ready-made detectors, instead of ``kinds``.
    """

    def __init__(self, rules: RuleSet | None = None, kinds: Iterable[str] | None = None,
                 lateness: float | None = None,
                 detectors: Iterable[Detector] | None = None) -> None:
        self.rules = rules or RuleSet.load()
        settings = self.rules.settings
        self.lateness = parse_duration(lateness if lateness is not None
                                       else settings.get("allowed_lateness", "2h"))
        self.expiry_interval = parse_duration(settings.get("expiry_interval", "1h"))
        if detectors is None:
            if kinds is None:
                kinds = [k for k in KINDS if k in self.rules.rules and self.rules.rules[k].enabled]
            detectors = [load_detector(k, self.rules) for k in kinds]
        self.detectors = list(detectors)
        self.board = NoticeBoard(settings.get("suppress_for", {}))
        for d in self.detectors:
            d.notices = self.board
        self._handlers: dict[type, list[Callable]] = {
            cls: [getattr(d, meth) for d in self.detectors if d.handles(meth)]
            for cls, meth in _HANDLERS.items()
        }
        self._heap: list = []
        self._seq = 0
        self._max_time = float("-inf")
        self._watermark = float("-inf")
        self._first_time = float("inf")
        self._last_time = float("-inf")
        self._next_expiry = float("-inf")
        #: optional ``alert -> alert`` applied before de-duplication (e.g. a feedback re-ranker)
        self.reranker: Callable[[Alert], Alert] | None = None
        self.stats = EngineStats()

    # -- input -------------------------------------------------------------------------
    def push(self, record) -> list[Alert]:
        """Accept one record; return the alerts that records now released produced."""
        t = record.time
        if t < self._watermark:
            self.stats.late += 1
            return self._dispatch(record)
        self._seq += 1
        heapq.heappush(self._heap, (t, self._seq, record))
        if t > self._max_time:
            self._max_time = t
            watermark = t - self.lateness
            if watermark > self._watermark:
                self._watermark = watermark
                if self._heap[0][0] <= watermark:
                    return self._release(watermark)
        return _NOTHING

    def push_many(self, records: Iterable) -> list[Alert]:
        out: list[Alert] = []
        for r in records:
            out.extend(self.push(r))
        return out

    def flush(self) -> list[Alert]:
        """Release everything buffered (end of input)."""
        return self._release(float("inf"))

    @property
    def buffered(self) -> int:
        return len(self._heap)

    @property
    def watermark(self) -> float:
        return self._watermark

    @property
    def first_time(self) -> float | None:
        """Earliest event time processed so far."""
        return None if self._first_time == float("inf") else self._first_time

    @property
    def last_time(self) -> float | None:
        """Latest event time processed so far."""
        return None if self._last_time == float("-inf") else self._last_time

    def subscribe(self, record_type: type, handler: Callable) -> None:
        """Also call ``handler(record)`` for every released record of ``record_type``;
        its returned alerts go through the notice board like a detector's."""
        self._handlers[record_type].append(handler)

    def tracked(self) -> dict[str, int]:
        return {d.kind: d.tracked() for d in self.detectors}

    # -- processing --------------------------------------------------------------------
    def _release(self, until: float) -> list[Alert]:
        heap = self._heap
        pop = heapq.heappop
        dispatch = self._dispatch
        out: list[Alert] = []
        while heap and heap[0][0] <= until:
            t, _, record = pop(heap)
            if heap and heap[0][0] == t:
                # Records with the same event time: order them by content, not by arrival,
                # so that any input order gives the same alerts.
                group = [record]
                while heap and heap[0][0] == t:
                    group.append(pop(heap)[2])
                group.sort(key=_tiebreak)
                for r in group:
                    alerts = dispatch(r)
                    if alerts:
                        out.extend(alerts)
                continue
            alerts = dispatch(record)
            if alerts:
                out.extend(alerts)
        if until > self._watermark and until != float("inf"):
            self._watermark = until
        return out

    def _dispatch(self, record) -> list[Alert]:
        t = record.time
        stats = self.stats
        stats.records[record.record_kind] += 1
        if t > self._last_time:
            self._last_time = t
        if t < self._first_time:
            self._first_time = t
        if t >= self._next_expiry:
            self._expire(t)
        out = _NOTHING
        for handler in self._handlers[type(record)]:
            for alert in handler(record):
                if self.reranker is not None:
                    alert = self.reranker(alert)
                kept = self.board.offer(alert)
                if kept is not None:
                    stats.alerts[(kept.kind, kept.severity)] += 1
                    if out is _NOTHING:
                        out = []
                    out.append(kept)
        return out

    def _expire(self, now: float) -> None:
        if self._next_expiry != float("-inf"):
            for d in self.detectors:
                d.expire(now)
            self.board.expire(now)
        self._next_expiry = now + self.expiry_interval


_NOTHING: list[Alert] = []  # shared empty result: never mutated


def _tiebreak(record) -> tuple:
    return record.tiebreak()
