"""Scenario and hard-negative events, collected before the day-by-day write.

Scenarios are few compared with the background, so they are kept as Python rows and
merged into the day they start in. Two kinds of edits to the background are recorded
too: windows in which a line answers BUSY to everyone (a VoIP box occupies it) and
windows in which its ordinary registrations stop (the box replaced the home gateway).

>>> import numpy as np
>>> ev = Events(np.random.default_rng(0))
>>> end = ev.call(100, "+85512345678", "13812345678", 0, "NO ANSWER", "international")
>>> end > 100, len(ev.rows["call"])
(True, 1)
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np

from fraudwatch.simulate.background import RING
from fraudwatch.simulate.tables import COLUMNS, EMPTY, Table

CHINA = timezone(timedelta(hours=8))
MAX_TALK = 4 * 3600  # switches cut calls at 4 h; the pcap writer relies on the bound


def iso(t: float) -> str:
    """ISO 8601 in China time for labels (``2026-11-02T09:00:00+08:00``)."""
    return datetime.fromtimestamp(int(t), CHINA).isoformat()


class Events:
    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.rows: dict[str, list[tuple]] = {k: [] for k in COLUMNS}
        self.busy_windows: list[tuple[str, int, int]] = []
        self.registration_gaps: list[tuple[str, int, int]] = []
        #: SIP OPTIONS probes (time, source address, target extension, User-Agent): pcap only
        self.options: list[tuple[int, str, str, str]] = []

    def call(self, start: int, caller: str, callee: str, duration: int, disposition: str,
             ingress: str, caller_line: str = "", callee_line: str = "", user_agent: str = "",
             src_ip: str = "") -> int:
        """Add a call; returns its end time."""
        start = int(start)
        duration = min(int(duration), MAX_TALK) if disposition == "ANSWERED" else 0
        lo, hi = RING[disposition]
        end = start + int(self.rng.integers(lo, hi + 1)) + duration
        self.rows["call"].append((start, end, caller, callee, duration, disposition, ingress,
                                  caller_line, callee_line, user_agent, src_ip))
        return end

    def sms(self, t: int, sender: str, recipient: str, text: str, direction: str = "mt") -> None:
        self.rows["sms"].append((int(t), sender, recipient, text, direction))

    def registration(self, t: int, line: str, contact_ip: str, user_agent: str, status: int,
                     expires: int = EMPTY) -> None:
        self.rows["registration"].append((int(t), line, contact_ip, user_agent, status, expires))

    def feedback(self, t: int, number: str, kind: str, about: str = "") -> None:
        self.rows["feedback"].append((int(t), number, kind, about, ""))

    def by_hour(self, t_start: int, hours: int) -> dict[int, dict[str, list[tuple]]]:
        """The rows split into the simulated hours they start in (clamped to the period)."""
        out: dict[int, dict[str, list[tuple]]] = {}
        for kind, rows in self.rows.items():
            for row in rows:
                h = min(max(int((row[0] - t_start) // 3600), 0), hours - 1)
                out.setdefault(h, {k: [] for k in COLUMNS})[kind].append(row)
            rows.clear()
        return out

    def apply_to_background(self, tables: dict[str, Table]) -> dict[str, Table]:
        """Occupied lines answer BUSY and place no calls of their own; replaced gateways
        stop registering."""
        calls = tables["call"]
        if self.busy_windows and len(calls):
            c = calls.col
            windows: dict[str, list[tuple[int, int]]] = {}
            for line, t0, t1 in self.busy_windows:
                windows.setdefault(line, []).append((t0, t1))
            hit = _members(c["callee"], windows)
            for i in hit.tolist():
                t = c["start"][i]
                if any(t0 <= t < t1 for t0, t1 in windows[c["callee"][i]]):
                    c["end"][i] = t + 2
                    c["duration"][i] = 0
                    c["disposition"][i] = "BUSY"
            # and the household cannot place calls of its own on it
            placed = [i for i in _members(c["caller"], windows).tolist()
                      if any(t0 <= c["start"][i] < t1 for t0, t1 in windows[c["caller"][i]])]
            if placed:
                keep = np.ones(len(calls), dtype=bool)
                keep[placed] = False
                tables = {**tables, "call": calls.take(np.flatnonzero(keep))}
        regs = tables["registration"]
        if self.registration_gaps and len(regs):
            gaps: dict[str, list[tuple[int, int]]] = {}
            for line, t0, t1 in self.registration_gaps:
                gaps.setdefault(line, []).append((t0, t1))
            r = regs.col
            keep = np.ones(len(regs), dtype=bool)
            hit = _members(r["line"], gaps)
            for i in hit.tolist():
                t = r["time"][i]
                if any(t0 <= t < t1 for t0, t1 in gaps[r["line"][i]]):
                    keep[i] = False
            tables = {**tables, "registration": regs.take(np.flatnonzero(keep))}
        return tables


def _members(values: np.ndarray, keys) -> np.ndarray:
    """Indices of ``values`` found in ``keys`` (a hash lookup per row: strings sort slowly)."""
    keys = set(keys)
    return np.flatnonzero(np.fromiter((v in keys for v in values.tolist()), dtype=bool,
                                      count=len(values)))
