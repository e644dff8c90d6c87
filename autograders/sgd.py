"""sgd: gradient descent, shuffled mini-batches, torch.optim.SGD and torch.optim.Adam, an L1 penalty,
learning-rate schedules and a learning-rate experiment, all by hand in numpy (torch.optim is banned).

Every optimizer question takes plain arrays (a start θ⁰ and a fixed sequence of gradients) and returns the
trajectory θ⁰, θ¹, …, θᵏ, so that torch.optim's exact update order (weight decay before momentum, the first
momentum buffer, Nesterov's look-ahead, Adam's bias corrections) shows in the numbers. References come from
reference/optim.py, reference/regularization.py, reference/losses.py and reference/backprop.py.

One source for every solution: the notebook's solution cells. Each known mistake is its question's solution cell
with small edits (Mistake.edits, applied when the suite is bound to the notebook); its compute is the trusted
variant written here, which recognises a student who makes it. A mistaken worked_update typed in as numbers is
written whole (solution=): it is the student's numbers, not an edit of the code.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlgrade.suite import Case, Mistake, Question, Suite, Verdict
from reference import backprop, datasets, losses, optim, regularization

NOTEBOOK = Path(__file__).resolve().parent.parent / "assignments" / "sgd" / "sgd.ipynb"

# "By hand": no optimizer from torch, no autograd to compute a gradient.
BANNED = ("torch.optim", "torch.autograd", ".backward")


def _trajectory(theta0: np.ndarray, steps: Sequence[np.ndarray]) -> np.ndarray:
    return np.stack([np.asarray(theta0, dtype=np.float64), *steps])


# ---- Q1 gd_step: θ' = θ − lr ∇J(θ) ----------------------------------------------------------------------


def public_gd_step() -> list[Case]:
    return [
        Case((np.array([1.0, -2.0, 0.5]), np.array([0.5, -2.0, 0.0]), 0.1),
             label="theta=[1, -2, 0.5], grad=[0.5, -2, 0], lr=0.1"),
        Case((np.array([[0.0, 1.0], [2.0, -1.0]]), np.array([[4.0, -0.5], [1.0, 3.0]]), 0.01),
             label="2x2 theta, lr=0.01"),
    ]


def hidden_gd_step(rng: np.random.Generator) -> list[Case]:
    cases = []
    for shape, lr in (((int(rng.integers(2, 7)),), float(rng.uniform(1e-3, 0.5))),
                      ((int(rng.integers(2, 4)), int(rng.integers(2, 5))), float(rng.uniform(1e-3, 0.5))),
                      ((1,), 1e-3), ((3,), 0.0)):
        cases.append(Case((rng.normal(size=shape), 2.0 * rng.normal(size=shape), lr)))
    cases.append(Case((rng.normal(size=4), rng.normal(size=4), 1.5)))
    return cases


GD_STEP_MISTAKES = (
    Mistake("gradient_ascent",
            "you stepped uphill: theta + lr * grad is gradient ascent (the lecture's `localmin + learningRate*grad`); "
            "gradient descent subtracts the gradient: theta' = theta - lr * grad.",
            lambda theta, grad, lr: theta + lr * grad,
            edits=[("return theta - lr * grad", "return theta + lr * grad")]),
    Mistake("forgot_lr",
            "you subtracted the raw gradient: the step is the gradient scaled by the learning rate, "
            "theta' = theta - lr * grad.",
            lambda theta, grad, lr: theta - grad,
            edits=[("return theta - lr * grad", "return theta - grad")]),
    Mistake("abs_grad_scaled_step",
            "you scaled the step by |grad| (the lecture's derivative-adaptive idea `lr = learningRate*np.abs(grad)`); "
            "plain gradient descent takes theta' = theta - lr * grad with a fixed lr.",
            lambda theta, grad, lr: theta - lr * np.abs(grad) * grad,
            edits=[("return theta - lr * grad", "return theta - lr * np.abs(grad) * grad")]),
)


# ---- Q2 worked_update: the lecture's worked example, one gradient-descent step by hand, on the student's numbers --

# The lecture's numbers stay the worked example of the text; each student computes on their own (my_numbers()).
LECTURE = {"x": 5.0, "w1": 3.0, "b1": 2.0, "w3": -0.5, "b3": 4.0, "target": 2.0, "lr": 1e-3}


def worked_update_reference(**numbers: float) -> dict[str, float]:
    """One step θ' = θ − lr·dl/dθ on w1, b1, w3, b3 of l = (w3·ReLU(w1·x + b1) + b3 − target)² (on the lecture's
    numbers: w1' = 2.9675, b1' = 1.9935, w3' = −0.279, b3' = 4.013)."""
    example = backprop.scalar_backprop_example(**numbers)
    return {"w1": example.w1_new, "b1": example.b1_new, "w3": example.w3_new, "b3": example.b3_new}


def public_worked_update() -> list[Case]:
    return [Case(kwargs=LECTURE, label="the lecture's example: one step, lr=1e-3, from w1=3, b1=2, w3=-0.5, b3=4 "
                                       "at x=5")]


def _worked(dl_dy3: float | None = None, *, w3_local: bool = True, w1_local: str = "x", sign: float = 1.0,
            **numbers: float) -> dict[str, float]:
    """The step on ``numbers`` with the given dl/dy3 (default: the right one), dropping dy3/dw3 = y2
    (w3_local=False) or using dy1/dx = w1, or 1, as the factor for w1 (w1_local='w1'/'one'), and the step's sign
    (−1 for ascent); dl/db1 follows w1's factor."""
    e = backprop.scalar_backprop_example(**numbers)
    dl_dy3 = e.dl_dy3 if dl_dy3 is None else dl_dy3
    dl_dy1 = dl_dy3 * e.dy3_dy2 * e.dy2_dy1
    dl_dw3 = dl_dy3 * (e.y2 if w3_local else 1.0)
    factor = {"x": e.x, "w1": e.w1, "one": 1.0}[w1_local]
    dl_dw1 = dl_dy1 * factor
    dl_db1 = dl_dy1 * (factor if w1_local == "w1" else 1.0)
    return {"w1": e.w1 - sign * e.lr * dl_dw1, "b1": e.b1 - sign * e.lr * dl_db1,
            "w3": e.w3 - sign * e.lr * dl_dw3, "b3": e.b3 - sign * e.lr * dl_dy3}


def _same_for_everyone(answer: dict[str, float]) -> Any:
    """A wrong answer that does not depend on the student's numbers (copied from the lecture)."""
    def compute(**numbers: float) -> dict[str, float]:
        return dict(answer)

    return compute


def _typed_update(answer: dict[str, float]) -> str:
    return f"updated_params = None\nupdated_params = {answer!r}\n"


NOTES_SLIDES = {"w1": -2.98275, "b1": 1.98275, "w3": -0.4885, "b3": 4.0115}
NOTES_DL_DY3 = _worked(-11.5, **LECTURE)
LECTURE_ANSWER = worked_update_reference(**LECTURE)

WORKED_MISTAKES = (
    Mistake("notes_slide_numbers",
            "these are the lecture slides' printed numbers for their own example, which carry slips (and they are "
            "not your numbers either): run the my_numbers() cell, redo the chain rule with your numbers and take the "
            "step theta' = theta - lr * dl/dtheta.",
            _same_for_everyone(NOTES_SLIDES), _typed_update(NOTES_SLIDES)),
    Mistake("notes_dl_dy3",
            "this is the step on the lecture's example with the slides' dl/dy3 = -11.5 (a slip: it is 2*(y3 - 2)), "
            "and not on your numbers: run the my_numbers() cell and compute with the numbers it prints.",
            _same_for_everyone(NOTES_DL_DY3), _typed_update(NOTES_DL_DY3)),
    Mistake("lecture_example",
            "this is the step for the lecture's example (x = 5, w1 = 3, b1 = 2, w3 = -0.5, b3 = 4, target 2), not "
            "for your numbers: run the my_numbers() cell and compute with the numbers it prints.",
            _same_for_everyone(LECTURE_ANSWER), _typed_update(LECTURE_ANSWER)),
    Mistake("stepped_with_dl_dy",
            "you moved each parameter by the gradient with respect to its layer's output (the slides' "
            "w_n' = lr * -dl/dy_n + w_n): a weight moves against its own gradient, dl/dw3 = dl/dy3 * y2 and "
            "dl/dw1 = dl/dy1 * x.",
            lambda **numbers: _worked(w3_local=False, w1_local="one", **numbers),
            edits=[("lr * dl_dy1 * x", "lr * dl_dy1"), ("lr * dl_dy3 * max(y1, 0)", "lr * dl_dy3")]),
    Mistake("layer1_used_dl_dx",
            "for w1 and b1 you used dl/dx = dl/dy1 * w1 (the slides put dl/dx in the w1 column): dy1/dw1 = x and "
            "dy1/db1 = 1, so dl/dw1 = dl/dy1 * x and dl/db1 = dl/dy1.",
            lambda **numbers: _worked(w1_local="w1", **numbers),
            edits=[("lr * dl_dy1 * x", "lr * dl_dy1 * w1"),
                   ("b1 - lr * dl_dy1,", "b1 - lr * dl_dy1 * w1,")]),
    Mistake("gradient_ascent",
            "you added lr * gradient: gradient descent subtracts it, theta' = theta - lr * dl/dtheta.",
            lambda **numbers: _worked(sign=-1.0, **numbers),
            edits=[("w1 - lr", "w1 + lr"), ("b1 - lr", "b1 + lr"), ("w3 - lr", "w3 + lr"),
                   ("b3 - lr", "b3 + lr")]),
)


# ---- Q3 minibatches: shuffle once with rng.permutation(n), cut into consecutive batches ----------------------


def minibatches_reference(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    return optim.minibatch_indices(n, batch_size, np.random.default_rng(seed))


def public_minibatches() -> list[Case]:
    return [
        Case((10, 4, 0), label="n=10, batch_size=4, seed=0 (batches of 4, 4, 2)"),
        Case((6, 3, 1), label="n=6, batch_size=3, seed=1 (two full batches)"),
        Case((5, 8, 2), label="n=5, batch_size=8, seed=2 (one partial batch)"),
    ]


def hidden_minibatches(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        batch_size = int(rng.integers(2, 9))
        n = batch_size * int(rng.integers(2, 5)) + int(rng.integers(1, batch_size))  # a partial last batch
        cases.append(Case((n, batch_size, int(rng.integers(0, 2**31)))))
    cases.append(Case((12, 4, int(rng.integers(0, 2**31)))))  # divides evenly
    cases.append(Case((7, 1, int(rng.integers(0, 2**31)))))  # batch_size 1: plain SGD
    cases.append(Case((1, 3, int(rng.integers(0, 2**31)))))  # a single sample
    return cases


def _batches(order: np.ndarray, batch_size: int, drop_last: bool = False) -> list[np.ndarray]:
    stop = len(order) - len(order) % batch_size if drop_last else len(order)
    return [order[start:start + batch_size] for start in range(0, stop, batch_size)]


def _reshuffled(n: int, batch_size: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.permutation(n)[start:start + batch_size] for start in range(0, n, batch_size)]


MINIBATCH_MISTAKES = (
    Mistake("no_shuffle",
            "your batches are 0, 1, 2, ... in order: shuffle once per epoch first (order = rng.permutation(n)), "
            "then cut the shuffled order into consecutive batches.",
            lambda n, batch_size, seed: _batches(np.arange(n), batch_size),
            edits=[("order = rng.permutation(n)", "order = np.arange(n)")]),
    Mistake("dropped_last_batch",
            "you dropped the last, smaller batch (as if T = n/B always divided evenly): every sample is used once "
            "per epoch, so keep the partial batch at the end.",
            lambda n, batch_size, seed: _batches(np.random.default_rng(seed).permutation(n), batch_size, True),
            edits=[("range(0, n, batch_size)", "range(0, n - n % batch_size, batch_size)")]),
    Mistake("reshuffled_in_loop",
            "you drew a new permutation for every batch, so batches overlap and some samples are never used: "
            "call rng.permutation(n) once, before the loop, and slice that one order.",
            _reshuffled,
            edits=[("    order = rng.permutation(n)\n", ""),
                   ("return [order[start:", "return [rng.permutation(n)[start:")]),
    Mistake("one_based_indices",
            "your indices run from 1 to n (the slides' {1, ..., n}): numpy indexes from 0, so the batches must "
            "partition 0, ..., n-1.",
            lambda n, batch_size, seed: _batches(np.random.default_rng(seed).permutation(n) + 1, batch_size),
            edits=[("order = rng.permutation(n)", "order = rng.permutation(n) + 1")]),
    Mistake("legacy_global_rng",
            "you shuffled with the legacy global generator (np.random.seed / np.random.permutation): use "
            "rng = np.random.default_rng(seed) and rng.permutation(n), so the partition is the reproducible one.",
            lambda n, batch_size, seed: _batches(np.random.RandomState(seed).permutation(n), batch_size),
            edits=[("rng = np.random.default_rng(seed)\n    order = rng.permutation(n)",
                    "np.random.seed(seed)\n    order = np.random.permutation(n)")]),
)


# ---- Q4 sgd_momentum: torch.optim.SGD's exact update over k given gradients ------------------------------------


def sgd_reference(theta0, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """θ⁰ and the k parameters after each torch.optim.SGD step with the given gradients: shape (k+1, *θ.shape)."""
    theta, state, steps = np.asarray(theta0, dtype=np.float64), None, []
    for g in np.asarray(grads, dtype=np.float64):
        theta, state = optim.sgd_step(theta, g, state, lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov)
        steps.append(theta)
    return _trajectory(theta0, steps)


def _sgd_variant(theta0, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False, *,
                 decay_after=False, damp_first=False, old_buffer=False, ema=False, ):
    """torch.optim.SGD with one known deviation switched on."""
    theta, buf, steps = np.asarray(theta0, dtype=np.float64), None, []
    tau = momentum if ema else dampening
    for g in np.asarray(grads, dtype=np.float64):
        d_p = g if decay_after else g + weight_decay * theta
        old = np.zeros_like(theta) if buf is None else buf
        if momentum != 0:
            if buf is None:
                buf = (1 - tau) * d_p if damp_first else d_p.copy()
            else:
                buf = momentum * buf + (1 - tau) * d_p
            if nesterov:
                d_p = d_p + momentum * (old if old_buffer else buf)
            else:
                d_p = buf
        if decay_after:
            d_p = d_p + weight_decay * theta
        theta = theta - lr * d_p
        steps.append(theta)
    return _trajectory(theta0, steps)


def _sgd_mistake(**deviation: bool):
    def compute(theta0, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        return _sgd_variant(theta0, grads, lr, momentum, dampening, weight_decay, nesterov, **deviation)
    return compute


def public_sgd() -> list[Case]:
    return [
        Case((np.array([1.0, -1.0]), np.array([[0.5, 0.5], [1.0, -1.0]]), 0.1),
             label="plain SGD: theta0=[1, -1], 2 steps, lr=0.1"),
        Case((np.array([1.0]), np.array([[1.0], [1.0], [1.0]]), 0.1), {"momentum": 0.9, "dampening": 0.5},
             label="momentum=0.9, dampening=0.5, constant gradient 1, 3 steps"),
        Case((np.array([1.0, 2.0]), np.array([[1.0, 0.0], [0.5, -1.0], [0.0, 1.0]]), 0.1),
             {"momentum": 0.9, "weight_decay": 0.1, "nesterov": True},
             label="nesterov, momentum=0.9, weight_decay=0.1, 3 steps"),
        Case((np.array([2.0, -1.0]), np.array([[1.0, 1.0], [1.0, 1.0], [-1.0, 2.0]]), 0.5),
             {"momentum": 0.5, "weight_decay": 0.5}, label="momentum=0.5, weight_decay=0.5, 3 steps"),
    ]


def hidden_sgd(rng: np.random.Generator) -> list[Case]:
    configs = [
        {},
        {"momentum": 0.9},
        {"momentum": 0.9, "dampening": 0.5},
        {"momentum": 0.5, "weight_decay": 0.1},
        {"momentum": 0.9, "weight_decay": 0.05, "nesterov": True},
        {"momentum": 0.8, "nesterov": True},
        {"momentum": 0.7, "dampening": 0.3, "weight_decay": 0.2},
    ]
    cases = []
    for config in configs:
        d, k = int(rng.integers(1, 6)), int(rng.integers(2, 7))
        lr = float(rng.uniform(0.01, 0.5))
        cases.append(Case((rng.normal(size=d), rng.normal(size=(k, d)), lr), dict(config)))
    shape = (2, 3)  # a weight matrix: the update is elementwise
    cases.append(Case((rng.normal(size=shape), rng.normal(size=(4, *shape)), 0.05),
                      {"momentum": 0.9, "weight_decay": 0.01, "nesterov": True}))
    cases.append(Case((rng.normal(size=3), rng.normal(size=(1, 3)), 0.1), {"momentum": 0.9, "dampening": 0.5}))
    return cases


SGD_MISTAKES = (
    Mistake("weight_decay_after_momentum",
            "you added weight_decay * theta after the momentum step: torch adds it to the gradient first, "
            "g <- g + weight_decay * theta, and that decayed gradient is what enters the momentum buffer.",
            _sgd_mistake(decay_after=True),
            edits=[("        d_p = g + weight_decay * theta\n", "        d_p = g\n"),
                   ("theta = theta - lr * d_p\n", "theta = theta - lr * (d_p + weight_decay * theta)\n")]),
    Mistake("dampening_on_first_step",
            "your first momentum buffer is (1 - dampening) * g, as if it started at zero: torch sets buf = g on the "
            "first step (no dampening) and only later steps use buf = momentum * buf + (1 - dampening) * g.",
            _sgd_mistake(damp_first=True),
            edits=[("buf = d_p.copy()", "buf = (1 - dampening) * d_p")]),
    Mistake("nesterov_old_buffer",
            "your Nesterov step uses the buffer from before this step's update (with dampening 0 that is exactly "
            "plain momentum, as if nesterov were ignored): torch updates the buffer first, then steps along "
            "g + momentum * buf with the new buf.",
            _sgd_mistake(old_buffer=True),
            edits=[("        if momentum != 0:\n",
                    "        if momentum != 0:\n            old = np.zeros_like(theta) if buf is None else buf\n"),
                   ("d_p = d_p + momentum * buf", "d_p = d_p + momentum * old")]),
    Mistake("momentum_as_dampening",
            "your buffer is an average, buf = momentum * buf + (1 - momentum) * g: torch uses "
            "buf = momentum * buf + (1 - dampening) * g, and dampening defaults to 0.",
            _sgd_mistake(ema=True),
            edits=[("(1 - dampening) * d_p", "(1 - momentum) * d_p")]),
)


# ---- Q5, Q6 l1_penalty, l1_grad: the lecture's L1 term over the non-bias parameters ---------------------------


def _weights(params: dict[str, np.ndarray], biases: bool = False) -> list[np.ndarray]:
    return [np.asarray(w, dtype=np.float64) for name, w in params.items() if biases or "bias" not in name]


def _count(params: dict[str, np.ndarray], biases: bool = False) -> int:
    return sum(w.size for w in _weights(params, biases))


def l1_penalty_reference(params: dict[str, np.ndarray], lam: float) -> float:
    """(lam / n_weights) · Σ|w| over the parameters whose name has no 'bias' (the lecture's L1 term)."""
    return regularization.l1_penalty(_weights(params), lam / _count(params))


def l1_grad_reference(params: dict[str, np.ndarray], lam: float) -> dict[str, np.ndarray]:
    """(lam / n_weights) · sign(w) for every weight (0 at w = 0, as torch), zeros for every bias."""
    weights = iter(regularization.l1_penalty_grad(_weights(params), lam / _count(params)))
    return {name: np.zeros_like(w, dtype=np.float64) if "bias" in name else next(weights)
            for name, w in params.items()}


def _l1_params(rng: np.random.Generator, layers: int) -> dict[str, np.ndarray]:
    params, width = {}, int(rng.integers(1, 5))
    for layer in range(layers):
        out = int(rng.integers(1, 5))
        weight = rng.normal(size=(out, width))
        weight[rng.random(weight.shape) < 0.25] = 0.0  # L1 makes weights exactly 0: the subgradient there is 0
        params[f"{2 * layer}.weight"] = weight
        params[f"{2 * layer}.bias"] = rng.normal(size=out)
        width = out
    return params


def public_l1() -> list[Case]:
    params = {"0.weight": np.array([[1.0, -2.0], [0.0, 3.0]]), "0.bias": np.array([5.0, -5.0]),
              "2.weight": np.array([[-1.0, 1.0]]), "2.bias": np.array([0.5])}
    return [
        Case((params, 0.6), label="weights |w| sum 8 over 6 weights, lam=0.6"),
        Case(({"weight": np.array([[0.5, -0.25, 0.0, 2.0]])}, 0.1), label="one weight, lam=0.1"),
    ]


def hidden_l1(rng: np.random.Generator) -> list[Case]:
    cases = [Case((_l1_params(rng, layers), float(rng.uniform(0.001, 1.0)))) for layers in (1, 2, 3)]
    cases.append(Case(({"hidden.weight": rng.normal(size=(3, 2)), "hidden.bias": rng.normal(size=3),
                        "output.weight": np.array([[0.0, 0.0, -1.5]]), "output.bias": np.array([0.0])}, 0.01)))
    cases.append(Case(({"w": np.array([-3.0])}, 2.0)))
    return cases


def _l1_penalty_variant(*, biases_in_sum=False, biases_in_count=False, divide=True, power=1, absolute=True):
    def compute(params, lam):
        weights = _weights(params, biases_in_sum)
        total = sum(np.sum((np.abs(w) if absolute else w) ** power) for w in weights)
        return float(lam * total / (_count(params, biases_in_count) if divide else 1))
    return compute


L1_PENALTY_MISTAKES = (
    Mistake("included_biases",
            "you penalised the biases too: the lecture's L1 term skips every parameter whose name contains "
            "'bias', in the sum and in the count n_weights.",
            _l1_penalty_variant(biases_in_sum=True, biases_in_count=True),
            edits=[(" if 'bias' not in name]", "]")]),
    Mistake("counted_biases",
            "your sum skips the biases but n_weights counts them: n_weights is the number of non-bias weights.",
            _l1_penalty_variant(biases_in_count=True),
            edits=[("sum(w.size for w in weights)", "sum(w.size for w in params.values())")]),
    Mistake("not_divided_by_n_weights",
            "you did not divide by n_weights: the lecture's term is lam * L1_term / n_weights, "
            "lam times the mean |w|.",
            _l1_penalty_variant(divide=False),
            edits=[(" / n_weights\n", "\n")]),
    Mistake("squared_weights",
            "you summed w**2, which is the L2 (ridge) penalty: L1 (lasso) sums |w|.",
            _l1_penalty_variant(power=2),
            edits=[("np.abs(w).sum()", "(w ** 2).sum()")]),
    Mistake("forgot_abs",
            "you summed the signed weights, so positive and negative ones cancel: L1 sums |w|.",
            _l1_penalty_variant(absolute=False),
            edits=[("np.abs(w).sum()", "w.sum()")]),
)


def _l1_grad_variant(rule, *, biases=False, divide=True, bias_keys=True):
    def compute(params, lam):
        n = _count(params, biases) if divide else 1
        out = {}
        for name, w in params.items():
            w = np.asarray(w, dtype=np.float64)
            if "bias" in name and not biases:
                if bias_keys:
                    out[name] = np.zeros_like(w)
                continue
            out[name] = lam * rule(w) / n
        return out
    return compute


L1_GRAD_MISTAKES = (
    Mistake("l2_gradient",
            "you returned 2 * lam * w / n_weights, the gradient of the L2 penalty: the L1 subgradient is "
            "lam * sign(w) / n_weights.",
            _l1_grad_variant(lambda w: 2.0 * w),
            edits=[("lam * np.sign(w) / n_weights", "2 * lam * w / n_weights")]),
    Mistake("sign_of_zero_is_one",
            "at w = 0 your subgradient is +lam / n_weights: |w| has no slope there, and torch (like np.sign) "
            "uses 0, so a zero weight stays exactly zero.",
            _l1_grad_variant(lambda w: np.where(w >= 0, 1.0, -1.0)),
            edits=[("np.sign(w)", "np.where(w >= 0, 1.0, -1.0)")]),
    Mistake("included_biases",
            "you penalised the biases too: the lecture's L1 term skips names containing 'bias', so their "
            "gradient is 0 and n_weights counts only the weights.",
            _l1_grad_variant(np.sign, biases=True),
            edits=[(" if 'bias' not in name)", ")"),
                   ("        if 'bias' in name:\n            grads[name] = np.zeros_like(w)\n        else:\n"
                    "            grads[name]", "        grads[name]")]),
    Mistake("not_divided_by_n_weights",
            "you did not divide by n_weights: the penalty is lam * sum|w| / n_weights, so its subgradient is "
            "lam * sign(w) / n_weights.",
            _l1_grad_variant(np.sign, divide=False),
            edits=[("lam * np.sign(w) / n_weights", "lam * np.sign(w)")]),
    Mistake("missing_bias_entries",
            "your dict has no entries for the biases: return one gradient per parameter, zeros for the biases, "
            "so an optimizer can update every parameter from it.",
            _l1_grad_variant(np.sign, bias_keys=False),
            edits=[("            grads[name] = np.zeros_like(w)\n", "            continue\n")]),
)


# ---- Q7 lr_schedule: StepLR and ExponentialLR --------------------------------------------------------------


def lr_schedule_reference(kind: str, lr0: float, gamma: float, epochs: int, step_size: int = 1) -> np.ndarray:
    """The lr of epoch e = 0 … epochs−1 (after e scheduler.step() calls): lr0·γ^⌊e/step_size⌋ or lr0·γ^e."""
    if kind == "step":
        return np.array([optim.step_lr(lr0, e, step_size, gamma) for e in range(epochs)])
    if kind == "exponential":
        return np.array([optim.exponential_lr(lr0, e, gamma) for e in range(epochs)])
    raise ValueError(f"kind must be 'step' or 'exponential', got {kind!r}")


def _schedule_variant(step_exponent, exp_rule=None):
    def compute(kind, lr0, gamma, epochs, step_size=1):
        if kind == "step":
            return np.array([lr0 * gamma ** step_exponent(e, step_size) for e in range(epochs)])
        rule = exp_rule or (lambda lr0, gamma, e: lr0 * gamma ** e)
        return np.array([rule(lr0, gamma, e) for e in range(epochs)])
    return compute


def public_lr_schedule() -> list[Case]:
    return [
        Case(("step", 0.1, 0.5, 7), {"step_size": 3}, label="StepLR: lr0=0.1, gamma=0.5, step_size=3, 7 epochs"),
        Case(("exponential", 1.0, 0.9, 4), label="ExponentialLR: lr0=1, gamma=0.9, 4 epochs"),
        Case(("step", 1.0, 0.1, 5), {"step_size": 2}, label="StepLR: lr0=1, gamma=0.1, step_size=2, 5 epochs"),
        Case(("exponential", 0.5, 0.8, 5), {"step_size": 3},
             label="ExponentialLR: lr0=0.5, gamma=0.8, 5 epochs, step_size=3 (StepLR's: ignored here)"),
    ]


def hidden_lr_schedule(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(2):
        cases.append(Case(("step", float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.1, 0.9)),
                           int(rng.integers(8, 20))), {"step_size": int(rng.integers(2, 6))}))
        cases.append(Case(("exponential", float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.5, 0.99)),
                           int(rng.integers(3, 15)))))
        # ExponentialLR with a step_size handed over too: it ignores it (a formula using it is StepLR)
        cases.append(Case(("exponential", float(rng.uniform(0.01, 1.0)), float(rng.uniform(0.5, 0.99)),
                           int(rng.integers(6, 15))), {"step_size": int(rng.integers(2, 6))}))
    cases.append(Case(("step", 0.5, 0.1, 1), {"step_size": 10}))  # a single epoch: lr0
    cases.append(Case(("step", 0.2, 0.5, 6), {"step_size": 1}))  # step_size 1 is ExponentialLR
    cases.append(Case(("exponential", 0.3, 1.0, 5)))  # gamma 1: constant
    return cases


LR_SCHEDULE_MISTAKES = (
    Mistake("decayed_before_first_epoch",
            "your schedule is one epoch ahead (the decay counts e + 1, as when scheduler.step() is called before "
            "the epoch's training): epoch 0 trains with lr0, and the lr of epoch e is lr0 * gamma**(e // step_size) "
            "for StepLR and lr0 * gamma**e for ExponentialLR.",
            _schedule_variant(lambda e, s: (e + 1) // s, lambda lr0, gamma, e: lr0 * gamma ** (e + 1)),
            edits=[("gamma ** (e // step_size)", "gamma ** ((e + 1) // step_size)"),
                   ("gamma ** e ", "gamma ** (e + 1) ")]),
    Mistake("decayed_every_epoch",
            "your StepLR decays every epoch: it multiplies by gamma only every step_size epochs, "
            "lr0 * gamma**(e // step_size).",
            _schedule_variant(lambda e, s: e),
            edits=[("gamma ** (e // step_size)", "gamma ** e")]),
    Mistake("no_floor",
            "your StepLR decays smoothly, gamma**(e / step_size): it is a staircase, gamma**(e // step_size) "
            "(integer division), constant for step_size epochs at a time.",
            _schedule_variant(lambda e, s: e / s),
            edits=[("gamma ** (e // step_size)", "gamma ** (e / step_size)")]),
    Mistake("exp_of_gamma",
            "your ExponentialLR is lr0 * exp(-gamma * e): torch's multiplies by gamma every epoch, lr0 * gamma**e.",
            _schedule_variant(lambda e, s: e // s, lambda lr0, gamma, e: lr0 * np.exp(-gamma * e)),
            edits=[("lr0 * gamma ** e ", "lr0 * np.exp(-gamma * e) ")]),
)


# ---- Q8 adam: torch.optim.Adam's exact update over k given gradients -------------------------------------------


def adam_reference(theta0, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
    """θ⁰ and the k parameters after each torch.optim.Adam step with the given gradients: shape (k+1, *θ.shape)."""
    theta, state, steps = np.asarray(theta0, dtype=np.float64), None, []
    for g in np.asarray(grads, dtype=np.float64):
        theta, state = optim.adam_step(theta, g, state, lr=lr, betas=tuple(betas), eps=eps,
                                       weight_decay=weight_decay)
        steps.append(theta)
    return _trajectory(theta0, steps)


def _adam_mistake(*, correct=True, eps_inside=False, misread_power=False, offset=0, decoupled=False):
    def compute(theta0, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        beta1, beta2 = betas
        theta = np.asarray(theta0, dtype=np.float64)
        m, v, steps = np.zeros_like(theta), np.zeros_like(theta), []
        for t, g in enumerate(np.asarray(grads, dtype=np.float64), start=1):
            if decoupled:
                theta = theta * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * theta
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            if not correct:
                m_hat, v_hat = m, v
            elif misread_power:
                m_hat, v_hat = m / (1 - beta1) ** t, v / (1 - beta2) ** t
            else:
                m_hat, v_hat = m / (1 - beta1 ** (t + offset)), v / (1 - beta2 ** (t + offset))
            denom = np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps
            theta = theta - lr * m_hat / denom
            steps.append(theta)
        return _trajectory(theta0, steps)
    return compute


def public_adam() -> list[Case]:
    return [
        Case((np.array([1.0, -1.0]), np.array([[0.5, -2.0], [0.5, -2.0], [-1.0, 1.0]])), {"lr": 0.1},
             label="theta0=[1, -1], 3 steps, lr=0.1 (first step moves each entry by about lr)"),
        Case((np.array([0.5]), np.array([[1e-4], [2e-4], [-1e-4]])), {"lr": 0.01},
             label="tiny gradients (1e-4), lr=0.01: where eps goes matters"),
        Case((np.array([[1.0, -2.0], [0.5, 0.0]]), np.array([[[0.1, 0.2], [-0.3, 1.0]], [[0.2, -0.1], [0.0, 0.5]]])),
             {"lr": 0.05, "betas": (0.8, 0.99), "weight_decay": 0.1},
             label="2x2 theta, lr=0.05, betas=(0.8, 0.99), weight_decay=0.1, 2 steps"),
    ]


def hidden_adam(rng: np.random.Generator) -> list[Case]:
    cases = []
    for kwargs, scale in (({"lr": 0.01}, 1.0),
                          ({"lr": 0.1, "betas": (0.5, 0.9)}, 1.0),
                          ({"lr": 0.05, "weight_decay": 0.1}, 1.0),
                          ({"lr": 0.001}, 1e-4),  # gradients of the size of sqrt(eps)
                          ({"lr": 0.05, "eps": 1e-3, "weight_decay": 0.01}, 0.1)):
        d, k = int(rng.integers(1, 6)), int(rng.integers(2, 7))
        cases.append(Case((rng.normal(size=d), scale * rng.normal(size=(k, d))), dict(kwargs)))
    cases.append(Case((rng.normal(size=(2, 3)), rng.normal(size=(3, 2, 3))), {"lr": 0.02}))
    cases.append(Case((rng.normal(size=3), rng.normal(size=(1, 3))), {"lr": 0.1}))  # one step
    return cases


ADAM_MISTAKES = (
    Mistake("no_bias_correction",
            "you used m and v without bias correction: they start at 0, so torch divides them by (1 - beta1**t) "
            "and (1 - beta2**t) at step t (t = 1, 2, ...).",
            _adam_mistake(correct=False),
            edits=[("m / (1 - beta1 ** t)", "m"), ("v / (1 - beta2 ** t)", "v")]),
    Mistake("eps_inside_sqrt",
            "you put eps inside the square root, sqrt(v_hat + eps): torch adds it after, sqrt(v_hat) + eps.",
            _adam_mistake(eps_inside=True),
            edits=[("(np.sqrt(v_hat) + eps)", "np.sqrt(v_hat + eps)")]),
    Mistake("bias_correction_power_misread",
            "your bias correction divides by (1 - beta)**t: it is 1 - beta**t, one minus the t-th power of beta.",
            _adam_mistake(misread_power=True),
            edits=[("(1 - beta1 ** t)", "(1 - beta1) ** t"), ("(1 - beta2 ** t)", "(1 - beta2) ** t")]),
    Mistake("bias_correction_off_by_one",
            "your bias correction uses the power t + 1: at the first step (t = 1) torch divides by 1 - beta1 and "
            "1 - beta2, so the first step moves each entry by about lr.",
            _adam_mistake(offset=1),
            edits=[("enumerate(grads, start=1)", "enumerate(grads, start=2)")]),
    Mistake("decoupled_weight_decay",
            "you decayed the weights directly, theta *= 1 - lr * weight_decay (that is AdamW): torch.optim.Adam "
            "adds weight_decay * theta to the gradient before the moment updates.",
            _adam_mistake(decoupled=True),
            edits=[("        g = g + weight_decay * theta\n",
                    "        theta = theta * (1 - lr * weight_decay)\n")]),
)


# ---- Q9 run_gd: full-batch gradient descent on linear regression, the loss trajectory -------------------------


def run_gd_reference(X: np.ndarray, y: np.ndarray, lr: float, steps: int) -> np.ndarray:
    """J(θ⁰), …, J(θ^steps) of ŷ = Xw + b, J = mean (ŷ − y)², θ⁰ = 0, full-batch GD; inf once it overflows."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w, b = np.zeros(X.shape[1]), np.zeros(1)
    out = np.full(steps + 1, np.inf)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(steps + 1):
            if not (np.isfinite(w).all() and np.isfinite(b).all()):
                break  # diverged past float64: the rest stays inf
            prediction = X @ w + b
            out[step] = losses.mse_loss(prediction, y)
            if step == steps:
                break
            dJ_dpred = losses.mse_loss_grad(prediction, y)  # 2 (ŷ − y) / n
            grad_w, grad_b = X.T @ dJ_dpred, dJ_dpred.sum(keepdims=True)
            if not (np.isfinite(grad_w).all() and np.isfinite(grad_b).all()):
                break  # the prediction overflowed (inf − inf in the gradient): diverged, the rest stays inf
            w = optim.gd_step(w, grad_w, lr)
            b = optim.gd_step(b, grad_b, lr)
    return out


def _run_gd_variant(*, scale=1.0, bias=True, sign=1.0, before_step_only=False):
    """GD whose gradient is multiplied by ``scale`` (0.5: the ½ of L = ½(ŷ − y)², n: a sum instead of a mean)."""
    def compute(X, y, lr, steps):
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
        n = X.shape[0]
        factor = n if scale == "n" else scale
        w, b, out = np.zeros(X.shape[1]), 0.0, []
        for step in range(steps + 1):
            r = X @ w + b - y
            out.append(np.mean(r ** 2))
            if step == steps:
                break
            w = w - sign * lr * factor * 2 * X.T @ r / n
            if bias:
                b = b - sign * lr * factor * 2 * r.sum() / n
        return np.array(out[:-1] if before_step_only else out)
    return compute


def _sum_regression(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    return datasets.make_sum_regression(n, d, rng)


def _max_curvature(X: np.ndarray) -> float:
    """λ_max of the Hessian (2/n)·[X 1]ᵀ[X 1] of J: gradient descent diverges for lr > 2/λ_max."""
    A = np.column_stack([X, np.ones(len(X))])
    return float(np.linalg.eigvalsh(2.0 / len(X) * A.T @ A)[-1])


def public_run_gd() -> list[Case]:
    X1 = np.array([[1.0], [2.0], [3.0]])
    X2 = np.array([[0.5, -1.0], [1.5, 0.0], [-1.0, 2.0], [0.0, 1.0]])
    return [
        Case((X1, X1.sum(axis=1), 0.1, 2), label="X=[[1],[2],[3]], y=sum(X)=[1,2,3], lr=0.1, 2 steps"),
        Case((X2, X2.sum(axis=1), 0.05, 5), label="4x2 X, y=sum(X), lr=0.05, 5 steps"),
        Case((X2, X2.sum(axis=1), 0.6, 4), label="same X, lr=0.6 (too large: the loss grows), 4 steps"),
    ]


def hidden_run_gd(rng: np.random.Generator) -> list[Case]:
    cases = []
    for factor in (0.05, 0.5, 1.0, 1.9, 2.3):  # lr as a fraction of the stability limit 2/λ_max
        X, y = _sum_regression(rng, int(rng.integers(5, 30)), int(rng.integers(1, 5)))
        lr = factor * 2.0 / _max_curvature(X) * float(rng.uniform(0.9, 1.0))
        cases.append(Case((X, y, lr, int(rng.integers(3, 25)))))
    X = rng.normal(size=(8, 3))
    y = X @ rng.normal(size=3) + float(rng.normal())  # a target with an intercept
    cases.append(Case((X, y, 0.05, 10)))
    X, y = _sum_regression(rng, 6, 2)
    cases.append(Case((X, y, 0.1, 0)))  # no step: only the initial loss mean(y²)
    return cases


RUN_GD_MISTAKES = (
    Mistake("half_mse_gradient",
            "your gradient is half the MSE's: d/dy_hat mean((y_hat - y)^2) = 2 (y_hat - y) / n. The 1/2 of the "
            "notes' L = 1/2 (y_hat - y)^2 is not in the loss you are asked to record (torch's MSELoss).",
            _run_gd_variant(scale=0.5),
            edits=[("lr * 2 * X.T @ residual / n", "lr * X.T @ residual / n"),
                   ("lr * 2 * residual.sum() / n", "lr * residual.sum() / n")]),
    Mistake("summed_gradient",
            "your gradient sums over the samples: the loss is a mean, so its gradient is "
            "2 X^T (y_hat - y) / n (and 2 sum(y_hat - y) / n for b).",
            _run_gd_variant(scale="n"),
            edits=[("lr * 2 * X.T @ residual / n", "lr * 2 * X.T @ residual"),
                   ("lr * 2 * residual.sum() / n", "lr * 2 * residual.sum()")]),
    Mistake("bias_not_trained",
            "your bias b never moves: the model is y_hat = X w + b and b is trained too, "
            "with dJ/db = 2 sum(y_hat - y) / n.",
            _run_gd_variant(bias=False),
            edits=[("        b = b - lr * 2 * residual.sum() / n\n", "")]),
    Mistake("gradient_ascent",
            "you added the gradient: gradient descent steps against it, theta <- theta - lr * grad.",
            _run_gd_variant(sign=-1.0),
            edits=[("w = w - lr", "w = w + lr"), ("b = b - lr", "b = b + lr")]),
    Mistake("lecture_loop_losses",
            "you recorded the loss only before each step, as the lecture's training loop does (steps values): "
            "return steps + 1 values, the loss at the start and after every step.",
            _run_gd_variant(before_step_only=True),
            edits=[("for step in range(steps + 1):", "for step in range(steps):"),
                   ("        if step == steps:\n            break\n", "")]),
)


# ---- Q10 lr_regimes: which learning rates diverge, which are too slow (judged) --------------------------------


GOOD, SLOW, DIVERGES = 0, 1, 2
REGIME_WORDS = {GOOD: "0 (fine)", SLOW: "1 (too slow)", DIVERGES: "2 (diverges)"}
SLOW_FRACTION = 0.1  # "too slow": the final loss is still above this fraction of the initial loss
BAND = 0.01  # a final loss within 1% of a threshold may be called either way


def _code(first: float, last: float, first_step: float | None = None, absolute: bool = False,
          nan_blind: bool = False) -> int:
    """The regime of one run from its initial and final losses (the keywords switch on known mistakes: judging
    divergence by the first step's loss, an absolute 0.1 threshold, or ignoring an overflow)."""
    grew = bool((first_step if first_step is not None else last) > first)
    diverged = grew if nan_blind else (not np.isfinite(last) or grew)
    if diverged:
        return DIVERGES
    return SLOW if last > (SLOW_FRACTION if absolute else SLOW_FRACTION * first) else GOOD


def lr_regimes_reference(X: np.ndarray, y: np.ndarray, lrs: Sequence[float], steps: int) -> np.ndarray:
    """Per lr: 2 if the loss after `steps` GD steps is not finite or above the initial loss, 1 if it is still
    above a tenth of the initial loss, else 0."""
    codes = []
    for lr in lrs:
        trajectory = run_gd_reference(X, y, lr, steps)
        codes.append(_code(trajectory[0], trajectory[-1]))
    return np.array(codes, dtype=np.int64)


def _acceptable(first: float, last: float) -> set[int]:
    """The codes a careful answer may give: the exact one, or either side when the final loss sits on a
    threshold (within BAND of it), where rounding may fairly tip the decision."""
    accepted = {_code(first, last)}
    if np.isfinite(last):
        if abs(last - first) <= BAND * first:
            accepted |= {DIVERGES, SLOW if last > SLOW_FRACTION * first else GOOD}
        if abs(last - SLOW_FRACTION * first) <= BAND * SLOW_FRACTION * first:
            accepted |= {SLOW, GOOD}
    return accepted


def judge_lr_regimes(case: Case, answer: Any) -> Verdict:
    """Each code must agree with the reference trajectory of its lr; the message never shows the inputs."""
    X, y, lrs, steps = case.args
    array = getattr(answer, "array", None)
    if array is None:
        return Verdict(False, f"expected an int64 array of {len(lrs)} codes (0, 1 or 2), got {answer.describe()}")
    if array.shape != (len(lrs),):
        return Verdict(False, f"expected one code per learning rate, shape ({len(lrs)},), got shape {array.shape}")
    if array.dtype.kind not in "iu":
        return Verdict(False, f"expected integer codes (an int64 array), got dtype {getattr(answer, 'dtype', '?')}")
    wrong = []
    for position, (lr, code) in enumerate(zip(lrs, array.tolist(), strict=True), 1):
        trajectory = run_gd_reference(X, y, lr, steps)
        accepted = _acceptable(trajectory[0], trajectory[-1])
        if code not in accepted:
            truth = _code(trajectory[0], trajectory[-1])
            why = {DIVERGES: "its final loss is above the initial one (or overflows)",
                   SLOW: "it does not diverge, but its final loss is still above a tenth of the initial one",
                   GOOD: "its final loss is at most a tenth of the initial one"}[truth]
            said = REGIME_WORDS.get(code, repr(code))
            wrong.append(f"learning rate #{position} of {len(lrs)}: you answered {said}, but {why}, "
                         f"so it is {REGIME_WORDS[truth]}")
    if wrong:
        return Verdict(False, "; ".join(wrong[:3]) + (f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else ""))
    return Verdict(True)


def _regimes_variant(**rule: bool):
    def compute(X, y, lrs, steps):
        codes = []
        for lr in lrs:
            trajectory = _run_gd_variant()(X, y, lr, steps)
            first_step = trajectory[1] if rule.get("first_step_only") and steps >= 1 else None
            codes.append(_code(trajectory[0], trajectory[-1], first_step, rule.get("absolute", False),
                               rule.get("nan_blind", False)))
        return np.array(codes, dtype=np.int64)
    return compute


def _silently(function):
    def wrapped(*args, **kwargs):
        with np.errstate(over="ignore", invalid="ignore"):
            return function(*args, **kwargs)
    return wrapped


# The lecture's picture in two dimensions: a steep direction (curvature 100) that holds little of the loss
# and a flat one (curvature 1) that holds most of it. Just above 2/100 the first steps still lower the loss
# (the flat direction dominates) while the steep one blows up.
VALLEY_X = np.array([[10.0, 0.0], [-10.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
VALLEY_Y = np.array([0.1, -0.1, 1.0, -1.0])


def public_lr_regimes() -> list[Case]:
    X = np.array([[0.5, -1.0], [1.5, 0.0], [-1.0, 2.0], [0.0, 1.0], [1.0, 1.0], [-0.5, -0.5]])
    return [
        Case((VALLEY_X, VALLEY_Y, [0.001, 0.01, 0.015, 0.021, 100.0], 100),
             label="valley X (curvatures 100 and 1), lrs=[0.001, 0.01, 0.015, 0.021, 100], 100 steps"),
        Case((X, X.sum(axis=1), [0.001, 0.1, 0.3, 1.0], 30),
             label="6x2 X, y=sum(X), lrs=[0.001, 0.1, 0.3, 1], 30 steps"),
    ]


def _hidden_regime_case(rng: np.random.Generator, target_scale: float) -> Case:
    """A valley like the public one, in a random rotation, with lrs in every regime, including one that lowers
    the loss at first and still diverges, and one that overflows."""
    n, steps = int(rng.integers(8, 16)), 60
    run = _silently(_run_gd_variant())  # plain numpy GD for the search; the codes come from the reference
    for _ in range(50):
        rotation = np.linalg.qr(rng.normal(size=(2, 2)))[0]
        Z = rng.normal(size=(n, 2))
        Z -= Z.mean(axis=0)
        X = (Z * np.array([float(rng.uniform(3.0, 5.0)), 1.0])) @ rotation.T
        y = target_scale * (Z @ np.array([float(rng.uniform(0.01, 0.05)), 1.0]))
        limit = 2.0 / _max_curvature(X)
        lrs = [float(limit * f * rng.uniform(0.95, 1.05)) for f in (0.002, 0.5)]
        sneaky = next((limit * f for f in (1.01, 1.02, 1.05, 1.1, 1.2, 1.5)
                       if (t := run(X, y, limit * f, steps))[1] < t[0] < t[-1]), None)
        if sneaky is None:
            continue
        lrs += [float(sneaky), float(limit * 1e5)]
        order = rng.permutation(len(lrs))
        case = Case((X, y, [lrs[i] for i in order], steps))
        if not all(len(_acceptable(t[0], t[-1])) == 1 for t in (run(X, y, lr, steps) for lr in case.args[2])):
            continue  # keep hidden cases clear of the thresholds' tolerance bands
        try:
            codes = lr_regimes_reference(*case.args)
        except ValueError:  # the overflowing lr reached NaN (inf - inf), which the reference refuses: draw again
            continue
        if {GOOD, SLOW, DIVERGES} <= set(codes.tolist()):
            return case
    raise RuntimeError("could not build a learning-rate case")  # pragma: no cover - 50 tries always suffice


def _near_the_slow_threshold(rng: np.random.Generator) -> Case:
    """A few steps with an lr whose final loss lands between 5.5% and 9% of the initial one (fine, but close to
    the tenth) while the loss one step earlier is above 11% of it and the first step alone halves it: told apart
    from a tighter threshold (0.05), from the loss before the last step and from a tenth of the loss after the
    first step; with a tiny lr (too slow) and one above the limit (diverges). The initial loss is below 0.1, so
    a student comparing with 0.1 itself (absolute_threshold) is not named for another slip here."""
    run = _silently(_run_gd_variant())
    for _ in range(50):
        X, y = _sum_regression(rng, int(rng.integers(10, 20)), 3)
        y = y * np.sqrt(0.05 / np.mean(y ** 2))  # J(0) = mean(y^2) = 0.05; GD's loss ratios do not change
        limit, steps = 2.0 / _max_curvature(X), int(rng.integers(3, 7))
        for factor in np.geomspace(0.01, 0.99, 200):
            trajectory = run(X, y, limit * factor, steps)
            ratios = trajectory / trajectory[0]
            if 0.055 < ratios[-1] < 0.09 and ratios[-2] > 0.11 and ratios[1] <= 0.5:
                lrs = [limit * factor, limit * 0.001, limit * 1.5]
                case = Case((X, y, [float(lrs[i]) for i in rng.permutation(3)], steps),
                            label="a few steps, one lr ending between 5% and 10% of the initial loss")
                runs = [run_gd_reference(X, y, lr, steps) for lr in case.args[2]]
                if all(len(_acceptable(t[0], t[-1])) == 1 for t in runs) and \
                        {GOOD, SLOW, DIVERGES} <= set(lr_regimes_reference(*case.args).tolist()):
                    return case
                break
    raise RuntimeError("could not build a learning-rate case near the threshold")  # pragma: no cover


def hidden_lr_regimes(rng: np.random.Generator) -> list[Case]:
    cases = [_hidden_regime_case(rng, 1.0), _hidden_regime_case(rng, 0.2)]  # 0.2: initial loss below 0.1
    X, y = _sum_regression(rng, int(rng.integers(10, 20)), 3)
    limit = 2.0 / _max_curvature(X)
    cases.append(Case((X, y, [limit * 0.001, limit * 0.4, limit * 1.5], 40)))
    cases.append(_near_the_slow_threshold(rng))
    return cases


LR_REGIME_MISTAKES = (
    Mistake("first_step_only",
            "you called an lr divergent only when the first step raised the loss: just above the stability limit "
            "the first steps can still lower it before the steep direction blows up. Compare the final loss "
            "with the initial one.",
            _silently(_regimes_variant(first_step_only=True)),
            edits=[("losses[-1] > losses[0]:\n", "losses[1] > losses[0]:\n")]),
    Mistake("absolute_threshold",
            "you compared the final loss with 0.1 itself: too slow means still above a tenth of the initial "
            "loss, 0.1 * losses[0].",
            _silently(_regimes_variant(absolute=True)),
            edits=[("losses[-1] > 0.1 * losses[0]", "losses[-1] > 0.1")]),
    Mistake("overflow_not_divergent",
            "a loss that overflowed to inf or nan fails every comparison (nan > x is False), so you called it "
            "fine: check np.isfinite(losses[-1]) first: an overflow is a divergence.",
            _silently(_regimes_variant(nan_blind=True)),
            edits=[("not np.isfinite(losses[-1]) or losses[-1] > losses[0]",
                    "losses[-1] > losses[0]")]),
)


# ---- the suite -------------------------------------------------------------------------------------------------

SUITE = Suite(
    assignment="sgd",
    questions=(
        Question(
            name="gd_step", cell="gd_step_solution", entry="gd_step", reference=optim.gd_step,
            public=public_gd_step, hidden=hidden_gd_step, banned=BANNED, numpy_only=True, autograd=False,
            mistakes=GD_STEP_MISTAKES,
            hint="one step against the gradient, scaled by the learning rate: theta - lr * grad, elementwise.",
        ),
        Question(
            name="worked_update", cell="worked_update_solution", entry="updated_params", kind="variable",
            reference=worked_update_reference, public=public_worked_update, numbers="scalar_network",
            # Typed by hand: the exact answers are short decimals, so nothing needs rounding; the tolerance only
            # forgives a student who computed them in floating point and pasted 1e-6-close digits.
            rtol=1e-6, atol=1e-9, banned=BANNED, numpy_only=True, mistakes=WORKED_MISTAKES,
            hint="redo the forward pass and the chain rule for each parameter with your numbers, then "
                 "theta' = theta - lr * dl/dtheta.",
        ),
        Question(
            name="minibatches", cell="minibatches_solution", entry="minibatches",
            reference=minibatches_reference, public=public_minibatches, hidden=hidden_minibatches,
            dtype="int", banned=BANNED, numpy_only=True, autograd=False, mistakes=MINIBATCH_MISTAKES,
            hint="build rng = np.random.default_rng(seed), call rng.permutation(n) once, and slice it.",
        ),
        Question(
            name="sgd_momentum", cell="sgd_momentum_solution", entry="sgd_trajectory", reference=sgd_reference,
            public=public_sgd, hidden=hidden_sgd, banned=BANNED, numpy_only=True, autograd=False,
            mistakes=SGD_MISTAKES,
            hint="per step, in torch's order: g + weight_decay * theta; buf = g on the first step, later "
                 "momentum * buf + (1 - dampening) * g; nesterov steps along g + momentum * buf; "
                 "theta -= lr * that.",
        ),
        Question(
            name="l1_penalty", cell="l1_penalty_solution", entry="l1_penalty", reference=l1_penalty_reference,
            public=public_l1, hidden=hidden_l1, banned=BANNED, autograd=False, mistakes=L1_PENALTY_MISTAKES,
            numpy_only=True,
            hint="sum |w| over the parameters whose name has no 'bias', times lam, divided by how many such "
                 "weights there are.",
        ),
        Question(
            name="l1_grad", cell="l1_grad_solution", entry="l1_penalty_grad", reference=l1_grad_reference,
            public=public_l1, hidden=hidden_l1, banned=BANNED, autograd=False, mistakes=L1_GRAD_MISTAKES,
            numpy_only=True,
            hint="one entry per parameter: lam * sign(w) / n_weights for a weight (0 where w = 0), zeros for a "
                 "bias.",
        ),
        Question(
            name="lr_schedule", cell="lr_schedule_solution", entry="lr_schedule", reference=lr_schedule_reference,
            public=public_lr_schedule, hidden=hidden_lr_schedule, banned=BANNED, numpy_only=True, autograd=False,
            mistakes=LR_SCHEDULE_MISTAKES,
            hint="the lr of epoch e (e = 0, 1, ...): lr0 * gamma ** (e // step_size) for 'step', lr0 * gamma ** e "
                 "for 'exponential' (step_size does not apply there).",
        ),
        Question(
            name="adam", cell="adam_solution", entry="adam_trajectory", reference=adam_reference,
            public=public_adam, hidden=hidden_adam, banned=BANNED, autograd=False, mistakes=ADAM_MISTAKES,
            numpy_only=True,
            hint="per step t = 1, 2, ...: g + weight_decay * theta; m and v as running averages of g and g*g; "
                 "divide them by 1 - beta1**t and 1 - beta2**t; theta -= lr * m_hat / (sqrt(v_hat) + eps).",
        ),
        Question(
            name="run_gd", cell="run_gd_solution", entry="run_gd", reference=run_gd_reference,
            public=public_run_gd, hidden=hidden_run_gd, banned=BANNED, autograd=False, mistakes=RUN_GD_MISTAKES,
            numpy_only=True,
            hint="w = 0, b = 0; record mean((X w + b - y)**2) before the first step and after each of the steps "
                 "(steps + 1 values); the gradients are 2 X^T r / n and 2 sum(r) / n with r = X w + b - y.",
            # Default tolerance even for the diverging runs: relative rounding errors grow only linearly with
            # the (at most 25) steps, to ~1e-14, far below 1e-7 and far below any mistake's effect.
        ),
        Question(
            name="lr_regimes", cell="lr_regimes_solution", entry="lr_regimes", reference=lr_regimes_reference,
            uses=("run_gd",),
            public=public_lr_regimes, hidden=hidden_lr_regimes, judge=judge_lr_regimes, dtype="int",
            banned=BANNED, numpy_only=True, autograd=False, mistakes=LR_REGIME_MISTAKES,
            hint="the codes are judged with the reference's loss curves: if run_gd (question 9) fails, fix it first.",
        ),
    ),
    notebook=NOTEBOOK,  # each mistake's code: its question's solution cell with its edits
)
