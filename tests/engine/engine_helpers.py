"""Helpers for the engine tests: build submissions from the fixture's source notebook, read results."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from dlgrade.grading import SubmissionResult

# The engine tests' small course: the 'mini' assignment and its suite.
FIXTURE_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "engine_course"

SOLUTION_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION", re.S | re.M)


def with_cell(source: Path, grade_id: str, code: str, out: Path) -> Path:
    """A copy of the notebook at ``source`` whose cell ``grade_id`` holds ``code`` instead."""
    notebook = nbformat.read(source, as_version=4)
    notebook = copy.deepcopy(notebook)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = code
            break
    else:
        raise KeyError(grade_id)
    nbformat.write(notebook, out)
    return out


def blank(source: Path, out: Path) -> Path:
    """The student's starting point: every solution region replaced by nbgrader's default stub."""
    notebook = nbformat.read(source, as_version=4)
    for cell in notebook.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            cell.source = SOLUTION_REGION.sub(r"\1# YOUR CODE HERE\n\1raise NotImplementedError()", cell.source)
    nbformat.write(notebook, out)
    return out


def scores(result: SubmissionResult) -> dict[str, float]:
    return {q.name: q.score for q in result.questions}


def statuses(result: SubmissionResult) -> dict[str, str]:
    return {q.name: q.status for q in result.questions}
