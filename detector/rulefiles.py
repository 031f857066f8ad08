"""Finding and reading the rule files (``rules/``): thresholds and lists as data.

Rules follow Falco's shape: each detection kind has a YAML file of named rules with a
description, a priority, parameters and an output template; lists (organisations,
country risk, content patterns, unsubscribe words) are named YAML lists an analyst
can change without touching code.

>>> parse_duration("35m"), parse_duration("7d"), parse_duration(90)
(2100.0, 604800.0, 90.0)
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, None: 1}


def parse_duration(value: str | int | float) -> float:
    """Seconds from ``90``, ``"90s"``, ``"35m"``, ``"2h"``, ``"7d"`` or ``"1w"``."""
    if isinstance(value, int | float):
        return float(value)
    m = _DURATION.match(value)
    if not m:
        raise ValueError(f"not a duration: {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def rules_dir() -> Path:
    """The rules directory: ``$FRAUDWATCH_RULES``, the checkout's ``rules/``, or the installed copy."""
    env = os.environ.get("FRAUDWATCH_RULES")
    if env:
        return Path(env)
    checkout = Path(__file__).resolve().parent.parent / "rules"
    if checkout.is_dir():
        return checkout
    return Path(__file__).resolve().parent.parent / "fraudwatch" / "rules"


class RuleParams(dict):
    """A rule's parameters; a missing one names the rule instead of a bare KeyError.

    Detectors read every threshold from here, never from a default in code, so the
    YAML file is the one place a threshold is set.
    """

    def __init__(self, rule: str, values: dict) -> None:
        super().__init__(values)
        self.rule = rule

    def __missing__(self, key: str):
        raise KeyError(f"rule {self.rule!r} has no parameter {key!r}")


@dataclass
class DetectionRule:
    """One named rule: a detection kind's parameters, priority and output template."""

    rule: str
    kind: str
    desc: str = ""
    priority: str = "warning"
    enabled: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    output: str = ""
    tags: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.params = RuleParams(self.rule, self.params or {})

    def duration(self, name: str) -> float:
        return parse_duration(self.params[name])

    def reason(self, **values: Any) -> str:
        """The rule's output template filled with the evidence."""
        try:
            return self.output.format(**values)
        except (KeyError, IndexError, ValueError):
            return f"{self.rule}: " + ", ".join(f"{k}={v}" for k, v in values.items())


class RuleSet:
    """All rule files of a rules directory.

    >>> rs = RuleSet.load()
    >>> rs.settings["numbering_plan"]
    'cn'
    """

    def __init__(self, root: Path, settings: dict, rules: dict[str, DetectionRule],
                 lists: dict[str, Any]) -> None:
        self.root = root
        self.settings = settings
        self.rules = rules
        self.lists = lists

    @classmethod
    def load(cls, root: Path | str | None = None) -> RuleSet:
        root = Path(root) if root else rules_dir()
        settings = _read(root / "settings.yaml") or {}
        rules: dict[str, DetectionRule] = {}
        for p in sorted((root / "detectors").glob("*.yaml")):
            for entry in _read(p) or []:
                r = DetectionRule(**entry)
                rules[r.kind] = r
        lists: dict[str, Any] = {}
        for p in sorted((root / "lists").glob("*.yaml")):
            data = _read(p) or {}
            lists.update(data)
        return cls(root, settings, rules, lists)

    def rule(self, kind: str) -> DetectionRule:
        return self.rules[kind]

    def list(self, name: str, default: Any = None) -> Any:
        if name not in self.lists and default is None:
            raise KeyError(f"no list {name!r} in {self.root / 'lists'}")
        return self.lists.get(name, default)

    def numbering_plan(self):
        from detector.numbering import NumberingPlan

        return NumberingPlan.load(self.settings.get("numbering_plan", "cn"), rules=self.root)


def _read(path: Path) -> Any:
    if not path.exists():
        return None
    return yaml.safe_load(path.read_text(encoding="utf-8"))
