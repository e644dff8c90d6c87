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
from dlgrade.checking.student_numbers import TEMPLATE_SECRET
from dlgrade.grading import QuestionResult, Session, grade_question, own_numbers, public_values, submission_seed
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
    # lr_regimes is numpy-only (matplotlib allowed for its plot): a module of another package would be refused, by
    # the static check or at run time, so the import that fails here is a missing module of matplotlib's.
    broken = LR_REGIMES_WITH_A_PLOT.replace("import matplotlib.pyplot as plt",
                                            "import matplotlib.pyplot_is_not_here as plt")
    result = grade_one(sandbox, tmp_path, "sgd", "lr_regimes", {"lr_regimes_solution": broken})
    assert result.score == 0.0
    assert "Your cell lr_regimes_solution raised ModuleNotFoundError: No module named " \
           "'matplotlib.pyplot_is_not_here' when the notebook ran" in result.feedback
    first = result.cases[0]
    assert first.message == ("lr_regimes is not defined: your cell lr_regimes_solution raised ModuleNotFoundError: "
                             "No module named 'matplotlib.pyplot_is_not_here' before it got there")


def test_an_import_that_failed_in_another_cell_is_named_where_its_name_is_missing(sandbox, tmp_path):
    assignment = assignments.load("sgd")
    notebook = nbformat.read(assignment.source, as_version=4)
    # a cell of the student's own, before question 1, whose import fails (a typo in a module of matplotlib's: gd_step
    # is numpy-only, where a package other than numpy and matplotlib would be refused first); gd_step then uses it
    notebook.cells.insert(1, nbformat.v4.new_code_cell("import matplotlib.pyplott as sns"))
    notebook = replace_cell(notebook, "gd_step_solution",
                            "def gd_step(theta, grad, lr):\n    sns.set()\n    return theta - lr * grad\n")
    path = tmp_path / "sgd.ipynb"
    nbformat.write(notebook, path)
    extraction = extract(path, assignment.source)
    # graded as a student, with their own numbers: the notebook's other cells (my_numbers) run as they would
    numbers = own_numbers(assignment, TEMPLATE_SECRET, "ada")
    session = Session(sandbox, extraction.cells, assignment.suite.harness_source, numbers)
    try:
        question = assignment.suite.question("gd_step")
        result = grade_question(question, assignment.points["gd_step"], extraction, session, 1,
                                public_values(assignment))
    finally:
        session.close()
    assert result.score == 0.0 and result.status == "error"
    assert "When your notebook ran, cell added-2 raised ModuleNotFoundError: No module named " \
           "'matplotlib.pyplott': a name this question needs may never have been defined." in result.feedback


# ---- 4. correct work scores full marks: an nn.Sequential alias, a textbook dropout -----------------------------

FFN_WITH_A_SEQUENTIAL_ALIAS = '''\
class FFN(nn.Module):
    def __init__(self, in_features, out_features, hidden_size):
        super().__init__()
        self.layer1 = nn.Linear(in_features, hidden_size)
        self.layer2 = nn.Linear(hidden_size, hidden_size)
        self.layer3 = nn.Linear(hidden_size, out_features)
        self.net = nn.Sequential(self.layer1, nn.ReLU(), self.layer2, nn.ReLU(), self.layer3)

    def forward(self, x):
        return self.net(x)
'''

TEXTBOOK_DROPOUT = '''\
class Model(nn.Module):
    def __init__(self, dropout_rate):
        super().__init__()
        self.input = nn.Linear(4, 12)
        self.hidden = nn.Linear(12, 12)
        self.output = nn.Linear(12, 3)
        self.p = dropout_rate

    def dropout(self, h):
        if not self.training:
            return h
        mask = (torch.rand_like(h) >= self.p).to(h.dtype)
        return h * mask / (1 - self.p)

    def forward(self, x):
        x = self.dropout(torch.relu(self.input(x)))
        x = self.dropout(torch.relu(self.hidden(x)))
        return self.output(x)
'''


@pytest.mark.parametrize("question", ["ffn", "regressor"])
def test_an_ffn_that_also_keeps_its_layers_in_a_sequential_scores_full_marks(sandbox, tmp_path, question):
    result = grade_one(sandbox, tmp_path, "training", question, {"ffn_solution": FFN_WITH_A_SEQUENTIAL_ALIAS})
    assert result.status == "passed", result.feedback
    assert result.score == result.max_score == {"ffn": 5.0, "regressor": 4.0}[question]


def test_an_ffn_with_a_parameter_the_task_does_not_ask_for_is_told_which(sandbox, tmp_path):
    extra = FFN_WITH_A_SEQUENTIAL_ALIAS.replace("        self.net =", "        self.scale = nn.Linear(1, 1)\n"
                                                "        self.net =")
    result = grade_one(sandbox, tmp_path, "training", "ffn", {"ffn_solution": extra})
    assert result.score == 0.0
    assert "your model has parameters the task does not ask for: scale.bias, scale.weight" in result.feedback


def test_a_textbook_dropout_with_its_own_mask_scores_full_marks(sandbox, tmp_path):
    result = grade_one(sandbox, tmp_path, "training", "dropout_model", {"dropout_model_solution": TEXTBOOK_DROPOUT})
    assert result.status == "passed", result.feedback
    assert result.score == result.max_score == 5.0


def test_a_textbook_dropout_with_the_keep_probability_as_p_is_named(sandbox, tmp_path):
    keep = TEXTBOOK_DROPOUT.replace("(torch.rand_like(h) >= self.p)", "(torch.rand_like(h) >= 1 - self.p)") \
        .replace("/ (1 - self.p)", "/ self.p")
    result = grade_one(sandbox, tmp_path, "training", "dropout_model", {"dropout_model_solution": keep})
    assert result.score == 0.0
    assert result.diagnosis is not None and result.diagnosis.name == "keep_probability_as_p"
    assert "output['dropout_after_input']: False where it should be True" in result.feedback


# ---- 2. a diverged training run is told it diverged ------------------------------------------------------------

DIVERGING_REGRESSOR = '''\
def train_regressor(X, y):
    X, y = torch.as_tensor(X), torch.as_tensor(y)
    net = FFN(4, 1, 16).double()
    optimizer = torch.optim.SGD(net.parameters(), lr=50.0)
    for epoch in range(300):
        optimizer.zero_grad()
        loss = nn.MSELoss()(net(X).squeeze(1), y)
        loss.backward()
        optimizer.step()
    return net
'''


def test_a_diverged_training_run_is_told_it_diverged(sandbox, tmp_path):
    result = grade_one(sandbox, tmp_path, "training", "regressor", {"regressor_solution": DIVERGING_REGRESSOR})
    assert result.score == 0.0
    message = result.cases[0].message
    assert message.startswith("your training diverged: after it, layer1.weight, layer1.bias, layer2.weight hold "
                              "nan or inf"), message
    assert "not those of" not in result.feedback
