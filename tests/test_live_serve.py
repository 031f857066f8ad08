"""``fraudwatch serve --interface lo``: real sipp calls sniffed live become call records."""

from __future__ import annotations

import socket

import pytest

from tests.services_sip import Served, Sipp, free_port
from tests.test_live_capture import wait_listening


@pytest.fixture
def sipp(tmp_path):
    s = Sipp(tmp_path)
    yield s
    s.stop()


def test_serve_sniffing_loopback_counts_every_sipp_call(sipp, tmp_path):
    uas_port, uac_port = free_port(), free_port()
    calls = 8
    served = Served(["--interface", "lo", "--bpf", f"udp port {uas_port} or udp port "
                     f"{uac_port}", "--alerts", str(tmp_path / "alerts.jsonl"), "--json",
                     "--status-interval", "0.3"], cwd=tmp_path)
    try:
        served.wait_line(r"sniffing lo with filter")
        sipp.uas(uas_port)
        wait_listening(uas_port, socket.SOCK_DGRAM)
        stats = sipp.uac(uas_port, uac_port, calls=calls, rate=50)
        # 6 messages a call (INVITE, 180, 200, ACK, BYE, 200), each seen once
        served.wait_line(rf"serve: {6 * calls} frames, {6 * calls} SIP datagrams", timeout=30)
        summary = served.stop()
    finally:
        served.kill()
    assert stats["exit_code"] == "0" and int(stats["SuccessfulCall(C)"]) == calls
    assert summary["records"] == {"call": calls}
    assert summary["live"]["frames"] == 6 * calls and not summary["live"]["errors"]
    assert summary["sip"]["requests"] == {"ACK": calls, "BYE": calls, "INVITE": calls}
    assert summary["sip"]["responses"] == {"180": calls, "200": 2 * calls}
    assert (tmp_path / "alerts.jsonl").exists()
