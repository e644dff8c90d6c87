"""Each authoring error an instructor can make in a `dlgrade new` skeleton is one line through the CLI (exit 2,
'dlgrade: ' and nothing else on stderr) naming the file, the cell or the question, and what to write instead;
nothing is graded or released. Every case starts from the skeleton (which validates as written: see
test_new_assignment) with one slip made in it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from course_helpers import cli, one_line_error

NOTEBOOK = "assignments/intro/intro.ipynb"
SUITE = "autograders/intro.py"


def _edit_suite(course: Path, old: str, new: str) -> None:
    path = course / SUITE
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def _edit_notebook(course: Path, change: Callable[[nbformat.NotebookNode], None]) -> None:
    path = course / NOTEBOOK
    notebook = nbformat.read(path, as_version=4)
    change(notebook)
    nbformat.write(notebook, path)


def _cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _no_points(notebook: nbformat.NotebookNode) -> None:
    del _cell(notebook, "mse").metadata["nbgrader"]["points"]


def _an_extra_grade_cell(notebook: nbformat.NotebookNode) -> None:
    extra = nbformat.v4.new_code_cell('check("mae")', id="mae")
    extra.metadata["nbgrader"] = {"schema_version": 3, "grade": True, "grade_id": "mae", "locked": True,
                                  "points": 1, "solution": False}
    notebook.cells.append(extra)


def _a_duplicate_grade_id(notebook: nbformat.NotebookNode) -> None:
    _cell(notebook, "setup").metadata["nbgrader"]["grade_id"] = "mse_solution"


# slip -> (how it is made, words the one line must hold: where, and what to write instead)
SLIPS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "unknown cell=": (
        lambda c: _edit_suite(c, 'cell="mse_solution"', 'cell="mse_soluton"'),
        (SUITE, "question 'mse'", "cell='mse_soluton' is not a solution cell", "solution cells: mse_solution",
         "write cell= the grade_id of the solution cell that defines mse_loss")),
    "a grade cell without points": (
        lambda c: _edit_notebook(c, _no_points),
        (NOTEBOOK, "grade cell 'mse' has no points", 'give it "points": N')),
    "a question without a grade cell": (
        lambda c: _edit_suite(c, 'name="mse",', 'name="mse_loss",'),
        (SUITE, "question 'mse_loss' has no grade cell in", NOTEBOOK, "grade_id 'mse_loss'",
         "check('mse_loss')")),
    "a grade cell without a question": (
        lambda c: _edit_notebook(c, _an_extra_grade_cell),
        (NOTEBOOK, "grade cell 'mae' has no question in", SUITE, "add Question(name='mae', ...) or remove the cell")),
    "duplicate ids": (
        lambda c: _edit_notebook(c, _a_duplicate_grade_id),
        (NOTEBOOK, "cells 2 and 4 both have grade_id 'mse_solution'", "every nbgrader cell needs its own")),
    "a mistake edit that does not apply": (
        lambda c: _edit_suite(c, 'edits=[("np.mean(", "np.sum(")]', 'edits=[("np.average(", "np.sum(")]'),
        (SUITE, "question 'mse', mistake 'sum_not_mean'", "'np.average(' occurs 0 times in cell mse_solution",
         "copy it from the cell")),
    "an edit that applies twice": (
        lambda c: _edit_suite(c, 'edits=[("np.mean(", "np.sum(")]', 'edits=[("target", "-target")]'),
        (SUITE, "mistake 'sum_not_mean'", "'target' occurs 2 times", "make it longer, so it occurs once")),
    "a reference failing its own public case": (
        lambda c: _edit_suite(c, "dtype=np.float64) - target) ** 2", "dtype=np.float64) - target[:2]) ** 2"),
        (SUITE, "question 'mse'", "the reference fails on its own public case 1", "ValueError")),
    "an entry its cell does not define": (
        lambda c: _edit_suite(c, 'entry="mse_loss"', 'entry="mse"'),
        (SUITE, "entry='mse' is not defined in cell 'mse_solution'", "it defines: mse_loss")),
    "hidden cases that raise, at their line": (
        lambda c: _edit_suite(c, "    n = int(rng.integers(5, 20))\n", "    n = int(rng.integers(5, 20)) // 0\n"),
        (SUITE, "line ", "question 'mse': hidden(rng) raised ZeroDivisionError")),
    "a reference failing on a hidden case (every student's grading would)": (
        lambda c: _edit_suite(c, "Case((np.array([2.5]), np.array([-1.0]))",
                              "Case((np.array([2.5, 1.0]), np.array([-1.0, 1.0, 0.0]))"),
        (SUITE, "question 'mse': the reference fails on its own hidden case", "(seed 0)", "ValueError")),
    "a suite that raises on import": (
        lambda c: _edit_suite(c, "import numpy as np\n", "import numpy as np\nrate = 1 / 0\n"),
        (SUITE, "line 9", "ZeroDivisionError: division by zero")),
}


@pytest.mark.parametrize("slip", list(SLIPS))
def test_an_authoring_error_is_one_line_naming_where_and_what_to_write(slip: str, tmp_path: Path) -> None:
    course = tmp_path / "course"
    assert cli("new", "intro", "--course", course).code == 0
    make, words = SLIPS[slip]
    make(course)
    one_line_error(cli("validate", "intro", "--course", course), *words)
    one_line_error(cli("release", "intro", "--course", course), *words)
    assert not (course / "student_template").exists()  # nothing released
    one_line_error(cli("mutants", "intro", "--course", course, "--no-sandbox"), *words)


def test_a_broken_course_assignment_stops_setup_in_one_line_and_sets_up_nothing(tmp_path: Path) -> None:
    course = tmp_path / "course"
    assert cli("new", "intro", "--course", course).code == 0
    _edit_suite(course, 'cell="mse_solution"', 'cell="mse_soluton"')
    one_line_error(cli("setup", "intro", "--course", course), SUITE, "cell='mse_soluton' is not a solution cell")
    assert not (course / "source" / "intro").exists() and not (course / "release" / "intro").exists()
