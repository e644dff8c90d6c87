"""Regularization: dropout (modify the model) and L1 / L2 penalties (add a cost to the loss), numpy float64.

Dropout is inverted dropout, as in torch: in training, kept units are scaled by 1/(1-p) so that the expected
activation is unchanged and evaluation is the identity. The keep-mask is explicit so that a result is
reproducible and comparable; `dropout_mask` draws one from a numpy Generator.

Penalty conventions (lecture "L1 and L2 regularization"): J = mean loss + penalty, with
    l1_penalty = lam * Σ|w|    so  d/dw = lam * sign(w)     (sign(0) = 0, as torch's abs backward)
    l2_penalty = lam * Σ w²    so  d/dw = 2 * lam * w
torch's `weight_decay=wd` (SGD, Adam) adds wd * w to the gradient, the gradient of (wd / 2) * Σ w²:
so weight_decay = wd is l2_penalty with lam = wd / 2, and l2_penalty with lam is weight_decay = 2 * lam.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_same_shape


def _check_p(p: float) -> float:
    if not isinstance(p, Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    return float(p)


def _keep_mask(mask: ArrayLike, like: np.ndarray, like_name: str) -> np.ndarray:
    keep = as_float_array(mask, "mask")
    check_same_shape(like, keep, like_name, "mask")
    if not np.all((keep == 0.0) | (keep == 1.0)):
        raise ValueError("mask must hold only 0/1 (or False/True): 1 keeps a unit, 0 drops it")
    return keep


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> np.ndarray:
    """keep-mask m with m_i = 1 with probability 1-p, else 0 (as float64), drawn from rng."""
    p = _check_p(p)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return (rng.random(shape) >= p).astype(np.float64)


def dropout(input: ArrayLike, mask: ArrayLike, p: float = 0.5, training: bool = True) -> np.ndarray:
    """y = input * mask / (1 - p) in training (y = 0 when p = 1), y = input in eval — like F.dropout."""
    x = as_float_array(input, "input")
    p = _check_p(p)
    keep = _keep_mask(mask, x, "input")
    if not training:
        return x.copy()
    if p == 1.0:
        return np.zeros_like(x)
    return x * keep / (1.0 - p)


def dropout_backward(
    grad_output: ArrayLike, mask: ArrayLike, p: float = 0.5, training: bool = True
) -> np.ndarray:
    """dL/dx = g * mask / (1 - p) in training (0 when p = 1), g in eval."""
    g = as_float_array(grad_output, "grad_output")
    p = _check_p(p)
    keep = _keep_mask(mask, g, "grad_output")
    if not training:
        return g.copy()
    if p == 1.0:
        return np.zeros_like(g)
    return g * keep / (1.0 - p)


def _params(params: Sequence[ArrayLike]) -> list[np.ndarray]:
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence) or isinstance(params, str):
        raise ValueError("params must be a list of arrays (e.g. [W1, W2]); wrap a single array as [W]")
    return [as_float_array(w, f"params[{i}]") for i, w in enumerate(params)]


def _check_lam(lam: float) -> float:
    if not isinstance(lam, Real) or isinstance(lam, bool) or not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    return float(lam)


def l1_penalty(params: Sequence[ArrayLike], lam: float) -> float:
    """lam * Σ|w| over every array in params (the lecture divides by the weight count n: pass lam / n)."""
    lam = _check_lam(lam)
    return lam * float(sum(np.abs(w).sum() for w in _params(params)))


def l1_penalty_grad(params: Sequence[ArrayLike], lam: float) -> list[np.ndarray]:
    """d/dw (lam * Σ|w|) = lam * sign(w), one array per parameter (0 at w = 0, like torch)."""
    lam = _check_lam(lam)
    return [lam * np.sign(w) for w in _params(params)]


def l2_penalty(params: Sequence[ArrayLike], lam: float) -> float:
    """lam * Σ w² over every array in params (torch's weight_decay = wd corresponds to lam = wd / 2)."""
    lam = _check_lam(lam)
    return lam * float(sum(np.square(w).sum() for w in _params(params)))


def l2_penalty_grad(params: Sequence[ArrayLike], lam: float) -> list[np.ndarray]:
    """d/dw (lam * Σ w²) = 2 * lam * w, one array per parameter (weight_decay = 2 * lam adds the same)."""
    lam = _check_lam(lam)
    return [2.0 * lam * w for w in _params(params)]
