"""`dlgrade autograde` end to end on a temporary nbgrader course: a class graded into the real SQLite gradebook,
read back through nbgrader's API; a rerun does nothing; --force regrades to the very same scores; a broken
submission is reported and the rest graded; late penalties follow nbgrader's config; exports and feedback."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest
from course_helpers import (
    CLASS,
    FIXTURE_ROOT,
    base_course,  # noqa: F401 - a fixture
    cli,
    gradebook_scores,
    records,
    results_json,
    submission_counts,
    submit,
    submit_class,
)

LATE = "solution-late"


@pytest.fixture(scope="module")
def graded(base_course: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:  # noqa: F811
    """The class graded once: the sample class, a non-JSON notebook, a symlinked one, and a late student under
    nbgrader's 'zero' late policy with a due date set through nbgrader's Gradebook API."""
    from nbgrader.api import Gradebook

    course = tmp_path_factory.mktemp("graded") / "course"
    shutil.copytree(base_course, course)
    with open(course / "nbgrader_config.py", "a") as config:
        config.write('\nc.LateSubmissionPlugin.penalty_method = "zero"\n')
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        book.update_or_create_assignment("mini", duedate="2030-01-02 00:00:00 UTC")
    students = submit_class(course)
    solution = (course / "submitted" / "solution" / "mini" / "mini.ipynb").read_bytes()
    submit(course, LATE, solution, "2030-01-03 09:00:00.000000 UTC")
    submit(course, "corrupt", b"{ this is not json")
    linked = course / "submitted" / "linky" / "mini"
    linked.mkdir(parents=True)
    (linked / "mini.ipynb").symlink_to(FIXTURE_ROOT / "autograders" / "mini.py")
    run = cli("autograde", "mini", "--course", course, "--workers", "2")
    return {"course": course, "run": run, "students": students + [LATE]}


def test_class_is_graded_into_nbgraders_gradebook(graded: dict) -> None:
    course, run = graded["course"], graded["run"]
    assert run.code == 1, run.err  # graded, with two submissions refused
    scores = gradebook_scores(course)
    assert sorted(scores) == sorted(graded["students"])
    for student in graded["students"]:
        result = results_json(course, student)
        assert scores[student] == {t["name"]: t["score"] for t in result["tests"]}
        assert (course / "feedback" / student / "mini" / "mini.html").is_file()
        assert (course / "autograded" / student / "mini" / "mini.ipynb").is_file()
    assert scores["solution"] == {"mse": 2.0, "relu_derivative": 2.0, "worked_loss": 1.0}
    assert set(scores["blank"].values()) == {0.0}
    assert results_json(course, "mse-forgot-mean")["tests"][0]["diagnosis"]["mistake"] == "forgot_mean"
    assert all(sum(s.values()) < 5 for student, s in scores.items() if student.startswith("hostile"))
    assert set(submission_counts(course).values()) == {1}


def test_formgrader_sees_the_grades_and_the_feedback(graded: dict) -> None:
    """What formgrader reads, through nbgrader's own API: autograded submissions with their scores, and
    dlgrade's feedback as the auto comment under the student's solution cell."""
    from nbgrader.api import Gradebook
    from nbgrader.apps import NbGraderAPI

    from dlgrade.course import Course

    course = Course.open(graded["course"])
    api = NbGraderAPI(coursedir=course.coursedir, config=course.config)
    submissions = {s["student"]: s for s in api.get_submissions("mini")}
    assert submissions["solution"]["autograded"] and submissions["solution"]["score"] == 5.0
    forgot_mean = gradebook_scores(graded["course"])["mse-forgot-mean"]
    assert submissions["mse-forgot-mean"]["score"] == sum(forgot_mean.values())
    with Gradebook(course.db_url, course.course_id) as book:
        comment = book.find_comment("mse_solution", "mini", "mini", "mse-forgot-mean")
        assert "forgot_mean" in comment.auto_comment and comment.manual_comment is None


def test_broken_submissions_are_reported_and_the_rest_graded(graded: dict) -> None:
    run, course = graded["run"], graded["course"]
    lines = [line for line in run.err.splitlines() if line.startswith("dlgrade: ")]
    assert any("corrupt" in line and "not a notebook" in line for line in lines), run.err
    assert any("linky" in line and "symbolic link" in line for line in lines), run.err
    assert "corrupt" not in gradebook_scores(course) and "linky" not in gradebook_scores(course)
    assert "refused" in run.out and "passed" in run.err  # the summary table and the progress line


def test_late_penalty_follows_nbgrader_config(graded: dict) -> None:
    from nbgrader.api import Gradebook

    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        late = book.find_submission("mini", LATE)
        on_time = book.find_submission("mini", "solution")
        assert (late.score, late.late_submission_penalty) == (5.0, 5.0)
        assert (on_time.score, on_time.late_submission_penalty) == (5.0, 0.0)
    assert results_json(course, LATE)["score"] == 0.0


def test_rerun_is_a_no_op(graded: dict) -> None:
    course = graded["course"]
    before = hashlib.sha256((course / "gradebook.db").read_bytes()).hexdigest()
    stamps = {p: p.stat().st_mtime_ns for p in (course / ".dlgrade" / "results").rglob("*.json")}
    run = cli("autograde", "mini", "--course", course)
    assert run.code == 1  # the same two refusals
    assert f"0 graded now, {len(graded['students'])} already graded" in run.out
    assert hashlib.sha256((course / "gradebook.db").read_bytes()).hexdigest() == before
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_force_regrades_to_identical_scores(graded: dict) -> None:
    course = graded["course"]
    scores = gradebook_scores(course)
    results = {s: results_json(course, s) for s in graded["students"]}
    run = cli("autograde", "mini", "--course", course, "--force", "--workers", "2")
    assert f"{len(graded['students'])} graded now" in run.out, run.out
    assert gradebook_scores(course) == scores
    for student, before in results.items():
        after = results_json(course, student)
        assert [(t["name"], t["score"], t["status"], t.get("diagnosis")) for t in after["tests"]] == \
            [(t["name"], t["score"], t["status"], t.get("diagnosis")) for t in before["tests"]]
    assert set(submission_counts(course).values()) == {1}


def test_exports_csv_and_gradescope_json(graded: dict, tmp_path: Path) -> None:
    course = graded["course"]
    run = cli("export-grades", "--course", course, "--to", tmp_path)
    assert run.code == 0, run.err
    rows = list(csv.DictReader((tmp_path / "grades.csv").open()))
    assert sorted(row["student_id"] for row in rows) == sorted(graded["students"])  # one row per student
    by_student = {row["student_id"]: row for row in rows}
    assert float(by_student["solution"]["score"]) == 5.0 and float(by_student[LATE]["score"]) == 0.0
    exported = json.loads((tmp_path / "mini.gradescope.json").read_text())
    scores = gradebook_scores(course)
    for entry in exported["submissions"]:
        assert {t["name"]: t["score"] for t in entry["tests"]} == scores[entry["student_id"]]
        assert {"name", "score", "max_score", "status", "output", "visibility"} <= set(entry["tests"][0])


def test_feedback_follows_a_manual_grade(graded: dict) -> None:
    from nbgrader.api import Gradebook

    course = graded["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        book.find_grade("mse", "mini", "mini", "blank").manual_score = 1.5
        book.db.commit()
    run = cli("feedback", "mini", "--course", course)
    assert run.code == 0, run.err
    result = results_json(course, "blank")
    assert result["tests"][0]["score"] == 1.5 and result["score"] == 1.5
    assert "Score set by a grader" in result["tests"][0]["output"]
    assert records(course)["blank"]["result"]["questions"][0]["score"] == 0.0  # the autograder's own record
    assert CLASS[0] == "solution"


@pytest.mark.filterwarnings("ignore::sqlalchemy.exc.SAWarning")  # nbgrader's own add_submission, as it always warns
def test_first_grading_makes_the_rows_nbgraders_add_submission_makes(graded: dict, tmp_path: Path) -> None:
    """dlgrade adds a new submission's rows in the grades' own transaction; they must be the very rows nbgrader's
    add_student + add_submission would have made (formgrader and nbgrader's exports read them)."""
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    shutil.copytree(graded["course"], course)

    def rows(book: Gradebook, student: str) -> tuple:
        submitted = book.find_submission("mini", student)
        return tuple(sorted((notebook.name, sorted((g.name, g.cell_id) for g in notebook.grades),
                             sorted((c.name, c.cell_id) for c in notebook.comments))
                            for notebook in submitted.notebooks))

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        book.add_student("by-nbgrader")
        book.add_submission("mini", "by-nbgrader")
        ours, theirs = rows(book, "solution"), rows(book, "by-nbgrader")
        assert ours == theirs
        assert ours and ours[0][1] and ours[0][2]  # grades and comments, not two empty lists
        assert book.find_submission("mini", "solution").score == results_json(course, "solution")["score"] > 0


def test_a_new_grading_revision_regrades_what_the_engine_before_it_graded(graded: dict, tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Results are keyed by the engine's grading revision too: after a fix that changes grades, the next run
    grades every submission again (to the same scores here, where nothing changed), and the one after is a no-op."""
    from dlgrade import grading

    course = tmp_path / "course"
    shutil.copytree(graded["course"], course, symlinks=True)
    scores = gradebook_scores(course)
    monkeypatch.setattr(grading, "GRADING_REVISION", grading.GRADING_REVISION + 1)
    run = cli("autograde", "mini", "--course", course, "--workers", "2")
    assert f"{len(graded['students'])} graded now, 0 already graded" in run.out, run.out
    assert gradebook_scores(course) == scores
    assert f"0 graded now, {len(graded['students'])} already graded" in cli("autograde", "mini", "--course",
                                                                           course).out
