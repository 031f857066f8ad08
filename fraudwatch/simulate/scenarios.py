"""Labelled fraud and abuse scenarios, injected into the simulated traffic.

Each scenario writes its events into :class:`~fraudwatch.simulate.events.Events` and
returns its label for ``labels.json``: kind, subject (as the alert contract defines it
for that kind), counterparty, onset (first fraudulent event), deadline (last fraudulent
event plus a grace period) and the parameters drawn for it. Intensities are drawn at
random per scenario so that detectors cannot be tuned to one number.

>>> import numpy as np
>>> from fraudwatch.simulate.background import Background
>>> from fraudwatch.simulate.events import Events
>>> from fraudwatch.simulate.population import Population
>>> pop = Population.generate(np.random.default_rng(0), 1000)
>>> ctx = Context(np.random.default_rng(0), pop, Background(pop, 0), Events(
...     np.random.default_rng(1)), 1793548800, 1793548800 + 7 * 86400)
>>> label = sms_bombing(ctx, 0, 2)
>>> label["kind"], 50 <= label["params"]["messages"] <= 80
('sms_bombing', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fraudwatch.simulate import phonebook, texts
from fraudwatch.simulate.background import COURIER_HOTLINES, Background
from fraudwatch.simulate.events import Events, iso
from fraudwatch.simulate.population import Population

GRACE = 3600
ORGANISATION = "express-courier"  # owner of the hotlines 95353 and 952306
HIGH_RISK = (("855", 8), ("95", 9), ("63", 10))           # Cambodia, Myanmar, Philippines
WANGIRI = (("252", 8), ("216", 8), ("882", 10), ("675", 7), ("222", 8), ("247", 5))
UNASSIGNED = ("999", "210", "969", "289")                   # spare E.164 country codes
VOIP_TIERS = {"strong": (30, 60), "medium": (6, 30), "weak": (3, 6)}  # calls per hour
BOX_AGENTS = ("GoIP-8 GST1610-1.01-68", "DBL GoIP GST1610", "Dinstar UC2000-VE 2.7.1",
              "OpenVox VS-GW1202", "Ejoin ACOM632 2.0")
FOREIGN_NETS = ("103.216", "45.125", "202.58", "119.8", "43.228", "175.100", "27.109")
SCAN_NETS = ("185.53", "45.134", "193.46", "89.248", "212.83", "51.79")
SCANNER_AGENTS = ("friendly-scanner", "sipvicious", "sipcli/v1.8", "VaxSIPUserAgent/3.1")


@dataclass
class Context:
    rng: np.random.Generator
    pop: Population
    bg: Background
    events: Events
    t_start: int
    t_end: int

    @property
    def period(self) -> int:
        return self.t_end - self.t_start

    def onset(self, i: int, n: int, span: float) -> int:
        """The ``i``-th of ``n`` onsets, spread over the period, leaving ``span`` seconds."""
        lo = self.t_start + self.period * (0.03 + 0.9 * i / n)
        hi = self.t_start + self.period * (0.03 + 0.9 * (i + 1) / n)
        hi = min(hi, self.t_end - span)
        lo = min(lo, hi)
        return int(self.rng.uniform(lo, hi)) if hi > lo else int(max(lo, self.t_start))

    def ip(self, nets: tuple[str, ...]) -> str:
        r = self.rng
        return f"{nets[int(r.integers(0, len(nets)))]}.{int(r.integers(1, 255))}.{int(r.integers(2, 254))}"

    def number(self, i: int) -> str:
        return str(self.pop.numbers[i])

    def victims(self, k: int) -> list[int]:
        """``k`` subscribers (any type) who receive a spray; not claimed, may repeat elsewhere."""
        return self.rng.choice(len(self.pop), min(k, len(self.pop)), replace=False).tolist()


def label(kind: str, subject: str, counterparty: str | None, onset: int, last: int,
          **params) -> dict:
    return {"kind": kind, "subject": subject, "counterparty": counterparty, "onset": iso(onset),
            "deadline": iso(last + GRACE), "params": params}


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _intl(rng: np.random.Generator, cc: str, digits: int) -> str:
    return phonebook.international(rng, cc, 1, digits)[0]


# -- voip_box -------------------------------------------------------------------------------
def voip_box(ctx: Context, i: int, n: int) -> dict:
    """A residential line turned into a SIM/VoIP gateway placing calls for someone else."""
    rng, ev = ctx.rng, ctx.events
    line_i = ctx.pop.claim(rng, "residential", 1, sip=True)[0]
    line = ctx.number(line_i)
    span = min(rng.uniform(1.5, 4.0) * 86400, ctx.period * 0.6)
    onset = ctx.onset(i, n, span)
    # intensity tiers: a strong box (30-60 calls/h) is easy, a weak one (3-6/h) is not
    tier = str(rng.choice(["strong", "medium", "weak"], p=[0.4, 0.3, 0.3]))
    rate = round(_loguniform(rng, *VOIP_TIERS[tier]), 1)
    answer_p = round(float(rng.uniform(0.12, 0.4)), 2)
    intl_share = round(float(rng.uniform(0.05, 0.3)), 2)
    first_hour = int(rng.choice([19, 20, 21, 22, 23]))
    hours = int(rng.integers(8, 15))
    agent = BOX_AGENTS[int(rng.integers(0, len(BOX_AGENTS)))]
    box_ip = ctx.ip(FOREIGN_NETS)
    end_of_activity = min(onset + span, ctx.t_end - 60)
    # the box registers the line from its own address, replacing the home gateway
    reg_t = onset
    ev.registration(reg_t, line, box_ip, agent, 401)
    ev.registration(reg_t + 1, line, box_ip, agent, 200, 1800)
    t = reg_t + 1800
    while t < end_of_activity:
        ev.registration(t, line, box_ip, agent, 200, 1800)
        t += 1800
    ev.registration_gaps.append((line, reg_t, int(end_of_activity) + 1))
    # sessions: every night-and-day block of `hours` hours from `first_hour` local time
    local_midnight = (onset + 8 * 3600) // 86400 * 86400 - 8 * 3600
    session = local_midnight + first_hour * 3600
    if session + hours * 3600 < onset:
        session += 86400
    calls, callees, last, active = 0, set(), onset, 0
    while session < end_of_activity:
        a, b = max(session, onset + 60), min(session + hours * 3600, end_of_activity)
        if b > a:
            active += int(b - a)
            k = int(rng.poisson(rate * (b - a) / 3600))
            starts = np.sort(rng.integers(a, b, k))
            dest = rng.random(k)
            for s, d in zip(starts.tolist(), dest.tolist(), strict=True):
                if d < intl_share:
                    cc, digits = [("1", 10), ("44", 10), ("81", 10), ("60", 9), ("66", 9),
                                  ("84", 9)][int(rng.integers(0, 6))]
                    callee = "00" + cc + str(int(rng.integers(10 ** (digits - 1), 10 ** digits)))
                elif d < intl_share + 0.3:
                    callee = str(phonebook.other_provinces(rng, 1)[0])
                else:
                    callee = str(phonebook.mobiles(rng, 1)[0])
                answered = rng.random() < answer_p
                disp = "ANSWERED" if answered else str(rng.choice(["NO ANSWER", "BUSY", "FAILED",
                                                                   "CANCELLED"],
                                                                  p=[0.5, 0.2, 0.15, 0.15]))
                dur = int(max(1, round(28 * rng.lognormal(0, 0.8)))) if answered else 0
                last = max(last, ev.call(s, line, callee, dur, disp, "access", "residential",
                                         "", agent, box_ip))
                calls += 1
                callees.add(callee)
            ev.busy_windows.append((line, a, b))
            # the household's own callers find the line engaged
            for s in rng.integers(a, b, int(rng.integers(1, 4))).tolist():
                ev.call(s, str(phonebook.mobiles(rng, 1)[0]), line, 0, "BUSY", "domestic", "",
                        "residential")
        session += 86400
    return label("voip_box", line, None, onset, last, tier=tier, rate_per_hour=rate,
                 answer_ratio=answer_p,
                 international_share=intl_share, calls=calls, distinct_callees=len(callees),
                 active_hours=[first_hour, (first_hour + hours) % 24], active_seconds=active,
                 box_ip=box_ip,
                 box_user_agent=agent, home_ip=str(ctx.pop.device_ip[line_i]),
                 home_user_agent=str(ctx.pop.user_agent[line_i]))


# -- harassment -----------------------------------------------------------------------------
def _daytime(rng: np.random.Generator, day_start_local: int) -> int:
    return int(day_start_local + rng.integers(8 * 3600 + 1800, 21 * 3600))


def courier_harassment(ctx: Context, i: int, n: int) -> dict:
    """A courier organisation's hotlines and agents keep calling one customer."""
    rng, ev = ctx.rng, ctx.events
    victim = ctx.number(ctx.pop.claim(rng, "mobile", 1)[0])
    span = min(rng.uniform(5, 8) * 86400, ctx.period * 0.9)
    onset_day = ctx.onset(i, n, span)
    per_week = round(float(rng.uniform(20, 40)), 1)
    total = max(8, int(round(per_week * span / (7 * 86400))))
    agents = [str(x) for x in phonebook.mobiles(rng, int(rng.integers(3, 7)))]
    numbers = list(COURIER_HOTLINES) + agents
    day0 = (onset_day + 8 * 3600) // 86400 * 86400 - 8 * 3600
    ndays = max(1, int(np.ceil(span / 86400)))
    times = sorted(_daytime(rng, day0 + 86400 * int(d)) for d in rng.integers(0, ndays, total))
    times = [t for t in times if ctx.t_start <= t < ctx.t_end - 120] or [
        min(onset_day, ctx.t_end - 600)]
    feedback_after = int(rng.integers(6, 13))
    call_times, last, feedback_t = [], 0, None
    for k, t in enumerate(times):
        caller = COURIER_HOTLINES[int(rng.integers(0, 2))] if rng.random() < 0.6 \
            else agents[int(rng.integers(0, len(agents)))]
        disp = str(rng.choice(["BUSY", "NO ANSWER", "CANCELLED", "ANSWERED"],
                              p=[0.35, 0.3, 0.1, 0.25]))
        dur = int(rng.integers(5, 26)) if disp == "ANSWERED" else 0
        last = max(last, ev.call(t, caller, victim, dur, disp, "domestic", "", "mobile"))
        call_times.append(iso(t))
        if k + 1 == feedback_after:
            feedback_t = t + int(rng.integers(600, 7200))
            ev.feedback(feedback_t, victim, "not_me", ORGANISATION)
    return label("harassment", victim, ORGANISATION, times[0], last, variant="courier",
                 calls=len(times), calls_per_week=per_week, numbers=numbers,
                 call_times=call_times,
                 feedback_time=iso(feedback_t) if feedback_t else None)


def stalker(ctx: Context, i: int, n: int) -> dict:
    """One number calling one subscriber many times a day, mostly rejected."""
    rng, ev = ctx.rng, ctx.events
    victim_i = ctx.pop.claim(rng, "mobile" if rng.random() < 0.7 else "residential", 1)[0]
    victim, line = ctx.number(victim_i), str(ctx.pop.line_types[victim_i])
    caller = str(phonebook.mobiles(rng, 1)[0])
    days = int(rng.integers(2, 6))
    span = min(days * 86400, ctx.period * 0.8)
    onset = ctx.onset(i, n, span)
    per_day = int(rng.integers(8, 31))
    times = sorted(int(t) for t in rng.integers(onset, onset + span, int(per_day * span / 86400)))
    times = [t for t in times if t < ctx.t_end - 120] or [onset]
    call_times, last = [], 0
    for k, t in enumerate(times):
        disp = str(rng.choice(["BUSY", "NO ANSWER", "CANCELLED", "ANSWERED"],
                              p=[0.4, 0.3, 0.1, 0.2]))
        dur = int(rng.integers(3, 40)) if disp == "ANSWERED" else 0
        last = max(last, ev.call(t, caller, victim, dur, disp, "domestic", "", line))
        call_times.append(iso(t))
        if k == len(times) // 3:
            ev.feedback(t + int(rng.integers(300, 3600)), victim, "complaint", caller)
    return label("harassment", victim, caller, times[0], last, variant="stalker",
                 calls=len(times), calls_per_day=per_day, numbers=[caller],
                 call_times=call_times)


def harassment(ctx: Context, i: int, n: int) -> dict:
    return (courier_harassment if i % 2 == 0 else stalker)(ctx, i, n)


# -- intl_fraud -----------------------------------------------------------------------------
def _spray(ctx: Context, caller: str, victims: list[int], onset: int, span: int,
           answer_p: float, median: float, disposition: str | None = None) -> tuple[int, int]:
    """Calls from ``caller`` to each victim; returns (first start, last end)."""
    rng, ev = ctx.rng, ctx.events
    last = onset
    starts = sorted(rng.integers(onset, onset + span, len(victims)).tolist())
    for v, t in zip(victims, starts, strict=True):
        if disposition:
            disp = disposition
        else:
            disp = "ANSWERED" if rng.random() < answer_p else str(
                rng.choice(["NO ANSWER", "BUSY", "CANCELLED"], p=[0.6, 0.2, 0.2]))
        dur = int(max(1, round(median * rng.lognormal(0, 0.8)))) if disp == "ANSWERED" else 0
        last = max(last, ev.call(t, caller, ctx.number(v), dur, disp, "international", "",
                                 str(ctx.pop.line_types[v])))
    return starts[0], last


def intl_campaign(ctx: Context, i: int, n: int) -> dict:
    rng = ctx.rng
    cc, digits = HIGH_RISK[int(rng.integers(0, len(HIGH_RISK)))]
    caller = _intl(rng, cc, digits)
    k = int(rng.integers(20, 151))
    span = int(rng.uniform(1, 6) * 3600)
    onset = ctx.onset(i, n, span)
    victims = ctx.victims(k)
    first, last = _spray(ctx, caller, victims, onset, span, 0.3, 90)
    return label("intl_fraud", caller, None, first, last, variant="campaign",
                 origin=cc, calls=len(victims), victims=[ctx.number(v) for v in victims])


def wangiri(ctx: Context, i: int, n: int) -> dict:
    rng = ctx.rng
    cc, digits = WANGIRI[int(rng.integers(0, len(WANGIRI)))]
    caller = _intl(rng, cc, digits)
    k = int(rng.integers(40, 201))
    span = int(rng.uniform(1, 3) * 3600)
    onset = ctx.onset(i, n, span)
    victims = ctx.victims(k)
    first, last = _spray(ctx, caller, victims, onset, span, 0.0, 0, disposition="CANCELLED")
    return label("intl_fraud", caller, None, first, last, variant="wangiri",
                 origin=cc, calls=len(victims), victims=[ctx.number(v) for v in victims])


def spoofed_cli(ctx: Context, i: int, n: int) -> dict:
    rng = ctx.rng
    mobile = str(phonebook.mobiles(rng, 1)[0])
    caller = [f"+86{mobile}", mobile, f"0086{mobile}"][int(rng.integers(0, 3))]
    k = int(rng.integers(3, 21))
    span = int(rng.uniform(1, 4) * 3600)
    onset = ctx.onset(i, n, span)
    victims = ctx.victims(k)
    first, last = _spray(ctx, caller, victims, onset, span, 0.5, 120)
    return label("intl_fraud", caller, None, first, last,
                 variant="spoofed_cli", calls=len(victims),
                 victims=[ctx.number(v) for v in victims])


def malformed(ctx: Context, i: int, n: int) -> dict:
    rng = ctx.rng
    if rng.random() < 0.5:
        cc = UNASSIGNED[int(rng.integers(0, len(UNASSIGNED)))]
        caller = "+" + cc + str(int(rng.integers(10 ** 7, 10 ** 9)))
        why = "unassigned country code"
    else:
        caller = "+855" + str(int(rng.integers(10 ** 12, 10 ** 13)))  # 16 digits: over-long
        why = "over 15 digits"
    k = int(rng.integers(5, 31))
    span = int(rng.uniform(1, 4) * 3600)
    onset = ctx.onset(i, n, span)
    victims = ctx.victims(k)
    first, last = _spray(ctx, caller, victims, onset, span, 0.25, 60)
    return label("intl_fraud", caller, None, first, last, variant="malformed",
                 why=why, calls=len(victims), victims=[ctx.number(v) for v in victims])


def hotline_followup(ctx: Context, i: int, n: int) -> dict:
    """The victim reports a lost parcel to 95353; hours later a foreign number calls them."""
    rng, ev = ctx.rng, ctx.events
    victim_i = ctx.pop.claim(rng, "mobile", 1)[0]
    victim = ctx.number(victim_i)
    gap = int(rng.uniform(0.5, 6) * 3600)
    onset_hotline = ctx.onset(i, n, gap + 3 * 3600)
    hotline = COURIER_HOTLINES[int(rng.integers(0, 2))]
    ev.call(onset_hotline, victim, hotline, int(rng.integers(120, 401)), "ANSWERED", "access",
            "mobile", "")
    cc, digits = HIGH_RISK[int(rng.integers(0, len(HIGH_RISK)))]
    caller = _intl(rng, cc, digits)
    t = first = onset_hotline + gap
    if rng.random() < 0.4:  # a first attempt that is not picked up
        ev.call(t, caller, victim, 0, "NO ANSWER", "international", "", "mobile")
        t += int(rng.integers(120, 1200))
    last = ev.call(t, caller, victim, int(rng.integers(600, 2401)), "ANSWERED", "international",
                   "", "mobile")
    ev.feedback(last + int(rng.integers(3600, 6 * 3600)), victim, "complaint", caller)
    return label("intl_fraud", caller, victim, first, last,
                 variant="hotline_followup", origin=cc, hotline=hotline,
                 hotline_call=iso(onset_hotline), victims=[victim])


INTL_VARIANTS = (intl_campaign, wangiri, spoofed_cli, malformed, hotline_followup)


def intl_fraud(ctx: Context, i: int, n: int) -> dict:
    return INTL_VARIANTS[i % len(INTL_VARIANTS)](ctx, i, n)


# -- SMS ------------------------------------------------------------------------------------
def sms_bombing(ctx: Context, i: int, n: int) -> dict:
    """50-80 verification codes from many ports to one number in 20-40 minutes."""
    rng, ev = ctx.rng, ctx.events
    victim = ctx.number(ctx.pop.claim(rng, "mobile", 1)[0])
    messages = int(rng.integers(50, 81))
    window = int(rng.integers(20, 41)) * 60
    onset = ctx.onset(i, n, window)
    n_ports = int(rng.integers(20, min(messages, 60) + 1))
    ports = list(ctx.bg.otp_ports[rng.permutation(len(ctx.bg.otp_ports))[:n_ports]])
    while len(ports) < n_ports:
        port = phonebook.sms_port(rng, str(rng.choice(["1069", "1065", "10690"])))
        if port not in ports:
            ports.append(port)
    # every port sends at least once, the rest at random
    senders = ports + [ports[j] for j in rng.integers(0, n_ports, messages - n_ports).tolist()]
    senders = [senders[j] for j in rng.permutation(messages).tolist()]
    times = np.sort(rng.integers(onset, onset + window, messages)).tolist()
    times[0] = onset
    platform = rng.integers(0, len(texts.PLATFORMS), messages)
    bodies = texts.otp_texts(rng, platform, rng.integers(0, 1_000_000, messages))
    for t, s, body in zip(times, senders, bodies, strict=True):
        ev.sms(t, s, victim, body)
    bank = None
    if rng.random() < 0.5:
        number, name = texts.BANKS[int(rng.integers(0, len(texts.BANKS)))]
        bank = number
        ev.sms(int(rng.integers(onset, onset + window)), number, victim,
               f"【{name}】您正在进行转账操作，验证码{int(rng.integers(0, 10**6)):06d}，"
               "切勿告知他人。")
    if rng.random() < 0.5:  # some victims call the operator about it
        ev.feedback(max(times) + int(rng.integers(600, 4 * 3600)), victim, "complaint")
    return label("sms_bombing", victim, None, onset, max(times), messages=messages,
                 ports=n_ports, window_minutes=window // 60, bank_message=bank)


def optout_violation(ctx: Context, i: int, n: int) -> dict:
    """A marketing port keeps sending after the recipient replied an unsubscribe word."""
    rng, ev = ctx.rng, ctx.events
    victim = ctx.number(ctx.pop.claim(rng, "mobile", 1)[0])
    port = phonebook.sms_port(rng, str(rng.choice(["1065", "1069"])))
    brand = int(rng.integers(0, len(texts.BRANDS)))
    span = min(rng.uniform(1.5, 4) * 86400, ctx.period * 0.8)
    base = ctx.onset(i, n, span)
    before = int(rng.integers(1, 4))
    lo = max(base - 2 * 86400, ctx.t_start)
    for t in sorted(rng.integers(lo, max(lo + 1, base - 600), before).tolist()):
        ev.sms(t, port, victim, texts.marketing_texts(rng, np.array([brand]))[0])
    word = texts.UNSUBSCRIBE_WORDS[int(rng.integers(0, len(texts.UNSUBSCRIBE_WORDS)))]
    ev.sms(base, victim, port, word, "mo")
    confirmed = bool(rng.random() < 0.5)
    if confirmed:
        ev.sms(base + int(rng.integers(5, 60)), port, victim,
               texts.CONFIRM_CN.format(b=texts.BRANDS[brand]))
    after = int(rng.integers(2, 7))
    times = sorted(int(t) for t in rng.integers(base + 2 * 3600, base + span, after))
    for t in times:
        ev.sms(t, port, victim, texts.marketing_texts(rng, np.array([brand]))[0])
    ev.feedback(times[-1] + int(rng.integers(600, 7200)), victim, "complaint", port)
    return label("optout_violation", victim, port, times[0], times[-1], word=word,
                 optout_time=iso(base), confirmed=confirmed, messages_after=after,
                 times=[iso(t) for t in times])


# -- sip_scan -------------------------------------------------------------------------------
def sip_scan(ctx: Context, i: int, n: int) -> dict:
    """A scanner sweeps OPTIONS and REGISTER over many extensions (401/403/404 answers)."""
    rng, ev = ctx.rng, ctx.events
    src = ctx.ip(SCAN_NETS)
    agent = SCANNER_AGENTS[int(rng.integers(0, len(SCANNER_AGENTS)))]
    targets = int(rng.integers(200, 1501))
    per_s = float(rng.uniform(5, 60))
    span = int(targets * 2 / per_s) + 60
    onset = ctx.onset(i, n, span)
    first_ext = int(rng.choice([100, 1000, 2000, 8000]))
    times = (onset + np.cumsum(rng.exponential(1 / per_s, 2 * targets))).astype(np.int64)
    for k in range(targets):
        ev.options.append((int(times[k]), src, str(first_ext + k), agent))
    statuses = rng.choice([404, 401, 403], targets, p=[0.7, 0.2, 0.1])
    for k in range(targets):
        ev.registration(int(times[targets + k]), str(first_ext + k), src, agent,
                        int(statuses[k]))
    t = int(times[-1])
    return label("sip_scan", src, None, onset, int(t), user_agent=agent, extensions=targets,
                 first_extension=first_ext, rate_per_s=round(per_s, 1),
                 registers=targets, options=targets)


SCENARIOS: dict[str, Callable[[Context, int, int], dict]] = {
    "voip_box": voip_box,
    "harassment": harassment,
    "intl_fraud": intl_fraud,
    "sms_bombing": sms_bombing,
    "optout_violation": optout_violation,
    "sip_scan": sip_scan,
}
MINIMUM = {"intl_fraud": len(INTL_VARIANTS)}


def count_for(rng: np.random.Generator, kind: str, subscribers: int) -> int:
    """About one scenario per 1,000-2,000 subscribers, at least 2 (5 for intl_fraud)."""
    return max(MINIMUM.get(kind, 2), int(round(subscribers / rng.uniform(1000, 2000))))


def inject(ctx: Context) -> list[dict]:
    """All labelled scenarios, ids ``<kind>-<n>``."""
    out = []
    for kind, make in SCENARIOS.items():
        n = count_for(ctx.rng, kind, len(ctx.pop))
        for i in range(n):
            lab = make(ctx, i, n)
            out.append({"id": f"{kind}-{i + 1}", **lab})
    return out
