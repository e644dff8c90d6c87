"""The dlgrade command line: grade, release, validate, autograde, export, demo, serve, report, mistakes.

Exit status: 0 when the command did its job (a graded submission, whatever its score), 2 with one line on
stderr for unusable input, 1 for a failed validation, or when a batch (autograde, collect) refused some
students' submissions (one line each on stderr) and did the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from dlgrade.boundary.text import plain
from dlgrade.errors import UsageError


def _sandbox_from(args: argparse.Namespace):  # noqa: ANN202 - imported lazily to keep `--help` fast
    from dlgrade.sandbox.launcher import Sandbox, SandboxUnavailable, bwrap_path

    if not args.no_sandbox and bwrap_path() is None:
        raise UsageError("bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) or "
                         "pass --no-sandbox to grade without isolation")
    sandbox = Sandbox(sandboxed=not args.no_sandbox)
    try:
        sandbox.start()
    except SandboxUnavailable as error:
        raise UsageError(f"the sandbox does not start here: {error}") from None
    return sandbox


def _packs(args: argparse.Namespace):  # noqa: ANN202 - where an assignment id is looked up (dlgrade.content)
    """The content packs of --course (default: the current directory): the course's own assignments, its
    dlgrade.yml's content folders, then the built-in ones."""
    from dlgrade.content import packs_of

    return packs_of(Path(args.course) if getattr(args, "course", None) else Path.cwd())


def submission_owner(path: Path, assignment_id: str, student: str | None = None,
                     course: Path | None = None) -> tuple[str | None, bytes | None]:
    """(student, numbers secret) of a submission graded on its own: ``student`` if given, else the <student> of
    a dlgrade course's submitted/<student>/<id>/ (or autograded/) that ``path`` lies in; the secret of ``course``
    or of the course ``path`` lies in, else None (the project's student_template numbers)."""
    from dlgrade.course import SECRET_FILE, SETTINGS_FILE, STATE_DIR

    path = path.resolve()
    root = Path(course).resolve() if course else next(
        (folder for folder in (path, *path.parents) if (folder / STATE_DIR / SETTINGS_FILE).is_file()), None)
    if root is None or not (root / STATE_DIR / SETTINGS_FILE).is_file():
        return student, None  # not a course (a --course that only holds content has no students' numbers)
    if student is None and path.is_relative_to(root):
        parts = path.relative_to(root).parts
        if len(parts) >= 3 and parts[0] in ("submitted", "autograded") and parts[2] == assignment_id:
            student = parts[1]
    # Only the secret: grading one file needs neither the course's nbgrader config nor its gradebook.
    try:
        return student, (root / STATE_DIR / SECRET_FILE).read_bytes()
    except OSError as error:
        raise UsageError(f"{root / STATE_DIR / SECRET_FILE}: the course secret is unreadable "
                         f"({error.strerror}); `dlgrade setup` makes one") from None


def cmd_grade(args: argparse.Namespace) -> int:
    from dlgrade import report
    from dlgrade.grading import Grader, InfrastructureFailure
    from dlgrade.notebook import find_submission_file

    assignment = _packs(args).load(args.assignment)
    path = find_submission_file(Path(args.path), assignment.id)
    student, numbers_secret = submission_owner(Path(args.path), assignment.id, args.student,
                                               Path(args.course) if args.course else None)
    sandbox = _sandbox_from(args)
    try:
        grader = Grader(assignment, sandbox) if numbers_secret is None else \
            Grader(assignment, sandbox, numbers_secret=numbers_secret)
        result = grader.grade(path, student)
    except InfrastructureFailure as failure:  # the platform's fault, twice: no score at all, no results written
        print(f"dlgrade: {path}: {failure}", file=sys.stderr)
        return 1
    finally:
        sandbox.close()
    if args.json:
        report.write_json(result, Path(args.json))
    if args.html:
        report.write_html(result, Path(args.html))
    print(plain(report.table(result)))  # student text reaches the terminal only plain: no escape sequences
    for note in result.notes:
        print(plain(f"note: {note}"))
    if args.verbose:
        for question in result.questions:
            if question.status != "passed":
                print(plain(f"\n[{question.name}] {question.feedback}"))
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from dlgrade.release import ReleaseError, release

    packs = _packs(args)
    ids = list(packs.ids()) if args.id == "all" else [args.id]
    for assignment in [packs.load(assignment_id) for assignment_id in ids]:
        try:
            out = release(assignment, assignment.root / "student_template")
        except ReleaseError as error:
            raise UsageError(str(error).strip().splitlines()[0]) from None
        print(f"released {assignment.id} -> {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from dlgrade.validate import validate

    mutants = args.mutants.strip().lower()
    if mutants not in ("all", "none") and not (mutants.isdigit() and int(mutants) > 0):
        raise UsageError(f"--mutants {args.mutants!r}: give a number of mutants per question, 'all' or 'none'")
    return 0 if validate(args.id, no_sandbox=args.no_sandbox, packs=_packs(args), mutation=mutants != "none",
                         mutants=None if mutants in ("all", "none") else int(mutants)) else 1


# ---- instructors' own assignments (dlgrade.authoring) -----------------------------------------------------------


def cmd_new(args: argparse.Namespace) -> int:
    from dlgrade.authoring.skeleton import write_skeleton

    course = Path(args.course) if args.course else Path.cwd()
    packs = _packs(args)  # a broken dlgrade.yml is said before anything is written
    notebook, suite = write_skeleton(args.id, course)
    shown = f" --course {course}" if args.course else ""
    print(f"wrote {notebook}\nwrote {suite}")
    for line in packs.shadowed():
        if line.startswith(f"{args.id}:"):
            print(f"note: {line}")
    print(f"next: edit both, then `dlgrade validate {args.id}{shown}`, `dlgrade mutants {args.id}{shown}`, and "
          f"`dlgrade setup {args.id}{shown}` to release it into the course (docs/authoring.md)")
    return 0


def _positive_int(option: str, text: str | None) -> int | None:
    """``text`` as a whole number of at least 1 (None stays None); UsageError naming ``option`` otherwise."""
    if text is None:
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise UsageError(f"{option} {text!r}: give a whole number of at least 1")
    return value


def _percent(option: str, text: str | None) -> float | None:
    """``text`` as a percentage from 0 to 100 (None stays None); UsageError naming ``option`` otherwise."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0.0 <= value <= 100.0:  # NaN fails too
        raise UsageError(f"{option} {text!r}: give a percentage from 0 to 100")
    return value


def cmd_mutants(args: argparse.Namespace) -> int:
    from dlgrade.authoring.mutants import run_mutants

    limit, fail_under = _positive_int("--limit", args.limit), _percent("--fail-under", args.fail_under)
    assignment = _packs(args).load(args.id)
    return run_mutants(assignment, args.question, no_sandbox=args.no_sandbox, limit=limit, fail_under=fail_under)


def _add_authoring_parsers(commands: argparse._SubParsersAction) -> None:
    new = commands.add_parser("new", help="write a working assignment skeleton (notebook and suite) into a course")
    new.add_argument("id", help="the new assignment's id (lower-case letters, digits, _)")
    new.add_argument("--course", help="the course (or content folder) to write it into (default: the current "
                                      "directory)")
    new.set_defaults(run=cmd_new)

    mutants = commands.add_parser("mutants", help="mutation-test a suite: grade mutants of each solution the way "
                                                  "students err; report what the suite misses")
    mutants.add_argument("id", help="an assignment id")
    mutants.add_argument("question", nargs="?", default=None, help="only this question")
    mutants.add_argument("--limit", default=None, metavar="N",
                         help="at most N mutants per question, chosen deterministically (default: all)")
    mutants.add_argument("--fail-under", default=None, metavar="PERCENT",
                         help="exit 1 when a question's mutation score is under PERCENT")
    _add_content_flag(mutants)
    _add_sandbox_flag(mutants)
    mutants.set_defaults(run=cmd_mutants)


def cmd_demo(args: argparse.Namespace) -> int:
    from dlgrade.demo import run_demo

    return run_demo(no_sandbox=args.no_sandbox)


def cmd_export(args: argparse.Namespace) -> int:
    from dlgrade.interop import export

    paths = export(args.id, args.format, Path(args.out) if args.out else None, seed=args.seed,
                   allow_unsandboxed=args.allow_no_sandbox, assignment=_packs(args).load(args.id))
    for path in paths:
        print(f"exported {args.id} ({args.format}) -> {path}")
    return 0


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="write a Gradescope autograder zip, or otter-grader tests and zip")
    export.add_argument("id", help="an assignment id")
    _add_content_flag(export)
    export.add_argument("--format", required=True, choices=("gradescope", "otter"))
    export.add_argument("--out", help="output folder (default: export/<id>-<format>)")
    export.add_argument("--seed", type=int, help="otter: the seed of the hidden cases baked into the tests")
    export.add_argument("--allow-no-sandbox", action="store_true",
                        help="gradescope: grade without bubblewrap where it cannot start in the container")
    export.set_defaults(run=cmd_export)


# ---- the course workflow on nbgrader (dlgrade.course, dlgrade.autograde) ------------------------------------


def _course(args: argparse.Namespace):  # noqa: ANN202 - dlgrade.course is imported lazily
    from dlgrade.course import Course
    from dlgrade.formgrader import configured

    course = Course.open(Path(args.course) if args.course else Path.cwd())
    if not configured(course.config):
        print(f"dlgrade: warning: {course.root / 'nbgrader_config.py'} lacks dlgrade's hooks: formgrader's Autograde "
              "would give check() cells full marks; rerun `dlgrade setup` to add them", file=sys.stderr)
    return course


def cmd_setup(args: argparse.Namespace) -> int:
    from dlgrade import assignments
    from dlgrade.course import setup

    course = setup(Path(args.course) if args.course else Path.cwd(), args.ids,
                   assignments_root=Path(args.project) if args.project else assignments.PROJECT_ROOT,
                   course_id=args.course_id, exchange=Path(args.exchange) if args.exchange else None,
                   publish=args.publish, force=args.force)
    print(f"course {course.course_id} at {course.root}; gradebook {course.gradebook_label}")
    return 0


def cmd_collect(args: argparse.Namespace) -> int:
    from dlgrade.course import collect, zip_collect

    course = _course(args)
    if args.zip is not None:
        done = zip_collect(course, args.id, [Path(p) for p in args.zip], force=args.force)
    else:
        done = collect(course, args.id, update=not args.no_update)
    print(plain(f"collected {len(done.students)} submission(s) of {args.id}: {', '.join(done.students) or 'none new'}"))
    if done.skipped:
        shown = ", ".join(done.skipped[:10]) + (f" and {len(done.skipped) - 10} more" if len(done.skipped) > 10 else "")
        print(plain(f"not collected: {len(done.skipped)} file(s) of the download that are no student's "
                    f"{args.id} notebook or script by their names: {shown}"))
    for line in done.refused:
        print(plain(f"dlgrade: refused {line}"), file=sys.stderr)
    return 1 if done.refused else 0


def _submitted_count(args: argparse.Namespace) -> int:
    """The submissions an autograde may have to grade, counted cheaply (before nbgrader's import) in the default
    layout: no more sandboxes are started early than there can be work for (batch.run caps the rest)."""
    root = Path(args.course) if args.course else Path.cwd()
    if args.student:
        return sum(1 for student in set(args.student) if (root / "submitted" / student / args.id).is_dir())
    return sum(1 for folder in (root / "submitted").glob(f"*/{args.id}") if folder.is_dir())


def cmd_autograde(args: argparse.Namespace) -> int:
    from dlgrade.batch import prelaunch

    root = Path(args.course) if args.course else Path.cwd()
    if not ((root / ".dlgrade" / "course.json").is_file() and (root / "nbgrader_config.py").is_file()):
        _course(args)  # no course, or no config: said before any sandbox starts (one stopped mid-start can linger)
    scheduler = args.scheduler or None  # --scheduler, else $DLGRADE_SCHEDULER (the parser's default)
    # The sandboxes import torch while we import nbgrader and the suites (none here when a cluster grades).
    launching = contextlib.nullcontext([]) if scheduler else \
        prelaunch(args.workers, sandboxed=not args.no_sandbox, at_most=_submitted_count(args))
    with launching as early:
        from dlgrade.autograde import autograde

        course = _course(args)
        rows = autograde(course, [args.id], students=args.student or (), workers=args.workers, force=args.force,
                         sandboxed=not args.no_sandbox, early=early, scheduler=scheduler)
    from dlgrade.course import shown_student

    bad = [row for row in rows if row.state in ("refused", "failed")]
    for row in bad:
        print(plain(f"dlgrade: {shown_student(row.student)}: {row.state}: {row.detail}"), file=sys.stderr)
    print(f"gradebook {course.gradebook_label}; feedback in {course.root / 'feedback'}")
    return 1 if bad else 0


def cmd_feedback(args: argparse.Namespace) -> int:
    from dlgrade.autograde import refresh_feedback
    from dlgrade.course import release_feedback

    course = _course(args)
    skipped: list[str] = []
    students = refresh_feedback(course, args.id, skipped)
    print(f"feedback of {len(students)} student(s) in {course.root / 'feedback'} (scores as in the gradebook)")
    for line in skipped:
        print(plain(f"no feedback for {line}"))
    if args.release:
        left_out = release_feedback(course, args.id, students)
        print(f"released to the exchange for {len(students) - len(left_out)} student(s) (they get it with "
              "`nbgrader fetch_feedback`)")
        if left_out:
            print(plain(f"not in the exchange (collected from a zip): {', '.join(left_out)}; hand them "
                        f"feedback/<student>/{args.id}/{args.id}.html through your LMS"))
    return 0


def cmd_export_grades(args: argparse.Namespace) -> int:
    from dlgrade.autograde import export_gradescope
    from dlgrade.course import export_csv

    course = _course(args)
    target = Path(args.to) if args.to else course.root / "export"
    ids = [args.assignment] if args.assignment else course.set_up_ids()
    for assignment_id in ids:
        course.assignment(assignment_id)
    print(f"grades CSV (nbgrader) -> {export_csv(course, target / 'grades.csv', ids if args.assignment else ())}")
    for assignment_id in ids:
        path = export_gradescope(course, assignment_id, target / f"{assignment_id}.gradescope.json")
        print(f"Gradescope JSON -> {path}")
    return 0


def _add_course_parsers(commands: argparse._SubParsersAction) -> None:
    def course_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--course", help="the nbgrader course directory (default: the current directory)")

    setup = commands.add_parser("setup", help="set up an nbgrader course from assignments/ and release into it")
    setup.add_argument("ids", nargs="*", help="assignment ids (default: all)")
    course_flag(setup)
    setup.add_argument("--course-id", help="nbgrader's course_id (default: the folder's name)")
    setup.add_argument("--exchange", help="the nbgrader exchange root (set in nbgrader_config.py, new or not)")
    setup.add_argument("--publish", action="store_true",
                       help="also publish to the exchange (nbgrader release_assignment) for students to fetch")
    setup.add_argument("--project", help="folder holding assignments/ and autograders/ (default: this project)")
    setup.add_argument("--force", action="store_true",
                       help="replace a source/<id>/ edited in the course with the project's (a copy is kept)")
    setup.set_defaults(run=cmd_setup)

    collect = commands.add_parser("collect", help="collect submissions: nbgrader's exchange, or LMS zips (--zip)")
    collect.add_argument("id")
    course_flag(collect)
    collect.add_argument("--zip", nargs="*", metavar="ARCHIVE",
                         help="collect LMS downloads as nbgrader zip_collect does (these files, or those already "
                              "in downloaded/<id>/archive/)")
    collect.add_argument("--force", action="store_true", help="--zip: replace submissions collected before")
    collect.add_argument("--no-update", action="store_true", help="exchange: keep submissions collected before")
    collect.set_defaults(run=cmd_collect)

    autograde = commands.add_parser("autograde", help="grade every submission into nbgrader's gradebook")
    autograde.add_argument("id")
    course_flag(autograde)
    autograde.add_argument("--workers", type=int, help="grading processes (default: the cores)")
    autograde.add_argument("--force", action="store_true", help="regrade submissions graded before")
    autograde.add_argument("--student", action="append", help="only this student (repeatable)")
    autograde.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("DLGRADE_SCHEDULER"),
                           help="grade on the Dask cluster of this scheduler (tcp://HOST:PORT; default: "
                                "$DLGRADE_SCHEDULER) instead of this machine's pool; see docs/cluster.md")
    _add_sandbox_flag(autograde)
    autograde.set_defaults(run=cmd_autograde)

    feedback = commands.add_parser("feedback", help="rewrite feedback with the gradebook's scores (after manual "
                                                    "grading); --release hands it out through the exchange")
    feedback.add_argument("id")
    course_flag(feedback)
    feedback.add_argument("--release", action="store_true", help="nbgrader release_feedback to the exchange")
    feedback.set_defaults(run=cmd_feedback)

    grades = commands.add_parser("export-grades", help="grades CSV (nbgrader's export) and a Gradescope-style "
                                                       "JSON per assignment")
    course_flag(grades)
    grades.add_argument("--assignment", help="only this assignment")
    grades.add_argument("--to", help="output folder (default: <course>/export)")
    grades.set_defaults(run=cmd_export_grades)


# ---- a grading node of a Dask cluster (dlgrade.cluster) -------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    from dlgrade.cluster.worker import run_worker

    extra = list(args.dask_args)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    return run_worker(args.scheduler, args.slots, args.name, args.project or (), extra, args.connect_timeout,
                      warm=args.warm)


def _add_worker_parser(commands: argparse._SubParsersAction) -> None:
    worker = commands.add_parser("worker", help="run a grading node of a Dask cluster (`dask worker` with one warm "
                                                "sandbox per slot); see docs/cluster.md")
    worker.add_argument("--scheduler", metavar="ADDRESS", default=os.environ.get("DLGRADE_SCHEDULER"),
                        help="the Dask scheduler, tcp://HOST:PORT or tls://HOST:PORT (default: $DLGRADE_SCHEDULER)")
    worker.add_argument("--slots", type=int, help="submissions graded at once: worker processes of one thread and "
                                                  "one sandbox each (default: the cores)")
    worker.add_argument("--name", help="the node's name in progress lines and Dask (default: HOST-PID; with several "
                                       "slots, NAME-0, NAME-1, ...)")
    worker.add_argument("--project", action="append", metavar="DIR",
                        help="a folder with assignments/ and autograders/ this node grades (repeatable; default: "
                             "the installed dlgrade's)")
    worker.add_argument("--warm", nargs="*", metavar="ID",
                        help="before taking tasks, grade these assignments' own solutions once on every slot (all "
                             "of the node's when no ID is given), so that its first submissions are graded as fast "
                             "as later ones: a standing node's choice")
    worker.add_argument("--connect-timeout", type=float, default=60.0, metavar="SECONDS",
                        help="how long to wait for the scheduler to listen before giving up (default: 60)")
    worker.add_argument("dask_args", nargs=argparse.REMAINDER,
                        help="after --: arguments for `dask worker` itself (-- --host 10.0.0.5 --memory-limit 8GB)")
    worker.set_defaults(run=cmd_worker)


# ---- instructor insight (dlgrade.insight) ---------------------------------------------------------------------


def cmd_report(args: argparse.Namespace) -> int:
    from dlgrade.insight.commands import report

    written = report(_course(args), args.id, Path(args.out) if args.out else None, args.format, sys.stdout)
    if written is not None:
        print(f"report of {args.id} ({args.format}) -> {written}", file=sys.stderr if args.format != "html"
              else sys.stdout)
    return 0


def cmd_mistakes(args: argparse.Namespace) -> int:
    from dlgrade.insight import commands

    course = _course(args)
    if args.action == "add":
        mistake, chosen, path, kept = commands.add_mistake(course, args.id, args.question, args.cluster,
                                                           args.name, args.feedback)
        print(f"{args.id}.{args.question}: course mistake {mistake.name!r} (cluster {chosen.number}: "
              f"{chosen.size} student{'s' if chosen.size != 1 else ''}: {', '.join(chosen.students)}) -> {path}")
        print(f"the next `dlgrade autograde {args.id}` names it in their feedback (no regrading, no score changes)")
        _said_kept(path, kept)
    elif args.action == "remove":
        path, kept = commands.remove_mistake(course, args.id, args.question, args.name)
        print(f"{args.id}.{args.question}: course mistake {args.name!r} removed from {path}; the next "
              f"`dlgrade autograde {args.id}` takes it out of the feedback")
        _said_kept(path, kept)
    else:
        sys.stdout.write(commands.list_mistakes(course, args.id))
    return 0


def _said_kept(path: Path, kept: Path | None) -> None:
    if kept is not None:
        print(f"{path.name} is written anew and its comments are not kept: the file as it was is {kept}")


def _add_insight_parsers(commands: argparse._SubParsersAction) -> None:
    def course_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--course", help="the nbgrader course directory (default: the current directory)")

    report = commands.add_parser("report", help="the class report of an assignment: statistics, known mistakes, "
                                                "clusters of unexplained failures, links to feedback")
    report.add_argument("id")
    course_flag(report)
    report.add_argument("--out", help="write here (default: html to <course>/reports/<id>.html, text and csv to "
                                      "stdout)")
    report.add_argument("--format", default="html", choices=("html", "text", "csv"))
    report.set_defaults(run=cmd_report)

    mistakes = commands.add_parser("mistakes", help="the course's own known mistakes (mistakes.yml), named from "
                                                    "the report's clusters")
    actions = mistakes.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="name a cluster of the report as a course-level known mistake")
    add.add_argument("id")
    add.add_argument("question")
    add.add_argument("--cluster", type=int, required=True, metavar="K", help="the cluster's number in the report")
    add.add_argument("--name", required=True, help="the mistake's name (letters, digits, _ and -)")
    add.add_argument("--feedback", required=True, help="what students who made it read")
    course_flag(add)
    remove = actions.add_parser("remove", help="remove a course-level known mistake")
    remove.add_argument("id")
    remove.add_argument("question")
    remove.add_argument("name")
    course_flag(remove)
    listing = actions.add_parser("list", help="the suite's and the course's known mistakes, with their students")
    listing.add_argument("id")
    course_flag(listing)
    mistakes.set_defaults(run=cmd_mistakes)
def _add_content_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--course", help="a course (or content folder) whose own assignments come before the "
                                         "built-in ones (default: the current directory); see docs/authoring.md")


def _add_sandbox_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without bubblewrap (only on a machine you can afford to lose)")


# ---- grading on submit (dlgrade.service): serve, tokens, submit, queue ------------------------------------------


def _add_service_parsers(commands: argparse._SubParsersAction) -> None:
    from dlgrade.service.commands import add_parsers

    add_parsers(commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlgrade", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one submission (a notebook, a .py file or a folder)")
    grade.add_argument("path")
    grade.add_argument("--assignment", required=True)
    grade.add_argument("--json", help="write Gradescope-style results JSON here")
    grade.add_argument("--html", help="write the HTML feedback page here")
    grade.add_argument("-v", "--verbose", action="store_true", help="print each failed question's feedback")
    grade.add_argument("--student", help="whose submission it is: hand-computed questions use each student's own "
                                         "numbers (default: from a course's submitted/<student>/<id>/ path)")
    grade.add_argument("--course", help="the course: its own assignments come before the built-in ones (default: "
                                        "the current directory), and its students' own numbers are used (default: "
                                        "the course the path lies in, else the project's student_template)")
    _add_sandbox_flag(grade)
    grade.set_defaults(run=cmd_grade)

    release = commands.add_parser("release", help="generate student_template/<id>/ with nbgrader")
    release.add_argument("id", help="an assignment id, or 'all'")
    _add_content_flag(release)
    release.set_defaults(run=cmd_release)

    validate = commands.add_parser("validate", help="prove each suite: solution full marks, template zero, "
                                                    "every known mistake caught and named, templates current")
    from dlgrade.authoring import VALIDATE_SAMPLE

    validate.add_argument("id", nargs="?", default=None)
    validate.add_argument("--mutants", default=str(VALIDATE_SAMPLE), metavar="N|all|none",
                          help="mutants per question graded for its mutation score (a deterministic sample; default "
                               f"{VALIDATE_SAMPLE}), all of them, or none")
    _add_content_flag(validate)
    _add_sandbox_flag(validate)
    validate.set_defaults(run=cmd_validate)

    demo = commands.add_parser("demo", help="grade the sample class on a temporary nbgrader course")
    _add_sandbox_flag(demo)
    demo.set_defaults(run=cmd_demo)
    _add_export_parser(commands)
    _add_authoring_parsers(commands)
    _add_course_parsers(commands)
    _add_service_parsers(commands)
    _add_worker_parser(commands)
    _add_insight_parsers(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except UsageError as error:
        print(plain(f"dlgrade: {error}"), file=sys.stderr)
        return 2
    except OSError as error:  # a file system that refuses us (read-only, full, not ours): one line, not a traceback
        where = f"{error.filename}: " if error.filename else ""
        print(f"dlgrade: {where}{error.strerror or error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlgrade: interrupted", file=sys.stderr)
        return 130


def console() -> None:
    """The `dlgrade` command: main(), then exit with its code."""
    code = main()
    # Exiting, the interpreter would garbage-collect torch's and SQLAlchemy's objects one module at a time
    # (0.7 s of every command's end); frozen, they are skipped, while atexit handlers and finalizers still run.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    console()
