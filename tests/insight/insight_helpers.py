"""Shared by the insight tests: real courses of the `losses` assignment graded once per test session.

`graded_class`: the sample class of losses (one student per known mistake, the solution, the blank template, the
hostile ones but the infinite loop), plus repeats of a few mistakes so that counts differ, a late copy of the
solution, and a student whose cells print and raise markup. `bare_class`: the same assignment from a copy of the
project whose suite has no known mistakes for `mse`, graded with the students of those mistakes (one of them
three times, written three ways), so that their failures are unexplained and cluster. Each is built once per
session (both the report and the browser tests use the first) and kept under pytest's session temp folder.
"""

from __future__ import annotations

import json
import shutil
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
from course_helpers import cli

from dlgrade import assignments, sample_class

PROJECT = assignments.PROJECT_ROOT
DUE = "2030-01-02 00:00:00 UTC"
ON_TIME, LATE = "2030-01-01 10:00:00.000000 UTC", "2030-01-03 09:00:00.000000 UTC"
REPEATS = {"mse-half-factor": 2, "bce-forgot-minus": 1}  # extra students making these mistakes
MARKUP = "markup"
PRINTED = "<script>window.__pwned = 1</script><b>bold?</b>"
RAISED = "</pre><img src=x onerror=\"window.__pwned = 2\">"
# The student whose solution cells print and raise markup: l1 is wrong in a way no known mistake describes
# (and prints a script tag); bce raises an error whose message is an image tag with an onerror handler.
MARKUP_CELLS = {
    "l1_solution": "import numpy as np\nprint(" + repr(PRINTED) + ")\n\n"
                   "def l1_loss(input, target, reduction='mean'):\n    return np.sum(input - target) * 3.0\n",
    "bce_solution": "def binary_cross_entropy(input, target, reduction='mean'):\n    raise ValueError("
                    + repr(RAISED) + ")\n",
}
# mse's half_factor written three ways (the shortest is the cluster's representative)
HALF_WAYS = {
    "half-a": ("loss = 0.5 * (input - target) ** 2", "loss = (input - target) ** 2 / 2"),
    "half-b": ("loss = 0.5 * (input - target) ** 2",
               "# the notes' convenient form\n    difference = input - target\n"
               "    loss = 0.5 * difference * difference"),
}


@dataclass(frozen=True)
class Graded:
    course: Path
    students: dict[str, sample_class.SampleSubmission]  # every submitted student and what they are
    made: Counter[tuple[str, str]]  # (question, mistake) -> students who made it, as submitted
    autograde_out: str


def _submit(course: Path, student: str, notebook: nbformat.NotebookNode, timestamp: str) -> None:
    folder = course / "submitted" / student / "losses"
    folder.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, folder / "losses.ipynb")
    (folder / "timestamp.txt").write_text(timestamp)


def _set_due_date(course: Path) -> None:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        book.update_or_create_assignment("losses", duedate=DUE)


def _done(folder: Path) -> dict | None:
    marker = folder / "graded.json"
    return json.loads(marker.read_text()) if marker.is_file() else None


def graded_class(factory: pytest.TempPathFactory) -> Graded:
    """The losses sample class graded into a course (built on first use in the session)."""
    base = factory.getbasetemp() / "insight-losses"
    losses = assignments.load("losses")
    built = sample_class.build(losses)
    students = {s.student: s for s in built if s.student != "hostile-infinite-loop"}
    solution = students["solution"].notebook
    for name, count in REPEATS.items():
        for n in range(2, count + 2):
            students[f"{name}-{n}"] = sample_class.SampleSubmission(f"{name}-{n}", "mistake",
                                                                    students[name].notebook,
                                                                    students[name].question,
                                                                    students[name].mistake)
    marked = solution
    for cell, code in MARKUP_CELLS.items():
        marked = sample_class.replace_cell(marked, cell, code)
    students[MARKUP] = sample_class.SampleSubmission(MARKUP, "hostile", marked, "l1")
    students["solution-late"] = sample_class.SampleSubmission("solution-late", "solution", solution)
    made = Counter((s.question, s.mistake) for s in students.values() if s.kind == "mistake")
    done = _done(base)
    course = base / "course"
    if done is None:
        shutil.rmtree(base, ignore_errors=True)
        run = cli("setup", "losses", "--course", course)
        assert run.code == 0, run.err
        _set_due_date(course)
        for student, submission in students.items():
            _submit(course, student, submission.notebook, LATE if student == "solution-late" else ON_TIME)
        run = cli("autograde", "losses", "--course", course, "--workers", "2")
        assert run.code == 0, run.err
        done = {"out": run.out}
        (base / "graded.json").write_text(json.dumps(done))
    return Graded(course, students, made, done["out"])


def bare_project(folder: Path, question: str = "mse") -> Path:
    """A copy of the project's losses assignment whose suite has no known mistakes for ``question``."""
    (folder / "assignments" / "losses").mkdir(parents=True, exist_ok=True)
    (folder / "autograders").mkdir(parents=True, exist_ok=True)
    shutil.copy(PROJECT / "assignments" / "losses" / "losses.ipynb", folder / "assignments" / "losses")
    suite = (PROJECT / "autograders" / "losses.py").read_text()
    suite += (f"\n\n# The insight tests: {question}'s known mistakes removed, so its failures are unexplained.\n"
              "import dataclasses as _dataclasses\n"
              "SUITE = _dataclasses.replace(SUITE, questions=tuple(\n"
              f"    _dataclasses.replace(q, mistakes=()) if q.name == {question!r} else q for q in SUITE.questions))\n")
    (folder / "autograders" / "losses.py").write_text(suite)
    return folder


def bare_class(factory: pytest.TempPathFactory) -> Graded:
    """mse's mistake students (half_factor three times, written three ways), graded by a suite without mse's
    known mistakes; with the solution, the blank template, the always-equal attack and two other mistakes."""
    base = factory.getbasetemp() / "insight-bare"
    losses = assignments.load("losses")
    built = {s.student: s for s in sample_class.build(losses)}
    chosen = {name: built[name] for name in built
              if built[name].question == "mse" and built[name].kind == "mistake"}
    chosen.update({name: built[name] for name in ("solution", "blank", "hostile-always-equal", "bce-forgot-minus",
                                                  "l1-squared-error")})
    half = built["mse-half-factor"]
    mse = losses.suite.question("mse")
    source = next(m for m in mse.mistakes if m.name == "half_factor").solution
    for name, (old, new) in HALF_WAYS.items():
        assert source.count(old) == 1
        chosen[name] = sample_class.SampleSubmission(
            name, "mistake", sample_class.replace_cell(built["solution"].notebook, mse.cell,
                                                       source.replace(old, new)), "mse", "half_factor")
    made = Counter((s.question, s.mistake) for s in chosen.values() if s.kind == "mistake")
    assert half.mistake == "half_factor"
    done = _done(base)
    course = base / "course"
    if done is None:
        shutil.rmtree(base, ignore_errors=True)
        project = bare_project(base / "project")
        run = cli("setup", "losses", "--course", course, "--project", project)
        assert run.code == 0, run.err
        for student, submission in chosen.items():
            _submit(course, student, submission.notebook, ON_TIME)
        run = cli("autograde", "losses", "--course", course, "--workers", "2")
        assert run.code == 0, run.err
        done = {"out": run.out}
        (base / "graded.json").write_text(json.dumps(done))
    return Graded(course, chosen, made, done["out"])


def results_json(course: Path, student: str) -> dict:
    return json.loads((course / "feedback" / student / "losses" / "results.json").read_text())


def gradebook_scores(course: Path) -> dict[str, dict[str, float | None]]:
    """student -> question -> score in force, read through nbgrader's Gradebook API."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        return {submission.student.id: {grade.name: grade.score for grade in submission.notebooks[0].grades}
                for submission in book.assignment_submissions("losses")}
