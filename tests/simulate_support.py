"""Shared fixtures of the simulator tests: one small simulated week, read back."""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from fraudwatch.simulate import simulate

WEEK_SUBSCRIBERS = 2000
WEEK_SEED = 11


def epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def read_csv(path: Path) -> tuple[list[str], list[dict]]:
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


@dataclass
class SimulatedWeek:
    out: Path
    labels: dict
    headers: dict[str, list[str]]
    calls: list[dict]
    sms: list[dict]
    registrations: list[dict]
    feedback: list[dict]

    def scenarios(self, kind: str) -> list[dict]:
        return [s for s in self.labels["scenarios"] if s["kind"] == kind]

    def negatives(self, kind: str) -> list[dict]:
        return [h for h in self.labels["hard_negatives"] if h["type"] == kind]

    def calls_to(self) -> dict[str, list[dict]]:
        out = defaultdict(list)
        for c in self.calls:
            out[c["callee"]].append(c)
        return out

    def calls_from(self) -> dict[str, list[dict]]:
        out = defaultdict(list)
        for c in self.calls:
            out[c["caller"]].append(c)
        return out


def load(out: Path) -> SimulatedWeek:
    parts = {}
    headers = {}
    for name in ("calls", "sms", "registrations", "feedback"):
        headers[name], rows = read_csv(out / f"{name}.csv")
        for r in rows:
            r["t"] = epoch(r.get("start") or r["time"])
        parts[name] = rows
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    return SimulatedWeek(out, labels, headers, **parts)


@pytest.fixture(scope="session")
def sim_week(tmp_path_factory) -> SimulatedWeek:
    out = tmp_path_factory.mktemp("sim-week")
    simulate(out, days=7, subscribers=WEEK_SUBSCRIBERS, seed=WEEK_SEED)
    return load(out)
