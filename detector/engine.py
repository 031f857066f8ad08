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
    module = importlib.import_module(f"detector.{kind}")
    return module.DETECTOR(rules)


@dataclass
class EngineStats:
    records: Counter = field(default_factory=Counter)
    alerts: Counter = field(default_factory=Counter)  # (kind, severity) -> n
    late: int = 0
    first_time: float | None = None
    last_time: float | None = None


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
        self._handlers: dict[type, list[Callable]] = {
            cls: [getattr(d, meth) for d in self.detectors if d.handles(meth)]
            for cls, meth in _HANDLERS.items()
        }
        self._heap: list = []
        self._seq = 0
        self._max_time = float("-inf")
        self._released = float("-inf")
        self._next_expiry: float | None = None
        self.stats = EngineStats()

    # -- input -------------------------------------------------------------------------
    def push(self, record) -> list[Alert]:
        """Accept one record; return the alerts that records now released produced."""
        t = record.time
        if t < self._released or t < self._max_time - self.lateness:
            self.stats.late += 1
            return self._dispatch(record)
        self._seq += 1
        heapq.heappush(self._heap, (t, record.tiebreak(), self._seq, record))
        if t > self._max_time:
            self._max_time = t
            return self._release(t - self.lateness)
        return []

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

    def tracked(self) -> dict[str, int]:
        return {d.kind: d.tracked() for d in self.detectors}

    # -- processing --------------------------------------------------------------------
    def _release(self, until: float) -> list[Alert]:
        heap = self._heap
        out: list[Alert] = []
        while heap and heap[0][0] <= until:
            record = heapq.heappop(heap)[3]
            self._released = record.time
            out.extend(self._dispatch(record))
        return out

    def _dispatch(self, record) -> list[Alert]:
        t = record.time
        stats = self.stats
        stats.records[record.record_kind] += 1
        if stats.first_time is None or t < stats.first_time:
            stats.first_time = t
        if stats.last_time is None or t > stats.last_time:
            stats.last_time = t
        if self._next_expiry is None:
            self._next_expiry = t + self.expiry_interval
        elif t >= self._next_expiry:
            self._expire(t)
        out: list[Alert] = []
        for handler in self._handlers[type(record)]:
            for alert in handler(record):
                kept = self.board.offer(alert)
                if kept is not None:
                    stats.alerts[(kept.kind, kept.severity)] += 1
                    out.append(kept)
        return out

    def _expire(self, now: float) -> None:
        for d in self.detectors:
            d.expire(now)
        self.board.expire(now)
        self._next_expiry = now + self.expiry_interval
