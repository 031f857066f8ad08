"""Event-time sliding windows: counts, flagged counts and distinct values, O(1) amortised.

Detectors keep one small window per tracked number. Each event is appended once and
dropped once when it leaves the window, so a record never costs O(window) work; the
running totals are always current for the newest event's time.

>>> w = SlidingWindow(3600)
>>> for t, callee, short in [(0, "a", 1), (60, "b", 1), (120, "a", 0), (3700, "c", 1)]:
...     w.add(t, callee, short)
>>> len(w), w.flagged, w.distinct, w.first_time
(2, 1, 2, 120)
>>> w.add(9000, "d", 0); (len(w), w.distinct, w.span())
(1, 1, 0)
"""

from __future__ import annotations

from collections import deque


class SlidingWindow:
    """Events of the last ``width`` seconds (event time), with running totals.

    Each event has a time, a value (e.g. the callee, the sender) whose distinct count is
    kept, and an integer flag (1 = e.g. short or unanswered) whose sum is kept.

    Parameters
    ----------
    width
        Window length in seconds; events older than ``newest - width`` are dropped.
    """

    __slots__ = ("width", "events", "values", "flagged")

    def __init__(self, width: float) -> None:
        self.width = width
        #: (time, value, flag, ref): ``ref`` is the record's reference, for evidence
        self.events: deque[tuple[float, str, int, str]] = deque()
        self.values: dict[str, int] = {}
        self.flagged = 0

    def add(self, time: float, value: str, flag: int = 0, ref: str = "") -> None:
        """Record one event at ``time`` and slide the window to it."""
        events = self.events
        events.append((time, value, flag, ref))
        values = self.values
        values[value] = values.get(value, 0) + 1
        self.flagged += flag
        if events[0][0] < time - self.width:  # most adds slide nothing: no call for them
            self.slide(time)

    def slide(self, now: float) -> None:
        """Drop the events older than ``now - width``."""
        horizon = now - self.width
        events, values = self.events, self.values
        while events and events[0][0] < horizon:
            _, value, flag, _ = events.popleft()
            n = values[value] - 1
            if n:
                values[value] = n
            else:
                del values[value]
            self.flagged -= flag

    def __len__(self) -> int:
        return len(self.events)

    @property
    def distinct(self) -> int:
        """How many distinct values the window holds."""
        return len(self.values)

    @property
    def first_time(self) -> float | None:
        return self.events[0][0] if self.events else None

    @property
    def last_time(self) -> float | None:
        return self.events[-1][0] if self.events else None

    @property
    def first_ref(self) -> str:
        return self.events[0][3] if self.events else ""

    @property
    def last_ref(self) -> str:
        return self.events[-1][3] if self.events else ""

    def span(self) -> float:
        """Seconds between the oldest and newest event in the window."""
        return self.events[-1][0] - self.events[0][0] if self.events else 0.0


class DecayingRate:
    """An hourly event rate that decays exponentially in event time (half-life in seconds).

    Cheap per-number history: two floats. ``rate(now)`` is events per hour, smoothed over
    roughly the half-life; used as a line's own calling baseline.

    >>> r = DecayingRate(86400)
    >>> for h in range(48):
    ...     r.add(h * 3600.0)          # one event an hour for two days
    >>> 0.6 < r.rate(48 * 3600.0) < 1.4
    True
    """

    __slots__ = ("half_life", "value", "time")

    def __init__(self, half_life: float, value: float = 0.0, time: float = 0.0) -> None:
        self.half_life = half_life
        self.value = value
        self.time = time

    def _decay(self, now: float) -> None:
        if now > self.time:
            self.value *= 0.5 ** ((now - self.time) / self.half_life)
            self.time = now

    def add(self, now: float, weight: float = 1.0) -> None:
        self._decay(now)
        self.value += weight

    def rate(self, now: float) -> float:
        """Events per hour."""
        self._decay(now)
        # the integral of the decay kernel is half_life / ln 2 seconds
        return self.value * 3600.0 * 0.6931471805599453 / self.half_life
