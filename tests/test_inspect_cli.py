"""``fraudwatch inspect``: one call's ladder from a shared capture, checked against tshark."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fraudwatch.cli import main
from tests.services_sip import PCAPS, tshark_fields

CALL_PCAP = PCAPS / "sipnab/register-invite-reinvite-bye.pcap"
CALL_ID = "1-3812687@127.0.0.1"


def _tshark_call(path, call_id):
    rows = tshark_fields(path, ["frame.number", "sip.Method", "sip.Status-Code", "sip.CSeq",
                                "sip.User-Agent"], display_filter=f'sip.Call-ID == "{call_id}"')
    return [(int(n), m or s, cseq, ua) for n, m, s, cseq, ua in rows]


def _tshark_processes(marker: str) -> list[int]:
    """Live tshark/dumpcap processes reading a file whose name contains ``marker``."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if ("tshark" in cmdline or "dumpcap" in cmdline) and marker in cmdline:
            found.append(int(pid))
    return found


def test_ladder_of_a_known_call_matches_tshark(capsys):
    assert main(["inspect", str(CALL_PCAP), "--call-id", CALL_ID, "--json"]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = _tshark_call(CALL_PCAP, CALL_ID)
    assert len(expected) == 10  # INVITE/100/180/200/ACK, re-INVITE/200/ACK, BYE/200
    assert [s["frame"] for s in steps] == [n for n, *_ in expected]
    assert [s["message"].split()[0] for s in steps] == [m for _, m, _, _ in expected]
    assert [s["headers"]["CSeq"] for s in steps] == [c for _, _, c, _ in expected]
    assert [s["headers"].get("User-Agent", "") for s in steps] == [u for *_, u in expected]
    assert steps[1]["message"] == "100 Trying" and steps[2]["message"] == "180 Ringing"
    times = [s["time"] for s in steps]
    assert times == sorted(times)
    # direction: the caller sends the INVITE, the callee answers
    assert steps[0]["src"] == steps[1]["dst"] and steps[0]["dst"] == steps[1]["src"]
    assert all(s["headers"]["From"].startswith('"Alice"') for s in steps)


def test_ladder_text_view(capsys):
    assert main(["inspect", str(CALL_PCAP), "--call-id", CALL_ID]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[2:] == ["127.0.0.1:5082", "127.0.0.1:5080"]
    arrows = [line for line in out if line.startswith("20")]
    assert len(arrows) == 10
    assert "-INVITE-" in arrows[0] and arrows[0].rstrip().endswith(">|")
    assert "<" in arrows[1] and "100 Trying" in arrows[1]
    assert "User-Agent: sipnab-demo" in out[1:6][-1] or any(
        "User-Agent: sipnab-demo" in line for line in out[1:6])


def test_p_asserted_identity_and_ipv6_endpoints(capsys):
    call_id = "71846-1647924829-397430@fd17:625c:f037:2:a00:27ff:feb9:1521"
    path = PCAPS / "sngrep/ipv6frag.pcap"
    assert main(["inspect", str(path), "--call-id", call_id, "--json"]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(steps) == len(_tshark_call(path, call_id))
    assert steps[0]["headers"]["P-Asserted-Identity"] == '"uas"<sip:08019200026@example.org>'
    assert steps[0]["src"].startswith("[fd17:") and steps[0]["src"].endswith("]:15060")


def test_sip_over_tcp_and_full_dissection(capsys):
    path = PCAPS / "sipnab/sip-over-tcp.pcap"
    call_id = "158936656982201062716@10.33.6.100"
    assert main(["inspect", str(path), "--call-id", call_id, "--json", "--full"]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["message"].split()[0] for s in steps] == \
           [m for _, m, _, _ in _tshark_call(path, call_id)]
    assert {s["transport"] for s in steps} == {"tcp"}
    assert "Layer SIP" in steps[0]["dissection"]
    assert "Request-Line: INVITE sip:201@10.33.6.101" in steps[0]["dissection"]
    assert "Layer TCP" in steps[0]["dissection"]


def test_unknown_call_id_is_one_line_and_non_zero(capsys):
    assert main(["inspect", str(CALL_PCAP), "--call-id", 'no-such"call\\id']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no SIP message with Call-ID" in err[0]
    assert CALL_ID in err[0]  # names calls that are there


def test_missing_capture_is_a_user_error(capsys, tmp_path):
    assert main(["inspect", str(tmp_path / "nope.pcap"), "--call-id", "x"]) == 2
    assert "no such capture file" in capsys.readouterr().err


@pytest.mark.parametrize("call_id", [CALL_ID, "unknown@nowhere"])
def test_no_tshark_process_is_left_behind(tmp_path, capsys, call_id):
    link = tmp_path / f"inspect-leak-{os.getpid()}-{len(call_id)}.pcap"
    link.symlink_to(CALL_PCAP)
    assert not _tshark_processes(link.name)
    main(["inspect", str(link), "--call-id", call_id])
    assert _tshark_processes(link.name) == []


def test_a_capture_of_hep_is_unwrapped_for_tshark(capsys):
    """tshark has no HEP dissector: inspect unwraps HEP first, keeping the original frame
    numbers, addresses and times (the log and RTCP frames 5 and 8 are not SIP)."""
    path = PCAPS / "hep-wireshark/hep.pcap"
    assert main(["inspect", str(path), "--call-id", "qgf3dm9rudi@127.0.0.1", "--json"]) == 0
    steps = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [s["frame"] for s in steps] == [1, 2, 3, 4, 6, 7]
    assert [s["message"].split()[0] for s in steps] == ["INVITE", "100", "407", "OPTIONS",
                                                        "200", "PUBLISH"]
    assert {s["via"] for s in steps} == {"hep"}
    assert steps[0]["src"] == "192.168.1.1:5060" and steps[0]["time"] == 1481455196.0001
    assert steps[0]["headers"]["User-Agent"] == "HEPGEN-UAC"


def test_unknown_call_in_a_compressed_hep_capture_names_the_calls_inside(capsys):
    path = PCAPS / "hep-wireshark/hep3_compressed.pcap.pcapng"
    assert main(["inspect", str(path), "--call-id", "nope"]) == 2
    assert "8fc0ff7e-9f0feb00-6245ba21@192.168.137.1" in capsys.readouterr().err
