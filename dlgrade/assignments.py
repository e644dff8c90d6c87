"""Find an assignment by id: its nbgrader source notebook, its suite, and the points of its grade cells.

An assignment lives in a content pack (dlgrade.content): ``<root>/assignments/<id>/<id>.ipynb`` and
``<root>/autograders/<id>.py``. Loading it checks that the two agree; every way they can disagree is an
AuthoringError of one line naming the file, the cell or the question, and what to write instead.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import os
import re
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

import nbformat

from dlgrade.errors import UsageError
from dlgrade.suite import Suite

PROJECT_ROOT = Path(os.environ.get("DLGRADE_ROOT", Path(__file__).resolve().parent.parent))
ASSIGNMENTS_DIR = PROJECT_ROOT / "assignments"
TEMPLATES_DIR = PROJECT_ROOT / "student_template"
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


class AuthoringError(UsageError):
    """An assignment's notebook and suite are not written right (one line: the file, the cell or the question,
    and what to write instead)."""


@dataclass(frozen=True)
class Assignment:
    """An assignment as written by the instructor: source notebook, suite, and points per question."""

    id: str
    source: Path
    suite: Suite
    points: dict[str, float]
    root: Path = PROJECT_ROOT
    # Taken from a course's own content (not the pack dlgrade's grading nodes have installed): a Dask worker gets
    # its suite and notebook with each task (dlgrade.cluster.task.content_bundle).
    course_owned: bool = False

    @property
    def max_score(self) -> float:
        return float(sum(self.points.values()))

    @property
    def template(self) -> Path:
        return self.root / "student_template" / self.id / f"{self.id}.ipynb"

    @property
    def suite_file(self) -> Path:
        return self.root / "autograders" / f"{self.id}.py"

    @property
    def builtin(self) -> bool:
        """Whether it is one of the project's own (the built-in content pack)."""
        return self.root.resolve() == PROJECT_ROOT.resolve()


def known_ids(root: Path = PROJECT_ROOT) -> list[str]:
    """Ids of the assignments under ``root`` that have both a source notebook and a suite."""
    folder = root / "assignments"
    if not folder.is_dir():
        return []
    return sorted(
        path.name for path in folder.iterdir()
        if (path / f"{path.name}.ipynb").is_file() and (root / "autograders" / f"{path.name}.py").is_file()
    )


def suite_module_name(root: Path, assignment_id: str) -> str:
    """The module name a suite is imported under: the package's for the project, else one per pack folder (two
    courses' suites of the same id are two modules)."""
    if root == PROJECT_ROOT:
        return f"autograders.{assignment_id}"
    tag = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:10]
    return f"_dlgrade_suite_{assignment_id}_{tag}"


def _where_raised(error: BaseException, path: Path) -> str:
    """', line N' of the deepest frame of ``path`` in the error's traceback (or of a SyntaxError there)."""
    if isinstance(error, SyntaxError) and error.filename and Path(error.filename).resolve() == path.resolve():
        return f", line {error.lineno}"
    lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__)
             if frame.filename and Path(frame.filename).resolve() == path.resolve()]
    return f", line {lines[-1]}" if lines else ""


def _import_suite(root: Path, assignment_id: str) -> Suite:
    """The SUITE of autograders/<id>.py under root; an error while importing it is one AuthoringError line naming
    the suite file and the line that raised."""
    name = suite_module_name(root, assignment_id)
    if name in sys.modules:
        return sys.modules[name].SUITE
    path = root / "autograders" / f"{assignment_id}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
        suite = getattr(module, "SUITE", None)
        if not isinstance(suite, Suite):
            raise AuthoringError(f"{path}: defines no SUITE = Suite(assignment={assignment_id!r}, questions=(...))")
    except AuthoringError:
        sys.modules.pop(name, None)
        raise
    except Exception as error:
        sys.modules.pop(name, None)
        first = (str(error).splitlines() or [""])[0][:300]
        detail = first if isinstance(error, UsageError) else f"{type(error).__name__}: {first}"
        raise AuthoringError(f"{path}{_where_raised(error, path)}: {detail}") from None
    return suite


def grade_cell_points(notebook: nbformat.NotebookNode) -> dict[str, float]:
    """grade_id -> points of every nbgrader grade cell (grade: true) of a notebook, in order."""
    points = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            points[meta["grade_id"]] = float(meta.get("points", 0))
    return points


def read_source(path: Path) -> nbformat.NotebookNode:
    """The source notebook, checked as nbgrader will need it: every nbgrader cell with a grade_id, no grade_id
    twice, every grade cell with points above 0. One AuthoringError line otherwise."""
    try:
        notebook = nbformat.read(path, as_version=4)
    except Exception as error:
        raise AuthoringError(f"{path}: not a readable notebook ({type(error).__name__}: "
                             f"{(str(error).splitlines() or [''])[0][:120]})") from None
    seen: dict[str, int] = {}
    for number, cell in enumerate(notebook.cells, 1):
        meta = cell.get("metadata", {}).get("nbgrader")
        if not meta:
            continue
        grade_id = meta.get("grade_id")
        if not isinstance(grade_id, str) or not grade_id:
            raise AuthoringError(f"{path}: cell {number} has nbgrader metadata without a grade_id; give it one "
                                 "(e.g. \"grade_id\": \"q1_solution\")")
        if grade_id in seen:
            raise AuthoringError(f"{path}: cells {seen[grade_id]} and {number} both have grade_id {grade_id!r}; "
                                 "every nbgrader cell needs its own")
        seen[grade_id] = number
        if meta.get("grade"):
            points = meta.get("points")
            if isinstance(points, bool) or not isinstance(points, int | float) or not points > 0:
                shown = "no points" if points is None else f"points {points!r}"
                raise AuthoringError(f"{path}: grade cell {grade_id!r} has {shown}; give it \"points\": N (a "
                                     "number above 0) in its nbgrader metadata")
    return notebook


def _defined_names(source: str) -> set[str] | None:
    """Top-level names a cell's code binds (def, class, assignment, import), or None when it does not parse."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    names: set[str] = set()
    pending: list[ast.AST] = list(tree.body)
    while pending:  # module-level statements (those in if/for/with/try blocks too), not function or class bodies
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            continue
        if isinstance(node, ast.Lambda | ast.ListComp | ast.SetComp | ast.DictComp | ast.GeneratorExp):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add((node.asname or node.name).split(".")[0])
        pending.extend(ast.iter_child_nodes(node))
    return names


def check_agreement(assignment_id: str, source: Path, suite_path: Path, suite: Suite,
                    notebook: nbformat.NotebookNode) -> dict[str, float]:
    """The suite and the notebook agree (each question has its grade cell, each grade cell its question, each
    question's cell is a solution cell defining its entry point); the points by question. AuthoringError else."""
    points = grade_cell_points(notebook)
    solutions = {}
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            solutions[meta["grade_id"]] = cell.source
    if suite.assignment != assignment_id:
        raise AuthoringError(f"{suite_path}: SUITE is for assignment {suite.assignment!r}; write "
                             f"Suite(assignment={assignment_id!r}, ...)")
    for question in suite.questions:
        if question.name not in points:
            raise AuthoringError(
                f"{suite_path}: question {question.name!r} has no grade cell in {source}; add a grade cell "
                f"(nbgrader: grade true, locked, grade_id {question.name!r}, points N) whose source is "
                f"check({question.name!r})")
        if question.cell not in solutions:
            raise AuthoringError(
                f"{suite_path}: question {question.name!r}: cell={question.cell!r} is not a solution cell of "
                f"{source} (solution cells: {', '.join(solutions) or 'none'}); write cell= the grade_id of the "
                f"solution cell that defines {question.entry}")
        defined = _defined_names(re.sub(r"(?m)^[ \t]*### (BEGIN|END) SOLUTION.*$", "", solutions[question.cell]))
        if defined is not None and question.entry not in defined:
            raise AuthoringError(
                f"{suite_path}: question {question.name!r}: entry={question.entry!r} is not defined in cell "
                f"{question.cell!r} (it defines: {', '.join(sorted(defined)) or 'nothing'}); write the name of "
                "the function, class or variable the student writes there")
    names = {question.name for question in suite.questions}
    for grade_id in points:
        if grade_id not in names:
            raise AuthoringError(f"{source}: grade cell {grade_id!r} has no question in {suite_path}; add "
                                 f"Question(name={grade_id!r}, ...) or remove the cell")
    return {question.name: points[question.name] for question in suite.questions}


def load(assignment_id: str, root: Path = PROJECT_ROOT) -> Assignment:
    """The assignment with this id, its suite checked against (and bound to) the notebook's cells."""
    if not _ID.match(assignment_id) or assignment_id not in known_ids(root):
        known = ", ".join(known_ids(root)) or "none"
        raise UsageError(f"unknown assignment {assignment_id!r} (known: {known})")
    source = root / "assignments" / assignment_id / f"{assignment_id}.ipynb"
    suite_path = root / "autograders" / f"{assignment_id}.py"
    notebook = read_source(source)
    suite = _import_suite(root, assignment_id)
    points = check_agreement(assignment_id, source, suite_path, suite, notebook)
    if not suite.bound:
        try:
            suite = suite.bound_to(source)
        except UsageError as error:
            raise AuthoringError(f"{suite_path}: {error}") from None
    return Assignment(assignment_id, source, suite, points, root)
