"""The solution cells of an nbgrader source notebook, read as a suite's one source for each solution's code.

A suite derives its known mistakes from these sources plus an edit (``edited``), so the notebook stays the only
place an instructor writes a solution; the ``### BEGIN/END SOLUTION`` marker lines are dropped, the code
between them kept as the student would write it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from dlgrade.errors import UsageError

__all__ = ["edited", "solution_sources"]

_MARKER = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", re.M)


def solution_sources(notebook: Path) -> dict[str, str]:
    """grade_id -> source (marker lines removed) of every nbgrader solution cell of ``notebook``."""
    cells = json.loads(Path(notebook).read_text(encoding="utf-8"))["cells"]
    sources = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.get("cell_type") == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            sources[meta["grade_id"]] = _MARKER.sub("", source)
    return sources


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
