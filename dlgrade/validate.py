"""Prove each suite on its sample class: the solution scores full marks, the released template zero, every known
mistake loses points on its question (only there) and is named, and the committed templates are current; then
each question's mutation score (dlgrade.authoring.mutants), a built-in question under MUTATION_THRESHOLD failing."""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat

from dlgrade.assignments import Assignment
from dlgrade.authoring import MUTATION_THRESHOLD, VALIDATE_SAMPLE
from dlgrade.authoring.checks import check_cases
from dlgrade.authoring.mutants import mutation_reports
from dlgrade.content import Packs, packs_of
from dlgrade.grading import Grader, QuestionResult, SubmissionResult, public_values
from dlgrade.sample_class import SampleSubmission, build
from dlgrade.sandbox.launcher import Sandbox

OTHER_IDS = ("s1234567", "Ada.Lovelace@example.edu")  # two more ids for the solution, as an LMS would give them


@dataclass(frozen=True)
class Check:
    assignment: str
    student: str
    ok: bool
    detail: str
    warn: bool = False  # ok, but said: a course's own question under the built-in suites' mutation threshold

    @property
    def mark(self) -> str:
        return "FAIL" if not self.ok else "warn" if self.warn else "ok  "


def judge(assignment: Assignment, student: SampleSubmission, result: SubmissionResult) -> Check:
    """Whether the grader did with this sample student what it must."""
    by_name = {q.name: q for q in result.questions}
    if student.kind == "solution":  # each failure with its first failed case's words: what to fix is in the suite
        wrong = [f"{q.name} {q.status} {q.score:g}/{q.max_score:g}" + _first_failure(q)
                 for q in result.questions if q.status != "passed"]
        return Check(assignment.id, student.student, not wrong, "; ".join(wrong) or f"{result.score:g} full marks")
    if student.kind == "blank":
        wrong = [f"{q.name} {q.status}" for q in result.questions if q.status != "not_implemented" or q.score]
        return Check(assignment.id, student.student, not wrong, "; ".join(wrong) or "0, all not_implemented")
    target = by_name[student.question or ""]
    problems = []
    if target.score >= target.max_score:
        problems.append(f"{target.name} kept full marks")
    if student.kind == "mistake":
        named = target.diagnosis.name if target.diagnosis else None
        if named != student.mistake:
            problems.append(f"diagnosed {named!r}, expected {student.mistake!r}: {target.feedback.splitlines()[-1]}")
    suite = assignment.suite
    collateral = [q.name for q in result.questions if q.name != target.name and q.status != "passed"
                  and target.name not in suite.question(q.name).uses]
    if collateral and student.kind == "mistake":
        problems.append(f"other questions lost points: {collateral}")
    detail = "; ".join(problems) or f"{target.name} {target.score:g}/{target.max_score:g}" + (
        f", named {student.mistake}" if student.mistake else f", {target.status}")
    return Check(assignment.id, student.student, not problems, detail)


def _first_failure(question: QuestionResult) -> str:
    failed = next((case for case in question.cases if not case.passed), None)
    if failed is None:
        return f" ({question.feedback.splitlines()[0][:160]})" if question.feedback else ""
    return f" ({failed.label}: {' '.join(failed.message.split())[:160]})"


def _released_blank(assignment: Assignment, workdir: Path) -> SampleSubmission:
    """The student's notebook, graded as the blank submission: the committed template where the pack keeps one
    (the built-in assignments do), else a fresh release (a course's own assignment is released by setup)."""
    if assignment.template.is_file():
        return SampleSubmission("template", "blank", nbformat.read(assignment.template, as_version=4))
    from dlgrade.release import release

    fresh = release(assignment, workdir / "released") / f"{assignment.id}.ipynb"
    return SampleSubmission("released", "blank", nbformat.read(fresh, as_version=4))


def _templates_check(assignment: Assignment) -> Check:
    """The committed student_template/<id>/ is what `dlgrade release` makes; a pack that commits none (a course's
    own content) has nothing to keep current."""
    from dlgrade.release import templates_current

    if not assignment.builtin and not (assignment.root / "student_template" / assignment.id).is_dir():
        return Check(assignment.id, "templates", True, "no committed student_template/ (dlgrade setup releases "
                                                       "it into the course); a fresh release graded as the blank")
    differences = templates_current(assignment, assignment.root / "student_template")
    return Check(assignment.id, "templates", not differences,
                 "; ".join(differences) or "student_template is what `dlgrade release` makes")


def validate_assignment(assignment: Assignment, grader: Grader, workdir: Path) -> list[Check]:
    """The sample class graded and judged, the released notebook graded as a blank, and the templates check.
    Raises AuthoringError first when a question's cases or reference are broken (dlgrade.authoring.checks)."""
    check_cases(assignment, grader.public_values)
    students = build(assignment)
    students.append(_released_blank(assignment, workdir / assignment.id))
    if assignment.suite.numbers_scheme:  # per-student numbers: the solution scores full marks whoever submits it
        students[1:1] = [replace(students[0], student=f"solution-as-{name}") for name in OTHER_IDS]
    checks = []
    for student in students:  # each graded as its own student id: every mistake is named on another's numbers
        path = student.write(workdir / assignment.id / student.student / f"{assignment.id}.ipynb")
        checks.append(judge(assignment, student, grader.grade(path, student.student)))
    checks.append(_templates_check(assignment))
    return checks


def mutation_checks(assignment: Assignment, sandbox: Sandbox, limit: int | None = VALIDATE_SAMPLE,
                    judged: bool = True) -> list[Check]:
    """One check per question (``judged`` False: judged questions left out): its mutation score on (a
    deterministic sample of ``limit`` of) its mutants. A built-in question compared with its reference fails under
    MUTATION_THRESHOLD; a course's own question, or a judged one (a judge accepts a range of answers by design: a
    model that reaches the accuracy, however it was trained), is warned about instead."""
    names = [q.name for q in assignment.suite.questions if judged or q.judge is None]
    checks = []
    for report in mutation_reports(assignment, sandbox, names, limit=limit):
        name = f"mutants {report.question}"
        if report.solution_fails:  # nothing of the suite can be trusted then, built-in or not
            checks.append(Check(assignment.id, name, False, report.summary()))
            continue
        if report.score is None or 100 * report.score >= MUTATION_THRESHOLD:
            checks.append(Check(assignment.id, name, True, report.summary()))
            continue
        held = assignment.builtin and assignment.suite.question(report.question).judge is None
        survivors = [r.mutant.description for r in report.results if r.verdict == "survived"]
        detail = (f"{report.summary()}, under {MUTATION_THRESHOLD:g}%: survived {'; '.join(survivors)[:300]} (their "
                  f"diffs: dlgrade mutants {assignment.id} {report.question})")
        checks.append(Check(assignment.id, name, not held, detail, warn=not held))
    return checks


def validate(assignment_id: str | None = None, no_sandbox: bool = False, out=None,  # noqa: ANN001
             packs: Packs | None = None, mutants: int | None = VALIDATE_SAMPLE, mutation: bool = True) -> bool:
    """Validate one assignment or all (of ``packs``: default the built-in ones); print one line per check (to
    ``out``, default the current sys.stdout); True when every check holds. ``mutation``: also each question's
    mutation score, on at most ``mutants`` mutants per question (None: all of them)."""
    out = out or sys.stdout
    packs = packs or packs_of(None)
    ids = [assignment_id] if assignment_id else list(packs.ids())
    loaded = [packs.load(current) for current in ids]  # every authoring error before any grading
    for assignment in loaded:
        check_cases(assignment, public_values(assignment))
    for line in packs.shadowed():
        if line.split(":")[0] in ids:
            print(f"note {line}", file=out)
    all_checks: list[Check] = []
    with Sandbox(sandboxed=not no_sandbox) as sandbox, tempfile.TemporaryDirectory() as workdir:
        for assignment in loaded:
            grader = Grader(assignment, sandbox, secret=b"dlgrade-validate")
            checks = validate_assignment(assignment, grader, Path(workdir))
            if mutation:
                print(f"note {assignment.id}: mutation scores on " + (
                    "every mutant" if mutants is None else
                    f"at most {mutants} mutants per question, a deterministic sample (--mutants all: every one)"),
                    file=out, flush=True)
            for check in checks + (mutation_checks(assignment, sandbox, mutants) if mutation else []):
                all_checks.append(check)
                print(f"{check.mark} {check.assignment:<10} {check.student:<40} {check.detail}", file=out, flush=True)
    failed = [c for c in all_checks if not c.ok]
    print(f"{len(all_checks) - len(failed)} passed, {len(failed)} failed", file=out)
    return not failed
