"""Benchmark of the simulator: a simulated week of 20,000 subscribers (goal: under a
minute), the SIP pcap writer's packet rate, and optionally larger populations.

Each case runs in a fresh process so that its peak memory (max RSS) is its own.
Results are printed and, with ``--record``, appended to ``bench/RESULTS.md``.

    .venv/bin/python bench/bench_simulate.py --record
    .venv/bin/python bench/bench_simulate.py --subscribers 1000000 --days 1 --record
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
HEADING = "## Simulator (`fraudwatch simulate`, `write_sip_pcap`)"

CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from fraudwatch.simulate import simulate
from fraudwatch.simulate.sippcap import write_simulation_pcap
out, days, subscribers, pcap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
t = time.perf_counter()
result = simulate(out, days=days, subscribers=subscribers, seed=1)
elapsed = time.perf_counter() - t
report = {"days": days, "subscribers": subscribers, "seconds": round(elapsed, 2),
          "rows": result.rows, "scenarios": len(result.labels["scenarios"]),
          "bytes": sum(p.stat().st_size for p in Path(out).iterdir())}
if pcap:
    t = time.perf_counter()  # streaming: reads the CSVs back, re-orders, writes
    stats = write_simulation_pcap(Path(out))
    report["pcap_seconds"] = round(time.perf_counter() - t, 2)
    report["pcap_packets"] = stats.packets
report["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
print(json.dumps(report))
"""


def run_case(days: int, subscribers: int, pcap: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as out:
        done = subprocess.run([sys.executable, "-c", CHILD, out, str(days), str(subscribers),
                               "1" if pcap else "0"], capture_output=True, text=True,
                              timeout=3600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def describe(r: dict) -> str:
    rows = sum(r["rows"].values())
    line = (f"| {r['subscribers']:,} | {r['days']} | {r['seconds']:.1f} s | {rows:,} "
            f"({r['rows']['call']:,} calls) | {rows / r['seconds']:,.0f} | "
            f"{r['bytes'] / 1e6:,.0f} MB | {r['max_rss_mb']:,} MB |")
    if "pcap_packets" in r:
        line += (f" {r['pcap_packets']:,} packets in {r['pcap_seconds']:.1f} s "
                 f"({r['pcap_packets'] / r['pcap_seconds']:,.0f}/s) |")
    else:
        line += " - |"
    return line


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--subscribers", type=int, action="append",
                    help="population(s) to simulate (default: 20000)")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--no-pcap", action="store_true", help="skip the pcap writer")
    ap.add_argument("--record", action="store_true", help=f"append to {RESULTS}")
    args = ap.parse_args()
    lines = []
    for n in args.subscribers or [20_000]:
        began = time.perf_counter()
        r = run_case(args.days, n, not args.no_pcap)
        print(json.dumps(r), f"(wall {time.perf_counter() - began:.1f} s)")
        lines.append(describe(r))
    if args.record:
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
        if HEADING not in text:
            text += (f"\n{HEADING}\n\nGoal: a simulated week of 20,000 subscribers in under a "
                     "minute; memory bounded (the simulator works an hour of traffic at a "
                     "time).\n")
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        block = (f"\n{stamp}, {platform.python_implementation()} {platform.python_version()}, "
                 f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}, "
                 f"`bench/bench_simulate.py "
                 f"{' '.join(sys.argv[1:])}`\n\n"
                 "| subscribers | days | time | rows written | rows/s | files | max RSS | "
                 "SIP pcap |\n|---|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n")
        # keep our section together: insert before the next heading after ours, if any
        start = text.index(HEADING)
        nxt = text.find("\n## ", start + len(HEADING))
        text = text + block if nxt < 0 else text[:nxt] + block + text[nxt:]
        RESULTS.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
