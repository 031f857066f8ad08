"""`fraudwatch replay` / `records` as a user runs them: exit codes, summaries, quarantine."""

import json
import subprocess
import sys

import pytest

FW = [sys.executable, "-m", "fraudwatch"]


def run(*args, cwd=None):
    return subprocess.run([*FW, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=120)


def test_replay_asterisk_samples_quarantines_the_buggy_one(shared_data, tmp_path):
    d = shared_data / "cdr/testsuite"
    r = run("replay", d / "Master.csv", d / "cdrlib_good.csv", d / "cdrlib_buggy.csv",
            "--alerts", tmp_path / "alerts.jsonl", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["records"] == {"call": 7}
    assert s["quarantined"] == 1
    q = [json.loads(x) for x in (tmp_path / "alerts.quarantine.jsonl").read_text().splitlines()]
    assert q[0]["source"].endswith("cdrlib_buggy.csv") and q[0]["location"] == 1
    assert (tmp_path / "alerts.jsonl").exists()
    assert s["event_time"]["first"] == "2009-01-14T23:51:15+00:00"


def test_replay_table_summary(shared_data, tmp_path):
    r = run("replay", shared_data / "cdr/testsuite/Master.csv", "--alerts",
            tmp_path / "a.jsonl")
    assert r.returncode == 0, r.stderr
    assert "records" in r.stdout and "quarantined" in r.stdout and "alerts" in r.stdout
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize("args,message", [
    (["replay", "/nonexistent/calls.csv"], "no such file"),
    (["replay", "{cel}"], "unknown format: Asterisk CEL events"),
    (["replay", "{tmp}"], "is a directory"),
    (["replay", "{junk}"], "unknown format"),
    (["records", "{master}", "--out", "{tmp}/x.txt"], "output must end in"),
    (["replay", "{master}", "--tz", "Mars/Olympus"], "unknown time zone"),
    (["replay", "{master}", "--map", "caller"], "--map expects"),
])
def test_user_errors_are_one_line_not_tracebacks(shared_data, tmp_path, args, message):
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02garbage")
    subst = {"cel": shared_data / "cdr/testsuite/CELMaster1.csv", "tmp": tmp_path, "junk": junk,
             "master": shared_data / "cdr/testsuite/Master.csv"}
    r = run(*[a.format(**subst) for a in args], cwd=tmp_path)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_records_export_and_replay_of_the_export(shared_data, tmp_path):
    out = tmp_path / "calls.csv"
    r = run("records", shared_data / "cdr/testsuite/cdrlib_good.csv", "--out", out)
    assert r.returncode == 0, r.stderr
    lines = out.read_text().splitlines()
    assert lines[0] == ("start,caller,callee,duration,disposition,ingress,caller_line,"
                        "callee_line,call_id,user_agent,src_ip")
    assert len(lines) == 6
    r = run("replay", out, "--alerts", tmp_path / "a.jsonl", "--json")
    assert json.loads(r.stdout)["records"] == {"call": 5}


def _captures():
    from tests.conftest import SHARED_DATA

    return sorted(p for p in (SHARED_DATA / "pcap").rglob("*") if p.is_file())


@pytest.mark.parametrize("capture", _captures(), ids=lambda p: p.name)
def test_every_shared_capture_replays(capture, tmp_path):
    from capture.sipcapture import read_capture
    from fraudwatch.replay import replay

    s = replay([capture], alerts_path=tmp_path / "a.jsonl")
    assert s.formats[str(capture)] == "pcap"
    direct = read_capture(capture)
    records = list(direct)
    assert s.total_records == len(records)
    assert s.sip == direct.stats


def test_records_turns_a_capture_into_call_records(shared_data, tmp_path):
    out = tmp_path / "calls.csv"
    r = run("records", shared_data / "pcap/sipnab/register-invite-reinvite-bye.pcap", "--out", out)
    assert r.returncode == 0, r.stderr
    calls = out.read_text().splitlines()
    assert calls[0].startswith("start,caller,callee,duration,disposition")
    assert len(calls) == 2
    regs = (tmp_path / "calls-registration.csv").read_text().splitlines()
    assert regs[0].startswith("time,line,contact_ip") and len(regs) == 2


def test_per_record_flag_gives_the_same_alert_log(tmp_path):
    """`--per-record` takes the one-record-at-a-time path; the alert log is the same."""
    sim = tmp_path / "sim"
    r = run("simulate", "--out", sim, "--days", "2", "--subscribers", "1500", "--seed", "31")
    assert r.returncode == 0, r.stderr
    inputs = [sim / f"{n}.csv" for n in ("calls", "sms", "registrations", "feedback")]
    logs = {}
    for mode in ("columnar", "per-record"):
        extra = ["--per-record"] if mode == "per-record" else []
        out = tmp_path / f"{mode}.jsonl"
        r = run("replay", *inputs, "--alerts", out, "--json", *extra)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["records_total"] > 10_000
        logs[mode] = out.read_text()
    assert logs["columnar"].count("\n") >= 5  # the run raised alerts to compare
    assert logs["columnar"] == logs["per-record"]
