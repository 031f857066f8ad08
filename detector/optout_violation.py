"""Opt-out violations: marketing that goes on after the recipient unsubscribed.

A subscriber unsubscribes by replying an unsubscribe word (``T``, ``TD``, ``N``, ``Q``,
``QXFS``, ``退订``; list ``unsubscribe_words``) to the sender's port. Once the grace
period has passed, every further marketing message (list ``marketing_patterns``) from
that sender to that subscriber is a violation. The sender's confirmation ("您已成功
退订") is not marketing; marketing to people who never opted out (festival bursts) is
not a violation. Messages without text cannot be judged and are left alone.

State is keyed by the subscriber: the senders they unsubscribed from, with the time and
word, so a message costs one dict lookup unless its recipient ever opted out.

>>> from detector.rulefiles import RuleSet
>>> from detector.records import Sms
>>> d = OptoutViolation(RuleSet.load())
>>> d.on_sms(Sms(time=0.0, sender="13800000001", recipient="10655001", text="TD",
...              direction="mo"))
()
>>> d.on_sms(Sms(time=30.0, sender="10655001", recipient="13800000001",
...              text="【某店】您已成功退订"))
()
>>> a = d.on_sms(Sms(time=7200.0, sender="10655001", recipient="13800000001",
...                  text="【某店】会员日全场5折，回T退订"))
>>> a[0].subject, a[0].counterparty, a[0].evidence["word"]
('13800000001', '10655001', 'TD')
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from detector.alerts import Alert, iso
from detector.base import NO_ALERTS, Detector
from detector.records import Sms
from detector.rulefiles import RuleSet
from detector.sms_bombing import compile_any

# Stripped from a reply before it is compared with the unsubscribe words.
_TRIM = re.compile(r"[\s\.,;:!?'\"，。！？；：、“”‘’【】()（）]+")


class _OptOut:
    """One subscriber's opt-out from one sender, and what the sender did since."""

    __slots__ = ("time", "word", "ref", "violations", "first_ref", "first_time", "last")

    def __init__(self, time: float, word: str, ref: str) -> None:
        self.time = time
        self.word = word
        self.ref = ref
        self.violations = 0
        self.first_ref = ""
        self.first_time = 0.0
        self.last = time


class OptoutViolation(Detector):
    """Marketing from a sender after the recipient replied an unsubscribe word to it.

    Parameters come from ``rules/detectors/optout_violation.yaml``; words and patterns
    from ``rules/lists/sms_content.yaml``.
    """

    kind = "optout_violation"

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        p = self.rule.params
        self.grace = self.rule.duration("grace")
        self.grace_text = str(p["grace"])
        self.remember_for = self.rule.duration("remember_for")
        self.critical_after = int(p["critical_after"])
        self.words = frozenset(_TRIM.sub("", str(w)).upper()
                               for w in rules.list("unsubscribe_words", []))
        self.longest_word = max((len(w) for w in self.words), default=0)
        self.marketing = compile_any(rules.list("marketing_patterns", []))
        self.confirmation = compile_any(rules.list("unsubscribe_confirmation_patterns", []))
        #: subscriber -> sender -> opt-out
        self._optouts: dict[str, dict[str, _OptOut]] = {}

    def is_unsubscribe(self, text: str) -> str | None:
        """The unsubscribe word a reply consists of, or None.

        >>> from detector.rulefiles import RuleSet
        >>> d = OptoutViolation(RuleSet.load())
        >>> d.is_unsubscribe(" td. "), d.is_unsubscribe("退订"), d.is_unsubscribe("TD好的")
        ('TD', '退订', None)
        """
        if len(text) > self.longest_word + 8:
            return None
        word = _TRIM.sub("", text).upper()
        return word if word in self.words else None

    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Series | None:
        """Replies short enough to be an unsubscribe word, and messages to subscribers
        who opted out of someone (before or by such a reply in this segment)."""
        if kind != "sms":
            return None
        text = pl.col("text")
        reply = ((pl.col("direction") == "mo") & text.is_not_null()
                 & (text.str.len_chars() <= self.longest_word + 8))
        delivered = (pl.col("direction") != "mo") & text.is_not_null() & (text != "")
        flags = frame.select(reply.alias("reply"), delivered.alias("mt"))
        chosen = flags.get_column("reply").to_numpy().copy()
        repliers = set(frame.filter(pl.Series(chosen)).get_column("sender").to_list())
        mt = np.flatnonzero(flags.get_column("mt").to_numpy())
        recipients = frame.get_column("recipient").gather(mt).to_list()
        optouts = self._optouts
        chosen[mt[np.fromiter((r in optouts or r in repliers for r in recipients), bool,
                              len(recipients))]] = True
        return pl.Series(chosen)

    def on_sms(self, sms: Sms) -> list[Alert] | tuple:
        text = sms.text
        if not text:
            return NO_ALERTS
        if sms.direction == "mo":
            word = self.is_unsubscribe(text)
            if word is not None:
                by_sender = self._optouts.get(sms.sender)
                if by_sender is None:
                    by_sender = self._optouts[sms.sender] = {}
                known = by_sender.get(sms.recipient)
                if known is None:
                    by_sender[sms.recipient] = _OptOut(sms.time, word, sms.ref)
                else:
                    known.last = sms.time  # asked again: the original opt-out still counts
            return NO_ALERTS
        by_sender = self._optouts.get(sms.recipient)
        if by_sender is None:
            return NO_ALERTS
        optout = by_sender.get(sms.sender)
        if optout is None:
            return NO_ALERTS
        t = sms.time
        if t - optout.time <= self.grace:
            return NO_ALERTS
        if self.confirmation is not None and self.confirmation.search(text):
            return NO_ALERTS
        if self.marketing is None or self.marketing.search(text) is None:
            return NO_ALERTS
        optout.violations += 1
        optout.last = t
        if optout.violations == 1:
            optout.first_ref, optout.first_time = sms.ref, t
        evidence = {
            "word": optout.word,
            "optout_time": iso(optout.time),
            "optout_ref": optout.ref,
            "grace": self.grace_text,
            "grace_s": self.grace,
            "minutes_after": round((t - optout.time) / 60, 1),
            "violations": optout.violations,
            "critical_after": self.critical_after,
            "first_ref": optout.first_ref,
            "first_time": iso(optout.first_time),
            "last_ref": sms.ref,
            "last_time": iso(t),
        }
        critical = optout.violations >= self.critical_after
        score = min(1.0, 0.7 + 0.1 * optout.violations)
        return [self.alert(sms.recipient, sms.sender, t, score, evidence,
                           severity="critical" if critical else None)]

    def expire(self, now: float) -> None:
        horizon = now - self.remember_for
        fresh: dict[str, dict[str, _OptOut]] = {}
        for subscriber, by_sender in self._optouts.items():
            kept = {s: o for s, o in by_sender.items() if o.last >= horizon}
            if kept:
                fresh[subscriber] = kept
        self._optouts = fresh

    def tracked(self) -> int:
        return len(self._optouts)


DETECTOR = OptoutViolation
