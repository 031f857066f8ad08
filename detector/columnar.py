"""The engine fed with frames of records (:mod:`detector.frames`) instead of objects.

:meth:`FrameFeed.push` gives exactly the alerts that pushing the same records one by one
into :meth:`Engine.push <detector.engine.Engine.push>` in the same arrival order gives:
the reorder buffer's schedule (which record is late, at which arrival the watermark
releases which records, the content tie-break among equal times) is computed with
numpy and polars for the whole frame, and the engine's expiry runs at the same records.

What it saves is the per-record work no detector needs: each detector declares, per
record kind, which rows can change its state or raise an alert
(:meth:`Detector.selects <detector.base.Detector.selects>`); a record object is built
only for a row some handler selected, and only those handlers see it. Rows nobody
selected still count in the statistics, the event-time span and the watermark.

>>> import polars as pl
>>> from detector.engine import Engine
>>> from detector.frames import to_frame
>>> from detector.records import Sms
>>> feed = FrameFeed(Engine(kinds=["sms_bombing"]))
>>> texts = [Sms(time=1000.0 + i, sender=f"10690{i:04d}", recipient="13800000001",
...              text=f"Your verification code is {i}") for i in range(80)]
>>> alerts = feed.push({"sms": to_frame("sms", texts)}) + feed.flush()
>>> [(a.kind, a.subject) for a in alerts][:1], feed.engine.stats.records["sms"]
([('sms_bombing', '13800000001')], 80)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from detector import hashindex
from detector.alerts import Alert
from detector.base import Detector
from detector.engine import Engine
from detector.frames import KIND_NUMBER, TIEBREAK, TIME_COLUMN, materialise
from detector.records import RECORD_TYPES

_LAST = np.iinfo(np.int64).max // 4  # schedule slot of everything released by flush()


class FrameFeed:
    """Feeds an :class:`~detector.engine.Engine` with frames; see the module docstring.

    Use either the feed or the engine's own ``push``: the feed keeps its own buffer.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # detectors keep cold state in hash indexes (detector.hashindex) in a columnar
        # replay: their compiled kernels are loaded here, with the rest of the set-up
        hashindex.warm_up()
        self._pending: dict[str, pl.DataFrame] = {}
        self._arrivals = 0  # arrival numbers given so far (the engine's ``seq``)
        # the watermark's advances during the current push: at which arrival, to what time
        self._advance_at = np.empty(0, dtype=np.int64)
        self._advance_to = np.empty(0)
        #: per kind: [(handler, detector or None)] in the engine's handler order
        self._handlers: dict[str, list[tuple[Callable, Detector | None]]] = {}
        for kind, cls in RECORD_TYPES.items():
            pairs = []
            for h in engine._handlers[cls]:
                owner = getattr(h, "__self__", None)
                pairs.append((h, owner if isinstance(owner, Detector) else None))
            self._handlers[kind] = pairs
        #: per kind: the detectors' derived columns (Detector.columns), by full name
        self._columns = {
            kind: {f"{d.kind}.{name}": expr for _, d in pairs if d is not None
                   for name, expr in d.columns(kind).items()}
            for kind, pairs in self._handlers.items()}

    # -- input -------------------------------------------------------------------------
    def push(self, frames: dict[str, pl.DataFrame]) -> list[Alert]:
        """Accept frames of records (one per kind). Their rows arrive in order within a
        frame; across kinds, by the ``arrival`` column if the frames have one (integers,
        increasing), else one kind after the other in the order given."""
        arrivals = []
        new = {}
        given = 0
        for kind, frame in frames.items():
            if frame.height == 0:
                continue
            if "arrival" not in frame.columns:
                frame = frame.with_columns(
                    (pl.int_range(frame.height, dtype=pl.Int64) + given).alias("arrival"))
            given += frame.height
            # arrival numbers continue the engine's: relative order is all that matters
            frame = frame.with_columns(pl.col("arrival").cast(pl.Int64))
            new[kind] = frame
            arrivals.append(frame.select(pl.col(TIME_COLUMN[kind]).alias("t"),
                                         pl.col("arrival")))
        if not new:
            return []
        order = pl.concat(arrivals).with_row_index("n").sort("arrival", maintain_order=True)
        slots, late_count = self._schedule(order.get_column("t").to_numpy())
        eng = self.engine
        eng.stats.late += late_count
        base = self._arrivals
        self._arrivals += order.height
        # each new row's arrival number (global) and schedule slot, back in its kind's frame
        by_row = order.with_columns(pl.Series("slot", slots),
                                    (pl.int_range(order.height, dtype=pl.Int64) + base)
                                    .alias("seq")).sort("n")
        # the watermark's advances also release what earlier pushes left buffered, of
        # every kind (not only the kinds in this push)
        for kind, old in self._pending.items():
            self._pending[kind] = old.with_columns(pl.Series(
                "_slot", self._release_slots(old.get_column(TIME_COLUMN[kind]).to_numpy(), -1)))
        offset = 0
        for kind, frame in new.items():
            part = by_row.slice(offset, frame.height)
            offset += frame.height
            frame = frame.drop("arrival").with_columns(part.get_column("seq").alias("_seq"),
                                                       part.get_column("slot").alias("_slot"))
            old = self._pending.get(kind)
            self._pending[kind] = frame if old is None else pl.concat([old, frame])
        return self._dispatch_ready()

    def flush(self) -> list[Alert]:
        """Release everything buffered (end of input)."""
        for kind, frame in self._pending.items():
            self._pending[kind] = frame.with_columns(pl.lit(_LAST, pl.Int64).alias("_slot"))
        return self._dispatch_ready()

    # -- the reorder buffer's schedule ----------------------------------------------------
    def _schedule(self, times: np.ndarray) -> tuple[np.ndarray, int]:
        """Each arriving record's slot: ``2 j`` for a late record dispatched at its arrival
        ``j``, ``2 i + 1`` for one released by the watermark's advance at arrival ``i``,
        -1 while still buffered. Updates the engine's watermark and newest time."""
        eng = self.engine
        lateness = eng.lateness
        n = len(times)
        running = np.maximum.accumulate(times)
        max_before = np.empty(n)
        max_before[0] = eng._max_time
        np.maximum(running[:-1], eng._max_time, out=max_before[1:])
        with np.errstate(invalid="ignore"):
            w_before = np.maximum(max_before - lateness, eng._watermark)
            late = times < w_before
            advances = (times > max_before) & (times - lateness > w_before)
        self._advance_at = np.flatnonzero(advances)
        self._advance_to = times[self._advance_at] - lateness
        slots = self._release_slots(times, np.arange(n))
        j = np.flatnonzero(late)
        slots[j] = 2 * j
        if n:
            top = float(running[-1])
            if top > eng._max_time:
                eng._max_time = top
                if top - lateness > eng._watermark:
                    eng._watermark = top - lateness
        return slots, int(late.sum())

    def _release_slots(self, times: np.ndarray, arrived) -> np.ndarray:
        """Slot of the first watermark advance (this push) at or after each record's
        arrival (-1: before this push) that reaches its time; -1 if none does."""
        at, to = self._advance_at, self._advance_to
        k = np.searchsorted(to, times, side="left")
        if not np.isscalar(arrived):
            k = np.maximum(k, np.searchsorted(at, arrived, side="left"))
        slots = np.full(len(times), -1, dtype=np.int64)
        ok = k < len(at)
        slots[ok] = 2 * at[k[ok]] + 1
        return slots

    # -- dispatch ---------------------------------------------------------------------
    def _dispatch_ready(self) -> list[Alert]:
        ready: dict[str, pl.DataFrame] = {}
        for kind, frame in list(self._pending.items()):
            due = frame.filter(pl.col("_slot") >= 0)
            if due.height:
                due = due.sort(["_slot", TIME_COLUMN[kind], *TIEBREAK[kind], "_seq"])
                if self._columns[kind]:
                    due = due.with_columns(
                        (expr if isinstance(expr, pl.Expr) else expr(due)).alias(name)
                        for name, expr in self._columns[kind].items())
                ready[kind] = due
                self._pending[kind] = frame.filter(pl.col("_slot") < 0)
        if not ready:
            return []
        # one sequence across kinds: (slot, time, kind number, place within its kind)
        keys = pl.concat([
            f.select(pl.col("_slot"), pl.col(TIME_COLUMN[k]).alias("t"),
                     pl.lit(KIND_NUMBER[k], pl.Int8).alias("k"),
                     pl.int_range(f.height, dtype=pl.Int64).alias("r"))
            for k, f in ready.items()])
        if len(ready) > 1:
            keys = keys.sort(["_slot", "t", "k", "r"])
        times = keys.get_column("t").to_numpy()
        kind_numbers = keys.get_column("k").to_numpy()
        #: per kind, the place in the sequence of each of its rows
        places = {k: np.flatnonzero(kind_numbers == KIND_NUMBER[k]) for k in ready}
        eng = self.engine
        for kind, frame in ready.items():
            eng.stats.records[kind] += frame.height
        eng._first_time = min(eng._first_time, float(times.min()))
        eng._last_time = max(eng._last_time, float(times.max()))
        out: list[Alert] = []
        n = len(times)
        start = 0
        while start < n:
            # the engine expires state before the first record whose time reaches
            # _next_expiry; between two such records nothing but the handlers runs
            if times[start] >= eng._next_expiry:
                eng._expire(float(times[start]))
            end = _first_at_least(times, start + 1, eng._next_expiry)
            self._run(ready, places, start, end, out)
            start = end
        return out

    def _run(self, ready: dict[str, pl.DataFrame], places: dict[str, np.ndarray], start: int,
             end: int, out: list[Alert]) -> None:
        """Hand the records at places ``start:end`` to the handlers that select them."""
        segment: dict[str, tuple[pl.DataFrame, int]] = {}
        for kind, frame in ready.items():
            r0, r1 = np.searchsorted(places[kind], [start, end])
            if r1 > r0:
                segment[kind] = (frame.slice(int(r0), int(r1 - r0)), int(r0))
        frames = {kind: part for kind, (part, _) in segment.items()}
        work = []  # per kind: (places, records, handler tuples)
        absorbers = []
        for kind, (part, r0) in segment.items():
            handlers = self._handlers[kind]
            codes = np.zeros(part.height, dtype=np.int64)
            for bit, (_, detector) in enumerate(handlers):
                chosen = (detector.selects(kind, part, frames) if detector is not None
                          else None)
                if chosen is None:
                    codes |= 1 << bit
                    continue
                if isinstance(chosen, pl.Expr):
                    chosen = part.select(chosen.fill_null(False)).to_series()
                mask = chosen.to_numpy()
                codes[mask] |= 1 << bit
                if type(detector).absorb is not Detector.absorb:
                    absorbers.append((detector, kind, part, mask))
            rows = np.flatnonzero(codes)
            if not len(rows):
                continue
            combos = {c: tuple(h for bit, (h, _) in enumerate(handlers) if c >> bit & 1)
                      for c in np.unique(codes[rows]).tolist()}
            work.append((places[kind][r0 + rows],
                         materialise(kind, part, None if len(rows) == part.height else rows),
                         [combos[c] for c in codes[rows].tolist()]))
        if len(work) == 1:
            _, records, handler_lists = work[0]
        elif work:
            merged = sorted(((int(p), r, h) for w in work for p, r, h in zip(*w, strict=True)),
                            key=_first)
            records = [m[1] for m in merged]
            handler_lists = [m[2] for m in merged]
        else:
            records, handler_lists = [], []
        eng = self.engine
        board, stats = eng.board, eng.stats
        for record, hs in zip(records, handler_lists, strict=True):
            for handler in hs:
                for alert in handler(record):
                    if eng.reranker is not None:
                        alert = eng.reranker(alert)
                    kept = board.offer(alert)
                    if kept is not None:
                        stats.alerts[(kept.kind, kept.severity)] += 1
                        out.append(kept)
        for detector, kind, part, mask in absorbers:
            detector.absorb(kind, part, mask)


def _first(item: tuple):
    return item[0]


def _first_at_least(times: np.ndarray, start: int, value: float, block: int = 8192) -> int:
    """Index of the first ``times[i] >= value`` with ``i >= start`` (``len`` if none)."""
    n = len(times)
    while start < n:
        hits = np.flatnonzero(times[start:start + block] >= value)
        if len(hits):
            return start + int(hits[0])
        start += block
    return n
