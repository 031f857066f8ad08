"""Ordinary operator traffic, one simulated day at a time, vectorised with numpy.

Calls placed by the operator's subscribers (on-net, off-net, hotlines, abroad), calls
from other operators and from abroad, courier and hotline calls, verification-code,
bank, marketing and person-to-person SMS with honoured opt-outs, and the periodic SIP
REGISTER of VoIP lines. Volumes follow :mod:`fraudwatch.simulate.rhythm`.

>>> import numpy as np
>>> from fraudwatch.simulate.population import Population
>>> pop = Population.generate(np.random.default_rng(1), 500)
>>> bg = Background(pop, seed=1)
>>> day = bg.day(0, 1793548800)
>>> len(day["call"]) > 500, len(day["sms"]) > 300, sorted(set(day["call"].col["ingress"].tolist()))
(True, True, ['access', 'domestic', 'international'])
"""

from __future__ import annotations

import numpy as np

from fraudwatch.simulate import phonebook, texts
from fraudwatch.simulate.population import LINE_TYPES, Population
from fraudwatch.simulate.rhythm import HOURLY, TZ_OFFSET, WEEKLY, weekday
from fraudwatch.simulate.tables import Table

DISPOSITION_SHARES = {"BUSY": 0.25, "NO ANSWER": 0.45, "CANCELLED": 0.2, "FAILED": 0.1}
_UNANSWERED = np.array(list(DISPOSITION_SHARES), dtype=object)
_UNANSWERED_P = np.array(list(DISPOSITION_SHARES.values()))
# Ring seconds before the end of an unanswered call, per disposition (min, max).
RING = {"ANSWERED": (3, 20), "BUSY": (1, 3), "NO ANSWER": (20, 60), "CANCELLED": (3, 25),
        "FAILED": (0, 2)}
HOTLINES = ("95588", "95533", "10086", "10010", "10000", "12345", "95353", "952306", "95338",
            "95311", "4008208820", "4006789888", "96110")
COURIER_HOTLINES = ("95353", "952306")
# Low-risk origins of ordinary international traffic: (country code, national digits).
LOW_RISK = (("1", 10), ("44", 10), ("61", 9), ("81", 10), ("852", 8), ("65", 8), ("49", 11),
            ("64", 9), ("33", 9), ("886", 9))
MARKETING_PORTS = 40
OPTOUT_REPLY_SHARE = 0.015
SMS_RATES = {"otp": 0.45, "bank": 0.12, "marketing": 0.35, "p2p": 0.8}  # per mobile and day
INTL_IN_RATE = 0.008   # ordinary international calls per subscriber and day
COURIER_RATE = 0.04    # courier / hotline calls per subscriber and day
REGISTER_INTERVAL = 3600
# Share of a subscriber's calls that go to (or come from) their own contacts, and the
# popularity of contact slots (a few people get most of the calls).
CONTACT_SHARE = {"mobile": 0.7, "residential": 0.75, "business": 0.35}
# People pick up for someone they know far more often than for a stranger.
ANSWER_KNOWN = 0.8
ANSWER_UNKNOWN = 0.48
CONTACTS = 12
_ZIPF = 1.0 / np.arange(1, CONTACTS + 1)
# households and people favour a few contacts; a business spreads over its partners
CONTACT_WEIGHTS = {"mobile": _ZIPF / _ZIPF.sum(), "residential": _ZIPF / _ZIPF.sum(),
                   "business": np.full(CONTACTS, 1 / CONTACTS)}


def dispositions(rng: np.random.Generator, n: int, answer_p: float | np.ndarray) -> np.ndarray:
    """ANSWERED with probability ``answer_p``, else the usual failure mix."""
    out = _UNANSWERED[rng.choice(len(_UNANSWERED), n, p=_UNANSWERED_P)]
    out[rng.random(n) < answer_p] = "ANSWERED"
    return out


def durations(rng: np.random.Generator, disposition: np.ndarray, median: float | np.ndarray,
              sigma: float = 1.0, cap: int = 4 * 3600) -> np.ndarray:
    """Billed seconds: log-normal for answered calls, 0 otherwise."""
    d = np.minimum(np.rint(median * rng.lognormal(0, sigma, len(disposition))), cap).astype(np.int64)
    d = np.maximum(d, 1)
    d[disposition != "ANSWERED"] = 0
    return d


def end_times(rng: np.random.Generator, start: np.ndarray, duration: np.ndarray,
              disposition: np.ndarray) -> np.ndarray:
    """When the switch closes the CDR: start + ringing + talk."""
    ring = np.zeros(len(start), dtype=np.int64)
    for disp, (lo, hi) in RING.items():
        sel = disposition == disp
        ring[sel] = rng.integers(lo, hi + 1, int(sel.sum()))
    return start + ring + duration


def call_table(rng: np.random.Generator, start, caller, callee, answer_p, median, *,
               sigma: float = 1.0, **columns) -> Table:
    n = len(start)
    disp = dispositions(rng, n, answer_p)
    dur = durations(rng, disp, median, sigma)
    return Table.build("call", n, start=start, end=end_times(rng, start, dur, disp),
                       caller=caller, callee=callee, duration=dur, disposition=disp, **columns)


def external_domestic(rng: np.random.Generator, n: int) -> np.ndarray:
    """Numbers of other domestic operators: 70 % mobiles, 30 % fixed lines."""
    out = phonebook.mobiles(rng, n).astype(object)
    fixed = rng.random(n) < 0.3
    out[fixed] = phonebook.fixed_lines(rng, int(fixed.sum()))
    return out


def low_risk_international(rng: np.random.Generator, n: int) -> np.ndarray:
    which = rng.integers(0, len(LOW_RISK), n)
    out = np.empty(n, dtype=object)
    for k, (cc, digits) in enumerate(LOW_RISK):
        sel = np.flatnonzero(which == k)
        out[sel] = phonebook.international(rng, cc, len(sel), digits)
    return out


class Background:
    """Generates the ordinary traffic of each day; keeps opt-outs across days."""

    def __init__(self, population: Population, seed: int) -> None:
        self.pop = population
        self.seed = seed
        rng = np.random.default_rng([seed, 11])
        self.by_type = {name: np.flatnonzero(population.line_types == name)
                        for name in LINE_TYPES}
        self.mobiles = self.by_type["mobile"]
        self.sip_lines = population.sip_lines()
        self.courier_mobiles = phonebook.mobiles(rng, max(5, len(population) // 400)).astype(object)
        self.otp_ports = np.array([phonebook.sms_port(rng, "1069") for _ in texts.PLATFORMS],
                                  dtype=object)
        self.marketing_ports = np.array(
            [phonebook.sms_port(rng, str(rng.choice(["1065", "1069", "1068"])))
             for _ in range(MARKETING_PORTS)], dtype=object)
        self.marketing_brand = rng.integers(0, len(texts.BRANDS), MARKETING_PORTS)
        # (port index * N + recipient index) -> time the opt-out took effect
        self.opted_out: dict[int, int] = {}

    def rng(self, day: int, hour: int, part: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, 100 + part, day, hour])

    def day(self, day: int, day_start: int) -> dict[str, Table]:
        """A whole day (the 24 hourly slices concatenated)."""
        hours = [self.hour(day, h, day_start) for h in range(24)]
        return {k: Table.concat(k, [h[k] for h in hours]) for k in hours[0]}

    def hour(self, day: int, hour: int, day_start: int) -> dict[str, Table]:
        """One local hour of traffic. Volumes are Poisson per subscriber and hour, so
        slicing the day by hour keeps memory to an hour's traffic at any scale."""
        t0 = day_start + hour * 3600
        clock = int((t0 + TZ_OFFSET) // 3600 % 24)  # rhythm follows the local clock
        return {"call": self.calls(day, clock, t0, weekday(t0)),
                "sms": self.sms(day, clock, t0),
                "registration": self.registrations(t0),
                "feedback": self.feedback(day, clock, t0)}

    # -- calls -------------------------------------------------------------------------
    def calls(self, day: int, hour: int, t0: int, wd: int) -> Table:
        rng = self.rng(day, hour, 1)
        pop = self.pop
        parts = []
        for name in LINE_TYPES:
            idx = self.by_type[name]
            factor = WEEKLY[name][wd] * HOURLY[name][hour]
            # calls placed by subscribers
            caller = np.repeat(idx, rng.poisson(pop.out_rate[idx] * factor))
            n = len(caller)
            start = t0 + rng.integers(0, 3600, n)
            dest = rng.random(n)
            callee = external_domestic(rng, n)
            onnet = dest < 0.35
            callee_idx = rng.integers(0, len(pop), n)
            # most calls go to the caller's own few contacts (family, friends, colleagues)
            known = rng.random(n) < CONTACT_SHARE[name]
            slot = rng.choice(CONTACTS, n, p=CONTACT_WEIGHTS[name])
            c_onnet, c_idx, c_number = self.contacts(caller[known], slot[known])
            callee[known] = c_number
            onnet[known] = c_onnet
            callee_idx[known] = c_idx
            self_call = callee_idx == caller
            callee_idx[self_call] = (callee_idx[self_call] + 1) % len(pop)
            callee_line = np.full(n, "", dtype=object)
            callee_line[onnet] = pop.line_types[callee_idx[onnet]]
            callee[onnet] = pop.numbers[callee_idx[onnet]]
            dest[known] = 0.5  # neither hotline nor abroad
            hot = (dest >= 0.92) & (dest < 0.985)
            callee[hot] = np.array(HOTLINES, dtype=object)[rng.integers(0, len(HOTLINES),
                                                                        int(hot.sum()))]
            abroad = dest >= 0.985
            callee[abroad] = [("00" + x[1:]) if x.startswith("+") else x
                              for x in low_risk_international(rng, int(abroad.sum()))]
            median = 45.0 if name == "business" else 75.0
            fixed = name != "mobile"
            parts.append(call_table(
                rng, start, pop.numbers[caller], callee,
                np.where(known, ANSWER_KNOWN, ANSWER_UNKNOWN), median, ingress="access",
                caller_line=name, callee_line=callee_line,
                user_agent=pop.user_agent[caller] if fixed else "",
                src_ip=pop.device_ip[caller] if fixed else ""))
            # calls received from other operators
            callee_i = np.repeat(idx, rng.poisson(pop.in_rate[idx] * factor))
            n = len(callee_i)
            caller_number = external_domestic(rng, n)
            known = rng.random(n) < CONTACT_SHARE[name]
            slot = rng.choice(CONTACTS, n, p=CONTACT_WEIGHTS[name])
            caller_number[known] = self.offnet_contacts(callee_i[known], slot[known])
            parts.append(call_table(
                rng, t0 + rng.integers(0, 3600, n), caller_number,
                pop.numbers[callee_i], np.where(known, ANSWER_KNOWN, ANSWER_UNKNOWN - 0.04),
                median, ingress="domestic", callee_line=name))
        parts.append(self._international(rng, t0, hour))
        parts.append(self._couriers(rng, t0, hour))
        return Table.concat("call", parts)

    def _international(self, rng: np.random.Generator, t0: int, hour: int) -> Table:
        pop = self.pop
        n = int(rng.poisson(INTL_IN_RATE * len(pop) * HOURLY["mobile"][hour]))
        callee = rng.integers(0, len(pop), n)
        return call_table(rng, t0 + rng.integers(0, 3600, n), low_risk_international(rng, n),
                          pop.numbers[callee], 0.6, 150.0, ingress="international",
                          callee_line=pop.line_types[callee])

    def _couriers(self, rng: np.random.Generator, t0: int, hour: int) -> Table:
        """Deliveries are announced between 08:00 and 20:00."""
        if not 8 <= hour < 20:
            return Table.empty("call")
        pop = self.pop
        n = int(rng.poisson(COURIER_RATE * len(pop) / 12))
        callee = self.mobiles[rng.integers(0, len(self.mobiles), n)]
        caller = self.courier_mobiles[rng.integers(0, len(self.courier_mobiles), n)]
        hot = rng.random(n) < 0.4
        caller[hot] = np.array(COURIER_HOTLINES, dtype=object)[rng.integers(0, 2, int(hot.sum()))]
        return call_table(rng, t0 + rng.integers(0, 3600, n), caller, pop.numbers[callee], 0.75,
                          30.0, sigma=0.6, ingress="domestic", callee_line="mobile")

    def contacts(self, who: np.ndarray, slot: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray]:
        """The ``slot``-th contact of each subscriber in ``who``: (on-net?, subscriber index
        if on-net, number if off-net). A pure function of (seed, subscriber, slot)."""
        h = _mix(who.astype(np.uint64) * np.uint64(CONTACTS) + slot.astype(np.uint64)
                 + np.uint64(self.seed) * np.uint64(0x9E3779B1))
        onnet = (h % np.uint64(3)) == 0
        idx = ((h >> np.uint64(8)) % np.uint64(len(self.pop))).astype(np.int64)
        idx[idx == who] = (idx[idx == who] + 1) % len(self.pop)  # nobody calls themselves
        number = np.full(len(who), "", dtype=object)
        off = ~onnet
        number[off] = _numbers_from_hash(h[off])
        return onnet, idx, number

    def offnet_contacts(self, who: np.ndarray, slot: np.ndarray) -> np.ndarray:
        """Numbers of other operators' subscribers who call ``who`` now and then."""
        h = _mix(who.astype(np.uint64) * np.uint64(CONTACTS) + slot.astype(np.uint64)
                 + np.uint64(self.seed) * np.uint64(0x85EBCA77) + np.uint64(1 << 40))
        return _numbers_from_hash(h)

    # -- SMS ---------------------------------------------------------------------------
    def sms(self, day: int, hour: int, t0: int) -> Table:
        rng = self.rng(day, hour, 2)
        pop = self.pop
        mob = self.mobiles
        nm = len(mob)
        share = HOURLY["mobile"][hour]
        parts = []
        # verification codes
        n = int(rng.poisson(SMS_RATES["otp"] * nm * share))
        platform = rng.integers(0, len(texts.PLATFORMS), n)
        parts.append(Table.build(
            "sms", n, time=t0 + rng.integers(0, 3600, n), sender=self.otp_ports[platform],
            recipient=pop.numbers[mob[rng.integers(0, nm, n)]],
            text=texts.otp_texts(rng, platform, rng.integers(0, 1_000_000, n)), direction="mt"))
        # bank notices
        n = int(rng.poisson(SMS_RATES["bank"] * nm * share))
        t = t0 + rng.integers(0, 3600, n)
        bank = rng.integers(0, len(texts.BANKS), n)
        parts.append(Table.build(
            "sms", n, time=t, sender=np.array([b for b, _ in texts.BANKS], dtype=object)[bank],
            recipient=pop.numbers[mob[rng.integers(0, nm, n)]],
            text=[texts.bank_text(rng, b, local_parts(x)) for b, x in zip(bank.tolist(), t.tolist(),
                                                                         strict=True)],
            direction="mt"))
        parts.append(self._marketing(rng, t0, hour))
        # person to person
        n = int(rng.poisson(SMS_RATES["p2p"] * nm * share))
        sub = pop.numbers[mob[rng.integers(0, nm, n)]]
        other = phonebook.mobiles(rng, n).astype(object)
        mo = rng.random(n) < 0.3
        parts.append(Table.build(
            "sms", n, time=t0 + rng.integers(0, 3600, n),
            sender=np.where(mo, sub, other), recipient=np.where(mo, other, sub),
            text=np.array(texts.P2P, dtype=object)[rng.integers(0, len(texts.P2P), n)],
            direction=np.where(mo, "mo", "mt").astype(object)))
        return Table.concat("sms", parts)

    def _marketing(self, rng: np.random.Generator, t0: int, hour: int) -> Table:
        pop = self.pop
        nm = len(self.mobiles)
        n = int(rng.poisson(SMS_RATES["marketing"] * nm * HOURLY["marketing"][hour]))
        t = np.sort(t0 + rng.integers(0, 3600, n))
        port = rng.integers(0, MARKETING_PORTS, n)
        recip = self.mobiles[rng.integers(0, nm, n)]
        key = port.astype(np.int64) * len(pop) + recip
        keep = np.ones(n, dtype=bool)
        if self.opted_out:
            known = np.fromiter(self.opted_out, dtype=np.int64)
            for i in np.flatnonzero(np.isin(key, known)).tolist():
                keep[i] = t[i] < self.opted_out[int(key[i])]
        # some recipients answer with an unsubscribe word; the port confirms and stops
        replies, confirms = [], []
        for i in np.flatnonzero(keep & (rng.random(n) < OPTOUT_REPLY_SHARE)).tolist():
            k = int(key[i])
            if k in self.opted_out:
                continue
            reply_t = int(t[i] + rng.integers(60, 1800))
            self.opted_out[k] = reply_t
            word = texts.UNSUBSCRIBE_WORDS[int(rng.integers(0, len(texts.UNSUBSCRIBE_WORDS)))]
            number, sender = pop.numbers[recip[i]], self.marketing_ports[port[i]]
            brand = texts.BRANDS[self.marketing_brand[port[i]]]
            replies.append((reply_t, number, sender, word, "mo"))
            confirm = texts.CONFIRM_EN if word in ("TD", "N") and rng.random() < 0.3 \
                else texts.CONFIRM_CN
            confirms.append((reply_t + int(rng.integers(3, 60)), sender, number,
                             confirm.format(b=brand), "mt"))
            later = np.flatnonzero((key == k) & (t >= reply_t))
            keep[later] = False
        sel = np.flatnonzero(keep)
        body = Table.build("sms", len(sel), time=t[sel], sender=self.marketing_ports[port[sel]],
                           recipient=pop.numbers[recip[sel]],
                           text=texts.marketing_texts(rng, self.marketing_brand[port[sel]]),
                           direction="mt")
        return Table.concat("sms", [body, Table.from_rows("sms", replies + confirms)])

    # -- registrations and feedback ----------------------------------------------------
    def registrations(self, t0: int) -> Table:
        """Every VoIP line refreshes its registration once an hour, at its own phase."""
        pop = self.pop
        lines = self.sip_lines
        return Table.build("registration", len(lines), time=t0 + pop.register_phase[lines],
                           line=pop.numbers[lines], contact_ip=pop.device_ip[lines],
                           user_agent=pop.user_agent[lines], status=200,
                           expires=REGISTER_INTERVAL)

    def feedback(self, day: int, hour: int, t0: int) -> Table:
        """A trickle of complaints about marketing ports, as any operator receives."""
        rng = self.rng(day, hour, 3)
        n = int(rng.poisson(0.002 * len(self.mobiles) * HOURLY["business"][hour]))
        who = self.pop.numbers[self.mobiles[rng.integers(0, len(self.mobiles), n)]]
        return Table.build("feedback", n, time=t0 + rng.integers(0, 3600, n),
                           number=who, kind=np.array(["complaint", "opt_out"], dtype=object)[
                               rng.integers(0, 2, n)],
                           about=self.marketing_ports[rng.integers(0, MARKETING_PORTS, n)])


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser, vectorised: a well-spread 64-bit hash of each value."""
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _numbers_from_hash(h: np.ndarray) -> np.ndarray:
    """Domestic numbers (70 % mobiles, 30 % fixed lines) determined by hashes."""
    out = np.empty(len(h), dtype=object)
    prefixes = phonebook.MOBILE_PREFIXES
    mobile = (h >> np.uint64(4)) % np.uint64(10) < np.uint64(7)
    hm = h[mobile]
    pre = prefixes[((hm >> np.uint64(12)) % np.uint64(len(prefixes))).astype(np.int64)]
    out[mobile] = (pre * 100_000_000 + ((hm >> np.uint64(20)) % np.uint64(100_000_000))
                   .astype(np.int64)).astype(str)
    hf = h[~mobile]
    areas = np.array([int(a) for a in phonebook.AREA_CODES], dtype=np.int64)
    cum = np.cumsum(phonebook.AREA_WEIGHTS)
    which = np.minimum(np.searchsorted(cum, ((hf >> np.uint64(12)) % np.uint64(1000))
                                       .astype(np.float64) / 1000, side="right"), len(areas) - 1)
    local = 20_000_000 + ((hf >> np.uint64(24)) % np.uint64(70_000_000)).astype(np.int64)
    out[~mobile] = np.char.add("0", (areas[which] * 100_000_000 + local).astype(str))
    return out


def local_parts(t: int) -> tuple[int, int, int, int]:
    """(month, day, hour, minute) in China time, for message texts."""
    import time as _time
    s = _time.gmtime(t + TZ_OFFSET)
    return s.tm_mon, s.tm_mday, s.tm_hour, s.tm_min


__all__ = ["Background", "HOURLY"]
