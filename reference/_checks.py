"""Input validation shared by the reference modules: every bad argument is a ValueError that names it.

The reference is the desired side of every comparison, so it must never answer a malformed question: no silent
broadcasting of (n,) against (n, 1), no NaN passed through, no unknown reduction treated as 'mean'.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

REDUCTIONS = ("none", "mean", "sum")


def as_float_array(x: ArrayLike, name: str) -> np.ndarray:
    """x as float64 array; ValueError naming `name` unless it is real-numeric and NaN-free (±inf is fine)."""
    array = np.asarray(x)
    # Reject strings, objects and complex numbers before casting: float("1.5") would quietly succeed.
    if array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be a real numeric array, got dtype {array.dtype}")
    array = array.astype(np.float64, copy=False)
    if np.isnan(array).any():
        raise ValueError(f"{name} contains NaN")
    return array


def check_same_shape(a: np.ndarray, b: np.ndarray, name_a: str, name_b: str) -> None:
    """ValueError unless a.shape == b.shape exactly; (n,) and (n, 1) differ and are never broadcast."""
    if a.shape != b.shape:
        raise ValueError(f"{name_b} has shape {b.shape} but {name_a} has shape {a.shape}")


def check_reduction(reduction: str) -> None:
    """ValueError unless reduction is one of 'none', 'mean', 'sum' (torch's names)."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of 'none', 'mean', 'sum', got {reduction!r}")


def check_dim(x: np.ndarray, dim: int, name: str) -> int:
    """dim as a non-negative axis of x; ValueError naming `name` unless -x.ndim <= dim < x.ndim (as torch)."""
    if isinstance(dim, bool) or not isinstance(dim, int | np.integer):
        raise ValueError(f"dim must be an int, got {type(dim).__name__}")
    if not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim {dim} is out of range for {name} with shape {x.shape}")
    return int(dim) % x.ndim


def check_probabilities(p: np.ndarray, name: str) -> None:
    """ValueError naming `name` unless every entry of p lies in [0, 1]."""
    outside = (p < 0) | (p > 1)
    if outside.any():
        example = float(p[outside][0])
        count = int(outside.sum())
        raise ValueError(f"{name} must lie in [0, 1], but {count} value(s) do not, e.g. {example}")
