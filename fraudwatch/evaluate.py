"""Detection quality against a simulation's ground truth (``labels.json``).

An alert *matches* a labelled scenario when it has the same kind and subject and its
event time lies between the scenario's onset and deadline. Per kind:

- ``labels``: labelled scenarios; ``found``: those matched by at least one alert;
  ``recall`` = found / labels;
- ``alerted``: distinct subjects with a ``warning`` or ``critical`` alert of that kind;
  ``precision``: the fraction of them that match a label of that kind;
- ``median_delay_s``: median over found scenarios of (first matching alert - onset);
- for ``harassment``, ``median_calls_to_alert``: median number of the scenario's calls
  up to and including the first matching alert;
- ``hard_negatives_alerted``: hard-negative subjects given a warning/critical alert.

>>> labels = {"scenarios": [
...     {"id": "a", "kind": "sms_bombing", "subject": "1", "onset": "2026-11-02T10:00:00+08:00",
...      "deadline": "2026-11-02T11:00:00+08:00", "params": {}}],
...     "hard_negatives": [{"type": "otp_retry", "subject": "2"}]}
>>> alerts = [{"kind": "sms_bombing", "subject": "1", "severity": "warning",
...            "time": "2026-11-02T02:10:00+00:00"},
...           {"kind": "sms_bombing", "subject": "2", "severity": "critical",
...            "time": "2026-11-02T02:10:00+00:00"}]
>>> r = evaluate(labels, alerts)["kinds"]["sms_bombing"]
>>> r["recall"], r["precision"], r["median_delay_s"], r["hard_negatives_alerted"]
(1.0, 0.5, 600.0, 1)
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from detector.alerts import KINDS

RAISED = ("warning", "critical")  # severities that reach a person; info does not count


def _epoch(text: str) -> float:
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:  # the contracts always carry an offset; never use the host's zone
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def read_alerts(path: str | Path) -> tuple[list[dict], list[str]]:
    """Alerts of a JSON Lines file, and a ``line N: reason`` for each unusable line."""
    alerts, problems = [], []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                a = json.loads(line)
                if not isinstance(a, dict):
                    raise ValueError("not an object")
                for key in ("kind", "subject", "time"):
                    if key not in a:
                        raise ValueError(f"no {key!r}")
                _epoch(a["time"])
            except ValueError as e:
                problems.append(f"line {n}: {e}")
                continue
            alerts.append(a)
    return alerts, problems


def evaluate(labels: dict, alerts: Iterable[dict]) -> dict[str, Any]:
    """Recall, precision and detection delay per kind (see the module docstring)."""
    by_key: dict[tuple[str, str], list[tuple[float, str]]] = defaultdict(list)
    count = 0
    for a in alerts:
        count += 1
        by_key[(a["kind"], str(a["subject"]))].append((_epoch(a["time"]),
                                                       a.get("severity", "warning")))
    for times in by_key.values():
        times.sort()
    scenarios = labels.get("scenarios", [])
    kinds = sorted({s["kind"] for s in scenarios} | {k for k, _ in by_key},
                   key=lambda k: (KINDS.index(k) if k in KINDS else len(KINDS), k))
    hard_subjects = {str(h.get("subject")) for h in labels.get("hard_negatives", [])}
    for h in labels.get("hard_negatives", []):
        hard_subjects.update(str(x) for x in h.get("callers", []))
    out: dict[str, Any] = {}
    for kind in kinds:
        mine = [s for s in scenarios if s["kind"] == kind]
        delays, calls_to_alert, found = [], [], 0
        matched_subjects: set[str] = set()
        missed = []
        for s in mine:
            onset, deadline = _epoch(s["onset"]), _epoch(s["deadline"])
            hits = [t for t, _ in by_key.get((kind, str(s["subject"])), ()) if onset <= t <= deadline]
            if not hits:
                missed.append(s.get("id", s["subject"]))
                continue
            found += 1
            first = hits[0]
            delays.append(first - onset)
            raised = [t for t, sev in by_key[(kind, str(s["subject"]))]
                      if sev in RAISED and onset <= t <= deadline]
            if raised:
                matched_subjects.add(str(s["subject"]))
            if kind == "harassment" and s.get("params", {}).get("call_times"):
                calls_to_alert.append(sum(1 for c in s["params"]["call_times"]
                                          if _epoch(c) <= first))
        alerted = {subj for (k, subj), times in by_key.items()
                   if k == kind and any(sev in RAISED for _, sev in times)}
        row: dict[str, Any] = {
            "labels": len(mine),
            "found": found,
            "recall": round(found / len(mine), 4) if mine else None,
            "alerted": len(alerted),
            "precision": round(len(alerted & matched_subjects) / len(alerted), 4)
            if alerted else None,
            "median_delay_s": round(median(delays), 1) if delays else None,
            "hard_negatives_alerted": len(alerted & hard_subjects),
            "missed": missed,
        }
        if kind == "harassment":
            row["median_calls_to_alert"] = median(calls_to_alert) if calls_to_alert else None
        out[kind] = row
    total_labels = sum(r["labels"] for r in out.values())
    total_found = sum(r["found"] for r in out.values())
    return {"kinds": out, "alerts": count,
            "overall": {"labels": total_labels, "found": total_found,
                        "recall": round(total_found / total_labels, 4) if total_labels else None}}


def evaluate_files(labels_path: str | Path, alerts_path: str | Path) -> dict[str, Any]:
    """:func:`evaluate` on files; unusable alert lines are counted and listed, not fatal."""
    labels = json.loads(Path(labels_path).read_text(encoding="utf-8"))
    if not isinstance(labels, dict) or not isinstance(labels.get("scenarios"), list):
        raise ValueError("expected an object with a 'scenarios' list")
    alerts, problems = read_alerts(alerts_path)
    result = evaluate(labels, alerts)
    result["bad_alert_lines"] = len(problems)
    result["bad_alert_examples"] = problems[:10]
    return result


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _ratio(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}"


def format_table(result: dict[str, Any]) -> str:
    """The evaluation as a fixed-width table for a terminal."""
    head = (f"{'kind':<18}{'labels':>7}{'found':>7}{'recall':>8}{'alerted':>9}{'precision':>11}"
            f"{'delay':>11}{'calls':>7}{'hard-neg':>10}")
    lines = [head, "-" * len(head)]
    for kind, r in result["kinds"].items():
        calls = r.get("median_calls_to_alert")
        lines.append(f"{kind:<18}{r['labels']:>7}{r['found']:>7}{_ratio(r['recall']):>8}"
                     f"{r['alerted']:>9}{_ratio(r['precision']):>11}"
                     f"{_duration(r['median_delay_s']):>11}"
                     f"{'-' if calls is None else f'{calls:g}':>7}"
                     f"{r['hard_negatives_alerted']:>10}")
    o = result["overall"]
    lines.append("-" * len(head))
    lines.append(f"{'all':<18}{o['labels']:>7}{o['found']:>7}{_ratio(o['recall']):>8}")
    lines.append("delay: median time from scenario onset to its first matching alert; calls: "
                 "median harassment calls up to it; precision counts warning/critical alerts")
    if result.get("bad_alert_lines"):
        lines.append(f"{result['bad_alert_lines']} unusable alert line(s), e.g. "
                     f"{result['bad_alert_examples'][0]}")
    return "\n".join(lines)
