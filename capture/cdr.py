"""Readers for call and message records in files: canonical CSV, JSON Lines, Parquet,
Asterisk ``Master.csv``, FreeSWITCH ``cdr-csv`` and any CSV through a column mapping.

Every reader streams (bounded memory on multi-GB files), yields records, and sends each
row that breaks the contract to a :class:`~capture.quarantine.Quarantine` with its file,
line and reason; the rest of the file is processed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import tzinfo
from operator import itemgetter
from pathlib import Path

from capture.fields import COLUMNS, MAKERS, REQUIRED, UTC, RowError, make_record
from capture.quarantine import Quarantine

csv.field_size_limit(1 << 20)

# Asterisk cdr_csv default (no header, 18 columns; 17 in very old versions without userfield).
ASTERISK_COLUMNS = ("accountcode", "src", "dst", "dcontext", "clid", "channel", "dstchannel",
                    "lastapp", "lastdata", "start", "answer", "end", "duration", "billsec",
                    "disposition", "amaflags", "uniqueid", "userfield")
# FreeSWITCH mod_cdr_csv default template ("example").
FREESWITCH_COLUMNS = ("caller_id_name", "caller_id_number", "destination_number", "context",
                      "start_stamp", "answer_stamp", "end_stamp", "duration", "billsec",
                      "hangup_cause", "uuid", "bleg_uuid", "accountcode", "read_codec",
                      "write_codec")
FREESWITCH_DISPOSITION = {
    "NORMAL_CLEARING": None,  # ANSWERED if billsec > 0, else NO ANSWER
    "USER_BUSY": "BUSY",
    "NO_ANSWER": "NO ANSWER", "NO_USER_RESPONSE": "NO ANSWER", "ALLOTTED_TIMEOUT": "NO ANSWER",
    "ORIGINATOR_CANCEL": "CANCELLED", "LOSE_RACE": "CANCELLED",
}
ASTERISK_DISPOSITION = {"ANSWERED": "ANSWERED", "NO ANSWER": "NO ANSWER", "BUSY": "BUSY",
                        "FAILED": "FAILED", "CONGESTION": "FAILED", "CANCEL": "CANCELLED"}


class _Lines:
    """Iterates a text file's lines for ``csv.reader`` and keeps the current row's raw text."""

    __slots__ = ("fh", "raw")

    def __init__(self, fh) -> None:
        self.fh = fh
        self.raw: list[str] = []

    def __iter__(self):
        raw = self.raw
        for line in self.fh:
            raw.append(line)
            yield line


def _open_text(path: Path, offset: int = 0):
    if offset:
        # mid-file: plain UTF-8 (a byte order mark can only open the file)
        binary = open(path, "rb")  # noqa: SIM115
        binary.seek(offset)
        return io.TextIOWrapper(binary, encoding="utf-8", errors="replace", newline="")
    return open(path, encoding="utf-8-sig", errors="replace", newline="")  # noqa: SIM115


def _rows(path: Path, quarantine: Quarantine, offset: int = 0,
          first_line: int = 1) -> Iterator[tuple[int, list[str], list[str]]]:
    """(line number, fields, raw text) for each CSV row from byte ``offset`` (a row start,
    on line ``first_line``); unparseable rows are quarantined."""
    with _open_text(path, offset) as fh:
        lines = _Lines(fh)
        reader = csv.reader(iter(lines), strict=True)
        raw = lines.raw
        line = first_line
        base = first_line - 1
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                quarantine.add(path, line, f"csv: {e}", "".join(raw))
                raw.clear()
                line = base + reader.line_num + 1
                continue
            yield line, row, raw
            raw.clear()
            line = base + reader.line_num + 1


class CsvLayout:
    """Where a CSV's columns go in one record kind: built from its header row (contract
    column names, or ``mapping`` contract column -> the file's column)."""

    def __init__(self, path: Path, kind: str, header: list[str],
                 mapping: dict[str, str] | None = None, tz: tzinfo = UTC) -> None:
        cols = COLUMNS[kind]
        self.path, self.name, self.tz = path, str(path), tz
        self.make = MAKERS[kind]
        source_of = {c: c for c in cols if c in header}
        if mapping:
            source_of.update({c: str(s) for c, s in mapping.items() if c in cols})
        missing = [c for c in REQUIRED[kind] if source_of.get(c) not in header]
        if missing:
            raise RowError(f"{self.name}: header lacks required column(s) {', '.join(missing)}")
        self.width = width = len(header)
        #: field index of each contract column (``width``: absent, reads "")
        self.index = {c: header.index(source_of[c]) if c in source_of else width for c in cols}
        # Absent contract columns read the empty string appended at index ``width``.
        self.pick = itemgetter(*[self.index[c] for c in cols])
        used = {header.index(source_of[c]) for c in source_of}
        self.extra = [(i, h) for i, h in enumerate(header) if i not in used and h]

    def record(self, line: int, row: list[str], raw: list[str] | str, quarantine: Quarantine):
        """The record of one data row, or None (blank line, or quarantined)."""
        if len(row) != self.width:
            if not row or (len(row) == 1 and not row[0].strip()):
                return None  # blank line
            quarantine.add(self.path, line, f"expected {self.width} fields, got {len(row)}",
                           "".join(raw))
            return None
        row.append("")
        extra = self.extra
        attrs = {h: row[i] for i, h in extra} if extra else None
        try:
            return self.make(*self.pick(row), f"{self.name}:{line}", attrs, self.tz)
        except RowError as e:
            quarantine.add(self.path, line, str(e), "".join(raw))
            return None


def read_csv(path: Path, kind: str, quarantine: Quarantine, tz: tzinfo = UTC,
             mapping: dict[str, str] | None = None) -> Iterator:
    """Records from a CSV with a header row: contract column names, or ``mapping``
    (contract column -> the file's column) for any other CSV."""
    rows = _rows(path, quarantine)
    headerless = bool(mapping) and all(str(s).isdigit() for s in mapping.values())
    for first_line, header, raw in rows:
        if headerless:
            # columns named by position: the first row is data, not a header
            first = (first_line, list(header), list(raw))
            header = [str(i) for i in range(len(header))]
            rows = _chain_first(first, rows)
        else:
            header = [h.strip() for h in header]
        break
    else:
        return
    layout = CsvLayout(path, kind, header, mapping, tz)
    yield from read_csv_rows(layout, rows, quarantine)


def read_csv_rows(layout: CsvLayout, rows: Iterator, quarantine: Quarantine) -> Iterator:
    """The records of CSV data rows laid out as ``layout`` says."""
    record = layout.record
    for line, row, raw in rows:
        r = record(line, row, raw, quarantine)
        if r is not None:
            yield r


def read_asterisk(path: Path, quarantine: Quarantine, tz: tzinfo = UTC) -> Iterator:
    """Calls from Asterisk's default ``Master.csv`` (no header; times in the switch's zone)."""
    name = str(path)
    for line, row, raw in _rows(path, quarantine):
        if len(row) not in (17, 18):
            if not row:
                continue
            quarantine.add(path, line, f"expected 18 Asterisk CDR fields, got {len(row)}",
                           "".join(raw))
            continue
        if any("\n" in f or "\r" in f for f in row):
            quarantine.add(path, line, "line break inside a field (unterminated quote?)",
                           "".join(raw))
            continue
        src = row[1] or _clid_number(row[4]) or "anonymous"
        disp = ASTERISK_DISPOSITION.get(row[14].strip().upper(), row[14])
        attrs = {"channel": row[5], "dstchannel": row[6], "dcontext": row[3],
                 "lastapp": row[7], "accountcode": row[0]}
        try:
            yield MAKERS["call"](row[9], src, row[2], row[13], disp, "", "", "",
                                 row[16] if len(row) > 16 else "", "", "", f"{name}:{line}",
                                 attrs, tz)
        except RowError as e:
            quarantine.add(path, line, str(e), "".join(raw))


def read_freeswitch(path: Path, quarantine: Quarantine, tz: tzinfo = UTC) -> Iterator:
    """Calls from FreeSWITCH ``mod_cdr_csv``'s default template (no header)."""
    name = str(path)
    for line, row, raw in _rows(path, quarantine):
        if len(row) != len(FREESWITCH_COLUMNS):
            if not row:
                continue
            quarantine.add(path, line, f"expected 15 FreeSWITCH CDR fields, got {len(row)}",
                           "".join(raw))
            continue
        cause = row[9].strip().upper()
        disp = FREESWITCH_DISPOSITION.get(cause, "FAILED")
        if disp is None:
            disp = "ANSWERED" if row[8] not in ("", "0") else "NO ANSWER"
        attrs = {"hangup_cause": cause, "caller_id_name": row[0], "context": row[3]}
        try:
            yield MAKERS["call"](row[4], row[1], row[2], row[8], disp, "", "", "", row[10],
                                 "", "", f"{name}:{line}", attrs, tz)
        except RowError as e:
            quarantine.add(path, line, str(e), "".join(raw))


def read_jsonl(path: Path, kind: str, quarantine: Quarantine, tz: tzinfo = UTC) -> Iterator:
    name = str(path)
    with _open_text(path) as fh:
        for line, text in enumerate(fh, 1):
            if not text.strip():
                continue
            try:
                obj = json.loads(text)
                if not isinstance(obj, dict):
                    raise RowError("not a JSON object")
                yield make_record(kind, obj, f"{name}:{line}", tz)
            except (RowError, ValueError, RecursionError) as e:
                reason = str(e) if isinstance(e, RowError) else "bad JSON"
                quarantine.add(path, line, reason, text)


def read_parquet(path: Path, kind: str, quarantine: Quarantine, tz: tzinfo = UTC,
                 batch_rows: int = 65536) -> Iterator:
    import polars as pl

    name = str(path)
    try:
        lf = pl.scan_parquet(path)
        total = lf.select(pl.len()).collect().item()
    except Exception as e:  # polars raises several error types for corrupt files
        raise RowError(f"{name}: unreadable Parquet ({type(e).__name__})") from None
    for offset in range(0, total, batch_rows):
        batch = lf.slice(offset, batch_rows).collect()
        for i, values in enumerate(batch.iter_rows(named=True)):
            row_no = offset + i + 1
            try:
                yield make_record(kind, values, f"{name}:{row_no}", tz)
            except RowError as e:
                quarantine.add(path, row_no, str(e), json.dumps(values, default=str))


def _chain_first(first, rest):
    yield first
    yield from rest


def _clid_number(clid: str) -> str:
    lt, gt = clid.rfind("<"), clid.rfind(">")
    return clid[lt + 1:gt].strip() if 0 <= lt < gt else ""
