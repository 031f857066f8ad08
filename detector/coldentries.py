"""Keyed entries kept in columns: a detector's cold state during a columnar replay.

Most of what a detector learns about call pairs is never looked at again: a pair called
once, a conversation between two people nobody complains about. One by one, each costs
a dict entry, a tuple and its strings in a table of hundreds of thousands; a whole frame
of them goes in here with a few numpy and polars operations, its strings staying in
polars' buffers (a Python str is made only for what is taken out). A pair that turns out to matter is taken
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

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from detector.hashindex import HashIndex


class ColdEntries:
    """``key -> (time, *payload)`` in columns, found by the key's uint64 hash. Keys and
    payload are strings (never null), kept in polars Series (no Python object per entry).
    Series are indexed with numpy arrays (``s[ids]``: 13 us against 33 us for
    ``gather``, which goes through an expression)."""

    __slots__ = ("index", "hashes", "times", "alive", "keys", "payload", "size", "live")

    def __init__(self, payload: tuple[str, ...] = ()) -> None:
        self.index = HashIndex()
        self.hashes = np.zeros(0, dtype=np.uint64)
        self.times = np.zeros(0)
        self.alive = np.zeros(0, dtype=bool)
        #: entry id -> key (and payload column -> value): ``keys[i]`` is a str
        self.keys = pl.Series("key", [], dtype=pl.Utf8)
        self.payload = {name: pl.Series(name, [], dtype=pl.Utf8) for name in payload}
        self.size = 0   # ids given so far (dead ones included, until a sweep)
        self.live = 0

    def __len__(self) -> int:
        return self.live

    def find(self, hashes: np.ndarray) -> np.ndarray:
        """Ids of the entries with these hashes (-1: none). The caller checks the key."""
        return self.index.get(hashes) if self.live else np.full(len(hashes), -1, np.int64)

    def add(self, hashes: np.ndarray, keys: pl.Series | Sequence[str], times: np.ndarray,
            payload: dict[str, pl.Series | Sequence[str]] | None = None) -> bool:
        """Add entries for distinct keys (a key already here is replaced). Returns False,
        changing nothing, if two keys share a hash (in the batch, or one here already)."""
        n = len(keys)
        if not n:
            return True
        keys = _strings("key", keys)
        hashes = np.asarray(hashes, dtype=np.uint64)
        if n > 1:
            ordered = np.sort(hashes)
            if (ordered[1:] == ordered[:-1]).any():
                return False
        old = self.find(hashes)
        there = np.flatnonzero(old >= 0)
        if len(there):
            if (self.keys[old[there]] != keys[there]).any():  # keys are never null
                return False
            self.alive[old[there]] = False
            self.live -= len(there)
        start = self.size
        end = start + n
        self._reserve(end)
        self.hashes[start:end] = hashes
        self.times[start:end] = times
        self.alive[start:end] = True
        self.keys.append(keys)
        for name, column in self.payload.items():
            column.append(_strings(name, payload[name]))  # type: ignore[index]
        self.size = end
        self.live += n
        self.index.put(hashes, np.arange(start, end))
        return True

    def take(self, ids: np.ndarray) -> list[tuple]:
        """Remove these entries (live ids, each once) and return them as
        ``(key, time, *payload)``."""
        if not len(ids):
            return []
        ids = np.asarray(ids, dtype=np.int64)
        out = self._rows(ids)
        self.alive[ids] = False
        self.live -= len(ids)
        self.index.drop(self.hashes[ids])
        return out

    def sweep(self, horizon: float) -> None:
        """Forget the entries older than ``horizon`` and compact what is left."""
        kept = self.alive[:self.size] & (self.times[:self.size] >= horizon)
        keep = np.flatnonzero(kept)
        n = len(keep)
        # compacted in place (keep is increasing), the buffers' spare room kept for adds
        self.hashes[:n] = self.hashes[keep]
        self.times[:n] = self.times[keep]
        self.alive[:n] = True
        self.alive[n:self.size] = False
        # the strings by a mask, not by ids: the columns are a chunk per add, and a
        # gather over hundreds of chunks costs ~8x a filter (15 vs 1.8 ms for 400k)
        mask = pl.Series(kept)
        # in one chunk again: take() gathers from them, slower over many chunks
        self.keys = self.keys.filter(mask).rechunk()
        self.payload = {name: column.filter(mask).rechunk()
                        for name, column in self.payload.items()}
        self.size = self.live = n
        self.index.rebuild(self.hashes[:n], np.arange(n))

    def items(self) -> Iterator[tuple]:
        """The live entries, ``(key, time, *payload)``, oldest first."""
        return iter(self._rows(np.flatnonzero(self.alive[:self.size])))

    def _rows(self, ids: np.ndarray) -> list[tuple]:
        return list(zip(self.keys[ids].to_list(), self.times[ids].tolist(),
                        *(column[ids].to_list() for column in self.payload.values()),
                        strict=True))

    def _reserve(self, n: int) -> None:
        if n <= len(self.times):
            return
        size = max(n, 2 * len(self.times), 1024)

        def grown(a: np.ndarray) -> np.ndarray:
            b = np.zeros(size, dtype=a.dtype)
            b[:self.size] = a[:self.size]
            return b

        self.hashes, self.times, self.alive = (grown(self.hashes), grown(self.times),
                                               grown(self.alive))


def _strings(name: str, values: pl.Series | Sequence[str]) -> pl.Series:
    if isinstance(values, pl.Series):
        return values.rename(name) if values.name != name else values
    return pl.Series(name, values, dtype=pl.Utf8)
