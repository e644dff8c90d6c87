"""nbgrader's OverwriteCells and OverwriteKernelspec, fed from one snapshot of the gradebook per run.

nbgrader's own preprocessor asks the gradebook two queries per nbgrader cell of every notebook (about 0.09 s for a
40-cell notebook, the largest cost of writing an autograded notebook); the source cells only change when the
instructor regenerates the assignment, so one read serves a whole batch. The decisions (which attribute is
restored, which checksum is kept) stay nbgrader's: only where it looks the cells up changes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import OverwriteCells, OverwriteKernelspec

__all__ = ["SnapshotOverwriteCells", "SnapshotOverwriteKernelspec", "SourceCell", "SourceCells"]


@dataclass(frozen=True)
class SourceCell:
    """What OverwriteCells reads of a gradebook source cell (and, for a graded cell, its max_score)."""

    name: str
    cell_type: str
    locked: bool
    checksum: str | None
    source: str
    max_score: float | None = None


@dataclass(frozen=True)
class SourceCells:
    """An assignment notebook's source cells, read once; answers OverwriteCells' two lookups like a Gradebook."""

    assignment: str
    notebook: str
    cells: dict[str, SourceCell]
    kernelspec: dict[str, Any] | None = None  # the source notebook's, as the gradebook stores it

    @classmethod
    def read(cls, db_url: str, assignment: str, notebook: str) -> SourceCells:
        with Gradebook(db_url) as book:
            stored = book.find_notebook(notebook, assignment)
            points = {cell.name: float(cell.max_score) for cell in [*stored.grade_cells, *stored.task_cells]}
            cells = {cell.name: SourceCell(cell.name, cell.cell_type, bool(cell.locked), cell.checksum, cell.source,
                                           points.get(cell.name))
                     for cell in stored.source_cells}
            kernelspec = json.loads(stored.kernelspec) if stored.kernelspec is not None else None
        return cls(assignment, notebook, cells, kernelspec)

    def __enter__(self) -> SourceCells:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def _find(self, name: str, notebook: str, assignment: str) -> SourceCell:
        cell = self.cells.get(name) if (notebook, assignment) == (self.notebook, self.assignment) else None
        if cell is None:
            raise MissingEntry()
        return cell

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> SourceCell:
        return self._find(name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> SourceCell:
        cell = self._find(name, notebook, assignment)
        if cell.max_score is None:
            raise MissingEntry()
        return cell


class SnapshotOverwriteCells(OverwriteCells):
    """OverwriteCells whose per-cell lookups go to ``snapshot`` (a SourceCells) instead of the database."""

    def __init__(self, snapshot: SourceCells, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot

    def preprocess(self, nb: Any, resources: Any) -> Any:
        if self.add_missing_cells:  # re-adding deleted cells needs the whole notebook record: nbgrader's own way
            return super().preprocess(nb, resources)
        self.notebook_id = resources["nbgrader"]["notebook"]
        self.assignment_id = resources["nbgrader"]["assignment"]
        self.gradebook = self.snapshot
        # nbconvert's walk over the cells, each through OverwriteCells.preprocess_cell (nbgrader's decisions).
        return Preprocessor.preprocess(self, nb, resources)


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
