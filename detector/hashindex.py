"""A table from 64-bit hashes to row ids, with every operation on a whole batch in numpy.

The columnar replay keeps hundreds of thousands of cold entries (pairs seen once) per
week. A Python dict of them costs a string object, a tuple and a cache miss per row; this
table costs two numpy gathers per batch. It stores hashes, not keys: what a hit means is
up to the caller, who compares the keys themselves where two keys could share a hash.

Open addressing with linear probing; an emptied slot keeps its hash with id -1 (a
tombstone), so probe chains stay intact until the next :meth:`HashIndex.rebuild`.

>>> import numpy as np
>>> index = HashIndex()
>>> index.put(np.array([7, 11, 2**63 + 5], dtype=np.uint64), np.array([0, 1, 2]))
>>> index.get(np.array([11, 8, 2**63 + 5], dtype=np.uint64)).tolist()
[1, -1, 2]
>>> index.drop(np.array([11], dtype=np.uint64)); len(index), index.get(np.array([11], dtype=np.uint64)).tolist()
(2, [-1])
"""

from __future__ import annotations

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
        slots = self._slots(hashes)
        found = slots >= 0
        out = np.full(len(slots), -1, dtype=np.int64)
        out[found] = self.ids[slots[found]]
        return out

    def put(self, hashes: np.ndarray, ids: np.ndarray, distinct: bool = False) -> None:
        """Map each hash to its id (replacing an id it had). Within the batch, a hash
        given twice keeps its last id; ``distinct=True`` promises no hash is given twice
        (and saves a sort)."""
        hashes = _nonzero(hashes)
        ids = np.asarray(ids, dtype=np.int64)
        if not len(hashes):
            return
        if not distinct and len(np.unique(hashes)) != len(hashes):
            last = len(hashes) - 1 - np.unique(hashes[::-1], return_index=True)[1]
            hashes, ids = hashes[last], ids[last]
        if 2 * (self.used + len(hashes)) > len(self.keys):
            self._grow(self.used + len(hashes))
        keys, mask = self.keys, self.mask
        pending = np.arange(len(hashes))
        slots = hashes & mask
        while len(pending):
            found = keys[slots]
            mine = found == hashes[pending]
            if mine.any():  # the hash is here already (live or a tombstone): take the slot
                at = slots[mine]
                self.live += int((self.ids[at] < 0).sum())
                self.ids[at] = ids[pending[mine]]
            free = found == _EMPTY
            if free.any():
                # claim empty slots; of several new hashes aiming at one slot, one wins
                # and the others probe on
                at, who = slots[free], pending[free]
                keys[at] = hashes[who]
                won = keys[at] == hashes[who]
                self.ids[at[won]] = ids[who[won]]
                self.live += int(won.sum())
                self.used += int(won.sum())
                free[np.flatnonzero(free)[~won]] = False
            more = ~(mine | free)
            pending = pending[more]
            slots = (slots[more] + _ONE) & mask

    def drop(self, hashes: np.ndarray) -> None:
        """Forget these hashes (absent ones are ignored)."""
        slots = np.unique(self._slots(hashes))
        slots = slots[slots >= 0]
        self.live -= int((self.ids[slots] >= 0).sum())
        self.ids[slots] = -1

    def _slots(self, hashes: np.ndarray) -> np.ndarray:
        """The slot holding each hash (live or a tombstone), -1 where it is absent."""
        hashes = _nonzero(hashes)
        out = np.full(len(hashes), -1, dtype=np.int64)
        if not self.used or not len(hashes):
            return out
        keys, mask = self.keys, self.mask
        pending = np.arange(len(hashes))
        slots = hashes & mask
        while len(pending):
            found = keys[slots]
            hit = found == hashes[pending]
            out[pending[hit]] = slots[hit]
            more = ~hit & (found != _EMPTY)
            pending = pending[more]
            slots = (slots[more] + _ONE) & mask
        return out

    def rebuild(self, hashes: np.ndarray, ids: np.ndarray) -> None:
        """Start again with exactly these entries (no tombstones; distinct hashes)."""
        fresh = HashIndex(max(1 << 12, 4 * len(hashes)))
        fresh.put(hashes, ids, distinct=True)
        self.keys, self.ids, self.mask = fresh.keys, fresh.ids, fresh.mask
        self.live, self.used = fresh.live, fresh.used

    def _grow(self, entries: int) -> None:
        live = self.ids >= 0
        hashes, ids = self.keys[live], self.ids[live]
        fresh = HashIndex(4 * max(entries, len(hashes)))
        fresh.put(hashes, ids, distinct=True)
        self.keys, self.ids, self.mask = fresh.keys, fresh.ids, fresh.mask
        self.live, self.used = fresh.live, fresh.used


def _nonzero(hashes: np.ndarray) -> np.ndarray:
    hashes = np.asarray(hashes, dtype=np.uint64)
    return np.where(hashes == _EMPTY, _ONE, hashes) if (hashes == _EMPTY).any() else hashes
