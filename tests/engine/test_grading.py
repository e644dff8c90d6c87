"""End-to-end grading of real notebooks of the 'mini' fixture in a real sandbox: marks, statuses, diagnoses."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from engine_helpers import blank, scores, statuses, with_cell

from dlgrade import report
from dlgrade.grading import Grader


def test_instructor_source_scores_full_marks(grader: Grader) -> None:
    result = grader.grade(grader.assignment.source)
    assert (result.score, result.max_score) == (5.0, 5.0)
    assert set(statuses(result).values()) == {"passed"}


def test_blank_template_scores_zero_not_implemented(grader: Grader, tmp_path: Path) -> None:
    result = grader.grade(blank(grader.assignment.source, tmp_path / "mini.ipynb"))
    assert result.score == 0.0
    assert statuses(result) == {"mse": "not_implemented", "relu_derivative": "not_implemented",
                                "worked_loss": "not_implemented"}


@pytest.mark.parametrize("question", ["mse", "relu_derivative", "worked_loss"])
def test_every_known_mistake_is_caught_and_named(grader: Grader, tmp_path: Path, question: str) -> None:
    spec = grader.assignment.suite.question(question)
    for mistake in spec.mistakes:
        result = grader.grade(with_cell(grader.assignment.source, spec.cell, mistake.solution,
                                        tmp_path / f"{mistake.name}.ipynb"))
        graded = next(q for q in result.questions if q.name == question)
        assert graded.score < graded.max_score, mistake.name
        assert graded.diagnosis is not None and graded.diagnosis.name == mistake.name
        assert mistake.feedback in graded.feedback
        others = {name: score for name, score in scores(result).items() if name != question}
        assert others == {q: grader.assignment.points[q] for q in others}


def test_forgotten_mean_keeps_partial_credit_for_the_reductions_it_gets_right(grader: Grader,
                                                                               tmp_path: Path) -> None:
    forgot_mean = grader.assignment.suite.question("mse").mistakes[0]
    result = grader.grade(with_cell(grader.assignment.source, "mse_solution", forgot_mean.solution,
                                    tmp_path / "mini.ipynb"))
    mse = result.questions[0]
    # 'none' and 'sum' pass, 'mean' fails: 4 of 6 cases (3 public, 3 hidden) of 2 points.
    assert mse.score == pytest.approx(2 * 4 / 6, abs=0.01)
    assert mse.status == "failed"
    # The diagnosis is named on the very cases its variant reproduces, not on the ones that passed.
    assert sorted((c.passed, c.mistake or "") for c in mse.cases) == \
        [(False, forgot_mean.name)] * 2 + [(True, "")] * 4
    diagnosis = report.to_json(result)["tests"][0]["diagnosis"]
    assert diagnosis["mistake"] == forgot_mean.name
    assert diagnosis["cases"] == [c.label for c in mse.cases if not c.passed]


def test_public_failure_shows_inputs_yours_and_expected_hidden_does_not(grader: Grader, tmp_path: Path) -> None:
    code = "def mse_loss(input, target, reduction='mean'):\n    return ((input - target) ** 2).sum() * 0 + 1.0 \\\n" \
           "        if reduction != 'none' else (input - target) ** 2\n"
    result = grader.grade(with_cell(grader.assignment.source, "mse_solution", code, tmp_path / "mini.ipynb"))
    mse = result.questions[0]
    public = next(c for c in mse.cases if c.public and not c.passed)
    hidden = next(c for c in mse.cases if not c.public and not c.passed)
    assert public.inputs and public.yours == "1." and public.expected is not None
    assert "yours 1, expected 1.41667" in public.message
    assert hidden.inputs is None and hidden.yours is None and hidden.expected is None
    assert re.fullmatch(r"values differ from the expected ones \(largest error [0-9.e+-]+\)", hidden.message)


def test_banned_api_is_reported_without_running(grader: Grader, tmp_path: Path) -> None:
    code = ("import torch\ndef relu_grad(x):\n    t = torch.tensor(x, requires_grad=True)\n"
            "    torch.relu(t).sum().backward()\n    return t.grad.numpy()\n")
    result = grader.grade(with_cell(grader.assignment.source, "relu_solution", code, tmp_path / "mini.ipynb"))
    relu = result.questions[1]
    assert (relu.status, relu.score) == ("banned", 0.0)
    assert ".backward()" in relu.feedback


def test_a_name_hidden_from_the_static_check_is_banned_not_passed(grader: Grader, tmp_path: Path) -> None:
    """The check fails closed: a computed attribute name is a finding (and autograd stays off at run time anyway,
    see test_by_hand.py)."""
    code = ("import torch\ndef relu_grad(x):\n    t = torch.tensor(x, requires_grad=True)\n"
            "    getattr(torch.relu(t).sum(), 'back' + 'ward')()\n    return t.grad.numpy()\n")
    result = grader.grade(with_cell(grader.assignment.source, "relu_solution", code, tmp_path / "mini.ipynb"))
    assert (result.questions[1].status, result.questions[1].score) == ("banned", 0.0)
    assert "getattr() (line 4): the checker cannot follow it" in result.questions[1].feedback


def test_hidden_cases_change_with_the_submission_and_repeat_for_the_same_one(grader: Grader,
                                                                             tmp_path: Path) -> None:
    from dlgrade.grading import submission_seed
    from dlgrade.notebook import extract

    source = grader.assignment.source
    mistake = grader.assignment.suite.question("mse").mistakes[0]
    edited = with_cell(source, "mse_solution", mistake.solution, tmp_path / "a.ipynb")
    seeds = {submission_seed(grader.secret, extract(path, source), "v1") for path in (source, source, edited)}
    assert len(seeds) == 2


def test_top_level_crash_in_one_cell_is_skipped_and_the_rest_graded(grader: Grader, tmp_path: Path) -> None:
    code = "import os\nos._exit(3)\n"
    path = with_cell(grader.assignment.source, "worked_solution", code, tmp_path / "mini.ipynb")
    result = grader.grade(path)
    assert scores(result) == {"mse": 2.0, "relu_derivative": 2.0, "worked_loss": 0.0}
    assert any("worked_solution ended the worker process" in note for note in result.notes)


def test_top_level_infinite_loop_cell_is_skipped(grader: Grader, tmp_path: Path, monkeypatch) -> None:
    from dlgrade import grading

    monkeypatch.setattr(grading, "EXEC_TIMEOUT", 2.0)
    path = with_cell(grader.assignment.source, "worked_solution", "while True:\n    pass\n", tmp_path / "mini.ipynb")
    result = grader.grade(path)
    assert scores(result) == {"mse": 2.0, "relu_derivative": 2.0, "worked_loss": 0.0}
    assert any("ran too long" in note for note in result.notes)


def test_mutating_an_input_fails_the_case(grader: Grader, tmp_path: Path) -> None:
    code = ("def mse_loss(input, target, reduction='mean'):\n    input -= target\n    loss = input ** 2\n"
            "    return {'mean': loss.mean, 'sum': loss.sum, 'none': lambda: loss}[reduction]()\n")
    result = grader.grade(with_cell(grader.assignment.source, "mse_solution", code, tmp_path / "mini.ipynb"))
    assert result.questions[0].score == 0.0
    assert "in place" in result.questions[0].feedback
