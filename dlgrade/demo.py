"""`dlgrade demo` (`make demo`): the whole course workflow on a temporary nbgrader course, in a few minutes.

Set up a course with every assignment, publish them to a private nbgrader exchange, have the sample class
(a correct, a blank, a buggy student per known mistake, and hostile ones) submit through that exchange with
nbgrader's own submit, collect, autograde in parallel, export, and say where everything is.

To stay within about three minutes on two cores, the whole sample class of FULL_CLASS is graded, and of every
other assignment a sample: the correct and the blank student, the first few known mistakes, two hostile students.
"""

from __future__ import annotations

import copy
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from dlgrade import assignments
from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from traitlets.config import Config

FULL_CLASS = ("losses",)  # graded student by student: every known mistake and every hostile submission
SAMPLE_MISTAKES = 3  # of each other assignment: this many buggy students (from different questions, if any)
SAMPLE_HOSTILE = ("hostile-always-equal", "hostile-exit")  # the infinite loop costs a full time-out: kept to one
DEMO_COURSE_ID = "dlgrade-demo"


def pick(students: Sequence, assignment_id: str) -> list:
    """The demo's students of one assignment."""
    if assignment_id in FULL_CLASS:
        return list(students)
    chosen = [s for s in students if s.kind in ("solution", "blank")]
    seen_questions: set[str | None] = set()
    for student in students:
        if student.kind == "mistake" and student.question not in seen_questions and \
                len(seen_questions) < SAMPLE_MISTAKES:
            seen_questions.add(student.question)
            chosen.append(student)
    chosen += [s for s in students if s.student in SAMPLE_HOSTILE]
    return chosen


def submit(course_config: Config, base: Path, course_id: str, student: str, assignment_id: str,
           notebook_path: Path) -> None:
    """A student's `nbgrader submit`: their folder <home>/<id>/ into the exchange's inbound, with its timestamp."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange import ExchangeError, ExchangeFactory

    home = base / "students" / student
    work = home / assignment_id
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(notebook_path, work / f"{assignment_id}.ipynb")
    config = copy.deepcopy(course_config)  # the course's exchange root, and the student's own folders
    config.Exchange.assignment_dir = str(home)
    config.Exchange.cache = str(home / ".nbgrader_cache")
    coursedir = CourseDirectory(config=config, root=str(home), course_id=course_id, assignment_id=assignment_id,
                                student_id=student)
    app = ExchangeFactory(config=config).Submit(coursedir=coursedir, authenticator=Authenticator(config=config),
                                                config=config)
    try:
        app.start()
    except ExchangeError as error:
        raise UsageError(f"nbgrader submit as {student}: {error}") from None


def run_demo(no_sandbox: bool = False, workers: int | None = None, keep: Path | None = None,
             out: TextIO = sys.stdout) -> int:
    """Run the demo; 0 when the class was graded as the sample class expects."""
    from dlgrade import sample_class
    from dlgrade.autograde import autograde, export_gradescope
    from dlgrade.batch import default_workers, prelaunch
    from dlgrade.course import collect, export_csv, setup
    from dlgrade.sandbox.launcher import bwrap_path

    started = time.monotonic()
    if not no_sandbox and bwrap_path() is None:
        raise UsageError("bubblewrap (bwrap) is not installed: `make demo` installs it as root; or run "
                         "`dlgrade demo --no-sandbox` on a machine you can afford to lose")
    base = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="dlgrade-demo-"))
    root, exchange = base / "course", base / "exchange"
    exchange.mkdir(parents=True, exist_ok=True)
    ids = assignments.known_ids()
    workers = workers or default_workers()

    def say(text: str) -> None:
        print(f"[{time.monotonic() - started:5.1f}s] {text}", file=out, flush=True)

    say(f"1/5 setting up an nbgrader course in {root} with {', '.join(ids)}; publishing to the exchange")
    course = setup(root, ids, course_id=DEMO_COURSE_ID, exchange=exchange, publish=True, use_templates=True,
                   log=lambda _line: None)
    with open(root / "nbgrader_config.py", "a") as config:  # the demo's students are all this one unix user
        config.write("\n# demo: every student is this one unix user\nc.ExchangeCollect.check_owner = False\n")
    course = type(course).open(root)

    say("2/5 the sample class submits with nbgrader's exchange (submit)")
    expected: dict[tuple[str, str], str] = {}
    scratch = base / "notebooks"
    for assignment_id in ids:
        students = pick(sample_class.build(assignments.load(assignment_id)), assignment_id)
        for student in students:
            path = student.write(scratch / student.student / f"{assignment_id}.ipynb")
            submit(course.config, base, DEMO_COURSE_ID, student.student, assignment_id, path)
            expected[(assignment_id, student.student)] = student.kind
        say(f"    {assignment_id}: {len(students)} students submitted")

    say("3/5 collecting (nbgrader's exchange collect)")
    with prelaunch(workers, sandboxed=not no_sandbox) as early:  # the sandboxes import torch while we collect
        for assignment_id in ids:
            done = collect(course, assignment_id)
            if done.refused:
                say(f"    {assignment_id}: refused {done.refused}")

        say(f"4/5 autograding {len(expected)} submissions on {workers} workers "
            f"({'no sandbox' if no_sandbox else 'bubblewrap sandbox'})")
        rows = autograde(course, ids, workers=workers, sandboxed=not no_sandbox, out=out, early=early)

    say("5/5 exporting grades")
    exported = root / "export"
    csv_path = export_csv(course, exported / "grades.csv")
    for assignment_id in ids:
        export_gradescope(course, assignment_id, exported / f"{assignment_id}.gradescope.json")

    problems = _check(rows, expected)
    elapsed = time.monotonic() - started
    print(f"\nDone in {elapsed:.0f} s: {len(rows)} submissions of {len(ids)} assignments graded.", file=out)
    print(f"  course      {root}  (nbgrader_config.py; try `nbgrader formgrader` there)", file=out)
    print(f"  gradebook   {course.db_url}", file=out)
    print(f"  feedback    {root / 'feedback'}/<student>/<id>/<id>.html and results.json", file=out)
    print(f"  grades CSV  {csv_path}", file=out)
    print(f"  Gradescope  {exported}/<id>.gradescope.json", file=out)
    for problem in problems:
        print(f"  UNEXPECTED  {problem}", file=out)
    return 1 if problems else 0


def _check(rows: Sequence, expected: dict[tuple[str, str], str]) -> list[str]:
    """What the sample class promises: the correct student gets full marks, the blank one zero, the buggy and
    hostile ones less than full marks; all are graded."""
    problems = []
    for row in rows:
        kind = expected.get((row.assignment_id, row.student))
        if row.state not in ("graded", "cached"):
            problems.append(f"{row.assignment_id}/{row.student}: {row.state}: {row.detail}")
        elif kind == "solution" and row.score < row.max_score:
            problems.append(f"{row.assignment_id}/{row.student}: the correct solution scored {row.score:g}")
        elif kind == "blank" and row.score > 0:
            problems.append(f"{row.assignment_id}/{row.student}: the blank notebook scored {row.score:g}")
        elif kind in ("mistake", "hostile") and row.score >= row.max_score:
            problems.append(f"{row.assignment_id}/{row.student}: full marks for a {kind} submission")
    return problems
