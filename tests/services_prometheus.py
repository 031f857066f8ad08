"""Real Prometheus, Alertmanager and a webhook receiver for tests, on loopback.

Each server runs on a free 127.0.0.1 port (found by binding port 0, since other test
runs share the machine) with a temporary directory, waits a bounded time to become
ready, and is always stopped at the end. Import the fixtures into a test module::

    from tests.services_prometheus import alertmanager, webhook  # noqa: F401
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
START_TIMEOUT = 20.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_json(url: str, data: bytes | None = None, timeout: float = 5.0):
    req = urllib.request.Request(url, data=data,
                                 headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        body = resp.read()
    return json.loads(body) if body else None


def wait_until(predicate, timeout: float, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (returned) or time runs out."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, ValueError, KeyError) as e:
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}"
                       + (f" (last error: {last_exc})" if last_exc else ""))


class Server:
    """A server process on 127.0.0.1:port; ``stop()`` always ends it."""

    def __init__(self, name: str, argv: list[str], port: int, workdir: Path,
                 ready_path: str = "/-/ready") -> None:
        self.name, self.argv, self.port, self.workdir = name, argv, port, workdir
        self.ready_path = ready_path
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen | None = None
        self.log = workdir / f"{name}.log"

    def start(self) -> Server:
        self._logfh = open(self.log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(self.argv, stdout=self._logfh, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        try:
            wait_until(self._ready, START_TIMEOUT, what=f"{self.name} ready")
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}") \
                from None
        return self

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited:\n{self.log.read_text()[-3000:]}")
        with urllib.request.urlopen(self.url + self.ready_path, timeout=1) as r:
            return r.status == 200

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.proc = None
        if getattr(self, "_logfh", None) is not None:
            self._logfh.close()
            self._logfh = None


# -- webhook receiver ------------------------------------------------------------------
class WebhookReceiver:
    """Collects Alertmanager webhook notifications (``POST`` JSON) on a loopback port."""

    def __init__(self) -> None:
        self.notifications: list[dict] = []
        self.paths: list[str] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with receiver._lock:
                    receiver.paths.append(self.path)
                    try:
                        receiver.notifications.append({"path": self.path, **json.loads(body)})
                    except json.JSONDecodeError:
                        receiver.notifications.append({"path": self.path, "raw": body})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self) -> list[dict]:
        """Every alert of every notification, each with the receiver path it came to."""
        with self._lock:
            return [{**a, "path": n["path"]} for n in self.notifications
                    for a in n.get("alerts", [])]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# -- Alertmanager ----------------------------------------------------------------------
def alertmanager_config(webhook_url: str) -> dict:
    """The repository's example config with its receivers pointed at ``webhook_url`` and
    grouping timers shortened so a test sees notifications within seconds."""
    cfg = yaml.safe_load((REPO / "rules" / "alertmanager" / "alertmanager.yml").read_text())
    for receiver in cfg["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            path = urllib.parse.urlsplit(hook["url"]).path
            hook["url"] = webhook_url + path
    route = cfg["route"]
    route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    for sub in route.get("routes", []):
        for key in ("group_wait", "group_interval"):
            if key in sub:
                sub[key] = "1s" if sub[key] != "0s" else "0s"
    return cfg


class Alertmanager(Server):
    def __init__(self, workdir: Path, config: dict, port: int | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        cfg_path = workdir / "alertmanager.yml"
        cfg_path.write_text(yaml.safe_dump(config))
        port = port or free_port()
        super().__init__("alertmanager", [
            ALERTMANAGER, f"--config.file={cfg_path}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
            "--log.level=warn"], port, workdir)

    def alerts(self, **filters: str) -> list[dict]:
        query = "&".join("filter=" + urllib.parse.quote(f'{k}="{v}"') for k, v in filters.items())
        return http_json(f"{self.url}/api/v2/alerts" + (f"?{query}" if query else ""))


# -- Prometheus ------------------------------------------------------------------------
class Prometheus(Server):
    def __init__(self, workdir: Path, scrape_targets: list[str], rule_files: list[Path],
                 alertmanager: str | None = None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s",
                       "scrape_timeout": "900ms"},
            "rule_files": [str(p) for p in rule_files],
            "scrape_configs": [{"job_name": "fraudwatch",
                                "static_configs": [{"targets": scrape_targets}]}],
        }
        if alertmanager:
            cfg["alerting"] = {"alertmanagers": [{"static_configs": [
                {"targets": [alertmanager.removeprefix("http://")]}]}]}
        cfg_path = workdir / "prometheus.yml"
        cfg_path.write_text(yaml.safe_dump(cfg))
        port = free_port()
        super().__init__("prometheus", [
            PROMETHEUS, f"--config.file={cfg_path}", f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn",
            "--storage.tsdb.retention.time=1d"], port, workdir)

    def query(self, expr: str) -> list[dict]:
        """Instant query result (vector/matrix entries; scalar as one entry)."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        out = http_json(url)
        if out.get("status") != "success":
            raise ValueError(f"query failed: {expr}: {out}")
        data = out["data"]
        if data["resultType"] in ("scalar", "string"):
            return [{"value": data["result"]}]
        return data["result"]

    def alerts(self) -> list[dict]:
        return http_json(f"{self.url}/api/v1/alerts")["data"]["alerts"]


# -- fixtures --------------------------------------------------------------------------
@pytest.fixture
def webhook():
    receiver = WebhookReceiver()
    try:
        yield receiver
    finally:
        receiver.close()


@pytest.fixture
def alertmanager(tmp_path, webhook):
    am = Alertmanager(tmp_path / "alertmanager", alertmanager_config(webhook.url)).start()
    try:
        yield am
    finally:
        am.stop()
