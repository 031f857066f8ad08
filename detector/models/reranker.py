"""Re-ranking alerts with analysts' verdicts: an online classifier of confirmed vs dismissed.

Every alert's features (its kind, severity, detector score, the numbers in its evidence
and the voip_box signals that fired) are remembered under the alert's id for a bounded
time. A ``confirmed`` or ``dismissed`` feedback record naming that ``alert_id`` teaches a
:class:`river.linear_model.LogisticRegression` (on standardised features) one example.
Once it has seen ``min_labels`` verdicts of both kinds, each new alert's score becomes a
blend of the detector's score and the probability that an analyst would confirm it;
the severity and the id do not change, so de-duplication is unaffected.

>>> from detector.alerts import Alert
>>> from detector.records import Feedback
>>> r = FeedbackReranker(min_labels=2, weight=1.0)
>>> def alert(t, calls):
...     return Alert("harassment", "138", "139", t, "warning", 0.6, "r", {"calls": calls})
>>> for i in range(40):
...     a = r.apply(alert(float(i), 40 if i % 2 else 5))
...     verdict = "confirmed" if i % 2 else "dismissed"
...     _ = r.on_feedback(Feedback(time=i + 0.5, number="analyst", kind=verdict, alert_id=a.id))
>>> r.apply(alert(100.0, 40)).score > 0.6 > r.apply(alert(101.0, 5)).score
True
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import replace

from river import linear_model, optim, preprocessing

from detector.alerts import SEVERITY_RANK, Alert
from detector.models import checkpoint
from detector.records import Feedback

VERDICTS = {"confirmed": True, "dismissed": False}


def alert_features(alert: Alert) -> dict[str, float]:
    """Numeric features of an alert: kind, severity, score, evidence numbers and signals."""
    kind = alert.kind
    x: dict[str, float] = {f"kind={kind}": 1.0, "severity": float(SEVERITY_RANK[alert.severity]),
                           "score": float(alert.score)}
    for key, value in alert.evidence.items():
        if isinstance(value, bool) or value is None:
            continue
        if isinstance(value, int | float):
            x[f"{kind}.{key}"] = math.copysign(math.log1p(abs(value)), value)
        elif isinstance(value, list | tuple) and key == "signals":
            for s in value:
                x[f"{kind}.signal={s}"] = 1.0
    if alert.evidence.get("complaint_time"):
        x[f"{kind}.after_complaint"] = 1.0
    return x


class FeedbackReranker(checkpoint.Checkpointable):
    """Learns from ``confirmed`` / ``dismissed`` feedback and re-scores alerts.

    Parameters
    ----------
    memory
        Seconds (event time) an alert's features are kept for a verdict to arrive.
    max_alerts
        Upper bound on remembered alerts (oldest dropped first).
    min_labels
        Verdicts of *each* kind needed before scores are changed.
    weight
        Share of the re-ranked score taken from the classifier (0 = detector only).
    """

    def __init__(self, memory: float = 30 * 86400.0, max_alerts: int = 200_000,
                 min_labels: int = 10, weight: float = 0.5, learning_rate: float = 0.05) -> None:
        self.memory = memory
        self.max_alerts = max_alerts
        self.min_labels = min_labels
        self.weight = weight
        self.model = preprocessing.StandardScaler() | linear_model.LogisticRegression(
            optimizer=optim.SGD(learning_rate))
        self.pending: OrderedDict[str, tuple[float, dict[str, float]]] = OrderedDict()
        self.labels = {True: 0, False: 0}
        self.unknown_verdicts = 0

    @property
    def ready(self) -> bool:
        return min(self.labels.values()) >= self.min_labels

    def probability(self, alert: Alert) -> float:
        """Probability that an analyst confirms the alert (0.5 before any learning)."""
        return float(self.model.predict_proba_one(alert_features(alert)).get(True, 0.5))

    def apply(self, alert: Alert) -> Alert:
        """Remember the alert's features; return it re-scored once the model is ready."""
        x = alert_features(alert)
        self._remember(alert.id, alert.time, x)
        if not self.ready or self.weight <= 0:
            return alert
        p = float(self.model.predict_proba_one(x).get(True, 0.5))
        score = (1 - self.weight) * alert.score + self.weight * p
        return replace(alert, score=score, evidence={**alert.evidence,
                                                     "detector_score": round(alert.score, 4),
                                                     "confirm_probability": round(p, 4)})

    __call__ = apply

    def on_feedback(self, fb: Feedback) -> tuple:
        """Learn from an analyst's verdict on a remembered alert (engine feedback handler)."""
        label = VERDICTS.get(fb.kind)
        if label is None or not fb.alert_id:
            return ()
        item = self.pending.pop(fb.alert_id, None)
        if item is None:
            self.unknown_verdicts += 1
            return ()
        self.model.learn_one(item[1], label)
        self.labels[label] += 1
        self._forget_before(fb.time - self.memory)
        return ()

    def attach(self, engine) -> FeedbackReranker:
        """Re-rank the engine's alerts and learn from the feedback records it dispatches."""
        engine.reranker = self.apply
        engine.subscribe(Feedback, self.on_feedback)
        return self

    def _remember(self, alert_id: str, t: float, x: dict[str, float]) -> None:
        pending = self.pending
        pending[alert_id] = (t, x)
        pending.move_to_end(alert_id)
        while len(pending) > self.max_alerts:
            pending.popitem(last=False)
        self._forget_before(t - self.memory)

    def _forget_before(self, horizon: float) -> None:
        pending = self.pending
        while pending:
            first = next(iter(pending.values()))
            if first[0] >= horizon:
                break
            pending.popitem(last=False)
