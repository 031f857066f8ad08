"""fraudwatch.replay.replay: the columnar path (canonical CSV in frames) against the
per-record path on the same inputs: the same alerts, summary counts and quarantine."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraudwatch.replay import replay
from fraudwatch.simulate import simulate

INPUTS = ["calls.csv", "sms.csv", "registrations.csv", "feedback.csv"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("columnar_replay") / "sim"
    simulate(out, days=2, subscribers=2000, seed=777)
    return out


def _both(paths: list[Path], out: Path, **kw) -> tuple:
    runs = []
    for columnar in (True, False):
        tag = "columns" if columnar else "rows"
        s = replay(paths, alerts_path=out / f"{tag}.alerts.jsonl",
                   quarantine_path=out / f"{tag}.quarantine.jsonl", columnar=columnar, **kw)
        runs.append((s, out / f"{tag}.alerts.jsonl", out / f"{tag}.quarantine.jsonl"))
    return runs


def _comparable(summary) -> dict:
    d = summary.to_dict()
    for volatile in ("elapsed_s", "records_per_s", "quarantine_file"):
        d.pop(volatile)
    return d


def test_simulated_run_same_alerts_both_ways(sim, tmp_path):
    (cols, cols_log, _), (rows, rows_log, _) = _both([sim / f for f in INPUTS], tmp_path)
    assert len({a.kind for a in rows.alerts}) >= 4, "the run must raise several kinds"
    assert [a.to_dict() for a in cols.alerts] == [a.to_dict() for a in rows.alerts]
    assert cols_log.read_text() == rows_log.read_text()
    assert _comparable(cols) == _comparable(rows)
    assert rows.late == 0
    assert cols.records == rows.records and cols.total_records > 40_000
    assert cols.late == rows.late


def test_single_input_same_alerts_both_ways(sim, tmp_path):
    (cols, _, _), (rows, _, _) = _both([sim / "calls.csv"], tmp_path)
    assert rows.alerts
    assert [a.to_dict() for a in cols.alerts] == [a.to_dict() for a in rows.alerts]
    assert _comparable(cols) == _comparable(rows)
    assert rows.late == 0


def _break(src: Path, dst: Path, every: int, bad: list[str]) -> int:
    """Copy ``src`` with a broken row after every ``every`` rows (cycling ``bad``; ``{t}``
    is the time of the row before, so that the rows that do convert stay in time order)."""
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    out, n = [lines[0]], 0
    for i, line in enumerate(lines[1:], 1):
        out.append(line)
        if i % every == 0:
            out.append(bad[n % len(bad)].replace("{t}", line.split(",", 1)[0]) + "\n")
            n += 1
    dst.write_text("".join(out), encoding="utf-8")
    return n


def test_broken_rows_same_quarantine_both_ways(sim, tmp_path):
    broken = tmp_path / "in"
    broken.mkdir()
    added = _break(sim / "calls.csv", broken / "calls.csv", 997, [
        "yesterday,13800000001,13900000002,0,,access,,,,,",
        "2026-11-02T10:00:00+08:00,,13900000002,0,,access,,,,,",
        "2026-11-02T10:00:00+08:00,13800000001,13900000002,-5,,access,,,,,",
        "2026-11-02T10:00:00+08:00,13800000001,13900000002,0,MAYBE,access,,,,,",
        "2026-11-02T10:00:00+08:00,13800000001",
        "2026-11-02T10:00:00+08:00,13800000001,13900000002,0,,access,,,,,,extra",
        "2026-02-30T10:00:00+08:00,13800000001,13900000002,0,,access,,,,,",
        "2026-11-02T10:00:00+08:00,13800000001,13900000002,nan,,access,,,,,",
        " {t} , 13800000001 ,13900000002, 5 ,busy,ACCESS,,,,,",
        "{t},13800000001,13900000002,1e1,Answered,,,,,,",
    ])
    added += _break(sim / "sms.csv", broken / "sms.csv", 499, [
        "2026-11-02T10:00:00+08:00,1069,,code,mt", "bad,1069,138,code,mt",
        "2026-11-02T10:00:00+08:00,1069,138,code,sideways", "{t},1069 ,138,code, MO",
    ])
    added += _break(sim / "registrations.csv", broken / "registrations.csv", 1999, [
        "2026-11-02T10:00:00+08:00,100,,ua,200,3600", "2026-11-02T10:00:00+08:00,100,1.2.3.4,ua,ok,",
    ])
    for name in ("feedback.csv",):
        (broken / name).write_bytes((sim / name).read_bytes())
    paths = [broken / f for f in INPUTS]
    (cols, _, cols_q), (rows, _, rows_q) = _both(paths, tmp_path)
    assert rows.quarantined and sum(rows.quarantined.values()) >= added // 2
    assert cols.quarantined == rows.quarantined
    col_lines = cols_q.read_text(encoding="utf-8").splitlines()
    row_lines = rows_q.read_text(encoding="utf-8").splitlines()
    # The same lines; within each input file in the same order. (How the entries of
    # different files interleave follows when each reader got to them: the columnar
    # path reads a block of every input ahead, so that order is not compared.)
    assert sorted(col_lines) == sorted(row_lines)
    entries = [json.loads(line) for line in row_lines]
    col_entries = [json.loads(line) for line in col_lines]
    for source in {e["source"] for e in entries}:
        assert ([e for e in col_entries if e["source"] == source]
                == [e for e in entries if e["source"] == source]), source
    assert {e["reason"] for e in entries} >= {"bad start time", "missing caller", "bad duration"}
    assert [a.to_dict() for a in cols.alerts] == [a.to_dict() for a in rows.alerts]
    assert _comparable(cols) == _comparable(rows)
    assert rows.late == 0


@pytest.mark.parametrize("columnar", [True, False])
def test_replay_freezes_for_the_collector_and_lets_go_after(sim, tmp_path, columnar):
    """replay() freezes what exists after each batch (the collector skips it) and unfreezes
    at the end; a caller's own freeze is left as it was."""
    import gc

    seen = []
    replay([sim / "calls.csv"], alerts_path=tmp_path / "a.jsonl", columnar=columnar,
           on_alert=lambda a: seen.append(gc.get_freeze_count()))
    assert seen and max(seen) > 0, "nothing was frozen while replaying"
    assert gc.get_freeze_count() == 0
    gc.freeze()
    try:
        mine = gc.get_freeze_count()
        replay([sim / "calls.csv"], alerts_path=tmp_path / "b.jsonl", columnar=columnar)
        # still frozen (a frozen object freed by refcount leaves the count), none added
        assert mine // 2 < gc.get_freeze_count() <= mine
    finally:
        gc.unfreeze()
