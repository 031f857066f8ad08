"""When people call: diurnal and weekly rhythm per line type, in local (China) time.

Weights are relative call volumes per local hour (night trough, morning and evening
peaks) and per weekday (business lines go quiet at weekends, households get busier).

>>> import numpy as np
>>> w = HOURLY["residential"]
>>> int(np.argmin(w)) in range(1, 6), int(np.argmax(w)) in range(18, 22)
(True, True)
>>> round(float(HOURLY["business"].sum()), 6)
1.0
"""

from __future__ import annotations

import numpy as np

TZ_OFFSET = 8 * 3600  # China Standard Time, no daylight saving


def _norm(values: list[float]) -> np.ndarray:
    a = np.asarray(values, dtype=float)
    return a / a.sum()


HOURLY: dict[str, np.ndarray] = {
    "residential": _norm([0.25, 0.12, 0.06, 0.05, 0.05, 0.1, 0.4, 1.0, 1.8, 2.3, 2.5, 2.3,
                          1.9, 1.9, 2.1, 2.2, 2.3, 2.6, 3.0, 3.4, 3.3, 2.6, 1.4, 0.6]),
    "mobile": _norm([0.35, 0.15, 0.08, 0.06, 0.06, 0.15, 0.6, 1.5, 2.6, 3.0, 3.1, 2.9,
                     2.4, 2.5, 2.8, 2.9, 2.9, 3.0, 2.9, 2.8, 2.6, 2.1, 1.3, 0.7]),
    "business": _norm([0.02, 0.01, 0.01, 0.01, 0.01, 0.02, 0.1, 0.5, 2.5, 4.0, 4.2, 3.8,
                       1.8, 2.6, 4.0, 4.1, 3.9, 3.2, 1.2, 0.4, 0.2, 0.1, 0.05, 0.03]),
    # A2P traffic (marketing) is sent in office hours and early evening.
    "marketing": _norm([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.2, 1.0, 2.0, 2.5, 2.5,
                        2.0, 2.0, 2.5, 2.5, 2.5, 2.5, 2.5, 2.5, 2.0, 1.0, 0.0, 0.0]),
}
# Monday .. Sunday volume factors.
WEEKLY: dict[str, np.ndarray] = {
    "residential": np.array([0.95, 0.95, 0.95, 0.95, 1.0, 1.2, 1.2]),
    "mobile": np.array([1.0, 1.0, 1.0, 1.0, 1.05, 0.9, 0.85]),
    "business": np.array([1.1, 1.1, 1.1, 1.1, 1.05, 0.3, 0.15]),
    "marketing": np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.1]),
}


def sample_times(rng: np.random.Generator, day_start: int, profile: str, n: int) -> np.ndarray:
    """``n`` integer epoch seconds within the local day starting at ``day_start``."""
    hours = rng.choice(24, n, p=HOURLY[profile])
    return day_start + hours * 3600 + rng.integers(0, 3600, n)


def weekday(day_start: int) -> int:
    """Local weekday (0 = Monday) of a local-midnight epoch."""
    return int(((day_start + TZ_OFFSET) // 86400 + 3) % 7)  # 1970-01-01 was a Thursday
