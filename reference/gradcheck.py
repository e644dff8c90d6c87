"""Central-difference derivatives in float64: the independent check of every hand-derived gradient.

The truncation error of a central difference is O(eps²) and the rounding error O(ε_machine / eps), so
eps = 1e-6 gives about 1e-8 to 1e-10 absolute accuracy on well-scaled smooth functions. Keep x away from kinks
(ReLU at 0, |x| at 0): within eps of one, the difference quotient averages the two one-sided slopes.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_same_shape


def _central_differences(
    f: Callable[[np.ndarray], ArrayLike], x: np.ndarray, weights: np.ndarray | None, eps: float
) -> np.ndarray:
    """∂/∂x_i Σ weights ⊙ f(x) by central differences (weights None: f is scalar-valued)."""
    if not isinstance(eps, Real) or isinstance(eps, bool) or not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite number > 0, got {eps!r}")
    probe = x.copy()

    def value() -> float:
        y = as_float_array(f(probe.copy()), "f(x)")  # a copy: f cannot disturb the probe point
        if weights is None:
            if y.size != 1:
                raise ValueError(f"f(x) must be a scalar, got shape {y.shape}; use numerical_vjp")
            return float(y.reshape(()))
        check_same_shape(weights, y, "grad_output", "f(x)")
        return float(np.sum(weights * y))

    grad = np.zeros_like(probe)
    flat_probe, flat_grad = probe.reshape(-1), grad.reshape(-1)  # views into probe and grad
    for i in range(flat_probe.size):
        xi = flat_probe[i]
        flat_probe[i] = xi + eps
        plus = value()
        flat_probe[i] = xi - eps
        minus = value()
        flat_probe[i] = xi
        flat_grad[i] = (plus - minus) / (2.0 * eps)
    return grad


def numerical_gradient(f: Callable[[np.ndarray], ArrayLike], x: ArrayLike, eps: float = 1e-6) -> np.ndarray:
    """∂f/∂x_i ≈ (f(x + eps·e_i) − f(x − eps·e_i)) / (2·eps) for scalar-valued f; same shape as x."""
    return _central_differences(f, as_float_array(x, "x"), None, eps)


def numerical_vjp(
    f: Callable[[np.ndarray], ArrayLike], x: ArrayLike, grad_output: ArrayLike, eps: float = 1e-6
) -> np.ndarray:
    """(∂f/∂x)ᵀ g ≈ ∂/∂x_i Σ g ⊙ f(x) by central differences, for array-valued f and g of f(x)'s shape."""
    x64 = as_float_array(x, "x")
    g = as_float_array(grad_output, "grad_output")
    y = as_float_array(f(x64.copy()), "f(x)")
    check_same_shape(y, g, "f(x)", "grad_output")
    return _central_differences(f, x64, g, eps)
