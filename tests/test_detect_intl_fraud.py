"""intl_fraud on hand-built call sequences: each fraud sign, and the hard negatives."""

from __future__ import annotations

import shutil

import pytest
import yaml

from detector.engine import Engine
from detector.intl_fraud import IntlFraud
from detector.records import Call
from detector.rulefiles import RuleSet, rules_dir

T0 = 1_793_548_800.0  # 2026-11-02 00:00 China time


@pytest.fixture
def detector() -> IntlFraud:
    return IntlFraud(RuleSet.load())


def intl(t: float, caller: str, callee: str, duration: float = 0, disposition: str = "",
         ingress: str = "international") -> Call:
    return Call(start=T0 + t, caller=caller, callee=callee, duration=duration,
                disposition=disposition, ingress=ingress, call_id=f"c{t:.0f}-{callee}",
                origin="calls.csv:1")


def raised(alerts) -> list[str]:
    return [a.severity for a in alerts]


def test_high_risk_origin_first_call_is_info_then_spray_escalates(detector):
    caller = "+85512345678"
    first = detector.on_call(intl(0, caller, "13900000001", 60, "ANSWERED"))
    assert raised(first) == ["info"]            # delay ~0, but one call is not a verdict
    assert first[0].evidence["signals"] == {"origin": pytest.approx(0.54)}
    severities = []
    for i in range(2, 7):
        severities += raised(detector.on_call(intl(600 * i, caller, f"1390000000{i}", 60,
                                                   "ANSWERED")))
    assert severities[0] == "info"              # two callees, answered: not yet
    assert "warning" in severities and severities[-1] == "critical"
    last = detector.on_call(intl(5000, caller, "13900000009", 30, "ANSWERED"))[0]
    ev = last.evidence
    assert ev["distinct_callees"] == 7 and ev["calls_in_window"] == 7
    assert ev["first_ref"] == "c0-13900000001" and ev["last_ref"] == "c5000-13900000009"
    assert last.subject == caller and last.counterparty is None
    assert "7 distinct callees within 6h" in last.reason


def test_spray_window_slides(detector):
    caller = "+85512345678"
    for i in range(4):
        detector.on_call(intl(60 * i, caller, f"1390000000{i}", 60, "ANSWERED"))
    # seven hours later the earlier callees have left the 6 h window
    a = detector.on_call(intl(7 * 3600, caller, "13900000009", 60, "ANSWERED"))
    assert a[0].evidence["distinct_callees"] == 1 and "spray" not in a[0].evidence["signals"]


def test_wangiri_one_ring_calls_to_many(detector):
    caller = "+2521234567"   # Somalia: risky, but one call alone is not one-ring fraud
    sev = [raised(detector.on_call(intl(30 * i, caller, f"1380000000{i}", 0, "CANCELLED")))
           for i in range(4)]
    assert sev[:3] == [[], ["warning"], ["critical"]]
    a = detector.on_call(intl(200, caller, "13800000007", 0, "CANCELLED"))[0]
    assert a.evidence["signals"]["wangiri"] > 0.8
    assert "one-ring calls to 5 callees" in a.reason


def test_answered_calls_are_not_wangiri(detector):
    caller = "+2521234567"
    for i in range(4):
        out = detector.on_call(intl(30 * i, caller, f"1380000000{i}", 120, "ANSWERED"))
    assert "wangiri" not in out[0].evidence["signals"]


@pytest.mark.parametrize("caller,reason", [
    ("+99912345678", "unassigned country code"),
    ("+8551234567890123", "longer than E.164 allows"),
    ("+86138123456789", "impossible domestic number"),
])
def test_malformed_numbers_warn_on_first_call(detector, caller, reason):
    a = detector.on_call(intl(0, caller, "13900000001"))
    assert raised(a) == ["warning"]
    assert a[0].evidence["number_reason"] == reason
    assert "malformed number" in a[0].reason


@pytest.mark.parametrize("caller", ["+8613812345678", "13812345678", "008613812345678",
                                    "02161234567"])
def test_domestic_number_on_international_route_is_critical(detector, caller):
    a = detector.on_call(intl(0, caller, "13900000001", 60, "ANSWERED"))
    assert raised(a) == ["critical"]
    assert "spoofed CLI" in a[0].reason


def test_domestic_number_in_international_format_on_domestic_route_is_fine(detector):
    assert detector.on_call(intl(0, "+8613812345678", "13900000001", ingress="domestic")) == ()
    assert detector.on_call(intl(0, "13812345678", "13900000001", ingress="domestic")) == ()


def test_call_after_hotline_is_critical_per_victim(detector):
    victim = "13700000001"
    assert detector.on_call(Call(start=T0, caller=victim, callee="95353", duration=200,
                                 ingress="access", caller_line="mobile")) == ()
    a = detector.on_call(intl(3 * 3600, "+639123456789", victim, 900, "ANSWERED"))
    assert raised(a) == ["critical"]
    assert a[0].counterparty == victim and a[0].subject == "+639123456789"
    assert a[0].evidence["hotline"] == "95353"
    assert a[0].evidence["minutes_after_hotline"] == 180.0
    # another victim without a hotline call: caller-level alert, no counterparty
    b = detector.on_call(intl(3 * 3600 + 60, "+639123456789", "13700000002", 30, "ANSWERED"))
    assert b[0].counterparty is None


def test_hotline_context_expires(detector):
    victim = "13700000001"
    detector.on_call(Call(start=T0, caller=victim, callee="95588", duration=200,
                          ingress="access"))
    a = detector.on_call(intl(13 * 3600, "+85512345678", victim, 900, "ANSWERED"))
    assert raised(a) == ["info"] and "after_hotline" not in a[0].evidence["signals"]


def test_low_risk_caller_after_hotline_is_not_a_warning(detector):
    victim = "13700000001"
    detector.on_call(Call(start=T0, caller=victim, callee="95588", duration=200,
                          ingress="access"))
    a = detector.on_call(intl(3600, "+14155550100", victim, 900, "ANSWERED"))
    assert raised(a) == []


def test_relative_calling_from_abroad_is_not_fraud(detector):
    # the hard negative: low-risk origin, the same person, answered, long
    out = []
    for day in range(7):
        out += detector.on_call(intl(day * 86400 + 3600, "+442071234567", "02161234567",
                                     1500, "ANSWERED"))
        out += detector.on_call(intl(day * 86400 + 7200, "+442071234568", "02161234567",
                                     0, "NO ANSWER"))
    assert out == []


def test_relative_from_riskier_origin_is_discounted(detector):
    caller, home = "+84912345678", "02161234567"   # Vietnam: some risk
    detector.on_call(intl(0, caller, home, 1200, "ANSWERED"))
    again = detector.on_call(intl(86400, caller, home, 1500, "ANSWERED"))
    assert raised(again) == []


def test_subscribers_calling_abroad_are_ignored(detector):
    call = Call(start=T0, caller="13812345678", callee="0085512345678", ingress="access")
    assert detector.on_call(call) == ()
    assert detector.tracked() == 0


def test_state_expires_and_is_small(detector):
    for i in range(50):
        detector.on_call(intl(i, f"+8551234{i:04d}", "13900000001"))
    detector.on_call(Call(start=T0, caller="13700000001", callee="95353", ingress="access"))
    assert detector.tracked() == 51
    detector.expire(T0 + 7 * 3600)
    assert detector.tracked() == 1      # hotline call kept 12 h
    detector.expire(T0 + 13 * 3600)
    assert detector.tracked() == 0


def test_threshold_change_in_copied_rules_changes_behaviour(tmp_path):
    """Thresholds live in rules/: a copy with another spray threshold behaves differently."""
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "detectors" / "intl_fraud.yaml"
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule[0]["params"]["warning_score"] = 0.99
    rule[0]["params"]["critical_score"] = 0.999
    path.write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    calls = [intl(600 * i, "+85512345678", f"1390000000{i}", 60, "ANSWERED") for i in range(5)]

    def severities(rules):
        eng = Engine(rules, kinds=["intl_fraud"])
        return {a.severity for a in eng.push_many(calls) + eng.flush()}

    assert "critical" in severities(RuleSet.load())
    assert severities(RuleSet.load(tmp_path / "rules")) == {"info"}


def test_country_risk_list_is_data(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "lists" / "country_risk.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["country_risk"]["GB"] = 0.9
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    call = intl(0, "+442071234567", "13900000001", 60, "ANSWERED")
    assert IntlFraud(RuleSet.load()).on_call(call) == ()
    assert raised(IntlFraud(RuleSet.load(tmp_path / "rules")).on_call(call)) == ["info"]


@pytest.mark.parametrize("caller", ["", "anonymous", "Restricted"])
def test_withheld_caller_is_not_judged(detector, caller):
    assert detector.on_call(intl(0, caller, "13900000001")) == ()


def test_hotline_call_with_unknown_ingress_counts(detector):
    # CDRs without ingress (e.g. Asterisk): a call to a service number is still context
    victim = "13700000001"
    detector.on_call(Call(start=T0, caller=victim, callee="95353", duration=200))
    a = detector.on_call(intl(600, "+95912345678", victim, 0, "NO ANSWER", ingress="unknown"))
    assert raised(a) == ["critical"] and a[0].counterparty == victim
