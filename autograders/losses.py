"""Autograder for `losses`: the loss functions of torch.nn.functional written from scratch, numpy in / numpy out,
then which input each PyTorch loss module expects, then negative log-likelihoods with torch.distributions.

Part A–D (mse_loss … gaussian_nll_loss) follow torch.nn.functional's names, argument names and its three
reductions; torch.nn (so torch.nn.functional too), torch's top-level loss kernels and torch.distributions are
banned there, and autograd is off. Numerical stability is graded: hidden (and some public) cases carry logits of
±1000 and probabilities of exactly 0 and 1, which the naive forms turn into inf or nan; those naive forms are
known mistakes with their own feedback. Part E asks for the four classification losses through torch's modules,
each fed the input it expects (probabilities, logits, logits, log-probabilities). Part F is lecture 8's
"NLL Loss for Other Distributions": exponential and Weibull NLLs summed over the batch, with tensors in.

Slips of the lecture notes that are in the catalog:
- lecture 8 writes BCE as l_n = y_n log x_n + (1 − y_n) log(1 − x_n), without the minus sign (bce forgot_minus);
- lecture 8's MultiMargin formula sums over every class i, the target class included (included_target_class);
- the "Deep learning in detail" notes write MSE as ½(ŷ − y)² (mse half_factor) and call
  F.binary_cross_entropy(p, q) with the true label first (bce swapped_arguments);
- unit 8 writes BCE from logits as Σ ln(1 + e^z) − y z, which overflows for z ≳ 710 (naive_softplus);
- lecture 8's Weibull code keeps the parameters as (N, 1) columns with unsqueeze(1) and calls log_prob on
  targets of shape (N,), which broadcasts to an N × N table of log-densities (weibull notes_unsqueeze).

One source for every solution: the notebook's solution cells. Each known mistake is its question's solution cell
with small edits (Mistake.edits, applied when the suite is bound to the notebook); its compute is the trusted
variant written here, which recognises a student who makes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlgrade.suite import WARM_UP_DISTRIBUTIONS, Case, Mistake, Question, Suite, TensorArg
from reference.activations import log_softmax, sigmoid, softmax
from reference.losses import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gaussian_nll_loss,
    l1_loss,
    mse_loss,
    multi_margin_loss,
    nll_loss,
    poisson_nll_loss,
)

REDUCTIONS = ("none", "mean", "sum")

# "From scratch": no loss of torch's (torch.nn covers torch.nn.functional; the top-level kernels and torch._C are
# the same functions by other names), no distributions, no autograd.
BANNED = (
    "torch.nn", "torch._C", "torch.distributions", "torch.binary_cross_entropy_with_logits",
    "torch.poisson_nll_loss", "torch.kl_div", "torch.autograd", ".backward",
)

NOTEBOOK = Path(__file__).resolve().parent.parent / "assignments" / "losses" / "losses.ipynb"


def _reduced(loss: np.ndarray, reduction: str, total: float | None = None) -> np.ndarray:
    """'none' keeps the losses, 'sum' adds them up, 'mean' divides the sum by total (default: the count)."""
    loss = np.asarray(loss, dtype=np.float64)
    if reduction == "none":
        return loss
    if reduction == "sum":
        return np.asarray(np.sum(loss))
    return np.asarray(np.sum(loss) / (loss.size if total is None else total))


def _cases(*items: tuple[tuple[Any, ...], dict[str, Any], str]) -> Callable[[], Sequence[Case]]:
    frozen = tuple(Case(args, kwargs, label) for args, kwargs, label in items)
    return lambda: frozen


def _a(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _i(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _shape(rng: np.random.Generator) -> tuple[int, ...]:
    """(n,) or (n, m): the elementwise losses accept any shape."""
    n = int(rng.integers(2, 7))
    return (n,) if rng.random() < 0.5 else (n, int(rng.integers(2, 5)))


def _round(values: np.ndarray, decimals: int = 3) -> np.ndarray:
    return np.round(values, decimals)


# ============================================================================================================
# Part A: regression losses
# ============================================================================================================


def _mse_half(input, target, reduction="mean"):
    return 0.5 * mse_loss(input, target, reduction=reduction)


def _mse_sum_for_mean(input, target, reduction="mean"):
    return mse_loss(input, target, reduction="sum" if reduction == "mean" else reduction)


def _mse_rms(input, target, reduction="mean"):
    value = mse_loss(input, target, reduction=reduction)
    return np.sqrt(value) if reduction == "mean" else value


def _mse_abs(input, target, reduction="mean"):
    return l1_loss(input, target, reduction=reduction)


_MSE_X, _MSE_Y = _a(0.5, 1.0, 2.0), _a(1.0, 1.0, 0.0)
_MSE_X2, _MSE_Y2 = _a([1.0, -2.0], [0.0, 3.0]), _a([0.0, 0.0], [2.0, 3.0])


def _hidden_elementwise(rng: np.random.Generator, scale: float = 2.0) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for _ in range(2):
            shape = _shape(rng)
            cases.append(Case((rng.normal(0, scale, shape), rng.normal(0, scale, shape)),
                              {"reduction": reduction}, f"random {shape}, reduction={reduction!r}"))
    cases.append(Case((_a(1.5), _a(-0.25)), {"reduction": "mean"}, "single element"))
    column = rng.random((5, 1))
    cases.append(Case((column, rng.random((5, 1))), {"reduction": "none"}, "a (5, 1) column, as in lecture 8"))
    same = rng.normal(size=4)
    cases.append(Case((same, same.copy()), {"reduction": "mean"}, "input equals target"))
    return cases


def mse_question() -> Question:
    return Question(
        name="mse", cell="mse_solution", entry="mse_loss", reference=mse_loss,
        public=_cases(
            ((_MSE_X, _MSE_Y), {"reduction": "none"}, "x=[0.5, 1, 2], y=[1, 1, 0], reduction='none'"),
            ((_MSE_X, _MSE_Y), {"reduction": "mean"}, "x=[0.5, 1, 2], y=[1, 1, 0], reduction='mean'"),
            ((_MSE_X2, _MSE_Y2), {"reduction": "sum"}, "x=[[1, -2], [0, 3]], y=[[0, 0], [2, 3]], reduction='sum'"),
        ),
        hidden=_hidden_elementwise, banned=BANNED, numpy_only=True, autograd=False,
        hint="square every difference, then: 'none' returns them all, 'sum' adds them, 'mean' averages them",
        mistakes=(
            Mistake(
                "half_factor",
                "your loss is ½(x − y)², the convenience form in the notes; torch's mse_loss (and this "
                "exercise) has no ½: l_n = (x_n − y_n)².",
                _mse_half, edits=[("loss = (input - target) ** 2", "loss = 0.5 * (input - target) ** 2")],
            ),
            Mistake(
                "sum_instead_of_mean",
                "for reduction='mean' you return the sum of the squared errors; 'mean' divides that sum by the "
                "number of elements.",
                _mse_sum_for_mean, edits=[("return np.mean(loss)", "return np.sum(loss)")],
            ),
            Mistake(
                "root_mean_square",
                "for reduction='mean' you return the root of the mean squared error (RMSE); mse_loss is the mean "
                "itself, without the square root.",
                _mse_rms, edits=[("return np.mean(loss)", "return np.sqrt(np.mean(loss))")],
            ),
            Mistake(
                "absolute_error",
                "you used |x − y| (that is l1_loss); the squared error is (x − y)².",
                _mse_abs, edits=[("loss = (input - target) ** 2", "loss = np.abs(input - target)")],
            ),
        ),
    )


def _l1_signed(input, target, reduction="mean"):
    return _reduced(input - target, reduction)


def _l1_sum_for_mean(input, target, reduction="mean"):
    return l1_loss(input, target, reduction="sum" if reduction == "mean" else reduction)


def l1_question() -> Question:
    return Question(
        name="l1", cell="l1_solution", entry="l1_loss", reference=l1_loss,
        public=_cases(
            ((_MSE_X, _MSE_Y), {"reduction": "none"}, "x=[0.5, 1, 2], y=[1, 1, 0], reduction='none'"),
            ((_MSE_X, _MSE_Y), {"reduction": "mean"}, "x=[0.5, 1, 2], y=[1, 1, 0], reduction='mean'"),
            ((_MSE_X2, _MSE_Y2), {"reduction": "sum"}, "x=[[1, -2], [0, 3]], y=[[0, 0], [2, 3]], reduction='sum'"),
        ),
        hidden=_hidden_elementwise, banned=BANNED, numpy_only=True, autograd=False,
        hint="take the absolute value of every difference, then reduce",
        mistakes=(
            Mistake(
                "signed_difference",
                "your loss is the signed difference x − y, so errors of opposite signs cancel; the L1 loss is "
                "its absolute value |x_n − y_n|.",
                _l1_signed, edits=[("loss = np.abs(input - target)", "loss = input - target")],
            ),
            Mistake(
                "squared_error",
                "you squared the differences (that is mse_loss); the L1 loss is |x_n − y_n|.",
                mse_loss, edits=[("loss = np.abs(input - target)", "loss = (input - target) ** 2")],
            ),
            Mistake(
                "sum_instead_of_mean",
                "for reduction='mean' you return the sum of the absolute errors; 'mean' divides it by the number "
                "of elements.",
                _l1_sum_for_mean, edits=[("return np.mean(loss)", "return np.sum(loss)")],
            ),
        ),
    )


# ============================================================================================================
# Part B: binary classification, from probabilities and from logits
# ============================================================================================================


def _bce_no_minus(input, target, reduction="mean"):
    return -binary_cross_entropy(input, target, reduction=reduction)


def _bce_no_clamp(input, target, reduction="mean"):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _reduced(-(target * np.log(input) + (1.0 - target) * np.log(1.0 - input)), reduction)


def _bce_clipped(input, target, reduction="mean"):
    p = np.clip(input, 1e-7, 1.0 - 1e-7)
    return _reduced(-(target * np.log(p) + (1.0 - target) * np.log(1.0 - p)), reduction)


def _bce_swapped(input, target, reduction="mean"):
    return binary_cross_entropy(target, input, reduction=reduction)


# lecture 8's printed example (nn.BCELoss(reduction='none') gives [0.4866, 0.4797, 0.4508, 0.6433, 0.3374])
_BCE_NOTES_X, _BCE_NOTES_Y = _a(0.6147, 0.3810, 0.6371, 0.4745, 0.7136), _a(1, 0, 1, 0, 1)
_BCE_EDGE_X, _BCE_EDGE_Y = _a(0.0, 1.0, 0.0, 1.0, 0.5), _a(0, 1, 1, 0, 1)


def _probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return _round(rng.uniform(0.02, 0.98, shape))


def _labels(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.integers(0, 2, shape).astype(np.float64)


def _hidden_bce(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for _ in range(2):
            shape = _shape(rng)
            cases.append(Case((_probabilities(rng, shape), _labels(rng, shape)), {"reduction": reduction},
                              f"random {shape}, reduction={reduction!r}"))
    shape = _shape(rng)
    cases.append(Case((_probabilities(rng, shape), rng.random(shape)), {"reduction": "none"}, "soft targets"))
    # every combination of a certain prediction and a label, plus probabilities whose log is below -100
    edge_x = np.concatenate([_a(0, 0, 1, 1, 1e-50, 1e-40, 1 - 1e-12), _probabilities(rng, (3,))])
    edge_y = np.concatenate([_a(0, 1, 0, 1, 1, 1, 0), _labels(rng, (3,))])
    order = rng.permutation(edge_x.size)
    for reduction in REDUCTIONS:
        cases.append(Case((edge_x[order], edge_y[order]), {"reduction": reduction},
                          f"probabilities of exactly 0 and 1, reduction={reduction!r}"))
    cases.append(Case((_a(1.0), _a(0.0)), {"reduction": "mean"}, "single element, certain and wrong"))
    cases.append(Case((_a(0.3), _a(1.0)), {"reduction": "sum"}, "single element"))
    return cases


def bce_question() -> Question:
    return Question(
        name="bce", cell="bce_solution", entry="binary_cross_entropy", reference=binary_cross_entropy,
        public=_cases(
            ((_BCE_NOTES_X, _BCE_NOTES_Y), {"reduction": "none"}, "lecture 8's example, reduction='none'"),
            ((_a(0.9, 0.2, 0.5), _a(1, 0, 1)), {"reduction": "mean"}, "x=[0.9, 0.2, 0.5], y=[1, 0, 1], "
                                                                      "reduction='mean'"),
            ((_BCE_EDGE_X, _BCE_EDGE_Y), {"reduction": "none"},
             "probabilities of exactly 0 and 1: x=[0, 1, 0, 1, 0.5], y=[0, 1, 1, 0, 1], reduction='none'"),
            ((_BCE_EDGE_X, _BCE_EDGE_Y), {"reduction": "sum"}, "the same, reduction='sum'"),
        ),
        hidden=_hidden_bce, banned=BANNED, numpy_only=True, autograd=False,
        hint="l_n = −[y_n log x_n + (1 − y_n) log(1 − x_n)] with each log clamped at −100 (so 0 · log 0 counts 0)",
        mistakes=(
            Mistake(
                "forgot_minus",
                "your BCE has the sign flipped (the slip in lecture 8's formula): the loss is "
                "−[y log x + (1 − y) log(1 − x)], which is ≥ 0.",
                _bce_no_minus, edits=[("loss = -(target * log_p", "loss = (target * log_p")],
            ),
            Mistake(
                "no_log_clamp",
                "your logs are not clamped, so a probability of exactly 0 or 1 gives log 0 = −inf and then inf "
                "or nan (0 · −inf); torch clamps each log at −100: max(log x, −100), max(log(1 − x), −100).",
                _bce_no_clamp,
                edits=[("log_p = np.maximum(np.log(input), -100.0)", "log_p = np.log(input)"),
                       ("log_1mp = np.maximum(np.log(1.0 - input), -100.0)", "log_1mp = np.log(1.0 - input)"),
                       ('with np.errstate(divide="ignore"):', 'with np.errstate(divide="ignore", invalid="ignore"):')],
            ),
            Mistake(
                "clipped_probabilities",
                "you clipped the probabilities to [1e-7, 1 − 1e-7] (Keras' way); torch leaves x alone and clamps "
                "the log at −100, so a certain wrong prediction costs 100, not 16.1, and a certain right one "
                "costs exactly 0.",
                _bce_clipped,
                edits=[("log_p = np.maximum(np.log(input), -100.0)",
                        "p = np.clip(input, 1e-7, 1.0 - 1e-7)\n        log_p = np.log(p)"),
                       ("log_1mp = np.maximum(np.log(1.0 - input), -100.0)", "log_1mp = np.log(1.0 - p)")],
            ),
            Mistake(
                "swapped_arguments",
                "you swapped the roles of prediction and label (as the notes' F.binary_cross_entropy(p, q) call, "
                "with the true label first): the logs are of the prediction x, weighted by the label y: "
                "−[y log x + (1 − y) log(1 − x)].",
                _bce_swapped,
                edits=[("np.log(input), -100.0)", "np.log(target), -100.0)"),
                       ("np.log(1.0 - input), -100.0)", "np.log(1.0 - target), -100.0)"),
                       ("loss = -(target * log_p + (1.0 - target) * log_1mp)",
                        "loss = -(input * log_p + (1.0 - input) * log_1mp)")],
            ),
        ),
    )


def _bcel_sigmoid_log(input, target, reduction="mean"):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        p = 1.0 / (1.0 + np.exp(-input))
        return _reduced(-(target * np.log(p) + (1.0 - target) * np.log(1.0 - p)), reduction)


def _bcel_sigmoid_then_bce(input, target, reduction="mean"):
    return binary_cross_entropy(sigmoid(input), target, reduction=reduction)


def _bcel_softplus(input, target, reduction="mean"):
    with np.errstate(over="ignore"):
        return _reduced(np.log(1.0 + np.exp(input)) - target * input, reduction)


def _bcel_no_abs(input, target, reduction="mean"):
    with np.errstate(over="ignore"):
        return _reduced(np.maximum(input, 0.0) - input * target + np.log1p(np.exp(-input)), reduction)


_HUGE_X, _HUGE_Y = _a(1000, -1000, 1000, -1000, 0), _a(1, 1, 0, 0, 1)


def _hidden_bce_logits(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for _ in range(2):
            shape = _shape(rng)
            cases.append(Case((_round(rng.normal(0, 3, shape)), _labels(rng, shape)), {"reduction": reduction},
                              f"random logits {shape}, reduction={reduction!r}"))
    shape = _shape(rng)
    cases.append(Case((_round(rng.normal(0, 3, shape)), rng.random(shape)), {"reduction": "none"}, "soft targets"))
    big = np.concatenate([_a(1000, -1000, 1000, -1000, 745, -745, 40, -40), _round(rng.normal(0, 3, 4))])
    labels = np.concatenate([_a(1, 1, 0, 0, 0, 1, 0, 1), _labels(rng, (4,))])
    order = rng.permutation(big.size)
    for reduction in REDUCTIONS:
        cases.append(Case((big[order], labels[order]), {"reduction": reduction},
                          f"logits of ±1000, ±745 and ±40, reduction={reduction!r}"))
    cases.append(Case((_a(-1000.0), _a(1.0)), {"reduction": "mean"}, "single element, logit -1000, label 1"))
    cases.append(Case((_a(1000.0), _a(0.0)), {"reduction": "sum"}, "single element, logit 1000, label 0"))
    return cases


def bce_logits_question() -> Question:
    return Question(
        name="bce_with_logits", cell="bce_with_logits_solution", entry="binary_cross_entropy_with_logits",
        reference=binary_cross_entropy_with_logits,
        public=_cases(
            ((_a(0, 2, -1), _a(1, 0, 1)), {"reduction": "none"}, "x=[0, 2, -1], y=[1, 0, 1], reduction='none'"),
            ((_a(0.5, -1.5, 3.0, 0.0), _a(1, 0, 0, 0.5)), {"reduction": "mean"},
             "x=[0.5, -1.5, 3, 0], y=[1, 0, 0, 0.5], reduction='mean'"),
            ((_HUGE_X, _HUGE_Y), {"reduction": "none"},
             "logits of ±1000: x=[1000, -1000, 1000, -1000, 0], y=[1, 1, 0, 0, 1], reduction='none'"),
            ((_HUGE_X, _HUGE_Y), {"reduction": "sum"}, "the same, reduction='sum'"),
        ),
        hidden=_hidden_bce_logits, banned=BANNED, numpy_only=True, autograd=False,
        hint="write log(1 + e^x) − y·x, and log(1 + e^x) as max(x, 0) + log1p(e^(−|x|)) so that nothing overflows",
        mistakes=(
            Mistake(
                "sigmoid_then_log",
                "you computed p = sigmoid(x) and then −[y log p + (1 − y) log(1 − p)]: for large |x| the "
                "sigmoid rounds to exactly 0 or 1 and the log gives inf or nan. Stay in logits: "
                "l = max(x, 0) − x·y + log(1 + e^(−|x|)).",
                _bcel_sigmoid_log,
                edits=[("loss = np.maximum(input, 0.0) - input * target + np.log1p(np.exp(-np.abs(input)))",
                        "p = 1.0 / (1.0 + np.exp(-input))\n"
                        "    loss = -(target * np.log(p) + (1.0 - target) * np.log(1.0 - p))")],
            ),
            Mistake(
                "sigmoid_then_bce",
                "you turned the logits into probabilities and used the clamped BCE of part B: that saturates at "
                "100 (and loses all precision once sigmoid(x) rounds to 1), while the loss of a logit of 1000 "
                "on the wrong side is 1000. Stay in logits: l = max(x, 0) − x·y + log(1 + e^(−|x|)).",
                _bcel_sigmoid_then_bce,
                edits=[("loss = np.maximum(input, 0.0) - input * target + np.log1p(np.exp(-np.abs(input)))",
                        "e = np.exp(-np.abs(input))\n"
                        "    p = np.where(input >= 0, 1.0 / (1.0 + e), e / (1.0 + e))\n"
                        "    with np.errstate(divide=\"ignore\"):\n"
                        "        log_p = np.maximum(np.log(p), -100.0)\n"
                        "        log_1mp = np.maximum(np.log(1.0 - p), -100.0)\n"
                        "    loss = -(target * log_p + (1.0 - target) * log_1mp)")],
            ),
            Mistake(
                "naive_softplus",
                "you wrote log(1 + e^x) − y·x literally (unit 8's formula): e^x overflows to inf for x > 709. "
                "Write log(1 + e^x) = max(x, 0) + log(1 + e^(−|x|)), which never exponentiates a positive number.",
                _bcel_softplus,
                edits=[("loss = np.maximum(input, 0.0) - input * target + np.log1p(np.exp(-np.abs(input)))",
                        "loss = np.log(1.0 + np.exp(input)) - target * input")],
            ),
            Mistake(
                "forgot_abs",
                "your stable form lost the absolute value: log1p(e^(−x)) overflows for x < −709. The identity "
                "is log(1 + e^x) = max(x, 0) + log(1 + e^(−|x|)).",
                _bcel_no_abs,
                edits=[("np.log1p(np.exp(-np.abs(input)))", "np.log1p(np.exp(-input))")],
            ),
        ),
    )


# ============================================================================================================
# Part C: multi-class classification
# ============================================================================================================


def _ce_naive(input, target, reduction="mean"):
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        e = np.exp(input)
        p = e / np.sum(e, axis=1, keepdims=True)
        return _reduced(-np.log(p[np.arange(input.shape[0]), target]), reduction)


def _ce_log_of_softmax(input, target, reduction="mean"):
    with np.errstate(divide="ignore"):
        return _reduced(-np.log(softmax(input, dim=1)[np.arange(input.shape[0]), target]), reduction)


def _ce_mean_over_classes(input, target, reduction="mean"):
    value = cross_entropy(input, target, reduction=reduction)
    return value / input.shape[1] if reduction == "mean" else value


def _ce_logits_as_log_probs(input, target, reduction="mean"):
    return nll_loss(input, target, reduction=reduction)


_CE_X, _CE_T = _a([1, 2, 3], [1, 1, 1]), _i(2, 0)
_CE_HUGE_X, _CE_HUGE_T = _a([1000, 0, -1000], [-1000, 1000, 0]), _i(2, 1)


def _logits(rng: np.random.Generator, n: int, c: int, scale: float = 3.0) -> np.ndarray:
    return _round(rng.normal(0, scale, (n, c)))


def _hidden_ce(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for _ in range(2):
            n, c = int(rng.integers(2, 7)), int(rng.integers(2, 6))
            cases.append(Case((_logits(rng, n, c), rng.integers(0, c, n)), {"reduction": reduction},
                              f"random logits ({n}, {c}), reduction={reduction!r}"))
    c = 4
    huge = _logits(rng, 4, c)
    huge[0, :] = [1000, -1000, 0, 5]
    huge[1, :] = [-1000, 1000, 3, -1000]
    huge[2, :] = 1000 + _round(rng.normal(0, 1, c))  # every logit large: softmax is shift-invariant
    target = np.array([int(rng.integers(1, c)), 1, int(rng.integers(0, c)), 0])
    for reduction in REDUCTIONS:
        cases.append(Case((huge, target), {"reduction": reduction}, f"logits of ±1000, reduction={reduction!r}"))
    cases.append(Case((_logits(rng, 1, 5), _i(3)), {"reduction": "mean"}, "a single sample"))
    cases.append(Case((_a([-1000.0, 1000.0]), _i(0)), {"reduction": "sum"}, "a single sample, logits ±1000"))
    return cases


def ce_question() -> Question:
    return Question(
        name="cross_entropy", cell="cross_entropy_solution", entry="cross_entropy", reference=cross_entropy,
        public=_cases(
            ((_CE_X, _CE_T), {"reduction": "none"}, "x=[[1, 2, 3], [1, 1, 1]], y=[2, 0], reduction='none'"),
            ((_CE_X, _CE_T), {"reduction": "mean"}, "x=[[1, 2, 3], [1, 1, 1]], y=[2, 0], reduction='mean'"),
            ((_CE_HUGE_X, _CE_HUGE_T), {"reduction": "none"},
             "logits of ±1000: x=[[1000, 0, -1000], [-1000, 1000, 0]], y=[2, 1], reduction='none'"),
        ),
        hidden=_hidden_ce, banned=BANNED, numpy_only=True, autograd=False,
        hint="l_n = logsumexp(x_n) − x_{n, y_n}; compute logsumexp as m + log Σ exp(x − m) with m the row maximum",
        mistakes=(
            Mistake(
                "naive_softmax",
                "you computed softmax as e^x / Σ e^x without subtracting the maximum: e^1000 overflows to inf and "
                "inf / inf is nan. Use the log-sum-exp form: l = m + log Σ_c e^(x_c − m) − x_y with m = max_c x_c.",
                _ce_naive,
                edits=[("m = np.max(input, axis=1, keepdims=True)\n"
                        "    log_sum_exp = m[:, 0] + np.log(np.sum(np.exp(input - m), axis=1))\n"
                        "    picked = input[np.arange(input.shape[0]), target]\n"
                        "    loss = log_sum_exp - picked",
                        "e = np.exp(input)\n"
                        "    p = e / np.sum(e, axis=1, keepdims=True)\n"
                        "    loss = -np.log(p[np.arange(input.shape[0]), target])")],
            ),
            Mistake(
                "log_of_softmax",
                "you took the log of a (max-subtracted) softmax: the probability of a class far below the "
                "maximum underflows to 0 and log 0 = −inf, so the loss is inf where it should be e.g. 2000. "
                "Never form the probability: l = m + log Σ_c e^(x_c − m) − x_y.",
                _ce_log_of_softmax,
                edits=[("log_sum_exp = m[:, 0] + np.log(np.sum(np.exp(input - m), axis=1))\n"
                        "    picked = input[np.arange(input.shape[0]), target]\n"
                        "    loss = log_sum_exp - picked",
                        "e = np.exp(input - m)\n"
                        "    p = e / np.sum(e, axis=1, keepdims=True)\n"
                        "    loss = -np.log(p[np.arange(input.shape[0]), target])")],
            ),
            Mistake(
                "mean_over_classes",
                "for reduction='mean' you averaged over all N·C entries of the one-hot product, which divides by "
                "C too often; 'mean' averages the N per-sample losses.",
                _ce_mean_over_classes, edits=[("return np.mean(loss)", "return np.sum(loss) / input.size")],
            ),
            Mistake(
                "logits_as_log_probabilities",
                "you returned −x_{n, y_n}, treating the logits as if they were log-probabilities (that is what "
                "nll_loss expects); cross_entropy normalizes first: l = log Σ_c e^(x_c) − x_y.",
                _ce_logits_as_log_probs,
                edits=[("loss = log_sum_exp - picked", "loss = -picked")],
            ),
        ),
    )


def _nll_plus(input, target, weight=None, reduction="mean"):
    return -nll_loss(input, target, weight=weight, reduction=reduction)


def _nll_mean_over_n(input, target, weight=None, reduction="mean"):
    value = nll_loss(input, target, weight=weight, reduction="sum" if reduction == "mean" else reduction)
    return value / input.shape[0] if reduction == "mean" else value


def _nll_mean_over_all(input, target, weight=None, reduction="mean"):
    value = nll_loss(input, target, weight=weight, reduction="sum" if reduction == "mean" else reduction)
    return value / input.size if reduction == "mean" else value


def _nll_unweighted(input, target, weight=None, reduction="mean"):
    return nll_loss(input, target, reduction=reduction)


_NLL_X = np.log(_a([0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.25, 0.5, 0.25]))
_NLL_T = _i(1, 2, 0)
_NLL_W = _a(1.0, 2.0, 0.5)


def _hidden_nll(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for weighted in (False, True):
            n, c = int(rng.integers(2, 7)), int(rng.integers(2, 6))
            kwargs: dict[str, Any] = {"reduction": reduction}
            if weighted:
                kwargs["weight"] = _round(rng.uniform(0.2, 3.0, c), 2)
            cases.append(Case((log_softmax(_logits(rng, n, c), dim=1), rng.integers(0, c, n)), kwargs,
                              f"random ({n}, {c}), weighted={weighted}, reduction={reduction!r}"))
    confident = log_softmax(_a([1000, -1000, 0], [0, 1000, -1000]), dim=1)
    for reduction in ("none", "mean"):
        cases.append(Case((confident, _i(1, 2)), {"weight": _a(0.5, 1.5, 2.0), "reduction": reduction},
                          f"log-probabilities of -1000 and -2000, reduction={reduction!r}"))
    cases.append(Case((log_softmax(_logits(rng, 1, 4), dim=1), _i(2)), {"weight": _a(2.0, 1.0, 3.0, 0.5),
                                                                          "reduction": "mean"},
                      "a single weighted sample"))
    return cases


def nll_question() -> Question:
    return Question(
        name="nll", cell="nll_solution", entry="nll_loss", reference=nll_loss,
        public=_cases(
            ((_NLL_X, _NLL_T), {"reduction": "none"},
             "x = log([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.25, 0.5, 0.25]]), y=[1, 2, 0], reduction='none'"),
            ((_NLL_X, _NLL_T), {"reduction": "mean"}, "the same, reduction='mean'"),
            ((_NLL_X, _NLL_T), {"weight": _NLL_W, "reduction": "mean"},
             "the same with weight=[1, 2, 0.5], reduction='mean'"),
            ((_NLL_X, _NLL_T), {"weight": _NLL_W, "reduction": "sum"}, "weight=[1, 2, 0.5], reduction='sum'"),
        ),
        hidden=_hidden_nll, banned=BANNED, numpy_only=True, autograd=False,
        hint="pick x[n, y_n] in each row, negate, weight by w[y_n]; 'mean' divides by Σ_n w[y_n]",
        mistakes=(
            Mistake(
                "forgot_minus",
                "your loss has the sign flipped: x holds log-probabilities (≤ 0), and the negative "
                "log-likelihood is −w_{y_n} x_{n, y_n} ≥ 0.",
                _nll_plus, edits=[("loss = -w_y * input", "loss = w_y * input")],
            ),
            Mistake(
                "weighted_mean_over_n",
                "with class weights, your 'mean' divides by the number of samples N; torch's weighted mean divides "
                "by the total weight of the targets, Σ_n w[y_n].",
                _nll_mean_over_n, edits=[("return np.sum(loss) / np.sum(w_y)", "return np.sum(loss) / n")],
            ),
            Mistake(
                "mean_over_all_entries",
                "for reduction='mean' you divided by N·C (every entry of the input), not by the number of "
                "samples (Σ_n w[y_n] with class weights).",
                _nll_mean_over_all,
                edits=[("return np.sum(loss) / np.sum(w_y)", "return np.sum(loss) / input.size")],
            ),
            Mistake(
                "weight_ignored",
                "your loss ignores the class weights: each sample's loss is multiplied by w[y_n] (and 'mean' "
                "divides by Σ_n w[y_n]).",
                _nll_unweighted,
                edits=[("w = np.ones(c) if weight is None else weight", "w = np.ones(c)")],
            ),
        ),
    )


def _margin_table(input, target, margin):
    rows = np.arange(input.shape[0])
    return margin - input[rows, target][:, None] + input, rows


def _mm_with_target(input, target, p=1, margin=1.0, reduction="mean"):
    z, _ = _margin_table(input, target, margin)
    return _reduced(np.sum(np.maximum(0.0, z) ** p, axis=1) / input.shape[1], reduction)


def _mm_c_minus_1(input, target, p=1, margin=1.0, reduction="mean"):
    c = input.shape[1]
    return _reduced(multi_margin_loss(input, target, p=p, margin=margin, reduction="none") * c / (c - 1), reduction)


def _mm_no_clamp(input, target, p=1, margin=1.0, reduction="mean"):
    z, rows = _margin_table(input, target, margin)
    z = z**p
    z[rows, target] = 0.0
    return _reduced(np.sum(z, axis=1) / input.shape[1], reduction)


def _mm_no_power(input, target, p=1, margin=1.0, reduction="mean"):
    return multi_margin_loss(input, target, p=1, margin=margin, reduction=reduction)


# lecture 8's example (torch.manual_seed(2); printed to 4 decimals): [0.5738, 0.5554, 0.6083, 0.5189]
_MM_NOTES_X = _a([0.6147, 0.3810, 0.6371], [0.4745, 0.7136, 0.6190], [0.4425, 0.0958, 0.6142],
                 [0.0573, 0.5657, 0.5332])
_MM_NOTES_T = _i(2, 1, 0, 2)
_MM_X, _MM_T = _a([2.0, 1.5, 0.0], [0.5, 0.2, 1.0]), _i(0, 2)


def _hidden_multi_margin(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for p, margin in ((1, 1.0), (2, float(rng.choice([0.5, 1.0, 2.0])))):
            n, c = int(rng.integers(2, 7)), int(rng.integers(2, 6))
            cases.append(Case((_logits(rng, n, c, 1.5), rng.integers(0, c, n)),
                              {"p": p, "margin": margin, "reduction": reduction},
                              f"random ({n}, {c}), p={p}, margin={margin}, reduction={reduction!r}"))
    far = _a([5.0, -3.0, 0.0], [0.0, 0.1, 0.2], [-2.0, 4.0, 3.5])
    cases.append(Case((far, _i(0, 2, 1)), {"p": 2, "margin": 1.0, "reduction": "none"},
                      "some hinges inactive, p=2"))
    cases.append(Case((_logits(rng, 1, 4, 1.5), _i(1)), {"p": 1, "margin": 0.5, "reduction": "mean"},
                      "a single sample"))
    return cases


def multi_margin_question() -> Question:
    return Question(
        name="multi_margin", cell="multi_margin_solution", entry="multi_margin_loss", reference=multi_margin_loss,
        public=_cases(
            ((_MM_NOTES_X, _MM_NOTES_T), {"reduction": "none"}, "lecture 8's example, reduction='none'"),
            ((_MM_X, _MM_T), {"p": 2, "reduction": "none"},
             "x=[[2, 1.5, 0], [0.5, 0.2, 1]], y=[0, 2], p=2, reduction='none'"),
            ((_MM_X, _MM_T), {"margin": 0.5, "reduction": "mean"}, "the same, p=1, margin=0.5, reduction='mean'"),
        ),
        hidden=_hidden_multi_margin, banned=BANNED, numpy_only=True, autograd=False,
        hint="for each competitor i ≠ y: max(0, margin − x_y + x_i)^p; add them up and divide by C (not C − 1)",
        mistakes=(
            Mistake(
                "included_target_class",
                "you summed over every class including the target (as lecture 8's formula is written): the "
                "target's own term is max(0, margin)^p, which adds margin^p / C to every sample. The sum runs "
                "over i ≠ y_n.",
                _mm_with_target, edits=[("    hinge[rows, target] = 0.0  # the target class does "
                                         "not compete with itself\n", "")],
            ),
            Mistake(
                "divided_by_c_minus_1",
                "you divided by the number of competitors C − 1; torch divides the sum by the number of classes C.",
                _mm_c_minus_1, edits=[("loss = np.sum(hinge, axis=1) / c",
                                       "loss = np.sum(hinge, axis=1) / (c - 1)")],
            ),
            Mistake(
                "no_hinge",
                "you left out the max(0, ·): a competitor already beaten by more than the margin must add 0, not "
                "a negative amount (or, with p = 2, a positive one).",
                _mm_no_clamp, edits=[("hinge = np.maximum(0.0, margin - x_y + input) ** p",
                                      "hinge = (margin - x_y + input) ** p")],
            ),
            Mistake(
                "forgot_power",
                "you ignored p: with p = 2 each active hinge is squared, max(0, margin − x_y + x_i)².",
                _mm_no_power, edits=[("hinge = np.maximum(0.0, margin - x_y + input) ** p",
                                      "hinge = np.maximum(0.0, margin - x_y + input)")],
            ),
        ),
    )


# ============================================================================================================
# Part D: negative log-likelihoods of distributions (Poisson, Gaussian)
# ============================================================================================================


def _poisson_negated(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    return -poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps, reduction=reduction)


def _poisson_always_log(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    return poisson_nll_loss(input, target, log_input=True, full=full, eps=eps, reduction=reduction)


def _stirling(target):
    """Stirling's log(y!) ≈ y log y − y + ½ log(2πy) where y > 1, else 0 (torch's full=True term)."""
    y = np.where(target > 1, target, 2.0)
    return np.where(target > 1, y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y), 0.0)


def _poisson_no_eps(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    if log_input:
        return poisson_nll_loss(input, target, log_input=True, full=full, reduction=reduction)
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = input - target * np.log(input)
    return _reduced(loss + _stirling(target) if full else loss, reduction)


def _poisson_exact_factorial(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    loss = poisson_nll_loss(input, target, log_input=log_input, full=False, eps=eps, reduction="none")
    if full:
        loss = loss + np.vectorize(math.lgamma)(target + 1.0)
    return _reduced(loss, reduction)


def _poisson_stirling_from_one(input, target, log_input=True, full=False, eps=1e-8, reduction="mean"):
    loss = poisson_nll_loss(input, target, log_input=log_input, full=full, eps=eps, reduction="none")
    if full:
        loss = loss + np.where(target == 1, -1.0 + 0.5 * np.log(2 * np.pi), 0.0)
    return _reduced(loss, reduction)


# lecture 8's example: nn.PoissonNLLLoss(reduction='none') gives [-0.0888, 0.7997, 0.7265, 3.9148, -1.3360]
_POISSON_NOTES_X, _POISSON_NOTES_Y = _a(0.3923, -0.2236, -0.3195, -1.2050, 1.0445), _a(4, 0, 0, 3, 4)
_POISSON_RATE, _POISSON_COUNT = _a(0.0, 0.0, 0.5, 2.0, 4.0), _a(0, 2, 1, 3, 0)
_POISSON_FULL_X, _POISSON_FULL_Y = _a(0.0, 0.5, 1.0, 1.5, -0.5), _a(0, 1, 2, 5, 1)


def _counts(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.poisson(3.0, shape).astype(np.float64)


def _hidden_poisson(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        shape = _shape(rng)
        cases.append(Case((_round(rng.normal(0.5, 1.0, shape)), _counts(rng, shape)), {"reduction": reduction},
                          f"log-rates {shape}, reduction={reduction!r}"))
        shape = _shape(rng)
        rate = _round(rng.uniform(0.05, 5.0, shape))
        cases.append(Case((rate, _counts(rng, shape)), {"log_input": False, "reduction": reduction},
                          f"rates {shape}, log_input=False, reduction={reduction!r}"))
    for log_input in (True, False):
        x = _round(rng.normal(0.5, 1.0, 8)) if log_input else _round(rng.uniform(0.05, 5.0, 8))
        y = np.concatenate([_a(0, 1, 2, 3, 12, 50), _counts(rng, (2,))])
        cases.append(Case((x, y[rng.permutation(8)]), {"log_input": log_input, "full": True, "reduction": "none"},
                          f"full=True with counts 0, 1, 2 and 50, log_input={log_input}"))
    rate = _a(0.0, 0.0, 0.0, 1.5)
    cases.append(Case((rate, _a(0, 3, 1, 2)), {"log_input": False, "reduction": "none"}, "rates of exactly 0"))
    cases.append(Case((rate, _a(0, 3, 1, 2)), {"log_input": False, "eps": 1e-3, "reduction": "sum"},
                      "rates of exactly 0, eps=1e-3"))
    cases.append(Case((_a(2.0), _a(7.0)), {"full": True, "reduction": "mean"}, "a single count"))
    return cases


def poisson_question() -> Question:
    return Question(
        name="poisson_nll", cell="poisson_nll_solution", entry="poisson_nll_loss", reference=poisson_nll_loss,
        public=_cases(
            ((_POISSON_NOTES_X, _POISSON_NOTES_Y), {"reduction": "none"}, "lecture 8's example, reduction='none'"),
            ((_POISSON_RATE, _POISSON_COUNT), {"log_input": False, "reduction": "none"},
             "rates x=[0, 0, 0.5, 2, 4], counts y=[0, 2, 1, 3, 0], log_input=False, reduction='none'"),
            ((_POISSON_FULL_X, _POISSON_FULL_Y), {"full": True, "reduction": "none"},
             "log-rates x=[0, 0.5, 1, 1.5, -0.5], counts y=[0, 1, 2, 5, 1], full=True, reduction='none'"),
            ((_POISSON_FULL_X, _POISSON_FULL_Y), {"full": True, "reduction": "mean"}, "the same, reduction='mean'"),
        ),
        hidden=_hidden_poisson, banned=BANNED, numpy_only=True, autograd=False,
        hint="log_input=True: e^x − y·x; log_input=False: x − y·log(x + eps); full adds Stirling's term where y > 1",
        mistakes=(
            Mistake(
                "forgot_minus",
                "you returned the log-likelihood (y·log λ − λ …) instead of its negative; the loss to minimize is "
                "the negative log-likelihood, e.g. e^x − y·x for log_input=True.",
                _poisson_negated, edits=[("    if reduction == \"none\":\n",
                                          "    loss = -loss\n    if reduction == \"none\":\n")],
            ),
            Mistake(
                "ignored_log_input",
                "you always treat the input as the log of the rate; with log_input=False the input is the rate "
                "λ itself and the loss is λ − y·log(λ + eps).",
                _poisson_always_log, edits=[("    if log_input:\n        loss = np.exp(input) - "
                                             "target * input\n    else:\n        loss = input - "
                                             "target * np.log(input + eps)\n",
                                             "    loss = np.exp(input) - target * input\n")],
            ),
            Mistake(
                "forgot_eps",
                "with log_input=False you take log(x) of the rate without the eps: a rate of 0 gives log 0 = −inf "
                "(and 0·log 0 = nan); torch computes x − y·log(x + eps).",
                _poisson_no_eps, edits=[("loss = input - target * np.log(input + eps)",
                                         "loss = input - target * np.log(input)")],
            ),
            Mistake(
                "exact_log_factorial",
                "with full=True you added the exact log(y!); torch adds Stirling's approximation "
                "y·log y − y + ½·log(2πy), and only where y > 1.",
                _poisson_exact_factorial,
                edits=[
                       ("        y = np.where(target > 1, target, 2.0)  # placeholder 2 keeps log() finite where the "
                        "term is not added\n        stirling = y * np.log(y) - y + 0.5 * np.log(2 * np.pi * y)\n"
                        "        loss = loss + np.where(target > 1, stirling, 0.0)\n",
                        "        import math\n"
                        "        log_factorial = np.array([math.lgamma(v + 1.0) for v in np.ravel(target)])\n"
                        "        loss = loss + log_factorial.reshape(np.shape(target))\n")],
            ),
            Mistake(
                "stirling_from_one",
                "with full=True you added Stirling's term for y = 1 too (it gives −1 + ½·log 2π ≈ −0.081 there); "
                "torch adds it only where y > 1, since log 0! = log 1! = 0.",
                _poisson_stirling_from_one,
                edits=[("y = np.where(target > 1, target, 2.0)", "y = np.where(target >= 1, target, 2.0)"),
                       ("np.where(target > 1, stirling, 0.0)", "np.where(target >= 1, stirling, 0.0)")],
            ),
        ),
    )


def _gauss_no_half(input, target, var, full=False, eps=1e-6, reduction="mean"):
    loss = 2.0 * gaussian_nll_loss(input, target, var, full=False, eps=eps, reduction="none")
    return _reduced(loss + 0.5 * np.log(2 * np.pi) if full else loss, reduction)


def _gauss_var_as_std(input, target, var, full=False, eps=1e-6, reduction="mean"):
    s = np.maximum(var, eps)
    loss = np.log(s) + 0.5 * (input - target) ** 2 / s**2
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return _reduced(loss, reduction)


def _gauss_no_clamp(input, target, var, full=False, eps=1e-6, reduction="mean"):
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = 0.5 * (np.log(var) + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return _reduced(loss, reduction)


def _gauss_full_unhalved(input, target, var, full=False, eps=1e-6, reduction="mean"):
    loss = gaussian_nll_loss(input, target, var, full=full, eps=eps, reduction="none")
    if full:
        loss = loss + 0.5 * np.log(2 * np.pi)
    return _reduced(loss, reduction)


# lecture 8's example: nn.GaussianNLLLoss(reduction='none') gives [0.6120, 0.7687, 0.7754, 0.4796, 0.6720]
_GAUSS_NOTES = (_a(0.3923, -0.2236, -0.3195, -1.2050, 1.0445), _a(1.3186, 0.7476, -1.3265, -1.2413, -0.1028),
                _a(2.3668, 3.5731, 3.5409, 2.6081, 1.9573))
_GAUSS_ZERO = (_a(1.0, 2.0, 0.0, 0.5), _a(1.0, 2.5, 0.0, 0.0), _a(0.0, 0.0, 1.0, 0.25))


def _hidden_gaussian(rng: np.random.Generator) -> list[Case]:
    cases = []
    for reduction in REDUCTIONS:
        for full in (False, True):
            shape = _shape(rng)
            cases.append(Case((_round(rng.normal(0, 1.5, shape)), _round(rng.normal(0, 1.5, shape)),
                               _round(rng.uniform(0.1, 3.0, shape))), {"full": full, "reduction": reduction},
                              f"random {shape}, full={full}, reduction={reduction!r}"))
    mean = _round(rng.normal(0, 1, 6))
    target = mean.copy()
    target[3:] += _round(rng.normal(0, 1, 3))
    var = _a(0.0, 1e-9, 0.5, 0.0, 1e-8, 2.0)
    for reduction in ("none", "sum"):
        cases.append(Case((mean, target, var), {"reduction": reduction},
                          f"variances of 0 and below eps, reduction={reduction!r}"))
    cases.append(Case((mean, target, var + 1e-4), {"eps": 1e-3, "full": True, "reduction": "none"},
                      "eps=1e-3, full=True"))
    cases.append(Case((_a(0.5), _a(-1.0), _a(0.25)), {"reduction": "mean"}, "a single element"))
    return cases


def gaussian_question() -> Question:
    return Question(
        name="gaussian_nll", cell="gaussian_nll_solution", entry="gaussian_nll_loss", reference=gaussian_nll_loss,
        public=_cases(
            (_GAUSS_NOTES, {"reduction": "none"}, "lecture 8's example, reduction='none'"),
            (_GAUSS_ZERO, {"reduction": "none"},
             "x=[1, 2, 0, 0.5], y=[1, 2.5, 0, 0], var=[0, 0, 1, 0.25] (zeros clamped at eps), reduction='none'"),
            (_GAUSS_NOTES, {"full": True, "reduction": "mean"}, "lecture 8's example, full=True, reduction='mean'"),
        ),
        hidden=_hidden_gaussian, banned=BANNED, numpy_only=True, autograd=False,
        hint="clamp the variance at eps first, then ½[log v + (x − y)²/v], plus ½·log 2π when full",
        mistakes=(
            Mistake(
                "forgot_half",
                "your loss is log v + (x − y)²/v; the Gaussian NLL has a factor ½: ½[log v + (x − y)²/v].",
                _gauss_no_half, edits=[("loss = 0.5 * (np.log(v) + (input - target) ** 2 / v)",
                                        "loss = np.log(v) + (input - target) ** 2 / v")],
            ),
            Mistake(
                "var_as_std",
                "you treated var as a standard deviation σ (log σ² and (x − y)²/σ²); it is the variance itself: "
                "½[log var + (x − y)²/var].",
                _gauss_var_as_std,
                edits=[("loss = 0.5 * (np.log(v) + (input - target) ** 2 / v)",
                        "loss = np.log(v) + 0.5 * (input - target) ** 2 / v ** 2")],
            ),
            Mistake(
                "no_eps_clamp",
                "you did not clamp the variance: var = 0 gives log 0 and a division by 0 (inf or nan). torch uses "
                "max(var, eps) in both places.",
                _gauss_no_clamp, edits=[("v = np.maximum(var, eps)",
                                         "v = var")],
            ),
            Mistake(
                "full_constant_not_halved",
                "with full=True you added log(2π); the constant of the Gaussian NLL is ½·log(2π).",
                _gauss_full_unhalved, edits=[("loss = loss + 0.5 * np.log(2 * np.pi)",
                                              "loss = loss + np.log(2 * np.pi)")],
            ),
        ),
    )


# ============================================================================================================
# Part E: which input does each PyTorch loss expect?
# ============================================================================================================


def _one_hot_of(logits: np.ndarray, target: np.ndarray) -> np.ndarray:
    return (target[:, None] == np.arange(logits.shape[1])).astype(np.float64)


def loss_inputs_reference(logits, target):
    """The four losses, each on the input it expects, from the trusted numpy implementations."""
    y = _one_hot_of(logits, target)
    return (binary_cross_entropy(sigmoid(logits), y), binary_cross_entropy_with_logits(logits, y),
            cross_entropy(logits, target), nll_loss(log_softmax(logits, dim=1), target))


def _inputs_variant(position: int, value: Callable[[np.ndarray, np.ndarray], np.ndarray]):
    def compute(logits, target):
        out = list(loss_inputs_reference(logits, target))
        out[position] = value(logits, target)
        return tuple(out)

    return compute


def _double_sigmoid(logits, target):
    return binary_cross_entropy_with_logits(sigmoid(logits), _one_hot_of(logits, target))


def _softmax_to_bce(logits, target):
    return binary_cross_entropy(softmax(logits, dim=1), _one_hot_of(logits, target))


def _double_softmax(logits, target):
    return cross_entropy(softmax(logits, dim=1), target)


def _probabilities_to_nll(logits, target):
    return nll_loss(softmax(logits, dim=1), target)


def _logits_to_nll(logits, target):
    return nll_loss(logits, target)


_LI_LOGITS, _LI_TARGET = _a([2.0, 0.0, -1.0], [0.5, 1.5, 0.0]), _i(0, 2)


def _hidden_loss_inputs(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(4):
        n, c = int(rng.integers(2, 7)), int(rng.integers(2, 6))
        cases.append(Case((TensorArg(_round(rng.normal(0, 2, (n, c)))), TensorArg(rng.integers(0, c, n))),
                          label=f"random logits ({n}, {c})"))
    cases.append(Case((TensorArg(_round(rng.normal(0, 2, (1, 4)))), TensorArg(_i(1))), label="a single sample"))
    return cases


def loss_inputs_question() -> Question:
    names = ("BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "NLLLoss")
    return Question(
        name="loss_inputs", cell="loss_inputs_solution", entry="loss_inputs", reference=loss_inputs_reference,
        public=_cases(
            ((TensorArg(_LI_LOGITS), TensorArg(_LI_TARGET)), {}, "logits=[[2, 0, -1], [0.5, 1.5, 0]], target=[0, 2]"),
            ((TensorArg(_a([0.0, 0.0])), TensorArg(_i(1))), {}, "logits=[[0, 0]], target=[1]"),
        ),
        hidden=_hidden_loss_inputs, output_names=names,
        hint="BCELoss takes probabilities (sigmoid), BCEWithLogitsLoss and CrossEntropyLoss take raw logits, "
             "NLLLoss takes log-probabilities (log_softmax)",
        mistakes=(
            Mistake(
                "double_sigmoid",
                "you fed sigmoid(logits) to BCEWithLogitsLoss, which applies the sigmoid itself (a double "
                "sigmoid); it takes the raw logits.",
                _inputs_variant(1, _double_sigmoid),
                edits=[("nn.BCEWithLogitsLoss()(logits, one_hot)",
                        "nn.BCEWithLogitsLoss()(torch.sigmoid(logits), one_hot)")],
            ),
            Mistake(
                "softmax_to_bce",
                "you fed softmax(logits) to BCELoss: each class is its own binary question, so BCELoss takes the "
                "sigmoid of each logit, not a softmax across the classes.",
                _inputs_variant(0, _softmax_to_bce),
                edits=[("nn.BCELoss()(torch.sigmoid(logits), one_hot)",
                        "nn.BCELoss()(torch.softmax(logits, dim=1), one_hot)")],
            ),
            Mistake(
                "double_softmax",
                "you fed softmax(logits) to CrossEntropyLoss, which applies log_softmax itself (a double "
                "softmax); it takes the raw logits.",
                _inputs_variant(2, _double_softmax),
                edits=[("nn.CrossEntropyLoss()(logits, target)",
                        "nn.CrossEntropyLoss()(torch.softmax(logits, dim=1), target)")],
            ),
            Mistake(
                "probabilities_to_nll",
                "you fed softmax probabilities to NLLLoss; NLLLoss only picks −input[y], so it needs "
                "log-probabilities: log_softmax(logits).",
                _inputs_variant(3, _probabilities_to_nll),
                edits=[("nn.NLLLoss()(torch.log_softmax(logits, dim=1), target)",
                        "nn.NLLLoss()(torch.softmax(logits, dim=1), target)")],
            ),
            Mistake(
                "logits_to_nll",
                "you fed raw logits to NLLLoss; NLLLoss only picks −input[y], so it needs log-probabilities: "
                "log_softmax(logits) (CrossEntropyLoss = NLLLoss ∘ log_softmax).",
                _inputs_variant(3, _logits_to_nll),
                edits=[("nn.NLLLoss()(torch.log_softmax(logits, dim=1), target)",
                        "nn.NLLLoss()(logits, target)")],
            ),
        ),
    )


# ============================================================================================================
# Part F: NLL of a distribution with torch.distributions (lecture 8)
# ============================================================================================================


def exponential_nll_reference(rate, y):
    """−Σ_n log(λ_n e^(−λ_n y_n)) = Σ_n (λ_n y_n − log λ_n)."""
    lam = np.asarray(rate, dtype=np.float64)[:, 0]
    return np.asarray(np.sum(lam * y - np.log(lam)))


def _exp_plus(rate, y):
    return -exponential_nll_reference(rate, y)


def _exp_mean(rate, y):
    return exponential_nll_reference(rate, y) / y.shape[0]


def _exp_as_scale(rate, y):
    return exponential_nll_reference(1.0 / rate, y)


def _exp_no_squeeze(rate, y):
    lam = rate  # (N, 1) against (N,): an N × N table
    return np.asarray(np.sum(lam * y[None, :] - np.log(lam) * np.ones((1, y.shape[0]))))


_EXP_RATE, _EXP_Y = _a([1.0], [2.0], [0.5]), _a(0.5, 1.0, 2.0)


def _hidden_exponential(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        n = int(rng.integers(2, 9))
        rate = _round(rng.uniform(0.2, 3.0, (n, 1)))
        y = _round(rng.exponential(1.0 / rate[:, 0]))
        cases.append(Case((TensorArg(rate), TensorArg(y)), label=f"random rates ({n}, 1)"))
    cases.append(Case((TensorArg(_a([0.01], [50.0], [1.0])), TensorArg(_a(30.0, 0.0, 1.0))),
                      label="extreme rates, an observation of 0"))
    cases.append(Case((TensorArg(_a([2.5])), TensorArg(_a(0.4))), label="a single observation"))
    return cases


def exponential_question() -> Question:
    return Question(
        name="exponential_nll", cell="exponential_nll_solution", entry="exponential_nll",
        reference=exponential_nll_reference,
        public=_cases(
            ((TensorArg(_EXP_RATE), TensorArg(_EXP_Y)), {}, "rate=[[1], [2], [0.5]], y=[0.5, 1, 2]"),
            ((TensorArg(_a([4.0])), TensorArg(_a(0.25))), {}, "rate=[[4]], y=[0.25]"),
        ),
        hidden=_hidden_exponential,
        hint="squeeze the (N, 1) rates to (N,), build Exponential(rate), and return −log_prob(y).sum()",
        mistakes=(
            Mistake(
                "forgot_minus",
                "you returned the summed log-likelihood; the loss is its negative, −Σ log p(y_n).",
                _exp_plus,
                edits=[("return -dist.log_prob(y).sum()", "return dist.log_prob(y).sum()")],
            ),
            Mistake(
                "mean_instead_of_sum",
                "you averaged the NLL over the observations; lecture 8's loss is the sum, −Σ_n log p(y_n).",
                _exp_mean,
                edits=[("return -dist.log_prob(y).sum()", "return -dist.log_prob(y).mean()")],
            ),
            Mistake(
                "rate_as_scale",
                "you used the network output as the scale (the mean 1/λ) instead of the rate: torch's "
                "Exponential(rate) has density λ e^(−λ y).",
                _exp_as_scale, edits=[("Exponential(rate.squeeze(1))",
                                       "Exponential(1.0 / rate.squeeze(1))")],
            ),
            Mistake(
                "forgot_squeeze",
                "you kept the rates as an (N, 1) column: against y of shape (N,) it broadcasts to an N × N table "
                "and the sum counts every rate with every observation. Squeeze to (N,) first, as lecture 8 does.",
                _exp_no_squeeze, edits=[("Exponential(rate.squeeze(1))", "Exponential(rate)")],
            ),
        ),
    )


def _weibull_log_pdf(scale: np.ndarray, k: np.ndarray, y: np.ndarray) -> np.ndarray:
    """log of (k/λ)(y/λ)^(k−1) e^(−(y/λ)^k)."""
    z = y / scale
    return np.log(k / scale) + (k - 1.0) * np.log(z) - z**k


def _weibull_parts(params):
    p = np.asarray(params, dtype=np.float64)
    return np.maximum(p[:, 0], 1e-6), np.maximum(p[:, 1], 1e-6)


def weibull_nll_reference(params, y):
    """−Σ_n log p(y_n) with scale λ_n = max(params[n, 0], 1e-6) and concentration k_n = max(params[n, 1], 1e-6)."""
    scale, k = _weibull_parts(params)
    return np.asarray(-np.sum(_weibull_log_pdf(scale, k, y)))


def _weibull_swapped(params, y):
    scale, k = _weibull_parts(params)
    return np.asarray(-np.sum(_weibull_log_pdf(k, scale, y)))


def _weibull_plus(params, y):
    return -weibull_nll_reference(params, y)


def _weibull_mean(params, y):
    return weibull_nll_reference(params, y) / y.shape[0]


def _weibull_unsqueeze(params, y):
    scale, k = _weibull_parts(params)
    return np.asarray(-np.sum(_weibull_log_pdf(scale[:, None], k[:, None], y[None, :])))


_WEIBULL_PARAMS, _WEIBULL_Y = _a([1.0, 1.0], [2.0, 0.5], [0.5, 2.0]), _a(0.5, 1.0, 2.0)
_WEIBULL_CLAMP = _a([1.5, 2.0], [-0.3, 1.0], [1.0, 0.0])


def _hidden_weibull(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        n = int(rng.integers(2, 9))
        params = np.column_stack([_round(rng.uniform(0.5, 3.0, n)), _round(rng.uniform(0.5, 3.0, n))])
        y = _round(params[:, 0] * rng.weibull(params[:, 1]), 3) + 0.01
        cases.append(Case((TensorArg(params), TensorArg(y)), label=f"random parameters ({n}, 2)"))
    params = _a([2.0, 1.5], [-1.0, 2.0], [1.0, -0.5], [0.8, 3.0])
    cases.append(Case((TensorArg(params), TensorArg(_a(1.2, 0.5, 2.0, 0.7))), label="raw outputs ≤ 0 clamped"))
    cases.append(Case((TensorArg(_a([1.3, 0.7])), TensorArg(_a(0.9))), label="a single observation"))
    return cases


def weibull_question() -> Question:
    return Question(
        name="weibull_nll", cell="weibull_nll_solution", entry="weibull_nll", reference=weibull_nll_reference,
        public=_cases(
            ((TensorArg(_WEIBULL_PARAMS), TensorArg(_WEIBULL_Y)), {},
             "params=[[1, 1], [2, 0.5], [0.5, 2]] (scale, concentration), y=[0.5, 1, 2]"),
            ((TensorArg(_WEIBULL_CLAMP), TensorArg(_a(1.0, 1e-3, 0.5))), {},
             "params=[[1.5, 2], [-0.3, 1], [1, 0]] (outputs ≤ 0 are clamped at 1e-6), y=[1, 0.001, 0.5]"),
        ),
        hidden=_hidden_weibull,
        hint="scale = params[:, 0], concentration = params[:, 1], each clamped at 1e-6, both of shape (N,); "
             "Weibull(scale, concentration); return −log_prob(y).sum()",
        mistakes=(
            Mistake(
                "swapped_scale_concentration",
                "you swapped the parameters: torch's Weibull(scale, concentration) takes the scale λ first and "
                "the concentration (shape) k second; here the scale is params[:, 0].",
                _weibull_swapped,
                edits=[("distributions.Weibull(scale, concentration)",
                        "distributions.Weibull(concentration, scale)")],
            ),
            Mistake(
                "forgot_minus",
                "you returned the summed log-likelihood; the loss is its negative, −Σ log p(y_n).",
                _weibull_plus,
                edits=[("return -dist.log_prob(y).sum()", "return dist.log_prob(y).sum()")],
            ),
            Mistake(
                "mean_instead_of_sum",
                "you averaged the NLL over the observations; lecture 8's loss is the sum, −Σ_n log p(y_n).",
                _weibull_mean,
                edits=[("return -dist.log_prob(y).sum()", "return -dist.log_prob(y).mean()")],
            ),
            Mistake(
                "notes_unsqueeze",
                "your parameters are (N, 1) columns (lecture 8's unsqueeze(1)) while y has shape (N,): log_prob "
                "broadcasts to an N × N table and the sum mixes every observation with every parameter pair. Keep "
                "scale and concentration of shape (N,), like y.",
                _weibull_unsqueeze,
                edits=[
                       ("torch.clamp(params[:, 0], min=1e-6)", "torch.clamp(params[:, 0].unsqueeze(1), min=1e-6)"),
                       ("torch.clamp(params[:, 1], min=1e-6)", "torch.clamp(params[:, 1].unsqueeze(1), min=1e-6)")],
            ),
        ),
    )


SUITE = Suite(
    assignment="losses",
    questions=(
        mse_question(), l1_question(), bce_question(), bce_logits_question(), ce_question(), nll_question(),
        multi_margin_question(), poisson_question(), gaussian_question(), loss_inputs_question(),
        exponential_question(), weibull_question(),
    ),
    warm_up=WARM_UP_DISTRIBUTIONS,  # the NLL questions are written with torch.distributions
    notebook=NOTEBOOK,  # each mistake's code: its question's solution cell with its edits
)

