"""Optimizers and learning-rate schedules in numpy float64, with torch.optim's exact update rules.

Functional steps return a new parameter and a new (frozen) state and never modify their inputs; the SGD and
Adam classes wrap them and, like torch.optim, update their parameter arrays in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from numbers import Real
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_same_shape


def _is_real(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _nonnegative(name: str, value: float) -> float:
    if not _is_real(value) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _param_and_grad(param: ArrayLike, grad: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p = as_float_array(param, "param")
    g = as_float_array(grad, "grad")
    check_same_shape(p, g, "param", "grad")
    return p, g


def gd_step(param: ArrayLike, grad: ArrayLike, lr: float) -> np.ndarray:
    """θ' = θ − lr · ∇J(θ)  (plain gradient descent; a new array, param is not modified)."""
    p, g = _param_and_grad(param, grad)
    return p - _nonnegative("lr", lr) * g


def minibatch_indices(
    n: int, batch_size: int, rng: np.random.Generator, shuffle: bool = True, drop_last: bool = False
) -> list[np.ndarray]:
    """range(n), shuffled by rng.permutation if shuffle, cut into consecutive batches of batch_size."""
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 0:
        raise ValueError(f"n must be an integer >= 0, got {n!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    order = rng.permutation(n) if shuffle else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[start : start + batch_size] for start in range(0, stop, batch_size)]


@dataclass(frozen=True)
class SGDState:
    """torch.optim.SGD's per-parameter state: the momentum buffer (None until a step with momentum)."""

    momentum_buffer: np.ndarray | None = None


def _check_sgd_hyper(
    lr: float, momentum: float, dampening: float, weight_decay: float, nesterov: bool
) -> None:
    _nonnegative("lr", lr)
    _nonnegative("momentum", momentum)
    _nonnegative("weight_decay", weight_decay)
    if not _is_real(dampening) or not np.isfinite(dampening):
        raise ValueError(f"dampening must be a finite number, got {dampening!r}")
    if nesterov and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov requires momentum > 0 and dampening == 0 (as torch.optim.SGD)")


def sgd_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: SGDState | None = None,
    *,
    lr: float = 1e-3,
    momentum: float = 0.0,
    dampening: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> tuple[np.ndarray, SGDState]:
    """g ← ±g + wd·θ; b ← g (first step) else μ·b + (1−τ)·g; θ' = θ − lr·(g + μ·b if nesterov else b)."""
    _check_sgd_hyper(lr, momentum, dampening, weight_decay, nesterov)
    p, g = _param_and_grad(param, grad)
    state = SGDState() if state is None else state
    if not isinstance(state, SGDState):
        raise ValueError(f"state must be an SGDState or None, got {type(state).__name__}")
    g = -g if maximize else g
    if weight_decay != 0:
        g = g + weight_decay * p
    buf = state.momentum_buffer
    if momentum != 0:
        if buf is None:
            buf = g.copy()  # torch: the first buffer is the gradient itself, no dampening
        else:
            check_same_shape(p, buf, "param", "state.momentum_buffer")
            buf = momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf
    return p - lr * g, SGDState(momentum_buffer=buf)


@dataclass(frozen=True)
class AdamState:
    """torch.optim.Adam's per-parameter state: step count, moment estimates m and v, and max v (amsgrad)."""

    step: int
    exp_avg: np.ndarray
    exp_avg_sq: np.ndarray
    max_exp_avg_sq: np.ndarray | None = None


def _check_adam_hyper(
    lr: float, betas: tuple[float, float], eps: float, weight_decay: float
) -> tuple[float, float]:
    _nonnegative("lr", lr)
    _nonnegative("eps", eps)
    _nonnegative("weight_decay", weight_decay)
    if not isinstance(betas, Sequence) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    for i, beta in enumerate(betas):
        if not _is_real(beta) or not 0.0 <= beta < 1.0:
            raise ValueError(f"betas[{i}] must be in [0, 1), got {beta!r}")
    return float(betas[0]), float(betas[1])


def adam_step(
    param: ArrayLike,
    grad: ArrayLike,
    state: AdamState | None = None,
    *,
    lr: float = 1e-3,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> tuple[np.ndarray, AdamState]:
    """t ← t+1; m ← β1·m + (1−β1)·g; v ← β2·v + (1−β2)·g²; θ' = θ − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + eps)."""
    beta1, beta2 = _check_adam_hyper(lr, betas, eps, weight_decay)
    p, g = _param_and_grad(param, grad)
    if state is None:
        zeros = np.zeros_like(p)
        state = AdamState(step=0, exp_avg=zeros, exp_avg_sq=zeros, max_exp_avg_sq=zeros if amsgrad else None)
    if not isinstance(state, AdamState):
        raise ValueError(f"state must be an AdamState or None, got {type(state).__name__}")
    check_same_shape(p, state.exp_avg, "param", "state.exp_avg")
    check_same_shape(p, state.exp_avg_sq, "param", "state.exp_avg_sq")
    if amsgrad and state.max_exp_avg_sq is None:
        raise ValueError("state.max_exp_avg_sq is None but amsgrad=True: the state was made without amsgrad")

    g = -g if maximize else g
    step = state.step + 1
    if weight_decay != 0:
        if decoupled_weight_decay:
            p = p * (1 - lr * weight_decay)  # AdamW: decay the weights, not the gradient
        else:
            g = g + weight_decay * p
    # m + (1−β1)(g − m) is β1·m + (1−β1)·g written as torch's lerp computes it (same rounding).
    exp_avg = state.exp_avg + (1 - beta1) * (g - state.exp_avg)
    exp_avg_sq = beta2 * state.exp_avg_sq + (1 - beta2) * (g * g)
    step_size = lr / (1 - beta1**step)
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    max_exp_avg_sq = None
    if amsgrad:
        max_exp_avg_sq = np.maximum(state.max_exp_avg_sq, exp_avg_sq)
        denom = np.sqrt(max_exp_avg_sq) / bias_correction2_sqrt + eps
    else:
        denom = np.sqrt(exp_avg_sq) / bias_correction2_sqrt + eps
    new_state = AdamState(step=step, exp_avg=exp_avg, exp_avg_sq=exp_avg_sq, max_exp_avg_sq=max_exp_avg_sq)
    return p - step_size * exp_avg / denom, new_state


class _Optimizer:
    """A list of float64 parameter arrays that step(grads) updates in place, one state per parameter."""

    def __init__(self, params: Sequence[np.ndarray], update: Callable[..., tuple[np.ndarray, Any]]) -> None:
        if isinstance(params, np.ndarray) or not isinstance(params, Sequence) or len(params) == 0:
            raise ValueError("params must be a non-empty list of float64 numpy arrays")
        for i, p in enumerate(params):
            if not isinstance(p, np.ndarray) or p.dtype != np.float64 or not p.flags.writeable:
                raise ValueError(f"params[{i}] must be a writeable float64 ndarray: it is updated in place")
        self.params = list(params)
        self.state: list[Any] = [None] * len(self.params)
        self._update = update  # (param, grad, state) -> (new param, new state)

    def step(self, grads: Sequence[ArrayLike]) -> None:
        """θ_i ← update(θ_i, grads[i], state_i) for every parameter, in place, in the order of params."""
        if isinstance(grads, np.ndarray) or not isinstance(grads, Sequence) or len(grads) != len(self.params):
            raise ValueError(f"grads must be a list of {len(self.params)} arrays, one per parameter")
        for i, (param, grad) in enumerate(zip(self.params, grads, strict=True)):
            g = as_float_array(grad, f"grads[{i}]")
            check_same_shape(param, g, f"params[{i}]", f"grads[{i}]")
            new_param, self.state[i] = self._update(param, g, self.state[i])
            param[...] = new_param


class SGD(_Optimizer):
    """torch.optim.SGD over a list of float64 arrays, updated in place by step(grads)."""

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        _check_sgd_hyper(lr, momentum, dampening, weight_decay, nesterov)
        hyper = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay)
        super().__init__(params, partial(sgd_step, **hyper, nesterov=nesterov, maximize=maximize))


class Adam(_Optimizer):
    """torch.optim.Adam over a list of float64 arrays, updated in place by step(grads)."""

    def __init__(
        self,
        params: Sequence[np.ndarray],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_adam_hyper(lr, betas, eps, weight_decay)
        hyper = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        update = partial(adam_step, **hyper, maximize=maximize, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, update)


def _check_epoch(epoch: int) -> int:
    if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
        raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
    return int(epoch)


def step_lr(lr0: float, epoch: int, step_size: int, gamma: float = 0.1) -> float:
    """lr = lr0 · gamma^⌊epoch / step_size⌋  (lr_scheduler.StepLR after `epoch` scheduler steps)."""
    _nonnegative("lr0", lr0)
    epoch = _check_epoch(epoch)
    if isinstance(step_size, bool) or not isinstance(step_size, int | np.integer) or step_size < 1:
        raise ValueError(f"step_size must be an integer >= 1, got {step_size!r}")
    _nonnegative("gamma", gamma)
    return float(lr0) * float(gamma) ** (epoch // int(step_size))


def exponential_lr(lr0: float, epoch: int, gamma: float) -> float:
    """lr = lr0 · gamma^epoch  (lr_scheduler.ExponentialLR after `epoch` scheduler steps)."""
    _nonnegative("lr0", lr0)
    epoch = _check_epoch(epoch)
    _nonnegative("gamma", gamma)
    return float(lr0) * float(gamma) ** epoch
