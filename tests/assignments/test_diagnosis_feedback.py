"""Diagnosis and feedback that do not mislead, on the real assignments in a real sandbox: a known mistake is named
only where its variant reproduces the failed answers as they were compared, values carry the digits that show
their difference, a diverged training run is told so, and a cell that failed when the notebook ran is named on
the question it breaks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from dlgrade import assignments
from dlgrade.grading import QuestionResult, Session, grade_question, public_values, submission_seed
from dlgrade.notebook import extract
from dlgrade.sample_class import replace_cell
from dlgrade.sandbox.launcher import Sandbox


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


def grade_one(sandbox: Sandbox, tmp_path: Path, assignment_id: str, question_name: str,
              cells: dict[str, str]) -> QuestionResult:
    """One question of the instructor's solution notebook with ``cells`` (grade_id -> source) swapped in."""
    assignment = assignments.load(assignment_id)
    notebook = nbformat.read(assignment.source, as_version=4)
    for grade_id, source in cells.items():
        notebook = replace_cell(notebook, grade_id, source)
    path = tmp_path / f"{assignment_id}.ipynb"
    nbformat.write(notebook, path)
    extraction = extract(path, assignment.source)
    suite = assignment.suite
    session = Session(sandbox, extraction.cells, suite.harness_source)
    try:
        question = suite.question(question_name)
        seed = submission_seed(b"diagnosis-tests", extraction, suite.version)
        return grade_question(question, assignment.points[question.name], extraction, session, seed,
                              public_values(assignment))
    finally:
        session.close()


# ---- 1. a mistake is named only where its variant reproduces the answer as compared ----------------------------

RELU_AS_BOOLEANS = '''\
def activation_grad(z, activation):
    z = np.asarray(z, dtype=np.float64)
    if activation == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-z))
        return s * (1.0 - s)
    if activation == "tanh":
        return 1.0 - np.tanh(z) ** 2
    return z > 0
'''


def test_relu_derivative_returned_as_booleans_is_a_dtype_failure_not_the_sigmoid_mistake(sandbox, tmp_path):
    result = grade_one(sandbox, tmp_path, "backprop", "activation_grad",
                       {"activation_grad_solution": RELU_AS_BOOLEANS})
    relu_failures = [case for case in result.cases if not case.passed]
    # the public relu case, the two random relu cases, the extremes and the zeros: 5 of 13
    assert (len(result.cases), len(relu_failures)) == (13, 5)
    assert all("dtype: expected floating-point numbers, got bool" in case.message for case in relu_failures)
    assert result.diagnosis is None
    assert all(case.mistake is None for case in result.cases)
    assert "sigmoid" not in result.feedback and "Known mistake" not in result.feedback
    assert "Hint: σ'(z) = σ(z)(1 − σ(z))" in result.feedback


def test_a_known_mistake_returning_floats_where_integers_belong_is_still_named(sandbox, tmp_path):
    # argmin_argmax's returned_values: np.min/np.max give floats where positions (integers) belong
    result = grade_one(sandbox, tmp_path, "tensors", "argmin_argmax", {"argmin_argmax_solution": (
        "def argmin_argmax(x, axis):\n    return np.min(x, axis=axis), np.max(x, axis=axis)\n")})
    assert result.score == 0.0
    assert result.diagnosis is not None and result.diagnosis.name == "returned_values"


# ---- 2. a cell that failed when the notebook ran is named on the question it breaks; matplotlib works -----------

LR_REGIMES_WITH_A_PLOT = '''\
import matplotlib.pyplot as plt

def lr_regimes(X, y, lrs, steps):
    codes = []
    figure, axes = plt.subplots()
    for lr in lrs:
        with np.errstate(over='ignore', invalid='ignore'):
            losses = run_gd(X, y, lr, steps)
        axes.semilogy(losses, label=f"lr={lr:g}")
        if not np.isfinite(losses[-1]) or losses[-1] > losses[0]:
            codes.append(2)
        elif losses[-1] > 0.1 * losses[0]:
            codes.append(1)
        else:
            codes.append(0)
    plt.close(figure)
    return np.array(codes, dtype=np.int64)
'''


def test_a_question_that_invites_a_matplotlib_plot_can_plot_in_the_sandbox(sandbox, tmp_path):
    result = grade_one(sandbox, tmp_path, "sgd", "lr_regimes", {"lr_regimes_solution": LR_REGIMES_WITH_A_PLOT})
    assert result.status == "passed", result.feedback
    assert result.score == result.max_score == 3.0


def test_a_cell_that_raised_when_run_is_named_on_the_question_it_breaks(sandbox, tmp_path):
    broken = LR_REGIMES_WITH_A_PLOT.replace("import matplotlib.pyplot as plt", "import seaborn_is_not_here as sns")
    result = grade_one(sandbox, tmp_path, "sgd", "lr_regimes", {"lr_regimes_solution": broken})
    assert result.score == 0.0
    assert "Your cell lr_regimes_solution raised ModuleNotFoundError: No module named 'seaborn_is_not_here' when " \
           "the notebook ran" in result.feedback
    first = result.cases[0]
    assert first.message == ("lr_regimes is not defined: your cell lr_regimes_solution raised ModuleNotFoundError: "
                             "No module named 'seaborn_is_not_here' before it got there")


def test_an_import_that_failed_in_another_cell_is_named_where_its_name_is_missing(sandbox, tmp_path):
    assignment = assignments.load("sgd")
    notebook = nbformat.read(assignment.source, as_version=4)
    # a cell of the student's own, before question 1, whose import fails; gd_step then uses the name
    notebook.cells.insert(1, nbformat.v4.new_code_cell("import seaborn_is_not_here as sns"))
    notebook = replace_cell(notebook, "gd_step_solution",
                            "def gd_step(theta, grad, lr):\n    sns.set()\n    return theta - lr * grad\n")
    path = tmp_path / "sgd.ipynb"
    nbformat.write(notebook, path)
    extraction = extract(path, assignment.source)
    session = Session(sandbox, extraction.cells, assignment.suite.harness_source)
    try:
        question = assignment.suite.question("gd_step")
        result = grade_question(question, assignment.points["gd_step"], extraction, session, 1,
                                public_values(assignment))
    finally:
        session.close()
    assert result.score == 0.0 and result.status == "error"
    assert "When your notebook ran, cell added-2 raised ModuleNotFoundError: No module named " \
           "'seaborn_is_not_here': a name this question needs may never have been defined." in result.feedback
