"""Prometheus metrics of the detector: ingest, pipeline health, detection.

Declared explicitly (prometheus/client_python style) on a registry of their own, so a
process can hold several (tests do). Every label takes values from a fixed vocabulary
(record kind, detection kind, severity, source type, folded reason), so the number of
series is bounded by construction; suspects appear only under a pseudonym, at most
``per_kind`` of them per kind (:mod:`detector.suspects`).

Updating is cheap: the replay loop calls :meth:`FraudwatchMetrics.observe_batch` every
few thousand records with its running counters, and the metrics take the differences;
only :meth:`observe_alert` runs per alert (alerts are rare).

>>> from detector.alerts import Alert
>>> m = FraudwatchMetrics()
>>> _ = m.observe_alert(Alert("harassment", "13812345678", "02161234567", 100.0, "warning",
...                           0.8, "29 calls in 7 days"))
>>> text = m.exposition()
>>> 'fraudwatch_alerts_total{kind="harassment",severity="warning"} 1.0' in text
True
>>> "13812345678" in text
False
>>> fold_reason("bad start time"), fold_reason("expected 11 fields, got 3"), fold_reason("?!")
('bad_time', 'wrong_field_count', 'other')
"""

from __future__ import annotations

import threading
import time as wallclock
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    start_http_server,
)
from prometheus_client import (
    Counter as PromCounter,
)
from prometheus_client.core import GaugeMetricFamily

from detector.alerts import KINDS, SEVERITIES, Alert
from detector.suspects import Pseudonymizer, SuspectTable

RECORD_KINDS = ("call", "sms", "registration", "feedback")
#: where records come from: the input format, or a live collector
SOURCES = ("csv", "jsonl", "parquet", "asterisk", "freeswitch", "pcap", "hep", "simulator",
           "mixed", "other")
#: why input was rejected, folded from the readers' free-text reasons
REASONS = ("bad_time", "missing_field", "bad_value", "too_long", "wrong_field_count",
           "csv_syntax", "not_json", "truncated", "bad_header", "decode_error", "other")
SIP_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "REGISTER", "OPTIONS", "INFO", "UPDATE",
               "PRACK", "SUBSCRIBE", "NOTIFY", "MESSAGE", "REFER", "PUBLISH", "other")
SIP_STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "6xx", "other")

#: bytes of detector state per tracked number, buffered record and notice; the first
#: measured with tracemalloc over all six detectors (bench/bench_metrics.py --memory:
#: ~2,800 bytes per tracked number at 1k and 4k simulated subscribers)
_STATE_BYTES = {"tracked": 2800, "buffered": 450, "notice": 250}

_FOLD_RULES: tuple[tuple[str, str], ...] = (
    ("time", "bad_time"),
    ("missing", "missing_field"),
    ("lacks", "missing_field"),
    ("too long", "too_long"),
    ("expected", "wrong_field_count"),
    ("csv", "csv_syntax"),
    ("line break", "csv_syntax"),
    ("quote", "csv_syntax"),
    ("json", "not_json"),
    ("truncat", "truncated"),
    ("short", "truncated"),
    ("header", "bad_header"),
    ("decod", "decode_error"),
    ("utf", "decode_error"),
    ("gzip", "decode_error"),
    ("bad ", "bad_value"),
    ("invalid", "bad_value"),
)


def fold_reason(reason: str) -> str:
    """A reader's free-text reason folded into :data:`REASONS` (unknown: ``other``)."""
    if reason in REASONS:
        return reason
    low = reason.lower()
    for needle, folded in _FOLD_RULES:
        if needle in low:
            return folded
    return "other"


def fold(value: str, vocabulary: Iterable[str]) -> str:
    return value if value in vocabulary else "other"


class _SuspectCollector:
    """Exposes the suspect table at scrape time, so expired suspects simply vanish."""

    def __init__(self, table: SuspectTable, lock: threading.Lock) -> None:
        self.table, self.lock = table, lock

    def collect(self):
        score = GaugeMetricFamily(
            "fraudwatch_suspect_score",
            "Score (0..1) of each currently active suspect, by detection kind and pseudonym "
            "of the subject (never the number); at most N per kind.",
            labels=["kind", "subject"])
        with self.lock:
            for s in self.table:
                score.add_metric([s.kind, s.pseudonym], s.score)
            counts = self.table.counts()
        yield score
        active = GaugeMetricFamily("fraudwatch_active_suspects",
                                   "Currently active suspects per detection kind.",
                                   labels=["kind"])
        for kind in KINDS:
            active.add_metric([kind], counts.get(kind, 0))
        yield active


class FraudwatchMetrics:
    """The detector's metrics on their own :class:`CollectorRegistry`.

    Parameters
    ----------
    pseudonymizer
        Names subjects in ``fraudwatch_suspect_score`` (default: random key).
    suspects_per_kind
        At most this many suspect series per kind.
    suspect_ttl
        Event-time seconds after which a suspect no alert renewed is dropped.
    source
        Source type records are counted under (default: from the inputs' formats).
    """

    def __init__(self, pseudonymizer: Pseudonymizer | None = None, suspects_per_kind: int = 20,
                 suspect_ttl: float = 6 * 3600, source: str | None = None,
                 registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.pseudonymize = pseudonymizer or Pseudonymizer()
        self.suspects = SuspectTable(self.pseudonymize, suspects_per_kind, suspect_ttl)
        self.source = fold(source, SOURCES) if source else None
        self._lock = threading.Lock()
        r = self.registry
        # -- ingest --------------------------------------------------------------------
        self.records = PromCounter("fraudwatch_records", "Records processed, by source type "
                                   "and record kind.", ["source", "kind"], registry=r)
        self.late = PromCounter("fraudwatch_late_records", "Records that arrived later than "
                                "the allowed lateness (processed out of order).", registry=r)
        self.quarantined = PromCounter("fraudwatch_quarantined_records", "Rows rejected by the "
                                       "record contract and quarantined, by reason.",
                                       ["source", "reason"], registry=r)
        self.malformed = PromCounter("fraudwatch_malformed_packets", "Packets or frames the "
                                     "capture could not decode, by reason.",
                                     ["source", "reason"], registry=r)
        self.sip = PromCounter("fraudwatch_sip_messages", "SIP messages seen in captures, by "
                               "type and method or status class.", ["type", "name"], registry=r)
        self.input_bytes = PromCounter("fraudwatch_input_bytes", "Bytes of input opened, by "
                                       "source type.", ["source"], registry=r)
        self.last_event_time = Gauge("fraudwatch_last_record_event_time_seconds", "Event time "
                                     "(Unix seconds) of the newest record processed.", registry=r)
        self.lag = Gauge("fraudwatch_event_time_lag_seconds", "Wall-clock time minus the event "
                         "time of the newest record processed.", registry=r)
        # Computed at scrape time: a stalled pipeline shows a growing lag, not a frozen one.
        self._last_event: float | None = None
        self.lag.set_function(lambda: 0.0 if self._last_event is None
                              else max(0.0, wallclock.time() - self._last_event))
        # -- pipeline health -----------------------------------------------------------
        self.buffered = Gauge("fraudwatch_reorder_buffer_records", "Records waiting in the "
                              "event-time reorder buffer.", registry=r)
        self.tracked = Gauge("fraudwatch_tracked_numbers", "Numbers a detector holds state "
                             "for, by detection kind.", ["kind"], registry=r)
        self.state_bytes = Gauge("fraudwatch_state_memory_bytes", "Estimated memory held by "
                                 "detector state, reorder buffer and notice board.", registry=r)
        self.checkpoint_time = wallclock.time()
        #: wall time of the oldest alert not yet made durable (None: all are)
        self.unsynced_since: float | None = None
        self.checkpoint_age = Gauge("fraudwatch_checkpoint_age_seconds", "Seconds the oldest "
                                    "alert not yet made durable (alert log, outbox) has waited; "
                                    "0 when all are.", registry=r)
        # Quiet periods without alerts are normal: only unsaved output makes a checkpoint old.
        self.checkpoint_age.set_function(lambda: 0.0 if self.unsynced_since is None
                                         else wallclock.time() - self.unsynced_since)
        self.batches = PromCounter("fraudwatch_metric_batches", "Metric update batches (one "
                                   "every few thousand records).", registry=r)
        # -- detection -----------------------------------------------------------------
        self.alerts = PromCounter("fraudwatch_alerts", "Alerts raised, by detection kind and "
                                  "severity.", ["kind", "severity"], registry=r)
        self.scores = Histogram("fraudwatch_alert_score", "Scores (0..1) of raised alerts, by "
                                "detection kind.", ["kind"], registry=r,
                                buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0))
        r.register(_SuspectCollector(self.suspects, self._lock))
        # process_resident_memory_bytes etc., to compare with the state estimate
        ProcessCollector(registry=r)
        # Every series of the fixed vocabularies exists from the start (at 0), so rates
        # and "absent" checks work before the first event of a kind.
        for kind in KINDS:
            for sev in SEVERITIES:
                self.alerts.labels(kind, sev)
            self.scores.labels(kind)
            self.tracked.labels(kind)
        self._seen_records: Counter = Counter()
        self._seen_quarantine: Counter = Counter()
        self._seen_malformed: Counter = Counter()
        self._seen_sip: Counter = Counter()
        self._seen_late = 0
        self._seen_inputs: set[str] = set()
        for kind in RECORD_KINDS:
            self.records.labels(self.source or "other", kind)
        self.quarantined.labels(self.source or "other", "other")
        self.malformed.labels("pcap", "other")
        for method in SIP_METHODS:
            self.sip.labels("request", method)
        for cls in SIP_STATUS_CLASSES:
            self.sip.labels("response", cls)
        self.input_bytes.labels(self.source or "other")

    # -- updates -------------------------------------------------------------------------
    def annotate(self, alert: Alert) -> str:
        """Put the subject's pseudonym into the alert's evidence (for the alert log).

        Called before the alert is written anywhere: it starts the checkpoint clock
        until :meth:`checkpointed` says the output is durable.
        """
        if self.unsynced_since is None:
            self.unsynced_since = wallclock.time()
        name = alert.evidence.get("subject_pseudonym")
        if name is None:
            name = self.pseudonymize(alert.subject)
            alert.evidence["subject_pseudonym"] = name
        return name

    def observe_alert(self, alert: Alert) -> str:
        """Count one raised alert and make its subject an active suspect."""
        self.annotate(alert)
        kind = fold(alert.kind, KINDS)
        self.alerts.labels(kind, fold(alert.severity, SEVERITIES)).inc()
        if kind != "other":
            self.scores.labels(kind).observe(float(alert.score))
        with self._lock:
            return self.suspects.observe(alert)

    def observe_batch(self, summary, engine, quarantine) -> None:
        """Bring the metrics up to date with a replay's running counters (cheap, batched).

        ``summary`` is a :class:`fraudwatch.replay.ReplaySummary` (inputs, formats, SIP
        and capture counters), ``engine`` the :class:`detector.engine.Engine`,
        ``quarantine`` the :class:`capture.quarantine.Quarantine`.
        """
        self.batches.inc()
        source = self.source or self._source_of(summary)
        self._new_inputs(summary, source)
        stats = engine.stats
        for kind, n in _deltas(stats.records, self._seen_records):
            self.records.labels(source, fold(kind, RECORD_KINDS)).inc(n)
        if stats.late > self._seen_late:
            self.late.inc(stats.late - self._seen_late)
            self._seen_late = stats.late
        for reason, n in _deltas(quarantine.counts, self._seen_quarantine):
            self.quarantined.labels(source, fold_reason(reason)).inc(n)
        for reason, n in _deltas(getattr(summary, "malformed", {}), self._seen_malformed):
            self.malformed.labels("pcap", fold_reason(reason)).inc(n)
        for key, n in _deltas(getattr(summary, "sip", {}), self._seen_sip):
            kind, _, name = key.partition(":")
            if kind == "method":
                self.sip.labels("request", fold(name.upper(), SIP_METHODS)).inc(n)
            elif kind == "status":
                cls = f"{name[:1]}xx" if name[:1].isdigit() else "other"
                self.sip.labels("response", fold(cls, SIP_STATUS_CLASSES)).inc(n)
        self.observe_engine(engine)

    def observe_engine(self, engine) -> None:
        """Pipeline-health gauges from the engine's current state."""
        self.buffered.set(engine.buffered)
        tracked = engine.tracked()
        for kind, n in tracked.items():
            self.tracked.labels(fold(kind, KINDS)).set(n)
        self.state_bytes.set(_STATE_BYTES["tracked"] * sum(tracked.values())
                             + _STATE_BYTES["buffered"] * engine.buffered
                             + _STATE_BYTES["notice"] * len(engine.board))
        last = engine.last_time
        if last is not None:
            self.last_event_time.set(last)
            self._last_event = last
            with self._lock:
                self.suspects.expire(last)

    def observe_records(self, counts: dict[str, int], source: str | None = None) -> None:
        """Count records read outside a replay (e.g. a live collector), by record kind."""
        src = fold(source or self.source or "other", SOURCES)
        for kind, n in counts.items():
            self.records.labels(src, fold(kind, RECORD_KINDS)).inc(n)

    def checkpointed(self, at: float | None = None) -> None:
        """The detector's output so far was made durable (alert log flushed, outbox synced)."""
        self.checkpoint_time = wallclock.time() if at is None else at
        self.unsynced_since = None

    def _source_of(self, summary) -> str:
        formats = set(getattr(summary, "formats", {}).values())
        if len(formats) == 1:
            return fold(formats.pop(), SOURCES)
        return "mixed" if formats else "other"

    def _new_inputs(self, summary, source: str) -> None:
        formats = getattr(summary, "formats", {})
        for path in getattr(summary, "inputs", ()):
            if path in self._seen_inputs:
                continue
            self._seen_inputs.add(path)
            try:
                size = Path(path).stat().st_size
            except OSError:
                continue
            self.input_bytes.labels(fold(formats.get(path, source), SOURCES)).inc(size)

    # -- exposition ----------------------------------------------------------------------
    def exposition(self) -> str:
        """The metrics in Prometheus' text format."""
        return generate_latest(self.registry).decode("utf-8")

    def serve(self, port: int = 0, addr: str = "127.0.0.1"):
        """Serve ``/metrics`` over HTTP in a thread; returns the server (``.server_port``)."""
        server, _thread = start_http_server(port, addr=addr, registry=self.registry)
        return server


def _deltas(current, seen: Counter):
    """(key, increase) for each counter that grew since last time; updates ``seen``."""
    for key, n in list(current.items()):
        d = n - seen.get(key, 0)
        if d > 0:
            seen[key] = n
            yield key, d
