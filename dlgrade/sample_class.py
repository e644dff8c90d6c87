"""The sample class of an assignment, generated from its source notebook and its catalog of known mistakes.

Students: one who submits the instructor's solution, one who submits the blank released template, one per
known mistake (the solution with that mistake's cell swapped in), and a few hostile ones. Used by
``dlgrade validate`` (CI), the demo and the benchmarks; nothing here is stored, so it never goes stale.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlgrade.assignments import Assignment
from dlgrade.solution_cells import SOLUTION_REGION


@dataclass(frozen=True)
class SampleSubmission:
    """One student of the sample class and what the grader must make of them."""

    student: str
    kind: str  # solution | blank | mistake | hostile
    notebook: nbformat.NotebookNode
    question: str | None = None  # the question a mistake or an attack targets
    mistake: str | None = None  # the mistake's name, which the grader must diagnose

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(self.notebook, path)
        return path


def _grade_id(cell: nbformat.NotebookNode) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def replace_cell(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    """A copy of ``notebook`` with the cell ``grade_id`` holding ``source``."""
    changed = copy.deepcopy(notebook)
    for cell in changed.cells:
        if _grade_id(cell) == grade_id:
            cell.source = source
            return changed
    raise KeyError(f"no cell {grade_id!r}")


def blank_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Solution regions replaced by nbgrader's stub (the released template's code, without running nbgrader)."""
    blank = copy.deepcopy(notebook)
    for cell in blank.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            cell.source = SOLUTION_REGION.sub(r"\1# YOUR CODE HERE\n\1raise NotImplementedError()", cell.source)
    return blank


# Attacks aimed at the first function question's solution cell; the entry point's name is filled in.
HOSTILE = {
    "always-equal": "class Anything:\n    def __eq__(self, other):\n        return True\n"
                    "def {entry}(*args, **kwargs):\n    return Anything()\n",
    "exit": "import os\ndef {entry}(*args, **kwargs):\n    os._exit(0)\n",
    "infinite-loop": "def {entry}(*args, **kwargs):\n    while True:\n        pass\n",
    "reads-grader": "def {entry}(*args, **kwargs):\n    return open('/work/main/autograders/__init__.py').read()\n",
}


def build(assignment: Assignment, hostile: bool = True) -> list[SampleSubmission]:
    """Every student of the sample class, in a stable order."""
    source = nbformat.read(assignment.source, as_version=4)
    students = [SampleSubmission("solution", "solution", copy.deepcopy(source)),
                SampleSubmission("blank", "blank", blank_notebook(source))]
    for question in assignment.suite.questions:
        for mistake in question.mistakes:
            students.append(SampleSubmission(
                f"{question.name}-{mistake.name}".replace("_", "-"), "mistake",
                replace_cell(source, question.cell, mistake.solution), question.name, mistake.name))
    target = next((q for q in assignment.suite.questions if q.kind == "function"), None)
    if hostile and target is not None:
        for name, code in HOSTILE.items():
            students.append(SampleSubmission(f"hostile-{name}", "hostile",
                                             replace_cell(source, target.cell, code.format(entry=target.entry)),
                                             target.name))
    return students
