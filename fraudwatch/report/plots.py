"""Overview charts drawn with matplotlib (Agg backend, SVG output, inlined in the page).

matplotlib is already a dependency, renders offline with no fonts or scripts to fetch,
and gives readable axes and date ticks for the two overview charts; per-alert charts
are hand-written SVG (:mod:`fraudwatch.report.svg`) because a report may hold
thousands of them.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np

from fraudwatch.report.svg import BIN_NAMES, PALETTE, choose_bin


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    plt.rcParams.update({"svg.fonttype": "none", "font.size": 9})
    return plt


def overview_svg(record_times: dict[str, np.ndarray], alert_times: dict[str, Sequence[float]],
                 start: float, end: float) -> str:
    """Records per bin by kind (top) and alerts per bin by kind (bottom), as SVG text."""
    plt = _pyplot()
    from matplotlib import dates as mdates
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    width = choose_bin(max(end - start, 60), max_bins=200)
    first = np.floor(start / width) * width
    edges = first + width * np.arange(int(np.ceil((end - first) / width)) + 2)
    mids = (edges[:-1] + width / 2).astype("datetime64[s]")
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9.5, 4.2), sharex=True,
                                      gridspec_kw={"height_ratios": [3, 2]})
    try:
        for i, (kind, times) in enumerate(sorted(record_times.items())):
            if len(times):
                counts = np.histogram(times, bins=edges)[0]
                top.step(mids, counts, where="mid", label=f"{kind} ({len(times):,})",
                         color=PALETTE[i % len(PALETTE)], linewidth=1)
        top.set_ylabel(f"records / {BIN_NAMES.get(width, width)}")
        top.legend(loc="upper right", fontsize=8, frameon=False)
        # stacked stairs, not bars: one artist per kind instead of one per bin
        date_edges = mdates.date2num(edges.astype("datetime64[s]"))
        stacked = np.zeros(len(edges) - 1)
        for i, (kind, times) in enumerate(sorted(alert_times.items())):
            counts = np.histogram(np.asarray(times, dtype=np.float64), bins=edges)[0]
            bottom.stairs(stacked + counts, date_edges, baseline=stacked.copy(), fill=True,
                          label=f"{kind} ({len(times)})", color=PALETTE[(i + 3) % len(PALETTE)])
            stacked += counts
        bottom.xaxis_date()
        bottom.set_ylabel(f"alerts / {BIN_NAMES.get(width, width)}")
        if alert_times:
            bottom.legend(loc="upper right", fontsize=8, frameon=False)
        locator = AutoDateLocator()
        bottom.xaxis.set_major_locator(locator)
        bottom.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        bottom.set_xlabel("event time (UTC)")
        for ax in (top, bottom):
            ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    finally:
        plt.close(fig)
    svg = buf.getvalue()
    return svg[svg.index("<svg"):]
