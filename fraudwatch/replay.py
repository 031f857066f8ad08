"""Replaying record files and captures through the detector.

Inputs of any supported format are read as streams, merged in event-time order, run
through the :class:`~detector.engine.Engine`, and the alerts written as JSON Lines.
"""

from __future__ import annotations

import gc
import heapq
import sys
import time as wallclock
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl

from capture import cdr
from capture.csvframes import read_csv_frames
from capture.detect import FileFormat, UnknownFormat, detect
from capture.fields import UTC, RowError
from capture.quarantine import Quarantine
from detector.alerts import Alert, AlertLog, iso
from detector.columnar import FrameFeed
from detector.engine import Engine, UnknownDetector
from detector.frames import TIME_COLUMN
from detector.rulefiles import RuleSet
from fraudwatch.errors import UserError


@dataclass
class ReplaySummary:
    inputs: list[str] = field(default_factory=list)
    formats: dict[str, str] = field(default_factory=dict)
    records: Counter = field(default_factory=Counter)
    quarantined: Counter = field(default_factory=Counter)
    quarantine_path: str | None = None
    malformed: Counter = field(default_factory=Counter)  # capture errors by reason
    sip: Counter = field(default_factory=Counter)  # "method:INVITE", "status:200"
    alerts: list[Alert] = field(default_factory=list)
    late: int = 0
    first_time: float | None = None
    last_time: float | None = None
    elapsed: float = 0.0

    @property
    def total_records(self) -> int:
        return sum(self.records.values())

    @property
    def records_per_s(self) -> float:
        return self.total_records / self.elapsed if self.elapsed > 0 else 0.0

    def alert_counts(self) -> Counter:
        return Counter((a.kind, a.severity) for a in self.alerts)

    def to_dict(self) -> dict:
        by_kind: dict[str, dict[str, int]] = {}
        for (kind, sev), n in sorted(self.alert_counts().items()):
            by_kind.setdefault(kind, {})[sev] = n
        return {
            "inputs": [{"path": p, "format": self.formats.get(p)} for p in self.inputs],
            "records": dict(self.records),
            "records_total": self.total_records,
            "quarantined": sum(self.quarantined.values()),
            "quarantined_by_reason": dict(self.quarantined),
            "quarantine_file": self.quarantine_path,
            "malformed_by_reason": dict(self.malformed),
            "late_records": self.late,
            "alerts": len(self.alerts),
            "alerts_by_kind": by_kind,
            "event_time": {"first": iso(self.first_time) if self.first_time else None,
                           "last": iso(self.last_time) if self.last_time else None},
            "elapsed_s": round(self.elapsed, 3),
            "records_per_s": round(self.records_per_s, 1),
            "sip": {
                "requests": {k[7:]: v for k, v in sorted(self.sip.items())
                             if k.startswith("method:")},
                "responses": {k[7:]: v for k, v in sorted(self.sip.items())
                              if k.startswith("status:")},
            },
        }


def parse_mapping(text: str | None) -> dict[str, str] | None:
    """``caller=src,callee=dst`` or a YAML file of contract column -> source column."""
    if not text:
        return None
    p = Path(text)
    if p.suffix in (".yaml", ".yml") and p.exists():
        import yaml

        data = yaml.safe_load(p.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise UserError(f"{text}: a mapping file holds `contract_column: source_column` pairs")
        return {str(k): str(v) for k, v in data.items()}
    out = {}
    for part in text.split(","):
        if "=" not in part:
            raise UserError(f"--map expects column=source pairs, got {part!r}")
        k, v = part.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def timezone_of(name: str | None) -> tzinfo:
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except Exception:
        raise UserError(f"unknown time zone {name!r}") from None


class _CaptureSource:
    """Records from a packet capture, with its SIP counters (capture.sipcapture)."""

    def __init__(self, path: Path, summary: ReplaySummary, rules: RuleSet) -> None:
        self.path, self.summary, self.rules = path, summary, rules

    def __iter__(self) -> Iterator:
        try:
            from capture.sipcapture import read_capture
        except ImportError:
            raise UserError(f"{self.path}: packet captures are not supported in this build") from None
        result = read_capture(self.path, trunks=self.rules.list("trunks", []))
        yield from result
        self.summary.sip.update(result.stats)
        self.summary.malformed.update(result.errors)


def open_records(path: Path | str, kind: str | None = None, quarantine: Quarantine | None = None,
                 tz: tzinfo = UTC, mapping: dict[str, str] | None = None,
                 fmt: FileFormat | None = None, summary: ReplaySummary | None = None,
                 rules: RuleSet | None = None) -> Iterator:
    """The records in one file of any supported format."""
    path = Path(path)
    quarantine = quarantine if quarantine is not None else Quarantine()
    if fmt is None:
        fmt = file_format(path, kind, mapping)
    if fmt.format == "pcap":
        return iter(_CaptureSource(path, summary or ReplaySummary(), rules or RuleSet.load()))
    if fmt.format == "csv":
        return cdr.read_csv(path, fmt.kind, quarantine, tz, mapping)
    if fmt.format == "asterisk":
        return cdr.read_asterisk(path, quarantine, tz)
    if fmt.format == "freeswitch":
        return cdr.read_freeswitch(path, quarantine, tz)
    if fmt.format == "jsonl":
        return cdr.read_jsonl(path, fmt.kind, quarantine, tz)
    if fmt.format == "parquet":
        return cdr.read_parquet(path, fmt.kind, quarantine, tz)
    raise UserError(f"{path}: unsupported format {fmt.format}")


def file_format(path: Path, kind: str | None, mapping: dict | None) -> FileFormat:
    if not path.exists():
        raise UserError(f"{path}: no such file")
    if path.is_dir():
        raise UserError(f"{path}: is a directory")
    if mapping:
        return FileFormat("csv", kind or "call")
    try:
        return detect(path, kind)
    except UnknownFormat as e:
        raise UserError(f"{path}: unknown format: {e}") from None
    except OSError as e:
        raise UserError(f"{path}: cannot read: {e.strerror}") from None


def _guarded(records: Iterable, path: Path) -> Iterator:
    """Turns a reader's fatal per-file problem into a one-line user error."""
    try:
        yield from records
    except RowError as e:
        raise UserError(str(e)) from None
    except OSError as e:
        raise UserError(f"{path}: read error: {e.strerror or e}") from None


def replay(paths: Iterable[str | Path], *, alerts_path: str | Path | None = None,
           rules_dir: str | Path | None = None, kind: str | None = None,
           lateness: float | str | None = None, quarantine_path: str | Path | None = None,
           tz: str | None = None, mapping: dict[str, str] | None = None,
           kinds: Iterable[str] | None = None,
           on_record: Callable | None = None, on_alert: Callable[[Alert], None] | None = None,
           metrics=None, progress: bool = False, engine: Engine | None = None,
           reranker_path: str | Path | None = None, columnar: bool = True) -> ReplaySummary:
    """Replay files through the detector; see the module docstring.

    Analysts' ``confirmed`` / ``dismissed`` feedback records teach a re-ranker that
    re-scores later alerts; with ``reranker_path`` it is loaded from (if present) and
    saved to that checkpoint, so what it learnt carries over to the next run.

    Canonical CSV inputs are replayed in columns (:mod:`detector.columnar`) unless
    ``columnar`` is false or ``on_record`` wants every record; the alerts are the same.

    ``metrics`` (optional) is called as ``metrics.observe_batch(summary, engine, counts)``
    every few thousand records and ``metrics.observe_alert(alert)`` for each alert.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        raise UserError("no input files")
    try:
        rules = RuleSet.load(rules_dir) if rules_dir else RuleSet.load()
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise UserError(f"cannot load rules: {e}") from None
    tzone = timezone_of(tz)
    summary = ReplaySummary(inputs=[str(p) for p in paths])
    formats = {}
    for p in paths:
        formats[p] = file_format(p, kind, mapping)
        summary.formats[str(p)] = formats[p].format
    if quarantine_path is None and alerts_path is not None:
        quarantine_path = Path(alerts_path).with_suffix(".quarantine.jsonl")
    if quarantine_path is not None and Path(quarantine_path).exists():
        Path(quarantine_path).unlink()
    quarantine = Quarantine(quarantine_path)
    try:
        engine = engine or Engine(rules, kinds=kinds, lateness=lateness)
    except (UnknownDetector, KeyError, ValueError) as e:
        raise UserError(f"rules {rules.root}: {e}") from None
    reranker = _attach_reranker(engine, reranker_path)
    log = None
    if alerts_path is not None:
        Path(alerts_path).parent.mkdir(parents=True, exist_ok=True)
        Path(alerts_path).write_text("")
        log = AlertLog(alerts_path)

    # Canonical CSV goes in columns (polars frames, record objects only where a detector
    # asks); the other formats, and callers that want every record, go one by one.
    in_columns = columnar and on_record is None and all(
        formats[p].format == "csv" and not mapping for p in paths)
    if in_columns:
        frame_sources = [(formats[p].kind, _guarded(read_csv_frames(p, formats[p].kind,
                                                                     quarantine, tzone), p))
                         for p in paths]
    else:
        streams = [_guarded(open_records(p, kind, quarantine, tzone, mapping, formats[p],
                                         summary, rules), p) for p in paths]
        merged = streams[0] if len(streams) == 1 else heapq.merge(*streams, key=_event_time)

    annotate = getattr(metrics, "annotate", None)  # puts the subject's pseudonym in evidence

    def emit(alerts: list[Alert]) -> None:
        for a in alerts:
            if annotate is not None:
                annotate(a)  # before the log: the log maps pseudonyms back to numbers
            summary.alerts.append(a)
            if log is not None:
                log.write(a)
            if on_alert is not None:
                on_alert(a)
            if metrics is not None:
                metrics.observe_alert(a)

    feed = FrameFeed(engine) if in_columns else None
    started = wallclock.perf_counter()
    show = progress and sys.stderr.isatty()
    push = engine.push
    n = 0
    batch = 4096
    gc_thresholds = gc.get_threshold()
    # Detector state is millions of small long-lived containers: the default collector
    # thresholds rescan them constantly (A/B in fresh processes: 47.1k -> 52.0k records/s).
    gc.set_threshold(100_000, 50, 1000)
    # ... and even so, each young-generation pass walks what the state just took in. The
    # records make next to no cyclic garbage (~900 objects a week), so what exists after
    # each batch is frozen: the collector never looks at it again until the end (gc time
    # 0.45 -> 0.09 s on the 1M-call bench). Not if the caller froze objects itself.
    freeze = gc.freeze if gc.get_freeze_count() == 0 else _no_freeze
    try:
        if feed is not None:
            for frames in merge_frames(frame_sources):
                emit(feed.push(frames))
                freeze()
                if metrics is not None:
                    metrics.observe_batch(summary, engine, quarantine)
                if show:
                    _progress(sum(engine.stats.records.values()), engine, started)
            emit(feed.flush())
        else:
            for record in merged:
                if on_record is not None:
                    on_record(record)
                alerts = push(record)
                if alerts:
                    emit(alerts)
                n += 1
                if n % batch == 0:
                    freeze()
                    if metrics is not None:
                        metrics.observe_batch(summary, engine, quarantine)
                    if show:
                        _progress(n, engine, started)
            emit(engine.flush())
    finally:
        gc.set_threshold(*gc_thresholds)
        if freeze is gc.freeze:
            gc.unfreeze()  # what is garbage by now is found by the next full collection
        quarantine.close()
        if log is not None:
            log.close()
        if show:
            sys.stderr.write("\r\x1b[K")
    summary.elapsed = wallclock.perf_counter() - started
    if reranker_path is not None:
        reranker.save(reranker_path)
    summary.records.update(engine.stats.records)
    summary.late = engine.stats.late
    summary.first_time, summary.last_time = engine.first_time, engine.last_time
    summary.quarantined.update(quarantine.counts)
    summary.quarantine_path = str(quarantine_path) if quarantine.total and quarantine_path else None
    if metrics is not None:
        metrics.observe_batch(summary, engine, quarantine)
    return summary


def merge_frames(sources: list[tuple[str, Iterator[pl.DataFrame]]]
                 ) -> Iterator[dict[str, pl.DataFrame]]:
    """Frames of several inputs merged in event time, block by block: rows up to the
    earliest of the inputs' newest times so far go out, ordered by (time, input, row),
    as :func:`heapq.merge` orders time-sorted inputs. Each output maps a record kind to
    a frame with an ``arrival`` column (the merged order)."""
    if len(sources) == 1:
        kind, frames = sources[0]
        for frame in frames:
            yield {kind: frame}
        return
    buffers: list[pl.DataFrame | None] = [None] * len(sources)
    done = [False] * len(sources)
    while True:
        for i, (kind, frames) in enumerate(sources):
            while not done[i] and (buffers[i] is None or buffers[i].height == 0):
                frame = next(frames, None)
                if frame is None:
                    done[i] = True
                else:
                    buffers[i] = frame.with_columns(
                        pl.col(TIME_COLUMN[kind]).alias("_t"), pl.lit(i, pl.Int32).alias("_src"),
                        pl.int_range(frame.height, dtype=pl.Int64).alias("_row"))
        live = [b for b in buffers if b is not None and b.height]
        if not live:
            return
        bound = min((buffers[i].get_column("_t").max() for i in range(len(sources))
                     if not done[i]), default=float("inf"))
        out = []
        for i, b in enumerate(buffers):
            if b is None or b.height == 0:
                continue
            due = pl.col("_t") <= bound
            out.append((sources[i][0], b.filter(due)))
            buffers[i] = b.filter(~due)
        keys = pl.concat([f.select("_t", "_src", "_row") for _, f in out])
        arrival = keys.with_row_index("_n").sort(["_t", "_src", "_row"]).with_row_index(
            "arrival").sort("_n").get_column("arrival")
        frames_out: dict[str, list[pl.DataFrame]] = {}
        offset = 0
        for kind, f in out:
            part = arrival.slice(offset, f.height)
            offset += f.height
            frames_out.setdefault(kind, []).append(
                f.drop("_t", "_src", "_row").with_columns(part.cast(pl.Int64).alias("arrival")))
        yield {k: pl.concat(v) for k, v in frames_out.items()}


def _attach_reranker(engine: Engine, path: str | Path | None):
    from detector.models.reranker import FeedbackReranker

    if path is not None and Path(path).exists():
        try:
            reranker = FeedbackReranker.load(path)
        except Exception as e:  # a corrupt or foreign pickle: say which file, not a traceback
            raise UserError(f"{path}: not a re-ranker checkpoint ({type(e).__name__})") from None
    else:
        reranker = FeedbackReranker()
    return reranker.attach(engine)


def _event_time(record) -> float:
    return record.time


def _progress(n: int, engine: Engine, started: float) -> None:
    el = wallclock.perf_counter() - started
    t = engine.last_time
    sys.stderr.write(f"\r\x1b[K{n:,} records  {n / el:,.0f}/s  event time {iso(t) if t else '-'}"
                     f"  alerts {sum(engine.stats.alerts.values()):,}")
    sys.stderr.flush()


def _no_freeze() -> None:
    """Stands in for gc.freeze when the caller had frozen objects (unfreezing at the end
    would undo their freeze)."""
