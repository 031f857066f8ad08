"""The capture fast paths give what the general ones give: scan_message and
scan_call_fields against parse_message, addr_user against uri_user(name_addr()),
read_packets' plain-UDP path against the general PacketDecoder, and a replay's hot loop
(read_capture) against SipCapture.feed_datagram, on real captures, the RFC 4475 set,
simulated calls and mutated messages."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture.pcapfile import PacketDecoder, read_frames, read_packets
from capture.sip import (
    SipParseError,
    addr_user,
    name_addr,
    parse_message,
    scan_call_fields,
    scan_message,
    uri_user,
)
from capture.sipcapture import read_capture
from detector.records import Call, Registration
from tests.capture_support import PCAPS, SIPMSG, udp4_frame, write_pcap

CAPTURES = sorted(p for p in PCAPS.rglob("*") if p.is_file())
MESSAGES = [p.read_bytes() for p in sorted(SIPMSG.glob("*.dat"))]
PAYLOADS = [d.payload for p in CAPTURES for d in read_packets(p) if d.payload][:20000]
CORPUS = MESSAGES + PAYLOADS
#: what makes the scan unsure: bare CR/LF, folds, spacing, compact forms, case, non-ASCII
TOKENS = [b"\r", b"\n", b"\r\n", b" ", b"\t", b"\x0b", b"\x1c", b"\xc2\x85", b"\xc2\xa0",
          b"i:", b"I :", b"\r\ni: zz", b"\r\nCALL-ID: q", b"\r\ncall-id :q", b"\r\n call-id: q",
          b"\r\nCSeq: 9 BYE", b"\ncseq: 3 X", b"\rCall-ID: r", b"\r\n\x0bi: w", b"\r\ni\t: w",
          b"call-id", b"cseq", b":", b"\r\n\r\n", b"SIP/2.0", b"\xff", b"\r\n\t",
          b"\r\nP-Asserted-Identity: <sip:777@x>", b"\r\nP-Asserted-Identity: ",
          b"\r\nIdentity: a", b"\r\ny: q", b"\r\nIdentity-Info: <x>", b"\r\nf: <sip:55@q>",
          b"\r\nt: <sip:66@q>", b"\r\nFROM :<sip:1@b>", b"\r\nuser-agent\t: x",
          b"\r\nTo:<sip:8@z>", b"\r\n to: x"]
FUZZ = settings(max_examples=400, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parsed(data: bytes):
    try:
        return parse_message(data)
    except SipParseError:
        return None


def assert_scan_agrees(data: bytes) -> bool:
    scan = scan_message(data, all_cseq=True)
    if scan is None:
        return False
    msg = parse_message(data)  # a scanned message never makes the parser raise
    assert scan == (msg.is_request, msg.method, msg.status, msg.call_id, msg.header("cseq"))
    assert scan_message(data)[:4] == scan[:4]
    return True


def assert_call_fields_agree(data: bytes) -> bool:
    fields = scan_call_fields(data)
    if fields is None:
        return False
    msg = parse_message(data)
    assert tuple(fields) == (msg.call_id, msg.pai_user, msg.from_user, msg.to_user,
                             msg.request_user, msg.user_agent, msg.identity_present)
    return True


def test_scan_agrees_with_the_parser_on_real_and_torture_messages():
    answered = sum(assert_scan_agrees(m) for m in CORPUS)
    sip = sum(parsed(m) is not None for m in CORPUS)
    assert answered > sip * 0.5  # the scan takes the plain majority, not just a few


def test_call_fields_agree_with_the_parser_on_real_and_torture_requests():
    requests = [m for m in CORPUS if (p := parsed(m)) is not None and p.is_request]
    assert sum(assert_call_fields_agree(m) for m in requests) > len(requests) * 0.5


@st.composite
def mutated(draw):
    data = bytearray(draw(st.sampled_from(CORPUS)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(data)))
        kind = draw(st.sampled_from(["token", "token", "byte", "cut", "swapcase"]))
        if kind == "token":
            data[i:i] = draw(st.sampled_from(TOKENS))
        elif kind == "byte":
            data[i:i] = bytes([draw(st.integers(0, 255))])
        elif kind == "cut":
            del data[i:i + draw(st.integers(1, 8))]
        else:
            data[i:i + 8] = bytes(data[i:i + 8]).swapcase()
    return bytes(data)


@FUZZ
@given(mutated())
def test_scan_answers_only_what_the_parser_says(data):
    assert_scan_agrees(data)
    assert_call_fields_agree(data)


def test_scan_answers_only_what_the_parser_says_many_seeds():
    rnd = random.Random(4475)
    for _ in range(20000):
        data = bytearray(rnd.choice(CORPUS))
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randint(0, len(data)):0] = rnd.choice(TOKENS)
        assert_scan_agrees(bytes(data))
        assert_call_fields_agree(bytes(data))


@pytest.mark.parametrize("data", [
    b"BYE sip:x@y SIP/2.0\r\ni: a@b\r\nCall-ID: c@d\r\n\r\n",        # compact first
    b"BYE sip:x@y SIP/2.0\r\nX: 1\ncall-id: a\r\nCall-ID: c\r\n\r\n",  # bare LF line
    b"BYE sip:x@y SIP/2.0\r\nCall-ID: a\r\n b\r\n\r\n",              # folded value
    b"BYE sip:x@y SIP/2.0\r\nCall-ID : a\r\n\r\n",                   # spacing before colon
    b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1\r INVITE\r\n\r\n",     # bare CR in a value
    b" SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n",                        # looks_like_sip says no
    b"SIP/2.0 20\r\nCall-ID: a\r\n\r\n",                             # the parser rejects it
])
def test_the_scan_gives_up_where_it_cannot_vouch(data):
    assert scan_message(data) is None


def test_addr_user_is_uri_user_of_name_addr():
    rnd = random.Random(1)
    alphabet = ["<", ">", "sip:", "@", ":", "%", "%2B", " ", "\t", '"', "a", "1", ";",
                "tel:", "SIP:", "\x85", ",", "\\"]
    for _ in range(50000):
        value = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
        if rnd.random() < 0.5:
            value = "<sip:" + value
        assert addr_user(value) == uri_user(name_addr(value)[1]), value


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_plain_udp_path_gives_what_the_general_decoder_gives(path):
    errors, expected_errors = Counter(), Counter()
    decoder = PacketDecoder(expected_errors)
    expected = [d for number, time, linktype, frame in read_frames(path, expected_errors)
                for d in decoder.decode(linktype, frame, time, f"{path.name}#{number}")]
    decoder.fragments.close()
    assert list(read_packets(path, errors)) == expected
    assert errors == expected_errors


def replay_both_ways(path: Path) -> None:
    fast = read_capture(path)
    fast_records = list(fast)
    # an on_message hook makes every message take SipCapture.feed_datagram's way
    slow = read_capture(path, on_message=lambda msg, d: None)
    assert fast_records == list(slow)
    assert list(fast.stats.items()) == list(slow.stats.items())  # first-seen order too
    assert fast.errors == slow.errors and fast.packets == slow.packets
    assert fast.capture.tracker.counts == slow.capture.tracker.counts
    assert (fast.capture.datagrams, fast.capture.sip_datagrams) == \
        (slow.capture.datagrams, slow.capture.sip_datagrams)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_replay_hot_loop_gives_what_feed_datagram_gives(path):
    replay_both_ways(path)


def simulated_pcap(tmp_path: Path, mutate: float, seed: int) -> Path:
    from fraudwatch.simulate.sippcap import write_sip_pcap

    rnd = random.Random(seed)
    t0 = 1793548800.0
    calls = [Call(start=t0 + rnd.random() * 60, caller=f"138{rnd.randrange(10**8):08d}",
                  callee=f"0{rnd.randrange(10**10):010d}",
                  duration=rnd.choice([0.0, 0.0, 30.0, 400.0]),
                  disposition=rnd.choice(["ANSWERED", "BUSY", "NO ANSWER", "FAILED",
                                          "CANCELLED"]),
                  ingress="access", call_id=f"sim{i}@x") for i in range(150)]
    regs = [Registration(time=t0 + rnd.random() * 60, line=f"0{rnd.randrange(10**10):010d}",
                         contact_ip="10.40.0.7", status=rnd.choice([200, 401, 403]),
                         expires=3600) for _ in range(30)]
    clean = write_sip_pcap(calls, regs, tmp_path / "clean.pcap")
    assert clean.packets
    frames = []
    for d in read_packets(tmp_path / "clean.pcap"):
        payload = bytearray(d.payload)
        if rnd.random() < mutate:
            for _ in range(rnd.randint(1, 3)):
                payload[rnd.randint(0, len(payload)):0] = rnd.choice(TOKENS)
        frames.append((d.time, udp4_frame(bytes(payload), d.src, d.dst, d.sport, d.dport)))
    return write_pcap(tmp_path / f"mutated-{seed}.pcap", 1, frames)


@pytest.mark.parametrize("seed", range(6))
def test_replay_hot_loop_on_simulated_calls_with_mutated_messages(tmp_path, seed):
    replay_both_ways(simulated_pcap(tmp_path, mutate=0.0 if seed == 0 else 0.2, seed=seed))
