"""The service's commands: `dlgrade serve`, `dlgrade tokens issue|revoke|list`, `dlgrade submit` and
`dlgrade queue`. Each lives in its own function and sub-parser; heavy imports happen only when one runs."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from dlgrade.errors import UsageError


def _course(args: argparse.Namespace):  # noqa: ANN202 - dlgrade.course is imported lazily
    from dlgrade.course import Course

    return Course.open(Path(args.course) if args.course else Path.cwd())


def _store(args: argparse.Namespace):  # noqa: ANN202
    from dlgrade.service.store import Store

    return Store(_course(args).state).create()


def cmd_serve(args: argparse.Namespace) -> int:
    from dlgrade.service.server import serve

    return serve(Path(args.course) if args.course else Path.cwd(), host=args.host, port=args.port,
                 workers=args.workers, scheduler=args.scheduler, ssl_certfile=args.ssl_certfile,
                 ssl_keyfile=args.ssl_keyfile, insecure_http=args.insecure_http, sandboxed=not args.no_sandbox)


def cmd_tokens_issue(args: argparse.Namespace) -> int:
    from dlgrade.service import tokens

    course = _course(args)
    store = _store(args)
    role = "instructor" if args.instructor else "student"
    names = list(args.names)
    if not names:
        if args.instructor:
            raise UsageError("name the instructor: dlgrade tokens issue --instructor NAME")
        with course.gradebook() as book:
            known = sorted(student.id for student in book.students)
        have = {name for name, kind, _ in tokens.holders(store) if kind == "student"}
        names = [name for name in known if name not in have]
        if not names:
            print(f"every student of the gradebook ({len(known)}) has a token; name students to issue new ones",
                  file=sys.stderr)
            return 0
    for name in names:
        tokens.check_name(name)
    if args.out and not args.server:
        raise UsageError("--out needs --server: the token files say where to submit")
    for name in names:
        token = tokens.issue(store, name, role)
        print(f"{name}\t{token}")
        if args.out:
            folder = Path(args.out) / name
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / "dlgrade-token.json"
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump({"server": args.server, "token": token, "name": name}, stream)
                stream.write("\n")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace) -> int:
    from dlgrade.service import tokens

    role = "instructor" if args.instructor else "student"
    if not tokens.revoke(_store(args), args.name, role):
        raise UsageError(f"{args.name} has no {role} token")
    print(f"revoked the {role} token of {args.name}")
    return 0


def cmd_tokens_list(args: argparse.Namespace) -> int:
    from dlgrade.service import tokens
    from dlgrade.service.store import iso

    for name, role, issued in tokens.holders(_store(args)):
        print(f"{name}\t{role}\tissued {iso(issued)}")
    return 0


def cmd_submit(args: argparse.Namespace) -> int:
    from dlgrade.checking.client import SubmitError, describe, find_credentials, send, wait_graded

    path = Path(args.file)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    try:
        server, token = find_credentials(args.server, args.token, path.resolve().parent, args.token_file)
        accepted = send(server, token, args.assignment, path.read_bytes())
        print(f"submitted {path.name}: {accepted.get('status')}{' (late)' if accepted.get('late') else ''}; "
              f"submission {accepted.get('id')}", flush=True)
        if args.no_wait:
            return 0
        status = wait_graded(server, token, str(accepted.get("id")), args.timeout,
                             lambda text: print(text, file=sys.stderr, flush=True))
    except SubmitError as error:
        raise UsageError(str(error)) from None
    if args.json:
        Path(args.json).write_text(json.dumps(status, indent=2) + "\n")
    print(describe(status))
    return 0 if status.get("status") == "graded" else 1


def cmd_queue(args: argparse.Namespace) -> int:
    """The counts of each status and the rows, both of the student and the assignment asked for; an assignment
    the course does not have, or a name no student can have, is one line (exit 2)."""
    from dlgrade.service import tokens
    from dlgrade.service.store import ACTIVE, Store, iso

    course = _course(args)
    store = Store(course.state).create()
    if args.assignment is not None:
        known = set(course.set_up_ids()) | store.assignments()
        if args.assignment not in known:
            raise UsageError(f"--assignment {args.assignment!r}: not an assignment of this course (it has: "
                             f"{', '.join(sorted(known)) or 'none set up'})")
    if args.student is not None:
        tokens.check_name(args.student)
        rows = store.history(args.student, args.assignment)
    else:
        rows = store.rows(None if args.all else ACTIVE, args.assignment)
    counts = store.counts(args.student, args.assignment)
    print("  ".join(f"{status} {counts.get(status, 0)}" for status in ("queued", "grading", "graded", "refused",
                                                                      "failed")))
    for row in rows:
        score = f"{row.score:g}/{row.max_score:g}" if row.score is not None and row.max_score is not None else "-"
        flags = ("in force" if row.in_force else "") + (" not recorded" if row.status == "graded" and
                                                         not row.recorded else "")
        print(f"{row.id}  {iso(row.submitted_at)}  {row.student:<16} {row.assignment:<10} {row.status:<8} "
              f"{score:>9}  {flags.strip()}  {row.detail[:80]}".rstrip())
    if not rows:
        of = f" of {args.assignment}" if args.assignment else ""
        print(f"{args.student} has no submissions{of}" if args.student is not None else
              f"no submission{of} {'at all' if args.all else 'is queued or being graded (--all: every one)'}")
    return 0


def add_parsers(commands: argparse._SubParsersAction) -> None:
    def course_flag(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--course", help="the nbgrader course directory (default: the current directory)")

    serve = commands.add_parser("serve", help="grade on submit: an HTTP service for students' notebooks")
    course_flag(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8642, help="port (default: 8642)")
    serve.add_argument("--workers", type=int, help="local grading workers (default: the cores)")
    serve.add_argument("--scheduler", metavar="ADDRESS", help="grade on the Dask cluster at this scheduler")
    serve.add_argument("--ssl-certfile", help="TLS certificate (PEM); with --ssl-keyfile")
    serve.add_argument("--ssl-keyfile", help="TLS private key (PEM)")
    serve.add_argument("--insecure-http", action="store_true",
                       help="allow plain HTTP on a non-loopback --host (behind a TLS proxy of your own)")
    serve.add_argument("--no-sandbox", action="store_true",
                       help="run student code without bubblewrap (only on a machine you can afford to lose)")
    serve.set_defaults(run=cmd_serve)

    tokens = commands.add_parser("tokens", help="students' (and instructors') tokens for dlgrade serve")
    actions = tokens.add_subparsers(dest="action", required=True)
    issue = actions.add_parser("issue", help="print a new token per student (default: each student of the "
                                             "gradebook without one); it replaces an earlier one")
    issue.add_argument("names", nargs="*", metavar="STUDENT")
    course_flag(issue)
    issue.add_argument("--instructor", action="store_true", help="an instructor's token (the queue, any history)")
    issue.add_argument("--out", help="also write DIR/<student>/dlgrade-token.json, to hand to each student")
    issue.add_argument("--server", help="the service's URL written into the token files (with --out)")
    issue.set_defaults(run=cmd_tokens_issue)
    revoke = actions.add_parser("revoke", help="revoke a student's token (it stops working at once)")
    revoke.add_argument("name", metavar="STUDENT")
    course_flag(revoke)
    revoke.add_argument("--instructor", action="store_true", help="revoke an instructor's token")
    revoke.set_defaults(run=cmd_tokens_revoke)
    listing = actions.add_parser("list", help="who has a token (never the tokens themselves)")
    course_flag(listing)
    listing.set_defaults(run=cmd_tokens_list)

    submit = commands.add_parser("submit", help="submit a notebook to a dlgrade serve and print its feedback")
    submit.add_argument("file")
    submit.add_argument("--assignment", required=True)
    submit.add_argument("--server", help="the service's URL (default: $DLGRADE_SERVER or the token file)")
    submit.add_argument("--token", help="your token (default: $DLGRADE_TOKEN or the token file)")
    submit.add_argument("--token-file", help="a dlgrade-token.json (default: beside the notebook or in ~)")
    submit.add_argument("--no-wait", action="store_true", help="only submit; do not wait for the grade")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the grade (600)")
    submit.add_argument("--json", help="write the final status (with its results) here")
    submit.set_defaults(run=cmd_submit)

    queue = commands.add_parser("queue", help="the service's queue, or a student's history (instructors)")
    course_flag(queue)
    queue.add_argument("--student", help="this student's submissions, newest first")
    queue.add_argument("--assignment", help="only this assignment")
    queue.add_argument("--all", action="store_true", help="every submission, not only queued and grading")
    queue.set_defaults(run=cmd_queue)
