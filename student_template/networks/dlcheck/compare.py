"""Compare a student's answer with the expected value, and say the first thing wrong in a student's words.

Order: structure and type (array / number / tensor) -> exact shape (no broadcasting: (n,) is not (n, 1)) ->
dtype family -> all finite -> |yours - expected| <= atol + rtol * |expected| element-wise, in float64, with the
expected value as the desired side (numpy.testing.assert_allclose's rule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .answers import Answer, Entries, Items, Leaf, Nothing, Opaque

_FAMILY_KINDS = {"float": "f", "int": "iu", "bool": "b", "number": "fiu", "any": "fiub"}
_FAMILY_WORDS = {"float": "floating-point numbers", "int": "integers", "bool": "booleans",
                 "number": "numbers", "any": "numbers"}


@dataclass(frozen=True)
class Outcome:
    """The verdict on one answer: passed, or the first problem found and where."""

    passed: bool
    message: str = ""
    where: str = ""  # which output, for tuple/dict answers: "output[1] (dW)"
    index: tuple[int, ...] | None = None  # of the largest error
    yours: float | None = None
    expected: float | None = None
    max_error: float | None = None

    def text(self) -> str:
        if self.passed:
            return "correct"
        return f"{self.where}: {self.message}" if self.where else self.message


def _dtype_kind(leaf: Leaf) -> str:
    """The kind letter of the value's original dtype ('torch.float32' and 'float32' both give 'f')."""
    name = leaf.dtype.removeprefix("torch.")
    if name.startswith(("float", "bfloat", "half", "double")):
        return "f"
    if name.startswith("uint"):
        return "u"
    if name.startswith(("int", "long", "short")):
        return "i"
    if name.startswith("bool"):
        return "b"
    return leaf.array.dtype.kind


def _label(where: str, names: tuple[str, ...], position: int | str) -> str:
    name = names[position] if isinstance(position, int) and position < len(names) else ""
    part = f"[{position!r}]" if isinstance(position, str) else f"[{position}]"
    return f"{where or 'output'}{part}" + (f" ({name})" if name else "")


def compare(answer: Answer, expected: Any, *, rtol: float, atol: float, dtype: str = "float",
            names: tuple[str, ...] = (), where: str = "") -> Outcome:
    """Check ``answer`` against ``expected`` (an array, number, or tuple/list/dict of them)."""
    if isinstance(answer, Nothing):
        return Outcome(False, "returned None: nothing to grade (is a `return` missing?)", where)
    if isinstance(expected, tuple | list):
        if not isinstance(answer, Items):
            return Outcome(False, f"expected a tuple of {len(expected)} values, got {answer.describe()}", where)
        if len(answer.items) != len(expected):
            return Outcome(False, f"expected {len(expected)} values, got {len(answer.items)}", where)
        for position, (item, wanted) in enumerate(zip(answer.items, expected, strict=True)):
            outcome = compare(item, wanted, rtol=rtol, atol=atol, dtype=dtype,
                              where=_label(where, names, position))
            if not outcome.passed:
                return outcome
        return Outcome(True)
    if isinstance(expected, dict):
        if not isinstance(answer, Entries):
            return Outcome(False, f"expected a dict with keys {sorted(expected)}, got {answer.describe()}", where)
        got = dict(answer.entries)
        if set(got) != set(expected):
            missing, extra = sorted(set(expected) - set(got)), sorted(set(got) - set(expected))
            detail = "; ".join(filter(None, [missing and f"missing {missing}", extra and f"unexpected {extra}"]))
            return Outcome(False, f"the dict's keys are wrong: {detail}", where)
        for key in expected:
            outcome = compare(got[key], expected[key], rtol=rtol, atol=atol, dtype=dtype,
                              where=_label(where, names, key))
            if not outcome.passed:
                return outcome
        return Outcome(True)
    return _compare_leaf(answer, np.asarray(expected), rtol=rtol, atol=atol, dtype=dtype, where=where)


def _close_and_finite(yours: np.ndarray, desired: np.ndarray, rtol: float, atol: float) -> bool:
    """The common case, decided cheaply: both finite and |yours - desired| <= atol + rtol·|desired| everywhere.
    False means "look closer" (the full check below gives the verdict and the words)."""
    if yours.ndim == 0:  # most answers are one number: plain floats, no array operations
        y, d = float(yours), float(desired)
        return math.isfinite(y) and math.isfinite(d) and abs(y - d) <= atol + rtol * abs(d)
    with np.errstate(invalid="ignore", over="ignore"):
        return bool(np.isfinite(yours).all() and np.isfinite(desired).all()
                    and (np.abs(yours - desired) <= atol + rtol * np.abs(desired)).all())


def _compare_leaf(answer: Answer, expected: np.ndarray, *, rtol: float, atol: float, dtype: str,
                  where: str) -> Outcome:
    wanted = "a number" if expected.ndim == 0 else f"an array of shape {expected.shape}"
    if isinstance(answer, Opaque):
        return Outcome(False, f"expected {wanted}, got {answer.describe()}; return a plain float, numpy array "
                              "or torch tensor", where)
    if not isinstance(answer, Leaf):
        return Outcome(False, f"expected {wanted}, got {answer.describe()}", where)
    if answer.shape != expected.shape:
        hint = ""
        if answer.array.size == expected.size:
            hint = " (same number of elements: check for an extra or missing dimension; no broadcasting here)"
        return Outcome(False, f"shape: expected {expected.shape}, got {answer.shape}{hint}", where)
    if _dtype_kind(answer) not in _FAMILY_KINDS[dtype]:
        return Outcome(False, f"dtype: expected {_FAMILY_WORDS[dtype]}, got {answer.dtype}", where)
    yours = answer.array.astype(np.float64, copy=False)
    desired = expected.astype(np.float64, copy=False)
    if _close_and_finite(yours, desired, rtol, atol):
        return Outcome(True)
    bad = ~np.isfinite(yours) & np.isfinite(desired)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        value = yours[index]
        return Outcome(False, f"contains {value} at index {index}; expected a finite value "
                              f"({desired[index]:.6g})", where, index, float(value), float(desired[index]))
    # A NaN where NaN is expected, or the same infinity, agrees (a known mistake may produce them).
    agree = (np.isnan(yours) & np.isnan(desired)) | (np.isinf(desired) & (yours == desired))
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.where(agree, 0.0, np.abs(yours - desired))
    allowed = atol + rtol * np.where(np.isfinite(desired), np.abs(desired), 0.0)
    wrong = ~(error <= allowed)
    if not wrong.any():
        return Outcome(True)
    worst = np.unravel_index(int(np.argmax(np.where(wrong, error, -1.0))), error.shape) if error.ndim else ()
    worst = tuple(int(i) for i in worst)
    count = int(wrong.sum())
    at = f" at index {worst}" if worst else ""
    message = (f"values differ: {count} of {wrong.size} off; largest error {float(error[worst]):.3g}{at}: "
               f"yours {float(yours[worst]):.6g}, expected {float(desired[worst]):.6g} "
               f"(rtol {rtol:g}, atol {atol:g})")
    return Outcome(False, message, where, worst, float(yours[worst]), float(desired[worst]), float(error[worst]))
