"""Lint checks of the Grafana dashboards (their PromQL runs in test_alerting_e2e.py)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((REPO / "dashboards").glob("*.json"))
DEPRECATED = {"graph", "singlestat", "table-old", "grafana-piechart-panel",
              "grafana-worldmap-panel", "graph-old"}
NEEDS_UNIT = {"timeseries", "stat", "bargauge", "gauge", "table", "barchart"}
#: Grafana variables replaced with values that make sense against a test Prometheus
GRAFANA_VARS = {"$__rate_interval": "30s", "$__interval": "5s", "$__range": "5m",
                '=~"$instance"': '=~".*"'}


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def panels(board: dict):
    for p in board["panels"]:
        yield p
        yield from p.get("panels", [])


def dashboard_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL with Grafana variables substituted)."""
    out = []
    for path in DASHBOARDS:
        for p in panels(load(path)):
            for t in p.get("targets", []):
                expr = t["expr"]
                for var, value in GRAFANA_VARS.items():
                    expr = expr.replace(var, value)
                out.append((path.name, p["title"], expr))
    return out


def test_three_dashboards_exist_with_stable_unique_uids():
    uids = {load(p)["uid"] for p in DASHBOARDS}
    assert uids == {"fraudwatch-noc", "fraudwatch-fraud-ops", "fraudwatch-capture"}


def test_json_is_what_build_py_generates():
    r = subprocess.run([sys.executable, str(REPO / "dashboards" / "build.py"), "--check"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_lint(path):
    board = load(path)
    assert board["schemaVersion"] >= 39
    variables = {v["name"]: v for v in board["templating"]["list"]}
    ds = variables["datasource"]
    assert ds["type"] == "datasource" and ds["query"] == "prometheus"
    ids = [p["id"] for p in panels(board)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    used_vars = set()
    for p in panels(board):
        assert p.get("title"), f"untitled panel {p['id']}"
        assert p["type"] not in DEPRECATED, f"{p['title']}: deprecated panel type {p['type']}"
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"], f"{p['title']}: no queries"
        for t in p["targets"]:
            assert t["datasource"]["uid"] == "${datasource}", p["title"]
            assert t["expr"].strip()
            used_vars.update(re.findall(r"\$(\w+)", t["expr"]))
        if p["type"] in NEEDS_UNIT:
            assert p["fieldConfig"]["defaults"].get("unit"), f"{p['title']}: no unit"
        assert p.get("description"), f"{p['title']}: say what the panel shows"
    # Every query filters by the detector variable; nothing references an unknown one.
    assert "instance" in used_vars
    assert used_vars <= set(variables) | {"__rate_interval", "__interval", "__range"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_do_not_overlap_and_fit_the_grid(path):
    cells = set()
    for p in panels(load(path)):
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                assert (x, y) not in cells, f"{p['title']} overlaps another panel"
                cells.add((x, y))


def test_no_series_is_labelled_with_a_number():
    """Queries group by bounded labels only (kind, severity, source, reason, ...)."""
    allowed = {"kind", "severity", "source", "reason", "instance", "name", "le", "subject"}
    for _, title, expr in dashboard_queries():
        for group in re.findall(r"by \(([^)]*)\)", expr):
            labels = {x.strip() for x in group.split(",")}
            assert labels <= allowed, (title, labels)


def test_fraud_operations_has_a_row_per_kind():
    from detector.alerts import KINDS

    board = load(REPO / "dashboards" / "fraud-operations.json")
    exprs = " ".join(t["expr"] for p in panels(board) for t in p.get("targets", []))
    for kind in KINDS:
        assert f'kind="{kind}"' in exprs


def test_provisioning_examples():
    prov = REPO / "dashboards" / "provisioning"
    dash = yaml.safe_load((prov / "dashboards.yaml").read_text())
    assert dash["apiVersion"] == 1
    assert dash["providers"][0]["type"] == "file"
    ds = yaml.safe_load((prov / "datasources.yaml").read_text())
    assert ds["datasources"][0]["type"] == "prometheus"
    assert ds["datasources"][0]["url"].startswith("http")
