"""Every shared capture: our SIP request/response counts equal tshark's, file by file."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cache

import pytest

from capture.hep import HepDecoder
from capture.pcapfile import read_packets
from capture.sipcapture import read_capture
from tests.capture_support import PCAPS, tshark_rows, tshark_sip_counts, udp4_frame, write_pcap

CAPTURES = sorted(p for p in PCAPS.rglob("*") if p.is_file())
HEP_DIR = "hep-wireshark"


@cache
def tshark_counts_of_all():
    """tshark on every capture, two at a time (tshark's start-up dominates small files)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(CAPTURES, pool.map(tshark_sip_counts, CAPTURES), strict=True))


def test_the_shared_captures_are_there():
    assert len(CAPTURES) >= 30
    assert PCAPS / "sipnab" / "SIP_CALL_RTP_G711" in CAPTURES  # no extension, still read


@pytest.mark.parametrize("path", [p for p in CAPTURES if p.parent.name != HEP_DIR],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sip_counts_equal_tsharks(path):
    result = read_capture(path)
    records = list(result)
    assert result.stats == tshark_counts_of_all()[path]
    # nothing is silently lost: a reader error would show up here
    assert not {k for k in result.errors if k.startswith(("truncated", "not_a_capture"))}
    assert all(r.record_kind in ("call", "registration") for r in records)


@pytest.mark.parametrize("path", [p for p in CAPTURES if p.parent.name == HEP_DIR],
                         ids=lambda p: p.name)
def test_hep_captures_count_what_tshark_sees_once_unwrapped(path, tmp_path):
    """Documented difference: tshark 4.0 shows no SIP in these files (it neither decodes
    HEP on port 9060 by default nor inflates HEP's gzip payloads), while SipCapture
    unwraps HEP itself. The reference is then tshark on the unwrapped payloads, written
    as plain UDP packets by an independent decoder (capture.hep, part B's)."""
    assert not tshark_counts_of_all()[path]
    decoder = HepDecoder()
    frames = []
    for d in read_packets(path):
        for inner in decoder.decapsulate(d):
            frames.append((inner.time, udp4_frame(inner.payload)))
    inner_pcap = write_pcap(tmp_path / "inner.pcap", 1, frames)
    expected = tshark_sip_counts(inner_pcap)
    result = read_capture(path)
    list(result)
    assert expected and result.stats == expected


def test_http_on_the_sip_port_is_not_sip():
    """tshark's ``sip`` filter matches 2 frames of nDPI's http_on_sip_port.pcap (HTTP to
    port 5060, dissected by port as SIP continuation data) but finds no method or status
    in them; by content, SipCapture sees no SIP at all and counts nothing."""
    path = PCAPS / "nDPI" / "http_on_sip_port.pcap"
    rows = tshark_rows(path, ["sip.Method", "sip.Status-Code", "tcp.dstport", "tcp.srcport"])
    assert len(rows) == 2 and all(not r[0] and not r[1] for r in rows)
    assert all("5060" in (r[2], r[3]) for r in rows)
    payloads = [d.payload for d in read_packets(path) if d.payload]
    assert any(p.startswith((b"GET ", b"POST ", b"HTTP/")) for p in payloads)
    result = read_capture(path)
    assert list(result) == [] and not result.stats
