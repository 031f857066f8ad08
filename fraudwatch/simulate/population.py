"""The operator's subscribers: numbers, line types, activity rates and VoIP devices.

Every subscriber has a line type (``mobile``, ``residential``, ``business``), a number
from the China plan, a daily calling and receiving rate (log-normal across people), and,
for part of the fixed lines, a SIP device (User-Agent, stable domestic address) that
registers with the operator's registrar.

>>> import numpy as np
>>> pop = Population.generate(np.random.default_rng(7), 1000)
>>> len(pop), len(set(pop.numbers.tolist()))
(1000, 1000)
>>> sorted(set(pop.line_types.tolist()))
['business', 'mobile', 'residential']
>>> idx = pop.claim(np.random.default_rng(1), "residential", 2)
>>> [pop.line_types[i] for i in idx]
['residential', 'residential']
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fraudwatch.simulate import phonebook

LINE_TYPES = ("mobile", "residential", "business")
LINE_SHARES = (0.62, 0.30, 0.08)
# Median calls placed / received per day and the log-normal spread across subscribers.
OUT_MEDIAN = {"mobile": 2.4, "residential": 1.1, "business": 9.0}
IN_MEDIAN = {"mobile": 1.6, "residential": 0.9, "business": 4.0}
RATE_SIGMA = 0.7
VOIP_SHARE = {"residential": 0.3, "business": 0.6}
HOME_GATEWAYS = ("Huawei HG8245H V3R017C10S115", "ZTE ZXHN F660 V6.0.10P2T2",
                 "FiberHome AN5506-04-FA RP2616", "Skyworth DT541 V1.0", "Huawei EchoLife HG8546M")
PBX_AGENTS = ("Asterisk PBX 18.12.1", "FreeSWITCH-mod_sofia/1.10.9", "Yeastar S50 30.12.0.31")
# Chinese access-network prefixes (first two octets) where households' gateways live.
DOMESTIC_NETS = ((58, 32), (58, 33), (114, 80), (114, 81), (180, 152), (180, 153), (222, 64),
                 (222, 65), (101, 80), (101, 81), (116, 224), (116, 225))


@dataclass
class Population:
    """Column arrays, one entry per subscriber."""

    numbers: np.ndarray          # str
    line_types: np.ndarray       # str
    out_rate: np.ndarray         # calls placed per day
    in_rate: np.ndarray          # calls received per day
    user_agent: np.ndarray       # str, "" for no SIP device
    device_ip: np.ndarray        # str, "" for no SIP device
    register_phase: np.ndarray   # seconds, offset of the periodic REGISTER
    claimed: set[int] = field(default_factory=set)
    _queues: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.numbers)

    @classmethod
    def generate(cls, rng: np.random.Generator, n: int) -> Population:
        kinds = rng.choice(len(LINE_TYPES), n, p=LINE_SHARES)
        # at least a few of each type, even for tiny populations
        for k in range(len(LINE_TYPES)):
            if (kinds == k).sum() < 5 and n >= 30:
                kinds[rng.choice(n, 5, replace=False)] = k
        line_types = np.array(LINE_TYPES, dtype=object)[kinds]
        is_mobile = kinds == 0
        numbers = np.empty(n, dtype=object)
        numbers[is_mobile] = phonebook.unique(rng, phonebook.mobiles, int(is_mobile.sum()))
        numbers[~is_mobile] = phonebook.unique(rng, phonebook.fixed_lines, int((~is_mobile).sum()))
        out_rate = np.empty(n)
        in_rate = np.empty(n)
        for k, name in enumerate(LINE_TYPES):
            sel = kinds == k
            out_rate[sel] = OUT_MEDIAN[name] * rng.lognormal(0, RATE_SIGMA, sel.sum())
            in_rate[sel] = IN_MEDIAN[name] * rng.lognormal(0, RATE_SIGMA, sel.sum())
        user_agent = np.full(n, "", dtype=object)
        device_ip = np.full(n, "", dtype=object)
        for name, agents in (("residential", HOME_GATEWAYS), ("business", PBX_AGENTS)):
            sel = np.flatnonzero((line_types == name) & (rng.random(n) < VOIP_SHARE[name]))
            user_agent[sel] = np.array(agents, dtype=object)[rng.choice(len(agents), len(sel))]
            nets = np.array(DOMESTIC_NETS)[rng.choice(len(DOMESTIC_NETS), len(sel))]
            low = rng.integers(0, 65536, len(sel))
            device_ip[sel] = [f"{a}.{b}.{x >> 8}.{max(1, x & 255)}"
                              for (a, b), x in zip(nets.tolist(), low.tolist(), strict=True)]
        register_phase = rng.integers(0, 3600, n)
        return cls(numbers, line_types, out_rate, in_rate, user_agent, device_ip, register_phase)

    def claim(self, rng: np.random.Generator, line_type: str, k: int,
              sip: bool | None = None) -> list[int]:
        """``k`` subscribers of a type not yet used by a scenario or hard negative."""
        key = (line_type, sip)
        if key not in self._queues:
            pool = self.line_types == line_type
            if sip is not None:
                pool &= (self.user_agent != "") == sip
            order = np.flatnonzero(pool)
            rng.shuffle(order)
            rest = np.flatnonzero(~pool)  # tiny populations: fall back to any subscriber
            rng.shuffle(rest)
            self._queues[key] = [order.tolist() + rest.tolist(), 0]
        queue = self._queues[key]
        out: list[int] = []
        while len(out) < k and queue[1] < len(queue[0]):
            i = queue[0][queue[1]]
            queue[1] += 1
            if i not in self.claimed:
                self.claimed.add(i)
                out.append(i)
        if len(out) < k:
            raise ValueError(f"population too small for {k} more {line_type} subscribers")
        return out

    def sip_lines(self) -> np.ndarray:
        """Indices of subscribers with a registering SIP device."""
        return np.flatnonzero(self.user_agent != "")
