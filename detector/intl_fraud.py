"""International fraud calls: inbound international calls scored on fraud signs.

Every inbound international call (caller presented as ``00…``/``+…``, or entering at
the international gateway) gets a score from independent signs, combined as a noisy-OR
(``1 - prod(1 - s)``):

- the origin's risk (list ``country_risk``, region of the country code);
- a malformed number (numbering plan: unassigned country code, over-long, impossible);
- a domestic number on the international route (spoofed CLI);
- one caller reaching many distinct subscribers within ``spray_window``;
- one-ring (Wangiri) calls: unanswered, zero-length calls to several subscribers;
- the callee's own call to a service hotline shortly before (``hotline_window``):
  fraudsters who learn of a lost parcel or a bank dispute call back posing as the
  company.

The score becomes a severity through the rule's ``*_score`` thresholds; spoofed CLI and
targeted calls after a hotline call are critical. A targeted call is reported per victim
(``counterparty`` = the victim), on the call record itself; other alerts are about the
caller (``counterparty`` None). A long answered call to the same person earlier (family
abroad) lowers the score.

State is keyed by one number: the international caller (a window of its recent calls)
and the subscriber (time of the last call to a service number).

>>> from detector.rulefiles import RuleSet
>>> from detector.records import Call
>>> d = IntlFraud(RuleSet.load())
>>> a = d.on_call(Call(start=0.0, caller="+8613812345678", callee="13900000001",
...                    ingress="international"))
>>> a[0].severity, a[0].evidence["signals"]["spoofed_cli"]
('critical', 0.95)
>>> d.on_call(Call(start=0.0, caller="+14155550100", callee="13900000001", duration=900,
...                ingress="international"))
()
"""

from __future__ import annotations

import polars as pl

from detector.alerts import Alert, iso
from detector.base import NO_ALERTS, Detector
from detector.records import Call
from detector.rulefiles import RuleSet
from detector.windows import SlidingWindow

_NOT_DOMESTIC = ("international", "malformed")


class _Caller:
    """Recent calls of one international caller: callees in the spray window, flagged when
    answered."""

    __slots__ = ("window", "familiar")

    def __init__(self, width: float) -> None:
        self.window = SlidingWindow(width)
        self.familiar: set[str] | None = None  # callees once answered at length


class IntlFraud(Detector):
    """Scores inbound international calls; see the module docstring.

    Parameters come from ``rules/detectors/intl_fraud.yaml``; origin risks from the list
    ``country_risk`` (``rules/lists/country_risk.yaml``).
    """

    kind = "intl_fraud"

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        p = self.rule.params
        self.plan = rules.numbering_plan()
        risk = dict(rules.list("country_risk", {}))
        self.default_risk = float(risk.pop("default", 0.3))
        self.country_risk = {str(k): float(v) for k, v in risk.items()}
        self.info_score = float(p["info_score"])
        self.warning_score = float(p["warning_score"])
        self.critical_score = float(p["critical_score"])
        self.origin_weight = float(p["origin_weight"])
        self.malformed_score = float(p["malformed_score"])
        self.spoofed_score = float(p["spoofed_score"])
        self.spray_window = self.rule.duration("spray_window")
        self.spray_callees = max(2, int(p["spray_callees"]))
        self.spray_weight = float(p["spray_weight"])
        self.wangiri_callees = max(2, int(p["wangiri_callees"]))
        self.wangiri_weight = float(p["wangiri_weight"])
        self.wangiri_dispositions = frozenset(
            str(x).upper() for x in p["wangiri_dispositions"])
        self.hotline_window = self.rule.duration("hotline_window")
        self.hotline_weight = float(p["hotline_weight"])
        self.targeted_min_risk = float(p["targeted_min_risk"])
        self.relative_min_duration = float(p["relative_min_duration"])
        self.relative_discount = float(p["relative_discount"])
        self._callers: dict[str, _Caller] = {}
        #: subscriber -> (time, hotline, ref) of their last call to a service number
        self._hotline_calls: dict[str, tuple[float, str, str]] = {}
        self._origin_cache: dict[str, tuple] = {}

    # -- hot path ------------------------------------------------------------------------
    def on_call(self, call: Call) -> list[Alert] | tuple:
        ingress = call.ingress
        if ingress == "access" or ingress == "unknown":
            # a subscriber's own call: remember calls to service hotlines (short numbers,
            # so mobiles and fixed lines skip the lookup)
            callee = call.callee
            if call.callee_line == "service" or (
                    len(callee) <= 10 and self.plan.classify(callee).category == "service"):
                self._hotline_calls[call.caller] = (call.start, callee, call.ref)
                return NO_ALERTS
            if ingress == "access":
                return NO_ALERTS
        caller = call.caller
        if ingress != "international":
            first = caller[:1]
            if first != "+" and not (first == "0" and caller[1:2] == "0"):
                return NO_ALERTS
        return self._score(call, ingress == "international")

    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Series | None:
        """Subscribers' calls to short or service numbers (hotline memory), calls through
        the international gateway, and other inbound calls shown in international format
        (:meth:`on_call`'s early returns, the service look-up widened to short numbers)."""
        return self.column(kind, frame, "selected") if kind == "call" else None

    def columns(self, kind: str) -> dict[str, pl.Expr]:
        if kind != "call":
            return {}
        ingress, caller = pl.col("ingress"), pl.col("caller")
        own = ingress.is_in(["access", "unknown"])
        return {"selected": ((own & ((pl.col("callee_line") == "service")
                                     | (pl.col("callee").str.len_chars() <= 10)))
                             | (ingress == "international")
                             | ((ingress != "access")
                                & (caller.str.starts_with("+") | caller.str.starts_with("00"))))
                .fill_null(False)}

    def _origin(self, caller: str) -> tuple:
        """(category, region, risk, reason) of a caller, cached per number."""
        hit = self._origin_cache.get(caller)
        if hit is None:
            info = self.plan.classify(caller)
            region = info.country or "??"
            risk = self.country_risk.get(region, self.default_risk)
            hit = (info.category, region, risk, info.reason)
            if len(self._origin_cache) > 100_000:
                self._origin_cache.clear()
            self._origin_cache[caller] = hit
        return hit

    def _score(self, call: Call, gateway: bool) -> list[Alert] | tuple:
        caller, callee, t = call.caller, call.callee, call.start
        category, region, risk, why = self._origin(caller)
        signals: dict[str, float] = {}
        if category == "malformed":
            if why == "not a number":
                return NO_ALERTS  # withheld / anonymous presentation: no number to judge
            signals["malformed"] = self.malformed_score
        elif category != "international":
            if not gateway:
                return NO_ALERTS  # a domestic number in international format, domestic route
            signals["spoofed_cli"] = self.spoofed_score
        else:
            origin = risk * self.origin_weight
            if origin > 0:
                signals["origin"] = round(origin, 4)
        state = self._callers.get(caller)
        if state is None:
            state = self._callers[caller] = _Caller(self.spray_window)
        answered = call.disposition == "ANSWERED"
        window = state.window
        window.add(t, callee, answered, call.ref)
        distinct = window.distinct
        if distinct >= 2:
            signals["spray"] = round(
                self.spray_weight * min(1.0, (distinct - 1) / (self.spray_callees - 1)), 4)
            if window.flagged == 0 and not answered and call.duration <= 0 \
                    and call.disposition in self.wangiri_dispositions:
                signals["wangiri"] = round(self.wangiri_weight * min(
                    1.0, (distinct - 1) / (self.wangiri_callees - 1)), 4)
        # family abroad: an earlier long answered call to the same person (not this one)
        familiar = state.familiar is not None and callee in state.familiar
        if answered and call.duration >= self.relative_min_duration:
            if state.familiar is None:
                state.familiar = set()
            if len(state.familiar) < 64:
                state.familiar.add(callee)
        hotline = self._hotline_calls.get(callee)
        if hotline is not None and 0 <= t - hotline[0] <= self.hotline_window:
            signals["after_hotline"] = self.hotline_weight
        else:
            hotline = None
        if not signals:
            return NO_ALERTS
        keep = 1.0
        for s in signals.values():
            keep *= 1.0 - s
        score = 1.0 - keep
        number_sign = "malformed" in signals or "spoofed_cli" in signals
        if familiar and not number_sign:
            score *= self.relative_discount
        if score < self.info_score and not number_sign:
            return NO_ALERTS
        targeted = hotline is not None and (risk >= self.targeted_min_risk or number_sign)
        if "spoofed_cli" in signals or targeted or score >= self.critical_score:
            severity = "critical"
        elif score >= self.warning_score:
            severity = "warning"
        else:
            severity = "info"
        evidence = {
            "caller": caller,
            "callee": callee,
            "origin": region,
            "origin_risk": round(risk, 2),
            "number_category": category,
            "signals": signals,
            "score": round(score, 3),
            "calls_in_window": len(window),
            "distinct_callees": distinct,
            "answered_in_window": window.flagged,
            "spray_window_s": self.spray_window,
            "spray_window": str(self.rule.params["spray_window"]),
            "thresholds": {"warning_score": self.warning_score,
                           "critical_score": self.critical_score,
                           "spray_callees": self.spray_callees,
                           "wangiri_callees": self.wangiri_callees},
            "ingress": call.ingress,
            "disposition": call.disposition,
            "duration": call.duration,
            "first_ref": window.first_ref,
            "first_time": iso(window.events[0][0]),
            "last_ref": call.ref,
            "last_time": iso(t),
        }
        if why:
            evidence["number_reason"] = why
        if hotline is not None:
            evidence["hotline"] = hotline[1]
            evidence["hotline_call_time"] = iso(hotline[0])
            evidence["hotline_call_ref"] = hotline[2]
            evidence["minutes_after_hotline"] = round((t - hotline[0]) / 60, 1)
        text = ", ".join(_SIGNAL_TEXT[k].format(**evidence) for k in signals)
        return [self.alert(caller, callee if targeted else None, t, score, evidence,
                           severity=severity, signals=text, warning_score=self.warning_score,
                           critical_score=self.critical_score)]

    # -- state ---------------------------------------------------------------------------
    def expire(self, now: float) -> None:
        horizon = now - self.spray_window
        self._callers = {k: s for k, s in self._callers.items()
                         if s.window.events and s.window.events[-1][0] >= horizon}
        horizon = now - self.hotline_window
        self._hotline_calls = {k: v for k, v in self._hotline_calls.items() if v[0] >= horizon}
        if len(self._origin_cache) > 10_000:
            self._origin_cache.clear()

    def tracked(self) -> int:
        return len(self._callers) + len(self._hotline_calls)


_SIGNAL_TEXT = {
    "origin": "origin {origin} risk {origin_risk}",
    "malformed": "malformed number ({number_reason})",
    "spoofed_cli": "domestic {number_category} number on the international route (spoofed CLI)",
    "spray": "{distinct_callees} distinct callees within {spray_window}",
    "wangiri": "one-ring calls to {distinct_callees} callees, none answered",
    "after_hotline": "callee called hotline {hotline} {minutes_after_hotline} min before",
}


DETECTOR = IntlFraud
