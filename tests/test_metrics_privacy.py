"""No clear phone number (or device address) ever appears in /metrics."""

from __future__ import annotations

import csv
import json
import random
import subprocess
import sys

import pytest
from prometheus_client.parser import text_string_to_metric_families

from detector.alerts import KINDS, Alert
from detector.metrics import FraudwatchMetrics
from detector.suspects import Pseudonymizer
from fraudwatch.replay import replay
from tests.services_prometheus import REPO


def label_values(text: str) -> set[str]:
    return {v for fam in text_string_to_metric_families(text) for s in fam.samples
            for v in s.labels.values()}


def assert_no_leak(text: str, numbers: set[str]) -> None:
    labels = label_values(text)
    in_labels = sorted(n for n in numbers if any(n in v for v in labels))
    assert not in_labels, f"numbers in metric labels: {in_labels[:10]}"
    # Long numbers must not appear anywhere in the text either (values, help, names).
    anywhere = sorted(n for n in numbers if len(n) >= 8 and n in text)
    assert not anywhere, f"numbers in /metrics: {anywhere[:10]}"


@pytest.mark.parametrize("mode", ["hmac", "mask"])
def test_many_random_numbers_never_reach_metrics(mode):
    rng = random.Random(11)
    m = FraudwatchMetrics(Pseudonymizer(b"secret", mode=mode), suspects_per_kind=50)
    numbers = set()
    for i in range(5000):
        subject = rng.choice(["138", "139", "+8613", "0086138", "021", "+855"]) + \
            f"{rng.randrange(10**8):08d}"
        other = f"00{rng.randrange(10**11):011d}"
        numbers.update((subject, other))
        m.observe_alert(Alert(KINDS[i % 6], subject, other, 1000.0 + i,
                              rng.choice(("warning", "critical")), rng.random(),
                              f"{i} calls from {other} to {subject}"))
    text = m.exposition()
    assert_no_leak(text, numbers)
    # ... while the suspects are there, under pseudonyms.
    subjects = {s.labels["subject"] for fam in text_string_to_metric_families(text)
                for s in fam.samples if s.name == "fraudwatch_suspect_score"}
    assert len(subjects) == 6 * 50
    if mode == "hmac":
        assert all(s.startswith("ps_") for s in subjects)
    else:
        assert all("****" in s for s in subjects)


def test_simulator_numbers_never_reach_metrics(tmp_path):
    out = tmp_path / "sim"
    r = subprocess.run([sys.executable, "-m", "fraudwatch", "simulate", "--out", str(out),
                        "--days", "1", "--subscribers", "1000", "--seed", "5", "-q"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    numbers: set[str] = set()
    columns = {"calls.csv": ("caller", "callee", "src_ip"),
               "sms.csv": ("sender", "recipient"),
               "registrations.csv": ("line", "contact_ip"),
               "feedback.csv": ("number", "about")}
    for name, cols in columns.items():
        with open(out / name, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                numbers.update(row[c] for c in cols if row.get(c) and len(row[c]) >= 5)
    labels = json.loads((out / "labels.json").read_text(encoding="utf-8"))
    assert len(numbers) > 1000

    m = FraudwatchMetrics(Pseudonymizer(b"operator"), suspects_per_kind=20)
    files = [out / n for n in columns]
    summary = replay(files, metrics=m, kinds=[])  # ingest, pipeline and SIP metrics
    assert summary.total_records > 1000
    # Every labelled fraud subject, and then every number in the files, becomes a suspect.
    t = summary.last_time
    for sc in labels["scenarios"]:
        m.observe_alert(Alert(sc["kind"], sc["subject"], sc.get("counterparty"), t,
                              "critical", 0.99, f"scenario {sc['id']} on {sc['subject']}"))
    for i, n in enumerate(sorted(numbers)):
        m.observe_alert(Alert(KINDS[i % 6], n, None, t, "warning", 0.5 + (i % 50) / 100, "r"))
    text = m.exposition()
    assert "fraudwatch_suspect_score{" in text
    assert_no_leak(text, numbers | {sc["subject"] for sc in labels["scenarios"]})
