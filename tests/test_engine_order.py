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
