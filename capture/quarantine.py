"""Quarantine: where input that breaks the contract goes, with its location and reason.

Nothing is dropped silently: every rejected row or frame is counted by reason and, for
records, written to a JSON Lines quarantine file beside the run's output.

>>> q = Quarantine()
>>> q.add("calls.csv", 7, "bad start time", "x,y,z")
>>> q.counts["bad start time"], q.total
(1, 1)
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path


class Quarantine:
    """Counts rejected input by reason and writes each rejected record to a file."""

    def __init__(self, path: Path | str | None = None, keep: int = 1000) -> None:
        self.path = Path(path) if path else None
        self._fh = None
        self.counts: Counter = Counter()
        self.total = 0
        #: the first ``keep`` entries, for summaries and tests
        self.entries: list[dict] = []
        self._keep = keep

    def add(self, source: str, location: int | str, reason: str, raw: str | bytes = "") -> None:
        self.total += 1
        self.counts[reason] += 1
        if isinstance(raw, bytes):
            raw = raw.decode("utf-8", "backslashreplace")
        entry = {"source": str(source), "location": location, "reason": reason, "raw": raw[:2000]}
        if len(self.entries) < self._keep:
            self.entries.append(entry)
        if self.path is not None:
            if self._fh is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115
            self._fh.write(json.dumps(entry, ensure_ascii=False) + "\n")

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
