"""Building an investigation report: replay the inputs, keep what the alerts need, render.

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "calls.csv").write_text("start,caller,callee\\n1737076323,13812345678,02161234567\\n")
>>> result = build_report([d / "calls.csv"], d / "report.html", kinds=[])
>>> result.summary.records["call"], (d / "report.html").read_text().count('class="alert-section')
(1, 0)
"""

from __future__ import annotations

import json
import os
import time as wallclock
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.alerts import Alert
from detector.engine import Engine
from fraudwatch.errors import UserError
from fraudwatch.replay import ReplaySummary, replay
from fraudwatch.report.store import RecordStore, SubjectView


@dataclass
class ReportData:
    """Everything the page shows."""

    summary: ReplaySummary
    store: RecordStore
    views: dict[str, SubjectView]
    captures: list[str] = field(default_factory=list)
    quarantine_samples: list[dict] = field(default_factory=list)
    numbering_plan: str = "cn"
    mask: bool = False
    title: str = "fraudwatch investigation report"
    #: how long each stage took (seconds), for benchmarks
    timings: dict[str, float] = field(default_factory=dict)
    #: what the reader should know about how the report was made
    notes: list[str] = field(default_factory=list)

    @property
    def alerts(self) -> list[Alert]:
        return self.summary.alerts

    def record_times(self) -> dict[str, np.ndarray]:
        s = self.store
        out = {"call": np.frombuffer(s.c_time, dtype=np.float64) if len(s.c_time) else None,
               "sms": np.frombuffer(s.s_time, dtype=np.float64) if len(s.s_time) else None,
               "registration": np.frombuffer(s.r_time, dtype=np.float64)
               if len(s.r_time) else None,
               "feedback": np.array([f.time for f in s.feedback]) if s.feedback else None}
        return {k: v for k, v in out.items() if v is not None}


@dataclass
class ReportResult:
    path: Path
    summary: ReplaySummary
    data: ReportData
    timings: dict[str, float]


def _quarantine_samples(path: str | None, limit: int = 50) -> list[dict]:
    if not path or not Path(path).exists():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if len(out) >= limit:
                break
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def collect(paths: Iterable[str | Path], *, rules_dir: str | Path | None = None,
            kind: str | None = None, quarantine_path: str | Path | None = None,
            alerts_path: str | Path | None = None, kinds: Iterable[str] | None = None,
            engine: Engine | None = None, mask: bool = False, **replay_options) -> ReportData:
    """Replay ``paths`` keeping the records compactly, then pick the alerts' subjects."""
    paths = [Path(p) for p in paths]
    store = RecordStore()
    notes: list[str] = []
    replayable, captures_only = _split_captures(paths, kind, replay_options.get("mapping"))
    if captures_only:
        notes.append("records from packet captures need capture.sipcapture, not in this "
                     "build: captures are shown as SIP ladders only ("
                     + ", ".join(str(p) for p in captures_only) + ")")
    t0 = wallclock.perf_counter()
    if replayable:
        summary = replay(replayable, alerts_path=alerts_path, rules_dir=rules_dir, kind=kind,
                         quarantine_path=quarantine_path, on_record=store.add, kinds=kinds,
                         engine=engine, **replay_options)
    else:
        summary = ReplaySummary()
    for p in captures_only:
        summary.inputs.append(str(p))
        summary.formats[str(p)] = "pcap"
    t1 = wallclock.perf_counter()
    subjects = []
    for a in summary.alerts:
        subjects.append(a.subject)
        if a.counterparty:
            subjects.append(a.counterparty)
    views = store.select(subjects)
    t2 = wallclock.perf_counter()
    captures = [p for p, f in summary.formats.items() if f == "pcap"]
    return ReportData(summary=summary, store=store, views=views, captures=captures,
                      quarantine_samples=_quarantine_samples(summary.quarantine_path),
                      numbering_plan=_plan_name(rules_dir), mask=mask, notes=notes,
                      timings={"replay": t1 - t0, "select": t2 - t1})


def _plan_name(rules_dir: str | Path | None) -> str:
    from detector.rulefiles import RuleSet

    try:
        rules = RuleSet.load(rules_dir) if rules_dir else RuleSet.load()
        return str(rules.settings.get("numbering_plan", "cn"))
    except (OSError, ValueError, TypeError, KeyError):
        return "cn"


def _split_captures(paths: list[Path], kind: str | None,
                    mapping: dict | None) -> tuple[list[Path], list[Path]]:
    """(inputs to replay, captures to show as ladders only when captures cannot be
    replayed in this build)."""
    try:
        import capture.sipcapture  # noqa: F401
        return paths, []
    except ImportError:
        pass
    from fraudwatch.replay import file_format

    replayable, captures = [], []
    for p in paths:
        (captures if file_format(p, kind, mapping).format == "pcap" else replayable).append(p)
    return replayable, captures


def build_report(paths: Iterable[str | Path], out: str | Path, *, mask: bool = False,
                 **options) -> ReportResult:
    """Replay ``paths`` and write the self-contained HTML report to ``out``.

    ``options`` go to :func:`collect` (``rules_dir``, ``kind``, ``kinds``, ``engine``,
    ``alerts_path``, ``quarantine_path``, and :func:`~fraudwatch.replay.replay`'s others).
    """
    from fraudwatch.report.page import render

    out = Path(out)
    _check_writable(out)
    if options.get("quarantine_path") is None and options.get("alerts_path") is None:
        options["quarantine_path"] = out.with_suffix(".quarantine.jsonl")
    data = collect(paths, mask=mask, **options)
    t0 = wallclock.perf_counter()
    html = render(data)
    t1 = wallclock.perf_counter()
    _write(out, html)
    data.timings["render"] = t1 - t0
    data.timings["write"] = wallclock.perf_counter() - t1
    return ReportResult(out, data.summary, data, data.timings)


def render_summary(summary: ReplaySummary, store: RecordStore, out: str | Path,
                   mask: bool = False, rules_dir: str | Path | None = None) -> Path:
    """Write the report for a replay already run with ``on_record=store.add``
    (how ``fraudwatch replay --report`` uses it)."""
    from fraudwatch.report.page import render

    subjects = [s for a in summary.alerts for s in (a.subject, a.counterparty) if s]
    data = ReportData(summary=summary, store=store, views=store.select(subjects),
                      captures=[p for p, f in summary.formats.items() if f == "pcap"],
                      quarantine_samples=_quarantine_samples(summary.quarantine_path),
                      numbering_plan=_plan_name(rules_dir), mask=mask)
    out = Path(out)
    _check_writable(out)
    _write(out, render(data))
    return out


def _check_writable(out: Path) -> None:
    """Fail before a long replay, not after it, when the report cannot be written."""
    if out.is_dir():
        raise UserError(f"{out}: is a directory")
    parent = out.parent if str(out.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise UserError(f"{out}: cannot write here")


def _write(out: Path, html: str) -> None:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    except OSError as e:
        raise UserError(f"{out}: cannot write the report: {e.strerror or e}") from None
