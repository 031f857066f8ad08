"""The notice board: de-duplication and re-raising of alerts, done once for every kind.

Detectors report what they see each time the evidence holds; the board decides what
becomes an alert. Following Zeek's notice framework, a finding for the same
(kind, subject, counterparty) is suppressed while it keeps recurring within the
suppression interval, raised again when it recurs after a quiet interval, and raised
again at once when its severity rises (e.g. harassment continuing after a complaint).

>>> from detector.alerts import Alert
>>> board = NoticeBoard({"default": 3600})
>>> f = lambda t, sev="warning": Alert("harassment", "v", "x", t, sev, 0.8, "r")
>>> [a.time for a in (board.offer(f(0)), board.offer(f(600)), board.offer(f(900, "critical")),
...  board.offer(f(9000))) if a]
[0, 900, 9000]
"""

from __future__ import annotations

from detector.alerts import SEVERITY_RANK, Alert
from detector.rulefiles import parse_duration


class NoticeBoard:
    """Suppress repeats of an alert by identifier, keyed by (kind, subject, counterparty)."""

    def __init__(self, suppress_for: dict[str, float | str]) -> None:
        self.default = parse_duration(suppress_for.get("default", 6 * 3600))
        self.per_kind = {k: parse_duration(v) for k, v in suppress_for.items() if k != "default"}
        # key -> [last time seen, severity rank raised]
        self._active: dict[tuple[str, str, str | None], list] = {}
        self.suppressed = 0

    def interval(self, kind: str) -> float:
        return self.per_kind.get(kind, self.default)

    def repeat(self, kind: str, subject: str, counterparty: str | None, time: float,
               severity: str) -> bool:
        """True if an alert with these facts would be suppressed; the sighting is recorded.

        Detectors call this before building an alert's evidence, so that an ongoing
        condition costs one dictionary look-up per record, not a new alert.
        """
        state = self._active.get((kind, subject, counterparty))
        if state is None or time - state[0] > self.interval(kind) \
                or SEVERITY_RANK[severity] > state[1]:
            return False
        state[0] = max(state[0], time)
        self.suppressed += 1
        return True

    def offer(self, alert: Alert) -> Alert | None:
        if self.repeat(alert.kind, alert.subject, alert.counterparty, alert.time,
                       alert.severity):
            return None
        key = (alert.kind, alert.subject, alert.counterparty)
        state = self._active.get(key)
        rank = SEVERITY_RANK[alert.severity]
        if state is None or alert.time - state[0] > self.interval(alert.kind):
            self._active[key] = [alert.time, rank]
        else:  # a rise in severity within the interval
            state[0], state[1] = max(state[0], alert.time), rank
        return alert

    def expire(self, now: float) -> None:
        dead = [k for k, s in self._active.items() if now - s[0] > self.interval(k[0])]
        for k in dead:
            del self._active[k]

    def __len__(self) -> int:
        return len(self._active)
