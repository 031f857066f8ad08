"""The Alertmanager outbox against a real Alertmanager: nothing lost, nothing doubled."""

from __future__ import annotations

import json
from collections import Counter

from detector.alerts import KINDS, Alert
from detector.suspects import Pseudonymizer
from fraudwatch.alertmanager import AlertmanagerClient, Outbox
from tests import services_prometheus as services
from tests.services_prometheus import Alertmanager, alertmanager_config, free_port, wait_until

# Fixtures from the shared service module (real servers on loopback).
alertmanager = services.alertmanager
webhook = services.webhook


class CountingClient(AlertmanagerClient):
    """The real client, counting which alert ids it got accepted (to prove exactly-once)."""

    def __init__(self, url: str, accepted: Counter) -> None:
        super().__init__(url, timeout=2.0)
        self.accepted = accepted

    def post(self, alerts):
        super().post(alerts)
        self.accepted.update(a["labels"]["fraudwatch_id"] for a in alerts)


def make_alerts(n: int, t0: float = 1_763_000_000.0) -> list[Alert]:
    out = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        out.append(Alert(kind, f"1380013{i:04d}", f"0085512{i:05d}", t0 + 60 * i,
                         "critical" if i % 2 else "warning", 0.6 + 0.03 * i,
                         f"{10 + i} calls from 0085512{i:05d} to 1380013{i:04d}",
                         {"calls": 10 + i}))
    return out


def test_alerts_raised_while_alertmanager_down_are_delivered_once_after_restarts(
        tmp_path, webhook):
    port = free_port()
    am = Alertmanager(tmp_path / "am", alertmanager_config(webhook.url), port=port)
    accepted: Counter = Counter()
    pseudo = Pseudonymizer(b"test-key")
    alerts = make_alerts(7)

    # Alertmanager is down: alerts are journalled, delivery fails, nothing is lost.
    box = Outbox(tmp_path / "outbox", CountingClient(am.url, accepted), pseudo,
                 backoff=(0.05, 0.2))
    for a in alerts[:5]:
        assert box.add(a)
    assert box.deliver_once() == 0
    assert box.failures >= 1
    assert len(box.pending) == 5
    box.close()

    # The detector restarts: the outbox reloads what was never delivered.
    box = Outbox(tmp_path / "outbox", CountingClient(am.url, accepted), pseudo,
                 backoff=(0.05, 0.2))
    assert sorted(box.pending) == sorted(a.id for a in alerts[:5])
    assert not box.add(alerts[0])  # known: not journalled twice
    for a in alerts[5:]:
        assert box.add(a)

    am.start()
    try:
        assert box.flush(timeout=15)
        assert box.pending == []
        held = am.alerts(alertname="FraudwatchDetection")
        ids = Counter(a["labels"]["fraudwatch_id"] for a in held)
        assert ids == Counter({a.id: 1 for a in alerts})
        by_id = {a.id: a for a in alerts}
        clear = {n for a in alerts for n in (a.subject, a.counterparty)}
        for a in held:
            text = json.dumps(a)
            assert not [n for n in clear if n in text], text
            assert a["labels"]["subject"].startswith("ps_")
        for a in held:
            src = by_id[a["labels"]["fraudwatch_id"]]
            assert a["labels"]["kind"] == src.kind
            assert a["labels"]["severity"] == src.severity
            assert a["labels"]["subject"] == pseudo(src.subject)
        box.close()

        # Another restart after delivery: nothing is pending, nothing is sent again.
        box = Outbox(tmp_path / "outbox", CountingClient(am.url, accepted), pseudo)
        assert box.pending == []
        assert box.deliver_once() == 0
        box.close()
        assert accepted == Counter({a.id: 1 for a in alerts})
        # ... and the receiver behind Alertmanager was notified of every one.
        wait_until(lambda: {a["labels"]["fraudwatch_id"] for a in webhook.alerts()}
                   >= set(by_id), 15, what="webhook notifications")
    finally:
        am.stop()


def test_background_sender_delivers_within_seconds(tmp_path, alertmanager, webhook):
    box = Outbox(tmp_path / "outbox", AlertmanagerClient(alertmanager.url),
                 Pseudonymizer(mode="mask")).start()
    try:
        alert = make_alerts(4)[3]  # sms_bombing, critical
        box.add(alert)
        got = wait_until(lambda: alertmanager.alerts(fraudwatch_id=alert.id), 10,
                         what="alert in alertmanager")
        assert got[0]["labels"]["subject"] == "138****0003"
        assert got[0]["labels"]["severity"] == "critical"
        notes = wait_until(lambda: [a for a in webhook.alerts()
                                    if a["labels"].get("fraudwatch_id") == alert.id],
                           10, what="webhook notification")
        # Routed by kind and severity: critical fraud goes to the urgent desk.
        assert notes[0]["path"] == "/antifraud/urgent"
    finally:
        box.close()


def test_torn_journal_line_is_skipped_and_rest_reloaded(tmp_path):
    box = Outbox(tmp_path / "ob", None, Pseudonymizer(b"k"))
    alerts = make_alerts(3)
    for a in alerts:
        box.add(a)
    box.close()
    with open(tmp_path / "ob" / Outbox.JOURNAL, "a", encoding="utf-8") as fh:
        fh.write('{"id": "deadbeef", "payl')  # crash in the middle of a write
    (tmp_path / "ob" / Outbox.DELIVERED).write_text(alerts[1].id + "\n")
    box = Outbox(tmp_path / "ob", None)
    assert sorted(box.pending) == sorted([alerts[0].id, alerts[2].id])
    assert box.compactions == 1  # rewritten: the next append starts on a clean line
    extra = make_alerts(5)[4]
    box.add(extra)
    box.close()
    box = Outbox(tmp_path / "ob", None)
    assert sorted(box.pending) == sorted([alerts[0].id, alerts[2].id, extra.id])
    assert box.compactions == 0
    box.close()


def test_journal_is_compacted_but_delivered_ids_are_remembered(tmp_path, alertmanager):
    alerts = make_alerts(6)
    box = Outbox(tmp_path / "ob", AlertmanagerClient(alertmanager.url), compact_after=3)
    for a in alerts:
        box.add(a)
    assert box.flush(10)
    box.close()
    journal = tmp_path / "ob" / Outbox.JOURNAL
    assert len(journal.read_text().splitlines()) == 6
    box = Outbox(tmp_path / "ob", AlertmanagerClient(alertmanager.url), compact_after=3)
    assert box.compactions == 1 and box.pending == []
    assert journal.read_text() == ""
    assert not box.add(alerts[0])  # a re-run raising the same alert does not push it again
    box.close()


def test_unreachable_alertmanager_backs_off_without_losing(tmp_path):
    box = Outbox(tmp_path / "ob", AlertmanagerClient(f"http://127.0.0.1:{free_port()}",
                                                     timeout=0.5), backoff=(0.05, 0.1))
    box.add(make_alerts(1)[0])
    assert box.flush(timeout=0.5) is False
    assert box.failures >= 2  # retried
    assert len(box.pending) == 1
    box.close()


def test_replay_cli_journals_masked_alerts_once_across_reruns(tmp_path):
    import subprocess
    import sys

    from detector.alerts import read_alerts
    from tests.services_prometheus import REPO

    rows = ["time,sender,recipient,text,direction"]
    for i in range(40):  # a verification-code flood from many senders: SMS bombing
        rows.append(f"{1_700_000_000 + 20 * i},1069{i:05d},13812345678,"
                    f"【平台{i}】您的验证码是{100000 + i}，5分钟内有效。,mt")
    path = tmp_path / "sms.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    argv = [sys.executable, "-m", "fraudwatch", "replay", str(path), "--json",
            "--alerts", str(tmp_path / "alerts.jsonl"), "--outbox", str(tmp_path / "ob"),
            "--pseudonym-mode", "mask"]
    for _ in range(2):  # the same input twice: the outbox holds each alert once
        r = subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO)
        assert r.returncode == 0, r.stderr
    log = read_alerts(tmp_path / "alerts.jsonl")
    assert "sms_bombing" in {a.kind for a in log}
    assert {a.evidence["subject_pseudonym"] for a in log if a.kind == "sms_bombing"} == \
        {"138****5678"}
    journal = (tmp_path / "ob" / Outbox.JOURNAL).read_text(encoding="utf-8")
    assert len(journal.splitlines()) == len(log)
    assert "13812345678" not in journal
    assert Outbox(tmp_path / "ob", None).pending == [a.id for a in log]
