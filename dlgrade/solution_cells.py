"""The solution cells of an nbgrader source notebook, read as a suite's one source for each solution's code.

A suite derives its known mistakes from these sources plus an edit (``edited``, or a Mistake's ``edits``, which
``bind_mistakes`` applies), so the notebook stays the only place an instructor writes a solution; the
``### BEGIN/END SOLUTION`` marker lines are dropped, the code between them kept as the student would write it.
A mistake given without a ``compute`` gets the edited cell itself as its variant, run on the trusted side after
the notebook's code cells before it (``cell_variant``): the instructor's own code, never a student's.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from dlgrade.suite import Mistake, Question, Suite

__all__ = ["MARKER_LINE", "SOLUTION_REGION", "NotebookCells", "bind_mistakes", "cell_variant", "edited", "read_cells",
           "solution_sources"]

# nbgrader's solution markers (a "### BEGIN SOLUTION" / "### END SOLUTION" line each), found here only: the
# marker lines, and a whole marked region with its indentation (what a student's template holds instead).
MARKER_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)
SOLUTION_REGION = re.compile(r"^([ \t]*)### BEGIN SOLUTION.*?### END SOLUTION[^\n]*", re.S | re.M)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return source if isinstance(source, str) else "".join(source)


def _nbgrader(cell: dict[str, Any]) -> dict[str, Any]:
    meta = cell.get("metadata", {})
    return (meta.get("nbgrader") or {}) if isinstance(meta, dict) else {}


class NotebookCells:
    """A source notebook's code cells in order: (grade_id or None, kind, source without solution markers), kind
    one of setup (locked or plain code), solution, test (a grade cell that is not a solution)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            cells = json.loads(self.path.read_text(encoding="utf-8"))["cells"]
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise UsageError(f"{self.path}: not a readable notebook ({type(error).__name__}: "
                             f"{str(error).splitlines()[0][:120] if str(error) else 'no cells'})") from None
        self.code: list[tuple[str | None, str, str]] = []
        for cell in cells:
            if not isinstance(cell, dict) or cell.get("cell_type") != "code":
                continue
            meta = _nbgrader(cell)
            kind = "solution" if meta.get("solution") else "test" if meta.get("grade") else "setup"
            self.code.append((meta.get("grade_id"), kind, MARKER_LINE.sub("", _source(cell))))

    def solutions(self) -> dict[str, str]:
        """grade_id -> source (marker lines removed) of every solution cell."""
        return {grade_id: source for grade_id, kind, source in self.code if kind == "solution" and grade_id}

    def before(self, grade_id: str) -> list[tuple[str, str]]:
        """(name, source) of the code cells that run before cell ``grade_id`` (grade cells excepted: they only
        call check())."""
        found = []
        for index, (name, kind, source) in enumerate(self.code):
            if name == grade_id:
                return found
            if kind != "test":
                found.append((name or f"cell {index + 1}", source))
        return found


@functools.lru_cache(maxsize=32)
def _cells(path: str, _mtime_ns: int) -> NotebookCells:
    return NotebookCells(Path(path))


def read_cells(notebook: Path) -> NotebookCells:
    """The notebook's cells, read once per version of the file."""
    path = Path(notebook).resolve()
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        raise UsageError(f"{path}: no such notebook") from None
    return _cells(str(path), stamp)


def solution_sources(notebook: Path) -> dict[str, str]:
    """grade_id -> source (marker lines removed) of every nbgrader solution cell of ``notebook``."""
    return read_cells(notebook).solutions()


def edited(source: str, *edits: tuple[str, str], where: str = "the solution") -> str:
    """``source`` with each (old, new) applied; each old text must occur exactly once (a stale edit is an
    authoring error, named in one line)."""
    for old, new in edits:
        count = source.count(old)
        if count != 1:
            raise UsageError(f"mistake edit does not apply to {where}: {old!r} occurs {count} times "
                             f"(it must occur exactly once)")
        source = source.replace(old, new)
    return source


# ---- a mistake's variant: the edited cell, run on the trusted side ---------------------------------------------


@contextlib.contextmanager
def _silent_dlcheck() -> Iterator[None]:
    """The setup cell's `from dlcheck import check, my_numbers` works on the trusted side too, as in the grader's
    worker (sandbox/worker.py's _silent_checker): check() and submit() do nothing; my_numbers() has no student's
    numbers here, and says so (a variant's case carries the numbers as arguments)."""
    if "dlcheck" in sys.modules:
        yield
        return

    def my_numbers(*args: Any, **kwargs: Any) -> dict[str, float]:
        raise LookupError("my_numbers(): a known mistake's variant is computed for no student in particular")

    module = type(sys)("dlcheck")
    module.check = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    module.submit = lambda *args, **kwargs: None  # type: ignore[attr-defined]
    module.my_numbers = my_numbers  # type: ignore[attr-defined]
    sys.modules["dlcheck"] = module
    try:
        yield
    finally:
        sys.modules.pop("dlcheck", None)


@functools.lru_cache(maxsize=256)
def _namespace(before: tuple[tuple[str, str], ...], name: str, source: str) -> dict[str, Any]:
    """The names the notebook's cells before a solution cell, then that cell as ``source``, define."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    with _silent_dlcheck():
        for cell, code in before:
            exec(compile(code, f"<{cell}>", "exec"), namespace)
        exec(compile(source, f"<{name}>", "exec"), namespace)
    return namespace


def _to_tensors(value: Any) -> Any:
    """The case's TensorArgs as torch tensors: what the notebook's own code is handed in the sandbox."""
    import torch

    from dlgrade.suite import map_tensor_args

    return map_tensor_args(value, lambda tensor: torch.from_numpy(tensor.array))


def _plain(value: Any) -> Any:
    """Tensors as numpy arrays (float64 where floating), recursively: what the worker would send back."""
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        import numpy as np

        array = value.detach().cpu().numpy()
        return array.astype(np.float64) if array.dtype.kind == "f" else array
    if isinstance(value, tuple | list):
        return type(value)(_plain(item) for item in value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def cell_variant(cells: NotebookCells, question: Question, source: str, harness_source: str = "") -> Callable[..., Any]:
    """The question's entry point as ``source`` (the question's cell, edited) defines it, called as the worker
    calls a student's: TensorArgs as tensors, through the question's harness when it has one, a variable read;
    its answer made plain. Runs the notebook's earlier cells once, on first use."""
    before = tuple(cells.before(question.cell))

    def variant(*args: Any, **kwargs: Any) -> Any:
        namespace = _namespace(before, question.cell, source)
        if question.entry not in namespace:
            raise NameError(f"{question.entry} is not defined by the edited cell {question.cell}")
        target = namespace[question.entry]
        args, kwargs = _to_tensors(args), _to_tensors(kwargs)
        if question.kind == "variable":
            return _plain(target)
        if question.harness:
            harness = _harness(harness_source)
            return _plain(harness[question.harness](target, *args, **kwargs))
        return _plain(target(*args, **kwargs))

    variant.takes_tensor_args = True  # type: ignore[attr-defined]  # see Case.call
    return variant


@functools.lru_cache(maxsize=16)
def _harness(source: str) -> dict[str, Any]:
    import numpy as np

    namespace: dict[str, Any] = {"np": np}
    try:
        import torch

        namespace["torch"] = torch
    except ImportError:  # a numpy-only harness
        pass
    exec(compile(source, "<harness>", "exec"), namespace)
    return namespace


# ---- binding a suite's mistakes to its notebook -----------------------------------------------------------------


def _bound_mistake(cells: NotebookCells, suite: Suite, question: Question, mistake: Mistake) -> Mistake:
    where = f"question {question.name!r}, mistake {mistake.name!r}"
    solutions = cells.solutions()
    solution = mistake.solution
    if mistake.edits:
        source = solutions.get(question.cell)
        if source is None:
            raise UsageError(f"{where}: cell={question.cell!r} is not a solution cell of {cells.path.name}")
        for edit in mistake.edits:
            if not (isinstance(edit, tuple | list) and len(edit) == 2 and all(isinstance(t, str) for t in edit)):
                raise UsageError(f"{where}: each edit is a pair of texts (old, new), not {edit!r}")
            old, new = edit
            count = source.count(old)
            if count != 1:
                hint = "copy it from the cell" if count == 0 else "make it longer, so it occurs once"
                raise UsageError(f"{where}: the edit's old text {old!r} occurs {count} times in cell "
                                 f"{question.cell} of {cells.path.name}; it must occur exactly once ({hint})")
            source = source.replace(old, new)
        # A mistake bound already carries its edited cell as its solution (a suite rebound by dataclasses.replace):
        # that is the same mistake; any other solution beside edits is two answers to one question.
        if mistake.solution and mistake.solution != source:
            raise UsageError(f"{where}: give edits=[(old, new), ...] or solution=..., not both (edits: the "
                             "notebook's solution cell with them applied)")
        solution = source
    if not solution:
        raise UsageError(f"{where}: give edits=[(old, new)] that turn cell {question.cell} into the mistaken "
                         "code a student would write")
    compute = mistake.compute or cell_variant(cells, question, solution, suite.harness_source)
    return replace(mistake, solution=solution, compute=compute)


def bind_mistakes(suite: Suite, notebook: Path) -> tuple[Question, ...]:
    """The suite's questions with every mistake's solution (from its edits and the question's solution cell) and
    compute (the edited cell, where not written) filled in; UsageError in one line for an edit that does not
    apply or a question whose cell is not a solution cell."""
    cells = read_cells(notebook)
    questions = []
    for question in suite.questions:
        if question.mistakes and question.cell not in cells.solutions():
            known = ", ".join(cells.solutions()) or "none"
            raise UsageError(f"question {question.name!r}: cell={question.cell!r} is not a solution cell of "
                             f"{cells.path.name} (its solution cells: {known}); write the grade_id of the "
                             "solution cell that defines the entry point")
        mistakes = tuple(_bound_mistake(cells, suite, question, m) for m in question.mistakes)
        questions.append(replace(question, mistakes=mistakes))
    return tuple(questions)
