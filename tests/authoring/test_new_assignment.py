"""An instructor's own assignment from `dlgrade new` to a graded class, in a course outside this project: the
skeleton validates as written, releases (its student_template then checked current), is set up in the course
beside the built-in pack and graded into nbgrader's gradebook."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import nbformat
from course_helpers import FIXTURE_ROOT, cli

from dlgrade import assignments
from dlgrade.sample_class import build


def _scores(course: Path, assignment_id: str) -> dict[str, float]:
    """student -> total auto score of the assignment in the course's gradebook (SQLite)."""
    connection = sqlite3.connect(course / "gradebook.db")
    try:
        rows = connection.execute(
            "SELECT submitted_assignment.student_id, SUM(grade.auto_score) FROM grade "
            "JOIN submitted_notebook ON submitted_notebook.id = grade.notebook_id "
            "JOIN submitted_assignment ON submitted_assignment.id = submitted_notebook.assignment_id "
            "JOIN assignment ON assignment.id = submitted_assignment.assignment_id "
            "WHERE assignment.name = ? GROUP BY submitted_assignment.student_id", (assignment_id,)).fetchall()
    finally:
        connection.close()
    return {student: float(score) for student, score in rows}


def test_new_then_validate_release_setup_and_grade_a_class(tmp_path: Path) -> None:
    course = tmp_path / "my-course"
    run = cli("new", "intro", "--course", course)
    assert run.code == 0, run.err
    notebook, suite = course / "assignments/intro/intro.ipynb", course / "autograders/intro.py"
    assert notebook.is_file() and suite.is_file()
    assert f"dlgrade validate intro --course {course}" in run.out
    assert not (Path(assignments.PROJECT_ROOT) / "assignments" / "intro").exists()  # the project is untouched

    # the suite holds no copy of the solution: the mistake is an edit of the notebook's cell
    assert "np.mean((prediction - target) ** 2)" not in suite.read_text()
    loaded = assignments.load("intro", root=course)
    mistake = loaded.suite.question("mse").mistakes[0]
    assert "return np.sum((prediction - target) ** 2)" in mistake.solution and "### BEGIN" not in mistake.solution
    assert mistake.compute(__import__("numpy").array([1.0, 2.0]), __import__("numpy").array([0.0, 0.0])) == 5.0

    run = cli("validate", "intro", "--course", course)
    assert run.code == 0, run.out + run.err
    lines = run.out.splitlines()
    assert any(line.startswith("ok") and "mse-sum-not-mean" in line and "named sum_not_mean" in line for line in lines)
    assert any(line.startswith("ok") and " released " in f" {line} " for line in lines)
    assert "note intro: mutation scores on at most 12 mutants per question, a deterministic sample" in run.out
    assert any(line.startswith("ok") and "mutants mse" in line and line.endswith("; score 100%") for line in lines)
    assert lines[-1].endswith(" 0 failed")

    run = cli("release", "intro", "--course", course)
    assert run.code == 0, run.err
    released = course / "student_template/intro/intro.ipynb"
    assert released.is_file() and (course / "student_template/intro/dlcheck/checks.json").is_file()
    assert "np.mean" not in released.read_text()  # the solution is stripped
    run = cli("validate", "intro", "--course", course)
    assert run.code == 0, run.out + run.err
    assert "student_template is what `dlgrade release` makes" in run.out

    # the course: its own assignment beside the built-in pack (here the engine's fixture pack, for speed)
    run = cli("setup", "--course", course, "--project", FIXTURE_ROOT)
    assert run.code == 0, run.err
    assert sorted(p.name for p in (course / "source").iterdir()) == ["intro", "mini"]
    assert (course / "release/intro/intro.ipynb").is_file()
    students = {s.student: s for s in build(loaded, hostile=False)}
    for name in ("solution", "blank", "mse-sum-not-mean"):
        folder = course / "submitted" / name / "intro"
        folder.mkdir(parents=True)
        nbformat.write(students[name].notebook, folder / "intro.ipynb")
    run = cli("autograde", "intro", "--course", course, "--workers", "1")
    assert run.code == 0, run.err
    scores = _scores(course, "intro")
    assert scores["solution"] == 2.0 and scores["blank"] == 0.0 and 0 < scores["mse-sum-not-mean"] < 2.0
    feedback = json.loads((course / "feedback/mse-sum-not-mean/intro/results.json").read_text())
    assert feedback["tests"][0]["diagnosis"]["mistake"] == "sum_not_mean"


def test_new_refuses_to_overwrite_and_a_bad_id(tmp_path: Path) -> None:
    assert cli("new", "intro", "--course", tmp_path).code == 0
    before = (tmp_path / "autograders/intro.py").read_text()
    run = cli("new", "intro", "--course", tmp_path)
    assert run.code == 2 and run.err.count("\n") == 1 and "exists: nothing was written" in run.err
    assert (tmp_path / "autograders/intro.py").read_text() == before
    run = cli("new", "Intro-1", "--course", tmp_path)
    assert run.code == 2 and "is not an assignment id" in run.err and not (tmp_path / "assignments/Intro-1").exists()


def test_new_in_a_course_with_a_broken_dlgrade_yml_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "dlgrade.yml").write_text("content: [unclosed\n")
    run = cli("new", "intro", "--course", tmp_path)
    assert run.code == 2 and run.err.count("\n") == 1 and "dlgrade.yml" in run.err, run.err
    assert not (tmp_path / "assignments").exists() and not (tmp_path / "autograders").exists()


def test_new_refuses_to_write_into_the_built_in_pack(tmp_path: Path, monkeypatch) -> None:
    """Run from dlgrade's own checkout (or with $DLGRADE_ROOT's pack as the course), `new` would add to the content
    every course ships with: one line, nothing written."""
    checkout = Path(assignments.__file__).resolve().parent.parent
    for course in (checkout, tmp_path / "pack"):
        if course != checkout:
            (course / "assignments").mkdir(parents=True)
            (course / "autograders").mkdir()
            monkeypatch.setattr(assignments, "PROJECT_ROOT", course)
        run = cli("new", "zz_never_written", "--course", course)
        assert run.code == 2 and run.err.count("\n") == 1 and "built-in content" in run.err, run.err
        assert not (course / "assignments/zz_never_written").exists()
        assert not (course / "autograders/zz_never_written.py").exists()


def test_a_course_assignment_of_a_built_in_id_wins_and_is_said(tmp_path: Path) -> None:
    course = tmp_path / "course"
    shutil.copytree(FIXTURE_ROOT / "assignments" / "mini", course / "assignments" / "mini")
    (course / "autograders").mkdir()
    shutil.copy(FIXTURE_ROOT / "autograders" / "mini.py", course / "autograders" / "mini.py")
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert run.code == 0, run.err
    assert f"mini: {course.resolve() / 'assignments' / 'mini'} is used; it takes the place of " in run.out
    from dlgrade.course import Course

    opened = Course.open(course)
    assignment = opened.assignment("mini")
    assert assignment.root.resolve() == course.resolve() and assignment.course_owned
    assert opened.packs.root_of("mini").resolve() == course.resolve()


def test_a_content_folder_named_in_dlgrade_yml(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    assert cli("new", "intro", "--course", shared).code == 0
    course = tmp_path / "course"
    course.mkdir()
    (course / "dlgrade.yml").write_text("content:\n  - ../shared\n")
    from dlgrade.content import packs_of

    packs = packs_of(course, FIXTURE_ROOT)
    assert list(packs.ids()) == ["intro", "mini"] and packs.root_of("intro") == shared.resolve()
    (course / "dlgrade.yml").write_text("content:\n  - ../nowhere\n")
    run = cli("validate", "intro", "--course", course)
    assert run.code == 2 and run.err.count("\n") == 1
    assert "dlgrade.yml, line 2: content:" in run.err and "holds no assignments/ and autograders/" in run.err
    (course / "dlgrade.yml").write_text("content: ../shared\n")
    run = cli("validate", "intro", "--course", course)
    assert run.code == 2 and "should be a list of folders" in run.err


def test_validate_says_why_the_instructors_own_solution_fails(tmp_path: Path) -> None:
    """A solution cell that disagrees with the reference was 'FAIL ... solution mse failed 0/2' and no more: the
    line now gives the first failed case's words."""
    course = tmp_path / "course"
    assert cli("new", "intro", "--course", course).code == 0
    path = course / "assignments" / "intro" / "intro.ipynb"
    notebook = nbformat.read(path, as_version=4)
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_solution")
    cell.source = cell.source.replace("** 2", "** 2 * 1.5")
    nbformat.write(notebook, path)
    run = cli("validate", "intro", "--course", course, "--mutants", "none")
    line = next(line for line in run.out.splitlines() if line.startswith("FAIL") and " solution " in line)
    assert "mse failed 0/2 (public case 1" in line and "values differ" in line, line
