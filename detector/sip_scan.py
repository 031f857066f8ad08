"""SIP scanning: scanners, extension sweeps and authentication storms, per source address.

A source address is suspect when it

- announces a known scanning tool in its User-Agent (list ``sip_scanners``: SIPVicious'
  ``friendly-scanner``, ``sipcli``, ``VaxSIPUserAgent``...), in a call or a REGISTER;
- sweeps many extensions with refused attempts (distinct ``line`` values answered
  403/404, or call targets that FAILED, within the window): enumeration. A 401 is the
  ordinary digest challenge before every successful REGISTER, so it is not a refusal;
- causes a storm of failed attempts that make up most of its traffic: brute force.

A device that registers normally (a 401 challenge followed by 200) never gets there:
the storm needs ``storm_failures`` failed attempts that are at least
``storm_min_failure_ratio`` of all its attempts in the window.

State is keyed by the source address: a :class:`~detector.windows.SlidingWindow` of
the window's attempts, refused extensions counted per extension.

>>> from detector.rulefiles import RuleSet
>>> from detector.records import Registration
>>> d = SipScan(RuleSet.load())
>>> a = d.on_registration(Registration(time=0.0, line="100", contact_ip="45.134.1.2",
...                                    user_agent="friendly-scanner", status=404))
>>> a[0].subject, a[0].evidence["scanner"]
('45.134.1.2', 'friendly-scanner')
>>> d.on_registration(Registration(time=0.0, line="02161234567", contact_ip="58.32.1.2",
...                                user_agent="Huawei HG8245H", status=401))
()
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

import numpy as np
import polars as pl

from detector.alerts import Alert, iso
from detector.base import NO_ALERTS, Detector
from detector.records import Call, Registration
from detector.rulefiles import RuleSet
from detector.windows import SlidingWindow

_SOURCE_COLUMN = {"call": "src_ip", "registration": "contact_ip"}


class _Source:
    """One source address's attempts within the window: the value is the extension when
    it was refused (``""`` otherwise), flagged when the attempt failed."""

    __slots__ = ("attempts", "scanner", "agent")

    def __init__(self, width: float) -> None:
        self.attempts = SlidingWindow(width)
        self.scanner = ""      # the scanner list entry its User-Agent matched
        self.agent = ""

    @property
    def refused_extensions(self) -> int:
        values = self.attempts.values
        return len(values) - ("" in values)


class SipScan(Detector):
    """Scanner User-Agents, extension sweeps and failure storms from one source address.

    Parameters come from ``rules/detectors/sip_scan.yaml``; scanner names from
    ``rules/lists/sip_scanners.yaml``.
    """

    kind = "sip_scan"

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        p = self.rule.params
        self.window = self.rule.duration("window")
        self.window_text = str(p["window"])
        self.failure_statuses = frozenset(int(s) for s in p["failure_statuses"])
        self.sweep_statuses = frozenset(int(s) for s in p["sweep_statuses"])
        self.failed_dispositions = frozenset(
            str(s).upper() for s in p["failed_dispositions"])
        self.sweep_extensions = int(p["sweep_extensions"])
        self.storm_failures = int(p["storm_failures"])
        self.storm_ratio = float(p["storm_min_failure_ratio"])
        self.critical_extensions = int(p["critical_extensions"])
        self.scanner_score = float(p["scanner_score"])
        self.scanners = tuple(str(s).lower() for s in rules.list("sip_scanners", []) if s)
        self._agents: dict[str, str] = {}   # User-Agent -> matched scanner entry or ""
        self._sources: dict[str, _Source] = {}
        #: (segment, addresses that fail or show a scanner in it), see selects()
        self._segment_triggers: tuple = (None, set())

    def scanner_of(self, agent: str) -> str:
        """The scanner list entry a User-Agent matches, or ``""`` (cached per agent)."""
        hit = self._agents.get(agent)
        if hit is None:
            low = agent.lower()
            hit = next((s for s in self.scanners if s in low), "")
            if len(self._agents) > 50_000:
                self._agents.clear()
            self._agents[agent] = hit
        return hit

    # -- handlers ------------------------------------------------------------------------
    def on_registration(self, reg: Registration) -> list[Alert] | tuple:
        ip = reg.contact_ip
        if not ip:
            return NO_ALERTS
        status = reg.status
        failed = status is not None and status in self.failure_statuses
        refused = status is not None and status in self.sweep_statuses
        agent = reg.user_agent
        scanner = self._agents.get(agent) if agent else ""   # inline cache hit: hot path
        if scanner is None:
            scanner = self.scanner_of(agent)
        source = self._sources.get(ip)
        if source is None:
            if not failed and not scanner:
                return NO_ALERTS  # successful traffic from an unknown address: no state
            source = self._sources[ip] = _Source(self.window)
        return self._observe(source, ip, reg.time, reg.line if refused else None, failed,
                             scanner, reg.user_agent, reg.ref, "registration")

    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Expr | None:
        """Rows from a source address tracked now, or that fails or shows a scanner's
        User-Agent anywhere in this segment (calls and registrations alike: either kind
        starts tracking an address); the others leave no trace (see the handlers)."""
        if kind not in _SOURCE_COLUMN:
            return None
        seen, triggered = self._segment_triggers
        if seen is not segment:  # once per segment, for calls and registrations alike
            triggered = set()
            for k, f in segment.items():
                if k in _SOURCE_COLUMN:
                    rows = np.flatnonzero(self.column(k, f, "trigger").to_numpy())
                    if len(rows):
                        triggered.update(f.get_column(_SOURCE_COLUMN[k])[rows].to_list())
            triggered.discard("")
            self._segment_triggers = (segment, triggered)
        # tracked sources are few (at most 117 in the bench week): one is_in for both
        return pl.col(_SOURCE_COLUMN[kind]).is_in(sorted(triggered.union(self._sources)))

    def columns(self, kind: str) -> dict[str, Callable[[pl.DataFrame], pl.Expr]]:
        if kind not in _SOURCE_COLUMN:
            return {}
        return {"trigger": lambda frame: self._trigger(kind, frame).fill_null(False)}

    def _trigger(self, kind: str, frame: pl.DataFrame) -> pl.Expr:
        """Rows that open a source's window: failures and known scanners' User-Agents."""
        agents = [a for a in frame.get_column("user_agent").unique().to_list()
                  if a and self.scanner_of(a)]
        if kind == "call":
            failed = pl.col("disposition").is_in(sorted(self.failed_dispositions))
        else:
            failed = pl.col("status").is_in(sorted(self.failure_statuses)).fill_null(False)
        return failed | pl.col("user_agent").is_in(agents)

    def on_call(self, call: Call) -> list[Alert] | tuple:
        ip = call.src_ip
        if not ip:
            return NO_ALERTS
        failed = call.disposition in self.failed_dispositions
        agent = call.user_agent
        scanner = self._agents.get(agent) if agent else ""
        if scanner is None:
            scanner = self.scanner_of(agent)
        source = self._sources.get(ip)
        if source is None:
            if not failed and not scanner:
                return NO_ALERTS
            source = self._sources[ip] = _Source(self.window)
        return self._observe(source, ip, call.start, call.callee if failed else None, failed,
                             scanner, call.user_agent, call.ref, "call")

    def _observe(self, source: _Source, ip: str, t: float, refused_ext: str | None,
                 failed: bool, scanner: str, agent: str, ref: str,
                 record: str) -> list[Alert] | tuple:
        window = source.attempts
        window.add(t, refused_ext or "", failed, ref)
        if scanner:
            source.scanner, source.agent = scanner, agent
        attempts = len(window)
        extensions = source.refused_extensions
        failures = window.flagged
        signals = []
        if source.scanner:
            signals.append(f"scanner User-Agent {source.agent!r}")
        if extensions >= self.sweep_extensions:
            signals.append(f"refused attempts on {extensions} extensions "
                           f"(threshold {self.sweep_extensions})")
        if failures >= self.storm_failures and failures >= self.storm_ratio * attempts:
            signals.append(f"{failures} failed attempts (threshold {self.storm_failures}, "
                           f"{failures / attempts:.0%} of attempts)")
        if not signals:
            return NO_ALERTS
        # noisy-OR of the three signs, each scaled to its own threshold
        keep = (1.0 - (self.scanner_score if source.scanner else 0.0)) \
            * (1.0 - 0.9 * min(1.0, extensions / max(1, self.critical_extensions))) \
            * (1.0 - 0.8 * min(1.0, failures / (2.0 * self.storm_failures)))
        score = max(0.5, 1.0 - keep)
        critical = extensions >= self.critical_extensions or (
            source.scanner != "" and len(signals) > 1)
        if self.repeats(ip, None, t, "critical" if critical else None):
            return NO_ALERTS  # building the evidence costs ~15 us; a repeat needs none
        evidence = {
            "source": ip,
            "scanner": source.scanner or None,
            "user_agent": source.agent or agent or None,
            "attempts": attempts,
            "failures": failures,
            "extensions": extensions,
            "sample_extensions": [e for e in islice(window.values, 6) if e][:5],
            "window": self.window_text,
            "window_s": self.window,
            "thresholds": {"sweep_extensions": self.sweep_extensions,
                           "storm_failures": self.storm_failures,
                           "storm_min_failure_ratio": self.storm_ratio,
                           "critical_extensions": self.critical_extensions},
            "record": record,
            "first_ref": window.first_ref,
            "first_time": iso(window.events[0][0]),
            "last_ref": ref,
            "last_time": iso(t),
        }
        return [self.alert(ip, None, t, score, evidence,
                           severity="critical" if critical else None,
                           signals="; ".join(signals))]

    def expire(self, now: float) -> None:
        horizon = now - self.window
        self._sources = {k: s for k, s in self._sources.items()
                         if s.attempts.events and s.attempts.events[-1][0] >= horizon}

    def tracked(self) -> int:
        return len(self._sources)


DETECTOR = SipScan
