"""Test gaps closed: plausible wrong formulas that used to pass every public and hidden case now fail some, judged
on the trusted side exactly as the grader judges the worker's answers (reference comparison or judge)."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from autograders import backprop, sgd
from dlgrade.checking.answers import from_value
from dlgrade.checking.compare import compare
from dlgrade.solution_cells import solution_sources
from dlgrade.suite import Question

SEEDS = range(4)


def failed_cases(question: Question, student: Callable[..., Any], harness: Callable[..., Any] | None = None) -> int:
    """How many of the public cases and of SEEDS' hidden cases the student's function fails."""
    cases = list(question.public())
    for seed in SEEDS:
        cases += list(question.hidden(np.random.default_rng([seed, 7])))
    failed = 0
    for case in cases:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            value = harness(student, *case.args) if harness else case.call(student)
        answer = from_value(value)
        if question.judge is not None:
            failed += not question.judge(case, answer).passed
        else:
            failed += not compare(answer, case.call(question.reference), rtol=question.rtol, atol=question.atol,
                                  dtype=question.dtype, names=question.output_names).passed
    return failed


# ---- sgd.lr_schedule: ExponentialLR never got a step_size -------------------------------------------------------


def staircase_for_both(kind: str, lr0: float, gamma: float, epochs: int, step_size: int = 1) -> np.ndarray:
    return np.array([lr0 * gamma ** (e // step_size) for e in range(epochs)])  # ExponentialLR has no step_size


def test_an_exponential_schedule_that_uses_step_size_fails():
    question = sgd.SUITE.question("lr_schedule")
    assert failed_cases(question, sgd.lr_schedule_reference) == 0
    # the public ExponentialLR case with step_size=3, and one per seed (two exponential cases each)
    assert failed_cases(question, staircase_for_both) == 1 + 2 * len(SEEDS)


# ---- backprop.gradcheck_linear: absolute errors, and the mean of the three ----------------------------------------


def _checker(error: Callable[[np.ndarray, np.ndarray], float], combine: Callable[[list[float]], float] = max):
    def gradcheck_linear(backward, numerical_gradient, input, weight, bias, grad_output):
        grad_input, grad_weight, grad_bias = backward(input, weight, grad_output)
        return float(combine([
            error(grad_input, numerical_gradient(lambda v: np.sum(grad_output * (v @ weight.T + bias)), input, 1e-6)),
            error(grad_weight, numerical_gradient(lambda v: np.sum(grad_output * (input @ v.T + bias)), weight,
                                                  1e-6)),
            error(grad_bias, numerical_gradient(lambda v: np.sum(grad_output * (input @ weight.T + v)), bias, 1e-6)),
        ]))
    return gradcheck_linear


def _gradcheck_harness(student, *args):
    return backprop._HARNESS["gradcheck_harness"](student, *args)


def relative(a, n):
    return np.linalg.norm(a - n) / max(np.linalg.norm(a) + np.linalg.norm(n), 1e-12)


@pytest.mark.parametrize("name, error, combine, fails", [
    ("the relative error of the text", relative, max, 0),
    # a correct backward on grad_output ~ 1e6 (public + 1 per seed), bugs on grad_output ~ 1e-6 (public + 2)
    ("an absolute error ||a - n||", lambda a, n: np.linalg.norm(a - n), max, 2 + 3 * len(SEEDS)),
    ("the largest absolute difference", lambda a, n: np.max(np.abs(a - n)), max, 2 + 3 * len(SEEDS)),
    # the subtle bug (weight gradient 0.4% off): relative error 2e-3, mean of the three 6.7e-4
    ("the mean of the three relative errors", relative, np.mean, len(SEEDS)),
])
def test_a_gradient_check_must_use_the_largest_relative_error(name, error, combine, fails):
    question = backprop.SUITE.question("gradcheck_linear")
    assert failed_cases(question, _checker(error, combine), _gradcheck_harness) == fails, name


# ---- backprop.numerical_gradient: the eps it is given -------------------------------------------------------------


def fixed_eps(f, x, eps=1e-6):
    """A central difference that ignores the eps it is given."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + 1e-5
        f_plus = f(x)
        x[i] = old - 1e-5
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / 2e-5
    return grad


def _numgrad_harness(student, *args):
    return backprop._HARNESS["numgrad_harness"](student, *args)


def test_a_numerical_gradient_that_ignores_eps_fails():
    question = backprop.SUITE.question("numerical_gradient")
    solution: dict[str, Any] = {"np": np}
    exec(solution_sources(backprop.NOTEBOOK)["numerical_gradient_solution"], solution)
    assert failed_cases(question, solution["numerical_gradient"], _numgrad_harness) == 0
    assert failed_cases(question, fixed_eps, _numgrad_harness) == 1 + len(SEEDS)  # the cases with eps 0.1-0.3


def test_the_central_difference_reference_is_the_exact_gradient_for_small_eps_and_not_for_large():
    question = backprop.SUITE.question("numerical_gradient")
    for case in question.public():
        function, A, x, eps = case.args
        gap = np.max(np.abs(question.reference(*case.args) - backprop._exact_gradient(function, A, x, eps)))
        assert gap < 1e-9 if eps <= 1e-4 else gap > 1e-3, (case.describe(), gap)


# ---- backprop.mlp_backward: relu'(0) ------------------------------------------------------------------------------


def relu_prime_one_at_zero(x, params, grad_output):
    inputs, pre, a = [], [], x
    for layer, (W, b) in enumerate(params):
        inputs.append(a)
        pre.append(a @ W.T + b)
        a = np.maximum(pre[-1], 0.0) if layer < len(params) - 1 else pre[-1]
    grads, delta = [None] * len(params), grad_output
    for layer in reversed(range(len(params))):
        grads[layer] = (delta.T @ inputs[layer], delta.sum(axis=0))
        delta = delta @ params[layer][0]
        if layer > 0:
            delta = delta * (pre[layer - 1] >= 0)
    return delta, grads


def test_an_mlp_backward_with_relu_prime_one_at_zero_fails():
    question = backprop.SUITE.question("mlp_backward")
    assert failed_cases(question, relu_prime_one_at_zero) == len(SEEDS)  # the case with pre-activations at 0
