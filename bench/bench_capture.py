"""Benchmark: SIP capture replay, pcap -> call/registration records, against tshark.

    .venv/bin/python bench/bench_capture.py [--packets 1000000] [--profile] [--record]

Writes (once, cached under bench/out/) a pcap of >= ``--packets`` SIP packets with the
simulator's :func:`fraudwatch.simulate.sippcap.write_sip_pcap` (calls of every
disposition, registrations, scanner OPTIONS), then, in one run on the same file:

- ours: :func:`capture.sipcapture.read_capture` end to end to records (one core), numba's
  import and kernel load included (a fresh process measures them apart first: the
  kernels' compile time if numba's cache is cold, else their load time);
- tshark: ``tshark -r F -Y sip -T fields -e sip.Method -e sip.Status-Code``.

Prints packets/s of both and their ratio; ``--record`` appends them to bench/RESULTS.md.
Goal (issue 4): >= 150,000 SIP packets/s on one core, and faster than tshark.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import random
import resource
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))

from capture.sipcapture import read_capture  # noqa: E402
from detector.records import Call, Registration  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
#: packets per call by disposition in the simulator's dialogs (roughly)
DISPOSITIONS = ["ANSWERED"] * 6 + ["BUSY", "NO ANSWER", "FAILED", "CANCELLED"]


def build_pcap(packets: int, seed: int = 4) -> Path:
    from fraudwatch.simulate.sippcap import write_sip_pcap

    path = OUT / f"sip-{packets}-{seed}.pcap"
    if path.exists():
        return path
    OUT.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(seed)
    t0 = 1793548800.0
    calls, regs, options = [], [], []
    n_calls = packets // 6 + 1
    span = n_calls / 40.0   # 40 call attempts per second
    for i in range(n_calls):
        disp = rnd.choice(DISPOSITIONS)
        calls.append(Call(start=t0 + rnd.random() * span,
                          caller=f"13{rnd.randrange(10**9):09d}",
                          callee=f"0{rnd.randrange(10**10):010d}",
                          duration=rnd.uniform(5, 300) if disp == "ANSWERED" else 0.0,
                          disposition=disp,
                          ingress=rnd.choice(["international", "domestic", "access"]),
                          call_id=f"bench{i}@sim"))
    for _ in range(n_calls // 10):
        regs.append(Registration(time=t0 + rnd.random() * span,
                                 line=f"0{rnd.randrange(10**10):010d}",
                                 contact_ip=f"10.40.{rnd.randrange(256)}.{rnd.randrange(1, 255)}",
                                 status=rnd.choice([200, 200, 200, 401, 403]), expires=3600))
    for i in range(n_calls // 20):
        options.append((t0 + rnd.random() * span, f"192.0.2.{rnd.randrange(1, 255)}",
                        f"{1000 + i % 9000}", "friendly-scanner"))
    t = time.perf_counter()
    stats = write_sip_pcap(calls, regs, path, options=options)
    print(f"wrote {stats.packets:,} packets ({stats.bytes / 1e6:.0f} MB) in "
          f"{time.perf_counter() - t:.1f} s -> {path}")
    return path


def run_ours(path: Path, profile: bool = False) -> tuple[float, float, int, int, dict]:
    """(wall s, CPU s, SIP messages, records, errors) of one end-to-end replay."""
    result = read_capture(path)
    prof = cProfile.Profile() if profile else None
    t, cpu = time.perf_counter(), time.process_time()
    if prof:
        prof.enable()
    records = sum(1 for _ in result)
    if prof:
        prof.disable()
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    if prof:
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)
    messages = sum(result.stats.values())
    return elapsed, cpu, messages, records, dict(result.errors)


def numba_start() -> tuple[float, float]:
    """(import s, kernels s) of capture.pcapindex in a fresh process: numba's import, then
    compiling the kernels (first use on a machine, or after a change) or loading them
    from its cache. The replay measured next pays the import and the cache load."""
    code = ("import time; t = time.perf_counter(); import capture.pcapindex as p; "
            "u = time.perf_counter(); p.warm_up(); "
            "print(u - t, time.perf_counter() - u)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout
    imported, kernels = (float(x) for x in out.split())
    return imported, kernels


def run_tshark(path: Path) -> tuple[float, float, int]:
    """(wall s, CPU s, SIP packets) of tshark on the file."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.Popen(["tshark", "-r", str(path), "-Y", "sip", "-T", "fields",
                             "-e", "sip.Method", "-e", "sip.Status-Code"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    lines = sum(1 for _ in proc.stdout)
    proc.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return time.perf_counter() - t, cpu, lines


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--no-tshark", action="store_true")
    ap.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    ap.add_argument("--note", default="", help="what changed, for the results line")
    args = ap.parse_args()
    path = build_pcap(args.packets)
    jit_import, jit_kernels = numba_start()
    print(f"numba start (fresh process): import {jit_import:.2f} s, kernels "
          f"{jit_kernels:.2f} s (compiled if numba's cache was cold, else loaded)")
    ours_s, ours_cpu, messages, records, errors = run_ours(path, args.profile)
    print(f"ours:   {messages:,} SIP packets -> {records:,} records in {ours_s:.1f} s wall "
          f"({messages / ours_s:,.0f} packets/s), {ours_cpu:.1f} s CPU "
          f"({messages / ours_cpu:,.0f} packets/s per CPU second); errors {errors}")
    line = (f"- {messages:,} SIP packets -> {records:,} records: ours {ours_s:.1f} s wall "
            f"= {messages / ours_s:,.0f} packets/s ({ours_cpu:.1f} s CPU = "
            f"{messages / ours_cpu:,.0f}/CPU-s); numba start in a fresh process before it: "
            f"import {jit_import:.2f} s + kernels {jit_kernels:.2f} s")
    if not args.no_tshark:
        tshark_s, tshark_cpu, lines = run_tshark(path)
        print(f"tshark: {lines:,} SIP packets in {tshark_s:.1f} s wall "
              f"({lines / tshark_s:,.0f} packets/s), {tshark_cpu:.1f} s CPU; "
              f"ours/tshark wall {tshark_s / ours_s:.1f}x, CPU {tshark_cpu / ours_cpu:.1f}x")
        line += (f"; tshark {tshark_s:.1f} s wall = {lines / tshark_s:,.0f} packets/s "
                 f"({tshark_cpu:.1f} s CPU); ours faster by {tshark_s / ours_s:.1f}x wall, "
                 f"{tshark_cpu / ours_cpu:.1f}x CPU")
    if args.record:
        load = os.getloadavg()[0]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        head = "## SIP capture (`bench/bench_capture.py`)"
        text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
        add = "" if head in text else (
            f"\n{head}\n\nGoal: >= 150,000 SIP packets/s end to end to records on one core, "
            "and faster than `tshark -r F -Y sip -T fields -e sip.Method -e sip.Status-Code` "
            "on the same file.\n")
        add += (f"\n### {stamp} — CPython {platform.python_version()}, {path.name}, "
                f"load average {load:.1f} on {os.cpu_count()} CPUs"
                f"{' — ' + args.note if args.note else ''}\n{line}\n")
        with open(RESULTS, "a", encoding="utf-8") as fh:
            fh.write(add)


if __name__ == "__main__":
    main()
