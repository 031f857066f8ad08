"""Detection quality of voip_box and harassment on a small simulation (CI version of the
20,000-subscriber week in bench/RESULTS.md).

The simulator draws box rates (3-60 calls an hour), answer ratios, harassment intensities
and feedback timing at random, and mixes in hard negatives (call centres, heavy shoppers
called by many couriers, parents calling their children many times a day). A second
replay without the registration records shows that voip_box finds the boxes from their
calling behaviour alone, not only from the gateway's registration.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudwatch.evaluate import evaluate
from fraudwatch.replay import replay
from fraudwatch.simulate import simulate

KINDS = ("voip_box", "harassment")
SEED = 1125_0431


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    out: Path = tmp_path_factory.mktemp("quality_d1")
    return simulate(out, days=3, subscribers=2000, seed=SEED)


@pytest.fixture(scope="module")
def full(sim) -> dict:
    summary = replay(sorted(sim.out.glob("*.csv")), kinds=KINDS)
    assert summary.total_records == sum(sim.rows.values())
    return evaluate(sim.labels, [a.to_dict() for a in summary.alerts])


@pytest.fixture(scope="module")
def calls_only(sim) -> dict:
    paths = [sim.out / "calls.csv", sim.out / "feedback.csv"]
    summary = replay(paths, kinds=KINDS)
    return evaluate(sim.labels, [a.to_dict() for a in summary.alerts])


@pytest.mark.parametrize("kind", KINDS)
def test_recall_and_precision(full, kind):
    row = full["kinds"][kind]
    assert row["labels"] >= 2
    assert row["recall"] >= 0.95, row["missed"]
    assert row["precision"] >= 0.95, row
    assert row["hard_negatives_alerted"] == 0


def test_voip_box_raised_within_30_minutes_of_onset(full):
    assert full["kinds"]["voip_box"]["median_delay_s"] <= 30 * 60


def test_harassment_raised_before_the_15th_call(full):
    assert full["kinds"]["harassment"]["median_calls_to_alert"] < 15


def test_voip_box_from_calling_behaviour_alone(calls_only):
    row = calls_only["kinds"]["voip_box"]
    assert row["recall"] >= 0.95, row["missed"]
    assert row["precision"] >= 0.95, row
    assert row["hard_negatives_alerted"] == 0
