"""nbgrader's own tools on a dlgrade course: `nbgrader autograde` and formgrader's Autograde button record dlgrade's
scores (never nbgrader's kernel verdict, which counts a check() cell that prints a failure as full marks), and
`nbgrader generate_feedback` / formgrader's Generate Feedback write dlgrade's feedback, with the graders' manual
scores and comments, as `dlgrade feedback` does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from course_helpers import (
    base_course,  # noqa: F401 - a fixture
    cli,
    gradebook_scores,
    records,
    results_json,
    submit,
    submit_class,
)

from dlgrade.course import Course

STUDENTS = ("solution", "mse-forgot-mean", "blank", "hostile-always-equal")
COMMENT = "See me about <b>reduction</b> & the mean."


def submit_with_checker(course: Path, students: tuple[str, ...]) -> None:
    """The class's submissions as the exchange brings them: the notebook beside the released dlcheck/ package."""
    submit_class(course, students)
    for student in students:
        shutil.copytree(course / "release" / "mini" / "dlcheck", course / "submitted" / student / "mini" / "dlcheck")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, capture_output=True, text=True,
                          timeout=900)


def recorded_scores(course: Path, student: str) -> dict[str, float]:
    return {q["name"]: q["score"] for q in records(course)[student]["result"]["questions"]}


@pytest.fixture(scope="module")
def by_nbgrader(base_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    """A class graded by `nbgrader autograde` alone (the command formgrader's Autograde runs for one student)."""
    course = tmp_path_factory.mktemp("nbgrader") / "course"
    shutil.copytree(base_course, course)
    submit_with_checker(course, STUDENTS)
    done = nbgrader(course, "autograde", "mini")
    assert done.returncode == 0, done.stderr[-3000:]
    return course


def test_nbgrader_autograde_records_dlgrades_scores_never_more(by_nbgrader: Path) -> None:
    scores = gradebook_scores(by_nbgrader)
    assert sorted(scores) == sorted(STUDENTS)
    for student in STUDENTS:
        assert scores[student] == recorded_scores(by_nbgrader, student), student
        assert {t["name"]: t["score"] for t in results_json(by_nbgrader, student)["tests"]} == scores[student]
    assert scores["solution"] == {"mse": 2.0, "relu_derivative": 2.0, "worked_loss": 1.0}
    assert 0 < sum(scores["mse-forgot-mean"].values()) < 5 and scores["mse-forgot-mean"]["mse"] < 2.0
    assert set(scores["blank"].values()) == {0.0}
    assert sum(scores["hostile-always-equal"].values()) < 5


def test_the_autograded_notebook_is_dlgrades(by_nbgrader: Path) -> None:
    import nbformat

    notebook = nbformat.read(by_nbgrader / "autograded" / "mse-forgot-mean" / "mini" / "mini.ipynb", as_version=4)
    mse = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse")
    assert mse.outputs and "dlgrade: failed" in mse.outputs[0]["text"]  # dlgrade's verdict, not a kernel's run


def test_a_rerun_of_dlgrade_autograde_finds_everything_graded(by_nbgrader: Path) -> None:
    run = cli("autograde", "mini", "--course", by_nbgrader)
    assert run.code == 0, run.err
    assert f"0 graded now, {len(STUDENTS)} already graded" in run.out


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own add_submission, as it always warns
def test_formgraders_autograde_button_records_dlgrades_score(base_course: Path, tmp_path: Path) -> None:  # noqa: F811
    """formgrader's Autograde runs nbgrader's converter in the server's process through NbGraderAPI.autograde."""
    from nbgrader.apps import NbGraderAPI

    course_root = tmp_path / "course"
    shutil.copytree(base_course, course_root)
    submit_with_checker(course_root, ("mse-forgot-mean",))
    course = Course.open(course_root)
    api = NbGraderAPI(coursedir=course.coursedir, config=course.config)
    outcome = api.autograde("mini", "mse-forgot-mean")
    assert outcome["success"], outcome.get("error", "")[-3000:]
    score = gradebook_scores(course_root)["mse-forgot-mean"]
    assert score == recorded_scores(course_root, "mse-forgot-mean") and sum(score.values()) < 5
    submission = {s["student"]: s for s in api.get_submissions("mini")}["mse-forgot-mean"]
    assert submission["autograded"] and submission["score"] == sum(score.values())


def test_a_submission_dlgrade_refuses_gets_no_score_from_nbgrader(base_course: Path, tmp_path: Path) -> None:  # noqa: F811
    course = tmp_path / "course"
    shutil.copytree(base_course, course)
    submit_class(course, ("solution",))
    notebook = json.loads((course / "submitted" / "solution" / "mini" / "mini.ipynb").read_text())
    notebook["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                              "source": "x = 1\n" * 10})
    submit(course, "huge", json.dumps(notebook).encode() + b" " * (21 << 20))  # valid JSON, over the size cap
    done = nbgrader(course, "autograde", "mini")
    assert done.returncode != 0  # nbgrader reports the student it could not grade
    assert "huge" in done.stderr and "larger than" in done.stderr
    scores = gradebook_scores(course)
    assert scores["solution"] == recorded_scores(course, "solution")
    assert all(score in (None, 0.0) for score in scores.get("huge", {}).values())


def _grade_by_hand(course: Path) -> None:
    """What a TA does in formgrader: a manual score, extra credit, and comments on a solution cell."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        book.find_grade("mse", "mini", "mini", "mse-forgot-mean").manual_score = 1.5
        book.find_grade("relu_derivative", "mini", "mini", "mse-forgot-mean").extra_credit = 0.5
        book.find_comment("mse_solution", "mini", "mini", "mse-forgot-mean").manual_comment = COMMENT
        book.db.commit()


def _assert_feedback_carries_the_graders_work(course: Path, student: str = "mse-forgot-mean") -> None:
    folder = course / "feedback" / student / "mini"
    result = json.loads((folder / "results.json").read_text())
    tests = {t["name"]: t for t in result["tests"]}
    assert tests["mse"]["score"] == 1.5 and "Score set by a grader" in tests["mse"]["output"]
    assert COMMENT in tests["mse"]["output"]
    assert tests["relu_derivative"]["score"] == 2.5 and "Extra credit from a grader: +0.5" in \
        tests["relu_derivative"]["output"]
    assert result["dlgrade"]["grader_comments"] == {"mse": COMMENT}
    assert result["score"] == 1.5 + 2.5 + 1.0
    assert result["tests"][0].get("diagnosis", {}).get("mistake") == "forgot_mean"  # dlgrade's own results kept
    page = (folder / "mini.html").read_text()
    assert "See me about &lt;b&gt;reduction&lt;/b&gt; &amp; the mean." in page and "<b>reduction" not in page
    assert "forgot_mean" in page
    assert (folder / "timestamp.txt").is_file()


def test_nbgrader_generate_feedback_writes_dlgrades_feedback_with_the_graders_work(by_nbgrader: Path,
                                                                                  tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(by_nbgrader, course)
    _grade_by_hand(course)
    done = nbgrader(course, "generate_feedback", "mini", "--force")
    assert done.returncode == 0, done.stderr[-3000:]
    for student in STUDENTS:  # every student's feedback is dlgrade's, with results.json beside it
        assert results_json(course, student)["dlgrade"]["key"] == records(course)[student]["key"]
    _assert_feedback_carries_the_graders_work(course)


def test_formgraders_generate_feedback_button_and_dlgrade_feedback_agree(by_nbgrader: Path, tmp_path: Path) -> None:
    from nbgrader.apps import NbGraderAPI

    course_root = tmp_path / "course"
    shutil.copytree(by_nbgrader, course_root)
    _grade_by_hand(course_root)
    course = Course.open(course_root)
    outcome = NbGraderAPI(coursedir=course.coursedir, config=course.config).generate_feedback("mini",
                                                                                             "mse-forgot-mean")
    assert outcome["success"], outcome.get("error", "")[-3000:]
    _assert_feedback_carries_the_graders_work(course_root)
    by_button = (course_root / "feedback" / "mse-forgot-mean" / "mini" / "results.json").read_text()
    run = cli("feedback", "mini", "--course", course_root)
    assert run.code == 0, run.err
    _assert_feedback_carries_the_graders_work(course_root)
    assert (course_root / "feedback" / "mse-forgot-mean" / "mini" / "results.json").read_text() == by_button


def test_dlgrade_autograde_rerun_brings_feedback_up_to_the_graders_comments(by_nbgrader: Path,
                                                                           tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(by_nbgrader, course)
    _grade_by_hand(course)
    run = cli("autograde", "mini", "--course", course)
    assert run.code == 0, run.err
    _assert_feedback_carries_the_graders_work(course)
