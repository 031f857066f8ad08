"""The compiled pcap index (capture/pcapindex.py) gives what the Python path gives: its
SIP kernel answers exactly where scan_message answers, with the same answer, and a
replay through it (read_capture's default for classic pcap) yields the same records,
stats (with their order), errors, tracker counts and packet count as the pure-Python
loop (``index=False``) on real captures, simulated calls and mutated files."""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

from capture import pcapindex as px
from capture.sip import call_fields, scan_call_fields, scan_message
from capture.sipcapture import CaptureResult, read_capture
from tests.capture_support import ethernet, ipv4, udp, udp4_frame, write_pcap
from tests.test_capture_scan import CAPTURES, CORPUS, TOKENS, simulated_pcap


def kernel_scan(data: bytes):
    """The kernel's answer for one message, as scan_message's tuple (None: no answer).
    The message sits between other bytes, as in a capture file."""
    buf = np.frombuffer(b"\r\n" + data + b"\r\n\r\n", np.uint8)
    out = np.full(px.ROWS, -9, np.int64)
    if not px.scan_sip(buf, 2, 2 + len(data), out):
        return None
    raw = buf.tobytes()
    key = int(out[px.KEY])
    cseq = None if out[px.CSEQ] < 0 else \
        raw[out[px.CSEQ]:out[px.CSEQ_END]].decode("utf-8", "surrogateescape")
    call_id = raw[out[px.CALL_ID]:out[px.CALL_ID_END]].decode("utf-8", "surrogateescape")
    if key < 100:
        return True, px.METHODS[key], 0, call_id, cseq
    return False, "", key, call_id, cseq


def assert_kernel_is_scan(data: bytes) -> bool:
    expected = scan_message(data)
    assert kernel_scan(data) == expected, data
    return expected is not None


HAND_MADE = [
    b"SIP/2.0 200 OK\r\nCall-ID: a@b\r\nCSeq: 1 INVITE\r\n\r\n",
    b"SIP/2.0 180 Ringing\r\nCall-ID: a@b\r\nCSeq: 1 INVITE\r\n\r\n",    # no CSeq wanted
    b"SIP/2.0 20\r\nCall-ID: a\r\n\r\n",                                 # short status
    b"SIP/2.0 200\r\nCall-ID: a\r\n\r\n",                                # no reason
    b"SIP/2.0 200OK\r\nCall-ID: a\r\n\r\n",
    b"SIP/2.0 099 X\r\nCall-ID: a\r\n\r\n",
    b"SIP/2.0 700 X\r\nCall-ID: a\r\n\r\n",
    b"sip/2.0 200 OK\r\nCall-ID: a\r\n\r\n",                             # parser's careful way
    b"BYE sip:x@y SIP/2.0\r\ncall-ID:a@b \r\nCSeq: 2 BYE\r\n\r\n",       # lower case, spacing
    b"BYE sip:x@y SIP/2.0\r\nCALL-ID:\t a@b\t\r\nCSeq: 2 BYE\r\n\r\n",
    b"BYE sip:x@y SIP/2.0\r\ni: a@b\r\nCSeq: 2 BYE\r\n\r\n",              # compact
    b"BYE sip:x@y SIP/2.0\r\nI: a@b\r\nCall-ID: c\r\n\r\n",
    b"BYE sip:x@y SIP/2.0\r\nVia: x\r\n\ti: a@b\r\nCall-ID: c\r\n\r\n",
    b"BYE sip:x@y SIP/2.0\r\nCall-ID: a\r\n b\r\n\r\n",                  # folded value
    b"BYE sip:x@y SIP/2.0\r\nCall-ID : a\r\n\r\n",
    b"BYE sip:x@y SIP/2.0\r\nX: 1\ncall-id: a\r\nCall-ID: c\r\n\r\n",     # bare LF
    b"BYE sip:x@y SIP/2.0\r\nCall-ID: a\rb\r\n\r\n",                     # bare CR in a value
    b"BYE sip:x@y SIP/2.0\r\nMax-Forwards: 70\r\n\r\n",                  # missing Call-ID
    b"BYE sip:x@y SIP/2.0\r\nCall-ID:\r\n\r\n",                          # empty Call-ID
    b"BYE sip:x@y SIP/2.0\r\nContent-Length: 9\r\n\r\nCall-ID: body\r\n",  # header in body
    b"BYE sip:x@y SIP/2.0\r\nX-Call-ID: q\r\nCall-ID: a\r\n\r\n",
    b"BYE sip:x@y SIP/2.0\r\nCall-ID: caf\xc3\xa9\r\n\r\n",               # UTF-8
    b"BYE sip:x@y SIP/2.0\r\nCall-ID: \xff\xfe@x\r\n\r\n",                # not UTF-8
    b"BYE sip:x@y SIP/2.0\r\n\xc2\xa0i: a\r\nCall-ID: c\r\n\r\n",
    b"REGISTER sip:r SIP/2.0\r\nCall-ID: r1\r\nCSeq: 7 REGISTER\r\n\r\n",
    b"REGISTER sip:r SIP/2.0\r\nCall-ID: r1\r\n\r\n",                    # absent CSeq: ""
    b"REGISTER sip:r SIP/2.0\r\nCall-ID: r1\r\nCSEQ:7 REGISTER \r\n\r\n",
    b"REGISTER sip:r SIP/2.0\r\nCall-ID: r1\r\nCSeq : 7 REGISTER\r\n\r\n",
    b"REGISTER sip:r SIP/2.0\r\nCall-ID: r1\r\nCSeq: 7\r\n REGISTER\r\n\r\n",
    b"register sip:r SIP/2.0\r\nCall-ID: r1\r\n\r\n",                    # unknown method case
    b"FOO sip:r SIP/2.0\r\nCall-ID: r1\r\n\r\n",
    b"INVITE <sip:r> SIP/2.0\r\nCall-ID: r1\r\n\r\n",
    b"INVITE sip:r x SIP/2.0\r\nCall-ID: r1\r\n\r\n",
    b"INVITE nocolon SIP/2.0\r\nCall-ID: r1\r\n\r\n",
    b"INVITE  SIP/2.0\r\nCall-ID: r1\r\n\r\n",
    b"INVITE sip:r SIP/2.0 \r\nCall-ID: r1\r\n\r\n",
    b" INVITE sip:r SIP/2.0\r\nCall-ID: r1\r\n\r\n",
    b"INVITE sip:r SIP/2.0\r\n Call-ID: r1\r\n\r\n",                    # folded start line
    b"INVITE sip:r SIP/2.0\r\n\r\n",                                     # start line alone
    b"INVITE sip:r SIP/2.0\r\nCall-ID: r1\r\n",                          # no CRLFCRLF
    b"INVITE sip:r SIP/2.0",
    b"",
    b"\r\n\r\n",
    b"SIP/2.0 486 Busy\r\nCall-ID: k\r\nCSeq: 1 INVITE\r\nCall-ID: z\r\n\r\n",
]


@pytest.mark.parametrize("data", HAND_MADE)
def test_kernel_answers_as_scan_message_on_hand_made_messages(data):
    assert_kernel_is_scan(data)


def test_kernel_answers_as_scan_message_on_real_torture_and_mutated_messages():
    rnd = random.Random(5060)
    answered = sum(assert_kernel_is_scan(m) for m in CORPUS)
    assert answered > 400  # the corpus' plain messages (528 when written), not just a few
    answered = 0
    for _ in range(20000):
        data = bytearray(rnd.choice(CORPUS))
        for _ in range(rnd.randint(1, 4)):
            i = rnd.randint(0, len(data))
            if rnd.random() < 0.7:
                data[i:i] = rnd.choice(TOKENS)
            elif rnd.random() < 0.5:
                data[i:i + 8] = bytes(data[i:i + 8]).swapcase()
            else:
                del data[i:i + rnd.randint(1, 8)]
        answered += assert_kernel_is_scan(bytes(data))
    assert answered > 200


def kernel_call_fields(data: bytes):
    """scan_fields + call_fields for a request scan_sip vouches for ("skip" for anything
    else), as scan_call_fields' answer."""
    buf = np.frombuffer(b"\r\n" + data + b"\r\n\r\n", np.uint8)
    out = np.full(px.ROWS, -9, np.int64)
    if not px.scan_sip(buf, 2, 2 + len(data), out) or out[px.KEY] >= 100:
        return "skip"
    spans = np.full(px.FIELDS, -9, np.int64)
    if not px.scan_fields(buf, 2, 2 + len(data), spans):
        return None
    raw = buf.tobytes()

    def text(col: int) -> str:
        return raw[spans[col]:spans[col + 1]].decode("utf-8", "surrogateescape")

    call_id = raw[out[px.CALL_ID]:out[px.CALL_ID_END]].decode("utf-8", "surrogateescape")
    return call_fields(call_id, text(px.FROM), text(px.TO), text(px.UA), text(px.PAI),
                       bool(spans[px.IDENTITY]), text(px.URI))


def assert_kernel_fields_are_scan(data: bytes) -> bool:
    got = kernel_call_fields(data)
    if got == "skip":
        return False
    assert got == scan_call_fields(data), data
    return got is not None


INVITES = [
    b"INVITE sip:%2B1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>;tag=1\r\nTo: <tel:3>\r\n\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nf: <sip:2@a>\r\nt: <sip:3@a>\r\n\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFROM:<sip:2@a>\r\nto :<sip:3@a>\r\n\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: \"A, B\" <sip:2@a>\r\nTo: <sip:3@a>\r\n"
    b"P-Asserted-Identity: <sip:4@a>, <tel:5>\r\n\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\nTo: <sip:3@a>\r\n"
    b"P-Asserted-Identity: <sip:a.example>\r\nP-Asserted-Identity: <tel:5>\r\n"
    b"\r\n",  # no user on the first line
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\nTo: <sip:3@a>\r\n"
    b"P-Asserted-Identity:\r\n\r\n",  # empty
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\nTo: <sip:3@a>\r\nIdentity: q\r\n"
    b"\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\nTo: <sip:3@a>\r\nIdentity-Info: <q>\r\n"
    b"\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\nTo: <sip:3@a>\r\ny: q\r\n"
    b"\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\nTo: <sip:3@a>\r\nUser-Agent: \xffx \r\n"
    b"\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nFrom: <sip:2@a>\r\n\tx\r\nTo: <sip:3@a>\r\n"
    b"\r\n",  # folded From
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\nVia: x\r\n\xc2\x85f: <sip:9@a>\r\nFrom: <sip:2@a>\r\n"
    b"\r\n",
    b"INVITE sip:1@b SIP/2.0\r\nCall-ID: x\r\n\r\nFrom: <sip:2@a>\r\n",  # header in body
]


@pytest.mark.parametrize("data", INVITES)
def test_kernel_call_fields_are_scan_call_fields_on_hand_made_invites(data):
    assert kernel_call_fields(data) != "skip"
    assert_kernel_fields_are_scan(data)


def test_kernel_call_fields_are_scan_call_fields_on_real_and_mutated_requests():
    rnd = random.Random(3261)
    requests = [m for m in CORPUS if kernel_call_fields(m) != "skip"]
    assert sum(assert_kernel_fields_are_scan(m) for m in requests) > 100
    answered = 0
    for _ in range(20000):
        data = bytearray(rnd.choice(requests))
        for _ in range(rnd.randint(1, 4)):
            data[rnd.randint(0, len(data)):0] = rnd.choice(TOKENS)
        answered += assert_kernel_fields_are_scan(bytes(data))
    assert answered > 1000


@pytest.mark.parametrize("data,use", [
    (b"SIP/2.0 180 Ringing\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n", px.USE_TICK),
    (b"SIP/2.0 100 Trying\r\nCSeq: 1 BYE\r\n\r\n", px.USE_NOTHING),  # no Call-ID
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 INVITE\r\n\r\n", px.USE_NOTHING),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 INVITE\x0b\x1f\r\n\r\n", px.USE_NOTHING),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 XINVITE\r\n\r\n", px.USE_TICK),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 2 BYE\r\n\r\n", px.USE_TICK),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 2 BYE\xc2\x85\r\n\r\n", px.USE_NOTHING),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 2 BYE INVITE\r\n\r\n", px.USE_NOTHING),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\n\r\n", px.USE_TICK),                 # cseq ""
    (b"SIP/2.0 200 OK\r\nCSeq: 2 BYE\r\n\r\n", px.USE_NOTHING),
    (b"SIP/2.0 401 No\r\nCall-ID: a\r\nCSeq: 1 REGISTER\r\n\r\n", px.USE_DATA),
    (b"SIP/2.0 200 OK\r\nCall-ID: a\r\nCSeq: 1 REGISTERED\r\n\r\n", px.USE_DATA),
    (b"BYE sip:a@b SIP/2.0\r\nCall-ID: a\r\n\r\n", px.USE_NOTHING),
    (b"REGISTER sip:b SIP/2.0\r\nCall-ID: a\r\n\r\n", px.USE_DATA),
])
def test_what_the_tracker_reads_of_a_vouched_message(tmp_path, data, use):
    """USE says how much feed_parts reads: the replay tests check that it is enough."""
    path = write_pcap(tmp_path / "one.pcap", 1, [(1.0, udp4_frame(data))])
    import mmap

    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    with buf:
        [chunk] = list(px.PcapIndex(buf).chunks())
        assert chunk.cols[px.KIND] == [px.KIND_SIP]
        assert chunk.cols[px.USE] == [use]


def replay_both_ways(path: Path) -> CaptureResult:
    fast = read_capture(path)
    fast_records = list(fast)
    slow = read_capture(path, index=False)
    slow_records = list(slow)
    assert [repr(r) for r in fast_records] == [repr(r) for r in slow_records]
    assert list(fast.stats.items()) == list(slow.stats.items())  # first-seen order too
    assert fast.errors == slow.errors and fast.packets == slow.packets
    assert fast.capture.tracker.counts == slow.capture.tracker.counts
    assert (fast.capture.datagrams, fast.capture.sip_datagrams) == \
        (slow.capture.datagrams, slow.capture.sip_datagrams)
    return fast


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_indexed_replay_gives_what_the_python_loop_gives(path):
    replay_both_ways(path)


@pytest.mark.parametrize("seed", range(4))
def test_indexed_replay_of_simulated_calls_with_mutated_messages(tmp_path, seed):
    result = replay_both_ways(simulated_pcap(tmp_path, mutate=0.0 if seed == 0 else 0.3,
                                             seed=seed))
    assert result.packets > 500


def index_kinds(path: Path) -> list[int]:
    import mmap

    with open(path, "rb") as f:
        buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    with buf:
        return [k for chunk in px.PcapIndex(buf, chunk=7).chunks() for k in chunk.cols[px.KIND]]


def test_the_kernel_vouches_for_the_simulators_messages(tmp_path):
    # small chunks: the seams between chunks are crossed many times
    kinds = index_kinds(simulated_pcap(tmp_path, mutate=0.0, seed=0))
    assert kinds.count(px.KIND_SIP) == len(kinds) > 500


def test_read_capture_takes_the_index_for_classic_pcap(tmp_path, monkeypatch):
    path = simulated_pcap(tmp_path, mutate=0.0, seed=1)
    expected = list(read_capture(path, index=False))

    def refuse(self):
        raise AssertionError("the Python loop was taken")

    monkeypatch.setattr(CaptureResult, "_scanned", refuse)
    assert list(read_capture(path)) == expected


def test_without_numba_the_python_loop_still_works(tmp_path, monkeypatch):
    path = simulated_pcap(tmp_path, mutate=0.1, seed=2)
    expected = read_capture(path)
    records = list(expected)
    monkeypatch.setitem(sys.modules, "capture.pcapindex", None)  # import fails
    called = []
    original = CaptureResult._scanned

    def spy(self):
        called.append(1)
        return original(self)

    monkeypatch.setattr(CaptureResult, "_scanned", spy)
    result = read_capture(path)
    assert list(result) == records and called
    assert list(result.stats.items()) == list(expected.stats.items())


def mutations(data: bytes, rnd: random.Random) -> bytes:
    """A file cut short, with flipped bits, or a record length made too large."""
    data = bytearray(data)
    kind = rnd.choice(["cut", "flip", "flip", "length", "length"])
    if kind == "cut":
        del data[rnd.randint(24, len(data)):]
    elif kind == "flip":
        for _ in range(rnd.randint(1, 20)):
            i = rnd.randrange(len(data))
            data[i] ^= 1 << rnd.randrange(8)
    else:  # a record's caplen: oversized, past the end, or just off
        pos, records = 24, []
        while pos + 16 <= len(data):
            records.append(pos)
            pos += 16 + struct.unpack_from("<I", data, pos + 8)[0]
        at = rnd.choice(records)
        caplen = struct.unpack_from("<I", data, at + 8)[0]
        struct.pack_into("<I", data, at + 8, rnd.choice(
            [0x40001, 0xFFFFFFFF, len(data), caplen + 1, max(0, caplen - 1), 0, 41, 42]))
    return bytes(data)


@pytest.mark.parametrize("seed", range(3))
def test_indexed_replay_of_mutated_files(tmp_path, seed):
    rnd = random.Random(seed)
    clean = simulated_pcap(tmp_path, mutate=0.05, seed=10 + seed).read_bytes()
    errors_seen = set()
    for i in range(12):
        path = tmp_path / f"m{i}.pcap"
        path.write_bytes(mutations(clean, rnd))
        errors_seen.update(replay_both_ways(path).errors)
    assert errors_seen  # the mutations did reach the error counts


def test_file_variants_and_frames_the_kernel_leaves_to_the_decoder(tmp_path):
    sip = (b"INVITE sip:02161234567@10.0.0.1 SIP/2.0\r\nCall-ID: k\r\nCSeq: 1 INVITE\r\n"
           b"From: <sip:1381@198.51.100.7>;tag=9\r\nTo: <sip:0216@x>\r\n\r\n")
    busy = b"SIP/2.0 486 Busy Here\r\nCall-ID: k\r\nCSeq: 1 INVITE\r\n\r\n"
    with_options = ethernet(0x0800, bytes([0x46]) + ipv4("10.0.0.1", "10.0.0.2", 17,
                                                         udp(5060, 5060, sip))[1:])
    frames = [(1.5, udp4_frame(sip)),
              (1.6, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(5060, 5060, sip),
                                          flags_offset=0x2000))),  # a first fragment
              (1.7, ethernet(0x0800, ipv4("10.0.0.1", "10.0.0.2", 17, udp(5060, 5060, sip)),
                             vlans=(7,))),
              (1.8, with_options),
              (1.9, udp4_frame(b"")),
              (2.0, udp4_frame(b"\x80\x08rtp")),
              (2.5, udp4_frame(busy, "192.0.2.2", "192.0.2.1"))]
    for name, kw in [("le", {}), ("be", {"order": ">"}), ("nano", {"nano": True})]:
        replay_both_ways(write_pcap(tmp_path / f"{name}.pcap", 1, frames, **kw))
    raw = [(t, f[14:]) for t, f in frames]
    replay_both_ways(write_pcap(tmp_path / "raw.pcap", 101, raw))
    # the Kuznetzov variant: 24-byte record headers
    out = [struct.pack("<IHHiIII", 0xA1B2CD34, 2, 4, 0, 0, 65535, 1)]
    for t, frame in frames:
        out.append(struct.pack("<IIIIIHBx", int(t), round(t % 1 * 1e6), len(frame),
                               len(frame), 0, 0, 0) + frame)
    path = tmp_path / "kuz.pcap"
    path.write_bytes(b"".join(out))
    assert replay_both_ways(path).packets == 6  # the fragment waits for the rest in vain
    path = tmp_path / "header-only.pcap"
    path.write_bytes(out[0])
    replay_both_ways(path)
    path.write_bytes(out[0][:20])
    assert replay_both_ways(path).errors == {"truncated_file": 1}


def test_docstring_example_runs():
    import doctest

    result = doctest.testmod(px)
    assert result.attempted > 0 and result.failed == 0


def test_a_replay_left_early_stops_both_ways_at_the_same_packet(tmp_path):
    path = simulated_pcap(tmp_path, mutate=0.2, seed=7)
    for stop in (1, 5, 40):
        fast, slow = read_capture(path), read_capture(path, index=False)
        fast_it, slow_it = iter(fast), iter(slow)
        got = [next(fast_it) for _ in range(stop)]
        assert got == [next(slow_it) for _ in range(stop)]
        fast_it.close()  # closes the memory map: no view of it may be left
        slow_it.close()
        assert fast.packets == slow.packets > 0
        assert list(fast.stats.items()) == list(slow.stats.items())
        assert fast.errors == slow.errors
