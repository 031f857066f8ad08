"""Writing records in the canonical formats (CSV with header, JSON Lines, Parquet)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from capture.fields import COLUMNS
from detector.alerts import iso


def record_row(record) -> dict:
    """The record's contract columns as strings/values (times as ISO 8601)."""
    kind = record.record_kind
    row = {}
    for col in COLUMNS[kind]:
        if col in ("start", "time"):
            row[col] = iso(record.time)
        elif col == "kind" and kind == "feedback":
            row[col] = record.kind
        else:
            v = getattr(record, col)
            row[col] = "" if v is None else v
    if kind == "call":
        row["duration"] = _num(record.duration)
    return row


def _num(x: float):
    return int(x) if float(x).is_integer() else round(x, 3)


class RecordWriter:
    """Writes records of ``main_kind`` to ``out`` and other kinds to sibling files
    (``calls-registration.csv`` beside ``calls.csv``)."""

    def __init__(self, out: Path, main_kind: str | None = None) -> None:
        self.out = Path(out)
        self._writers: dict[str, object] = {}
        self.outputs: dict[str, tuple[Path, int]] = {}
        #: the kind written to ``out`` itself (default: the first record's)
        self._main_kind = main_kind
        self._parquet_rows: dict[str, list[dict]] = {}

    def _path_for(self, kind: str) -> Path:
        if self._main_kind is None:
            self._main_kind = kind
        if kind == self._main_kind:
            return self.out
        return self.out.with_name(f"{self.out.stem}-{kind}{self.out.suffix}")

    def write(self, record) -> None:
        kind = record.record_kind
        row = record_row(record)
        if kind not in self.outputs:
            path = self._path_for(kind)
            path.parent.mkdir(parents=True, exist_ok=True)
            self.outputs[kind] = (path, 0)
            if self.out.suffix == ".csv":
                fh = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115
                w = csv.DictWriter(fh, fieldnames=list(COLUMNS[kind]))
                w.writeheader()
                self._writers[kind] = (fh, w)
            elif self.out.suffix == ".jsonl":
                self._writers[kind] = (open(path, "w", encoding="utf-8"), None)  # noqa: SIM115
            else:
                self._parquet_rows[kind] = []
        path, n = self.outputs[kind]
        self.outputs[kind] = (path, n + 1)
        if self.out.suffix == ".csv":
            self._writers[kind][1].writerow(row)
        elif self.out.suffix == ".jsonl":
            self._writers[kind][0].write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            self._parquet_rows[kind].append(row)

    def close(self) -> None:
        for fh, _ in self._writers.values():
            fh.close()
        if self._parquet_rows:
            import polars as pl

            for kind, rows in self._parquet_rows.items():
                schema = {c: pl.String for c in COLUMNS[kind]}
                if kind == "call":
                    schema["duration"] = pl.Float64
                pl.DataFrame(rows, schema=schema).write_parquet(self.outputs[kind][0])
