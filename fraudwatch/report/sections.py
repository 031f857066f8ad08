"""What each alert's section shows: its timeline chart and the records behind it.

The chart depends on the kind: calls per hour out of / into the subject (with the
alert time and the subject's earlier mean marked) for call kinds, SMS per minute by
sender for ``sms_bombing``, SMS from the counterparty with the opt-out marked for
``optout_violation``, registrations and calls from the address for ``sip_scan``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from detector.alerts import Alert
from fraudwatch.report.store import SubjectView
from fraudwatch.report.svg import PALETTE, Timeline, choose_bin

#: how far before / after the alert a timeline reaches at most
LOOKBACK = 14 * 86400
LOOKAHEAD = 2 * 86400
SMS_KINDS = ("sms_bombing", "optout_violation")
FEEDBACK_COLORS = {"complaint": "#e6550d", "opt_out": "#756bb1", "not_me": "#e6550d",
                   "confirmed": "#31a354", "dismissed": "#969696"}


def cited_strings(evidence: Any) -> set[str]:
    """Every string in an evidence value (call ids, numbers, times), for matching rows.

    >>> sorted(cited_strings({"call_ids": ["a", "b"], "n": 3, "first": {"id": "c"}}))
    ['a', 'b', 'c']
    """
    out: set[str] = set()
    stack = [evidence]
    while stack:
        v = stack.pop()
        if isinstance(v, str):
            if v:
                out.add(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple | set):
            stack.extend(v)
    return out


_RATE_UNITS = {"per_second": 1.0, "per_s": 1.0, "per_minute": 60.0, "per_hour": 3600.0,
               "per_h": 3600.0, "per_day": 86400.0}


def _evidence_rate(evidence: Any) -> float | None:
    """A baseline rate the detector put in its evidence, per second.

    >>> _evidence_rate({"baseline_per_hour": 0.5}) * 3600
    0.5
    >>> _evidence_rate({"calls": 3}) is None
    True
    """
    if not isinstance(evidence, dict):
        return None
    for key, value in evidence.items():
        if "baseline" in key and isinstance(value, int | float) and not isinstance(value, bool):
            for suffix, seconds in _RATE_UNITS.items():
                if key.endswith(suffix):
                    return float(value) / seconds
    return None


def _window(alert: Alert, times: Iterable[float]) -> tuple[float, float]:
    ts = [t for t in times if alert.time - LOOKBACK <= t <= alert.time + LOOKAHEAD]
    start = min(ts + [alert.time])
    end = max(ts + [alert.time])
    if end - start < 3600:
        pad = (3600 - (end - start)) / 2
        start, end = start - pad, end + pad
    return start, end


def _feedback_marks(chart: Timeline, view: SubjectView, limit: int = 8) -> None:
    for fb in view.feedback[:limit]:
        chart.mark(fb.time, fb.kind, FEEDBACK_COLORS.get(fb.kind, "#636363"))


def timeline(alert: Alert, view: SubjectView) -> Timeline:
    """The chart for one alert's section (not yet rendered)."""
    kind, subject = alert.kind, alert.subject
    if kind == "sms_bombing":
        rows = [s for s in view.sms if s.recipient == subject
                and alert.time - 3 * 3600 <= s.time <= alert.time + 3600]
        start, end = _window(alert, (s.time for s in rows))
        chart = Timeline(start, end, title="SMS to the subject by sender",
                         bin_width=60 if end - start <= 4 * 3600 else None)
        senders = Counter(s.sender for s in rows)
        top = [s for s, _ in senders.most_common(len(PALETTE) - 1)]
        for i, sender in enumerate(top):
            chart.add(sender, [s.time for s in rows if s.sender == sender], PALETTE[i])
        rest = [s.time for s in rows if s.sender not in set(top)]
        if rest:
            chart.add(f"{len(senders) - len(top)} other senders", rest, "#bdbdbd")
    elif kind == "optout_violation":
        rows = [s for s in view.sms if s.recipient == subject or s.sender == subject]
        start, end = _window(alert, (s.time for s in rows))
        chart = Timeline(start, end, title="SMS to the subject")
        cp = alert.counterparty
        chart.add(f"from {cp}" if cp else "from the sender",
                  [s.time for s in rows if s.recipient == subject and s.sender == cp], PALETTE[1])
        chart.add("from others", [s.time for s in rows if s.recipient == subject
                                  and s.sender != cp], "#bdbdbd")
        chart.add("sent by the subject", [s.time for s in rows if s.sender == subject],
                  PALETTE[0], below=True)
    elif kind == "sip_scan":
        regs = view.registrations
        calls = [c for c in view.calls if c.src_ip == subject]
        start, end = _window(alert, [r.time for r in regs] + [c.time for c in calls])
        chart = Timeline(start, end, title=f"signalling from {subject}")
        chart.add("REGISTER accepted", [r.time for r in regs if r.status and r.status < 300],
                  PALETTE[2])
        chart.add("REGISTER refused", [r.time for r in regs
                                       if not (r.status and r.status < 300)], "#d62728")
        chart.add("calls", [c.time for c in calls], PALETTE[0], below=True)
    else:
        calls = view.calls
        start, end = _window(alert, (c.time for c in calls))
        chart = Timeline(start, end, title="calls of the subject: outbound above, inbound below")
        out_t = np.array([c.time for c in calls if c.caller == subject], dtype=np.float64)
        chart.add("outbound", out_t, PALETTE[0])
        cp = alert.counterparty
        if kind == "harassment" and cp and any(c.caller == cp for c in calls):
            chart.add(f"inbound from {cp}", [c.time for c in calls
                                             if c.callee == subject and c.caller == cp],
                      PALETTE[1], below=True)
            chart.add("other inbound", [c.time for c in calls if c.callee == subject
                                        and c.caller != cp], "#bdbdbd", below=True)
        else:
            chart.add("inbound", [c.time for c in calls if c.callee == subject], "#bdbdbd",
                      below=True)
        chart.bin_width = choose_bin(end - start)
        # Baseline: the detector's own when its evidence gives a rate, else the subject's
        # mean outbound per bin over the time before the last day.
        rate = _evidence_rate(alert.evidence)
        before = out_t[out_t < alert.time - 86400]
        if rate is not None:
            chart.baseline = rate * chart.bin_width
            chart.baseline_label = "detector's baseline"
        elif len(before):
            span = max(alert.time - 86400 - max(start, float(before.min())), chart.bin_width)
            chart.baseline = len(before) / (span / chart.bin_width)
            chart.baseline_label = "mean outbound before"
    chart.mark(alert.time, f"alert ({alert.severity})")
    _feedback_marks(chart, view)
    return chart


def records_for(alert: Alert, view: SubjectView, limit: int = 200) -> tuple[str, list, int]:
    """(record kind, the rows behind the alert, how many rows there are in all).

    Rows cited in the evidence (by call id) come first, then the rows up to the alert
    time, latest first, then those after it."""
    kind, subject, cp = alert.kind, alert.subject, alert.counterparty
    cited = cited_strings(alert.evidence)
    rows: list
    if kind in SMS_KINDS:
        rk, rows = "sms", [s for s in view.sms if s.recipient == subject or s.sender == subject]
        if kind == "optout_violation" and cp:
            rows = [s for s in rows if cp in (s.sender, s.recipient)] or rows
    elif kind == "sip_scan":
        if view.registrations:
            rk, rows = "registration", list(view.registrations)
        else:
            rk, rows = "call", [c for c in view.calls if c.src_ip == subject]
    else:
        rk, rows = "call", list(view.calls)
        if kind == "harassment" and cp:
            rows = [c for c in rows if c.caller == cp] or rows
    total = len(rows)
    # rows are in time order: the ones around the alert are found by bisection, so a
    # subject with a million records costs no more than one with fifty
    first = [r for r in rows if is_cited(r, cited)] if cited else []
    taken = {id(r) for r in first}
    i = bisect_right(rows, alert.time, key=_time)
    before = [r for r in reversed(rows[max(0, i - limit):i]) if id(r) not in taken]
    after = [r for r in rows[i:i + limit] if id(r) not in taken]
    return rk, (first + before + after)[:limit], total


def is_cited(row, cited: set[str]) -> bool:
    """Whether the evidence names this row (by call id or by origin)."""
    return (row.ref in cited and bool(row.ref)) or getattr(row, "call_id", None) in cited


def _time(row) -> float:
    return row.time


def representative_call(alert: Alert, view: SubjectView, known: set[str]) -> str | None:
    """A call id to draw as a ladder: one cited in the evidence, else the subject's call
    nearest before the alert, among the call ids ``known`` to the captures."""
    if not known:
        return None
    for s in sorted(cited_strings(alert.evidence)):
        if s in known:
            return s
    best = None
    for c in view.calls:
        if c.call_id in known and (best is None or abs(c.time - alert.time) <
                                   abs(best.time - alert.time)):
            best = c
    return best.call_id if best else None


ROW_COLUMNS = {
    "call": ("time", "caller", "callee", "duration", "disposition", "ingress", "call_id",
             "user_agent", "src_ip"),
    "sms": ("time", "sender", "recipient", "direction", "text"),
    "registration": ("time", "line", "contact_ip", "user_agent", "status"),
}
NUMBER_COLUMNS = {"caller", "callee", "sender", "recipient", "line"}
