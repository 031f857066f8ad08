"""Showing phone numbers in clear or masked (``138****5678``).

The report is the operator's own file, so numbers are in clear by default; ``--mask``
hides the middle digits of every number the records or alerts contain, wherever it is
written (subjects, evidence, reasons, record tables).

>>> m = Masker(enabled=True, numbers={"13812345678", "95353"})
>>> m("13812345678"), m("95353"), m("10.0.0.1")
('138****5678', '9***3', '10.0.0.1')
>>> m.text("13812345678 called 95353 at 10:00")
'138****5678 called 9***3 at 10:00'
>>> Masker(enabled=False)("13812345678")
'13812345678'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container
from typing import Any

_DIGITS = re.compile(r"\+?\d{3,}")


def mask_number(number: str) -> str:
    """Hide the middle of a number: first 3 and last 4 kept when long enough."""
    n = len(number)
    if n >= 9:
        return number[:3] + "****" + number[-4:]
    if n >= 3:
        return number[:1] + "*" * (n - 2) + number[-1:]
    return "*" * n


class Masker:
    """Masks the known numbers when enabled; identity otherwise."""

    def __init__(self, enabled: bool, numbers: Container[str] | Callable[[str], bool] = ()):
        self.enabled = enabled
        self._known = numbers if callable(numbers) else numbers.__contains__

    def __call__(self, value: str | None) -> str:
        if value is None:
            return ""
        if self.enabled and (self._known(value) or _looks_like_number(value)):
            return mask_number(value)
        return value

    def text(self, text: str) -> str:
        if not self.enabled or not text:
            return text
        return _DIGITS.sub(lambda m: mask_number(m.group()) if self._known(m.group())
                           or len(m.group().lstrip("+")) >= 7 else m.group(), text)

    def value(self, value: Any) -> Any:
        """Mask numbers anywhere inside an evidence value (lists, dicts, strings)."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return self.text(value) if not self._known(value) else mask_number(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def _looks_like_number(value: str) -> bool:
    v = value.lstrip("+")
    return len(v) >= 5 and v.isdigit()
