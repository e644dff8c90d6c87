"""Entropy, cross-entropy and KL divergence of discrete distributions in numpy float64.

Distributions lie along `dim` and must be valid: entries in [0, 1] that sum to 1. Logs are natural (nats)
unless `base` is given (base=2: bits). The convention 0 · log 0 = 0 (the limit of p log p as p → 0) is
applied exactly, so a distribution with zeros has a finite entropy rather than NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_dim, check_probabilities, check_same_shape

# A distribution built in float32, or by a softmax, sums to 1 only up to rounding; this tolerance is far above
# that and far below any real mistake (a forgotten normalisation).
_SUM_TOLERANCE = 1e-6


def _distribution(p: ArrayLike, dim: int, name: str) -> tuple[np.ndarray, int]:
    """p as float64 and dim as an axis, after checking that p is a probability distribution along dim."""
    a = as_float_array(p, name)
    axis = check_dim(a, dim, name)
    check_probabilities(a, name)
    sums = np.sum(a, axis=axis)
    off = np.abs(sums - 1.0) > _SUM_TOLERANCE
    if off.any():
        example = float(sums[off][0])
        raise ValueError(f"{name} must sum to 1 along dim {dim}, but one of its sums is {example}")
    return a, axis


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """x log y, taken as 0 wherever x = 0 (whatever y is); −inf where x > 0 and y = 0."""
    with np.errstate(divide="ignore"):  # log(0) = −inf is the right answer where x > 0
        return np.where(x == 0, 0.0, x * np.log(np.where(x == 0, 1.0, y)))


def _in_base(h: np.ndarray, base: float | None) -> np.ndarray:
    """h (in nats) in units of log(base): divide by ln(base); None leaves nats."""
    if base is not None and not (np.isfinite(base) and base > 0 and base != 1):
        raise ValueError(f"base must be a positive number other than 1, or None for nats, got {base!r}")
    h = h + 0.0  # turns the −0.0 of −(0 · log 0) into 0.0, which is what a student should be shown
    # np.asarray: arithmetic on a 0-d array returns a numpy scalar, and every result here is an ndarray.
    return np.asarray(h if base is None else h / np.log(base), dtype=np.float64)


def entropy(p: ArrayLike, dim: int = -1, base: float | None = None) -> np.ndarray:
    """H(p) = −Σ_i p_i log p_i along dim."""
    a, axis = _distribution(p, dim, "p")
    return _in_base(-np.sum(_xlogy(a, a), axis=axis), base)


def cross_entropy_of(p: ArrayLike, q: ArrayLike, dim: int = -1, base: float | None = None) -> np.ndarray:
    """H(p, q) = −Σ_i p_i log q_i along dim (p the true distribution, q the model's)."""
    a, axis = _distribution(p, dim, "p")
    b, _ = _distribution(q, dim, "q")
    check_same_shape(a, b, "p", "q")
    return _in_base(-np.sum(_xlogy(a, b), axis=axis), base)


def kl_divergence(p: ArrayLike, q: ArrayLike, dim: int = -1, base: float | None = None) -> np.ndarray:
    """KL(p ‖ q) = Σ_i p_i log(p_i / q_i) = H(p, q) − H(p) along dim; inf where q_i = 0 < p_i."""
    a, axis = _distribution(p, dim, "p")
    b, _ = _distribution(q, dim, "q")
    check_same_shape(a, b, "p", "q")
    return _in_base(np.sum(_xlogy(a, a) - _xlogy(a, b), axis=axis), base)


def binary_entropy(p: ArrayLike, base: float | None = None) -> np.ndarray:
    """H_b(p) = −p log p − (1 − p) log(1 − p), elementwise: the entropy of a coin with P(heads) = p."""
    a = as_float_array(p, "p")
    check_probabilities(a, "p")
    # log1p(−p), not log(1 − p): for tiny p, 1 − p rounds to 1 and the second term (≈ p) would vanish.
    q = 1.0 - a
    return _in_base(-_xlogy(a, a) - q * np.log1p(-np.where(q == 0, 0.0, a)), base)
