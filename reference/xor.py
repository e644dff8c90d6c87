"""The "Intro to deep learning" lecture's 2-layer numpy network for XOR, with biases and hand-written backprop
(the lecture takes it from iamtrask's "basic python network").

Network, for a batch X of shape (n, d) and torch's weight layout (out, in):
    Z1 = X W1ᵀ + b1,  A1 = σ(Z1)  (n, hidden);   Z2 = A1 W2ᵀ + b2,  A2 = σ(Z2)  (n, 1);   p = A2[:, 0]
Loss, summed over the batch as in the notes:
    'squared_error': J = ½ Σ_i (p_i − y_i)²   (the notes' loss: their update syn1 += l1ᵀ l2_delta with
                     l2_delta = (y − l2) ⊙ l2 ⊙ (1 − l2) is one step of gradient descent on it, lr = 1)
    'bce':           J = Σ_i −[y_i ln p_i + (1 − y_i) ln(1 − p_i)], computed from Z2 as softplus(Z2) − y Z2
Backward (unit 8's recursion):
    dZ2 = (p − y) ⊙ σ'(Z2)  (squared error)  or  p − y  (bce),  shape (n, 1)
    dW2 = dZ2ᵀ A1,  db2 = dZ2ᵀ 1,  dZ1 = (dZ2 W2) ⊙ A1 ⊙ (1 − A1),  dW1 = dZ1ᵀ X,  db1 = dZ1ᵀ 1
Training is full-batch gradient descent θ ← θ − lr ∇J from weights drawn uniformly on [−1, 1) (the notes'
2·random − 1) by an explicit numpy Generator.

The notes' version has no output bias and gets the hidden bias from a constant third input column [x0, x1, 1];
here both biases are explicit parameters, so X is the plain (4, 2) XOR table of reference.datasets.make_xor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array
from reference.datasets import as_rng, make_xor

__all__ = [
    "PARAM_NAMES",
    "XOR_LOSSES",
    "XORForward",
    "init_xor_params",
    "predict",
    "predict_proba",
    "train_xor",
    "xor_forward",
    "xor_gradients",
    "xor_loss",
]

PARAM_NAMES = ("W1", "b1", "W2", "b2")
XOR_LOSSES = ("squared_error", "bce")
Params = dict[str, np.ndarray]


@dataclass(frozen=True)
class XORForward:
    """Every intermediate of one forward pass."""

    Z1: np.ndarray  # (n, hidden)
    A1: np.ndarray  # (n, hidden) = σ(Z1)
    Z2: np.ndarray  # (n, 1)
    A2: np.ndarray  # (n, 1) = σ(Z2)


def _check_loss(loss: str) -> None:
    if loss not in XOR_LOSSES:
        raise ValueError(f"loss must be one of {list(XOR_LOSSES)}, got {loss!r}")


def _params(params: Mapping[str, ArrayLike], in_features: int) -> Params:
    """The four arrays as float64, after checking that the keys are W1, b1, W2, b2 and the shapes chain."""
    if not isinstance(params, Mapping) or set(params) != set(PARAM_NAMES):
        got = sorted(params) if isinstance(params, Mapping) else type(params).__name__
        raise ValueError(f"params must have exactly the keys {list(PARAM_NAMES)}, got {got}")
    p = {name: as_float_array(params[name], f"params[{name!r}]") for name in PARAM_NAMES}
    hidden = p["W1"].shape[0] if p["W1"].ndim == 2 else -1
    expected = {"W1": (hidden, in_features), "b1": (hidden,), "W2": (1, hidden), "b2": (1,)}
    for name, shape in expected.items():
        if hidden < 1 or p[name].shape != shape:
            raise ValueError(f"params[{name!r}] has shape {p[name].shape}, expected {shape}")
    return p


def _inputs(X: ArrayLike) -> np.ndarray:
    X = as_float_array(X, "X")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X must have shape (n, d) with n, d >= 1, got {X.shape}")
    return X


def _targets(y: ArrayLike, n: int) -> np.ndarray:
    y = as_float_array(y, "y")
    if y.shape != (n,):
        raise ValueError(f"y has shape {y.shape}, expected ({n},)")
    if ((y < 0) | (y > 1)).any():
        raise ValueError("y must lie in [0, 1]")
    return y


def init_xor_params(hidden: int, rng: np.random.Generator | int, in_features: int = 2) -> Params:
    """W1 (hidden, in), b1 (hidden,), W2 (1, hidden), b2 (1,), each 2·U[0, 1) − 1, drawn in that order."""
    for value, name in ((hidden, "hidden"), (in_features, "in_features")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    rng = as_rng(rng)
    shapes = {"W1": (hidden, in_features), "b1": (hidden,), "W2": (1, hidden), "b2": (1,)}
    return {name: 2.0 * rng.random(shape) - 1.0 for name, shape in shapes.items()}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    # reference.activations.sigmoid without its input checks (the training loop calls this 2·epochs times).
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _forward(p: Params, X: np.ndarray) -> XORForward:
    Z1 = X @ p["W1"].T + p["b1"]
    A1 = _sigmoid(Z1)
    Z2 = A1 @ p["W2"].T + p["b2"]
    return XORForward(Z1=Z1, A1=A1, Z2=Z2, A2=_sigmoid(Z2))


def xor_forward(params: Mapping[str, ArrayLike], X: ArrayLike) -> XORForward:
    """Z1 = X W1ᵀ + b1, A1 = σ(Z1), Z2 = A1 W2ᵀ + b2, A2 = σ(Z2)."""
    X = _inputs(X)
    return _forward(_params(params, X.shape[1]), X)


def _loss_from(fwd: XORForward, y: np.ndarray, loss: str) -> float:
    z, p = fwd.Z2[:, 0], fwd.A2[:, 0]
    if loss == "squared_error":
        return float(0.5 * np.sum((p - y) ** 2))
    # −[y ln σ(z) + (1 − y) ln(1 − σ(z))] = softplus(z) − y z, with softplus(z) = max(z, 0) + log1p(e^(−|z|)).
    return float(np.sum(np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - y * z))


def xor_loss(
    params: Mapping[str, ArrayLike], X: ArrayLike, y: ArrayLike, loss: str = "squared_error"
) -> float:
    """J = ½ Σ (p − y)² ('squared_error', the notes') or Σ BCE(p, y) ('bce'), p = A2[:, 0]; a sum."""
    _check_loss(loss)
    fwd = xor_forward(params, X)
    return _loss_from(fwd, _targets(y, fwd.Z2.shape[0]), loss)


def _backward(p: Params, X: np.ndarray, y: np.ndarray, fwd: XORForward, loss: str) -> Params:
    A2 = fwd.A2
    diff = A2 - y[:, None]  # (n, 1)
    dZ2 = diff * A2 * (1.0 - A2) if loss == "squared_error" else diff  # σ'(Z2) = A2 (1 − A2)
    dW2 = dZ2.T @ fwd.A1  # (1, hidden)
    db2 = dZ2.sum(axis=0)  # (1,)
    dZ1 = (dZ2 @ p["W2"]) * fwd.A1 * (1.0 - fwd.A1)  # (n, hidden)
    dW1 = dZ1.T @ X  # (hidden, in)
    db1 = dZ1.sum(axis=0)  # (hidden,)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def xor_gradients(
    params: Mapping[str, ArrayLike], X: ArrayLike, y: ArrayLike, loss: str = "squared_error"
) -> Params:
    """{name: ∂J/∂name} for W1, b1, W2, b2 by hand-written backprop (see the module docstring)."""
    _check_loss(loss)
    X = _inputs(X)
    p = _params(params, X.shape[1])
    y = _targets(y, X.shape[0])
    return _backward(p, X, y, _forward(p, X), loss)


def train_xor(
    hidden: int = 4,
    lr: float = 1.0,
    epochs: int = 2000,
    rng: np.random.Generator | int = 0,
    *,
    loss: str = "squared_error",
    X: ArrayLike | None = None,
    y: ArrayLike | None = None,
) -> tuple[Params, np.ndarray]:
    """θ ← θ − lr ∇J(θ), `epochs` full-batch steps from init_xor_params; (params, history[t] = J(θ_t))."""
    # On the 4 XOR points unless X, y are given. history has shape (epochs,): the loss before each step.
    _check_loss(loss)
    real = isinstance(lr, int | float | np.floating) and not isinstance(lr, bool)
    if not real or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1, got {epochs!r}")
    if (X is None) != (y is None):
        raise ValueError("X and y must be given together")
    if X is None:
        X, y = make_xor()
    X = _inputs(X)
    y = _targets(y, X.shape[0])
    params = init_xor_params(hidden, rng, in_features=X.shape[1])
    history = np.zeros(epochs)
    for t in range(epochs):
        fwd = _forward(params, X)
        history[t] = _loss_from(fwd, y, loss)
        grads = _backward(params, X, y, fwd, loss)
        params = {name: params[name] - lr * grads[name] for name in PARAM_NAMES}
    return params, history


def predict_proba(params: Mapping[str, ArrayLike], X: ArrayLike) -> np.ndarray:
    """p = σ(Z2)[:, 0] = P(y = 1 | x), shape (n,)."""
    return xor_forward(params, X).A2[:, 0]


def predict(params: Mapping[str, ArrayLike], X: ArrayLike) -> np.ndarray:
    """1.0 where p > 0.5 else 0.0, float64 of shape (n,) (comparable with make_xor's y)."""
    return (predict_proba(params, X) > 0.5).astype(np.float64)
