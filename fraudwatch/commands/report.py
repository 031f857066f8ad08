"""``fraudwatch report``: replay inputs and write a self-contained HTML investigation report."""

from __future__ import annotations

import sys

from fraudwatch.commands.replay import add_input_options
from fraudwatch.replay import parse_mapping


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="replay inputs and write an HTML investigation report",
                       description="Replay record files and captures through every detector "
                                   "and write one self-contained HTML file: summary, alerts "
                                   "table, per-alert timelines, records, SIP ladders and a "
                                   "map of international origins.")
    add_input_options(p)
    p.add_argument("--out", default="report.html", metavar="FILE",
                   help="HTML file to write (default: report.html)")
    p.add_argument("--mask", action="store_true",
                   help="mask phone numbers (138****5678); default: in clear, the report "
                        "being the operator's own file")
    p.add_argument("--rules", metavar="DIR", help="rules directory (default: the built-in rules/)")
    p.add_argument("--alerts", metavar="FILE", help="also write the alerts (JSON Lines)")
    p.add_argument("--quarantine", metavar="FILE",
                   help="where rejected rows go (default: beside the report)")
    p.add_argument("--lateness", metavar="DURATION",
                   help="allowed out-of-order lateness, e.g. 2h (default from rules/settings.yaml)")


def run(args) -> int:
    from fraudwatch.report import build_report

    result = build_report(args.paths, args.out, mask=args.mask, rules_dir=args.rules,
                          kind=args.kind, alerts_path=args.alerts,
                          quarantine_path=args.quarantine, lateness=args.lateness, tz=args.tz,
                          mapping=parse_mapping(args.mapping))
    s = result.summary
    t = result.timings
    print(f"report        {result.path} ({result.path.stat().st_size / 1e6:.1f} MB)\n"
          f"records       {s.total_records:,}, quarantined {sum(s.quarantined.values()):,}\n"
          f"alerts        {len(s.alerts):,}\n"
          f"time          replay {t.get('replay', 0):.1f} s, render {t.get('render', 0):.1f} s",
          file=sys.stdout)
    for note in result.data.notes:
        print(f"note          {note}", file=sys.stdout)
    return 0
