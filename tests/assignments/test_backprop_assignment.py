"""backprop: the suite's references agree with torch autograd, the lecture notes' printed numbers are the slips
the catalog names, each question has a solution cell in the notebook, the numerical checker's tolerance separates
central from forward differences, and the gradcheck judge reads its number right."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from autograders import backprop
from dlgrade.checking.answers import from_value
from dlgrade.suite import Case

NOTEBOOK = Path(__file__).resolve().parents[2] / "assignments" / "backprop" / "backprop.ipynb"
SEEDS = range(4)


def cases(name: str) -> list[Case]:
    question = backprop.SUITE.question(name)
    found = list(question.public())
    for seed in SEEDS:
        found += list(question.hidden(np.random.default_rng([seed, 11])))
    return found


def t(array, grad: bool = True) -> torch.Tensor:
    return torch.tensor(np.asarray(array, dtype=np.float64), dtype=torch.float64, requires_grad=grad)


# ---- part 1: the worked example, against autograd and against the notes -------------------------------------


def _torch_example() -> dict[str, float]:
    x = t(5.0)
    w1, b1, w3, b3 = t(3.0), t(2.0), t(-0.5), t(4.0)
    y1 = w1 * x + b1
    y2 = torch.relu(y1)
    y3 = w3 * y2 + b3
    for node in (y1, y2, y3):
        node.retain_grad()
    loss = (y3 - 2.0) ** 2
    loss.backward()
    grads = {"dl_dy3": y3.grad, "dl_dy2": y2.grad, "dl_dy1": y1.grad, "dl_dx": x.grad, "dl_dw3": w3.grad,
             "dl_db3": b3.grad, "dl_dw1": w1.grad, "dl_db1": b1.grad}
    values = {name: g.item() for name, g in grads.items()}
    values.update(y1=y1.item(), y2=y2.item(), y3=y3.item(), loss=loss.item())
    for name, p in (("w3", w3), ("b3", b3), ("w1", w1), ("b1", b1)):
        values[f"{name}_new"] = (p - 1e-3 * p.grad).item()
    return values


TORCH = _torch_example()


@pytest.mark.parametrize("name", ["scalar_forward", "scalar_chain_rule", "scalar_param_grads", "scalar_sgd_step"])
def test_scalar_references_are_torch_autograd(name):
    question = backprop.SUITE.question(name)
    expected = [TORCH[n] for n in question.output_names]
    np.testing.assert_allclose(question.reference(), expected, rtol=1e-14, atol=1e-14)


def test_notes_forward_numbers_are_right_and_their_gradients_are_not():
    # lecture 8 prints y = -4.5 and l = 42.25: both right
    assert TORCH["y3"] == -4.5 and TORCH["loss"] == 42.25
    # ... then dl/dy3 = -11.5 and dl/dx = 17.25: autograd says -13 and 19.5
    assert (TORCH["dl_dy3"], TORCH["dl_dx"]) == (-13.0, 19.5)
    # ... and the updated parameters w3' = -0.4885, b3' = 4.0115, "w'_3 = -2.98275" (w1'), "b'_3 = 1.98275" (b1')
    notes = (-0.4885, 4.0115, -2.98275, 1.98275)
    right = (TORCH["w3_new"], TORCH["b3_new"], TORCH["w1_new"], TORCH["b1_new"])
    np.testing.assert_allclose(right, (-0.279, 4.013, 2.9675, 1.9935), rtol=1e-12)
    assert all(abs(n - r) > 1e-3 for n, r in zip(notes, right, strict=True))


@pytest.mark.parametrize("name, printed", [
    ("scalar_chain_rule", (-11.5, 5.75, 5.75, 17.25)),      # dl/dy3 = -11.5 ... dl/dx = 17.25
    ("scalar_param_grads", (-11.5, -11.5, 17.25, 17.25)),   # −dl/dw3 = 11.5, −dl/db3 = 11.5, −17.25, −17.25
    ("scalar_sgd_step", (-0.4885, 4.0115, -2.98275, 1.98275)),
])
def test_notes_slip_mistakes_carry_the_printed_numbers(name, printed):
    mistake = {m.name: m for m in backprop.SUITE.question(name).mistakes}["notes_slip"]
    np.testing.assert_allclose(mistake.compute(), printed, rtol=1e-12)
    namespace: dict = {}
    exec(mistake.solution, namespace)
    entry = backprop.SUITE.question(name).entry
    np.testing.assert_allclose(namespace[entry], printed, rtol=1e-12)


def test_every_question_has_a_solution_cell():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"] for c in notebook.cells
             if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    assert cells == {q.cell for q in backprop.SUITE.questions}


def test_points_total_40():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    points = [c.metadata["nbgrader"]["points"] for c in notebook.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert len(points) == len(backprop.SUITE.questions) and sum(points) == 40


# ---- part 2: the matrix-form references against autograd -----------------------------------------------------


@pytest.mark.parametrize("case", cases("activation_grad"), ids=lambda c: c.describe()[:40])
def test_activation_grad_reference_is_autograd(case):
    z, activation = case.args
    zt = t(z)
    getattr(torch, activation)(zt).sum().backward()
    np.testing.assert_allclose(backprop._activation_grad(z, activation), zt.grad.numpy(), rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("case", cases("linear_backward"), ids=lambda c: c.describe()[:40])
def test_linear_backward_reference_is_autograd(case):
    x, w, g = case.args
    xt, wt, bt = t(x), t(w), t(np.zeros(w.shape[0]))
    (torch.nn.functional.linear(xt, wt, bt) * t(g, grad=False)).sum().backward()
    for got, want in zip(backprop._linear_reference(x, w, g), (xt.grad, wt.grad, bt.grad), strict=True):
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)


def _two_layer_autograd(case: Case, output: str) -> list[np.ndarray | float]:
    X, y, W1, b1, W2, b2 = case.args
    params = [t(p) for p in (W1, b1, W2, b2)]
    hidden = torch.sigmoid if output == "bce" else torch.relu
    Z2 = torch.nn.functional.linear(hidden(torch.nn.functional.linear(t(X, grad=False), params[0], params[1])),
                                    params[2], params[3])
    if output == "bce":
        loss = torch.nn.functional.binary_cross_entropy_with_logits(Z2[:, 0], t(y, grad=False))
    else:
        loss = torch.nn.functional.cross_entropy(Z2, torch.tensor(y))
    loss.backward()
    return [loss.item()] + [p.grad.numpy() for p in params]


@pytest.mark.parametrize("name, output", [("two_layer_bce", "bce"), ("two_layer_ce", "ce")])
def test_two_layer_references_are_autograd(name, output):
    question = backprop.SUITE.question(name)
    for case in cases(name):
        got = question.reference(*case.args)
        for value, want, label in zip(got, _two_layer_autograd(case, output), question.output_names, strict=True):
            np.testing.assert_allclose(value, want, rtol=1e-10, atol=1e-12, err_msg=f"{label}: {case.describe()}")


def test_edge_cases_really_are_extreme():
    bce = [c for c in cases("two_layer_bce") if c.label.startswith("saturated")] + \
        [c for c in backprop.SUITE.question("two_layer_bce").hidden(np.random.default_rng(0))][4:5]
    for case in bce:  # σ(z) rounds to exactly 1 on a sample labelled 0: log(1 − σ) would be −inf
        X, y, W1, b1, W2, b2 = case.args
        z = backprop.linear(backprop.sigmoid(backprop.linear(X, W1, b1)), W2, b2)[:, 0]
        assert np.any((1.0 / (1.0 + np.exp(-z)) == 1.0) & (y == 0)), case.describe()
    ce = [c for c in cases("two_layer_ce") if "1000" in c.label]
    ce += list(backprop.SUITE.question("two_layer_ce").hidden(np.random.default_rng(0)))[4:5]
    for case in ce:  # e^z overflows without the max subtracted
        X, y, W1, b1, W2, b2 = case.args
        Z2 = backprop.linear(backprop.relu(backprop.linear(X, W1, b1)), W2, b2)
        assert np.max(Z2) > 710, case.describe()


@pytest.mark.parametrize("case", cases("mlp_backward"), ids=lambda c: c.describe()[:40])
def test_mlp_reference_is_autograd(case):
    x, params, g = case.args
    xt = t(x)
    tensors = [(t(W), t(b)) for W, b in params]
    a = xt
    for i, (W, b) in enumerate(tensors):
        a = torch.nn.functional.linear(a, W, b)
        if i < len(tensors) - 1:
            a = torch.relu(a)
    (a * t(g, grad=False)).sum().backward()
    grad_x, grads = backprop._mlp_reference(x, params, g)
    np.testing.assert_allclose(grad_x, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert len(grads) == len(params)
    for (dW, db), (W, b) in zip(grads, tensors, strict=True):
        np.testing.assert_allclose(dW, W.grad.numpy(), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(db, b.grad.numpy(), rtol=1e-12, atol=1e-12)


# ---- the numerical gradient: the exact gradients, and a tolerance that tells central from forward -----------


@pytest.mark.parametrize("case", cases("numerical_gradient"), ids=lambda c: c.describe()[:40])
def test_numerical_gradient_reference_is_autograd_of_the_harness_function(case):
    function, A, x, eps = case.args
    xt = t(x)
    At = t(A, grad=False)
    value = {
        "quadratic": lambda v: 0.5 * (v @ At @ v),
        "tanh_sq": lambda v: torch.sum(torch.tanh(At @ v) ** 2),
        "logsumexp": lambda v: torch.logsumexp(At @ v, dim=0),
        "matrix_tanh": lambda W: torch.sum(torch.tanh(W @ At) ** 2),
    }[function](xt)
    value.backward()
    harness_f = backprop._HARNESS["numgrad_test_function"](function, A)
    assert harness_f(x.copy()) == pytest.approx(value.item(), rel=1e-12)
    np.testing.assert_allclose(backprop._exact_gradient(*case.args), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_tolerance_accepts_central_and_rejects_forward_differences():
    question = backprop.SUITE.question("numerical_gradient")
    forward_caught = 0
    for case in cases("numerical_gradient"):
        exact = question.reference(*case.args)
        allowed = question.atol + question.rtol * np.abs(exact)
        central = backprop._difference_variant("central")(*case.args)
        assert np.all(np.abs(central - exact) < 0.2 * allowed), case.describe()
        forward = backprop._difference_variant("forward")(*case.args)
        forward_caught += bool(np.any(np.abs(forward - exact) > allowed))
    assert forward_caught >= len(cases("numerical_gradient")) - len(SEEDS)  # a 1-D linear f may hide it


# ---- the gradient check: trusted pieces, and a judge that wants small for correct and large for broken -----


def test_harness_central_difference_is_the_reference_checker():
    from reference.gradcheck import numerical_gradient

    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 2))
    f = backprop._HARNESS["numgrad_test_function"]("matrix_tanh", rng.normal(size=(2, 3)))
    np.testing.assert_array_equal(backprop._HARNESS["central_difference"](f, x, 1e-6), numerical_gradient(f, x, 1e-6))


@pytest.mark.parametrize("which", sorted(backprop.CANDIDATES))
def test_candidate_backwards_are_what_they_say(which):
    x, w, g = np.ones((3, 2)), np.arange(4.0).reshape(2, 2), np.arange(6.0).reshape(3, 2)
    got = backprop._HARNESS["candidate_linear_backward"](which)(x, w, g)
    right = backprop._linear_reference(x, w, g)
    differs = [not np.allclose(a, b) for a, b in zip(got, right, strict=True)]
    assert differs == {"correct": [False] * 3, "input_sign": [True, False, False],
                       "weight_over_batch": [False, True, False], "bias_mean": [False, False, True],
                       "weight_scaled": [False, True, False]}[which]


@pytest.mark.parametrize("case", cases("gradcheck_linear"), ids=lambda c: c.describe()[:40])
def test_gradcheck_reference_passes_and_each_mistake_is_judged_wrong_somewhere(case):
    question = backprop.SUITE.question("gradcheck_linear")
    error = question.reference(*case.args)
    assert question.judge(case, from_value(error)).passed
    if case.args[0] == "correct":
        assert 0 <= error < 1e-8
    elif case.args[0] == "weight_scaled":  # the subtle bug: 0.004 / 2.004, twice the flag
        assert error == pytest.approx(0.004 / 2.004, rel=1e-6)
    else:
        assert error > 0.1


def test_every_gradcheck_mistake_fails_the_judge_on_some_public_case():
    question = backprop.SUITE.question("gradcheck_linear")
    for mistake in question.mistakes:
        verdicts = [question.judge(c, from_value(mistake.compute(*c.args))).passed for c in question.public()]
        assert not all(verdicts), mistake.name


@pytest.mark.parametrize("which, answer, passed", [
    ("correct", 0.0, True), ("correct", np.float64(3e-10), True), ("correct", np.array(5e-7), True),
    ("correct", 2e-6, False), ("correct", -1e-9, False), ("correct", float("nan"), False),
    ("correct", np.array([1e-9, 1e-9]), False), ("correct", None, False), ("correct", (1e-9,), False),
    ("bias_mean", 0.5, True), ("bias_mean", 1e-9, False), ("bias_mean", float("inf"), False),
])
def test_gradcheck_judge(which, answer, passed):
    question = backprop.SUITE.question("gradcheck_linear")
    case = Case((which, *question.public()[2].args[1:]))
    assert question.judge(case, from_value(answer)).passed is passed
