"""``fraudwatch simulate``: write a simulated operator's records and their ground truth."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from fraudwatch.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "simulate", help="simulate an operator's traffic with labelled fraud",
        description="Write calls.csv, sms.csv, registrations.csv, feedback.csv (canonical "
                    "formats) and labels.json (ground truth) for a simulated operator in "
                    "China; with --pcap also calls.pcap (SIP signalling of the calls, "
                    "registrations and scanning).")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--days", type=int, default=7, help="simulated days (default 7)")
    p.add_argument("--subscribers", type=int, default=20_000,
                   help="subscribers of the operator (default 20000)")
    p.add_argument("--seed", type=int, default=1, help="random seed (same seed, same files)")
    p.add_argument("--start", default=None, metavar="ISO",
                   help="first simulated moment (default 2026-11-02T00:00:00+08:00, a Monday)")
    p.add_argument("--pcap", action="store_true", help="also write calls.pcap (SIP over UDP)")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")


def run(args) -> int:
    from fraudwatch.simulate import DEFAULT_START, simulate
    from fraudwatch.simulate.simulation import parse_start

    if args.days < 1 or args.days > 366:
        raise UserError(f"--days must be between 1 and 366, not {args.days}")
    if args.subscribers < 1000 or args.subscribers > 10_000_000:
        raise UserError(f"--subscribers must be between 1000 and 10000000, not {args.subscribers}")
    start = args.start or DEFAULT_START
    try:
        parse_start(start)
    except ValueError:
        raise UserError(f"--start: not an ISO 8601 time: {start!r}") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a directory")
    began = time.perf_counter()

    def progress(done: int, total: int) -> None:
        if not args.quiet:
            print(f"\rsimulated day {done}/{total}", end="", file=sys.stderr, flush=True)

    result = simulate(out, days=args.days, subscribers=args.subscribers, seed=args.seed,
                      start=start, pcap=args.pcap, progress=progress)
    if not args.quiet:
        print(file=sys.stderr)
    for kind, n in result.rows.items():
        print(f"{kind:<13}{n:>12,} -> {result.files[kind]}")
    kinds: dict[str, int] = {}
    for s in result.labels["scenarios"]:
        kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
    print(f"{'labels':<13}{len(result.labels['scenarios']):>12,} -> {result.files['labels']} ("
          + ", ".join(f"{k} {n}" for k, n in kinds.items())
          + f"; {len(result.labels['hard_negatives'])} hard negatives)")
    if "pcap" in result.files:
        print(f"{'pcap':<13}{'':>12} -> {result.files['pcap']}")
    print(f"done in {time.perf_counter() - began:.1f} s")
    return 0
