"""Real SIP tools for tests: sngrep (HEP sender/decoder), sipp (call generator), tshark.

Everything runs on 127.0.0.1, on free ports, bounded in time. Import the helpers in test
files; nothing here is a fixture in ``conftest.py``.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

from capture.packets import Datagram

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PCAPS = SHARED_DATA / "pcap"
HEP_PCAPS = PCAPS / "hep-wireshark"


def require(tool: str) -> str:
    """The path of an installed tool; a missing one is a failure (scripts/test.sh installs it)."""
    path = shutil.which(tool)
    assert path, f"{tool} is not installed: run scripts/test.sh"
    return path


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A free port on 127.0.0.1 (bind port 0), for servers the test then starts."""
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tshark_fields(path: Path | str, fields: list[str], display_filter: str = "sip",
                  extra: list[str] | None = None, timeout: float = 60) -> list[list[str]]:
    """One row per packet of ``tshark -T fields`` (tab-separated fields)."""
    cmd = [require("tshark"), "-r", str(path), "-Y", display_filter, "-T", "fields",
           "-E", "separator=\t", "-E", "occurrence=f", *(extra or [])]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True).stdout
    return [line.split("\t") for line in out.splitlines() if line.strip()]


def sngrep_send_hep(path: Path | str, port: int, version: int = 3, capture_id: int = 2001,
                    workdir: Path | None = None, timeout: float = 60) -> None:
    """Replay a capture's SIP messages as HEP to ``127.0.0.1:port`` with the real sngrep."""
    cmd = [require("sngrep"), "-N", "-q", "-I", str(path), "-H", f"udp:127.0.0.1:{port}"]
    if workdir is not None:
        conf = Path(workdir) / f"sngrep-v{version}.conf"
        conf.write_text(f"set eep.send.version {version}\nset eep.send.id {capture_id}\n")
        cmd[1:1] = ["-f", str(conf)]
    subprocess.run(cmd, capture_output=True, timeout=timeout, check=True,
                   stdin=subprocess.DEVNULL)


def sngrep_unwrap_hep(path: Path | str, out: Path | str, timeout: float = 60) -> Path:
    """sngrep's own HEP decoding (``-E``): writes the inner SIP of a HEP capture to ``out``."""
    subprocess.run([require("sngrep"), "-N", "-q", "-E", "-I", str(path), "-O", str(out)],
                   capture_output=True, timeout=timeout, check=True, stdin=subprocess.DEVNULL)
    return Path(out)


def write_udp_pcap(datagrams, out: Path | str) -> Path:
    """Datagrams as plain Ethernet/IPv4/UDP packets in a classic pcap (struct, no scapy),
    so tshark and the capture readers can read their payloads."""
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for d in datagrams:
        src = d.src if ":" not in d.src else "10.0.0.1"
        dst = d.dst if ":" not in d.dst else "10.0.0.2"
        udp = struct.pack(">HHHH", d.sport or 5060, d.dport or 5060, 8 + len(d.payload), 0)
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + len(d.payload), 0, 0, 64, 17, 0,
                         socket.inet_aton(src), socket.inet_aton(dst))
        frame = bytes(12) + b"\x08\x00" + ip + udp + d.payload
        sec = int(d.time)
        usec = min(999_999, int(round((d.time - sec) * 1e6)))
        parts.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    Path(out).write_bytes(b"".join(parts))
    return Path(out)


def scan_datagrams(scanner: str = "203.0.113.9", sbc: str = "192.0.2.10",
                   extensions: int = 30, start: float = 1_790_000_000.0) -> list[Datagram]:
    """A SIP scanner (``friendly-scanner``) trying REGISTER on many extensions, each refused
    with 404, and one subscriber registering normally (401 challenge, then 200)."""
    out: list[Datagram] = []
    t = start

    def msg(first: str, call_id: str, cseq: str, user: str, ua: str = "") -> bytes:
        lines = [first, f"Via: SIP/2.0/UDP {scanner}:5070;branch=z9hG4bK{call_id}",
                 f"From: <sip:{user}@{sbc}>;tag=a{call_id}", f"To: <sip:{user}@{sbc}>",
                 f"Call-ID: {call_id}", f"CSeq: {cseq}", f"Contact: <sip:{user}@{scanner}>"]
        if ua:
            lines.append(f"User-Agent: {ua}")
        return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()

    for i in range(extensions):
        ext, cid = str(1000 + i), f"scan{i}"
        out.append(Datagram(t, scanner, 5070, sbc, 5060, "udp",
                            msg(f"REGISTER sip:{sbc} SIP/2.0", cid, "1 REGISTER", ext,
                                "friendly-scanner")))
        out.append(Datagram(t + 0.01, sbc, 5060, scanner, 5070, "udp",
                            msg("SIP/2.0 404 Not Found", cid, "1 REGISTER", ext)))
        t += 0.5
    user, cid, home = "02161234567", "home1", "198.51.100.20"
    for cseq, status in ((1, "401 Unauthorized"), (2, "200 OK")):
        req = msg(f"REGISTER sip:{sbc} SIP/2.0", cid, f"{cseq} REGISTER", user, "Yealink T46")
        out.append(Datagram(t, home, 5060, sbc, 5060, "udp", req.replace(scanner.encode(),
                                                                         home.encode())))
        out.append(Datagram(t + 0.02, sbc, 5060, home, 5060, "udp",
                            msg(f"SIP/2.0 {status}", cid, f"{cseq} REGISTER", user)))
        t += 1.0
    return out


def sip_first_line(payload: bytes) -> str:
    """``INVITE`` for a request, the status code (``200``) for a response."""
    line = payload.split(b"\n", 1)[0].strip().decode("utf-8", "replace")
    if line.startswith("SIP/2.0 "):
        return line.split()[1]
    return line.split(" ", 1)[0]


class Sipp:
    """Real sipp UAS/UAC pairs on 127.0.0.1 (Debian sip-tester), on free ports.

    Media ports (``-mp``) are chosen free too: helpers run sipp at the same time.
    """

    def __init__(self, workdir: Path) -> None:
        self.sipp = require("sipp")
        self.workdir = Path(workdir)
        self._procs: list[subprocess.Popen] = []

    def uas(self, port: int, transport: str = "u1") -> subprocess.Popen:
        """A UAS answering every call (``transport``: sipp's ``u1`` UDP or ``t1`` TCP)."""
        p = subprocess.Popen([self.sipp, "-sn", "uas", "-i", "127.0.0.1", "-p", str(port),
                              "-mp", str(free_port()), "-t", transport, "-nostdin"],
                             cwd=self.workdir, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        self._procs.append(p)
        return p

    def uac(self, uas_port: int, port: int, calls: int, rate: int = 20,
            timeout: float = 30, transport: str = "u1") -> dict[str, str]:
        """Place ``calls`` calls; sipp's exit code (0: every call succeeded) and its own
        final statistics (``-trace_stat``), e.g. ``stats["SuccessfulCall(C)"]``."""
        stats_file = self.workdir / f"uac-{port}.csv"
        done = subprocess.run(
            [self.sipp, "-sn", "uac", f"127.0.0.1:{uas_port}", "-m", str(calls),
             "-r", str(rate), "-i", "127.0.0.1", "-p", str(port), "-mp", str(free_port()),
             "-t", transport, "-nostdin", "-timeout", f"{int(timeout)}s", "-trace_stat",
             "-stf", str(stats_file)],
            cwd=self.workdir, capture_output=True, timeout=timeout + 10,
            stdin=subprocess.DEVNULL)
        lines = [ln for ln in stats_file.read_text().splitlines() if ln.strip()]
        stats = dict(zip(lines[0].split(";"), lines[-1].split(";"), strict=False))
        stats["exit_code"] = str(done.returncode)
        return stats

    def stop(self) -> None:
        for p in self._procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
        self._procs.clear()


class Served:
    """A ``fraudwatch serve`` process, its ports from its stderr; always stopped."""

    def __init__(self, args: list[str], cwd) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "fraudwatch", "serve", *args],
                                     cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []

    def wait_line(self, pattern: str, timeout: float = 20.0) -> re.Match:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                if self.proc.poll() is not None:
                    break
                continue
            self.lines.append(line)
            m = re.search(pattern, line)
            if m:
                return m
        raise AssertionError(f"no {pattern!r} from serve; stderr so far: {self.lines}")

    def stop(self, timeout: float = 60.0) -> dict:
        self.proc.send_signal(signal.SIGTERM)
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, err
        return json.loads(out.strip().splitlines()[-1])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
