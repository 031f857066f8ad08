"""Streaming CSV writers in the canonical formats of the record contract.

Each hour's rows are merged with rows still pending from earlier hours and written up
to a horizon, so a file stays in order (calls by END time, as switches write CDRs) while
memory holds about an hour of traffic. Times are written as ISO 8601 with the China
offset (``2026-11-02T09:12:03+08:00``). Formatting and writing go through polars: the
csv module spends most of a large simulation's time quoting fields one by one.

>>> import numpy as np
>>> iso_local(np.array([1793548800, 1793590323])).to_list()
['2026-11-02T00:00:00+08:00', '2026-11-02T11:32:03+08:00']
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl

from capture.fields import COLUMNS as CONTRACT_COLUMNS
from fraudwatch.simulate.rhythm import TZ_OFFSET
from fraudwatch.simulate.tables import EMPTY, INT_COLUMNS, ORDER_BY, Table

# Written columns per record kind: exactly the contract's canonical names and order.
HEADERS = CONTRACT_COLUMNS
FILES = {"call": "calls.csv", "sms": "sms.csv", "registration": "registrations.csv",
         "feedback": "feedback.csv"}
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S+08:00"
CALL_ID_SUFFIX = "@sim.fraudwatch"


def iso_local(t: np.ndarray) -> pl.Series:
    """Epoch seconds -> ISO 8601 strings in China time."""
    local = pl.Series("t", np.asarray(t, dtype=np.int64) + TZ_OFFSET)
    return pl.from_epoch(local, "s").dt.strftime(TIME_FORMAT)


def call_id(seq: int) -> str:
    """The Call-ID of the ``seq``-th call written (``0000000042@sim.fraudwatch``)."""
    return f"{seq:010d}{CALL_ID_SUFFIX}"


class CsvSink:
    """One output file; rows are written once their order key is below the horizon."""

    def __init__(self, directory: Path, kind: str) -> None:
        self.kind = kind
        self.path = Path(directory) / FILES[kind]
        self._fh = open(self.path, "wb")
        self._fh.write((",".join(HEADERS[kind]) + "\n").encode())
        self.pending = Table.empty(kind)
        self.rows = 0

    def add(self, table: Table, horizon: int | None) -> None:
        merged = Table.concat(self.kind, [self.pending, table]).sorted()
        key = merged.col[ORDER_BY[self.kind]]
        cut = len(key) if horizon is None else int(np.searchsorted(key, horizon, side="left"))
        if cut == len(key):
            self._write(merged)
            self.pending = Table.empty(self.kind)
        else:
            self._write(merged.take(np.arange(cut)))
            self.pending = merged.take(np.arange(cut, len(key)))

    def close(self) -> None:
        self.add(Table.empty(self.kind), None)
        self._fh.close()

    def _write(self, t: Table) -> None:
        n = len(t)
        if not n:
            return
        columns = {}
        for name in HEADERS[self.kind]:
            if name in ("start", "time"):
                columns[name] = iso_local(t.col[name])
            elif name == "call_id":
                seq = pl.int_range(self.rows, self.rows + n, eager=True)
                columns[name] = seq.cast(pl.String).str.zfill(10) + CALL_ID_SUFFIX
            elif name in INT_COLUMNS:
                v = pl.Series(name, t.col[name])
                columns[name] = pl.select(pl.when(v != EMPTY).then(v.cast(pl.String))
                                          ).to_series()
            else:
                v = pl.Series(name, t.col[name], dtype=pl.String)
                # polars writes "" for an empty string; the contract's empty field is bare
                columns[name] = pl.select(pl.when(v != "").then(v)).to_series()
        pl.DataFrame(columns).write_csv(self._fh, include_header=False)
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
