"""A/B of the replay's garbage-collector thresholds, each setting in a fresh process.

    .venv/bin/python bench/bench_gc.py            # runs both settings twice, prints records/s

Simulates 5,000 subscribers x 3 days once (bench/out/), then replays the four files with
the interpreter's default thresholds and with the replay's raised ones.
"""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "sim-5000-3-999"
FILES = ("calls.csv", "sms.csv", "registrations.csv", "feedback.csv")


def one(setting: str) -> None:
    from fraudwatch import replay as r

    if setting == "default":
        gc.set_threshold = lambda *a: None  # keep the interpreter's defaults
    inputs = [OUT / f for f in FILES]
    r.replay(inputs[:1])  # warm-up: imports, caches
    print(f"{setting:<8}{r.replay(inputs).records_per_s:>10,.0f} records/s", flush=True)


def main() -> None:
    if len(sys.argv) > 1:
        one(sys.argv[1])
        return
    if not (OUT / "labels.json").exists():
        from fraudwatch.simulate import simulate

        simulate(OUT, days=3, subscribers=5000, seed=999)
    for _ in range(2):
        for setting in ("default", "tuned"):
            subprocess.run([sys.executable, __file__, setting], check=True)


if __name__ == "__main__":
    main()
