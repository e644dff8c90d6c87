"""The class on one assignment: per student what was recorded, per question what the class did.

Sources, each for what it is the truth of: nbgrader's gradebook for the scores in force (a grader's manual score
wins over the autograder's) and lateness; the course's records (.dlgrade/results, checked against the assignment
as they are read) for statuses, diagnoses, grading times and stored probe answers; the course's own catalog
(mistakes.yml) for the mistakes it names. A record counts only if it is of the submission now in submitted/ (same
key); a student resubmitted since, or never graded, or graded in the gradebook with no submission in submitted/ any
more, is listed as such and left out of the statistics.
"""

from __future__ import annotations

import hashlib
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from dlgrade.assignments import Assignment
from dlgrade.course import Course, submitted_folders
from dlgrade.errors import UsageError
from dlgrade.grading import STATUSES, SubmissionResult
from dlgrade.insight.catalog import AssignmentCatalog, Catalog, origin
from dlgrade.insight.probes import PROBED_STATUSES, ProbeSet, probe_seed, probe_set
from dlgrade.notebook import MAX_SUBMISSION_BYTES, find_submission_file

FULL = 1e-9  # a score within this of the points is full marks
# What a student's row can be: graded | resubmitted (the record is of an older submission) | ungraded (refused or
# never graded) | withdrawn (in the gradebook, but no submission in submitted/: its grade is still exported).
STATES = ("graded", "resubmitted", "ungraded", "withdrawn")


@dataclass(frozen=True)
class StudentRow:
    """One student's submission as the report shows it."""

    student: str
    state: str  # one of STATES
    folder: Path
    result: SubmissionResult | None = None  # the record, with the course's own mistakes named
    scores: dict[str, float] = field(default_factory=dict)  # per question, in force (manual grades win)
    manual: frozenset[str] = frozenset()
    penalty: float = 0.0
    seconds_late: float = 0.0
    graded_at: str = ""

    @property
    def graded(self) -> bool:
        return self.state == "graded" and self.result is not None

    @property
    def score(self) -> float:
        """The grade: the scores in force less the late penalty (never below 0), as the export gives it."""
        return round(max(0.0, sum(self.scores.values()) - self.penalty), 4)

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    @property
    def blank(self) -> bool:
        """Nothing attempted: every question not implemented."""
        return self.result is not None and all(q.status == "not_implemented" for q in self.result.questions)


@dataclass(frozen=True)
class MistakeCount:
    """A known mistake and the students whose answers it explains."""

    question: str
    name: str
    origin: str  # suite | course
    feedback: str
    students: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.students)


@dataclass(frozen=True)
class QuestionStats:
    name: str
    points: float
    graded: int
    mean: float
    full: int
    statuses: dict[str, int]
    mistakes: tuple[MistakeCount, ...]  # most frequent first
    unexplained: tuple[str, ...]  # failed or errored with no known mistake (the clusters' material)
    unprobed: tuple[str, ...]  # of those, the ones without probe answers on the current probe set
    unseen: tuple[str, ...]  # known mistakes of the suite no student made

    @property
    def full_share(self) -> float:
        return self.full / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class Cohort:
    """The class on an assignment: everything the report shows except the clusters (clusters.py)."""

    course: Course
    assignment: Assignment
    named: AssignmentCatalog
    rows: tuple[StudentRow, ...]
    questions: tuple[QuestionStats, ...]
    probes: dict[str, ProbeSet | None]
    generated: datetime

    @property
    def graded(self) -> list[StudentRow]:
        return [row for row in self.rows if row.graded]

    @property
    def scores(self) -> list[float]:
        return [row.score for row in self.graded]

    def quartiles(self) -> tuple[float, float, float]:
        """Q1, median, Q3 of the grades (inclusive method: with one grade, all three are it)."""
        scores = sorted(self.scores)
        if not scores:
            return (0.0, 0.0, 0.0)
        if len(scores) == 1:
            return (scores[0],) * 3  # type: ignore[return-value]
        q1, median, q3 = statistics.quantiles(scores, n=4, method="inclusive")
        return (q1, median, q3)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.scores) if self.scores else 0.0

    @property
    def full_marks(self) -> int:
        return sum(row.score >= self.assignment.max_score - FULL for row in self.graded)

    @property
    def blanks(self) -> int:
        return sum(row.blank for row in self.graded)

    @property
    def late(self) -> int:
        return sum(row.late for row in self.graded)

    def grading_seconds(self) -> tuple[float, float]:
        """Total and median grading time of a submission (the worker's wall clock, as recorded)."""
        times = [row.result.execution_time for row in self.graded if row.result is not None]
        return (sum(times), statistics.median(times)) if times else (0.0, 0.0)

    def question(self, name: str) -> QuestionStats:
        for question in self.questions:
            if question.name == name:
                return question
        raise UsageError(f"{self.assignment.id} has no question {name!r} (questions: "
                         f"{', '.join(self.assignment.points)})")

    def feedback_page(self, student: str) -> Path:
        return self.course.path("feedback", student, self.assignment.id) / f"{self.assignment.id}.html"


def _current_key(assignment: Assignment, fingerprint: str, folder: Path) -> str | None:
    """The key the submission in ``folder`` would be recorded under now (None: there is no usable one)."""
    from dlgrade.autograde import submission_key

    try:
        path = find_submission_file(folder, assignment.id)
        if path.stat().st_size > MAX_SUBMISSION_BYTES:
            return None
        return submission_key(fingerprint, path.read_bytes())
    except (UsageError, OSError):
        return None


def _read(course: Course, assignment: Assignment, student: str) -> tuple[str, SubmissionResult, str] | None:
    """(key, checked result, graded_at) of a record, or None when it is missing or does not check (as
    autograde.read_record reads it)."""
    import json

    from dlgrade.autograde import RECORD_FORMAT, checked_result, record_path

    try:
        data = json.loads(record_path(course, assignment.id, student).read_text(encoding="utf-8"))
        if data.get("format") != RECORD_FORMAT or data.get("student") != student:
            return None
        # The report shows no case of a record (feedback pages do): checked without them, at half the cost.
        for question in data["result"]["questions"]:
            question["cases"] = []
        return str(data["key"]), checked_result(data["result"], assignment), str(data.get("graded_at", ""))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@dataclass(frozen=True)
class Booked:
    """What the gradebook holds of one student's submission: scores in force, manual ones, penalty, lateness."""

    scores: dict[str, float]
    manual: frozenset[str]
    penalty: float
    seconds_late: float


def _booked(book: object, assignment_id: str) -> dict[str, Booked]:
    """Every submission of the assignment in the gradebook, in two queries (autograde.book_entry asks per
    student): nbgrader's own Grade.score (the manual score when there is one, plus extra credit) per grade cell."""
    from nbgrader.api import Assignment as BookAssignment
    from nbgrader.api import BaseCell, Grade, SubmittedAssignment, SubmittedNotebook

    db = book.db  # type: ignore[attr-defined]
    rows = db.query(SubmittedAssignment.student_id, BaseCell.name, Grade.score, Grade.manual_score) \
        .join(SubmittedNotebook, Grade.notebook_id == SubmittedNotebook.id) \
        .join(SubmittedAssignment, SubmittedNotebook.assignment_id == SubmittedAssignment.id) \
        .join(BookAssignment, SubmittedAssignment.assignment_id == BookAssignment.id) \
        .join(BaseCell, Grade.cell_id == BaseCell.id) \
        .filter(BookAssignment.name == assignment_id).all()
    notebooks = db.query(SubmittedAssignment, SubmittedNotebook.late_submission_penalty) \
        .join(SubmittedNotebook, SubmittedNotebook.assignment_id == SubmittedAssignment.id) \
        .join(BookAssignment, SubmittedAssignment.assignment_id == BookAssignment.id) \
        .filter(BookAssignment.name == assignment_id).all()
    scores: dict[str, dict[str, float]] = {}
    manual: dict[str, set[str]] = {}
    for student, cell, score, manual_score in rows:
        scores.setdefault(student, {})[cell] = float(score or 0.0)
        if manual_score is not None:
            manual.setdefault(student, set()).add(cell)
    return {submitted.student_id: Booked(scores.get(submitted.student_id, {}),
                                         frozenset(manual.get(submitted.student_id, ())), float(penalty or 0.0),
                                         float(submitted.total_seconds_late or 0.0))
            for submitted, penalty in notebooks}


def build(course: Course, assignment_id: str) -> Cohort:
    """The cohort of an assignment of the course; UsageError when nothing of it was ever graded."""
    from dlgrade.autograde import assignment_fingerprint

    assignment = course.assignment(assignment_id)
    named = Catalog.load(course.root, course.set_up_ids()).of(assignment)
    fingerprint = assignment_fingerprint(assignment)
    folders = submitted_folders(course, assignment.id)
    found = {student: _read(course, assignment, student) for student, _ in folders}
    if not any(found.values()):
        raise UsageError(f"no graded submissions of {assignment.id} in {course.root}: run `dlgrade autograde "
                         f"{assignment.id} --course {course.root}` first")
    rows = []
    with course.gradebook() as book:
        booked = _booked(book, assignment.id)
        for student, folder in folders:
            record = found[student]
            if record is None:
                rows.append(StudentRow(student, "ungraded", folder))
                continue
            key, result, graded_at = record
            if key != _current_key(assignment, fingerprint, folder):
                rows.append(StudentRow(student, "resubmitted", folder, graded_at=graded_at))
                continue
            entry = booked.get(student)
            scores = {q.name: (entry.scores.get(q.name, q.score) if entry else q.score) for q in result.questions}
            rows.append(StudentRow(student, "graded", folder, named.apply(result), scores,
                                   entry.manual if entry else frozenset(), entry.penalty if entry else 0.0,
                                   entry.seconds_late if entry else 0.0, graded_at))
        present = {student for student, _ in folders}
        rows += [StudentRow(student, "withdrawn", course.path("submitted", student, assignment.id))
                 for student in sorted(set(booked) - present)]
    secret = course.secret()
    seed = probe_seed(secret, assignment.id)
    probes = {question.name: probe_set(question, seed) for question in assignment.suite.questions}
    questions = tuple(_question_stats(assignment, rows, name, probes[name]) for name in assignment.points)
    return Cohort(course, assignment, named, tuple(rows), questions, probes, datetime.now().astimezone())


def _question_stats(assignment: Assignment, rows: list[StudentRow], name: str,
                    probes: ProbeSet | None) -> QuestionStats:
    points = assignment.points[name]
    graded = [row for row in rows if row.graded]
    results = [(row.student, next(q for q in row.result.questions if q.name == name))  # type: ignore[union-attr]
               for row in graded]
    scores = [row.scores[name] for row in graded]
    statuses = Counter(q.status for _, q in results)
    made: dict[tuple[str, str], list[str]] = {}
    words: dict[tuple[str, str], str] = {}
    unexplained, unprobed = [], []
    for student, question in results:
        if question.diagnosis is not None:
            key = (question.diagnosis.name, origin(question.diagnosis))
            made.setdefault(key, []).append(student)
            words[key] = question.diagnosis.feedback
        elif question.status in PROBED_STATUSES:
            unexplained.append(student)
            if probes is not None and (question.probe is None or question.probe.key != probes.key):
                unprobed.append(student)
    ranked = sorted(made.items(), key=lambda item: (-len(item[1]), item[0][1] != "suite", item[0][0]))
    mistakes = tuple(MistakeCount(name, mistake, where, words[(mistake, where)], tuple(students))
                     for (mistake, where), students in ranked)
    seen = {mistake for mistake, where in made if where == "suite"}
    unseen = tuple(m.name for m in assignment.suite.question(name).mistakes if m.name not in seen)
    return QuestionStats(name, points, len(graded), statistics.fmean(scores) if scores else 0.0,
                         sum(score >= points - FULL for score in scores), {s: statuses.get(s, 0) for s in STATUSES},
                         mistakes, tuple(unexplained), tuple(unprobed), unseen)


def histogram(scores: list[float], max_score: float, bins: int = 10) -> list[tuple[float, float, int]]:
    """(low, high, count) for ``bins`` equal bins over [0, max_score]; the last one includes max_score."""
    if max_score <= 0:
        return [(0.0, 0.0, len(scores))]
    width = max_score / bins
    counts = [0] * bins
    for score in scores:
        counts[min(bins - 1, max(0, int(score / width + 1e-9)))] += 1
    return [(round(i * width, 4), round((i + 1) * width, 4), counts[i]) for i in range(bins)]


def anchor(text: str) -> str:
    """A stable HTML id for a student or a question, whatever characters its name has."""
    return "x" + hashlib.sha256(text.encode()).hexdigest()[:12]
