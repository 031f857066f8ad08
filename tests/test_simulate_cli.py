"""``fraudwatch simulate``: determinism, options, user errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter

from fraudwatch.cli import main
from tests.simulate_support import epoch, read_csv

FILES = ("calls.csv", "sms.csv", "registrations.csv", "feedback.csv", "labels.json", "calls.pcap")


def digests(directory, files=FILES) -> dict[str, str]:
    return {f: hashlib.sha256((directory / f).read_bytes()).hexdigest() for f in files}


def test_same_seed_gives_byte_identical_files(tmp_path, capsys):
    args = ["simulate", "--days", "1", "--subscribers", "1000", "--pcap", "-q"]
    assert main([*args, "--seed", "9", "--out", str(tmp_path / "a")]) == 0
    # the second run in another process with another string-hash seed: no set order leaks
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-m", "fraudwatch", *args, "--seed", "9", "--out",
                    str(tmp_path / "b")], check=True, env=env, timeout=300, capture_output=True)
    assert main([*args[:-2], "-q", "--seed", "10", "--out", str(tmp_path / "c")]) == 0
    a, b = digests(tmp_path / "a"), digests(tmp_path / "b")
    assert a == b
    c = digests(tmp_path / "c", FILES[:-1])
    assert all(a[f] != c[f] for f in c)
    out = capsys.readouterr().out
    assert "calls.csv" in out and "labels" in out


def test_start_and_scale_options(tmp_path):
    # a start that is not a local midnight: nothing before it, rhythm on the local clock
    assert main(["simulate", "--out", str(tmp_path), "--days", "1", "--subscribers", "3000",
                 "--seed", "2", "--start", "2026-12-01T15:30:00+08:00", "-q"]) == 0
    labels = json.loads((tmp_path / "labels.json").read_text(encoding="utf-8"))
    assert labels["start"] == "2026-12-01T15:30:00+08:00"
    assert labels["end"] == "2026-12-02T15:30:00+08:00"
    assert labels["subscribers"] == 3000 and labels["days"] == 1
    start, end = epoch(labels["start"]), epoch(labels["end"])
    for name in ("calls", "sms", "registrations", "feedback"):
        _, rows = read_csv(tmp_path / f"{name}.csv")
        times = [epoch(r.get("start") or r["time"]) for r in rows]
        assert times and min(times) >= start, name
        assert max(times) < end + 86400, name
    _, calls = read_csv(tmp_path / "calls.csv")
    hours = Counter(int(c["start"][11:13]) for c in calls)
    assert max(hours, key=hours.get) in range(9, 22)
    assert min(hours, key=hours.get) in range(1, 6)
    for s in labels["scenarios"]:
        assert start <= epoch(s["onset"]) < end
    assert not (tmp_path / "calls.pcap").exists()


def test_user_errors_are_one_line_exit_2(tmp_path, capsys):
    assert main(["simulate", "--out", str(tmp_path), "--days", "0"]) == 2
    assert main(["simulate", "--out", str(tmp_path), "--start", "yesterday"]) == 2
    (tmp_path / "file").write_text("x")
    assert main(["simulate", "--out", str(tmp_path / "file"), "--days", "1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(e.startswith("fraudwatch simulate: ") for e in err)
