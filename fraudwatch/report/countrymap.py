"""A map of international call origins by country, drawn offline as SVG.

No map tiles, no network: an equirectangular projection with a graticule, rough
continent outlines (a few dozen points each, enough to orient the eye), and one circle
per origin country at its centre (``centroids.tsv``), its area proportional to the count.

>>> svg = origins_map_svg({"KH": 12, "MM": 3, "ZZ": 1})
>>> svg.count('class="origin"'), "Cambodia" in svg, "ZZ" in svg   # ZZ has no centre
(2, True, True)
"""

from __future__ import annotations

import math
from functools import lru_cache
from html import escape
from pathlib import Path

# Coarse continent outlines as (longitude, latitude) rings: orientation only.
_OUTLINES = {
    "North America": [(-168, 66), (-156, 71), (-128, 70), (-95, 72), (-80, 73), (-62, 66),
                      (-56, 52), (-66, 45), (-70, 41), (-76, 35), (-81, 31), (-80, 25),
                      (-84, 30), (-90, 29), (-97, 26), (-97, 21), (-87, 21), (-88, 16),
                      (-83, 10), (-78, 8), (-80, 7), (-86, 12), (-92, 14), (-105, 20),
                      (-112, 29), (-117, 33), (-124, 40), (-124, 48), (-131, 55),
                      (-146, 61), (-158, 57), (-165, 61)],
    "Greenland": [(-55, 60), (-43, 60), (-20, 70), (-18, 80), (-40, 83), (-62, 81),
                  (-72, 77), (-58, 70)],
    "South America": [(-80, 9), (-72, 12), (-62, 11), (-51, 4), (-35, -6), (-39, -15),
                      (-48, -26), (-58, -35), (-65, -41), (-68, -52), (-71, -54),
                      (-75, -45), (-72, -30), (-71, -18), (-77, -12), (-81, -5),
                      (-79, 1)],
    "Europe": [(-10, 36), (-9, 43), (-2, 44), (-5, 48), (2, 51), (8, 54), (8, 57), (5, 62),
               (14, 67), (25, 71), (40, 68), (55, 69), (60, 60), (50, 45), (42, 42),
               (28, 41), (26, 38), (23, 36), (20, 40), (15, 38), (12, 44), (8, 44),
               (3, 43), (-1, 37)],
    "Africa": [(-17, 21), (-10, 30), (-6, 36), (10, 37), (20, 32), (32, 31), (34, 27),
               (43, 12), (51, 12), (48, 4), (40, -10), (40, -16), (35, -24), (32, -29),
               (26, -34), (18, -34), (12, -18), (14, -10), (9, -1), (9, 4), (5, 6),
               (-8, 4), (-13, 8), (-17, 14)],
    "Asia": [(26, 41), (36, 36), (35, 31), (43, 13), (52, 16), (59, 22), (57, 26),
             (66, 25), (72, 21), (77, 8), (80, 15), (88, 22), (92, 22), (98, 16),
             (100, 7), (103, 1), (105, 10), (109, 12), (108, 21), (117, 23), (122, 30),
             (122, 37), (118, 39), (122, 41), (129, 35), (130, 43), (141, 52),
             (135, 55), (141, 59), (156, 62), (163, 60), (178, 65), (180, 69), (140, 72),
             (110, 77), (80, 73), (60, 70), (55, 69), (60, 60), (50, 45), (42, 42)],
    "Australia": [(114, -22), (122, -18), (130, -12), (137, -12), (142, -11), (146, -19),
                  (153, -25), (150, -37), (141, -38), (131, -31), (115, -34)],
    "Japan": [(130, 31), (135, 34), (140, 35), (142, 40), (141, 45), (145, 43), (140, 41),
              (136, 36), (131, 34)],
    "Indonesia": [(95, 5), (106, -6), (115, -8), (120, -9), (125, -8), (119, -4), (117, 1),
                  (119, 5), (110, 2), (104, 1)],
    "New Guinea": [(131, -1), (141, -3), (150, -10), (141, -9), (137, -5)],
    "Madagascar": [(44, -25), (47, -25), (50, -15), (49, -12), (44, -16)],
    "Britain": [(-5, 50), (1, 51), (2, 53), (-2, 57), (-5, 58), (-6, 55), (-3, 54)],
}


@lru_cache(maxsize=1)
def centroids() -> dict[str, tuple[float, float, str]]:
    """ISO alpha-2 -> (latitude, longitude, name), from the shipped ``centroids.tsv``."""
    out = {}
    text = (Path(__file__).with_name("centroids.tsv")).read_text(encoding="utf-8")
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        iso, lat, lon, name = line.split("\t")
        out[iso] = (float(lat), float(lon), name)
    return out


def origins_map_svg(counts: dict[str, int], width: int = 760, title: str = "") -> str:
    """Circles per origin country on an equirectangular world, sized by ``counts``."""
    height = width // 2
    def xy(lon: float, lat: float) -> tuple[float, float]:
        return (lon + 180) / 360 * width, (90 - lat) / 180 * height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="worldmap" width="{width}" '
           f'height="{height + 20}" viewBox="0 0 {width} {height + 20}" role="img" '
           f'aria-label="{escape(title or "international origins", quote=True)}">',
           f'<rect x="0" y="0" width="{width}" height="{height}" class="sea"/>']
    for lon in range(-180, 181, 30):
        x, _ = xy(lon, 0)
        out.append(f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}" class="grid"/>')
    for lat in range(-60, 61, 30):
        _, y = xy(0, lat)
        out.append(f'<line x1="0" y1="{y:.1f}" x2="{width}" y2="{y:.1f}" class="grid"/>')
    for name, ring in _OUTLINES.items():
        pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(lo, la) for lo, la in ring))
        out.append(f'<polygon points="{pts}" class="land"><title>{escape(name)}</title>'
                   f'</polygon>')
    table = centroids()
    top = max(counts.values(), default=1) or 1
    unplaced = []
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for rank, (iso, n) in enumerate(ranked):
        if iso not in table:
            unplaced.append(f"{iso} {n}")
            continue
        lat, lon, name = table[iso]
        x, y = xy(lon, lat)
        r = 3 + 22 * math.sqrt(n / top)
        out.append(f'<circle class="origin" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}">'
                   f'<title>{escape(name)} ({iso}): {n}</title></circle>')
        if rank < 12:
            out.append(f'<text class="olabel" x="{x + r + 2:.1f}" y="{y + 4:.1f}">'
                       f'{escape(name)} {n}</text>')
    note = ("not placed: " + ", ".join(unplaced)) if unplaced else ""
    out.append(f'<text x="4" y="{height + 15}" class="tick">{escape(note)}</text></svg>')
    return "".join(out)
