"""Write a graded submission out: Gradescope-compatible JSON, an HTML feedback page, a terminal table.

Everything here comes from the trusted side's SubmissionResult. Hidden cases appear only as their message. Its
texts quote students (their errors, their output, their type names): the sandbox's boundary made them plain, and
every writer here makes them plain again (dlgrade.boundary.text) before escaping them for its format, so a
result built any other way cannot put a lone surrogate, an escape sequence or a tag into a file either.
"""

from __future__ import annotations

import html
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from dlgrade.boundary.text import plain
from dlgrade.grading import QuestionResult, SubmissionResult

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
                                 "cases": [plain(case.label) for case in question.cases if case.mistake]}
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


def _escape(text: str) -> str:
    """Text as HTML text or a quoted attribute's value: plain, then escaped."""
    return html.escape(plain(text))


_STATUS_COLOURS = {"passed": "#1a7f37", "failed": "#cf222e", "error": "#9a6700", "timeout": "#9a6700",
                   "banned": "#8250df", "not_implemented": "#57606a"}


def _question_html(question: QuestionResult) -> str:
    colour = _STATUS_COLOURS.get(question.status, "#57606a")
    rows = []
    for case in question.cases:
        mark = "✓" if case.passed else "✗"
        detail = "" if case.passed else _escape(case.message)
        extra = ""
        if case.public and not case.passed and case.yours is not None:
            extra = (f"<div class=io><b>inputs</b> <code>{_escape(case.inputs or '')}</code><br>"
                     f"<b>yours</b> <code>{_escape(case.yours)}</code><br>"
                     f"<b>expected</b> <code>{_escape(case.expected or '')}</code></div>")
        rows.append(f"<li class={'ok' if case.passed else 'bad'}>{mark} {_escape(case.label)}"
                    f"{' — ' + detail if detail else ''}{extra}</li>")
    diagnosis = ""
    if question.diagnosis is not None:
        diagnosis = (f"<p class=diag><b>Known mistake:</b> {_escape(question.diagnosis.feedback)}</p>")
    return (f"<section><h2>{_escape(question.name)} <span style='color:{colour}'>{_escape(question.status)}</span>"
            f" <small>{question.score:g} / {question.max_score:g}</small></h2>{diagnosis}"
            f"<pre>{_escape(question.feedback)}</pre><ul>{''.join(rows)}</ul></section>")


def to_html(result: SubmissionResult) -> str:
    """A self-contained feedback page for the student."""
    notes = "".join(f"<li>{_escape(note)}</li>" for note in result.notes)
    printed = f"<h3>What your notebook printed</h3><pre>{_escape(result.output)}</pre>" if result.output else ""
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{_escape(result.assignment)} feedback</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}"
        "section{border:1px solid #d0d7de;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}"
        "pre{background:#f6f8fa;padding:.5rem;white-space:pre-wrap}.ok{color:#1a7f37}.bad{color:#cf222e}"
        ".io{color:#1f2328;margin:.3rem 0 .6rem 1.2rem}.diag{background:#fff8c5;padding:.4rem}</style></head><body>"
        f"<h1>{_escape(result.assignment)}: {result.score:g} / {result.max_score:g}</h1>"
        f"<p>Sandbox: {_escape(', '.join(result.sandbox))}. Graded in {result.execution_time:.2f} s.</p>"
        f"{'<ul>' + notes + '</ul>' if notes else ''}"
        + "".join(_question_html(q) for q in result.questions)
        + f"{printed}</body></html>\n"
    )


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
