"""Event time: out-of-order input within the allowed lateness gives the same alerts."""

import random
from collections import deque

from detector.base import Detector
from detector.engine import Engine
from detector.records import Call
from detector.rulefiles import DetectionRule, RuleSet


class BurstDetector(Detector):
    """Alerts when a callee receives >= 3 calls within 10 minutes (order-sensitive on purpose)."""

    kind = "harassment"

    def __init__(self, rules):
        self.rules = rules
        self.rule = DetectionRule(rule="burst", kind="harassment", output="{n} calls")
        self.windows: dict[str, deque] = {}

    def on_call(self, call):
        w = self.windows.setdefault(call.callee, deque())
        w.append(call.start)
        while w and w[0] < call.start - 600:
            w.popleft()
        if len(w) >= 3:
            yield self.alert(call.callee, None, call.start, 0.9, {"n": len(w)})


def _calls(seed: int, n: int = 600):
    rng = random.Random(seed)
    t = 1_700_000_000.0
    out = []
    for _ in range(n):
        t += rng.expovariate(1 / 90)
        out.append(Call(start=round(t), caller=f"1380000{rng.randrange(100):04d}",
                        callee=f"1390000{rng.randrange(12):04d}", duration=rng.choice([0, 30, 300])))
    return out


def _alerts(records, lateness):
    rules = RuleSet.load()
    eng = Engine(rules, detectors=[BurstDetector(rules)], lateness=lateness)
    out = eng.push_many(records) + eng.flush()
    return [(a.id, a.time) for a in out], eng


def test_reordering_within_lateness_keeps_the_alert_set():
    calls = _calls(1)
    ordered, _ = _alerts(calls, lateness=7200)
    assert ordered, "the scenario must raise alerts for the comparison to mean anything"
    for seed in range(5):
        rng = random.Random(seed)
        # CDR order: by END time (start + duration), plus random jitter well inside 2 h
        shuffled = sorted(calls, key=lambda c: c.start + c.duration + rng.uniform(0, 3000))
        again, eng = _alerts(shuffled, lateness=7200)
        assert again == ordered
        assert eng.stats.late == 0


def test_disorder_beyond_lateness_is_counted_not_lost():
    calls = _calls(2, 200)
    shuffled = list(reversed(calls))
    _, eng = _alerts(shuffled, lateness=60)
    assert eng.stats.late > 0
    assert eng.stats.records["call"] == len(calls)


def test_lateness_zero_changes_result_on_reversed_input():
    # proves the test above is meaningful: without the reorder buffer, order matters
    calls = _calls(3)
    ordered, _ = _alerts(calls, lateness=7200)
    unbuffered, _ = _alerts(list(reversed(calls)), lateness=0)
    assert unbuffered != ordered


def test_same_timestamp_ties_do_not_depend_on_arrival_order():
    base = 1_700_000_000.0
    calls = [Call(start=base + (i // 4) * 10, caller=f"13800000{i:03d}", callee="13900000001")
             for i in range(12)]
    a, _ = _alerts(calls, lateness=3600)
    b, _ = _alerts(list(reversed(calls)), lateness=3600)
    assert a == b


def test_real_detectors_same_alerts_for_any_order_within_lateness(tmp_path):
    """A simulated day, replayed as written and with its rows shuffled within 1 h."""
    import csv

    from fraudwatch.replay import replay
    from fraudwatch.simulate import simulate

    sim = tmp_path / "sim"
    simulate(sim, days=1, subscribers=1500, seed=424242)
    inputs = ["calls.csv", "sms.csv", "registrations.csv", "feedback.csv"]
    first = replay([sim / f for f in inputs], alerts_path=tmp_path / "a.jsonl")
    assert len({a.kind for a in first.alerts}) >= 4, "the day must raise several kinds"

    from capture.fields import parse_time

    rng = random.Random(7)
    shuffled = tmp_path / "shuffled"
    shuffled.mkdir()
    for name in inputs:
        with open(sim / name, newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
        header, body = rows[0], rows[1:]
        body.sort(key=lambda r: parse_time(r[0]) + rng.uniform(0, 3600))
        with open(shuffled / name, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header, *body])
    second = replay([shuffled / f for f in inputs], alerts_path=tmp_path / "b.jsonl")
    assert second.late == 0
    assert sorted(a.id for a in second.alerts) == sorted(a.id for a in first.alerts)
