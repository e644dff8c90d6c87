"""Helpers for the course workflow tests: a temporary nbgrader course of the 'mini' fixture assignment, its sample
class in submitted/, the dlgrade CLI run in-process or as a process, and the gradebook read back through nbgrader."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest

from dlgrade import assignments, sample_class
from dlgrade.cli import main

FIXTURE_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "engine_course"
# The mini sample class without the infinite loop (a full question time-out; the engine's tests cover it).
CLASS = ("solution", "blank", "mse-forgot-mean", "mse-absolute-error", "relu-derivative-returned-relu",
         "worked-loss-notes-slip", "hostile-always-equal", "hostile-exit", "hostile-reads-grader")


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def cli(*args: str | Path) -> Run:
    """`dlgrade ARGS` in this process (through dlgrade.cli.main, as the console script runs it)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return Run(code, out.getvalue(), err.getvalue())


def cli_process(*args: str | Path, **popen: object) -> subprocess.Popen[str]:
    """`dlgrade ARGS` as a process of its own, in its own session (so that a test can SIGKILL all of it)."""
    return subprocess.Popen([sys.executable, "-m", "dlgrade.cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, env=os.environ.copy(),
                            **popen)


def one_line_error(run: Run, *words: str) -> None:
    """Bad input's contract: exit status 2, one line on stderr starting with 'dlgrade: ', holding ``words``."""
    assert run.code == 2, (run.out, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlgrade: "), run.err
    for word in words:
        assert word in lines[0], lines[0]


def mini() -> assignments.Assignment:
    return assignments.load("mini", root=FIXTURE_ROOT)


def submit(course: Path, student: str, notebook: nbformat.NotebookNode | bytes, timestamp: str | None = None) -> Path:
    """submitted/<student>/mini/mini.ipynb (+ nbgrader's timestamp.txt), as a collect leaves it."""
    folder = course / "submitted" / student / "mini"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mini.ipynb"
    if isinstance(notebook, bytes):
        path.write_bytes(notebook)
    else:
        nbformat.write(notebook, path)
    if timestamp:
        (folder / "timestamp.txt").write_text(timestamp)
    return path


def submit_class(course: Path, students: Iterable[str] = CLASS) -> list[str]:
    wanted = set(students)
    chosen = [s for s in sample_class.build(mini()) if s.student in wanted]
    for student in chosen:
        submit(course, student.student, student.notebook, "2030-01-01 10:00:00.000000 UTC")
    return [s.student for s in chosen]


def gradebook_scores(course: Path) -> dict[str, dict[str, float | None]]:
    """student -> grade cell -> auto_score, read through nbgrader's Gradebook API."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", course.name) as book:
        return {submission.student.id: {grade.name: grade.auto_score for grade in submission.notebooks[0].grades}
                for submission in book.assignment_submissions("mini")}


def submission_counts(course: Path) -> dict[str, int]:
    """student -> number of submitted-assignment rows for mini (nbgrader allows one; a duplicate would show)."""
    import sqlite3

    connection = sqlite3.connect(course / "gradebook.db")
    try:
        rows = connection.execute(
            "SELECT student_id, COUNT(*) FROM submitted_assignment JOIN assignment "
            "ON assignment.id = submitted_assignment.assignment_id WHERE assignment.name = 'mini' "
            "GROUP BY student_id").fetchall()
    finally:
        connection.close()
    return dict(rows)


def results_json(course: Path, student: str) -> dict:
    return json.loads((course / "feedback" / student / "mini" / "results.json").read_text())


def records(course: Path) -> dict[str, dict]:
    folder = course / ".dlgrade" / "results" / "mini"
    return {path.stem: json.loads(path.read_text()) for path in folder.glob("*.json")} if folder.is_dir() else {}


def children(pid: int, bwrap: bool | None = None) -> list[int]:
    """A process's children; bwrap=False: only the grading workers, True: only the sandboxes launched early."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    if bwrap is None:
        return found
    return [child for child in found if _is_bwrap(child) == bwrap]


def _is_bwrap(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "bwrap"
    except OSError:
        return False


def alive(pid: int) -> bool:
    """The process exists and is not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.fixture(scope="session")
def base_course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course set up once per session with `dlgrade setup mini`; tests work on copies."""
    course = tmp_path_factory.mktemp("base") / "course"
    run = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert run.code == 0, run.err
    return course


@pytest.fixture
def course(base_course: Path, tmp_path: Path) -> Path:
    """A fresh copy of the set-up course (its own gradebook, secret and layout)."""
    copy = tmp_path / "course"
    shutil.copytree(base_course, copy)
    return copy
