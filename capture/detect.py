"""Telling what a file holds: a packet capture, Parquet, JSON Lines, a canonical CSV
(and of which record kind), an Asterisk ``Master.csv`` or a FreeSWITCH ``cdr-csv``.

>>> kind_from_columns(["start", "caller", "callee", "duration"])
'call'
>>> kind_from_columns(["time", "sender", "recipient", "text"])
'sms'
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path

from capture.fields import REQUIRED

# pcap (both byte orders, micro- and nanosecond), pcapng, Microsoft Network Monitor 2
PCAP_MAGICS = {b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d",
               b"\x0a\x0d\x0d\x0a", b"GMBU"}
_DATETIME = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


@dataclass(frozen=True)
class FileFormat:
    #: ``pcap``, ``parquet``, ``jsonl``, ``csv``, ``asterisk``, ``freeswitch``
    format: str
    #: record kind for record files; None for captures (they hold calls and registrations)
    kind: str | None


class UnknownFormat(ValueError):
    """The file is none of the formats fraudwatch reads."""


def kind_from_columns(columns) -> str | None:
    cols = {c.strip().lower() for c in columns}
    for kind in ("call", "sms", "registration", "feedback"):
        if all(c in cols for c in REQUIRED[kind]):
            return kind
    return None


def detect(path: Path, kind: str | None = None) -> FileFormat:
    """The format of ``path``; ``kind`` (if given) is the record kind the user asserts."""
    with open(path, "rb") as fh:
        head = fh.read(65536)
    if head[:4] in PCAP_MAGICS:
        return FileFormat("pcap", None)
    if head[:4] == b"PAR1":
        if kind:
            return FileFormat("parquet", kind)
        import polars as pl

        try:
            found = kind_from_columns(pl.read_parquet_schema(path).keys())
        except Exception:  # corrupt footer: polars raises several types
            raise UnknownFormat("unreadable Parquet file") from None
        if not found:
            raise UnknownFormat("Parquet columns match no record kind")
        return FileFormat("parquet", found)
    text = head.decode("utf-8-sig", errors="replace")
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if not first:
        raise UnknownFormat("empty file")
    if first.lstrip().startswith("{"):
        if kind:
            return FileFormat("jsonl", kind)
        try:
            found = kind_from_columns(json.loads(first).keys())
        except (ValueError, AttributeError):
            found = None
        if not found:
            raise UnknownFormat("JSON Lines whose first object matches no record kind")
        return FileFormat("jsonl", found)
    try:
        row = next(csv.reader(io.StringIO(first)))
    except (csv.Error, StopIteration):
        raise UnknownFormat("not a CSV, JSON Lines, Parquet or packet capture file") from None
    found = kind_from_columns(row)
    if found:
        return FileFormat("csv", kind or found)
    if row and row[0].strip().upper() in ("CHAN_START", "CHAN_END", "ANSWER", "HANGUP",
                                         "LINKEDID_END", "BRIDGE_ENTER", "APP_START"):
        raise UnknownFormat("Asterisk CEL events, not CDRs (use Master.csv)")
    if len(row) in (17, 18) and _DATETIME.match(row[9] or row[11]):
        return FileFormat("asterisk", "call")
    if len(row) == 15 and _DATETIME.match(row[4]):
        return FileFormat("freeswitch", "call")
    if kind:
        return FileFormat("csv", kind)
    raise UnknownFormat("CSV header matches no record kind (use --map or --kind)")
