"""Helpers for the report tests: small event-time detectors and a headless Chromium.

The real detectors are other modules' work; these stand-ins raise alerts of the contract
kinds from plain thresholds so the report can be exercised on simulated traffic. The
report itself does not know them: it renders whatever alerts the replay produced.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections import defaultdict, deque
from pathlib import Path

from detector.base import Detector
from detector.engine import Engine
from detector.rulefiles import DetectionRule, RuleSet

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class _Stand(Detector):
    output = ""

    def __init__(self, rules: RuleSet) -> None:
        self.rules = rules
        self.rule = DetectionRule(rule=f"test {self.kind}", kind=self.kind, priority="warning",
                                  output=self.output)


class CallBurst(_Stand):
    """voip_box stand-in: a caller reaching ``distinct`` callees within an hour."""

    kind = "voip_box"
    output = "{subject} called {callees} distinct numbers within 1 h"
    distinct = 6

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        self.recent: dict[str, deque] = defaultdict(deque)

    def on_call(self, call):
        if call.caller.startswith(("00", "+")):
            return ()
        q = self.recent[call.caller]
        q.append((call.start, call.callee, call.call_id))
        while q and q[0][0] < call.start - 3600:
            q.popleft()
        callees = {c for _, c, _ in q}
        if len(callees) >= self.distinct:
            ev = {"callees": len(callees), "calls": len(q), "first": q[0][0],
                  "call_ids": [cid for _, _, cid in q][-5:]}
            return (self.alert(call.caller, None, call.start, min(1.0, len(callees) / 12), ev,
                               severity="critical" if len(callees) >= 10 else None),)
        return ()


class SmsBurst(_Stand):
    """sms_bombing stand-in: ``senders`` distinct senders to one recipient in 35 min."""

    kind = "sms_bombing"
    output = "{messages} messages from {senders} senders to {subject} within 35 min"
    senders = 8

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        self.recent: dict[str, deque] = defaultdict(deque)

    def on_sms(self, sms):
        if sms.direction != "mt":
            return ()
        q = self.recent[sms.recipient]
        q.append((sms.time, sms.sender))
        while q and q[0][0] < sms.time - 2100:
            q.popleft()
        senders = {s for _, s in q}
        if len(senders) >= self.senders:
            return (self.alert(sms.recipient, None, sms.time, 0.9,
                               {"messages": len(q), "senders": len(senders)}),)
        return ()


class IntlCaller(_Stand):
    """intl_fraud stand-in: any call from an international number to a subscriber."""

    kind = "intl_fraud"
    output = "international call from {subject} to {callee}"

    def on_call(self, call):
        if call.caller.startswith(("00", "+")) and not call.caller.lstrip("+0").startswith("86"):
            return (self.alert(call.caller, None, call.start, 0.6,
                               {"call_id": call.call_id, "callee": call.callee,
                                "ingress": call.ingress}),)
        return ()


def stand_in_engine(rules: RuleSet | None = None) -> Engine:
    rules = rules or RuleSet.load()
    return Engine(rules, detectors=[CallBurst(rules), SmsBurst(rules), IntlCaller(rules)])


def simulate(out: Path, days: int = 2, subscribers: int = 1000, seed: int = 7) -> Path:
    from fraudwatch.cli import main

    assert main(["simulate", "--out", str(out), "--days", str(days), "--subscribers",
                 str(subscribers), "--seed", str(seed), "--quiet"]) == 0
    return out


def _chromium(args: list[str], tmp: Path, timeout: float = 90) -> subprocess.CompletedProcess:
    # a fresh profile per run: Chromium refuses a profile another instance holds
    profile = Path(tempfile.mkdtemp(prefix="chromium-", dir=tmp))
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
           "--enable-logging=stderr", "--v=0", *args]
    # Own session, so that on a timeout the browser's helper processes go too.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, err)


def dump_dom(html: Path, tmp: Path) -> tuple[str, str]:
    """(the DOM after the page's scripts ran, Chromium's stderr log)."""
    proc = _chromium(["--virtual-time-budget=5000", "--dump-dom", html.resolve().as_uri()], tmp)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


def screenshot(html: Path, png: Path, tmp: Path, size: str = "1280,2400") -> Path:
    proc = _chromium([f"--screenshot={png}", f"--window-size={size}",
                      "--virtual-time-budget=5000", "--hide-scrollbars",
                      html.resolve().as_uri()], tmp)
    assert proc.returncode == 0 and png.exists(), proc.stderr[-2000:]
    return png


# Chromium logs page console output as ``INFO:CONSOLE:7] "text", source: URL (7)``
# (older builds: ``CONSOLE(7)]``); uncaught exceptions arrive the same way.
_CONSOLE = re.compile(r'CONSOLE(?::\d+|\(\d+\))\] "(.*)", source: ')


def console_errors(log: str) -> list[str]:
    """Console messages (errors included) Chromium logged for the page."""
    return [m.group(1) for m in _CONSOLE.finditer(log)]


def page_errors(dom: str) -> list[str]:
    """What the page's error hook recorded (``<html data-errors=...>``)."""
    m = re.search(r'<html[^>]*\sdata-errors="([^"]*)"', dom)
    if not m:
        return []
    import html as htmlmod
    return json.loads(htmlmod.unescape(m.group(1)))
