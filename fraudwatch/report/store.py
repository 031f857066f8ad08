"""Keeping the records a report needs, compactly, while a replay streams them.

A week of 20,000 subscribers is a few million records: holding them as objects would
cost gigabytes. :class:`RecordStore` keeps each kind as columns (``array`` of numbers,
numbers interned to small integer ids, strings shared by reference), so that after the
replay the rows about the alerts' subjects can be picked out with numpy in one go.

>>> from detector.records import Call, Sms
>>> store = RecordStore()
>>> store.add(Call(start=10.0, caller="13812345678", callee="02161234567", duration=30,
...                call_id="c1"))
>>> store.add(Sms(time=20.0, sender="1069001", recipient="13812345678", text="code 1234",
...               origin="sms.csv:2"))
>>> view = store.select(["13812345678"])["13812345678"]
>>> [(c.time, c.caller, c.call_id) for c in view.calls]
[(10.0, '13812345678', 'c1')]
>>> [(s.sender, s.text, s.ref) for s in view.sms]
[('1069001', 'code 1234', 'sms.csv:2')]
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from detector.records import DISPOSITIONS, INGRESSES, Call, Feedback, Registration, Sms

_DISPOSITION_CODE = {d: i for i, d in enumerate(DISPOSITIONS)}
_INGRESS_CODE = {g: i for i, g in enumerate(INGRESSES)}


class Interner:
    """Strings to small integer ids (numbers, IPs, user agents repeat a lot).

    >>> i = Interner(); i.id("a"), i.id("b"), i.id("a"), i.names
    (0, 1, 0, ['a', 'b'])
    """

    __slots__ = ("ids", "names")

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.names: list[str] = []

    def id(self, name: str) -> int:
        i = self.ids.get(name)
        if i is None:
            i = self.ids[name] = len(self.names)
            self.names.append(name)
        return i

    def __len__(self) -> int:
        return len(self.names)


@dataclass(slots=True)
class CallRow:
    time: float
    caller: str
    callee: str
    duration: float
    disposition: str
    ingress: str
    call_id: str
    user_agent: str
    src_ip: str
    #: the record's origin (``file:line``, ``capture#frame``), as evidence cites it
    ref: str = ""


@dataclass(slots=True)
class SmsRow:
    time: float
    sender: str
    recipient: str
    text: str | None
    direction: str
    #: the record's origin (``file:line``, ``capture#frame``), as evidence cites it
    ref: str = ""


@dataclass(slots=True)
class RegistrationRow:
    time: float
    line: str
    contact_ip: str
    user_agent: str
    status: int | None
    #: the record's origin (``file:line``, ``capture#frame``), as evidence cites it
    ref: str = ""


@dataclass(slots=True)
class FeedbackRow:
    time: float
    number: str
    kind: str
    about: str


@dataclass
class SubjectView:
    """The records about one subject (a number or an address), in time order."""

    calls: list[CallRow] = field(default_factory=list)
    sms: list[SmsRow] = field(default_factory=list)
    registrations: list[RegistrationRow] = field(default_factory=list)
    feedback: list[FeedbackRow] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.calls or self.sms or self.registrations or self.feedback)


class RecordStore:
    """Columnar store of replayed records; ``add`` is the replay's ``on_record``."""

    def __init__(self) -> None:
        self.numbers = Interner()
        self.labels = Interner()  # IPs and user agents
        # calls
        self.c_time = array("d")
        self.c_caller = array("l")
        self.c_callee = array("l")
        self.c_duration = array("d")
        self.c_disposition = array("b")
        self.c_ingress = array("b")
        self.c_ua = array("l")
        self.c_ip = array("l")
        self.c_call_id: list[str] = []
        self.c_of, self.c_ol = array("l"), array("l")  # origin: file label id, line
        # sms
        self.s_time = array("d")
        self.s_sender = array("l")
        self.s_recipient = array("l")
        self.s_mo = array("b")
        self.s_text: list[str | None] = []
        self.s_of, self.s_ol = array("l"), array("l")
        # registrations
        self.r_time = array("d")
        self.r_line = array("l")
        self.r_ip = array("l")
        self.r_ua = array("l")
        self.r_status = array("l")
        self.r_of, self.r_ol = array("l"), array("l")
        self._last_prefix: dict[int, tuple[str, int]] = {}
        # feedback is rare: kept as rows
        self.feedback: list[FeedbackRow] = []
        self.other = 0

    def add(self, record) -> None:
        """Keep one record (any kind); unknown kinds are counted, not kept."""
        cls = type(record)
        num = self.numbers.id
        if cls is Call:
            lab = self.labels.id
            self.c_time.append(record.start)
            self.c_caller.append(num(record.caller))
            self.c_callee.append(num(record.callee))
            self.c_duration.append(record.duration)
            self.c_disposition.append(_DISPOSITION_CODE.get(record.disposition, 1))
            self.c_ingress.append(_INGRESS_CODE.get(record.ingress, 3))
            self.c_ua.append(lab(record.user_agent))
            self.c_ip.append(lab(record.src_ip))
            self.c_call_id.append(record.call_id)
            self._origin(record.origin, self.c_of, self.c_ol)
        elif cls is Sms:
            self.s_time.append(record.time)
            self.s_sender.append(num(record.sender))
            self.s_recipient.append(num(record.recipient))
            self.s_mo.append(record.direction == "mo")
            self.s_text.append(record.text)
            self._origin(record.origin, self.s_of, self.s_ol)
        elif cls is Registration:
            lab = self.labels.id
            self.r_time.append(record.time)
            self.r_line.append(num(record.line))
            self.r_ip.append(lab(record.contact_ip))
            self.r_ua.append(lab(record.user_agent))
            self.r_status.append(record.status if record.status is not None else -1)
            self._origin(record.origin, self.r_of, self.r_ol)
        elif cls is Feedback:
            self.feedback.append(FeedbackRow(record.time, record.number, record.kind,
                                             record.about))
        else:
            self.other += 1

    __call__ = add

    def _origin(self, origin: str, files: array, lines: array) -> None:
        # ``path:line`` / ``capture#frame`` kept as (interned prefix, number): a string
        # per record would cost more than all the other columns together. Records of a
        # kind mostly come from one file: its prefix is checked first, without hashing.
        last = self._last_prefix.get(id(files))
        if last is not None and origin.startswith(last[0]):
            tail = origin[len(last[0]):]
            if tail.isdigit():
                files.append(last[1])
                lines.append(int(tail))
                return
        k = max(origin.rfind(":"), origin.rfind("#")) + 1
        if k and origin[k:].isdigit():
            prefix = origin[:k]
            pid = self.labels.id(prefix)
            self._last_prefix[id(files)] = (prefix, pid)
            files.append(pid)
            lines.append(int(origin[k:]))
        else:
            files.append(-1)
            lines.append(0)

    def _ref(self, files: array, lines: array, r: int) -> str:
        f = files[r]
        return "" if f < 0 else f"{self.labels.names[f]}{lines[r]}"

    def __len__(self) -> int:
        return len(self.c_time) + len(self.s_time) + len(self.r_time) + len(self.feedback)

    def is_number(self, text: str) -> bool:
        return text in self.numbers.ids

    # -- selection -----------------------------------------------------------------------
    def select(self, subjects: Iterable[str]) -> dict[str, SubjectView]:
        """The records touching each subject (a number, or an IP address for calls'
        ``src_ip`` and registrations' ``contact_ip``), each list in time order."""
        subjects = list(dict.fromkeys(s for s in subjects if s))
        views = {s: SubjectView() for s in subjects}
        num_ids = {self.numbers.ids[s]: s for s in subjects if s in self.numbers.ids}
        lab_ids = {self.labels.ids[s]: s for s in subjects if s in self.labels.ids and s}
        if num_ids or lab_ids:
            self._select_calls(views, num_ids, lab_ids)
            self._select_sms(views, num_ids)
            self._select_registrations(views, num_ids, lab_ids)
        for fb in self.feedback:
            for who in (fb.number, fb.about):
                if who in views:
                    views[who].feedback.append(fb)
        return views

    def _select_calls(self, views, num_ids, lab_ids) -> None:
        if not len(self.c_time):
            return
        keys_n = np.fromiter(num_ids, dtype=np.int64, count=len(num_ids))
        keys_l = np.fromiter(lab_ids, dtype=np.int64, count=len(lab_ids))
        caller = np.frombuffer(self.c_caller, dtype=np.int64)
        callee = np.frombuffer(self.c_callee, dtype=np.int64)
        ip = np.frombuffer(self.c_ip, dtype=np.int64)
        mask = np.isin(caller, keys_n) | np.isin(callee, keys_n)
        if len(keys_l):
            mask |= np.isin(ip, keys_l)
        rows = np.flatnonzero(mask)
        rows = rows[np.argsort(np.frombuffer(self.c_time, dtype=np.float64)[rows], kind="stable")]
        names, labels = self.numbers.names, self.labels.names
        for r in rows.tolist():
            row = CallRow(self.c_time[r], names[self.c_caller[r]], names[self.c_callee[r]],
                          self.c_duration[r], DISPOSITIONS[self.c_disposition[r]],
                          INGRESSES[self.c_ingress[r]], self.c_call_id[r],
                          labels[self.c_ua[r]], labels[self.c_ip[r]],
                          self._ref(self.c_of, self.c_ol, r))
            hit = set()
            for key, table in ((self.c_caller[r], num_ids), (self.c_callee[r], num_ids),
                               (self.c_ip[r], lab_ids)):
                s = table.get(key)
                if s is not None and s not in hit:
                    hit.add(s)
                    views[s].calls.append(row)

    def _select_sms(self, views, num_ids) -> None:
        if not len(self.s_time) or not num_ids:
            return
        keys = np.fromiter(num_ids, dtype=np.int64, count=len(num_ids))
        sender = np.frombuffer(self.s_sender, dtype=np.int64)
        recipient = np.frombuffer(self.s_recipient, dtype=np.int64)
        rows = np.flatnonzero(np.isin(sender, keys) | np.isin(recipient, keys))
        rows = rows[np.argsort(np.frombuffer(self.s_time, dtype=np.float64)[rows], kind="stable")]
        names = self.numbers.names
        for r in rows.tolist():
            row = SmsRow(self.s_time[r], names[self.s_sender[r]], names[self.s_recipient[r]],
                         self.s_text[r], "mo" if self.s_mo[r] else "mt",
                         self._ref(self.s_of, self.s_ol, r))
            for s in {num_ids.get(self.s_sender[r]), num_ids.get(self.s_recipient[r])} - {None}:
                views[s].sms.append(row)

    def _select_registrations(self, views, num_ids, lab_ids) -> None:
        if not len(self.r_time):
            return
        keys_n = np.fromiter(num_ids, dtype=np.int64, count=len(num_ids))
        keys_l = np.fromiter(lab_ids, dtype=np.int64, count=len(lab_ids))
        line = np.frombuffer(self.r_line, dtype=np.int64)
        ip = np.frombuffer(self.r_ip, dtype=np.int64)
        rows = np.flatnonzero(np.isin(line, keys_n) | np.isin(ip, keys_l))
        rows = rows[np.argsort(np.frombuffer(self.r_time, dtype=np.float64)[rows], kind="stable")]
        names, labels = self.numbers.names, self.labels.names
        for r in rows.tolist():
            st = self.r_status[r]
            row = RegistrationRow(self.r_time[r], names[self.r_line[r]], labels[self.r_ip[r]],
                                  labels[self.r_ua[r]], None if st < 0 else st,
                                  self._ref(self.r_of, self.r_ol, r))
            for s in {num_ids.get(self.r_line[r]), lab_ids.get(self.r_ip[r])} - {None}:
                views[s].registrations.append(row)
