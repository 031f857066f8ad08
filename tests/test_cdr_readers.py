"""CDR and record file readers: formats, quarantine, and never losing a row."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capture import cdr
from capture.detect import detect
from capture.quarantine import Quarantine
from fraudwatch.export import RecordWriter
from fraudwatch.replay import open_records

CALL_HEADER = "start,caller,callee,duration,disposition,ingress,caller_line,callee_line,call_id\n"


def test_asterisk_master_csv(shared_data):
    q = Quarantine()
    calls = list(cdr.read_asterisk(shared_data / "cdr/testsuite/Master.csv", q))
    assert q.total == 0
    assert len(calls) == 2
    c = calls[0]
    assert c.callee == "1" and c.duration == 7 and c.disposition == "ANSWERED"
    assert c.call_id == "1270167992.0"
    assert c.caller == "anonymous"  # src and clid are empty on a console call
    assert c.attrs["channel"] == "Console/dsp"


def test_asterisk_good_and_buggy(shared_data):
    q = Quarantine()
    good = list(cdr.read_asterisk(shared_data / "cdr/testsuite/cdrlib_good.csv", q))
    assert len(good) == 5 and q.total == 0
    assert good[0].caller == "test" and good[0].callee == "100"
    assert [c.disposition for c in good][:3] == ["ANSWERED", "ANSWERED", "FAILED"]
    buggy = list(cdr.read_asterisk(shared_data / "cdr/testsuite/cdrlib_buggy.csv", q))
    assert buggy == []
    assert q.total == 1
    entry = q.entries[0]
    assert entry["source"].endswith("cdrlib_buggy.csv") and entry["location"] == 1
    assert "unexpected end of data" in entry["reason"]


def test_format_detection(shared_data):
    assert detect(shared_data / "cdr/testsuite/Master.csv").format == "asterisk"
    assert detect(shared_data / "pcap/sipnab/sip-proxy.pcap").format == "pcap"
    assert detect(shared_data / "pcap/sipnab/b2bua-asterisk.pcapng").format == "pcap"


def test_freeswitch_default_template(tmp_path):
    p = tmp_path / "Master.csv"
    p.write_text(
        '"Alice","13812345678","02161234567","default","2025-01-17 09:12:03",'
        '"2025-01-17 09:12:09","2025-01-17 09:13:09","66","60","NORMAL_CLEARING",'
        '"a1b2-uuid","","","PCMA","PCMA"\n'
        '"Bob","13812345679","02161234567","default","2025-01-17 09:14:03","",'
        '"2025-01-17 09:14:13","10","0","USER_BUSY","c3d4-uuid","","","PCMA","PCMA"\n')
    assert detect(p).format == "freeswitch"
    q = Quarantine()
    calls = list(cdr.read_freeswitch(p, q))
    assert [(c.caller, c.disposition, c.duration) for c in calls] == [
        ("13812345678", "ANSWERED", 60.0), ("13812345679", "BUSY", 0.0)]
    assert calls[0].call_id == "a1b2-uuid"


def test_column_mapping_with_header(shared_data):
    mapping = {"caller": "caller_id_number", "callee": "destination_number",
               "start": "starting_date", "duration": "billsec", "call_id": "callid"}
    q = Quarantine()
    calls = list(cdr.read_csv(shared_data / "cdr/cdr-stats/CDRImport-2015-10-26.csv", "call", q,
                              mapping=mapping))
    assert len(calls) == 5 and q.total == 0
    assert calls[0].callee == "+34798400122" and calls[0].duration == 50
    assert calls[0].attrs["switch"] == "127.0.0.1"  # unmapped columns kept as attributes


def test_column_mapping_by_position(shared_data):
    q = Quarantine()
    calls = list(cdr.read_csv(shared_data / "cdr/cdr-stats/import_cdr_100.txt", "call", q,
                              mapping={"caller": "1", "callee": "2", "start": "7",
                                       "duration": "4"}))
    assert len(calls) + q.total == 100
    assert calls[0].caller == "abbey1" and calls[0].start == 1336101842.0


def test_canonical_csv_quarantines_with_line_and_reason(tmp_path):
    p = tmp_path / "calls.csv"
    p.write_text(CALL_HEADER
                 + "2025-01-17T09:12:03+08:00,+85512345678,13812345678,0,,international,,mobile,c1\n"
                 + "not-a-time,+85512345678,13812345678,0,,international,,mobile,c2\n"
                 + "2025-01-17T09:13:03+08:00,,13812345678,0,,international,,mobile,c3\n"
                 + "2025-01-17T09:14:03+08:00,+85512345678,13812345678,0,MAYBE,,,,c4\n"
                 + "2025-01-17T09:15:03+08:00,+85512345678\n"
                 + "\n"
                 + "1737076623,95353,13812345678,12,,domestic,,mobile,c6\n")
    q = Quarantine(tmp_path / "q.jsonl")
    calls = list(cdr.read_csv(p, "call", q))
    q.close()
    assert [c.call_id for c in calls] == ["c1", "c6"]
    assert calls[0].start == 1737076323.0
    assert calls[1].disposition == "ANSWERED"
    lines = [json.loads(x) for x in (tmp_path / "q.jsonl").read_text().splitlines()]
    assert [(e["location"], e["reason"]) for e in lines] == [
        (3, "bad start time"), (4, "missing caller"), (5, "bad disposition"),
        (6, "expected 9 fields, got 2")]


def test_jsonl_and_parquet_round_trip(tmp_path):
    src = tmp_path / "calls.csv"
    src.write_text(CALL_HEADER
                   + "2025-01-17T09:12:03+08:00,+85512345678,13812345678,31,,international,,mobile,c1\n"
                   + "2025-01-17T09:13:03+08:00,95353,13812345678,0,BUSY,domestic,,mobile,c2\n")
    original = list(open_records(src))
    for suffix in (".jsonl", ".parquet", ".csv"):
        out = tmp_path / f"out{suffix}"
        w = RecordWriter(out)
        for r in original:
            w.write(r)
        w.close()
        again = list(open_records(out))
        assert [(r.start, r.caller, r.callee, r.duration, r.disposition, r.ingress, r.call_id)
                for r in again] == [
            (r.start, r.caller, r.callee, r.duration, r.disposition, r.ingress, r.call_id)
            for r in original], suffix


def test_jsonl_bad_lines_quarantined(tmp_path):
    p = tmp_path / "sms.jsonl"
    p.write_text('{"time": "2025-01-17T09:12:03+08:00", "sender": "1069001", "recipient": "13812345678", "text": "验证码 123456"}\n'
                 '{"time": "2025-01-17T09:12:0\n'
                 '[1, 2]\n'
                 '{"time": 1737076323, "sender": "1069002", "recipient": "13812345678", "direction": "sideways"}\n'
                 '{"time": 1737076324, "sender": "1069003", "recipient": "13812345678"}\n')
    q = Quarantine()
    sms = list(open_records(p, quarantine=q))
    assert [s.sender for s in sms] == ["1069001", "1069003"]
    assert [(e["location"], e["reason"]) for e in q.entries] == [
        (2, "bad JSON"), (3, "not a JSON object"), (4, "bad direction")]


# -- properties: nothing crashes, nothing vanishes -------------------------------------

_valid_call = st.builds(
    lambda t, a, b, d, disp: f"{t},{a},{b},{d},{disp},access,residential,,x",
    st.integers(1_000_000_000, 2_000_000_000),
    st.from_regex(r"\+?[0-9]{5,15}", fullmatch=True),
    st.from_regex(r"[0-9]{5,12}", fullmatch=True),
    st.integers(0, 7200),
    st.sampled_from(["", "ANSWERED", "no answer", "BUSY", "FAILED", "Cancelled"]))
# Broken rows without quotes or line breaks, so each is exactly one CSV row.
_broken_call = st.one_of(
    st.builds(lambda t: f"{t},13800000000,13900000000,0,,,,,x", st.text(
        alphabet=st.characters(blacklist_characters=',"\r\n\x00', blacklist_categories=("Cs",)), min_size=1, max_size=12)
        .filter(lambda s: not s.strip().replace(".", "").isdigit() and ":" not in s and "-" not in s)),
    st.just("1737076323,13800000000,13900000000,-5,,,,,x"),
    st.just("1737076323,13800000000,13900000000,0,WHATEVER,,,,x"),
    st.just("1737076323,,13900000000,0,,,,,x"),
    st.just("1737076323,13800000000"),
    st.just("1737076323,13800000000,13900000000,0,,,,,x,extra"),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.booleans(), st.data()), min_size=1, max_size=40))
def test_every_row_is_a_record_or_a_quarantine_line(tmp_path_factory, rows):
    lines, expected_valid, expected_bad = [], [], []
    for n, (valid, data) in enumerate(rows, start=2):
        if valid:
            lines.append(data.draw(_valid_call))
            expected_valid.append(n)
        else:
            lines.append(data.draw(_broken_call))
            expected_bad.append(n)
    p = tmp_path_factory.mktemp("csv") / "calls.csv"
    p.write_text("start,caller,callee,duration,disposition,ingress,caller_line,callee_line,call_id\n"
                 + "\n".join(lines) + "\n")
    q = Quarantine()
    calls = list(cdr.read_csv(p, "call", q))
    assert [int(c.origin.rsplit(":", 1)[1]) for c in calls] == expected_valid
    assert [e["location"] for e in q.entries] == expected_bad


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=3000), st.sampled_from(["call", "sms", "registration", "feedback"]))
def test_arbitrary_bytes_never_crash_the_csv_reader(tmp_path_factory, body, kind):
    header = {"call": CALL_HEADER, "sms": "time,sender,recipient,text,direction\n",
              "registration": "time,line,contact_ip,user_agent,status,expires\n",
              "feedback": "time,number,kind,about,alert_id\n"}[kind]
    p = tmp_path_factory.mktemp("csv") / "in.csv"
    p.write_bytes(header.encode() + body)
    q = Quarantine()
    records = list(cdr.read_csv(p, kind, q))
    text = body.decode("utf-8", "replace")
    if '"' not in text and "\r" not in text:
        # one CSV row per physical line: each is a record, a quarantine entry, or blank
        physical = text.split("\n")
        if physical and physical[-1] == "":
            physical.pop()
        blank = sum(1 for ln in physical if not ln.strip())
        assert len(records) + q.total + blank == len(physical)
    assert all(r.record_kind == kind for r in records)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_crash_the_asterisk_reader(tmp_path_factory, body):
    p = tmp_path_factory.mktemp("ast") / "Master.csv"
    p.write_bytes(body)
    q = Quarantine()
    calls = list(cdr.read_asterisk(p, q))
    assert all(c.record_kind == "call" for c in calls)


@pytest.mark.parametrize("name", ["Master.csv", "cdrlib_good.csv", "cdrlib_buggy.csv"])
def test_truncations_of_real_cdrs_never_crash(shared_data, tmp_path, name):
    data = (shared_data / "cdr/testsuite" / name).read_bytes()
    for cut in range(0, len(data), 7):
        p = tmp_path / f"cut{cut}.csv"
        p.write_bytes(data[:cut])
        q = Quarantine()
        list(cdr.read_asterisk(p, q))
