"""The autograded notebook formgrader renders (and nbgrader's generate_feedback reads) carries the source's nbgrader
metadata only: whatever a student wrote into a cell's metadata (extra points, a grade cell of their own, a
solution cell turned into a grade cell, an edited locked cell) is replaced by the gradebook's source cells."""

from __future__ import annotations

import copy
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest
from course_helpers import base_course, cli, mini, submit  # noqa: F401 - base_course is a fixture

from dlgrade import sample_class

SETUP_SOURCE = "from dlcheck import check"


def _cell(notebook: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    return next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def bonus_cell(notebook: nbformat.NotebookNode) -> None:
    """A cell of the student's own claiming to be a 100-point grade cell (with and without a grade_id)."""
    notebook.cells.append(nbformat.v4.new_code_cell("print('bonus')", metadata={"nbgrader": {
        "grade": True, "grade_id": "bonus", "points": 100, "locked": False, "solution": False, "schema_version": 3}}))
    notebook.cells.append(nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "points": 100}}))


def solution_as_grade_cell(notebook: nbformat.NotebookNode) -> None:
    _cell(notebook, "mse_solution").metadata.nbgrader.update(grade=True, points=50)


def edited_points(notebook: nbformat.NotebookNode) -> None:
    _cell(notebook, "mse").metadata.nbgrader["points"] = 100


def edited_locked_cell(notebook: nbformat.NotebookNode) -> None:
    setup = _cell(notebook, "setup")
    setup.source = "import os  # the student's own setup"
    setup.metadata.nbgrader.update(locked=False, solution=True, grade=True, points=7)


def duplicated_grade_cell(notebook: nbformat.NotebookNode) -> None:
    duplicate = copy.deepcopy(_cell(notebook, "worked_loss"))
    duplicate.id = "a-copy"
    notebook.cells.append(duplicate)


def deleted_locked_cells(notebook: nbformat.NotebookNode) -> None:
    """The locked setup cell and the mse grade cell deleted (formgrader could then neither show nor grade mse)."""
    notebook.cells = [c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in
                      ("setup", "mse")]


TAMPERINGS: dict[str, Callable[[nbformat.NotebookNode], None]] = {
    "bonus-cell": bonus_cell, "solution-as-grade": solution_as_grade_cell, "edited-points": edited_points,
    "edited-locked-cell": edited_locked_cell, "duplicated-grade-cell": duplicated_grade_cell,
    "deleted-locked-cells": deleted_locked_cells}


@pytest.fixture(scope="module")
def tampered(base_course: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    course = tmp_path_factory.mktemp("tampered") / "course"
    shutil.copytree(base_course, course)
    solution = next(s.notebook for s in sample_class.build(mini()) if s.student == "solution")
    for student, tamper in TAMPERINGS.items():
        notebook = copy.deepcopy(solution)
        tamper(notebook)
        submit(course, student, notebook, "2030-01-01 10:00:00.000000 UTC")
    run = cli("autograde", "mini", "--course", course, "--workers", "2")
    assert run.code == 0, run.err
    return course


def autograded(course: Path, student: str) -> nbformat.NotebookNode:
    return nbformat.read(course / "autograded" / student / "mini" / "mini.ipynb", as_version=4)


def graded_cells(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every cell nbgrader would count as a grade cell."""
    return {c.metadata.nbgrader.get("grade_id"): c.metadata.nbgrader.get("points") for c in notebook.cells
            if c.metadata.get("nbgrader", {}).get("grade")}


SOURCE_POINTS = {"mse": 2, "relu_derivative": 2, "worked_loss": 1}


@pytest.mark.parametrize("student", sorted(TAMPERINGS))
def test_grade_cells_and_points_are_the_sources(tampered: Path, student: str) -> None:
    notebook = autograded(tampered, student)
    assert graded_cells(notebook) == SOURCE_POINTS
    ids = [c.metadata.nbgrader["grade_id"] for c in notebook.cells if "nbgrader" in c.metadata]
    assert ids == ["setup", "mse_solution", "mse", "relu_solution", "relu_derivative", "worked_solution",
                   "worked_loss"]  # unknown and duplicated cells keep no nbgrader metadata
    nbformat.validate(notebook)


def test_student_cells_claiming_points_lose_their_nbgrader_metadata(tampered: Path) -> None:
    notebook = autograded(tampered, "bonus-cell")
    extra = [c for c in notebook.cells if c.source in ("print('bonus')", "pass")]
    assert len(extra) == 2 and all("nbgrader" not in c.metadata for c in extra)


def test_solution_cell_marked_as_grade_cell_is_a_solution_cell_again(tampered: Path) -> None:
    meta = _cell(autograded(tampered, "solution-as-grade"), "mse_solution").metadata.nbgrader
    assert (meta["grade"], meta["solution"], "points" in meta) == (False, True, False)


def test_edited_locked_cell_comes_back_from_the_source(tampered: Path) -> None:
    setup = _cell(autograded(tampered, "edited-locked-cell"), "setup")
    assert setup.source == SETUP_SOURCE
    assert (setup.metadata.nbgrader["locked"], setup.metadata.nbgrader["solution"],
            setup.metadata.nbgrader["grade"]) == (True, False, False)


def test_deleted_locked_cells_come_back_from_the_source_in_place(tampered: Path) -> None:
    notebook = autograded(tampered, "deleted-locked-cells")
    source = nbformat.read(tampered / "source" / "mini" / "mini.ipynb", as_version=4)
    assert [c.source for c in notebook.cells] == [c.source for c in source.cells]  # each at its place again
    assert _cell(notebook, "setup").source == SETUP_SOURCE
    mse = _cell(notebook, "mse")
    assert mse.source == 'check("mse")' and mse.outputs and "dlgrade: passed, 2 / 2" in mse.outputs[0]["text"]


def test_checksums_and_metadata_pass_nbgraders_own_checks(tampered: Path) -> None:
    """nbgrader's CheckCellMetadata, and the checksum of every locked cell as nbgrader computes it."""
    from nbgrader.preprocessors import CheckCellMetadata
    from nbgrader.utils import compute_checksum, is_locked

    for student in TAMPERINGS:
        notebook = autograded(tampered, student)
        CheckCellMetadata().preprocess(notebook, {})
        for cell in notebook.cells:
            if "nbgrader" in cell.metadata and is_locked(cell):
                assert compute_checksum(cell) == cell.metadata.nbgrader["checksum"], (student, cell.source)


def test_nbgraders_own_generate_feedback_accepts_every_tampered_submission(tampered: Path, tmp_path: Path) -> None:
    """nbgrader's own feedback converter (GetGrades over the notebook, as formgrader's views read it), not the
    dlgrade exporter the course's config plugs in, renders every autograded notebook."""
    course = tmp_path / "course"
    shutil.copytree(tampered, course)
    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + "\nc.GenerateFeedback.preprocessors = [\"nbgrader.preprocessors.GetGrades\"]"
                      "\nc.GenerateFeedback.exporter_class = \"nbconvert.exporters.HTMLExporter\"\n")
    done = subprocess.run([sys.executable, "-m", "nbgrader", "generate_feedback", "mini", "--force"],
                          cwd=course, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    for student in TAMPERINGS:
        page = (course / "feedback" / student / "mini" / "mini.html").read_text()
        assert "Mini assignment" in page and "dlgrade:" in page, student  # nbgrader's render of the notebook
