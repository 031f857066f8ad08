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


class WebDriver:
    """A headless Chromium driven through chromedriver's W3C WebDriver HTTP API (urllib),
    on a free loopback port, stopped (with its browser) on ``close``."""

    def __init__(self, tmp: Path, timeout: float = 60) -> None:
        import socket
        import time
        import urllib.request

        self._urllib = urllib.request
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.timeout = timeout
        self.proc = subprocess.Popen(
            [shutil.which("chromedriver") or "/usr/bin/chromedriver", f"--port={port}",
             "--allowed-ips=127.0.0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.profile = Path(tempfile.mkdtemp(prefix="chromedriver-", dir=tmp))
        self.session = None
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.call("GET", "/status")["value"]["ready"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromedriver did not start")
            time.sleep(0.1)
        caps = {"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                         "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync",
                         "--disable-dev-shm-usage", f"--user-data-dir={self.profile}",
                         "--window-size=1280,1000"]},
            "goog:loggingPrefs": {"browser": "ALL"}}}}
        try:
            self.session = self.call("POST", "/session", caps)["value"]["sessionId"]
        except Exception:
            self.close()
            raise

    def call(self, method: str, path: str, body: dict | None = None) -> dict:
        data = json.dumps(body).encode() if body is not None else None
        req = self._urllib.Request(self.base + path, data=data, method=method,
                                   headers={"Content-Type": "application/json"})
        try:
            with self._urllib.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read())
        except self._urllib.HTTPError as e:  # WebDriver errors carry their reason as JSON
            detail = json.loads(e.read() or b"{}").get("value", {})
            raise RuntimeError(f"{method} {path}: {detail.get('error')}: "
                               f"{str(detail.get('message'))[:300]}") from None

    def s(self, method: str, path: str, body: dict | None = None):
        return self.call(method, f"/session/{self.session}{path}", body)["value"]

    def get(self, url: str) -> None:
        self.s("POST", "/url", {"url": url})

    def script(self, source: str, *args):
        return self.s("POST", "/execute/sync", {"script": source, "args": list(args)})

    def find(self, css: str) -> str:
        found = self.s("POST", "/element", {"using": "css selector", "value": css})
        return next(iter(found.values()))

    def click(self, css: str) -> None:
        """Scroll the element to mid-screen (clear of the sticky nav) and click it."""
        element = self.find(css)
        self.script("arguments[0].scrollIntoView({block: 'center'});",
                    {"element-6066-11e4-a52e-4f735466cecf": element})
        self.s("POST", f"/element/{element}/click", {})

    def browser_log(self) -> list[dict]:
        """The page's console entries (chromedriver's log endpoint)."""
        return self.s("POST", "/se/log", {"type": "browser"})

    def close(self) -> None:
        try:
            if self.session:
                self.call("DELETE", f"/session/{self.session}")
        except OSError:
            pass
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                    self.proc.wait()
            shutil.rmtree(self.profile, ignore_errors=True)
