"""HTML pages from Jinja2 templates (templates/), with autoescape on for every template: every value a student
could have written (printed output, error messages, a solution cell, a student id) is escaped by the template
engine, never by hand. Data is prepared here, before rendering; templates only lay it out.

    feedback_page(result)   the page a student reads: questions table first, passed questions folded, plots
    report_page(cohort)     the cohort report for the instructor (report.html)
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from dlgrade.boundary.text import plain
from dlgrade.grading import STATUSES, CaseResult, QuestionResult, SubmissionResult
from dlgrade.insight import figures
from dlgrade.insight.catalog import origin
from dlgrade.insight.cohort import STATES, Cohort, anchor, histogram


def _plain(value: Any) -> Any:
    """Every text a template outputs, plain first (dlgrade.boundary.text: no control character, no bidi override,
    no lone surrogate), then escaped by autoescape; our own markup (a chart, a Markup) passes as it is."""
    return plain(value) if type(value) is str else value


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("dlgrade.insight", "templates"), autoescape=True,
                              finalize=_plain, undefined=jinja2.StrictUndefined, trim_blocks=True,
                              lstrip_blocks=True)


def words(status: str) -> str:
    return status.replace("_", " ")


# ---- the feedback page -------------------------------------------------------------------------------------


def _gist(message: str) -> str:
    """A failure in one line: a traceback's last line (the exception), else the message's first."""
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def _failures(cases: list[CaseResult]) -> list[dict[str, Any]]:
    """Failed cases to list: each public one with its values; hidden ones that failed alike, one line for all."""
    items: list[dict[str, Any]] = []
    for case in cases:
        last = items[-1] if items else None
        if not case.public and last is not None and not last["case"].public and \
                last["case"].message == case.message:
            last["more"] += 1
            continue
        items.append({"case": case, "more": 0})
    return items


def _question_view(question: QuestionResult) -> dict[str, Any]:
    failed = [case for case in question.cases if not case.passed]
    passed = [case for case in question.cases if case.passed]
    drawings = [figures.drawing(case.figure) for case in question.cases if case.figure is not None]
    first = _gist(failed[0].message) if failed else ""
    feedback = question.feedback
    if question.diagnosis is not None:  # named in its own box above the text: not twice
        feedback = "\n".join(line for line in feedback.split("\n") if not line.startswith("Known mistake ("))
    return {"name": question.name, "anchor": anchor(question.name), "score": f"{question.score:g}",
            "max": f"{question.max_score:g}", "status": question.status, "status_words": words(question.status),
            "diagnosis": question.diagnosis, "mistake": words(question.diagnosis.name) if question.diagnosis else "",
            "first_problem": first[:140] + ("…" if len(first) > 140 else ""), "feedback": feedback,
            "failed": _failures(failed), "passed": passed, "drawings": drawings}


def feedback_page(result: SubmissionResult) -> str:
    """A student's self-contained feedback page."""
    questions = [_question_view(q) for q in result.questions]
    return environment().get_template("feedback.html").render(
        result=result, score=f"{result.score:g}", max_score=f"{result.max_score:g}", questions=questions,
        sandbox=", ".join(result.sandbox), seconds=f"{result.execution_time:.2f}",
        heatmaps=any(d["kind"] == "heatmap" for q in questions for d in q["drawings"]))


# ---- the cohort report -------------------------------------------------------------------------------------


def _link(report: Path | None, target: Path) -> str | None:
    """A relative link from the report's folder to a feedback page (URL-quoted), None if there is no page."""
    if report is None or not target.is_file():
        return None
    relative = os.path.relpath(target, report.parent)
    return "/".join(quote(part) for part in Path(relative).parts)


def report_page(cohort: Cohort, clusters: dict[str, Sequence[Any]], out: Path | None = None) -> str:
    """The cohort report; ``out``: where it will be written (feedback links are relative to it)."""
    from dlgrade.insight import plots

    assignment = cohort.assignment
    q1, median, q3 = cohort.quartiles()
    total, typical = cohort.grading_seconds()
    bins = histogram(cohort.scores, assignment.max_score)
    students = []
    for row in cohort.rows:
        by_name = {q.name: q for q in row.result.questions} if row.result else {}
        students.append({
            "student": row.student, "anchor": anchor(row.student), "state": row.state, "graded": row.graded,
            "score": f"{row.score:g}" if row.graded else "", "penalty": f"{row.penalty:g}" if row.penalty else "",
            "late": row.late, "blank": row.blank, "manual": sorted(row.manual),
            "cells": [(name, by_name[name].status if name in by_name else "",
                       by_name[name].diagnosis.name if name in by_name and by_name[name].diagnosis else "")
                      for name in assignment.points],
            "link": _link(out, cohort.feedback_page(row.student)) if row.graded else None,
        })
    questions = []
    for stats in cohort.questions:
        questions.append({"stats": stats, "anchor": anchor(stats.name), "mean": f"{stats.mean:.2f}",
                          "full": f"{100 * stats.full_share:.0f}%", "clusters": clusters.get(stats.name, ()),
                          "probed": cohort.probes.get(stats.name) is not None,
                          # a bar of the question's outcomes, in percent of its graded submissions
                          "bar": [(status, round(100 * count / stats.graded, 2))
                                  for status, count in stats.statuses.items() if count and stats.graded]})
    counts = {state: sum(row.state == state for row in cohort.rows) for state in STATES}
    return environment().get_template("report.html").render(
        cohort=cohort, assignment=assignment, course=cohort.course, counts=counts, students=students,
        questions=questions, statuses=STATUSES, words=words,
        summary={"mean": f"{cohort.mean:.2f}", "q1": f"{q1:g}", "median": f"{median:g}", "q3": f"{q3:g}",
                 "full": cohort.full_marks, "blanks": cohort.blanks, "late": cohort.late,
                 "total": f"{total:.1f}", "typical": f"{typical:.2f}",
                 "first": min((r.graded_at for r in cohort.graded if r.graded_at), default=""),
                 "last": max((r.graded_at for r in cohort.graded if r.graded_at), default="")},
        histogram=plots.score_histogram(bins, (q1, median, q3), assignment.max_score) if cohort.graded else "",
        origin=origin, generated=cohort.generated.isoformat(timespec="seconds"))
