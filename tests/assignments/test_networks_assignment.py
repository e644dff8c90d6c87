"""The networks assignment: its solutions come from the notebook alone, the notes' XOR run reaches 100%, the
digits judge gives credit across its accuracy band, and its public cases show what the questions teach."""

from __future__ import annotations

import numpy as np
import pytest

from autograders import networks
from dlgrade import assignments
from dlgrade.errors import UsageError
from dlgrade.solution_cells import edited, solution_sources
from reference import xor


def test_every_mistake_is_its_notebook_cell_with_one_edit() -> None:
    suite = assignments.load("networks").suite
    cells = solution_sources(networks.NOTEBOOK)
    for question in suite.questions:
        assert "### BEGIN SOLUTION" not in cells[question.cell]
        for mistake in question.mistakes:
            assert mistake.solution != cells[question.cell], (question.name, mistake.name)
            assert len(mistake.solution.splitlines()) - len(cells[question.cell].splitlines()) in (-1, 0)


def test_a_stale_mistake_edit_is_one_line_naming_the_cell() -> None:
    with pytest.raises(UsageError, match=r"^mistake edit does not apply to networks' rnn_step_solution: 'sigmoid"):
        edited(networks.SOLUTIONS["rnn_step_solution"], ("sigmoid(", "tanh("), where="networks' rnn_step_solution")


def test_the_notes_xor_run_classifies_all_four_points() -> None:
    (case, _) = networks.train_xor_public()
    trained = networks.train_xor_reference(*case.args)
    np.testing.assert_array_equal(xor.predict(trained, networks.XOR_X), networks.XOR_Y)
    assert xor.xor_loss(trained, networks.XOR_X, networks.XOR_Y) < 0.01


def test_sigmoid_gradients_vanish_where_relu_keeps_them_in_the_public_case() -> None:
    norms = {case.args[2]: networks.networks.gradient_norms(*case.args) for case in networks.gradient_norms_public()}
    assert norms["sigmoid"][0] / norms["sigmoid"][-1] < 0.05
    assert norms["relu"][0] / norms["relu"][-1] > 0.2


class _Leaf:
    def __init__(self, array: np.ndarray) -> None:
        self.array = array


class _StateDict:
    """The shape of a returned state dict as the grader sees it (entries of plain arrays)."""

    def __init__(self, weights: dict[str, np.ndarray]) -> None:
        self.entries = [(key, _Leaf(value)) for key, value in weights.items()]


def test_digits_judge_gives_a_third_per_threshold_reached() -> None:
    cases = networks.digits_public()
    weights = networks._digits_reference(*cases[0].args)
    assert [networks.judge_digits(case, _StateDict(weights)).passed for case in cases] == [True, True, True]
    # Zero output weights: every digit is class 0, about a tenth of them right.
    blind = dict(weights, **{"2.weight": np.zeros((10, weights["0.weight"].shape[0])), "2.bias": np.zeros(10)})
    verdicts = [networks.judge_digits(case, _StateDict(blind)) for case in cases]
    assert [v.passed for v in verdicts] == [False, False, False]
    assert verdicts[0].message.startswith("accuracy on 597 held-out digits: 0.")
    # Noise on the output layer until the accuracy falls between the first two thresholds: a third of the points.
    X, y = networks._held_out(cases[0].args[0])
    rng = np.random.default_rng(0)
    noise = rng.normal(size=weights["2.weight"].shape)
    low, mid, _ = networks.DIGITS_BAND
    for scale in np.linspace(0.05, 5.0, 100) * np.abs(weights["2.weight"]).mean():
        noisy = dict(weights, **{"2.weight": weights["2.weight"] + scale * noise})
        if low <= networks.digits_accuracy(noisy, X, y) < mid:
            break
    else:
        pytest.fail("no noise level gave an accuracy inside the band")
    assert [networks.judge_digits(case, _StateDict(noisy)).passed for case in cases] == [True, False, False]


def test_digits_judge_refuses_another_architecture_in_one_line() -> None:
    case = networks.digits_public()[0]
    verdict = networks.judge_digits(case, _StateDict({"weight": np.zeros((10, 64)), "bias": np.zeros(10)}))
    assert not verdict.passed and "nn.Linear(64, hidden)" in verdict.message and "\n" not in verdict.message


def test_held_out_digits_never_overlap_the_training_rows() -> None:
    case = networks.digits_hidden(np.random.default_rng(4))[0]
    X_train = case.args[0]
    X_test, _ = networks._held_out(X_train)
    train_rows = {row.tobytes() for row in X_train}
    assert len(X_train) == networks.DIGITS_TRAIN and not any(row.tobytes() in train_rows for row in X_test)
