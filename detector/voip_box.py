"""VoIP / SIM box: a low-volume line whose outbound calling turns into a gateway's.

A box placing calls for someone else on a household's line leaves several traces, each
weak alone: many outbound calls against the line's own history, many distinct callees,
mostly short or unanswered calls, destinations and hours the line never used, the
household's own callers finding the line BUSY, and a new device (SIP User-Agent) or a
registration from an address prefix (/16) the line never used, often a known gateway
product (list ``gateway_user_agents``). Each signal that fires adds its weight (rule
params ``weights``) to the score; the rule raises when the score reaches ``threshold``
and names the signals and the baselines they were measured against. A population model
(:class:`~detector.models.population.LinePopulationModel`) may add its own signal.

Business lines (``caller_line: business``) and lines whose long-run rate is already
high (``high_volume_rate``: call centres, PBXs) are not judged on volume.

State is keyed by the line: a sliding window of its recent outbound calls, a decaying
hourly rate, a 24-bit mask of the local hours it used, small sets of its destinations,
User-Agents and /16 prefixes.

>>> from detector.rulefiles import RuleSet
>>> from detector.records import Call, Registration
>>> d = VoipBox(RuleSet.load())
>>> line = "02161234567"
>>> for day in range(3):              # an ordinary household: a registration and a call a day
...     _ = d.on_registration(Registration(time=day * 86400.0, line=line,
...                           contact_ip="58.32.1.2", user_agent="ZTE ZXHN F660", status=200))
...     _ = d.on_call(Call(start=day * 86400.0 + 36000, caller=line, callee="13800000001",
...                   duration=120, ingress="access", caller_line="residential"))
>>> out = list(d.on_registration(Registration(time=3 * 86400.0, line=line,
...            contact_ip="103.216.7.9", user_agent="GoIP-8 GST1610", status=200)))
>>> [(a.subject, a.severity) for a in out], sorted(out[0].evidence["signals"])
([('02161234567', 'warning')], ['gateway_agent', 'new_device', 'new_network'])
"""

from __future__ import annotations

import re
from collections import deque

import numpy as np
import polars as pl

from detector.alerts import Alert, iso
from detector.base import NO_ALERTS, Detector
from detector.records import Call, Registration
from detector.rulefiles import RuleSet, parse_duration
from detector.windows import DecayingRate, SlidingWindow

SIGNALS = ("rate", "high_rate", "distinct_callees", "failed_share", "new_destinations", "odd_hours",
           "busy_inbound", "new_device", "new_network", "gateway_agent", "population_model")
_MAX_SET = 16  # cap of each per-line set: memory per line stays small whatever happens


def net16(address: str) -> str:
    """The /16 prefix of an IPv4 address (first two octets), or the first 4 groups of IPv6.

    >>> net16("103.216.7.9"), net16("2001:db8:1:2::5"), net16("")
    ('103.216', '2001:db8:1:2', '')
    """
    if ":" in address:
        return ":".join(address.split(":")[:4])
    head, _, rest = address.partition(".")
    return f"{head}.{rest.partition('.')[0]}" if rest else head


class _Line:
    """What the detector remembers about one line."""

    __slots__ = ("calls", "rate", "hours", "history", "dests", "window_new_dests", "agents",
                 "nets", "device_time", "device_signals", "device_ref", "busy_in", "last_time",
                 "last_device", "first_time")

    def __init__(self, width: float, half_life: float, t: float) -> None:
        # outbound calls (value callee, flag failed); None while idle: an empty deque alone
        # costs 600 bytes, and most lines are idle most of the time
        self.calls: SlidingWindow | None = None
        self.rate = DecayingRate(half_life, 0.0, t)
        self.hours = 0                          # bit h set: the line called at local hour h
        self.history = 0                        # outbound calls seen before
        # small tuples, not sets: a line has a handful of each, and a tuple of one costs
        # a fifth of an empty set
        self.dests: tuple[str, ...] = ()
        self.window_new_dests: deque[float] | tuple = ()  # times of calls to new destinations
        self.agents: tuple[str, ...] = ()
        self.nets: tuple[str, ...] = ()
        self.device_time = float("-inf")        # when a new device / address appeared
        self.device_signals: tuple[str, ...] = ()
        self.device_ref = ""
        self.busy_in: deque[float] | tuple = ()  # inbound calls that found the line BUSY
        self.last_time = t
        self.first_time = t
        self.last_device: tuple[str, str] = ("", "")


class VoipBox(Detector):
    """Raises ``voip_box`` alerts: subject = the line; counterparty = None."""

    kind = "voip_box"

    def __init__(self, rules: RuleSet, population_model=None) -> None:
        super().__init__(rules)
        p = self.rule.params
        self.width = parse_duration(p["window"])
        self.half_life = parse_duration(p["baseline_half_life"])
        self.min_calls = int(p["min_calls"])
        self.rate_factor = float(p["rate_factor"])
        self.baseline_floor = float(p["baseline_floor_per_hour"])
        self.high_rate_factor = float(p["high_rate_factor"])
        self.high_volume_rate = float(p["high_volume_rate"])
        self.high_volume_history = parse_duration(p["high_volume_history"])
        self.distinct_share = float(p["distinct_share"])
        self.failed_share = float(p["failed_share"])
        self.short_call = parse_duration(p["short_call"])
        self.min_new_destinations = int(p["min_new_destinations"])
        self.min_history = int(p["min_history_calls"])
        self.min_busy = int(p["min_busy_inbound"])
        self.device_memory = parse_duration(p["device_memory"])
        self.threshold = float(p["threshold"])
        self.critical_score = float(p["critical_score"])
        self.utc_offset = parse_duration(p["local_utc_offset"])
        self.skip_lines = frozenset(p["exempt_line_types"])
        weights = p["weights"]
        self.weights = {s: float(weights.get(s, 0.0)) for s in SIGNALS}
        self.model_threshold = float(p["model_threshold"])
        self.learn_every = int(p["model_learn_every"])
        self._learn_tick = 0
        if population_model is None and self.weights["population_model"] > 0:
            from detector.models.population import LinePopulationModel

            population_model = LinePopulationModel(seed=int(p["model_seed"]))
        self.model = population_model
        agents = [str(a) for a in rules.list("gateway_user_agents", [])]
        self.gateway_agents = (re.compile("|".join(f"(?:{a})" for a in agents), re.IGNORECASE)
                               if agents else None)
        self.plan = rules.numbering_plan()
        # callee -> destination (country / area / category): classifying costs ~15 us
        self._destinations: dict[str, str] = {}
        # what one call adds to the decaying hourly rate (see DecayingRate.rate)
        self._per_call_rate = 3600.0 * 0.6931471805599453 / self.half_life
        self.lines: dict[str, _Line] = {}
        # sweeping costs O(lines): a few times a day is enough (state lives at most this
        # much longer than it must)
        self.sweep_every = parse_duration(p["sweep_every"])
        self._next_sweep = float("-inf")
        self._window_text = str(p["window"])

    # -- records -----------------------------------------------------------------------
    def on_call(self, call: Call) -> list[Alert] | tuple:
        if call.ingress != "access":
            # a call reaching the line: the household's callers find it BUSY
            if call.disposition == "BUSY":
                line = self.lines.get(call.callee)
                if line is not None and line.calls is not None and line.calls.events:
                    if not line.busy_in:
                        line.busy_in = deque()
                    line.busy_in.append(call.start)
            return NO_ALERTS
        if call.caller_line in self.skip_lines:
            return NO_ALERTS
        t = call.start
        number = call.caller
        line = self.lines.get(number)
        if line is None:
            line = self.lines[number] = _Line(self.width, self.half_life, t)
        line.last_time = t
        failed = call.disposition != "ANSWERED" or call.duration < self.short_call
        calls = line.calls
        if calls is None:
            calls = line.calls = SlidingWindow(self.width)
        # SlidingWindow.add and DecayingRate.add, inlined: this runs for every call of
        # every judged line (14.8 -> 11.1 us per call measured, bench/RESULTS.md)
        callee = call.callee
        events, values = calls.events, calls.values
        events.append((t, callee, 1 if failed else 0, call.ref))
        values[callee] = values.get(callee, 0) + 1
        if failed:
            calls.flagged += 1
        if events[0][0] < t - self.width:
            calls.slide(t)
        rate = line.rate
        if t > rate.time:
            rate.value = rate.value * 0.5 ** ((t - rate.time) / rate.half_life) + 1.0
            rate.time = t
        else:
            rate.value += 1.0
        hour_bit = 1 << int(((t + self.utc_offset) % 86400) // 3600)
        odd_hour = line.history >= self.min_history and not line.hours & hour_bit
        line.hours |= hour_bit
        line.history += 1
        dest = self._destinations.get(callee)  # hit without a method call; see _destination
        if dest is None:
            dest = self._destination(callee)
        if dest not in line.dests:
            if line.history > self.min_history:
                if not line.window_new_dests:
                    line.window_new_dests = deque()
                line.window_new_dests.append(t)
            if len(line.dests) < _MAX_SET:
                line.dests += (dest,)
        if call.user_agent or call.src_ip:
            self._device(line, t, call.user_agent, call.src_ip, call.ref)
        if self.model is not None:
            # the population model learns from a sample of every line's windows (not only
            # the suspicious ones it is asked to score)
            self._learn_tick += 1
            if self._learn_tick >= self.learn_every:
                self._learn_tick = 0
                self.model.learn_one(self._features(line, t, odd_hour, self._baseline(line, t)))
        if len(events) < self.min_calls and t - line.device_time > self.device_memory:
            return NO_ALERTS  # the cheap exit: most lines, most calls
        return self._judge(number, line, t, odd_hour)

    def columns(self, kind: str) -> dict[str, pl.Expr]:
        if kind != "call":
            return {}
        return {"judged": self._judged_calls(),
                "busy": (pl.col("ingress") != "access") & (pl.col("disposition") == "BUSY")}

    def selects(self, kind: str, frame: pl.DataFrame,
                segment: dict[str, pl.DataFrame]) -> pl.Expr | pl.Series | None:
        """Calls: outbound calls of lines it judges, and inbound calls that found a line
        BUSY (see :meth:`on_call`'s early returns). Registrations: accepted ones, except a
        known line's re-registration from its last device while the line places no call
        and shows no other device in this segment: that only marks the line alive
        (:meth:`absorb`)."""
        if kind == "call":
            chosen = self.column(kind, frame, "judged").to_numpy().copy()
            busy = np.flatnonzero(self.column(kind, frame, "busy").to_numpy())
            if len(busy):
                # a BUSY only counts for a line with calls: one known now or calling in
                # this segment
                calling = set(frame.get_column("caller").filter(pl.Series(chosen)).to_list())
                lines = self.lines
                callees = frame.get_column("callee").gather(busy).to_list()
                chosen[busy[np.fromiter((c in lines or c in calling for c in callees), bool,
                                        len(callees))]] = True
            return pl.Series(chosen)
        if kind != "registration":
            return None
        accepted = frame.select((pl.col("status").is_null() | (pl.col("status") < 300))
                                .alias("ok"), pl.col("line"),
                                pl.struct("user_agent", "contact_ip").n_unique().over("line")
                                .alias("devices"))
        calls = segment.get("call")
        calling = (set() if calls is None else
                   set(calls.get_column("caller").filter(self.column("call", calls, "judged"))
                       .to_list()))
        lines = self.lines
        chosen = []
        for ok, number, devices, agent, address in zip(
                accepted.get_column("ok").to_list(), accepted.get_column("line").to_list(),
                accepted.get_column("devices").to_list(), frame.get_column("user_agent").to_list(),
                frame.get_column("contact_ip").to_list(), strict=True):
            if not ok:
                chosen.append(False)
                continue
            line = lines.get(number)
            chosen.append(line is None or devices > 1 or number in calling
                          or line.last_device != (agent, address))
        return pl.Series(chosen, dtype=pl.Boolean)

    def absorb(self, kind: str, frame: pl.DataFrame, selected: np.ndarray) -> None:
        if kind != "registration" or selected.all():
            return
        alive = frame.filter(pl.Series(~selected)
                             & (pl.col("status").is_null() | (pl.col("status") < 300)))
        lines = self.lines
        for number, t in zip(alive.get_column("line").to_list(),
                             alive.get_column("time").to_list(), strict=True):
            lines[number].last_time = t

    def _judged_calls(self) -> pl.Expr:
        return ((pl.col("ingress") == "access")
                & ~pl.col("caller_line").is_in(sorted(self.skip_lines)))

    def on_registration(self, reg: Registration) -> list[Alert] | tuple:
        if reg.status is not None and reg.status >= 300:
            return NO_ALERTS  # a challenge or a refusal proves nothing about the device
        line = self.lines.get(reg.line)
        if line is None:
            line = self.lines[reg.line] = _Line(self.width, self.half_life, reg.time)
        line.last_time = reg.time
        if not self._device(line, reg.time, reg.user_agent, reg.contact_ip, reg.ref):
            return NO_ALERTS
        return self._judge(reg.line, line, reg.time, False)

    # -- signals -----------------------------------------------------------------------
    def _destination(self, callee: str) -> str:
        """The callee's destination (country, area or category), classified and cached:
        :meth:`on_call` reads the cache first."""
        info = self.plan.classify(callee)
        if info.category == "international":
            dest = "+" + (info.country_code or "?")
        elif info.category == "fixed":
            dest = "0" + (info.area or "")
        else:
            dest = info.category
        if len(self._destinations) >= 100_000:  # bounded: a cache, not state
            self._destinations.clear()
        self._destinations[callee] = dest
        return dest

    def _device(self, line: _Line, t: float, agent: str, address: str, ref: str) -> bool:
        """Learn a device; True when it is new for a line that had one before."""
        device = (agent, address)
        if device == line.last_device:
            return False  # periodic re-registration of the same device: the common case
        line.last_device = device
        net = net16(address) if address else ""
        new_agent = bool(agent) and agent not in line.agents
        new_net = bool(net) and net not in line.nets
        if not (new_agent or new_net):
            return False
        had_device = bool(line.agents or line.nets)
        if new_agent and len(line.agents) < _MAX_SET:
            line.agents += (agent,)
        if new_net and len(line.nets) < _MAX_SET:
            line.nets += (net,)
        if not had_device:
            return False  # the first device we see is the line's baseline
        signals = []
        if new_agent:
            signals.append("new_device")
        if new_net:
            signals.append("new_network")
        if agent and self.gateway_agents is not None and self.gateway_agents.search(agent):
            signals.append("gateway_agent")
        line.device_time = t
        line.device_signals = tuple(signals)
        line.device_ref = ref
        return True

    def _baseline(self, line: _Line, t: float) -> float:
        """The line's hourly rate before its current window (the window's calls removed)."""
        return max(self.baseline_floor,
                   line.rate.rate(t) - (len(line.calls) if line.calls else 0)
                   * self._per_call_rate)

    def _features(self, line: _Line, t: float, odd_hour: bool, baseline: float) -> dict:
        calls = line.calls
        n = len(calls)
        hours = max(self.width / 3600.0, 1e-9)
        return {
            "calls": min(1.0, n / (4.0 * self.min_calls)),
            "distinct": calls.distinct / n if n else 0.0,
            "failed": calls.flagged / n if n else 0.0,
            "new_destinations": min(1.0, len(line.window_new_dests) / n) if n else 0.0,
            "odd_hour": 1.0 if odd_hour else 0.0,
            "busy_inbound": min(1.0, len(line.busy_in) / 3.0),
            "over_baseline": min(1.0, (n / hours) / (self.rate_factor * baseline) / 4.0),
        }

    def _judge(self, number: str, line: _Line, t: float, odd_hour: bool) -> list[Alert] | tuple:
        calls = line.calls
        if calls is None:  # judged on a registration while idle
            calls = line.calls = SlidingWindow(self.width)
        calls.slide(t)
        horizon = t - self.width
        for q in (line.window_new_dests, line.busy_in):
            while q and q[0] < horizon:
                q.popleft()
        n = len(calls)
        w = self.weights
        fired: list[str] = []
        baseline = self._baseline(line, t)
        high_volume = (baseline >= self.high_volume_rate
                       and t - line.first_time >= self.high_volume_history)
        per_hour = n / (self.width / 3600.0)
        if n >= self.min_calls and not high_volume:
            if per_hour >= self.rate_factor * baseline:
                fired.append("rate")
                if per_hour >= self.high_rate_factor * baseline:
                    fired.append("high_rate")
            if calls.distinct >= self.distinct_share * n:
                fired.append("distinct_callees")
            if calls.flagged >= self.failed_share * n:
                fired.append("failed_share")
            if len(line.window_new_dests) >= self.min_new_destinations:
                fired.append("new_destinations")
            if odd_hour:
                fired.append("odd_hours")
            if len(line.busy_in) >= self.min_busy:
                fired.append("busy_inbound")
        device_recent = t - line.device_time <= self.device_memory
        if device_recent:
            fired.extend(line.device_signals)
        model_score = None
        if self.model is not None and n >= self.min_calls:
            reach = round(sum(w[s] for s in fired) + w["population_model"], 6)
            if reach < self.threshold and w["population_model"] >= 0:
                return NO_ALERTS  # below threshold even if the model fired: skip scoring
            x = self._features(line, t, odd_hour, baseline)
            model_score = self.model.score_one(x)
            if model_score >= self.model_threshold:
                fired.append("population_model")
        score = round(sum(w[s] for s in fired), 6)  # 0.2 + 0.15 + 0.3 must equal 0.65
        if score < self.threshold:
            return NO_ALERTS
        severity = "critical" if score >= self.critical_score else self.rule.priority
        if self.repeats(number, None, t, severity):
            return NO_ALERTS
        evidence = {
            "signals": fired,
            "calls": n,
            "window": self._window_text,
            "calls_per_hour": round(per_hour, 2),
            "baseline_per_hour": round(baseline, 3),
            "rate_factor": self.rate_factor,
            "distinct_callees": calls.distinct,
            "failed_calls": calls.flagged,
            "new_destinations": len(line.window_new_dests),
            "busy_inbound": len(line.busy_in),
            "history_calls": line.history,
            "model_score": None if model_score is None else round(model_score, 3),
            "threshold": self.threshold,
            "device_ref": line.device_ref if device_recent else "",
            "first_ref": calls.first_ref,
            "last_ref": calls.last_ref,
            "first_time": iso(calls.events[0][0]) if calls.events else iso(t),
            "last_time": iso(t),
        }
        return [self.alert(number, None, t, score, evidence, severity=severity,
                           signal_list=", ".join(fired), score_text=f"{score:.2f}")]

    # -- housekeeping ------------------------------------------------------------------
    def expire(self, now: float) -> None:
        # a line's history is its baseline: keep it while the decayed rate still says
        # something (a few half-lives), drop it after that
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.sweep_every
        horizon = now - 4 * self.half_life
        idle = now - self.width
        dead = []
        for k, line in self.lines.items():  # one pass: lines are many
            if line.last_time < horizon:
                dead.append(k)
                continue
            calls = line.calls
            if calls is not None and (not calls.events or calls.events[-1][0] < idle):
                line.calls = None
                line.window_new_dests = ()
                line.busy_in = ()
        for k in dead:
            del self.lines[k]

    def tracked(self) -> int:
        return len(self.lines)


DETECTOR = VoipBox
