"""Build the Grafana dashboards (``dashboards/*.json``) from one description.

Generated so the three dashboards stay consistent: same datasource variable, same
instance filter, units on every panel, stable uids and panel ids. Run after a change
and commit both this script and the JSON::

    python dashboards/build.py          # writes dashboards/*.json
    python dashboards/build.py --check  # exits 1 if the JSON is out of date
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
KINDS = ("voip_box", "harassment", "intl_fraud", "sms_bombing", "optout_violation", "sip_scan")
KIND_TITLES = {
    "voip_box": "VoIP / SIM boxes",
    "harassment": "Harassment calls",
    "intl_fraud": "International fraud calls",
    "sms_bombing": "SMS bombing",
    "optout_violation": "Marketing SMS after unsubscribe",
    "sip_scan": "SIP scanning and brute force",
}
DS = {"type": "prometheus", "uid": "${datasource}"}
SEL = 'instance=~"$instance"'
RATE = "$__rate_interval"


def _vars() -> dict:
    return {"list": [
        {"name": "datasource", "label": "Data source", "type": "datasource",
         "query": "prometheus", "current": {}, "hide": 0, "refresh": 1, "regex": "",
         "options": []},
        {"name": "instance", "label": "Detector", "type": "query", "datasource": DS,
         "query": {"query": "label_values(fraudwatch_records_total, instance)",
                   "refId": "instance"},
         "definition": "label_values(fraudwatch_records_total, instance)",
         "includeAll": True, "multi": True, "allValue": ".*", "current": {}, "hide": 0,
         "refresh": 2, "regex": "", "sort": 1, "options": []},
    ]}


class Board:
    """Lays out panels left to right, top to bottom, with unique ids."""

    def __init__(self, uid: str, title: str, description: str, tags: list[str]) -> None:
        self.uid, self.title, self.description, self.tags = uid, title, description, tags
        self.panels: list[dict] = []
        self._id = 0
        self._x = 0
        self._y = 0
        self._row_h = 0

    def _next_id(self) -> int:
        self._id += 1
        return self._id

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append({"type": "row", "id": self._next_id(), "title": title,
                            "collapsed": False, "panels": [],
                            "gridPos": {"x": 0, "y": self._y, "w": 24, "h": 1}})
        self._y += 1

    def _newline(self) -> None:
        if self._x:
            self._y += self._row_h
            self._x = 0
            self._row_h = 0

    def panel(self, kind: str, title: str, targets: list[tuple[str, str]], unit: str,
              description: str, w: int = 12, h: int = 8, instant: bool = False,
              options: dict | None = None, custom: dict | None = None,
              decimals: int | None = None) -> None:
        if self._x + w > 24:
            self._newline()
        defaults: dict = {"unit": unit}
        if decimals is not None:
            defaults["decimals"] = decimals
        if custom:
            defaults["custom"] = custom
        p = {
            "type": kind, "id": self._next_id(), "title": title, "description": description,
            "datasource": DS,
            "gridPos": {"x": self._x, "y": self._y, "w": w, "h": h},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": options or {},
            "targets": [{"datasource": DS, "refId": chr(ord("A") + i), "expr": expr,
                         "legendFormat": legend, "range": not instant, "instant": instant,
                         "format": "table" if kind == "table" else "time_series"}
                        for i, (expr, legend) in enumerate(targets)],
        }
        if kind == "table":
            # One row per suspect: kind, pseudonym, score; no timestamp column.
            p["transformations"] = [{"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "renameByName": {"kind": "Fraud type", "subject": "Suspect (pseudonym)",
                                 "Value": "Score"}}}]
        self.panels.append(p)
        self._x += w
        self._row_h = max(self._row_h, h)

    def to_json(self) -> dict:
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["fraudwatch", *self.tags], "timezone": "browser", "editable": True,
            "graphTooltip": 1, "refresh": "30s", "schemaVersion": 39, "version": 1,
            "time": {"from": "now-6h", "to": "now"}, "fiscalYearStartMonth": 0,
            "liveNow": False, "weekStart": "", "links": [
                {"title": "fraudwatch dashboards", "type": "dashboards", "tags": ["fraudwatch"],
                 "asDropdown": True, "includeVars": True, "keepTime": True}],
            "annotations": {"list": [{
                "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                "enable": True, "hide": True, "iconColor": "rgba(0, 211, 255, 1)",
                "name": "Annotations & Alerts", "type": "dashboard"}]},
            "templating": _vars(),
            "panels": self.panels,
        }


TABLE_OPTS = {"showHeader": True, "cellHeight": "sm",
              "footer": {"show": False, "reducer": ["sum"], "fields": ""}}
STAT_OPTS = {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
             "colorMode": "value", "graphMode": "area", "textMode": "auto",
             "orientation": "auto", "justifyMode": "auto"}
BARS = {"drawStyle": "bars", "fillOpacity": 80, "stacking": {"mode": "normal", "group": "A"}}
LINES = {"drawStyle": "line", "fillOpacity": 10, "lineWidth": 1}


def top_suspects(kind: str | None, n: int) -> str:
    sel = f'kind="{kind}", {SEL}' if kind else SEL
    return f"topk({n}, max by (kind, subject) (fraudwatch_suspect_score{{{sel}}}))"


def noc_overview() -> Board:
    b = Board("fraudwatch-noc", "fraudwatch — NOC overview",
              "Is the fraud detector healthy and what is it finding right now?", ["noc"])
    b.row("Ingest: records coming in")
    b.panel("timeseries", "Records processed per second, by record type",
            [(f"sum by (kind) (rate(fraudwatch_records_total{{{SEL}}}[{RATE}]))", "{{kind}}")],
            "cps", "CDRs, SMS, SIP registrations and feedback the detector processed.",
            custom=LINES)
    b.panel("timeseries", "Rejected input per second, by reason",
            [(f"sum by (reason) (rate(fraudwatch_quarantined_records_total{{{SEL}}}[{RATE}]))",
              "row: {{reason}}"),
             (f"sum by (reason) (rate(fraudwatch_malformed_packets_total{{{SEL}}}[{RATE}]))",
              "packet: {{reason}}")],
            "cps", "Rows that break the record contract (quarantined) and packets that could "
                   "not be decoded. See the quarantine file for each one.", custom=LINES)
    b.panel("stat", "Detection delay behind real time",
            [(f"max(fraudwatch_event_time_lag_seconds{{{SEL}}})", "lag")], "s",
            "Wall-clock time minus the event time of the newest record processed.",
            w=6, h=6, options=STAT_OPTS)
    b.panel("stat", "Detectors up",
            [(f'sum(up{{job="fraudwatch", {SEL}}})', "up")], "short",
            "Detector processes Prometheus can scrape.", w=6, h=6, options=STAT_OPTS)
    b.panel("timeseries", "Records waiting for reordering",
            [(f"sum by (instance) (fraudwatch_reorder_buffer_records{{{SEL}}})",
              "{{instance}}")], "short",
            "Records held back until the event-time watermark passes them.", w=6, h=6,
            custom=LINES)
    b.panel("timeseries", "Late records per second",
            [(f"sum(rate(fraudwatch_late_records_total{{{SEL}}}[{RATE}]))", "late")], "cps",
            "Records later than the allowed lateness (still processed, out of order).",
            w=6, h=6, custom=LINES)
    b.row("Detection: what is being found")
    b.panel("timeseries", "Alerts per minute, by fraud type",
            [(f"sum by (kind) (rate(fraudwatch_alerts_total{{{SEL}}}[{RATE}])) * 60",
              "{{kind}}")], "cpm", "Alerts raised by the detector, by detection kind.",
            custom=BARS)
    b.panel("bargauge", "Active suspects, by fraud type",
            [(f"sum by (kind) (fraudwatch_active_suspects{{{SEL}}})", "{{kind}}")], "short",
            "Subjects with a recent alert (kept for the suspect expiry in event time).",
            instant=True, options={"orientation": "horizontal", "displayMode": "gradient",
                                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                                     "values": False}})
    b.panel("table", "Top suspects (pseudonyms; look up in the alert log)",
            [(top_suspects(None, 20), "{{kind}} {{subject}}")], "percentunit",
            "Highest-scoring active suspects. Subjects are pseudonyms: find the number "
            "with evidence.subject_pseudonym in the alert log.", w=24, instant=True,
            options=TABLE_OPTS, decimals=0)
    return b


def fraud_operations() -> Board:
    b = Board("fraudwatch-fraud-ops", "fraudwatch — Fraud operations",
              "Alerts over time by fraud type and severity, and the suspects behind them.",
              ["fraud"])
    b.row("All fraud types")
    b.panel("timeseries", "Alerts by fraud type and severity",
            [(f"sum by (kind, severity) (increase(fraudwatch_alerts_total{{{SEL}}}[{RATE}]))",
              "{{kind}} / {{severity}}")], "short",
            "New alerts in each interval.", w=16, custom=BARS)
    b.panel("stat", "Critical alerts in range",
            [(f'sum(increase(fraudwatch_alerts_total{{severity="critical", {SEL}}}[$__range]))',
              "critical")], "short", "Critical alerts raised in the selected time range.",
            w=8, options=STAT_OPTS, decimals=0)
    b.panel("timeseries", "Median alert score, by fraud type",
            [("histogram_quantile(0.5, sum by (le, kind) "
              f"(rate(fraudwatch_alert_score_bucket{{{SEL}}}[{RATE}])))", "{{kind}}")],
            "percentunit", "How sure the detectors are about the alerts they raise.", w=24,
            custom=LINES)
    for kind in KINDS:
        b.row(KIND_TITLES[kind])
        b.panel("timeseries", f"{KIND_TITLES[kind]}: alerts by severity",
                [(f'sum by (severity) (increase(fraudwatch_alerts_total{{kind="{kind}", {SEL}}}'
                  f"[{RATE}]))", "{{severity}}")], "short",
                f"New {kind} alerts in each interval.", w=10, custom=BARS)
        b.panel("stat", f"{KIND_TITLES[kind]}: active suspects",
                [(f'sum(fraudwatch_active_suspects{{kind="{kind}", {SEL}}})', "active")],
                "short", "Subjects with a recent alert of this kind.", w=4,
                options=STAT_OPTS)
        b.panel("table", f"{KIND_TITLES[kind]}: top suspects",
                [(top_suspects(kind, 10), "{{subject}}")], "percentunit",
                "Pseudonymised subjects by score; see the runbook docs/runbooks/"
                f"{kind}.md.", w=10, instant=True, options=TABLE_OPTS, decimals=0)
    return b


def capture_health() -> Board:
    b = Board("fraudwatch-capture", "fraudwatch — Capture health",
              "Per source and collector: is input arriving, complete and decodable?",
              ["capture"])
    b.row("Sources")
    b.panel("timeseries", "Records per second, by collector and source",
            [(f"sum by (instance, source) (rate(fraudwatch_records_total{{{SEL}}}[{RATE}]))",
              "{{instance}} {{source}}")], "cps",
            "Records each collector delivered, by source type (CDR format, pcap, HEP).",
            custom=LINES)
    b.panel("timeseries", "Input read, by source",
            [(f"sum by (source) (rate(fraudwatch_input_bytes_total{{{SEL}}}[{RATE}]))",
              "{{source}}")], "Bps", "Bytes of CDR files and captures opened.", custom=LINES)
    b.panel("timeseries", "Quarantined rows per second, by source and reason",
            [("sum by (source, reason) "
              f"(rate(fraudwatch_quarantined_records_total{{{SEL}}}[{RATE}]))",
              "{{source}}: {{reason}}")], "cps",
            "Rows rejected by the record contract; each is in the quarantine file.",
            custom=LINES)
    b.panel("timeseries", "Undecodable packets per second, by reason",
            [(f"sum by (source, reason) (rate(fraudwatch_malformed_packets_total{{{SEL}}}"
              f"[{RATE}]))", "{{source}}: {{reason}}")], "cps",
            "Packets or HEP frames the capture could not decode.", custom=LINES)
    b.row("SIP signalling seen")
    b.panel("timeseries", "SIP requests per second, by method",
            [(f'sum by (name) (rate(fraudwatch_sip_messages_total{{type="request", {SEL}}}'
              f"[{RATE}]))", "{{name}}")], "cps", "SIP requests in captures.", custom=LINES)
    b.panel("timeseries", "SIP responses per second, by class",
            [(f'sum by (name) (rate(fraudwatch_sip_messages_total{{type="response", {SEL}}}'
              f"[{RATE}]))", "{{name}}")], "cps",
            "A rise in 4xx often means registration brute force.", custom=LINES)
    b.row("Collector health")
    b.panel("timeseries", "Newest record's event time",
            [(f"max by (instance) (fraudwatch_last_record_event_time_seconds{{{SEL}}}) * 1000",
              "{{instance}}")], "dateTimeAsIso",
            "Event time reached by each collector.", w=8, custom=LINES)
    b.panel("timeseries", "Time since output was made durable",
            [(f"max by (instance) (fraudwatch_checkpoint_age_seconds{{{SEL}}})",
              "{{instance}}")], "s", "Alert log / outbox sync age (checkpoint).", w=8,
            custom=LINES)
    b.panel("timeseries", "Detector state memory (estimate)",
            [(f"sum by (instance) (fraudwatch_state_memory_bytes{{{SEL}}})", "state {{instance}}"),
             (f'sum by (instance) (process_resident_memory_bytes{{job="fraudwatch", {SEL}}})',
              "process {{instance}}")], "bytes",
            "Estimated detector state against the process's resident memory.", w=8,
            custom=LINES)
    b.panel("timeseries", "Numbers tracked, by fraud type",
            [(f"sum by (kind) (fraudwatch_tracked_numbers{{{SEL}}})", "{{kind}}")], "short",
            "Numbers each detector holds state for (grows with traffic, shrinks on expiry).",
            w=24, custom=LINES)
    return b


BOARDS = {"noc-overview.json": noc_overview, "fraud-operations.json": fraud_operations,
          "capture-health.json": capture_health}


def render() -> dict[str, str]:
    return {name: json.dumps(make().to_json(), indent=2, ensure_ascii=False) + "\n"
            for name, make in BOARDS.items()}


def main(argv: list[str]) -> int:
    stale = []
    for name, text in render().items():
        path = HERE / name
        if "--check" in argv:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print("out of date (run python dashboards/build.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
