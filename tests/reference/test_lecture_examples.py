"""The printed examples of the lecture notes (/work/shared/seeds), reproduced by reference/ to 4 decimals.

Lecture 8 (000_82757bbc54cd76b2.txt) prints its inputs rounded to 4 decimals, but computed its outputs from the
unrounded float32 tensors of torch's generator. So each example is checked twice: from the printed inputs (the
outputs agree to within the 1e-4 that rounding the inputs can move them) and from the exact inputs, which the
seeds in the notes regenerate (those match every printed digit). Where the notes themselves are wrong, the test
asserts the right number and its name says what the slip is.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference.activations import sigmoid, softmax
from reference.information import binary_entropy, cross_entropy_of, entropy
from reference.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    binary_cross_entropy_with_logits_grad,
    cross_entropy,
    cross_entropy_grad,
    gaussian_nll_loss,
    mse_loss,
    multi_margin_loss,
    poisson_nll_loss,
)


def _round4(a) -> np.ndarray:
    return np.round(np.asarray(a, dtype=np.float64), 4)


# The exact float32 inputs behind the printouts, written out so that the tests do not depend on torch's generator;
# test_the_seeds_regenerate_the_exact_inputs checks that they are what the notes' seeds give.
MSE_X = np.array(
    [0.49625658988952637, 0.7682217955589294, 0.08847743272781372, 0.13203048706054688, 0.30742281675338745]
)
MSE_Y = np.array([0.6340786814689636, 0.4900934100151062, 0.8964447379112244, 0.455627977848053, 0.6323062777519226])
SEED2_RAND = np.array(
    [
        [0.6146950721740723, 0.38101285696029663, 0.6371143460273743],
        [0.47446107864379883, 0.7135938405990601, 0.6190363764762878],
        [0.44253265857696533, 0.09576863050460815, 0.6141571998596191],
        [0.05732768774032593, 0.5657140016555786, 0.5332289338111877],
    ]
)  # torch.manual_seed(2); torch.rand((4, 3)) — its first five values are also the BCE example's x
SEED2_RANDN = np.array(
    [0.39229682087898254, -0.223564013838768, -0.31950026750564575, -1.2050371170043945, 1.0444635152816772]
)  # torch.manual_seed(2); torch.randn(5)
SEED2_VAR = np.array([2.366772174835205, 3.5731067657470703, 3.540947437286377, 2.6080942153930664, 1.9573211669921875])
SEED2_TARGET = np.array(
    [1.318617343902588, 0.747639000415802, -1.3264806270599365, -1.2412971258163452, -0.10280492901802063]
)


def test_the_seeds_regenerate_the_exact_inputs():
    torch.manual_seed(0)
    x, y = torch.rand([5, 1]), torch.rand([5, 1])
    np.testing.assert_array_equal(x.double().numpy().ravel(), MSE_X)
    np.testing.assert_array_equal(y.double().numpy().ravel(), MSE_Y)
    torch.manual_seed(2)
    np.testing.assert_array_equal(torch.rand(5).double().numpy(), SEED2_RAND.ravel()[:5])
    np.testing.assert_array_equal(torch.empty(5).random_(2).numpy(), [1.0, 0.0, 1.0, 0.0, 1.0])
    torch.manual_seed(2)
    np.testing.assert_array_equal(torch.rand((4, 3)).double().numpy(), SEED2_RAND)
    np.testing.assert_array_equal(torch.empty(4, dtype=torch.long).random_(3).numpy(), [2, 1, 0, 2])
    # The Poisson and Gaussian examples print no seed, but both start right after torch.manual_seed(2): that is
    # why the Gaussian "mean = torch.randn(N)" prints exactly the Poisson example's log_input.
    torch.manual_seed(2)
    np.testing.assert_array_equal(torch.randn(5).double().numpy(), SEED2_RANDN)
    np.testing.assert_array_equal(torch.empty(5).random_(5).numpy(), [4.0, 0.0, 0.0, 3.0, 4.0])
    torch.manual_seed(2)
    np.testing.assert_array_equal(torch.randn(5).double().numpy(), SEED2_RANDN)
    np.testing.assert_array_equal((torch.randn(5) + 3).double().numpy(), SEED2_VAR)
    np.testing.assert_array_equal(torch.randn(5).double().numpy(), SEED2_TARGET)


def test_the_printed_inputs_are_the_exact_inputs_rounded():
    np.testing.assert_array_equal(_round4(SEED2_RAND.ravel()[:5]), [0.6147, 0.3810, 0.6371, 0.4745, 0.7136])
    np.testing.assert_array_equal(_round4(SEED2_RANDN), [0.3923, -0.2236, -0.3195, -1.2050, 1.0445])
    np.testing.assert_array_equal(_round4(SEED2_VAR), [2.3668, 3.5731, 3.5409, 2.6081, 1.9573])
    np.testing.assert_array_equal(_round4(SEED2_TARGET), [1.3186, 0.7476, -1.3265, -1.2413, -0.1028])


# --- Lecture 8: "Loss Functions Example - Continuous" ----------------------------------------------------------


def test_mse_example_mean_sum_and_none():
    x, y = MSE_X.reshape(5, 1), MSE_Y.reshape(5, 1)  # torch.rand([5, 1]): a column, and 'none' keeps it
    assert _round4(mse_loss(x, y)) == 0.1919
    assert _round4(mse_loss(x, y, reduction="sum")) == 0.9594
    none = mse_loss(x, y, reduction="none")
    assert none.shape == (5, 1)
    np.testing.assert_array_equal(_round4(none), [[0.0190], [0.0774], [0.6528], [0.1047], [0.1055]])


# --- "Loss Functions Example - Binary" -------------------------------------------------------------------------

BCE_PRINTED = [0.4866, 0.4797, 0.4508, 0.6433, 0.3374]
BCE_X_PRINTED = np.array([0.6147, 0.3810, 0.6371, 0.4745, 0.7136])
BCE_Y = np.array([1.0, 0.0, 1.0, 0.0, 1.0])


def test_bce_example_none():
    np.testing.assert_array_equal(
        _round4(binary_cross_entropy(SEED2_RAND.ravel()[:5], BCE_Y, reduction="none")), BCE_PRINTED
    )
    # From the printed x, the fourth loss is −log(1 − 0.4745) = 0.64341 → 0.6434: the printout is still right,
    # because the true x is 0.474461..., and −log(1 − 0.474461) = 0.64334 → 0.6433. Rounding an input by up to
    # 5e-5 moves a loss by up to 5e-5 · |slope| (< 2 here), plus 5e-5 for rounding the output: 1.5e-4 in all.
    from_printed = binary_cross_entropy(BCE_X_PRINTED, BCE_Y, reduction="none")
    np.testing.assert_allclose(from_printed, BCE_PRINTED, atol=1.5e-4)
    assert _round4(from_printed[3]) == 0.6434


def test_bce_formula_in_the_notes_lacks_its_minus_sign():
    """The notes write l_n = y_n log(x_n) + (1 − y_n) log(1 − x_n): that is −BCE, negative for every sample."""
    x = SEED2_RAND.ravel()[:5]
    as_written = BCE_Y * np.log(x) + (1 - BCE_Y) * np.log(1 - x)
    np.testing.assert_array_equal(_round4(as_written), -np.array(BCE_PRINTED))
    np.testing.assert_allclose(binary_cross_entropy(x, BCE_Y, reduction="none"), -as_written, rtol=1e-15)


# --- "Loss Functions Example - Multiclass" ---------------------------------------------------------------------

MM_X_PRINTED = np.array(
    [
        [0.6147, 0.3810, 0.6371],
        [0.4745, 0.7136, 0.6190],
        [0.4425, 0.0958, 0.6142],
        [0.0573, 0.5657, 0.5332],
    ]
)
MM_Y = np.array([2, 1, 0, 2])
MM_PRINTED = [0.5738, 0.5554, 0.6083, 0.5189]


@pytest.mark.parametrize("x", [MM_X_PRINTED, SEED2_RAND], ids=["printed_inputs", "exact_inputs"])
def test_multi_margin_example_none(x):
    np.testing.assert_array_equal(_round4(multi_margin_loss(x, MM_Y, reduction="none")), MM_PRINTED)


def test_multi_margin_formula_in_the_notes_must_skip_the_target_class():
    """The notes sum max(0, margin − x[y] + x[i]) over every i; torch skips i = y, whose term is margin (= 1).

    Taken literally, the formula adds margin / C = 1/3 to every loss: 0.9072, 0.8888, 0.9417, 0.8522.
    """
    hinges = np.maximum(0.0, 1.0 - MM_X_PRINTED[np.arange(4), MM_Y][:, None] + MM_X_PRINTED)
    as_written = hinges.sum(axis=1) / 3
    np.testing.assert_array_equal(_round4(as_written), [0.9072, 0.8888, 0.9417, 0.8522])
    np.testing.assert_allclose(multi_margin_loss(MM_X_PRINTED, MM_Y, reduction="none"), as_written - 1 / 3, rtol=1e-12)


# --- "Poisson Distribution Example" and "Gaussian Distribution Example" ----------------------------------------

POISSON_TARGET = np.array([4.0, 0.0, 0.0, 3.0, 4.0])
POISSON_PRINTED = [-0.0888, 0.7997, 0.7265, 3.9148, -1.3360]
GAUSSIAN_PRINTED = [0.6120, 0.7687, 0.7754, 0.4796, 0.6720]


def test_poisson_nll_example_none():
    np.testing.assert_array_equal(
        _round4(poisson_nll_loss(SEED2_RANDN, POISSON_TARGET, reduction="none")), POISSON_PRINTED
    )
    # From the printed (rounded) log rates, two losses move in the 4th decimal: 0.7996 and 3.9147.
    from_printed = poisson_nll_loss(_round4(SEED2_RANDN), POISSON_TARGET, reduction="none")
    np.testing.assert_allclose(from_printed, POISSON_PRINTED, atol=1.5e-4)
    np.testing.assert_array_equal(_round4(from_printed), [-0.0888, 0.7996, 0.7265, 3.9147, -1.3360])


def test_poisson_nll_example_is_a_log_likelihood_only_up_to_log_y_factorial():
    """The notes label the printout "Log Probability"; it is −log P(y | λ) − log y!, hence the negative entries.

    A negative log-probability of a count cannot be negative; adding log y! gives the true NLL (first entry 3.0892).
    """
    true_nll = -torch.distributions.Poisson(torch.tensor(np.exp(SEED2_RANDN))).log_prob(torch.tensor(POISSON_TARGET))
    log_factorial = np.array([math.lgamma(y + 1) for y in POISSON_TARGET])
    ours = poisson_nll_loss(SEED2_RANDN, POISSON_TARGET, reduction="none")
    np.testing.assert_allclose(ours + log_factorial, true_nll.numpy(), rtol=1e-12)
    assert _round4(true_nll[0].item()) == 3.0892


def test_gaussian_nll_example_none():
    np.testing.assert_array_equal(
        _round4(gaussian_nll_loss(SEED2_RANDN, SEED2_TARGET, SEED2_VAR, reduction="none")), GAUSSIAN_PRINTED
    )
    printed = [_round4(a) for a in (SEED2_RANDN, SEED2_TARGET, SEED2_VAR)]
    np.testing.assert_array_equal(_round4(gaussian_nll_loss(*printed, reduction="none")), GAUSSIAN_PRINTED)


# --- Notes 001: softmax, entropy and cross-entropy -------------------------------------------------------------


def test_softmax_of_z_1_2_3():
    np.testing.assert_array_equal(_round4(softmax(np.array([1.0, 2.0, 3.0]))), [0.0900, 0.2447, 0.6652])


def test_entropy_example_is_in_nats_although_the_formula_says_log2():
    """The formula says H = −Σ p log₂ p but the code uses np.log: for x = [0.25, 0.75], 0.5623 nats = 0.8113 bits."""
    p = np.array([0.25, 0.75])
    assert _round4(entropy(p)) == 0.5623
    assert _round4(entropy(p, base=2)) == 0.8113
    assert _round4(binary_entropy(np.array(0.75))) == 0.5623  # the notes' binary-entropy line, with p left at 0.75


def test_cross_entropy_loop_in_the_notes_swaps_p_and_q():
    """`H -= q[i]*np.log(p[i])` takes the log of the one-hot label p = [1, 0]: log 0, so H = inf.

    The cross-entropy is H(p, q) = −Σ p log q = −log 0.25 = 1.3863 nats (2 bits).
    """
    p, q = np.array([1.0, 0.0]), np.array([0.25, 0.75])
    with np.errstate(divide="ignore", invalid="ignore"):
        as_written = -np.sum(q * np.log(p))
    assert as_written == np.inf
    assert _round4(cross_entropy_of(p, q)) == 1.3863
    assert cross_entropy_of(p, q, base=2) == pytest.approx(2.0, rel=1e-15)


def test_binary_cross_entropy_call_in_the_notes_swaps_input_and_target():
    """`F.binary_cross_entropy(p, q)` passes the label as the prediction: torch gives 75.0 (log 0 clamped at −100).

    The prediction goes first: F.binary_cross_entropy(q, p) = mean(−log 0.25, −log(1 − 0.75)) = 1.3863.
    """
    p, q = np.array([1.0, 0.0]), np.array([0.25, 0.75])
    assert binary_cross_entropy(q, p) == pytest.approx(math.log(4), rel=1e-15)
    assert binary_cross_entropy(p, q) == pytest.approx(75.0, rel=1e-15)
    assert F.binary_cross_entropy(torch.tensor(p), torch.tensor(q)).item() == pytest.approx(75.0, rel=1e-15)


# --- Notes 003: losses in logit form ---------------------------------------------------------------------------


def test_bce_in_logit_form_is_log_1_plus_e_z_minus_y_z():
    """The slides print J = ln[1 + e^z] y z (the minus sign is lost); it is ln(1 + e^z) − y z, with slope σ(z) − y."""
    z, y = np.array([-2.0, -0.5, 0.0, 1.5, 3.0]), np.array([0.0, 1.0, 1.0, 0.0, 1.0])
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits(z, y, reduction="none"), np.log1p(np.exp(z)) - y * z, rtol=1e-14
    )
    np.testing.assert_allclose(
        binary_cross_entropy_with_logits_grad(z, y, reduction="sum"), np.exp(z) / (1 + np.exp(z)) - y, rtol=1e-14
    )
    np.testing.assert_allclose(sigmoid(z), np.exp(z) / (1 + np.exp(z)), rtol=1e-15)


def test_k_ary_cross_entropy_in_logit_form_and_its_slope_softmax_minus_one_hot():
    """J = ln Σ_k e^(z_k) − Σ_k y_k z_k (the slides lose this minus sign too); ∂J/∂z_k = softmax(z)_k − y_k."""
    z, y = np.array([[1.0, -1.0, 0.5], [0.0, 2.0, -3.0]]), np.array([2, 0])
    one_hot = np.eye(3)[y]
    as_intended = np.log(np.exp(z).sum(axis=1)) - (one_hot * z).sum(axis=1)
    np.testing.assert_allclose(cross_entropy(z, y, reduction="none"), as_intended, rtol=1e-14)
    np.testing.assert_allclose(cross_entropy_grad(z, y, reduction="sum"), softmax(z) - one_hot, rtol=1e-14)
