"""Hand-written SVG timelines: one small chart per alert, cheap enough for thousands.

matplotlib takes tens of milliseconds per figure; a report with a section per alert
needs a chart in well under a millisecond, so per-alert timelines are drawn directly
as SVG bars (numpy does the counting).

>>> import numpy as np
>>> chart = Timeline(start=0, end=7200, title="calls per hour")
>>> chart.add("outbound", np.array([10.0, 20.0, 4000.0]), "#1f77b4")
>>> chart.add("inbound", np.array([30.0]), "#999999", below=True)
>>> chart.mark(3600, "alert", "#d62728")
>>> svg = chart.svg()
>>> svg.startswith("<svg") and bar_count(svg) == 3 and "alert" in svg
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html import escape

import numpy as np

#: bin widths a timeline may use, smallest first (seconds)
BIN_WIDTHS = (60, 300, 900, 3600, 3 * 3600, 6 * 3600, 86400, 7 * 86400)
BIN_NAMES = {60: "minute", 300: "5 min", 900: "15 min", 3600: "hour", 3 * 3600: "3 h",
             6 * 3600: "6 h", 86400: "day", 7 * 86400: "week"}
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf",
           "#bcbd22")


def bar_count(svg: str) -> int:
    """How many bars a timeline SVG draws (for tests and checks)."""
    return sum(int(n) for n in re.findall(r'data-bars="(\d+)"', svg))


def choose_bin(span: float, max_bins: int = 240, min_width: float = 60) -> int:
    """The smallest bin width giving at most ``max_bins`` bins over ``span`` seconds.

    >>> choose_bin(3600), choose_bin(86400), choose_bin(7 * 86400)
    (60, 900, 3600)
    """
    for w in BIN_WIDTHS:
        if w >= min_width and span / w <= max_bins:
            return w
    return BIN_WIDTHS[-1]


def attr(text: object) -> str:
    return escape(str(text), quote=True)


def _fmt_time(t: float, width: float) -> str:
    d = datetime.fromtimestamp(t, UTC)
    if width >= 86400:
        return d.strftime("%m-%d")
    if width >= 3600:
        return d.strftime("%m-%d %H:%M")
    return d.strftime("%H:%M")


@dataclass
class _Series:
    label: str
    times: np.ndarray
    color: str
    below: bool


@dataclass
class Timeline:
    """Stacked bar counts over time: series above the axis and (``below=True``) under it,
    with vertical markers (alert time, complaints) and an optional baseline line."""

    start: float
    end: float
    title: str = ""
    bin_width: int | None = None
    width: int = 760
    height: int = 190
    series: list[_Series] = field(default_factory=list)
    markers: list[tuple[float, str, str]] = field(default_factory=list)
    baseline: float | None = None
    baseline_label: str = "baseline"

    def add(self, label: str, times, color: str, below: bool = False) -> None:
        self.series.append(_Series(label, np.asarray(times, dtype=np.float64), color, below))

    def mark(self, t: float, label: str, color: str = "#d62728") -> None:
        self.markers.append((t, label, color))

    def counts(self) -> tuple[np.ndarray, list[np.ndarray]]:
        """Bin edges and each series' counts per bin."""
        w = self.bin_width or choose_bin(self.end - self.start)
        self.bin_width = w
        first = np.floor(self.start / w) * w
        n = max(1, int(np.ceil((self.end - first) / w)) + (1 if self.end % w == 0 else 0))
        edges = first + w * np.arange(n + 1)
        return edges, [np.histogram(s.times, bins=edges)[0] for s in self.series]

    def _legend_items(self, left: int) -> list[tuple[float, int, str, str]]:
        """(x, row, label, colour) per series: left to right after the title, wrapping."""
        items = []
        x, row = left + 7.0 * len(self.title) + 90, 0
        for s in self.series:
            label = f"{s.label} ({len(s.times)})"
            w = 16 + 6.3 * len(label)
            if x + w > self.width - 4 and x > left:
                x, row = left, row + 1
            items.append((x, row, label, s.color))
            x += w
        return items

    def _legend_rows(self, left: int) -> int:
        return 1 + max((row for _, row, _, _ in self._legend_items(left)), default=0)

    def _legend(self, left: int) -> list[str]:
        return [f'<rect x="{x:.0f}" y="{5 + 14 * row}" width="9" height="9" fill="{color}"/>'
                f'<text x="{x + 12:.0f}" y="{13 + 14 * row}" class="legend">{attr(label)}</text>'
                for x, row, label, color in self._legend_items(left)]

    def svg(self) -> str:
        edges, counts = self.counts()
        w = self.bin_width
        left, right, bottom = 44, 10, 22
        top = 26 + 14 * (self._legend_rows(left) - 1)
        self.height = max(self.height, top + 140 + bottom)
        pw, ph = self.width - left - right, self.height - top - bottom
        up = [c for c, s in zip(counts, self.series, strict=True) if not s.below]
        down = [c for c, s in zip(counts, self.series, strict=True) if s.below]
        zeros = np.zeros(len(edges) - 1, dtype=np.int64)
        up_max = int(np.max(sum(up, zeros))) if up else 0
        down_max = int(np.max(sum(down, zeros))) if down else 0
        scale_max = max(1, up_max + down_max)
        if self.baseline is not None and self.baseline > up_max:
            scale_max = max(scale_max, int(np.ceil(self.baseline)) + down_max)
        axis_y = top + ph * (up_max if up_max or not down_max else 0) / scale_max
        if not down:
            axis_y = top + ph
        unit = ph / scale_max
        t0, t1 = edges[0], edges[-1]
        def x(t: float) -> float:
            return left + pw * (t - t0) / (t1 - t0)
        bw = max(pw / (len(edges) - 1) - 0.6, 0.6)
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="timeline" width="{self.width}" '
               f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
               f'role="img" aria-label="{attr(self.title)}">',
               f'<text x="{left}" y="13" class="title">{attr(self.title)} '
               f'(per {BIN_NAMES.get(w, f"{w}s")})</text>']
        out.extend(self._legend(left))
        out.append(f'<line x1="{left}" y1="{axis_y:.1f}" x2="{left + pw}" y2="{axis_y:.1f}" '
                   f'class="axis"/>')
        # y ticks: the maxima
        if up_max:
            out.append(f'<text x="{left - 4}" y="{axis_y - up_max * unit + 4:.1f}" '
                       f'class="tick" text-anchor="end">{up_max}</text>')
        if down_max:
            out.append(f'<text x="{left - 4}" y="{axis_y + down_max * unit:.1f}" '
                       f'class="tick" text-anchor="end">{down_max}</text>')
        out.append(f'<text x="{left - 4}" y="{axis_y + 4:.1f}" class="tick" '
                   f'text-anchor="end">0</text>')
        for sign, group in ((-1, [(c, s) for c, s in zip(counts, self.series, strict=True)
                                  if not s.below]),
                            (1, [(c, s) for c, s in zip(counts, self.series, strict=True)
                                 if s.below])):
            stack = zeros.copy()
            for c, s in group:
                idx = np.flatnonzero(c)
                parts = []
                for i in idx.tolist():
                    h = max(c[i] * unit, 0.5)
                    y0 = axis_y + sign * stack[i] * unit
                    y = y0 - h if sign < 0 else y0
                    parts.append(f"M{x(edges[i]) + 0.3:.1f} {y:.1f}h{bw:.1f}v{h:.1f}h-{bw:.1f}z")
                if parts:
                    # one path per series: a fifth of the bytes of one <rect> per bar
                    out.append(f'<path class="bars" data-bars="{len(parts)}" '
                               f'fill="{s.color}" d="{"".join(parts)}"/>')
                stack += c
        if self.baseline is not None and self.baseline > 0:
            by = axis_y - self.baseline * unit
            out.append(f'<line x1="{left}" y1="{by:.1f}" x2="{left + pw}" y2="{by:.1f}" '
                       f'class="baseline"/><text x="{left + 3}" y="{by - 3:.1f}" '
                       f'class="tick">{attr(self.baseline_label)} {self.baseline:.2f}</text>')
        for t, label, color in self.markers:
            if t0 <= t <= t1:
                mx = x(t)
                out.append(f'<line x1="{mx:.1f}" y1="{top - 4}" x2="{mx:.1f}" '
                           f'y2="{top + ph}" stroke="{color}" class="marker"/>'
                           f'<text x="{mx + 3:.1f}" y="{top + 6}" fill="{color}" '
                           f'class="mlabel">{attr(label)}</text>')
        # x ticks
        n_ticks = 6
        for k in range(n_ticks + 1):
            t = t0 + (t1 - t0) * k / n_ticks
            anchor = "start" if k == 0 else "end" if k == n_ticks else "middle"
            out.append(f'<text x="{x(t):.1f}" y="{self.height - 6}" class="tick" '
                       f'text-anchor="{anchor}">{_fmt_time(t, w)}</text>')
        out.append("</svg>")
        return "".join(out)
