"""A table from 64-bit hashes to row ids, with every operation on a whole batch in numpy.

The columnar replay keeps hundreds of thousands of cold entries (pairs seen once) per
week. A Python dict of them costs a string object, a tuple and a cache miss per row; this
table costs two numpy gathers per batch. It stores hashes, not keys: what a hit means is
up to the caller, who compares the keys themselves where two keys could share a hash.

Open addressing with linear probing; an emptied slot keeps its hash with id -1 (a
tombstone), so probe chains stay intact until the next :meth:`HashIndex.rebuild`. The
probe loops are compiled with numba: one pass per hash instead of a numpy pass per probe
step (bench/RESULTS.md has the figures).

>>> import numpy as np
>>> index = HashIndex()
>>> index.put(np.array([7, 11, 2**63 + 5], dtype=np.uint64), np.array([0, 1, 2]))
>>> index.get(np.array([11, 8, 2**63 + 5], dtype=np.uint64)).tolist()
[1, -1, 2]
>>> index.drop(np.array([11], dtype=np.uint64)); len(index), index.get(np.array([11], dtype=np.uint64)).tolist()
(2, [-1])
"""

from __future__ import annotations

import numba
import numpy as np

_EMPTY = np.uint64(0)
_ONE = np.uint64(1)


class HashIndex:
    """``hash -> id`` (``id >= 0``) for uint64 hashes; -1 means absent.

    Hashes 0 and 1 are one key here (0 marks an empty slot); callers that compare keys
    on a hit are not misled by that, only slowed down once in 2**63.
    """

    __slots__ = ("keys", "ids", "mask", "live", "used")

    def __init__(self, capacity: int = 1 << 12) -> None:
        size = 1 << max(4, (capacity - 1).bit_length())
        self.keys = np.zeros(size, dtype=np.uint64)
        self.ids = np.full(size, -1, dtype=np.int64)
        self.mask = np.uint64(size - 1)
        self.live = 0   # slots holding an id
        self.used = 0   # slots holding a hash (live ones and tombstones)

    def __len__(self) -> int:
        return self.live

    def get(self, hashes: np.ndarray) -> np.ndarray:
        """The id of each hash, -1 where it has none."""
        return _get(self.keys, self.ids, self.mask, _nonzero(hashes))

    def put(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Map each hash to its id (replacing an id it had). Within the batch, a hash
        given twice keeps its last id."""
        hashes = _nonzero(hashes)
        if not len(hashes):
            return
        if 2 * (self.used + len(hashes)) > len(self.keys):
            self._grow(self.used + len(hashes))
        live, used = _put(self.keys, self.ids, self.mask, hashes,
                          np.asarray(ids, dtype=np.int64))
        self.live += live
        self.used += used

    def drop(self, hashes: np.ndarray) -> None:
        """Forget these hashes (absent ones are ignored)."""
        if self.used:
            self.live -= _drop(self.keys, self.ids, self.mask, _nonzero(hashes))

    def rebuild(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Start again with exactly these entries (no tombstones; distinct hashes)."""
        fresh = HashIndex(max(1 << 12, 4 * len(hashes)))
        fresh.put(hashes, ids)
        self.keys, self.ids, self.mask = fresh.keys, fresh.ids, fresh.mask
        self.live, self.used = fresh.live, fresh.used

    def _grow(self, entries: int) -> None:
        live = self.ids >= 0
        hashes, ids = self.keys[live], self.ids[live]
        fresh = HashIndex(4 * max(entries, len(hashes)))
        fresh.put(hashes, ids)
        self.keys, self.ids, self.mask = fresh.keys, fresh.ids, fresh.mask
        self.live, self.used = fresh.live, fresh.used


def warm_up() -> None:
    """Compile the kernels now (or load them from numba's cache: ~0.2 s, ~4 s the first
    time on a machine) rather than at the first frame of a replay."""
    index = HashIndex(16)
    one = np.ones(1, dtype=np.uint64)
    index.put(one, np.zeros(1, dtype=np.int64))
    index.get(one)
    index.drop(one)


# -- kernels: one probe loop per hash, compiled (numba; cached after the first run) -------
_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _slot(keys, mask, h):
    """The slot holding ``h`` (live or a tombstone), -1 if absent."""
    s = h & mask
    while True:
        k = keys[s]
        if k == h:
            return np.int64(s)
        if k == 0:
            return np.int64(-1)
        s = (s + np.uint64(1)) & mask


@numba.njit(**_JIT)
def _get(keys, ids, mask, hashes):
    out = np.empty(len(hashes), dtype=np.int64)
    for i in range(len(hashes)):
        s = _slot(keys, mask, hashes[i])
        out[i] = ids[s] if s >= 0 else -1
    return out


@numba.njit(**_JIT)
def _put(keys, ids, mask, hashes, values):
    """Insert in order (a repeated hash keeps its last id); returns (new live, new used)."""
    live = used = 0
    for i in range(len(hashes)):
        h = hashes[i]
        s = h & mask
        while True:
            k = keys[s]
            if k == h:  # here already, live or a tombstone: take the slot
                if ids[s] < 0:
                    live += 1
                ids[s] = values[i]
                break
            if k == 0:
                keys[s] = h
                ids[s] = values[i]
                live += 1
                used += 1
                break
            s = (s + np.uint64(1)) & mask
    return live, used


@numba.njit(**_JIT)
def _drop(keys, ids, mask, hashes):
    """Tombstone these hashes; returns how many live ids went."""
    gone = 0
    for i in range(len(hashes)):
        s = _slot(keys, mask, hashes[i])
        if s >= 0 and ids[s] >= 0:
            ids[s] = -1
            gone += 1
    return gone


def _nonzero(hashes: np.ndarray) -> np.ndarray:
    """The hashes as the kernels take them: 0 as 1, and always a writable C array (a
    read-only one, as polars hands out, would cost each kernel a second compiled
    version)."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if (hashes == _EMPTY).any():
        return np.where(hashes == _EMPTY, _ONE, hashes)
    if not (hashes.flags.writeable and hashes.flags.c_contiguous):
        return hashes.copy()
    return hashes
