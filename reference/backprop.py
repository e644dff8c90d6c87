"""Backpropagation by hand, in numpy float64: the lecture's scalar worked example, the 2-layer network in
matrix form, and an MLP of any depth. Every gradient here is derived with the chain rule, not by autograd.

Conventions are torch's: a layer's weight W has shape (out, in) and Z = X Wᵀ + b for a batch X of shape
(B, in); losses are batch means. The backward recursion of unit 8, for upstream dJ/dZ of a layer with input A:
    dJ/dW = (dJ/dZ)ᵀ A,   dJ/db = (dJ/dZ)ᵀ 1,   dJ/dA = (dJ/dZ) W,   dJ/dZ_prev = dJ/dA ⊙ h'(Z_prev)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from numbers import Real

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_same_shape
from reference.activations import relu, relu_grad, sigmoid, sigmoid_grad, softmax, tanh, tanh_grad
from reference.layers import linear, linear_backward
from reference.losses import (
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    cross_entropy,
    cross_entropy_grad,
    mse_loss,
    mse_loss_grad,
)

# name -> (h, h'): the hidden activations of unit 8 and their derivatives (h'(0) = 0 for relu, as torch).
Elementwise = Callable[[ArrayLike], np.ndarray]
ACTIVATIONS: dict[str, tuple[Elementwise, Elementwise]] = {
    "sigmoid": (sigmoid, sigmoid_grad),
    "tanh": (tanh, tanh_grad),
    "relu": (relu, relu_grad),
}

# name -> (J(Z2, y), dJ/dZ2, output a_O(Z2)): unit 8's output layers, each loss a batch mean of the logits Z2.
LOSSES: dict[str, tuple[Callable[..., np.ndarray], Callable[..., np.ndarray], Elementwise]] = {
    # J = mean [ln(1 + e^z) − y z] (computed stably),  dJ/dz = (σ(z) − y) / n,  a_O = σ(z)
    "bce": (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad, sigmoid),
    # J = mean_i [ln Σ_k e^{z_ik} − z_{i,y_i}],  dJ/dz_ik = (softmax(z_i)_k − [k = y_i]) / B,  a_O = softmax
    "cross_entropy": (cross_entropy, cross_entropy_grad, lambda z: softmax(z, dim=1)),
    # J = mean (z − y)²,  dJ/dz = 2 (z − y) / n,  a_O = z (a linear output)
    "squared_error": (mse_loss, mse_loss_grad, lambda z: np.asarray(z, dtype=np.float64)),
}


def _activation(activation: str) -> tuple[Elementwise, Elementwise]:
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    return ACTIVATIONS[activation]


def _scalar(value: float, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"{name} must be a real number, got {type(value).__name__}")
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------------------------------
# Lecture 8's scalar worked example: x → y1 = w1·x + b1 → y2 = ReLU(y1) → y3 = w3·y2 + b3 → l = (y3 − target)²


@dataclass(frozen=True)
class ScalarBackprop:
    """Every forward value, local derivative, chained gradient and updated parameter of the worked example."""

    # inputs
    x: float
    w1: float
    b1: float
    w3: float
    b3: float
    target: float
    lr: float
    # forward pass
    y1: float
    y2: float
    y3: float
    loss: float
    # local derivatives (one edge of the graph each)
    dl_dy3: float  # 2(y3 − target)
    dy3_dy2: float  # w3
    dy2_dy1: float  # 1 if y1 > 0 else 0
    dy1_dx: float  # w1
    dy3_dw3: float  # y2
    dy3_db3: float  # 1
    dy1_dw1: float  # x
    dy1_db1: float  # 1
    # chained gradients of the loss
    dl_dy2: float
    dl_dy1: float
    dl_dx: float
    dl_dw3: float
    dl_db3: float
    dl_dw1: float
    dl_db1: float
    # one gradient-descent step θ' = θ − lr · dl/dθ
    w1_new: float
    b1_new: float
    w3_new: float
    b3_new: float


def scalar_backprop_example(
    x: float = 5.0,
    w1: float = 3.0,
    b1: float = 2.0,
    w3: float = -0.5,
    b3: float = 4.0,
    target: float = 2.0,
    lr: float = 1e-3,
) -> ScalarBackprop:
    """l = (w3·ReLU(w1·x + b1) + b3 − target)², its chain-rule gradients, and one step θ' = θ − lr·dl/dθ."""
    x, w1, b1, w3, b3, target, lr = (
        _scalar(v, n)
        for v, n in ((x, "x"), (w1, "w1"), (b1, "b1"), (w3, "w3"), (b3, "b3"), (target, "target"), (lr, "lr"))
    )
    y1 = w1 * x + b1
    y2 = max(y1, 0.0)
    y3 = w3 * y2 + b3
    loss = (y3 - target) ** 2

    dl_dy3 = 2.0 * (y3 - target)
    dy3_dy2, dy3_dw3, dy3_db3 = w3, y2, 1.0
    dy2_dy1 = 1.0 if y1 > 0 else 0.0
    dy1_dx, dy1_dw1, dy1_db1 = w1, x, 1.0

    dl_dy2 = dl_dy3 * dy3_dy2
    dl_dy1 = dl_dy2 * dy2_dy1
    dl_dw3, dl_db3 = dl_dy3 * dy3_dw3, dl_dy3 * dy3_db3
    dl_dw1, dl_db1 = dl_dy1 * dy1_dw1, dl_dy1 * dy1_db1
    dl_dx = dl_dy1 * dy1_dx
    return ScalarBackprop(
        x=x, w1=w1, b1=b1, w3=w3, b3=b3, target=target, lr=lr,
        y1=y1, y2=y2, y3=y3, loss=loss,
        dl_dy3=dl_dy3, dy3_dy2=dy3_dy2, dy2_dy1=dy2_dy1, dy1_dx=dy1_dx,
        dy3_dw3=dy3_dw3, dy3_db3=dy3_db3, dy1_dw1=dy1_dw1, dy1_db1=dy1_db1,
        dl_dy2=dl_dy2, dl_dy1=dl_dy1, dl_dx=dl_dx,
        dl_dw3=dl_dw3, dl_db3=dl_db3, dl_dw1=dl_dw1, dl_db1=dl_db1,
        w1_new=w1 - lr * dl_dw1, b1_new=b1 - lr * dl_db1, w3_new=w3 - lr * dl_dw3, b3_new=b3 - lr * dl_db3,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------------------------
# Unit 8's 2-layer network: Z1 = X W1ᵀ + b1, A1 = h(Z1), Z2 = A1 W2ᵀ + b2, J = mean loss(Z2, y)


@dataclass(frozen=True)
class TwoLayerForward:
    """The 2-layer network's scores Z1, hidden activations A1, logits Z2, output a_O and loss J."""

    Z1: np.ndarray
    A1: np.ndarray
    Z2: np.ndarray
    output: np.ndarray  # sigmoid(Z2) for bce, softmax(Z2) for cross_entropy, Z2 for squared_error
    loss: float


@dataclass(frozen=True)
class TwoLayerBackward:
    """The forward intermediates and dJ/d of every node: dZ2, dA1, dZ1, dX, dW1, db1, dW2, db2."""

    Z1: np.ndarray
    A1: np.ndarray
    Z2: np.ndarray
    output: np.ndarray
    loss: float
    dZ2: np.ndarray
    dA1: np.ndarray
    dZ1: np.ndarray
    dX: np.ndarray
    dW1: np.ndarray
    db1: np.ndarray
    dW2: np.ndarray
    db2: np.ndarray


def _check_targets(y: ArrayLike, Z2: np.ndarray, loss: str) -> np.ndarray:
    """y as class indices of shape (B,) for cross_entropy, else as float64 of exactly Z2's shape."""
    if loss != "cross_entropy":
        target = as_float_array(y, "y")
        check_same_shape(Z2, target, "Z2", "y")
        return target
    target = np.asarray(y)
    if target.dtype.kind not in "iu":
        raise ValueError(f"y must hold integer class indices for cross_entropy, got dtype {target.dtype}")
    if target.shape != Z2.shape[:1]:
        raise ValueError(f"y has shape {target.shape}, expected {Z2.shape[:1]}: one class index per row")
    if np.any((target < 0) | (target >= Z2.shape[1])):
        raise ValueError(f"y must hold class indices in 0..{Z2.shape[1] - 1}")
    return target


def _two_layer_args(
    X: ArrayLike, W1: ArrayLike, b1: ArrayLike, W2: ArrayLike, b2: ArrayLike, activation: str, loss: str
) -> tuple[np.ndarray, ...]:
    _activation(activation)
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    named = ((X, "X"), (W1, "W1"), (b1, "b1"), (W2, "W2"), (b2, "b2"))
    X, W1, b1, W2, b2 = (as_float_array(value, name) for value, name in named)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (batch, features), got shape {X.shape}")
    for name, W, fan_in in (("W1", W1, X.shape[1]), ("W2", W2, W1.shape[0] if W1.ndim == 2 else -1)):
        if W.ndim != 2 or W.shape[1] != fan_in:
            raise ValueError(f"{name} has shape {W.shape}, expected (out_features, {fan_in})")
    for name, b, W in (("b1", b1, W1), ("b2", b2, W2)):
        if b.shape != (W.shape[0],):
            raise ValueError(f"{name} has shape {b.shape}, expected ({W.shape[0]},)")
    if loss == "bce" and W2.shape[0] != 1:
        raise ValueError(f"W2 has shape {W2.shape}: bce needs one output unit, shape (1, {W2.shape[1]})")
    return X, W1, b1, W2, b2


def two_layer_forward(
    X: ArrayLike,
    y: ArrayLike,
    W1: ArrayLike,
    b1: ArrayLike,
    W2: ArrayLike,
    b2: ArrayLike,
    activation: str = "sigmoid",
    loss: str = "bce",
) -> TwoLayerForward:
    """Z1 = X W1ᵀ + b1, A1 = h(Z1), Z2 = A1 W2ᵀ + b2, J = mean loss(Z2, y)  (loss from the logits Z2)."""
    X, W1, b1, W2, b2 = _two_layer_args(X, W1, b1, W2, b2, activation, loss)
    h, _ = _activation(activation)
    J, _, output = LOSSES[loss]
    Z1 = linear(X, W1, b1)
    A1 = h(Z1)
    Z2 = linear(A1, W2, b2)
    target = _check_targets(y, Z2, loss)
    return TwoLayerForward(Z1=Z1, A1=A1, Z2=Z2, output=output(Z2), loss=float(J(Z2, target)))


def two_layer_backward(
    X: ArrayLike,
    y: ArrayLike,
    W1: ArrayLike,
    b1: ArrayLike,
    W2: ArrayLike,
    b2: ArrayLike,
    activation: str = "sigmoid",
    loss: str = "bce",
) -> TwoLayerBackward:
    """dW2 = dZ2ᵀ A1, db2 = dZ2ᵀ 1, dZ1 = (dZ2 W2) ⊙ h'(Z1), dW1 = dZ1ᵀ X, db1 = dZ1ᵀ 1 (unit 8)."""
    X, W1, b1, W2, b2 = _two_layer_args(X, W1, b1, W2, b2, activation, loss)
    _, h_prime = _activation(activation)
    _, dJ_dZ2, _ = LOSSES[loss]
    forward = two_layer_forward(X, y, W1, b1, W2, b2, activation, loss)
    dZ2 = dJ_dZ2(forward.Z2, _check_targets(y, forward.Z2, loss))
    dA1, dW2, db2 = linear_backward(forward.A1, W2, dZ2)
    dZ1 = dA1 * h_prime(forward.Z1)
    dX, dW1, db1 = linear_backward(X, W1, dZ1)
    return TwoLayerBackward(
        **vars(forward), dZ2=dZ2, dA1=dA1, dZ1=dZ1, dX=dX, dW1=dW1, db1=db1, dW2=dW2, db2=db2
    )


# ------------------------------------------------------------------------------------------------------------
# An MLP of any depth: A_0 = x, Z_l = A_{l−1} W_lᵀ + b_l, A_l = h(Z_l) for l < L; the output Z_L is linear.


@dataclass(frozen=True)
class MLPGradients:
    """dL/dx and (dL/dW_l, dL/db_l) for every layer l, in the order of params."""

    grad_input: np.ndarray
    grads: tuple[tuple[np.ndarray, np.ndarray], ...]


Params = Sequence[tuple[ArrayLike, ArrayLike]]


def _mlp_params(params: Params, in_features: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if isinstance(params, np.ndarray) or not isinstance(params, Sequence) or len(params) == 0:
        raise ValueError("params must be a non-empty list of (W, b) pairs")
    checked, fan_in = [], in_features
    for layer, pair in enumerate(params):
        if not isinstance(pair, Sequence) or len(pair) != 2:
            raise ValueError(f"params[{layer}] must be a (W, b) pair")
        W = as_float_array(pair[0], f"params[{layer}][0]")
        b = as_float_array(pair[1], f"params[{layer}][1]")
        if W.ndim != 2 or W.shape[1] != fan_in:
            raise ValueError(f"params[{layer}][0] (W) has shape {W.shape}, expected (out_features, {fan_in})")
        if b.shape != (W.shape[0],):
            raise ValueError(f"params[{layer}][1] (b) has shape {b.shape}, expected ({W.shape[0]},)")
        checked.append((W, b))
        fan_in = W.shape[0]
    return checked


def _mlp_pass(
    x: ArrayLike, params: Params, activation: str
) -> tuple[list[np.ndarray], list[np.ndarray], list[tuple[np.ndarray, np.ndarray]]]:
    """(inputs A_0..A_{L−1} of each layer, pre-activations Z_1..Z_L, checked params)."""
    h, _ = _activation(activation)
    x = as_float_array(x, "x")
    if x.ndim != 2:
        raise ValueError(f"x must be 2-D (batch, features), got shape {x.shape}")
    layers = _mlp_params(params, x.shape[1])
    inputs, pre_activations = [x], []
    for i, (W, b) in enumerate(layers):
        Z = linear(inputs[-1], W, b)
        pre_activations.append(Z)
        if i < len(layers) - 1:
            inputs.append(h(Z))
    return inputs, pre_activations, layers


def mlp_forward(x: ArrayLike, params: Params, activation: str = "relu") -> np.ndarray:
    """Z_L for A_0 = x, Z_l = A_{l−1} W_lᵀ + b_l, A_l = h(Z_l): hidden layers activated, the last linear."""
    _, pre_activations, _ = _mlp_pass(x, params, activation)
    return pre_activations[-1]


def mlp_backward(
    x: ArrayLike, params: Params, grad_output: ArrayLike, activation: str = "relu"
) -> MLPGradients:
    """δ_L = g; for l = L..1: dW_l = δ_lᵀ A_{l−1}, db_l = δ_lᵀ1, δ_{l−1} = (δ_l W_l) ⊙ h'(Z_{l−1})."""
    _, h_prime = _activation(activation)
    inputs, pre_activations, layers = _mlp_pass(x, params, activation)
    delta = as_float_array(grad_output, "grad_output")
    check_same_shape(pre_activations[-1], delta, "mlp_forward(x, params)", "grad_output")
    grads: list[tuple[np.ndarray, np.ndarray]] = []
    for layer in reversed(range(len(layers))):
        grad_in, dW, db = linear_backward(inputs[layer], layers[layer][0], delta)
        grads.append((dW, db))
        delta = grad_in * h_prime(pre_activations[layer - 1]) if layer > 0 else grad_in
    return MLPGradients(grad_input=delta, grads=tuple(reversed(grads)))
