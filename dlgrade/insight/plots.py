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

STATUS_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#bf8700", "timeout": "#9a6700",
                  "banned": "#8250df", "not_implemented": "#8c959f"}


def _pyplot() -> Any:
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
    figure_class = _pyplot()
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


def status_bars(questions: Sequence[tuple[str, dict[str, int]]]) -> Markup:
    """Per question, one horizontal bar split by how its submissions ended (passed, failed, error, ...)."""
    figure_class = _pyplot()
    figure = figure_class(figsize=(6.4, 0.6 + 0.26 * len(questions)))
    axes = figure.add_subplot()
    names = [name for name, _ in questions][::-1]
    left = [0] * len(names)
    for status, colour in STATUS_COLOURS.items():
        values = [counts.get(status, 0) for _, counts in questions][::-1]
        if any(values):
            axes.barh(names, values, left=left, color=colour, label=status.replace("_", " "), height=0.7)
            left = [a + b for a, b in zip(left, values, strict=True)]
    axes.set_xlabel("submissions")
    axes.legend(frameon=False, ncols=3, loc="lower left", bbox_to_anchor=(0, 1.0))
    return _svg(figure)
