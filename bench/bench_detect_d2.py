"""Benchmark: intl_fraud, sms_bombing, optout_violation, sip_scan — speed and memory.

    .venv/bin/python bench/bench_detect_d2.py [--data DIR] [--subscribers 20000] [--days 7]

1. Handler cost: the simulation's records are read once into memory, sorted by event
   time, and fed to each detector's handlers directly (no parsing, no engine), then
   through the Engine with the four kinds and with none: records/s on one core.
2. Memory: tracemalloc of the state each detector keeps for 10,000 tracked numbers, built
   from realistic per-number histories (a few calls / codes / attempts each).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import time
import tracemalloc
from pathlib import Path

os.environ.setdefault("POLARS_MAX_THREADS", "1")

from detector.engine import Engine  # noqa: E402
from detector.intl_fraud import IntlFraud  # noqa: E402
from detector.optout_violation import OptoutViolation  # noqa: E402
from detector.records import Call, Registration, Sms  # noqa: E402
from detector.rulefiles import RuleSet  # noqa: E402
from detector.sip_scan import SipScan  # noqa: E402
from detector.sms_bombing import SmsBombing  # noqa: E402
from fraudwatch.replay import open_records  # noqa: E402
from fraudwatch.simulate import simulate  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
KINDS = ("intl_fraud", "sms_bombing", "optout_violation", "sip_scan")
DETECTORS = (IntlFraud, SmsBombing, OptoutViolation, SipScan)
HANDLERS = {Call: "on_call", Sms: "on_sms", Registration: "on_registration"}


def load(data: Path) -> list:
    records = []
    for name in ("calls.csv", "sms.csv", "registrations.csv"):
        records.extend(open_records(data / name))
    records.sort(key=lambda r: r.time)
    return records


def handler_speed(records: list, rules: RuleSet) -> None:
    print(f"{len(records):,} records in memory (calls, sms, registrations)")
    for cls in DETECTORS:
        det = cls(rules)
        handlers = {t: getattr(det, m) for t, m in HANDLERS.items() if det.handles(m)}
        mine = [r for r in records if type(r) in handlers]
        t0 = time.perf_counter()
        alerts = 0
        for r in mine:
            alerts += len(handlers[type(r)](r))
        dt = time.perf_counter() - t0
        print(f"  {det.kind:<18} {len(mine):>10,} records  {len(mine) / dt:>12,.0f} rec/s  "
              f"{dt / len(mine) * 1e6:6.2f} us/rec  ({alerts} findings)")
    for kinds in ((), KINDS):
        eng = Engine(rules, kinds=list(kinds))
        t0 = time.perf_counter()
        for r in records:
            eng.push(r)
        eng.flush()
        dt = time.perf_counter() - t0
        print(f"  engine {'+'.join(kinds) or '(no detectors)':<60} "
              f"{len(records) / dt:>10,.0f} rec/s")


def measure(build) -> tuple[int, float]:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    det = build()
    gc.collect()
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return det.tracked(), grown


def memory(rules: RuleSet, n: int = 10_000) -> None:
    t0 = 1_793_548_800.0

    def intl():
        d = IntlFraud(rules)
        for i in range(n):   # 3 calls each from n international callers, n hotline callers
            for k in range(3):
                d.on_call(Call(start=t0 + i + k * 60, caller=f"+8551{i:08d}",
                               callee=f"139{i:04d}{k:04d}", ingress="international",
                               call_id=f"{i:010d}{k}@sim"))
        for i in range(n):
            d.on_call(Call(start=t0 + i, caller=f"137{i:08d}", callee="95353",
                           ingress="access", call_id=f"h{i:010d}@sim"))
        d._origin_cache.clear()   # a bounded cache, not per-number state
        return d

    def sms():
        d = SmsBombing(rules)
        for i in range(n):   # 3 codes each
            for k in range(3):
                d.on_sms(Sms(time=t0 + i + k, sender=f"1069{k:05d}", recipient=f"138{i:08d}",
                             text=f"【平台】您的验证码是{i:06d}", origin=f"sms.csv:{i * 3 + k}"))
        return d

    def optout():
        d = OptoutViolation(rules)
        for i in range(n):   # one opt-out each
            d.on_sms(Sms(time=t0 + i, sender=f"138{i:08d}", recipient=f"1065{i % 40:05d}",
                         text="TD", direction="mo", origin=f"sms.csv:{i}"))
        return d

    def sip():
        d = SipScan(rules)
        for i in range(n):   # 5 failed attempts each
            for k in range(5):
                d.on_registration(Registration(time=t0 + i + k, line=f"{1000 + k}",
                                               contact_ip=f"10.{i >> 16}.{(i >> 8) & 255}.{i & 255}",
                                               status=401, origin=f"registrations.csv:{i}"))
        return d

    for name, build in (("intl_fraud", intl), ("sms_bombing", sms),
                        ("optout_violation", optout), ("sip_scan", sip)):
        tracked, grown = measure(build)
        print(f"  {name:<18} tracked {tracked:>6,}  {grown / 1e6:7.2f} MB  "
              f"{grown / tracked:6.0f} B per tracked number")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, help="a simulation directory (default: simulate)")
    ap.add_argument("--subscribers", type=int, default=20_000)
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--seed", type=int, default=73519)
    args = ap.parse_args()
    data = args.data or OUT / f"sim-{args.subscribers}-{args.days}-{args.seed}"
    if not (data / "labels.json").exists():
        simulate(data, days=args.days, subscribers=args.subscribers, seed=args.seed)
    print(f"python {platform.python_version()} on {platform.machine()}, data {data}")
    rules = RuleSet.load()
    handler_speed(load(data), rules)
    print("memory per 10,000 tracked numbers:")
    memory(rules)


if __name__ == "__main__":
    main()
