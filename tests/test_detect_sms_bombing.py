"""sms_bombing on hand-built message sequences, with the OTP-retry hard negative."""

from __future__ import annotations

import shutil

import pytest
import yaml

from detector.engine import Engine
from detector.records import Sms
from detector.rulefiles import RuleSet, rules_dir
from detector.sms_bombing import SmsBombing

T0 = 1_793_548_800.0
VICTIM = "13800000001"
CODES = ("【淘宝】您的验证码是{c}，5分钟内有效，请勿泄露给他人。",
         "【京东】验证码{c}，用于登录验证，10分钟内有效。",
         "Your verification code is {c}. It expires in 5 minutes.",
         "[Alipay] Your code is {c}. Do not share it with anyone.",
         "【美团】{c}（动态验证码），请在页面中输入完成验证。")


@pytest.fixture
def detector() -> SmsBombing:
    return SmsBombing(RuleSet.load())


def code(t: float, sender: str, k: int = 0, recipient: str = VICTIM) -> Sms:
    return Sms(time=T0 + t, sender=sender, recipient=recipient,
               text=CODES[k % len(CODES)].format(c=f"{123456 + k:06d}"),
               origin=f"sms.csv:{int(t)}")


def feed(detector, messages) -> list:
    out = []
    for m in messages:
        out += detector.on_sms(m)
    return out


def test_flood_from_many_senders_alerts_at_threshold(detector):
    msgs = [code(40 * i, f"1069{i % 12:04d}", i) for i in range(30)]
    out = feed(detector, msgs)
    first = out[0]
    assert first.time == msgs[5].time            # the 6th code, from the 6th sender
    assert first.severity == "warning" and first.subject == VICTIM
    ev = first.evidence
    assert (ev["codes"], ev["senders"], ev["min_codes"], ev["min_senders"]) == (6, 6, 6, 5)
    assert ev["first_ref"] == "sms.csv:0" and ev["last_ref"] == "sms.csv:200"
    assert "6 verification codes from 6 senders" in first.reason
    assert out[-1].evidence["codes"] == 30 and out[-1].score > first.score


def test_chinese_and_english_codes_all_count(detector):
    for k, text in enumerate(CODES):
        assert detector.verification.search(text.format(c="482913")), k
    assert detector.verification.search("【某店】双11全场5折，回T退订") is None
    assert detector.verification.search("好的，明天见") is None


def test_otp_retries_from_one_platform_are_not_bombing(detector):
    # the hard negative: 2-4 codes from one port, a few episodes a day
    msgs = []
    for episode in range(3):
        msgs += [code(episode * 7200 + 90 * k, "106900001", k) for k in range(4)]
    assert feed(detector, msgs) == []


def test_many_codes_from_few_senders_are_not_bombing(detector):
    msgs = [code(20 * i, f"10690000{i % 4}", i) for i in range(40)]
    assert feed(detector, msgs) == []


def test_codes_spread_beyond_the_window_are_not_bombing(detector):
    # one code every 8 minutes: never 6 inside 35 minutes
    msgs = [code(480 * i, f"1069{i:04d}", i) for i in range(30)]
    assert feed(detector, msgs) == []


def test_bank_message_inside_the_flood_is_critical(detector):
    msgs = [code(40 * i, f"1069{i:04d}", i) for i in range(4)]
    msgs.append(Sms(time=T0 + 250, sender="95588", recipient=VICTIM,
                    text="【工商银行】您正在进行转账操作，验证码482913，切勿告知他人。"))
    msgs += [code(300 + 40 * i, f"1068{i:04d}", i) for i in range(6)]
    out = feed(detector, msgs)
    assert out and all(a.severity == "critical" for a in out)
    assert out[0].evidence["bank_message"] == "95588"
    assert "bank message from 95588" in out[0].reason


def test_bank_notice_without_code_inside_the_flood_is_critical(detector):
    msgs = [code(40 * i, f"1069{i:04d}", i) for i in range(4)]
    msgs.append(Sms(time=T0 + 170, sender="95533", recipient=VICTIM,
                    text="【建设银行】您尾号1234的账户11月02日支出人民币500.00元。"))
    msgs += [code(200 + 40 * i, f"1068{i:04d}", i) for i in range(6)]
    out = feed(detector, msgs)
    assert out and out[0].severity == "critical"


def test_bank_message_long_before_does_not_escalate(detector):
    feed(detector, [code(0, "1069000", 0)])
    detector.on_sms(Sms(time=T0 + 1, sender="95588", recipient=VICTIM, text="【工商银行】验证码1"))
    out = feed(detector, [code(3 * 3600 + 40 * i, f"1069{i:04d}", i) for i in range(10)])
    assert out and {a.severity for a in out} == {"warning"}


def test_other_recipients_and_mo_messages_are_separate(detector):
    msgs = [code(30 * i, f"1069{i:04d}", i, recipient=f"1380000{i:04d}") for i in range(20)]
    msgs += [Sms(time=T0 + i, sender=VICTIM, recipient=f"1069{i:04d}", text="验证码",
                 direction="mo") for i in range(20)]
    assert feed(detector, msgs) == []


def test_missing_text_is_ignored(detector):
    assert feed(detector, [Sms(time=T0 + i, sender=f"1069{i}", recipient=VICTIM)
                           for i in range(20)]) == []


def test_state_expires(detector):
    feed(detector, [code(i, f"1069{i}", i, recipient=f"1380000{i:04d}") for i in range(100)])
    assert detector.tracked() == 100
    detector.expire(T0 + 3600)
    assert detector.tracked() == 0


def test_engine_deduplicates_the_flood_into_one_alert():
    eng = Engine(RuleSet.load(), kinds=["sms_bombing"])
    msgs = [code(30 * i, f"1069{i % 20:04d}", i) for i in range(60)]
    alerts = eng.push_many(msgs) + eng.flush()
    assert len(alerts) == 1 and alerts[0].kind == "sms_bombing"


def test_threshold_change_in_copied_rules_changes_behaviour(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "detectors" / "sms_bombing.yaml"
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule[0]["params"]["min_senders"] = 3
    rule[0]["params"]["min_codes"] = 4
    path.write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    msgs = [code(20 * i, f"10690000{i % 4}", i) for i in range(6)]
    assert feed(SmsBombing(RuleSet.load()), msgs) == []
    assert feed(SmsBombing(RuleSet.load(tmp_path / "rules")), msgs)[0].evidence["codes"] == 4


def test_verification_patterns_are_data(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "lists" / "sms_content.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["verification_patterns"].append("Kennwort \\d+")
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    msgs = [Sms(time=T0 + 10 * i, sender=f"1069{i}", recipient=VICTIM, text=f"Kennwort {i}")
            for i in range(10)]
    assert feed(SmsBombing(RuleSet.load()), msgs) == []
    assert feed(SmsBombing(RuleSet.load(tmp_path / "rules")), msgs)
