"""Linear layers in numpy float64, with the weight convention of torch.nn.Linear: weight has shape (out, in).

Forward:  y = x Wᵀ + b                      (lecture 8: "y = xAᵀ + b")
Backward: dL/dx = g W,  dL/dW = gᵀ x,  dL/db = gᵀ 1  for the upstream gradient g = dL/dy (unit 8, matrix form)
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array


def _check_shape(array: np.ndarray, shape: tuple[int, ...], name: str) -> None:
    """ValueError naming `name` unless array.shape == shape exactly (no broadcasting: (n,) is not (n, 1))."""
    if array.shape != tuple(shape):
        raise ValueError(f"{name} has shape {array.shape}, expected {tuple(shape)}")


def _check_linear_args(input: np.ndarray, weight: np.ndarray) -> None:
    if weight.ndim != 2:
        raise ValueError(f"weight must be 2-D (out_features, in_features), got shape {weight.shape}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"input has shape {input.shape}; its last axis must equal in_features = {weight.shape[1]}, "
            f"the second axis of weight {weight.shape} (out_features, in_features)"
        )


def linear(input: ArrayLike, weight: ArrayLike, bias: ArrayLike | None = None) -> np.ndarray:
    """y = input @ weightᵀ + bias, for input (*, in), weight (out, in), bias (out,) — like F.linear."""
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    _check_linear_args(x, w)
    y = x @ w.T
    if bias is not None:
        b = as_float_array(bias, "bias")
        _check_shape(b, (w.shape[0],), "bias")
        y = y + b
    return y


def linear_backward(
    input: ArrayLike, weight: ArrayLike, grad_output: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dL/dx, dL/dW, dL/db) = (g W, gᵀ x, gᵀ 1) for g = dL/dy, summing over every batch axis of (*, out)."""
    x = as_float_array(input, "input")
    w = as_float_array(weight, "weight")
    _check_linear_args(x, w)
    g = as_float_array(grad_output, "grad_output")
    _check_shape(g, x.shape[:-1] + (w.shape[0],), "grad_output")
    grad_input = g @ w
    g2 = g.reshape(-1, w.shape[0])  # all batch axes flattened into one: the weight is shared across them
    x2 = x.reshape(-1, w.shape[1])
    grad_weight = g2.T @ x2
    grad_bias = g2.sum(axis=0)
    return grad_input, grad_weight, grad_bias
