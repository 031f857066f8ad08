"""The feedback re-ranker: learns from confirmed / dismissed verdicts, in the engine too."""

from __future__ import annotations

from detector.alerts import Alert
from detector.engine import Engine
from detector.models.reranker import FeedbackReranker, alert_features
from detector.records import Call, Feedback
from detector.rulefiles import RuleSet


def alert(t: float, calls: int, kind: str = "harassment") -> Alert:
    return Alert(kind, f"1380000{int(t):04d}", "13911112222", t, "warning", 0.6, "r",
                 {"calls": calls, "signals": ["rate"], "first_ref": "x"})


def teach(r: FeedbackReranker, n: int = 60) -> None:
    for i in range(n):
        a = r.apply(alert(float(i), 40 if i % 2 else 4))
        verdict = "confirmed" if i % 2 else "dismissed"
        r.on_feedback(Feedback(time=i + 0.5, number="analyst", kind=verdict, alert_id=a.id))


def test_features_are_numeric_and_name_the_kind():
    x = alert_features(alert(1.0, 12))
    assert x["kind=harassment"] == 1.0 and x["harassment.signal=rate"] == 1.0
    assert "harassment.first_ref" not in x and all(isinstance(v, float) for v in x.values())


def test_scores_unchanged_until_enough_verdicts_of_both_kinds():
    r = FeedbackReranker(min_labels=5)
    a = alert(0.0, 40)
    assert r.apply(a) is a
    for i in range(10):  # only confirmations: not ready
        b = r.apply(alert(float(i + 1), 40))
        r.on_feedback(Feedback(time=i + 1.5, number="n", kind="confirmed", alert_id=b.id))
    assert not r.ready and r.apply(alert(50.0, 40)).score == 0.6


def test_learns_to_rank_confirmed_above_dismissed():
    r = FeedbackReranker(min_labels=5, weight=0.5)
    teach(r)
    high, low = r.apply(alert(100.0, 40)), r.apply(alert(101.0, 4))
    assert high.score > 0.6 > low.score
    assert high.severity == "warning" and high.id == alert(100.0, 40).id
    assert high.evidence["detector_score"] == 0.6 and 0.5 < high.evidence["confirm_probability"]


def test_verdicts_on_unknown_or_expired_alerts_are_counted_not_learned():
    r = FeedbackReranker(memory=100.0)
    old = r.apply(alert(0.0, 10))
    r.apply(alert(500.0, 10))  # pushes the first one out of memory
    r.on_feedback(Feedback(time=501.0, number="n", kind="confirmed", alert_id=old.id))
    r.on_feedback(Feedback(time=502.0, number="n", kind="dismissed", alert_id="nope"))
    assert r.unknown_verdicts == 2 and r.labels == {True: 0, False: 0}


def test_memory_is_bounded():
    r = FeedbackReranker(max_alerts=10)
    for i in range(50):
        r.apply(alert(float(i), i))
    assert len(r.pending) == 10


def test_checkpoint_restores_identical_scores(tmp_path):
    r = FeedbackReranker(min_labels=5)
    teach(r)
    r.save(tmp_path / "reranker.pkl")
    restored = FeedbackReranker.load(tmp_path / "reranker.pkl")
    probes = [alert(200.0 + i, i) for i in range(30)]
    assert [r.apply(a).score for a in probes] == [restored.apply(a).score for a in probes]


def test_attached_to_the_engine_it_learns_from_feedback_records():
    eng = Engine(RuleSet.load(), kinds=["harassment"])
    r = FeedbackReranker(min_labels=1).attach(eng)
    victim, t = "13800000001", 1_793_548_800.0
    calls = [Call(start=t + 600 * i, caller="13911112222", callee=victim, ingress="domestic")
             for i in range(8)]
    alerts = eng.push_many(calls) + eng.flush()
    assert alerts and alerts[0].id in r.pending
    eng.push(Feedback(time=t + 7200, number="analyst", kind="confirmed", alert_id=alerts[0].id))
    eng.flush()
    assert r.labels[True] == 1 and alerts[0].id not in r.pending
