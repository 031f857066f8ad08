"""The SIP parser on the RFC 4475 torture messages (resiprocate's copies) and by hand."""

from __future__ import annotations

import pytest

from capture.sip import (
    SipParseError,
    looks_like_sip,
    name_addr,
    parse_message,
    split_list,
    uri_user,
)
from tests.capture_support import SIPMSG

TORTURE = sorted(SIPMSG.glob("*.dat"))

#: messages RFC 4475 calls invalid at the level this parser checks (start line)
REJECTED = {
    "badvers.dat": "bad_version",        # SIP/7.0
    "bigcode.dat": "bad_status_line",    # status 4294967301
    "ltgtruri.dat": "bad_request_uri",   # Request-URI in <>
    "lwsruri.dat": "bad_request_line",   # LWS inside the Request-URI
    "test.dat": "not_sip",               # resiprocate's own: no SIP version at all
}


def load(name: str):
    return parse_message((SIPMSG / name).read_bytes())


def test_the_torture_set_is_there():
    assert len(TORTURE) >= 45


@pytest.mark.parametrize("path", TORTURE, ids=lambda p: p.name)
def test_every_torture_message_parses_or_is_rejected_with_a_reason(path):
    data = path.read_bytes()
    try:
        msg = parse_message(data)
    except SipParseError as e:
        assert REJECTED.get(path.name) == e.reason
        return
    assert path.name not in REJECTED
    assert msg.is_request == (not data.startswith(b"SIP/2.0"))
    # every property answers without raising
    for prop in ("call_id", "cseq_method", "cseq_num", "from_uri", "from_user", "from_tag",
                 "to_user", "to_tag", "pai_user", "identity_present", "user_agent",
                 "contact_uri", "expires", "sdp_connection", "sdp_media_ports", "label"):
        getattr(msg, prop)
    if msg.is_request:
        assert msg.method and msg.uri
    else:
        assert 100 <= msg.status <= 699


def test_wsinv_short_tortuous_invite():
    m = load("wsinv.dat")
    assert (m.method, m.uri) == ("INVITE", "sip:vivekg@chair-dnrc.example.com;unknownparam")
    assert m.call_id == "wsinv.ndaksdj@192.0.2.1"
    assert (m.cseq_num, m.cseq_method) == (9, "INVITE")    # "0009\r\n  INVITE", folded
    assert (m.to_user, m.to_tag) == ("vivekg", "1918181833n")
    assert (m.from_user, m.from_tag) == ("jdrosen", "98asjd8")  # "tag = 98asjd8" folded
    assert name_addr(m.header("from"))[0] == 'J Rosenberg \\\\\\"'
    assert len(m.headers["via"]) == 3                       # Via + compact v with a list
    assert m.contact_uri == "sip:jdrosen@example.com"     # compact m:, quoted display name
    assert m.header("newfangledheader") == "newfangled value continued newfangled value"
    assert m.headers["subject"] == [""]                     # compact s: with empty value
    assert m.content_length == 150
    assert m.sdp_connection == "192.0.2.4"
    assert m.sdp_media_ports == [("audio", 49217), ("video", 3227)]
    assert m.body.startswith(b"v=0") and len(m.body) == 150


def test_escaped_uris_are_unescaped_in_users():
    m = load("esc01.dat")
    assert m.request_user == "sips:user@example.com"
    assert m.to_user == "user"                 # sip:%75se%72@example.com
    assert m.from_user == "I have spaces"
    assert m.contact_uri.startswith("sip:cal%6Cer@host5.example.net")  # folded Contact
    assert uri_user(m.contact_uri) == "caller"


def test_null_in_an_escaped_user_is_kept_not_fatal():
    assert load("escnull.dat").to_user == "null-\x00-null"


def test_unusual_method_and_escaped_method_are_methods():
    assert load("intmeth.dat").method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert load("esc02.dat").method == "RE%47IST%45R"   # not REGISTER (RFC 4475 3.1.1.4)


def test_rfc2543_style_invite_with_tel_like_users():
    m = load("inv2543.dat")
    assert (m.from_user, m.to_user, m.cseq_num) == ("+13035551111", "+16505552222", 56)


def test_responses_without_or_with_odd_reason_phrases():
    assert (load("noreason.dat").status, load("noreason.dat").reason) == (100, "")
    assert load("unreason.dat").status == 200
    assert load("scalarlg.dat").status == 503


def test_missing_headers_give_empty_values():
    m = load("insuf.dat")
    assert (m.call_id, m.from_user, m.to_user) == ("", "", "")


def test_multiple_content_length_uses_the_first_and_body_is_cut():
    m = load("mcl01.dat")
    assert m.headers["content-length"] == ["13", "5"]
    assert m.body == b"There's no wa"   # RFC 4475 3.1.2.11: invalid; we keep the first


def test_compact_forms_and_case_insensitive_names():
    m = parse_message(b"BYE sip:a@b SIP/2.0\r\nI: x1\r\nF: <sip:1@h>;TAG=t\r\n"
                      b"t: sip:2@h\r\nL: 0\r\ncSeQ: 7 BYE\r\nY: eyJhbGc\r\n"
                      b"User-Agent: softphone/1\r\n\r\n")
    assert (m.call_id, m.from_tag, m.to_user, m.cseq_num) == ("x1", "t", "2", 7)
    assert m.identity_present and m.user_agent == "softphone/1"


def test_pai_prefers_first_identity_and_tel_uris_work():
    m = parse_message(b"INVITE tel:+8613812345678 SIP/2.0\r\nCall-ID: p\r\n"
                      b"From: \"x\" <sip:anonymous@anonymous.invalid>;tag=1\r\n"
                      b"P-Asserted-Identity: <tel:+85512345678>\r\n"
                      b"P-Asserted-Identity: \"Gw\" <sip:+85512345678@gw>\r\n\r\n")
    assert m.request_user == "+8613812345678"
    assert m.from_user == "anonymous" and m.pai_user == "+85512345678"
    assert len(m.headers["p-asserted-identity"]) == 2


def test_expires_from_contact_param_or_header():
    m = parse_message(b"SIP/2.0 200 OK\r\nContact: <sip:u@1.2.3.4>;expires=600\r\n"
                      b"Expires: 3600\r\n\r\n")
    assert m.expires == 600
    assert parse_message(b"SIP/2.0 200 OK\r\nExpires: 60\r\n\r\n").expires == 60


def test_comma_lists_respect_quotes_and_brackets():
    assert split_list('"Doe, J" <sip:a@b>, sip:c@d') == ['"Doe, J" <sip:a@b>', "sip:c@d"]
    m = parse_message(b"OPTIONS sip:a@b SIP/2.0\r\nDate: Sat, 13 Nov 2010 23:29:00 GMT\r\n"
                      b"Allow: INVITE, ACK,BYE\r\n\r\n")
    assert m.headers["date"] == ["Sat, 13 Nov 2010 23:29:00 GMT"]   # not a list header
    assert m.headers["allow"] == ["INVITE", "ACK", "BYE"]


def test_detection_by_content_not_port():
    assert looks_like_sip(b"MESSAGE sip:a@b SIP/2.0\r\n")
    assert looks_like_sip(b"SIP/2.0 180 Ringing\r\n")
    assert not looks_like_sip(b"GET /sip HTTP/1.1\r\nHost: x:5060\r\n")
    assert not looks_like_sip(b"HTTP/1.1 200 OK\r\n")
    assert not looks_like_sip(b"\x80\x00\x01\x02" * 40)
    with pytest.raises(SipParseError) as e:
        parse_message(b"POST /api HTTP/1.1\r\n\r\n")
    assert e.value.reason == "not_sip"


@pytest.mark.parametrize("data,reason", [
    (b"", "empty"), (b"\r\n\r\n", "keepalive"), (b"SIP/2.0 099 Low\r\n\r\n", "bad_status_code"),
    (b"SIP/2.0 2000 OK\r\n\r\n", "bad_status_line"), (b"SIP/2.0 20\r\n\r\n", "bad_status_line"),
    (b"SIP/2.0 2\r\nCall-ID: x\r\n\r\n", "bad_status_line"), (b"INVITE sip:x SIP/3.0\r\n\r\n",
                                                     "bad_version"),
    (b"INV<TE sip:x SIP/2.0\r\n\r\n", "bad_method"), (b"INVITE <x> SIP/2.0\r\n\r\n",
                                                     "bad_request_uri"),
])
def test_rejections_have_reasons(data, reason):
    with pytest.raises(SipParseError) as e:
        parse_message(data)
    assert e.value.reason == reason
