"""dlgrade autograde: grade every submission of an assignment with the engine and record it where nbgrader keeps
grades, so formgrader shows them and manual grading still works.

Per submission, in this order (each step idempotent, so a crash anywhere is repaired by a rerun):

  1. grade       in a worker process of dlgrade.batch (student code runs in that worker's sandbox)
  2. check       the trusted main process validates the result against the assignment (names, points, ranges)
  3. record      .dlgrade/results/<id>/<student>.json, atomically: the checked result and its key
  4. gradebook   autograded/<student>/<id>/<id>.ipynb for formgrader, then nbgrader's Grade.auto_score per
                 grade cell, solution-cell comments, timestamp and late penalty (nbgrader's
                 LateSubmissionPlugin), in one transaction
  5. feedback    feedback/<student>/<id>/{<id>.html, results.json}, with the scores in force in the gradebook

A result's key is a hash of the assignment, its suite version, its source notebook and the submission's bytes.
A rerun skips a submission whose record has the current key and whose gradebook entries already say what the
record says; a record without matching gradebook entries (a crash between 3 and 5) is written again, without
regrading; missing feedback or autograded notebooks are written again too. Hidden cases are seeded from the
course secret and the code, so `--force` regrades identically.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dlgrade import report
from dlgrade.assignments import Assignment
from dlgrade.boundary.text import inert_markdown, plain
from dlgrade.course import (
    Course,
    check_student_id,
    gradebook_error,
    hidden_submitted_folders,
    shown_student,
    submitted_folder,
    submitted_folders,
    unsafe_entry,
    write_atomic,
)
from dlgrade.errors import UsageError
from dlgrade.grading import STATUSES, CaseResult, QuestionResult, SubmissionResult
from dlgrade.insight.catalog import AssignmentCatalog, Catalog
from dlgrade.insight.figures import Figure
from dlgrade.insight.probes import ProbeAnswers
from dlgrade.notebook import MAX_SUBMISSION_BYTES, dumps_consumed, find_submission_file, read_notebook, stream_output

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

    from dlgrade.sandbox.launcher import Sandbox
    from dlgrade.source_cells import SourceCells

RECORD_FORMAT = 1
RESULTS_DIR = "results"
LOCK_FILE = "autograde-{assignment}.lock"
MAX_TEXT = 20_000  # characters of any one feedback text kept from a result
WRITE_RETRIES = 6  # a gradebook write that meets a lock waits (sqlite's own 5 s each) this many times, then stops


# ---- submissions -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submission:
    """One student's submission of one assignment, and why it cannot be graded (``problem``), if so."""

    assignment_id: str
    student: str
    folder: Path
    notebook: Path | None = None
    key: str = ""
    digest: str = ""  # sha256 of the notebook's bytes: the worker grades exactly these
    timestamp: datetime | None = None
    problem: str | None = None


def assignment_fingerprint(assignment: Assignment) -> str:
    """The assignment's side of a result's key: its suite's version and its instructor notebook, read once per
    run (a suite edited during a run does not change the keys of that run), and the engine's grading revision
    (dlgrade.grading.GRADING_REVISION: a fix that changes grades regrades what the engine before it graded)."""
    from dlgrade.grading import GRADING_REVISION

    digest = hashlib.sha256(f"dlgrade-assignment-v1\0{GRADING_REVISION}\0".encode())
    for part in (assignment.id.encode(), assignment.suite.version.encode(), assignment.source.read_bytes()):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()


def submission_key(fingerprint: str, data: bytes) -> str:
    """What a result is keyed by: the submission's bytes, and the assignment's fingerprint (suite version and
    instructor notebook)."""
    return hashlib.sha256(f"{fingerprint}:{hashlib.sha256(data).hexdigest()}".encode()).hexdigest()


def find_submissions(course: Course, assignment: Assignment, students: Sequence[str] = ()) -> list[Submission]:
    """Every submission of the assignment in submitted/ (or just ``students``'), each checked for use."""
    if students:
        chosen = [(student, submitted_folder(course, assignment.id, student)) for student in students]
        for student, folder in chosen:
            if folder is None:
                check_student_id(student)  # an id that can be no student's (a hidden folder's): said as such
                raise UsageError(f"unknown student {student!r}: no submission of {assignment.id} in "
                                 f"{course.path('submitted', student, assignment.id)}")
    else:
        # hidden folders too, each then refused by name (check_student_id), rather than passed over in silence
        chosen = submitted_folders(course, assignment.id) + hidden_submitted_folders(course, assignment.id)
    fingerprint = assignment_fingerprint(assignment)
    return [_inspect(course, assignment, fingerprint, student, folder) for student, folder in chosen]


def _inspect(course: Course, assignment: Assignment, fingerprint: str, student: str, folder: Path) -> Submission:
    base = Submission(assignment.id, student, folder)
    try:
        check_student_id(student)
        why = unsafe_entry(folder)
        if why:
            raise UsageError(why)
        notebook = find_submission_file(folder, assignment.id)
        if notebook.stat().st_size > MAX_SUBMISSION_BYTES:
            raise UsageError(f"{notebook}: larger than {MAX_SUBMISSION_BYTES >> 20} MB")
        data = notebook.read_bytes()
        if notebook.suffix == ".ipynb":
            read_notebook(notebook)  # not JSON, not a notebook: refused here, before any worker is busy with it
    except UsageError as error:
        return replace(base, problem=str(error))
    except OSError as error:
        return replace(base, problem=f"{folder}: unreadable ({error.strerror})")
    try:
        timestamp = course.coursedir.get_existing_timestamp(str(folder))
    except Exception:  # nbgrader's CourseDirectory fails on a timestamp it cannot parse
        return replace(base, problem=f"{folder / 'timestamp.txt'}: not a date nbgrader can read")
    return replace(base, notebook=notebook, key=submission_key(fingerprint, data),
                   digest=hashlib.sha256(data).hexdigest(), timestamp=timestamp)


# ---- results: to and from plain data, and the trusted side's check ---------------------------------------


def result_to_data(result: SubmissionResult) -> dict[str, Any]:
    """Everything of a SubmissionResult as JSON-able data (a diagnosis by its mistake's name and words)."""
    def question(q: QuestionResult) -> dict[str, Any]:
        return {"name": q.name, "entry": q.entry, "score": q.score, "max_score": q.max_score, "status": q.status,
                "feedback": q.feedback,
                "diagnosis": {"name": q.diagnosis.name, "feedback": q.diagnosis.feedback} if q.diagnosis else None,
                "cases": [{**vars(case), "figure": case.figure.to_data() if case.figure else None}
                          for case in q.cases],
                "probe": q.probe.to_data() if q.probe else None}

    return {"assignment": result.assignment, "submission": result.submission,
            "questions": [question(q) for q in result.questions], "notes": list(result.notes),
            "output": result.output, "sandbox": list(result.sandbox), "execution_time": result.execution_time,
            "student_time": result.student_time, "suite_version": result.suite_version}


def _text(value: Any, what: str) -> str:
    """Text of a result, plain (dlgrade.boundary.text): a record written before texts were made plain at the
    sandbox's boundary (a lone surrogate, an escape sequence) is made so as it is read."""
    if not isinstance(value, str):
        raise ValueError(f"{what} is not text")
    return plain(value, MAX_TEXT)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what} is not a finite number")
    return float(value)


def checked_result(data: Any, assignment: Assignment) -> SubmissionResult:
    """The result rebuilt from plain data, only if it fits the assignment: its questions, their points, scores
    within [0, points], known statuses. ValueError otherwise. Only what passes reaches the course's records."""
    if not isinstance(data, dict) or data.get("assignment") != assignment.id:
        raise ValueError("not a result of this assignment")
    questions = data.get("questions")
    if not isinstance(questions, list) or [q.get("name") if isinstance(q, dict) else None
                                           for q in questions] != list(assignment.points):
        raise ValueError("its questions are not the assignment's grade cells")
    rebuilt = []
    for raw in questions:
        name = raw["name"]
        points = assignment.points[name]
        score = _number(raw.get("score"), f"{name}'s score")
        if _number(raw.get("max_score"), f"{name}'s max_score") != points or not 0 <= score <= points + 1e-9:
            raise ValueError(f"{name}: score {score} is not within its {points:g} points")
        if raw.get("status") not in STATUSES:
            raise ValueError(f"{name}: unknown status {raw.get('status')!r}")
        diagnosis = raw.get("diagnosis")
        mistake = None
        if diagnosis is not None:
            known = {m.name: m for m in assignment.suite.question(name).mistakes}
            mistake = known.get(diagnosis.get("name")) if isinstance(diagnosis, dict) else None
            if mistake is None:
                raise ValueError(f"{name}: diagnosis {diagnosis!r} is not one of the question's known mistakes")
        cases = []
        for case in raw.get("cases") or []:
            public = bool(case["public"])
            cases.append(CaseResult(
                label=_text(case["label"], "a case label"), public=public, passed=bool(case["passed"]),
                status=_text(case["status"], "a case status"), message=_text(case["message"], "a case message"),
                mistake=_text(case["mistake"], "a mistake") if isinstance(case.get("mistake"), str) else None,
                **{k: _text(case[k], k) if isinstance(case.get(k), str) else None
                   for k in ("inputs", "yours", "expected")},
                # values are drawn for public cases only, whatever a result claims
                figure=Figure.from_data(case["figure"]) if public and case.get("figure") is not None else None))
        probe = ProbeAnswers.from_data(raw["probe"]) if raw.get("probe") is not None else None
        rebuilt.append(QuestionResult(name, _text(raw.get("entry", ""), "entry"), round(min(score, points), 4),
                                      points, raw["status"], _text(raw.get("feedback", ""), "feedback"), mistake,
                                      tuple(cases), probe))
    return SubmissionResult(
        assignment=assignment.id, submission=_text(data.get("submission", ""), "submission"),
        questions=tuple(rebuilt), notes=tuple(_text(n, "a note") for n in data.get("notes") or []),
        output=_text(data.get("output", ""), "output"),
        sandbox=tuple(_text(s, "sandbox") for s in data.get("sandbox") or []),
        execution_time=_number(data.get("execution_time", 0.0), "execution_time"),
        student_time=_number(data.get("student_time", 0.0), "student_time"),
        suite_version=_text(data.get("suite_version", ""), "suite_version"))


# ---- the record (step 3) ---------------------------------------------------------------------------------


def record_path(course: Course, assignment_id: str, student: str) -> Path:
    return course.state / RESULTS_DIR / assignment_id / f"{student}.json"


def write_record(course: Course, submission: Submission, result: SubmissionResult) -> None:
    data = {"format": RECORD_FORMAT, "key": submission.key, "assignment": submission.assignment_id,
            "student": submission.student, "graded_at": datetime.now().astimezone().isoformat(timespec="seconds"),
            "result": result_to_data(result)}
    # Compact: json's C encoder only runs without indent (5x faster on a result with a hundred cases).
    write_atomic(record_path(course, submission.assignment_id, submission.student),
                 json.dumps(data, allow_nan=False) + "\n", mode=0o600)


def read_record(course: Course, assignment: Assignment, student: str) -> tuple[str, SubmissionResult] | None:
    """(key, checked result) of a student's record, or None when missing, unreadable or not checkable."""
    path = record_path(course, assignment.id, student)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != RECORD_FORMAT or data.get("student") != student:
            return None
        return str(data["key"]), checked_result(data["result"], assignment)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


# ---- feedback and the autograded notebook (step 4) -------------------------------------------------------


@dataclass(frozen=True)
class BookEntry:
    """What the gradebook says of one submission: per grade cell the score in force, and the late penalty; and
    what graders added in formgrader: manual scores, extra credit, comments (a comment on a solution cell goes
    with the first question answered there, one on any other cell is listed apart)."""

    scores: dict[str, float]
    manual: frozenset[str]
    penalty: float
    comments: dict[str, str] = field(default_factory=dict)  # question -> a grader's comment
    extra_credit: dict[str, float] = field(default_factory=dict)  # question -> a grader's extra credit
    other_comments: tuple[str, ...] = ()  # graders' comments on cells that answer no question

    def digest(self) -> str:
        """A fingerprint of all of it: feedback written from another gradebook state is rewritten."""
        state = [sorted(self.scores.items()), sorted(self.manual), self.penalty, sorted(self.comments.items()),
                 sorted(self.extra_credit.items()), list(self.other_comments)]
        return hashlib.sha256(json.dumps(state).encode()).hexdigest()[:32]


def _with_book(result: SubmissionResult, entry: BookEntry | None) -> SubmissionResult:
    """The result as the student should see it: a grader's manual score replaces the autograder's, and the
    graders' extra credit and comments are shown with the question they are about."""
    if entry is None:
        return result

    def told(name: str) -> str:
        lines = ["Score set by a grader."] if name in entry.manual else []
        if entry.extra_credit.get(name):
            lines.append(f"Extra credit from a grader: {entry.extra_credit[name]:+g}.")
        if name in entry.comments:
            lines.append(f"A grader's comment: {entry.comments[name][:MAX_TEXT]}")
        return "".join("\n" + line for line in lines)

    questions = tuple(replace(q, score=entry.scores.get(q.name, q.score), feedback=q.feedback + told(q.name))
                      for q in result.questions)
    notes = result.notes + tuple(comment[:MAX_TEXT] for comment in entry.other_comments)
    if entry.penalty:
        notes += (f"Late submission: a penalty of {entry.penalty:g} points (the course's late policy).",)
    return replace(result, questions=questions, notes=notes)


def feedback_files(submission: Submission, result: SubmissionResult, entry: BookEntry | None = None,
                   named: AssignmentCatalog | None = None) -> dict[str, str]:
    """feedback/<student>/<id>/'s files, by name: <id>.html and results.json (dlgrade's result with the
    gradebook's scores, late penalty and graders' comments), plus nbgrader's timestamp.txt and
    submission_secret.txt, which its release_feedback needs. ``named``: the course's own known mistakes
    (mistakes.yml), named where the result shows one. `dlgrade autograde`, `dlgrade feedback` and nbgrader's
    generate_feedback (formgrader's button) all write these."""
    shown = _with_book(named.apply(result) if named else result, entry)
    data = report.to_json(shown)
    data["dlgrade"].update({"student": submission.student, "key": submission.key,
                            "late_submission_penalty": entry.penalty if entry else 0.0,
                            "grader_comments": dict(entry.comments) if entry else {},
                            "book": entry.digest() if entry else "",
                            "course_mistakes": named.stamp(result) if named else ""})
    data["score"] = round(max(0.0, shown.score - (entry.penalty if entry else 0.0)), 4)
    page = report.to_html(shown)
    data["dlgrade"]["page"] = hashlib.sha256(page.encode()).hexdigest()  # a damaged page is written again
    files = {f"{submission.assignment_id}.html": page,
             "results.json": json.dumps(data, allow_nan=False) + "\n"}  # machine-read (compact: see write_record)
    for name in ("timestamp.txt", "submission_secret.txt"):
        source = submission.folder / name
        if source.is_file() and not source.is_symlink():
            files[name] = source.read_text(encoding="utf-8", errors="replace")
    return files


def write_feedback(course: Course, submission: Submission, result: SubmissionResult,
                   entry: BookEntry | None = None, named: AssignmentCatalog | None = None) -> Path:
    """feedback/<student>/<id>/ written with feedback_files()."""
    folder = course.path("feedback", submission.student, submission.assignment_id)
    for name, text in feedback_files(submission, result, entry, named).items():
        write_atomic(folder / name, text)
    return folder


def feedback_current(course: Course, submission: Submission, entry: BookEntry | None = None,
                     stamp: str = "") -> bool:
    """The feedback on disk is of this submission, of the gradebook as it is (scores, comments) and of the course
    mistakes (``stamp``) it shows now."""
    folder = course.path("feedback", submission.student, submission.assignment_id)
    try:
        data = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        page = (folder / f"{submission.assignment_id}.html").read_bytes()
        return data["dlgrade"]["key"] == submission.key and \
            data["dlgrade"].get("book", "") == (entry.digest() if entry else "") and \
            data["dlgrade"].get("course_mistakes", "") == stamp and \
            data["dlgrade"].get("page") == hashlib.sha256(page).hexdigest()
    except (OSError, ValueError, KeyError, TypeError):
        return False


def write_autograded(course: Course, submission: Submission, result: SubmissionResult,
                     cells: SourceCells | None = None) -> Path | None:
    """autograded/<student>/<id>/<id>.ipynb for formgrader: the submission with outputs cleared, the source's
    kernelspec, and every cell's nbgrader metadata (and every locked cell) from the gradebook's source cells,
    never the student's (source_cells.RestoreSourceCells), every student cell inert text (boundary.notebook:
    formgrader renders markdown unsanitised); each grade cell shows dlgrade's feedback as its output.
    Nothing is executed. ``cells``: the gradebook's source cells, read once for a batch (read now when not given).
    None when the submission is not a notebook nbformat can read."""
    from nbgrader.preprocessors import ClearOutput

    from dlgrade.boundary.notebook import InertStudentCells
    from dlgrade.source_cells import RestoreSourceCells, SnapshotOverwriteKernelspec, SourceCells

    assert submission.notebook is not None
    try:
        notebook = read_notebook(submission.notebook)
    except Exception:
        return None
    resources: dict[str, Any] = {}
    cells = cells or SourceCells.read(course.db_url, submission.assignment_id, submission.assignment_id,
                                      source_notebook(course, submission.assignment_id))
    for preprocessor in (ClearOutput(config=course.config), SnapshotOverwriteKernelspec(cells, config=course.config),
                         RestoreSourceCells(cells), InertStudentCells()):
        notebook, resources = preprocessor.preprocess(notebook, resources)
    notebook.metadata["dlgrade"] = {"key": submission.key}  # which grading wrote it (autograded_current)
    feedback = {q.name: f"dlgrade: {q.status}, {q.score:g} / {q.max_score:g}\n{q.feedback}\n"
                for q in result.questions}
    for cell in notebook.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell.get("cell_type") == "code" and grade_id in feedback:
            cell.outputs = [stream_output(plain(feedback[grade_id]))]
    folder = course.path("autograded", submission.student, submission.assignment_id)
    folder.mkdir(parents=True, exist_ok=True)
    # Not nbformat.writes: it would validate the whole notebook again (read() already did).
    write_atomic(folder / f"{submission.assignment_id}.ipynb", dumps_consumed(notebook))
    timestamp = submission.folder / "timestamp.txt"
    if timestamp.is_file() and not timestamp.is_symlink():
        write_atomic(folder / "timestamp.txt", timestamp.read_text(encoding="utf-8", errors="replace"))
    return folder


def source_notebook(course: Course, assignment_id: str) -> Path:
    """source/<id>/<id>.ipynb: the notebook nbgrader's gradebook cells were generated from."""
    return course.path("source", ".", assignment_id) / f"{assignment_id}.ipynb"


def autograded_current(course: Course, submission: Submission) -> bool:
    """autograded/<student>/<id>/<id>.ipynb is a notebook written from this submission's grading (a missing,
    truncated or replaced one is written again)."""
    path = course.path("autograded", submission.student, submission.assignment_id) / f"{submission.assignment_id}.ipynb"
    try:
        data = json.loads(path.read_bytes())
        return isinstance(data.get("cells"), list) and data["metadata"]["dlgrade"]["key"] == submission.key
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


# ---- the gradebook (step 5) ------------------------------------------------------------------------------


class LatePolicy:
    """nbgrader's late-submission policy as the course configures it (AssignLatePenalties.plugin_class)."""

    def __init__(self, course: Course) -> None:
        from nbgrader.preprocessors import AssignLatePenalties

        self.preprocessor = AssignLatePenalties(config=course.config)
        self.preprocessor.init_plugin()

    def penalty(self, student: str, notebook: Any, seconds_late: float) -> float | None:
        """The penalty for a notebook (its score in force), clamped to [0, score] as nbgrader clamps it."""
        if seconds_late <= 0:
            return None
        penalty = self.preprocessor.plugin_inst.late_submission_penalty(student, notebook.score, seconds_late)
        return None if penalty is None else self.preprocessor._check_late_penalty(notebook, penalty)


def book_entry(book: Gradebook, assignment: Assignment, student: str) -> BookEntry | None:
    """The gradebook's view of a student's submission, or None when there is none."""
    from nbgrader.api import Comment, Grade, MissingEntry

    try:
        notebook = book.find_submission_notebook(assignment.id, assignment.id, student)
    except MissingEntry:
        return None
    grades = _by_cell_name(book, Grade, notebook.id)
    scores = {name: float(grade.score) for name, grade in grades.items()}
    manual = frozenset(name for name, grade in grades.items() if grade.manual_score is not None)
    extra = {name: float(grade.extra_credit) for name, grade in grades.items() if grade.extra_credit}
    written = {cell: row.manual_comment.strip() for cell, row in _by_cell_name(book, Comment, notebook.id).items()
               if row.manual_comment and row.manual_comment.strip()}
    question_of: dict[str, str] = {}
    for question in assignment.suite.questions:
        question_of.setdefault(question.cell, question.name)
    comments = {question_of[cell]: text for cell, text in written.items() if cell in question_of}
    others = tuple(f"A grader's comment on {cell}: {text}" for cell, text in sorted(written.items())
                   if cell not in question_of)
    return BookEntry(scores, manual, float(notebook.late_submission_penalty or 0.0), comments, extra, others)


def _by_cell_name(book: Gradebook, model: Any, notebook_id: str) -> dict[str, Any]:
    """cell name -> the notebook's Grade (or Comment) row, in one query (the ORM's ``notebook.grades`` then
    ``grade.name`` loads each row's cell with a query of its own)."""
    from nbgrader.api import BaseCell

    rows = book.db.query(BaseCell.name, model).join(BaseCell, model.cell_id == BaseCell.id) \
        .filter(model.notebook_id == notebook_id).all()
    return {name: row for name, row in rows}


def gradebook_matches(book: Gradebook, assignment: Assignment, submission: Submission, result: SubmissionResult,
                      policy: LatePolicy) -> bool:
    """Whether the gradebook already holds this result: auto scores, timestamp and late penalty."""
    from nbgrader.api import MissingEntry

    try:
        submitted = book.find_submission(assignment.id, submission.student)
        notebook = book.find_submission_notebook(assignment.id, assignment.id, submission.student)
    except MissingEntry:
        return False
    auto = {grade.name: grade.auto_score for grade in notebook.grades}
    for question in result.questions:
        if auto.get(question.name) is None or abs(auto[question.name] - question.score) > 1e-9:
            return False
    if submission.timestamp is not None and submitted.timestamp != submission.timestamp:
        return False
    expected = policy.penalty(submission.student, notebook, submitted.total_seconds_late) or 0.0
    return abs((notebook.late_submission_penalty or 0.0) - expected) <= 1e-9


def _comments(assignment: Assignment, result: SubmissionResult) -> dict[str, str]:
    """Solution cell -> dlgrade's feedback on the questions answered there (formgrader shows it as a comment)."""
    comments: dict[str, list[str]] = {}
    for question in result.questions:
        cell = assignment.suite.question(question.name).cell
        comments.setdefault(cell, []).append(f"[{question.name}] {question.status}, {question.score:g} / "
                                             f"{question.max_score:g}\n{question.feedback}")
    # nbgrader's feedback renders a comment as markdown: inert, so a student's text in it opens no HTML tag
    return {cell: inert_markdown("\n\n".join(texts)[:MAX_TEXT]) for cell, texts in comments.items()}


@dataclass(frozen=True)
class SubmissionLayout:
    """The rows a new submission of an assignment gets in nbgrader's gradebook (as its add_submission mirrors
    them), read once per run: per notebook, the cells that get an empty Grade (grade and task cells) and those
    that get an empty Comment (solution and task cells)."""

    assignment_row: str  # the gradebook's id of the assignment
    notebooks: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]  # (notebook id, graded, commented cells)

    @classmethod
    def read(cls, book: Gradebook, assignment_id: str) -> SubmissionLayout:
        assignment = book.find_assignment(assignment_id)
        notebooks = []
        for notebook in assignment.notebooks:
            tasks = [cell.id for cell in notebook.task_cells]
            notebooks.append((notebook.id, tuple([cell.id for cell in notebook.grade_cells] + tasks),
                              tuple([cell.id for cell in notebook.solution_cells] + tasks)))
        return cls(assignment.id, tuple(notebooks))


def _add_submission(book: Gradebook, layout: SubmissionLayout, student: str) -> Any:
    """A first submission's rows (the student if new, the submitted assignment, its notebooks, their empty
    grades and comments) added to the session, uncommitted: they are committed with the grades or not at all,
    where nbgrader's add_student and add_submission would commit each on its own (three commits, each an fsync,
    and a skeleton without grades if we died between them)."""
    from nbgrader.api import Comment, Grade, Student, SubmittedAssignment, SubmittedNotebook

    rows: list[Any] = []
    if book.db.get(Student, student) is None:
        rows.append(Student(id=student))
    submitted = SubmittedAssignment(assignment_id=layout.assignment_row, student_id=student)
    rows.append(submitted)
    for notebook_id, graded, commented in layout.notebooks:
        notebook = SubmittedNotebook(notebook_id=notebook_id, assignment=submitted)
        rows.append(notebook)
        rows += [Grade(cell_id=cell, notebook=notebook) for cell in graded]
        rows += [Comment(cell_id=cell, notebook=notebook) for cell in commented]
    book.db.add_all(rows)
    book.db.flush()
    return submitted


def write_grades(book: Gradebook, assignment: Assignment, submission: Submission, result: SubmissionResult,
                 policy: LatePolicy, layout: SubmissionLayout | None = None) -> None:
    """Record a result in nbgrader's gradebook: the grades, comments, timestamp and late penalty of the
    submission (and on a first submission its rows) are committed in one transaction (a grader's manual scores
    are kept, and flagged for review). ``layout``: the assignment's SubmissionLayout, read now when not given."""
    from nbgrader.api import Comment, Grade, MissingEntry

    student, name = submission.student, assignment.id
    try:
        try:
            submitted = book.find_submission(name, student)
        except MissingEntry:
            submitted = _add_submission(book, layout or SubmissionLayout.read(book, name), student)
        if submission.timestamp is not None:
            submitted.timestamp = submission.timestamp
        notebook = book.find_submission_notebook(name, name, student)
        # the submission's Grade and Comment rows (as nbgrader's find_grade / find_comment give them one by one)
        grades = _by_cell_name(book, Grade, notebook.id)
        comments = _by_cell_name(book, Comment, notebook.id)
        for question in result.questions:
            grade = grades[question.name]
            grade.auto_score = question.score
            # as nbgrader's SaveAutoGrades: a grader's earlier manual score now needs a second look
            grade.needs_manual_grade = grade.manual_score is not None
        for cell, text in _comments(assignment, result).items():
            if cell in comments:
                comments[cell].auto_comment = text
        book.db.flush()
        book.db.refresh(notebook)  # its score (a query over the grades) as just written
        book.db.refresh(submitted)
        notebook.late_submission_penalty = policy.penalty(student, notebook, submitted.total_seconds_late)
        book.db.commit()
    except BaseException:
        book.db.rollback()
        raise


def write_grades_retrying(book: Gradebook, course: Course, *args: Any) -> None:
    """write_grades, waiting out a gradebook that another program holds locked for a while; then a UsageError
    (what is graded stays recorded, and a rerun writes it without grading again). Also retried: a row another
    writer inserted first (two runs on different assignments both adding a new student: the second's insert
    breaks the primary key; read again, the student is there), and PostgreSQL's deadlock and serialization
    failures, which abort one of two contending transactions for the client to retry."""
    from nbgrader.api import InvalidEntry
    from sqlalchemy.exc import DBAPIError, IntegrityError

    from dlgrade.course import is_contention

    for attempt in range(WRITE_RETRIES):
        try:
            return write_grades(book, *args)
        except (DBAPIError, InvalidEntry) as error:  # nbgrader's upserts turn a locked database into InvalidEntry
            if attempt == WRITE_RETRIES - 1 or not (is_contention(error) or isinstance(error, IntegrityError)):
                raise gradebook_error(course.db_url, error) from None
            time.sleep(0.5)


# ---- one run ---------------------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the summary table."""

    assignment_id: str
    student: str
    state: str  # graded | cached | refused | failed
    score: float = 0.0
    max_score: float = 0.0
    penalty: float = 0.0
    passed: int = 0
    questions: int = 0
    detail: str = ""

    @property
    def outcome(self) -> str:
        """passed (full marks), failed (graded, not full marks) or errored (not graded)."""
        if self.state in ("refused", "failed"):
            return "errored"
        return "passed" if self.score >= self.max_score - 1e-9 else "failed"


def _row(submission: Submission, result: SubmissionResult, state: str, entry: BookEntry | None) -> Row:
    scores = entry.scores if entry else {q.name: q.score for q in result.questions}
    diagnoses = [f"{q.name}: {q.diagnosis.name}" for q in result.questions if q.diagnosis is not None]
    others = [f"{q.name}: {q.status}" for q in result.questions
              if q.diagnosis is None and q.status not in ("passed", "failed")]
    return Row(submission.assignment_id, submission.student, state,
               round(sum(scores.get(q.name, q.score) for q in result.questions), 2), result.max_score,
               entry.penalty if entry else 0.0, sum(q.status == "passed" for q in result.questions),
               len(result.questions), "; ".join(diagnoses + others))


def check_outputs_writable(course: Course, steps: Sequence[str] = ("autograded", "feedback")) -> None:
    """Before any grading: every folder results go to can take a file (not read-only, not someone else's), or
    one UsageError naming it. The probe is a real file made and removed: it sees what permission bits do not (a
    read-only mount, an ACL, root's rights)."""
    import os
    import tempfile

    folders = [(course.state / RESULTS_DIR, "results")]
    folders += [(Path(course.coursedir.root) / getattr(course.coursedir, f"{step}_directory"), step) for step in steps]
    for folder, what in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            handle, probe = tempfile.mkstemp(dir=folder, prefix=".dlgrade-probe-")
            os.close(handle)
            os.unlink(probe)
        except OSError as error:
            raise UsageError(f"{folder} is not writable ({error.strerror}): dlgrade writes each student's {what} "
                             "there; nothing was graded or changed") from None


@contextlib.contextmanager
def course_lock(course: Course, assignment_ids: Sequence[str]) -> Iterator[None]:
    """One autograde at a time per assignment of a course (the locks die with their process, even under SIGKILL).
    Runs on different assignments may go at once: they write different records, feedback and notebooks, and the
    gradebook takes several writers (SQLite's lock waited out, PostgreSQL's rows)."""
    course.state.mkdir(parents=True, exist_ok=True)
    with contextlib.ExitStack() as held:
        for assignment_id in sorted(set(assignment_ids)):
            handle = held.enter_context(open(course.state / LOCK_FILE.format(assignment=assignment_id), "a+"))
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(f"another dlgrade autograde of {assignment_id} is running on {course.root}; wait "
                                 "for it") from None
        yield


class Recorder:
    """Steps 2-5 for each result, in the trusted main process, with one gradebook session for the run."""

    def __init__(self, course: Course, assignments: dict[str, Assignment], book: Gradebook) -> None:
        self.course, self.assignments, self.book = course, assignments, book
        self.policy = LatePolicy(course)
        self._source_cells: dict[str, SourceCells] = {}
        self._layouts: dict[str, SubmissionLayout] = {}
        # the course's own known mistakes (mistakes.yml), read and checked once: a bad file stops the run here
        catalog = Catalog.load(course.root, course.set_up_ids())
        self.named = {assignment_id: catalog.of(assignment) for assignment_id, assignment in assignments.items()}

    def layout(self, assignment_id: str) -> SubmissionLayout:
        """The gradebook rows of a new submission of the assignment, read once per run."""
        if assignment_id not in self._layouts:
            self._layouts[assignment_id] = SubmissionLayout.read(self.book, assignment_id)
        return self._layouts[assignment_id]

    def source_cells(self, assignment_id: str) -> SourceCells | None:
        """The gradebook's source cells of an assignment, read once per run (None if they cannot be read)."""
        from dlgrade.source_cells import SourceCells

        if assignment_id not in self._source_cells:
            try:
                self._source_cells[assignment_id] = SourceCells.read(self.course.db_url, assignment_id,
                                                                     assignment_id,
                                                                     source_notebook(self.course, assignment_id))
            except Exception:
                return None  # write_autograded then tries again and falls back as before
        return self._source_cells[assignment_id]

    def record(self, submission: Submission, data: Any) -> Row:
        """Steps 2-5 for a result a worker sent: checked, recorded, then into the gradebook and feedback."""
        return self._contained(submission, self._record, submission, data)

    def resume(self, submission: Submission, result: SubmissionResult) -> Row:
        """A submission graded before: write what is missing (nothing, on a clean rerun)."""
        return self._contained(submission, self._resume, submission, result)

    def _contained(self, submission: Submission, step: Any, *args: Any) -> Row:
        """step(*args), an error of which fails this one submission, never the run: its record is removed, so
        that a rerun grades it again rather than replay what failed. A gradebook that cannot be used at all
        (a UsageError) still stops the run, which loses nothing."""
        try:
            return step(*args)
        except UsageError:
            raise
        except Exception as error:
            record_path(self.course, submission.assignment_id, submission.student).unlink(missing_ok=True)
            return Row(submission.assignment_id, submission.student, "failed",
                       max_score=self.assignments[submission.assignment_id].max_score,
                       detail=f"could not be recorded ({type(error).__name__}: {plain(str(error), 200)}); a rerun "
                              "grades it again")

    def _record(self, submission: Submission, data: Any) -> Row:
        assignment = self.assignments[submission.assignment_id]
        try:
            result = checked_result(data, assignment)
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            return Row(submission.assignment_id, submission.student, "failed", max_score=assignment.max_score,
                       detail=f"the grader's result was rejected: {error}")

        def record_and_publish() -> Row:
            write_record(self.course, submission, result)
            return self.publish(submission, result, "graded")

        return self.writing(submission, record_and_publish)

    def publish(self, submission: Submission, result: SubmissionResult, state: str) -> Row:
        """Steps 4 and 5 from a checked result."""
        assignment = self.assignments[submission.assignment_id]
        self.autograded(submission, result)
        write_grades_retrying(self.book, self.course, assignment, submission, result, self.policy,
                              self.layout(assignment.id))
        entry = book_entry(self.book, assignment, submission.student)
        named = self.named[assignment.id]
        write_feedback(self.course, submission, result, entry, named)
        return _row(submission, named.apply(result), state, entry)

    def writing(self, submission: Submission, action: Callable[[], Row]) -> Row:
        """``action()``, except that a student's output that cannot be written (a folder made read-only, a full
        disk) fails that student with one line; what was written stays, and a rerun writes the rest."""
        try:
            return action()
        except OSError as error:
            return Row(submission.assignment_id, submission.student, "failed",
                       max_score=self.assignments[submission.assignment_id].max_score,
                       detail=f"{error.filename or 'an output'} could not be written ({error.strerror or error}); "
                              "what was graded is kept: rerun once it can be written")

    def autograded(self, submission: Submission, result: SubmissionResult) -> None:
        """The notebook for formgrader; a student's notebook that nbgrader cannot even write back out costs its
        formgrader view, never its grade (a folder we cannot write to is said: OSError goes on up)."""
        try:
            write_autograded(self.course, submission, result, self.source_cells(submission.assignment_id))
        except (UsageError, OSError):
            raise
        except Exception:
            pass

    def _resume(self, submission: Submission, result: SubmissionResult) -> Row:
        """A submission graded before: write what is missing or damaged (nothing, on a clean rerun)."""
        assignment = self.assignments[submission.assignment_id]

        def repair() -> Row:
            if not gradebook_matches(self.book, assignment, submission, result, self.policy):
                return self.publish(submission, result, "cached")
            entry = book_entry(self.book, assignment, submission.student)
            if not autograded_current(self.course, submission):
                self.autograded(submission, result)
            named = self.named[assignment.id]
            if not feedback_current(self.course, submission, entry, named.stamp(result)):
                write_feedback(self.course, submission, result, entry, named)
            return _row(submission, named.apply(result), "cached", entry)

        return self.writing(submission, repair)


def autograde(course: Course, assignment_ids: Sequence[str], students: Sequence[str] = (), workers: int | None = None,
              force: bool = False, sandboxed: bool = True, out: TextIO | None = None,
              progress: TextIO | None | bool = True, early: Sequence[Sandbox] = (),
              scheduler: str | None = None) -> list[Row]:
    """Grade every (or each named student's) submission of the assignments; return the summary rows.
    The class table goes to ``out`` (stdout), the progress bar to ``progress`` (stderr; False for none).
    ``early``: sandboxes from batch.prelaunch(), handed to the batch's workers (prelaunch stops unused ones).
    ``scheduler``: grade on the Dask cluster at this address instead of the local pool (dlgrade.cluster): this
    process still records every result; bubblewrap is the workers' business then."""
    from dlgrade import batch
    from dlgrade.sandbox.launcher import bwrap_path

    if scheduler and workers is not None:
        raise UsageError("--workers sizes the local pool; a Dask cluster's size is its workers' (dlgrade worker "
                         "--slots): drop one of --workers and --scheduler / DLGRADE_SCHEDULER")
    if sandboxed and not scheduler and bwrap_path() is None:
        raise UsageError("bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) or pass "
                         "--no-sandbox to grade without isolation")
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: give at least 1")
    out = out or sys.stdout
    stream = sys.stderr if progress is True else (progress or None)
    loaded = {assignment_id: course.assignment(assignment_id) for assignment_id in assignment_ids}
    for sandbox in early:  # now, so the fork servers warm up while we open the gradebook
        for assignment in loaded.values():
            sandbox.warm(assignment.suite.warm_up)
    with course_lock(course, list(loaded)):
        course.check_gradebook_writable()
        check_outputs_writable(course)
        secret = course.secret()
        for assignment_id in loaded:  # records half-written when killed (another assignment's run may be writing)
            for leftover in (course.state / RESULTS_DIR / assignment_id).glob(".*.json.*"):
                leftover.unlink(missing_ok=True)
        submissions = [s for assignment in loaded.values() for s in find_submissions(course, assignment, students)]
        if not submissions:
            print(f"no submissions of {', '.join(loaded)} in {course.root / course.coursedir.submitted_directory}: "
                  "collect them first (dlgrade collect)", file=out)
        rows: list[Row] = []
        with course.gradebook() as book:
            _check_in_gradebook(book, course, loaded)
            recorder = Recorder(course, loaded, book)
            todo: list[Submission] = []
            for submission in submissions:
                if submission.problem:
                    rows.append(Row(submission.assignment_id, submission.student, "refused",
                                    max_score=loaded[submission.assignment_id].max_score, detail=submission.problem))
                    continue
                previous = None if force else read_record(course, loaded[submission.assignment_id],
                                                          submission.student)
                if previous is not None and previous[0] == submission.key and \
                        not (sandboxed and unsandboxed(previous[1])):
                    rows.append(recorder.resume(submission, previous[1]))
                else:
                    todo.append(submission)
            stopped: batch.Stopped | None = None
            try:
                if todo and scheduler:
                    from dlgrade.cluster.backend import run_on_cluster

                    rows += run_on_cluster(scheduler, todo, recorder, loaded, secret, sandboxed=sandboxed,
                                           already=rows, stream=stream)
                elif todo:
                    from dlgrade.grading import precompute_public_values

                    batch.one_thread()  # as in the workers, so a value is the same whoever computes it
                    for assignment_id in {submission.assignment_id for submission in todo}:
                        precompute_public_values(loaded[assignment_id])  # once, shared by the forked workers
                    rows += batch.run(todo, recorder, loaded, secret, sandboxed=sandboxed, workers=workers,
                                      already=rows, stream=stream, early=early)
            except batch.Stopped as stop:  # the run stopped midway: what it did is recorded, and shown below
                stopped = stop
                rows += stop.rows
                seen = {(row.assignment_id, row.student) for row in rows}
                rows += [Row(s.assignment_id, s.student, "failed", max_score=loaded[s.assignment_id].max_score,
                             detail="not graded: the run stopped before its result came (see the last line); a "
                                    "rerun grades it") for s in todo if (s.assignment_id, s.student) not in seen]
            _say_earlier_grades(book, loaded, rows)
    order = {(s.assignment_id, s.student): n for n, s in enumerate(submissions)}
    rows.sort(key=lambda row: order[(row.assignment_id, row.student)])
    for assignment_id in loaded:
        print(summary_table([r for r in rows if r.assignment_id == assignment_id], assignment_id), file=out)
    if stopped is not None:
        out.flush()
        raise stopped
    return rows


def _say_earlier_grades(book: Gradebook, loaded: dict[str, Assignment], rows: list[Row]) -> None:
    """A refused submission leaves the gradebook as it is: a grade recorded for an earlier file of the student's
    stays in force (never zeroed by a file that broke). Its row says so, with the grade, so that nobody takes
    the grade in the gradebook for this file's. (A row that failed to grade says a rerun grades it.)"""
    for n, row in enumerate(rows):
        if row.state != "refused":
            continue
        entry = book_entry(book, loaded[row.assignment_id], row.student)
        if entry is None:
            continue
        rows[n] = replace(row, detail=f"{row.detail}; {earlier_grade(entry, row.max_score)}, kept as it is")


def earlier_grade(entry: BookEntry, max_score: float) -> str:
    """What the gradebook holds for a student whose current file has no grade: an earlier file's."""
    score = max(0.0, sum(entry.scores.values()) - entry.penalty)
    return f"the gradebook still holds the grade of an earlier file ({score:g} / {max_score:g})"


def unsandboxed(result: SubmissionResult) -> bool:
    """Graded without isolation (--no-sandbox): a sandboxed run grades it again rather than trust it."""
    from dlgrade.sandbox.launcher import UNSANDBOXED

    return UNSANDBOXED in result.sandbox


def _check_in_gradebook(book: Gradebook, course: Course, loaded: dict[str, Assignment]) -> None:
    from nbgrader.api import MissingEntry

    for assignment_id in loaded:
        try:
            assignment = book.find_assignment(assignment_id)
            names = {cell.name for notebook in assignment.notebooks for cell in notebook.grade_cells}
        except MissingEntry:
            names = set()
        if not set(loaded[assignment_id].points) <= names:
            raise UsageError(f"{assignment_id} is not in the gradebook {course.gradebook_label} with its grade cells: "
                             f"run `dlgrade setup {assignment_id} --course {course.root}`")


def summary_table(rows: Sequence[Row], assignment_id: str) -> str:
    """The class table of one assignment: a line per student, then the counts."""
    width = max([len(plain(shown_student(r.student))) for r in rows] + [7])
    lines = [f"\n{assignment_id}", f"{'student':<{width}}  {'score':>13}  {'late':>5}  {'passed':>6}  "
                                   f"{'state':<7}  diagnosis / problem"]
    for row in rows:
        student = plain(shown_student(row.student))  # a folder name of submitted/: anyone's choice, even escapes
        if row.state in ("refused", "failed"):
            lines.append(f"{student:<{width}}  {'-':>13}  {'':>5}  {'':>6}  {row.state:<7}  {plain(row.detail)}")
            continue
        late = f"-{row.penalty:g}" if row.penalty else ""
        lines.append(f"{student:<{width}}  {row.score:>6g} / {row.max_score:<4g}  {late:>5}  "
                     f"{row.passed:>3}/{row.questions:<2}  {row.state:<7}  {plain(row.detail[:100])}")
    counts = {state: sum(r.state == state for r in rows) for state in ("graded", "cached", "refused", "failed")}
    outcomes = {o: sum(r.outcome == o for r in rows) for o in ("passed", "failed", "errored")}
    lines.append(f"{len(rows)} submissions: {counts['graded']} graded now, {counts['cached']} already graded, "
                 f"{counts['refused']} refused, {counts['failed']} failed to grade; full marks {outcomes['passed']}, "
                 f"partial {outcomes['failed']}, errored {outcomes['errored']}")
    return "\n".join(lines)


# ---- feedback after manual grading, export ----------------------------------------------------------------


def refresh_feedback(course: Course, assignment_id: str, skipped: list[str] | None = None) -> list[str]:
    """Rewrite every graded student's feedback with the scores now in the gradebook (manual grades included);
    the students whose feedback was written. ``skipped`` gets a line (student: why) for each student of
    submitted/ or of the gradebook whose feedback was not: a submission refused or changed since it was graded
    (the gradebook may still hold an earlier file's grade: said), never graded, or gone from submitted/."""
    assignment = course.assignment(assignment_id)
    check_outputs_writable(course, ("feedback",))
    named = Catalog.load(course.root, course.set_up_ids()).of(assignment)
    done, passed_over = [], []
    with course.gradebook() as book:
        submissions = find_submissions(course, assignment)
        for submission in submissions:
            previous = read_record(course, assignment, submission.student)
            entry = book_entry(book, assignment, submission.student)
            if submission.problem:
                why = f"its submission is refused ({submission.problem})"
            elif previous is None:
                why = f"not graded yet (run `dlgrade autograde {assignment_id}`)"
            elif previous[0] != submission.key:
                why = f"its submission changed since it was graded (run `dlgrade autograde {assignment_id}`)"
            else:
                write_feedback(course, submission, previous[1], entry, named)
                done.append(submission.student)
                continue
            if entry is not None:
                why += f"; {earlier_grade(entry, assignment.max_score)}"
            passed_over.append(f"{shown_student(submission.student)}: {why}")
        present = {submission.student for submission in submissions}
        for graded in book.assignment_submissions(assignment_id):
            student = graded.student.id
            if student not in present:
                passed_over.append(f"{shown_student(student)}: in the gradebook, but no submission of "
                                   f"{assignment_id} in {course.path('submitted', student, assignment_id)}")
    if skipped is not None:
        skipped += passed_over
    return done


def export_gradescope(course: Course, assignment_id: str, destination: Path) -> Path:
    """A per-assignment Gradescope-style JSON: per student of the gradebook, the scores in force there (manual
    grades included) with the status and feedback of the checked dlgrade record that produced them."""
    from nbgrader.api import MissingEntry

    assignment = course.assignment(assignment_id)
    named = Catalog.load(course.root, course.set_up_ids()).of(assignment)
    students = []
    with course.gradebook() as book:
        for student in sorted(s.id for s in book.students):
            try:
                submitted = book.find_submission(assignment_id, student)
            except MissingEntry:
                continue
            entry = book_entry(book, assignment, student)
            previous = read_record(course, assignment, student)  # checked against the assignment on reading
            result = named.apply(previous[1]) if previous else None
            by_name = {q.name: q for q in result.questions} if result else {}
            tests = []
            for name, points in assignment.points.items():
                question = by_name.get(name)
                test: dict[str, Any] = {"name": name, "score": entry.scores.get(name, 0.0) if entry else 0.0,
                                        "max_score": points, "status": question.status if question else "ungraded",
                                        "output": question.feedback if question else "", "visibility": "visible"}
                if question is not None and question.diagnosis is not None:
                    test["diagnosis"] = {"mistake": question.diagnosis.name, "feedback": question.diagnosis.feedback}
                if entry and name in entry.manual:
                    test["manual"] = True
                if entry and name in entry.comments:
                    test["grader_comment"] = entry.comments[name]
                tests.append(test)
            raw = round(sum(t["score"] for t in tests), 4)
            penalty = entry.penalty if entry else 0.0
            students.append({
                "student_id": student, "score": round(max(0.0, raw - penalty), 4), "raw_score": raw,
                "late_submission_penalty": penalty, "max_score": assignment.max_score,
                "timestamp": submitted.timestamp.isoformat() if submitted.timestamp else None,
                "execution_time": round(result.execution_time, 3) if result else None, "tests": tests,
            })
    data = {"assignment": assignment_id, "course_id": course.course_id, "max_score": assignment.max_score,
            "generated_by": "dlgrade", "submissions": students}
    write_atomic(destination, json.dumps(data, indent=2, allow_nan=False) + "\n")
    return destination


__all__ = ["Row", "Submission", "assignment_fingerprint", "autograde", "checked_result", "export_gradescope",
           "find_submissions", "refresh_feedback", "result_to_data", "submission_key", "summary_table"]
