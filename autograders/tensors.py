"""Autograder for `tensors`: the tensor toolbox of the "Deep learning in detail" notes, in numpy and in torch.

Part A is transpose, dot product and matrix product (numpy in, and torch tensors in / tensors out); part B is a
numerically stable softmax and log-softmax over a chosen `dim` (torch, by hand: hidden and public cases carry
logits of ±1000 that only the max-subtracted forms survive); part C is entropy, cross-entropy and binary entropy of
discrete distributions in nats or bits (numpy, 0 · log 0 = 0); part D is argmin/argmax (integer answers), mean
and population vs sample variance; part E is reproducible randomness with seeds, graded bit-for-bit.

Slips of the lecture notes that are in the catalog:
- lecture 8 prints xAᵀ for x = [1.2, 0.3, 0.4], A = [2, 2, 2] as [2.4, 0.6, 0.8], the elementwise product; the
  product is 2.4 + 0.6 + 0.8 = 3.8 (linear_unit elementwise_product, dot elementwise_product);
- the "Deep learning in detail" notes write the softmax as num = np.exp(z), which overflows for large logits
  (softmax no_max_subtraction);
- they define entropy with log₂ but compute it with np.log, which gives nats (entropy ignored_base), and their
  loop H += -(p*np.log(p)) gives nan for a probability of 0 (entropy zero_probability_nan);
- their cross-entropy code sums q[i]*np.log(p[i]) with p = [1, 0] the true label, H(q, p) instead of H(p, q)
  (cross_entropy swapped_arguments; "sensitive to the order of the inputs", as they say themselves);
- they build tensors with torch.Tensor(z), which is float32: a float32 draw cast to float64 is not the float64 draw
  (seeded_normal float32_draw); and they call np.random.RandomState(17) the "newer seed mechanism", while it is
  the legacy generator that np.random.seed also drives (rng_batches legacy_global_random).

One source for every solution: the notebook's solution cells. Each known mistake is its question's solution cell
with small edits (Mistake.edits, applied when the suite is bound to the notebook); its compute is the trusted
variant written here, which recognises a student who makes it.

Not in the catalog: "seeding after drawing" (and never seeding). Its numbers come from whatever state the global
generator was in, which the grader's worker sets per call and no trusted variant can reproduce; such an answer
fails every case, it is just not named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dlgrade.suite import Case, Mistake, Question, Suite, TensorArg
from reference.activations import log_softmax, softmax
from reference.information import binary_entropy, cross_entropy_of, entropy
from reference.layers import linear

NOTEBOOK = Path(__file__).resolve().parent.parent / "assignments" / "tensors" / "tensors.ipynb"


def _cases(*items: tuple[tuple[Any, ...], dict[str, Any], str]) -> Callable[[], Sequence[Case]]:
    frozen = tuple(Case(args, kwargs, label) for args, kwargs, label in items)
    return lambda: frozen


def _a(*values: Any) -> np.ndarray:
    return np.array(values, dtype=np.float64)


def _t(*values: Any) -> TensorArg:
    return TensorArg(_a(*values))


def _round(values: np.ndarray, decimals: int = 3) -> np.ndarray:
    return np.round(values, decimals)


def _in_base(h: np.ndarray, base: float | None) -> np.ndarray:
    return np.asarray(h if base is None else h / np.log(base), dtype=np.float64)


def _xlogx(p: np.ndarray) -> np.ndarray:
    """p log p with 0 log 0 = 0."""
    return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0)


# ============================================================================================================
# Part A: transpose, dot product, matrix product
# ============================================================================================================


def _dot(a, b):
    return np.asarray(np.sum(np.asarray(a) * np.asarray(b)))


def _dot_elementwise(a, b):
    return a * b


def _dot_mean(a, b):
    return np.asarray(np.mean(a * b))


def _dot_sums(a, b):
    return np.asarray(np.sum(a) * np.sum(b))


def _hidden_dot(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(4):
        n = int(rng.integers(2, 9))
        cases.append(Case((_round(rng.normal(0, 2, n)), _round(rng.normal(0, 2, n))), {}, f"random, length {n}"))
    cases.append(Case((_a(-1.5), _a(4.0)), {}, "length 1"))
    cases.append(Case((_a(3.0, -1.0, 2.0), _a(1.0, 1.0, -1.0)), {}, "orthogonal vectors"))
    v = _round(rng.normal(0, 1, 5))
    cases.append(Case((v, v.copy()), {}, "a . a = |a|^2"))
    return cases


def dot_question() -> Question:
    return Question(
        name="dot", cell="dot_solution", entry="dot_numpy", reference=_dot,
        public=_cases(
            ((_a(1, 2, 3), _a(4, 5, 6)), {}, "a=[1, 2, 3], b=[4, 5, 6]"),
            ((_a(1.2, 0.3, 0.4), _a(2, 2, 2)), {}, "the notes' x=[1.2, 0.3, 0.4], A=[2, 2, 2]"),
        ),
        hidden=_hidden_dot,
        hint="multiply the entries pairwise, then add the products up: one number",
        mistakes=(
            Mistake(
                "elementwise_product",
                "you returned the elementwise product a * b (an array, as lecture 8's [2.4, 0.6, 0.8]); the dot "
                "product adds those products up into one number: sum_i a_i b_i (3.8 in the notes' example).",
                _dot_elementwise, edits=[("return np.sum(a * b)", "return a * b")],
            ),
            Mistake(
                "mean_instead_of_sum",
                "you averaged the products a_i b_i; the dot product is their sum, not their mean.",
                _dot_mean, edits=[("return np.sum(a * b)", "return np.mean(a * b)")],
            ),
            Mistake(
                "product_of_sums",
                "you multiplied the sums, (sum_i a_i)(sum_j b_j), which also pairs a_i with b_j for i != j; the dot "
                "product pairs entries at the same position only: sum_i a_i b_i.",
                _dot_sums, edits=[("return np.sum(a * b)", "return np.sum(a) * np.sum(b)")],
            ),
        ),
    )


def _unit_elementwise(x, A, b):
    return x * A + b


def _unit_no_bias(x, A, b):
    return x @ A.T


def _unit_flat(x, A, b):
    return x @ A[0] + b


def _hidden_linear_unit(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n, d in ((4, 3), (2, 5), (6, 2), (1, 4), (3, 1)):
        cases.append(Case((_round(rng.normal(0, 1, (n, d))), _round(rng.normal(0, 1, (1, d))),
                           _round(rng.normal(0, 1, 1))), {}, f"random, N={n}, d={d}"))
    return cases


def linear_unit_question() -> Question:
    return Question(
        name="linear_unit", cell="linear_unit_solution", entry="linear_unit", reference=linear,
        public=_cases(
            ((_a([1.2, 0.3, 0.4]), _a([2, 2, 2]), _a(0.0)), {}, "lecture 8: x=[[1.2, 0.3, 0.4]], A=[[2, 2, 2]], b=[0]"),
            ((_a([1, 0, 2], [0, 1, -1]), _a([1, 2, 3]), _a(0.5)), {},
             "x=[[1, 0, 2], [0, 1, -1]], A=[[1, 2, 3]], b=[0.5]"),
        ),
        hidden=_hidden_linear_unit,
        hint="each output is the dot product of one row of x with the row of A, plus b: x @ A.T + b",
        mistakes=(
            Mistake(
                "elementwise_product",
                "you multiplied x and A elementwise (lecture 8's slip: it prints xAᵀ = [2.4, 0.6, 0.8]); xAᵀ is a "
                "matrix product, which sums over the features: 1.2·2 + 0.3·2 + 0.4·2 = 3.8. Use x @ A.T.",
                _unit_elementwise, edits=[("return x @ A.T + b", "return x * A + b")],
            ),
            Mistake(
                "forgot_bias",
                "you left out the bias: y = x Aᵀ + b.",
                _unit_no_bias, edits=[("return x @ A.T + b", "return x @ A.T")],
            ),
            Mistake(
                "flat_output",
                "your values are right but your output has shape (N,): multiplying by the row A[0] drops a "
                "dimension. nn.Linear(d, 1) returns a column of shape (N, 1); use x @ A.T (A.T is (d, 1)).",
                _unit_flat, edits=[("return x @ A.T + b", "return x @ A[0] + b")],
            ),
        ),
    )


def _gram(X):
    return X @ X.T


def _gram_wrong_side(X):
    return X.T @ X


def _gram_elementwise(X):
    return X * X


def _gram_diagonal(X):
    return np.sum(X * X, axis=1)


def _hidden_gram(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n, d in ((4, 2), (2, 5), (3, 3), (5, 1), (1, 4)):
        cases.append(Case((TensorArg(_round(rng.normal(0, 1, (n, d)))),), {}, f"random ({n}, {d})"))
    return cases


def gram_question() -> Question:
    return Question(
        name="gram", cell="gram_solution", entry="gram_matrix", reference=_gram,
        public=_cases(
            ((_t([1, 2], [3, 4], [0, 1]),), {}, "X=[[1, 2], [3, 4], [0, 1]]"),
            ((_t([1, 0, 0], [0, 2, 0]),), {}, "X=[[1, 0, 0], [0, 2, 0]]"),
        ),
        hidden=_hidden_gram,
        hint="G[i, j] is the dot product of row i with row j: X times its transpose, in that order",
        mistakes=(
            Mistake(
                "wrong_side",
                "you computed Xᵀ X, of shape (d, d): the dot products of the columns. The rows are the vectors "
                "here, so G = X Xᵀ, of shape (N, N).",
                _gram_wrong_side, edits=[("return X @ X.T", "return X.T @ X")],
            ),
            Mistake(
                "elementwise_product",
                "you multiplied X by itself elementwise (X * X); G = X Xᵀ is a matrix product (X @ X.T), which "
                "sums over the d features of each pair of rows.",
                _gram_elementwise, edits=[("return X @ X.T", "return X * X")],
            ),
            Mistake(
                "diagonal_only",
                "you returned only x_i . x_i, the squared length of each row (the diagonal of G); G holds the dot "
                "product of every pair of rows: X @ X.T, of shape (N, N).",
                _gram_diagonal, edits=[("return X @ X.T", "return (X * X).sum(dim=1)")],
            ),
        ),
    )


# ============================================================================================================
# Part B: softmax and log-softmax, stable, along dim
# ============================================================================================================

# By hand: no softmax, log-softmax or log-sum-exp of torch's (or scipy's), and no autograd needed.
SOFTMAX_BANNED = (
    "torch.nn", "torch._C", "torch.softmax", "torch.log_softmax", "torch.logsumexp", "torch.special",
    ".softmax", ".log_softmax", ".logsumexp", "scipy",
)


def _softmax_naive(input, dim):
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(input)
        return e / np.sum(e, axis=dim, keepdims=True)


def _softmax_last_axis(input, dim):
    return softmax(input, -1)


def _softmax_everything(input, dim):
    e = np.exp(input - np.max(input))
    with np.errstate(invalid="ignore"):
        return e / np.sum(e)


def _softmax_global_max(input, dim):
    e = np.exp(input - np.max(input))
    with np.errstate(invalid="ignore"):
        return e / np.sum(e, axis=dim, keepdims=True)


def _softmax_unnormalised(input, dim):
    return np.exp(input - np.max(input, axis=dim, keepdims=True))


_LARGE = _a([1000, 1001, 1002], [-1000, -1000, -999])


def _hidden_logits(rng: np.random.Generator) -> list[Case]:
    """Random shapes and dims (negative dims too), then the edge cases: logits of ±1000, one element, ties."""
    cases = []
    for shape, dim in (((5,), 0), ((3, 4), 1), ((4, 3), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((3, 2), -2)):
        cases.append(Case((TensorArg(_round(rng.normal(0, 3, shape))),), {"dim": dim}, f"random {shape}, dim={dim}"))
    big = np.concatenate([rng.uniform(995, 1000, (2, 4)), rng.uniform(-1000, -995, (2, 4))])
    cases.append(Case((TensorArg(_round(big)),), {"dim": 1}, "rows of logits near +1000 and near -1000, dim=1"))
    cases.append(Case((TensorArg(_round(big.T)),), {"dim": 0}, "columns of logits near ±1000, dim=0"))
    cases.append(Case((_t(1000, -1000, 0),), {"dim": 0}, "[1000, -1000, 0]"))
    cases.append(Case((_t(-1000, -1000),), {"dim": -1}, "[-1000, -1000]"))
    cases.append(Case((_t(2.5),), {"dim": 0}, "a single logit"))
    cases.append(Case((_t([0.5, 0.5, 0.5], [1, 2, 3]),), {"dim": -1}, "a row of equal logits"))
    return cases


def softmax_question() -> Question:
    return Question(
        name="softmax", cell="softmax_solution", entry="softmax", reference=softmax,
        public=_cases(
            ((_t(1, 2, 3),), {"dim": 0}, "the notes' z=[1, 2, 3], dim=0"),
            ((_t([1, 2], [3, 5]),), {"dim": 0}, "[[1, 2], [3, 5]], dim=0 (each column sums to 1)"),
            ((TensorArg(_LARGE),), {"dim": 1}, "large logits [[1000, 1001, 1002], [-1000, -1000, -999]], dim=1"),
        ),
        hidden=_hidden_logits, banned=SOFTMAX_BANNED, autograd=False,
        hint="subtract the max along dim (keepdim=True), exponentiate, divide by the sum along the same dim",
        mistakes=(
            Mistake(
                "no_max_subtraction",
                "you exponentiate the logits as they are (as the notes' num = np.exp(z) does): exp(1000) "
                "overflows to inf and inf/inf is nan. Subtract the max along dim first; softmax(x − m) = "
                "softmax(x), and every exponent is then ≤ 0.",
                _softmax_naive, edits=[(
                    "    shifted = input - input.max(dim=dim, keepdim=True).values\n", ""),
                    ("e = torch.exp(shifted)", "e = torch.exp(input)")],
            ),
            Mistake(
                "ignored_dim",
                "you always normalise over the last dimension, whatever dim says; each slice along dim "
                "(for dim=0 on a matrix: each column) must sum to 1. Pass dim to max and sum.",
                _softmax_last_axis, edits=[
                                           ("input.max(dim=dim, keepdim=True)", "input.max(dim=-1, keepdim=True)"),
                                           ("e.sum(dim=dim, keepdim=True)", "e.sum(dim=-1, keepdim=True)")],
            ),
            Mistake(
                "normalised_over_everything",
                "you divide by the sum over the whole tensor, so all entries together sum to 1; softmax "
                "normalises each slice along dim separately: e.sum(dim=dim, keepdim=True).",
                _softmax_everything, edits=[("input.max(dim=dim, keepdim=True).values", "input.max()"),
                                            ("e.sum(dim=dim, keepdim=True)", "e.sum()")],
            ),
            Mistake(
                "global_max",
                "you subtract the maximum of the whole tensor instead of the maximum along dim: a row whose "
                "logits all lie far below that max underflows to exp(−2000) = 0 everywhere, and 0/0 is nan. "
                "Subtract each slice's own max: input.max(dim=dim, keepdim=True).values.",
                _softmax_global_max, edits=[("input.max(dim=dim, keepdim=True).values", "input.max()")],
            ),
            Mistake(
                "forgot_to_normalise",
                "you return exp(x − max) without dividing by the sum along dim, so the outputs do not sum to 1.",
                _softmax_unnormalised, edits=[("return e / e.sum(dim=dim, keepdim=True)", "return e")],
            ),
        ),
    )


def _log_of_softmax(input, dim):
    with np.errstate(divide="ignore"):
        return np.log(softmax(input, dim))


def _log_softmax_naive(input, dim):
    with np.errstate(over="ignore"):
        return input - np.log(np.sum(np.exp(input), axis=dim, keepdims=True))


def _log_softmax_no_max_back(input, dim):
    return log_softmax(input, dim) + np.max(input, axis=dim, keepdims=True)


def _log_softmax_last_axis(input, dim):
    return log_softmax(input, -1)


def _log_softmax_negated(input, dim):
    return -log_softmax(input, dim)


def log_softmax_question() -> Question:
    return Question(
        name="log_softmax", cell="log_softmax_solution", entry="log_softmax", reference=log_softmax,
        public=_cases(
            ((_t(1, 2, 3),), {"dim": 0}, "z=[1, 2, 3], dim=0"),
            ((_t([1, 2], [3, 5]),), {"dim": 0}, "[[1, 2], [3, 5]], dim=0"),
            ((_t([1000, 1001, 1002], [0, 500, 1000]),), {"dim": -1},
             "large logits [[1000, 1001, 1002], [0, 500, 1000]], dim=-1"),
        ),
        hidden=_hidden_logits, banned=SOFTMAX_BANNED, autograd=False,
        hint="x − (m + log Σ exp(x − m)) with m the max along dim; never take the log of a softmax",
        mistakes=(
            Mistake(
                "log_of_softmax",
                "you take the log of the softmax: for a logit far below the max the softmax underflows to 0 and "
                "log(0) = −inf, although log-softmax is finite (x_i − logsumexp(x)). Subtract the log-sum-exp "
                "instead of dividing and then taking the log.",
                _log_of_softmax, edits=[(
                    "    lse = m + torch.log(torch.exp(input - m).sum(dim=dim, keepdim=True))\n"
                    "    return input - lse\n",
                    "    e = torch.exp(input - m)\n"
                    "    return torch.log(e / e.sum(dim=dim, keepdim=True))\n")],
            ),
            Mistake(
                "no_max_subtraction",
                "your log-sum-exp exponentiates the logits as they are: exp(1000) overflows to inf. Use "
                "logsumexp(x) = m + log Σ exp(x − m) with m the max along dim.",
                _log_softmax_naive, edits=[("m + torch.log(torch.exp(input - m)", "torch.log(torch.exp(input)")],
            ),
            Mistake(
                "forgot_max_in_logsumexp",
                "your log-sum-exp is log Σ exp(x − m) without adding m back: logsumexp(x) = m + log Σ exp(x − m). "
                "Each of your slices is off by its max.",
                _log_softmax_no_max_back, edits=[("lse = m + torch.log(", "lse = torch.log(")],
            ),
            Mistake(
                "ignored_dim",
                "you always work over the last dimension, whatever dim says; the max and the sum must be taken "
                "along dim.",
                _log_softmax_last_axis, edits=[
                                               ("input.max(dim=dim, keepdim=True)", "input.max(dim=-1, keepdim=True)"),
                                               (".sum(dim=dim, keepdim=True)", ".sum(dim=-1, keepdim=True)")],
            ),
            Mistake(
                "sign_flipped",
                "your values have the wrong sign: you return logsumexp(x) − x (a negative log-likelihood); "
                "log-softmax is x − logsumexp(x), always ≤ 0.",
                _log_softmax_negated, edits=[("return input - lse", "return lse - input")],
            ),
        ),
    )


# ============================================================================================================
# Part C: entropy, cross-entropy, binary entropy
# ============================================================================================================

# Written with numpy: scipy.stats.entropy / scipy.special.entr and torch's entropies would do the exercise.
INFORMATION_BANNED = ("scipy", "torch.special", "torch.distributions", "torch.nn")


def _entropy_nats(p, dim=-1, base=None):
    return entropy(p, dim)


def _entropy_bits(p, dim=-1, base=None):
    return entropy(p, dim, base=2)


def _entropy_negated(p, dim=-1, base=None):
    return -entropy(p, dim, base)


def _entropy_nan(p, dim=-1, base=None):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _in_base(-np.sum(p * np.log(p), axis=dim), base)


def _entropy_last_axis(p, dim=-1, base=None):
    return _in_base(-np.sum(_xlogx(p), axis=-1), base)


def _dirichlet(rng: np.random.Generator, k: int, m: int, zeros: bool = False) -> np.ndarray:
    """m distributions over k outcomes, shape (m, k); with zeros, about a third of the entries are exactly 0."""
    p = rng.dirichlet(np.ones(k), size=m)
    if zeros:
        p = np.where(rng.random((m, k)) < 0.35, 0.0, p)
        p[np.arange(m), rng.integers(0, k, m)] += 0.1  # every row keeps some mass
        p /= p.sum(axis=1, keepdims=True)
    return p


def _hidden_entropy(rng: np.random.Generator) -> list[Case]:
    cases = []
    layouts = ((None, 5, None), (None, 2, 2), (-1, 4, 10), (0, 3, None), (1, 6, 2), (None, 3, float(np.e)))
    for dim, k, base in layouts:
        zeros = len(cases) % 2 == 1
        if dim is None:
            p = _dirichlet(rng, k, 1, zeros)[0]
            cases.append(Case((p,), {"base": base}, f"one distribution over {k}, base={base}"))
            continue
        p = _dirichlet(rng, k, 3, zeros)
        p = p.T if dim == 0 else p
        cases.append(Case((p,), {"dim": dim, "base": base}, f"a batch, dim={dim}, base={base}"))
    p3 = np.moveaxis(_dirichlet(rng, 4, 6, zeros=True).reshape(2, 3, 4), 2, 1)  # (2, 4, 3), along dim 1
    cases.append(Case((p3,), {"dim": 1, "base": 2}, "3-D, dim=1, base=2"))
    cases.append(Case((_a(0, 1, 0, 0),), {"base": 2}, "a certain outcome: H = 0"))
    cases.append(Case((np.full(8, 1 / 8),), {"base": 2}, "uniform over 8: 3 bits"))
    cases.append(Case((_a(1.0),), {}, "a single outcome"))
    return cases


def entropy_question() -> Question:
    return Question(
        name="entropy", cell="entropy_solution", entry="entropy", reference=entropy,
        public=_cases(
            ((_a(0.25, 0.75),), {"base": 2}, "the notes' x=[0.25, 0.75], base=2"),
            ((_a(0.5, 0.25, 0.25, 0.0),), {}, "p=[0.5, 0.25, 0.25, 0], nats"),
            ((_a([0.5, 1.0], [0.5, 0.0]),), {"dim": 0, "base": 2}, "columns [0.5, 0.5] and [1, 0], dim=0, base=2"),
        ),
        hidden=_hidden_entropy, banned=INFORMATION_BANNED, numpy_only=True,
        hint="−Σ p log p along dim, skipping the terms with p = 0; divide by log(base) for another unit",
        mistakes=(
            Mistake(
                "ignored_base",
                "your entropy is always in nats: np.log is the natural log (the notes write log₂ but compute "
                "np.log). For base=2 (bits) divide by log(2): log_b x = ln x / ln b.",
                _entropy_nats, edits=[(
                    "    if base is not None:\n        h = h / np.log(base)\n", "")],
            ),
            Mistake(
                "always_bits",
                "your entropy is always in bits (log₂), whatever base says; base=None means natural logs (nats), "
                "and base=b means log_b x = ln x / ln b.",
                _entropy_bits, edits=[("np.log(safe)", "np.log2(safe)"), (
                    "    if base is not None:\n        h = h / np.log(base)\n", "")],
            ),
            Mistake(
                "missing_minus_sign",
                "your entropy is negative: log p ≤ 0, so Σ p log p ≤ 0, and the entropy is its negative, "
                "H(p) = −Σ p log p ≥ 0.",
                _entropy_negated, edits=[("h = -np.sum(", "h = np.sum(")],
            ),
            Mistake(
                "zero_probability_nan",
                "a probability of 0 gives you nan: 0 · log 0 is 0 · (−inf) = nan in floating point, as in the "
                "notes' loop. By convention (the limit of p log p as p → 0) that term is 0: skip the zeros.",
                _entropy_nan, edits=[("np.log(safe)", "np.log(p)")],
            ),
            Mistake(
                "ignored_dim",
                "you always sum over the last axis, whatever dim says; each distribution lies along dim (for "
                "dim=0 on a matrix: each column).",
                _entropy_last_axis, edits=[("axis=dim", "axis=-1")],
            ),
        ),
    )


def _ce(p, q, dim=-1, base=None):
    with np.errstate(divide="ignore"):  # p_i > 0 = q_i is an infinite cross-entropy
        return cross_entropy_of(p, q, dim, base)


def _ce_swapped(p, q, dim=-1, base=None):
    return _ce(q, p, dim, base)


def _ce_negated(p, q, dim=-1, base=None):
    return -_ce(p, q, dim, base)


def _ce_nats(p, q, dim=-1, base=None):
    return _ce(p, q, dim)


def _ce_nan(p, q, dim=-1, base=None):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _in_base(-np.sum(p * np.log(q), axis=dim), base)


def _one_hot(rng: np.random.Generator, k: int, m: int) -> np.ndarray:
    return np.eye(k)[rng.integers(0, k, m)]


def _hidden_cross_entropy(rng: np.random.Generator) -> list[Case]:
    cases = []
    for base in (None, 2):
        p, q = _dirichlet(rng, 4, 3), _dirichlet(rng, 4, 3)
        cases.append(Case((p, q), {"base": base}, f"soft targets, a batch of 3 over 4, base={base}"))
        p, q = _one_hot(rng, 5, 4), _dirichlet(rng, 5, 4)
        cases.append(Case((p, q), {"base": base}, f"one-hot targets (as the notes' [1, 0]), base={base}"))
    p, q = _dirichlet(rng, 3, 4, zeros=True), _dirichlet(rng, 3, 4)
    cases.append(Case((p.T, q.T), {"dim": 0, "base": 10}, "distributions along dim=0, base=10"))
    p = _dirichlet(rng, 4, 1, zeros=True)[0]
    q = np.where(p > 0, _dirichlet(rng, 4, 1)[0], 0.0)
    q /= q.sum()
    cases.append(Case((p, q), {}, "zeros in q exactly where p is 0"))
    cases.append(Case((_a(0.0, 1.0, 0.0), _a(0.2, 0.8, 0.0)), {"base": 2}, "q_i = 0 where p_i = 0"))
    r = _dirichlet(rng, 3, 1)[0]
    cases.append(Case((r, r.copy()), {}, "q = p: H(p, p) = H(p)"))
    cases.append(Case((_a(0.5, 0.5), _a(1.0, 0.0)), {}, "q_i = 0 where p_i > 0: infinite cross-entropy"))
    return cases


def cross_entropy_question() -> Question:
    return Question(
        name="cross_entropy", cell="cross_entropy_solution", entry="cross_entropy_of", reference=_ce,
        public=_cases(
            ((_a(1, 0), _a(0.25, 0.75)), {"base": 2}, "the notes' p=[1, 0] (label), q=[0.25, 0.75], base=2"),
            ((_a([1, 0, 0], [0.5, 0.5, 0]), _a([0.7, 0.2, 0.1], [0.5, 0.5, 0])), {},
             "p=[[1, 0, 0], [0.5, 0.5, 0]], q=[[0.7, 0.2, 0.1], [0.5, 0.5, 0]], nats"),
        ),
        hidden=_hidden_cross_entropy, banned=INFORMATION_BANNED, numpy_only=True,
        hint="−Σ p_i log q_i along dim, skipping the terms with p_i = 0; p is the truth, q the model",
        mistakes=(
            Mistake(
                "missing_minus_sign",
                "your cross-entropy is negative: Σ p log q ≤ 0, and the cross-entropy is its negative, "
                "H(p, q) = −Σ p_i log q_i ≥ 0.",
                _ce_negated, edits=[("h = -np.sum(", "h = np.sum(")],
            ),
            Mistake(
                "ignored_base",
                "your cross-entropy is always in nats (natural log); for base=2 (bits) divide by ln 2: "
                "log_b x = ln x / ln b.",
                _ce_nats, edits=[(
                    "    if base is not None:\n        h = h / np.log(base)\n", "")],
            ),
            Mistake(
                "zero_probability_nan",
                "where p_i = 0 and q_i = 0 you get 0 · log 0 = 0 · (−inf) = nan; that term is 0 (an outcome that "
                "never happens costs nothing). Skip the terms with p_i = 0.",
                _ce_nan, edits=[("np.log(safe_q)", "np.log(q)")],
            ),
            # Last on purpose: its variant is inf on the notes' case, and the diagnosis takes the first variant
            # that reproduces every failure, so the finite variants are tried first.
            Mistake(
                "swapped_arguments",
                "you computed H(q, p) = −Σ q log p, with the arguments the other way round (as the notes' loop "
                "H -= q[i]*np.log(p[i]) does, with p the label): cross-entropy is not symmetric. H(p, q) = "
                "−Σ p_i log q_i weights the model's log-probabilities log q by the true distribution p.",
                _ce_swapped, edits=[("safe_q = np.where(p > 0, q, 1.0)", "safe_q = np.where(q > 0, p, 1.0)"),
                                    ("h = -np.sum(p * np.log(safe_q)", "h = -np.sum(q * np.log(safe_q)")],
            ),
        ),
    )


def _binary_negated(p, base=None):
    return -binary_entropy(p, base)


def _binary_first_term(p, base=None):
    return _in_base(-_xlogx(p), base)


def _binary_nan(p, base=None):
    with np.errstate(divide="ignore", invalid="ignore"):
        return _in_base(-(p * np.log(p) + (1 - p) * np.log(1 - p)), base)


def _binary_nats(p, base=None):
    return binary_entropy(p)


def _hidden_binary_entropy(rng: np.random.Generator) -> list[Case]:
    cases = []
    for shape, base in (((6,), None), ((6,), 2), ((3, 4), 2), ((2, 3), 10)):
        cases.append(Case((_round(rng.uniform(0.01, 0.99, shape), 4),), {"base": base}, f"random {shape}, base={base}"))
    edges = np.concatenate([_a(0, 1, 0.5, 1e-9, 1 - 1e-6), _round(rng.uniform(0.01, 0.99, 3), 4)])
    cases.append(Case((rng.permutation(edges),), {"base": 2}, "0, 1, 1/2 and near-certain coins, base=2"))
    cases.append(Case((_a(0.3),), {}, "a single coin"))
    return cases


def binary_entropy_question() -> Question:
    return Question(
        name="binary_entropy", cell="binary_entropy_solution", entry="binary_entropy", reference=binary_entropy,
        public=_cases(
            ((_a(0.5, 0.25, 0.75),), {"base": 2}, "p=[0.5, 0.25, 0.75], base=2"),
            ((_a(0.0, 1.0, 0.5),), {}, "p=[0, 1, 0.5], nats"),
        ),
        hidden=_hidden_binary_entropy, banned=INFORMATION_BANNED, numpy_only=True,
        hint="−p log p − (1 − p) log(1 − p), with 0 at p = 0 and p = 1; divide by log(base) for another unit",
        mistakes=(
            Mistake(
                "missing_minus_sign",
                "your binary entropy is negative: H_b(p) = −[p log p + (1 − p) log(1 − p)], with the minus sign "
                "in front of the whole bracket.",
                _binary_negated, edits=[("h[inside] = -(r", "h[inside] = (r")],
            ),
            Mistake(
                "forgot_second_term",
                "you have only −p log p; a coin has two outcomes, so add the tails term −(1 − p) log(1 − p).",
                _binary_first_term, edits=[(
                    "-(r * np.log(r) + (1 - r) * np.log(1 - r))", "-(r * np.log(r))")],
            ),
            Mistake(
                "zero_or_one_nan",
                "p = 0 or p = 1 gives you nan: 0 · log 0 = 0 · (−inf) = nan in floating point. A certain coin "
                "has entropy 0 (0 log 0 = 0 by convention): handle p = 0 and p = 1 separately.",
                _binary_nan, edits=[(
                    "    h = np.zeros_like(p)\n"
                    "    inside = (p > 0) & (p < 1)  # at p = 0 and p = 1 both terms are 0 log 0 = 0\n"
                    "    r = p[inside]\n"
                    "    h[inside] = -(r * np.log(r) + (1 - r) * np.log(1 - r))\n",
                    "    h = -(p * np.log(p) + (1 - p) * np.log(1 - p))\n")],
            ),
            Mistake(
                "ignored_base",
                "your binary entropy is always in nats; for base=2 (bits: a fair coin has exactly 1 bit) divide "
                "by ln 2.",
                _binary_nats, edits=[(
                    "    if base is not None:\n        h = h / np.log(base)\n", "")],
            ),
        ),
    )


# ============================================================================================================
# Part D: argmin/argmax, mean and variance
# ============================================================================================================


def _argminmax(x, axis):
    return np.argmin(x, axis=axis), np.argmax(x, axis=axis)


def _minmax_values(x, axis):
    return np.min(x, axis=axis), np.max(x, axis=axis)


def _argminmax_flat(x, axis):
    return np.argmin(x), np.argmax(x)


def _argminmax_axis0(x, axis):
    return np.argmin(x, axis=0), np.argmax(x, axis=0)


def _argmaxmin(x, axis):
    return np.argmax(x, axis=axis), np.argmin(x, axis=axis)


def _distinct(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Values without ties (the position of a tied max is a convention, not the point here)."""
    size = int(np.prod(shape))
    return (rng.permutation(size) - size // 2 + _round(rng.uniform(0, 0.5, size), 2)).reshape(shape)


def _hidden_arg(rng: np.random.Generator) -> list[Case]:
    cases = []
    for shape, axis in (((7,), 0), ((3, 5), 1), ((4, 3), 0), ((5, 4), -1), ((2, 3, 4), 2), ((3, 2, 4), 1)):
        cases.append(Case((_distinct(rng, shape),), {"axis": axis}, f"random {shape}, axis={axis}"))
    cases.append(Case((_a(-3.5),), {"axis": 0}, "one element"))
    cases.append(Case((_a([2.0], [7.0], [-1.0]),), {"axis": 1}, "a (3, 1) column, axis=1"))
    return cases


def arg_question() -> Question:
    return Question(
        name="argmin_argmax", cell="argmin_argmax_solution", entry="argmin_argmax", reference=_argminmax,
        public=_cases(
            ((_a(1, -2, 1, 2, 3, 4),), {"axis": 0}, "the notes' [1, -2, 1, 2, 3, 4], axis=0"),
            ((_a([3, 1, 2], [0, 5, 4]),), {"axis": 1}, "[[3, 1, 2], [0, 5, 4]], axis=1"),
            ((_a([3, 1, 2], [0, 5, 4]),), {"axis": 0}, "[[3, 1, 2], [0, 5, 4]], axis=0"),
        ),
        hidden=_hidden_arg, dtype="int", output_names=("argmin", "argmax"),
        hint="np.argmin and np.argmax with the axis given; they return positions, not values",
        mistakes=(
            Mistake(
                "returned_values",
                "you returned the smallest and largest values themselves; argmin and argmax return their "
                "positions (integer indices): np.argmin / np.argmax rather than np.min / np.max.",
                _minmax_values, edits=[("np.argmin(x, axis=axis), np.argmax(x, axis=axis)",
                                        "np.min(x, axis=axis), np.max(x, axis=axis)")],
            ),
            Mistake(
                "flattened_index",
                "without axis, np.argmin and np.argmax return one index into the flattened array; pass axis= "
                "to get one index per slice along that axis.",
                _argminmax_flat, edits=[("np.argmin(x, axis=axis), np.argmax(x, axis=axis)",
                                         "np.argmin(x), np.argmax(x)")],
            ),
            Mistake(
                "wrong_axis",
                "you always search along axis 0 (down the columns), whatever axis says; use axis=axis.",
                _argminmax_axis0, edits=[("np.argmin(x, axis=axis), np.argmax(x, axis=axis)",
                                          "np.argmin(x, axis=0), np.argmax(x, axis=0)")],
            ),
            Mistake(
                "swapped_outputs",
                "your two answers are in the wrong order: return (argmin, argmax), the smallest value's "
                "position first.",
                _argmaxmin, edits=[("np.argmin(x, axis=axis), np.argmax(x, axis=axis)",
                                    "np.argmax(x, axis=axis), np.argmin(x, axis=axis)")],
            ),
        ),
    )


def _mean_var(x):
    return np.mean(x, axis=0), np.var(x, axis=0), np.var(x, axis=0, ddof=1)


def _mean_var_both_population(x):
    return np.mean(x, axis=0), np.var(x, axis=0), np.var(x, axis=0)


def _mean_var_both_sample(x):
    return np.mean(x, axis=0), np.var(x, axis=0, ddof=1), np.var(x, axis=0, ddof=1)


def _mean_var_swapped(x):
    return np.mean(x, axis=0), np.var(x, axis=0, ddof=1), np.var(x, axis=0)


def _mean_var_rows(x):
    return np.mean(x, axis=1), np.var(x, axis=1), np.var(x, axis=1, ddof=1)


def _mean_std(x):
    return np.mean(x, axis=0), np.std(x, axis=0), np.std(x, axis=0, ddof=1)


def _hidden_mean_var(rng: np.random.Generator) -> list[Case]:
    cases = []
    for n, d in ((5, 3), (8, 2), (3, 4), (2, 3), (6, 1), (4, 4)):
        data = rng.normal(rng.uniform(-5, 5, d), rng.uniform(0.5, 3, d), (n, d))
        cases.append(Case((TensorArg(_round(data, 2)),), {}, f"random ({n}, {d})"))
    constant = np.column_stack([np.full(4, 2.5), _a(1, 2, 3, 4)])
    cases.append(Case((TensorArg(constant),), {}, "a constant feature: variance 0"))
    return cases


def mean_var_question() -> Question:
    return Question(
        name="mean_var", cell="mean_var_solution", entry="mean_and_variances", reference=_mean_var,
        public=_cases(
            ((_t([2, 1], [4, 1], [6, 4]),), {}, "x=[[2, 1], [4, 1], [6, 4]]"),
            ((_t([1], [2], [3], [4]),), {}, "x=[[1], [2], [3], [4]]"),
        ),
        hidden=_hidden_mean_var, output_names=("mean", "population_variance", "sample_variance"),
        hint="both variances are Σ (x − mean)² over the rows; the population one divides by N, the sample one "
             "by N − 1",
        mistakes=(
            Mistake(
                "sample_variance_divides_by_n",
                "your sample variance divides by N, which is the population variance (np.var's default, "
                "ddof=0, or torch.var(..., correction=0)); the sample variance divides by N − 1 (ddof=1, "
                "torch.var's default), because the mean was estimated from the same data.",
                _mean_var_both_population, edits=[(
                    "sample = x.var(dim=0, correction=1)", "sample = ((x - mean) ** 2).mean(dim=0)")],
            ),
            Mistake(
                "population_variance_divides_by_n_minus_1",
                "your population variance divides by N − 1, which is the sample variance: torch.var's default "
                "is correction=1 (unbiased=True). The population variance divides by N: correction=0 (as "
                "np.var's default ddof=0).",
                _mean_var_both_sample, edits=[(
                    "population = x.var(dim=0, correction=0)", "population = x.var(dim=0)")],
            ),
            Mistake(
                "variances_swapped",
                "your two variances are in the wrong order: the population variance (÷ N) comes second, the "
                "sample variance (÷ (N − 1), the larger one) third.",
                _mean_var_swapped, edits=[("return mean, population, sample",
                                           "return mean, sample, population")],
            ),
            Mistake(
                "wrong_axis",
                "you reduced over each row (dim=1): one value per observation. The features are the columns, "
                "so reduce over the observations, dim=0, for one value per feature.",
                _mean_var_rows, edits=[("x.mean(dim=0)", "x.mean(dim=1)"),
                                       ("x.var(dim=0, correction=0)", "x.var(dim=1, correction=0)"),
                                       ("x.var(dim=0, correction=1)", "x.var(dim=1, correction=1)")],
            ),
            Mistake(
                "standard_deviation",
                "you returned standard deviations (square roots, x.std); the variance is the mean squared "
                "deviation itself, without the root: x.var.",
                _mean_std, edits=[("x.var(dim=0, correction=0)", "x.std(dim=0, correction=0)"),
                                  ("x.var(dim=0, correction=1)", "x.std(dim=0, correction=1)")],
            ),
        ),
    )


# ============================================================================================================
# Part E: reproducible randomness
# ============================================================================================================

# Draws are compared bit-for-bit in spirit: any other stream differs at order 1. rtol is not 0 only because the
# released notebook's public checks hold the expected values to 13 significant digits.
SEED_RTOL, SEED_ATOL = 1e-12, 1e-300


def _torch_generator(seed: int) -> torch.Generator:
    """A private generator: the same stream as torch.manual_seed(seed), without touching the global one."""
    return torch.Generator().manual_seed(int(seed))


def _seeded_normal(seed, n):
    return torch.randn(int(n), generator=_torch_generator(seed), dtype=torch.float64).numpy()


def _seeded_float32(seed, n):
    return torch.randn(int(n), generator=_torch_generator(seed)).double().numpy()


def _seeded_numpy(seed, n):
    return np.random.RandomState(int(seed)).randn(int(n))


def _seeded_loop(seed, n):
    first = torch.randn(1, generator=_torch_generator(seed), dtype=torch.float64).numpy()
    return np.repeat(first, int(n))


def _seeded_uniform(seed, n):
    return torch.rand(int(n), generator=_torch_generator(seed), dtype=torch.float64).numpy()


def _hidden_seeds(rng: np.random.Generator) -> list[Case]:
    cases = [Case((int(rng.integers(0, 2**31)), int(n)), {}, f"a random seed, n={n}") for n in (4, 17, 40)]
    cases.append(Case((0, 1), {}, "seed 0, n=1"))
    cases.append(Case((int(rng.integers(0, 1000)), 16), {}, "a small seed, n=16"))
    return cases


def seeded_normal_question() -> Question:
    return Question(
        name="seeded_normal", cell="seeded_normal_solution", entry="seeded_normal", reference=_seeded_normal,
        public=_cases(
            ((17, 5), {}, "seed=17, n=5"),
            ((0, 3), {}, "seed=0, n=3"),
            ((17, 20), {}, "seed=17, n=20"),
        ),
        hidden=_hidden_seeds, rtol=SEED_RTOL, atol=SEED_ATOL,
        hint="torch.manual_seed(seed) first, then one torch.randn(n, dtype=torch.float64)",
        mistakes=(
            Mistake(
                "float32_draw",
                "you drew in float32 (torch's default dtype, as torch.Tensor in the notes) and converted to "
                "float64: that is a different draw, rounded to 7 digits and, for n ≥ 16, even a different "
                "sequence. Draw in float64: torch.randn(n, dtype=torch.float64).",
                _seeded_float32, edits=[(
                    "return torch.randn(n, dtype=torch.float64)", "return torch.randn(n).double()")],
            ),
            Mistake(
                "numpy_generator",
                "your numbers come from numpy's generator (np.random.seed / np.random.randn), not from torch's: "
                "seeding numpy leaves torch's stream untouched and vice versa. Use torch.manual_seed and "
                "torch.randn.",
                _seeded_numpy, edits=[("torch.manual_seed(seed)", "np.random.seed(seed)"), (
                    "return torch.randn(n, dtype=torch.float64)", "return torch.from_numpy(np.random.randn(n))")],
            ),
            Mistake(
                "reseeded_in_loop",
                "all your numbers are equal: you seed again before every draw, so each draw restarts the same "
                "stream. Seed once, then draw all n numbers.",
                _seeded_loop, edits=[(
                    "    torch.manual_seed(seed)\n    return torch.randn(n, dtype=torch.float64)\n",
                    "    values = []\n"
                    "    for i in range(n):\n"
                    "        torch.manual_seed(seed)\n"
                    "        values.append(torch.randn(1, dtype=torch.float64))\n"
                    "    return torch.cat(values)\n")],
            ),
            Mistake(
                "uniform_instead_of_normal",
                "you drew uniform numbers on [0, 1) with torch.rand; torch.randn draws standard normal ones.",
                _seeded_uniform, edits=[("return torch.randn(", "return torch.rand(")],
            ),
        ),
    )


def _rng_batches(seed, k, n):
    return np.random.default_rng(int(seed)).standard_normal((int(k), int(n)))


def _rng_reseeded(seed, k, n):
    return np.tile(np.random.default_rng(int(seed)).standard_normal(int(n)), (int(k), 1))


def _rng_legacy(seed, k, n):
    return np.random.RandomState(int(seed)).standard_normal((int(k), int(n)))


def _rng_seed_per_batch(seed, k, n):
    return np.stack([np.random.default_rng(int(seed) + i).standard_normal(int(n)) for i in range(int(k))])


def _hidden_batches(rng: np.random.Generator) -> list[Case]:
    cases = [Case((int(rng.integers(0, 2**31)), k, n), {}, f"a random seed, k={k}, n={n}")
             for k, n in ((3, 4), (5, 2), (2, 7))]
    cases.append(Case((int(rng.integers(0, 100)), 1, 3), {}, "one batch"))
    cases.append(Case((0, 4, 1), {}, "seed 0, batches of one"))
    return cases


def rng_batches_question() -> Question:
    return Question(
        name="rng_batches", cell="rng_batches_solution", entry="rng_batches", reference=_rng_batches,
        public=_cases(
            ((17, 2, 3), {}, "seed=17, k=2, n=3"),
            ((0, 3, 2), {}, "seed=0, k=3, n=2"),
        ),
        hidden=_hidden_batches, rtol=SEED_RTOL, atol=SEED_ATOL,
        hint="rng = np.random.default_rng(seed) once, before the loop; every batch is rng.standard_normal(n)",
        mistakes=(
            Mistake(
                "reseeded_in_loop",
                "all your batches are identical: you create the generator (reseed) inside the loop, so every "
                "batch restarts the same stream. Create it once, before the loop, and keep drawing from it.",
                _rng_reseeded, edits=[(
                    "    rng = np.random.default_rng(seed)\n    batches = []\n    for i in range(k):\n",
                    "    batches = []\n    for i in range(k):\n        rng = np.random.default_rng(seed)\n")],
            ),
            Mistake(
                "legacy_global_random",
                "your numbers come from numpy's legacy generator (np.random.seed with np.random.randn or "
                "np.random.standard_normal, or np.random.RandomState — which the notes call the newer "
                "mechanism, but it is the old one): a different algorithm and stream. Use the Generator "
                "rng = np.random.default_rng(seed) and draw with rng.standard_normal(n).",
                _rng_legacy, edits=[("rng = np.random.default_rng(seed)", "np.random.seed(seed)"),
                                    ("batches.append(rng.standard_normal(n))",
                                     "batches.append(np.random.standard_normal(n))")],
            ),
            Mistake(
                "seed_per_batch",
                "you seed each batch with its own seed (seed + i): the batches come from k separate streams "
                "instead of one. Make one generator from seed and draw the batches from it one after another.",
                _rng_seed_per_batch, edits=[(
                    "    rng = np.random.default_rng(seed)\n    batches = []\n    for i in range(k):\n",
                    "    batches = []\n    for i in range(k):\n        rng = np.random.default_rng(seed + i)\n")],
            ),
        ),
    )


SUITE = Suite(
    assignment="tensors",
    questions=(
        dot_question(),
        linear_unit_question(),
        gram_question(),
        softmax_question(),
        log_softmax_question(),
        entropy_question(),
        cross_entropy_question(),
        binary_entropy_question(),
        arg_question(),
        mean_var_question(),
        seeded_normal_question(),
        rng_batches_question(),
    ),
    notebook=NOTEBOOK,  # each mistake's code: its question's solution cell with its edits
)
