"""Streaming CSV writers in the canonical formats of the record contract.

Each day's rows are merged with rows still pending from earlier days and written up to
a horizon, so a file stays in order (calls by END time, as switches write CDRs) while
memory holds at most a day or two of traffic. Times are written as ISO 8601 with the
China offset (``2026-11-02T09:12:03+08:00``).

>>> import numpy as np
>>> iso_local(np.array([1793548800, 1793590323])).tolist()
['2026-11-02T00:00:00+08:00', '2026-11-02T11:32:03+08:00']
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fraudwatch.simulate.rhythm import TZ_OFFSET
from fraudwatch.simulate.tables import ORDER_BY, Table

# Written columns per record kind: exactly the contract's canonical names and order.
HEADERS: dict[str, tuple[str, ...]] = {
    "call": ("start", "caller", "callee", "duration", "disposition", "ingress", "caller_line",
             "callee_line", "call_id", "user_agent", "src_ip"),
    "sms": ("time", "sender", "recipient", "text", "direction"),
    "registration": ("time", "line", "contact_ip", "user_agent", "status", "expires"),
    "feedback": ("time", "number", "kind", "about", "alert_id"),
}
FILES = {"call": "calls.csv", "sms": "sms.csv", "registration": "registrations.csv",
         "feedback": "feedback.csv"}
OFFSET_SUFFIX = "+08:00"


def iso_local(t: np.ndarray) -> np.ndarray:
    """Epoch seconds -> ISO 8601 strings in China time."""
    local = np.datetime_as_string((np.asarray(t, dtype=np.int64) + TZ_OFFSET).astype("datetime64[s]"))
    return np.char.add(local, OFFSET_SUFFIX)


def call_id(seq: int) -> str:
    return f"{seq:010d}@sim.fraudwatch"


class CsvSink:
    """One output file; rows are written once their order key is below the horizon."""

    def __init__(self, directory: Path, kind: str) -> None:
        self.kind = kind
        self.path = Path(directory) / FILES[kind]
        self._fh = open(self.path, "w", newline="", encoding="utf-8")
        self._csv = csv.writer(self._fh, lineterminator="\n")
        self._csv.writerow(HEADERS[kind])
        self.pending = Table.empty(kind)
        self.rows = 0

    def add(self, table: Table, horizon: int | None) -> None:
        merged = Table.concat(self.kind, [self.pending, table]).sorted()
        key = merged.col[ORDER_BY[self.kind]]
        cut = len(key) if horizon is None else int(np.searchsorted(key, horizon, side="left"))
        self._write(merged.take(np.arange(cut)))
        self.pending = merged.take(np.arange(cut, len(key)))

    def close(self) -> None:
        self.add(Table.empty(self.kind), None)
        self._fh.close()

    def _write(self, t: Table) -> None:
        n = len(t)
        if not n:
            return
        c = t.col
        if self.kind == "call":
            ids = [call_id(self.rows + i) for i in range(n)]
            cols = [iso_local(c["start"]).tolist(), c["caller"].tolist(), c["callee"].tolist(),
                    c["duration"].tolist(), c["disposition"].tolist(), c["ingress"].tolist(),
                    c["caller_line"].tolist(), c["callee_line"].tolist(), ids,
                    c["user_agent"].tolist(), c["src_ip"].tolist()]
        elif self.kind == "registration":
            cols = [iso_local(c["time"]).tolist()] + [c[k].tolist() for k in HEADERS[self.kind][1:]]
        else:
            cols = [iso_local(c["time"]).tolist()] + [c[k].tolist() for k in HEADERS[self.kind][1:]]
        self._csv.writerows(zip(*cols, strict=True))
        self.rows += n


class Sinks:
    """The four output files of a simulation."""

    def __init__(self, directory: Path) -> None:
        self.by_kind = {k: CsvSink(directory, k) for k in HEADERS}

    def add(self, tables: dict[str, Table], horizon: int) -> None:
        for kind, table in tables.items():
            self.by_kind[kind].add(table, horizon)

    def close(self) -> dict[str, int]:
        for s in self.by_kind.values():
            s.close()
        return {k: s.rows for k, s in self.by_kind.items()}
