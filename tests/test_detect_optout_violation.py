"""optout_violation on hand-built message sequences, with the festival-burst hard negative."""

from __future__ import annotations

import shutil

import pytest
import yaml

from detector.optout_violation import OptoutViolation
from detector.records import Sms
from detector.rulefiles import RuleSet, rules_dir

T0 = 1_793_548_800.0
SUB, PORT = "13800000001", "106550012345"
AD = "【天猫】双11狂欢价，全场低至5折，满300减50，戳 t.cn/A6123 抢购，回T退订"
AD_EN = "[JD] Flash sale: up to 50% off today only. Reply TD to unsubscribe"


@pytest.fixture
def detector() -> OptoutViolation:
    return OptoutViolation(RuleSet.load())


def mt(t: float, text: str, sender: str = PORT, recipient: str = SUB) -> Sms:
    return Sms(time=T0 + t, sender=sender, recipient=recipient, text=text,
               origin=f"sms.csv:{int(t)}")


def mo(t: float, text: str, sender: str = SUB, recipient: str = PORT) -> Sms:
    return Sms(time=T0 + t, sender=sender, recipient=recipient, text=text, direction="mo",
               origin=f"sms.csv:{int(t)}")


def feed(detector, messages) -> list:
    out = []
    for m in messages:
        out += detector.on_sms(m)
    return out


@pytest.mark.parametrize("word", ["T", "TD", "N", "Q", "QXFS", "退订", "td", " TD。"])
def test_marketing_after_unsubscribe_is_a_violation(detector, word):
    out = feed(detector, [mt(-3600, AD), mo(0, word), mt(2 * 3600, AD)])
    assert len(out) == 1
    a = out[0]
    assert (a.subject, a.counterparty, a.severity) == (SUB, PORT, "warning")
    assert a.evidence["optout_ref"] == "sms.csv:0" and a.evidence["last_ref"] == "sms.csv:7200"
    assert a.evidence["minutes_after"] == 120.0
    assert f"{PORT} sent marketing to {SUB} 120.0 min after" in a.reason


def test_confirmation_is_not_a_violation(detector):
    msgs = [mo(0, "TD"), mt(20, "【天猫】您已成功退订，将不再收到本业务推送短信。"),
            mt(3600, "[Tmall] You have been unsubscribed and will receive no further messages.")]
    assert feed(detector, msgs) == []


def test_grace_period(detector):
    assert feed(detector, [mo(0, "T"), mt(300, AD)]) == []
    assert len(feed(detector, [mt(601, AD_EN)])) == 1


def test_repeated_violations_become_critical(detector):
    out = feed(detector, [mo(0, "退订")] + [mt(3600 * k, AD) for k in (1, 2, 3, 4)])
    assert [a.severity for a in out] == ["warning", "warning", "critical", "critical"]
    assert out[-1].evidence["violations"] == 4
    assert out[-1].evidence["first_ref"] == "sms.csv:3600"


def test_festival_burst_without_optout_is_not_a_violation(detector):
    # the hard negative: many ports greet many customers; nobody opted out
    msgs = [mt(i, "【天猫】冬至快乐！节日特惠已开启，戳 t.cn/F1234 回T退订",
               sender=f"1065{i % 20:05d}", recipient=f"1380000{i:04d}") for i in range(500)]
    assert feed(detector, msgs) == []
    assert detector.tracked() == 0


def test_other_senders_and_recipients_are_not_affected(detector):
    msgs = [mo(0, "TD"), mt(3600, AD, sender="106550099999"),
            mt(3600, AD, recipient="13800000002")]
    assert feed(detector, msgs) == []


def test_non_marketing_and_textless_messages_are_not_violations(detector):
    msgs = [mo(0, "TD"), mt(3600, "【天猫】您的订单已发货，运单号SF1234567"),
            Sms(time=T0 + 7200, sender=PORT, recipient=SUB, text=None)]
    assert feed(detector, msgs) == []


def test_ordinary_replies_are_not_unsubscribes(detector):
    msgs = [mo(0, "好的"), mo(1, "TD好的，谢谢"), mo(2, "Thanks"), mt(3600, AD)]
    assert feed(detector, msgs) == []
    assert detector.tracked() == 0


def test_optout_is_remembered_then_forgotten(detector):
    feed(detector, [mo(0, "TD")])
    detector.expire(T0 + 30 * 86400)
    assert detector.tracked() == 1
    assert len(feed(detector, [mt(31 * 86400, AD)])) == 1
    detector.expire(T0 + 200 * 86400)
    assert detector.tracked() == 0


def test_unsubscribe_words_are_configurable(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "lists" / "sms_content.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["unsubscribe_words"].append("0000")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    msgs = [mo(0, "0000"), mt(3600, AD)]
    assert feed(OptoutViolation(RuleSet.load()), msgs) == []
    assert len(feed(OptoutViolation(RuleSet.load(tmp_path / "rules")), msgs)) == 1


def test_grace_change_in_copied_rules_changes_behaviour(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "detectors" / "optout_violation.yaml"
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule[0]["params"]["grace"] = "3h"
    path.write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    msgs = [mo(0, "TD"), mt(2 * 3600, AD)]
    assert len(feed(OptoutViolation(RuleSet.load()), msgs)) == 1
    assert feed(OptoutViolation(RuleSet.load(tmp_path / "rules")), msgs) == []
