"""Find an assignment by id: its nbgrader source notebook, its suite, and the points of its grade cells."""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlgrade.errors import UsageError
from dlgrade.suite import Suite

PROJECT_ROOT = Path(os.environ.get("DLGRADE_ROOT", Path(__file__).resolve().parent.parent))
ASSIGNMENTS_DIR = PROJECT_ROOT / "assignments"
TEMPLATES_DIR = PROJECT_ROOT / "student_template"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Assignment:
    """An assignment as written by the instructor: source notebook, suite, and points per question."""

    id: str
    source: Path
    suite: Suite
    points: dict[str, float]
    root: Path = PROJECT_ROOT

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))

    @property
    def template(self) -> Path:
        return self.root / "student_template" / self.id / f"{self.id}.ipynb"


def known_ids(root: Path = PROJECT_ROOT) -> list[str]:
    """Ids of the assignments under ``root`` that have both a source notebook and a suite."""
    folder = root / "assignments"
    if not folder.is_dir():
        return []
    return sorted(
        path.name for path in folder.iterdir()
        if (path / f"{path.name}.ipynb").is_file() and (root / "autograders" / f"{path.name}.py").is_file()
    )


def _import_suite(root: Path, assignment_id: str) -> Suite:
    """The SUITE of autograders/<id>.py under root (the package module when root is the project)."""
    name = f"autograders.{assignment_id}" if root == PROJECT_ROOT else f"_dlgrade_suite_{assignment_id}"
    if name in sys.modules:
        return sys.modules[name].SUITE
    spec = importlib.util.spec_from_file_location(name, root / "autograders" / f"{assignment_id}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.SUITE


def grade_cell_points(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every nbgrader grade cell (grade: true) of a notebook, in order."""
    points = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def load(assignment_id: str, root: Path = PROJECT_ROOT) -> Assignment:
    """The assignment with this id, its suite checked against the notebook's grade cells."""
    if not _ID.match(assignment_id) or assignment_id not in known_ids(root):
        known = ", ".join(known_ids(root)) or "none"
        raise UsageError(f"unknown assignment {assignment_id!r} (known: {known})")
    source = root / "assignments" / assignment_id / f"{assignment_id}.ipynb"
    suite = _import_suite(root, assignment_id)
    points = grade_cell_points(nbformat.read(source, as_version=4))
    names = [question.name for question in suite.questions]
    if sorted(names) != sorted(points):
        raise UsageError(
            f"{assignment_id}: suite questions {sorted(names)} do not match the notebook's grade cells "
            f"{sorted(points)}"
        )
    return Assignment(assignment_id, source, suite, {name: points[name] for name in names}, root)
