"""Active suspects, named by pseudonym: what Prometheus may know about a suspect.

Metric labels leave the operator's control (Prometheus, Grafana, remote storage), so a
phone number never goes into one. A suspect is named instead by a keyed pseudonym
(HMAC-SHA256 with an operator secret, truncated: ``ps_3f9a1c2b4d5e``) or a masked form
(``138****5678``); the alert log, which the operator controls, carries the pseudonym in
each alert's ``evidence["subject_pseudonym"]`` to map it back.

The table keeps at most ``per_kind`` suspects per detection kind (the highest scores)
and forgets a suspect once no alert has renewed it for ``ttl`` seconds of *event* time,
so the ``fraudwatch_suspect_score`` series stay few and bounded by construction.

>>> p = Pseudonymizer(b"secret")
>>> p("13812345678")
'ps_ccc5113e23aa'
>>> p("13812345678") == Pseudonymizer(b"other")("13812345678")
False
>>> Pseudonymizer(mode="mask")("13812345678")
'138****5678'
>>> from detector.alerts import Alert
>>> table = SuspectTable(p, per_kind=2, ttl=3600)
>>> for i, score in enumerate((0.5, 0.9, 0.7)):
...     _ = table.observe(Alert("sms_bombing", f"1380000000{i}", None, 100.0 * i, "warning",
...                             score, "burst"))
>>> sorted(s.score for s in table.active("sms_bombing"))   # the two highest
[0.7, 0.9]
>>> table.expire(200.0 + 3601)
>>> table.counts()["sms_bombing"]
0
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from detector.alerts import KINDS, Alert

# Number-like runs (5+ digits, maybe after +) and IPv4 addresses.
_DIGITS = re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\+?\d{5,}")


def mask(number: str) -> str:
    """A number with its middle hidden: ``138****5678``; short ones keep only the last 2.

    >>> mask("13812345678"), mask("+85512345678"), mask("95353"), mask("10.0.0.7")
    ('138****5678', '+85*****5678', '***53', '10.*****')
    """
    n = len(number)
    if "." in number or ":" in number:  # an address, not a number: keep the first octet
        head = re.split(r"[.:]", number, maxsplit=1)[0]
        return head + ("." if "." in number else ":") + "*****"
    if n >= 9:
        return number[:3] + "*" * (n - 7) + number[-4:]
    return "*" * max(1, n - 2) + number[-2:]


class Pseudonymizer:
    """Names a number without revealing it.

    Parameters
    ----------
    key
        The operator's secret; without one a random key is drawn (pseudonyms are then
        stable within one run only, which is still enough to map back via the alert log).
    mode
        ``"hmac"`` (default) for ``ps_`` + 12 hex digits of HMAC-SHA256, or ``"mask"``.
    """

    def __init__(self, key: bytes | None = None, mode: str = "hmac", length: int = 12) -> None:
        if mode not in ("hmac", "mask"):
            raise ValueError(f"unknown pseudonym mode {mode!r}")
        self.key = key if key else secrets.token_bytes(32)
        self.mode = mode
        self.length = length
        self._cache: dict[str, str] = {}

    @classmethod
    def from_key_file(cls, path: str | Path | None, mode: str = "hmac") -> Pseudonymizer:
        """The key from a file (its bytes, surrounding whitespace stripped), or random."""
        if path is None:
            env = os.environ.get("FRAUDWATCH_PSEUDONYM_KEY")
            return cls(env.encode() if env else None, mode)
        key = Path(path).read_bytes().strip()
        if not key:
            raise ValueError(f"{path}: empty pseudonym key")
        return cls(key, mode)

    def __call__(self, subject: str) -> str:
        name = self._cache.get(subject)
        if name is None:
            if self.mode == "mask":
                name = mask(subject)
            else:
                digest = hmac.new(self.key, subject.encode("utf-8"), hashlib.sha256).hexdigest()
                name = "ps_" + digest[: self.length]
            if len(self._cache) < 100_000:  # bounded: suspects are few, numbers are many
                self._cache[subject] = name
        return name

    def scrub(self, text: str) -> str:
        """Text with every number-like run (5+ digits) replaced by its pseudonym.

        >>> Pseudonymizer(b"k", mode="mask").scrub("29 calls from 02161234567 to 13812345678")
        '29 calls from 021****4567 to 138****5678'
        >>> Pseudonymizer(b"k", mode="mask").scrub("41 REGISTER from 203.0.113.9 in 60 s")
        '41 REGISTER from 203.***** in 60 s'
        """
        return _DIGITS.sub(lambda m: self(m.group(0)), text)


@dataclass(slots=True)
class Suspect:
    kind: str
    pseudonym: str
    score: float
    severity: str
    last_time: float  # event time of the newest alert about it


class SuspectTable:
    """The currently active suspects per kind, named by pseudonym (see module docstring)."""

    def __init__(self, pseudonymizer: Pseudonymizer | None = None, per_kind: int = 20,
                 ttl: float = 6 * 3600) -> None:
        self.pseudonymize = pseudonymizer or Pseudonymizer()
        self.per_kind = per_kind
        self.ttl = ttl
        self._by_kind: dict[str, dict[str, Suspect]] = {k: {} for k in KINDS}
        self._now = float("-inf")

    def observe(self, alert: Alert) -> str:
        """Take an alert into the table; returns the subject's pseudonym."""
        name = self.pseudonymize(alert.subject)
        table = self._by_kind.get(alert.kind)
        if table is None:  # a kind outside the contract: never a label value
            return name
        if alert.time > self._now:
            self._now = alert.time
        s = table.get(name)
        if s is None:
            table[name] = Suspect(alert.kind, name, float(alert.score), alert.severity, alert.time)
            if len(table) > self.per_kind:
                # Keep the highest scores; among equals, the most recent.
                weakest = min(table.values(), key=lambda x: (x.score, x.last_time))
                del table[weakest.pseudonym]
        else:
            s.score = max(s.score, float(alert.score)) if s.last_time + self.ttl >= alert.time \
                else float(alert.score)
            s.severity = alert.severity
            s.last_time = max(s.last_time, alert.time)
        return name

    def expire(self, now: float) -> None:
        """Forget suspects no alert renewed within ``ttl`` before event time ``now``."""
        if now > self._now:
            self._now = now
        horizon = self._now - self.ttl
        for table in self._by_kind.values():
            dead = [n for n, s in table.items() if s.last_time < horizon]
            for n in dead:
                del table[n]

    def active(self, kind: str) -> list[Suspect]:
        return sorted(self._by_kind.get(kind, {}).values(), key=lambda s: -s.score)

    def counts(self) -> dict[str, int]:
        return {k: len(t) for k, t in self._by_kind.items()}

    def __iter__(self):
        for table in self._by_kind.values():
            yield from table.values()
