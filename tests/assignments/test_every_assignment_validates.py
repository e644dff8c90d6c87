"""CI's proof for every assignment: `dlgrade validate` holds on its whole sample class.

The reference solution scores full marks, the released template zero (all not_implemented), each known mistake
loses points on its question, only there, and is named; hostile students lose the question they attack; the
committed student_template is exactly what `dlgrade release` produces.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dlgrade import assignments
from dlgrade.grading import Grader
from dlgrade.sandbox.launcher import Sandbox
from dlgrade.validate import validate_assignment

# The built-in content pack's assignments, as dlgrade finds them: adding one never means editing this list.
IDS = assignments.known_ids()


def test_every_built_in_assignment_is_whole() -> None:
    """No half-added assignment hides from the list: each folder of assignments/ has its suite and its released
    template, and each suite and template its folder."""
    root = assignments.PROJECT_ROOT
    folders = sorted(p.name for p in (root / "assignments").iterdir() if p.is_dir() and not p.name.startswith("."))
    suites = sorted(p.stem for p in (root / "autograders").glob("*.py") if p.stem != "__init__")
    templates = sorted(p.name for p in (root / "student_template").iterdir() if p.is_dir())
    assert IDS and folders == suites == templates == IDS


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    with Sandbox() as box:
        yield box


@pytest.mark.parametrize("assignment_id", IDS)
def test_assignment_validates(assignment_id: str, sandbox: Sandbox, tmp_path: Path) -> None:
    assignment = assignments.load(assignment_id)
    grader = Grader(assignment, sandbox, secret=b"ci-validate")
    checks = validate_assignment(assignment, grader, tmp_path)
    failures = [f"{c.student}: {c.detail}" for c in checks if not c.ok]
    assert not failures, "\n".join(failures)
    kinds = {c.student.split("-")[0] for c in checks}
    assert {"solution", "blank", "hostile", "templates"} <= kinds
    mistakes = sum(len(q.mistakes) for q in assignment.suite.questions)
    assert len(checks) >= mistakes + 2


@pytest.mark.parametrize("assignment_id", IDS)
def test_every_question_has_at_least_three_known_mistakes(assignment_id: str) -> None:
    suite = assignments.load(assignment_id).suite
    thin = [q.name for q in suite.questions if len(q.mistakes) < 3]
    assert not thin


@pytest.mark.parametrize("assignment_id", IDS)
def test_points_are_declared_once_in_the_grade_cells(assignment_id: str) -> None:
    import nbformat

    assignment = assignments.load(assignment_id)
    notebook = nbformat.read(assignment.source, as_version=4)
    graded = [c.metadata["nbgrader"] for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert [g["grade_id"] for g in graded] == [q.name for q in assignment.suite.questions]
    assert all(g["points"] > 0 and g.get("locked") for g in graded)
    assert not any(hasattr(q, "points") for q in assignment.suite.questions)
