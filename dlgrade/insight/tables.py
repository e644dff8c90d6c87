"""The cohort report's tables as data, and as text for a terminal or CSV for a spreadsheet.

One source for both formats (and the same numbers as the HTML page): ``tables(cohort, clusters)`` gives named
tables of rows; ``text`` lays them out in columns, ``csv_text`` writes them one after another, each under a
``table,<name>`` line and its header row. A text field a spreadsheet would run as a formula (starting with
= + - @, a tab or a carriage return) is written with a leading apostrophe; numbers are written as numbers.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dlgrade.boundary.text import plain
from dlgrade.grading import STATUSES
from dlgrade.insight.clusters import Cluster
from dlgrade.insight.cohort import STATES, Cohort

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Table:
    name: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else round(float(value), 4)


def tables(cohort: Cohort, clusters: dict[str, Sequence[Cluster]]) -> list[Table]:
    """The report's tables: the class, the questions, the known mistakes, the clusters, the students."""
    q1, median, q3 = cohort.quartiles()
    total, typical = cohort.grading_seconds()
    states = {state: sum(row.state == state for row in cohort.rows) for state in STATES}
    whole = Table("class", ("measure", "value"), (
        ("submissions", len(cohort.rows)), ("graded", states["graded"]), ("resubmitted since graded",
                                                                          states["resubmitted"]),
        ("not graded", states["ungraded"]),
        ("in the gradebook, no submission in submitted/", states["withdrawn"]),
        ("max score", _number(cohort.assignment.max_score)),
        ("mean", _number(cohort.mean)), ("first quartile", _number(q1)), ("median", _number(median)),
        ("third quartile", _number(q3)), ("full marks", cohort.full_marks), ("blank", cohort.blanks),
        ("late", cohort.late), ("grading seconds, total", _number(total)),
        ("grading seconds, median submission", _number(typical))))
    questions = Table("questions", ("question", "points", "mean", "full marks share") + STATUSES, tuple(
        (q.name, _number(q.points), _number(q.mean), _number(q.full_share)) + tuple(q.statuses[s] for s in STATUSES)
        for q in cohort.questions))
    mistakes = Table("mistakes", ("question", "rank", "mistake", "from", "students", "feedback", "who"), tuple(
        (q.name, rank, m.name, m.origin, m.count, m.feedback, " ".join(m.students))
        for q in cohort.questions for rank, m in enumerate(q.mistakes, 1)))
    groups = Table("clusters", ("question", "cluster", "size", "representative", "students"), tuple(
        (c.question, c.number, c.size, c.representative, " ".join(c.students))
        for q in cohort.questions for c in clusters.get(q.name, ())))
    names = tuple(cohort.assignment.points)
    students = []
    for row in cohort.rows:
        by_name = {q.name: q for q in row.result.questions} if row.result and row.graded else {}
        cells = tuple(by_name[n].status if n in by_name else "" for n in names)
        named = " ".join(f"{n}:{by_name[n].diagnosis.name}" for n in names
                         if n in by_name and by_name[n].diagnosis is not None)
        students.append((row.student, row.state, _number(row.score) if row.graded else "",
                         "yes" if row.late else "", _number(row.penalty) if row.penalty else "") + cells + (named,))
    people = Table("students", ("student", "state", "grade", "late", "penalty") + names + ("known mistakes",),
                   tuple(students))
    return [whole, questions, mistakes, groups, people]


def safe_cell(value: Any) -> Any:
    """A CSV field a spreadsheet shows as written: text plain (dlgrade.boundary.text), and text that would start a
    formula with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        value = "'" + value
    return plain(value) if isinstance(value, str) else value


def csv_text(found: Sequence[Table]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for number, table in enumerate(found):
        if number:
            writer.writerow([])
        writer.writerow(["table", table.name])
        writer.writerow([safe_cell(h) for h in table.header])
        for row in table.rows:
            writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue()


def _plain(value: Any) -> str:
    """A value on one terminal line: plain (a student's ANSI escapes shown, not run), newlines and tabs shown."""
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return plain(text).replace("\n", "\\n").replace("\t", "\\t")


def text(found: Sequence[Table], width: int = 60) -> str:
    """The tables in aligned columns, each under its name; a long cell is cut at ``width`` characters."""
    out = []
    for table in found:
        rows = [[_plain(h) for h in table.header]] + [[_plain(v) for v in row] for row in table.rows]
        rows = [[cell if len(cell) <= width else cell[:width - 1] + "…" for cell in row] for row in rows]
        sizes = [max(len(row[i]) for row in rows) for i in range(len(table.header))]
        out.append(f"== {table.name} ==")
        for index, row in enumerate(rows):
            out.append("  ".join(cell.ljust(size) for cell, size in zip(row, sizes, strict=True)).rstrip())
            if index == 0:
                out.append("  ".join("-" * size for size in sizes))
        if not table.rows:
            out.append("(none)")
        out.append("")
    return "\n".join(out)
