"""reference.information against torch (float64) and the identities that tie entropy, cross-entropy and KL."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from reference.activations import softmax
from reference.information import binary_entropy, cross_entropy_of, entropy, kl_divergence


def _t(a) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64)


def _distributions(seed: int, shape: tuple[int, ...], zeros: bool = False) -> np.ndarray:
    """Random distributions along the last axis; with zeros, about a third of the entries are exactly 0."""
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 1, shape)
    if zeros:
        p[rng.uniform(size=shape) < 0.33] = 0.0
        p[..., 0] = np.maximum(p[..., 0], 0.1)  # every row keeps some mass
    return p / p.sum(axis=-1, keepdims=True)


# --- against torch ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("zeros", [False, True], ids=["positive", "with_zeros"])
@pytest.mark.parametrize("shape", [(4,), (3, 5), (2, 3, 4)])
def test_entropy_matches_torch_categorical(shape, zeros):
    p = _distributions(1, shape, zeros)
    expected = torch.distributions.Categorical(probs=_t(p)).entropy().numpy()
    np.testing.assert_allclose(entropy(p), expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("zeros", [False, True], ids=["positive", "p_with_zeros"])
def test_cross_entropy_of_matches_torch_xlogy(zeros):
    p, q = _distributions(2, (6, 5), zeros), _distributions(3, (6, 5))
    expected = -torch.special.xlogy(_t(p), _t(q)).sum(-1).numpy()
    np.testing.assert_allclose(cross_entropy_of(p, q), expected, rtol=1e-13)
    # ...and it is what F.cross_entropy computes from logits log q with probability targets p.
    np.testing.assert_allclose(
        cross_entropy_of(p, q), F.cross_entropy(_t(np.log(q)), _t(p), reduction="none").numpy(), rtol=1e-12
    )


@pytest.mark.parametrize("zeros", [False, True], ids=["positive", "p_with_zeros"])
def test_kl_divergence_matches_torch(zeros):
    p, q = _distributions(4, (6, 5), zeros), _distributions(5, (6, 5))
    by_kl_div = F.kl_div(_t(np.log(q)), _t(p), reduction="none").sum(-1).numpy()
    by_distributions = torch.distributions.kl_divergence(
        torch.distributions.Categorical(probs=_t(p)), torch.distributions.Categorical(probs=_t(q))
    ).numpy()
    np.testing.assert_allclose(kl_divergence(p, q), by_kl_div, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(kl_divergence(p, q), by_distributions, rtol=1e-12, atol=1e-15)


def test_binary_entropy_matches_torch_including_exactly_0_and_1():
    p = np.array([0.0, 1e-30, 0.1, 0.25, 0.5, 0.75, 1.0])
    expected = F.binary_cross_entropy(_t(p), _t(p), reduction="none").numpy()  # H(p, p) = H(p)
    np.testing.assert_allclose(binary_entropy(p), expected, rtol=1e-13, atol=1e-300)
    assert not np.signbit(binary_entropy(np.array([0.0, 1.0]))).any()  # 0.0, not -0.0


def test_binary_entropy_of_a_tiny_p_is_not_clamped():
    # H_b(p) ≈ p ln(1/p) + p for tiny p: 1e-300 · (300 ln 10 + 1) = 6.9178e-298. torch's BCE(p, p), our oracle
    # elsewhere, clamps log p at -100 and gives 1.01e-298 here.
    assert binary_entropy(np.array(1e-300)) == pytest.approx(1e-300 * (300 * math.log(10) + 1), rel=1e-12)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_dim_selects_the_axis_of_the_distributions(dim):
    p = np.moveaxis(_distributions(6, (4, 5, 3)), -1, dim)
    q = np.moveaxis(_distributions(7, (4, 5, 3)), -1, dim)
    for ours, theirs in [
        (entropy(p, dim=dim), -torch.special.xlogy(_t(p), _t(p)).sum(dim)),
        (cross_entropy_of(p, q, dim=dim), -torch.special.xlogy(_t(p), _t(q)).sum(dim)),
        (kl_divergence(p, q, dim=dim), F.kl_div(_t(np.log(q)), _t(p), reduction="none").sum(dim)),
    ]:
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-15)


# --- numbers to check by hand ----------------------------------------------------------------------------------


def test_units_nats_and_bits():
    assert entropy(np.array([0.5, 0.5])) == pytest.approx(math.log(2), rel=1e-15)
    assert entropy(np.array([0.5, 0.5]), base=2) == pytest.approx(1.0, rel=1e-15)
    assert entropy(np.full(8, 1 / 8), base=2) == pytest.approx(3.0, rel=1e-15)
    assert binary_entropy(np.array(0.5), base=2) == pytest.approx(1.0, rel=1e-15)
    assert kl_divergence(np.array([1.0, 0.0]), np.array([0.5, 0.5]), base=2) == pytest.approx(1.0, rel=1e-15)


def test_zero_log_zero_is_zero_and_a_certain_outcome_has_no_entropy():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no log(0) warning leaks out
        np.testing.assert_array_equal(entropy(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])), [0.0, 0.0])
        assert cross_entropy_of(np.array([1.0, 0.0]), np.array([0.25, 0.75])) == pytest.approx(math.log(4))


def test_missing_support_makes_cross_entropy_and_kl_infinite():
    p, q = np.array([0.5, 0.5]), np.array([1.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert cross_entropy_of(p, q) == np.inf
        assert kl_divergence(p, q) == np.inf
    assert kl_divergence(q, p) == pytest.approx(math.log(2))  # KL is not symmetric


def test_results_are_float64_arrays_with_the_distribution_axis_removed():
    p = _distributions(8, (3, 4))
    results = [(entropy(p), (3,)), (entropy(p[0]), ()), (kl_divergence(p, p), (3,)), (binary_entropy(p), (3, 4))]
    for out, shape in results:
        assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.shape == shape


# --- properties ------------------------------------------------------------------------------------------------

# Pairs of logits: [..., 0] makes p and [..., 1] makes q, so both have the same shape.
pair_shapes = st.tuples(st.integers(1, 4), st.integers(2, 6), st.just(2))
logit_pairs = arrays(np.float64, pair_shapes, elements=st.floats(-20, 20))


@settings(max_examples=50, deadline=None)
@given(logit_pairs)
def test_gibbs_inequality_and_kl_is_cross_entropy_minus_entropy(pair):
    p, q = softmax(pair[..., 0]), softmax(pair[..., 1])
    h, h_pq, kl = entropy(p), cross_entropy_of(p, q), kl_divergence(p, q)
    assert np.all(kl >= -1e-12)
    np.testing.assert_allclose(kl, h_pq - h, atol=1e-9)
    assert np.all(h <= math.log(p.shape[-1]) + 1e-12) and np.all(h >= 0)
    np.testing.assert_allclose(kl_divergence(p, p), 0.0, atol=1e-12)


@settings(max_examples=50, deadline=None)
@given(st.floats(0, 1))
def test_binary_entropy_is_the_entropy_of_a_coin_and_symmetric(p):
    coin = np.array([p, 1 - p])
    np.testing.assert_allclose(binary_entropy(np.array(p)), entropy(coin), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(binary_entropy(np.array(p)), binary_entropy(np.array(1 - p)), rtol=1e-9, atol=1e-15)


# --- bad input -------------------------------------------------------------------------------------------------


def test_a_p_that_does_not_sum_to_1_is_rejected_by_name():
    with pytest.raises(ValueError, match=r"p must sum to 1 along dim -1, but one of its sums is 0.9"):
        entropy(np.array([[0.5, 0.5], [0.5, 0.4]]))
    with pytest.raises(ValueError, match="q must sum to 1 along dim -1"):
        cross_entropy_of(np.array([0.5, 0.5]), np.array([0.7, 0.7]))
    with pytest.raises(ValueError, match="q must sum to 1 along dim 0"):
        kl_divergence(np.array([0.5, 0.5]), np.array([0.2, 0.2]), dim=0)


def test_probabilities_outside_0_1_and_nan_are_rejected():
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        entropy(np.array([1.5, -0.5]))
    with pytest.raises(ValueError, match=r"p must lie in \[0, 1\]"):
        binary_entropy(np.array([0.5, 1.2]))
    with pytest.raises(ValueError, match="p contains NaN"):
        binary_entropy(np.array([np.nan]))


def test_mismatched_shapes_bad_dim_and_bad_base_are_rejected():
    with pytest.raises(ValueError, match=r"q has shape \(3,\) but p has shape \(2,\)"):
        kl_divergence(np.array([0.5, 0.5]), np.full(3, 1 / 3))
    with pytest.raises(ValueError, match=r"dim 1 is out of range for p with shape \(2,\)"):
        entropy(np.array([0.5, 0.5]), dim=1)
    with pytest.raises(ValueError, match="base must be a positive number other than 1"):
        entropy(np.array([0.5, 0.5]), base=1)
    with pytest.raises(ValueError, match="base must be a positive number other than 1"):
        binary_entropy(np.array(0.5), base=-2)


def test_sums_within_rounding_of_1_are_accepted():
    p = np.array([0.1, 0.2, 0.7], dtype=np.float32).astype(np.float64)  # sums to 1 only within float32 rounding
    assert entropy(p) == pytest.approx(0.8018185525433373, rel=1e-6)
