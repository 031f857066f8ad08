"""Keyed entries kept in columns: a detector's cold state during a columnar replay.

Most of what a detector learns about call pairs is never looked at again: a pair called
once, a conversation between two people nobody complains about. One by one, each costs
a dict entry (and a tuple) in a table of hundreds of thousands; a whole frame of them
goes in here with a few numpy operations. A pair that turns out to matter is taken
back out (:meth:`ColdEntries.take`) into the detector's ordinary dicts.

One entry per key: adding a key again replaces its entry (the later one wins). Lookups
go by the key's 64-bit hash (:class:`~detector.hashindex.HashIndex`); a caller compares
the keys of what it finds. Two different keys with one hash make :meth:`ColdEntries.add`
refuse, so that the caller can fall back to its dicts rather than mix the two up.

>>> import numpy as np
>>> cold = ColdEntries(("caller",))
>>> cold.add(np.array([5, 9], dtype=np.uint64), ["a|x", "b|y"], np.array([10.0, 20.0]),
...          {"caller": ["x", "y"]})
True
>>> ids = cold.find(np.array([9, 4], dtype=np.uint64)); ids.tolist()
[1, -1]
>>> cold.take(ids[:1]), len(cold)
([('b|y', 20.0, 'y')], 1)
>>> cold.sweep(15.0); len(cold)
0
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from detector.hashindex import HashIndex


class ColdEntries:
    """``key -> (time, *payload)`` in columns, found by the key's uint64 hash."""

    __slots__ = ("index", "hashes", "times", "alive", "keys", "payload", "size", "live")

    def __init__(self, payload: tuple[str, ...] = ()) -> None:
        self.index = HashIndex()
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.times = np.zeros(0)
        self.alive = np.zeros(0, dtype=bool)
        self.keys = np.empty(0, dtype=object)
        self.payload = {name: np.empty(0, dtype=object) for name in payload}
        self.size = 0   # ids given so far (dead ones included, until a sweep)
        self.live = 0

    def __len__(self) -> int:
        return self.live

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Ids of the entries with these hashes (-1: none). The caller checks the key."""
        return self.index.get(hashes) if self.live else np.full(len(hashes), -1, np.int64)

    def add(self, hashes: np.ndarray, keys: list[str], times: np.ndarray,
            payload: dict[str, list] | None = None) -> bool:
        """Add entries for distinct keys (a key already here is replaced). Returns False,
        changing nothing, if two keys share a hash (in the batch, or one here already)."""
        n = len(keys)
        if not n:
            return True
        hashes = np.asarray(hashes, dtype=np.uint64)
        if n > 1:
            ordered = np.sort(hashes)
            if (ordered[1:] == ordered[:-1]).any():
                return False
        old = self.find(hashes)
        there = np.flatnonzero(old >= 0)
        if len(there):
            stored = self.keys[old[there]]
            if any(a != keys[i] for a, i in zip(stored.tolist(), there.tolist(), strict=True)):
                return False
            self.alive[old[there]] = False
            self.live -= len(there)
        start = self.size
        self._reserve(start + len(keys))
        end = start + len(keys)
        self.hashes[start:end] = hashes
        self.times[start:end] = times
        self.alive[start:end] = True
        self.keys[start:end] = keys
        for name, column in self.payload.items():
            column[start:end] = payload[name]
        self.size = end
        self.live += len(keys)
        self.index.put(hashes, np.arange(start, end))
        return True

    def take(self, ids: np.ndarray) -> list[tuple]:
        """Remove these entries (live ids, each once) and return them as
        ``(key, time, *payload)``."""
        if not len(ids):
            return []
        ids = np.asarray(ids, dtype=np.int64)
        out = list(zip(self.keys[ids].tolist(), self.times[ids].tolist(),
                       *(column[ids].tolist() for column in self.payload.values()),
                       strict=True))
        self.alive[ids] = False
        self.live -= len(ids)
        self.index.drop(self.hashes[ids])
        return out

    def sweep(self, horizon: float) -> None:
        """Forget the entries older than ``horizon`` and compact what is left."""
        keep = np.flatnonzero(self.alive[:self.size] & (self.times[:self.size] >= horizon))
        n = len(keep)
        # compacted in place (keep is increasing), the buffers' spare room kept for adds
        self.hashes[:n] = self.hashes[keep]
        self.times[:n] = self.times[keep]
        self.keys[:n] = self.keys[keep]
        self.keys[n:self.size] = None  # let go of the strings
        for column in self.payload.values():
            column[:n] = column[keep]
            column[n:self.size] = None
        self.alive[:n] = True
        self.alive[n:self.size] = False
        self.size = self.live = n
        self.index.rebuild(self.hashes[:n], np.arange(n))

    def items(self) -> Iterator[tuple]:
        """The live entries, ``(key, time, *payload)``, oldest first."""
        ids = np.flatnonzero(self.alive[:self.size])
        return zip(self.keys[ids].tolist(), self.times[ids].tolist(),
                   *(column[ids].tolist() for column in self.payload.values()), strict=True)

    def _reserve(self, n: int) -> None:
        if n <= len(self.times):
            return
        size = max(n, 2 * len(self.times), 1024)

        def grown(a: np.ndarray) -> np.ndarray:
            b = np.zeros(size, dtype=a.dtype) if a.dtype != object else np.empty(size, object)
            b[:self.size] = a[:self.size]
            return b

        self.hashes, self.times, self.alive = (grown(self.hashes), grown(self.times),
                                               grown(self.alive))
        self.keys = grown(self.keys)
        self.payload = {name: grown(column) for name, column in self.payload.items()}
