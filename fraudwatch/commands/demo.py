"""``fraudwatch demo``: simulate a day of an operator, replay it, show alerts and quality.

Runs from a fresh install with no arguments and no network: everything it needs is made
by the simulator. ``/metrics`` is served on loopback while it runs.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from detector.alerts import SEVERITY_RANK, Alert, iso
from fraudwatch.commands.replay import print_summary
from fraudwatch.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="simulate a day with labelled fraud, detect it, score it",
                       description="Simulate an operator's traffic with labelled fraud "
                                   "scenarios, replay it through every detector while serving "
                                   "/metrics, print the alerts and how well they match the "
                                   "ground truth.")
    p.add_argument("--subscribers", type=int, default=5000)
    p.add_argument("--days", type=int, default=1)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", metavar="DIR",
                   help="keep the simulated files and alerts here (default: a temporary dir)")
    p.add_argument("--metrics-port", type=int, default=9108, metavar="PORT",
                   help="serve /metrics on 127.0.0.1:PORT while running (default 9108; "
                        "a free port if taken; -1 to disable)")
    p.add_argument("--linger", type=float, default=0.0, metavar="SECONDS",
                   help="keep /metrics up this long after the run")
    p.add_argument("--top", type=int, default=15, help="how many alerts to list")


def run(args) -> int:
    if args.subscribers < 100 or args.days < 1:
        raise UserError("--subscribers must be >= 100 and --days >= 1")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        return _demo(args, out)
    with tempfile.TemporaryDirectory(prefix="fraudwatch-demo-") as tmp:
        return _demo(args, Path(tmp))


def _demo(args, out: Path) -> int:
    from detector.metrics import FraudwatchMetrics
    from detector.suspects import Pseudonymizer
    from fraudwatch.evaluate import evaluate_files, format_table
    from fraudwatch.replay import replay
    from fraudwatch.simulate import simulate

    say = print
    metrics = FraudwatchMetrics(Pseudonymizer.from_key_file(None))
    server = None
    if args.metrics_port >= 0:
        try:
            server = metrics.serve(args.metrics_port)
        except OSError:
            server = metrics.serve(0)  # the usual port is taken: any free one will do
        say(f"metrics   http://127.0.0.1:{server.server_port}/metrics")
    try:
        t0 = time.perf_counter()
        say(f"simulate  {args.subscribers:,} subscribers, {args.days} day(s), seed {args.seed} "
            f"-> {out}")
        simulate(out, days=args.days, subscribers=args.subscribers, seed=args.seed)
        say(f"          done in {time.perf_counter() - t0:.1f} s")
        inputs = [p for p in (out / "calls.csv", out / "sms.csv", out / "registrations.csv",
                              out / "feedback.csv") if p.exists()]
        alerts_path = out / "alerts.jsonl"
        say("replay    " + " ".join(p.name for p in inputs))
        summary = replay(inputs, alerts_path=alerts_path, metrics=metrics,
                         progress=sys.stderr.isatty())
        print_summary(summary, str(alerts_path))
        say("")
        _alerts_table(summary.alerts, args.top)
        say("")
        say("evaluation against the simulator's ground truth (labels.json)")
        say(format_table(evaluate_files(out / "labels.json", alerts_path)))
        if args.linger > 0 and server is not None:
            say(f"\nserving /metrics for {args.linger:g} s more")
            time.sleep(args.linger)
    finally:
        if server is not None:
            server.shutdown()
    return 0


def _alerts_table(alerts: list[Alert], top: int) -> None:
    if not alerts:
        print("no alerts")
        return
    ranked = sorted(alerts, key=lambda a: (-SEVERITY_RANK[a.severity], a.time))[:top]
    print(f"top {len(ranked)} of {len(alerts):,} alerts (most severe first)")
    print(f"{'time (UTC)':<21}{'kind':<18}{'severity':<10}{'subject':<17}{'counterparty':<16}"
          "reason")
    for a in ranked:
        reason = a.reason if len(a.reason) <= 70 else a.reason[:67] + "..."
        print(f"{iso(a.time)[:19]:<21}{a.kind:<18}{a.severity:<10}{a.subject[:16]:<17}"
              f"{(a.counterparty or '-')[:15]:<16}{reason}")
