"""detector.hashindex.HashIndex and detector.coldentries.ColdEntries against plain dicts.

Hashes are drawn from a small set (and the table starts small) so that probe chains,
tombstones, growth and slot races between new hashes in one batch all happen.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.coldentries import ColdEntries
from detector.hashindex import HashIndex

# few distinct values, several of them equal modulo small table sizes; no 0 (it is 1 here)
HASHES = st.sampled_from([1, 2, 3, 17, 33, 49, 65, 2**63, 2**63 + 16, 2**64 - 1, 4096 + 1])
BATCH = st.lists(HASHES, max_size=12)


def u64(values) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ops=st.lists(st.tuples(st.sampled_from(["put", "drop", "rebuild", "get"]), BATCH),
                    max_size=40))
def test_hash_index_behaves_like_a_dict(ops):
    index, model = HashIndex(capacity=16), {}
    next_id = 0
    for op, hashes in ops:
        if op == "put":
            ids = list(range(next_id, next_id + len(hashes)))
            next_id += len(hashes)
            index.put(u64(hashes), np.array(ids))
            model.update(zip(hashes, ids, strict=True))  # a repeated hash keeps its last id
        elif op == "drop":
            index.drop(u64(hashes))
            for h in hashes:
                model.pop(h, None)
        elif op == "rebuild":
            keep = sorted(model)[: len(model) // 2]
            model = {h: model[h] for h in keep}
            index.rebuild(u64(keep), np.array([model[h] for h in keep], dtype=np.int64))
        probe = sorted(set(hashes) | set(model) | {5})
        assert index.get(u64(probe)).tolist() == [model.get(h, -1) for h in probe]
        assert len(index) == len(model)


def test_hash_index_grows_and_keeps_everything():
    rng = np.random.default_rng(7)
    hashes = np.unique(rng.integers(1, 2**63, size=50_000, dtype=np.uint64))
    index = HashIndex()
    for part in np.array_split(np.arange(len(hashes)), 37):
        index.put(hashes[part], part)
    assert len(index) == len(hashes)
    assert (index.get(hashes) == np.arange(len(hashes))).all()
    assert (index.get(hashes + np.uint64(2**63)) == -1).sum() >= len(hashes) - 5
    assert 2 * index.used <= len(index.keys)  # load factor bounded


KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f"])


def fake_hash(key: str, bits: int) -> int:
    return (ord(key) * 2654435761) % (1 << bits) + 1


@settings(max_examples=300, deadline=None, derandomize=True)
@given(ops=st.lists(st.tuples(st.sampled_from(["add", "take", "sweep"]),
                              st.lists(KEYS, max_size=5, unique=True),
                              st.floats(0, 100)), max_size=30),
       bits=st.sampled_from([2, 40]))
def test_cold_entries_behave_like_a_dict(ops, bits):
    """``add`` replaces, ``take`` removes and returns, ``sweep`` forgets old entries; with
    2-bit hashes keys collide and ``add`` must refuse without changing anything."""
    cold, model = ColdEntries(("who",)), {}
    for op, keys, t in ops:
        if op == "add":
            hashes = u64([fake_hash(k, bits) for k in keys])
            stored = {fake_hash(k, bits): k for k in model}
            clash = (len(set(hashes.tolist())) < len(keys)
                     or any(stored.get(fake_hash(k, bits), k) != k for k in keys))
            ok = cold.add(hashes, keys, np.full(len(keys), t), {"who": [k.upper() for k in keys]})
            assert ok is not clash
            if ok:
                model.update({k: (t, k.upper()) for k in keys})
        elif op == "take":
            ids = cold.find(u64([fake_hash(k, bits) for k in keys]))
            ids = [i for i, k in zip(ids.tolist(), keys, strict=True) if i >= 0
                   and cold.keys[i] == k]
            got = cold.take(np.array(ids, dtype=np.int64))
            for key, when, who in got:
                assert model.pop(key) == (when, who)
        else:
            cold.sweep(t)
            model = {k: v for k, v in model.items() if v[0] >= t}
        assert sorted(cold.items()) == sorted((k, *v) for k, v in model.items())
        assert len(cold) == len(model)
