"""Networks beyond one hidden layer, in numpy float64: the perceptron, stacked linear layers collapsing to one,
gradient norms through a deep stack (vanishing and exploding gradients), RNN/LSTM shapes and parameter counts,
one hand-written RNN step, regularised least squares, and the decision region of a 2-D classifier.

Weights use torch's layout (out_features, in_features): a linear layer is y = x Wᵀ + b.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array
from reference.backprop import mlp_backward

__all__ = [
    "RECURRENT_KINDS",
    "collapse_linear",
    "decision_region",
    "gradient_norms",
    "perceptron",
    "recurrent_shapes",
    "ridge_closed_form",
    "ridge_gd",
    "ridge_objective",
    "rnn_step",
]

RECURRENT_KINDS = ("rnn", "lstm")


def perceptron(x: ArrayLike, weight: ArrayLike, bias: float) -> np.ndarray:
    """Rosenblatt's unit: 1 where x·w + b > 0, else 0 (int64, shape (n,)); x (n, d), w (d,)."""
    x, w = as_float_array(x, "x"), as_float_array(weight, "weight")
    if x.ndim != 2 or w.shape != (x.shape[1],):
        raise ValueError(f"x must be (n, d) and weight (d,), got {x.shape} and {w.shape}")
    return (x @ w + float(bias) > 0).astype(np.int64)


def _layers(weights: Sequence[ArrayLike], biases: Sequence[ArrayLike]) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(weights) == 0 or len(weights) != len(biases):
        raise ValueError("weights and biases must be non-empty lists of the same length")
    layers, fan_in = [], None
    for i, (W, b) in enumerate(zip(weights, biases, strict=True)):
        W, b = as_float_array(W, f"weights[{i}]"), as_float_array(b, f"biases[{i}]")
        if W.ndim != 2 or (fan_in is not None and W.shape[1] != fan_in) or b.shape != (W.shape[0],):
            raise ValueError(f"layer {i}: W {W.shape} and b {b.shape} do not chain")
        layers.append((W, b))
        fan_in = W.shape[0]
    return layers


def collapse_linear(weights: Sequence[ArrayLike], biases: Sequence[ArrayLike]) -> tuple[np.ndarray, np.ndarray]:
    """(A, c) with x A ᵀ + c equal to the stack x ↦ x W_1ᵀ + b_1 ↦ … ↦ · W_Lᵀ + b_L without non-linearity:
    A = W_L ⋯ W_2 W_1 and c = b_L + W_L b_{L−1} + W_L W_{L−1} b_{L−2} + …"""
    A, c = None, None
    for W, b in _layers(weights, biases):
        A = W if A is None else W @ A
        c = b if c is None else W @ c + b
    assert A is not None and c is not None
    return A, c


def gradient_norms(x: ArrayLike, weights: Sequence[ArrayLike], activation: str) -> np.ndarray:
    """‖∂J/∂W_l‖_F for l = 1..L of the bias-free stack A_0 = x, Z_l = A_{l−1} W_lᵀ, A_l = h(Z_l) (l < L),
    J = Σ Z_L (every output's upstream gradient 1): first layer first, shape (L,)."""
    x = as_float_array(x, "x")
    params = [(W, np.zeros(np.shape(W)[0])) for W in weights]
    out_features = np.shape(weights[-1])[0]
    grads = mlp_backward(x, params, np.ones((x.shape[0], out_features)), activation)
    return np.array([np.linalg.norm(dW) for dW, _ in grads.grads])


def recurrent_shapes(kind: str, input_size: int, hidden_size: int, num_layers: int, bidirectional: bool,
                     batch_first: bool, batch: int, seq_len: int) -> dict[str, tuple[int, ...] | int]:
    """Shapes of nn.RNN / nn.LSTM's output, h_n (and c_n) for an input of `batch` sequences of `seq_len` steps,
    and the module's parameter count. D = 2 if bidirectional else 1; gates G = 4 (LSTM) or 1 (RNN):
    output (N, L, D·H) batch-first else (L, N, D·H); h_n, c_n (D·num_layers, N, H) whatever batch_first says;
    parameters Σ_layers D·(G·H·in_l + G·H·H + 2·G·H), in_1 = input_size, in_l = D·H after."""
    if kind not in RECURRENT_KINDS:
        raise ValueError(f"kind must be one of {list(RECURRENT_KINDS)}, got {kind!r}")
    directions = 2 if bidirectional else 1
    gates = 4 if kind == "lstm" else 1
    output = (batch, seq_len, directions * hidden_size) if batch_first else (seq_len, batch, directions * hidden_size)
    state = (directions * num_layers, batch, hidden_size)
    count = 0
    for layer in range(num_layers):
        fan_in = input_size if layer == 0 else directions * hidden_size
        count += directions * (gates * hidden_size * (fan_in + hidden_size) + 2 * gates * hidden_size)
    shapes: dict[str, tuple[int, ...] | int] = {"output": output, "h_n": state}
    if kind == "lstm":
        shapes["c_n"] = state
    shapes["parameters"] = count
    return shapes


def rnn_step(x: ArrayLike, h: ArrayLike, weight_ih: ArrayLike, weight_hh: ArrayLike, bias_ih: ArrayLike,
             bias_hh: ArrayLike) -> np.ndarray:
    """One step of nn.RNN (tanh): h' = tanh(x W_ihᵀ + b_ih + h W_hhᵀ + b_hh); x (N, in), h (N, H)."""
    x, h = as_float_array(x, "x"), as_float_array(h, "h")
    W_ih, W_hh = as_float_array(weight_ih, "weight_ih"), as_float_array(weight_hh, "weight_hh")
    b_ih, b_hh = as_float_array(bias_ih, "bias_ih"), as_float_array(bias_hh, "bias_hh")
    return np.tanh(x @ W_ih.T + b_ih + h @ W_hh.T + b_hh)


def ridge_objective(X: ArrayLike, y: ArrayLike, lam: float, beta: ArrayLike) -> float:
    """C(β) = Σ_i (y_i − x_i·β)² + λ Σ_j β_j² (the notes' objective: every coefficient penalised)."""
    X, y, beta = as_float_array(X, "X"), as_float_array(y, "y"), as_float_array(beta, "beta")
    residual = y - X @ beta
    return float(residual @ residual + lam * beta @ beta)


def ridge_closed_form(X: ArrayLike, y: ArrayLike, lam: float) -> np.ndarray:
    """argmin_β C(β) = (XᵀX + λI)⁻¹ Xᵀy, solved (not inverted); X (n, d), y (n,), λ ≥ 0."""
    X, y = as_float_array(X, "X"), as_float_array(y, "y")
    if X.ndim != 2 or y.shape != (X.shape[0],):
        raise ValueError(f"X must be (n, d) and y (n,), got {X.shape} and {y.shape}")
    if not lam >= 0:
        raise ValueError(f"lam must be >= 0, got {lam!r}")
    return np.linalg.solve(X.T @ X + lam * np.eye(X.shape[1]), X.T @ y)


def ridge_gd(X: ArrayLike, y: ArrayLike, lam: float, lr: float, steps: int) -> np.ndarray:
    """Gradient descent on C from β⁰ = 0: β ← β − lr ∇C(β), ∇C = 2Xᵀ(Xβ − y) + 2λβ; rows β⁰..β^steps."""
    X, y = as_float_array(X, "X"), as_float_array(y, "y")
    beta = np.zeros(X.shape[1])
    path = [beta]
    for _ in range(steps):
        beta = beta - lr * (2.0 * X.T @ (X @ beta - y) + 2.0 * lam * beta)
        path.append(beta)
    return np.stack(path)


def decision_region(W1: ArrayLike, b1: ArrayLike, W2: ArrayLike, b2: ArrayLike, lo: float, hi: float,
                    n: int) -> np.ndarray:
    """Predicted class of a 2-layer ReLU classifier (logits Z2 = ReLU(x W1ᵀ + b1) W2ᵀ + b2, class argmax Z2)
    at the grid points x = (u_j, v_i), u = v = linspace(lo, hi, n): an (n, n) int64 array whose row i is v_i
    (the second input) and column j is u_j (the first), as plt.contourf(u, v, region) expects."""
    W1, b1 = as_float_array(W1, "W1"), as_float_array(b1, "b1")
    W2, b2 = as_float_array(W2, "W2"), as_float_array(b2, "b2")
    u = np.linspace(lo, hi, n)
    U, V = np.meshgrid(u, u)  # indexing="xy": U varies along columns, V along rows
    points = np.stack([U.ravel(), V.ravel()], axis=1)
    logits = np.maximum(points @ W1.T + b1, 0.0) @ W2.T + b2
    return np.argmax(logits, axis=1).reshape(n, n).astype(np.int64)
