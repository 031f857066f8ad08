"""``fraudwatch serve`` as a process: HEP in, records and alerts out, the same as a replay."""

from __future__ import annotations

import json
import re
import socket
import urllib.request

import pytest

from capture.hep import encode_hep3
from capture.pcapfile import read_packets
from detector.alerts import read_alerts
from fraudwatch.cli import main
from tests.services_sip import Served, scan_datagrams, write_udp_pcap


@pytest.fixture
def scan_pcap(tmp_path):
    """A SIP scanner sweeping extensions, and a subscriber registering normally."""
    return write_udp_pcap(scan_datagrams(), tmp_path / "scan.pcap"), {"203.0.113.9"}


def test_serve_over_hep_raises_the_alerts_a_replay_raises(scan_pcap, tmp_path, capsys):
    pcap, scanners = scan_pcap
    assert main(["replay", str(pcap), "--alerts", str(tmp_path / "replay.jsonl"), "--json"]) == 0
    replayed = json.loads(capsys.readouterr().out)
    expected = read_alerts(tmp_path / "replay.jsonl")
    assert {a.subject for a in expected if a.kind == "sip_scan"} == scanners
    assert {a.severity for a in expected} == {"warning", "critical"}

    frames = [encode_hep3(d.payload, d.src, d.sport, d.dst, d.dport, time=d.time,
                          capture_id=7) for d in read_packets(pcap)]
    served = Served(["--hep-port", "0", "--alerts", str(tmp_path / "served.jsonl"), "--json",
                     "--status-interval", "0.3", "--metrics-port", "0"], cwd=tmp_path)
    try:
        ports = served.wait_line(r"HEP on udp [\d.]+:(\d+) and tcp [\d.]+:(\d+)")
        udp_port, tcp_port = int(ports.group(1)), int(ports.group(2))
        metrics_port = int(next(re.search(r":(\d+)/metrics", ln).group(1)
                                for ln in served.lines if "/metrics" in ln))
        with socket.create_connection(("127.0.0.1", tcp_port), timeout=10) as s:
            s.sendall(b"".join(frames))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # and one bad frame
            s.bind(("127.0.0.1", 0))
            junk_from = f"127.0.0.1:{s.getsockname()[1]}"
            s.sendto(b"HEP3\x00\x02", ("127.0.0.1", udp_port))
        # the status line is written after the metrics took in what it counts
        served.wait_line(rf"serve: {len(frames) + 1:,} frames, {len(frames):,} SIP datagrams",
                         timeout=60)
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics",
                                    timeout=10) as r:
            exposition = r.read().decode()
        summary = served.stop()
    finally:
        served.kill()
    got = read_alerts(tmp_path / "served.jsonl")
    assert sorted(a.id for a in got) == sorted(a.id for a in expected)
    assert summary["records"] == replayed["records"]
    assert summary["sip"] == replayed["sip"]
    assert summary["hep"]["frames"]["tcp"] == len(frames) and summary["hep"]["delivered"] == \
        len(frames)
    assert summary["alerts"] == len(expected)
    assert summary["malformed_by_reason"] == {"hep: bad total length": 1}
    assert summary["hep"]["first_rejects"] == [{"from": junk_from,
                                                "reason": "hep: bad total length"}]
    # metrics while serving: SIP counted, records waiting in the event-time reorder buffer
    # (the whole scan spans seconds, far less than the allowed lateness); no address in labels
    assert 'fraudwatch_sip_messages_total{name="REGISTER",type="request"} 32.0' in exposition
    assert "fraudwatch_reorder_buffer_records 32.0" in exposition
    assert not any(ip in exposition for ip in scanners)


def test_serve_needs_something_to_listen_to(capsys):
    assert main(["serve", "--alerts", "/dev/null"]) == 2
    assert "nothing to listen to" in capsys.readouterr().err


def test_serve_port_in_use_is_a_user_error(tmp_path, capsys):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        assert main(["serve", "--hep-port", str(port), "--alerts",
                     str(tmp_path / "a.jsonl"), "--duration", "1"]) == 2
    assert f"--hep-port {port}" in capsys.readouterr().err
