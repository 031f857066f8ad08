"""Benchmark: the investigation report for a simulated week of 20,000 subscribers.

Run on demand (not part of the test suite):

    .venv/bin/python bench/bench_report.py                  # simulate, then report
    .venv/bin/python bench/bench_report.py --data DIR       # an existing simulation
    .venv/bin/python bench/bench_report.py --stand-ins      # with the tests' stand-in detectors
    .venv/bin/python bench/bench_report.py --append         # add the result to bench/RESULTS.md

Goal: the report renders in under a minute. Measured: replay with the record store
(``on_record``), selection of the alerts' subjects, page rendering, and the peak RSS.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="directory of a simulation (calls.csv, ...)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--subscribers", type=int, default=20000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--stand-ins", action="store_true",
                    help="use the tests' stand-in detectors (when the real ones are absent)")
    ap.add_argument("--mask", action="store_true")
    ap.add_argument("--out", type=Path, help="report file (default: a temporary file)")
    ap.add_argument("--append", action="store_true", help="append the result to bench/RESULTS.md")
    args = ap.parse_args()

    from fraudwatch.cli import main as cli
    from fraudwatch.report import build_report

    tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
    data = args.data
    sim_s = 0.0
    if data is None:
        data = tmp / "sim"
        t = time.perf_counter()
        cli(["simulate", "--out", str(data), "--days", str(args.days), "--subscribers",
             str(args.subscribers), "--seed", str(args.seed), "--quiet"])
        sim_s = time.perf_counter() - t
    inputs = sorted(data.glob("*.csv"))
    engine = None
    if args.stand_ins:
        from tests.report_support import stand_in_engine

        engine = stand_in_engine()
    out = args.out or tmp / "report.html"
    t = time.perf_counter()
    result = build_report(inputs, out, mask=args.mask, engine=engine)
    total = time.perf_counter() - t
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    s, tm = result.summary, result.timings
    detectors = "stand-ins" if args.stand_ins else "installed detectors"
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(
        {a.kind: sum(1 for b in s.alerts if b.kind == a.kind) for a in s.alerts}.items()))
    lines = [
        f"- {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {platform.python_version()}, "
        f"{data.name} ({args.days} d x {args.subscribers:,} subscribers, seed {args.seed}), "
        f"{detectors}{', masked' if args.mask else ''}; load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        f"  - records {s.total_records:,}; alerts {len(s.alerts):,} ({kinds or 'none'})",
        f"  - replay+store {tm['replay']:.1f} s, select {tm['select']:.2f} s, "
        f"render {tm['render']:.1f} s, write {tm['write']:.2f} s; "
        f"**total {total:.1f} s** (goal < 60 s)",
        f"  - report {out.stat().st_size / 1e6:.1f} MB; peak RSS {rss_mb:,.0f} MB"
        + (f"; simulate {sim_s:.1f} s (not counted)" if sim_s else ""),
    ]
    print("\n".join(lines))
    if args.append:
        results = ROOT / "bench" / "RESULTS.md"
        text = results.read_text(encoding="utf-8") if results.exists() else "# Benchmarks\n"
        heading = "## Investigation report (bench/bench_report.py)"
        if heading not in text:
            text = text.rstrip("\n") + f"\n\n{heading}\n\n"
        # add under our own heading, before the next one
        head, _, rest = text.partition(heading)
        body, sep, tail = rest.partition("\n## ")
        body = body.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
        text = head + heading + body + ("\n" + sep.lstrip("\n") + tail if sep else "")
        results.write_text(text, encoding="utf-8")
    return 0 if total < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
