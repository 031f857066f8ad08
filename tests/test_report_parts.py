"""The report's parts on hand-made inputs: store, masking, charts, ladder, map, sections."""

from __future__ import annotations

import re

import numpy as np

from detector.alerts import Alert
from detector.records import Call, Feedback, Registration, Sms
from fraudwatch.report.countrymap import centroids, origins_map_svg
from fraudwatch.report.ladder import ladder_svg, message_labels
from fraudwatch.report.masking import Masker, mask_number
from fraudwatch.report.sections import records_for, representative_call, timeline
from fraudwatch.report.store import RecordStore
from fraudwatch.report.svg import Timeline, bar_count, choose_bin

T0 = 1_790_000_000.0  # 2026-09-21


def _store() -> RecordStore:
    s = RecordStore()
    for i in range(30):
        s.add(Call(start=T0 + 60 * i, caller="02161234567", callee=f"1380000{i:04d}",
                   duration=5, call_id=f"c{i}", src_ip="10.1.1.1", user_agent="GoIP"))
    s.add(Call(start=T0 + 5, caller="13900000000", callee="02161234567", duration=40,
               call_id="in1"))
    s.add(Call(start=T0 + 9, caller="13900000000", callee="13911111111", call_id="other"))
    for i in range(12):
        s.add(Sms(time=T0 + 30 * i, sender=f"10690{i % 4}", recipient="13812345678",
                  text=f"code {i}", origin=f"/data/sms.csv:{i + 2}"))
    s.add(Registration(time=T0, line="02161234567", contact_ip="10.1.1.1", status=200))
    s.add(Registration(time=T0 + 1, line="999", contact_ip="203.0.113.9", status=401))
    s.add(Feedback(time=T0 + 100, number="13812345678", kind="complaint", about="106900"))
    return s


def test_store_selects_rows_per_subject_in_time_order():
    s = _store()
    views = s.select(["02161234567", "13812345678", "203.0.113.9", "nobody"])
    line = views["02161234567"]
    assert len(line.calls) == 31  # 30 outbound, 1 inbound
    assert [c.time for c in line.calls] == sorted(c.time for c in line.calls)
    assert {c.call_id for c in line.calls} == {f"c{i}" for i in range(30)} | {"in1"}
    assert line.calls[0].disposition == "ANSWERED" and line.calls[0].user_agent == "GoIP"
    assert [r.status for r in line.registrations] == [200]
    victim = views["13812345678"]
    assert len(victim.sms) == 12 and victim.sms[3].text == "code 3"
    assert [f.kind for f in victim.feedback] == ["complaint"]
    # an address subject: registrations from it
    assert [r.line for r in views["203.0.113.9"].registrations] == ["999"]
    assert views["nobody"].empty
    assert len(s) == 32 + 12 + 2 + 1


def test_store_keeps_numbers_interned_not_per_record():
    s = RecordStore()
    for i in range(1000):
        s.add(Call(start=T0 + i, caller="02161234567", callee="13800000000"))
    assert len(s.numbers) == 2 and len(s.c_time) == 1000


def test_masking_hides_numbers_everywhere_but_keeps_addresses():
    s = _store()
    m = Masker(True, s.numbers.ids)
    assert mask_number("13812345678") == "138****5678"
    assert m("02161234567") == "021****4567"
    assert m("10.1.1.1") == "10.1.1.1"
    assert m.text("02161234567 called 13800000001") == "021****4567 called 138****0001"
    assert m.value({"callees": ["13800000001"], "n": 3}) == {"callees": ["138****0001"], "n": 3}
    assert Masker(False, s.numbers.ids).text("02161234567") == "02161234567"


def test_choose_bin_keeps_charts_small():
    assert choose_bin(3600) == 60
    assert choose_bin(7 * 86400) == 3600
    assert choose_bin(400 * 86400) == 7 * 86400


def test_timeline_counts_and_draws_every_nonempty_bin():
    chart = Timeline(start=0, end=3600, bin_width=600)
    chart.add("out", np.array([1.0, 2.0, 700.0, 3599.0]), "#000")
    chart.add("in", np.array([650.0]), "#999", below=True)
    edges, counts = chart.counts()
    assert edges[0] == 0 and edges[1] == 600
    assert counts[0].tolist()[:2] == [2, 1] and counts[0].sum() == 4
    assert counts[1].tolist()[1] == 1
    svg = chart.svg()
    assert bar_count(svg) == 4  # 3 non-empty "out" bins + 1 "in" bin
    assert "out (4)" in svg and "in (1)" in svg


def test_call_alert_timeline_marks_alert_and_baseline():
    s = _store()
    # earlier history: one call a day for a week, so the baseline exists
    for d in range(1, 8):
        s.add(Call(start=T0 - d * 86400, caller="02161234567", callee="13700000000"))
    view = s.select(["02161234567"])["02161234567"]
    alert = Alert("voip_box", "02161234567", None, T0 + 1800, "critical", 0.9, "r", {})
    chart = timeline(alert, view)
    labels = [x.label for x in chart.series]
    assert labels == ["outbound", "inbound"]
    assert len(chart.series[0].times) == 37 and len(chart.series[1].times) == 1
    assert chart.baseline is not None and 0 < chart.baseline < 1
    svg = chart.svg()
    assert "alert (critical)" in svg and 'class="baseline"' in svg
    # the detector's baseline wins when its evidence has one
    alert.evidence = {"baseline_per_hour": 2.0}
    chart = timeline(alert, view)
    assert chart.baseline == 2.0 * chart.bin_width / 3600
    assert chart.baseline_label == "detector's baseline"


def test_sms_bombing_timeline_is_per_minute_by_sender():
    s = _store()
    view = s.select(["13812345678"])["13812345678"]
    alert = Alert("sms_bombing", "13812345678", None, T0 + 330, "warning", 0.9, "r", {})
    chart = timeline(alert, view)
    assert chart.bin_width == 60
    assert sorted(x.label for x in chart.series) == ["106900", "106901", "106902", "106903"]
    assert sum(len(x.times) for x in chart.series) == 12
    assert "complaint" in chart.svg()  # the feedback is marked


def test_records_behind_an_alert_put_cited_calls_first():
    s = _store()
    view = s.select(["02161234567"])["02161234567"]
    alert = Alert("voip_box", "02161234567", None, T0 + 600, "warning", 0.5, "r",
                  {"call_ids": ["c25", "c3"]})
    kind, rows, total = records_for(alert, view, limit=5)
    assert kind == "call" and total == 31 and len(rows) == 5
    assert {rows[0].call_id, rows[1].call_id} == {"c25", "c3"}
    assert rows[2].call_id == "c10"  # then the latest before the alert
    assert representative_call(alert, view, {"c3", "c7"}) == "c3"
    assert representative_call(alert, view, set()) is None


def test_records_cited_by_origin_come_first_and_empty_refs_cite_nothing():
    s = _store()
    view = s.select(["13812345678"])["13812345678"]
    assert view.sms[0].ref == "/data/sms.csv:2"
    alert = Alert("sms_bombing", "13812345678", None, T0 + 200, "warning", 0.9, "r",
                  {"first_ref": "/data/sms.csv:3", "last_ref": "", "device_ref": "x.pcap#9"})
    kind, rows, total = records_for(alert, view, limit=3)
    assert kind == "sms" and total == 12
    assert rows[0].ref == "/data/sms.csv:3"
    assert rows[1].time == T0 + 180  # then the latest up to the alert
    # a record without an origin is not "cited" by an empty ref
    call_view = s.select(["13900000000"])["13900000000"]
    alert = Alert("harassment", "13900000000", None, T0 + 20, "warning", 0.5, "r",
                  {"first_ref": ""})
    _, rows, _ = records_for(alert, call_view)
    assert [r.call_id for r in rows] == ["other", "in1"]


def test_ladder_keeps_message_order_and_endpoint_columns():
    msgs = [(0.0, "a:5060", "b:5060", "INVITE"), (0.1, "b:5060", "a:5060", "100 Trying"),
            (0.2, "b:5060", "c:5060", "INVITE"), (0.5, "c:5060", "b:5060", "200 OK"),
            (0.6, "b:5060", "a:5060", "200 OK"), (0.7, "a:5060", "b:5060", "ACK"),
            (3.0, "a:5060", "b:5060", "BYE <sip:13812345678@x>")]
    svg = ladder_svg(msgs, "call", mask=Masker(True, {"13812345678"}).text)
    assert message_labels(svg) == ["INVITE", "100 Trying", "INVITE", "200 OK", "200 OK", "ACK",
                                   "BYE <sip:138****5678@x>"]
    xs = [float(x) for x in
          re.findall(r'<text x="(\d+)" y="30" text-anchor="middle" class="endpoint"', svg)]
    assert len(xs) == 3 and xs == sorted(xs)  # a, b, c left to right
    assert "+3.000s" in svg


def test_origins_map_places_known_countries():
    assert {"KH", "MM", "PH", "US"} <= set(centroids())
    svg = origins_map_svg({"KH": 10, "PH": 2, "XX": 1})
    radii = [float(r) for r in re.findall(r'class="origin" cx="[^"]+" cy="[^"]+" r="([^"]+)"',
                                          svg)]
    assert len(radii) == 2 and radii[0] > radii[1]
    assert "not placed: XX 1" in svg
