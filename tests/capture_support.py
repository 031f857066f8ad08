"""Helpers for the capture tests: build packets and capture files with struct, ask tshark.

Kept apart from ``capture/`` on purpose: a writer shared with the reader under test would
let a bug cancel itself out. tshark (the reference) reads every file built here.
"""

from __future__ import annotations

import socket
import struct
import subprocess
from collections import Counter
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PCAPS = DATA / "pcap"
SIPMSG = DATA / "sipmsg" / "resiprocate"


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1,
         flags_offset: int = 0, total: int | None = None) -> bytes:
    total = 20 + len(payload) if total is None else total
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, ident, flags_offset, 64, proto, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    head = head[:10] + struct.pack("!H", checksum(head)) + head[12:]
    return head + payload


def ipv6(src: str, dst: str, nxt: int, payload: bytes) -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(payload), nxt, 64,
                       socket.inet_pton(socket.AF_INET6, src),
                       socket.inet_pton(socket.AF_INET6, dst)) + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes, flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, flags, 65535, 0, 0) + payload


def ethernet(ethertype: int, payload: bytes, vlans: tuple[int, ...] = ()) -> bytes:
    head = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01"
    for i, vid in enumerate(vlans):
        tpid = 0x88A8 if i == 0 and len(vlans) > 1 else 0x8100
        head += struct.pack("!HH", tpid, vid)
    return head + struct.pack("!H", ethertype) + payload


def udp4_frame(payload: bytes, src: str = "192.0.2.1", dst: str = "192.0.2.2",
               sport: int = 5060, dport: int = 5060) -> bytes:
    return ethernet(0x0800, ipv4(src, dst, 17, udp(sport, dport, payload)))


def write_pcap(path: Path, linktype: int, frames: list[tuple[float, bytes]],
               order: str = "<", nano: bool = False, snaplen: int = 65535) -> Path:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for t, frame in frames:
        sec = int(t)
        frac = round((t - sec) * (1e9 if nano else 1e6))
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))
    return path


def _block(btype: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path: Path, interfaces: list[tuple[int, int | None]],
                 packets: list[tuple[int, float, bytes]]) -> Path:
    """``interfaces``: (link type, if_tsresol byte or None); ``packets``: (iface, time, frame)."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for linktype, tsresol in interfaces:
        opts = b""
        if tsresol is not None:
            opts = struct.pack("<HHB3x", 9, 1, tsresol) + struct.pack("<HH", 0, 0)
        out.append(_block(1, struct.pack("<HHI", linktype, 0, 0) + opts))
    for iface, t, frame in packets:
        tsresol = interfaces[iface][1]
        per_sec = 10 ** 6 if tsresol is None else (
            2 ** (tsresol & 0x7F) if tsresol & 0x80 else 10 ** tsresol)
        ticks = round(t * per_sec)
        out.append(_block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                         len(frame), len(frame)) + frame))
    path.write_bytes(b"".join(out))
    return path


def tshark_rows(path: Path, fields: list[str], display_filter: str = "sip",
                extra: tuple[str, ...] = ()) -> list[list[str]]:
    cmd = ["tshark", "-r", str(path), "-Y", display_filter, "-T", "fields", *extra]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    return [line.split("\t") for line in out.splitlines()]


def tshark_sip_counts(path: Path, extra: tuple[str, ...] = ()) -> Counter:
    """``method:X`` / ``status:N`` counts as tshark dissects them (one frame may hold
    several messages: tshark joins their values with commas)."""
    counts: Counter = Counter()
    for row in tshark_rows(path, ["sip.Method", "sip.Status-Code"], extra=extra):
        methods, statuses = row[0], row[1] if len(row) > 1 else ""
        for m in methods.split(","):
            if m:
                counts["method:" + m] += 1
        for s in statuses.split(","):
            if s:
                counts["status:" + s] += 1
    return counts
