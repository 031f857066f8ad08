"""Direct push of alerts to Alertmanager, through a durable on-disk outbox.

A targeted fraud call must reach the anti-fraud centre in seconds, not a scrape
interval later, so each alert is posted straight to Alertmanager's v2 API
(``POST /api/v2/alerts``). To lose none while Alertmanager is down or the detector
restarts, every alert is first appended to an outbox journal (JSON Lines, flushed at
once and fsynced before it is posted: a burst costs one fsync, not one per alert) and
its id appended to a delivered log (fsync) once Alertmanager accepted it; on start the
outbox reloads the journal and resends what was never marked delivered.

Labels carry no clear number: ``alertname``, ``kind``, ``severity``, ``subject`` (the
pseudonym or masked form), ``fraudwatch_id`` (the alert id, which the operator's alert
log maps back to the number). Alertmanager de-duplicates by labels, so a resend after a
crash between "accepted" and "marked delivered" does not duplicate a notification.

>>> from detector.alerts import Alert
>>> from detector.suspects import Pseudonymizer
>>> a = Alert("sms_bombing", "13812345678", None, 1737076323.0, "critical", 0.95,
...           "68 codes to 13812345678 in 35 min")
>>> payload = to_alertmanager(a, Pseudonymizer(mode="mask"), hold=3600, now=1737076400.0)
>>> payload["labels"]["subject"], payload["labels"]["alertname"]
('138****5678', 'FraudwatchDetection')
>>> payload["annotations"]["description"]
'68 codes to 138****5678 in 35 min'
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time as wallclock
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from detector.alerts import Alert, iso
from detector.suspects import Pseudonymizer

log = logging.getLogger(__name__)

ALERTNAME = "FraudwatchDetection"


def _rfc3339(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def to_alertmanager(alert: Alert, pseudonymize: Pseudonymizer, hold: float = 3600,
                    now: float | None = None, runbook_base: str = "docs/runbooks") -> dict:
    """An alert as an Alertmanager v2 ``postableAlert`` (no clear number anywhere)."""
    now = wallclock.time() if now is None else now
    subject = alert.evidence.get("subject_pseudonym") or pseudonymize(alert.subject)
    labels = {"alertname": ALERTNAME, "kind": alert.kind, "severity": alert.severity,
              "subject": subject, "fraudwatch_id": alert.id, "source": "fraudwatch"}
    annotations = {
        "summary": f"{alert.kind} ({alert.severity}) on {subject}, score {alert.score:.2f}",
        "description": pseudonymize.scrub(alert.reason),
        "event_time": iso(alert.time),
        "runbook_url": f"{runbook_base}/{alert.kind}.md",
    }
    return {"labels": labels, "annotations": annotations,
            # The event is over when raised; keep it visible to receivers for ``hold``.
            "startsAt": _rfc3339(min(alert.time, now)), "endsAt": _rfc3339(now + hold),
            "generatorURL": f"fraudwatch://alert/{alert.id}"}


class AlertmanagerClient:
    """Posts alerts to one Alertmanager (``url`` like ``http://127.0.0.1:9093``)."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout

    def post(self, alerts: list[dict]) -> None:
        """Send alerts; raises ``OSError`` (incl. ``URLError``) unless Alertmanager accepts."""
        body = json.dumps(alerts).encode("utf-8")
        req = urllib.request.Request(f"{self.url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:
            if resp.status != 200:
                raise OSError(f"alertmanager answered {resp.status}")

    def alerts(self, **filters: str) -> list[dict]:
        """Alerts Alertmanager currently holds (``GET /api/v2/alerts``)."""
        query = "&".join(f"filter={k}%3D%22{v}%22" for k, v in filters.items())
        url = f"{self.url}/api/v2/alerts" + (f"?{query}" if query else "")
        with urllib.request.urlopen(url, timeout=self.timeout) as resp:
            return json.loads(resp.read())


class Outbox:
    """Durable queue of alerts for Alertmanager (see module docstring).

    Parameters
    ----------
    directory
        Where ``journal.jsonl`` (every alert, append-only) and ``delivered.log``
        (ids accepted by Alertmanager) live.
    client
        The :class:`AlertmanagerClient` (``None``: journal only, deliver later).
    pseudonymizer
        Names subjects in labels and scrubs numbers from the description.
    batch
        At most this many alerts per POST.
    compact_after
        On start, rewrite the journal without delivered alerts once it holds this many
        (the delivered log keeps their ids, so a re-run does not push them again).
    """

    JOURNAL = "journal.jsonl"
    DELIVERED = "delivered.log"

    def __init__(self, directory: str | Path, client: AlertmanagerClient | None,
                 pseudonymizer: Pseudonymizer | None = None, hold: float = 3600,
                 batch: int = 200, backoff: tuple[float, float] = (0.2, 30.0),
                 compact_after: int = 10_000) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.client = client
        self.pseudonymize = pseudonymizer or Pseudonymizer()
        self.hold = hold
        self.batch = batch
        self.backoff_min, self.backoff_max = backoff
        self._lock = threading.Lock()
        self._send_lock = threading.Lock()  # one sender at a time: no chunk posted twice
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered_ids: set[str] = set()
        self._pending: dict[str, dict] = {}  # id -> payload, in journal order
        self.posts = 0
        self.failures = 0
        self._dirty = False
        self.compact_after = compact_after
        self.compactions = 0
        self.last_sync = wallclock.time()
        self._load()
        self._journal = open(self.dir / self.JOURNAL, "a", encoding="utf-8")  # noqa: SIM115
        self._delivered = open(self.dir / self.DELIVERED, "a", encoding="utf-8")  # noqa: SIM115

    # -- durability ----------------------------------------------------------------------
    def _load(self) -> None:
        delivered = self.dir / self.DELIVERED
        if delivered.exists():
            self.delivered_ids = {line.strip() for line in
                                  delivered.read_text(encoding="utf-8").splitlines()
                                  if line.strip()}
        journal = self.dir / self.JOURNAL
        if not journal.exists():
            return
        entries = 0
        torn = False
        with open(journal, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                entries += 1
                try:
                    entry = json.loads(line)
                    aid = entry["id"]
                    payload = entry["payload"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    # A torn line from a crash in mid-write (the alert is still in the
                    # alert log); the journal is rewritten so appends start on a clean line.
                    torn = True
                    continue
                if not line.endswith("\n"):
                    torn = True
                if aid not in self.delivered_ids:
                    self._pending[aid] = payload
        if torn or entries - len(self._pending) >= self.compact_after:
            self._rewrite_journal()

    def _rewrite_journal(self) -> None:
        """Replace the journal by one holding only pending alerts (atomic rename)."""
        journal = self.dir / self.JOURNAL
        tmp = journal.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for aid, payload in self._pending.items():
                fh.write(json.dumps({"id": aid, "payload": payload}, ensure_ascii=False) + "\n")
            self._sync(fh)
        os.replace(tmp, journal)
        dir_fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the rename itself is durable
        finally:
            os.close(dir_fd)
        self.compactions += 1

    @staticmethod
    def _sync(fh) -> None:
        fh.flush()
        os.fsync(fh.fileno())

    def add(self, alert: Alert) -> bool:
        """Journal an alert (durably) and wake the sender; False if already known."""
        aid = alert.id
        with self._lock:
            if aid in self._pending or aid in self.delivered_ids:
                return False
            payload = to_alertmanager(alert, self.pseudonymize, self.hold)
            self._journal.write(json.dumps({"id": aid, "payload": payload},
                                           ensure_ascii=False) + "\n")
            # Flushed to the OS at once: survives a crash of the detector process.
            self._journal.flush()
            self._pending[aid] = payload
            if self._thread is None:
                self._sync_journal()
            else:
                # Group commit: the sender thread fsyncs before it posts, so a burst of
                # alerts costs one fsync, not one each (measured: bench/bench_metrics.py).
                self._dirty = True
        self._wake.set()
        return True

    def _sync_journal(self) -> None:
        """fsync the journal (caller holds the lock)."""
        os.fsync(self._journal.fileno())
        self._dirty = False
        self.last_sync = wallclock.time()

    @property
    def pending(self) -> list[str]:
        with self._lock:
            return list(self._pending)

    # -- delivery ------------------------------------------------------------------------
    def deliver_once(self) -> int:
        """Try to send everything pending now; returns how many were accepted.

        Raises nothing: a failure leaves the alerts pending for the next try.
        """
        with self._send_lock:
            with self._lock:
                if self._dirty:
                    self._sync_journal()
            if self.client is None:
                return 0
            return self._deliver()

    def _deliver(self) -> int:
        sent = 0
        while True:
            with self._lock:
                if self._dirty:
                    self._sync_journal()  # never deliver what is not durable yet
                chunk = list(self._pending.items())[: self.batch]
            if not chunk:
                return sent
            now = wallclock.time()
            payloads = []
            for _, p in chunk:
                # Resent late: keep it visible for ``hold`` from now.
                payloads.append({**p, "endsAt": _rfc3339(now + self.hold)})
            try:
                self.client.post(payloads)
            except (OSError, ValueError) as e:
                self.failures += 1
                log.debug("alertmanager push failed: %s", e)
                return sent
            self.posts += 1
            with self._lock:
                for aid, _ in chunk:
                    self._delivered.write(aid + "\n")
                    self.delivered_ids.add(aid)
                    self._pending.pop(aid, None)
                self._sync(self._delivered)
                self.last_sync = wallclock.time()
            sent += len(chunk)

    def flush(self, timeout: float = 10.0) -> bool:
        """Deliver everything pending, retrying until ``timeout``; True if none is left."""
        deadline = wallclock.monotonic() + timeout
        delay = self.backoff_min
        while True:
            self.deliver_once()
            if not self.pending:
                return True
            left = deadline - wallclock.monotonic()
            if left <= 0:
                return False
            wallclock.sleep(min(delay, left))
            delay = min(delay * 2, self.backoff_max)

    def start(self) -> Outbox:
        """Deliver in a background thread: at once on each new alert, with backoff on failure."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fraudwatch-outbox",
                                            daemon=True)
            self._thread.start()
        return self

    def _run(self) -> None:
        delay = self.backoff_min
        while not self._stop.is_set():
            if self.pending:
                self.deliver_once()
            if self.pending:  # Alertmanager unreachable: back off, but wake on news
                self._wake.wait(delay)
                delay = min(delay * 2, self.backoff_max)
            else:
                delay = self.backoff_min
                self._wake.wait(1.0)
            self._wake.clear()

    def close(self, drain: float = 0.0) -> None:
        """Stop the sender (after trying to deliver for up to ``drain`` seconds)."""
        if drain > 0:
            self.flush(drain)
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            if self._dirty:
                self._sync_journal()
            self._journal.close()
            self._delivered.close()

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
