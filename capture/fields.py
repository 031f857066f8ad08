"""Turning contract fields (strings as read from a file) into records.

One converter per record kind, shared by every file format (canonical CSV, JSON Lines,
Parquet, Asterisk, FreeSWITCH, mapped CSV). A field that breaks the contract raises
:class:`RowError` with the reason that goes to the quarantine.

>>> parse_time("2025-01-17T09:12:03+08:00")
1737076323.0
>>> parse_time("1737076323")
1737076323.0
>>> call = make_call("1737076323", "+85512345678", "13812345678", "0", "", "international",
...                  "", "mobile", "", "", "", "calls.csv:2", None)
>>> call.disposition, call.ingress
('NO ANSWER', 'international')
>>> make_call("yesterday", "1", "2", "", "", "", "", "", "", "", "", "x:1", None)
Traceback (most recent call last):
...
capture.fields.RowError: bad start time
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from detector.records import (
    DISPOSITIONS,
    FEEDBACK_KINDS,
    INGRESSES,
    LINE_TYPES,
    NO_ATTRS,
    SMS_DIRECTIONS,
    Call,
    Feedback,
    Registration,
    Sms,
)

UTC = UTC


#: canonical column order per record kind (the contract's tables)
COLUMNS: dict[str, tuple[str, ...]] = {
    "call": ("start", "caller", "callee", "duration", "disposition", "ingress", "caller_line",
             "callee_line", "call_id", "user_agent", "src_ip"),
    "sms": ("time", "sender", "recipient", "text", "direction"),
    "registration": ("time", "line", "contact_ip", "user_agent", "status", "expires"),
    "feedback": ("time", "number", "kind", "about", "alert_id"),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "call": ("start", "caller", "callee"),
    "sms": ("time", "sender", "recipient"),
    "registration": ("time", "line", "contact_ip"),
    "feedback": ("time", "number", "kind"),
}

_DISPOSITIONS = frozenset(DISPOSITIONS)
_INGRESSES = frozenset(INGRESSES)
_LINE_TYPES = frozenset(LINE_TYPES)
_FEEDBACK_KINDS = frozenset(FEEDBACK_KINDS)
_SMS_DIRECTIONS = frozenset(SMS_DIRECTIONS)
# Epoch seconds outside this range are typos, not times (1990 .. 2100).
MIN_EPOCH, MAX_EPOCH = 631152000.0, 4102444800.0


class RowError(ValueError):
    """A row or field that breaks the record contract; the message is the reason."""


def parse_time(value: str, tz: tzinfo = UTC) -> float:
    """Epoch seconds from ISO 8601 (offset optional: naive times are in ``tz``) or epoch."""
    value = value.strip()
    if not value:
        raise ValueError("empty")
    c = value[0]
    if c.isdigit() and ("-" not in value and ":" not in value):
        t = float(value)
    else:
        if value[-1] == "Z":
            value = value[:-1] + "+00:00"
        dt = datetime.fromisoformat(value)
        if dt.tzinfo is None:
            dt = dt.replace(tzinfo=tz)
        t = dt.timestamp()
    if not (MIN_EPOCH <= t <= MAX_EPOCH):
        raise ValueError("out of range")
    return t


def _time(value, tz, what: str) -> float:
    try:
        return parse_time(value, tz)
    except (ValueError, TypeError, OverflowError):
        raise RowError(f"bad {what} time") from None


def _number(value, what: str) -> str:
    value = value.strip() if value else ""
    if not value:
        raise RowError(f"missing {what}")
    if len(value) > 64:
        raise RowError(f"{what} too long")
    return value


def make_call(start, caller, callee, duration, disposition, ingress, caller_line, callee_line,
              call_id, user_agent, src_ip, origin: str, attrs, tz: tzinfo = UTC) -> Call:
    # Hot path: the common clean values are checked with set lookups before any cleanup.
    t = _time(start, tz, "start")
    if not caller or len(caller) > 64 or caller[0] == " " or caller[-1] == " ":
        caller = _number(caller, "caller")
    if not callee or len(callee) > 64 or callee[0] == " " or callee[-1] == " ":
        callee = _number(callee, "callee")
    if duration:
        try:
            d = float(duration)
        except ValueError:
            raise RowError("bad duration") from None
        if not (0.0 <= d < 864000.0):  # NaN fails this too
            raise RowError("bad duration")
    else:
        d = 0.0
    if disposition and disposition not in _DISPOSITIONS:
        disposition = disposition.strip().upper()
        if disposition not in _DISPOSITIONS:
            raise RowError("bad disposition")
    if not ingress:
        ingress = "unknown"
    elif ingress not in _INGRESSES:
        ingress = ingress.strip().lower()
        if ingress not in _INGRESSES:
            raise RowError("bad ingress")
    if caller_line and caller_line not in _LINE_TYPES:
        caller_line = caller_line.strip().lower()
        if caller_line not in _LINE_TYPES:
            raise RowError("bad caller_line")
    if callee_line and callee_line not in _LINE_TYPES:
        callee_line = callee_line.strip().lower()
        if callee_line not in _LINE_TYPES:
            raise RowError("bad callee_line")
    return Call(t, caller, callee, d, disposition or ("ANSWERED" if d > 0 else "NO ANSWER"),
                ingress, caller_line or "", callee_line or "", call_id or "", user_agent or "",
                src_ip or "", origin, attrs if attrs is not None else NO_ATTRS)


def make_sms(time, sender, recipient, text, direction, origin: str, attrs,
             tz: tzinfo = UTC) -> Sms:
    t = _time(time, tz, "sms")
    sender = _number(sender, "sender")
    recipient = _number(recipient, "recipient")
    if direction:
        direction = direction.strip().lower()
        if direction not in _SMS_DIRECTIONS:
            raise RowError("bad direction")
    else:
        direction = "mt"
    return Sms(t, sender, recipient, text if text != "" else None, direction, origin,
               attrs if attrs is not None else NO_ATTRS)


def _int_or_none(value, what: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        n = int(float(value))
    except (ValueError, OverflowError):
        raise RowError(f"bad {what}") from None
    if not 0 <= n < 2**31:  # a status code or seconds: anything else is a typo
        raise RowError(f"bad {what}")
    return n


def make_registration(time, line, contact_ip, user_agent, status, expires, origin: str, attrs,
                      tz: tzinfo = UTC) -> Registration:
    t = _time(time, tz, "registration")
    line = _number(line, "line")
    contact_ip = (contact_ip or "").strip()
    if not contact_ip:
        raise RowError("missing contact_ip")
    return Registration(t, line, contact_ip, user_agent or "", _int_or_none(status, "status"),
                        _int_or_none(expires, "expires"), origin,
                        attrs if attrs is not None else NO_ATTRS)


def make_feedback(time, number, kind, about, alert_id, origin: str, attrs,
                  tz: tzinfo = UTC) -> Feedback:
    t = _time(time, tz, "feedback")
    number = _number(number, "number")
    kind = (kind or "").strip().lower()
    if kind not in _FEEDBACK_KINDS:
        raise RowError("bad feedback kind")
    return Feedback(t, number, kind, about or "", alert_id or "", origin,
                    attrs if attrs is not None else NO_ATTRS)


MAKERS = {"call": make_call, "sms": make_sms, "registration": make_registration,
          "feedback": make_feedback}


def make_record(kind: str, values: dict, origin: str, tz: tzinfo = UTC):
    """A record from a mapping of contract column names (extra keys become attributes)."""
    cols = COLUMNS[kind]
    args = []
    for c in cols:
        v = values.get(c)
        args.append("" if v is None else (v if isinstance(v, str) else _text(v)))
    extra = {k: v for k, v in values.items() if k not in cols}
    return MAKERS[kind](*args, origin, extra or None, tz)


def _text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.isoformat()
    return str(v)
