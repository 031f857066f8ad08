"""The detector's /metrics: promtool-clean, bounded labels, batched updates, served over HTTP."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from capture.quarantine import Quarantine
from detector.alerts import KINDS, SEVERITIES, Alert
from detector.engine import Engine
from detector.metrics import REASONS, SOURCES, FraudwatchMetrics, fold_reason
from detector.records import Call, Sms
from detector.suspects import Pseudonymizer
from fraudwatch.replay import ReplaySummary, replay
from tests.services_prometheus import PROMTOOL, REPO, wait_until


def samples(text: str):
    for fam in text_string_to_metric_families(text):
        yield from fam.samples


def value(text: str, metric: str, **labels) -> float:
    total = 0.0
    found = False
    for s in samples(text):
        if s.name == metric and all(s.labels.get(k) == v for k, v in labels.items()):
            total += s.value
            found = True
    assert found, f"no sample {metric}{labels}"
    return total


def populated() -> FraudwatchMetrics:
    m = FraudwatchMetrics(Pseudonymizer(b"k"), suspects_per_kind=3)
    rng = random.Random(7)
    for i in range(200):
        m.observe_alert(Alert(KINDS[i % 6], f"138{rng.randrange(10**8):08d}", None, 1000.0 + i,
                              SEVERITIES[i % 3], rng.random(), "r"))
    engine = Engine(kinds=[])
    engine.push_many(Call(start=float(t), caller="13800000000", callee="13900000000")
                     for t in range(50))
    q = Quarantine()
    for reason in ("bad start time", "missing caller", "expected 11 fields, got 3", "zzz"):
        q.add("f.csv", 1, reason)
    summary = ReplaySummary(inputs=[], formats={})
    summary.sip.update({"method:INVITE": 5, "method:FOO": 1, "status:401": 3, "status:abc": 1})
    summary.malformed.update({"truncated UDP": 2, "weird": 1})
    m.observe_batch(summary, engine, q)
    return m


def test_promtool_check_metrics_is_clean():
    text = populated().exposition()
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip() == "" and r.stderr.strip() == ""


def test_names_units_and_counters_follow_conventions():
    text = populated().exposition()
    names = {fam.name: fam.type for fam in text_string_to_metric_families(text)
             if fam.name.startswith("fraudwatch_")}
    assert {"fraudwatch_records", "fraudwatch_alerts", "fraudwatch_quarantined_records",
            "fraudwatch_suspect_score", "fraudwatch_event_time_lag_seconds",
            "fraudwatch_state_memory_bytes", "fraudwatch_checkpoint_age_seconds",
            "fraudwatch_reorder_buffer_records", "fraudwatch_tracked_numbers",
            "fraudwatch_alert_score", "fraudwatch_input_bytes",
            "fraudwatch_active_suspects"} <= set(names)
    for name, kind in names.items():
        if kind == "counter":
            assert re.search(rf"^{name}_total", text, re.M), name
    assert "fraudwatch_alerts_total" in text


def test_labels_come_from_fixed_vocabularies():
    text = populated().exposition()
    allowed = {"kind": set(KINDS) | {"call", "sms", "registration", "feedback", "other"},
               "severity": set(SEVERITIES), "source": set(SOURCES), "reason": set(REASONS)}
    for s in samples(text):
        for label, vocab in allowed.items():
            if label in s.labels:
                assert s.labels[label] in vocab, (s.name, s.labels)
        if "subject" in s.labels:
            assert re.fullmatch(r"ps_[0-9a-f]{12}", s.labels["subject"]), s.labels
    reasons = {s.labels["reason"] for s in samples(text) if "reason" in s.labels}
    assert {"bad_time", "missing_field", "wrong_field_count", "other", "truncated"} <= reasons
    assert value(text, "fraudwatch_sip_messages_total", type="request", name="other") == 1
    assert value(text, "fraudwatch_sip_messages_total", type="response", name="4xx") == 3


def test_unknown_reasons_fold_into_a_bounded_set():
    rng = random.Random(1)
    alphabet = "abcdefghij timeexpectedmissing:0123456789"
    folded = {fold_reason("".join(rng.choice(alphabet) for _ in range(rng.randrange(1, 30))))
              for _ in range(2000)}
    assert folded <= set(REASONS)


def test_suspect_series_are_bounded_per_kind_and_keep_the_highest():
    m = FraudwatchMetrics(Pseudonymizer(b"k"), suspects_per_kind=3)
    for i in range(100):
        m.observe_alert(Alert("sms_bombing", f"1380000{i:04d}", None, float(i), "warning",
                              i / 100, "burst"))
    series = [s for s in samples(m.exposition()) if s.name == "fraudwatch_suspect_score"]
    assert len(series) == 3
    assert sorted(s.value for s in series) == [0.97, 0.98, 0.99]
    assert value(m.exposition(), "fraudwatch_active_suspects", kind="sms_bombing") == 3
    assert value(m.exposition(), "fraudwatch_alerts_total", kind="sms_bombing",
                 severity="warning") == 100


def test_suspects_expire_in_event_time_not_wall_time():
    m = FraudwatchMetrics(Pseudonymizer(b"k"), suspect_ttl=3600)
    m.observe_alert(Alert("harassment", "13812345678", "x", 10_000.0, "warning", 0.8, "r"))
    engine = Engine(kinds=[], lateness=0)
    engine.push(Sms(time=10_000.0 + 1800, sender="1069", recipient="139"))
    m.observe_engine(engine)
    assert value(m.exposition(), "fraudwatch_active_suspects", kind="harassment") == 1
    engine.push(Sms(time=10_000.0 + 3601, sender="1069", recipient="139"))
    m.observe_engine(engine)
    assert value(m.exposition(), "fraudwatch_active_suspects", kind="harassment") == 0
    assert not [s for s in samples(m.exposition()) if s.name == "fraudwatch_suspect_score"]


def test_replay_batches_feed_the_metrics(tmp_path):
    rows = ["start,caller,callee,duration,disposition,ingress"]
    for i in range(10_000):
        rows.append(f"{1_700_000_000 + i},1380000{i % 97:04d},1390000{i % 89:04d},5,,access")
    rows.insert(500, "not-a-time,138,139,5,,access")
    rows.insert(900, "1700000500,,139,5,,access")
    path = tmp_path / "calls.csv"
    path.write_text("\n".join(rows) + "\n")
    m = FraudwatchMetrics()
    summary = replay([path], metrics=m, kinds=[])
    text = m.exposition()
    assert value(text, "fraudwatch_records_total", source="csv", kind="call") == 10_000
    assert summary.records["call"] == 10_000
    assert value(text, "fraudwatch_quarantined_records_total", source="csv",
                 reason="bad_time") == 1
    assert value(text, "fraudwatch_quarantined_records_total", source="csv",
                 reason="missing_field") == 1
    assert value(text, "fraudwatch_input_bytes_total", source="csv") == path.stat().st_size
    assert value(text, "fraudwatch_last_record_event_time_seconds") == 1_700_000_000 + 9_999
    # batched: a handful of updates for 10,000 records, not one per record
    assert 2 <= value(text, "fraudwatch_metric_batches_total") <= 5
    assert value(text, "fraudwatch_reorder_buffer_records") == 0


def test_metrics_are_served_over_http():
    m = populated()
    server = m.serve(0)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_port}/metrics",
                                    timeout=5) as r:
            body = r.read().decode()
        assert "fraudwatch_alerts_total" in body
        assert "process_resident_memory_bytes" in body
    finally:
        server.shutdown()
        server.server_close()


def test_replay_cli_serves_metrics_and_lingers(tmp_path):
    path = tmp_path / "sms.csv"
    path.write_text("time,sender,recipient,text,direction\n"
                    + "".join(f"{1_700_000_000 + i},10690{i:03d},13812345678,code {i},mt\n"
                              for i in range(300)))
    key = tmp_path / "key"
    key.write_text("operator-secret\n")
    rules = tmp_path / "rules"  # no detectors: this test is about the metrics server
    rules.mkdir()
    (rules / "settings.yaml").write_text((REPO / "rules" / "settings.yaml").read_text())
    proc = subprocess.Popen(
        [sys.executable, "-m", "fraudwatch", "replay", str(path), "--json",
         "--alerts", str(tmp_path / "alerts.jsonl"), "--metrics-port", "0",
         "--metrics-linger", "20", "--pseudonym-key-file", str(key), "--rules", str(rules)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stderr.readline()
        port = int(re.search(r":(\d+)/metrics", line).group(1))

        def scraped():
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                text = r.read().decode()
            return text if "fraudwatch_records_total{" in text and \
                value(text, "fraudwatch_records_total", kind="sms") == 300 else None

        text = wait_until(scraped, 15, what="final metrics while lingering")
        assert "13812345678" not in text
        assert proc.poll() is None  # still lingering after the replay finished
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_metrics_port_in_use_is_a_user_error(tmp_path):
    import socket

    path = tmp_path / "sms.csv"
    path.write_text("time,sender,recipient\n1700000000,1069,138\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        started = time.monotonic()
        r = subprocess.run([sys.executable, "-m", "fraudwatch", "replay", str(path),
                            "--alerts", str(tmp_path / "a.jsonl"), "--metrics-port", str(port)],
                           capture_output=True, text=True, timeout=60, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "--metrics-port" in r.stderr
    assert time.monotonic() - started < 30
    assert len(r.stderr.strip().splitlines()) == 1  # a one-line message


def test_event_time_lag_is_computed_at_scrape_time():
    m = FraudwatchMetrics()
    engine = Engine(kinds=[], lateness=0)
    engine.push(Sms(time=time.time() - 100, sender="1069", recipient="139"))
    m.observe_engine(engine)
    first = value(m.exposition(), "fraudwatch_event_time_lag_seconds")
    assert 99 <= first < 200
    time.sleep(1.1)  # no new record: the lag keeps growing
    assert value(m.exposition(), "fraudwatch_event_time_lag_seconds") >= first + 1


def test_docstring_examples_run():
    import doctest

    import detector.metrics
    import detector.suspects
    import fraudwatch.alertmanager

    for module in (detector.metrics, detector.suspects, fraudwatch.alertmanager):
        result = doctest.testmod(module)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_checkpoint_age_counts_only_unsaved_alerts():
    m = FraudwatchMetrics()
    assert value(m.exposition(), "fraudwatch_checkpoint_age_seconds") == 0  # nothing to save
    m.annotate(Alert("sip_scan", "203.0.113.9", None, 1.0, "warning", 0.8, "r"))
    time.sleep(1.1)
    assert value(m.exposition(), "fraudwatch_checkpoint_age_seconds") >= 1
    m.checkpointed()
    assert value(m.exposition(), "fraudwatch_checkpoint_age_seconds") == 0
