"""End to end with real servers: detector /metrics -> Prometheus rules -> Alertmanager ->
webhook, and the detector's direct push -> Alertmanager -> webhook.

Hand-built records trigger every detection kind. The detectors here are small stand-ins
(one threshold each) so that this test exercises the alerting path, not the detection
logic, which the detectors' own tests cover.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from detector.alerts import KINDS, read_alerts
from detector.base import Detector
from detector.engine import Engine
from detector.metrics import FraudwatchMetrics
from detector.rulefiles import DetectionRule, RuleSet
from detector.suspects import Pseudonymizer
from fraudwatch.alertmanager import AlertmanagerClient, Outbox
from fraudwatch.replay import replay
from tests.services_prometheus import (
    REPO,
    Alertmanager,
    Prometheus,
    WebhookReceiver,
    alertmanager_config,
    http_json,
    wait_until,
)

RULES_FILE = REPO / "rules" / "prometheus" / "fraudwatch-alerts.yml"
T0 = 1_795_996_800  # 2026-11-30T00:00:00Z; any fixed event time will do
EXPECTED_SEVERITY = {"voip_box": "warning", "harassment": "critical", "intl_fraud": "critical",
                     "sms_bombing": "critical", "optout_violation": "warning",
                     "sip_scan": "warning"}
SCORES = {"voip_box": 0.7, "harassment": 0.95, "intl_fraud": 0.92, "sms_bombing": 0.97,
          "optout_violation": 0.6, "sip_scan": 0.8}


# -- stand-in detectors: one threshold per kind ------------------------------------------
class StandIn(Detector):
    threshold = 1

    def __init__(self) -> None:  # no rule file needed
        self.rule = DetectionRule(rule=f"standin_{self.kind}", kind=self.kind,
                                  priority=EXPECTED_SEVERITY[self.kind],
                                  output="{n} events for {subject} from {counterparty}")
        self.seen: dict = defaultdict(set)

    def hit(self, subject, counterparty, t, key):
        self.seen[(subject, counterparty)].add(key)
        n = len(self.seen[(subject, counterparty)])
        if n >= self.threshold:
            return [self.alert(subject, counterparty, t, SCORES[self.kind], {"n": n})]
        return []


class VoipBox(StandIn):
    kind, threshold = "voip_box", 5

    def on_call(self, c):
        return self.hit(c.caller, None, c.time, c.callee) if c.caller_line == "residential" else []


class Harassment(StandIn):
    kind, threshold = "harassment", 4

    def on_call(self, c):
        return self.hit(c.callee, c.caller, c.time, c.time) if c.ingress == "domestic" else []


class IntlFraud(StandIn):
    kind = "intl_fraud"

    def on_call(self, c):
        return self.hit(c.caller, c.callee, c.time, c.time) if c.ingress == "international" \
            else []


class SmsBombing(StandIn):
    kind, threshold = "sms_bombing", 6

    def on_sms(self, s):
        return self.hit(s.recipient, None, s.time, s.sender) if s.text and "验证码" in s.text \
            else []


class OptoutViolation(StandIn):
    kind = "optout_violation"

    def __init__(self) -> None:
        super().__init__()
        self.optouts: set = set()

    def on_sms(self, s):
        if s.direction == "mo" and s.text == "TD":
            self.optouts.add((s.sender, s.recipient))
            return []
        if (s.recipient, s.sender) in self.optouts:
            return self.hit(s.recipient, s.sender, s.time, s.time)
        return []


class SipScan(StandIn):
    kind, threshold = "sip_scan", 5

    def on_registration(self, r):
        return self.hit(r.contact_ip, None, r.time, r.line) if r.status == 401 else []


STANDINS = (VoipBox, Harassment, IntlFraud, SmsBombing, OptoutViolation, SipScan)


def write_records(d: Path) -> set[str]:
    """Canonical CSV files that trigger each kind; returns every number/address in them."""
    calls = ["start,caller,callee,duration,disposition,ingress,caller_line"]
    t = T0
    for i in range(6):  # a residential line calling many callees briefly: VoIP box
        t += 10
        calls.append(f"{t},13700000001,1390000010{i},8,ANSWERED,access,residential")
    for _ in range(5):  # the same outsider calling one subscriber again and again
        t += 10
        calls.append(f"{t},02161234567,13812345678,0,NO ANSWER,domestic,")
    t += 10
    calls.append(f"{t},+85512345678,13811112222,40,ANSWERED,international,")
    for i in range(3):  # normal traffic
        t += 10
        calls.append(f"{t},1350000000{i},1360000000{i},120,ANSWERED,access,mobile")
    sms = ["time,sender,recipient,text,direction"]
    for i in range(8):
        t += 5
        sms.append(f"{t},106900000{i:02d},13822223333,【银行】验证码 12345{i},mt")
    t += 5
    sms.append(f"{t},13833334444,1065500001,TD,mo")
    t += 60
    sms.append(f"{t},1065500001,13833334444,双十一大促 回T退订,mt")
    regs = ["time,line,contact_ip,user_agent,status,expires"]
    for i in range(6):
        t += 1
        regs.append(f"{t},100{i},203.0.113.9,friendly-scanner,401,")
    t += 1
    regs.append(f"{t},13844445555,198.51.100.20,Yealink,200,3600")
    (d / "calls.csv").write_text("\n".join(calls) + "\n", encoding="utf-8")
    (d / "sms.csv").write_text("\n".join(sms) + "\n", encoding="utf-8")
    (d / "registrations.csv").write_text("\n".join(regs) + "\n", encoding="utf-8")
    clear = set()
    for line in calls[1:] + sms[1:] + regs[1:]:
        for value in line.split(",")[1:3]:
            if len(value) >= 7:  # short extensions (1001) would match unrelated digits
                clear.add(value)
    return clear


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """Webhook, Alertmanager, detector /metrics after a replay, Prometheus scraping it."""
    tmp = tmp_path_factory.mktemp("e2e")
    clear = write_records(tmp)
    webhook = WebhookReceiver()
    am = prom = server = outbox = None
    try:
        am = Alertmanager(tmp / "am", alertmanager_config(webhook.url)).start()
        pseudo = Pseudonymizer(b"e2e-secret")
        metrics = FraudwatchMetrics(pseudo, suspects_per_kind=5)
        server = metrics.serve(0)
        prom = Prometheus(tmp / "prom", [f"127.0.0.1:{server.server_port}"], [RULES_FILE],
                          alertmanager=am.url).start()
        outbox = Outbox(tmp / "outbox", AlertmanagerClient(am.url), pseudo).start()
        engine = Engine(RuleSet.load(), detectors=[cls() for cls in STANDINS])
        summary = replay([tmp / "calls.csv", tmp / "sms.csv", tmp / "registrations.csv"],
                         alerts_path=tmp / "alerts.jsonl", engine=engine, metrics=metrics,
                         on_alert=outbox.add)
        assert outbox.flush(10)
        yield {"tmp": tmp, "clear": clear, "webhook": webhook, "am": am, "prom": prom,
               "metrics": metrics, "port": server.server_port, "summary": summary,
               "pseudo": pseudo, "log": read_alerts(tmp / "alerts.jsonl")}
    finally:
        if outbox is not None:
            outbox.close()
        if prom is not None:
            prom.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        if am is not None:
            am.stop()
        webhook.close()


def test_replay_raised_one_alert_per_kind_with_pseudonym_in_log(stack):
    log = stack["log"]
    assert sorted(a.kind for a in log) == sorted(KINDS)
    for a in log:
        assert a.evidence["subject_pseudonym"] == stack["pseudo"](a.subject)


def test_prometheus_rules_fire_and_reach_the_webhook(stack):
    webhook = stack["webhook"]

    def fired():
        got = {a["labels"]["kind"]: a for a in webhook.alerts()
               if a["labels"]["alertname"].startswith("FraudSuspect")}
        return got if set(got) == set(KINDS) else None

    got = wait_until(fired, 30, what="a FraudSuspect* notification for every kind")
    by_kind = {a.kind: a for a in stack["log"]}
    for kind, note in got.items():
        assert note["labels"]["severity"] == EXPECTED_SEVERITY[kind], note
        assert note["labels"]["subject"] == by_kind[kind].evidence["subject_pseudonym"]
        assert note["annotations"]["runbook_url"] == f"docs/runbooks/{kind}.md"
        assert (REPO / note["annotations"]["runbook_url"]).exists()
        assert note["status"] == "firing"
        route = "/security" if kind == "sip_scan" else (
            "/antifraud/urgent" if EXPECTED_SEVERITY[kind] == "critical" else "/antifraud/cases")
        assert note["path"] == route, (kind, note["path"])


def test_direct_push_reaches_the_webhook_with_alert_ids(stack):
    webhook = stack["webhook"]
    ids = {a.id: a for a in stack["log"]}

    def pushed():
        got = {a["labels"]["fraudwatch_id"]: a for a in webhook.alerts()
               if a["labels"]["alertname"] == "FraudwatchDetection"}
        return got if set(got) >= set(ids) else None

    got = wait_until(pushed, 20, what="direct-push notifications")
    for aid, note in got.items():
        a = ids[aid]
        assert note["labels"]["kind"] == a.kind
        assert note["labels"]["severity"] == a.severity == EXPECTED_SEVERITY[a.kind]
        assert note["labels"]["subject"] == a.evidence["subject_pseudonym"]
    held = Counter(x["labels"]["fraudwatch_id"]
                   for x in stack["am"].alerts(alertname="FraudwatchDetection"))
    assert held == Counter({aid: 1 for aid in ids})


def test_no_clear_number_reaches_prometheus_alertmanager_or_receiver(stack):
    wait_until(lambda: len({a["labels"]["alertname"] for a in stack["webhook"].alerts()}) >= 7,
               30, what="notifications")
    texts = {
        "webhook": json.dumps(stack["webhook"].notifications, ensure_ascii=False),
        "alertmanager": json.dumps(stack["am"].alerts(), ensure_ascii=False),
        "prometheus alerts": json.dumps(stack["prom"].alerts(), ensure_ascii=False),
        "metrics": stack["metrics"].exposition(),
        "series": json.dumps(http_json(
            f"{stack['prom'].url}/api/v1/series?match[]=" + "%7B__name__%3D~%22fraudwatch_.%2A%22%7D"
        ), ensure_ascii=False),
    }
    for where, text in texts.items():
        leaked = sorted(n for n in stack["clear"] if n in text)
        assert not leaked, f"clear numbers in {where}: {leaked}"


def test_scraped_metrics_match_the_replay(stack):
    prom, summary = stack["prom"], stack["summary"]
    wait_until(lambda: prom.query("fraudwatch_records_total"), 15, what="first scrape")

    def value(expr):
        res = prom.query(expr)
        return float(res[0]["value"][1]) if res else None

    for kind in ("call", "sms", "registration"):
        wait_until(lambda k=kind: value(f'sum(fraudwatch_records_total{{kind="{k}"}})')
                   == summary.records[k], 10, what=f"{kind} records")
    assert value('sum(fraudwatch_alerts_total)') == len(stack["log"])
    assert value('fraudwatch_active_suspects{kind="sms_bombing"}') == 1
    assert value("fraudwatch_last_record_event_time_seconds") == summary.last_time


def promql_of_rules() -> list[str]:
    import yaml

    out = []
    for group in yaml.safe_load(RULES_FILE.read_text())["groups"]:
        for rule in group["rules"]:
            out.append(rule["expr"])
    return out


_COMPARISON = re.compile(r"\s*(>=|<=|==|!=|>|<)\s*[-+]?[\d.]+(e[-+]?\d+)?\s*$")


def test_every_rule_expression_returns_data(stack):
    """Each alerting rule's query, without its threshold, has data on a live detector."""
    prom = stack["prom"]
    wait_until(lambda: prom.query("fraudwatch_records_total"), 15, what="first scrape")
    empty = []
    for expr in promql_of_rules():
        query = _COMPARISON.sub("", expr)
        assert query != expr, f"rule has no trailing threshold: {expr}"
        # increase()/rate() need two scrapes inside the window: wait for them.
        try:
            wait_until(lambda q=query: prom.query(q), 10, what=query)
        except TimeoutError:
            empty.append(query)
    assert not empty, f"rule queries without data: {empty}"


def test_every_dashboard_query_returns_data(stack):
    """Each Grafana panel query (variables substituted) has data on a live detector."""
    from tests.test_dashboards_lint import dashboard_queries

    prom = stack["prom"]
    wait_until(lambda: prom.query("fraudwatch_records_total"), 15, what="first scrape")
    queries = dashboard_queries()
    assert len(queries) > 30
    empty = []
    for board, title, expr in queries:
        try:
            wait_until(lambda q=expr: prom.query(q), 10, what=expr)
        except TimeoutError:
            empty.append(f"{board} / {title}: {expr}")
    assert not empty, "dashboard queries without data:\n" + "\n".join(empty)
