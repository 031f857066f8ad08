"""Telephone numbers of the China numbering plan (``rules/numbering/cn.yaml``), drawn in bulk.

Mobiles are ``1[3-9]x`` + 8 digits, fixed lines ``0`` + area code + 8 digits, service
hotlines ``95xxx``/``96xxx``/``10xxx``/``400``, A2P SMS ports ``106x``. Generation is
vectorised: a million numbers take well under a second.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> m = mobiles(rng, 3)
>>> [len(x) for x in m], all(x[0] == "1" and x[1] in "3456789" for x in m)
([11, 11, 11], True)
>>> f = fixed_lines(rng, 2, areas=("21",))
>>> [x[:3] for x in f], [len(x) for x in f]
(['021', '021'], [11, 11])
"""

from __future__ import annotations

import numpy as np

# Mobile network prefixes of the three big operators (the first three digits).
MOBILE_PREFIXES = np.array([130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 150, 151, 152, 153,
                            155, 156, 157, 158, 159, 166, 176, 177, 178, 180, 181, 182, 183, 185,
                            186, 187, 188, 189, 191, 198, 199], dtype=np.int64)
# Area codes without the trunk 0, weighted towards the operator's home city (Shanghai).
AREA_CODES = ("21", "10", "755", "20", "571", "25", "28", "27", "512", "532")
AREA_WEIGHTS = np.array([0.55, 0.08, 0.07, 0.06, 0.06, 0.05, 0.04, 0.04, 0.03, 0.02])
HOME_AREA = "21"


def mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` mobile numbers (not necessarily distinct) as a string array."""
    prefix = rng.choice(MOBILE_PREFIXES, n)
    return (prefix * 100_000_000 + rng.integers(0, 100_000_000, n)).astype(str)


def fixed_lines(rng: np.random.Generator, n: int, areas: tuple[str, ...] | None = None,
                weights: np.ndarray | None = None) -> np.ndarray:
    """``n`` fixed-line numbers ``0`` + area + 8 digits (first subscriber digit 2-8)."""
    areas = areas or AREA_CODES
    if weights is None:
        weights = AREA_WEIGHTS if areas == AREA_CODES else np.full(len(areas), 1 / len(areas))
    which = rng.choice(len(areas), n, p=weights)
    local = rng.integers(20_000_000, 89_999_999, n)
    area_ints = np.array([int(a) for a in areas], dtype=np.int64)
    digits = area_ints[which] * 100_000_000 + local
    return np.char.add("0", digits.astype(str))


def other_provinces(rng: np.random.Generator, n: int) -> np.ndarray:
    """Fixed lines outside the home area (long-distance destinations)."""
    areas = tuple(a for a in AREA_CODES if a != HOME_AREA)
    return fixed_lines(rng, n, areas)


def unique(rng: np.random.Generator, make, n: int, exclude: set[str] | None = None) -> np.ndarray:
    """``n`` distinct numbers from generator ``make(rng, k)``, none in ``exclude``."""
    got: list[np.ndarray] = []
    seen = set(exclude or ())
    need = n
    while need > 0:
        batch = make(rng, int(need * 1.1) + 16)
        fresh = []
        for x in batch.tolist():
            if x not in seen:
                seen.add(x)
                fresh.append(x)
                if len(fresh) == need:
                    break
        got.append(np.array(fresh, dtype=object))
        need -= len(fresh)
    return np.concatenate(got) if got else np.array([], dtype=object)


def international(rng: np.random.Generator, country_code: str, n: int, nsn_digits: int = 9,
                  styles: tuple[str, ...] = ("+", "00")) -> list[str]:
    """International numbers ``+CC…``/``00CC…`` as a Chinese switch presents them."""
    style = rng.choice(len(styles), n)
    nsn = rng.integers(10 ** (nsn_digits - 1), 10 ** nsn_digits, n)
    return [f"{styles[s]}{country_code}{x}" for s, x in zip(style.tolist(), nsn.tolist(),
                                                           strict=True)]


def sms_port(rng: np.random.Generator, family: str = "1069") -> str:
    """One A2P SMS port, e.g. ``1069012345678`` (family + 5-9 digits)."""
    width = int(rng.integers(5, 10))
    return family + str(int(rng.integers(10 ** (width - 1), 10 ** width)))
