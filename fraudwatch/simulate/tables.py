"""Column tables of simulated records, in the canonical CSV column order.

A day's traffic is a few large numpy-generated tables plus a handful of scenario rows;
:class:`Table` concatenates and orders them without per-record Python objects.
Calls carry an ``end`` column (not written) because switches write CDRs when calls end.

>>> t = Table.from_rows("sms", [(5, "1069001", "13812345678", "hi", "mt"),
...                             (3, "95588", "13812345678", "bank", "mt")])
>>> len(t), t.sorted().col["time"].tolist()
(2, [3, 5])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from capture.fields import COLUMNS as CONTRACT_COLUMNS

# In-memory layout: the contract's columns, but calls keep their end time (files are
# ordered by it) and get their Call-ID only when written.
COLUMNS: dict[str, tuple[str, ...]] = {
    **CONTRACT_COLUMNS,
    "call": ("start", "end", "caller", "callee", "duration", "disposition", "ingress",
             "caller_line", "callee_line", "user_agent", "src_ip"),
}
INT_COLUMNS = {"start", "end", "time", "duration", "status", "expires"}
#: value of an integer column that is written empty (a failed REGISTER has no expiry)
EMPTY = -1
# Column the file is ordered by: calls by end time (as switches write them), others by time.
ORDER_BY = {"call": "end", "sms": "time", "registration": "time", "feedback": "time"}


@dataclass
class Table:
    kind: str
    col: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.col[COLUMNS[self.kind][0]])

    @classmethod
    def empty(cls, kind: str) -> Table:
        return cls(kind, {c: np.array([], dtype=np.int64 if c in INT_COLUMNS else object)
                          for c in COLUMNS[kind]})

    @classmethod
    def from_rows(cls, kind: str, rows: list[tuple]) -> Table:
        if not rows:
            return cls.empty(kind)
        names = COLUMNS[kind]
        cols = list(zip(*rows, strict=True))
        return cls(kind, {n: np.array(v, dtype=np.int64 if n in INT_COLUMNS else object)
                          for n, v in zip(names, cols, strict=True)})

    @classmethod
    def build(cls, table_kind: str, n: int, /, **columns) -> Table:
        """A table of ``n`` rows; scalar columns are broadcast, missing ones are empty."""
        col = {}
        for name in COLUMNS[table_kind]:
            value = columns.get(name, 0 if name in INT_COLUMNS else "")
            dtype = np.int64 if name in INT_COLUMNS else object
            if np.ndim(value) == 0:
                arr = np.empty(n, dtype=dtype)
                arr[:] = value
            else:
                arr = np.asarray(value).astype(dtype)
            col[name] = arr
        return cls(table_kind, col)

    @staticmethod
    def concat(kind: str, tables: list[Table]) -> Table:
        tables = [t for t in tables if len(t)]
        if not tables:
            return Table.empty(kind)
        if len(tables) == 1:
            return tables[0]
        return Table(kind, {c: np.concatenate([t.col[c] for t in tables]) for c in COLUMNS[kind]})

    def take(self, idx: np.ndarray) -> Table:
        return Table(self.kind, {c: v[idx] for c, v in self.col.items()})

    def sorted(self) -> Table:
        """Ordered by the file's order column (stable, so deterministic)."""
        return self.take(np.argsort(self.col[ORDER_BY[self.kind]], kind="stable"))
