"""The simulated background looks like an operator's traffic."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

from detector.numbering import NumberingPlan
from fraudwatch.replay import open_records
from tests import simulate_support

sim_week = simulate_support.sim_week  # the shared simulated week (a fixture)

CHINA = timezone(timedelta(hours=8))
CONTRACT = {
    "calls": ["start", "caller", "callee", "duration", "disposition", "ingress", "caller_line",
              "callee_line", "call_id", "user_agent", "src_ip"],
    "sms": ["time", "sender", "recipient", "text", "direction"],
    "registrations": ["time", "line", "contact_ip", "user_agent", "status", "expires"],
    "feedback": ["time", "number", "kind", "about", "alert_id"],
}


def local(t: float) -> datetime:
    return datetime.fromtimestamp(t, CHINA)


def test_headers_and_times_follow_the_contract(sim_week):
    assert sim_week.headers == CONTRACT
    for rows in (sim_week.calls, sim_week.sms, sim_week.registrations, sim_week.feedback):
        assert rows
        first = rows[0].get("start") or rows[0]["time"]
        assert first.endswith("+08:00") and first.startswith("2026-11-0")
    assert sim_week.labels["start"] == "2026-11-02T00:00:00+08:00"
    assert local(sim_week.calls[0]["t"]).weekday() == 0  # the simulation starts on a Monday


def test_files_read_cleanly_with_the_project_readers(sim_week, tmp_path):
    from capture.quarantine import Quarantine

    q = Quarantine(tmp_path / "q.jsonl")
    counts = Counter()
    for name in ("calls", "sms", "registrations", "feedback"):
        for record in open_records(sim_week.out / f"{name}.csv", None, q):
            counts[type(record).__name__] += 1
    q.close()
    assert q.total == 0
    assert counts == {"Call": len(sim_week.calls), "Sms": len(sim_week.sms),
                      "Registration": len(sim_week.registrations),
                      "Feedback": len(sim_week.feedback)}


def test_answered_share_and_disposition_mix(sim_week):
    disp = Counter(c["disposition"] for c in sim_week.calls)
    answered = disp["ANSWERED"] / sum(disp.values())
    assert 0.6 <= answered <= 0.75, answered
    for d in ("BUSY", "NO ANSWER", "FAILED", "CANCELLED"):
        assert disp[d] > 0.005 * len(sim_week.calls), d
    durations = sorted(int(c["duration"]) for c in sim_week.calls if c["disposition"] == "ANSWERED")
    assert all(int(c["duration"]) == 0 for c in sim_week.calls if c["disposition"] != "ANSWERED")
    median = durations[len(durations) // 2]
    assert 30 <= median <= 150, median      # log-normal: median around a minute,
    assert durations[-len(durations) // 100] > 5 * median  # with a long tail


def test_diurnal_rhythm_has_a_night_trough_and_daytime_peaks(sim_week):
    hours = Counter(local(c["t"]).hour for c in sim_week.calls)
    peak_hour = max(hours, key=hours.get)
    trough_hour = min(hours, key=hours.get)
    assert 9 <= peak_hour <= 21, peak_hour
    assert 1 <= trough_hour <= 5, trough_hour
    assert hours[trough_hour] < 0.1 * hours[peak_hour]
    night = sum(hours[h] for h in range(1, 6))
    day = sum(hours[h] for h in range(9, 21))
    assert day > 15 * night


def test_weekly_rhythm_business_lines_quiet_at_weekends(sim_week):
    by_day = Counter()
    for c in sim_week.calls:
        if c["caller_line"] == "business" and c["ingress"] == "access":
            by_day[local(c["t"]).weekday()] += 1
    weekday = sum(by_day[d] for d in range(5)) / 5
    weekend = (by_day[5] + by_day[6]) / 2
    assert weekend < 0.5 * weekday, (weekday, weekend)
    residential = Counter(local(c["t"]).weekday() for c in sim_week.calls
                          if c["caller_line"] == "residential" and c["ingress"] == "access")
    assert residential[6] > sum(residential[d] for d in range(5)) / 5


def test_calls_are_written_in_end_time_order(sim_week):
    ends = [c["t"] + int(c["duration"]) for c in sim_week.calls]
    starts = [c["t"] for c in sim_week.calls]
    # the end includes ringing (not in the CDR), at most a minute: never further back
    worst = max(0.0, max(a - b for a, b in zip(_running_max(ends), ends, strict=True)))
    assert worst <= 61
    assert any(b < a for a, b in zip(starts, starts[1:], strict=False))  # not start order
    assert len({c["call_id"] for c in sim_week.calls}) == len(sim_week.calls)


def _running_max(values):
    m = float("-inf")
    out = []
    for v in values:
        m = max(m, v)
        out.append(m)
    return out


def test_numbers_follow_the_china_plan_and_line_types(sim_week):
    plan = NumberingPlan.load("cn")
    expect = {"mobile": {"mobile"}, "residential": {"fixed"}, "business": {"fixed"}}
    seen = Counter()
    for c in sim_week.calls[:20000]:
        if c["ingress"] == "access" and c["caller_line"]:
            assert plan.classify(c["caller"]).category in expect[c["caller_line"]], c
            seen[c["caller_line"]] += 1
        if c["ingress"] == "international":
            assert plan.classify(c["caller"]).category in ("international", "malformed", "mobile")
    assert set(seen) == {"mobile", "residential", "business"}
    ingress = Counter(c["ingress"] for c in sim_week.calls)
    assert set(ingress) == {"access", "domestic", "international"}
    fixed_with_device = [c for c in sim_week.calls if c["caller_line"] == "residential"
                         and c["user_agent"]]
    assert fixed_with_device and all(c["src_ip"] for c in fixed_with_device)
    assert not any(c["user_agent"] for c in sim_week.calls if c["caller_line"] == "mobile")


def test_courier_hotlines_and_relatives_abroad_are_ordinary_traffic(sim_week):
    callers = Counter(c["caller"] for c in sim_week.calls)
    assert callers["95353"] > 20 and callers["952306"] > 20
    relatives = sim_week.negatives("intl_relative")
    assert len(relatives) >= 2
    calls_from = sim_week.calls_from()
    for r in relatives:
        calls = [c for n in r["callers"] for c in calls_from[n]]
        assert calls and all(c["ingress"] == "international" and c["callee"] == r["callee"]
                             for c in calls)
        answered = [c for c in calls if c["disposition"] == "ANSWERED"]
        assert answered and min(int(c["duration"]) for c in answered) >= 300


def test_sms_kinds_and_texts(sim_week):
    texts = [s["text"] for s in sim_week.sms]
    assert any("验证码" in t for t in texts) and any("verification code" in t for t in texts)
    assert any("回T退订" in t for t in texts) and any("Reply TD to unsubscribe" in t for t in texts)
    assert any(s["sender"] == "95588" and "工商银行" in s["text"] for s in sim_week.sms)
    assert Counter(s["direction"] for s in sim_week.sms).keys() == {"mt", "mo"}


def test_opt_outs_are_honoured_outside_labelled_violations(sim_week):
    violations = {(s["subject"], s["counterparty"]) for s in sim_week.scenarios("optout_violation")}
    words = {"T", "TD", "N", "Q", "QXFS", "退订"}
    optouts = {}
    for s in sim_week.sms:
        if s["direction"] == "mo" and s["text"] in words and s["recipient"].startswith("106"):
            optouts.setdefault((s["sender"], s["recipient"]), s["t"])
    honoured = [k for k in optouts if k not in violations]
    assert len(honoured) >= 10
    later = Counter()
    confirmed = set()
    for s in sim_week.sms:
        key = (s["recipient"], s["sender"])
        if key in optouts and key not in violations and s["t"] >= optouts[key]:
            if "退订" in s["text"] and "成功" in s["text"] or "unsubscribed" in s["text"]:
                confirmed.add(key)
            else:
                later[key] += 1
    assert not later, later.most_common(3)
    assert confirmed == set(honoured)


def test_voip_lines_register_from_stable_domestic_addresses(sim_week):
    boxes = {s["subject"] for s in sim_week.scenarios("voip_box")}
    scanners = {s["subject"] for s in sim_week.scenarios("sip_scan")}
    addresses = {}
    for r in sim_week.registrations:
        if r["line"] in boxes or r["contact_ip"] in scanners:
            continue
        addresses.setdefault(r["line"], set()).add(r["contact_ip"])
        assert r["status"] == "200" and r["expires"] == "3600"
    assert len(addresses) > 100
    assert all(len(a) == 1 for a in addresses.values())
    per_line = Counter(r["line"] for r in sim_week.registrations if r["line"] in addresses)
    assert min(per_line.values()) >= 7 * 23  # hourly refresh all week


def test_subscribers_call_their_own_contacts_again(sim_week):
    boxes = {s["subject"] for s in sim_week.scenarios("voip_box")}
    centres = {h["subject"] for h in sim_week.negatives("call_centre")}
    callees: dict[str, list[str]] = {}
    for c in sim_week.calls:
        if c["ingress"] == "access" and c["caller"] not in boxes | centres:
            callees.setdefault(c["caller"], []).append(c["callee"])
    ratios = sorted(len(set(v)) / len(v) for v in callees.values() if len(v) >= 10)
    assert len(ratios) > 100
    assert ratios[len(ratios) // 2] < 0.75  # a typical line repeats its callees
    assert not any(c["caller"] == c["callee"] for c in sim_week.calls)


def test_calls_between_contacts_are_answered_more_often(sim_week):
    pairs = Counter((c["caller"], c["callee"]) for c in sim_week.calls
                    if c["ingress"] in ("access", "domestic"))
    regular = [c["disposition"] == "ANSWERED" for c in sim_week.calls
               if pairs[(c["caller"], c["callee"])] >= 5 and c["ingress"] != "international"]
    one_off = [c["disposition"] == "ANSWERED" for c in sim_week.calls
               if pairs[(c["caller"], c["callee"])] == 1 and c["ingress"] != "international"]
    assert len(regular) > 1000 and len(one_off) > 1000
    assert sum(regular) / len(regular) > sum(one_off) / len(one_off) + 0.15
