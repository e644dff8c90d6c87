"""reference.losses against torch.nn.functional (float64), torch autograd and central differences."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reference.activations import log_softmax, log_softmax_backward, sigmoid, sigmoid_grad
from reference.losses import (
    binary_cross_entropy,
    binary_cross_entropy_grad,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    cross_entropy,
    cross_entropy_grad,
    gaussian_nll_loss,
    gaussian_nll_loss_grad,
    l1_loss,
    l1_loss_grad,
    mse_loss,
    mse_loss_grad,
    multi_margin_loss,
    multi_margin_loss_grad,
    nll_loss,
    nll_loss_grad,
    poisson_nll_loss,
    poisson_nll_loss_grad,
)

REDUCTIONS = ["none", "mean", "sum"]


def _central_vjp(f, x: np.ndarray, g: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """∂/∂x_i Σ g ⊙ f(x) by central differences: the independent check of a hand-written backward."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (np.sum(g * f(plus)) - np.sum(g * f(minus))) / (2 * h)
    return grad


def _torch(value):
    """A numpy argument as torch would receive it: float64 tensors, int64 (long) class indices, floats as is."""
    if isinstance(value, np.ndarray):
        return torch.tensor(value, dtype=torch.long if value.dtype.kind in "iu" else torch.float64)
    return value


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(sum(map(ord, name)))  # a fixed seed per case, independent of test order


# --- the table of cases ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One loss configuration: ours(input, *args, **kwargs, reduction=...) vs theirs(...) in torch."""

    name: str
    ours: Callable
    grad: Callable
    theirs: Callable
    input: np.ndarray
    args: tuple = ()
    kwargs: dict = field(default_factory=dict)

    def loss(self, x: np.ndarray, reduction: str) -> np.ndarray:
        return self.ours(x, *self.args, reduction=reduction, **self.kwargs)

    def torch_loss(self, xt: torch.Tensor, reduction: str) -> torch.Tensor:
        kwargs = {k: _torch(v) for k, v in self.kwargs.items()}
        return self.theirs(xt, *map(_torch, self.args), reduction=reduction, **kwargs)

    def vjp(self, x: np.ndarray, reduction: str, g: np.ndarray) -> np.ndarray:
        return self.grad(x, *self.args, reduction=reduction, grad_output=g, **self.kwargs)


def _away_from_zero(a: np.ndarray, gap: float = 1e-2) -> np.ndarray:
    """a with entries near 0 moved to 0.5: differences of |x − y| and hinges at their kinks are not tested."""
    return np.where(np.abs(a) < gap, 0.5, a)


def _gaussian_input_grad(*args, **kwargs) -> np.ndarray:
    return gaussian_nll_loss_grad(*args, **kwargs)[0]


def _cases() -> list[Case]:
    cases = []

    def add(name, ours, grad, theirs, make):
        x, args, kwargs = make(_rng(name))
        cases.append(Case(name, ours, grad, theirs, x, args, kwargs))

    def regression(shape):
        def make(rng):
            y = rng.standard_normal(shape)
            return y + _away_from_zero(rng.standard_normal(shape)), (y,), {}

        return make

    for shape in [(4, 3), (1,), (6,)]:
        add(f"mse{shape}", mse_loss, mse_loss_grad, F.mse_loss, regression(shape))
        add(f"l1{shape}", l1_loss, l1_loss_grad, F.l1_loss, regression(shape))

    def bce(shape, weight_shape=None):
        def make(rng):
            kwargs = {} if weight_shape is None else {"weight": rng.uniform(0.5, 2, weight_shape)}
            return rng.uniform(0.05, 0.95, shape), (rng.uniform(0, 1, shape),), kwargs

        return make

    add("bce", binary_cross_entropy, binary_cross_entropy_grad, F.binary_cross_entropy, bce((4, 3)))
    add("bce_weight", binary_cross_entropy, binary_cross_entropy_grad, F.binary_cross_entropy, bce((4, 3), (3,)))
    add("bce_1", binary_cross_entropy, binary_cross_entropy_grad, F.binary_cross_entropy, bce((1,)))

    def bce_logits(shape, weight_shape=None, pos_weight_shape=None):
        def make(rng):
            kwargs = {}
            if weight_shape is not None:
                kwargs["weight"] = rng.uniform(0.5, 2, weight_shape)
            if pos_weight_shape is not None:
                kwargs["pos_weight"] = rng.uniform(0.5, 3, pos_weight_shape)
            return 3 * rng.standard_normal(shape), (rng.uniform(0, 1, shape),), kwargs

        return make

    bcel = (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad, F.binary_cross_entropy_with_logits)
    add("bce_logits", *bcel, bce_logits((4, 3)))
    add("bce_logits_weight_pos_weight", *bcel, bce_logits((4, 3), (4, 1), (3,)))
    add("bce_logits_1", *bcel, bce_logits((1,), None, (1,)))

    def classes(shape, n_classes, *, weight=False, probs=False, **extra):
        """Logits of `shape` (class axis 1, or 0 if 1-d) with index or probability targets."""

        def make(rng):
            x = 2 * rng.standard_normal(shape)
            batch = shape[:1] + shape[2:] if len(shape) > 1 else ()
            if probs:
                target = np.moveaxis(log_softmax(rng.standard_normal(batch + (n_classes,))), -1, min(1, len(shape) - 1))
                target = np.exp(target)
            else:
                target = rng.integers(0, n_classes, batch)
            kwargs = dict(extra)
            if weight:
                kwargs["weight"] = rng.uniform(0.2, 3, n_classes)
            return x, (target,), kwargs

        return make

    ce = (cross_entropy, cross_entropy_grad, F.cross_entropy)
    add("ce_index", *ce, classes((5, 4), 4))
    add("ce_index_weight", *ce, classes((5, 4), 4, weight=True))
    add("ce_index_smoothing", *ce, classes((5, 4), 4, label_smoothing=0.2))
    add("ce_index_weight_smoothing", *ce, classes((5, 4), 4, weight=True, label_smoothing=0.3))
    add("ce_probs", *ce, classes((5, 4), 4, probs=True))
    add("ce_probs_weight_smoothing", *ce, classes((5, 4), 4, probs=True, weight=True, label_smoothing=0.1))
    add("ce_kdim_weight", *ce, classes((2, 4, 3), 4, weight=True))
    add("ce_kdim_probs", *ce, classes((2, 4, 3), 4, probs=True))
    add("ce_unbatched", *ce, classes((4,), 4))
    add("ce_1", *ce, classes((1, 3), 3, weight=True))

    def log_probs(shape, n_classes, weight=False):
        make_logits = classes(shape, n_classes, weight=weight)

        def make(rng):
            x, args, kwargs = make_logits(rng)
            return log_softmax(x, dim=1 if x.ndim > 1 else 0), args, kwargs

        return make

    nll = (nll_loss, nll_loss_grad, F.nll_loss)
    add("nll", *nll, log_probs((5, 4), 4))
    add("nll_weight", *nll, log_probs((5, 4), 4, weight=True))
    add("nll_kdim_weight", *nll, log_probs((2, 4, 3), 4, weight=True))
    add("nll_1", *nll, log_probs((1, 3), 3))

    mm = (multi_margin_loss, multi_margin_loss_grad, F.multi_margin_loss)
    add("mm_p1", *mm, classes((6, 4), 4))
    add("mm_p2_margin_weight", *mm, classes((6, 4), 4, weight=True, p=2, margin=0.7))
    add("mm_unbatched", *mm, classes((5,), 5, p=2))
    add("mm_1", *mm, classes((1, 3), 3, margin=2.5))

    def poisson(shape, log_input=True, full=False):
        def make(rng):
            x = rng.standard_normal(shape) if log_input else rng.uniform(0.5, 3, shape)
            target = rng.poisson(2.0, shape).astype(np.float64)
            return x, (target,), {"log_input": log_input, "full": full}

        return make

    pois = (poisson_nll_loss, poisson_nll_loss_grad, F.poisson_nll_loss)
    add("poisson", *pois, poisson((4, 3)))
    add("poisson_full", *pois, poisson((4, 3), full=True))
    add("poisson_rate_full", *pois, poisson((4, 3), log_input=False, full=True))
    add("poisson_1", *pois, poisson((1,)))

    def gaussian(shape, var_shape, full=False):
        def make(rng):
            var = 0.8 if var_shape is None else rng.uniform(0.3, 2, var_shape)
            return rng.standard_normal(shape), (rng.standard_normal(shape), var), {"full": full}

        return make

    gauss = (gaussian_nll_loss, _gaussian_input_grad, F.gaussian_nll_loss)
    add("gaussian", *gauss, gaussian((4, 3), (4, 3)))
    add("gaussian_var_per_row", *gauss, gaussian((4, 3), (4,), full=True))
    add("gaussian_var_column", *gauss, gaussian((4, 3), (4, 1)))
    add("gaussian_var_shared_row", *gauss, gaussian((4, 3), (1, 3)))
    add("gaussian_var_float", *gauss, gaussian((4, 3), None, full=True))
    add("gaussian_1", *gauss, gaussian((1,), (1,)))
    return cases


CASES = _cases()
case_param = pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])


def _upstream(case: Case, reduction: str) -> np.ndarray:
    """A random upstream gradient of the loss's shape (a scalar for reduced losses)."""
    shape = case.loss(case.input, "none").shape if reduction == "none" else ()
    return _rng(case.name + reduction).uniform(-2, 2, shape)


@case_param
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_loss_matches_torch(case, reduction):
    ours = case.loss(case.input, reduction)
    theirs = case.torch_loss(_torch(case.input), reduction).numpy()
    assert isinstance(ours, np.ndarray) and ours.dtype == np.float64
    assert ours.shape == theirs.shape  # 'none' keeps the elementwise shape, 'mean' and 'sum' give 0-d arrays
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


@case_param
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_torch_autograd(case, reduction):
    g = _upstream(case, reduction)
    xt = torch.tensor(case.input, dtype=torch.float64, requires_grad=True)
    case.torch_loss(xt, reduction).backward(torch.tensor(g))
    ours = case.vjp(case.input, reduction, g)
    assert ours.shape == case.input.shape
    np.testing.assert_allclose(ours, xt.grad.numpy(), rtol=1e-11, atol=1e-14)


@case_param
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_grad_matches_central_differences(case, reduction):
    g = _upstream(case, reduction)
    numeric = _central_vjp(lambda x: case.loss(x, reduction), case.input, g)
    np.testing.assert_allclose(case.vjp(case.input, reduction, g), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduced_grad_defaults_to_upstream_one(reduction):
    case = next(c for c in CASES if c.name == "ce_index_weight")
    np.testing.assert_array_equal(
        case.grad(case.input, *case.args, reduction=reduction, **case.kwargs), case.vjp(case.input, reduction, 1.0)
    )


def test_unreduced_grad_defaults_to_upstream_ones():
    x, y = np.array([0.5, 2.0]), np.array([1.0, 1.0])
    np.testing.assert_array_equal(mse_loss_grad(x, y, reduction="none"), [-1.0, 2.0])


# --- edge cases ------------------------------------------------------------------------------------------------


def _check_against_torch(ours, ours_grad, theirs, x, args, kwargs, reduction, rtol=1e-12):
    """Loss and input gradient (upstream 1, or ones) equal torch's; nothing NaN; no warnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = ours(x, *args, reduction=reduction, **kwargs)
        grad = ours_grad(x, *args, reduction=reduction, **kwargs)
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    out = theirs(xt, *map(_torch, args), reduction=reduction, **{k: _torch(v) for k, v in kwargs.items()})
    out.backward(torch.ones_like(out))
    assert not np.isnan(loss).any() and not np.isnan(grad).any()
    np.testing.assert_allclose(loss, out.detach().numpy(), rtol=rtol, atol=1e-12)
    np.testing.assert_allclose(grad, xt.grad.numpy(), rtol=rtol, atol=1e-12)
    return loss, grad


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_at_probabilities_exactly_0_and_1_clamps_the_log_at_minus_100_like_torch(reduction):
    x = np.array([0.0, 0.0, 1.0, 1.0, 0.3])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    loss, grad = _check_against_torch(
        binary_cross_entropy, binary_cross_entropy_grad, F.binary_cross_entropy, x, (y,), {}, reduction
    )
    if reduction == "none":
        np.testing.assert_allclose(loss, [0.0, 100.0, 100.0, 0.0, -math.log(0.3)], rtol=1e-15)
        # torch's backward floors x(1 − x) at 1e-12: a huge but finite slope where the prediction is certain and wrong
        np.testing.assert_allclose(grad, [0.0, -1e12, 1e12, 0.0, -1 / 0.3], rtol=1e-8)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("pos_weight", [None, np.array([2.5])], ids=["plain", "pos_weight"])
def test_bce_with_logits_at_plus_minus_1000_is_finite_and_matches_torch(reduction, pos_weight):
    x = np.array([-1000.0, -1000.0, 1000.0, 1000.0, 0.0])
    y = np.array([0.0, 1.0, 0.0, 1.0, 1.0])
    kwargs = {} if pos_weight is None else {"pos_weight": pos_weight}
    loss, _ = _check_against_torch(
        binary_cross_entropy_with_logits,
        binary_cross_entropy_with_logits_grad,
        F.binary_cross_entropy_with_logits,
        x,
        (y,),
        kwargs,
        reduction,
    )
    if reduction == "none" and pos_weight is None:
        np.testing.assert_allclose(loss, [0.0, 1000.0, 1000.0, 0.0, math.log(2)], rtol=1e-15)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_at_logits_plus_minus_1000_is_finite_and_matches_torch(reduction, smoothing):
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 1000.0], [0.0, 0.0, 0.0]])
    y = np.array([1, 0, 2])
    loss, _ = _check_against_torch(
        cross_entropy,
        cross_entropy_grad,
        F.cross_entropy,
        x,
        (y,),
        {"weight": np.array([1.0, 2.0, 0.5]), "label_smoothing": smoothing},
        reduction,
    )
    if reduction == "none" and smoothing == 0.0:
        np.testing.assert_allclose(loss, [4000.0, 2000.0 + math.log(2), 0.5 * math.log(3)], rtol=1e-15)


def test_cross_entropy_with_a_minus_inf_logit_on_a_wrong_class_is_finite_like_torch():
    x, y = np.array([[0.0, -np.inf, 1.0]]), np.array([2])
    expected = F.cross_entropy(_torch(x), _torch(y)).item()
    assert cross_entropy(x, y) == pytest.approx(expected, rel=1e-15)
    assert np.isfinite(expected)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_clamps_a_zero_variance_like_torch(reduction):
    x, y, var = np.array([0.3, -1.0, 2.0]), np.array([0.3, 0.5, 1.0]), np.array([0.0, 1e-9, 1.5])
    loss, _ = _check_against_torch(
        gaussian_nll_loss, _gaussian_input_grad, F.gaussian_nll_loss, x, (y, var), {}, reduction
    )
    assert np.isfinite(loss).all()


@pytest.mark.parametrize("full", [False, True])
def test_poisson_full_adds_stirling_only_for_counts_above_one(full):
    x, y = np.array([0.1, 0.2, 0.3, 0.4, 0.5]), np.array([0.0, 1.0, 1.5, 2.0, 7.0])
    ours = poisson_nll_loss(x, y, full=full, reduction="none")
    np.testing.assert_allclose(ours, F.poisson_nll_loss(_torch(x), _torch(y), full=full, reduction="none"), rtol=1e-14)
    plain = np.exp(x) - y * x
    stirling = y * np.log(y, where=y > 0, out=np.ones_like(y)) - y + 0.5 * np.log(2 * np.pi * np.maximum(y, 1))
    np.testing.assert_allclose(ours - plain, np.where(full & (y > 1), stirling, 0.0), atol=1e-15)


# --- torch's semantics, with numbers a person can check --------------------------------------------------------


def test_class_weighted_mean_divides_by_the_weight_of_the_targets_not_by_n():
    # Uniform logits: each sample's loss is w[y] log 3, so the weighted mean is (1 + 3) log 3 / (1 + 3) = log 3.
    x, y, w = np.zeros((2, 3)), np.array([0, 1]), np.array([1.0, 3.0, 1.0])
    assert cross_entropy(x, y, weight=w) == pytest.approx(math.log(3), rel=1e-15)
    assert nll_loss(log_softmax(x), y, weight=w) == pytest.approx(math.log(3), rel=1e-15)
    assert F.cross_entropy(_torch(x), _torch(y), weight=_torch(w)).item() == pytest.approx(math.log(3), rel=1e-15)


def test_probability_targets_mean_divides_by_n_even_with_class_weights():
    # The same one-hot targets as probabilities: torch divides by N = 2, giving 4 log 3 / 2 = 2 log 3.
    x, p, w = np.zeros((2, 3)), np.eye(3)[[0, 1]], np.array([1.0, 3.0, 1.0])
    assert cross_entropy(x, p, weight=w) == pytest.approx(2 * math.log(3), rel=1e-15)
    assert F.cross_entropy(_torch(x), _torch(p), weight=_torch(w)).item() == pytest.approx(2 * math.log(3), rel=1e-15)


def test_multi_margin_weight_multiplies_after_the_power():
    # One hinge: 1 − 0 + 0.5 = 1.5; torch gives w[y] · 1.5² / C = 2 · 2.25 / 2 = 2.25 (not (2 · 1.5)² / 2 = 4.5).
    x, y, w = np.array([[0.0, 0.5]]), np.array([0]), np.array([2.0, 1.0])
    assert multi_margin_loss(x, y, p=2, weight=w) == pytest.approx(2.25, rel=1e-15)
    assert F.multi_margin_loss(_torch(x), _torch(y), p=2, weight=_torch(w)).item() == pytest.approx(2.25)


def test_reduced_losses_are_0d_float64_arrays_and_none_keeps_the_shape():
    x, y = np.array([[1.0], [2.0], [4.0]]), np.array([[0.0], [0.0], [0.0]])
    for reduction, expected in [("mean", 7.0), ("sum", 21.0)]:
        out = mse_loss(x, y, reduction=reduction)
        assert isinstance(out, np.ndarray) and out.shape == () and out.dtype == np.float64 and out == expected
    np.testing.assert_array_equal(mse_loss(x, y, reduction="none"), [[1.0], [4.0], [16.0]])


# --- Gaussian NLL: the gradient with respect to the variance ---------------------------------------------------

GAUSSIAN_VAR_CASES = [c for c in CASES if c.name.startswith("gaussian") and isinstance(c.args[1], np.ndarray)]


@pytest.mark.parametrize("case", GAUSSIAN_VAR_CASES, ids=[c.name for c in GAUSSIAN_VAR_CASES])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_gaussian_nll_var_grad_matches_autograd_and_central_differences(case, reduction):
    target, var = case.args
    g = _upstream(case, reduction)
    _, d_var = gaussian_nll_loss_grad(case.input, target, var, reduction=reduction, grad_output=g, **case.kwargs)
    vt = torch.tensor(var, requires_grad=True)
    F.gaussian_nll_loss(_torch(case.input), _torch(target), vt, reduction=reduction, **case.kwargs).backward(
        torch.tensor(g)
    )
    assert d_var.shape == var.shape
    np.testing.assert_allclose(d_var, vt.grad.numpy(), rtol=1e-11, atol=1e-14)
    numeric = _central_vjp(
        lambda v: gaussian_nll_loss(case.input, target, v, reduction=reduction, **case.kwargs), var, g
    )
    np.testing.assert_allclose(d_var, numeric, rtol=1e-6, atol=1e-8)


def test_gaussian_nll_var_grad_for_a_shared_float_variance_sums_every_element():
    x, y = np.array([1.0, -1.0, 3.0]), np.array([0.0, 0.0, 0.0])
    _, d_var = gaussian_nll_loss_grad(x, y, 2.0, reduction="sum")
    # Σ_n ½ (1/v − (x_n − y_n)²/v²) = ½ (3/2 − 11/4) = −0.625
    assert d_var.shape == () and d_var == pytest.approx(-0.625, rel=1e-15)


# --- properties ------------------------------------------------------------------------------------------------

logits = arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(2, 5)), elements=st.floats(-15, 15))


@settings(max_examples=50, deadline=None)
@given(arrays(np.float64, st.integers(1, 8), elements=st.floats(-100, 100)), st.integers(0, 2**31 - 1))
def test_mse_mean_is_sum_over_n_and_so_is_its_gradient(x, seed):
    y = np.random.default_rng(seed).standard_normal(x.shape)
    n = x.size
    np.testing.assert_allclose(mse_loss(x, y) * n, mse_loss(x, y, reduction="sum"), rtol=1e-12)
    np.testing.assert_allclose(mse_loss(x, y, reduction="none").sum(), mse_loss(x, y, reduction="sum"), rtol=1e-12)
    np.testing.assert_allclose(mse_loss_grad(x, y) * n, mse_loss_grad(x, y, reduction="sum"), rtol=1e-12)


@settings(max_examples=50, deadline=None)
@given(logits, st.integers(0, 2**31 - 1))
def test_bce_with_logits_is_bce_of_the_sigmoid_and_its_grad_follows_the_chain_rule(z, seed):
    y = np.random.default_rng(seed).uniform(0, 1, z.shape)
    np.testing.assert_allclose(binary_cross_entropy_with_logits(z, y), binary_cross_entropy(sigmoid(z), y), rtol=1e-9)
    chain = binary_cross_entropy_grad(sigmoid(z), y, reduction="none") * sigmoid_grad(z)
    np.testing.assert_allclose(binary_cross_entropy_with_logits_grad(z, y, reduction="none"), chain, atol=1e-9)


@settings(max_examples=50, deadline=None)
@given(logits, st.integers(0, 2**31 - 1), st.sampled_from(REDUCTIONS))
def test_cross_entropy_is_nll_of_log_softmax_and_its_grad_composes(x, seed, reduction):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, x.shape[1], x.shape[0])
    w = rng.uniform(0.1, 2, x.shape[1])
    np.testing.assert_allclose(
        cross_entropy(x, y, weight=w, reduction=reduction),
        nll_loss(log_softmax(x), y, weight=w, reduction=reduction),
        rtol=1e-12,
        atol=1e-14,
    )
    upstream = nll_loss_grad(log_softmax(x), y, weight=w, reduction=reduction)
    np.testing.assert_allclose(
        cross_entropy_grad(x, y, weight=w, reduction=reduction), log_softmax_backward(x, upstream), atol=1e-12
    )


@settings(max_examples=50, deadline=None)
@given(logits, st.integers(0, 2**31 - 1), st.floats(0, 1))
def test_cross_entropy_index_targets_equal_one_hot_probability_targets_and_grads_sum_to_zero(x, seed, smoothing):
    y = np.random.default_rng(seed).integers(0, x.shape[1], x.shape[0])
    one_hot = np.eye(x.shape[1])[y]
    for reduction in REDUCTIONS:  # unweighted, so both kinds of 'mean' divide by N
        np.testing.assert_allclose(
            cross_entropy(x, y, reduction=reduction, label_smoothing=smoothing),
            cross_entropy(x, one_hot, reduction=reduction, label_smoothing=smoothing),
            rtol=1e-12,
            atol=1e-14,
        )
    # Adding a constant to a row of logits changes nothing, so each row of the gradient sums to zero.
    np.testing.assert_allclose(cross_entropy_grad(x, y, label_smoothing=smoothing).sum(axis=1), 0.0, atol=1e-12)


# --- bad input -------------------------------------------------------------------------------------------------

ELEMENTWISE = [
    (mse_loss, mse_loss_grad, {}),
    (l1_loss, l1_loss_grad, {}),
    (binary_cross_entropy, binary_cross_entropy_grad, {}),
    (binary_cross_entropy_with_logits, binary_cross_entropy_with_logits_grad, {}),
    (poisson_nll_loss, poisson_nll_loss_grad, {}),
]
elementwise_param = pytest.mark.parametrize(
    ("loss", "grad", "kwargs"), ELEMENTWISE, ids=[loss.__name__ for loss, _, _ in ELEMENTWISE]
)


@elementwise_param
def test_target_of_another_shape_is_rejected_not_broadcast(loss, grad, kwargs):
    x, y = np.full(5, 0.5), np.full((5, 1), 0.5)
    for fn in (loss, grad):
        with pytest.raises(ValueError, match=r"target has shape \(5, 1\) but input has shape \(5,\)"):
            fn(x, y, **kwargs)


@elementwise_param
def test_unknown_reduction_is_rejected(loss, grad, kwargs):
    for fn in (loss, grad):
        with pytest.raises(ValueError, match="reduction must be one of 'none', 'mean', 'sum', got 'avg'"):
            fn(np.full(3, 0.5), np.full(3, 0.5), reduction="avg", **kwargs)


@elementwise_param
def test_nan_is_rejected_by_argument_name(loss, grad, kwargs):
    for fn in (loss, grad):
        with pytest.raises(ValueError, match="input contains NaN"):
            fn(np.array([0.5, np.nan]), np.full(2, 0.5), **kwargs)
        with pytest.raises(ValueError, match="target contains NaN"):
            fn(np.full(2, 0.5), np.array([np.nan, 0.5]), **kwargs)


@elementwise_param
def test_grad_output_of_the_wrong_shape_is_rejected(loss, grad, kwargs):
    x = np.full(3, 0.5)
    with pytest.raises(ValueError, match=r"grad_output has shape \(3, 1\) but the unreduced loss has shape \(3,\)"):
        grad(x, x, reduction="none", grad_output=np.ones((3, 1)))
    with pytest.raises(ValueError, match=r"grad_output must be a scalar for reduction='mean', got shape \(3,\)"):
        grad(x, x, grad_output=np.ones(3))


@pytest.mark.parametrize("name", ["input", "target"])
def test_bce_probabilities_outside_0_1_are_rejected_by_name(name):
    args = {"input": np.array([0.2, 0.5]), "target": np.array([1.0, 0.0])}
    args[name] = np.array([0.5, 1.5])
    with pytest.raises(ValueError, match=rf"{name} must lie in \[0, 1\], but 1 value\(s\) do not, e.g. 1.5"):
        binary_cross_entropy(args["input"], args["target"])


def test_bce_with_logits_rejects_targets_outside_0_1_and_weights_that_reshape_the_input():
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\]"):
        binary_cross_entropy_with_logits(np.array([3.0]), np.array([-1.0]))
    with pytest.raises(ValueError, match=r"pos_weight has shape \(2,\), which does not broadcast to input's shape"):
        binary_cross_entropy_with_logits(np.zeros((4, 3)), np.zeros((4, 3)), pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"weight has shape \(4, 3, 1\), which does not broadcast"):
        binary_cross_entropy_with_logits(np.zeros((4, 3)), np.zeros((4, 3)), weight=np.ones((4, 3, 1)))


@pytest.mark.parametrize("fn", [cross_entropy, nll_loss, multi_margin_loss])
def test_class_index_targets_are_checked(fn):
    x = np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"target has shape \(5, 1\) but input has shape \(5, 4\)"):
        fn(x, np.zeros((5, 1), dtype=int))
    with pytest.raises(ValueError, match=r"target holds class indices outside 0..3"):
        fn(x, np.array([0, 1, 2, 3, 4]))
    with pytest.raises(ValueError, match=r"weight has shape \(3,\) but input has 4 classes"):
        fn(x, np.array([0, 1, 2, 3, 0]), weight=np.ones(3))
    with pytest.raises(ValueError, match="reduction must be one of"):
        fn(x, np.array([0, 1, 2, 3, 0]), reduction="mena")


def test_cross_entropy_float_targets_must_be_probabilities_of_input_shape():
    x = np.zeros((5, 4))
    with pytest.raises(ValueError, match=r"target has shape \(5,\) but input has shape \(5, 4\)"):
        cross_entropy(x, np.zeros(5))
    with pytest.raises(ValueError, match=r"target must lie in \[0, 1\]"):
        cross_entropy(x, np.full((5, 4), 2.0))
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        cross_entropy(x, np.zeros(5, dtype=int), label_smoothing=1.5)
    with pytest.raises(ValueError, match="input contains NaN"):
        cross_entropy(np.full((5, 4), np.nan), np.zeros(5, dtype=int))


def test_nll_loss_rejects_float_class_indices():
    with pytest.raises(ValueError, match="target must hold integer class indices, got dtype float64"):
        nll_loss(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_multi_margin_rejects_p_other_than_1_or_2():
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        multi_margin_loss(np.zeros((2, 3)), np.array([0, 1]), p=3)


def test_gaussian_nll_rejects_negative_variance_and_a_variance_that_fits_no_shape():
    x = np.zeros((4, 3))
    for fn in (gaussian_nll_loss, gaussian_nll_loss_grad):
        with pytest.raises(ValueError, match="var must be non-negative"):
            fn(x, x, np.full((4, 3), -0.1))
        with pytest.raises(ValueError, match=r"var has shape \(3,\), which fits neither"):
            fn(x, x, np.ones(3))
        with pytest.raises(ValueError, match=r"target has shape \(4, 1\) but input has shape \(4, 3\)"):
            fn(x, np.zeros((4, 1)), np.ones((4, 3)))
        with pytest.raises(ValueError, match="var contains NaN"):
            fn(x, x, np.full((4, 3), np.nan))


def test_poisson_rejects_negative_counts_and_negative_rates():
    with pytest.raises(ValueError, match="target holds Poisson counts and must be non-negative"):
        poisson_nll_loss(np.zeros(2), np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="input is the Poisson rate when log_input=False"):
        poisson_nll_loss(np.array([-0.5, 1.0]), np.ones(2), log_input=False)


def test_inputs_are_not_mutated():
    for case in CASES:
        before = [a.copy() for a in (case.input, *case.args) if isinstance(a, np.ndarray)]
        case.loss(case.input, "mean")
        case.vjp(case.input, "sum", 1.5)
        after = [a for a in (case.input, *case.args) if isinstance(a, np.ndarray)]
        for b, a in zip(before, after, strict=True):
            np.testing.assert_array_equal(a, b, err_msg=case.name)
