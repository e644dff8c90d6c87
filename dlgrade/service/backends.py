"""Grading backends: where the grading process sends a submission to be graded, and how results come back.

A backend takes Jobs (a submission's file and its sha256) and gives back Outcomes: ``graded`` with the result as
plain data (not yet checked: the grading process checks it against the assignment before anything is kept),
``refused`` (the file cannot be graded: one line), or ``failed`` (our infrastructure could not grade it after
retries: one line, never the student's fault). Student code runs only inside the backend's sandboxes.

LocalPool is the first backend: dlgrade.batch's worker processes, each with a warm sandbox, forked from the
grading process and kept for its whole life. A worker that dies or hangs is replaced and its submission handed
to another (twice at most). The cluster backend (``--scheduler``) plugs in through FutureBackend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dlgrade import batch
from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from dlgrade.assignments import Assignment

log = logging.getLogger("dlgrade.service")


@dataclass(frozen=True)
class Job:
    """One submission to grade: the service's id for it, its assignment, the file and the file's sha256."""

    id: str
    assignment: str
    path: Path
    digest: str
    student: str = ""


@dataclass(frozen=True)
class Outcome:
    """What became of a Job: graded (payload: the result as plain data), refused or failed (payload: a line)."""

    job: Job
    kind: str
    payload: Any


class Backend(Protocol):
    """What the grading process needs of a backend."""

    name: str

    def start(self) -> None:
        """Begin (workers, a connection): UsageError when it cannot grade here."""

    def ready(self) -> bool:
        """At least one slot is able to grade."""

    def free(self) -> int:
        """How many more jobs it can start on now (the grading process claims no more than that)."""

    def submit(self, job: Job) -> None: ...

    def wait(self, timeout: float, also: Sequence[int] = ()) -> tuple[list[Outcome], bool]:
        """Outcomes that arrived within ``timeout`` seconds, and whether one of the file descriptors ``also``
        became readable meanwhile (the grading process's wake-up pipe)."""

    def close(self) -> None: ...


# ---- the local pool -----------------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    job: Job | None = None
    since: float = 0.0


class LocalPool:
    """``workers`` grading processes on this machine, each with its own warm sandbox (dlgrade.batch's worker)."""

    name = "local"

    def __init__(self, loaded: dict[str, Assignment], secret: bytes, sandboxed: bool = True,
                 workers: int | None = None) -> None:
        self.roots = {name: str(assignment.root) for name, assignment in loaded.items()}
        self.secret, self.sandboxed = secret, sandboxed
        self.count = max(1, workers or batch.default_workers())
        self.pool: list[_Worker] = []
        self.pending: deque[Job] = deque()
        self.attempts: dict[str, int] = {}
        self.start_failures = 0
        self.context = batch._context()

    def start(self) -> None:
        if self.context.get_start_method() != "fork":
            raise UsageError("the local grading pool needs the fork start method (Linux)")
        self.pool = [self._spawn() for _ in range(self.count)]

    def _spawn(self) -> _Worker:
        ours, theirs = self.context.Pipe()
        # Warm before ready: a service's workers live long, and its first students should not wait for what a
        # first grading costs (the fork server's suite warm-up, torch's lazy imports: ~1.5 s on losses).
        process = self.context.Process(target=batch._worker_main, daemon=True, name="dlgrade-worker",
                                       args=(theirs, self.roots, self.secret, self.sandboxed, os.getpid()),
                                       kwargs={"warm": True})
        process.start()
        theirs.close()
        return _Worker(process, ours)

    def ready(self) -> bool:
        return any(worker.ready for worker in self.pool)

    def free(self) -> int:
        idle = sum(1 for worker in self.pool if worker.ready and worker.job is None)
        return max(0, idle - len(self.pending))

    def submit(self, job: Job) -> None:
        self.pending.append(job)
        self._dispatch()

    def _dispatch(self) -> None:
        for worker in list(self.pool):
            if not self.pending:
                return
            if worker.ready and worker.job is None:
                job = self.pending.popleft()
                try:
                    worker.conn.send((0, job.assignment, str(job.path), job.digest, job.student))
                except OSError:
                    self.pending.appendleft(job)
                    self._lost(worker, "died (killed, or out of memory)", [])
                    continue
                worker.job, worker.since = job, time.monotonic()

    def _lost(self, worker: _Worker, why: str, outcomes: list[Outcome]) -> None:
        """A worker died or hung: replace it; its job goes to another worker, or fails after two tries."""
        self.pool.remove(worker)
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        if worker.job is not None:
            job = worker.job
            self.attempts[job.id] = self.attempts.get(job.id, 0) + 1
            if self.attempts[job.id] >= batch.MAX_ATTEMPTS:
                outcomes.append(Outcome(job, "failed", f"the grading process {why} twice on this submission"))
            else:
                self.pending.appendleft(job)
        elif not worker.ready:
            self.start_failures += 1
            if self.start_failures >= batch.MAX_START_FAILURES:
                raise UsageError(f"grading workers keep dying as they start (last: {why})")
        self.pool.append(self._spawn())

    def wait(self, timeout: float, also: Sequence[int] = ()) -> tuple[list[Outcome], bool]:
        outcomes: list[Outcome] = []
        waitables: list[Any] = [w.conn for w in self.pool] + [w.process.sentinel for w in self.pool] + list(also)
        ready = set(wait(waitables, timeout=timeout))
        for worker in list(self.pool):
            if worker.conn in ready or worker.process.sentinel in ready:
                try:
                    message = worker.conn.recv() if worker.conn.poll() else None
                except (EOFError, OSError):
                    message = None
                if message is None:
                    if not worker.process.is_alive() or worker.process.sentinel in ready:
                        self._lost(worker, "died (killed, or out of memory)", outcomes)
                    continue
                self._handle(worker, message, outcomes)
            elif worker.job is not None and time.monotonic() - worker.since > batch.SUBMISSION_DEADLINE:
                self._lost(worker, f"gave no answer within {batch.SUBMISSION_DEADLINE:g} s", outcomes)
        self._dispatch()
        return outcomes, any(fd in ready for fd in also)

    def _handle(self, worker: _Worker, message: tuple[Any, ...], outcomes: list[Outcome]) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            return
        if kind == "warmed":
            for assignment_id, how in sorted(message[1].items()):
                log.info("worker %d warmed up on %s: %s", worker.process.pid, assignment_id, how)
            return
        if kind == "fatal":
            raise UsageError(str(message[1]))
        job, worker.job = worker.job, None
        if job is None:
            return
        self.attempts.pop(job.id, None)
        outcomes.append(Outcome(job, kind if kind in ("graded", "refused") else "failed", message[2]))

    def close(self) -> None:
        for worker in self.pool:
            with contextlib.suppress(OSError):
                worker.conn.send(None)
        for worker in self.pool:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            worker.conn.close()
        self.pool = []


# ---- a backend made of futures (the cluster's client) ---------------------------------------------------------


class FutureBackend:
    """A backend whose client grades a job and hands back a future (``submit(job) -> future``, the future with
    ``add_done_callback`` and ``result()``): done futures are queued by their callbacks, which wake ``wait``
    through a pipe. ``outcome(future)`` turns a finished future into the (kind, payload) of an Outcome."""

    def __init__(self, name: str, submit: Callable[[Job], Any], outcome: Callable[[Any], tuple[str, Any]],
                 slots: int, close: Callable[[], None] = lambda: None,
                 ready: Callable[[], bool] = lambda: True) -> None:
        self.name, self._submit, self._outcome, self.slots = name, submit, outcome, slots
        self._close, self._ready = close, ready
        self.running: dict[str, Any] = {}
        self.done: queue.SimpleQueue[tuple[Job, Any]] = queue.SimpleQueue()
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)

    def start(self) -> None:
        pass

    def ready(self) -> bool:
        return self._ready()

    def free(self) -> int:
        return max(0, self.slots - len(self.running))

    def submit(self, job: Job) -> None:
        future = self._submit(job)
        self.running[job.id] = future

        def finished(_: Any, job: Job = job, future: Any = future) -> None:
            self.done.put((job, future))
            with contextlib.suppress(OSError):
                os.write(self._write, b"x")

        future.add_done_callback(finished)

    def wait(self, timeout: float, also: Sequence[int] = ()) -> tuple[list[Outcome], bool]:
        ready = set(wait([self._read, *also], timeout=timeout))
        if self._read in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(self._read, 65536)
        outcomes = []
        while True:
            try:
                job, future = self.done.get_nowait()
            except queue.Empty:
                break
            self.running.pop(job.id, None)
            try:
                kind, payload = self._outcome(future)
            except Exception as error:  # the connection, the scheduler: infrastructure, never the student's
                kind, payload = "failed", f"the cluster could not grade it: {type(error).__name__}: {error}"[:300]
            outcomes.append(Outcome(job, kind, payload))
        return outcomes, any(fd in ready for fd in also)

    def close(self) -> None:
        self._close()
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
