"""Autograder for `backprop`: backpropagation by hand, numpy in / numpy out, autograd banned.

Part 1 is lecture 8's scalar worked example (y1 = w1·x + b1, y2 = ReLU(y1), y3 = w3·y2 + b3, l = (y3 − target)²,
one gradient step with lr), asked as hand-computed variables grouped in four tuples, on each student's own numbers
(my_numbers() in the notebook; dlgrade.checking.student_numbers): the lecture's numbers (x = 5, w1 = 3, b1 = 2,
w3 = −0.5, b3 = 4, target 2, lr = 1e-3) stay the worked example of the text. The notes' own numbers are checked
against torch autograd (tests/assignments/test_backprop_assignment.py): the forward values (y3 = −4.5, l = 42.25)
are right, but dl/dy3 is printed as −11.5 (it is 2·(−4.5) − 4 = −13), so dl/dx = 17.25 (it is 19.5); the
parameter gradients reuse dl/dy3 and dl/dx without the factors dy3/dw3 = y2 and dy1/dw1 = x; the update formula
is written with dl/dy_n for dl/dw_n; and w'_1 is printed as "w'_3 = −2.98275". The catalog recognises those slips
on every student's numbers: the printed numbers themselves (notes_slip), the lecture's right answers
(lecture_example), and the slides' structural slips computed on the student's numbers (notes_chain_values,
notes_gradients, chain_gradient_for_weight). No feedback text states a right answer.

Part 2 is the matrix form of unit 8: activation derivatives, the linear layer's backward, the 2-layer network
for BCE (sigmoid hidden, sigmoid output) and for cross-entropy (ReLU hidden, softmax output), an MLP of any
depth, a central-difference gradient checker (called through a harness with known test functions), and a
gradient check of a linear backward: the student's gradcheck_linear(backward, numerical_gradient, ...) gets
(through a harness) trusted central differences and either a correct linear backward, for which it must report
a relative error below 1e-6, or one with a planted bug, which it must flag (above 1e-3). The student runs it on
their own linear_backward and numerical_gradient in the notebook; grading it on trusted pieces keeps every
solution cell self-contained, so a mistake in one question costs points only there.
Losses are batch means (torch's default), not the sums of unit 8's slides; the notebook says so.

One source for every solution: the notebook's solution cells. Each known mistake is its question's solution cell
with small edits (Mistake.edits, applied when the suite is bound to the notebook), or, for an answer copied as
numbers, that cell with the numbers typed in (_typed); its compute is the trusted variant written here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dlgrade.solution_cells import solution_sources
from dlgrade.suite import Case, Mistake, Question, Suite, Verdict
from reference.activations import relu, relu_grad, sigmoid, sigmoid_grad, softmax, tanh, tanh_grad
from reference.backprop import ScalarBackprop, scalar_backprop_example, two_layer_backward
from reference.backprop import mlp_backward as _mlp_backward
from reference.layers import linear
from reference.layers import linear_backward as _linear_backward
from reference.losses import binary_cross_entropy_with_logits, cross_entropy

# "By hand": no autograd in any form, and autograd is switched off while the student's code runs.
BANNED = ("torch.autograd", ".backward", "torch.func", "functorch")

NOTEBOOK = Path(__file__).resolve().parent.parent / "assignments" / "backprop" / "backprop.ipynb"


def _round(rng: np.random.Generator, shape: tuple[int, ...], scale: float = 1.0) -> np.ndarray:
    """Random float64 values rounded to 2 decimals (readable in feedback, still generic)."""
    return np.round(rng.normal(0.0, scale, size=shape), 2)


# ============================================================================================================
# Part 1: the scalar worked example of lecture 8, by hand, with each student's own numbers
# ============================================================================================================

# The lecture's numbers: the worked example of the notebook's text, and the public case a release bakes the
# answers' form from. Students are graded on their own numbers (my_numbers(); Question.numbers).
LECTURE = {"x": 5.0, "w1": 3.0, "b1": 2.0, "w3": -0.5, "b3": 4.0, "target": 2.0, "lr": 1e-3}
_LECTURE_CASE = (Case(kwargs=LECTURE, label="lecture 8's example: x = 5, target 2, lr = 1e-3"),)


def _lecture_case() -> Sequence[Case]:
    return _LECTURE_CASE


Values = Callable[[ScalarBackprop], tuple[float, ...]]


def _on_numbers(values: Values) -> Callable[..., tuple[float, ...]]:
    """values(the worked example on the numbers it is called with): an answer, right or wrong, of any student."""
    def compute(**numbers: float) -> tuple[float, ...]:
        return tuple(float(v) for v in values(scalar_backprop_example(**numbers)))

    return compute


def _on_lecture(values: Values) -> Callable[..., tuple[float, ...]]:
    """values(the lecture's example), whatever the student's numbers: what copying the lecture gives."""
    answer = tuple(float(v) for v in values(scalar_backprop_example(**LECTURE)))

    def compute(**numbers: float) -> tuple[float, ...]:
        return answer

    return compute


def _printed(*values: float) -> Callable[..., tuple[float, ...]]:
    """The notes' printed numbers, whatever the student's numbers."""
    def compute(**numbers: float) -> tuple[float, ...]:
        return tuple(float(v) for v in values)

    return compute


def _forward(e: ScalarBackprop) -> tuple[float, ...]:
    return e.y1, e.y2, e.y3, e.loss


def _chain(e: ScalarBackprop) -> tuple[float, ...]:
    return e.dl_dy3, e.dl_dy2, e.dl_dy1, e.dl_dx


def _params(e: ScalarBackprop) -> tuple[float, ...]:
    return e.dl_dw3, e.dl_db3, e.dl_dw1, e.dl_db1


def _step(e: ScalarBackprop) -> tuple[float, ...]:
    return e.w3_new, e.b3_new, e.w1_new, e.b1_new


def _chain_from(dl_dy3: float, e: ScalarBackprop, relu_grad: float | None = None) -> tuple[float, ...]:
    """The chain below a given dl/dy3 (and a given ReLU derivative)."""
    dl_dy2 = dl_dy3 * e.w3
    dl_dy1 = dl_dy2 * (e.dy2_dy1 if relu_grad is None else relu_grad)
    return dl_dy3, dl_dy2, dl_dy1, dl_dy1 * e.w1


def _stepped(e: ScalarBackprop, grads: tuple[float, float, float, float], sign: float = 1.0) -> tuple[float, ...]:
    """One step from (w3, b3, w1, b1) with the given gradients (sign −1: up the gradient)."""
    return tuple(p - sign * e.lr * g for p, g in zip((e.w3, e.b3, e.w1, e.b1), grads, strict=True))


def _typed(cell: str, values: tuple[float, ...], names: tuple[str, ...]) -> str:
    """The notebook's solution cell ``cell`` with numbers typed in instead of the computation (how a copied
    answer looks)."""
    solution = solution_sources(NOTEBOOK)[cell]
    lines = [line for line in solution.splitlines() if line.endswith("= None")]
    lines += [f"{name} = {value!r}" for name, value in zip(names, values, strict=True)]
    return "\n".join(lines + [solution.rstrip("\n").splitlines()[-1]]) + "\n"


LECTURE_EXAMPLE = ("these are the answers for the lecture's example (x = 5, w1 = 3, b1 = 2, w3 = −0.5, b3 = 4, "
                   "target 2, lr = 1e-3), not for your own numbers: run the my_numbers() cell and compute with the "
                   "numbers it prints.")
NOTES_SLIP = ("these are the lecture notes' printed numbers for their own example, slips included (and not your "
              "numbers either): run the my_numbers() cell, then redo each step with the chain rule.")


def _scalar_questions() -> tuple[Question, ...]:
    common: dict[str, Any] = dict(
        kind="variable", public=_lecture_case, numbers="scalar_network", dtype="number", banned=BANNED,
        numpy_only=True, autograd=False,
        # Hand-typed decimals: every answer here is an exact short decimal, 1e-6 forgives only float noise.
        rtol=1e-6, atol=1e-9,
    )
    names = {
        "forward": ("y1", "y2", "y3", "loss"), "chain": ("dl_dy3", "dl_dy2", "dl_dy1", "dl_dx"),
        "params": ("dl_dw3", "dl_db3", "dl_dw1", "dl_db1"), "step": ("w3_new", "b3_new", "w1_new", "b1_new"),
    }
    lecture = scalar_backprop_example(**LECTURE)
    forward = Question(
        name="scalar_forward", cell="scalar_forward_solution", entry="forward_values",
        reference=_on_numbers(_forward), output_names=names["forward"],
        hint="go through the network one line at a time with your numbers: y1 = w1·x + b1, y2 = ReLU(y1), "
             "y3 = w3·y2 + b3, l = (y3 − target)²",
        mistakes=(
            Mistake("lecture_example", LECTURE_EXAMPLE, _on_lecture(_forward),
                    _typed("scalar_forward_solution", _forward(lecture), names["forward"])),
            Mistake(
                "layer_applied_to_x",
                "your y3 is computed from x instead of y2: the slip in the notes' FFN.forward (`y = "
                "self.layer2(x)`). Each layer takes the previous layer's output: y3 = w3·y2 + b3.",
                _on_numbers(lambda e: (e.y1, e.y2, e.w3 * e.x + e.b3, (e.w3 * e.x + e.b3 - e.target) ** 2)),
                edits=[("y3 = w3 * y2 + b3 ", "y3 = w3 * x + b3  ")],
            ),
            Mistake(
                "forgot_b3",
                "your y3 leaves out the bias: y3 = w3·y2 + b3.",
                _on_numbers(lambda e: (e.y1, e.y2, e.w3 * e.y2, (e.w3 * e.y2 - e.target) ** 2)),
                edits=[("y3 = w3 * y2 + b3 ", "y3 = w3 * y2      ")],
            ),
            Mistake(
                "target_added",
                "your loss adds the target instead of subtracting it: l = (y3 − target)².",
                _on_numbers(lambda e: (e.y1, e.y2, e.y3, (e.y3 + e.target) ** 2)),
                edits=[("loss = (y3 - target) ** 2", "loss = (y3 + target) ** 2")],
            ),
        ),
        **common,
    )
    chain = Question(
        name="scalar_chain_rule", cell="scalar_chain_rule_solution", entry="backward_values",
        reference=_on_numbers(_chain), output_names=names["chain"], uses=("scalar_forward",),
        hint="start from dl/dy3 = 2(y3 − target) with your y3, then multiply by one local derivative per step",
        mistakes=(
            Mistake("notes_slip", NOTES_SLIP + " The slides print dl/dy3 = −11.5, which is not 2·y3 − 4 at their "
                    "y3 = −4.5, and carry that slip down to dl/dx.", _printed(-11.5, 5.75, 5.75, 17.25),
                    _typed("scalar_chain_rule_solution", (-11.5, 5.75, 5.75, 17.25), names["chain"])),
            Mistake("lecture_example", LECTURE_EXAMPLE, _on_lecture(_chain),
                    _typed("scalar_chain_rule_solution", _chain(lecture), names["chain"])),
            Mistake(
                "forgot_factor_2",
                "your dl/dy3 misses the factor 2 of the square: d(y3 − target)²/dy3 = 2(y3 − target).",
                _on_numbers(lambda e: _chain_from(e.y3 - e.target, e)),
                edits=[("dl_dy3 = 2 * (y3 - target)  ", "dl_dy3 = y3 - target        ")],
            ),
            Mistake(
                "sign_flipped",
                "your dl/dy3 has the sign flipped: it is 2(y3 − target), positive when y3 is above the target "
                "(then increasing y3 raises the loss), and every later gradient flips with it.",
                _on_numbers(lambda e: _chain_from(2 * (e.target - e.y3), e)),
                edits=[("dl_dy3 = 2 * (y3 - target)  ", "dl_dy3 = 2 * (target - y3)  ")],
            ),
            Mistake(
                "relu_derivative_zero",
                "your ReLU derivative is on the wrong side: your y1 is positive, so dy2/dy1 = 1 (it is 0 only for "
                "y1 ≤ 0), and dl/dy1 = dl/dy2.",
                _on_numbers(lambda e: _chain_from(e.dl_dy3, e, relu_grad=0.0)),
                edits=[("(1 if y1 > 0 else 0)", "(0 if y1 > 0 else 1)")],
            ),
        ),
        **common,
    )
    params = Question(
        name="scalar_param_grads", cell="scalar_param_grads_solution", entry="param_grads",
        reference=_on_numbers(_params), output_names=names["params"], uses=("scalar_forward", "scalar_chain_rule"),
        hint="dl/dw3 = dl/dy3 · y2, dl/db3 = dl/dy3, dl/dw1 = dl/dy1 · x, dl/db1 = dl/dy1",
        mistakes=(
            Mistake("notes_slip", NOTES_SLIP + " The slides reuse their slipped dl/dy3 and dl/dx as the parameters' "
                    "gradients.", _printed(-11.5, -11.5, 17.25, 17.25),
                    _typed("scalar_param_grads_solution", (-11.5, -11.5, 17.25, 17.25), names["params"])),
            Mistake("lecture_example", LECTURE_EXAMPLE, _on_lecture(_params),
                    _typed("scalar_param_grads_solution", _params(lecture), names["params"])),
            Mistake(
                "notes_chain_values",
                "you took dl/dy3 as the gradient of w3 and b3 and dl/dx as the gradient of w1 and b1 (what the "
                "lecture's slides do): a parameter's gradient is its node's gradient times the node's derivative "
                "with respect to that parameter, dl/dw3 = dl/dy3 · y2 and dl/dw1 = dl/dy1 · x, dl/db1 = dl/dy1.",
                _on_numbers(lambda e: (e.dl_dy3, e.dl_dy3, e.dl_dx, e.dl_dx)),
                edits=[("dl_dw3 = dl_dy3 * y2", "dl_dw3 = dl_dy3 * 1 "),
                       ("dl_dw1 = dl_dy1 * x ", "dl_dw1 = dl_dy1 * w1"),
                       ("dl_db1 = dl_dy1 * 1 ", "dl_db1 = dl_dy1 * w1")],
            ),
            Mistake(
                "forgot_input_factor",
                "your weight gradients miss the layer's input: dy3/dw3 = y2 and dy1/dw1 = x, so "
                "dl/dw3 = dl/dy3 · y2 and dl/dw1 = dl/dy1 · x.",
                _on_numbers(lambda e: (e.dl_dy3, e.dl_dy3, e.dl_dy1, e.dl_dy1)),
                edits=[("dl_dw3 = dl_dy3 * y2", "dl_dw3 = dl_dy3 * 1 "),
                       ("dl_dw1 = dl_dy1 * x ", "dl_dw1 = dl_dy1 * 1 ")],
            ),
            Mistake(
                "weight_for_input",
                "you multiplied by the weight where the input belongs: dy/dw of y = w·a + b is the input a "
                "(dy3/dw3 = y2, dy1/dw1 = x), while the weight is dy/da.",
                _on_numbers(lambda e: (e.dl_dy3 * e.w3, e.dl_dy3, e.dl_dy1 * e.w1, e.dl_dy1)),
                edits=[("dl_dw3 = dl_dy3 * y2", "dl_dw3 = dl_dy3 * w3"),
                       ("dl_dw1 = dl_dy1 * x ", "dl_dw1 = dl_dy1 * w1")],
            ),
            Mistake(
                "negated",
                "these are the negative gradients −dl/dθ (what the notes tabulate before the update); the "
                "question asks for dl/dθ itself.",
                _on_numbers(lambda e: tuple(-g for g in _params(e))),
                edits=[("dl_dw3 = dl_dy3", "dl_dw3 = -dl_dy3"), ("dl_db3 = dl_dy3", "dl_db3 = -dl_dy3"),
                       ("dl_dw1 = dl_dy1", "dl_dw1 = -dl_dy1"), ("dl_db1 = dl_dy1", "dl_db1 = -dl_dy1")],
            ),
        ),
        **common,
    )
    step = Question(
        name="scalar_sgd_step", cell="scalar_sgd_step_solution", entry="new_params",
        reference=_on_numbers(_step), output_names=names["step"],
        uses=("scalar_forward", "scalar_chain_rule", "scalar_param_grads"),
        hint="θ' = θ − lr · dl/dθ with the gradients of the previous question and your lr",
        mistakes=(
            Mistake("notes_slip", NOTES_SLIP + " The slides step with their slipped gradients and print w1' with the "
                    "wrong sign, labelled w'_3.", _printed(-0.4885, 4.0115, -2.98275, 1.98275),
                    _typed("scalar_sgd_step_solution", (-0.4885, 4.0115, -2.98275, 1.98275), names["step"])),
            Mistake("lecture_example", LECTURE_EXAMPLE, _on_lecture(_step),
                    _typed("scalar_sgd_step_solution", _step(lecture), names["step"])),
            Mistake(
                "notes_gradients",
                "you stepped with dl/dy3 for w3 and b3 and with dl/dx for w1 and b1 (the gradients the slides put "
                "in those columns): each parameter moves against its own gradient, dl/dw3 = dl/dy3 · y2, "
                "dl/dw1 = dl/dy1 · x, dl/db1 = dl/dy1.",
                _on_numbers(lambda e: _stepped(e, (e.dl_dy3, e.dl_dy3, e.dl_dx, e.dl_dx))),
                edits=[("lr * dl_dw3", "lr * dl_dy3"), ("lr * dl_db3", "lr * dl_dy3"),
                       ("lr * dl_dw1", "lr * dl_dx "), ("lr * dl_db1", "lr * dl_dx ")],
            ),
            Mistake(
                "chain_gradient_for_weight",
                "you stepped with dl/dy_n (the notes' update formula w'_n = lr·(−dl/dy_n) + w_n has this slip) "
                "instead of the parameter's own gradient dl/dw_n: dl/dw3 = dl/dy3 · y2, dl/dw1 = dl/dy1 · x.",
                _on_numbers(lambda e: _stepped(e, (e.dl_dy3, e.dl_dy3, e.dl_dy1, e.dl_dy1))),
                edits=[("lr * dl_dw3", "lr * dl_dy3"), ("lr * dl_db3", "lr * dl_dy3"),
                       ("lr * dl_dw1", "lr * dl_dy1"), ("lr * dl_db1", "lr * dl_dy1")],
            ),
            Mistake(
                "gradient_ascent",
                "you stepped up the gradient: gradient descent subtracts it, θ' = θ − lr · dl/dθ.",
                _on_numbers(lambda e: _stepped(e, _params(e), sign=-1.0)),
                edits=[("w3 - lr", "w3 + lr"), ("b3 - lr", "b3 + lr"), ("w1 - lr", "w1 + lr"),
                       ("b1 - lr", "b1 + lr")],
            ),
        ),
        **common,
    )
    return forward, chain, params, step


# ============================================================================================================
# Part 2: activation derivatives
# ============================================================================================================


_ACTIVATION_GRADS = {"sigmoid": sigmoid_grad, "tanh": tanh_grad, "relu": relu_grad}


def _activation_grad(z: np.ndarray, activation: str) -> np.ndarray:
    return _ACTIVATION_GRADS[activation](z)


def _activation_variant(**wrong: Callable[[np.ndarray], np.ndarray]) -> Callable[..., np.ndarray]:
    def compute(z: np.ndarray, activation: str) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if activation in wrong:
            with np.errstate(all="ignore"):
                return wrong[activation](z)
        return _activation_grad(z, activation)

    return compute


def _activation_public() -> Sequence[Case]:
    return (
        Case((np.array([-2.0, -1.0, 0.0, 1.0, 2.0]), "sigmoid"), label="sigmoid at -2, -1, 0, 1, 2"),
        Case((np.array([-1.0, 0.0, 0.5, 2.0]), "tanh"), label="tanh at -1, 0, 0.5, 2"),
        Case((np.array([-1.5, 0.0, 0.5, 3.0]), "relu"), label="relu at -1.5, 0, 0.5, 3 (0 at the kink)"),
    )


def _activation_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for activation in ("sigmoid", "tanh", "relu"):
        rows, cols = rng.integers(1, 5, size=2)
        cases.append(Case((rng.normal(0.0, 2.0, size=(int(rows), int(cols))), activation)))
        cases.append(Case((np.array([rng.normal()]), activation)))  # a single element
    extremes = np.array([-1000.0, -40.0, -1e-9, 0.0, 1e-9, 40.0, 1000.0])
    cases += [Case((extremes.copy(), a)) for a in ("sigmoid", "tanh", "relu")]
    cases.append(Case((np.array([[0.0, -0.0, 2.0], [-3.0, 0.0, 1e-300]]), "relu")))  # zeros, a tiny positive
    return cases


def _activation_question() -> Question:
    return Question(
        name="activation_grad", cell="activation_grad_solution", entry="activation_grad",
        reference=_activation_grad, public=_activation_public, hidden=_activation_hidden,
        banned=BANNED, numpy_only=True, autograd=False,
        hint="σ'(z) = σ(z)(1 − σ(z)), tanh'(z) = 1 − tanh²(z), relu'(z) = 1 for z > 0 and 0 otherwise",
        mistakes=(
            Mistake(
                "sigmoid_not_derivative",
                "for 'sigmoid' you returned σ(z) itself: the derivative is σ'(z) = σ(z)(1 − σ(z)).",
                _activation_variant(sigmoid=sigmoid),
                edits=[("return s * (1.0 - s)", "return s")],
            ),
            Mistake(
                "sigmoid_of_input",
                "for 'sigmoid' you computed z(1 − z): the formula σ(1 − σ) takes the sigmoid's output "
                "σ(z), not its input z (the XOR code's l2*(1-l2) works because l2 is already σ).",
                _activation_variant(sigmoid=lambda z: z * (1.0 - z)),
                edits=[("return s * (1.0 - s)", "return z * (1.0 - z)")],
            ),
            Mistake(
                "tanh_not_squared",
                "for 'tanh' you returned 1 − tanh(z): the derivative is 1 − tanh²(z).",
                _activation_variant(tanh=lambda z: 1.0 - tanh(z)),
                edits=[("return 1.0 - np.tanh(z) ** 2", "return 1.0 - np.tanh(z)")],
            ),
            Mistake(
                "relu_one_at_zero",
                "your ReLU derivative is 1 at z = 0: use torch's convention relu'(0) = 0, i.e. (z > 0), "
                "not (z >= 0).",
                _activation_variant(relu=lambda z: (z >= 0).astype(np.float64)),
                edits=[("return (z > 0).astype", "return (z >= 0).astype")],
            ),
            Mistake(
                "relu_wrong_side",
                "your ReLU derivative is on the wrong side: it is 1 where z > 0 (where ReLU passes z through) "
                "and 0 where z ≤ 0.",
                _activation_variant(relu=lambda z: (z <= 0).astype(np.float64)),
                edits=[("return (z > 0).astype", "return (z <= 0).astype")],
            ),
        ),
    )


# ============================================================================================================
# Part 2: the linear layer's backward
# ============================================================================================================


def _linear_reference(input: np.ndarray, weight: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, ...]:
    return _linear_backward(input, weight, grad_output)


def _linear_variant(change: str) -> Callable[..., tuple[np.ndarray, ...]]:
    def compute(input: np.ndarray, weight: np.ndarray, grad_output: np.ndarray) -> tuple[np.ndarray, ...]:
        grad_input, grad_weight, grad_bias = _linear_backward(input, weight, grad_output)
        batch = input.shape[0]
        if change == "transposed":
            return grad_input, grad_weight.T, grad_bias
        if change == "bias_not_summed":
            return grad_input, grad_weight, np.array(grad_output, dtype=np.float64)
        if change == "bias_wrong_axis":
            return grad_input, grad_weight, np.asarray(grad_output, dtype=np.float64).sum(axis=1)
        if change == "averaged":
            return grad_input, grad_weight / batch, grad_bias / batch
        raise AssertionError(change)

    return compute


def _linear_public() -> Sequence[Case]:
    return (
        Case((np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), np.array([[0.5]])),
             label="B=1, in=2, out=1: x=[[1, 2]], W=[[3, -1]], g=[[0.5]]"),
        Case((np.array([[1.0, 0.0], [2.0, -1.0], [0.0, 3.0]]), np.array([[1.0, 2.0], [-1.0, 0.5]]),
              np.array([[1.0, 0.0], [0.5, -1.0], [2.0, 1.0]])), label="B=3, in=2, out=2"),
        Case((np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [1.0, 1.0, 1.0], [-2.0, 0.5, 0.0]]),
              np.array([[0.2, -0.4, 1.0], [1.0, 0.3, -0.7]]),
              np.array([[1.0, -1.0], [0.0, 2.0], [0.5, 0.5], [-1.0, 0.0]])), label="B=4, in=3, out=2"),
    )


def _linear_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for batch, n_in, n_out in ((1, 3, 2), (5, 4, 3), (3, 3, 3), (6, 2, 5), (2, 5, 1)):
        cases.append(Case((_round(rng, (batch, n_in)), _round(rng, (n_out, n_in)), _round(rng, (batch, n_out)))))
    batch, n_in, n_out = (int(v) for v in rng.integers(1, 7, size=3))
    cases.append(Case((rng.normal(size=(batch, n_in)), rng.normal(size=(n_out, n_in)),
                       rng.normal(size=(batch, n_out)))))
    return cases


def _linear_question() -> Question:
    return Question(
        name="linear_backward", cell="linear_backward_solution", entry="linear_backward",
        reference=_linear_reference, public=_linear_public, hidden=_linear_hidden,
        output_names=("grad_input", "grad_weight", "grad_bias"), banned=BANNED, numpy_only=True, autograd=False,
        hint="grad_input = g W, grad_weight = gᵀ x (shape of W), grad_bias = gᵀ 1 (sum over the batch)",
        mistakes=(
            Mistake(
                "transposed_weight_grad",
                "your weight gradient is transposed: dL/dW = (dL/dy)ᵀ x has W's shape (out, in); xᵀ (dL/dy) "
                "is its transpose.",
                _linear_variant("transposed"),
                edits=[("grad_weight = grad_output.T @ input ", "grad_weight = input.T @ grad_output ")],
            ),
            Mistake(
                "bias_not_summed",
                "your bias gradient is per example: the bias is shared by every row of the batch, so "
                "dL/db = (dL/dy)ᵀ 1 sums grad_output over the batch axis, shape (out,).",
                _linear_variant("bias_not_summed"),
                edits=[("grad_bias = grad_output.sum(axis=0)", "grad_bias = grad_output")],
            ),
            Mistake(
                "bias_summed_over_features",
                "your bias gradient sums over the wrong axis: sum grad_output over the batch (axis 0), "
                "giving one value per output feature.",
                _linear_variant("bias_wrong_axis"),
                edits=[("grad_output.sum(axis=0)", "grad_output.sum(axis=1)")],
            ),
            Mistake(
                "divided_by_batch",
                "you divided the parameter gradients by the batch size: grad_output already carries any 1/B "
                "of a mean loss, so dL/dW = (dL/dy)ᵀ x and dL/db = (dL/dy)ᵀ 1 are plain sums.",
                _linear_variant("averaged"),
                edits=[("grad_output.T @ input ", "grad_output.T @ input / len(input)"),
                       ("grad_output.sum(axis=0)", "grad_output.mean(axis=0)")],
            ),
        ),
    )


# ============================================================================================================
# Part 2: the 2-layer network of unit 8 (BCE with a sigmoid output; cross-entropy with a softmax output)
# ============================================================================================================

TWO_LAYER_NAMES = ("loss", "dW1", "db1", "dW2", "db2")


def _bce_reference(X: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray,
                   b2: np.ndarray) -> tuple[Any, ...]:
    r = two_layer_backward(X, y[:, None], W1, b1, W2, b2, activation="sigmoid", loss="bce")
    return r.loss, r.dW1, r.db1, r.dW2, r.db2


def _ce_reference(X: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray,
                  b2: np.ndarray) -> tuple[Any, ...]:
    r = two_layer_backward(X, y, W1, b1, W2, b2, activation="relu", loss="cross_entropy")
    return r.loss, r.dW1, r.db1, r.dW2, r.db2


def _backward_from(X: np.ndarray, W1: np.ndarray, Z1: np.ndarray, A1: np.ndarray, W2: np.ndarray, Z2: np.ndarray,
                   dZ2: np.ndarray, h_prime: Callable[[np.ndarray, np.ndarray], np.ndarray],
                   change: str) -> tuple[np.ndarray, ...]:
    """dW1, db1, dW2, db2 from dJ/dZ2 (h_prime(Z1, A1) is the hidden derivative), with one structural change.

    Plain matrix products, so that a variant may carry inf/NaN without the reference's input checks refusing it.
    """
    dA1, dW2, db2 = dZ2 @ W2, dZ2.T @ A1, dZ2.sum(axis=0)
    if change == "dzo_da_is_zo":
        dA1 = dZ2 * Z2  # the notes' slip ∂z_O/∂a_H = z_O (it is W_O)
    dZ1 = dA1 * h_prime(Z1, A1)
    dW1, db1 = dZ1.T @ X, dZ1.sum(axis=0)
    if change == "transposed":
        dW1, dW2 = dW1.T, dW2.T
    if change == "bias_not_summed":
        db1, db2 = dZ1, dZ2
    if change == "bias_sign":
        db1 = -db1
    return dW1, db1, dW2, db2


def _bce_variant(change: str) -> Callable[..., tuple[Any, ...]]:
    def compute(X: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray,
                b2: np.ndarray) -> tuple[Any, ...]:
        B = X.shape[0]
        Z1 = linear(X, W1, b1)
        A1 = sigmoid(Z1)
        z = linear(A1, W2, b2)[:, 0]
        p = sigmoid(z)
        loss = float(binary_cross_entropy_with_logits(z, y))
        if change == "loss_from_probabilities":
            with np.errstate(all="ignore"):
                loss = float(-np.mean(y * np.log(p) + (1.0 - y) * np.log(1.0 - p)))
        delta = {"not_divided": p - y, "sign_flipped": (y - p) / B,
                 "output_sigma_prime": (p - y) * p * (1.0 - p) / B}.get(change, (p - y) / B)
        derivatives = {"hidden_sigma": lambda Z, A: A}
        h_prime = derivatives.get(change, lambda Z, A: A * (1.0 - A))
        Z2 = z[:, None]
        return (loss, *_backward_from(X, W1, Z1, A1, W2, Z2, delta[:, None], h_prime, change))

    return compute


def _ce_variant(change: str) -> Callable[..., tuple[Any, ...]]:
    def compute(X: np.ndarray, y: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray,
                b2: np.ndarray) -> tuple[Any, ...]:
        B = X.shape[0]
        rows = np.arange(B)
        Z1 = linear(X, W1, b1)
        A1 = relu(Z1)
        Z2 = linear(A1, W2, b2)
        P = softmax(Z2, dim=1)
        loss = float(cross_entropy(Z2, y))
        if change == "no_max_subtraction":
            with np.errstate(all="ignore"):
                P = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)
                loss = float(-np.mean(np.log(P[rows, y])))
        onehot = np.zeros_like(Z2)
        onehot[rows, y] = 1.0
        dZ2 = {"no_onehot": P / B, "not_divided": P - onehot}.get(change, (P - onehot) / B)
        masks = {"relu_wrong_side": lambda Z, A: (Z < 0).astype(np.float64), "relu_times_activation": lambda Z, A: A}
        h_prime = masks.get(change, lambda Z, A: relu_grad(Z))
        with np.errstate(all="ignore"):
            return (loss, *_backward_from(X, W1, Z1, A1, W2, Z2, dZ2, h_prime, change))

    return compute


def _bce_public() -> Sequence[Case]:
    X = np.array([[1.0, -1.0], [0.5, 2.0]])
    W1 = np.array([[0.5, -0.5], [1.0, 0.25], [-1.0, 0.5]])
    b1 = np.array([0.0, 0.1, -0.2])
    W2 = np.array([[1.0, -2.0, 0.5]])
    b2 = np.array([0.3])
    big_W2 = np.array([[40.0, 40.0, -40.0]])
    return (
        Case((X[:1], np.array([1.0]), W1[:2], b1[:2], W2[:, :2], b2), label="B=1, d=2, H=2, y=[1]"),
        Case((X, np.array([1.0, 0.0]), W1, b1, W2, b2), label="B=2, d=2, H=3, y=[1, 0]"),
        Case((X, np.array([0.0, 1.0]), W1, b1, big_W2, np.array([0.0])),
             label="saturated output (logits around ±40), y=[0, 1]"),
    )


def _two_layer_shapes(rng: np.random.Generator) -> list[tuple[int, int, int]]:
    """(batch, features, hidden units): a single example, a few fixed shapes and a random one."""
    batch, d, hidden = (int(v) for v in rng.integers(2, 7, size=3))
    return [(1, 3, 2), (5, 2, 4), (4, 4, 3), (batch, d, hidden)]


def _bce_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for batch, d, hidden in _two_layer_shapes(rng):
        y = rng.integers(0, 2, size=batch).astype(np.float64)
        cases.append(Case((_round(rng, (batch, d)), y, _round(rng, (hidden, d)), _round(rng, (hidden,)),
                           _round(rng, (1, hidden)), _round(rng, (1,)))))
    # saturated: the first feature (±1) drives the hidden units to ≈ 0/1 and the logits to ≈ ±45, where σ(z)
    # rounds to exactly 0 or 1; labels agree with some samples and contradict others (never y = 1 at σ = 1,
    # where the naive loss would give 0·log 0 = nan rather than the inf the known mistake is matched on)
    X = np.column_stack([[1.0, -1.0, 1.0, -1.0], rng.normal(size=(4, 2))])
    W1 = np.column_stack([[20.0, -20.0], 0.1 * rng.normal(size=(2, 2))])
    W2 = np.array([[45.0, -45.0]]) + 0.1 * rng.normal(size=(1, 2))
    cases.append(Case((X, np.array([0.0, 1.0, 0.0, 0.0]), W1, 0.1 * rng.normal(size=2), W2, np.array([0.0]))))
    cases.append(Case((rng.normal(size=(3, 2)), np.ones(3), rng.normal(size=(2, 2)), np.zeros(2),
                       rng.normal(size=(1, 2)), np.zeros(1))))  # every label 1
    return cases


def _ce_public() -> Sequence[Case]:
    X = np.array([[1.0, 2.0], [-1.0, 0.5], [0.0, -1.0]])
    W1 = np.array([[1.0, -0.5], [0.5, 1.0], [-1.0, 0.25]])
    b1 = np.array([0.1, -0.2, 0.3])
    W2 = np.array([[1.0, 0.0, -1.0], [-0.5, 1.0, 0.5]])
    b2 = np.array([0.0, 0.2])
    return (
        Case((X[:1], np.array([1]), W1, b1, W2, b2), label="B=1, d=2, H=3, K=2, y=[1]"),
        Case((X, np.array([0, 1, 1]), W1, b1, np.vstack([W2, [0.5, -1.0, 1.0]]), np.array([0.0, 0.2, -0.1])),
             label="B=3, d=2, H=3, K=3, y=[0, 1, 1]"),
        Case((np.eye(2), np.array([0, 1]), np.eye(2), np.zeros(2),
              np.array([[1000.0, 0.0], [0.0, -1000.0], [0.0, 0.0]]), np.zeros(3)),
             label="large logits (±1000): X=I, W1=I, W2=[[1000, 0], [0, -1000], [0, 0]], y=[0, 1]"),
    )


def _ce_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for batch, d, hidden in _two_layer_shapes(rng):
        classes = int(rng.integers(2, 5))
        y = rng.integers(0, classes, size=batch)
        cases.append(Case((_round(rng, (batch, d)), y, _round(rng, (hidden, d)), _round(rng, (hidden,)),
                           _round(rng, (classes, hidden)), _round(rng, (classes,)))))
    # logits up to 1000: the max must be subtracted before exponentiating (e^1000 overflows)
    batch, d, hidden, classes = 4, 3, 4, 3
    X, W1, b1 = rng.normal(size=(batch, d)), rng.normal(size=(hidden, d)), np.full(hidden, 3.0)
    W2 = rng.normal(size=(classes, hidden))
    logits = relu(linear(X, W1, b1)) @ W2.T
    W2 *= 1000.0 / (logits.max() if logits.max() >= -logits.min() else logits.min())  # the largest logit: +1000
    cases.append(Case((X, rng.integers(0, classes, size=batch), W1, b1, W2, np.zeros(classes))))
    cases.append(Case((rng.normal(size=(3, 2)), np.zeros(3, dtype=np.int64), rng.normal(size=(4, 2)),
                       rng.normal(size=4), rng.normal(size=(2, 4)), rng.normal(size=2))))  # one class only
    return cases


def _bce_question() -> Question:
    return Question(
        name="two_layer_bce", cell="two_layer_bce_solution", entry="two_layer_backward_bce",
        reference=_bce_reference, public=_bce_public, hidden=_bce_hidden, output_names=TWO_LAYER_NAMES,
        banned=BANNED, numpy_only=True, autograd=False,
        hint="dJ/dZ2 = (σ(Z2) − y)/B; then dW2 = dZ2ᵀ A1, db2 = dZ2ᵀ1, dZ1 = (dZ2 W2) ⊙ σ(Z1)(1 − σ(Z1)), "
             "dW1 = dZ1ᵀ X, db1 = dZ1ᵀ1",
        mistakes=(
            Mistake(
                "hidden_sigma_not_derivative",
                "in the hidden layer you multiplied by σ(Z1) instead of its derivative σ'(Z1) = σ(Z1)(1 − σ(Z1)) "
                "= A1 ⊙ (1 − A1).",
                _bce_variant("hidden_sigma"),
                edits=[("dZ1 = dA1 * A1 * (1.0 - A1)  ", "dZ1 = dA1 * A1                ")],
            ),
            Mistake(
                "forgot_batch_mean",
                "your gradients are B times too large: J is the mean over the batch, so dJ/dZ2 = (σ(z) − y)/B "
                "(unit 8's slides write J as a sum; this assignment, like torch, uses the mean).",
                _bce_variant("not_divided"),
                edits=[("dZ2 = ((p - y) / B)[:, None]", "dZ2 = (p - y)[:, None]      ")],
            ),
            Mistake(
                "output_sigma_prime",
                "you multiplied the output delta by σ'(z) = p(1 − p) (as in the XOR code's squared-error "
                "delta): for BCE written on the logits, dJ/dz = (σ(z) − y)/B, the σ' cancels.",
                _bce_variant("output_sigma_prime"),
                edits=[("dZ2 = ((p - y) / B)[:, None]", "dZ2 = ((p - y) * p * (1 - p) / B)[:, None]")],
            ),
            Mistake(
                "delta_sign_flipped",
                "your output delta has the sign flipped (y − p, as in the XOR code that then adds the update): "
                "the gradient is dJ/dz = (σ(z) − y)/B, and every gradient flips with it.",
                _bce_variant("sign_flipped"),
                edits=[("dZ2 = ((p - y) / B)[:, None]", "dZ2 = ((y - p) / B)[:, None]")],
            ),
            Mistake(
                "transposed_weight_grad",
                "your weight gradients are transposed: dJ/dW = (dJ/dZ)ᵀ A_in has the weight's shape (out, in).",
                _bce_variant("transposed"),
                edits=[("dW2 = dZ2.T @ A1 ", "dW2 = A1.T @ dZ2 "),
                       ("dW1 = dZ1.T @ X ", "dW1 = X.T @ dZ1 ")],
            ),
            Mistake(
                "dzo_da_is_zo",
                "your dJ/dA1 multiplies by the logits Z2 (the notes' slip ∂z_O/∂a_H = z_O): it is the weight, "
                "dJ/dA1 = dJ/dZ2 · W2.",
                _bce_variant("dzo_da_is_zo"),
                edits=[("dA1 = dZ2 @ W2    ", "dA1 = dZ2 * Z2    ")],
            ),
            Mistake(
                "loss_from_probabilities",
                "your loss goes through log(σ(z)) and log(1 − σ(z)), which give log(0) = −inf once σ(z) rounds "
                "to 0 or 1: use unit 8's logit form J = ln(1 + e^z) − y z, with np.logaddexp(0, z).",
                _bce_variant("loss_from_probabilities"),
                edits=[(
                    "    loss = np.mean(np.logaddexp(0.0, z) - y * z)   # ln(1 + e^z) − y z, averaged\n", ""),
                    ("    p = 1.0 / (1.0 + np.exp(-z))\n",
                     "    p = 1.0 / (1.0 + np.exp(-z))\n"
                     "    loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))\n")],
            ),
        ),
    )


def _ce_question() -> Question:
    return Question(
        name="two_layer_ce", cell="two_layer_ce_solution", entry="two_layer_backward_ce",
        reference=_ce_reference, public=_ce_public, hidden=_ce_hidden, output_names=TWO_LAYER_NAMES,
        banned=BANNED, numpy_only=True, autograd=False,
        hint="dJ/dZ2 = (softmax(Z2) − one_hot(y))/B; dZ1 = (dZ2 W2) ⊙ [Z1 > 0]",
        mistakes=(
            Mistake(
                "softmax_without_onehot",
                "your output delta is softmax(Z2)/B: subtract the one-hot targets, dJ/dZ2 = (softmax(Z2) − Y)/B.",
                _ce_variant("no_onehot"),
                edits=[("dZ2 = (np.exp(log_probs) - Y) / B ", "dZ2 = np.exp(log_probs) / B       ")],
            ),
            Mistake(
                "relu_wrong_side",
                "your ReLU derivative is on the wrong side: relu'(Z1) is 1 where Z1 > 0 and 0 elsewhere.",
                _ce_variant("relu_wrong_side"),
                edits=[("dZ1 = dA1 * (Z1 > 0)", "dZ1 = dA1 * (Z1 < 0)")],
            ),
            Mistake(
                "relu_times_activation",
                "you multiplied dJ/dA1 by ReLU(Z1) = A1 instead of its derivative [Z1 > 0].",
                _ce_variant("relu_times_activation"),
                edits=[("dZ1 = dA1 * (Z1 > 0)", "dZ1 = dA1 * A1      ")],
            ),
            Mistake(
                "forgot_batch_mean",
                "your gradients are B times too large: J is the mean over the batch, so dJ/dZ2 = "
                "(softmax(Z2) − Y)/B (unit 8's slides write J as a sum; this assignment, like torch, uses the mean).",
                _ce_variant("not_divided"),
                edits=[("dZ2 = (np.exp(log_probs) - Y) / B ", "dZ2 = np.exp(log_probs) - Y       ")],
            ),
            Mistake(
                "hidden_bias_sign",
                "your hidden bias gradient has the wrong sign (the notes' slip ∂z_H/∂b_H = −1): "
                "∂z_H/∂b_H = 1, so dJ/db1 = (dJ/dZ1)ᵀ 1.",
                _ce_variant("bias_sign"),
                edits=[("db1 = dZ1.sum(axis=0)  ", "db1 = -dZ1.sum(axis=0) ")],
            ),
            Mistake(
                "bias_not_summed",
                "your bias gradients are per example: sum dJ/dZ over the batch, dJ/db = (dJ/dZ)ᵀ 1.",
                _ce_variant("bias_not_summed"),
                edits=[("db2 = dZ2.sum(axis=0)", "db2 = dZ2            "),
                       ("db1 = dZ1.sum(axis=0)", "db1 = dZ1            ")],
            ),
            Mistake(
                "no_max_subtraction",
                "your softmax overflows for large logits (e^1000 = inf, and inf/inf = nan): subtract each row's "
                "maximum before exponentiating; it changes nothing mathematically.",
                _ce_variant("no_max_subtraction"),
                edits=[(
                    "    shifted = Z2 - Z2.max(axis=1, keepdims=True)         # subtract the row max: no overflow\n"
                    "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
                    "    loss = -np.mean(log_probs[rows, y])\n",
                    "    probs = np.exp(Z2) / np.exp(Z2).sum(axis=1, keepdims=True)\n"
                    "    loss = -np.mean(np.log(probs[rows, y]))\n"),
                    ("dZ2 = (np.exp(log_probs) - Y) / B ", "dZ2 = (probs - Y) / B ")],
            ),
        ),
    )


# ============================================================================================================
# Part 2: an MLP of any depth (ReLU hidden layers, linear output), given the upstream gradient
# ============================================================================================================


def _mlp_reference(x: np.ndarray, params: Sequence[tuple[np.ndarray, np.ndarray]],
                   grad_output: np.ndarray) -> tuple[Any, ...]:
    result = _mlp_backward(x, params, grad_output, activation="relu")
    return result.grad_input, [tuple(pair) for pair in result.grads]


def _mlp_variant(change: str) -> Callable[..., tuple[Any, ...]]:
    def compute(x: np.ndarray, params: Sequence[tuple[np.ndarray, np.ndarray]],
                grad_output: np.ndarray) -> tuple[Any, ...]:
        inputs, pre = [], []
        a = np.asarray(x, dtype=np.float64)
        for layer, (W, b) in enumerate(params):
            inputs.append(a)
            z = linear(a, W, b)
            pre.append(z)
            a = relu(z) if layer < len(params) - 1 else z
        delta = np.asarray(grad_output, dtype=np.float64)
        if change == "relu_on_output":
            delta = delta * relu_grad(pre[-1])
        grads: list[tuple[np.ndarray, np.ndarray]] = []
        for layer in reversed(range(len(params))):
            grad_in, dW, db = _linear_backward(inputs[layer], params[layer][0], delta)
            grads.append({"transposed": (dW.T, db), "bias_not_summed": (dW, delta)}.get(change, (dW, db)))
            delta = grad_in
            if layer > 0 and change != "no_relu_derivative":
                delta = delta * relu_grad(pre[layer - 1])
        return delta, grads if change == "reversed_order" else grads[::-1]

    return compute


def _mlp_public() -> Sequence[Case]:
    x = np.array([[1.0, -1.0], [0.5, 2.0]])
    W1, b1 = np.array([[1.0, 0.5], [-1.0, 1.0], [0.5, -0.5]]), np.array([0.1, 0.0, -0.2])
    W2, b2 = np.array([[1.0, -1.0, 2.0], [0.5, 0.5, -1.0]]), np.array([0.0, 0.3])
    W3, b3 = np.array([[1.0, -2.0]]), np.array([0.5])
    return (
        Case((x, [(W1, b1)], np.array([[1.0, 0.0, -1.0], [0.5, 2.0, 1.0]])), label="1 layer (linear only)"),
        Case((x, [(W1, b1), (W2, b2)], np.array([[1.0, -1.0], [0.5, 0.5]])), label="2 layers: 2 -> 3 -> 2"),
        Case((x, [(W1, b1), (W2, b2), (W3, b3)], np.array([[1.0], [-0.5]])), label="3 layers: 2 -> 3 -> 2 -> 1"),
    )


def _mlp_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for depth in (1, 2, 3, 4, int(rng.integers(2, 6))):
        widths = [int(w) for w in rng.integers(1, 6, size=depth + 1)]
        batch = int(rng.integers(1, 5))
        params = [(rng.normal(size=(widths[i + 1], widths[i])), rng.normal(size=widths[i + 1])) for i in range(depth)]
        cases.append(Case((rng.normal(size=(batch, widths[0])), params, rng.normal(size=(batch, widths[-1])))))
    # a dead layer: every hidden unit negative, so no gradient reaches the first layer
    params = [(np.array([[1.0, 1.0], [0.5, 1.0]]), np.array([-10.0, -10.0])), (rng.normal(size=(2, 2)),
                                                                                  rng.normal(size=2))]
    cases.append(Case((rng.normal(size=(3, 2)), params, rng.normal(size=(3, 2)))))
    # hidden pre-activations exactly 0 (x1 = x2 against the row [1, -1]): relu'(0) = 0, as torch
    x = np.array([[1.0, 1.0], [2.0, 2.0], [0.5, -1.0]])
    params = [(np.array([[1.0, -1.0], [0.5, 1.0]]), np.array([0.0, 0.25])), (rng.normal(size=(2, 2)),
                                                                                 rng.normal(size=2))]
    cases.append(Case((x, params, rng.normal(size=(3, 2)))))
    return cases


def _mlp_question() -> Question:
    return Question(
        name="mlp_backward", cell="mlp_backward_solution", entry="mlp_backward",
        reference=_mlp_reference, public=_mlp_public, hidden=_mlp_hidden, output_names=("grad_x", "grads"),
        banned=BANNED, numpy_only=True, autograd=False,
        hint="δ_L = grad_output; for l = L..1: dW_l = δ_lᵀ A_{l−1}, db_l = δ_lᵀ1, δ_{l−1} = (δ_l W_l) ⊙ [Z_{l−1} > 0]",
        mistakes=(
            Mistake(
                "relu_on_output",
                "you multiplied grad_output by relu'(Z_L): the last layer is linear (no ReLU), so δ_L = "
                "grad_output as given.",
                _mlp_variant("relu_on_output"),
                edits=[("delta = grad_output                       # δ_L = dL/dZ_L",
                        "delta = grad_output * (pre_activations[-1] > 0)")],
            ),
            Mistake(
                "no_relu_derivative",
                "you passed the gradient back through the hidden layers without the ReLU derivative: "
                "δ_{l−1} = (δ_l W_l) ⊙ [Z_{l−1} > 0].",
                _mlp_variant("no_relu_derivative"),
                edits=[("            delta = delta * (pre_activations[l - 1] > 0)   # ⊙ relu'(Z_{l-1})\n",
                        "            pass\n")],
            ),
            Mistake(
                "reversed_order",
                "your list of gradients runs from the last layer to the first: return them in the order of "
                "params, grads[l] = (dW_l, db_l) for params[l].",
                _mlp_variant("reversed_order"),
                edits=[("    grads = [None] * L\n", "    grads = []\n"),
                       ("grads[l] = (delta.T @ inputs[l], delta.sum(axis=0))",
                        "grads.append((delta.T @ inputs[l], delta.sum(axis=0)))")],
            ),
            Mistake(
                "transposed_weight_grad",
                "your weight gradients are transposed: dL/dW_l = δ_lᵀ A_{l−1} has W_l's shape (out, in).",
                _mlp_variant("transposed"),
                edits=[("(delta.T @ inputs[l], ", "(inputs[l].T @ delta, ")],
            ),
            Mistake(
                "bias_not_summed",
                "your bias gradients are per example: sum δ_l over the batch, dL/db_l = δ_lᵀ 1.",
                _mlp_variant("bias_not_summed"),
                edits=[("delta.sum(axis=0))", "delta)")],
            ),
        ),
    )


# ============================================================================================================
# Part 2: a central-difference gradient checker, run on known functions through a harness
# ============================================================================================================

# Run inside the worker: builds the test function f from plain data and calls the student's checker on it.
HARNESS_SOURCE = '''\
def numgrad_test_function(function, A):
    """The scalar test functions of the numerical_gradient question, built from the matrix A."""
    if function == "quadratic":
        return lambda v: float(0.5 * (v @ A @ v))
    if function == "tanh_sq":
        return lambda v: float(np.sum(np.tanh(A @ v) ** 2))
    if function == "logsumexp":
        return lambda v: float(np.log(np.sum(np.exp(A @ v))))
    if function == "matrix_tanh":
        return lambda W: float(np.sum(np.tanh(W @ A) ** 2))
    raise ValueError(f"unknown test function {function!r}")


def numgrad_harness(numerical_gradient, function, A, x, eps):
    return numerical_gradient(numgrad_test_function(function, A), x, eps)  # x itself: the grader sees it after


def candidate_linear_backward(which):
    """A linear backward to be checked: the right one, or one with a planted bug (shapes always right)."""
    def backward(input, weight, grad_output):
        grad_input, grad_weight, grad_bias = grad_output @ weight, grad_output.T @ input, grad_output.sum(axis=0)
        if which == "weight_over_batch":
            grad_weight = grad_weight / len(input)
        elif which == "input_sign":
            grad_input = -grad_input
        elif which == "bias_mean":
            grad_bias = grad_output.mean(axis=0)
        elif which == "weight_scaled":
            grad_weight = 1.004 * grad_weight
        elif which != "correct":
            raise ValueError(f"unknown candidate {which!r}")
        return grad_input, grad_weight, grad_bias
    return backward


def central_difference(f, x, eps=1e-6):
    """A trusted central-difference gradient, handed to the student's checker."""
    x = np.array(x, dtype=np.float64)
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        old = x[i]
        x[i] = old + eps
        f_plus = f(x)
        x[i] = old - eps
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad


def gradcheck_harness(gradcheck_linear, which, input, weight, bias, grad_output):
    return gradcheck_linear(candidate_linear_backward(which), central_difference, input, weight, bias, grad_output)
'''

_HARNESS: dict[str, Any] = {"np": np}
exec(compile(HARNESS_SOURCE, "<backprop harness>", "exec"), _HARNESS)  # the same f on the trusted side


def _exact_gradient(function: str, A: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """The analytic gradient of the harness's test function (what central differences approximate)."""
    if function == "quadratic":
        return 0.5 * (A + A.T) @ x
    if function == "tanh_sq":
        t = tanh(A @ x)
        return A.T @ (2.0 * t * (1.0 - t**2))
    if function == "logsumexp":
        return A.T @ softmax(A @ x)
    if function == "matrix_tanh":
        t = tanh(x @ A)
        return (2.0 * t * (1.0 - t**2)) @ A.T
    raise ValueError(function)


def _central_difference(function: str, A: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
    """The question's answer: the central difference at the eps it is given (trusted, the harness's own), which
    is the exact gradient to O(eps²) (tests/assignments: within 1e-9 for eps ≤ 1e-4, not for eps = 0.25)."""
    return _HARNESS["central_difference"](_HARNESS["numgrad_test_function"](function, A), x, eps)


def _difference_variant(change: str) -> Callable[..., np.ndarray]:
    def compute(function: str, A: np.ndarray, x: np.ndarray, eps: float) -> np.ndarray:
        f = _HARNESS["numgrad_test_function"](function, A)
        x = np.array(x, dtype=np.float64)
        if change == "all_at_once":
            return np.full_like(x, (f(x + eps) - f(x - eps)) / (2 * eps))
        grad = np.zeros_like(x)
        for i in np.ndindex(x.shape):
            old = x[i]
            x[i] = old + eps
            f_plus = f(x)
            if change == "forward":
                x[i] = old
                grad[i] = (f_plus - f(x)) / eps
                continue
            x[i] = old - eps
            f_minus = f(x)
            if change != "not_restored":
                x[i] = old
            grad[i] = {"over_eps": (f_plus - f_minus) / eps, "sign": (f_minus - f_plus) / (2 * eps)}.get(
                change, (f_plus - f_minus) / (2 * eps))
        return grad

    return compute


def _numgrad_public() -> Sequence[Case]:
    return (
        Case(("quadratic", np.array([[2.0, 1.0], [1.0, 3.0]]), np.array([1.0, -1.0]), 1e-5),
             label="f(v) = ½ vᵀAv, A=[[2, 1], [1, 3]], x=[1, -1], eps=1e-5 (gradient A x = [1, -2])"),
        Case(("tanh_sq", np.array([[1.0, -0.5, 0.25], [0.5, 1.0, -1.0]]), np.array([0.3, -0.2, 0.5]), 1e-5),
             label="f(v) = Σ tanh(A v)², A of shape (2, 3), x=[0.3, -0.2, 0.5], eps=1e-5"),
        Case(("matrix_tanh", np.array([[1.0, 0.5], [-0.5, 1.0], [0.25, -1.0]]),
              np.array([[0.5, -0.3, 0.2], [0.1, 0.4, -0.6]]), 1e-5),
             label="f(W) = Σ tanh(W A)², W of shape (2, 3), eps=1e-5"),
        Case(("tanh_sq", np.array([[1.0, -0.5, 0.25], [0.5, 1.0, -1.0]]), np.array([0.3, -0.2, 0.5]), 0.25),
             label="the same tanh f with eps=0.25: the central difference at that eps, ~1e-2 off the exact "
                   "gradient (use the eps you are given)"),
    )


def _numgrad_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for function in ("quadratic", "tanh_sq", "logsumexp"):
        n, m = (int(v) for v in rng.integers(1, 6, size=2))
        A = rng.normal(size=(n, n)) if function == "quadratic" else rng.normal(size=(m, n))
        cases.append(Case((function, A, rng.normal(size=n), 1e-5)))
    p, q, r = (int(v) for v in rng.integers(1, 4, size=3))
    cases.append(Case(("matrix_tanh", 0.7 * rng.normal(size=(q, r)), 0.7 * rng.normal(size=(p, q)), 1e-5)))
    cases.append(Case(("tanh_sq", rng.normal(size=(3, 1)), rng.normal(size=1), 1e-5)))  # a single coordinate
    cases.append(Case(("logsumexp", rng.normal(size=(4, 3)), rng.normal(size=3), 1e-4)))
    cases.append(Case(("tanh_sq", rng.normal(size=(3, 2)), rng.normal(size=2), float(rng.uniform(0.1, 0.3)))))
    return cases


def _numgrad_question() -> Question:
    return Question(
        name="numerical_gradient", cell="numerical_gradient_solution", entry="numerical_gradient",
        reference=_central_difference, public=_numgrad_public, hidden=_numgrad_hidden, harness="numgrad_harness",
        # x comes back to the grader (the caller's, not a copy): perturbed and restored it may differ by rounding
        mutation_tolerance=1e-12,
        banned=BANNED, numpy_only=True, autograd=False,
        # The student computes the same central difference: equal to rounding (~1e-11). A forward difference is
        # off by ~eps·f''/2 ≈ 1e-5, far outside rtol 1e-6 / atol 1e-7; a hard-coded eps shows at eps = 0.25.
        rtol=1e-6, atol=1e-7,
        hint="perturb one coordinate at a time by ±eps, divide the difference by 2·eps, and restore it",
        mistakes=(
            Mistake(
                "forward_difference",
                "you used a forward difference (f(x + eps) − f(x))/eps: its error is O(eps); the central "
                "difference (f(x + eps) − f(x − eps))/(2 eps) is O(eps²) accurate.",
                _difference_variant("forward"),
                edits=[(
                    "        x[i] = old - eps\n        f_minus = f(x)\n        x[i] = old                             "
                    "# restore before moving on\n        grad[i] = (f_plus - f_minus) / (2 * eps)\n",
                    "        x[i] = old\n        grad[i] = (f_plus - f(x)) / eps\n")],
            ),
            Mistake(
                "divided_by_eps",
                "your central difference divides by eps: the two points are 2·eps apart, so divide by 2·eps.",
                _difference_variant("over_eps"),
                edits=[("(f_plus - f_minus) / (2 * eps)", "(f_plus - f_minus) / eps")],
            ),
            Mistake(
                "not_restored",
                "you did not put x[i] back after perturbing it, so every later coordinate is differentiated at "
                "a shifted point: restore x[i] = old before moving on.",
                _difference_variant("not_restored"),
                edits=[("        x[i] = old                             # restore before moving on\n",
                        "")],
            ),
            Mistake(
                "sign_flipped",
                "your difference is upside down: (f(x + eps) − f(x − eps))/(2 eps), the point with + first.",
                _difference_variant("sign"),
                edits=[("(f_plus - f_minus) / (2 * eps)", "(f_minus - f_plus) / (2 * eps)")],
            ),
            Mistake(
                "perturbed_all_at_once",
                "you perturbed every coordinate at once (x + eps), which gives one directional derivative, "
                "not the gradient: move one coordinate e_i at a time.",
                _difference_variant("all_at_once"),
                edits=[(
                    "    grad = np.zeros_like(x)\n",
                    "    grad = np.zeros_like(x)\n    grad[...] = (f(x + eps) - f(x - eps)) / (2 * eps)\n"
                    "    return grad\n")],
            ),
        ),
    )


# ============================================================================================================
# Part 2: a gradient check of a linear backward, which must pass a correct one and flag broken ones
# ============================================================================================================


GRADCHECK_PASS = 1e-6  # a correct backward must give a relative error below this
GRADCHECK_FLAG = 1e-3  # a broken one (errors of order 1) must give one above this
CANDIDATES = {
    "correct": "a correct linear backward",
    "weight_over_batch": "a linear backward whose weight gradient is divided by the batch size",
    "input_sign": "a linear backward whose input gradient has the wrong sign",
    "bias_mean": "a linear backward whose bias gradient is a mean over the batch instead of a sum",
    # a subtle bug: its relative error is 0.004 / 2.004 ≈ 2e-3, above the flag, while the mean of the three
    # errors (6.7e-4) is below it: only the largest error flags it
    "weight_scaled": "a linear backward whose weight gradient is 0.4% too large",
}


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-12))


def _gradcheck_variant(change: str) -> Callable[..., float]:
    """The checker's answer for a candidate backward, as the reference solution (change "none") or a mistake."""

    def compute(which: str, input: np.ndarray, weight: np.ndarray, bias: np.ndarray, grad_output: np.ndarray) -> float:
        backward = _HARNESS["candidate_linear_backward"](which)
        numerical = _HARNESS["central_difference"]
        g = np.ones_like(grad_output) if change == "unweighted" else grad_output
        reduce = np.mean if change == "mean" else np.sum
        functions = (
            lambda v: reduce(g * linear(v, weight, bias)),
            lambda v: reduce(g * linear(input, v, bias)),
            (lambda v: reduce(g * linear(input, weight, bias))) if change == "bias_left_out"
            else (lambda v: reduce(g * linear(input, weight, v))),
        )
        analytic = backward(input, weight, grad_output)
        errors = [_rel_error(a, numerical(f, x, 1e-6))
                  for a, f, x in zip(analytic, functions, (input, weight, bias), strict=True)]
        if change == "min":
            return min(errors)
        if change == "input_only":
            return errors[0]
        return max(errors)

    return compute


def _gradcheck_public() -> Sequence[Case]:
    x = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5], [1.0, 1.0, 1.0], [-2.0, 0.5, 0.0]])
    w, b = np.array([[0.2, -0.4, 1.0], [1.0, 0.3, -0.7]]), np.array([0.1, -0.2])
    g = np.array([[1.0, -1.0], [0.0, 2.0], [0.5, 0.5], [-1.0, 0.0]])
    return (
        Case(("correct", np.array([[1.0, 2.0]]), np.array([[3.0, -1.0]]), np.array([0.5]), np.array([[0.5]])),
             label="a correct backward, B=1, in=2, out=1: must report < 1e-6"),
        Case(("correct", x, w, b, g), label="a correct backward, B=4, in=3, out=2: must report < 1e-6"),
        Case(("bias_mean", x, w, b, g),
             label="a backward with grad_bias = mean over the batch, B=4, in=3, out=2: must report > 1e-3"),
        # The error is relative: a correct backward on a huge upstream gradient has a large absolute error (the
        # rounding of L ~ 1e6), and a broken one on a tiny upstream gradient a small one (gradients ~ 1e-6).
        Case(("correct", x, w, b, 1e6 * g),
             label="a correct backward, grad_output scaled by 1e6: must report < 1e-6 (the error is relative)"),
        Case(("input_sign", x, w, b, 1e-6 * g),
             label="a backward with grad_input's sign flipped, grad_output scaled by 1e-6: must report > 1e-3"),
    )


def _gradcheck_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    shapes = [(3, 3, 3), (2, 4, 2), tuple(int(v) for v in rng.integers(2, 6, size=3))]
    for which, (batch, n_in, n_out) in zip(("correct", "correct", "correct"), shapes, strict=True):
        cases.append(Case((which, rng.normal(size=(batch, n_in)), rng.normal(size=(n_out, n_in)),
                           rng.normal(size=n_out), rng.normal(size=(batch, n_out)))))
    for which in ("weight_over_batch", "input_sign", "bias_mean"):
        batch, n_in, n_out = (int(v) for v in rng.integers(2, 6, size=3))
        cases.append(Case((which, rng.normal(size=(batch, n_in)), rng.normal(size=(n_out, n_in)),
                           rng.normal(size=n_out), rng.normal(size=(batch, n_out)))))
    # Scales an absolute error cannot judge: a huge upstream gradient for a correct backward, tiny ones for bugs.
    for which, scale in (("correct", 1e6), ("weight_over_batch", 1e-6), ("bias_mean", 1e-6), ("weight_scaled", 1.0)):
        batch, n_in, n_out = (int(v) for v in rng.integers(2, 6, size=3))
        cases.append(Case((which, rng.normal(size=(batch, n_in)), rng.normal(size=(n_out, n_in)),
                           rng.normal(size=n_out), scale * rng.normal(size=(batch, n_out)))))
    return cases


def _checker_verdict(case: Case, answer: Any) -> Verdict:
    """A correct candidate must give a finite error in [0, 1e-6); a broken one an error above 1e-3."""
    array = getattr(answer, "array", None)
    if array is None:
        described = answer.describe() if hasattr(answer, "describe") else type(answer).__name__
        return Verdict(False, f"expected one number (the largest relative error), got {described}")
    array = np.asarray(array, dtype=np.float64)
    if array.size != 1:
        return Verdict(False, f"expected one number (the largest relative error), got shape {array.shape}")
    value = float(array.reshape(()))
    if not np.isfinite(value) or value < 0:
        return Verdict(False, f"the relative error must be a finite number ≥ 0, got {value}")
    which = case.args[0]
    if which == "correct":
        if value < GRADCHECK_PASS:
            return Verdict(True)
        return Verdict(False, f"your check reported {value:.3g} for {CANDIDATES[which]}; it should be below "
                              f"{GRADCHECK_PASS:g}. Check the f you differentiate: L = Σ grad_output ⊙ (input Wᵀ + b), "
                              "with one argument replaced by v")
    if value > GRADCHECK_FLAG:
        return Verdict(True)
    return Verdict(False, f"your check reported {value:.3g} for {CANDIDATES[which]}: it missed the bug (a working "
                          f"check reports an error of order 1, above {GRADCHECK_FLAG:g}). Check all three gradients "
                          "and return the largest error")


def _gradcheck_question() -> Question:
    return Question(
        name="gradcheck_linear", cell="gradcheck_linear_solution", entry="gradcheck_linear",
        reference=_gradcheck_variant("none"), public=_gradcheck_public, hidden=_gradcheck_hidden,
        harness="gradcheck_harness", judge=_checker_verdict, banned=BANNED, numpy_only=True, autograd=False,
        # The judge decides pass/fail; rtol/atol only match a wrong answer to a known mistake (those answers
        # reproduce to ~1e-9).
        rtol=1e-5, atol=1e-8,
        hint="differentiate L(v) = Σ grad_output ⊙ (input Wᵀ + b) with one argument replaced by v, for each of "
             "the three gradients, and return the largest relative error",
        # checked_only_input fails on a subset of min_not_max's cases (both give noise-level numbers there), so it
        # is listed first: the first mistake reproducing every failed answer is the one named.
        mistakes=(
            Mistake(
                "forgot_grad_output",
                "your f is Σ (input Wᵀ + b), without grad_output: a backward returns the gradient of "
                "L = Σ grad_output ⊙ y, so that is the f to differentiate numerically.",
                _gradcheck_variant("unweighted"),
                edits=[("np.sum(grad_output * (v @ weight.T + bias))", "np.sum(v @ weight.T + bias)"),
                       ("np.sum(grad_output * (input @ v.T + bias))", "np.sum(input @ v.T + bias)"),
                       ("np.sum(grad_output * (input @ weight.T + v))", "np.sum(input @ weight.T + v)")],
            ),
            Mistake(
                "mean_not_sum",
                "your f averages grad_output ⊙ y instead of summing it: L = Σ grad_output ⊙ y (a mean divides "
                "every numerical derivative by the number of outputs).",
                _gradcheck_variant("mean"),
                edits=[("np.sum(grad_output * (v @", "np.mean(grad_output * (v @"),
                       ("np.sum(grad_output * (input @ v.T", "np.mean(grad_output * (input @ v.T"),
                       ("np.sum(grad_output * (input @ weight.T", "np.mean(grad_output * (input @ weight.T")],
            ),
            Mistake(
                "bias_left_out",
                "your f for the bias does not depend on its argument (it uses `bias`, not `v`), so its "
                "numerical gradient is 0: write f_bias(v) = Σ grad_output ⊙ (input Wᵀ + v).",
                _gradcheck_variant("bias_left_out"),
                edits=[("(input @ weight.T + v))", "(input @ weight.T + bias))")],
            ),
            Mistake(
                "checked_only_input",
                "your check misses errors in grad_weight or grad_bias (it passes a backward that is wrong only "
                "there): a backward can be wrong in any of its three gradients, so compare all three and return "
                "the largest error.",
                _gradcheck_variant("input_only"),
                edits=[("return float(max(errors))", "return float(errors[0])")],
            ),
            Mistake(
                "min_not_max",
                "you returned the smallest of the three errors, so a bug in one gradient goes unnoticed: return "
                "the largest.",
                _gradcheck_variant("min"),
                edits=[("return float(max(errors))", "return float(min(errors))")],
            ),
        ),
    )


SUITE = Suite(
    assignment="backprop",
    questions=(
        *_scalar_questions(),
        _activation_question(),
        _linear_question(),
        _bce_question(),
        _ce_question(),
        _mlp_question(),
        _numgrad_question(),
        _gradcheck_question(),
    ),
    harness_source=HARNESS_SOURCE,
    notebook=NOTEBOOK,  # each mistake's code: its question's solution cell with its edits
)

