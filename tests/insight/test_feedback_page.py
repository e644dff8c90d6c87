"""The feedback page a student reads: a table of questions first, passed questions folded, a failed array answer
of a public case drawn against the expected one (a line for 1-D, a heat map of the difference for 2-D), the
training loop's loss curve against the reference run's, never a hidden case's values, every student string
escaped, and small enough to write for every student of every assignment."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from dlgrade import assignments, report, sample_class
from dlgrade.autograde import checked_result, result_to_data
from dlgrade.checking.answers import Items, Leaf
from dlgrade.grading import CaseResult, Grader, QuestionResult, Session, SubmissionResult, grade_question
from dlgrade.insight.figures import Figure, case_figure
from dlgrade.notebook import extract
from dlgrade.sandbox.launcher import Sandbox, bwrap_path
from dlgrade.suite import Mistake

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "engine_course"


def leaf(values: object) -> Leaf:
    array = np.asarray(values, dtype=np.float64)
    return Leaf("ndarray", "numpy.ndarray", "float64", array.shape, array)


def result(*questions: QuestionResult, output: str = "", notes: tuple[str, ...] = ()) -> SubmissionResult:
    return SubmissionResult("mini", "x.ipynb", questions, notes, output, ("bubblewrap",), 1.0, 0.5, "v")


def question(name: str, status: str, score: float, cases: tuple[CaseResult, ...] = (),
             diagnosis: Mistake | None = None, feedback: str = "") -> QuestionResult:
    return QuestionResult(name, name, score, 2.0, status, feedback or f"{name}: {status}", diagnosis, cases)


MISTAKE = Mistake("forgot_mean", "you summed where the mean was asked for", lambda: None, "")


def test_the_page_opens_with_a_table_of_questions_then_folds_passed_ones() -> None:
    page = report.to_html(result(
        question("mse", "failed", 0.5, (CaseResult("public case 1", True, False, "failed", "values differ"),),
                 MISTAKE),
        question("relu", "passed", 2.0, (CaseResult("public case 1", True, True, "passed", "correct"),)),
        question("loss", "error", 0.0, (CaseResult("hidden case 1", False, False, "error", "ZeroDivisionError"),)),
    ))
    table = page.index('<table class="summary">')
    assert table < page.index("<details")
    rows = re.findall(r"<tr><td><a href=\"#(\w+)\">(\w+)</a></td><td class=\"num\">([^<]+)</td>\s*"
                      r"<td><span class=\"badge (\w+)\">", page)
    assert [(name, score, status) for _, name, score, status in rows] == [
        ("mse", "0.5 / 2", "failed"), ("relu", "2 / 2", "passed"), ("loss", "0 / 2", "error")]
    assert "<b>forgot mean</b>" in page.split("</table>")[0]  # the named mistake, in the table
    folded = dict(re.findall(r'<details class="question (\w+)" id="\w+"( open)?>', page))
    assert folded == {"failed": " open", "passed": "", "error": " open"}
    # every row links to its question's section
    for anchor, *_ in rows:
        assert f'id="{anchor}"' in page


def test_a_failed_array_answer_is_drawn_a_line_for_1d_and_a_heat_map_of_the_difference_for_2d() -> None:
    line = case_figure(leaf([0.0, 1.0, 4.0]), np.array([0.0, 1.0, 2.0]), (), 1e-7, 1e-10, passed=False)
    assert line == Figure("line", "output", (3,), (0.0, 1.0, 4.0), (0.0, 1.0, 2.0))
    grid = case_figure(Items("tuple", (leaf([1.0, 2.0]), leaf([[1.0, 2.0], [3.0, np.nan]]))),
                       (np.array([1.0, 2.0]), np.array([[1.0, 2.0], [3.5, 4.0]])), ("db", "dW"), 1e-7, 1e-10,
                       passed=False)
    assert grid == Figure("heatmap", "output[1] (dW)", (2, 2), (1.0, 2.0, 3.0, None), (1.0, 2.0, 3.5, 4.0))
    # what no plot can show: a scalar, a shape mismatch, a passed case, a huge array
    assert case_figure(leaf(3.0), np.array(2.0), (), 1e-7, 1e-10, passed=False) is None
    assert case_figure(leaf([1.0, 2.0]), np.array([[1.0], [2.0], [3.0]]), (), 1e-7, 1e-10, passed=False) is None
    assert case_figure(leaf([1.0, 2.0]), np.array([1.0, 2.0]), (), 1e-7, 1e-10, passed=True) is None
    assert case_figure(leaf(np.ones((17, 17))), np.zeros((17, 17)), (), 1e-7, 1e-10, passed=False) is None
    page = report.to_html(result(question("q", "failed", 0.0, (
        CaseResult("public case 1", True, False, "failed", "differ", figure=line),
        CaseResult("public case 2", True, False, "failed", "differ", figure=grid)))))
    assert page.count("<polyline") == 2  # yours and expected
    assert page.count('class="yours"') >= 1 and 'class="expected"' in page
    assert len(re.findall(r"<rect x=", page)) == 4 + 1  # 2 x 2 cells and the colour scale
    assert 'fill="#8c959f"' in page  # the nan cell, grey
    assert page.count('id="diverging"') == 1


def test_values_and_plots_are_kept_for_public_cases_only(tmp_path: Path) -> None:
    line = Figure("line", "output", (2,), (1.0, 2.0), (1.0, 3.0))
    graded = result(question("mse", "failed", 0.0, (
        CaseResult("public case 1", True, False, "failed", "differ", figure=line),
        CaseResult("hidden case 2", False, False, "failed", "differ", figure=line))))
    mini = assignments.load("mini", root=MINI)
    data = result_to_data(graded)
    data["questions"] = [data["questions"][0]] + [
        {"name": name, "score": 0.0, "max_score": points, "status": "not_implemented", "cases": []}
        for name, points in list(mini.points.items())[1:]]
    data["questions"][0]["max_score"] = mini.points["mse"]
    checked = checked_result(data, mini)
    assert [case.figure for case in checked.questions[0].cases] == [line, None]
    data["questions"][0]["cases"][0]["figure"] = {"kind": "line", "title": "x", "shape": [2], "yours": [1, 2],
                                                  "expected": ["<script>", 2]}
    with pytest.raises(ValueError, match="expected are not 2 numbers"):
        checked_result(data, mini)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    if bwrap_path() is None:
        pytest.fail("bubblewrap is required (make test installs it)")
    with Sandbox() as box:
        yield box


def test_a_graded_submission_draws_its_public_failure_and_nothing_of_its_hidden_ones(sandbox: Sandbox,
                                                                                    tmp_path: Path) -> None:
    mini = assignments.load("mini", root=MINI)
    student = next(s for s in sample_class.build(mini) if s.student == "relu-derivative-returned-relu")
    graded = Grader(mini, sandbox, b"feedback-page").grade(student.write(tmp_path / "mini.ipynb"))
    relu = next(q for q in graded.questions if q.name == "relu_derivative")
    public, hidden = relu.cases
    assert public.figure == Figure("line", "output", (4,), (0.0, 0.0, 0.5, 3.0), (0.0, 0.0, 1.0, 1.0))
    assert not hidden.passed and hidden.figure is None and hidden.yours is None
    page = report.to_html(graded)
    assert page.count("<figure") == 1


def test_the_training_loop_shows_the_students_loss_curve_against_the_reference_runs(sandbox: Sandbox,
                                                                                   tmp_path: Path) -> None:
    training = assignments.load("training")
    student = next(s for s in sample_class.build(training) if s.student == "train-loop-no-zero-grad")
    path = student.write(tmp_path / "training.ipynb")
    extraction = extract(path, training.source)
    loop = training.suite.question("train_loop")
    session = Session(sandbox, extraction.cells, training.suite.harness_source)
    try:
        graded = grade_question(loop, training.points["train_loop"], extraction, session, seed=7)
    finally:
        session.close()
    assert graded.diagnosis is not None and graded.diagnosis.name == "no_zero_grad"
    curves = [case.figure for case in graded.cases if case.public]
    assert [f.kind if f else None for f in curves] == ["curve", "curve"]
    for case, figure in zip(loop.public(), curves, strict=True):
        reference = loop.reference(*case.args)["losses"]
        assert figure.expected == pytest.approx(tuple(reference), rel=1e-12)
        assert figure.shape == (len(reference),) and figure.yours != figure.expected
    assert all(case.figure is None for case in graded.cases if not case.public)
    page = report.to_html(result(graded))
    assert page.count("<figure") == 2 and "the reference run" in page and "epoch" in page


def test_every_student_string_is_escaped() -> None:
    evil = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    page = report.to_html(result(
        question("q", "failed", 0.0, (CaseResult(f"public case 1: {evil}", True, False, "failed", evil,
                                                 inputs=evil, yours=evil, expected=evil),), feedback=evil),
        output=evil, notes=(evil,)))
    assert "<script" not in page and "<img" not in page and "onerror=\"" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 7


def test_the_page_stays_small() -> None:
    big = Figure("line", "output", (400,), tuple(float(i) for i in range(400)), tuple(float(-i) for i in range(400)))
    grid = Figure("heatmap", "output", (16, 16), tuple(float(i) for i in range(256)), (0.0,) * 256)
    questions = [question(f"q{n}", "failed", 0.0, tuple(
        CaseResult(f"public case {i}", True, False, "failed", "values differ", inputs="[1. 2. 3.]",
                   yours="[1. 2. 4.]", expected="[1. 2. 3.]", figure=(big if n % 2 else grid) if i == 1 else None)
        for i in range(1, 4)) + tuple(CaseResult(f"hidden case {i}", False, True, "passed", "correct")
                                      for i in range(4, 12))) for n in range(12)]
    page = report.to_html(result(*questions))
    assert page.count("<figure") == 12
    assert len(page.encode()) < 200_000, len(page.encode())  # twelve failed questions, each with a full-size plot
    one = report.to_html(result(questions[0]))
    assert len(one.encode()) < 25_000, len(one.encode())  # one 16 x 16 heat map and its question
