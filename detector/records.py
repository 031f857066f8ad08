"""The four record kinds of the record contract (``shared/spec/records.md``).

Times are Unix epoch seconds (UTC) as floats: cheap to compare on the hot path and
independent of the source's time zone. Numbers stay exactly as presented; the
numbering plan normalises them where a detector needs it.

>>> c = Call(start=1737076323.0, caller="+85512345678", callee="13812345678")
>>> c.time, c.answered, c.disposition
(1737076323.0, False, 'NO ANSWER')
>>> Call(start=0.0, caller="a", callee="b", duration=12).disposition
'ANSWERED'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar

#: the attributes of a record without extra columns: one shared read-only empty mapping
#: (saves a dict per record)
NO_ATTRS: Mapping[str, Any] = MappingProxyType({})

DISPOSITIONS = ("ANSWERED", "NO ANSWER", "BUSY", "FAILED", "CANCELLED")
INGRESSES = ("international", "domestic", "access", "unknown")
LINE_TYPES = ("residential", "business", "mobile", "payphone", "service", "")
SMS_DIRECTIONS = ("mt", "mo")
FEEDBACK_KINDS = ("complaint", "opt_out", "not_me", "confirmed", "dismissed")


@dataclass(slots=True)
class Call:
    """One call, as a CDR or a SIP dialog describes it."""

    start: float
    caller: str
    callee: str
    duration: float = 0.0
    disposition: str = ""
    ingress: str = "unknown"
    caller_line: str = ""
    callee_line: str = ""
    call_id: str = ""
    user_agent: str = ""
    src_ip: str = ""
    #: where the record came from (``file:line``), for evidence and quarantine reports
    origin: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    record_kind: ClassVar[str] = "call"

    def __post_init__(self) -> None:
        if not self.disposition:
            self.disposition = "ANSWERED" if self.duration > 0 else "NO ANSWER"

    @property
    def time(self) -> float:
        return self.start

    @property
    def answered(self) -> bool:
        return self.disposition == "ANSWERED"

    @property
    def ref(self) -> str:
        """The record's reference in evidence: the Call-ID if known, else its origin."""
        return self.call_id or self.origin

    def tiebreak(self) -> tuple:
        return (0, self.caller, self.callee, self.duration, self.disposition, self.call_id)


@dataclass(slots=True)
class Sms:
    """One short message."""

    time: float
    sender: str
    recipient: str
    text: str | None = None
    direction: str = "mt"
    origin: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    record_kind: ClassVar[str] = "sms"

    @property
    def ref(self) -> str:
        return self.origin

    def tiebreak(self) -> tuple:
        return (1, self.sender, self.recipient, self.direction, self.text or "")


@dataclass(slots=True)
class Registration:
    """The outcome of one SIP REGISTER."""

    time: float
    line: str
    contact_ip: str
    user_agent: str = ""
    status: int | None = None
    expires: int | None = None
    origin: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    record_kind: ClassVar[str] = "registration"

    @property
    def ref(self) -> str:
        return self.origin

    def tiebreak(self) -> tuple:
        return (2, self.line, self.contact_ip, self.user_agent, self.status or 0)


@dataclass(slots=True)
class Feedback:
    """What a person told the operator: a complaint, an opt-out, an analyst's verdict."""

    time: float
    number: str
    kind: str
    about: str = ""
    alert_id: str = ""
    origin: str = ""
    attrs: dict[str, Any] = field(default_factory=dict)

    record_kind: ClassVar[str] = "feedback"

    @property
    def ref(self) -> str:
        return self.origin

    def tiebreak(self) -> tuple:
        return (3, self.number, self.kind, self.about, self.alert_id)


Record = Call | Sms | Registration | Feedback

RECORD_TYPES: dict[str, type] = {
    "call": Call,
    "sms": Sms,
    "registration": Registration,
    "feedback": Feedback,
}
