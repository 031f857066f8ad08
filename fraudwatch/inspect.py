"""One call's signalling, as tshark dissects it, drawn as a ladder.

An investigator who holds an alert with a Call-ID wants to see the call itself: who sent
what to whom, in order, with the headers that tell a forged identity from a real one.
This reads the capture through tshark (via pyshark), keeps only the packets of that
Call-ID, and prints a ladder: time, direction, method or status, and the key headers
(From, To, CSeq, User-Agent, P-Asserted-Identity). ``full=True`` also keeps tshark's
complete dissection of every packet.

The tshark process is always closed (``FileCapture.close``), also on errors. A capture
of HEP (taken on a collector's port) is unwrapped first: tshark has no HEP dissector.
"""

from __future__ import annotations

import socket
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from fraudwatch.errors import UserError

#: (label in the ladder, pyshark field name of the SIP layer)
KEY_HEADERS = (("From", "from"), ("To", "to"), ("CSeq", "cseq"), ("User-Agent", "user_agent"),
               ("P-Asserted-Identity", "p_asserted_identity"))


@dataclass
class LadderStep:
    """One SIP message of the call."""

    frame: int
    time: float
    src: str
    dst: str
    transport: str
    #: the method of a request (``INVITE``) or the status line of a response (``200 OK``)
    label: str
    headers: dict[str, str] = field(default_factory=dict)
    #: tshark's complete dissection of the packet (``full=True`` only)
    dissection: str = ""
    #: ``hep`` when the message was unwrapped from HEP before tshark dissected it
    via: str = ""

    @property
    def is_request(self) -> bool:
        return not self.label[:1].isdigit()


def display_filter(call_id: str) -> str:
    """The tshark display filter for one Call-ID, quoted safely.

    >>> display_filter('a"b\\\\c@host')
    'sip.Call-ID == "a\\\\"b\\\\\\\\c@host"'
    """
    quoted = call_id.replace("\\", "\\\\").replace('"', '\\"')
    return f'sip.Call-ID == "{quoted}"'


def call_ladder(path: Path | str, call_id: str, full: bool = False,
                tshark_path: str | None = None) -> list[LadderStep]:
    """The SIP messages of one call in a capture, in capture order."""

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such capture file")
    if not call_id or "\n" in call_id:
        raise UserError("--call-id must be one non-empty Call-ID")
    steps = _dissect(path, call_id, full, tshark_path)
    if not steps:
        # tshark has no HEP dissector: a capture of HEP (a collector's port) is unwrapped
        # into a temporary capture of the SIP inside, which tshark then dissects
        with tempfile.TemporaryDirectory(prefix="fraudwatch-inspect-") as tmp:
            frames: list[int] = []
            inner = unwrap_hep(path, Path(tmp) / "hep-inner.pcap", frames)
            if inner is not None:
                steps = _dissect(inner, call_id, full, tshark_path)
                for s in steps:
                    s.via = "hep"
                    s.frame = frames[s.frame - 1]  # the HEP frame's number in the original
    return steps


def _dissect(path: Path, call_id: str, full: bool, tshark_path: str | None) -> list[LadderStep]:
    import pyshark

    cap = pyshark.FileCapture(str(path), display_filter=display_filter(call_id),
                              keep_packets=False, tshark_path=tshark_path)
    steps: list[LadderStep] = []
    try:
        for pkt in cap:
            steps.extend(_steps(pkt, call_id, full))
    except pyshark.capture.capture.TSharkCrashException as e:
        raise UserError(f"{path}: tshark cannot read this capture ({_first_line(e)})") from None
    finally:
        cap.close()
    return steps


def unwrap_hep(path: Path | str, out: Path | str,
               frames: list[int] | None = None) -> Path | None:
    """The SIP carried as HEP in a capture, written to ``out`` as plain packets (the
    original addresses, ports and capture times; every message as UDP, since each HEP
    frame holds a whole message); None if the capture holds no HEP. ``frames`` receives
    the original frame number of each packet written."""
    from capture.hep import HepDecoder, is_hep
    from capture.pcapfile import read_packets

    decoder = HepDecoder()
    inner = []
    for d in read_packets(path):
        if is_hep(d.payload):
            for x in decoder.decapsulate(d):
                inner.append(x)
                if frames is not None:
                    number = d.origin.rpartition("#")[2]
                    frames.append(int(number) if number.isdigit() else len(frames) + 1)
    if not inner:
        return None
    parts = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # pcap, Ethernet
    for d in inner:
        udp = struct.pack(">HHHH", d.sport, d.dport, 8 + len(d.payload), 0) + d.payload
        if ":" in d.src or ":" in d.dst:
            ip = struct.pack(">IHBB", 6 << 28, len(udp), 17, 64) + \
                _addr(socket.AF_INET6, d.src) + _addr(socket.AF_INET6, d.dst)
            ethertype = b"\x86\xdd"
        else:
            ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0) + \
                _addr(socket.AF_INET, d.src) + _addr(socket.AF_INET, d.dst)
            ethertype = b"\x08\x00"
        frame = bytes(12) + ethertype + ip + udp
        sec = int(d.time)
        usec = min(999_999, int(round((d.time - sec) * 1e6)))
        parts.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    Path(out).write_bytes(b"".join(parts))
    return Path(out)


def _addr(family: int, text: str) -> bytes:
    try:
        return socket.inet_pton(family, text)
    except OSError:  # a HEP frame without addresses
        return bytes(4 if family == socket.AF_INET else 16)


def _first_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return text[-1] if text else type(e).__name__


def _steps(pkt, call_id: str, full: bool) -> list[LadderStep]:
    net = getattr(pkt, "ip", None) or getattr(pkt, "ipv6", None)
    src = dst = "?"
    transport = (pkt.transport_layer or "").lower()
    if net is not None:
        src, dst = net.src, net.dst
    tl = getattr(pkt, transport, None) if transport else None
    if tl is not None:
        src, dst = _join(src, tl.srcport), _join(dst, tl.dstport)
    out = []
    # one TCP segment may carry several SIP messages, of this call or another
    for sip in pkt.get_multiple_layers("sip"):
        if sip.get_field_value("call_id") != call_id:
            continue
        method = sip.get_field_value("method")
        if method:
            label = method
        else:
            status = sip.get_field_value("status_line") or ""
            label = status.removeprefix("SIP/2.0 ").strip() or str(
                sip.get_field_value("status_code"))
        headers = {name: str(v) for name, f in KEY_HEADERS
                   if (v := sip.get_field_value(f)) is not None}
        out.append(LadderStep(frame=int(pkt.number), time=float(pkt.sniff_timestamp), src=src,
                              dst=dst, transport=transport or "?", label=label, headers=headers,
                              dissection=str(pkt) if full else ""))
    return out


def _join(host: str, port) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def call_ids(path: Path | str, limit: int = 5, tshark: str = "tshark") -> list[str]:
    """A few Call-IDs present in a capture (for the message when the asked one is absent),
    from tshark; for a capture of HEP, from the SIP inside."""
    found = _tshark_call_ids(path, limit, tshark)
    if not found:
        with tempfile.TemporaryDirectory(prefix="fraudwatch-inspect-") as tmp:
            inner = unwrap_hep(path, Path(tmp) / "hep-inner.pcap")
            if inner is not None:
                found = _tshark_call_ids(inner, limit, tshark)
    return found


def _tshark_call_ids(path: Path | str, limit: int, tshark: str) -> list[str]:
    try:
        out = subprocess.run([tshark, "-r", str(path), "-Y", "sip", "-T", "fields",
                              "-e", "sip.Call-ID"], capture_output=True, text=True,
                             timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    seen: list[str] = []
    for line in out.splitlines():
        line = line.strip()
        if line and line not in seen:
            seen.append(line)
            if len(seen) >= limit:
                break
    return seen


def render_ladder(steps: list[LadderStep], out: TextIO, width: int = 36) -> None:
    """A ladder: one column per endpoint (in order of appearance), an arrow per message.

    >>> import io
    >>> s = [LadderStep(1, 0.5, "10.0.0.1:5060", "10.0.0.2:5060", "udp", "INVITE",
    ...                 {"From": "<sip:a@x>"}),
    ...      LadderStep(2, 0.75, "10.0.0.2:5060", "10.0.0.1:5060", "udp", "200 OK")]
    >>> buf = io.StringIO(); render_ladder(s, buf, width=20); print(buf.getvalue(), end="")
    time (UTC)                     10.0.0.1:5060       10.0.0.2:5060
    1970-01-01 00:00:00.500000  #1 |------INVITE------>|
                                       From: <sip:a@x>
    1970-01-01 00:00:00.750000  #2 |<------200 OK------|
    """
    endpoints: list[str] = []
    for s in steps:
        for ep in (s.src, s.dst):
            if ep not in endpoints:
                endpoints.append(ep)
    col = {ep: i for i, ep in enumerate(endpoints)}
    # long (IPv6) endpoints widen the columns; frame numbers widen the lead
    width = max(width, min(64, max((len(ep) + 2 for ep in endpoints), default=0)))
    lead = 30 + max((len(str(s.frame)) for s in steps), default=1)
    out.write(f"{'time (UTC)':<{lead}}" + "".join(f"{ep:<{width}}" for ep in endpoints).rstrip()
              + "\n")
    for s in steps:
        a, b = col[s.src], col[s.dst]
        left, right = min(a, b), max(a, b)
        stamp = datetime.fromtimestamp(s.time, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        prefix = f"{stamp}  #{s.frame} "
        line = [" "] * (width * max(1, len(endpoints) - 1) + 1)
        for i in range(len(endpoints)):
            if i * width < len(line):
                line[i * width] = "|"
        if left == right:  # a message to itself (loopback): a short self-arrow
            arrow = f"|<-{s.label}-"
            start = left * width
        else:
            span = (right - left) * width
            body = _centre(s.label, span - 2)
            arrow = ("|" + body + ">|") if a < b else ("|<" + body + "|")
            start = left * width
        for i, ch in enumerate(arrow):
            if start + i < len(line):
                line[start + i] = ch
            else:
                line.append(ch)
        out.write(f"{prefix:<{lead}}" + "".join(line).rstrip() + "\n")
        for name, value in s.headers.items():
            out.write(" " * (lead + 4) + f"{name}: {value}\n")
        if s.dissection:
            for dline in s.dissection.rstrip().splitlines():
                out.write(" " * (lead + 4) + dline + "\n")


def _centre(label: str, n: int) -> str:
    label = label[:max(1, n)]
    left = (n - len(label)) // 2
    return "-" * left + label + "-" * (n - len(label) - left)
