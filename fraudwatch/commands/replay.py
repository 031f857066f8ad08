"""``fraudwatch replay``: run record files and captures through the detector."""

from __future__ import annotations

import json
import sys

from detector.alerts import iso
from fraudwatch.replay import ReplaySummary, parse_mapping, replay

RECORD_KINDS = ("call", "sms", "registration", "feedback")


def add_input_options(p) -> None:
    p.add_argument("paths", nargs="+", metavar="PATH",
                   help="record files (CSV, JSON Lines, Parquet, Asterisk Master.csv, "
                        "FreeSWITCH cdr-csv) or packet captures (pcap, pcapng)")
    p.add_argument("--kind", choices=RECORD_KINDS,
                   help="record kind of the inputs (default: detected from each file)")
    p.add_argument("--map", dest="mapping", metavar="COL=SRC,...|FILE.yaml",
                   help="map the file's columns onto the contract (e.g. "
                        "start=calldate,caller=src,callee=dst); numeric sources mean a "
                        "header-less file with columns by position")
    p.add_argument("--tz", default="UTC",
                   help="time zone of times without an offset (default UTC), e.g. Asia/Shanghai")


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="replay records or captures through the detector",
                       description="Replay record files and captures through every detector, "
                                   "in event-time order, and write the alerts.")
    add_input_options(p)
    p.add_argument("--alerts", default="alerts.jsonl", metavar="FILE",
                   help="alert log to write, JSON Lines (default: alerts.jsonl)")
    p.add_argument("--rules", metavar="DIR", help="rules directory (default: the built-in rules/)")
    p.add_argument("--quarantine", metavar="FILE",
                   help="where rejected rows go (default: beside the alert log)")
    p.add_argument("--lateness", metavar="DURATION",
                   help="allowed out-of-order lateness, e.g. 2h (default from rules/settings.yaml)")
    p.add_argument("--reranker", metavar="FILE",
                   help="re-ranker checkpoint: loaded if present, saved after the run (it "
                        "learns from confirmed/dismissed feedback records)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.add_argument("--per-record", action="store_true",
                   help="run canonical CSV one record at a time instead of in columns (same "
                        "alerts, 2-3x slower; for checking the columnar path)")
    p.add_argument("--report", metavar="FILE",
                   help="also write a self-contained HTML investigation report")
    p.add_argument("--report-mask", action="store_true",
                   help="mask phone numbers in the report (138****5678)")
    add_alerting_options(p)


def add_alerting_options(p) -> None:
    g = p.add_argument_group("metrics and alert delivery")
    g.add_argument("--metrics-port", type=int, metavar="PORT",
                   help="serve Prometheus /metrics on 127.0.0.1:PORT while replaying "
                        "(0: any free port, printed on stderr)")
    g.add_argument("--metrics-address", default="127.0.0.1", metavar="ADDR",
                   help="address to serve /metrics on (default 127.0.0.1)")
    g.add_argument("--metrics-linger", type=float, default=0.0, metavar="SECONDS",
                   help="keep serving /metrics this long after the replay ends, so "
                        "Prometheus can scrape the final state")
    g.add_argument("--alertmanager", metavar="URL",
                   help="push each alert at once to this Alertmanager (v2 API), "
                        "e.g. http://127.0.0.1:9093")
    g.add_argument("--outbox", metavar="DIR",
                   help="durable outbox for Alertmanager delivery (default: beside the "
                        "alert log); undelivered alerts are resent on the next run")
    g.add_argument("--pseudonym-key-file", metavar="FILE",
                   help="secret key naming subjects in metrics and Alertmanager labels "
                        "(HMAC-SHA256); default $FRAUDWATCH_PSEUDONYM_KEY or a random key")
    g.add_argument("--pseudonym-mode", choices=("hmac", "mask"), default="hmac",
                   help="how subjects are named outside the alert log: keyed pseudonym "
                        "(ps_3f9a1c2b4d5e, default) or masked number (138****5678)")
    g.add_argument("--suspects-per-kind", type=int, default=20, metavar="N",
                   help="at most N active suspects per kind in fraudwatch_suspect_score")
    g.add_argument("--suspect-expiry", default="6h", metavar="DURATION",
                   help="drop a suspect after this much event time without a new alert "
                        "(default 6h)")


def run(args) -> int:
    delivery = AlertDelivery.from_args(args)
    store = None
    if getattr(args, "report", None):
        from fraudwatch.report.store import RecordStore

        store = RecordStore()
    try:
        summary = replay(args.paths, alerts_path=args.alerts, rules_dir=args.rules,
                         kind=args.kind, lateness=args.lateness,
                         quarantine_path=args.quarantine, tz=args.tz,
                         mapping=parse_mapping(args.mapping), progress=not args.json,
                         metrics=delivery.metrics, on_alert=delivery.on_alert,
                         on_record=store.add if store is not None else None,
                         reranker_path=args.reranker, columnar=not args.per_record)
        delivery.finish()
        if store is not None:
            from fraudwatch.report import render_summary

            render_summary(summary, store, args.report, mask=args.report_mask,
                           rules_dir=args.rules)
        if args.json:
            print(json.dumps(summary.to_dict(), ensure_ascii=False), flush=True)
        else:
            print_summary(summary, args.alerts)
            sys.stdout.flush()
        delivery.linger_on()
    finally:
        delivery.close()
    return 0


def print_summary(s: ReplaySummary, alerts_path: str | None, out=sys.stdout) -> None:
    w = out.write
    w(f"inputs        {len(s.inputs)}: " + ", ".join(f"{p} ({s.formats[p]})" for p in s.inputs)
      + "\n")
    span = f"{iso(s.first_time)} .. {iso(s.last_time)}" if s.first_time else "-"
    w(f"event time    {span}\n")
    w(f"records       {s.total_records:,} in {s.elapsed:.2f} s ({s.records_per_s:,.0f} records/s)\n")
    for k in RECORD_KINDS:
        if s.records.get(k):
            w(f"  {k:<12}{s.records[k]:>12,}\n")
    nq = sum(s.quarantined.values())
    w(f"quarantined   {nq:,}" + (f" -> {s.quarantine_path}" if s.quarantine_path else "") + "\n")
    for reason, n in s.quarantined.most_common(10):
        w(f"  {n:>8,}  {reason}\n")
    if s.malformed:
        w(f"malformed     {sum(s.malformed.values()):,} (capture)\n")
        for reason, n in s.malformed.most_common(10):
            w(f"  {n:>8,}  {reason}\n")
    if s.late:
        w(f"late records  {s.late:,} (beyond the allowed lateness; processed out of order)\n")
    if s.sip:
        reqs = ", ".join(f"{k[7:]} {v}" for k, v in sorted(s.sip.items()) if k.startswith("method:"))
        resp = ", ".join(f"{k[7:]} {v}" for k, v in sorted(s.sip.items()) if k.startswith("status:"))
        w(f"SIP requests  {reqs or '-'}\nSIP responses {resp or '-'}\n")
    counts = s.alert_counts()
    w(f"alerts        {len(s.alerts):,}" + (f" -> {alerts_path}" if alerts_path else "") + "\n")
    if counts:
        w(f"  {'kind':<18}{'critical':>9}{'warning':>9}{'info':>9}\n")
        for kind in sorted({k for k, _ in counts}):
            w(f"  {kind:<18}" + "".join(f"{counts.get((kind, sev), 0):>9,}"
                                        for sev in ("critical", "warning", "info")) + "\n")


class AlertDelivery:
    """Metrics server and Alertmanager outbox of one replay (all optional)."""

    def __init__(self) -> None:
        self.metrics = None
        self.outbox = None
        self.server = None
        self.linger = 0.0

    @classmethod
    def from_args(cls, args) -> AlertDelivery:
        from pathlib import Path

        from fraudwatch.errors import UserError

        d = cls()
        port = getattr(args, "metrics_port", None)
        am_url = getattr(args, "alertmanager", None)
        outbox_dir = getattr(args, "outbox", None)
        if port is None and not am_url and not outbox_dir:
            return d
        from detector.metrics import FraudwatchMetrics
        from detector.rulefiles import parse_duration
        from detector.suspects import Pseudonymizer

        try:
            pseudo = Pseudonymizer.from_key_file(getattr(args, "pseudonym_key_file", None),
                                                 getattr(args, "pseudonym_mode", "hmac"))
        except (OSError, ValueError) as e:
            raise UserError(f"--pseudonym-key-file: {e}") from None
        per_kind = getattr(args, "suspects_per_kind", 20)
        if per_kind < 0:
            raise UserError(f"--suspects-per-kind must be >= 0, not {per_kind}")
        try:
            expiry = parse_duration(getattr(args, "suspect_expiry", "6h"))
        except ValueError:
            raise UserError(f"--suspect-expiry: not a duration: {args.suspect_expiry!r}") \
                from None
        d.metrics = FraudwatchMetrics(pseudo, suspects_per_kind=per_kind, suspect_ttl=expiry)
        d.linger = max(0.0, float(getattr(args, "metrics_linger", 0.0) or 0.0))
        if port is not None:
            if not 0 <= port <= 65535:
                raise UserError(f"--metrics-port must be 0..65535, not {port}")
            try:
                d.server = d.metrics.serve(port, args.metrics_address)
            except OSError as e:
                raise UserError(f"--metrics-port {port}: {e.strerror or e}") from None
            print(f"metrics on http://{args.metrics_address}:{d.server.server_port}/metrics",
                  file=sys.stderr, flush=True)
        if am_url or outbox_dir:
            from fraudwatch.alertmanager import AlertmanagerClient, Outbox

            if am_url and not am_url.startswith(("http://", "https://")):
                raise UserError(f"--alertmanager expects an http(s) URL, not {am_url!r}")
            directory = Path(outbox_dir) if outbox_dir else \
                Path(args.alerts).with_suffix(".outbox")
            try:
                d.outbox = Outbox(directory, AlertmanagerClient(am_url) if am_url else None,
                                  pseudo)
            except OSError as e:
                raise UserError(f"--outbox {directory}: {e.strerror or e}") from None
            if am_url:
                d.outbox.start()
        return d

    def on_alert(self, alert) -> None:
        """After the caller wrote the alert to its log: queue it for Alertmanager."""
        if self.outbox is not None:
            self.outbox.add(alert)  # journalled (flushed; fsync by the sender thread)
        if self.metrics is not None:
            # The alert is in the alert log (serve flushes it per alert; a replay's log
            # is re-created by re-running the replay) and, if configured, the outbox.
            self.metrics.checkpointed()

    def finish(self) -> None:
        if self.metrics is not None:
            self.metrics.checkpointed()  # the alert log is closed (complete) by now
        if self.outbox is not None and self.outbox.client is not None:
            if not self.outbox.flush(timeout=max(5.0, self.linger)):
                print(f"alertmanager: {len(self.outbox.pending)} alert(s) not delivered yet; "
                      f"kept in {self.outbox.dir} for the next run", file=sys.stderr)

    def linger_on(self) -> None:
        """Keep /metrics up after the replay so Prometheus scrapes the final state."""
        import time

        if self.server is not None and self.linger > 0:
            time.sleep(self.linger)

    def close(self) -> None:
        if self.outbox is not None:
            self.outbox.close()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
