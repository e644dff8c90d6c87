"""Compare a student's answer with the expected value, and say the first thing wrong in a student's words.

Order: structure and type (array / number / tensor) -> exact shape (no broadcasting: (n,) is not (n, 1)) ->
dtype family -> all finite -> |yours - expected| <= atol + rtol * |expected| element-wise, in float64, with the
expected value as the desired side (numpy.testing.assert_allclose's rule).

Numbers in messages carry as many significant digits as it takes to tell yours from the expected one (at least
six), and integral values print as integers (shown_pair, precision_for).
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
_KIND_CLASS = {"f": "f", "i": "i", "u": "i", "b": "b"}  # float / integer / boolean, for "the same dtype as"
MIN_DIGITS = 6  # significant digits of a number in feedback, more where the difference needs them
MAX_DIGITS = 17  # a float64 is fully determined by 17


def _integral(value: float) -> bool:
    return math.isfinite(value) and value == int(value) and abs(value) < 1e15


def _number(value: float, digits: int) -> str:
    return str(int(value)) if _integral(value) else f"{value:.{digits}g}"


def shown_pair(yours: float, expected: float) -> tuple[str, str]:
    """Both numbers as feedback prints them: integral values as integers, others with the fewest significant
    digits (at least MIN_DIGITS) at which the two read differently, so "yours 0.4795642, expected 0.4795644"
    shows a difference of 2e-7 that six digits would hide."""
    for digits in range(MIN_DIGITS, MAX_DIGITS + 1):
        first, second = _number(yours, digits), _number(expected, digits)
        if first != second:
            return first, second
    return first, second


def precision_for(error: float | None, expected: float | None = None) -> int:
    """numpy print precision (digits after the point) at which an error of ``error`` shows, at ``expected``'s
    scale too (scientific notation counts digits of the mantissa): at least MIN_DIGITS, at most MAX_DIGITS."""
    needed = MIN_DIGITS
    if error is not None and math.isfinite(error) and error > 0:
        needed = max(needed, math.ceil(-math.log10(error)) + 1)
        if expected is not None and math.isfinite(expected) and expected != 0:
            needed = max(needed, math.ceil(-math.log10(error / abs(expected))) + 1)
    return min(needed, MAX_DIGITS)


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
            names: tuple[str, ...] = (), where: str = "", variant: bool = False) -> Outcome:
    """Check ``answer`` against ``expected`` (an array, number, or tuple/list/dict of them).

    ``variant``: ``expected`` is a known mistake's output and the question is whether the answer is that output
    as the grader compares it (same tolerance, same dtype family). An answer whose dtype is outside the family
    is reproduced only by a variant of that same kind (float values where integers belong); never by a variant
    that merely has the same values (booleans are not the floats a variant returns).
    """
    if isinstance(answer, Nothing):
        return Outcome(False, "returned None: nothing to grade (is a `return` missing?)", where)
    if isinstance(expected, tuple | list):
        if not isinstance(answer, Items):
            return Outcome(False, f"expected a tuple of {len(expected)} values, got {answer.describe()}", where)
        if len(answer.items) != len(expected):
            return Outcome(False, f"expected {len(expected)} values, got {len(answer.items)}", where)
        for position, (item, wanted) in enumerate(zip(answer.items, expected, strict=True)):
            outcome = compare(item, wanted, rtol=rtol, atol=atol, dtype=dtype,
                              where=_label(where, names, position), variant=variant)
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
                              where=_label(where, names, key), variant=variant)
            if not outcome.passed:
                return outcome
        return Outcome(True)
    return _compare_leaf(answer, np.asarray(expected), rtol=rtol, atol=atol, dtype=dtype, where=where,
                         variant=variant)


# Float types whose rounding (~1e-7 relative for float32) exceeds most questions' rtol: a near miss in one of them
# is said to be the type's, not the formula's.
LOW_PRECISION = ("bfloat16", "float16", "float32")


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
                  where: str, variant: bool = False) -> Outcome:
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
    kind = _dtype_kind(answer)
    if kind not in _FAMILY_KINDS[dtype] and not (
            variant and _KIND_CLASS.get(kind, "?") == _KIND_CLASS.get(expected.dtype.kind, "")):
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
                              f"({_number(float(desired[index]), MIN_DIGITS)})", where, index, float(value),
                       float(desired[index]))
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
    shown_yours, shown_expected = shown_pair(float(yours[worst]), float(desired[worst]))
    if kind == "b" and expected.dtype.kind == "b" and wrong.size == 1:  # a yes/no check ("ran in eval mode")
        return Outcome(False, f"{bool(yours[worst])} where it should be {bool(desired[worst])}", where, worst,
                       float(yours[worst]), float(desired[worst]), float(error[worst]))
    message = (f"values differ: {count} of {wrong.size} off; largest error {float(error[worst]):.3g}{at}: "
               f"yours {shown_yours}, expected {shown_expected} (rtol {rtol:g}, atol {atol:g})")
    low = next((name for name in LOW_PRECISION if name in answer.dtype), None)
    if low is not None and float(error[worst]) <= 1e-3 * abs(float(desired[worst])) + atol:
        message += (f"; yours is {low}, whose rounding alone is larger than this question allows: compute and "
                    "return float64")
    return Outcome(False, message, where, worst, float(yours[worst]), float(desired[worst]), float(error[worst]))
