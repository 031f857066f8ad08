"""Ladders in the report for real captures, checked against tshark's view of the call."""

from __future__ import annotations

import html
import re
import shutil
import subprocess

import pytest

from fraudwatch.report import build_report
from fraudwatch.report.ladder import call_messages, complete_calls, scan_start_lines
from tests.report_support import DATA, dump_dom, page_errors

CAPTURES = [DATA / "pcap" / "sipnab" / "register-invite-reinvite-bye.pcap",
            DATA / "pcap" / "DrawMyCall" / "sip-rtp-g722.pcap"]


def tshark_messages(path, call_id: str) -> list[tuple[str, str, str]]:
    """tshark's SIP messages of one Call-ID in frame order: (src, dst, method or status)."""
    out = subprocess.run(
        ["tshark", "-r", str(path), "-Y", f'sip.Call-ID == "{call_id}"', "-T", "fields",
         "-e", "ip.src", "-e", "udp.srcport", "-e", "ip.dst", "-e", "udp.dstport",
         "-e", "sip.Method", "-e", "sip.Status-Code", "-E", "separator=|"],
        capture_output=True, text=True, timeout=60, check=True).stdout
    messages = []
    for line in out.splitlines():
        src, sport, dst, dport, method, status = line.split("|")
        messages.append((f"{src}:{sport}", f"{dst}:{dport}", status.strip() or method.strip()))
    return messages


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.name)
def test_ladder_of_a_complete_call_matches_tshark(capture, tmp_path):
    assert shutil.which("tshark"), "Debian tshark is required"
    ids = complete_calls(capture, limit=1)
    assert ids, "the capture holds a complete INVITE dialog"
    call_id = ids[0]
    expected_messages = tshark_messages(capture, call_id)
    expected = [label for _, _, label in expected_messages]
    assert "INVITE" in expected and "BYE" in expected

    out = tmp_path / "report.html"
    result = build_report([capture], out)
    assert str(capture) in result.summary.inputs
    page = out.read_text(encoding="utf-8")
    ladders = re.findall(r'<svg[^>]*class="ladder".*?</svg>', page, re.S)
    mine = next(s for s in ladders if html.escape(call_id) in s)
    labels = [html.unescape(x) for x in re.findall(r'<text class="msg"[^>]*>([^<]*)</text>', mine)]
    assert [label.split()[0] for label in labels] == expected
    # the messages come in capture order; the page's ladder uses capture.sipcapture's
    # parser, and the fallback start-line scan agrees with tshark too
    msgs = call_messages(capture, call_id)
    assert [m[0] for m in msgs] == sorted(m[0] for m in msgs)
    assert len(msgs) == len(expected)
    scanned = scan_start_lines(str(capture))[call_id]
    assert [(src, dst, label.split()[0]) for _, src, dst, label in scanned] == expected_messages

    dom, _ = dump_dom(out, tmp_path)
    assert page_errors(dom) == [] and 'data-ready="1"' in dom
    assert 'class="ladder"' in dom


def test_without_the_capture_parser_captures_still_get_ladders(tmp_path, monkeypatch):
    """A build without capture.sipcapture cannot replay captures: the report says so and
    still draws the calls from a start-line scan."""
    import sys

    from fraudwatch.report import ladder

    monkeypatch.setitem(sys.modules, "capture.sipcapture", None)  # import fails
    ladder.scan_capture.cache_clear()
    capture = CAPTURES[0]
    try:
        result = build_report([capture], tmp_path / "r.html")
    finally:
        ladder.scan_capture.cache_clear()
    assert result.summary.total_records == 0
    assert any("capture.sipcapture" in n for n in result.data.notes)
    page = result.path.read_text(encoding="utf-8")
    assert "capture.sipcapture" in page
    labels = re.findall(r'<text class="msg"[^>]*>([^<]*)</text>', page)
    assert labels[0] == "INVITE" and labels[-2:] == ["BYE", "200 OK"]


def test_alerts_from_a_simulated_capture_get_ladders_of_their_own_calls(tmp_path):
    """Replaying a simulated SIP capture: alert sections draw one of the subject's calls,
    message for message as capture.sipcapture reads that Call-ID."""
    from capture.sipcapture import call_messages as parser_messages
    from fraudwatch.cli import main

    sim = tmp_path / "sim"
    assert main(["simulate", "--out", str(sim), "--days", "1", "--subscribers", "1000",
                 "--seed", "3", "--pcap", "--quiet"]) == 0
    capture = sim / "calls.pcap"
    result = build_report([capture], tmp_path / "r.html")
    assert result.summary.records["call"] > 0 and result.summary.alerts
    page = result.path.read_text(encoding="utf-8")
    sections = re.findall(r'<section class="alert-section[^>]*id="([^"]+)"(.*?)</section>',
                          page, re.S)
    by_anchor = {f"alert-{a.id}": a for a in result.summary.alerts}
    with_ladder = [(sid, body) for sid, body in sections if 'class="ladder"' in body]
    assert with_ladder, "no alert section has a ladder"
    for sid, body in with_ladder[:2]:
        alert = by_anchor[sid]
        call_id = html.unescape(re.search(r"Call-ID ([^<]+)</text>", body).group(1))
        subject_calls = {c.call_id for c in result.data.views[alert.subject].calls}
        assert call_id in subject_calls
        labels = [html.unescape(x) for x in
                  re.findall(r'<text class="msg"[^>]*>([^<]*)</text>', body)]
        assert labels == [m[3] for m in parser_messages(capture, call_id)]
        assert labels[0] == "INVITE"
