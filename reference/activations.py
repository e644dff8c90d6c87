"""Activation functions and their derivatives in numpy float64, named and called like torch.nn.functional's.

Every forward is written so that no intermediate overflows: sigmoid never evaluates exp of a positive number,
softmax and log_softmax subtract the maximum first (log-sum-exp), so logits of ±1000 give exact 0s and 1s.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_dim, check_same_shape


def sigmoid(x: ArrayLike) -> np.ndarray:
    """σ(x) = 1 / (1 + e^(−x))."""
    x = as_float_array(x, "x")
    # e^(−|x|) lies in (0, 1], so neither branch can overflow; each branch is the exact formula on its side.
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x: ArrayLike) -> np.ndarray:
    """tanh(x) = (e^x − e^(−x)) / (e^x + e^(−x))."""
    return np.tanh(as_float_array(x, "x"))


def relu(x: ArrayLike) -> np.ndarray:
    """relu(x) = max(x, 0)."""
    x = as_float_array(x, "x")
    return np.where(x > 0, x, 0.0)


def softmax(x: ArrayLike, dim: int = -1) -> np.ndarray:
    """softmax(x)_i = e^(x_i) / Σ_j e^(x_j) along dim."""
    x = as_float_array(x, "x")
    axis = check_dim(x, dim, "x")
    # Subtracting the max changes nothing mathematically and keeps every exponent ≤ 0.
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x: ArrayLike, dim: int = -1) -> np.ndarray:
    """log_softmax(x)_i = x_i − log Σ_j e^(x_j) along dim (log-sum-exp with the max subtracted)."""
    x = as_float_array(x, "x")
    axis = check_dim(x, dim, "x")
    shifted = x - np.max(x, axis=axis, keepdims=True)
    # Computing log(softmax) instead would give log(0) = −inf for very negative logits; this stays finite.
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def sigmoid_grad(x: ArrayLike) -> np.ndarray:
    """σ'(x) = σ(x)(1 − σ(x))."""
    s = sigmoid(x)
    return s * (1.0 - s)


def tanh_grad(x: ArrayLike) -> np.ndarray:
    """tanh'(x) = 1 − tanh(x)²."""
    return 1.0 - tanh(x) ** 2


def relu_grad(x: ArrayLike) -> np.ndarray:
    """relu'(x) = 1 if x > 0 else 0 (0 at x = 0, as torch chooses)."""
    return (as_float_array(x, "x") > 0).astype(np.float64)


def softmax_backward(x: ArrayLike, grad_output: ArrayLike, dim: int = -1) -> np.ndarray:
    """gᵀ J for s = softmax(x): s ⊙ (g − Σ_j g_j s_j) along dim."""
    s = softmax(x, dim)
    g = as_float_array(grad_output, "grad_output")
    check_same_shape(s, g, "x", "grad_output")
    axis = check_dim(s, dim, "x")
    # J = diag(s) − s sᵀ is never formed: its product with g collapses to one weighted sum per row.
    return s * (g - np.sum(g * s, axis=axis, keepdims=True))


def log_softmax_backward(x: ArrayLike, grad_output: ArrayLike, dim: int = -1) -> np.ndarray:
    """gᵀ J for log_softmax(x): g − softmax(x) ⊙ Σ_j g_j along dim."""
    s = softmax(x, dim)
    g = as_float_array(grad_output, "grad_output")
    check_same_shape(s, g, "x", "grad_output")
    axis = check_dim(s, dim, "x")
    return g - s * np.sum(g, axis=axis, keepdims=True)
