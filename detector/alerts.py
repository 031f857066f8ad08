"""Alerts as the alert contract (``shared/spec/alerts.md``) defines them.

>>> a = Alert(kind="sms_bombing", subject="13812345678", counterparty=None,
...           time=1737076323.0, severity="warning", score=0.9,
...           reason="68 codes in 35 min", evidence={"messages": 68})
>>> a.id == Alert(**{**a.__dict__}).id   # stable: same facts, same id
True
>>> sorted(a.to_dict())
['counterparty', 'evidence', 'id', 'kind', 'reason', 'score', 'severity', 'subject', 'time']
>>> a.to_dict()["time"]
'2025-01-17T01:12:03+00:00'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

KINDS = ("voip_box", "harassment", "intl_fraud", "sms_bombing", "optout_violation", "sip_scan")
SEVERITIES = ("info", "warning", "critical")
SEVERITY_RANK = {s: i for i, s in enumerate(SEVERITIES)}


def iso(t: float) -> str:
    """ISO 8601 (UTC, seconds) for an epoch time."""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds")


@dataclass
class Alert:
    """A detector's conclusion about a subject, with the evidence behind it."""

    kind: str
    subject: str
    counterparty: str | None
    time: float
    severity: str
    score: float
    reason: str
    evidence: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        key = f"{self.kind}|{self.subject}|{self.counterparty or ''}|{self.time:.3f}|{self.severity}"
        return hashlib.sha1(key.encode("utf-8")).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "subject": self.subject,
            "counterparty": self.counterparty,
            "time": iso(self.time),
            "score": round(float(self.score), 4),
            "reason": self.reason,
            "evidence": self.evidence,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=False, default=str)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        t = datetime.fromisoformat(d["time"]).timestamp()
        return cls(kind=d["kind"], subject=d["subject"], counterparty=d.get("counterparty"),
                   time=t, severity=d["severity"], score=float(d.get("score", 0)),
                   reason=d.get("reason", ""), evidence=d.get("evidence") or {})


class AlertLog:
    """Append-only JSON Lines alert log (a file the operator controls: it holds numbers)."""

    def __init__(self, path) -> None:
        self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def write(self, alert: Alert) -> None:
        self._fh.write(alert.to_json() + "\n")

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_alerts(path) -> list[Alert]:
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if line:
                out.append(Alert.from_dict(json.loads(line)))
    return out
