"""Benchmark: CSV replay of >= 1,000,000 call records with all detectors on (one core).

    taskset -c 1 .venv/bin/python bench/bench_replay.py [--subscribers 28000] [--days 7]
        [--all-files] [--per-record] [--compare] [--profile] [--breakdown]

Simulates the input once (cached under bench/out/), then replays ``calls.csv`` through
every enabled detector and prints records/s (wall time of the replay loop, and the
process's CPU time for it). ``--per-record`` takes the one-record-at-a-time path,
``--compare`` runs both and checks they raise the same alerts. Pin it to one core with
``taskset`` (polars would otherwise use a second thread for parts of the reading).
``--breakdown`` replays the file with no detector, with each detector alone and with
all of them, and prints what each adds to the no-detector time (reading, checking and
ordering the records): where the time goes, and how far the goal is from that floor.
It also prints a yardstick (a fixed pure-Python loop) to set the rate against the
machine of the moment. Goal (issue 2): >= 300,000 records/s on one core.
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


def yardstick(steps: int = 10_000_000) -> float:
    """Seconds a fixed pure-Python loop takes: the replay's rate only compares across
    machines (or moments of a shared one) next to it.

    >>> yardstick(1000) > 0
    True
    """
    t = time.perf_counter()
    total = 0
    for i in range(steps):
        total += i
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=28_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=101)
    ap.add_argument("--kinds", help="comma-separated detector kinds (default: all enabled)")
    ap.add_argument("--all-files", action="store_true", help="replay sms/registrations too")
    ap.add_argument("--per-record", action="store_true", help="the one-record-at-a-time path")
    ap.add_argument("--compare", action="store_true", help="both paths, same alerts?")
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--breakdown", action="store_true",
                    help="no detector, each alone, all: seconds each adds to the floor")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of --breakdown")
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
    print(f"python {platform.python_version()} on {platform.machine()}, "
          f"{os.cpu_count()} cores, affinity {sorted(os.sched_getaffinity(0))}")
    print(f"inputs: {', '.join(p.name for p in inputs)}")
    print(f"yardstick: a 10M-step Python loop takes {yardstick():.2f} s on this core now")
    if args.breakdown:
        breakdown(inputs, data, args.rounds)
        return
    modes = [False, True] if args.compare else [not args.per_record]
    alerts = {}
    for columnar in modes:
        prof = cProfile.Profile() if args.profile else None
        if prof:
            prof.enable()
        cpu = time.process_time()
        s = replay(inputs, alerts_path=data / "alerts.jsonl", kinds=kinds, columnar=columnar)
        cpu = time.process_time() - cpu
        if prof:
            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(20)
        alerts[columnar] = [a.to_dict() for a in s.alerts]
        name = "columnar" if columnar else "per-record"
        print(f"{name}: records {s.total_records:,} ({dict(s.records)}), alerts {len(s.alerts):,}")
        print(f"{name}: elapsed {s.elapsed:.2f} s -> {s.records_per_s:,.0f} records/s "
              f"(process CPU incl. set-up {cpu:.2f} s)")
    if args.compare:
        print(f"same alerts both ways: {alerts[True] == alerts[False]}")


def breakdown(inputs: list[Path], data: Path, rounds: int = 3) -> None:
    """The columnar replay with no detector (the floor), each enabled detector alone and
    all of them; what each adds to the floor. Detectors share the reading and ordering,
    so the parts need not add up to the whole. A shared machine's times swing from run
    to run: one untimed run first (caches, first polars calls), then ``rounds`` rounds
    of every configuration in turn, and the fastest run of each."""
    from detector.engine import Engine

    every = [d.kind for d in Engine().detectors]
    configs = [("no detector", []), *((k, [k]) for k in every), ("all", None)]
    replay(inputs, alerts_path=data / "alerts.jsonl", kinds=[])
    best: dict[str, float] = {}
    alerts: dict[str, set[int]] = {}
    total = 0
    for _ in range(rounds):
        for label, kinds in configs:
            s = replay(inputs, alerts_path=data / "alerts.jsonl", kinds=kinds)
            best[label] = min(best.get(label, float("inf")), s.elapsed)
            alerts.setdefault(label, set()).add(len(s.alerts))
            total = s.total_records
    floor = best["no detector"]
    for label, _ in configs:
        added = "" if label == "no detector" else f", +{best[label] - floor:.2f} s over the floor"
        counts = "/".join(f"{n:,}" for n in sorted(alerts[label]))
        print(f"{label:>16}: {best[label]:6.2f} s, {total / best[label]:9,.0f} records/s, "
              f"{counts:>5} alerts{added}")
    goal = total / 300_000
    print(f"fastest of {rounds} rounds; 300,000 records/s for these {total:,} records: "
          f"{goal:.2f} s in all, {goal - floor:.2f} s for the detectors above the floor")


if __name__ == "__main__":
    main()
