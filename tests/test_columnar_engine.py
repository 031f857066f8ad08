"""detector.columnar.FrameFeed against the per-record Engine.

The contract: pushing frames of records (with an ``arrival`` column interleaving the
kinds, or kind after kind without one) gives the same alerts in the same order (full
``to_dict()``), the same statistics (records per kind, late records, alerts per kind and
severity) and the same event-time span as pushing the same records one by one, in the
same arrival order, into a fresh Engine. Detectors that narrow the rows they see
(``Detector.selects`` / ``absorb``) must end with the same state as when they see every
row.
"""

from __future__ import annotations

import heapq
import random
from collections import Counter

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from capture.cdr import read_csv
from capture.quarantine import Quarantine
from detector.base import Detector
from detector.columnar import FrameFeed
from detector.engine import Engine
from detector.frames import to_frame
from detector.records import Call, Feedback, Registration, Sms
from fraudwatch.simulate import simulate

FILES = {"call": "calls.csv", "sms": "sms.csv", "registration": "registrations.csv",
         "feedback": "feedback.csv"}
HOUR = 3600.0


@pytest.fixture(scope="module")
def sim_records(tmp_path_factory) -> dict[str, list]:
    out = tmp_path_factory.mktemp("columnar_engine") / "sim"
    simulate(out, days=2, subscribers=2000, seed=20251117)
    records = {}
    for kind, name in FILES.items():
        q = Quarantine()
        records[kind] = list(read_csv(out / name, kind, q))
        assert records[kind] and q.total == 0, name
    return records


# -- the two ways to run -----------------------------------------------------------------
def run_per_record(sequence: list, engine: Engine | None = None) -> dict:
    eng = engine or Engine()
    alerts = []
    for record in sequence:
        alerts.extend(eng.push(record))
    alerts.extend(eng.flush())
    return outcome(eng, alerts)


def outcome(eng: Engine, alerts: list) -> dict:
    return {"alerts": [a.to_dict() for a in alerts],
            "records": dict(eng.stats.records), "late": eng.stats.late,
            "alert_counts": dict(eng.stats.alerts),
            "span": (eng.first_time, eng.last_time), "tracked": eng.tracked()}


def chunk_sizes(n: int, rng: random.Random, largest: int = 5000) -> list[int]:
    sizes = []
    while n > 0:
        size = min(n, rng.randint(1, rng.choice([1, 3, 50, 700, largest])))
        sizes.append(size)
        n -= size
    return sizes


def run_frames(sequence: list, rng: random.Random, engine: Engine | None = None,
               largest: int = 5000) -> dict:
    """The same arrival order as ``sequence``, pushed as frames of random sizes with an
    ``arrival`` column (kinds in random order within a push, empty frames sometimes)."""
    feed = FrameFeed(engine or Engine())
    alerts = []
    start = 0
    for size in chunk_sizes(len(sequence), rng, largest):
        by_kind: dict[str, tuple[list, list]] = {}
        for i in range(start, start + size):
            r = sequence[i]
            recs, arrivals = by_kind.setdefault(r.record_kind, ([], []))
            recs.append(r)
            arrivals.append(i)
        frames = {k: to_frame(k, recs).with_columns(pl.Series("arrival", arrivals, pl.Int64))
                  for k, (recs, arrivals) in by_kind.items()}
        if rng.random() < 0.2:
            missing = [k for k in FILES if k not in frames]
            if missing:
                k = rng.choice(missing)
                frames[k] = to_frame(k, []).with_columns(pl.Series("arrival", [], pl.Int64))
        keys = list(frames)
        rng.shuffle(keys)
        alerts.extend(feed.push({k: frames[k] for k in keys}))
        start += size
    alerts.extend(feed.flush())
    return outcome(feed.engine, alerts)


def assert_same_outcome(got: dict, expected: dict, what: str) -> None:
    a, b = got["alerts"], expected["alerts"]
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        assert x == y, f"{what}: alert {i} differs\n frames:     {x}\n per-record: {y}"
    assert len(a) == len(b), (f"{what}: {len(a)} alerts from frames, {len(b)} per record; "
                              f"extra: {(a[len(b):] or b[len(a):])[:3]}")
    for key in ("records", "late", "alert_counts", "span"):
        assert got[key] == expected[key], f"{what}: {key} {got[key]} != {expected[key]}"


# -- arrival orders ----------------------------------------------------------------------
def in_order(records: dict[str, list], key) -> list:
    """All kinds merged by ``key`` (stable: ties keep file order, calls first)."""
    decorated = [[(key(r), n, i, r) for i, r in enumerate(recs)]
                 for n, recs in enumerate(records.values())]
    for d in decorated:
        d.sort(key=lambda x: (x[0], x[2]))
    return [x[3] for x in heapq.merge(*decorated, key=lambda x: (x[0], x[1], x[2]))]


def file_order(records: dict[str, list]) -> list:
    return in_order(records, lambda r: r.time)


def shuffled_within_hour(records: dict[str, list], seed: int) -> list:
    rng = random.Random(seed)
    jitter = {id(r): rng.uniform(0, HOUR) for recs in records.values() for r in recs}
    return in_order(records, lambda r: r.time + jitter[id(r)])


def with_late_records(records: dict[str, list], seed: int, n: int = 60) -> list:
    """Mostly in order within 30 min; ``n`` records held back 2.5 to 9 h: late."""
    rng = random.Random(seed)
    everything = [r for recs in records.values() for r in recs]
    delayed = {id(r) for r in rng.sample(everything, n)}
    calls = [r for r in records["call"] if r.ingress == "access"]
    delayed |= {id(r) for r in rng.sample(calls, n)}  # calls the narrowing detectors want
    delay = {id(r): rng.uniform(0, 0.5 * HOUR) + (rng.uniform(2.5 * HOUR, 9 * HOUR)
                                                 if id(r) in delayed else 0.0)
             for r in everything}
    return in_order(records, lambda r: r.time + delay[id(r)])


ORDERS = {"file order": lambda recs: file_order(recs),
          "shuffled within 1 h": lambda recs: shuffled_within_hour(recs, 11),
          "some records late": lambda recs: with_late_records(recs, 23)}


@pytest.mark.parametrize("order", list(ORDERS))
def test_frames_match_per_record_engine(sim_records, order):
    sequence = ORDERS[order](sim_records)
    assert len(sequence) == sum(len(v) for v in sim_records.values())
    expected = run_per_record(sequence)
    kinds = {a["kind"] for a in expected["alerts"]}
    assert len(kinds) >= 4 and len(expected["alerts"]) >= 20, f"too few alerts: {kinds}"
    if order == "some records late":
        assert expected["late"] >= 20, expected["late"]
    else:
        assert expected["late"] == 0
    got = run_frames(sequence, random.Random(list(ORDERS).index(order)))
    assert_same_outcome(got, expected, order)


def test_frames_without_arrival_column_arrive_kind_after_kind(sim_records):
    """Without ``arrival``, a push's kinds arrive one after the other in the order given."""
    rng = random.Random(5)
    base = shuffled_within_hour(sim_records, 3)
    feed = FrameFeed(Engine())
    alerts, sequence = [], []
    start = 0
    for size in chunk_sizes(len(base), rng, largest=3000):
        chunk = base[start:start + size]
        start += size
        kinds = [k for k in FILES if any(r.record_kind == k for r in chunk)]
        rng.shuffle(kinds)
        frames = {}
        for k in kinds:
            recs = [r for r in chunk if r.record_kind == k]
            frames[k] = to_frame(k, recs)
            sequence.extend(recs)
        alerts.extend(feed.push(frames))
    alerts.extend(feed.flush())
    got = outcome(feed.engine, alerts)
    expected = run_per_record(sequence)
    assert len({a["kind"] for a in expected["alerts"]}) >= 4
    assert_same_outcome(got, expected, "kind after kind")


def logging_engine(log: list) -> Engine:
    """An Engine that also records the order it dispatches records in (a subscriber
    that is no detector sees every row, in the feed too)."""
    eng = Engine()
    for cls in (Call, Sms, Registration, Feedback):
        eng.subscribe(cls, lambda r, log=log: log.append((r.record_kind, r.time, r.origin)) or ())
    return eng


def test_pending_rows_of_a_kind_absent_from_later_pushes_are_released():
    """A complaint buffered in one push must be released by a later push that holds only
    calls, before the calls that follow it in event time (as one by one)."""
    t0 = 1_767_225_600.0
    victim, party = "13800000001", "13911112222"
    pushes = [
        {"call": [Call(start=t0, caller=party, callee=victim, disposition="BUSY", origin="c1"),
                  Call(start=t0 + 60, caller=party, callee=victim, disposition="BUSY",
                       origin="c2")]},
        {"feedback": [Feedback(time=t0 + 200, number=victim, kind="complaint", about=party,
                               origin="f1")]},
        {"call": [Call(start=t0 + 300, caller=party, callee=victim, disposition="BUSY",
                       origin="c3"),
                  Call(start=t0 + 300 + 3 * HOUR, caller="13700000000", callee="13600000000",
                       duration=60, origin="c4")]},
    ]
    sequence = [r for p in pushes for recs in p.values() for r in recs]
    order_one_by_one: list = []
    expected = run_per_record(sequence, logging_engine(order_one_by_one))
    order_frames: list = []
    feed = FrameFeed(logging_engine(order_frames))
    alerts = []
    for p in pushes:
        alerts.extend(feed.push({k: to_frame(k, recs) for k, recs in p.items()}))
    alerts.extend(feed.flush())
    assert [o[2] for o in order_frames] == [o[2] for o in order_one_by_one]
    assert_same_outcome(outcome(feed.engine, alerts), expected, "kind absent from a push")
    assert [a["severity"] for a in expected["alerts"]] == ["critical"]


def test_dispatch_order_is_the_same(sim_records):
    """Every record reaches a subscriber in the same order both ways (late ones too)."""
    sequence = with_late_records(sim_records, 7)
    one_by_one: list = []
    run_per_record(sequence, logging_engine(one_by_one))
    frames: list = []
    run_frames(sequence, random.Random(3), logging_engine(frames), largest=2000)
    assert len(frames) == len(one_by_one) == len(sequence)
    first = next((i for i, (a, b) in enumerate(zip(frames, one_by_one, strict=True)) if a != b),
                 None)
    assert first is None, (f"dispatch {first}: frames {frames[first]}, "
                           f"one by one {one_by_one[first]}")


# -- Detector.selects keeps every row that matters ---------------------------------------
def every_row_engine() -> tuple[Engine, list[str]]:
    """An Engine whose detectors' ``selects`` take every row (``absorb`` then never runs)."""
    eng = Engine()
    narrowing = []
    for d in eng.detectors:
        if type(d).selects is not Detector.selects:
            narrowing.append(d.kind)
            d.selects = lambda *args, **kwargs: None
    return eng, narrowing


def test_selects_keeps_every_row_that_matters(sim_records):
    sequence = with_late_records(sim_records, 41)
    wide_engine, narrowing = every_row_engine()
    assert {"harassment", "voip_box", "intl_fraud", "sip_scan"} <= set(narrowing)
    wide = run_frames(sequence, random.Random(1), wide_engine)
    narrow = run_frames(sequence, random.Random(1))
    assert len({a["kind"] for a in wide["alerts"]}) >= 4
    assert_same_outcome(narrow, wide, "selects vs every row")
    assert narrow["tracked"] == wide["tracked"], "detector state differs after narrowing"
    # and both end with the state the per-record engine ends with
    assert narrow["tracked"] == run_per_record(sequence)["tracked"]


# -- small, dense synthetic streams: every detector's state interacts -------------------
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
VICTIMS = ["13800000001", "13800000002", "02161234567", "95588"]
PARTIES = ["13911112222", "95353", "952306", "+85512345678", "0085512345678", "17012345678",
           "+23591234567", "13800000001"]
LINES = ["02161230001", "02161230002", "13700000003"]
IPS = ["", "", "203.0.113.7", "198.51.100.9", "10.1.1.1"]
AGENTS = ["", "friendly-scanner", "Huawei HG8245H", "sipvicious", "FreeSWITCH-mod_sofia"]
PORTS = ["1069012345", "10655", "95588", "13900000009"]
TEXTS = [None, "", "您的验证码是123456", "code 4242", "TD", "退订", "hello", "【银行】优惠活动回T退订"]


@st.composite
def event(draw):
    gap = draw(st.sampled_from([0.0, 0.0, 1.0, 30.0, 300.0, 1800.0, HOUR, 2 * HOUR, 7 * HOUR]))
    choice = draw(st.integers(0, 9))
    if choice <= 5:
        ingress = draw(st.sampled_from(["access", "access", "international", "domestic",
                                        "unknown"]))
        caller = draw(st.sampled_from(LINES if ingress == "access" else PARTIES))
        duration = draw(st.sampled_from([0.0, 0.0, 5.0, 20.0, 45.0, 90.0, 600.0]))
        disposition = ("ANSWERED" if duration else
                       draw(st.sampled_from(["NO ANSWER", "BUSY", "FAILED", "CANCELLED"])))
        return gap, lambda t: Call(
            start=t, caller=caller, callee=draw(st.sampled_from(VICTIMS + PARTIES[:3])),
            duration=duration, disposition=disposition, ingress=ingress,
            caller_line=draw(st.sampled_from(["", "residential", "business", "mobile"]))
            if ingress == "access" else "",
            callee_line=draw(st.sampled_from(["", "", "service", "mobile"])),
            call_id="", user_agent=draw(st.sampled_from(AGENTS)),
            src_ip=draw(st.sampled_from(IPS)), origin="synthetic")
    if choice <= 7:
        return gap, lambda t: Registration(
            time=t, line=draw(st.sampled_from(LINES + ["100", "101", "102"])),
            contact_ip=draw(st.sampled_from([ip for ip in IPS if ip])),
            user_agent=draw(st.sampled_from(AGENTS)),
            status=draw(st.sampled_from([None, 200, 401, 403, 404])), expires=3600,
            origin="synthetic")
    if choice == 8:
        return gap, lambda t: Sms(
            time=t, sender=draw(st.sampled_from(PORTS)), recipient=draw(st.sampled_from(VICTIMS)),
            text=draw(st.sampled_from(TEXTS)), direction=draw(st.sampled_from(["mt", "mo"])),
            origin="synthetic")
    return gap, lambda t: Feedback(
        time=t, number=draw(st.sampled_from(VICTIMS)),
        kind=draw(st.sampled_from(["complaint", "not_me", "opt_out", "dismissed"])),
        about=draw(st.sampled_from(["", "95353", "express-courier", "13911112222", "1069",
                                    "95588"])), origin="synthetic")


@st.composite
def stream(draw) -> list:
    t = T0
    records = []
    for gap, make in draw(st.lists(event(), min_size=1, max_size=120)):
        t += gap
        records.append(make(t))
    # arrival: event time plus up to 3 h of delay (some records late)
    delays = draw(st.lists(st.sampled_from([0.0, 0.0, 0.0, 600.0, 1.5 * HOUR, 3 * HOUR]),
                           min_size=len(records), max_size=len(records)))
    order = sorted(range(len(records)), key=lambda i: (records[i].time + delays[i], i))
    return [records[i] for i in order]


@settings(max_examples=50, deadline=None, derandomize=True,
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(sequence=stream(), seed=st.integers(0, 2**16))
def test_dense_synthetic_streams(sequence, seed):
    expected = run_per_record(sequence)
    got = run_frames(sequence, random.Random(seed), largest=40)
    assert_same_outcome(got, expected, "synthetic stream")
    assert got["tracked"] == expected["tracked"], "detector state differs"
    wide_engine, _ = every_row_engine()
    wide = run_frames(sequence, random.Random(seed), wide_engine, largest=40)
    assert_same_outcome(wide, expected, "synthetic stream, every row")


def test_synthetic_streams_raise_alerts():
    """The synthetic vocabulary does reach the detectors (the property test is not empty)."""
    rng = random.Random(2)
    kinds: Counter = Counter()
    for _ in range(3):
        sequence = _example_stream(rng)
        kinds.update(a["kind"] for a in run_per_record(sequence)["alerts"])
    assert len(kinds) >= 3, kinds


def _example_stream(rng: random.Random) -> list:
    records = []
    t = T0
    for i in range(400):
        t += rng.choice([1.0, 30.0, 300.0, 900.0])
        victim = rng.choice(VICTIMS[:2])
        if i % 4 == 0:
            records.append(Call(start=t, caller="13911112222", callee=victim,
                                disposition="BUSY"))
        elif i % 4 == 1:
            records.append(Call(start=t, caller="+23591234567", callee=victim,
                                ingress="international"))
        elif i % 4 == 2:
            records.append(Registration(time=t, line=f"{100 + i % 50}", contact_ip="203.0.113.7",
                                        user_agent="friendly-scanner", status=404))
        else:
            records.append(Sms(time=t, sender=f"106901{i % 7}", recipient=victim,
                               text=f"您的验证码是{i}"))
    return records



# -- harassment's cold entries (detector.coldentries) ----------------------------------
def _harassment(eng: Engine):
    return next(d for d in eng.detectors if d.kind == "harassment")


def test_harassment_keeps_most_pairs_cold(sim_records):
    """The columns do take the bulk: most single calls and talks end cold, not in dicts."""
    eng = Engine()
    run_frames(file_order(sim_records), random.Random(3), eng)
    h = _harassment(eng)
    assert h._cold is True
    assert len(h._cold_singles) > 5 * max(1, sum(type(v) is tuple for v in h.pairs.values()))
    assert len(h._cold_talks) > len(h.talks)


@pytest.mark.parametrize("bits", [6, 14])
def test_harassment_hash_collisions_fall_back_to_dicts(sim_records, monkeypatch, bits):
    """Keys sharing a hash (forced: hashes cut to a few bits) move everything cold to the
    dicts, early (6 bits) or in the middle of the run (14 bits), with the same outcome."""
    from detector.harassment import Harassment
    sequence = with_late_records(sim_records, 29)
    expected = run_per_record(sequence)
    weak = Harassment._hash
    monkeypatch.setattr(Harassment, "_hash",
                        staticmethod(lambda keys: weak(keys) & ((1 << bits) - 1)))
    eng = Engine()
    got = run_frames(sequence, random.Random(bits), eng)
    assert _harassment(eng)._cold is False, "no collision happened: the test tests nothing"
    assert_same_outcome(got, expected, f"{bits}-bit hashes")
    assert got["tracked"] == expected["tracked"]


def test_harassment_extra_hot_rows_change_nothing(sim_records):
    """``_hot`` may hold more than the dicts' keys (hashes of rows selected for other
    reasons, shared hashes): a row wrongly thought hot is only handled one by one."""
    from detector.hashindex import HashIndex

    class EverythingHot(HashIndex):
        def get(self, hashes):
            return np.zeros(len(hashes), dtype=np.int64)

    sequence = with_late_records(sim_records, 31)
    expected = run_per_record(sequence)
    eng = Engine()
    h = _harassment(eng)
    h._start_cold()
    h._hot = EverythingHot()
    got = run_frames(sequence, random.Random(5), eng)
    assert_same_outcome(got, expected, "every row hot")
    assert got["tracked"] == expected["tracked"]
    assert len(h._cold_singles) == 0  # every row was selected: nothing went cold
