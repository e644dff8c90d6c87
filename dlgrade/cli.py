"""The dlgrade command line: grade, release, validate, autograde, export, demo.

Exit status: 0 when the command did its job (a graded submission, whatever its score), 2 with one line on
stderr for unusable input, 1 for a failed validation.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

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


def cmd_grade(args: argparse.Namespace) -> int:
    from dlgrade import assignments, report
    from dlgrade.grading import Grader
    from dlgrade.notebook import find_submission_file

    assignment = assignments.load(args.assignment)
    path = find_submission_file(Path(args.path), assignment.id)
    sandbox = _sandbox_from(args)
    try:
        result = Grader(assignment, sandbox).grade(path)
    finally:
        sandbox.close()
    if args.json:
        report.write_json(result, Path(args.json))
    if args.html:
        report.write_html(result, Path(args.html))
    print(report.table(result))
    for note in result.notes:
        print(f"note: {note}")
    if args.verbose:
        for question in result.questions:
            if question.status != "passed":
                print(f"\n[{question.name}] {question.feedback}")
    return 0


def cmd_release(args: argparse.Namespace) -> int:
    from dlgrade import assignments
    from dlgrade.release import release

    ids = assignments.known_ids() if args.id == "all" else [args.id]
    for assignment_id in ids:
        out = release(assignments.load(assignment_id), assignments.TEMPLATES_DIR)
        print(f"released {assignment_id} -> {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from dlgrade.validate import validate

    return 0 if validate(args.id, no_sandbox=args.no_sandbox) else 1


def cmd_demo(args: argparse.Namespace) -> int:
    from dlgrade.demo import run_demo

    return run_demo(no_sandbox=args.no_sandbox)


def _add_sandbox_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-sandbox", action="store_true",
                        help="run student code without bubblewrap (only on a machine you can afford to lose)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dlgrade", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)

    grade = commands.add_parser("grade", help="grade one submission (a notebook, a .py file or a folder)")
    grade.add_argument("path")
    grade.add_argument("--assignment", required=True)
    grade.add_argument("--json", help="write Gradescope-style results JSON here")
    grade.add_argument("--html", help="write the HTML feedback page here")
    grade.add_argument("-v", "--verbose", action="store_true", help="print each failed question's feedback")
    _add_sandbox_flag(grade)
    grade.set_defaults(run=cmd_grade)

    release = commands.add_parser("release", help="generate student_template/<id>/ with nbgrader")
    release.add_argument("id", help="an assignment id, or 'all'")
    release.set_defaults(run=cmd_release)

    validate = commands.add_parser("validate", help="prove each suite: solution full marks, template zero, "
                                                    "every known mistake caught and named, templates current")
    validate.add_argument("id", nargs="?", default=None)
    _add_sandbox_flag(validate)
    validate.set_defaults(run=cmd_validate)

    demo = commands.add_parser("demo", help="grade the sample class on a temporary nbgrader course")
    _add_sandbox_flag(demo)
    demo.set_defaults(run=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except UsageError as error:
        print(f"dlgrade: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dlgrade: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
