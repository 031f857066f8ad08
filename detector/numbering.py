"""Numbering plans: normalise a number as presented and say what kind of number it is.

A plan is data (``rules/numbering/*.yaml``); this module only interprets it.

>>> plan = NumberingPlan.load("cn")
>>> plan.classify("+85512345678").category, plan.classify("+85512345678").country
('international', 'KH')
>>> plan.classify("0085512345678").e164
'85512345678'
>>> plan.classify("13812345678").category
'mobile'
>>> info = plan.classify("02161234567"); (info.category, info.area)
('fixed', '21')
>>> plan.classify("95353").category, plan.classify("1069012345").category
('service', 'sms_port')
>>> plan.classify("+8613812345678").category   # a domestic mobile in international format
'mobile'
>>> plan.classify("+99912345").reason
'unassigned country code'
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import yaml

from detector.rulefiles import rules_dir

_SEPARATORS = re.compile(r"[\s\-().]")

CATEGORIES = ("international", "mobile", "fixed", "service", "sms_port", "malformed")


class NumberInfo(NamedTuple):
    """What a number is, according to a numbering plan (immutable: results are cached
    and shared; a named tuple costs a fifth of a frozen dataclass to build)."""

    presented: str
    #: one of :data:`CATEGORIES`
    category: str
    #: full international number, digits only, when it can be known
    e164: str | None = None
    country_code: str | None = None
    #: ISO 3166 alpha-2 region of the country code (``001`` for non-geographic)
    country: str | None = None
    area: str | None = None
    #: True when the number was presented with an international prefix or ``+``
    international_format: bool = False
    #: why a number is ``malformed``
    reason: str | None = None

    @property
    def domestic(self) -> bool:
        return self.category not in ("international", "malformed")


@lru_cache(maxsize=4)
def load_country_codes(path: str | None = None) -> dict[str, tuple[str, ...]]:
    p = Path(path) if path else rules_dir() / "e164_country_codes.yaml"
    data = yaml.safe_load(p.read_text(encoding="utf-8"))
    return {str(k): tuple(v) for k, v in data["country_codes"].items()}


class NumberingPlan:
    """A country's numbering plan, loaded from YAML.

    Parameters
    ----------
    spec
        The parsed plan (see ``rules/numbering/cn.yaml``).
    country_codes
        E.164 country code -> regions.
    cache_size
        Numbers repeat heavily in traffic; classification results are memoised.
    """

    def __init__(self, spec: dict, country_codes: dict[str, tuple[str, ...]],
                 cache_size: int = 1 << 18) -> None:
        self.name = spec["plan"]
        self.country_code = str(spec["country_code"])
        self.international_prefix = str(spec["international_prefix"])
        self.trunk_prefix = str(spec.get("trunk_prefix") or "")
        self.max_national_length = int(spec.get("max_national_length", 14))
        self.min_national_length = int(spec.get("min_national_length", 3))
        self.country_codes = country_codes
        self._categories = [
            (c["name"], re.compile(c["pattern"]), c.get("trunk", "optional"))
            for c in spec["categories"]
        ]
        # the categories a number may take with and without its trunk prefix, in plan
        # order, each with its pattern's fullmatch and whether it names an area
        self._with_trunk, self._without_trunk = (
            tuple((name, pattern.fullmatch, "area" in pattern.groupindex)
                  for name, pattern, rule in self._categories if rule != skip)
            for skip in ("forbidden", "required"))
        self._own_country = self.country_codes.get(self.country_code, (None,))[0]
        self.classify = lru_cache(maxsize=cache_size)(self._classify)

    @classmethod
    def load(cls, name_or_path: str, rules: Path | None = None) -> NumberingPlan:
        p = Path(name_or_path)
        if not p.suffix:
            p = (rules or rules_dir()) / "numbering" / f"{name_or_path}.yaml"
        spec = yaml.safe_load(p.read_text(encoding="utf-8"))
        cc_path = (rules or rules_dir()) / "e164_country_codes.yaml"
        return cls(spec, load_country_codes(str(cc_path)))

    def split_country_code(self, digits: str) -> str | None:
        for n in (1, 2, 3):
            if digits[:n] in self.country_codes:
                return digits[:n]
        return None

    def _classify(self, presented: str) -> NumberInfo:
        # most numbers are plain digits: nothing to strip (no separator is a digit)
        number = presented if presented.isdigit() else _SEPARATORS.sub("", presented)
        if number.startswith("+"):
            return self._international(presented, number[1:])
        if self.international_prefix and number.startswith(self.international_prefix):
            return self._international(presented, number[len(self.international_prefix):])
        if not number.isdigit() or not number.isascii():
            return NumberInfo(presented, "malformed", reason="not a number")
        if self.trunk_prefix and number.startswith(self.trunk_prefix):
            info = self._national(presented, number[len(self.trunk_prefix):], trunk=True)
            if info.category != "malformed":
                return info
        return self._national(presented, number, trunk=False)

    def _international(self, presented: str, digits: str) -> NumberInfo:
        if not digits.isdigit() or not digits.isascii():
            return NumberInfo(presented, "malformed", international_format=True,
                              reason="non-digits after international prefix")
        cc = self.split_country_code(digits)
        if cc is None:
            return NumberInfo(presented, "malformed", international_format=True,
                              reason="unassigned country code")
        if len(digits) > 15:
            return NumberInfo(presented, "malformed", country_code=cc,
                              country=self.country_codes[cc][0], international_format=True,
                              reason="longer than E.164 allows")
        if len(digits) - len(cc) < 4:
            return NumberInfo(presented, "malformed", country_code=cc,
                              country=self.country_codes[cc][0], international_format=True,
                              reason="too short")
        if cc == self.country_code:
            national = self._national(presented, digits[len(cc):], trunk=False)
            if national.category == "malformed":
                return NumberInfo(presented, "malformed", e164=digits, country_code=cc,
                                  country=self.country_codes[cc][0], international_format=True,
                                  reason="impossible domestic number")
            return NumberInfo(presented, national.category, e164=digits, country_code=cc,
                              country=national.country, area=national.area,
                              international_format=True)
        return NumberInfo(presented, "international", e164=digits, country_code=cc,
                          country=self.country_codes[cc][0], international_format=True)

    def _national(self, presented: str, nsn: str, trunk: bool) -> NumberInfo:
        if not (self.min_national_length <= len(nsn) <= self.max_national_length):
            return NumberInfo(presented, "malformed", reason="impossible length")
        for name, fullmatch, has_area in self._with_trunk if trunk else self._without_trunk:
            m = fullmatch(nsn)
            if m:
                return NumberInfo(presented, name, self.country_code + nsn, self.country_code,
                                  self._own_country, m["area"] if has_area else None)
        return NumberInfo(presented, "malformed", reason="matches no category of the plan")
