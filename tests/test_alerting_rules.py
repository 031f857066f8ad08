"""Prometheus alerting rules and the Alertmanager example: checked and unit-tested by the
real promtool/amtool."""

from __future__ import annotations

import shutil
import subprocess

import yaml

from detector.alerts import KINDS
from tests.services_prometheus import PROMTOOL, REPO

RULES = REPO / "rules" / "prometheus"
AMTOOL = shutil.which("amtool") or "/usr/bin/amtool"


def rules() -> list[dict]:
    out = []
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            out.extend(group["rules"])
    return out


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=60, cwd=REPO)


def test_promtool_check_rules():
    files = sorted(str(p) for p in RULES.glob("*.yml"))
    assert files
    r = run(PROMTOOL, "check", "rules", *files)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_promtool_unit_tests_pass():
    tests = sorted(str(p) for p in (RULES / "tests").glob("*.yml"))
    assert tests
    r = run(PROMTOOL, "test", "rules", *tests)
    assert r.returncode == 0, r.stdout + r.stderr


def test_promtool_unit_tests_catch_a_wrong_expectation(tmp_path):
    """The unit tests are not vacuous: flipping an expected severity makes them fail."""
    src = (RULES / "tests" / "fraudwatch-alerts-test.yml").read_text(encoding="utf-8")
    broken = src.replace("severity: critical\n              kind: sms_bombing",
                         "severity: warning\n              kind: sms_bombing", 1)
    assert broken != src
    (tmp_path / "tests").mkdir()
    shutil.copy(RULES / "fraudwatch-alerts.yml", tmp_path / "fraudwatch-alerts.yml")
    (tmp_path / "tests" / "t.yml").write_text(broken, encoding="utf-8")
    r = run(PROMTOOL, "test", "rules", str(tmp_path / "tests" / "t.yml"))
    assert r.returncode != 0


def test_one_rule_per_kind_and_pipeline_health():
    names = {r["alert"] for r in rules()}
    kinds = {r["expr"].split('kind="')[1].split('"')[0] for r in rules()
             if "fraudwatch_suspect_score" in r["expr"]}
    assert kinds == set(KINDS)
    assert {"FraudwatchPipelineIngestStopped", "FraudwatchPipelineParseErrorsSurging",
            "FraudwatchPipelineEventTimeLag", "FraudwatchPipelineCheckpointStale"} <= names


def test_every_rule_has_severity_annotations_and_a_runbook():
    for r in rules():
        assert r["labels"]["severity"], r["alert"]
        ann = r["annotations"]
        assert ann["summary"] and ann["description"], r["alert"]
        url = ann["runbook_url"]
        assert url.startswith("docs/runbooks/") and url.endswith(".md")
        page = (REPO / url).read_text(encoding="utf-8")
        for section in ("## What it means", "## How to check", "## What to do"):
            assert section in page, (url, section)
        if r["labels"]["severity"] in ("critical", "warning"):
            continue
        assert "{{ if" in r["labels"]["severity"], r["alert"]  # templated from the score


def test_runbook_per_detection_kind():
    for kind in KINDS:
        assert (REPO / "docs" / "runbooks" / f"{kind}.md").exists()


def test_alertmanager_example_config_is_valid():
    r = run(AMTOOL, "check-config", str(REPO / "rules" / "alertmanager" / "alertmanager.yml"))
    assert r.returncode == 0, r.stdout + r.stderr


def test_alertmanager_example_routes_by_kind_and_severity(tmp_path):
    cfg = str(REPO / "rules" / "alertmanager" / "alertmanager.yml")

    def route(**labels) -> str:
        r = run(AMTOOL, "config", "routes", "test", f"--config.file={cfg}",
                *[f"{k}={v}" for k, v in labels.items()])
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout.strip()

    assert route(alertname="FraudwatchDetection", kind="intl_fraud",
                 severity="critical") == "antifraud-urgent"
    assert route(alertname="FraudSuspectVoipBox", kind="voip_box",
                 severity="warning") == "antifraud-cases"
    assert route(alertname="FraudSuspectSipScan", kind="sip_scan",
                 severity="critical") == "security"
    assert route(alertname="FraudwatchPipelineIngestStopped", severity="critical") == "noc"
