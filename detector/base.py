"""The small protocol every detection kind follows.

A detector receives records in event-time order through ``on_call``, ``on_sms``,
``on_registration`` and ``on_feedback`` (only those it defines are called) and returns
the alerts its evidence supports each time; the engine's :class:`NoticeBoard` decides
which of them are new. State is keyed by one number so the engine can be partitioned
by number; ``expire`` drops idle state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import polars as pl

from detector.alerts import Alert
from detector.notice import NoticeBoard
from detector.records import Call, Feedback, Registration, Sms
from detector.rulefiles import DetectionRule, RuleSet

NO_ALERTS: tuple[Alert, ...] = ()


class Detector:
    """Base class: one detection kind, configured by its rule in ``rules/detectors/``."""

    kind: str = ""
    #: the engine's notice board, set by the engine (None when a detector runs alone)
    notices: NoticeBoard | None = None

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.rule: DetectionRule = rules.rule(self.kind)

    # Handlers: override the ones the kind needs; the engine skips the others.
    def on_call(self, call: Call) -> Iterable[Alert]:
        return NO_ALERTS

    def on_sms(self, sms: Sms) -> Iterable[Alert]:
        return NO_ALERTS

    def on_registration(self, reg: Registration) -> Iterable[Alert]:
        return NO_ALERTS

    def on_feedback(self, fb: Feedback) -> Iterable[Alert]:
        return NO_ALERTS

    # Columnar replay (detector.columnar): which rows of a frame of records are worth a
    # handler call. The default, every row, is always right; a narrower choice must keep
    # every row that can change this detector's state or raise an alert.
    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Expr | pl.Series | None:
        """Rows of ``frame`` (records of ``kind``, in dispatch order, before any of them
        is handled) this detector must see: a boolean expression or Series, or None for
        every row. ``segment`` holds the frames of every kind dispatched together with
        it (between two of the engine's expiry points), for choices that depend on
        records of other kinds."""
        return None

    def columns(self, kind: str) -> dict[str, pl.Expr | Callable[[pl.DataFrame], pl.Expr]]:
        """Columns of a frame of ``kind`` that :meth:`selects` and :meth:`absorb` read and
        that follow from each row alone, never from state: an expression, or a function of
        the whole frame that returns one. The columnar feed adds them once to each frame
        it releases (one polars call for every detector) and a segment reads them by name
        (:meth:`column`): a polars call costs 0.1-0.4 ms however few the rows, and a frame
        is cut into several segments."""
        return {}

    def column(self, kind: str, frame: pl.DataFrame, name: str) -> pl.Series:
        """Column ``name`` of :meth:`columns` for the rows of ``frame`` (worked out here if
        the frame does not carry it)."""
        full = f"{self.kind}.{name}"
        if full in frame.schema:
            return frame.get_column(full)
        expr = self.columns(kind)[name]
        return frame.select((expr if isinstance(expr, pl.Expr) else expr(frame)).alias(full)
                            ).to_series()

    def absorb(self, kind: str, frame: pl.DataFrame, selected: np.ndarray) -> None:
        """After the segment's selected rows were handled: take in, in bulk, what the
        rows left out still teach (see Harassment)."""

    def expire(self, now: float) -> None:
        """Forget state idle at event time ``now``."""

    def tracked(self) -> int:
        """How many numbers this detector holds state for."""
        return 0

    def alert(self, subject: str, counterparty: str | None, time: float, score: float,
              evidence: dict, severity: str | None = None, **reason_values) -> Alert:
        """An alert of this kind, its reason filled from the rule's output template."""
        values = {**evidence, **reason_values, "subject": subject, "counterparty": counterparty}
        return Alert(kind=self.kind, subject=subject, counterparty=counterparty, time=time,
                     severity=severity or self.rule.priority, score=min(1.0, max(0.0, score)),
                     reason=self.rule.reason(**values), evidence=evidence)

    def repeats(self, subject: str, counterparty: str | None, time: float,
                severity: str | None = None) -> bool:
        """True when this alert would only repeat one already raised (see
        :meth:`NoticeBoard.repeat`): skip building its evidence."""
        board = self.notices
        return board is not None and board.repeat(self.kind, subject, counterparty, time,
                                                  severity or self.rule.priority)

    def handles(self, method: str) -> bool:
        return getattr(type(self), method) is not getattr(Detector, method)
