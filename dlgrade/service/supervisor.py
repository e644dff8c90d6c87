"""The grading process of `dlgrade serve`: the one trusted process that writes the course's records.

It takes queued submissions from the queue table (oldest first, only as many as the backend has free slots),
hands them to the backend, checks each result against its assignment (autograde.checked_result) and keeps it in
the queue table, then runs the gradebook step for it: the submission in force (the last graded, or the best,
by the assignment's policy) is copied into nbgrader's submitted/<student>/<id>/ with its timestamp and recorded
by autograde's Recorder, exactly as `dlgrade autograde` records it (record, autograded notebook, gradebook,
feedback), under autograde's course lock so the two never write the same course at once.

Every step is idempotent and its outcome is in the queue table before the next starts, so whatever stops this
process (SIGKILL included) loses nothing: on start, submissions that were being graded go back to the queue, and
graded ones whose gradebook step had not run get it. The serving process starts this one and talks to it
through two pipes: it is woken when a submission is queued, and it ticks the other pipe when a status changes.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlgrade.errors import UsageError
from dlgrade.service import TICK
from dlgrade.service.backends import Backend, Job, LocalPool, Outcome
from dlgrade.service.policy import Policy, load_policy
from dlgrade.service.store import Row, Store, hold_lock, write_durably

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

    from dlgrade.assignments import Assignment
    from dlgrade.autograde import Recorder
    from dlgrade.course import Course

log = logging.getLogger("dlgrade.service")

MAX_HANDOUTS = 4  # a submission handed out this often without an outcome (restarts, dead workers) fails
LOCK_FILE = "grader.lock"
IDLE_POLL = 1.0  # s between looks at the queue when nothing wakes us


class Supervisor:
    """Grades the queue with ``backend`` and records results; run() until stop()."""

    def __init__(self, course: Course, store: Store, policy: Policy, loaded: dict[str, Assignment],
                 backend: Backend, wake_fd: int | None = None, notify_fd: int | None = None) -> None:
        self.course, self.store, self.policy, self.loaded = course, store, policy, loaded
        self.backend, self.wake_fd, self.notify_fd = backend, wake_fd, notify_fd
        self.stopping = False
        self.parent = 0
        self.lock_busy_since: float | None = None

    # ---- talking to the serving process -------------------------------------------------------------------

    def tell(self, line: str) -> None:
        """A line for the serving process: at start-up 'ready' or 'fatal: ...', then ticks ('changed [SID]')."""
        if self.notify_fd is None:
            return
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self.notify_fd, (line + "\n").encode())

    def changed(self, sid: str = "") -> None:
        """Submission ``sid``'s status changed (none named: any may have): its long polls look again."""
        self.tell(f"{TICK} {sid}".rstrip())

    def _drain_wake(self) -> None:
        if self.wake_fd is None:
            return
        with contextlib.suppress(BlockingIOError, OSError):
            while os.read(self.wake_fd, 65536):
                pass

    def stop(self, *_: Any) -> None:
        self.stopping = True

    def orphaned(self) -> bool:
        """The serving process is gone (where PR_SET_PDEATHSIG did not end us already)."""
        return bool(self.parent) and os.getppid() != self.parent

    # ---- the loop ---------------------------------------------------------------------------------------

    def run(self, book: Gradebook) -> None:
        from dlgrade.autograde import Recorder

        recorder = Recorder(self.course, self.loaded, book)
        more = self.record_pending(recorder, book)
        also = [self.wake_fd] if self.wake_fd is not None else []
        while not self.stopping and not self.orphaned():
            self.dispatch()
            # With graded submissions still to record, only a look: a slot that frees meanwhile is not kept idle.
            outcomes, woken = self.backend.wait(0.0 if more else IDLE_POLL, also)
            if woken:
                self._drain_wake()
            for outcome in outcomes:
                self.finish(outcome)
            if outcomes:
                self.dispatch()  # freed slots get their next submission before we spend time recording
            if outcomes or more or self.lock_busy_since is not None:
                # One at a time, between looks at the backend: the students wait for grades, not for the gradebook.
                more = self.record_pending(recorder, book, limit=1)

    def dispatch(self) -> None:
        """As many queued submissions as the backend has free slots, oldest first."""
        for row in self.store.claim(self.backend.free()):
            self.hand_out(row)

    def hand_out(self, row: Row) -> None:
        if row.handouts > MAX_HANDOUTS:
            self.store.finish(row.id, "failed", f"could not be graded: handed to a grading process {MAX_HANDOUTS} "
                                                "times without an answer")
            log.error("failed %s (%s, %s): handed out %d times without an answer", row.id, row.student,
                      row.assignment, MAX_HANDOUTS)
        elif row.assignment not in self.loaded:
            self.store.finish(row.id, "failed", f"assignment {row.assignment} is no longer set up in this course")
        else:
            self.backend.submit(Job(row.id, row.assignment, self.store.notebook(row), row.digest, row.student))
            log.info("grading %s (%s, %s) on the %s backend%s", row.id, row.student, row.assignment,
                     self.backend.name, f", attempt {row.handouts}" if row.handouts > 1 else "")
        self.changed(row.id)

    def finish(self, outcome: Outcome) -> None:
        """A backend's outcome, checked, into the queue table."""
        from dlgrade.autograde import checked_result, result_to_data

        row = self.store.get(outcome.job.id)
        if row is None or row.status != "grading":
            return
        if outcome.kind == "graded":
            try:
                result = checked_result(outcome.payload, self.loaded[row.assignment])
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                self.store.finish(row.id, "failed", f"the grader's result was rejected: {error}"[:300])
                log.error("failed %s (%s, %s): result rejected: %s", row.id, row.student, row.assignment, error)
            else:
                data = result_to_data(result)
                data["submission"] = f"{row.assignment}.ipynb"
                self.store.finish(row.id, "graded", result=json.dumps(data), score=result.score,
                                  max_score=result.max_score)
                log.info("graded %s (%s, %s): %g / %g in %.2f s", row.id, row.student, row.assignment,
                         result.score, result.max_score, result.execution_time)
        else:
            detail = str(outcome.payload).replace(str(self.store.folder(row)), "submission")
            detail = detail.replace(str(self.store.root), "").splitlines()[0][:300] if detail else outcome.kind
            self.store.finish(row.id, outcome.kind, detail)
            log.warning("%s %s (%s, %s): %s", outcome.kind, row.id, row.student, row.assignment, detail)
        self.changed(row.id)

    # ---- the gradebook step -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def course_lock(self, assignment_ids: list[str]) -> Any:
        """`dlgrade autograde`'s own lock on these assignments of the course, if free now (yields whether we
        hold it): the two never record the same submissions at once."""
        with contextlib.ExitStack() as held:
            try:
                held.enter_context(autograde_lock(self.course, assignment_ids))
            except UsageError:
                yield False
                return
            yield True

    def record_pending(self, recorder: Recorder, book: Gradebook, limit: int | None = None) -> bool:
        """The gradebook step for graded submissions not recorded yet, oldest first (at most ``limit`` of them
        written); whether more are left to write now (not when autograde holds the course: that is retried every
        IDLE_POLL). Where the last graded submission counts, one that a later submission of the same student
        replaces is not written: superseded when the later one is graded already, left waiting while it is still
        queued or grading (it is written if that one is refused or fails)."""
        pending = self.store.unrecorded()
        if not pending:
            self.lock_busy_since = None
            return False
        with self.course_lock(sorted({row.assignment for row in pending})) as held:
            if not held:
                if self.lock_busy_since is None:
                    log.warning("dlgrade autograde holds the course; %d graded submission(s) wait to be recorded",
                                len(pending))
                    self.lock_busy_since = time.monotonic()
                return False
            self.lock_busy_since = None
            written = 0
            for row in pending:
                later = self.store.later_statuses(row) if self.policy.of(row.assignment).counts == "last" else set()
                if "graded" in later:
                    self.store.mark_recorded(row, in_force=False)
                    log.info("kept %s (%s, %s) out of the gradebook: a later submission was graded before it was "
                             "recorded", row.id, row.student, row.assignment)
                    self.changed(row.id)
                    continue
                if later:  # a later one is queued or grading: that one is the grade unless it is refused or fails
                    continue
                if limit is not None and written >= limit:
                    return True
                written += 1
                try:
                    self.record(row, recorder, book)
                except UsageError as error:  # the gradebook is locked or unusable: kept for the next round
                    log.error("recording %s (%s, %s) failed, will retry: %s", row.id, row.student,
                              row.assignment, error)
                    self.lock_busy_since = time.monotonic()
                    return False
                except Exception as error:  # a bug of ours on this one: said, and the others still recorded
                    log.exception("recording %s (%s, %s) failed", row.id, row.student, row.assignment)
                    with contextlib.suppress(Exception):
                        book.db.rollback()
                    self.store.mark_recorded(row, in_force=False, detail=(
                        f"graded, but not recorded in the gradebook ({type(error).__name__}); the instructor "
                        "has it in the service's log"))
                self.changed(row.id)
        return False

    def counts(self, row: Row, recorder: Recorder, book: Gradebook) -> bool:
        """Whether ``row`` is now the student's grade: the last graded submission, or the best (after nbgrader's
        late penalty; a tie keeps the earlier one)."""
        current = self.store.in_force(row.student, row.assignment)
        if current is None or current.id == row.id:
            return True
        if self.policy.of(row.assignment).counts == "last":
            return row.seq > current.seq
        mine = (row.score or 0.0) - late_penalty(recorder, book, row.assignment, row.student, row.score or 0.0,
                                                 row.submitted_at)
        theirs = (current.score or 0.0) - (current.penalty or 0.0)
        return mine > theirs + 1e-9

    def record(self, row: Row, recorder: Recorder, book: Gradebook) -> None:
        from dlgrade.autograde import find_submissions

        if not self.counts(row, recorder, book):
            self.store.mark_recorded(row, in_force=False)
            log.info("kept %s (%s, %s) out of the gradebook: an earlier submission counts (%s)", row.id,
                     row.student, row.assignment, self.policy.of(row.assignment).counts)
            return
        assignment = self.loaded[row.assignment]
        promote(self.course, self.store, row)
        found = find_submissions(self.course, assignment, [row.student])[0]
        if found.problem or found.digest != row.digest:
            raise UsageError(f"submitted/{row.student}/{row.assignment} is not the submission just copied there "
                             f"({found.problem or 'its bytes differ'})")
        data = json.loads(self.store.result(row.id) or "{}")
        data["submission"] = str(found.notebook)
        summary = recorder.record(found, data)
        if summary.state != "graded":
            raise UsageError(f"the gradebook step refused the result: {summary.detail}")
        self.store.mark_recorded(row, in_force=True, penalty=summary.penalty)
        log.info("recorded %s (%s, %s) in the gradebook: %g / %g%s", row.id, row.student, row.assignment,
                 summary.score, summary.max_score, f", late penalty {summary.penalty:g}" if summary.penalty else "")


def autograde_lock(course: Course, assignment_ids: list[str]) -> Any:
    """autograde.course_lock, held for these assignments (UsageError when an autograde of one holds it)."""
    from dlgrade.autograde import course_lock

    return course_lock(course, assignment_ids)


def late_penalty(recorder: Recorder, book: Gradebook, assignment_id: str, student: str, score: float,
                 submitted_at: float) -> float:
    """The penalty nbgrader's late-submission plugin would give this score, submitted then (extensions
    included), clamped to [0, score] as nbgrader clamps it."""
    from datetime import UTC, datetime

    from nbgrader.api import MissingEntry

    try:
        duedate = book.find_assignment(assignment_id).duedate
    except MissingEntry:
        return 0.0
    if duedate is None:
        return 0.0
    with contextlib.suppress(MissingEntry):
        extension = book.find_submission(assignment_id, student).extension
        if extension is not None:
            duedate = duedate + extension
    moment = datetime.fromtimestamp(submitted_at, UTC).replace(tzinfo=None)
    seconds = (moment - duedate).total_seconds()
    if seconds <= 0:
        return 0.0
    penalty = recorder.policy.preprocessor.plugin_inst.late_submission_penalty(student, score, seconds)
    return min(max(float(penalty or 0.0), 0.0), score)


def promote(course: Course, store: Store, row: Row) -> Path:
    """Copy the submission into nbgrader's submitted/<student>/<id>/ (its notebook and timestamp.txt), replacing
    what was there; a crash part way leaves hidden leftovers that the next promotion of the student removes."""
    target = course.path("submitted", row.student, row.assignment)
    source = store.folder(row)
    name = f"{row.assignment}.ipynb"
    current = target / name
    timestamp = (source / "timestamp.txt").read_bytes()
    if current.is_file() and not current.is_symlink() and \
            hashlib.sha256(current.read_bytes()).hexdigest() == row.digest and \
            (target / "timestamp.txt").is_file() and (target / "timestamp.txt").read_bytes() == timestamp:
        return target
    for leftover in target.parent.glob(f".{target.name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    staged = target.parent / f".{target.name}.{row.id}.new"
    # Not fsynced, like everything autograde writes (records, feedback, gradebook aside): a process's death
    # cannot lose it; a power loss could, and the attempt's own, fsynced copy is kept for that.
    write_durably(staged, {name: (source / name).read_bytes(), "timestamp.txt": timestamp}, mode=0o644,
                  dir_mode=0o755, sync=False)
    if target.exists() or target.is_symlink():
        old = target.parent / f".{target.name}.{row.id}.old"
        os.rename(target, old)
        os.rename(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(staged, target)
    return target


def sync_due_dates(book: Gradebook, policy: Policy) -> None:
    """dlgrade.yml's deadlines into nbgrader's gradebook, where its late-penalty plugin and formgrader read them."""
    from datetime import UTC

    for assignment_id, settings in policy.assignments.items():
        if settings.deadline is None:
            continue
        wanted = settings.deadline.astimezone(UTC).replace(tzinfo=None)
        current = book.find_assignment(assignment_id).duedate
        if current != wanted:
            book.update_or_create_assignment(assignment_id, duedate=wanted)
            log.info("%s: due date %s UTC in the gradebook (from %s; it was %s)", assignment_id, wanted,
                     policy.source, current)


# ---- the process ----------------------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Linux: SIGKILL when the serving process dies (even by SIGKILL): the queue keeps our work."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
    if parent and os.getppid() != parent:
        os._exit(1)


def make_backend(scheduler: str | None, loaded: dict[str, Assignment], secret: bytes, sandboxed: bool,
                 workers: int | None) -> Backend:
    if scheduler:
        from dlgrade.service.cluster import cluster_backend

        return cluster_backend(scheduler, loaded, secret, sandboxed, workers)
    return LocalPool(loaded, secret, sandboxed=sandboxed, workers=workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dlgrade.service.supervisor")
    parser.add_argument("--course", required=True)
    parser.add_argument("--workers", type=int)
    parser.add_argument("--scheduler")
    parser.add_argument("--no-sandbox", action="store_true")
    parser.add_argument("--wake-fd", type=int)
    parser.add_argument("--notify-fd", type=int)
    parser.add_argument("--parent", type=int, default=0)
    args = parser.parse_args(argv)
    _die_with_parent(args.parent)
    if args.notify_fd is not None:
        os.set_blocking(args.notify_fd, False)
    if args.wake_fd is not None:
        os.set_blocking(args.wake_fd, False)
    from dlgrade.service.logs import setup_logging

    supervisor: Supervisor | None = None

    def fatal(message: str) -> int:
        log.error("grading process: %s", message)
        if args.notify_fd is not None:
            with contextlib.suppress(OSError):
                os.set_blocking(args.notify_fd, True)
                os.write(args.notify_fd, f"fatal: {message}\n".encode())
        return 2

    try:
        from dlgrade.batch import one_thread
        from dlgrade.course import Course
        from dlgrade.grading import precompute_public_values

        course = Course.open(args.course)
        store = Store(course.state, synchronous="NORMAL").create()
        setup_logging(store.root, "grader")
        handle = hold_lock(store.root / LOCK_FILE, f"another grading process holds {store.root / LOCK_FILE}", 60.0)
        ids = course.set_up_ids()
        policy = load_policy(course.root, ids)
        loaded = {assignment_id: course.assignment(assignment_id) for assignment_id in ids}
        secret = course.secret()
        course.check_gradebook_writable()
        for folder in store.remove_orphans():
            log.info("removed %s: stored, but the service stopped before accepting it", folder)
        requeued = store.requeue_interrupted()
        if requeued:
            log.info("%d submission(s) were being graded when the service stopped: queued again", requeued)
        one_thread()
        for assignment in loaded.values():
            precompute_public_values(assignment)  # once, before the workers fork: they share it
        backend = make_backend(args.scheduler, loaded, secret, not args.no_sandbox, args.workers)
        supervisor = Supervisor(course, store, policy, loaded, backend, args.wake_fd, args.notify_fd)
        supervisor.parent = args.parent
        signal.signal(signal.SIGTERM, supervisor.stop)
        signal.signal(signal.SIGINT, supervisor.stop)
        backend.start()
        try:
            started = time.monotonic()
            while not backend.ready():  # the first warm sandbox proves this machine can grade
                outcomes, _ = backend.wait(0.5)
                for outcome in outcomes:
                    supervisor.finish(outcome)
                if time.monotonic() - started > 600 or supervisor.stopping:
                    raise UsageError("no grading worker became ready within 10 minutes")
            with course.gradebook() as book:
                from dlgrade.autograde import _check_in_gradebook

                _check_in_gradebook(book, course, loaded)
                sync_due_dates(book, policy)
                supervisor.tell("ready")
                log.info("grading process ready: %s backend, %d queued", backend.name,
                         store.counts().get("queued", 0))
                supervisor.run(book)
        finally:
            backend.close()
            store.requeue_interrupted()
            supervisor.changed()
        handle.close()
        return 0
    except UsageError as error:
        return fatal(str(error))
    except Exception as error:  # a bug of ours: said in one line, with the traceback in the log
        log.exception("grading process crashed")
        return fatal(f"{type(error).__name__}: {error}")


if __name__ == "__main__":
    sys.exit(main())
