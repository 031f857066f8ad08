"""Hard negatives: legitimate traffic that a careless detector flags.

Call centres placing hundreds of short calls a day, heavy online shoppers called by
many couriers, a parent calling a child many times a day, relatives calling from abroad,
verification-code retries, and festival marketing bursts from many ports at once. Each
is labelled under ``hard_negatives`` in ``labels.json`` so evaluation can show what a
detector wrongly flags.

>>> import numpy as np
>>> from fraudwatch.simulate.background import Background
>>> from fraudwatch.simulate.events import Events
>>> from fraudwatch.simulate.population import Population
>>> from fraudwatch.simulate.scenarios import Context
>>> pop = Population.generate(np.random.default_rng(0), 1000)
>>> ctx = Context(np.random.default_rng(0), pop, Background(pop, 0), Events(
...     np.random.default_rng(1)), 1793548800, 1793548800 + 7 * 86400)
>>> sorted({n["type"] for n in inject(ctx)})
['call_centre', 'family_caller', 'festival_marketing', 'heavy_shopper', 'intl_relative', 'otp_retry']
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fraudwatch.simulate import phonebook, texts
from fraudwatch.simulate.background import COURIER_HOTLINES, LOW_RISK
from fraudwatch.simulate.events import iso
from fraudwatch.simulate.rhythm import TZ_OFFSET, weekday
from fraudwatch.simulate.scenarios import Context, count_for


def _local_days(ctx: Context) -> list[int]:
    """Local midnights of every day the period touches (the start may be any time)."""
    first = (ctx.t_start + TZ_OFFSET) // 86400 * 86400 - TZ_OFFSET
    return list(range(first, ctx.t_end, 86400))


def _inside(ctx: Context, t: int) -> bool:
    return ctx.t_start <= t < ctx.t_end


def call_centre(ctx: Context, i: int, n: int) -> dict:
    rng, ev = ctx.rng, ctx.events
    line_i = ctx.pop.claim(rng, "business", 1)[0]
    line = ctx.number(line_i)
    per_day = int(rng.integers(150, 401))
    ua, ip = str(ctx.pop.user_agent[line_i]), str(ctx.pop.device_ip[line_i])
    total = 0
    for day in _local_days(ctx):
        if weekday(day) >= 5:
            continue
        k = int(rng.poisson(per_day))
        starts = day + rng.integers(9 * 3600, 18 * 3600, k)
        callees = phonebook.mobiles(rng, k)
        for s, c in zip(starts.tolist(), callees.tolist(), strict=True):
            if not _inside(ctx, s):
                k -= 1
                continue
            answered = rng.random() < 0.5
            disp = "ANSWERED" if answered else str(rng.choice(["NO ANSWER", "BUSY", "CANCELLED"]))
            dur = int(max(1, round(40 * rng.lognormal(0, 0.7)))) if answered else 0
            ev.call(s, line, c, dur, disp, "access", "business", "", ua, ip)
        total += k
    return {"type": "call_centre", "subject": line, "calls_per_day": per_day, "calls": total}


def heavy_shopper(ctx: Context, i: int, n: int) -> dict:
    rng, ev = ctx.rng, ctx.events
    shopper = ctx.number(ctx.pop.claim(rng, "mobile", 1)[0])
    couriers = list(COURIER_HOTLINES) + [str(x) for x in phonebook.mobiles(rng, int(rng.integers(8, 19)))]
    total = 0
    for day in _local_days(ctx):
        for _ in range(int(rng.integers(1, 6))):
            caller = couriers[int(rng.integers(0, len(couriers)))]
            answered = rng.random() < 0.9
            t = day + int(rng.integers(9 * 3600, 20 * 3600))
            if not _inside(ctx, t):
                continue
            ev.call(t, caller, shopper,
                    int(rng.integers(10, 61)) if answered else 0,
                    "ANSWERED" if answered else "NO ANSWER", "domestic", "", "mobile")
            total += 1
    return {"type": "heavy_shopper", "subject": shopper, "couriers": len(couriers), "calls": total}


def family_caller(ctx: Context, i: int, n: int) -> dict:
    rng, ev = ctx.rng, ctx.events
    child = ctx.number(ctx.pop.claim(rng, "mobile", 1)[0])
    parent = str(phonebook.mobiles(rng, 1)[0])
    per_day = int(rng.integers(6, 16))
    total = 0
    for day in _local_days(ctx):
        for s in sorted(rng.integers(day + 7 * 3600, day + 22 * 3600, per_day).tolist()):
            answered = rng.random() < 0.9
            if not _inside(ctx, s):
                continue
            ev.call(s, parent, child, int(max(30, 300 * rng.lognormal(0, 0.8))) if answered else 0,
                    "ANSWERED" if answered else "NO ANSWER", "domestic", "", "mobile")
            total += 1
    return {"type": "family_caller", "subject": child, "counterparty": parent,
            "calls_per_day": per_day, "calls": total}


def intl_relative(ctx: Context, i: int, n: int) -> dict:
    rng, ev = ctx.rng, ctx.events
    home_i = ctx.pop.claim(rng, "residential" if rng.random() < 0.6 else "mobile", 1)[0]
    home, line = ctx.number(home_i), str(ctx.pop.line_types[home_i])
    cc, digits = LOW_RISK[int(rng.integers(0, 4))]
    callers = phonebook.international(rng, cc, int(rng.integers(1, 4)), digits)
    total = 0
    for day in _local_days(ctx):
        if rng.random() < 0.55:
            continue
        caller = callers[int(rng.integers(0, len(callers)))]
        answered = rng.random() < 0.85
        t = day + int(rng.integers(7 * 3600, 23 * 3600))
        if not _inside(ctx, t):
            continue
        ev.call(t, caller, home,
                int(max(300, 1500 * rng.lognormal(0, 0.5))) if answered else 0,
                "ANSWERED" if answered else "NO ANSWER", "international", "", line)
        total += 1
    return {"type": "intl_relative", "subject": callers[0], "callers": callers,
            "callee": home, "origin": cc, "calls": total}


def otp_retry(ctx: Context, i: int, n: int) -> dict:
    rng, ev = ctx.rng, ctx.events
    who = ctx.number(ctx.pop.claim(rng, "mobile", 1)[0])
    platform = int(rng.integers(0, len(texts.PLATFORMS)))
    port = str(ctx.bg.otp_ports[platform])
    episodes = int(rng.integers(1, 4))
    total = 0
    for _ in range(episodes):
        t = ctx.onset(int(rng.integers(0, n)), n, 3600)
        k = int(rng.integers(2, 5))
        times = sorted(int(x) for x in rng.integers(t, t + int(rng.integers(120, 400)), k))
        for x, body in zip(times, texts.otp_texts(rng, np.full(k, platform),
                                                   rng.integers(0, 10**6, k)), strict=True):
            ev.sms(x, port, who, body)
        total += k
    return {"type": "otp_retry", "subject": who, "sender": port, "messages": total}


def festival_marketing(ctx: Context, i: int, n: int) -> dict:
    """Many ports greet many customers at once on a festival morning; nobody opted out."""
    rng, ev = ctx.rng, ctx.events
    days = [d for d in _local_days(ctx) if _inside(ctx, d + 9 * 3600)
            and _inside(ctx, d + 13 * 3600)] or [ctx.t_start - 9 * 3600]
    day = days[int(rng.integers(0, len(days)))]
    start = day + int(rng.integers(9, 12)) * 3600
    ports = [phonebook.sms_port(rng, "1065") for _ in range(int(rng.integers(10, 26)))]
    mobiles = ctx.bg.mobiles
    k = min(len(mobiles), max(50, int(len(mobiles) * rng.uniform(0.1, 0.3))), 50_000)
    who = rng.choice(mobiles, k, replace=False)
    window = int(rng.integers(30, 61)) * 60
    brand = int(rng.integers(0, len(texts.BRANDS)))
    for r, p, t in zip(who.tolist(), rng.integers(0, len(ports), k).tolist(),
                       rng.integers(start, start + window, k).tolist(), strict=True):
        ev.sms(t, ports[p], ctx.number(r),
               texts.FESTIVAL_CN[int(rng.integers(0, 2))].format(b=texts.BRANDS[brand],
                                                                  x=int(rng.integers(1e4, 1e5))))
    return {"type": "festival_marketing", "subject": "*", "ports": ports, "recipients": k,
            "start": iso(start), "window_minutes": window // 60}


NEGATIVES: dict[str, Callable[[Context, int, int], dict]] = {
    "call_centre": call_centre,
    "heavy_shopper": heavy_shopper,
    "family_caller": family_caller,
    "intl_relative": intl_relative,
    "otp_retry": otp_retry,
    "festival_marketing": festival_marketing,
}


def inject(ctx: Context) -> list[dict]:
    out = []
    for kind, make in NEGATIVES.items():
        n = 1 if kind == "festival_marketing" else count_for(ctx.rng, kind, len(ctx.pop))
        for i in range(n):
            out.append(make(ctx, i, n))
    return out
