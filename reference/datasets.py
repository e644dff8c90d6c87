"""Small deterministic datasets generated in code, in numpy float64, for the training assignment.

Every generator that draws random numbers takes an explicit `rng`: a numpy.random.Generator (used and
advanced) or an int seed (numpy.random.default_rng(seed)). Nothing touches numpy's global random state, so the
same seed always gives the same arrays, bit for bit.

Conventions:
- X has shape (n, d), float64.
- Binary labels y have shape (n,), float64, values exactly 0.0 or 1.0: what BCELoss / BCEWithLogitsLoss take
  after the model's (n, 1) output is squeezed. For CrossEntropyLoss use class indices y.astype(np.int64).
- Regression targets y have shape (n,), float64.
- Classification sets are shuffled (the order of the classes carries no information).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "as_rng",
    "make_circles",
    "make_linear_regression",
    "make_moons",
    "make_sum_regression",
    "make_xor",
    "make_xor_blobs",
]

_XOR_CORNERS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
_XOR_LABELS = np.array([0.0, 1.0, 1.0, 0.0])


def as_rng(rng: np.random.Generator | int) -> np.random.Generator:
    """rng itself if it is a numpy Generator, numpy.random.default_rng(rng) if it is an int seed ≥ 0."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, int | np.integer) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise ValueError(f"rng must be a numpy.random.Generator or an int seed >= 0, got {rng!r}")


def _count(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _nonnegative(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)


def _shuffled(X: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(len(y))
    return np.ascontiguousarray(X[order]), np.ascontiguousarray(y[order])


def make_xor() -> tuple[np.ndarray, np.ndarray]:
    """The 4 XOR points: X = [[0,0],[0,1],[1,0],[1,1]] (4, 2), y = x0 XOR x1 = [0,1,1,0] (4,), float64."""
    return _XOR_CORNERS.copy(), _XOR_LABELS.copy()


def make_xor_blobs(n: int, noise: float, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """n points: c_i = XOR corner (i mod 4), x_i = c_i + noise·N(0, I₂), y_i = XOR label of c_i; shuffled."""
    n = _count(n, "n")
    noise = _nonnegative(noise, "noise")
    rng = as_rng(rng)
    corner = np.arange(n) % 4
    X = _XOR_CORNERS[corner] + noise * rng.standard_normal((n, 2))
    return _shuffled(X, _XOR_LABELS[corner], rng)


def make_moons(n: int, noise: float, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """⌈n/2⌉ points (cos t, sin t), y=0, ⌊n/2⌋ points (1 − cos t, ½ − sin t), y=1, t ∈ [0, π]; + noise·N."""
    # Two interleaved half circles (sklearn's make_moons, written here): t evenly spaced, then shuffled.
    n = _count(n, "n", minimum=2)
    noise = _nonnegative(noise, "noise")
    rng = as_rng(rng)
    n_outer = n - n // 2
    t_outer = np.linspace(0.0, np.pi, n_outer)
    t_inner = np.linspace(0.0, np.pi, n // 2)
    outer = np.column_stack([np.cos(t_outer), np.sin(t_outer)])
    inner = np.column_stack([1.0 - np.cos(t_inner), 0.5 - np.sin(t_inner)])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n_outer), np.ones(n // 2)])
    return _shuffled(X, y, rng)


def make_circles(
    n: int, noise: float, rng: np.random.Generator | int, factor: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """⌈n/2⌉ points on the unit circle, y=0, and ⌊n/2⌋ on radius `factor`, y=1, + noise·N(0, I); shuffled."""
    # Angles evenly spaced on [0, 2π). No line separates the inner circle from the ring around it.
    n = _count(n, "n", minimum=2)
    noise = _nonnegative(noise, "noise")
    factor = _nonnegative(factor, "factor")
    if not 0.0 < factor < 1.0:
        raise ValueError(f"factor must lie in (0, 1), got {factor!r}")
    rng = as_rng(rng)
    n_outer = n - n // 2
    t_outer = np.linspace(0.0, 2.0 * np.pi, n_outer, endpoint=False)
    t_inner = np.linspace(0.0, 2.0 * np.pi, n // 2, endpoint=False)
    outer = np.column_stack([np.cos(t_outer), np.sin(t_outer)])
    inner = factor * np.column_stack([np.cos(t_inner), np.sin(t_inner)])
    X = np.vstack([outer, inner]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n_outer), np.ones(n // 2)])
    return _shuffled(X, y, rng)


def make_sum_regression(n: int, d: int, rng: np.random.Generator | int) -> tuple[np.ndarray, np.ndarray]:
    """Lecture 8's end-to-end data: X ~ N(0, 1) of shape (n, d), y = Σ_j X[:, j] of shape (n,)."""
    n, d = _count(n, "n"), _count(d, "d")
    X = as_rng(rng).standard_normal((n, d))
    return X, X.sum(axis=1)


def make_linear_regression(
    n: int, d: int, noise: float, rng: np.random.Generator | int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """X ~ N(0, 1) (n, d), w ~ N(0, 1) (d,), b ~ N(0, 1), y = X w + b + noise·ε, ε ~ N(0, 1); (X, y, w, b)."""
    n, d = _count(n, "n"), _count(d, "d")
    noise = _nonnegative(noise, "noise")
    rng = as_rng(rng)
    X = rng.standard_normal((n, d))
    w = rng.standard_normal(d)
    b = float(rng.standard_normal())
    y = X @ w + b + noise * rng.standard_normal(n)
    return X, y, w, b
