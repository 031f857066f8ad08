"""Throughput of HEP decoding, the HEP collector and the live frame decoder.

Run on demand (not a test): ``.venv/bin/python bench/bench_hep.py [--append]``.
``--append`` adds the results to ``bench/RESULTS.md`` under "HEP collector and live capture".
Loops are bounded in count and time.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import struct
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from capture.hep import HepDecoder, encode_hep2, encode_hep3  # noqa: E402
from capture.hepcollector import HepCollector  # noqa: E402
from capture.pcapfile import LINKTYPE_ETHERNET, PacketDecoder  # noqa: E402

INVITE = (
    b"INVITE sip:13812345678@10.0.0.2 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK776asdhds\r\n"
    b"Max-Forwards: 70\r\nTo: <sip:13812345678@10.0.0.2>\r\n"
    b"From: <sip:+85512345678@10.0.0.1>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710@pc33.example.com\r\nCSeq: 314159 INVITE\r\n"
    b"Contact: <sip:+85512345678@10.0.0.1>\r\nUser-Agent: bench\r\n"
    b"Content-Type: application/sdp\r\nContent-Length: 142\r\n\r\n"
    + b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\n"
)


def rate(fn, n: int, budget: float = 10.0) -> float:
    """Calls per second of ``fn`` over at most ``n`` calls or ``budget`` seconds."""
    t0 = time.perf_counter()
    done = 0
    while done < n:
        for _ in range(1000):
            fn()
        done += 1000
        if time.perf_counter() - t0 > budget:
            break
    return done / (time.perf_counter() - t0)


def bench_decode() -> dict[str, float]:
    dec = HepDecoder()
    plain = encode_hep3(INVITE, "10.0.0.1", 5060, "10.0.0.2", 5060, time=1.7e9, capture_id=1,
                        node="sbc-1")
    gz = encode_hep3(INVITE, "10.0.0.1", 5060, "10.0.0.2", 5060, time=1.7e9, compress=True)
    v2 = encode_hep2(INVITE, "10.0.0.1", 5060, "10.0.0.2", 5060, time=1.7e9)
    udp = struct.pack(">HHHH", 5060, 5060, 8 + len(INVITE), 0) + INVITE
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0,
                     socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"))
    frame = bytes(12) + b"\x08\x00" + ip + udp
    decode = PacketDecoder(Counter()).decode
    return {
        "hep3 decode (frames/s)": rate(lambda: dec.decode(plain), 300_000),
        "hep3 gzip decode (frames/s)": rate(lambda: dec.decode(gz), 100_000),
        "hep2 decode (frames/s)": rate(lambda: dec.decode(v2), 300_000),
        "live frame decode (PacketDecoder), Ethernet/IPv4/UDP (frames/s)": rate(
            lambda: decode(LINKTYPE_ETHERNET, frame, 1.0, "live:lo"), 300_000),
    }


def bench_collector(n_udp: int = 50_000, n_tcp: int = 200_000) -> dict[str, float]:
    frame = encode_hep3(INVITE, "10.0.0.1", 5060, "10.0.0.2", 5060, time=1.7e9)
    out: dict[str, float] = {}
    got = 0

    def sink(d) -> None:
        nonlocal got
        got += 1

    with HepCollector(sink, port=0, queue_size=100_000) as c:
        # UDP capacity: bursts the kernel buffer holds, each drained before the next, so
        # what is measured is the collector, not the sender outrunning it
        burst = 1000
        t0 = time.perf_counter()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(n_udp // burst):
                for _ in range(burst):
                    s.sendto(frame, ("127.0.0.1", c.udp_port))
                c.wait_for((i + 1) * burst, timeout=5)
        c.wait_quiet(quiet=0.3, timeout=60)
        elapsed = time.perf_counter() - t0 - 0.3
        out["collector UDP delivered, 1000-frame bursts (frames/s)"] = got / elapsed
        out["collector UDP lost in kernel (%)"] = 100.0 * (n_udp - c.stats.frames["udp"]) / n_udp
        got = 0
        before = c.handled
        stream = frame * 1000
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", c.tcp_port)) as s:
            for _ in range(n_tcp // 1000):
                s.sendall(stream)
        c.wait_for(before + n_tcp, timeout=120)
        elapsed = time.perf_counter() - t0
        out["collector TCP delivered (frames/s)"] = got / elapsed
        out["collector queue-full drops"] = c.stats.errors.get("queue full", 0)
    return out


def bench_live(n: int = 20_000) -> dict[str, float]:
    """Frames the scapy sniffer turns into datagrams per second on lo (needs root)."""
    from capture.live import LiveCapture

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    got = []
    try:
        live = LiveCapture(got.append, "lo", f"udp port {port}").start()
    except Exception as e:  # noqa: BLE001 - no permission: report, do not fail the bench
        print(f"live capture skipped: {e}", file=sys.stderr)
        return {}
    time.sleep(0.3)
    burst = 1000
    t0 = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i in range(n // burst):
            for _ in range(burst):
                s.sendto(INVITE, ("127.0.0.1", port))
            # drain each burst (bounded) so the sniffer, not the sender, is measured
            deadline = time.monotonic() + 10
            while live.frames < (i + 1) * burst and time.monotonic() < deadline:
                time.sleep(0.002)
            if live.frames < (i + 1) * burst:
                break
    elapsed = time.perf_counter() - t0
    live.stop()
    return {"live capture on lo, 1000-frame bursts (frames/s)": live.frames / elapsed,
            "live capture lost (%)": 100.0 * (n - len(got)) / n}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--append", action="store_true", help="append to bench/RESULTS.md")
    args = ap.parse_args()
    results = {**bench_decode(), **bench_collector(), **bench_live()}
    lines = [f"- {k}: {v:,.0f}" if v >= 100 else f"- {k}: {v:.2f}" for k, v in results.items()]
    load = os.getloadavg()[0]
    head = (f"### {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python {platform.python_version()}, "
            f"{os.cpu_count()} CPUs (load average {load:.1f} at the end), "
            f"INVITE of {len(INVITE)} bytes")
    text = head + "\n" + "\n".join(lines) + "\n"
    print(text)
    if args.append:
        path = Path(__file__).with_name("RESULTS.md")
        heading = "## HEP collector and live capture (capture/hep.py, hepcollector.py, live.py)"
        existing = path.read_text() if path.exists() else "# Benchmark results\n"
        if heading not in existing:
            existing += f"\n{heading}\n\n`.venv/bin/python bench/bench_hep.py --append`\n\n"
        path.write_text(existing.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
