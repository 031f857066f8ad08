"""Benchmark: cost of metrics and alert delivery on the hot path.

    .venv/bin/python bench/bench_metrics.py [--subscribers 20000] [--days 3] [--append]

Measures (one core): replay records/s without and with :class:`FraudwatchMetrics`
(batched updates), the cost of one ``observe_alert``, /metrics exposition time with
the suspect table full, and Outbox ``add`` (journal append + fsync) per alert.
``--append`` adds the results to ``bench/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

from detector.alerts import KINDS, Alert  # noqa: E402
from detector.metrics import FraudwatchMetrics  # noqa: E402
from detector.suspects import Pseudonymizer  # noqa: E402
from fraudwatch.alertmanager import Outbox  # noqa: E402
from fraudwatch.replay import replay  # noqa: E402
from fraudwatch.simulate import simulate  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"


def best_of(n: int, fn) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def calibrate_memory() -> list[str]:
    """Detector state measured by tracemalloc against the metric's estimate."""
    import gc
    import tracemalloc

    from detector.engine import Engine

    points = []
    for subscribers in (1000, 4000):
        data = OUT / f"sim-{subscribers}-1-5"
        if not (data / "labels.json").exists():
            simulate(data, days=1, subscribers=subscribers, seed=5)
        files = [data / n for n in ("calls.csv", "sms.csv", "registrations.csv",
                                    "feedback.csv")]
        gc.collect()
        tracemalloc.start()
        engine = Engine()
        base = tracemalloc.get_traced_memory()[0]
        replay(files, engine=engine)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        m = FraudwatchMetrics()
        m.observe_engine(engine)
        tracked = sum(engine.tracked().values())
        points.append((subscribers, tracked, used, m.state_bytes._value.get()))
    (s1, t1, u1, _), (s2, t2, u2, _) = points
    out = [f"- detector state, {s} subscribers: {t:,} tracked numbers, {u / 1e6:.1f} MB measured "
           f"(tracemalloc), {e / 1e6:.1f} MB estimated" for s, t, u, e in points]
    out.append(f"- marginal state per tracked number: {(u2 - u1) / max(1, t2 - t1):,.0f} bytes")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--subscribers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    ap.add_argument("--memory", action="store_true",
                    help="also calibrate fraudwatch_state_memory_bytes against tracemalloc "
                         "(all detectors, 1k and 4k subscribers x 1 day; slow)")
    args = ap.parse_args()
    data = OUT / f"sim-{args.subscribers}-{args.days}-{args.seed}"
    if not (data / "labels.json").exists():
        simulate(data, days=args.days, subscribers=args.subscribers, seed=args.seed)
    files = [data / "calls.csv", data / "sms.csv", data / "registrations.csv"]
    lines = []

    # 1. replay without / with metrics (no detectors: isolates the metrics' own cost)
    n_records = 0

    def plain():
        nonlocal n_records
        n_records = replay(files, kinds=[]).total_records

    def metered():
        replay(files, kinds=[], metrics=FraudwatchMetrics())

    plain()  # warm caches
    # Interleaved, best of 4 each: other processes on the machine affect both alike.
    t_plain = t_metered = float("inf")
    for _ in range(4):
        t_plain = min(t_plain, best_of(1, plain))
        t_metered = min(t_metered, best_of(1, metered))
    lines.append(f"- replay {n_records:,} records, no detectors: {n_records / t_plain:,.0f} rec/s "
                 f"without metrics, {n_records / t_metered:,.0f} rec/s with metrics "
                 f"(overhead {100 * (t_metered / t_plain - 1):+.1f}%)")

    # 2. observe_alert
    m = FraudwatchMetrics(Pseudonymizer(b"k"), suspects_per_kind=20)
    alerts = [Alert(KINDS[i % 6], f"138{i:08d}", None, float(i), "warning", (i % 100) / 100, "r")
              for i in range(100_000)]
    t = best_of(3, lambda: [m.observe_alert(a) for a in alerts])
    lines.append(f"- observe_alert (pseudonym + counters + histogram + suspect table, 100k "
                 f"distinct subjects): {1e6 * t / len(alerts):.1f} µs per alert")

    # 3. exposition with 6 x 20 suspects
    samples = [best_of(1, m.exposition) for _ in range(20)]
    size = len(m.exposition())
    lines.append(f"- /metrics exposition with 120 suspect series: "
                 f"{1e3 * statistics.median(samples):.2f} ms, {size:,} bytes")

    # 4. outbox add: journal append + fsync per alert
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        box = Outbox(Path(tmp), None, Pseudonymizer(b"k"))
        sample = alerts[:500]
        t0 = time.perf_counter()
        for a in sample:
            box.add(a)
        t_add = time.perf_counter() - t0
        box.close()
        t1 = time.perf_counter()
        reloaded = Outbox(Path(tmp), None)
        t_load = time.perf_counter() - t1
        assert len(reloaded.pending) == len(sample)
        reloaded.close()
    lines.append(f"- Outbox.add, synchronous (append + fsync each): "
                 f"{1e3 * t_add / len(sample):.2f} ms per alert "
                 f"({len(sample) / t_add:,.0f} alerts/s); reload of {len(sample)} pending: "
                 f"{1e3 * t_load:.1f} ms")
    with tempfile.TemporaryDirectory(dir=OUT) as tmp:
        box = Outbox(Path(tmp), None, Pseudonymizer(b"k")).start()
        t0 = time.perf_counter()
        for a in alerts[:5000]:
            box.add(a)
        box.close()  # includes the final fsync
        t_group = time.perf_counter() - t0
    lines.append(f"- Outbox.add with the sender thread (group commit): "
                 f"{1e6 * t_group / 5000:.0f} µs per alert ({5000 / t_group:,.0f} alerts/s)")

    # 5. observe_batch itself (the replay calls it every 4096 records)
    from capture.quarantine import Quarantine
    from detector.engine import Engine
    from fraudwatch.replay import ReplaySummary

    eng = Engine(kinds=[])
    summ = ReplaySummary(inputs=[str(f) for f in files],
                         formats={str(f): "csv" for f in files})
    q = Quarantine()
    mb = FraudwatchMetrics()
    t = best_of(3, lambda: [mb.observe_batch(summ, eng, q) for _ in range(1000)])
    lines.append(f"- observe_batch: {1e3 * t:.1f} µs per call = "
                 f"{1e9 * t / 1000 / 4096:.1f} ns per record at one call per 4,096 records")

    if args.memory:
        lines.extend(calibrate_memory())

    head = (f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {platform.python_implementation()} "
            f"{platform.python_version()}, {platform.machine()}, "
            f"sim {args.subscribers:,} subscribers x {args.days} days")
    text = head + "\n" + "\n".join(lines) + "\n"
    print(text)
    if args.append:
        results = HERE / "RESULTS.md"
        section = "## Metrics and alert delivery (bench/bench_metrics.py)"
        existing = results.read_text(encoding="utf-8") if results.exists() else "# Benchmarks\n"
        if section not in existing:
            existing = existing.rstrip("\n") + f"\n\n{section}\n"
        # Append at the end of our own section (other sections may follow it).
        start = existing.index(section) + len(section)
        nxt = existing.find("\n## ", start)
        end = len(existing) if nxt < 0 else nxt
        updated = (existing[:end].rstrip("\n") + "\n\n" + text
                   + ("\n" + existing[end:].lstrip("\n") if nxt >= 0 else ""))
        results.write_text(updated, encoding="utf-8")


if __name__ == "__main__":
    main()
