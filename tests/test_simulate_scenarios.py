"""Every labelled scenario and hard negative is really in the files, as labelled."""

from __future__ import annotations

from collections import Counter

from detector.numbering import NumberingPlan
from tests import simulate_support
from tests.simulate_support import WEEK_SUBSCRIBERS, epoch

sim_week = simulate_support.sim_week  # the shared simulated week (a fixture)

KINDS = ("voip_box", "harassment", "intl_fraud", "sms_bombing", "optout_violation", "sip_scan")


def in_window(rows, s, pad_before=0.0):
    onset, deadline = epoch(s["onset"]) - pad_before, epoch(s["deadline"])
    return [r for r in rows if onset <= r["t"] <= deadline]


def test_labels_shape_counts_and_spread(sim_week):
    labels = sim_week.labels
    assert {k: labels[k] for k in ("seed", "days", "subscribers", "plan")} == {
        "seed": 11, "days": 7, "subscribers": WEEK_SUBSCRIBERS, "plan": "cn"}
    start, end = epoch(labels["start"]), epoch(labels["end"])
    assert end - start == 7 * 86400
    counts = Counter(s["kind"] for s in labels["scenarios"])
    assert set(counts) == set(KINDS) and min(counts.values()) >= 2
    ids = [s["id"] for s in labels["scenarios"]]
    assert len(set(ids)) == len(ids)
    for s in labels["scenarios"]:
        assert set(s) == {"id", "kind", "subject", "counterparty", "onset", "deadline", "params"}
        assert start <= epoch(s["onset"]) < epoch(s["deadline"]) <= end + 3 * 3600
    # onsets spread over the period, not bunched on one day
    days = {int((epoch(s["onset"]) - start) // 86400) for s in labels["scenarios"]}
    assert len(days) >= 5
    for kind in KINDS:
        onsets = sorted(epoch(s["onset"]) for s in sim_week.scenarios(kind))
        assert onsets[-1] - onsets[0] > 3600, kind
    variants = {s["params"]["variant"] for s in sim_week.scenarios("intl_fraud")}
    assert variants == {"campaign", "wangiri", "spoofed_cli", "malformed", "hotline_followup"}
    assert {s["params"]["variant"] for s in sim_week.scenarios("harassment")} == {"courier",
                                                                                   "stalker"}


def test_intensities_are_randomised(sim_week):
    assert len({s["params"]["messages"] for s in sim_week.scenarios("sms_bombing")}) > 1
    assert len({s["params"]["rate_per_hour"] for s in sim_week.scenarios("voip_box")}) > 1


def test_sms_bombing_recipient_gets_the_codes_from_many_ports(sim_week):
    for s in sim_week.scenarios("sms_bombing"):
        p = s["params"]
        onset = epoch(s["onset"])
        window = [m for m in sim_week.sms if m["recipient"] == s["subject"]
                  and onset <= m["t"] <= onset + p["window_minutes"] * 60]
        codes = [m for m in window if ("验证码" in m["text"] or "code" in m["text"])
                 and m["sender"] != p["bank_message"]]
        assert len(codes) >= p["messages"] and 50 <= p["messages"] <= 80
        assert len({m["sender"] for m in codes}) >= p["ports"] >= 20
        assert 20 <= p["window_minutes"] <= 40
        if p["bank_message"]:
            assert any(m["sender"] == p["bank_message"] for m in window)


def test_voip_box_line_becomes_a_gateway(sim_week):
    calls_from, calls_to = sim_week.calls_from(), sim_week.calls_to()
    for s in sim_week.scenarios("voip_box"):
        p = s["params"]
        box = [c for c in calls_from[s["subject"]] if c["user_agent"] == p["box_user_agent"]]
        assert len(box) == p["calls"] > 0
        lo, hi = {"strong": (30, 60), "medium": (6, 30), "weak": (3, 6)}[p["tier"]]
        assert lo <= p["rate_per_hour"] <= hi
        expected = p["rate_per_hour"] * p["active_seconds"] / 3600
        if expected >= 20:
            assert 0.6 * expected <= len(box) <= 1.4 * expected
        local_hours = {int((c["t"] + 8 * 3600) % 86400 // 3600) for c in box}
        first, last = p["active_hours"]
        allowed = {(first + k) % 24 for k in range((last - first) % 24)}
        assert local_hours <= allowed
        assert all(c["src_ip"] == p["box_ip"] and c["ingress"] == "access"
                   and c["caller_line"] == "residential" for c in box)
        assert len({c["callee"] for c in box}) == p["distinct_callees"] >= 0.8 * len(box)
        answered = sum(c["disposition"] == "ANSWERED" for c in box) / len(box)
        if len(box) >= 30:
            assert answered < 0.5
            assert any(c["callee"].startswith("00") for c in box)
        own = [c for c in calls_from[s["subject"]] if c not in box]
        assert all(c["user_agent"] != p["box_user_agent"] for c in own)
        # while the box holds the line, the household places no calls on it
        sessions, times = [], sorted(c["t"] for c in box)
        for t in times:  # box calls less than 3 h apart belong to one session
            if sessions and t - sessions[-1][1] < 3 * 3600:
                sessions[-1][1] = t
            else:
                sessions.append([t, t])
        assert not [c for c in own if any(a <= c["t"] <= b for a, b in sessions)]
        assert in_window(box, s) == box
        # during its activity the household's own callers find the line BUSY
        inbound = in_window(calls_to[s["subject"]], s)
        busy = [c for c in inbound if c["disposition"] == "BUSY"]
        assert busy
        regs = [r for r in sim_week.registrations if r["line"] == s["subject"]]
        new = [r for r in regs if r["contact_ip"] == p["box_ip"]]
        assert new and new[0]["user_agent"] == p["box_user_agent"]
        assert abs(new[0]["t"] - epoch(s["onset"])) < 1
        # the home gateway stops registering while the box holds the line
        home_during = [r for r in in_window(regs, s) if r["contact_ip"] == p["home_ip"]]
        assert epoch(s["deadline"]) - epoch(s["onset"]) < 3 * 3600 or len(home_during) < len(new)


def test_harassment_calls_are_where_the_label_says(sim_week):
    calls_to = sim_week.calls_to()
    for s in sim_week.scenarios("harassment"):
        p = s["params"]
        numbers = set(p["numbers"])
        calls = [c for c in calls_to[s["subject"]] if c["caller"] in numbers]
        times = sorted(epoch(t) for t in p["call_times"])
        mine = sorted(c["t"] for c in calls if epoch(s["onset"]) <= c["t"] <= epoch(s["deadline"]))
        assert mine == times and len(times) == p["calls"] >= 8
        unanswered_or_short = [c for c in calls if c["disposition"] != "ANSWERED"
                               or int(c["duration"]) < 45]
        assert len(unanswered_or_short) == len(calls)
        if p["variant"] == "courier":
            assert numbers >= {"95353", "952306"} and s["counterparty"] == "express-courier"
            fb = [f for f in sim_week.feedback if f["number"] == s["subject"]
                  and f["about"] == s["counterparty"]]
            assert [f["kind"] for f in fb] == ["not_me"]
            assert fb[0]["t"] == epoch(p["feedback_time"])
            assert any(t > fb[0]["t"] for t in times)  # continues after the complaint
            weeks = (times[-1] - times[0]) / (7 * 86400)
            assert p["calls"] >= 8 and weeks > 0
        else:
            assert s["counterparty"] == p["numbers"][0]


def test_intl_fraud_variants(sim_week):
    plan = NumberingPlan.load("cn")
    calls_from = sim_week.calls_from()
    for s in sim_week.scenarios("intl_fraud"):
        p = s["params"]
        calls = calls_from[s["subject"]]
        assert calls and all(c["ingress"] == "international" for c in calls)
        assert {c["callee"] for c in calls} == set(p["victims"])
        info = plan.classify(s["subject"])
        v = p["variant"]
        if v in ("campaign", "hotline_followup"):
            assert info.country_code in ("855", "95", "63")
        elif v == "wangiri":
            assert all(c["disposition"] == "CANCELLED" and c["duration"] == "0" for c in calls)
            assert len(calls) >= 40
        elif v == "spoofed_cli":
            assert info.category == "mobile" and info.country_code == "86"
        elif v == "malformed":
            assert info.category == "malformed"
        if v == "hotline_followup":
            victim = s["counterparty"]
            assert p["victims"] == [victim]
            hotline = [c for c in calls_from[victim] if c["callee"] == p["hotline"]]
            assert hotline and hotline[0]["disposition"] == "ANSWERED"
            assert epoch(p["hotline_call"]) < epoch(s["onset"])
            assert epoch(s["onset"]) - epoch(p["hotline_call"]) <= 6 * 3600 + 1
            assert max(int(c["duration"]) for c in calls) >= 600
        if v in ("campaign", "wangiri"):
            assert len(set(p["victims"])) >= 20


def test_optout_violation_port_keeps_sending_after_the_reply(sim_week):
    for s in sim_week.scenarios("optout_violation"):
        p = s["params"]
        reply = [m for m in sim_week.sms if m["sender"] == s["subject"]
                 and m["recipient"] == s["counterparty"] and m["direction"] == "mo"]
        assert [m["text"] for m in reply] == [p["word"]]
        after = [m for m in sim_week.sms if m["sender"] == s["counterparty"]
                 and m["recipient"] == s["subject"] and m["t"] > reply[0]["t"]
                 and "退订" in m["text"] and "成功" not in m["text"] or
                 m["sender"] == s["counterparty"] and m["recipient"] == s["subject"]
                 and m["t"] > reply[0]["t"] and "Reply TD" in m["text"]]
        assert len(after) == p["messages_after"] >= 2
        assert min(m["t"] for m in after) == epoch(s["onset"])


def test_sip_scan_registers_from_the_scanner(sim_week):
    for s in sim_week.scenarios("sip_scan"):
        regs = [r for r in sim_week.registrations if r["contact_ip"] == s["subject"]]
        assert len(regs) == s["params"]["registers"] >= 200
        assert {r["status"] for r in regs} <= {"401", "403", "404"}
        assert {r["user_agent"] for r in regs} == {s["params"]["user_agent"]}
        assert len({r["line"] for r in regs}) == len(regs)


def test_hard_negatives_are_present(sim_week):
    types = Counter(h["type"] for h in sim_week.labels["hard_negatives"])
    assert set(types) == {"call_centre", "heavy_shopper", "family_caller", "intl_relative",
                          "otp_retry", "festival_marketing"}
    calls_from, calls_to = sim_week.calls_from(), sim_week.calls_to()
    for h in sim_week.negatives("call_centre"):
        per_day = Counter(int(c["t"] // 86400) for c in calls_from[h["subject"]])
        assert max(per_day.values()) >= 150
        assert all(c["caller_line"] == "business" for c in calls_from[h["subject"]])
    for h in sim_week.negatives("heavy_shopper"):
        assert len({c["caller"] for c in calls_to[h["subject"]]}) >= 8
    for h in sim_week.negatives("family_caller"):
        calls = [c for c in calls_to[h["subject"]] if c["caller"] == h["counterparty"]]
        assert len(calls) >= 6 * 7
        assert sum(c["disposition"] == "ANSWERED" for c in calls) > 0.7 * len(calls)
    for h in sim_week.negatives("otp_retry"):
        codes = [m for m in sim_week.sms if m["recipient"] == h["subject"]
                 and m["sender"] == h["sender"]]
        assert len(codes) >= h["messages"] >= 2
    fest = sim_week.negatives("festival_marketing")[0]
    sent = [m for m in sim_week.sms if m["sender"] in set(fest["ports"])]
    assert len(sent) == fest["recipients"] and len({m["sender"] for m in sent}) >= 5
    assert max(m["t"] for m in sent) - min(m["t"] for m in sent) <= fest["window_minutes"] * 60
