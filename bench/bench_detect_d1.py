"""Benchmark of the voip_box and harassment detectors: records/s on one core, and memory
per 10,000 tracked numbers (tracemalloc). Run on demand, not in CI:

    .venv/bin/python bench/bench_detect_d1.py [--subscribers 10000 --days 3] [--record]

``--record`` appends the results to bench/RESULTS.md under the D1 heading.
"""

from __future__ import annotations

import argparse
import gc
import platform
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.harassment import Harassment  # noqa: E402
from detector.records import Call, Feedback, Registration  # noqa: E402
from detector.rulefiles import RuleSet  # noqa: E402
from detector.voip_box import VoipBox  # noqa: E402
from fraudwatch.replay import open_records  # noqa: E402
from fraudwatch.simulate import simulate  # noqa: E402

HANDLERS = {Call: "on_call", Registration: "on_registration", Feedback: "on_feedback"}


def throughput(cls, records: list, rules: RuleSet) -> tuple[float, int, int]:
    """Records/s of one detector over time-ordered records (engine overhead excluded)."""
    det = cls(rules)
    handlers = [getattr(det, HANDLERS[type(r)]) for r in records]
    gc.collect()
    alerts, next_expiry = 0, float("-inf")
    t0 = time.perf_counter()
    for r, h in zip(records, handlers, strict=True):
        if r.time >= next_expiry:
            det.expire(r.time)
            next_expiry = r.time + 3600
        alerts += len(h(r))
    elapsed = time.perf_counter() - t0
    return len(records) / elapsed, alerts, det.tracked()


def memory_per_10k(kind: str, rules: RuleSet, n: int = 10_000,
                   calls: int = 2) -> tuple[float, float, float]:
    """Bytes per 10,000 tracked numbers, each with a typical small history: all of it, and
    without the numbering plan's classification cache (shared, bounded, not per number)."""
    det = VoipBox(rules) if kind == "voip_box" else Harassment(rules)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    t = 1_793_548_800.0
    for i in range(n):
        number = f"021{i:08d}"
        if kind == "voip_box":
            # a household line: a registration and three calls over the day
            det.on_registration(Registration(time=t + i * 0.01, line=number,
                                             contact_ip=f"58.32.{i % 250}.{i % 200 + 1}",
                                             user_agent="ZTE ZXHN F660", status=200))
            for k in range(3):
                det.on_call(Call(start=t + i * 0.01 + 3600 * k, caller=number,
                                 callee=f"138{i:04d}{k:04d}", duration=60.0, ingress="access",
                                 caller_line="residential", user_agent="ZTE ZXHN F660",
                                 src_ip=f"58.32.{i % 250}.{i % 200 + 1}", call_id=f"c{i}-{k}"))
        else:
            # a subscriber who missed ``calls`` calls from the same unknown number
            for k in range(calls):
                det.on_call(Call(start=t + i * 0.01 + 600 * k, caller=f"139{i:08d}",
                                 callee=number, disposition="NO ANSWER", ingress="domestic",
                                 call_id=f"c{i}-{k}"))
    used = tracemalloc.get_traced_memory()[0] - before
    det.plan.classify.cache_clear()
    gc.collect()
    state = tracemalloc.get_traced_memory()[0] - before
    assert det.tracked() == n, det.tracked()
    det.expire(t + 86400.0)  # a day later: windows idle, histories kept
    gc.collect()
    idle = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert det.tracked() == n or kind == "harassment", det.tracked()
    return used * 10_000 / n, state * 10_000 / n, idle * 10_000 / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--subscribers", type=int, default=10_000)
    ap.add_argument("--days", type=int, default=3)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--record", action="store_true")
    args = ap.parse_args()
    rules = RuleSet.load()
    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate(tmp, days=args.days, subscribers=args.subscribers, seed=args.seed)
        records: list = []
        for name in ("calls.csv", "registrations.csv", "feedback.csv"):
            records.extend(open_records(Path(tmp) / name))
    records.sort(key=lambda r: r.time)
    lines = []
    for cls in (VoipBox, Harassment):
        rate, alerts, tracked = throughput(cls, records, rules)
        lines.append(f"- {cls.kind}: {rate:,.0f} records/s over {len(records):,} call, "
                     f"registration and feedback records ({alerts} alerts before de-duplication, "
                     f"{tracked:,} numbers tracked at the end)")
    for kind, calls in (("voip_box", 3), ("harassment", 1), ("harassment", 2)):
        total, state, idle = (b / 1e6 for b in memory_per_10k(kind, rules, calls=calls))
        what = (f"{calls} missed call(s) from one number each" if kind == "harassment"
                else "a registration and 3 calls each")
        lines.append(f"- {kind} ({what}): {state:.1f} MB per 10,000 tracked numbers of "
                     f"per-number state "
                     f"(tracemalloc, {state * 100:.0f} bytes each); {total:.1f} MB with the "
                     f"numbering plan's classification cache of their counterparts"
                     + (f"; {idle:.1f} MB a day later, after the idle sweep (history kept)"
                        if kind == "voip_box" else ""))
    head = (f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — CPython {platform.python_version()}, "
            f"sim {args.subscribers:,} subscribers x {args.days} days "
            f"({sum(sim.rows.values()):,} rows), `bench/bench_detect_d1.py`")
    text = "\n".join([head, *lines])
    print(text)
    if args.record:
        path = Path(__file__).resolve().parent / "RESULTS.md"
        body = path.read_text(encoding="utf-8")
        heading = "## Detection D1: voip_box, harassment (bench/bench_detect_d1.py)"
        if heading not in body:
            body = body.rstrip("\n") + f"\n\n{heading}\n"
        # append at the end of our own section, before the next "## " heading
        start = body.index(heading) + len(heading)
        nxt = body.find("\n## ", start)
        end = len(body) if nxt < 0 else nxt
        body = body[:end].rstrip("\n") + "\n\n" + text + "\n" + body[end:]
        path.write_text(body, encoding="utf-8")


if __name__ == "__main__":
    main()
