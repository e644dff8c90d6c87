"""What `dlgrade report` and `dlgrade mistakes add|remove|list` do (cli.py parses, this runs)."""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from dlgrade.course import Course, write_atomic
from dlgrade.errors import UsageError
from dlgrade.insight.catalog import _NAME, MAX_FEEDBACK, MISTAKES_FILE, Catalog, CourseMistake, editing
from dlgrade.insight.clusters import Cluster, cluster, clusters
from dlgrade.insight.cohort import Cohort, build
from dlgrade.insight.probes import probe_seed, probe_set

FORMATS = ("html", "text", "csv")


def default_report_path(course: Course, assignment_id: str) -> Path:
    """Where the HTML report goes unless --out says otherwise: <course>/reports/<id>.html."""
    return course.root / "reports" / f"{assignment_id}.html"


def all_clusters(cohort: Cohort) -> dict[str, list[Cluster]]:
    return {question.name: clusters(cohort, question.name) for question in cohort.questions}


def report(course: Course, assignment_id: str, out: Path | None, form: str, stdout: TextIO) -> Path | None:
    """Write the report: HTML to ``out`` (default: default_report_path), text or CSV to ``out`` or stdout.
    Returns the file written, if any."""
    from dlgrade.insight import tables

    if form not in FORMATS:
        raise UsageError(f"--format {form}: choose one of {', '.join(FORMATS)}")
    cohort = build(course, assignment_id)
    found = all_clusters(cohort)
    if form == "html":
        from dlgrade.insight.pages import report_page

        target = (out or default_report_path(course, assignment_id)).resolve()
        write_atomic(target, report_page(cohort, found, target))
        return target
    written = tables.text(tables.tables(cohort, found)) if form == "text" else \
        tables.csv_text(tables.tables(cohort, found))
    if out is None:
        stdout.write(written)
        return None
    write_atomic(out, written)
    return out


def _check_words(name: str, feedback: str) -> None:
    if not _NAME.match(name):
        raise UsageError(f"--name {name!r}: use letters, digits, _ and - (at most 60), starting with a letter")
    if not feedback.strip():
        raise UsageError("--feedback: say in a sentence what the students did wrong")
    if len(feedback) > MAX_FEEDBACK:
        raise UsageError(f"--feedback: at most {MAX_FEEDBACK} characters")


def add_mistake(course: Course, assignment_id: str, question: str, number: int, name: str,
                feedback: str) -> tuple[CourseMistake, Cluster, Path, Path | None]:
    """Record cluster ``number`` of a question as the course mistake ``name``, in <course>/mistakes.yml; the last
    item: where the file as it was is kept, when the rewrite dropped comments of the instructor's (else None)."""
    _check_words(name, feedback)
    assignment = course.assignment(assignment_id)
    try:
        known = assignment.suite.question(question)
    except KeyError:
        raise UsageError(f"{assignment_id} has no question {question!r} (questions: "
                         f"{', '.join(assignment.points)})") from None
    if name in {m.name for m in known.mistakes}:
        raise UsageError(f"{assignment_id}.{question} already has a known mistake {name!r} in its suite; name it "
                         "otherwise")
    with editing(course.root, course.state):
        catalog = Catalog.load(course.root, course.set_up_ids())
        current = catalog.of(assignment)
        if any(m.question == question and m.name == name for m in current.mistakes):
            raise UsageError(f"{assignment_id}.{question} already has a course mistake {name!r} in {catalog.path}")
        chosen = cluster(build(course, assignment_id), question, number)
        mistake = CourseMistake(assignment_id, question, name, feedback, chosen.probe_set, (chosen.signature,))
        updated = catalog.with_mistake(mistake)
        updated.of(assignment)
        kept = updated.save()
    return mistake, chosen, catalog.path, kept


def remove_mistake(course: Course, assignment_id: str, question: str, name: str) -> tuple[Path, Path | None]:
    """Take a course mistake out of mistakes.yml: (its path, where the file as it was is kept, as add_mistake)."""
    assignment = course.assignment(assignment_id)
    with editing(course.root, course.state):
        catalog = Catalog.load(course.root, course.set_up_ids())
        catalog.of(assignment)
        kept = catalog.without(assignment_id, question, name).save()
    return catalog.path, kept


def list_mistakes(course: Course, assignment_id: str) -> str:
    """Every known mistake of an assignment, per question: the suite's, then the course's (with the students
    it names now, and whether the probe set it was defined on is still the course's)."""
    assignment = course.assignment(assignment_id)
    named = Catalog.load(course.root, course.set_up_ids()).of(assignment)
    try:
        cohort: Cohort | None = build(course, assignment_id)
    except UsageError:
        cohort = None  # nothing graded yet: the catalogs alone
    seed = probe_seed(course.secret(), assignment_id)
    lines = []
    for question in assignment.suite.questions:
        counts: dict[tuple[str, str], int] = {}
        if cohort is not None:
            counts = {(m.name, m.origin): m.count for m in cohort.question(question.name).mistakes}
        lines.append(f"{question.name}:")
        for mistake in question.mistakes:
            lines.append(f"  suite   {mistake.name:<28} {counts.get((mistake.name, 'suite'), 0):>4} students")
        probes = probe_set(question, seed)
        for mistake in (m for m in named.mistakes if m.question == question.name):
            stale = "" if probes is not None and probes.key == mistake.probe_set else \
                "  (defined on another probe set: it names no one; remove it and name a cluster again)"
            lines.append(f"  course  {mistake.name:<28} {counts.get((mistake.name, 'course'), 0):>4} students  "
                         f"{mistake.feedback[:60]}{stale}")
    path = course.root / MISTAKES_FILE
    lines.append(f"course catalog: {path}" + ("" if path.is_file() else " (none yet: `dlgrade mistakes add`)"))
    return "\n".join(lines) + "\n"
