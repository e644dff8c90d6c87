"""reference.layers against F.linear and autograd in float64, and the lecture's linear-layer slips."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.gradcheck import numerical_vjp
from reference.layers import linear, linear_backward

RTOL, ATOL = 1e-12, 1e-12


def t(array: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("input_shape", [(5, 3), (3,), (2, 4, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch_functional_linear(input_shape, with_bias):
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=input_shape), rng.normal(size=(4, 3)), rng.normal(size=4)
    bias = b if with_bias else None
    expected = F.linear(t(x), t(w), t(b) if with_bias else None).numpy()
    got = linear(x, w, bias)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=RTOL)


@pytest.mark.parametrize("input_shape", [(5, 3), (3,), (2, 4, 3)])
def test_linear_backward_matches_autograd(input_shape):
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=input_shape), rng.normal(size=(4, 3)), rng.normal(size=4)
    grad_output = rng.normal(size=input_shape[:-1] + (4,))
    tx, tw, tb = t(x, True), t(w, True), t(b, True)
    F.linear(tx, tw, tb).backward(t(grad_output))
    grad_input, grad_weight, grad_bias = linear_backward(x, w, grad_output)
    np.testing.assert_allclose(grad_input, tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad_weight, tw.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(grad_bias, tb.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_linear_backward_matches_central_differences():
    rng = np.random.default_rng(2)
    x, w, b = rng.normal(size=(6, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)
    g = rng.normal(size=(6, 2))
    grad_input, grad_weight, grad_bias = linear_backward(x, w, g)
    np.testing.assert_allclose(grad_input, numerical_vjp(lambda v: linear(v, w, b), x, g), atol=1e-8)
    np.testing.assert_allclose(grad_weight, numerical_vjp(lambda v: linear(x, v, b), w, g), atol=1e-8)
    np.testing.assert_allclose(grad_bias, numerical_vjp(lambda v: linear(x, w, v), b, g), atol=1e-8)


def test_bias_gradient_is_summed_over_the_batch_not_averaged():
    x = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    w = np.array([[1.0, -1.0]])
    _, _, grad_bias = linear_backward(x, w, np.ones((3, 1)))
    assert grad_bias.tolist() == [3.0]


def test_weight_gradient_has_the_weight_shape_out_by_in():
    x, w = np.ones((5, 3)), np.ones((2, 3))
    _, grad_weight, _ = linear_backward(x, w, np.ones((5, 2)))
    assert grad_weight.shape == (2, 3)
    np.testing.assert_array_equal(grad_weight, np.full((2, 3), 5.0))


def test_linear_does_not_modify_its_inputs():
    rng = np.random.default_rng(3)
    x, w, b, g = rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2), rng.normal(size=(4, 2))
    copies = [a.copy() for a in (x, w, b, g)]
    linear(x, w, b)
    linear_backward(x, w, g)
    for original, copy in zip((x, w, b, g), copies, strict=True):
        np.testing.assert_array_equal(original, copy)


@settings(deadline=None, max_examples=40, derandomize=True, database=None)
@given(
    batch=st.integers(1, 6),
    n_in=st.integers(1, 5),
    n_out=st.integers(1, 5),
    seed=st.integers(0, 2**32 - 1),
    scale=st.floats(0.1, 10.0),
)
def test_linear_and_its_backward_match_torch_for_any_shape(batch, n_in, n_out, seed, scale):
    rng = np.random.default_rng(seed)
    x, w, b = scale * rng.normal(size=(batch, n_in)), rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)
    g = rng.normal(size=(batch, n_out))
    tx, tw, tb = t(x, True), t(w, True), t(b, True)
    out = F.linear(tx, tw, tb)
    out.backward(t(g))
    np.testing.assert_allclose(linear(x, w, b), out.detach().numpy(), rtol=1e-12, atol=1e-12 * scale)
    for got, expected in zip(linear_backward(x, w, g), (tx.grad, tw.grad, tb.grad), strict=True):
        np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12, atol=1e-12 * scale)


# --- The lecture's numbers (lecture 8, "Feedforward Neural Networks" and "Understanding Linear Layers") ---


def test_notes_x_times_A_transpose_is_a_dot_product_3_8_not_elementwise():
    """The notes print x = [1.2, 0.3, 0.4], A = [2, 2, 2], "xAᵀ = [2.4, 0.6, 0.8]".

    That is the elementwise product x ⊙ A. With A a (1, 3) weight, xAᵀ is the dot product
    2·1.2 + 2·0.3 + 2·0.4 = 3.8: one output feature, not three.
    """
    y = linear(np.array([[1.2, 0.3, 0.4]]), np.array([[2.0, 2.0, 2.0]]))
    assert y.shape == (1, 1)
    assert y[0, 0] == pytest.approx(3.8, abs=1e-12)


def test_notes_linear_layer_output_on_ones_is_0_6926_and_minus_0_5192():
    """The notes' nn.Linear(3, 2) weight and bias on torch.ones([10, 3]) print [0.6926, -0.5192] per row.

    This one is right: each row is the row sums of the weight plus the bias (to the 4 printed decimals).
    """
    weight = np.array([[0.5463, -0.0116, -0.3780], [-0.3419, -0.0464, -0.2615]])
    bias = np.array([0.5359, 0.1306])
    y = linear(np.ones((10, 3)), weight, bias)
    np.testing.assert_allclose(y, np.tile([0.6926, -0.5192], (10, 1)), atol=5e-5)


def test_notes_weight_shape_is_out_by_in_not_in_by_out():
    """The notes write A ∈ R^{d_in, d_out}, but torch (and linear) store weight as (d_out, d_in).

    The notes' own print of nn.Linear(3, 2).weight is 2 × 3. Passing a (d_in, d_out) weight is refused, not
    silently transposed.
    """
    x = np.ones((10, 3))
    weight_in_by_out = np.ones((3, 2))
    with pytest.raises(ValueError, match="in_features"):
        linear(x, weight_in_by_out)
    assert linear(x, weight_in_by_out.T).shape == (10, 2)


# --- Bad input ---------------------------------------------------------------------------------------


def test_bias_of_shape_out_by_1_is_refused_not_broadcast():
    with pytest.raises(ValueError, match="bias has shape"):
        linear(np.ones((4, 3)), np.ones((2, 3)), np.ones((2, 1)))


def test_input_with_wrong_feature_count_names_input():
    with pytest.raises(ValueError, match="input has shape"):
        linear(np.ones((4, 5)), np.ones((2, 3)))


def test_one_dimensional_weight_names_weight():
    with pytest.raises(ValueError, match="weight must be 2-D"):
        linear(np.ones((4, 3)), np.ones(3))


def test_grad_output_of_wrong_shape_names_grad_output():
    with pytest.raises(ValueError, match="grad_output has shape"):
        linear_backward(np.ones((4, 3)), np.ones((2, 3)), np.ones((4, 3)))
    with pytest.raises(ValueError, match="grad_output has shape"):
        linear_backward(np.ones((4, 3)), np.ones((2, 3)), np.ones(8))


@pytest.mark.parametrize("name", ["input", "weight", "bias"])
def test_nan_is_refused_naming_the_argument(name):
    args = {"input": np.ones((2, 3)), "weight": np.ones((2, 3)), "bias": np.ones(2)}
    args[name][0] = np.nan
    with pytest.raises(ValueError, match=name):
        linear(**args)


def test_non_numeric_input_is_refused():
    with pytest.raises(ValueError, match="input"):
        linear([["a", "b", "c"]], np.ones((2, 3)))
