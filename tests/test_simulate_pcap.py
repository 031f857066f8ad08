"""The simulated SIP capture dissects cleanly in tshark and matches the CDRs."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter

import pytest

from detector.records import Call, Registration
from fraudwatch.simulate import simulate
from fraudwatch.simulate.sippcap import write_sip_pcap
from tests.simulate_support import read_csv

TSHARK = shutil.which("tshark") or "tshark"  # installed by scripts/test.sh


def tshark(*args: str) -> list[str]:
    done = subprocess.run([TSHARK, "-n", *args], capture_output=True, text=True, timeout=120,
                          check=True)
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture(scope="module")
def sim_pcap(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim-pcap")
    result = simulate(out, days=1, subscribers=1000, seed=4, pcap=True)
    return out, result


def test_no_malformed_packets(sim_pcap):
    out, _ = sim_pcap
    # with IP checksum validation on, a wrong checksum would be an expert error
    assert tshark("-r", str(out / "calls.pcap"), "-o", "ip.check_checksum:TRUE",
                  "-Y", "_ws.malformed || _ws.expert.severity >= warning") == []


def test_invites_registers_and_scans_match_the_files(sim_pcap):
    out, result = sim_pcap
    rows = tshark("-r", str(out / "calls.pcap"), "-T", "fields", "-E", "separator=|",
                  "-e", "frame.time_epoch", "-e", "udp.srcport", "-e", "sip.Method",
                  "-e", "sip.Status-Code", "-e", "sip.User-Agent", "-e", "sip.Call-ID")
    fields = [r.split("|") for r in rows]
    assert all(f[2] or f[3] for f in fields)  # every packet is a SIP request or response
    methods = Counter(f[2] for f in fields if f[2])
    _, calls = read_csv(out / "calls.csv")
    _, regs = read_csv(out / "registrations.csv")
    assert methods["INVITE"] == len(calls) == result.rows["call"]
    assert methods["REGISTER"] == len(regs)
    assert methods["BYE"] == sum(c["disposition"] == "ANSWERED" for c in calls)
    assert methods["CANCEL"] == sum(c["disposition"] == "CANCELLED" for c in calls)
    scans = [s for s in result.labels["scenarios"] if s["kind"] == "sip_scan"]
    assert methods["OPTIONS"] == sum(s["params"]["options"] for s in scans) > 0
    agents = {f[4] for f in fields if f[2] == "OPTIONS"}
    assert agents == {s["params"]["user_agent"] for s in scans}
    invite_ids = {f[5] for f in fields if f[2] == "INVITE"}
    assert invite_ids == {c["call_id"] for c in calls}
    statuses = Counter(f[3] for f in fields if f[3])
    assert statuses["486"] == sum(c["disposition"] == "BUSY" for c in calls)
    assert statuses["480"] == sum(c["disposition"] == "NO ANSWER" for c in calls)
    times = [float(f[0]) for f in fields]
    assert times == sorted(times)  # written in time order


def test_write_sip_pcap_accepts_records_in_any_order(tmp_path):
    calls = [Call(start=1793548900.0 - 10 * i, caller=f"1380000000{i}", callee="+85512345678",
                  duration=(5 if i % 2 else 0), disposition=("ANSWERED" if i % 2 else "BUSY"),
                  call_id=f"c{i}@t", user_agent="Yealink SIP-T19P", src_ip="58.32.0.9")
             for i in range(6)]
    regs = [Registration(time=1793548850.0, line="100", contact_ip="185.53.1.2",
                         user_agent="friendly-scanner", status=404)]
    stats = write_sip_pcap(calls, regs, tmp_path / "t.pcap",
                           options=[(1793548860, "185.53.1.2", "101", "friendly-scanner")])
    assert (stats.invites, stats.registers, stats.options) == (6, 1, 1)
    # answered: 7 packets, busy: 4, register and options: 2 each
    assert stats.packets == 3 * 7 + 3 * 4 + 2 + 2
    rows = tshark("-r", str(tmp_path / "t.pcap"), "-T", "fields", "-e", "frame.time_epoch",
                  "-e", "sip.Method", "-e", "sip.from.user")
    assert len(rows) == stats.packets
    times = [float(r.split("\t")[0]) for r in rows]
    assert times == sorted(times)
    assert tshark("-r", str(tmp_path / "t.pcap"), "-Y", "_ws.malformed") == []


def test_calls_by_start_reorders_end_ordered_cdrs(sim_pcap):
    from fraudwatch.simulate.sippcap import calls_by_start, read_simulated_calls

    out, _ = sim_pcap
    by_end = list(read_simulated_calls(out / "calls.csv"))
    starts = [c.start for c in by_end]
    assert starts != sorted(starts)  # the file is in end order, not start order
    by_start = list(calls_by_start(iter(by_end)))
    assert [c.start for c in by_start] == sorted(starts)
    assert sorted(c.call_id for c in by_start) == sorted(c.call_id for c in by_end)
    # the span bound is what keeps the order: one too short for long calls breaks it
    too_short = [c.start for c in calls_by_start(iter(by_end), max_span=60)]
    assert too_short != sorted(starts)
