"""harassment: hand-built call sequences, the hard negatives, escalation and rule changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from detector.alerts import iso
from detector.engine import Engine
from detector.harassment import Harassment
from detector.records import Call, Feedback
from detector.rulefiles import RuleSet, rules_dir

VICTIM = "13800000001"
DAY = 86400.0
T0 = 1_793_548_800.0  # 2026-11-02 00:00 China time


def call(t: float, caller: str, callee: str = VICTIM, disposition: str = "NO ANSWER",
         duration: float = 0.0, ref: str = "") -> Call:
    return Call(start=t, caller=caller, callee=callee, duration=duration,
                disposition=disposition, ingress="domestic", callee_line="mobile",
                call_id=ref or f"c{t:.0f}")


def run(detector, records) -> list:
    out = []
    for r in records:
        handler = detector.on_call if isinstance(r, Call) else detector.on_feedback
        out.extend(handler(r))
    return out


def campaign(caller_of, n: int, every: float = DAY / 4, start: float = T0) -> list[Call]:
    disp = ["BUSY", "NO ANSWER", "CANCELLED", "ANSWERED"]
    return [call(start + i * every, caller_of(i), disposition=disp[i % 4],
                 duration=6.0 if disp[i % 4] == "ANSWERED" else 0.0) for i in range(n)]


def test_one_caller_many_rejected_calls_alerts_before_the_15th_call():
    d = Harassment(RuleSet.load())
    stalker = "13911112222"
    alerts = run(d, campaign(lambda i: stalker, 29))
    assert alerts, "a 29-call campaign of short and rejected calls must alert"
    first = alerts[0]
    assert (first.kind, first.subject, first.counterparty) == ("harassment", VICTIM, stalker)
    calls_before = sum(1 for c in campaign(lambda i: stalker, 29) if c.start <= first.time)
    assert calls_before < 15
    ev = first.evidence
    assert ev["nuisance_calls"] >= d.min_calls and ev["first_ref"] == f"c{T0:.0f}"
    assert ev["first_time"] == iso(T0) and ev["last_time"] == iso(first.time)
    assert stalker in first.reason and str(ev["nuisance_calls"]) in first.reason
    assert first.severity == "warning" and 0.5 <= first.score <= 1.0


def test_an_organisations_numbers_count_as_one_party():
    d = Harassment(RuleSet.load())
    hotlines = ["95353", "952306"]
    alerts = run(d, campaign(lambda i: hotlines[i % 2], 8))
    assert alerts and alerts[0].counterparty == "express-courier"
    assert alerts[0].evidence["numbers"] == 2
    assert alerts[0].evidence["organisation"] == "express-courier"
    # the same 8 calls split over two unrelated numbers stay below the threshold
    d2 = Harassment(RuleSet.load())
    assert run(d2, campaign(lambda i: ["13911110001", "13911110002"][i % 2], 8)) == []


def test_continuing_after_not_me_feedback_about_the_organisation_is_critical():
    d = Harassment(RuleSet.load())
    records = campaign(lambda i: "95353", 3)
    records.append(Feedback(time=T0 + DAY, number=VICTIM, kind="not_me", about="express-courier"))
    records.append(call(T0 + 2 * DAY, "952306"))
    alerts = run(d, records)
    # the complaint confirms the three calls at once; the next call makes it critical
    assert [(a.time, a.severity) for a in alerts] == [(T0 + DAY, "warning"),
                                                      (T0 + 2 * DAY, "critical")]
    assert all(a.evidence["complaint_time"] is not None for a in alerts)
    assert "complained" in alerts[0].reason and "continuing after" in alerts[1].reason


def test_complaint_about_a_prefix_or_number_escalates_only_that_party():
    d = Harassment(RuleSet.load())
    records = campaign(lambda i: "17012345678", 3) + campaign(lambda i: "13922223333", 3)
    records.append(Feedback(time=T0 + DAY, number=VICTIM, kind="complaint", about="170"))
    records.append(call(T0 + 2 * DAY, "17012345678"))
    records.append(call(T0 + 2 * DAY + 60, "13922223333"))
    alerts = run(d, records)
    assert [(a.counterparty, a.severity) for a in alerts] == [("17012345678", "warning"),
                                                              ("17012345678", "critical")]


def test_complaint_about_a_party_with_few_calls_raises_nothing_yet():
    d = Harassment(RuleSet.load())
    records = campaign(lambda i: "13911112222", 2)
    records.append(Feedback(time=T0 + DAY, number=VICTIM, kind="complaint", about="13911112222"))
    records.append(Feedback(time=T0 + DAY, number=VICTIM, kind="opt_out", about="13911112222"))
    assert run(d, records) == []


def test_feedback_before_any_call_needs_calls_after_it():
    d = Harassment(RuleSet.load())
    records = [Feedback(time=T0, number=VICTIM, kind="complaint", about="13911112222")]
    records += campaign(lambda i: "13911112222", 2, start=T0 + 60)
    assert run(d, records) == []  # two calls: below escalate_min_calls


def test_hard_negative_heavy_shopper_called_by_many_couriers_who_answers():
    d = Harassment(RuleSet.load())
    couriers = ["95353", "952306"] + [f"1390000{i:04d}" for i in range(12)]
    records = []
    for day in range(7):
        for k in range(5):
            i = day * 5 + k
            answered = i % 10 != 0
            records.append(call(T0 + day * DAY + 3600 * (9 + 2 * k), couriers[i % len(couriers)],
                                disposition="ANSWERED" if answered else "NO ANSWER",
                                duration=10.0 + (i * 7) % 50 if answered else 0.0))
    assert run(d, records) == []


def test_hard_negative_relative_who_calls_often_and_talks_long():
    d = Harassment(RuleSet.load())
    parent = "13766665555"
    records = []
    for day in range(7):
        for k in range(12):
            i = day * 12 + k
            missed = i % 8 == 0
            records.append(call(T0 + day * DAY + 3600 * 7 + 4000 * k, parent,
                                disposition="NO ANSWER" if missed else "ANSWERED",
                                duration=0.0 if missed else 45.0 + (i * 37) % 600))
    assert run(d, records) == []


def test_a_hotline_called_often_is_not_a_victim():
    d = Harassment(RuleSet.load())
    records = [call(T0 + 600 * i, "02130224915", callee="95533") for i in range(10)]
    assert run(d, records) == []


def test_hard_negative_contact_missed_now_and_then_over_a_week():
    d = Harassment(RuleSet.load())
    # eight missed calls from one number, but spread over seven days
    assert run(d, campaign(lambda i: "13911112222", 8, every=DAY - 600)) == []


def test_calls_older_than_the_window_do_not_count():
    d = Harassment(RuleSet.load())
    slow = campaign(lambda i: "13911112222", 10, every=2 * DAY)  # one call every two days
    assert run(d, slow) == []


def _rules_copy(tmp_path: Path, **params) -> RuleSet:
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    path = root / "detectors" / "harassment.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc[0]["params"].update(params)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return RuleSet.load(root)


def test_threshold_in_a_copied_rules_dir_changes_behaviour(tmp_path):
    records = campaign(lambda i: "13911112222", 7)
    assert run(Harassment(RuleSet.load()), records)
    assert run(Harassment(_rules_copy(tmp_path, min_nuisance_calls=8)), records) == []
    assert run(Harassment(_rules_copy(tmp_path / "b", min_nuisance_per_day=8)), records) == []


def test_organisation_list_in_a_copied_rules_dir(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    (root / "lists" / "organisations.yaml").write_text(
        "organisations:\n  pushy-lender: ['400*']\n", encoding="utf-8")
    d = Harassment(RuleSet.load(root))
    alerts = run(d, campaign(lambda i: f"400123450{i % 3}", 7))
    assert alerts and alerts[0].counterparty == "pushy-lender"


def test_idle_state_expires_and_tracked_counts_victims():
    d = Harassment(RuleSet.load())
    run(d, campaign(lambda i: "13911112222", 3))
    run(d, [call(T0, "13911112222", callee="13800000002")])
    assert d.tracked() == 2
    d.expire(T0 + 30 * DAY)
    assert d.tracked() == 0


def test_friendly_calls_from_untracked_parties_cost_no_state():
    d = Harassment(RuleSet.load())
    run(d, [call(T0 + i, f"1391111{i:04d}", disposition="ANSWERED", duration=120.0)
            for i in range(100)])
    assert d.tracked() == 0


def test_engine_deduplicates_and_re_raises_on_escalation():
    rules = RuleSet.load()
    eng = Engine(rules, kinds=["harassment"])
    records = campaign(lambda i: "13911112222", 12, every=1800)
    records.append(Feedback(time=T0 + 12 * 1800, number=VICTIM, kind="complaint",
                            about="13911112222"))
    records += campaign(lambda i: "13911112222", 3, every=600, start=T0 + 13 * 1800)
    alerts = eng.push_many(records) + eng.flush()
    assert [a.severity for a in alerts] == ["warning", "critical"]


def test_hard_negative_acquaintance_who_talks_between_missed_calls():
    d = Harassment(RuleSet.load())
    friend = "15863710652"
    disp = ["BUSY", "ANSWERED", "BUSY", "FAILED", "ANSWERED", "BUSY", "NO ANSWER", "BUSY"]
    dur = [0, 8, 0, 0, 95, 0, 0, 0]
    records = [call(T0 + 3600 * i, friend, disposition=x, duration=float(y))
               for i, (x, y) in enumerate(zip(disp, dur, strict=True))]
    assert run(d, records) == []
    # ... unless the subscriber complains about them: then further calls escalate
    records = [Feedback(time=T0 + 9 * 3600, number=VICTIM, kind="complaint", about=friend),
               call(T0 + 10 * 3600, friend, disposition="BUSY")]
    assert [a.severity for a in run(d, records)] == ["warning", "critical"]
