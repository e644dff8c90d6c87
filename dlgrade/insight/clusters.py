"""Clusters of unexplained failures: students who failed a question the same way, though no known mistake says how.

Two submissions are in one cluster when their answers on the question's probe set (probes.py), rounded to its
tolerance, are the same: the same signature. Clusters are numbered 1, 2, ... per question, largest first (ties by
their first student), which is the number `dlgrade mistakes add ID QUESTION --cluster K` takes. Each shows a
representative (the member with the shortest solution cell: the easiest to read) and its answers on the probe
set next to the expected ones, computed here on the trusted side from the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

from dlgrade.errors import UsageError
from dlgrade.grading import _show_expected, expected_value
from dlgrade.insight.cohort import Cohort
from dlgrade.insight.probes import PROBED_STATUSES, ProbeSet
from dlgrade.notebook import extract, find_submission_file

MAX_CELL = 4000  # characters of a representative's cell shown


@dataclass(frozen=True)
class ProbeRow:
    """One probe input, the representative's answer and the reference's."""

    label: str
    answer: str
    expected: str

    @property
    def same(self) -> bool:
        return self.answer == self.expected


@dataclass(frozen=True)
class Cluster:
    question: str
    number: int
    signature: str
    probe_set: str
    students: tuple[str, ...]
    representative: str
    cell: str
    rows: tuple[ProbeRow, ...]

    @property
    def size(self) -> int:
        return len(self.students)


def _cell(cohort: Cohort, student: str, cell_id: str) -> str:
    """The solution cell a submission was graded with ('' when it cannot be read back)."""
    row = next(r for r in cohort.rows if r.student == student)
    try:
        path = find_submission_file(row.folder, cohort.assignment.id)
        if path.suffix == ".py":  # a script is all the student's: shown whole
            return path.read_text(encoding="utf-8")
        cells = extract(path, cohort.assignment.source).cells
    except (UsageError, OSError, ValueError):
        return ""
    mine = [cell for cell in cells if cell.student and cell.id == cell_id]
    return mine[0].source if mine else ""


def _expected(cohort: Cohort, question_name: str, probes: ProbeSet) -> list[str]:
    question = cohort.assignment.suite.question(question_name)
    shown = []
    for case in probes.cases:
        try:
            shown.append(_show_expected(expected_value(question, case)))
        except Exception as error:  # a reference failing on a probe input is the suite's problem; say so
            shown.append(f"(the reference raised {type(error).__name__})")
    return shown


def clusters(cohort: Cohort, question_name: str) -> list[Cluster]:
    """The question's clusters of unexplained failures with stored probe answers on the current probe set."""
    stats = cohort.question(question_name)
    probes = cohort.probes.get(question_name)
    if probes is None or not stats.unexplained:
        return []
    groups: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for row in cohort.graded:
        assert row.result is not None
        question = next(q for q in row.result.questions if q.name == question_name)
        if question.diagnosis is None and question.status in PROBED_STATUSES and question.probe is not None and \
                question.probe.key == probes.key:
            groups.setdefault(question.probe.signature, []).append((row.student, question.probe.answers))
    if not groups:
        return []
    ordered = sorted(groups.items(), key=lambda item: (-len(item[1]), item[1][0][0]))
    expected = _expected(cohort, question_name, probes)
    cell_id = cohort.assignment.suite.question(question_name).cell
    found = []
    for number, (signature, members) in enumerate(ordered, 1):
        cells = {student: _cell(cohort, student, cell_id) for student, _ in members}
        representative = min(cells, key=lambda student: (len(cells[student].strip()) or 1 << 30, student))
        answers = dict(members)[representative]
        rows = tuple(ProbeRow(probes.label(i), answers[i] if i < len(answers) else "", expected[i])
                     for i in range(len(probes.cases)))
        found.append(Cluster(question_name, number, signature, probes.key, tuple(s for s, _ in members),
                             representative, cells[representative][:MAX_CELL], rows))
    return found


def cluster(cohort: Cohort, question_name: str, number: int) -> Cluster:
    """Cluster ``number`` of a question; UsageError naming the clusters there are."""
    found = clusters(cohort, question_name)
    if not 1 <= number <= len(found):
        there = f"clusters 1 to {len(found)}" if found else "no clusters of unexplained failures"
        raise UsageError(f"{cohort.assignment.id}.{question_name} has no cluster {number}: it has {there} "
                         f"(`dlgrade report {cohort.assignment.id}` shows them)")
    return found[number - 1]

