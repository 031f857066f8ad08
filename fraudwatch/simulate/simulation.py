"""The whole simulation: population, background day by day, scenarios, files, labels.

>>> import tempfile, json
>>> from pathlib import Path
>>> out = Path(tempfile.mkdtemp())
>>> result = simulate(out, days=1, subscribers=1000, seed=3)
>>> sorted(p.name for p in out.iterdir())
['calls.csv', 'feedback.csv', 'labels.json', 'registrations.csv', 'sms.csv']
>>> labels = json.loads((out / "labels.json").read_text())
>>> labels["subscribers"], labels["plan"], result.rows["call"] > 1000
(1000, 'cn', True)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np

from fraudwatch.simulate import negatives, scenarios
from fraudwatch.simulate.background import Background
from fraudwatch.simulate.events import Events, iso
from fraudwatch.simulate.population import Population
from fraudwatch.simulate.tables import Table
from fraudwatch.simulate.writers import Sinks

DEFAULT_START = "2026-11-02T00:00:00+08:00"  # a Monday, China time


@dataclass
class SimulationResult:
    out: Path
    rows: dict[str, int]
    labels: dict
    files: dict[str, Path] = field(default_factory=dict)


def parse_start(text: str) -> int:
    """Epoch seconds of an ISO 8601 start (a time without offset is taken as China time)."""
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = datetime.fromisoformat(text + "+08:00")
    return int(dt.timestamp())


def simulate(out: str | Path, *, days: int = 7, subscribers: int = 20_000, seed: int = 1,
             start: str = DEFAULT_START, pcap: bool = False,
             progress=None) -> SimulationResult:
    """Write ``calls.csv``, ``sms.csv``, ``registrations.csv``, ``feedback.csv``,
    ``labels.json`` (and ``calls.pcap`` with ``pcap=True``) into ``out``."""
    if days < 1 or subscribers < 100:
        raise ValueError("need at least 1 day and 100 subscribers")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t_start = parse_start(start)
    t_end = t_start + days * 86400
    pop = Population.generate(np.random.default_rng([seed, 1]), subscribers)
    bg = Background(pop, seed)
    events = Events(np.random.default_rng([seed, 3]))
    ctx = scenarios.Context(np.random.default_rng([seed, 2]), pop, bg, events, t_start, t_end)
    labelled = scenarios.inject(ctx)
    hard = negatives.inject(ctx)
    per_hour = events.by_hour(t_start, days * 24)
    sinks = Sinks(out)
    for d in range(days):
        day_start = t_start + d * 86400
        for h in range(24):
            tables = events.apply_to_background(bg.hour(d, h, day_start))
            injected = per_hour.pop(d * 24 + h, None)
            if injected:
                tables = {k: Table.concat(k, [t, Table.from_rows(k, injected[k])])
                          for k, t in tables.items()}
            sinks.add(tables, day_start + (h + 1) * 3600)
        if progress:
            progress(d + 1, days)
    rows = sinks.close()
    labels = {"seed": seed, "start": iso(t_start), "end": iso(t_end), "days": days,
              "subscribers": subscribers, "plan": "cn", "scenarios": labelled,
              "hard_negatives": hard}
    (out / "labels.json").write_text(json.dumps(labels, ensure_ascii=False, indent=1) + "\n",
                                     encoding="utf-8")
    files = {k: s.path for k, s in sinks.by_kind.items()}
    files["labels"] = out / "labels.json"
    if pcap:
        from fraudwatch.simulate.sippcap import write_simulation_pcap
        write_simulation_pcap(out, events.options)
        files["pcap"] = out / "calls.pcap"
    return SimulationResult(out, rows, labels, files)
