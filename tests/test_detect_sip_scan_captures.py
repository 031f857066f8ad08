"""sip_scan on packet captures: real third-party captures of ordinary phones (401/403 on
their own lines) raise nothing; a scanner capture checked with tshark raises one alert."""

from __future__ import annotations

import pytest

from fraudwatch.replay import replay
from tests.services_sip import PCAPS, scan_datagrams, tshark_fields, write_udp_pcap

# Real captures with REGISTER challenges and refusals of ordinary devices.
ORDINARY = ["sipnab/sip-auth-failure.pcapng", "suricata-verify/aaa_sip-method.pcap",
            "sipnab/register-invite-reinvite-bye.pcap", "sipnab/sip-proxy.pcap",
            "sipnab/sip-routing-error.pcapng"]


@pytest.mark.parametrize("name", ORDINARY)
def test_ordinary_devices_in_real_captures_are_not_scanners(name, tmp_path):
    path = PCAPS / name
    assert path.is_file(), f"third-party capture expected at {path}"
    summary = replay([path], alerts_path=tmp_path / "alerts.jsonl", kinds=["sip_scan"])
    assert summary.total_records > 0
    assert summary.alerts == []


def test_real_capture_with_failures_reaches_the_detector(tmp_path):
    # the auth-failure capture really holds a refused REGISTER (not an empty negative)
    seen = []
    replay([PCAPS / "sipnab/sip-auth-failure.pcapng"], kinds=["sip_scan"],
           on_record=lambda r: seen.append(getattr(r, "status", None)))
    assert 403 in seen


def test_scanner_capture_raises_one_alert_for_the_scanner(tmp_path):
    pcap = write_udp_pcap(scan_datagrams(extensions=30), tmp_path / "scan.pcap")
    rows = tshark_fields(pcap, ["ip.src", "sip.User-Agent"], "sip.Method == \"REGISTER\"")
    scanner_rows = [r for r in rows if r[1] == "friendly-scanner"]
    assert len(scanner_rows) == 30 and {r[0] for r in scanner_rows} == {"203.0.113.9"}
    summary = replay([pcap], alerts_path=tmp_path / "alerts.jsonl", kinds=["sip_scan"])
    assert {a.subject for a in summary.alerts} == {"203.0.113.9"}   # not the home device
    worst = max(summary.alerts, key=lambda a: (a.severity == "critical", a.time))
    assert worst.severity == "critical"
    assert worst.evidence["scanner"] == "friendly-scanner"
    assert worst.evidence["extensions"] >= 10
