"""Analysts' verdicts, replayed as feedback records, re-rank later alerts and persist."""

import csv
import json

from fraudwatch.replay import replay

SMS_HEADER = ["time", "sender", "recipient", "text", "direction"]
BANK = ["95588", "【工商银行】您尾号1234的账户于12:01支出人民币5000.00元"]


def _flood(victim: str, start: int, with_bank: bool):
    rows = [[str(start + 60 * i), f"10690{i:05d}", victim,
             f"您的验证码是{100000 + i}，5分钟内有效", "mt"] for i in range(12)]
    if with_bank:  # hidden inside the flood, before the alert threshold is crossed
        rows.insert(3, [str(start + 150), BANK[0], victim, BANK[1], "mt"])
    return rows


def _write(path, rows, header=SMS_HEADER):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows([header, *rows])


def test_feedback_teaches_the_reranker_and_it_persists(tmp_path):
    day = 1_762_000_000
    rows = []
    for v in range(40):
        rows += _flood(f"138{v:08d}", day + v * 7200, with_bank=v % 2 == 0)
    sms = tmp_path / "sms.csv"
    _write(sms, rows)
    first = replay([sms], alerts_path=tmp_path / "a1.jsonl")
    assert {a.severity for a in first.alerts} == {"warning", "critical"}
    # the analyst confirms floods hiding a bank message and dismisses the others
    fb = tmp_path / "feedback.csv"
    _write(fb, [[str(int(a.time) + 30), "analyst",
                 "confirmed" if a.severity == "critical" else "dismissed", "", a.id]
                for a in first.alerts], header=["time", "number", "kind", "about", "alert_id"])
    model = tmp_path / "reranker.pkl"
    replay([sms, fb], alerts_path=tmp_path / "a2.jsonl", reranker_path=model)
    assert model.exists()

    later = tmp_path / "later.csv"
    _write(later, _flood("13900000001", day + 40 * 86400, True)
           + _flood("13900000002", day + 41 * 86400, False))
    replay([later], alerts_path=tmp_path / "a3.jsonl", reranker_path=model)
    learnt = {a["subject"]: a for a in map(json.loads, (tmp_path / "a3.jsonl").open())}
    assert learnt["13900000001"]["evidence"]["confirm_probability"] > 0.5 > \
        learnt["13900000002"]["evidence"]["confirm_probability"]
    # without the checkpoint nothing is learnt: the scores are the detector's own
    plain = replay([later], alerts_path=tmp_path / "a4.jsonl")
    assert all("confirm_probability" not in a.evidence for a in plain.alerts)
