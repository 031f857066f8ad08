"""``fraudwatch evaluate`` on a small hand-made labels/alerts pair."""

from __future__ import annotations

import json

import pytest

from fraudwatch.cli import main
from fraudwatch.evaluate import evaluate, evaluate_files

LABELS = {
    "seed": 1, "start": "2026-11-02T00:00:00+08:00", "end": "2026-11-09T00:00:00+08:00",
    "days": 7, "subscribers": 1000, "plan": "cn",
    "scenarios": [
        {"id": "b1", "kind": "sms_bombing", "subject": "13800000001", "counterparty": None,
         "onset": "2026-11-03T10:00:00+08:00", "deadline": "2026-11-03T11:30:00+08:00",
         "params": {}},
        {"id": "b2", "kind": "sms_bombing", "subject": "13800000002", "counterparty": None,
         "onset": "2026-11-04T10:00:00+08:00", "deadline": "2026-11-04T11:30:00+08:00",
         "params": {}},
        {"id": "b3", "kind": "sms_bombing", "subject": "13800000003", "counterparty": None,
         "onset": "2026-11-05T10:00:00+08:00", "deadline": "2026-11-05T11:30:00+08:00",
         "params": {}},
        {"id": "h1", "kind": "harassment", "subject": "13900000001", "counterparty": "courier",
         "onset": "2026-11-02T09:00:00+08:00", "deadline": "2026-11-08T21:00:00+08:00",
         "params": {"call_times": [f"2026-11-0{d}T09:00:00+08:00" for d in range(2, 9)]}},
        {"id": "h2", "kind": "harassment", "subject": "13900000002", "counterparty": "x",
         "onset": "2026-11-02T09:00:00+08:00", "deadline": "2026-11-08T21:00:00+08:00",
         "params": {"call_times": [f"2026-11-0{d}T09:00:00+08:00" for d in range(2, 9)]}},
        {"id": "v1", "kind": "voip_box", "subject": "02112345678", "counterparty": None,
         "onset": "2026-11-02T20:00:00+08:00", "deadline": "2026-11-03T20:00:00+08:00",
         "params": {}},
    ],
    "hard_negatives": [{"type": "call_centre", "subject": "02199999999"},
                       {"type": "intl_relative", "subject": "+14155550100",
                        "callers": ["+14155550100", "+14155550101"]}],
}


def alert(kind, subject, time, severity="warning"):
    return {"id": f"{kind}{subject}{time}", "kind": kind, "severity": severity,
            "subject": subject, "counterparty": None, "time": time, "score": 0.9,
            "reason": "test", "evidence": {}}


ALERTS = [
    # b1: found 15 min after onset (UTC time in the alert, +08:00 in the label)
    alert("sms_bombing", "13800000001", "2026-11-03T02:15:00+00:00"),
    alert("sms_bombing", "13800000001", "2026-11-03T02:20:00+00:00", "critical"),
    # b2: found 45 min after onset, but only at info severity
    alert("sms_bombing", "13800000002", "2026-11-04T02:45:00+00:00", "info"),
    # b3: alert before the onset does not match; no other alert -> missed
    alert("sms_bombing", "13800000003", "2026-11-05T01:00:00+00:00"),
    # a false alarm on an unlabelled number
    alert("sms_bombing", "13811111111", "2026-11-05T01:00:00+00:00", "critical"),
    # h1: first matching alert after the 4th call (2026-11-05 09:00), h2 never alerted
    alert("harassment", "13900000001", "2026-11-05T01:30:00+00:00"),
    # false alarms on hard negatives
    alert("voip_box", "02199999999", "2026-11-03T03:00:00+00:00", "critical"),
    alert("intl_fraud", "+14155550101", "2026-11-03T03:00:00+00:00"),
]


def test_recall_precision_delay_per_kind():
    r = evaluate(LABELS, ALERTS)
    bomb = r["kinds"]["sms_bombing"]
    assert (bomb["labels"], bomb["found"]) == (3, 2)
    assert bomb["recall"] == pytest.approx(2 / 3, abs=1e-4)
    # warning/critical subjects: ...01 (match), ...03 (out of window), ...11 (no label)
    assert bomb["alerted"] == 3 and bomb["precision"] == pytest.approx(1 / 3, abs=1e-4)
    assert bomb["median_delay_s"] == pytest.approx((15 * 60 + 45 * 60) / 2)
    assert bomb["missed"] == ["b3"]
    har = r["kinds"]["harassment"]
    assert (har["labels"], har["found"], har["recall"], har["precision"]) == (2, 1, 0.5, 1.0)
    assert har["median_calls_to_alert"] == 4
    assert har["median_delay_s"] == pytest.approx(3 * 86400 + 30 * 60)
    box = r["kinds"]["voip_box"]
    assert (box["found"], box["alerted"], box["precision"], box["hard_negatives_alerted"]) == (
        0, 1, 0.0, 1)
    intl = r["kinds"]["intl_fraud"]
    assert intl["labels"] == 0 and intl["recall"] is None and intl["hard_negatives_alerted"] == 1
    assert r["overall"] == {"labels": 6, "found": 3, "recall": 0.5}
    assert r["alerts"] == len(ALERTS)


def test_files_and_cli(tmp_path, capsys):
    labels = tmp_path / "labels.json"
    labels.write_text(json.dumps(LABELS), encoding="utf-8")
    alerts = tmp_path / "alerts.jsonl"
    alerts.write_text("\n".join(json.dumps(a) for a in ALERTS)
                      + "\nnot json\n{\"kind\": \"sms_bombing\"}\n", encoding="utf-8")
    result = evaluate_files(labels, alerts)
    assert result["bad_alert_lines"] == 2 and result["alerts"] == len(ALERTS)
    assert main(["evaluate", "--labels", str(labels), "--alerts", str(alerts), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["kinds"]["sms_bombing"]["found"] == 2
    assert main(["evaluate", "--labels", str(labels), "--alerts", str(alerts)]) == 0
    table = capsys.readouterr().out
    line = next(x for x in table.splitlines() if x.startswith("harassment"))
    assert line.split()[1:5] == ["2", "1", "0.50", "1"]
    assert "2 unusable alert line(s)" in table


def test_cli_user_errors(tmp_path, capsys):
    assert main(["evaluate", "--labels", str(tmp_path / "nope.json"),
                 "--alerts", str(tmp_path / "nope.jsonl")]) == 2
    bad = tmp_path / "labels.json"
    bad.write_text("[1, 2]", encoding="utf-8")
    alerts = tmp_path / "a.jsonl"
    alerts.write_text("", encoding="utf-8")
    assert main(["evaluate", "--labels", str(bad), "--alerts", str(alerts)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(e.startswith("fraudwatch evaluate: ") for e in err)


def test_times_without_offset_are_utc_not_the_host_zone(monkeypatch):
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        naive = [{**a, "time": a["time"].replace("+00:00", "")} for a in ALERTS]
        assert evaluate(LABELS, naive) == evaluate(LABELS, ALERTS)
    finally:
        monkeypatch.undo()
        time.tzset()
