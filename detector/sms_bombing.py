"""SMS bombing: a flood of verification codes from many senders to one recipient.

Attackers feed a victim's number into many websites' "send me a code" forms: the
victim receives dozens of codes from different platforms within minutes (the seed case:
68 in 35 minutes), either to harass or to bury one real code (a bank transfer) in the
noise. A platform retrying its own code 2-4 times is not bombing: the rule needs many
codes *and* many distinct senders in the window. A bank's message inside the flood
raises the alert to critical.

State is keyed by the recipient: a :class:`~detector.windows.SlidingWindow` of the
codes of the last ``window`` with a count per sender, so every message costs O(1)
amortised.

>>> from detector.rulefiles import RuleSet
>>> from detector.records import Sms
>>> d = SmsBombing(RuleSet.load())
>>> out = []
>>> for i in range(6):
...     out += d.on_sms(Sms(time=60.0 * i, sender=f"106900{i % 5}", recipient="13800000001",
...                         text=f"【平台{i}】您的验证码是{100000 + i}，5分钟内有效。"))
>>> [(a.severity, a.evidence["codes"], a.evidence["senders"]) for a in out]
[('warning', 6, 5)]
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from detector.alerts import Alert, iso
from detector.base import NO_ALERTS, Detector
from detector.records import Sms
from detector.rulefiles import RuleSet
from detector.windows import SlidingWindow


def compile_any(patterns: list[str] | None) -> re.Pattern | None:
    """One case-insensitive regex matching any of ``patterns`` (None when there are none)."""
    pats = [str(p) for p in patterns or () if str(p)]
    if not pats:
        return None
    return re.compile("|".join(f"(?:{p})" for p in pats), re.IGNORECASE)


class _Flood:
    """Verification codes received by one recipient within the window, by sender."""

    __slots__ = ("codes", "bank_time", "bank_sender")

    def __init__(self, width: float) -> None:
        self.codes = SlidingWindow(width)
        self.bank_time = float("-inf")
        self.bank_sender = ""


class SmsBombing(Detector):
    """Many verification codes from many senders to one recipient within a window.

    Parameters come from ``rules/detectors/sms_bombing.yaml``; content patterns from
    ``rules/lists/sms_content.yaml`` (``verification_patterns``, ``bank_senders``,
    ``bank_patterns``).
    """

    kind = "sms_bombing"

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        p = self.rule.params
        self.window = self.rule.duration("window")
        self.window_text = str(p["window"])
        self.min_codes = int(p["min_codes"])
        self.min_senders = int(p["min_senders"])
        self.full_score_codes = max(self.min_codes, int(p["full_score_codes"]))
        self.verification = compile_any(rules.list("verification_patterns", []))
        self.bank_senders = frozenset(str(x) for x in rules.list("bank_senders", []))
        self.bank_patterns = compile_any(rules.list("bank_patterns", []))
        self._floods: dict[str, _Flood] = {}

    def _is_bank(self, sms: Sms, text: str) -> bool:
        if sms.sender in self.bank_senders:
            return True
        return self.bank_patterns is not None and self.bank_patterns.search(text) is not None

    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Series | None:
        """Verification codes (the same pattern as :meth:`on_sms`), and other messages to
        a recipient with a flood under way or starting in this segment (a bank's message
        inside a flood)."""
        if kind != "sms" or self.verification is None:
            return None
        mt = frame.select((pl.col("direction") != "mo") & pl.col("text").is_not_null()
                          & (pl.col("text") != "")).to_series().to_numpy()
        rows = np.flatnonzero(mt)
        search = self.verification.search
        texts = frame.get_column("text").gather(rows).to_list()
        code = np.fromiter((search(t) is not None for t in texts), bool, len(texts))
        recipients = frame.get_column("recipient").gather(rows).to_list()
        flooded = {r for r, c in zip(recipients, code.tolist(), strict=True) if c}
        floods = self._floods
        other = np.fromiter((r in floods or r in flooded for r in recipients), bool,
                            len(recipients))
        chosen = np.zeros(frame.height, dtype=bool)
        chosen[rows[code | other]] = True
        return pl.Series(chosen)

    def on_sms(self, sms: Sms) -> list[Alert] | tuple:
        text = sms.text
        if not text or sms.direction == "mo" or self.verification is None:
            return NO_ALERTS
        recipient = sms.recipient
        if self.verification.search(text) is None:
            # not a code; a bank notice still matters when a flood is under way
            flood = self._floods.get(recipient)
            if flood is not None and self._is_bank(sms, text):
                flood.bank_time, flood.bank_sender = sms.time, sms.sender
            return NO_ALERTS
        t = sms.time
        flood = self._floods.get(recipient)
        if flood is None:
            flood = self._floods[recipient] = _Flood(self.window)
        window = flood.codes
        window.add(t, sms.sender, 0, sms.ref)
        if self._is_bank(sms, text):
            flood.bank_time, flood.bank_sender = t, sms.sender
        codes = len(window)
        if codes < self.min_codes or window.distinct < self.min_senders:
            return NO_ALERTS
        first_t, first_ref = window.events[0][0], window.events[0][3]
        senders = window.values
        bank = flood.bank_time >= t - self.window
        if self.repeats(recipient, None, t, "critical" if bank else None):
            return NO_ALERTS
        evidence = {
            "codes": codes,
            "senders": len(senders),
            "window": self.window_text,
            "window_s": self.window,
            "min_codes": self.min_codes,
            "min_senders": self.min_senders,
            "top_senders": sorted(senders, key=senders.__getitem__, reverse=True)[:5],
            "bank_message": flood.bank_sender if bank else None,
            "first_ref": first_ref,
            "first_time": iso(first_t),
            "last_ref": sms.ref,
            "last_time": iso(t),
            "span_s": round(t - first_t, 1),
        }
        score = 0.6 + 0.4 * min(1.0, codes / self.full_score_codes)
        note = f"; bank message from {flood.bank_sender} inside the flood" if bank else ""
        return [self.alert(recipient, None, t, score, evidence,
                           severity="critical" if bank else None, bank_note=note)]

    def expire(self, now: float) -> None:
        horizon = now - self.window
        self._floods = {k: f for k, f in self._floods.items()
                        if f.codes.events and f.codes.events[-1][0] >= horizon}

    def tracked(self) -> int:
        return len(self._floods)


DETECTOR = SmsBombing
