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
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")


def run(args) -> int:
    summary = replay(args.paths, alerts_path=args.alerts, rules_dir=args.rules, kind=args.kind,
                     lateness=args.lateness, quarantine_path=args.quarantine, tz=args.tz,
                     mapping=parse_mapping(args.mapping), progress=not args.json)
    if args.json:
        print(json.dumps(summary.to_dict(), ensure_ascii=False))
    else:
        print_summary(summary, args.alerts)
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
