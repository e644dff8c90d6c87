"""Loss functions and their hand-derived input gradients in numpy float64, with torch.nn.functional's rules.

Each loss `f(input, target, ..., reduction)` has a partner `f_grad(..., reduction, grad_output=None)` that
returns the vector-Jacobian product (∂f/∂input)ᵀ grad_output. Both follow one pattern: an elementwise
loss ℓ and its derivative ∂ℓ/∂input, then the reduction: 'none' keeps ℓ, 'sum' adds it up, 'mean' divides the
sum by a total (the element count, or Σ weight[target] for class-weighted losses, exactly as torch does).
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from reference._checks import as_float_array, check_probabilities, check_reduction, check_same_shape
from reference.activations import log_softmax, sigmoid, softmax

# torch.nn.functional.binary_cross_entropy clamps each log at -100 so that log(0) gives a finite loss of 100.
_LOG_CLAMP = -100.0
# torch's BCE backward divides by max(x(1 - x), EPSILON), so at x = 0 or 1 the gradient is large but finite.
# Its EPSILON is the float32 constant 1e-12f (9.99999996e-13); the exact value makes the slope match to 1e-15.
_BCE_GRAD_EPS = float(np.float32(1e-12))


# ------------------------------------------------------------------------------------------------------------
# Shared plumbing: argument checks, reduction and the upstream gradient of the reduction.


def _pair(input: ArrayLike, target: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """input and target as float64 arrays of exactly the same shape."""
    x = as_float_array(input, "input")
    y = as_float_array(target, "target")
    check_same_shape(x, y, "input", "target")
    return x, y


def _broadcast_weight(weight: ArrayLike | None, shape: tuple[int, ...], name: str) -> np.ndarray | float:
    """An elementwise weight stretched to `shape`; it may broadcast (as in torch) but not change `shape`."""
    if weight is None:
        return 1.0
    w = as_float_array(weight, name)
    try:
        fits = np.broadcast_shapes(w.shape, shape) == shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"{name} has shape {w.shape}, which does not broadcast to input's shape {shape}")
    return np.broadcast_to(w, shape)


def _reduce(loss: np.ndarray, reduction: str, total: float | None = None) -> np.ndarray:
    """ℓ itself ('none'), Σℓ ('sum') or Σℓ / total ('mean'; total defaults to the number of elements)."""
    if reduction == "none":
        return np.asarray(loss, dtype=np.float64)  # a sum over the classes of one sample is a numpy scalar
    if reduction == "sum":
        return np.asarray(np.sum(loss), dtype=np.float64)
    return np.asarray(np.sum(loss) / (loss.size if total is None else total), dtype=np.float64)


def _upstream(
    grad_output: ArrayLike | None, shape: tuple[int, ...], reduction: str, total: float | None = None
) -> np.ndarray:
    """∂(reduced loss)/∂ℓ times grad_output, as an array of the elementwise loss's `shape`."""
    check_reduction(reduction)
    if reduction == "none":
        if grad_output is None:
            return np.ones(shape)
        g = as_float_array(grad_output, "grad_output")
        if g.shape != shape:
            raise ValueError(f"grad_output has shape {g.shape} but the unreduced loss has shape {shape}")
        return g
    g = np.asarray(1.0) if grad_output is None else as_float_array(grad_output, "grad_output")
    if g.shape != ():
        raise ValueError(f"grad_output must be a scalar for reduction={reduction!r}, got shape {g.shape}")
    if reduction == "mean":
        count = math.prod(shape) if total is None else total
        g = g / count
    return np.full(shape, float(g))


# ------------------------------------------------------------------------------------------------------------
# Regression losses.


def mse_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> np.ndarray:
    """ℓ_n = (x_n − y_n)²."""
    check_reduction(reduction)
    x, y = _pair(input, target)
    return _reduce((x - y) ** 2, reduction)


def mse_loss_grad(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", grad_output: ArrayLike | None = None
) -> np.ndarray:
    """∂ℓ_n/∂x_n = 2(x_n − y_n)."""
    x, y = _pair(input, target)
    return 2.0 * (x - y) * _upstream(grad_output, x.shape, reduction)


def l1_loss(input: ArrayLike, target: ArrayLike, reduction: str = "mean") -> np.ndarray:
    """ℓ_n = |x_n − y_n|."""
    check_reduction(reduction)
    x, y = _pair(input, target)
    return _reduce(np.abs(x - y), reduction)


def l1_loss_grad(
    input: ArrayLike, target: ArrayLike, reduction: str = "mean", grad_output: ArrayLike | None = None
) -> np.ndarray:
    """∂ℓ_n/∂x_n = sign(x_n − y_n) (0 where x_n = y_n, as torch)."""
    x, y = _pair(input, target)
    return np.sign(x - y) * _upstream(grad_output, x.shape, reduction)


# ------------------------------------------------------------------------------------------------------------
# Binary classification: probabilities (BCE) or logits (BCE with logits).


def _bce_args(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | float]:
    x, y = _pair(input, target)
    check_probabilities(x, "input")
    check_probabilities(y, "target")
    return x, y, _broadcast_weight(weight, x.shape, "weight")


def binary_cross_entropy(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, reduction: str = "mean"
) -> np.ndarray:
    """ℓ_n = −w_n [y_n max(log x_n, −100) + (1 − y_n) max(log(1 − x_n), −100)]."""
    check_reduction(reduction)
    x, y, w = _bce_args(input, target, weight)
    with np.errstate(divide="ignore"):  # log(0) = −inf is expected here; the clamp turns it into −100
        log_x = np.maximum(np.log(x), _LOG_CLAMP)
        log_1mx = np.maximum(np.log1p(-x), _LOG_CLAMP)
    return _reduce(-w * (y * log_x + (1.0 - y) * log_1mx), reduction)


def binary_cross_entropy_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> np.ndarray:
    """∂ℓ_n/∂x_n = w_n (x_n − y_n) / max(x_n(1 − x_n), 1e-12)."""
    x, y, w = _bce_args(input, target, weight)
    # −y/x + (1 − y)/(1 − x) over a common denominator; torch floors that denominator, and so do we, so that
    # x = 0 or 1 gives torch's finite (±1e12-scale) slope rather than a division by zero.
    slope = w * (x - y) / np.maximum(x * (1.0 - x), _BCE_GRAD_EPS)
    return slope * _upstream(grad_output, x.shape, reduction)


def _bce_logits_args(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, pos_weight: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | float, np.ndarray | float]:
    x, y = _pair(input, target)
    check_probabilities(y, "target")
    w = _broadcast_weight(weight, x.shape, "weight")
    # pos_weight p scales the positive term: (1 + (p − 1) y) multiplies −log σ(x), as in torch.
    if pos_weight is None:
        return x, y, w, 1.0
    p = _broadcast_weight(pos_weight, x.shape, "pos_weight")
    log_weight = 1.0 + (p - 1.0) * y
    return x, y, w, log_weight


def binary_cross_entropy_with_logits(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
) -> np.ndarray:
    """ℓ_n = −w_n [p_n y_n log σ(x_n) + (1 − y_n) log(1 − σ(x_n))] for pos_weight p, with σ the sigmoid."""
    check_reduction(reduction)
    x, y, w, log_weight = _bce_logits_args(input, target, weight, pos_weight)
    # −log σ(x) = log(1 + e^(−x)) = max(−x, 0) + log(1 + e^(−|x|)): exact, and never exponentiates a positive.
    # −log(1 − σ(x)) = x − log σ(x), which gives the (1 − y) x term.
    neg_log_sigmoid = np.maximum(-x, 0.0) + np.log1p(np.exp(-np.abs(x)))
    return _reduce(w * ((1.0 - y) * x + log_weight * neg_log_sigmoid), reduction)


def binary_cross_entropy_with_logits_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    pos_weight: ArrayLike | None = None,
    grad_output: ArrayLike | None = None,
) -> np.ndarray:
    """∂ℓ_n/∂x_n = w_n [(1 − y_n) − (1 + (p_n − 1) y_n)(1 − σ(x_n))]; σ(x_n) − y_n when p = 1."""
    x, y, w, log_weight = _bce_logits_args(input, target, weight, pos_weight)
    # 1 − σ(x) written as σ(−x), which keeps its tiny value for large x instead of cancelling to 0.
    slope = w * ((1.0 - y) - log_weight * sigmoid(-x))
    return slope * _upstream(grad_output, x.shape, reduction)


# ------------------------------------------------------------------------------------------------------------
# Multi-class classification. The class axis is 1 (or 0 for a single unbatched sample), as in torch;
# internally it is moved last so that one code path serves (C,), (N, C) and (N, C, d1, ...).


def _class_last(x: np.ndarray) -> np.ndarray:
    if x.ndim == 0:
        raise ValueError("input must have a class dimension, got a scalar")
    return np.moveaxis(x, 1, -1) if x.ndim >= 2 else x


def _class_back(g: np.ndarray) -> np.ndarray:
    return np.moveaxis(g, -1, 1) if g.ndim >= 2 else g


def _class_weight(weight: ArrayLike | None, n_classes: int) -> np.ndarray:
    if weight is None:
        return np.ones(n_classes)
    w = as_float_array(weight, "weight")
    if w.shape != (n_classes,):
        raise ValueError(
            f"weight has shape {w.shape} but input has {n_classes} classes, so it needs shape ({n_classes},)"
        )
    return w


def _class_index(target: ArrayLike, input_shape: tuple[int, ...], z: np.ndarray) -> np.ndarray:
    """target as integer class indices of the batch shape of input (its shape without the class axis)."""
    y = np.asarray(target)
    if y.dtype.kind not in "iu":
        raise ValueError(f"target must hold integer class indices, got dtype {y.dtype}")
    if y.shape != z.shape[:-1]:
        raise ValueError(
            f"target has shape {y.shape} but input has shape {input_shape}; class indices need shape {z.shape[:-1]}"
        )
    n_classes = z.shape[-1]
    if np.any((y < 0) | (y >= n_classes)):
        raise ValueError(f"target holds class indices outside 0..{n_classes - 1}")
    return y


def _one_hot(y: np.ndarray, n_classes: int) -> np.ndarray:
    return (y[..., None] == np.arange(n_classes)).astype(np.float64)


def _dot_classes(q: np.ndarray, log_p: np.ndarray) -> np.ndarray:
    """Σ_c q_c log p_c with 0 · log 0 = 0: a class of weight 0 adds nothing even when its log is −inf."""
    return np.sum(q * np.where(q == 0, 0.0, log_p), axis=-1)


def _cross_entropy_terms(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None, label_smoothing: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """(logits z, weighted soft targets q, both class-last; mean's divisor): ℓ = −Σ_c q_c log_softmax(z)_c."""
    x = as_float_array(input, "input")
    z = _class_last(x)
    n_classes = z.shape[-1]
    w = _class_weight(weight, n_classes)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}")
    eps = float(label_smoothing)
    if np.asarray(target).dtype.kind in "iu":
        y = _class_index(target, x.shape, z)
        # torch: (1 − ε) · nll + (ε / C) · Σ_c w_c (−log p_c); both parts are one weighted sum over classes.
        q = w * ((1.0 - eps) * _one_hot(y, n_classes) + eps / n_classes)
        # Class weights make 'mean' a weighted mean: divide by Σ_n w[y_n], not by N (torch's documented rule).
        return z, q, float(np.sum(w[y]))
    p = as_float_array(target, "target")
    check_same_shape(x, p, "input", "target")
    check_probabilities(p, "target")
    q = w * ((1.0 - eps) * _class_last(p) + eps / n_classes)
    # With probability targets torch's 'mean' divides by the number of samples, whatever the class weights.
    return z, q, float(math.prod(z.shape[:-1]))


def cross_entropy(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> np.ndarray:
    """ℓ_n = −Σ_c w_c t_nc log softmax(x_n)_c, t = one-hot(y) or probabilities, smoothed to (1 − ε)t + ε/C."""
    check_reduction(reduction)
    z, q, total = _cross_entropy_terms(input, target, weight, label_smoothing)
    return _reduce(-_dot_classes(q, log_softmax(z)), reduction, total)


def cross_entropy_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
    grad_output: ArrayLike | None = None,
) -> np.ndarray:
    """∂ℓ_n/∂x_nc = softmax(x_n)_c Σ_k q_nk − q_nc for q_nk = w_k t_nk (softmax − one-hot if unweighted)."""
    z, q, total = _cross_entropy_terms(input, target, weight, label_smoothing)
    g = _upstream(grad_output, z.shape[:-1], reduction, total)
    return _class_back((softmax(z) * np.sum(q, axis=-1, keepdims=True) - q) * g[..., None])


def _nll_terms(input: ArrayLike, target: ArrayLike, weight: ArrayLike | None) -> tuple[np.ndarray, np.ndarray, float]:
    """(log-probabilities z and w[y]·one-hot(y), class axis last; mean's divisor Σ_n w[y_n])."""
    x = as_float_array(input, "input")
    z = _class_last(x)
    w = _class_weight(weight, z.shape[-1])
    y = _class_index(target, x.shape, z)
    return z, w * _one_hot(y, z.shape[-1]), float(np.sum(w[y]))


def nll_loss(
    input: ArrayLike, target: ArrayLike, weight: ArrayLike | None = None, reduction: str = "mean"
) -> np.ndarray:
    """ℓ_n = −w_{y_n} x_{n, y_n} for log-probabilities x; 'mean' is Σ_n ℓ_n / Σ_n w_{y_n}."""
    check_reduction(reduction)
    z, q, total = _nll_terms(input, target, weight)
    return _reduce(-_dot_classes(q, z), reduction, total)


def nll_loss_grad(
    input: ArrayLike,
    target: ArrayLike,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> np.ndarray:
    """∂ℓ_n/∂x_nc = −w_{y_n} if c = y_n else 0."""
    z, q, total = _nll_terms(input, target, weight)
    g = _upstream(grad_output, z.shape[:-1], reduction, total)
    return _class_back(-q * g[..., None])


def _margin_terms(
    input: ArrayLike, target: ArrayLike, p: int, margin: float, weight: ArrayLike | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(active hinges margin − x_{n,y_n} + x_nc, else 0; one-hot(y); w[y]) for input (C,) or (N, C)."""
    x = as_float_array(input, "input")
    if x.ndim not in (1, 2):
        raise ValueError(f"input must be (C,) or (N, C), got shape {x.shape}")
    if p not in (1, 2) or isinstance(p, bool):
        raise ValueError(f"p must be 1 or 2 (as in torch), got {p!r}")
    if not np.isfinite(margin):
        raise ValueError(f"margin must be a finite number, got {margin!r}")
    y = _class_index(target, x.shape, x)
    w = _class_weight(weight, x.shape[-1])
    one_hot = _one_hot(y, x.shape[-1])
    x_target = np.sum(x * one_hot, axis=-1, keepdims=True)
    z = margin - x_target + x
    # The target class is not a competitor of itself (the notes' formula forgets i ≠ y); z = 0 is inactive.
    active = (z > 0) & (one_hot == 0)
    return np.where(active, z, 0.0), one_hot, w[y]


def multi_margin_loss(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
) -> np.ndarray:
    """ℓ_n = w_{y_n} Σ_{c ≠ y_n} max(0, margin − x_{n,y_n} + x_nc)^p / C (torch weighs after the power)."""
    check_reduction(reduction)
    hinge, _, w_y = _margin_terms(input, target, p, margin, weight)
    return _reduce(w_y * np.sum(hinge**p, axis=-1) / hinge.shape[-1], reduction)


def multi_margin_loss_grad(
    input: ArrayLike,
    target: ArrayLike,
    p: int = 1,
    margin: float = 1.0,
    weight: ArrayLike | None = None,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> np.ndarray:
    """∂ℓ_n/∂x_nc = w_{y_n} p h_nc^(p−1) [h_nc > 0] / C for c ≠ y_n, and minus their sum for c = y_n."""
    hinge, one_hot, w_y = _margin_terms(input, target, p, margin, weight)
    n_classes = hinge.shape[-1]
    # p h^(p−1) on active hinges: 1 for p = 1 (not h^0, which would also count inactive ones), 2h for p = 2.
    slope = (hinge > 0) * (1.0 if p == 1 else 2.0 * hinge)
    slope = slope * (w_y / n_classes)[..., None]
    # x_{y_n} appears with a minus sign in every competitor's hinge.
    grad = slope - one_hot * np.sum(slope, axis=-1, keepdims=True)
    return grad * _upstream(grad_output, hinge.shape[:-1], reduction)[..., None]


# ------------------------------------------------------------------------------------------------------------
# Negative log-likelihoods of distributions.


def _poisson_args(input: ArrayLike, target: ArrayLike, log_input: bool) -> tuple[np.ndarray, np.ndarray]:
    x, y = _pair(input, target)
    if np.any(y < 0):
        raise ValueError("target holds Poisson counts and must be non-negative")
    if not log_input and np.any(x < 0):
        raise ValueError("input is the Poisson rate when log_input=False and must be non-negative")
    return x, y


def poisson_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> np.ndarray:
    """ℓ_n = e^x_n − y_n x_n if log_input else x_n − y_n log(x_n + eps); full adds Stirling's log y_n!."""
    check_reduction(reduction)
    x, y = _poisson_args(input, target, log_input)
    loss = np.exp(x) - y * x if log_input else x - y * np.log(x + eps)
    if full:
        # Stirling's approximation of log(y!), which torch adds only where y > 1 (log 0! = log 1! = 0).
        big = np.where(y > 1, y, 2.0)  # placeholder 2 keeps log() quiet where the term is masked anyway
        loss = loss + np.where(y > 1, big * np.log(big) - big + 0.5 * np.log(2.0 * np.pi * big), 0.0)
    return _reduce(loss, reduction)


def poisson_nll_loss_grad(
    input: ArrayLike,
    target: ArrayLike,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> np.ndarray:
    """∂ℓ_n/∂x_n = e^(x_n) − y_n (log_input) or 1 − y_n / (x_n + eps); the Stirling term is constant in x."""
    x, y = _poisson_args(input, target, log_input)
    slope = np.exp(x) - y if log_input else 1.0 - y / (x + eps)
    return slope * _upstream(grad_output, x.shape, reduction)


def _gaussian_args(
    input: ArrayLike, target: ArrayLike, var: ArrayLike | float, eps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(input, target, var as given, var reshaped to broadcast against input and clamped at eps)."""
    x, y = _pair(input, target)
    v = as_float_array(var, "var")
    shape = x.shape
    # torch accepts one variance per element, a single shared one, one per row (shape without the last axis),
    # or a shape that differs from input's in exactly one axis, where it is 1.
    if v.ndim == 0 or v.shape == shape:
        v_b = v
    elif v.shape == shape[:-1]:
        v_b = v[..., None]
    elif v.ndim == len(shape) and sum(vs for s, vs in zip(shape, v.shape, strict=True) if s != vs) == 1:
        v_b = v
    else:
        raise ValueError(f"var has shape {v.shape}, which fits neither input's {shape} nor {shape[:-1]}")
    if np.any(v < 0):
        raise ValueError("var must be non-negative, but it has negative entries")
    # torch clamps var at eps (so var = 0 gives a finite loss), and does so outside autograd: see the grad.
    return x, y, v, np.maximum(v_b, eps)


def gaussian_nll_loss(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
) -> np.ndarray:
    """ℓ_n = ½ [log max(v_n, eps) + (x_n − y_n)² / max(v_n, eps)] (+ ½ log 2π if full)."""
    check_reduction(reduction)
    x, y, _, v = _gaussian_args(input, target, var, eps)
    loss = 0.5 * (np.log(v) + (x - y) ** 2 / v)
    if full:
        loss = loss + 0.5 * math.log(2.0 * math.pi)
    return _reduce(loss, reduction)


def gaussian_nll_loss_grad(
    input: ArrayLike,
    target: ArrayLike,
    var: ArrayLike | float,
    full: bool = False,
    eps: float = 1e-6,
    reduction: str = "mean",
    grad_output: ArrayLike | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(∂ℓ/∂x, ∂ℓ/∂v) = ((x − y)/v, ½[1/v − (x − y)²/v²]) at v = max(var, eps); ∂ℓ/∂v in var's shape."""
    x, y, var_given, v = _gaussian_args(input, target, var, eps)
    g = _upstream(grad_output, x.shape, reduction)
    d_input = (x - y) / v * g
    # torch clamps var under no_grad, so the clamp is invisible to autograd: the slope at the clamped value
    # passes straight through to var, even where var < eps. A shared variance collects every element's slope.
    d_var = 0.5 * (1.0 / v - (x - y) ** 2 / v**2) * g
    return d_input, _sum_to(d_var, v.shape).reshape(var_given.shape)


def _sum_to(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Σ of g over the axes that broadcasting stretched to turn `shape` into g's (adjoint of broadcast_to)."""
    g = np.sum(g, axis=tuple(range(g.ndim - len(shape))))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.sum(g, axis=stretched, keepdims=True)
