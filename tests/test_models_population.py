"""The River population model of line behaviour: scores, checkpoint round trip."""

from __future__ import annotations

import random

import pytest

from detector.models.population import FEATURES, LinePopulationModel


def ordinary(rng: random.Random) -> dict[str, float]:
    return {"calls": rng.uniform(0.0, 0.2), "distinct": rng.uniform(0.7, 1.0),
            "failed": rng.uniform(0.1, 0.5), "new_destinations": rng.uniform(0.0, 0.2),
            "odd_hour": 0.0, "busy_inbound": 0.0, "over_baseline": rng.uniform(0.0, 0.2)}


def gateway(rng: random.Random) -> dict[str, float]:
    return {"calls": rng.uniform(0.8, 1.0), "distinct": 1.0, "failed": rng.uniform(0.75, 0.95),
            "new_destinations": rng.uniform(0.4, 0.8), "odd_hour": 1.0, "busy_inbound": 1.0,
            "over_baseline": 1.0}


def trained(seed: int = 3) -> LinePopulationModel:
    rng = random.Random(seed)
    model = LinePopulationModel(seed=seed)
    for _ in range(600):
        model.learn_one(ordinary(rng))
    return model


def test_untrained_model_scores_zero():
    model = LinePopulationModel()
    assert model.score_one(gateway(random.Random(0))) == 0.0


def test_gateway_windows_score_above_ordinary_ones():
    model = trained()
    rng = random.Random(99)
    normal = sorted(model.score_one(ordinary(rng)) for _ in range(200))
    boxes = sorted(model.score_one(gateway(rng)) for _ in range(50))
    assert boxes[0] > normal[len(normal) // 2]       # every box above the median line
    assert sum(boxes) / len(boxes) > 0.8
    assert all(0.0 <= s <= 1.0 for s in normal + boxes)


def test_checkpoint_restores_identical_scores(tmp_path):
    model = trained()
    path = tmp_path / "population.pkl"
    model.save(path)
    restored = LinePopulationModel.load(path)
    rng = random.Random(5)
    probes = [ordinary(rng) for _ in range(20)] + [gateway(rng) for _ in range(20)]
    assert [model.score_one(x) for x in probes] == [restored.score_one(x) for x in probes]
    # and both keep learning the same way
    more = [ordinary(rng) for _ in range(300)]
    for x in more:
        model.learn_one(x)
        restored.learn_one(x)
    assert [model.score_one(x) for x in probes] == [restored.score_one(x) for x in probes]


def test_load_refuses_another_kind_of_checkpoint(tmp_path):
    from detector.models import checkpoint

    checkpoint.save({"not": "a model"}, tmp_path / "x.pkl")
    with pytest.raises(TypeError):
        LinePopulationModel.load(tmp_path / "x.pkl")


def test_features_match_the_voip_box_detector():
    from detector.records import Call
    from detector.rulefiles import RuleSet
    from detector.voip_box import VoipBox

    d = VoipBox(RuleSet.load())
    d.on_call(Call(start=0.0, caller="02161234567", callee="13800000001", ingress="access",
                   caller_line="residential"))
    line = d.lines["02161234567"]
    x = d._features(line, 0.0, False, 0.2)
    assert tuple(x) == FEATURES and all(0.0 <= v <= 1.0 for v in x.values())
