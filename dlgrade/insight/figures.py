"""The small plots of a feedback page: what to draw for a public case (numbers only), and where to draw it.

Made on the trusted side while grading, for public cases only (a hidden case's values are never shown): a failed
1-D answer is a line of yours against expected, a failed 2-D answer a heat map of yours − expected, and a
training question's loss trajectory (its ``losses`` output) is drawn against the reference run's whether it passed
or not. A Figure is plain numbers, stored with the record (capped: at most MAX_LINE points, MAX_SIDE × MAX_SIDE
cells) and drawn as inline SVG by the feedback page's templates: coordinates are computed here, the markup is in
templates/_figures.html. Not matplotlib: a page is written per student and assignment, and matplotlib costs
~150 ms and ~10 KB a figure where this costs well under a millisecond and ~2 KB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlgrade.checking.answers import Answer, Entries, Items, Leaf

MAX_LINE = 400
MAX_SIDE = 16  # a heat map's cells are SVG rectangles: 16 x 16 of them is ~13 KB of page
KINDS = ("line", "heatmap", "curve")
CURVE_OUTPUT = "losses"  # the output of a training harness that is a loss trajectory (training's train_run)


@dataclass(frozen=True)
class Figure:
    """What to draw: ``yours`` and ``expected`` as flat float sequences (None: not finite), of ``shape``."""

    kind: str  # line | heatmap | curve
    title: str  # which output it shows ("output", "output[1] (dW)", "losses")
    shape: tuple[int, ...]
    yours: tuple[float | None, ...]
    expected: tuple[float | None, ...]

    def to_data(self) -> dict[str, Any]:
        return {"kind": self.kind, "title": self.title, "shape": list(self.shape), "yours": list(self.yours),
                "expected": list(self.expected)}

    @classmethod
    def from_data(cls, data: Any) -> Figure:
        """Rebuilt from a record; ValueError unless it is a figure of a known kind with consistent sizes."""
        if not isinstance(data, dict) or data.get("kind") not in KINDS:
            raise ValueError("not a figure")
        shape = data.get("shape")
        if not isinstance(shape, list) or not 1 <= len(shape) <= 2 or \
                not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_LINE for n in shape):
            raise ValueError("a figure's shape is not one or two sizes")
        size = math.prod(shape)
        series = []
        for name in ("yours", "expected"):
            values = data.get(name)
            if not isinstance(values, list) or len(values) != size or size > MAX_LINE or \
                    not all(v is None or (isinstance(v, int | float) and not isinstance(v, bool)
                                          and math.isfinite(v)) for v in values):
                raise ValueError(f"a figure's {name} are not {size} numbers")
            series.append(tuple(None if v is None else float(v) for v in values))
        title = data.get("title")
        if not isinstance(title, str):
            raise ValueError("a figure's title is not text")
        return cls(data["kind"], title[:120], tuple(shape), series[0], series[1])


def _plain(values: np.ndarray) -> tuple[float | None, ...]:
    return tuple(float(v) if math.isfinite(v) else None for v in np.asarray(values, dtype=np.float64).ravel())


def _array(value: Any) -> np.ndarray | None:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.dtype == np.float64 else None


def _pair(answer: Answer, expected: Any, title: str, rtol: float, atol: float) -> Figure | None:
    """A line or heat map of one array output, if it fails and its shape allows one."""
    if not isinstance(answer, Leaf) or answer.array.dtype.kind not in "fiub":
        return None
    yours, wanted = answer.array.astype(np.float64), _array(expected)
    if wanted is None or yours.shape != wanted.shape or yours.size < 2:
        return None
    with np.errstate(all="ignore"):
        if np.all(np.abs(yours - wanted) <= atol + rtol * np.abs(wanted)):
            return None  # this output is right: another one of the answer is the problem
    if yours.ndim == 1 or (yours.ndim == 2 and 1 in yours.shape):
        if yours.size > MAX_LINE:
            return None
        return Figure("line", title, (yours.size,), _plain(yours), _plain(wanted))
    if yours.ndim == 2 and max(yours.shape) <= MAX_SIDE:
        return Figure("heatmap", title, yours.shape, _plain(yours), _plain(wanted))
    return None


def _outputs(answer: Answer, expected: Any, names: tuple[str, ...]) -> list[tuple[str, Answer, Any]]:
    """An answer's outputs paired with the expected ones: one for an array, each item of a tuple or dict."""
    if isinstance(answer, Items) and isinstance(expected, tuple | list) and len(answer.items) == len(expected):
        return [(f"output[{i}]" + (f" ({names[i]})" if i < len(names) else ""), item, expected[i])
                for i, item in enumerate(answer.items)]
    if isinstance(answer, Entries) and isinstance(expected, dict):
        return [(key, item, expected[key]) for key, item in answer.entries if key in expected]
    return [("output", answer, expected)]


def case_figure(answer: Answer, expected: Any, names: tuple[str, ...], rtol: float, atol: float,
                passed: bool) -> Figure | None:
    """The figure of a public case: the loss curve of a training output (passed or not), else for a failed case
    the first failing array output that a line or a heat map can show; None if nothing fits."""
    outputs = _outputs(answer, expected, names)
    for title, item, wanted in outputs:
        if title == CURVE_OUTPUT and isinstance(item, Leaf) and item.array.ndim == 1 and \
                1 <= item.array.size <= MAX_LINE:
            reference = _array(wanted)
            if reference is not None and reference.shape == item.array.shape:
                return Figure("curve", "loss per epoch", (item.array.size,), _plain(item.array),
                              _plain(reference))
    if passed:
        return None
    for title, item, wanted in outputs:
        figure = _pair(item, wanted, title, rtol, atol)
        if figure is not None:
            return figure
    return None


# ---- drawing: coordinates for the SVG templates ------------------------------------------------------------

WIDTH, HEIGHT = 320, 150
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 46, 8, 8, 20


def _number(value: float) -> str:
    return f"{value:.3g}"


def _lines(figure: Figure) -> dict[str, Any]:
    """Polylines of yours and expected in the plot box, the axes' end labels; a gap where a value is not finite."""
    finite = [v for v in figure.yours + figure.expected if v is not None]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high - low < 1e-12 * max(1.0, abs(high)):
        low, high = low - 0.5, high + 0.5
    count = len(figure.yours)
    inner_w, inner_h = WIDTH - PAD_LEFT - PAD_RIGHT, HEIGHT - PAD_TOP - PAD_BOTTOM

    def x(i: int) -> float:
        return PAD_LEFT + (inner_w * i / (count - 1) if count > 1 else inner_w / 2)

    def y(v: float) -> float:
        return PAD_TOP + inner_h * (high - v) / (high - low)

    def runs(values: tuple[float | None, ...]) -> list[str]:
        found, current = [], []
        for i, v in enumerate(values):
            if v is None:
                if current:
                    found.append(" ".join(current))
                current = []
            else:
                current.append(f"{x(i):.1f},{y(v):.1f}")
        if current:
            found.append(" ".join(current))
        return found

    first = 1 if figure.kind == "curve" else 0  # epochs count from 1, indices from 0
    return {"kind": figure.kind, "title": figure.title, "width": WIDTH, "height": HEIGHT,
            "left": PAD_LEFT, "right": WIDTH - PAD_RIGHT, "top": PAD_TOP, "bottom": HEIGHT - PAD_BOTTOM,
            "high": _number(high), "low": _number(low), "first": first, "last": count - 1 + first,
            "axis": "epoch" if figure.kind == "curve" else "index",
            "yours": runs(figure.yours), "expected": runs(figure.expected),
            "single": count == 1, "dots": [(round(x(i), 1), round(y(v), 1)) for i, v in enumerate(figure.yours)
                                           if v is not None] if count <= 12 else [],
            "missing": sum(v is None for v in figure.yours)}


def _colour(value: float | None, scale: float) -> str:
    """yours − expected on a blue (below) – white – red (above) scale; grey where not finite."""
    if value is None:
        return "#8c959f"
    t = max(-1.0, min(1.0, value / scale)) if scale > 0 else 0.0
    fade = int(round(255 * (1 - abs(t))))
    return f"#ff{fade:02x}{fade:02x}" if t > 0 else f"#{fade:02x}{fade:02x}ff"


def _heatmap(figure: Figure) -> dict[str, Any]:
    rows, columns = figure.shape
    cell = max(8, min(24, 200 // max(rows, columns)))
    differences = [None if a is None or b is None else a - b for a, b in zip(figure.yours, figure.expected,
                                                                              strict=True)]
    scale = max([abs(d) for d in differences if d is not None] or [0.0])
    cells = [{"x": 4 + c * cell, "y": 4 + r * cell, "fill": _colour(differences[r * columns + c], scale),
              "tip": f"[{r}, {c}] yours {_shown(figure.yours[r * columns + c])}, expected "
                     f"{_shown(figure.expected[r * columns + c])}"}
             for r in range(rows) for c in range(columns)]
    return {"kind": "heatmap", "title": figure.title, "cell": cell, "cells": cells, "rows": rows,
            "columns": columns, "width": 8 + columns * cell + 150, "height": max(8 + rows * cell, 52),
            "legend": 16 + columns * cell, "scale": _number(scale)}


def _shown(value: float | None) -> str:
    return "not finite" if value is None else f"{value:.6g}"


def drawing(figure: Figure) -> dict[str, Any]:
    """What templates/_figures.html needs to draw a figure."""
    return _heatmap(figure) if figure.kind == "heatmap" else _lines(figure)
