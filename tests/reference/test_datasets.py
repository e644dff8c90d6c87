"""reference.datasets: shapes, dtypes, reproducibility from a seed or a Generator, the geometry of each."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.datasets import (
    as_rng,
    make_circles,
    make_linear_regression,
    make_moons,
    make_sum_regression,
    make_xor,
    make_xor_blobs,
)

CLASSIFICATION = {
    "xor_blobs": lambda n, rng: make_xor_blobs(n, 0.2, rng),
    "moons": lambda n, rng: make_moons(n, 0.1, rng),
    "circles": lambda n, rng: make_circles(n, 0.1, rng),
}


def test_make_xor_is_the_truth_table():
    X, y = make_xor()
    np.testing.assert_array_equal(X, [[0, 0], [0, 1], [1, 0], [1, 1]])
    np.testing.assert_array_equal(y, [0, 1, 1, 0])
    assert X.dtype == y.dtype == np.float64 and X.shape == (4, 2) and y.shape == (4,)
    np.testing.assert_array_equal(y, np.logical_xor(X[:, 0], X[:, 1]))
    X[0, 0] = 5.0  # a fresh copy each call
    assert make_xor()[0][0, 0] == 0.0


@pytest.mark.parametrize("name", list(CLASSIFICATION))
@given(n=st.integers(min_value=4, max_value=60), seed=st.integers(min_value=0, max_value=2**32 - 1))
@settings(max_examples=15, deadline=None)
def test_classification_sets_shapes_dtypes_labels_and_reproducibility(name, n, seed):
    make = CLASSIFICATION[name]
    X, y = make(n, seed)
    assert X.shape == (n, 2) and y.shape == (n,)
    assert X.dtype == np.float64 and y.dtype == np.float64
    assert set(np.unique(y)) <= {0.0, 1.0} and np.isfinite(X).all()
    X2, y2 = make(n, np.random.default_rng(seed))  # an int seed means default_rng(seed)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n, seed + 1)
    assert not np.array_equal(X, X3)


@pytest.mark.parametrize("name", list(CLASSIFICATION))
def test_classes_are_balanced_and_shuffled(name):
    X, y = CLASSIFICATION[name](101, 0)
    assert y.sum() == 50  # ⌊101/2⌋ of class 1; XOR blobs: corners i mod 4 ∈ {1, 2} for i < 101, 25 + 25
    assert not (np.all(np.diff(y) >= 0) or np.all(np.diff(y) <= 0))  # not sorted by class


def test_xor_blobs_are_noisy_corners_with_their_xor_labels():
    X, y = make_xor_blobs(400, 0.05, rng=0)
    corner = np.rint(X)
    assert np.abs(X - corner).max() < 0.05 * 5  # within 5 standard deviations of a corner
    np.testing.assert_array_equal(y, np.logical_xor(corner[:, 0], corner[:, 1]))
    assert np.unique(corner, axis=0, return_counts=True)[1].tolist() == [100, 100, 100, 100]
    X0, y0 = make_xor_blobs(8, 0.0, rng=0)  # no noise: exactly the 4 points, twice each
    assert sorted(map(tuple, X0)) == sorted(map(tuple, np.vstack([make_xor()[0]] * 2)))


def test_moons_without_noise_lie_on_their_half_circles():
    X, y = make_moons(50, 0.0, rng=0)
    outer, inner = X[y == 0], X[y == 1]
    assert len(outer) == 25 and len(inner) == 25
    np.testing.assert_allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0, rtol=1e-15)
    np.testing.assert_allclose(np.hypot(inner[:, 0] - 1.0, inner[:, 1] - 0.5), 1.0, rtol=1e-15)
    assert (outer[:, 1] >= 0).all() and (inner[:, 1] <= 0.5).all()


def test_circles_without_noise_lie_on_two_radii():
    X, y = make_circles(40, 0.0, rng=0, factor=0.3)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0, rtol=1e-15)
    np.testing.assert_allclose(radius[y == 1], 0.3, rtol=1e-15)
    assert (y == 0).sum() == 20


def test_sum_regression_is_lecture8_data():
    X, y = make_sum_regression(100, 4, rng=0)
    assert X.shape == (100, 4) and y.shape == (100,) and X.dtype == y.dtype == np.float64
    np.testing.assert_array_equal(y, X.sum(axis=1))
    np.testing.assert_array_equal(X, np.random.default_rng(0).standard_normal((100, 4)))
    assert abs(X.mean()) < 0.2 and abs(X.std() - 1) < 0.1


def test_linear_regression_returns_the_true_parameters():
    X, y, w, b = make_linear_regression(50, 3, 0.0, rng=1)
    assert X.shape == (50, 3) and y.shape == (50,) and w.shape == (3,) and isinstance(b, float)
    np.testing.assert_allclose(y, X @ w + b, rtol=1e-15, atol=1e-15)
    coef = np.linalg.lstsq(np.column_stack([X, np.ones(50)]), y, rcond=None)[0]
    np.testing.assert_allclose(coef, [*w, b], rtol=1e-12, atol=1e-12)
    _, y_noisy, w2, b2 = make_linear_regression(50, 3, 0.5, rng=1)
    np.testing.assert_array_equal(w2, w)  # the noise is drawn last: same X, w, b
    assert b2 == b
    assert 0.3 < np.std(y_noisy - y) < 0.7


def test_generators_use_the_given_generator_and_never_numpys_global_state():
    np.random.seed(0)
    before = np.random.get_state()[1].copy()
    rng = np.random.default_rng(7)
    first = make_sum_regression(3, 2, rng)[0]
    second = make_sum_regression(3, 2, rng)[0]  # the Generator advanced
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(np.random.get_state()[1], before)
    assert as_rng(rng) is rng


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: make_xor_blobs(0, 0.1, 0), "n must be"),
        (lambda: make_xor_blobs(4, -0.1, 0), "noise must be"),
        (lambda: make_moons(1, 0.1, 0), "n must be"),
        (lambda: make_moons(10, float("nan"), 0), "noise must be"),
        (lambda: make_circles(10, 0.1, 0, factor=1.0), "factor must"),
        (lambda: make_sum_regression(10, 0, 0), "d must be"),
        (lambda: make_sum_regression(10.0, 2, 0), "n must be"),
        (lambda: make_linear_regression(10, 2, 0.1, None), "rng must be"),
        (lambda: make_linear_regression(10, 2, 0.1, -3), "rng must be"),
        (lambda: make_linear_regression(10, 2, 0.1, True), "rng must be"),
        (lambda: make_linear_regression(10, 2, "0.1", 0), "noise must be"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(call, match):
    with pytest.raises(ValueError, match=match):
        call()
