"""Write a graded submission out: Gradescope-compatible JSON, an HTML feedback page, a terminal table.

Everything here comes from the trusted side's SubmissionResult. Hidden cases appear only as their message. Its
texts quote students (their errors, their output, their type names): the sandbox's boundary made them plain, and
every writer here makes them plain again (dlgrade.boundary.text) before escaping them for its format, so a
result built any other way cannot put a lone surrogate, an escape sequence or a tag into a file either.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dlgrade.boundary.text import plain
from dlgrade.grading import SubmissionResult
from dlgrade.insight.catalog import origin

VISIBILITY = "visible"


def to_json(result: SubmissionResult) -> dict[str, Any]:
    """The Gradescope results format, with per-test status and diagnosis."""
    tests = []
    for question in result.questions:
        test: dict[str, Any] = {
            "name": question.name, "score": question.score, "max_score": question.max_score,
            "status": question.status, "output": plain(question.feedback), "visibility": VISIBILITY,
        }
        if question.diagnosis is not None:
            test["diagnosis"] = {"mistake": question.diagnosis.name, "feedback": question.diagnosis.feedback,
                                 "cases": [plain(case.label) for case in question.cases if case.mistake],
                                 "origin": origin(question.diagnosis)}
        tests.append(test)
    output = [f"Graded by dlgrade; sandbox: {', '.join(result.sandbox)}."]
    output += [plain(note) for note in result.notes]
    return {
        "score": result.score, "max_score": result.max_score,
        "execution_time": round(result.execution_time, 3), "output": "\n".join(output),
        "tests": tests,
        "dlgrade": {"assignment": result.assignment, "suite_version": result.suite_version,
                    "sandbox": list(result.sandbox), "student_time": result.student_time},
    }


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def write_json(result: SubmissionResult, path: Path) -> None:
    write_atomic(path, json.dumps(to_json(result), indent=2, allow_nan=False) + "\n")


def to_html(result: SubmissionResult) -> str:
    """A self-contained feedback page for the student (dlgrade.insight.pages: questions table first, passed
    questions folded, plots of public cases; every student-written string made plain, then escaped by the
    template engine)."""
    from dlgrade.insight.pages import feedback_page

    return feedback_page(result)


def write_html(result: SubmissionResult, path: Path) -> None:
    write_atomic(path, to_html(result))


def table(result: SubmissionResult) -> str:
    """A plain-text summary for the terminal (the caller makes it plain: dlgrade.boundary.text)."""
    width = max([len(q.name) for q in result.questions] + [8])
    lines = [f"{'question':<{width}}  {'status':<15} {'score':>11}  diagnosis"]
    for q in result.questions:
        diagnosis = q.diagnosis.name if q.diagnosis else ""
        lines.append(f"{q.name:<{width}}  {q.status:<15} {q.score:>5g} / {q.max_score:<3g}  {diagnosis}")
    lines.append(f"{'total':<{width}}  {'':<15} {result.score:>5g} / {result.max_score:<3g}")
    return "\n".join(lines)
