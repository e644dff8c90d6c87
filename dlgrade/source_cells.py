"""The autograded notebook's nbgrader metadata from the gradebook's source cells, never from the student.

nbgrader's OverwriteCells trusts what it does not recognise: a student cell with an unknown grade_id keeps
``grade: true, points: 100`` (its grade_id alone is deleted), a solution cell a student marked as a grade cell
stops it with MissingEntry, and a locked cell whose flags were edited fails its checksum check (RuntimeError),
after which formgrader would get the raw submission. RestoreSourceCells instead rebuilds every cell's nbgrader
metadata from the source (flags, points, checksum, and for locked cells the source and cell type), keeps the first
of duplicated cells (the one dlgrade graded) and strips the nbgrader metadata of every other cell, so whatever
the student wrote there, nbgrader and formgrader see only the instructor's cells.

The source cells are read from the gradebook once per run (nbgrader's own preprocessor asks two queries per
cell of every notebook, ~0.09 s for a 40-cell notebook); they only change when the assignment is regenerated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.preprocessors import OverwriteKernelspec
from nbgrader.utils import compute_checksum

__all__ = ["RestoreSourceCells", "SnapshotOverwriteKernelspec", "SourceCell", "SourceCells"]
NBGRADER_SCHEMA_VERSION = 3


@dataclass(frozen=True)
class SourceCell:
    """What the gradebook knows of one source cell: its type, flags, checksum, source and points."""

    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str
    max_score: float | None = None  # a grade or task cell's points
    solution: bool = False
    task: bool = False

    def metadata(self) -> dict[str, Any]:
        """The cell's nbgrader metadata as generate_assignment wrote it into the released notebook."""
        grade = self.max_score is not None and not self.task
        meta: dict[str, Any] = {"grade": grade, "grade_id": self.name, "locked": self.locked,
                                "schema_version": NBGRADER_SCHEMA_VERSION, "solution": self.solution}
        if grade or self.task:
            meta["points"] = self.max_score
        if self.task:
            meta["task"] = True
        if self.checksum is not None:
            meta["checksum"] = self.checksum
        return meta


@dataclass(frozen=True)
class SourceCells:
    """An assignment notebook's source cells (by grade_id) and kernelspec, read once from the gradebook."""

    assignment: str
    notebook: str
    cells: dict[str, SourceCell]
    kernelspec: dict[str, Any] | None = None  # the source notebook's, as the gradebook stores it
    order: tuple[str, ...] = ()  # every source cell's anchor() in the notebook's order (the gradebook keeps none)

    @classmethod
    def read(cls, db_url: str, assignment: str, notebook: str, source: Path | None = None) -> SourceCells:
        """The gradebook's cells; ``source``: the source notebook (source/<id>/<id>.ipynb), read for their order
        (a locked cell a student deleted is put back at its place), if it can be read."""
        order: tuple[str, ...] = ()
        if source is not None:
            try:
                order = tuple(anchor(cell) for cell in nbformat.read(source, 4).cells)
            except Exception:  # noqa: BLE001 - without an order, deleted cells are not put back; all else holds
                order = ()
        with Gradebook(db_url) as book:
            stored = book.find_notebook(notebook, assignment)
            points = {cell.name: float(cell.max_score) for cell in [*stored.grade_cells, *stored.task_cells]}
            solutions = {cell.name for cell in stored.solution_cells}
            tasks = {cell.name for cell in stored.task_cells}
            cells = {cell.name: SourceCell(cell.name, cell.cell_type, bool(cell.locked), cell.checksum, cell.source,
                                           points.get(cell.name), cell.name in solutions, cell.name in tasks)
                     for cell in stored.source_cells}
            kernelspec = json.loads(stored.kernelspec) if stored.kernelspec is not None else None
        return cls(assignment, notebook, cells, kernelspec, order)


def anchor(cell: Any) -> str:
    """What places a cell among the source's: its grade_id, or for a cell without one its type and text."""
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return grade_id if isinstance(grade_id, str) else f"\0{cell.get('cell_type')}\0{cell.get('source')}"


def retype(cell: Any, cell_type: str) -> None:
    """The cell made a code or markdown cell, with the fields nbformat requires of that type."""
    if cell.get("cell_type") == cell_type:
        return
    cell["cell_type"] = cell_type
    if cell_type == "code":
        cell["outputs"], cell["execution_count"] = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)


class RestoreSourceCells(Preprocessor):
    """Every cell's nbgrader metadata from ``snapshot`` (a SourceCells): a cell the source knows (by grade_id,
    first occurrence only) gets the source's metadata, and if locked its source and cell type; every other cell
    loses its nbgrader metadata. The result passes nbgrader's own checks (CheckCellMetadata, the checksums
    generate_feedback and formgrader compare)."""

    def __init__(self, snapshot: SourceCells, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot

    def preprocess(self, nb: Any, resources: Any) -> Any:
        seen: set[str] = set()
        for cell in nb.cells:
            self.restore(cell, seen)
        self.put_back_deleted(nb, seen)
        return nb, resources

    def put_back_deleted(self, nb: Any, seen: set[str]) -> None:
        """Every locked source cell the notebook lacks, inserted after the nearest source cell before it that the
        notebook has (else before the nearest after it; else at the end): formgrader shows and grades only the
        cells a notebook holds."""
        order = self.snapshot.order
        for position, name in enumerate(order):
            source = self.snapshot.cells.get(name)
            if source is None or name in seen or not source.locked:
                continue
            ids = [anchor(cell) for cell in nb.cells]
            before, after = set(order[:position]), set(order[position + 1:])
            at = next((index + 1 for index in range(len(ids) - 1, -1, -1) if ids[index] in before), None)
            if at is None:
                at = next((index for index, grade_id in enumerate(ids) if grade_id in after), len(ids))
            make = nbformat.v4.new_code_cell if source.cell_type == "code" else nbformat.v4.new_markdown_cell
            cell = make(source.source, metadata={"nbgrader": source.metadata()})
            if source.checksum is not None and compute_checksum(cell) != source.checksum:
                continue  # the gradebook's own cell does not match its checksum: nothing nbgrader would trust
            nb.cells.insert(at, cell)
            seen.add(name)

    def restore(self, cell: Any, seen: set[str]) -> None:
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = NotebookNode()
        metadata = cell["metadata"]
        written = metadata.pop("nbgrader", None)
        grade_id = written.get("grade_id") if isinstance(written, dict) else None
        source = self.snapshot.cells.get(grade_id) if isinstance(grade_id, str) and grade_id not in seen else None
        if source is None:
            return
        seen.add(source.name)
        retype(cell, source.cell_type)
        if source.locked:
            cell["source"] = source.source
        metadata["nbgrader"] = NotebookNode(source.metadata())
        if source.locked and source.checksum is not None and compute_checksum(cell) != source.checksum:
            # the gradebook's own cell does not match its checksum: keep nothing nbgrader would trust
            metadata.pop("nbgrader")


class SnapshotOverwriteKernelspec(OverwriteKernelspec):
    """OverwriteKernelspec with the source notebook's kernelspec from ``snapshot`` (nbgrader's preprocessor opens
    a new gradebook connection for each notebook): the submission gets it whenever the source has one."""

    def __init__(self, snapshot: SourceCells, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot

    def preprocess(self, nb: Any, resources: Any) -> Any:
        if self.snapshot.kernelspec:
            nb.metadata["kernelspec"] = self.snapshot.kernelspec
        return nb, resources
