"""Extract the code to run from a submission: the student's solution cells, everything else from the source.

With nbgrader metadata, the student's cells are matched to the instructor's source by grade_id: solution cells
come from the student, locked cells from the instructor, grade (test) cells are never run (scores come from the
suite). A deleted, duplicated or retyped cell is reported, not fatal. IPython magics and shell escapes are
stripped and reported. Stored outputs are ignored. A plain notebook is run as written; a .py script as a notebook
of its top-level statements (script_cells).
Also the two helpers the autograded notebook is written with (nbformat's text, without its validating detours).
"""

from __future__ import annotations

import ast
import functools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from dlgrade.errors import UsageError

MAX_SUBMISSION_BYTES = 20 << 20
SCRIPT = "script"  # the cell id of a .py submission's code (script:LINE for each of its statements)
MAX_SCRIPT_CELLS = 5000  # statements beyond run as one last cell (no student writes as many)
_MAGIC = re.compile(r"^\s*(%|!)")
_CELL_MAGIC = re.compile(r"^\s*%%")
_GET_IPYTHON = re.compile(r"get_ipython\(\)")


@dataclass(frozen=True)
class CodeCell:
    """A cell to execute: its id for messages, its source, whether the student wrote it, and the line of the
    submitted file its source starts on (a .py script's statements keep the script's line numbers)."""

    id: str
    source: str
    student: bool
    line: int = 1


@dataclass(frozen=True)
class Extraction:
    """The cells to run, in order, and what was noticed on the way (shown to the student)."""

    cells: tuple[CodeCell, ...]
    notes: tuple[str, ...]

    @property
    def student_source(self) -> str:
        """All code the student wrote, for static checks such as banned APIs."""
        return "\n\n".join(cell.source for cell in self.cells if cell.student)


def nbgrader_metadata(cell: Any) -> dict:
    """A cell's nbgrader metadata; {} where there is none, or what stands there is not nbgrader's (not a mapping,
    a grade_id that is not a string): such a cell is matched like one the student added."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("grade_id", ""), str):
        return {}
    return meta


def strip_magics(source: str, cell_id: str, notes: list[str]) -> str:
    """Drop IPython-only lines (%magic, !shell, %%cell magics): they are not Python and never run here."""
    lines = source.splitlines()
    if lines and _CELL_MAGIC.match(lines[0]):
        notes.append(f"cell {cell_id}: dropped a cell magic ({lines[0].strip()[:40]}); it does not run in grading")
        return ""
    kept = []
    for line in lines:
        if _MAGIC.match(line) or _GET_IPYTHON.search(line):
            notes.append(f"cell {cell_id}: dropped IPython line {line.strip()[:60]!r}; it does not run in grading")
            kept.append("")
        else:
            kept.append(line)
    return "\n".join(kept)


def read_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, turning every way it can be broken into one clear UsageError."""
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    if path.stat().st_size > MAX_SUBMISSION_BYTES:
        raise UsageError(f"{path}: larger than {MAX_SUBMISSION_BYTES >> 20} MB")
    try:
        text = path.read_text(encoding="utf-8")
        with warnings.catch_warnings():  # nbformat's advice (cell ids...) is for the notebook's author, not ours
            warnings.simplefilter("ignore")
            notebook = nbformat.reads(text, as_version=4)
    except (json.JSONDecodeError, UnicodeDecodeError, nbformat.reader.NotJSONError) as error:
        raise UsageError(f"{path}: not a notebook ({str(error).splitlines()[0][:80]})") from None
    except Exception as error:  # nbformat raises a variety of validation errors
        raise UsageError(f"{path}: unreadable notebook ({type(error).__name__}: {str(error)[:80]})") from None
    if not isinstance(notebook.get("cells"), list) or not all(isinstance(cell, dict) for cell in notebook.cells):
        raise UsageError(f"{path}: not a notebook (no list of cells)")
    if _SURROGATE_ESCAPE.search(text) and not _encodable(notebook):
        raise UsageError(f"{path}: not a notebook that can be stored: its JSON escapes a lone UTF-16 surrogate "
                         "(\\ud800-\\udfff), which is no character; save it again from Jupyter")
    return notebook


# JSON's escape of a UTF-16 surrogate: fine in a pair (an emoji), no text alone; only then is the notebook checked.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _encodable(notebook: nbformat.NotebookNode) -> bool:
    try:
        json.dumps(notebook, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError):
        return False
    return True


def dumps_consumed(notebook: nbformat.NotebookNode) -> str:
    """nbformat.v4.writes(notebook)'s very text, for a notebook the caller discards afterwards: without the deep
    copy writes() makes to spare its argument (a fifth of the CPU of writing an autograded notebook).
    ``notebook`` is left with its sources split into lines."""
    from nbformat.v4.nbjson import BytesEncoder
    from nbformat.v4.rwbase import split_lines, strip_transient

    return json.dumps(strip_transient(split_lines(notebook)), cls=BytesEncoder, indent=1, sort_keys=True,
                      separators=(",", ": "), ensure_ascii=False)


def stream_output(text: str) -> nbformat.NotebookNode:
    """A stdout stream output, as nbformat.v4.new_output("stream", text=...) builds it, minus its schema
    validation (a jsonschema run per output, for a dict of three fixed keys)."""
    return nbformat.NotebookNode(output_type="stream", name="stdout", text=text)


def find_submission_file(path: Path, assignment_id: str) -> Path:
    """A submission is a notebook, a .py file, or a folder holding <id>.ipynb (or a single notebook)."""
    if path.is_symlink():
        raise UsageError(f"{path}: is a symbolic link; submit the file itself")
    if path.is_dir():
        preferred = path / f"{assignment_id}.ipynb"
        if preferred.is_file() and not preferred.is_symlink():
            return preferred
        candidates = sorted(p for p in path.iterdir() if p.suffix in (".ipynb", ".py") and not p.is_symlink())
        if len(candidates) != 1:
            raise UsageError(f"{path}: expected {assignment_id}.ipynb in the folder, found {len(candidates)} "
                             "notebooks/scripts")
        return candidates[0]
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.suffix not in (".ipynb", ".py"):
        raise UsageError(f"{path}: not a notebook or .py file")
    return path


def extract(path: Path, source: Path | None) -> Extraction:
    """The code cells to run for a submission at ``path``, matched against the instructor ``source``."""
    notes: list[str] = []
    if path.suffix == ".py":
        if path.stat().st_size > MAX_SUBMISSION_BYTES:
            raise UsageError(f"{path}: larger than {MAX_SUBMISSION_BYTES >> 20} MB")
        try:
            code = path.read_text(encoding="utf-8-sig")  # a byte-order mark is no code (Python reads past it too)
        except UnicodeDecodeError:
            raise UsageError(f"{path}: not UTF-8 text") from None
        return Extraction(script_cells(strip_magics(code, SCRIPT, notes)), tuple(notes))
    submitted = read_notebook(path)
    instructor = _instructor_notebook(source) if source else None
    if instructor is None or not any(nbgrader_metadata(c).get("grade_id") for c in submitted.cells):
        if instructor is not None:
            notes.append("the notebook has no nbgrader metadata: every code cell was run as written")
        return Extraction(_plain_cells(submitted, notes), tuple(notes))
    return Extraction(_merge(submitted, instructor, notes), tuple(notes))


def script_cells(code: str) -> tuple[CodeCell, ...]:
    """A .py script as the notebook of its top-level statements: a cell each (statements sharing a line share one),
    named script:LINE and starting on that line (tracebacks and findings give the script's line numbers), its
    __future__ imports repeated at the top of each, on the line before. So a statement that raises stops only
    itself, as a failing cell does in a notebook (a `torch.manual_seed(0)` on top does not take a numpy-only
    question's functions with it), and a question owns its own definitions, not the whole file. A script that
    does not parse is one cell (it fails when it runs)."""
    code = code.replace("\r\n", "\n").replace("\r", "\n")  # the line breaks ast counts, and only those
    try:
        body = ast.parse(code).body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        body = []
    lines = code.split("\n")
    if not body:
        return (CodeCell(SCRIPT, code, True),)
    spans: list[list[int]] = []  # [first line, last line] of each cell
    for statement in body:
        first = min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", [])])
        last = statement.end_lineno or statement.lineno
        if spans and (first <= spans[-1][1] or len(spans) >= MAX_SCRIPT_CELLS):
            spans[-1][1] = max(spans[-1][1], last)
        else:
            spans.append([first, last])
    futures = [s for s in body if isinstance(s, ast.ImportFrom) and s.module == "__future__"]
    prefix = f"from __future__ import {', '.join(a.name for s in futures for a in s.names)}" if futures else ""
    after = max((s.end_lineno or s.lineno for s in futures), default=0)
    cells = []
    for first, last in spans:
        text = "\n".join(lines[first - 1:last])
        if prefix and first > after:  # the script's future imports, on the line before (a blank one or theirs)
            cells.append(CodeCell(f"{SCRIPT}:{first}", f"{prefix}\n{text}", True, first - 1))
        else:
            cells.append(CodeCell(f"{SCRIPT}:{first}", text, True, first))
    return tuple(cells)


def _instructor_notebook(source: Path) -> nbformat.NotebookNode:
    """The instructor's source notebook, parsed once per version of the file (a batch extracts every
    submission against it; nothing here changes it)."""
    status = source.stat()
    return _parsed_notebook(str(source), status.st_mtime_ns, status.st_size)


@functools.lru_cache(maxsize=8)
def _parsed_notebook(path: str, _mtime_ns: int, _size: int) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def _plain_cells(notebook: nbformat.NotebookNode, notes: list[str]) -> tuple[CodeCell, ...]:
    cells = []
    for number, cell in enumerate(notebook.cells, 1):
        if cell.get("cell_type") == "code":
            cell_id = str(number)
            cells.append(CodeCell(cell_id, strip_magics(str(cell.get("source", "")), cell_id, notes), True))
    return tuple(cells)


def _merge(submitted: nbformat.NotebookNode, instructor: nbformat.NotebookNode,
           notes: list[str]) -> tuple[CodeCell, ...]:
    """Walk the instructor's cells; solution cells come from the student by grade_id, the rest from the source.

    Cells the student added (no nbgrader metadata) run just before the next instructor cell that followed them.
    """
    by_id: dict[str, list[nbformat.NotebookNode]] = {}
    extra_before: dict[str, list[CodeCell]] = {}
    pending: list[CodeCell] = []
    for number, cell in enumerate(submitted.cells, 1):
        grade_id = nbgrader_metadata(cell).get("grade_id")
        if grade_id:
            by_id.setdefault(grade_id, []).append(cell)
            extra_before.setdefault(grade_id, []).extend(pending)
            pending = []
        elif cell.get("cell_type") == "code" and str(cell.get("source", "")).strip():
            cell_id = f"added-{number}"
            pending.append(CodeCell(cell_id, strip_magics(str(cell.get("source", "")), cell_id, notes), True))
    cells: list[CodeCell] = []
    for cell in instructor.cells:
        meta = nbgrader_metadata(cell)
        grade_id = meta.get("grade_id")
        if cell.get("cell_type") != "code" or not grade_id:
            continue
        cells.extend(extra_before.get(grade_id, []))
        if meta.get("grade") and not meta.get("solution"):
            continue  # a test cell: the suite grades, the student's copy of it never runs
        if not meta.get("solution"):
            cells.append(CodeCell(grade_id, str(cell.source), False))
            theirs = by_id.get(grade_id, [])
            if theirs and str(theirs[0].get("source", "")).strip() != str(cell.source).strip():
                notes.append(f"cell {grade_id} is locked: your edits to it were not run (the course's version "
                             "was); put your own imports and code in a cell of your own")
            continue
        mine = by_id.get(grade_id, [])
        if not mine:
            notes.append(f"solution cell {grade_id} is missing from the submission; graded as empty")
            continue
        if len(mine) > 1:
            notes.append(f"solution cell {grade_id} appears {len(mine)} times; the first one was graded")
        if mine[0].get("cell_type") != "code":
            notes.append(f"solution cell {grade_id} was changed to {mine[0].get('cell_type')}; graded as empty")
            continue
        cells.append(CodeCell(grade_id, strip_magics(str(mine[0].get("source", "")), grade_id, notes), True))
    cells.extend(pending)
    return tuple(cells)
