"""Dialog tracker: one call record per call, the right disposition, duration and ingress;
registrations; bounded memory; real captures checked against tshark's view of them."""

from __future__ import annotations

import pytest

from capture.dialogs import DialogTracker, TrunkMap
from capture.packets import Datagram
from capture.sip import parse_message
from capture.sipcapture import SipCapture, call_messages, read_capture
from detector.records import Call, Registration
from detector.rulefiles import RuleSet
from tests.capture_support import PCAPS, tshark_rows

A, B = "10.40.1.2", "10.20.0.10"


def msg(first: str, call_id: str = "c1", cseq: str = "1 INVITE", extra: str = "",
        frm: str = "<sip:13812345678@a>;tag=f", to: str = "<sip:02161234567@b>"):
    text = (f"{first}\r\nCall-ID: {call_id}\r\nCSeq: {cseq}\r\nFrom: {frm}\r\nTo: {to}\r\n"
            f"{extra}Content-Length: 0\r\n\r\n")
    return parse_message(text.encode())


def run(tracker: DialogTracker, steps) -> list:
    out = []
    for t, m, src in steps:
        out += tracker.feed(m, t, src, 5060, B if src == A else A, 5060, f"f#{t}")
    return out + tracker.flush()


INVITE = "INVITE sip:02161234567@b SIP/2.0"


def test_answered_call_is_one_record_despite_retransmissions_and_reinvite():
    ok = msg("SIP/2.0 200 OK", to="<sip:02161234567@b>;tag=t")
    records = run(DialogTracker(), [
        (100.0, msg(INVITE, extra="User-Agent: phone/2\r\n"), A),
        (100.5, msg(INVITE), A),                      # retransmission
        (101.0, msg("SIP/2.0 180 Ringing"), B),
        (104.0, ok, B), (104.5, ok, B),               # 2xx retransmission
        (104.6, msg("ACK sip:x@b SIP/2.0", cseq="1 ACK"), A),
        (130.0, msg(INVITE, cseq="2 INVITE"), A),     # re-INVITE (session refresh)
        (130.1, msg("SIP/2.0 200 OK", cseq="2 INVITE"), B),
        (164.0, msg("BYE sip:x@b SIP/2.0", cseq="3 BYE"), A),
        (164.1, msg("SIP/2.0 200 OK", cseq="3 BYE"), B),
        (164.5, msg("BYE sip:x@b SIP/2.0", cseq="3 BYE"), A),  # BYE retransmission
    ])
    assert len(records) == 1
    call = records[0]
    assert isinstance(call, Call)
    assert (call.start, call.duration, call.disposition) == (100.0, 60.0, "ANSWERED")
    assert (call.caller, call.callee, call.call_id) == ("13812345678", "02161234567", "c1")
    assert (call.user_agent, call.src_ip, call.origin, call.ingress) == (
        "phone/2", A, "f#100.0", "access")


@pytest.mark.parametrize("status,expected", [
    (486, "BUSY"), (600, "BUSY"), (480, "NO ANSWER"), (408, "NO ANSWER"),
    (487, "CANCELLED"), (404, "FAILED"), (503, "FAILED"), (603, "FAILED"), (488, "FAILED"),
])
def test_disposition_from_the_final_response(status, expected):
    records = run(DialogTracker(), [
        (10.0, msg(INVITE), A), (10.1, msg("SIP/2.0 100 Trying"), B),
        (15.0, msg(f"SIP/2.0 {status} Whatever"), B),
        (15.1, msg(f"SIP/2.0 {status} Whatever"), B),  # retransmitted final
        (15.2, msg("ACK sip:x@b SIP/2.0", cseq="1 ACK"), A),
    ])
    assert [(r.disposition, r.duration, r.attrs["sip_status"]) for r in records] == [
        (expected, 0.0, status)]


def test_cancelled_call_and_unanswered_call_without_final():
    records = run(DialogTracker(), [
        (1.0, msg(INVITE), A), (2.0, msg("SIP/2.0 180 Ringing"), B),
        (9.0, msg("CANCEL sip:x@b SIP/2.0", cseq="1 CANCEL"), A),
        (9.1, msg("SIP/2.0 200 OK", cseq="1 CANCEL"), B),
        (9.2, msg("SIP/2.0 487 Request Terminated"), B),
        (20.0, msg(INVITE, call_id="c2"), A),
    ])
    assert [(r.call_id, r.disposition) for r in records] == [
        ("c1", "CANCELLED"), ("c2", "NO ANSWER")]


def test_challenge_then_retry_is_one_answered_call():
    records = run(DialogTracker(), [
        (1.0, msg(INVITE), A), (1.1, msg("SIP/2.0 407 Proxy Authentication Required"), B),
        (1.2, msg("ACK sip:x@b SIP/2.0", cseq="1 ACK"), A),
        (1.5, msg(INVITE, cseq="2 INVITE"), A),
        (3.0, msg("SIP/2.0 200 OK", cseq="2 INVITE"), B),
        (13.0, msg("BYE sip:x@b SIP/2.0", cseq="3 BYE"), A),
    ])
    assert [(r.start, r.disposition, r.duration) for r in records] == [(1.0, "ANSWERED", 10.0)]


def test_challenge_never_retried_is_failed():
    records = run(DialogTracker(), [
        (1.0, msg(INVITE), A), (1.1, msg("SIP/2.0 401 Unauthorized"), B)])
    assert [r.disposition for r in records] == ["FAILED"]


def test_caller_from_pai_else_from_callee_from_to_else_request_uri():
    m = msg("INVITE sip:95555@b SIP/2.0", frm='"x" <sip:anonymous@anonymous.invalid>;tag=1',
            to="<sip:b>", extra="P-Asserted-Identity: <tel:+85512345678>\r\n")
    [call] = run(DialogTracker(), [(1.0, m, A)])
    assert (call.caller, call.callee) == ("+85512345678", "95555")


def test_ingress_from_the_trunks_list_in_rules():
    trunks = RuleSet.load().list("trunks")
    tracker = DialogTracker(trunks=trunks)
    nets = TrunkMap(trunks).networks
    intl = next(str(n.network_address + 1) for n, i in nets if i == "international")
    dom = next(str(n.network_address + 1) for n, i in nets if i == "domestic")
    records = run(tracker, [(1.0, msg(INVITE, call_id="i"), intl),
                            (2.0, msg(INVITE, call_id="d"), dom),
                            (3.0, msg(INVITE, call_id="a"), "100.64.7.7")])
    assert {r.call_id: r.ingress for r in records} == {
        "i": "international", "d": "domestic", "a": "access"}


def test_bad_trunk_ingress_is_refused():
    with pytest.raises(ValueError):
        TrunkMap({"10.0.0.0/8": "abroad"})


def test_answered_dialog_without_bye_ends_by_timeout_in_event_time():
    tracker = DialogTracker(dialog_timeout=600)
    out: list = []
    for t, m in [(0.0, msg(INVITE)), (5.0, msg("SIP/2.0 200 OK")),
                 (50.0, msg("INFO sip:x@b SIP/2.0", cseq="2 INFO")),
                 # much later, unrelated traffic moves event time on
                 (2000.0, msg("OPTIONS sip:x@b SIP/2.0", call_id="o", cseq="1 OPTIONS"))]:
        out += tracker.feed(m, t, A)
    assert [(c.disposition, c.duration, c.attrs["ended"]) for c in out] == [
        ("ANSWERED", 45.0, "timeout")]
    assert tracker.counts["dialog_timeout"] == 1 and not tracker.calls


def test_half_open_dialogs_are_bounded_oldest_evicted_and_counted():
    cap = SipCapture(max_dialogs=100)
    for i in range(1000):
        payload = (f"INVITE sip:1@b SIP/2.0\r\nCall-ID: x{i}\r\nCSeq: 1 INVITE\r\n"
                   f"From: <sip:2@a>;tag=1\r\nTo: <sip:1@b>\r\n\r\n").encode()
        cap.feed_datagram(Datagram(float(i) / 1000, A, 5060, B, 5060, "udp", payload))
        assert len(cap.tracker.calls) <= 100
    assert "x0" not in cap.tracker.calls and "x999" in cap.tracker.calls
    records = cap.flush()
    assert len(records) == 100 and {r.call_id for r in records} == {f"x{i}" for i in
                                                                    range(900, 1000)}
    assert cap.errors["dialog_evicted"] == 900


def test_registrations_with_status_expires_and_no_double_count():
    reg = "REGISTER sip:b SIP/2.0"
    records = run(DialogTracker(), [
        (1.0, msg(reg, cseq="1 REGISTER", to="<sip:02161234567@b>",
                  extra="User-Agent: ua/1\r\n"), A),
        (1.5, msg(reg, cseq="1 REGISTER"), A),                     # retransmission
        (1.6, msg("SIP/2.0 401 Unauthorized", cseq="1 REGISTER"), B),
        (2.0, msg(reg, cseq="2 REGISTER"), A),
        (2.1, msg("SIP/2.0 200 OK", cseq="2 REGISTER",
                  extra="Contact: <sip:02161234567@10.40.1.2>;expires=1800\r\n"), B),
        (2.2, msg("SIP/2.0 200 OK", cseq="2 REGISTER"), B),       # retransmission
        (9.0, msg(reg, call_id="lost", cseq="1 REGISTER"), A),    # never answered
    ])
    assert all(isinstance(r, Registration) for r in records)
    assert [(r.time, r.line, r.contact_ip, r.status, r.expires) for r in records] == [
        (1.0, "02161234567", A, 401, None), (2.0, "02161234567", A, 200, 1800),
        (9.0, "02161234567", A, None, None)]
    assert records[0].user_agent == "ua/1"


def _tshark_times(path, display_filter):
    return [float(r[0]) for r in tshark_rows(path, ["frame.time_epoch"], display_filter)]


def test_real_capture_call_and_registration_match_tshark():
    path = PCAPS / "sipnab" / "register-invite-reinvite-bye.pcap"
    records = list(read_capture(path))
    calls = [r for r in records if r.record_kind == "call"]
    regs = [r for r in records if r.record_kind == "registration"]
    assert len(calls) == 1 and len(regs) == 1   # the re-INVITE makes no second call
    invite = _tshark_times(path, 'sip.Method == "INVITE"')[0]
    answer = _tshark_times(path, 'sip.Status-Code == 200 and sip.CSeq.method == "INVITE"')[0]
    bye = _tshark_times(path, 'sip.Method == "BYE"')[0]
    assert calls[0].start == pytest.approx(invite, abs=1e-6)
    assert calls[0].duration == pytest.approx(bye - answer, abs=1e-5)
    [[expires]] = tshark_rows(path, ["sip.Expires"], 'sip.Method == "REGISTER"')
    assert regs[0].status == 200 and regs[0].expires == int(expires)


def test_proxy_legs_with_one_call_id_are_one_call():
    path = PCAPS / "sipnab" / "sip-proxy.pcap"
    assert len(tshark_rows(path, ["sip.Call-ID"], 'sip.Method == "INVITE"')) == 2
    calls = [r for r in read_capture(path) if r.record_kind == "call"]
    assert len(calls) == 1 and calls[0].disposition == "ANSWERED"


def test_call_messages_is_the_ladder_tshark_shows():
    path = PCAPS / "sipnab" / "sip-over-tcp.pcap"   # TCP: messages framed by us
    [[call_id]] = tshark_rows(path, ["sip.Call-ID"], 'sip.Method == "INVITE"')
    ours = call_messages(path, call_id)
    rows = tshark_rows(path, ["frame.time_epoch", "ip.src", "tcp.srcport", "udp.srcport",
                              "ip.dst", "tcp.dstport", "udp.dstport", "sip.Method",
                              "sip.Status-Code"], f'sip.Call-ID == "{call_id}"')
    theirs = [(float(t), f"{s}:{sp1 or sp2}", f"{d}:{dp1 or dp2}", m or c)
              for t, s, sp1, sp2, d, dp1, dp2, m, c in rows]
    assert len(ours) == len(theirs) >= 6
    for (t, s, d, label), (t2, s2, d2, label2) in zip(ours, theirs, strict=True):
        assert t == pytest.approx(t2, abs=1e-6) and (s, d) == (s2, d2)
        assert label.split(" ")[0] == label2
