"""Detection quality of intl_fraud, sms_bombing, optout_violation and sip_scan on a small
simulation (CI version of the 20,000-subscriber week in bench/RESULTS.md).

The simulator draws intensities at random per scenario and mixes in hard negatives
(OTP retries, festival marketing, relatives calling from abroad, honoured opt-outs, SIP
devices answering 401 challenges); the detectors run on record timestamps only.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudwatch.evaluate import evaluate
from fraudwatch.replay import replay
from fraudwatch.simulate import simulate

KINDS = ("intl_fraud", "sms_bombing", "optout_violation", "sip_scan")
SEED = 20261125
MAX_DELAY_S = {"sms_bombing": 5 * 60, "intl_fraud": 60}


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    out: Path = tmp_path_factory.mktemp("quality_d2")
    sim = simulate(out, days=3, subscribers=2000, seed=SEED)
    alerts = out / "alerts.jsonl"
    summary = replay(sorted(out.glob("*.csv")), alerts_path=alerts, kinds=KINDS)
    assert summary.total_records == sum(sim.rows.values())
    return evaluate(sim.labels, [a.to_dict() for a in summary.alerts])


@pytest.mark.parametrize("kind", KINDS)
def test_recall_and_precision(result, kind):
    row = result["kinds"][kind]
    assert row["labels"] >= 2
    assert row["recall"] >= 0.95, row["missed"]
    assert row["precision"] >= 0.95, row
    assert row["hard_negatives_alerted"] == 0


@pytest.mark.parametrize("kind", sorted(MAX_DELAY_S))
def test_median_delay(result, kind):
    assert result["kinds"][kind]["median_delay_s"] <= MAX_DELAY_S[kind]
