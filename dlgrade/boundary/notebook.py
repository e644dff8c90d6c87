"""The autograded notebook's student cells made inert, as formgrader and nbgrader's feedback will render them.

Formgrader renders the autograded notebook with nbconvert's HTML exporter and its own template, on the
instructor's Jupyter origin: a student's markdown goes through ``markdown2html`` unsanitised (a ``<script>``, an
``onerror``, a ``javascript:`` link all come out live), raw cells of an HTML mimetype, notebook metadata (widget
state) and cell metadata reach the page too. InertStudentCells runs after RestoreSourceCells and keeps of each
cell only what formgrader needs, with every student text made plain:

- a cell the source locks is the instructor's (its source came back from the gradebook) and keeps its text;
- every other markdown cell is the student's: its text made inert (dlgrade.boundary.text.inert_markdown: no
  tag, no entity, no ``...script:`` link can come out of it, whatever markdown engine reads it), so it still
  reads as the student wrote it, formatting and math included;
- a student's raw cell, or a cell of a type nbformat does not know, becomes a markdown cell showing its text in
  a code block (a raw cell of an HTML mimetype would otherwise be rendered);
- cells keep only the fields of their type, a valid unique id, image attachments (a reference to any other
  stays as text: nbconvert fails on a missing one), and of their metadata only
  nbgrader's (rebuilt from the source) and the booleans ``deletable`` and ``editable``; the notebook keeps only
  its kernelspec and a language_info of plain names (a widget state would be rendered with its scripts).
"""

from __future__ import annotations

import re
from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode

from dlgrade.boundary.text import COLON_STAND_IN, fenced, inert_markdown, plain

__all__ = ["InertStudentCells"]

_ATTACHMENT = re.compile(r"attachment:([^\s)\]>\"']*)")
_CELL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_./+-]{1,64}")
_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif"})
_BASE64 = re.compile(r"[A-Za-z0-9+/=\s]*")
_LANGUAGE_FIELDS = ("name", "version", "pygments_lexer", "file_extension", "mimetype", "nbconvert_exporter")
_KERNELSPEC_FIELDS = ("name", "display_name", "language")


class InertStudentCells(Preprocessor):
    """Every cell but the instructor's locked ones made inert text; cell and notebook metadata cut to what
    nbgrader and formgrader read (see the module's docstring)."""

    def preprocess(self, nb: Any, resources: Any) -> Any:
        nb.metadata = _notebook_metadata(nb.get("metadata"))
        ids: set[str] = set()
        nb.cells = [_inert(cell, number, ids) for number, cell in enumerate(nb.get("cells") or [])]
        for key in [key for key in nb if key not in ("cells", "metadata", "nbformat", "nbformat_minor")]:
            del nb[key]
        return nb, resources


def _source(cell: Any) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _nbgrader(cell: Any) -> dict[str, Any] | None:
    metadata = cell.get("metadata")
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else None


def _inert(cell: Any, number: int, ids: set[str]) -> NotebookNode:
    if not isinstance(cell, dict):
        cell = {}
    nbgrader = _nbgrader(cell)
    locked = bool(nbgrader and nbgrader.get("locked"))  # restored from the source by RestoreSourceCells
    kind, source = cell.get("cell_type"), _source(cell)
    if locked and kind in ("markdown", "code", "raw"):
        text = source
    elif kind == "code":
        text = source  # shown highlighted, every character escaped; never run here
    elif kind == "markdown":
        text = inert_markdown(source)
    else:  # raw, or no type nbformat knows: its text, shown as text
        kind, text = "markdown", fenced(inert_markdown(source), f"text {kind}" if kind == "raw" else "text")
    metadata = NotebookNode({key: value for key, value in (cell.get("metadata") or {}).items()
                             if key in ("deletable", "editable") and isinstance(value, bool)})
    if nbgrader is not None:
        metadata["nbgrader"] = nbgrader
    cell_id = cell.get("id")
    if not (isinstance(cell_id, str) and _CELL_ID.fullmatch(cell_id) and cell_id not in ids):
        cell_id = f"dlgrade-cell-{number}"
    ids.add(cell_id)
    clean = NotebookNode(id=cell_id, cell_type=kind, metadata=metadata, source=text)
    if kind == "code":
        outputs = cell.get("outputs")
        clean["outputs"] = outputs if isinstance(outputs, list) else []  # ClearOutput left only dlgrade's own
        clean["execution_count"] = None
    elif kind == "markdown":
        attachments = _images(cell["attachments"]) if isinstance(cell.get("attachments"), dict) else NotebookNode()
        if attachments:
            clean["attachments"] = attachments
        if not locked:  # nbconvert refuses a notebook whose markdown names a missing attachment: formgrader's
            # page would fail; such a reference stays as text
            clean["source"] = _ATTACHMENT.sub(
                lambda match: match.group() if match.group(1) in attachments else "attachment" + COLON_STAND_IN
                + match.group(1), clean["source"])
    return clean


def _images(attachments: dict[str, Any]) -> NotebookNode:
    """The attachments that are images a browser shows inertly, base64 text only."""
    kept = NotebookNode()
    for name, bundle in attachments.items():
        if not (isinstance(name, str) and _NAME.fullmatch(name) and isinstance(bundle, dict)):
            continue
        images = {mime: data for mime, data in bundle.items()
                  if mime in _IMAGE_TYPES and isinstance(data, str) and _BASE64.fullmatch(data)}
        if images:
            kept[name] = NotebookNode(images)
    return kept


def _notebook_metadata(metadata: Any) -> NotebookNode:
    """The kernelspec (SnapshotOverwriteKernelspec set the source's) and the language's plain names."""
    metadata = metadata if isinstance(metadata, dict) else {}
    kept = NotebookNode()
    kernelspec = metadata.get("kernelspec")
    if isinstance(kernelspec, dict):
        kept["kernelspec"] = NotebookNode({key: plain(value, 100) for key, value in kernelspec.items()
                                           if key in _KERNELSPEC_FIELDS and isinstance(value, str)})
    language = metadata.get("language_info")
    if isinstance(language, dict):
        kept["language_info"] = NotebookNode({key: value for key, value in language.items()
                                              if key in _LANGUAGE_FIELDS and isinstance(value, str)
                                              and _NAME.fullmatch(value)})
    return kept
