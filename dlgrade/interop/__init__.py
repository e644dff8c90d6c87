"""Interop with the tools courses already use: a Gradescope autograder zip that grades with dlgrade, and an
otter-grader export (exception-based tests plus `otter generate`'s zip) for in-notebook ``grader.check()``.

    export(assignment_id, fmt, out, ...) -> the paths written
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dlgrade.assignments import Assignment

FORMATS = ("gradescope", "otter")

__all__ = ["FORMATS", "export"]


def export(assignment_id: str, fmt: str, out: Path | None = None, *, seed: int | None = None,
           allow_unsandboxed: bool = False, assignment: Assignment | None = None) -> list[Path]:
    """Export assignment ``assignment_id`` in format ``fmt`` under ``out`` (default export/<id>-<fmt>).

    gradescope: [out/autograder.zip]. otter: [out/autograder.zip, out/tests, out/student]; ``seed`` fixes
    the hidden cases baked into the otter tests. Raises UsageError for an unknown assignment or format.
    ``assignment``: the assignment already loaded (a course's own, dlgrade.content), else the built-in one.
    """
    from dlgrade import assignments
    from dlgrade.errors import UsageError

    if fmt not in FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (known: {', '.join(FORMATS)})")
    assignment = assignment if assignment is not None else assignments.load(assignment_id)
    out = Path(out) if out is not None else Path("export") / f"{assignment.id}-{fmt}"
    if fmt == "gradescope":
        from dlgrade.interop.gradescope import build_autograder_zip

        return [build_autograder_zip(assignment, out, allow_unsandboxed=allow_unsandboxed)]
    from dlgrade.interop.otter import export_otter

    done = export_otter(assignment, out, seed=seed)
    return [done.autograder, done.out / "tests", done.student]
