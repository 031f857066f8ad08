"""``fraudwatch serve``: a long-running collector feeding the detector.

Signalling arrives mirrored as HEP (``--hep-port``, UDP and TCP) and/or sniffed from an
interface (``--interface`` with a ``--bpf`` filter). Both feed one SIP layer
(:class:`capture.sipcapture.SipCapture`), whose call and registration records go
through the event-time :class:`~detector.engine.Engine`; alerts are appended to the
alert log as they are raised (and optionally pushed to Alertmanager, with /metrics
served for Prometheus). The service runs until SIGINT/SIGTERM or ``--duration``, then
closes open dialogs, flushes the engine and prints a summary.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time as wallclock
from collections import Counter

from fraudwatch.commands.replay import AlertDelivery, add_alerting_options
from fraudwatch.errors import UserError


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="run as a collector: HEP and/or live capture into the "
                                     "detector",
                       description="Receive SIP mirrored as HEP and/or sniffed from an "
                                   "interface, detect continuously, append alerts to a log.")
    p.add_argument("--hep-port", type=int, metavar="PORT",
                   help="receive HEP v1/v2/v3 on this UDP and TCP port (9060 is usual; "
                        "0: any free port, printed on stderr)")
    p.add_argument("--listen", default="127.0.0.1", metavar="ADDR",
                   help="address for --hep-port (default 127.0.0.1; 0.0.0.0 for all)")
    p.add_argument("--interface", metavar="IF", help="sniff SIP on this interface (needs root "
                                                      "or CAP_NET_RAW)")
    p.add_argument("--bpf", metavar="FILTER", help="capture filter for --interface (tcpdump "
                                                   "syntax; default: SIP's usual ports)")
    p.add_argument("--alerts", default="alerts.jsonl", metavar="FILE",
                   help="alert log to append to, JSON Lines (default: alerts.jsonl)")
    p.add_argument("--rules", metavar="DIR", help="rules directory (default: the built-in rules/)")
    p.add_argument("--lateness", metavar="DURATION",
                   help="allowed out-of-order lateness (default from rules/settings.yaml)")
    p.add_argument("--duration", type=float, metavar="SECONDS",
                   help="stop after this many seconds (default: run until interrupted)")
    p.add_argument("--status-interval", type=float, default=60.0, metavar="SECONDS",
                   help="print a status line on stderr this often (default 60; 0: never)")
    p.add_argument("--queue-size", type=int, default=10_000, metavar="N",
                   help="HEP frames waiting for the detector before new ones are dropped "
                        "(and counted)")
    p.add_argument("--json", action="store_true", help="print the final summary as JSON")
    add_alerting_options(p)


class Service:
    """Datagrams → SIP records → engine → alert log, safe to feed from several threads."""

    def __init__(self, engine, sip_capture, alert_log, delivery=None) -> None:
        from fraudwatch.replay import ReplaySummary

        self.engine = engine
        self.sip = sip_capture
        self.log = alert_log
        self.delivery = delivery
        self.metrics = getattr(delivery, "metrics", None)
        self.summary = ReplaySummary()
        self.datagrams = 0
        self.errors: Counter = Counter()  # SIP-layer failures, by reason
        self._lock = threading.Lock()
        self._alerts = 0

    def ingest(self, datagram) -> None:
        with self._lock:
            self.datagrams += 1
            try:
                records = self.sip.feed_datagram(datagram)
            except Exception as e:  # noqa: BLE001 - a bad datagram must not stop the service
                self.errors[f"sip layer error: {type(e).__name__}"] += 1
                return
            for record in records:
                self._push(record)

    def _push(self, record) -> None:
        self.summary.records[record.record_kind] += 1
        for alert in self.engine.push(record):
            self._alert(alert)

    def _alert(self, alert) -> None:
        if self.metrics is not None:
            self.metrics.annotate(alert)
        self.log.write(alert)
        self.log.flush()
        self._alerts += 1
        if self.delivery is not None:
            self.delivery.on_alert(alert)
        if self.metrics is not None:
            self.metrics.observe_alert(alert)

    def tick(self, sources=()) -> str:
        """Refresh counters (and metrics) from the sources and the SIP layer; the status
        line of that moment (what it counts is in the metrics already)."""
        with self._lock:
            s = self.summary
            s.sip = Counter(getattr(self.sip, "stats", {}) or {})
            s.malformed = Counter(getattr(self.sip, "errors", {}) or {})
            s.malformed.update(self.errors)
            for src in sources:
                # dict() copies in one step while the source's threads keep counting
                s.malformed.update(dict(src.errors))
            s.late = self.engine.stats.late
            s.first_time, s.last_time = self.engine.first_time, self.engine.last_time
            if self.metrics is not None:
                from capture.quarantine import Quarantine

                self.metrics.observe_batch(s, self.engine, Quarantine())
            return _status(self, sources)

    def finish(self, sources=()) -> None:
        """End of service: close open dialogs, release the reorder buffer."""
        with self._lock:
            for record in self.sip.flush() or ():
                self._push(record)
            for alert in self.engine.flush():
                self._alert(alert)
        self.tick(sources)

    @property
    def alerts(self) -> int:
        return self._alerts


def _sip_capture(rules):
    try:
        from capture.sipcapture import SipCapture
    except ImportError:
        raise UserError("SIP decoding (capture.sipcapture) is not available in this build") \
            from None
    trunks = rules.list("trunks", [])
    try:
        return SipCapture(trunks=trunks)
    except TypeError:
        return SipCapture()


def run(args) -> int:
    from capture.hepcollector import HepCollector
    from detector.alerts import AlertLog
    from detector.engine import Engine
    from detector.rulefiles import RuleSet

    if args.hep_port is None and not args.interface:
        raise UserError("nothing to listen to: give --hep-port and/or --interface")
    if args.hep_port is not None and not 0 <= args.hep_port <= 65535:
        raise UserError(f"--hep-port must be 0..65535, not {args.hep_port}")
    if args.duration is not None and args.duration <= 0:
        raise UserError("--duration must be positive")
    try:
        rules = RuleSet.load(args.rules) if args.rules else RuleSet.load()
    except (OSError, ValueError) as e:
        raise UserError(f"rules: {e}") from None
    engine = Engine(rules, lateness=args.lateness)
    sip = _sip_capture(rules)
    try:
        log = AlertLog(args.alerts)
    except OSError as e:
        raise UserError(f"--alerts {args.alerts}: {e.strerror or e}") from None
    delivery = AlertDelivery.from_args(args)
    if delivery.metrics is not None:
        delivery.metrics.source = "hep" if args.hep_port is not None else "pcap"
    service = Service(engine, sip, log, delivery)
    sources: list = []
    stop = threading.Event()
    started = wallclock.monotonic()
    previous = {s: signal.signal(s, lambda *_: stop.set()) for s in (signal.SIGINT,
                                                                      signal.SIGTERM)}
    try:
        if args.hep_port is not None:
            collector = HepCollector(service.ingest, host=args.listen, port=args.hep_port,
                                     queue_size=args.queue_size)
            try:
                collector.start()
            except OSError as e:
                raise UserError(f"--hep-port {args.hep_port}: {e.strerror or e}") from None
            sources.append(collector)
            print(f"HEP on udp {args.listen}:{collector.udp_port} and tcp "
                  f"{args.listen}:{collector.tcp_port}", file=sys.stderr, flush=True)
        if args.interface:
            from capture.live import DEFAULT_BPF, LiveCapture

            live = LiveCapture(service.ingest, args.interface, args.bpf or DEFAULT_BPF)
            try:
                live.start()
            except (OSError, PermissionError) as e:
                raise UserError(f"--interface {args.interface}: {e}") from None
            except Exception as e:  # scapy raises its own for bad filters and interfaces
                raise UserError(f"--interface {args.interface}: {e}") from None
            sources.append(live)
            print(f"sniffing {args.interface} with filter {live.bpf!r}", file=sys.stderr,
                  flush=True)
        interval = args.status_interval if args.status_interval > 0 else None
        next_status = started + interval if interval else float("inf")
        while not stop.is_set():
            now = wallclock.monotonic()
            left = None if args.duration is None else args.duration - (now - started)
            if left is not None and left <= 0:
                break
            # wake at least every second: counters and metrics stay fresh
            stop.wait(min(w for w in (left, next_status - now, 1.0) if w is not None))
            status = service.tick(sources)
            if wallclock.monotonic() >= next_status:
                next_status += interval
                print(status, file=sys.stderr, flush=True)
    finally:
        for s in sources:
            s.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        service.finish(sources)
        log.close()
        delivery.finish()
        delivery.close()
    summary = _summary(service, sources, args, wallclock.monotonic() - started)
    if args.json:
        print(json.dumps(summary, ensure_ascii=False), flush=True)
    else:
        _print_summary(summary)
    return 0


def _status(service: Service, sources) -> str:
    frames = sum(s.stats.total_frames if hasattr(s, "stats") else s.frames for s in sources)
    recs = sum(service.summary.records.values())
    return (f"serve: {frames:,} frames, {service.datagrams:,} SIP datagrams, {recs:,} records, "
            f"{service.alerts:,} alerts, {sum(service.summary.malformed.values()):,} malformed")


def _summary(service: Service, sources, args, elapsed: float) -> dict:
    from capture.hepcollector import HepCollector
    from detector.alerts import iso

    out: dict = {"elapsed_s": round(elapsed, 3), "alerts_file": args.alerts}
    for s in sources:
        if isinstance(s, HepCollector):
            rejects = [{"from": where, "reason": reason}
                       for dec in s.decoders.values() for where, reason in dec.rejects][:20]
            out["hep"] = {"udp_port": s.udp_port, "tcp_port": s.tcp_port, **s.stats.to_dict(),
                          "first_rejects": rejects}
        else:
            out["live"] = {"interface": s.interface, "bpf": s.bpf, "frames": s.frames,
                           "delivered": s.delivered, "errors": dict(s.errors)}
    sm = service.summary
    out.update({
        "sip_datagrams": service.datagrams,
        "records": dict(sm.records),
        "records_total": sum(sm.records.values()),
        "alerts": service.alerts,
        "malformed_by_reason": dict(sm.malformed),
        "late_records": sm.late,
        "event_time": {"first": iso(sm.first_time) if sm.first_time else None,
                       "last": iso(sm.last_time) if sm.last_time else None},
        "sip": {
            "requests": {k[7:]: v for k, v in sorted(sm.sip.items()) if k.startswith("method:")},
            "responses": {k[7:]: v for k, v in sorted(sm.sip.items())
                          if k.startswith("status:")},
        },
    })
    return out


def _print_summary(s: dict, out=sys.stdout) -> None:
    w = out.write
    if "hep" in s:
        h = s["hep"]
        w(f"HEP frames    {sum(h['frames'].values()):,} (udp {h['frames'].get('udp', 0):,}, "
          f"tcp {h['frames'].get('tcp', 0):,}), delivered {h['delivered']:,}\n")
    if "live" in s:
        lv = s["live"]
        w(f"live frames   {lv['frames']:,} on {lv['interface']}, delivered {lv['delivered']:,}\n")
    w(f"records       {s['records_total']:,}" + "".join(
        f", {k} {n:,}" for k, n in sorted(s["records"].items())) + "\n")
    malformed = s["malformed_by_reason"]  # collector, sniffer and SIP layer together
    w(f"malformed     {sum(malformed.values()):,}\n")
    for reason, n in sorted(malformed.items(), key=lambda x: -x[1])[:10]:
        w(f"  {n:>8,}  {reason}\n")
    for r in s.get("hep", {}).get("first_rejects", [])[:5]:
        w(f"  e.g. from {r['from']}: {r['reason']}\n")
    w(f"alerts        {s['alerts']:,} -> {s['alerts_file']}\n")
