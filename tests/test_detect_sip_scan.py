"""sip_scan on hand-built registrations and calls, with ordinary devices as negatives."""

from __future__ import annotations

import shutil

import pytest
import yaml

from detector.records import Call, Registration
from detector.rulefiles import RuleSet, rules_dir
from detector.sip_scan import SipScan

T0 = 1_793_548_800.0
SCANNER = "45.134.10.20"


@pytest.fixture
def detector() -> SipScan:
    return SipScan(RuleSet.load())


def reg(t: float, line: str, status: int | None, ip: str = SCANNER, agent: str = "") -> Registration:
    return Registration(time=T0 + t, line=line, contact_ip=ip, user_agent=agent, status=status,
                        origin=f"registrations.csv:{int(t * 10)}")


def feed(detector, records) -> list:
    out = []
    for r in records:
        out += (detector.on_registration(r) if isinstance(r, Registration)
                else detector.on_call(r))
    return out


@pytest.mark.parametrize("agent", ["friendly-scanner", "sipvicious", "sipcli/v1.8",
                                   "VaxSIPUserAgent/3.1", "iWar", "SIVuS", "pplsip",
                                   "sundayddr", "SIP-Scan 1.0"])
def test_known_scanner_agent_alerts_on_first_record(detector, agent):
    out = feed(detector, [reg(0, "100", 404, agent=agent)])
    assert len(out) == 1
    assert out[0].subject == SCANNER and out[0].evidence["user_agent"] == agent
    assert "scanner User-Agent" in out[0].reason


def test_scanner_agent_in_a_call(detector):
    call = Call(start=T0, caller="100", callee="0046123456", disposition="FAILED",
                user_agent="friendly-scanner", src_ip="193.46.1.1", call_id="x@y")
    a = detector.on_call(call)
    assert a[0].subject == "193.46.1.1" and a[0].evidence["last_ref"] == "x@y"


def test_extension_sweep_without_a_known_agent(detector):
    from detector.engine import Engine

    # in the engine, repeats of an ongoing scan are the notice board's to suppress
    engine = Engine(detector.rules, detectors=[detector], lateness=0)
    board = engine.board

    def feed(_detector, records):
        return engine.push_many(records)

    recs = [reg(0.2 * i, str(1000 + i), 404, agent="Asterisk PBX") for i in range(150)]
    out = feed(detector, recs)
    assert out[0].time == recs[9].time and out[0].severity == "warning"
    assert out[0].evidence["extensions"] == 10
    # only the first finding and the rise to critical are built; the rest are repeats
    assert [a.severity for a in out] == ["warning", "critical"]
    assert out[-1].evidence["extensions"] == 100
    assert "refused attempts on 100 extensions" in out[-1].reason
    assert board.suppressed == len(recs) - 9 - 2  # 9 records before the threshold
    later = feed(detector, [reg(90 + 0.2 * i, str(2000 + i), 404) for i in range(3)])
    assert later == [] and board.suppressed == len(recs) - 11 + 3
    # after a quiet suppression interval the same source scanning again is a new alert
    quiet = board.interval("sip_scan") + 3600
    again = feed(detector, [reg(quiet + 0.2 * i, str(3000 + i), 404) for i in range(12)])
    assert len(again) == 1 and again[0].severity == "warning"


def test_scanner_with_sweep_is_critical(detector):
    out = feed(detector, [reg(0.1 * i, str(200 + i), 404, agent="friendly-scanner")
                          for i in range(12)])
    assert out[0].severity == "warning" and out[-1].severity == "critical"


def test_brute_force_on_one_extension(detector):
    out = feed(detector, [reg(3 * i, "8001", 403) for i in range(25)])
    assert out and out[0].evidence["failures"] == 20
    assert out[0].evidence["extensions"] == 1
    assert "20 failed attempts" in out[0].reason


def test_invite_sweep_with_failed_calls(detector):
    calls = [Call(start=T0 + i, caller="1001", callee=f"00972{i:07d}", disposition="FAILED",
                  src_ip="89.248.1.1") for i in range(12)]
    out = feed(detector, calls)
    assert out and out[0].evidence["extensions"] == 10


def test_ordinary_devices_are_not_scanners(detector):
    # every device answers the 401 challenge and registers, hour after hour
    recs = []
    for hour in range(24):
        for dev in range(200):
            ip = f"58.32.{dev // 250}.{dev % 250 + 1}"
            t = hour * 3600 + dev * 7
            recs += [reg(t, f"0216{dev:07d}", 401, ip, "Huawei HG8245H"),
                     reg(t + 0.1, f"0216{dev:07d}", 200, ip, "Huawei HG8245H")]
    assert feed(detector, recs) == []


def test_pbx_registering_many_lines_successfully_is_not_a_sweep(detector):
    recs = []
    for i in range(100):
        recs += [reg(i, f"02161{i:06d}", 401, "58.33.1.1", "Yeastar S50"),
                 reg(i + 0.1, f"02161{i:06d}", 200, "58.33.1.1", "Yeastar S50")]
    assert feed(detector, recs) == []


def test_mistyped_password_is_not_a_storm(detector):
    recs = [reg(20 * i, "8001", 401, "58.32.9.9") for i in range(5)] + \
           [reg(120, "8001", 200, "58.32.9.9")]
    assert feed(detector, recs) == []


def test_failures_spread_beyond_the_window_do_not_add_up(detector):
    recs = [reg(120 * i, str(1000 + i), 404) for i in range(40)]   # one per 2 minutes
    assert feed(detector, recs) == []


def test_state_expires(detector):
    feed(detector, [reg(0, "1", 401, f"10.0.0.{i}") for i in range(30)])
    feed(detector, [reg(0, "1", 200, f"10.0.1.{i}") for i in range(30)])
    assert detector.tracked() == 30        # successful unknown sources hold no state
    detector.expire(T0 + 3600)
    assert detector.tracked() == 0


def test_threshold_change_in_copied_rules_changes_behaviour(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "detectors" / "sip_scan.yaml"
    rule = yaml.safe_load(path.read_text(encoding="utf-8"))
    rule[0]["params"]["sweep_extensions"] = 50
    path.write_text(yaml.safe_dump(rule, allow_unicode=True), encoding="utf-8")
    recs = [reg(0.5 * i, str(1000 + i), 404) for i in range(15)]
    assert feed(SipScan(RuleSet.load()), recs)
    assert feed(SipScan(RuleSet.load(tmp_path / "rules")), recs) == []


def test_scanner_list_is_data(tmp_path):
    shutil.copytree(rules_dir(), tmp_path / "rules")
    path = tmp_path / "rules" / "lists" / "sip_scanners.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["sip_scanners"].append("evilprobe")
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    rec = [reg(0, "100", 200, agent="EvilProbe/2")]
    assert feed(SipScan(RuleSet.load()), rec) == []
    assert feed(SipScan(RuleSet.load(tmp_path / "rules")), rec)
