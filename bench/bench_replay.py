"""Benchmark: CSV replay of >= 1,000,000 call records with all detectors on (one core).

    .venv/bin/python bench/bench_replay.py [--subscribers 25000] [--days 7] [--profile]

Simulates the input once (cached under bench/out/), then replays ``calls.csv`` through
every enabled detector and prints records/s. Goal (issue 2): >= 300,000 records/s.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import time
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

from fraudwatch.replay import replay  # noqa: E402
from fraudwatch.simulate import simulate  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=28_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--kinds", help="comma-separated detector kinds (default: all enabled)")
    ap.add_argument("--all-files", action="store_true", help="replay sms/registrations too")
    ap.add_argument("--profile", action="store_true")
    args = ap.parse_args()
    data = OUT / f"sim-{args.subscribers}-{args.days}-{args.seed}"
    if not (data / "labels.json").exists():
        t = time.perf_counter()
        simulate(data, days=args.days, subscribers=args.subscribers, seed=args.seed)
        print(f"simulated in {time.perf_counter() - t:.1f} s -> {data}")
    inputs = [data / "calls.csv"]
    if args.all_files:
        inputs += [data / "sms.csv", data / "registrations.csv", data / "feedback.csv"]
    kinds = [k for k in args.kinds.split(",") if k] if args.kinds is not None else None
    prof = cProfile.Profile() if args.profile else None
    if prof:
        prof.enable()
    s = replay(inputs, alerts_path=data / "alerts.jsonl", kinds=kinds)
    if prof:
        prof.disable()
        pstats.Stats(prof).sort_stats("tottime").print_stats(20)
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} cores (single-threaded replay)")
    print(f"inputs: {', '.join(p.name for p in inputs)}")
    print(f"records {s.total_records:,} ({dict(s.records)}), alerts {len(s.alerts):,}")
    print(f"elapsed {s.elapsed:.2f} s -> {s.records_per_s:,.0f} records/s")


if __name__ == "__main__":
    main()
