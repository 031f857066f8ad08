"""Harassment: one party keeps calling one subscriber with short, rejected or unanswered calls.

The party is the calling number, or the organisation that owns it (list
``organisations``: a courier's hotlines count as one party). A call is a *nuisance* call
when it is not answered (busy, no answer, cancelled, failed) or answered for less than
``short_call``. The rule fires when a party placed at least ``min_nuisance_calls``
nuisance calls to the victim within ``window``, at least ``min_nuisance_per_day`` a day
over their span, and they are most of its calls
(``min_nuisance_share``), and the victim has not talked with the party for
``conversation_call`` or longer within the window: relatives and friends who call often
and talk, and shoppers called by many different couriers who answer, stay below. A party that goes on calling after
the victim complained about it (``complaint`` / ``not_me`` feedback naming the number,
a prefix of it, or the organisation) is critical.

State is keyed by the pair victim (callee) | party. Most pairs only ever see one
nuisance call (a wrong number, a missed call): such a pair is one entry in a flat
table of single calls. A pair gets a window, under its victim, at its second call; long
friendly calls cost one entry in the table of conversations.

>>> from detector.rulefiles import RuleSet
>>> from detector.records import Call, Feedback
>>> d = Harassment(RuleSet.load())
>>> out = []
>>> for i in range(7):
...     out += d.on_call(Call(start=3600.0 * i, caller="95353", callee="13800000001",
...                           disposition="BUSY"))
>>> [(a.counterparty, a.severity, a.evidence["nuisance_calls"]) for a in out]
[('express-courier', 'warning', 7)]
>>> _ = d.on_feedback(Feedback(time=30000.0, number="13800000001", kind="not_me",
...                            about="express-courier"))
>>> [a.severity for a in d.on_call(Call(start=40000.0, caller="952306", callee="13800000001"))]
['critical']
"""

from __future__ import annotations

import numpy as np
import polars as pl

from detector.alerts import Alert, iso
from detector.base import NO_ALERTS, Detector
from detector.coldentries import ColdEntries
from detector.hashindex import HashIndex
from detector.records import Call, Feedback
from detector.rulefiles import RuleSet, parse_duration
from detector.windows import SlidingWindow


class Organisations:
    """Which organisation a number belongs to (list ``organisations``: exact numbers, and
    prefixes written with a trailing ``*``).

    >>> orgs = Organisations({"bank": ["95588"], "telemarketer": ["170*"]})
    >>> orgs.owner("95588"), orgs.owner("17012345678"), orgs.owner("13800000001")
    ('bank', 'telemarketer', None)
    """

    __slots__ = ("exact", "prefixes", "_prefix_tuple", "names")

    def __init__(self, table: dict[str, list] | None) -> None:
        self.exact: dict[str, str] = {}
        self.prefixes: list[tuple[str, str]] = []
        for name, numbers in (table or {}).items():
            for n in numbers or ():
                n = str(n).strip()
                if n.endswith("*"):
                    self.prefixes.append((n[:-1], str(name)))
                elif n:
                    self.exact[n] = str(name)
        # longest prefix first, so a more specific entry wins
        self.prefixes.sort(key=lambda p: -len(p[0]))
        self._prefix_tuple = tuple(p for p, _ in self.prefixes)
        self.names = frozenset(str(n) for n in (table or {}))

    def owner_expr(self, number: pl.Expr) -> pl.Expr:
        """:meth:`owner` over a column of numbers (null: no organisation)."""
        if self.exact:
            exact = number.replace_strict(list(self.exact), list(self.exact.values()),
                                          default=None, return_dtype=pl.Utf8)
        else:
            exact = pl.lit(None, pl.Utf8)
        if not self.prefixes:
            return exact
        prefix = None
        for p, name in self.prefixes:  # longest first, as owner() tries them
            hit = number.str.starts_with(p)
            prefix = (pl.when(hit) if prefix is None else prefix.when(hit)).then(pl.lit(name))
        return pl.coalesce(exact, prefix.otherwise(pl.lit(None, pl.Utf8)))

    def owner(self, number: str) -> str | None:
        name = self.exact.get(number)
        if name is not None or not self._prefix_tuple:
            return name
        return self.prefix_owner(number)

    def prefix_owner(self, number: str) -> str | None:
        """The organisation of the longest listed prefix ``number`` starts with."""
        if number.startswith(self._prefix_tuple):
            for prefix, name in self.prefixes:
                if number.startswith(prefix):
                    return name
        return None


class _Victim:
    """One subscriber's nuisance callers and the parties they complained about."""

    __slots__ = ("parties", "complaints", "last_time")

    def __init__(self) -> None:
        #: party (number or organisation) with two or more calls -> window of its calls
        #: (value: the calling number)
        self.parties: dict[str, SlidingWindow] = {}
        #: complained-about party, number or prefix -> time of the latest complaint
        self.complaints: dict[str, float] = {}
        self.last_time = 0.0


class Harassment(Detector):
    """Raises ``harassment`` alerts: subject = victim, counterparty = caller or organisation."""

    kind = "harassment"

    def __init__(self, rules: RuleSet) -> None:
        super().__init__(rules)
        p = self.rule.params
        self.window = parse_duration(p["window"])
        self.short_call = float(parse_duration(p["short_call"]))
        self.min_calls = int(p["min_nuisance_calls"])
        self.min_share = float(p["min_nuisance_share"])
        self.conversation = float(parse_duration(p["conversation_call"]))
        self.min_per_day = float(p["min_nuisance_per_day"])
        self.escalate_calls = int(p["escalate_min_calls"])
        self.complaint_memory = parse_duration(p["complaint_memory"])
        self.full_score_calls = int(p["full_score_calls"])
        self.escalate_to = str(p["escalate_severity"])
        self.feedback_kinds = tuple(p["feedback_kinds"])
        self.orgs = Organisations(rules.list("organisations", {}))
        self.exempt_victims = frozenset(p["exempt_victim_categories"])
        self.plan = rules.numbering_plan()
        self.victims: dict[str, _Victim] = {}
        #: "victim|party" -> (time, number, ref) of a pair's single nuisance call so far,
        #: or, from its second call, the pair's window (also in victims[victim].parties)
        self.pairs: dict[str, tuple[float, str, str] | SlidingWindow] = {}
        #: "victim|party" -> time of their latest conversation (answered, conversation_call+)
        self.talks: dict[str, float] = {}
        self.sweep_every = self.window / 7
        self._next_sweep = float("-inf")
        self._window_text = str(p["window"])
        #: columnar replay: None until the first frame, then True while cold entries are
        #: kept in columns, False after a hash collision moved them to the dicts
        self._cold: bool | None = None
        self._cold_singles = self._cold_talks = ColdEntries()
        self._hot = HashIndex()

    # -- records -----------------------------------------------------------------------
    def on_call(self, call: Call) -> list[Alert] | tuple:
        callee = call.callee
        caller = call.caller
        nuisance = call.disposition != "ANSWERED" or call.duration < self.short_call
        orgs = self.orgs
        owner = orgs.exact.get(caller)  # Organisations.owner, its common case inlined
        if owner is None and orgs.prefixes:
            owner = orgs.prefix_owner(caller)
        party = owner or caller
        key = f"{callee}|{party}"
        t = call.start
        if not nuisance and call.duration >= self.conversation:
            # they talk: remembered even before any nuisance call (one small entry per pair)
            self.talks[key] = t
        calls = self.pairs.get(key)
        if calls is None:
            if nuisance:
                self.pairs[key] = (t, caller, call.ref)
            return NO_ALERTS  # an ordinary call from a party not tracked: nothing to do
        if type(calls) is tuple:
            # the pair's second call: from now on it has a window
            first = calls
            victim = self.victims.get(callee)
            if victim is None:
                victim = self.victims[callee] = _Victim()
            calls = victim.parties[party] = self.pairs[key] = SlidingWindow(self.window)
            calls.add(first[0], first[1], 1, first[2])
        else:
            victim = self.victims[callee]
        victim.last_time = t
        if not nuisance:
            calls.add(t, caller, 0, call.ref)
            return NO_ALERTS
        calls.add(t, caller, 1, call.ref)
        nuisance_calls = calls.flagged
        if nuisance_calls < self.escalate_calls:
            return NO_ALERTS
        complained = self._complained(victim, party, caller, t) if victim.complaints else None
        if complained is not None:
            severity = self.escalate_to
        elif (nuisance_calls >= self.min_calls and nuisance_calls >= self.min_share * len(calls)
              and nuisance_calls >= self.min_per_day * max(1.0, calls.span() / 86400.0)):
            talked = self.talks.get(key)
            if talked is not None and t - talked <= self.window:
                return NO_ALERTS  # they talk: a friend or relative, until the victim complains
            severity = self.rule.priority
        else:
            return NO_ALERTS
        if self.plan.classify(callee).category in self.exempt_victims:
            return NO_ALERTS  # a hotline called often is its business, not harassment
        return [self._alert(callee, party, owner, calls, t, severity, complained)]

    def on_feedback(self, fb: Feedback) -> list[Alert] | tuple:
        if fb.kind not in self.feedback_kinds or not fb.about:
            return NO_ALERTS
        victim = self.victims.get(fb.number)
        if victim is None:
            victim = self.victims[fb.number] = _Victim()
        about = fb.about.strip().rstrip("*")
        named = self.orgs.owner(about) or about
        victim.complaints[named] = fb.time
        victim.last_time = max(victim.last_time, fb.time)
        # The subscriber's own word confirms what the calls suggest: a complaint about a
        # party that already placed several nuisance calls is raised at once.
        for party, calls in victim.parties.items():  # a single call is never enough
            if party != named and not (party.startswith(named) or
                                       any(v.startswith(named) for v in calls.values)):
                continue
            calls.slide(fb.time)
            if calls.flagged >= self.escalate_calls and \
                    self.plan.classify(fb.number).category not in self.exempt_victims:
                owner = party if party in self.orgs.names else None
                return [self._alert(fb.number, party, owner, calls, fb.time,
                                    self.rule.priority, None, complaint_at=fb.time)]
        return NO_ALERTS

    # -- columnar replay -----------------------------------------------------------------
    # In a columnar replay, the pairs nobody needs yet live in columns (ColdEntries): a
    # lone nuisance call of a pair (a single), a conversation of a pair not tracked (a
    # talk). ``_hot`` holds the hashes of every key that may be in ``pairs`` or
    # ``talks`` (the hashes of all rows selected since the last sweep, and of the dicts'
    # keys at it), so a row neither there nor cold is passed over without a dict lookup.
    # A key is in the dicts or cold, never both: a row of a hot or cold key is selected,
    # and a selected key's cold entries are moved to the dicts before its rows are
    # handled; what is absorbed cold belongs to a key that was neither.
    def columns(self, kind: str) -> dict[str, pl.Expr]:
        if kind != "call":
            return {}
        key = self._pair_key()
        hashed = self._hash(key)
        return {"nuisance": self._nuisance(), "key": key, "hash": hashed,
                # rows of one hash share a number: the busy pairs of a segment by counting
                "group": hashed.rank("dense").cast(pl.Int64),
                # a call's reference as on_call keeps it (Call.ref)
                "ref": pl.when(pl.col("call_id") != "").then(pl.col("call_id"))
                .otherwise(pl.col("origin"))}

    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Series | None:
        """The calls of pairs tracked now (a single call or a window), and of pairs with a
        nuisance call and another call in this frame. The rest go to :meth:`absorb`: a
        lone nuisance call of a new pair only becomes a single, a conversation of an
        untracked pair only a talk."""
        if kind != "call":
            return None
        key = self.column(kind, frame, "key")
        nuisance = self.column(kind, frame, "nuisance").to_numpy()
        if self._cold is None:
            self._start_cold()
        if not self._cold:  # given up on the columns (see _thaw): the dicts alone
            busy = (key.is_duplicated()
                    & key.is_in(key.filter(pl.Series(nuisance)).implode())).to_numpy()
            keys = key.to_list()
            tracked = np.fromiter(map(self.pairs.__contains__, keys), bool, len(keys))
            return pl.Series(tracked | busy)
        hashes = self.column(kind, frame, "hash").to_numpy()
        busy = _busy(self.column(kind, frame, "group").to_numpy(), nuisance)
        singles = self._cold_singles.find(hashes)
        chosen = busy | (singles >= 0) | (self._hot.get(hashes) >= 0)
        rows = np.flatnonzero(chosen)
        if len(rows):
            self._warm(key, hashes[rows], rows, singles[rows])
            self._hot.put(hashes[rows], np.zeros(len(rows), dtype=np.int64))
        return pl.Series(chosen)

    def absorb(self, kind: str, frame: pl.DataFrame, selected: np.ndarray) -> None:
        if kind != "call" or selected.all():
            return
        key = self.column(kind, frame, "key")
        nuisance = self.column(kind, frame, "nuisance").to_numpy()
        hashes = self.column(kind, frame, "hash").to_numpy() if self._cold else None
        # in dispatch order: a pair's last conversation wins, as one by one
        talks = np.flatnonzero(~selected & ~nuisance
                               & (frame.get_column("duration").to_numpy() >= self.conversation))
        lone = np.flatnonzero(~selected & nuisance)
        times = frame.get_column("start").to_numpy()
        if len(talks):
            talk_keys = key[talks]
            if self._cold:
                talks, talk_keys = _last_of_each(talks, talk_keys, hashes[talks])
            talk_times = times[talks]
            if self._cold and not self._cold_talks.add(hashes[talks], talk_keys, talk_times):
                self._thaw()
            if not self._cold:
                self.talks.update(zip(talk_keys.to_list(), talk_times.tolist(), strict=True))
        if len(lone):
            # (time, number, ref) as on_call keeps a single
            lone_keys = key[lone]
            lone_times = times[lone]
            callers = frame.get_column("caller")[lone]
            refs = self.column(kind, frame, "ref")[lone]
            if self._cold and not self._cold_singles.add(
                    hashes[lone], lone_keys, lone_times, {"caller": callers, "ref": refs}):
                self._thaw()
            if not self._cold:
                self.pairs.update(zip(lone_keys.to_list(),
                                      zip(lone_times.tolist(), callers.to_list(),
                                          refs.to_list(), strict=True), strict=True))

    def _start_cold(self) -> None:
        self._cold = True
        self._cold_singles = ColdEntries(("caller", "ref"))
        self._cold_talks = ColdEntries()
        self._hot = HashIndex()
        self._rehash()

    def _warm(self, key: pl.Series, hashes: np.ndarray, rows: np.ndarray,
              singles: np.ndarray) -> None:
        """Move the cold entries of these selected rows' keys to the dicts."""
        talks = self._cold_talks.find(hashes)
        hit = np.flatnonzero((singles >= 0) | (talks >= 0))
        if not len(hit):
            return
        names = key[rows[hit]]
        taken = []
        for cold, ids in ((self._cold_singles, singles[hit]), (self._cold_talks, talks[hit])):
            found = np.flatnonzero(ids >= 0)
            # the same hash with another key: that pair's entry stays cold
            same = (cold.keys[ids[found]] == names[found]).to_numpy()  # keys: never null
            # several rows of one key find one entry: take it once
            taken.append(cold.take(np.unique(ids[found[same]])))
        for k, t, caller, ref in taken[0]:
            self.pairs[k] = (t, caller, ref)
        for k, t in taken[1]:
            self.talks[k] = t

    def _thaw(self) -> None:
        """Two keys share a hash: move everything cold to the dicts and go on with them."""
        for k, t, caller, ref in self._cold_singles.items():
            self.pairs[k] = (t, caller, ref)
        self.talks.update(self._cold_talks.items())
        self._cold = False
        self._cold_singles = self._cold_talks = ColdEntries()
        self._hot = HashIndex()

    def _rehash(self) -> None:
        """``_hot`` anew from the dicts' keys (after a sweep shrank them)."""
        keys = [*self.pairs, *self.talks]
        self._hot.rebuild(self._hash(pl.Series(keys, dtype=pl.Utf8)).to_numpy(),
                          np.zeros(len(keys), dtype=np.int64))

    @staticmethod
    def _hash(keys: pl.Expr | pl.Series) -> pl.Expr | pl.Series:
        """The pair keys' 64-bit hashes (the same for a column and for an expression)."""
        return keys.hash()

    def _nuisance(self) -> pl.Expr:
        return (pl.col("disposition") != "ANSWERED") | (pl.col("duration") < self.short_call)

    def _party(self) -> pl.Expr:
        return pl.coalesce(self.orgs.owner_expr(pl.col("caller")), pl.col("caller"))

    def _pair_key(self) -> pl.Expr:
        return pl.concat_str([pl.col("callee"), pl.lit("|"), self._party()])

    # -- helpers -----------------------------------------------------------------------
    def _complained(self, victim: _Victim, party: str, caller: str, t: float) -> float | None:
        """When the victim complained about this party (None if not, or too long ago)."""
        for about, when in victim.complaints.items():
            if when < t and t - when <= self.complaint_memory and (
                    about == party or caller.startswith(about)):
                return when
        return None

    def _alert(self, victim: str, party: str, owner: str | None, calls: SlidingWindow,
               t: float, severity: str, complained: float | None,
               complaint_at: float | None = None) -> Alert:
        nuisance = calls.flagged
        days = max(calls.span() / 86400.0, 1.0)
        score = 0.5 + 0.5 * min(1.0, nuisance / self.full_score_calls)
        if complained is not None:
            score = max(score, 0.9)
        evidence = {
            "calls": len(calls),
            "nuisance_calls": nuisance,
            "answered_long": len(calls) - nuisance,
            "numbers": calls.distinct,
            "calls_per_day": round(len(calls) / days, 1),
            "organisation": owner,
            "window": self._window_text,
            "min_nuisance_calls": self.min_calls,
            "min_nuisance_share": self.min_share,
            "short_call_s": self.short_call,
            "first_ref": calls.first_ref,
            "last_ref": calls.last_ref,
            "first_time": iso(calls.events[0][0]),
            "last_time": iso(t),
            "complaint_time": iso(complained) if complained is not None else None,
        }
        if complained is not None:
            note = f", continuing after the subscriber's complaint at {iso(complained)}"
        elif complaint_at is not None:
            note = ", and the subscriber complained about them"
            evidence["complaint_time"] = iso(complaint_at)
            score = max(score, 0.8)
        else:
            note = ""
        return self.alert(victim, party, t, score, evidence, severity=severity,
                          complaint_note=note)

    # -- housekeeping ------------------------------------------------------------------
    def expire(self, now: float) -> None:
        # A full sweep costs O(tracked); state outlives its window by at most one sweep
        # interval, so sweeping a few times per window is enough.
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_every
        horizon = now - self.window
        complaint_horizon = now - self.complaint_memory
        dead = []
        pairs = self.pairs
        for number, victim in self.victims.items():
            if victim.last_time < horizon:
                for p in victim.parties:
                    del pairs[f"{number}|{p}"]
                if not victim.complaints:
                    dead.append(number)
                    continue
                victim.parties.clear()
            elif len(victim.parties) > 1:
                for p in [p for p, w in victim.parties.items() if w.events[-1][0] < horizon]:
                    del victim.parties[p]
                    del pairs[f"{number}|{p}"]
            if victim.complaints:
                for about in [a for a, w in victim.complaints.items() if w < complaint_horizon]:
                    del victim.complaints[about]
                if not victim.parties and not victim.complaints:
                    dead.append(number)
        for number in dead:
            del self.victims[number]
        for pair in [k for k, when in self.talks.items() if when < horizon]:
            del self.talks[pair]
        for pair in [k for k, first in pairs.items() if type(first) is tuple
                     and first[0] < horizon]:
            del pairs[pair]
        if self._cold:
            self._cold_singles.sweep(horizon)
            self._cold_talks.sweep(horizon)
            self._rehash()

    def tracked(self) -> int:
        # victim/party pairs: a single call or a window each
        return len(self.pairs) + len(self._cold_singles)


def _busy(groups: np.ndarray, nuisance: np.ndarray) -> np.ndarray:
    """Rows whose group (a number per pair key's hash) occurs more than once among these
    rows, one of them a nuisance call: two keys sharing a hash only make more rows busy
    (handled one by one).

    >>> _busy(np.array([5, 7, 5, 9, 9]), np.array([False, True, True, False, False])).tolist()
    [True, False, True, False, False]
    """
    if len(groups) < 2:
        return np.zeros(len(groups), dtype=bool)
    groups = groups - groups.min()
    calls = np.bincount(groups)
    nuisance_calls = np.bincount(groups, weights=nuisance)
    return (calls[groups] > 1) & (nuisance_calls[groups] > 0)


def _last_of_each(rows: np.ndarray, keys: pl.Series, hashes: np.ndarray
                  ) -> tuple[np.ndarray, pl.Series]:
    """The rows (and their keys) that are the last of their key: the conversation a pair
    is left with. Found by hash; where a hash repeats, by key (so two keys sharing a hash
    both stay, for ColdEntries.add to refuse)."""
    order = np.argsort(hashes, kind="stable")
    same = hashes[order[1:]] == hashes[order[:-1]]
    if not same.any():
        return rows, keys
    repeated = np.zeros(len(rows), dtype=bool)
    repeated[order[1:][same]] = True
    repeated[order[:-1][same]] = True
    at_repeated = np.flatnonzero(repeated)
    last_of: dict[str, int] = {}
    for i, k in zip(at_repeated.tolist(), keys[at_repeated].to_list(), strict=True):
        last_of[k] = i
    keep = ~repeated
    keep[list(last_of.values())] = True
    at = np.flatnonzero(keep)
    return rows[at], keys[at]


DETECTOR = Harassment
