"""The cohort report's charts, drawn with matplotlib as inline SVG (the page needs no network and no files).

Text stays text (svg.fonttype 'none': smaller, and the page's font), the output is deterministic (a fixed hash
salt, no date), and only numbers and the suite's own question names go into a chart, never a student's string.
matplotlib is imported on first use: it costs seconds, and only the report needs it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

from markupsafe import Markup


def _figure_class() -> Any:
    import matplotlib

    matplotlib.use("svg", force=True)
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "dlgrade", "font.size": 9,
                                "axes.spines.top": False, "axes.spines.right": False})
    from matplotlib.figure import Figure

    return Figure


def _svg(figure: Any) -> Markup:
    """The figure as an <svg> element for inlining (without the XML prolog and doctype)."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    text = buffer.getvalue()
    start = text.index("<svg")
    # Scale with the page: the intrinsic size in pt becomes the viewBox's aspect only.
    element = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', text[start:], count=1)
    return Markup(element)  # noqa: S704 - matplotlib's own markup of numbers and suite names


def score_histogram(bins: Sequence[tuple[float, float, int]], quartiles: tuple[float, float, float],
                    max_score: float) -> Markup:
    """Grades in equal bins over [0, max], with the median and the quartiles marked."""
    figure_class = _figure_class()
    figure = figure_class(figsize=(6.4, 2.4))
    axes = figure.add_subplot()
    lows = [low for low, _, _ in bins]
    widths = [high - low for low, high, _ in bins]
    counts = [count for _, _, count in bins]
    axes.bar(lows, counts, width=widths, align="edge", color="#54aeff", edgecolor="white")
    q1, median, q3 = quartiles
    axes.axvspan(q1, q3, color="#0969da", alpha=0.08, label=f"quartiles {q1:g}–{q3:g}")
    axes.axvline(median, color="#0969da", linewidth=1.5, label=f"median {median:g}")
    axes.set_xlim(0, max_score)
    axes.set_xlabel(f"grade (of {max_score:g})")
    axes.set_ylabel("students")
    axes.yaxis.get_major_locator().set_params(integer=True)
    axes.legend(frameon=False, loc="upper left")
    return _svg(figure)
