"""reference.regularization: dropout against torch with the same mask; L1/L2 vs autograd and weight_decay."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.gradcheck import numerical_gradient, numerical_vjp
from reference.optim import sgd_step
from reference.regularization import (
    dropout,
    dropout_backward,
    dropout_mask,
    l1_penalty,
    l1_penalty_grad,
    l2_penalty,
    l2_penalty_grad,
)


def t(array: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64, requires_grad=grad)


def torch_dropout_mask(shape: tuple[int, ...], p: float, seed: int) -> np.ndarray:
    """The keep-mask F.dropout draws after torch.manual_seed(seed): where dropout(ones) is not zero."""
    torch.manual_seed(seed)
    kept = F.dropout(torch.ones(shape, dtype=torch.float64), p=p, training=True) != 0
    return kept.numpy().astype(np.float64)


# --- dropout -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", [0.1, 0.25, 0.5, 0.8])
def test_dropout_with_torchs_own_mask_matches_torch_functional_dropout(p):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 16))
    mask = torch_dropout_mask(x.shape, p, seed=123)
    torch.manual_seed(123)
    expected = F.dropout(t(x), p=p, training=True).numpy()
    np.testing.assert_allclose(dropout(x, mask, p), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize("p", [0.2, 0.5])
def test_dropout_backward_matches_autograd_of_torch_dropout_with_the_same_mask(p):
    rng = np.random.default_rng(1)
    x, g = rng.normal(size=(6, 5)), rng.normal(size=(6, 5))
    mask = torch_dropout_mask(x.shape, p, seed=7)
    tx = t(x, True)
    torch.manual_seed(7)
    F.dropout(tx, p=p, training=True).backward(t(g))
    np.testing.assert_allclose(dropout_backward(g, mask, p), tx.grad.numpy(), rtol=1e-15, atol=0)


def test_dropout_matches_manual_torch_computation_with_an_explicit_mask():
    rng = np.random.default_rng(2)
    x, g = rng.normal(size=(4, 7)), rng.normal(size=(4, 7))
    mask = dropout_mask(x.shape, 0.3, rng)
    tx = t(x, True)
    y = tx * t(mask) / (1 - 0.3)
    y.backward(t(g))
    np.testing.assert_allclose(dropout(x, mask, 0.3), y.detach().numpy(), rtol=1e-15, atol=0)
    np.testing.assert_allclose(dropout_backward(g, mask, 0.3), tx.grad.numpy(), rtol=1e-15, atol=0)
    numeric = numerical_vjp(lambda v: dropout(v, mask, 0.3), x, g)
    np.testing.assert_allclose(dropout_backward(g, mask, 0.3), numeric)


def test_dropout_scales_kept_units_by_1_over_1_minus_p():
    """The lecture's nn.Dropout(0.25) on torch.ones(10): kept entries become 1 / 0.75 = 1.3333, others 0."""
    mask = np.array([1, 1, 0, 1, 1, 1, 0, 1, 1, 1], dtype=bool)
    y = dropout(np.ones(10), mask, p=0.25)
    np.testing.assert_allclose(y, np.where(mask, 4 / 3, 0.0), rtol=1e-15)


def test_dropout_is_the_identity_in_eval_mode_whatever_the_mask():
    x = np.arange(6.0).reshape(2, 3)
    mask = np.zeros((2, 3))
    torch_eval = F.dropout(t(x), p=0.5, training=False).numpy()
    np.testing.assert_array_equal(dropout(x, mask, 0.5, training=False), x)
    np.testing.assert_array_equal(dropout(x, mask, 0.5, training=False), torch_eval)
    np.testing.assert_array_equal(dropout_backward(x, mask, 0.5, training=False), x)


def test_dropout_with_p_0_is_identity_and_p_1_is_zero_like_torch():
    x = np.arange(1.0, 7.0)
    np.testing.assert_array_equal(dropout(x, np.ones(6), 0.0), x)
    np.testing.assert_array_equal(dropout(x, np.zeros(6), 1.0), F.dropout(t(x), p=1.0).numpy())
    np.testing.assert_array_equal(dropout_backward(x, np.zeros(6), 1.0), np.zeros(6))


def test_dropout_does_not_modify_its_input():
    x = np.ones((3, 3))
    dropout(x, np.eye(3), 0.5)
    np.testing.assert_array_equal(x, np.ones((3, 3)))


def test_dropout_mask_keeps_a_fraction_1_minus_p_and_is_reproducible():
    mask = dropout_mask((200, 500), 0.3, np.random.default_rng(42))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert abs(mask.mean() - 0.7) < 0.005  # 100,000 draws: the standard error is 0.0014
    np.testing.assert_array_equal(mask, dropout_mask((200, 500), 0.3, np.random.default_rng(42)))


@settings(deadline=None, max_examples=40, derandomize=True, database=None)
@given(p=st.floats(0.0, 0.95), seed=st.integers(0, 2**32 - 1), n=st.integers(1, 30))
def test_dropout_zeroes_exactly_the_dropped_units_and_its_backward_is_the_adjoint(p, seed, n):
    rng = np.random.default_rng(seed)
    x, g = rng.normal(size=n), rng.normal(size=n)
    mask = dropout_mask((n,), p, rng)
    y = dropout(x, mask, p)
    np.testing.assert_array_equal(y == 0, (mask == 0) | (x == 0))
    # y = D x with D = diag(mask / (1 − p)) symmetric, so <g, D x> = <D g, x>.
    assert np.dot(g, y) == pytest.approx(np.dot(dropout_backward(g, mask, p), x), rel=1e-12, abs=1e-12)


def test_dropout_mask_of_wrong_shape_names_mask():
    with pytest.raises(ValueError, match="mask has shape"):
        dropout(np.ones((4, 3)), np.ones(3), 0.5)
    with pytest.raises(ValueError, match="mask has shape"):
        dropout_backward(np.ones((4, 3)), np.ones((4, 1)), 0.5)


def test_dropout_mask_must_be_zeros_and_ones():
    with pytest.raises(ValueError, match="mask must hold only 0/1"):
        dropout(np.ones(3), np.array([1.0, 0.5, 0.0]), 0.5)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5"])
def test_dropout_probability_outside_0_1_names_p(p):
    with pytest.raises(ValueError, match="p must be a probability"):
        dropout(np.ones(3), np.ones(3), p)


def test_dropout_nan_input_names_input():
    with pytest.raises(ValueError, match="input"):
        dropout(np.array([np.nan, 1.0]), np.ones(2), 0.5)


# --- L1 / L2 penalties -------------------------------------------------------------------------------


def _params(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(4, 3)), rng.normal(size=(2, 4)), rng.normal(size=5)]


@pytest.mark.parametrize(
    ("penalty", "penalty_grad", "torch_penalty"),
    [
        (l1_penalty, l1_penalty_grad, lambda ws: sum(w.abs().sum() for w in ws)),
        (l2_penalty, l2_penalty_grad, lambda ws: sum((w**2).sum() for w in ws)),
    ],
    ids=["l1", "l2"],
)
def test_penalty_and_gradient_match_autograd(penalty, penalty_grad, torch_penalty):
    params, lam = _params(0), 0.03
    tensors = [t(w, True) for w in params]
    value = lam * torch_penalty(tensors)
    value.backward()
    assert penalty(params, lam) == pytest.approx(value.item(), rel=1e-14)
    for got, tensor in zip(penalty_grad(params, lam), tensors, strict=True):
        np.testing.assert_allclose(got, tensor.grad.numpy(), rtol=1e-14, atol=0)


def test_penalty_gradients_match_central_differences():
    w = np.array([[0.7, -1.3, 2.0], [-0.4, 0.9, -2.2]])  # no entry near 0, where |w| has its kink
    lam = 0.5
    np.testing.assert_allclose(
        l1_penalty_grad([w], lam)[0], numerical_gradient(lambda v: l1_penalty([v], lam), w), atol=1e-8
    )
    np.testing.assert_allclose(
        l2_penalty_grad([w], lam)[0], numerical_gradient(lambda v: l2_penalty([v], lam), w), atol=1e-8
    )


def test_l2_penalty_is_lam_times_sum_of_squares_and_its_gradient_2_lam_w():
    w = np.array([1.0, -2.0, 3.0])
    assert l2_penalty([w], 0.1) == pytest.approx(1.4)
    np.testing.assert_allclose(l2_penalty_grad([w], 0.1)[0], [0.2, -0.4, 0.6])
    assert l1_penalty([w], 0.1) == pytest.approx(0.6)
    np.testing.assert_allclose(l1_penalty_grad([w], 0.1)[0], [0.1, -0.1, 0.1])


def test_l1_gradient_at_zero_is_zero_like_torch():
    w = np.array([0.0, 1.5, -2.0])
    tw = t(w, True)
    tw.abs().sum().backward()
    np.testing.assert_array_equal(l1_penalty_grad([w], 1.0)[0], tw.grad.numpy())
    assert l1_penalty_grad([w], 1.0)[0][0] == 0.0


@pytest.mark.parametrize("weight_decay", [0.01, 0.2])
def test_torch_weight_decay_wd_equals_l2_penalty_with_lam_wd_over_2(weight_decay):
    """torch.optim.SGD(weight_decay=wd) adds wd·w to the gradient: the gradient of (wd/2)·Σw², not wd·Σw²."""
    rng = np.random.default_rng(3)
    w, loss_grad, lr = rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), 0.1
    tw = t(w, True)
    opt = torch.optim.SGD([tw], lr=lr, weight_decay=weight_decay)
    tw.grad = t(loss_grad)
    opt.step()
    penalised = loss_grad + l2_penalty_grad([w], weight_decay / 2)[0]
    np.testing.assert_allclose(sgd_step(w, penalised, lr=lr)[0], tw.detach().numpy(), rtol=1e-14, atol=1e-15)
    doubled = loss_grad + l2_penalty_grad([w], weight_decay)[0]
    assert not np.allclose(sgd_step(w, doubled, lr=lr)[0], tw.detach().numpy(), rtol=1e-6, atol=0)


def test_notes_l1_term_divided_by_the_number_of_weights_is_l1_penalty_with_lam_over_n():
    """The lecture's L1 recipe: loss + L1_lambda * Σ|w| / n_weights over the non-bias parameters."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 12), torch.nn.ReLU(), torch.nn.Linear(12, 3)).double()
    weights = [w for name, w in model.named_parameters() if "bias" not in name]
    n_weights = sum(w.numel() for w in weights)
    l1_lambda = 0.001
    l1_term = sum(torch.sum(torch.abs(w)) for w in weights)
    (l1_lambda * l1_term / n_weights).backward()
    arrays = [w.detach().numpy() for w in weights]
    assert n_weights == 4 * 12 + 12 * 3
    expected = (l1_lambda * l1_term / n_weights).item()
    assert l1_penalty(arrays, l1_lambda / n_weights) == pytest.approx(expected)
    for got, w in zip(l1_penalty_grad(arrays, l1_lambda / n_weights), weights, strict=True):
        np.testing.assert_allclose(got, w.grad.numpy(), rtol=1e-14)


def test_penalty_params_must_be_a_list_of_arrays():
    with pytest.raises(ValueError, match="params must be a list of arrays"):
        l2_penalty(np.ones((2, 2)), 0.1)
    with pytest.raises(ValueError, match=r"params\[1\]"):
        l1_penalty([np.ones(2), np.array([np.nan])], 0.1)


@pytest.mark.parametrize("lam", [-0.1, float("nan"), "0.1"])
def test_penalty_lam_must_be_a_non_negative_number(lam):
    with pytest.raises(ValueError, match="lam must be"):
        l1_penalty([np.ones(2)], lam)
    with pytest.raises(ValueError, match="lam must be"):
        l2_penalty_grad([np.ones(2)], lam)
