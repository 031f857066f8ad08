"""The whole path as an operator runs it: ``fraudwatch simulate``, then ``fraudwatch replay
--metrics-port --metrics-linger --alertmanager --outbox --pseudonym-key-file`` with the real
detectors, a real Prometheus scraping it, a real Alertmanager and a webhook receiver."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import threading
from collections import Counter

from detector.alerts import read_alerts
from detector.suspects import Pseudonymizer
from tests.services_prometheus import (
    REPO,
    Alertmanager,
    Prometheus,
    WebhookReceiver,
    alertmanager_config,
    free_port,
    wait_until,
)

RULES_FILE = REPO / "rules" / "prometheus" / "fraudwatch-alerts.yml"


def simulator_numbers(out) -> set[str]:
    numbers = set()
    for name, cols in {"calls.csv": ("caller", "callee", "src_ip"),
                       "sms.csv": ("sender", "recipient"),
                       "registrations.csv": ("line", "contact_ip"),
                       "feedback.csv": ("number",)}.items():
        with open(out / name, encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                numbers.update(row[c] for c in cols if row.get(c) and len(row[c]) >= 7)
    return numbers


def test_simulated_fraud_reaches_the_antifraud_webhook_without_clear_numbers(tmp_path):
    sim = tmp_path / "sim"
    r = subprocess.run([sys.executable, "-m", "fraudwatch", "simulate", "--out", str(sim),
                        "--days", "1", "--subscribers", "1000", "--seed", "5", "-q"],
                       capture_output=True, text=True, timeout=120, cwd=REPO)
    assert r.returncode == 0, r.stderr
    key = tmp_path / "pseudonym.key"
    key.write_text("operator-secret-for-test\n")
    alerts_path = tmp_path / "alerts.jsonl"
    webhook = WebhookReceiver()
    am = prom = proc = None
    try:
        am = Alertmanager(tmp_path / "am", alertmanager_config(webhook.url)).start()
        port = free_port()
        prom = Prometheus(tmp_path / "prom", [f"127.0.0.1:{port}"], [RULES_FILE],
                          alertmanager=am.url).start()
        proc = subprocess.Popen(
            [sys.executable, "-m", "fraudwatch", "replay", "--json",
             *(str(sim / f) for f in ("calls.csv", "sms.csv", "registrations.csv",
                                       "feedback.csv")),
             "--alerts", str(alerts_path), "--metrics-port", str(port),
             "--metrics-linger", "60", "--alertmanager", am.url,
             "--outbox", str(tmp_path / "outbox"), "--pseudonym-key-file", str(key)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
        # readline blocks: a watchdog bounds it (kills a hung replay, readline returns "").
        watchdog = threading.Timer(120, proc.kill)
        watchdog.start()
        try:
            line = proc.stdout.readline()
        finally:
            watchdog.cancel()
        assert line, f"replay ended without a summary: {proc.stderr.read()[-2000:]}"
        summary = json.loads(line)
        log = read_alerts(alerts_path)
        assert summary["alerts"] == len(log) > 0
        kinds = {a.kind for a in log}
        assert len(kinds) >= 3, kinds
        pseudo = Pseudonymizer(b"operator-secret-for-test")
        for a in log:
            assert a.evidence["subject_pseudonym"] == pseudo(a.subject)

        # Direct push: every logged alert is in Alertmanager exactly once, by id.
        held = Counter(x["labels"]["fraudwatch_id"]
                       for x in am.alerts(alertname="FraudwatchDetection"))
        assert held == Counter({a.id: 1 for a in log})
        by_id = {a.id: a for a in log}

        # Prometheus rules on the scraped suspects fire and reach the webhook.
        def fired():
            notes = [n for n in webhook.alerts()
                     if n["labels"]["alertname"].startswith("FraudSuspect")]
            return notes or None

        notes = wait_until(fired, 40, what="Prometheus-rule notifications")
        pseudonyms = {(a.kind, a.evidence["subject_pseudonym"]) for a in log}
        for n in notes:
            assert (n["labels"]["kind"], n["labels"]["subject"]) in pseudonyms, n["labels"]
            assert n["labels"]["severity"] in ("critical", "warning")

        pushed = wait_until(lambda: {n["labels"]["fraudwatch_id"] for n in webhook.alerts()
                                     if n["labels"]["alertname"] == "FraudwatchDetection"}
                            >= set(by_id), 20, what="direct-push notifications")
        assert pushed
        for n in webhook.alerts():
            if n["labels"]["alertname"] == "FraudwatchDetection":
                a = by_id[n["labels"]["fraudwatch_id"]]
                assert (n["labels"]["kind"], n["labels"]["severity"]) == (a.kind, a.severity)

        # Nothing that left the operator's alert log holds a clear number.
        clear = simulator_numbers(sim) | {a.subject for a in log}
        for where, text in {
            "webhook": json.dumps(webhook.notifications, ensure_ascii=False),
            "alertmanager": json.dumps(am.alerts(), ensure_ascii=False),
            "prometheus": json.dumps(prom.alerts(), ensure_ascii=False),
            "tsdb": json.dumps(prom.query('{__name__=~"fraudwatch_.*"}'), ensure_ascii=False),
        }.items():
            leaked = sorted(n for n in clear if len(n) >= 7 and n in text)
            assert not leaked, f"clear numbers in {where}: {leaked[:5]}"
        # ... while the log itself keeps them, so the operator can act.
        assert all(a.subject for a in log)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if prom is not None:
            prom.stop()
        if am is not None:
            am.stop()
        webhook.close()
