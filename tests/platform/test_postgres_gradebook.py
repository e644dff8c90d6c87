"""nbgrader's gradebook on a real PostgreSQL server (db_url in nbgrader_config.py): setup, two autograde runs on
different assignments of the same class at once, feedback and export-grades, all through the dlgrade CLI; and a
PostgreSQL gradebook that refuses us is one line that never shows its password."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from course_helpers import FIXTURE_ROOT, cli, cli_process
from postgres_helpers import Postgres, private_postgres

from dlgrade import assignments, sample_class

STUDENTS = ("solution", "blank", "mse-forgot-mean", "relu-derivative-returned-relu", "worked-loss-notes-slip")
SUMMARY = re.compile(r"(\d+) graded now, (\d+) already graded")


@pytest.fixture(scope="module")
def postgres():
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The engine fixture's project with a second assignment, mini2: mini's notebook and suite under another id."""
    root = tmp_path_factory.mktemp("project")
    shutil.copytree(FIXTURE_ROOT, root, dirs_exist_ok=True)
    (root / "assignments" / "mini2").mkdir()
    shutil.copy(root / "assignments" / "mini" / "mini.ipynb", root / "assignments" / "mini2" / "mini2.ipynb")
    suite = (root / "autograders" / "mini.py").read_text()
    assert suite.count('assignment="mini"') == 1
    (root / "autograders" / "mini2.py").write_text(suite.replace('assignment="mini"', 'assignment="mini2"'))
    return root


def configure(course: Path, db_url: str) -> None:
    """The course's nbgrader_config.py, written before `dlgrade setup` (which keeps an existing one)."""
    course.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(
        f"c = get_config()  # noqa: F821\nc.CourseDirectory.course_id = 'pgcourse'\n"
        f"c.CourseDirectory.db_url = {db_url!r}\n")


def submit(course: Path, project: Path, assignment_id: str) -> None:
    assignment = assignments.load(assignment_id, root=project)
    for student in sample_class.build(assignment):
        if student.student in STUDENTS:
            folder = course / "submitted" / student.student / assignment_id
            folder.mkdir(parents=True, exist_ok=True)
            nbformat.write(student.notebook, folder / f"{assignment_id}.ipynb")
            (folder / "timestamp.txt").write_text("2030-01-01 10:00:00.000000 UTC")


def book_scores(db_url: str, assignment_id: str) -> dict[str, dict[str, float]]:
    """student -> grade cell -> score in force, read by nbgrader's Gradebook from PostgreSQL."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "pgcourse") as book:
        return {s.student.id: {g.name: g.score for g in s.notebooks[0].grades}
                for s in book.assignment_submissions(assignment_id)}


def recorded_scores(course: Path, assignment_id: str) -> dict[str, dict[str, float]]:
    folder = course / ".dlgrade" / "results" / assignment_id
    return {p.stem: {q["name"]: q["score"] for q in json.loads(p.read_text())["result"]["questions"]}
            for p in folder.glob("*.json")}


def test_a_course_on_a_postgresql_gradebook_grades_two_assignments_at_once(postgres: Postgres, project: Path,
                                                                            tmp_path: Path) -> None:
    course = tmp_path / "course"
    db_url = postgres.create_database("pgcourse")
    configure(course, db_url)
    run = cli("setup", "mini", "mini2", "--course", course, "--project", project)
    assert run.code == 0, run.err
    assert f"gradebook {db_url}" in run.out
    assert not (course / "gradebook.db").exists()  # nothing fell back to SQLite
    for assignment_id in ("mini", "mini2"):
        submit(course, project, assignment_id)

    # two graders at once, on different assignments of the same students: both add the same new students
    runs = {a: cli_process("autograde", a, "--course", course, "--workers", "1") for a in ("mini", "mini2")}
    for process in runs.values():
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert SUMMARY.search(out).groups() == (str(len(STUDENTS)), "0"), out

    for assignment_id in ("mini", "mini2"):
        recorded = recorded_scores(course, assignment_id)
        assert sorted(recorded) == sorted(STUDENTS)
        assert book_scores(db_url, assignment_id) == recorded
        assert sum(recorded["solution"].values()) == 5.0 and sum(recorded["blank"].values()) == 0.0
    import sqlalchemy

    engine = sqlalchemy.create_engine(db_url)
    with engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM student")).scalar() == len(STUDENTS)
        assert connection.execute(sqlalchemy.text("SELECT count(*) FROM submitted_assignment")).scalar() == \
            2 * len(STUDENTS)
    engine.dispose()

    # a rerun finds the gradebook already holding every result (timestamps and penalties compared on PostgreSQL)
    again = cli("autograde", "mini", "--course", course)
    assert again.code == 0, again.err
    assert SUMMARY.search(again.out).groups() == ("0", str(len(STUDENTS)))

    # a grader's manual score, then feedback with the gradebook's scores, then the exports
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "pgcourse") as book:
        grade = book.find_grade("mse", "mini", "mini", "blank")
        grade.manual_score = 2.5
        book.db.commit()
    run = cli("feedback", "mini", "--course", course)
    assert run.code == 0, run.err
    shown = json.loads((course / "feedback" / "blank" / "mini" / "results.json").read_text())
    assert {t["name"]: t["score"] for t in shown["tests"]}["mse"] == 2.5
    run = cli("export-grades", "--course", course)
    assert run.code == 0, run.err
    with open(course / "export" / "grades.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    by_key = {(row["assignment"], row["student_id"]): float(row["score"]) for row in rows}
    assert len(by_key) == 2 * len(STUDENTS)
    assert by_key[("mini", "blank")] == 2.5
    assert by_key[("mini2", "solution")] == 5.0
    exported = json.loads((course / "export" / "mini.gradescope.json").read_text())
    assert {s["student_id"]: s["score"] for s in exported["submissions"]} == \
        {student: by_key[("mini", student)] for student in STUDENTS}


def test_an_unusable_postgresql_gradebook_is_one_line_without_its_password(postgres: Postgres, tmp_path: Path,
                                                                           ) -> None:
    course = tmp_path / "course"
    db_url = postgres.create_database("pwcourse")
    configure(course, db_url)
    assert cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT).code == 0
    dead = f"postgresql://grader:hunter2@127.0.0.1:{postgres.port + 1}/pwcourse"  # no server listens there
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text().replace(repr(db_url), repr(dead)))
    (course / "submitted" / "solution" / "mini").mkdir(parents=True)
    shutil.copy(FIXTURE_ROOT / "assignments" / "mini" / "mini.ipynb", course / "submitted/solution/mini/mini.ipynb")
    run = cli("autograde", "mini", "--course", course)
    assert run.code == 2
    assert run.err.count("\n") == 1 and "hunter2" not in run.err
    assert run.err.startswith("dlgrade: the gradebook postgresql://grader:***@127.0.0.1:")


@pytest.mark.parametrize(("db_url", "says"), [
    ("postgres://grader:hunter2@127.0.0.1:5/pg", "SQLAlchemy knows no database kind 'postgres' (write postgresql://"),
    ("postgresql+psycopg2://grader:hunter2@127.0.0.1:5/pg", "driver is not installed here (No module named"),
    ("not a url", "not a database URL"),
])
def test_a_db_url_sqlalchemy_cannot_use_is_one_line_before_anything_is_written(tmp_path: Path, db_url: str,
                                                                               says: str) -> None:
    """Heroku's postgres://, a driver not installed here, no URL at all: a traceback and exit 1 once, from
    autograde, report and export-grades alike; setup left a half-made course behind, then advised upgrading
    nbgrader's database."""
    course = tmp_path / "course"
    course.mkdir()
    config = course / "nbgrader_config.py"
    config.write_text(f"c = get_config()  # noqa\nc.CourseDirectory.db_url = {db_url!r}\n")

    def refused(*command: str | Path) -> None:
        run = cli(*command, "--course", course)
        assert run.code == 2 and run.err.count("\n") == 1, (command, run.err)
        assert says in run.err and "hunter2" not in run.err, (command, run.err)

    refused("setup", "mini", "--project", FIXTURE_ROOT)
    assert sorted(p.name for p in course.iterdir()) == ["nbgrader_config.py"]
    config.unlink()  # a course graded on SQLite, then pointed at the URL
    assert cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT).code == 0
    (course / "submitted" / "solution" / "mini").mkdir(parents=True)
    shutil.copy(FIXTURE_ROOT / "assignments" / "mini" / "mini.ipynb", course / "submitted/solution/mini/mini.ipynb")
    assert cli("autograde", "mini", "--course", course).code == 0
    config.write_text(config.read_text() + f"\nc.CourseDirectory.db_url = {db_url!r}\n")
    refused("autograde", "mini", "--force")
    refused("report", "mini")
    refused("export-grades")
