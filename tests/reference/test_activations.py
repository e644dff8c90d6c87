"""reference.activations against torch (float64) and against central differences."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reference.activations import (
    log_softmax,
    log_softmax_backward,
    relu,
    relu_grad,
    sigmoid,
    sigmoid_grad,
    softmax,
    softmax_backward,
    tanh,
    tanh_grad,
)

SHAPES = [(1,), (7,), (3, 4), (2, 3, 5)]


def _central_vjp(f, x: np.ndarray, g: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """∂/∂x_i Σ g ⊙ f(x) by central differences: the independent check of a hand-written backward."""
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        grad[i] = (np.sum(g * f(plus)) - np.sum(g * f(minus))) / (2 * h)
    return grad


def _t(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# --- forward against torch -------------------------------------------------------------------------------------

ELEMENTWISE = [(sigmoid, torch.sigmoid), (tanh, torch.tanh), (relu, torch.relu)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("ours", "theirs"), ELEMENTWISE, ids=["sigmoid", "tanh", "relu"])
def test_elementwise_activation_matches_torch(ours, theirs, shape):
    x = 3 * _rng(len(shape)).standard_normal(shape)
    out = ours(x)
    assert out.dtype == np.float64 and out.shape == shape
    np.testing.assert_allclose(out, theirs(_t(x)).numpy(), rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize(("ours", "theirs"), ELEMENTWISE, ids=["sigmoid", "tanh", "relu"])
def test_elementwise_activation_at_plus_minus_1000_is_exact_and_warning_free(ours, theirs):
    x = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would be a RuntimeWarning
        out = ours(x)
    np.testing.assert_array_equal(out, theirs(_t(x)).numpy())


def test_sigmoid_saturates_to_exact_zero_and_one():
    np.testing.assert_array_equal(sigmoid(np.array([-1000.0, 1000.0])), [0.0, 1.0])
    assert sigmoid(np.array(0.0)) == 0.5


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -2])
@pytest.mark.parametrize(("ours", "theirs"), [(softmax, F.softmax), (log_softmax, F.log_softmax)])
def test_softmax_family_matches_torch_along_every_dim(ours, theirs, dim):
    x = 4 * _rng(dim + 10).standard_normal((3, 4, 5))
    np.testing.assert_allclose(ours(x, dim=dim), theirs(_t(x), dim=dim).numpy(), rtol=1e-13, atol=1e-15)


def test_softmax_of_logits_plus_minus_1000_is_one_hot_and_log_softmax_stays_finite():
    x = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s, ls = softmax(x), log_softmax(x)
    np.testing.assert_array_equal(s, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_array_equal(ls[0], [0.0, -2000.0, -1000.0])  # log(softmax) would give -inf here
    np.testing.assert_allclose(ls, F.log_softmax(_t(x), dim=-1).numpy(), rtol=0, atol=1e-12)


def test_softmax_of_lecture_example_z_1_2_3():
    np.testing.assert_allclose(softmax(np.array([1.0, 2.0, 3.0])), [0.09003057, 0.24472847, 0.66524096], atol=1e-8)


def test_softmax_with_minus_inf_masks_that_entry():
    np.testing.assert_array_equal(softmax(np.array([0.0, -np.inf, 0.0])), [0.5, 0.0, 0.5])


# --- derivatives -----------------------------------------------------------------------------------------------

DERIVATIVES = [(sigmoid_grad, sigmoid, torch.sigmoid), (tanh_grad, tanh, torch.tanh), (relu_grad, relu, torch.relu)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("grad", "fn", "theirs"), DERIVATIVES, ids=["sigmoid", "tanh", "relu"])
def test_elementwise_derivative_matches_autograd(grad, fn, theirs, shape):
    x = 3 * _rng(1).standard_normal(shape)
    xt = _t(x, grad=True)
    theirs(xt).sum().backward()
    np.testing.assert_allclose(grad(x), xt.grad.numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize(("grad", "fn", "theirs"), DERIVATIVES, ids=["sigmoid", "tanh", "relu"])
def test_elementwise_derivative_matches_central_differences(grad, fn, theirs):
    x = 3 * _rng(2).standard_normal((4, 3))
    x[np.abs(x) < 1e-3] = 0.5  # away from relu's kink
    np.testing.assert_allclose(grad(x), _central_vjp(fn, x, np.ones_like(x)), rtol=1e-6, atol=1e-8)


def test_relu_derivative_at_zero_is_zero_like_torch():
    x = np.array([-1.0, 0.0, 1.0])
    xt = _t(x, grad=True)
    torch.relu(xt).sum().backward()
    np.testing.assert_array_equal(relu_grad(x), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(relu_grad(x), xt.grad.numpy())


def test_derivatives_at_plus_minus_1000_are_zero_not_nan():
    x = np.array([-1000.0, 1000.0])
    np.testing.assert_array_equal(sigmoid_grad(x), [0.0, 0.0])
    np.testing.assert_array_equal(tanh_grad(x), [0.0, 0.0])


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize(
    ("backward", "fn", "theirs"),
    [(softmax_backward, softmax, F.softmax), (log_softmax_backward, log_softmax, F.log_softmax)],
    ids=["softmax", "log_softmax"],
)
def test_softmax_family_backward_matches_autograd_and_central_differences(backward, fn, theirs, dim):
    rng = _rng(dim + 20)
    x = 2 * rng.standard_normal((3, 4))
    g = rng.standard_normal((3, 4))
    xt = _t(x, grad=True)
    theirs(xt, dim=dim).backward(_t(g))
    ours = backward(x, g, dim=dim)
    np.testing.assert_allclose(ours, xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours, _central_vjp(lambda a: fn(a, dim=dim), x, g), rtol=1e-6, atol=1e-8)


def test_softmax_backward_at_logits_1000_matches_autograd():
    x = np.array([[1000.0, -1000.0, 0.0], [3.0, 1.0, -2.0]])
    g = np.array([[0.5, -1.0, 2.0], [1.0, 1.0, -1.0]])
    for backward, theirs in [(softmax_backward, F.softmax), (log_softmax_backward, F.log_softmax)]:
        xt = _t(x, grad=True)
        theirs(xt, dim=-1).backward(_t(g))
        np.testing.assert_allclose(backward(x, g), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


# --- properties ------------------------------------------------------------------------------------------------

bounded = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 6)), elements=st.floats(-50, 50))


@settings(max_examples=50, deadline=None)
@given(bounded)
def test_softmax_is_a_distribution_invariant_to_shifts(x):
    s = softmax(x)
    assert np.all((s >= 0) & (s <= 1))
    np.testing.assert_allclose(s.sum(axis=-1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(softmax(x + 123.0), s, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np.exp(log_softmax(x)), s, rtol=1e-9, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(bounded)
def test_sigmoid_is_symmetric_and_its_derivative_is_s_times_one_minus_s(x):
    np.testing.assert_allclose(sigmoid(-x), 1.0 - sigmoid(x), rtol=0, atol=1e-15)
    np.testing.assert_allclose(sigmoid_grad(x), _central_vjp(sigmoid, x, np.ones_like(x)), rtol=1e-5, atol=1e-8)


@settings(max_examples=50, deadline=None)
@given(bounded, st.integers(0, 2**31 - 1))
def test_log_softmax_backward_rows_sum_to_zero(x, seed):
    # log_softmax is invariant to adding a constant to a row, so every VJP is orthogonal to (1, ..., 1).
    g = _rng(seed).standard_normal(x.shape)
    np.testing.assert_allclose(log_softmax_backward(x, g).sum(axis=-1), 0.0, atol=1e-9)
    np.testing.assert_allclose(softmax_backward(x, g).sum(axis=-1), 0.0, atol=1e-12)


# --- bad input -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [sigmoid, tanh, relu, softmax, log_softmax, sigmoid_grad, tanh_grad, relu_grad])
def test_nan_input_is_rejected_by_name(fn):
    with pytest.raises(ValueError, match="x contains NaN"):
        fn(np.array([0.0, np.nan]))


def test_non_numeric_input_is_rejected():
    with pytest.raises(ValueError, match="x must be a real numeric array"):
        sigmoid(np.array(["1.5"]))


@pytest.mark.parametrize("fn", [softmax, log_softmax])
def test_out_of_range_dim_is_rejected(fn):
    with pytest.raises(ValueError, match=r"dim 2 is out of range for x with shape \(3, 4\)"):
        fn(np.zeros((3, 4)), dim=2)


@pytest.mark.parametrize("backward", [softmax_backward, log_softmax_backward])
def test_grad_output_of_another_shape_is_rejected_not_broadcast(backward):
    with pytest.raises(ValueError, match=r"grad_output has shape \(4,\) but x has shape \(3, 4\)"):
        backward(np.zeros((3, 4)), np.ones(4))


def test_inputs_are_not_mutated():
    x = np.array([[1.0, -2.0, 3.0]])
    g = np.array([[0.1, 0.2, 0.3]])
    before = (x.copy(), g.copy())
    for fn in (sigmoid, tanh, relu, softmax, log_softmax, sigmoid_grad, tanh_grad, relu_grad):
        fn(x)
    softmax_backward(x, g)
    log_softmax_backward(x, g)
    np.testing.assert_array_equal(x, before[0])
    np.testing.assert_array_equal(g, before[1])
