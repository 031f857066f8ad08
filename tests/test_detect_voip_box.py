"""voip_box: hand-built line histories, strong and weak boxes, the hard negatives, rule changes."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from detector.records import Call, Registration
from detector.rulefiles import RuleSet, rules_dir
from detector.voip_box import VoipBox

LINE = "02161234567"
HOME_UA, HOME_IP = "ZTE ZXHN F660 V6.0.10P2T2", "58.32.10.20"
BOX_UA, BOX_IP = "GoIP-8 GST1610-1.01-68", "103.216.7.9"
DAY = 86400.0
T0 = 1_793_548_800.0  # 2026-11-02 00:00 China time


def out_call(t: float, callee: str, line: str = LINE, disposition: str = "ANSWERED",
             duration: float = 120.0, line_type: str = "residential", ua: str = HOME_UA,
             ip: str = HOME_IP) -> Call:
    return Call(start=t, caller=line, callee=callee, duration=duration if disposition ==
                "ANSWERED" else 0.0, disposition=disposition, ingress="access",
                caller_line=line_type, user_agent=ua, src_ip=ip, call_id=f"{line}-{t:.0f}")


def household(days: int = 5, line: str = LINE, per_day: int = 2, ua: str = HOME_UA,
              ip: str = HOME_IP, line_type: str = "residential") -> list:
    """An ordinary household: hourly registrations and a couple of daytime calls a day."""
    records: list = []
    for d in range(days):
        for h in range(0, 24, 6):
            records.append(Registration(time=T0 + d * DAY + h * 3600, line=line, contact_ip=ip,
                                        user_agent=ua, status=200, expires=3600))
        for k in range(per_day):
            records.append(out_call(T0 + d * DAY + 10 * 3600 + k * 7200, f"1380000{d}{k:03d}",
                                    line=line, ua=ua, ip=ip, line_type=line_type))
    return records


def box_calls(start: float, per_hour: float, hours: float, line: str = LINE,
              ua: str = HOME_UA, ip: str = HOME_IP) -> list[Call]:
    """A gateway's traffic: distinct callees, mostly unanswered, answered ones short."""
    n = int(per_hour * hours)
    out = []
    for i in range(n):
        answered = i % 5 == 0
        callee = f"0085{5000000 + i}" if i % 7 == 0 else f"1{3 + i % 6}{i:09d}"[:11]
        out.append(out_call(start + i * 3600.0 / per_hour, callee, line=line,
                            disposition="ANSWERED" if answered else "NO ANSWER",
                            duration=20.0, ua=ua, ip=ip))
    return out


def run(detector, records) -> list:
    out = []
    for r in records:
        handler = detector.on_call if isinstance(r, Call) else detector.on_registration
        out.extend(handler(r))
    return out


def test_strong_box_on_calls_alone_alerts_within_minutes():
    d = VoipBox(RuleSet.load())
    assert run(d, household()) == []
    onset = T0 + 5 * DAY + 21 * 3600
    alerts = run(d, box_calls(onset, per_hour=60, hours=2))
    assert alerts, "60 short calls an hour from a household line must alert"
    first = alerts[0]
    assert (first.kind, first.subject, first.counterparty) == ("voip_box", LINE, None)
    assert first.time - onset <= 15 * 60
    signals = first.evidence["signals"]
    assert {"rate", "high_rate", "failed_share", "distinct_callees"} <= set(signals)
    assert first.evidence["baseline_per_hour"] < 1.0 and first.evidence["calls"] >= 8
    assert "rate" in first.reason and "baseline" in first.reason
    assert first.evidence["first_ref"] == f"{LINE}-{onset:.0f}"


def test_weak_box_of_a_few_calls_an_hour_alerts_within_hours():
    d = VoipBox(RuleSet.load())
    run(d, household())
    onset = T0 + 5 * DAY + 20 * 3600
    alerts = run(d, box_calls(onset, per_hour=4, hours=10))
    assert alerts
    assert alerts[0].time - onset <= 4 * 3600


def test_gateway_registration_from_a_new_network_alerts_at_once():
    d = VoipBox(RuleSet.load())
    run(d, household())
    t = T0 + 5 * DAY + 3600
    alerts = run(d, [Registration(time=t, line=LINE, contact_ip=BOX_IP, user_agent=BOX_UA,
                                  status=401),
                     Registration(time=t + 1, line=LINE, contact_ip=BOX_IP, user_agent=BOX_UA,
                                  status=200, expires=1800)])
    assert [a.time for a in alerts] == [t + 1]  # the 401 challenge proves nothing
    assert set(alerts[0].evidence["signals"]) == {"new_device", "new_network", "gateway_agent"}


def test_box_device_on_the_calls_themselves_adds_its_signals():
    d = VoipBox(RuleSet.load())
    run(d, household())
    alerts = run(d, box_calls(T0 + 5 * DAY + 22 * 3600, 30, 1, ua=BOX_UA, ip=BOX_IP))
    assert alerts and "gateway_agent" in alerts[0].evidence["signals"]
    # the device alone is a warning; once the volume signals join it is critical
    assert alerts[0].severity == "warning" and alerts[0].evidence["calls"] == 1
    assert alerts[-1].severity == "critical" and "rate" in alerts[-1].evidence["signals"]


def test_household_callers_finding_the_line_busy_is_a_signal():
    d = VoipBox(RuleSet.load())
    run(d, household())
    start = T0 + 5 * DAY + 21 * 3600
    records = box_calls(start, 20, 1)
    records.insert(5, Call(start=start + 5 * 180 + 30, caller="13912345678", callee=LINE,
                           disposition="BUSY", ingress="domestic"))
    alerts = run(d, records)
    assert alerts and "busy_inbound" in alerts[-1].evidence["signals"]
    assert alerts[-1].evidence["busy_inbound"] == 1


def test_hard_negative_new_home_router_is_not_a_box():
    d = VoipBox(RuleSet.load())
    run(d, household())
    t = T0 + 5 * DAY
    new_router = household(days=2, ua="Huawei HG8245H V3R017C10S115", ip="58.32.99.1")
    for r in new_router:
        if isinstance(r, Registration):
            r.time += 5 * DAY
        else:
            r.start += 5 * DAY
    assert run(d, new_router) == []
    assert d.lines[LINE].device_time >= t  # the change was noticed, just not enough alone


def test_hard_negative_business_call_centre():
    d = VoipBox(RuleSet.load())
    centre = "02198765432"
    records = household(days=3, line=centre, line_type="business", ua="Asterisk PBX 18.12.1")
    records += [out_call(T0 + 3 * DAY + 9 * 3600 + 60 * i, f"13{i:09d}", line=centre,
                         disposition="NO ANSWER" if i % 2 else "ANSWERED", duration=20.0,
                         line_type="business", ua="Asterisk PBX 18.12.1") for i in range(300)]
    assert run(d, records) == []


def test_hard_negative_line_with_a_long_high_volume_history():
    d = VoipBox(RuleSet.load())
    pbx = "02155556666"
    records = []
    for day in range(10):  # ten days of ~6 calls an hour around the clock: a PBX trunk
        records += box_calls(T0 + day * DAY, 6, 24, line=pbx)
    for c in records:
        c.caller_line = ""  # line type unknown: only the history can tell
    alerts = run(d, records)
    assert alerts, "a line starting at 6 calls an hour is suspicious at first"
    late = [a for a in alerts if a.time > T0 + 8 * DAY]
    assert late == [], "after a week of the same volume it is the line's normal"


def test_hard_negative_busy_household_evening():
    d = VoipBox(RuleSet.load())
    run(d, household())
    evening = T0 + 5 * DAY + 19 * 3600
    # seven calls in two hours to family, mostly answered and long
    records = [out_call(evening + 1000 * i, f"1390000{i:04d}", duration=300.0,
                        disposition="NO ANSWER" if i == 3 else "ANSWERED") for i in range(7)]
    assert run(d, records) == []


def _rules_copy(tmp_path: Path, **params) -> RuleSet:
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    path = root / "detectors" / "voip_box.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    doc[0]["params"].update(params)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return RuleSet.load(root)


def test_threshold_in_a_copied_rules_dir_changes_behaviour(tmp_path):
    records = household() + box_calls(T0 + 5 * DAY + 21 * 3600, 60, 1)
    assert run(VoipBox(RuleSet.load()), records)
    assert run(VoipBox(_rules_copy(tmp_path, threshold=2.0)), records) == []
    strict = _rules_copy(tmp_path / "b", min_calls=200)
    assert run(VoipBox(strict), records) == []


def test_gateway_list_in_a_copied_rules_dir(tmp_path):
    root = tmp_path / "rules"
    shutil.copytree(rules_dir(), root)
    (root / "lists" / "gateway_user_agents.yaml").write_text("gateway_user_agents: []\n",
                                                             encoding="utf-8")
    d = VoipBox(RuleSet.load(root))
    run(d, household())
    t = T0 + 5 * DAY
    assert run(d, [Registration(time=t, line=LINE, contact_ip=BOX_IP, user_agent=BOX_UA,
                                status=200)]) == []


def test_state_expires_and_tracked_counts_lines():
    d = VoipBox(RuleSet.load())
    run(d, household(days=1))
    run(d, household(days=1, line="02100001111"))
    assert d.tracked() == 2
    d.expire(T0 + 60 * DAY)
    assert d.tracked() == 0


def test_idle_window_is_freed_and_a_later_burst_is_still_seen():
    d = VoipBox(RuleSet.load())
    run(d, household())
    d.expire(T0 + 5 * DAY + 12 * 3600)
    line = d.lines[LINE]
    assert line.calls is None and line.history == 10  # history kept, window freed
    alerts = run(d, box_calls(T0 + 5 * DAY + 21 * 3600, 60, 1))
    assert alerts and alerts[0].evidence["history_calls"] >= 10
