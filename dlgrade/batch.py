"""Parallel grading: N worker processes, each with its own warm sandbox, are handed one submission at a time; the
trusted main process checks and records each result as it arrives, draws the progress bar, and outlives its
workers: a worker that dies (SIGKILL, out of memory) or hangs is replaced and its submission handed out again
(twice at most, then reported). Workers write nothing to the course; only the main process does.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from dlgrade.assignments import Assignment
    from dlgrade.autograde import Recorder, Row, Submission
    from dlgrade.grading import Grader
    from dlgrade.sandbox.launcher import Sandbox

SUBMISSION_DEADLINE = 900.0  # s without an answer on one submission: the worker is killed, the submission retried
MAX_ATTEMPTS = 2  # a submission whose grading kills its worker this many times is reported, not retried
MAX_START_FAILURES = 3
PR_SET_PDEATHSIG = 1
# Address space a grading worker may map beyond what it holds once started (suites loaded, sandbox up): grading
# one submission (references, known mistakes, a judge's evaluation, the answers read) takes far less, so only a
# fault or an attack that got past the other caps reaches it, and it then fails that submission alone.
TRUSTED_MEMORY_BYTES = 3 << 30


# ---- the worker process ----------------------------------------------------------------------------------


def _die_with_parent(parent: int) -> None:
    """Linux: the kernel kills this worker (and so its sandbox) when the main process dies, even by SIGKILL."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except Exception:
        pass
    if os.getppid() != parent:
        os._exit(1)


def _adopt(early: Sandbox | None) -> Sandbox | None:
    """The sandbox launched for us, once ready; None if there is none or it failed (we then start our own)."""
    from dlgrade.sandbox.launcher import SandboxUnavailable

    if early is None:
        return None
    try:
        early.wait_ready()
    except SandboxUnavailable:
        early.close()
        return None
    return early


@contextlib.contextmanager
def prelaunch(workers: int | None, sandboxed: bool, at_most: int | None = None) -> Iterator[list[Sandbox]]:
    """Launch the batch's sandboxes now, before the heavy imports, so their start (torch's import, ~3.5 s of CPU
    each) runs beside ours instead of after it; hand them to run(). Nothing is launched where that cannot help
    or cannot work (a start method without fork, bubblewrap missing): the workers then start their own. On
    leaving, whatever happened, any sandbox that run() never took is stopped."""
    from dlgrade.sandbox.launcher import Sandbox, SandboxUnavailable, bwrap_path

    count, _ = capped_workers(workers, at_most)
    launched: list[Sandbox] = []
    if count >= 1 and _context().get_start_method() == "fork" and not (sandboxed and bwrap_path() is None):
        for _ in range(count):
            sandbox = Sandbox(sandboxed=sandboxed)
            try:
                sandbox.launch()
            except (SandboxUnavailable, OSError):
                sandbox.abandon()
                break
            launched.append(sandbox)
    try:
        yield launched
    finally:
        for sandbox in launched:
            if sandbox.process is not None and sandbox.control is not None:  # launched, never handed over
                sandbox.abandon()


def default_workers() -> int:
    """One grading worker per core this process may run on."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def _mapped_bytes() -> int:
    """This process's address space now (VmSize), 0 where /proc does not say."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def limit_memory(extra: int) -> int | None:
    """Cap this process's address space at what it maps now plus ``extra`` (RLIMIT_AS, the soft limit only, so
    what it starts later, a sandbox restarted from here, may raise its own). An allocation beyond it raises
    MemoryError (numpy, Python) or a RuntimeError (torch's allocator) here, never an OOM kill of the machine's
    other processes. Returns the cap, or None where there is none to set."""
    import resource

    mapped = _mapped_bytes()
    if not mapped:
        return None
    cap = mapped + extra
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY and hard < cap:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    except (ValueError, OSError):
        return None
    return cap


def out_of_memory(error: BaseException) -> bool:
    """numpy's and Python's MemoryError, or torch's allocator failing (a RuntimeError that says so)."""
    text = str(error).lower()
    return isinstance(error, MemoryError) or (isinstance(error, RuntimeError) and "allocate" in text
                                              and "memory" in text)
SLOT_BYTES = 512 << 20  # what one grading slot holds: its sandbox (measured ~210 MB PSS with torch) and its worker


def memory_for_grading() -> int | None:
    """Bytes this process can still use: the kernel's MemAvailable, and the memory cgroup's limit less its usage
    (cgroup v2 or v1, our own cgroup or the root of a namespaced view); None when nothing says."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                found.append(int(line.split()[1]) * 1024)
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            if number == "0" and not controllers:
                base, names = Path("/sys/fs/cgroup"), ("memory.max", "memory.current")
            elif "memory" in controllers.split(","):
                base, names = Path("/sys/fs/cgroup/memory"), ("memory.limit_in_bytes", "memory.usage_in_bytes")
            else:
                continue
            for folder in (base / path.lstrip("/"), base):
                try:
                    limit, usage = ((folder / name).read_text().strip() for name in names)
                except OSError:
                    continue
                if limit.isdigit() and int(limit) < 1 << 60:
                    found.append(max(0, int(limit) - int(usage)))
                break
    return min(found) if found else None


def capped_workers(requested: int | None, submissions: int | None) -> tuple[int, str]:
    """How many grading workers (each with its sandbox) to run, and why fewer than ``requested`` if so: never more
    than the submissions to grade, nor than the memory here holds at SLOT_BYTES each (at least one)."""
    wanted = requested or default_workers()
    count, reasons = wanted, []
    if submissions is not None and submissions < count:
        count = submissions
        reasons.append(f"{submissions} submission{'s' if submissions != 1 else ''} to grade")
    memory = memory_for_grading()
    if memory is not None and memory // SLOT_BYTES < count:
        count = max(1, memory // SLOT_BYTES)
        reasons.append(f"memory for {count} ({memory / (1 << 30):.1f} GiB free, ~{SLOT_BYTES >> 20} MiB each)")
    count = max(0 if submissions == 0 else 1, count)
    said = f"--workers {requested} capped to {count}: {'; '.join(reasons)}" if requested and count < requested \
        else ""
    return count, said


def one_thread() -> None:
    """Trusted computations (references, known-mistake variants) on one thread: the pool already runs one worker
    per core beside a sandbox child each, and torch's default of one thread per core would make them all
    fight over (and spin-wait on) the same cores. Where torch is not loaded (a numpy-only suite's trusted side
    never needs it) it is not imported for this: the environment tells it, should anything import it later."""
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_NUM_THREADS"] = "1"  # read by torch (and OpenMP) as it initialises
        return
    torch.set_num_threads(1)


def _worker_main(conn: Connection, roots: dict[str, str], secret: bytes, sandboxed: bool, parent: int,
                 early: Sandbox | None = None, others: Sequence[Sandbox] = (), warm: bool = False) -> None:
    """Load the suites, start one sandbox (or adopt ``early``, launched by the parent before it forked us), then
    grade (index, assignment, path, sha256, student) tasks until told to stop. ``warm``: grade each assignment's
    own solution once before saying ready (Grader.warm_up), for a long-lived worker whose first students should
    not pay what a first grading costs (a batch's first submissions pay it once, as the warm-up would)."""
    _die_with_parent(parent)
    for other in others:  # the other workers' sandboxes: their control sockets are not ours to hold open
        if other is not early and other.control is not None:
            other.control.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle; it ends us
    from dlgrade.autograde import result_to_data
    from dlgrade.boundary.text import plain
    from dlgrade.course import load_assignment
    from dlgrade.grading import Grader, InfrastructureFailure
    from dlgrade.sandbox.launcher import Sandbox, SandboxUnavailable

    one_thread()
    try:
        loaded = {name: load_assignment(name, Path(root)) for name, root in roots.items()}
        sandbox = _adopt(early) or Sandbox(sandboxed=sandboxed)
        if sandbox is not early:
            sandbox.start()
    except SandboxUnavailable as error:
        conn.send(("fatal", f"the sandbox does not start here: {error}"))
        return
    except Exception as error:
        conn.send(("fatal", f"a grading worker could not start: {type(error).__name__}: {error}"))
        return
    from dlgrade.insight.probes import probe_seed

    # The course secret also keys the students' own numbers (dlgrade.checking.student_numbers), and seeds the
    # course's probe inputs (dlgrade.insight.probes).
    graders = {name: Grader(assignment, sandbox, secret, numbers_secret=secret, probe_seed=probe_seed(secret, name))
               for name, assignment in loaded.items()}
    scratch = Path(tempfile.mkdtemp(prefix="dlgrade-batch-"))
    capped = limit_memory(TRUSTED_MEMORY_BYTES) is not None
    if warm:
        conn.send(("warmed", {name: _warm(grader) for name, grader in graders.items()}))
    conn.send(("ready",))
    try:
        while True:
            try:
                task = conn.recv()
            except (EOFError, OSError):
                break
            if task is None:
                break
            index, assignment_id, path, digest, student = task
            private: Path | None = None
            try:
                # Grade a private copy of the very bytes the key was computed from: nothing can change under us.
                data = Path(path).read_bytes()
                if hashlib.sha256(data).hexdigest() != digest:
                    raise UsageError(f"{path}: changed while it was being graded; rerun")
                private = scratch / str(index) / Path(path).name
                private.parent.mkdir(parents=True, exist_ok=True)
                private.write_bytes(data)
                result = graders[assignment_id].grade(private, student)
                shutil.rmtree(private.parent, ignore_errors=True)
                message: tuple[Any, ...] = ("graded", index, result_to_data(result))
            except UsageError as error:
                message = ("refused", index, str(error).replace(str(private), path) if private else str(error))
            except InfrastructureFailure as error:  # ours, twice: not graded, nothing recorded
                message = ("failed", index, str(error)[:500])
            except Exception as error:  # a grading failure of ours: reported for this submission, the batch goes on
                if capped and out_of_memory(error):
                    why = (f"grading it needed more memory than a grading worker may take ("
                           f"{TRUSTED_MEMORY_BYTES / (1 << 30):g} GiB beyond its start)")
                else:
                    why = f"grading failed: {type(error).__name__}: {plain(str(error), 300)}"
                message = ("failed", index, why)
            try:
                conn.send(message)
            except (BrokenPipeError, OSError):
                break
    finally:
        sandbox.close()
        shutil.rmtree(scratch, ignore_errors=True)


def _warm(grader: Grader) -> str:
    """Grader.warm_up in words for the log: the solution's score and the seconds it took, or why it failed (only
    ever about speed: a real task meets any fault again, and it is dealt with there)."""
    started = time.monotonic()
    try:
        result = grader.warm_up()
    except Exception as error:
        return f"not warmed ({type(error).__name__}: {str(error)[:200]})"
    return f"the solution {result.score:g} / {result.max_score:g} in {time.monotonic() - started:.1f} s"


# ---- a run that stops ----------------------------------------------------------------------------------


class Stopped(UsageError):
    """A batch stopped before its end (its scheduler lost, its workers dying as they start, a gradebook that
    cannot be used any more): ``rows`` are what it did, the graded ones recorded; the caller shows them (and
    names the submissions left) before the one line."""

    def __init__(self, message: str, rows: Sequence[Row]) -> None:
        super().__init__(message)
        self.rows = list(rows)


def not_graded(total: int, rows: Sequence[Row]) -> str:
    """How many of a batch's ``total`` submissions a stop leaves without a grade: all but those recorded."""
    recorded = sum(row.state == "graded" for row in rows)
    return f"{total - recorded} of {total} submissions not graded ({recorded} graded and recorded)"


def already_said(already: Sequence[Row]) -> str:
    """What the progress's first line says of the submissions a run does not grade: those graded before, and
    those refused (not a notebook, an unusable folder)."""
    cached = sum(row.state == "cached" for row in already)
    refused = len(already) - cached
    parts = [f"{cached} already graded"] if cached else []
    parts += [f"{refused} refused"] if refused else []
    return f" ({', '.join(parts)})" if parts else ""


# ---- progress --------------------------------------------------------------------------------------------


@dataclass
class Progress:
    """A progress bar with an ETA and live counts of passed / failed / errored submissions."""

    total: int
    stream: TextIO | None
    title: str = "grading"
    start: float = field(default_factory=time.monotonic)
    counts: Counter[str] = field(default_factory=Counter)
    last: float = 0.0

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    def add(self, outcome: str) -> None:
        self.counts[outcome] += 1
        self.draw()

    def line(self) -> str:
        width = 28
        filled = int(width * self.done / self.total) if self.total else width
        elapsed = time.monotonic() - self.start
        if self.done:
            eta = f"ETA {_clock(elapsed / self.done * (self.total - self.done))}"
        else:
            eta = "ETA --:--"
        return (f"{self.title} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total} "
                f"{_clock(elapsed)} {eta}  passed {self.counts['passed']}  failed {self.counts['failed']}  "
                f"errored {self.counts['errored']}")

    def draw(self, final: bool = False) -> None:
        if self.stream is None:
            return
        now = time.monotonic()
        if self.stream.isatty():
            if final or now - self.last >= 0.1:
                self.stream.write("\r" + self.line() + "\x1b[K" + ("\n" if final else ""))
                self.stream.flush()
                self.last = now
        elif final or now - self.last >= 5.0:  # a log, not a terminal: a line every few seconds
            self.stream.write(self.line() + "\n")
            self.stream.flush()
            self.last = now


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


# ---- the pool --------------------------------------------------------------------------------------------


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection
    ready: bool = False
    task: int | None = None
    since: float = 0.0


def _context() -> multiprocessing.context.BaseContext:
    # fork: workers inherit the loaded suites (no re-import); each starts its own sandbox after the fork
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run(todo: Sequence[Submission], recorder: Recorder, loaded: dict[str, Assignment], secret: bytes,
        sandboxed: bool = True, workers: int | None = None, already: Sequence[Row] = (),
        stream: TextIO | None = None, early: Sequence[Sandbox] = ()) -> list[Row]:
    """Grade ``todo`` on ``workers`` processes (default: the cores), recording each result as it arrives.
    ``early``: sandboxes launched by prelaunch(), handed to the first workers; this function reaps them all."""
    from dlgrade.autograde import Row

    context = _context()
    roots = {name: str(assignment.root) for name, assignment in loaded.items()}
    count, capped = capped_workers(workers, len(todo))
    pending: deque[int] = deque(range(len(todo)))
    attempts: Counter[int] = Counter()
    rows: list[Row] = []
    start_failures = 0
    title = "grading " + ",".join(loaded)
    progress = Progress(len(todo), stream, title)
    if stream is not None:
        stream.write(f"{title}: {len(todo)} submissions on {count} workers" + already_said(already)
                     + (f" ({capped})" if capped else "") + "\n")
        stream.flush()

    unused = list(early)

    def spawn() -> _Worker:
        ours, theirs = context.Pipe()
        sandbox = unused.pop(0) if unused else None
        process = context.Process(target=_worker_main, daemon=True, name="dlgrade-worker",
                                  args=(theirs, roots, secret, sandboxed, os.getpid(), sandbox, early))
        process.start()
        theirs.close()
        if sandbox is not None:
            sandbox.hand_over()
        return _Worker(process, ours)

    def finish(index: int, row: Row) -> None:
        rows.append(row)
        progress.add(row.outcome)

    def lost(worker: _Worker, why: str) -> None:
        nonlocal start_failures
        pool.remove(worker)
        worker.conn.close()
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(5)
        if worker.task is not None:
            attempts[worker.task] += 1
            if attempts[worker.task] >= MAX_ATTEMPTS:
                submission = todo[worker.task]
                finish(worker.task, Row(submission.assignment_id, submission.student, "failed",
                                        max_score=loaded[submission.assignment_id].max_score,
                                        detail=f"the grading process {why} twice on this submission"))
            else:
                pending.appendleft(worker.task)
        elif not worker.ready:
            start_failures += 1
            if start_failures >= MAX_START_FAILURES:
                raise UsageError(f"grading workers keep dying as they start (last: {why})")
        if pending and len(pool) < count:
            pool.append(spawn())

    pool = [spawn() for _ in range(count)]
    retired: list[_Worker] = []  # told to stop early: nothing was left for them

    def dispatch(worker: _Worker) -> None:
        """An idle, ready worker gets the next submission, or is let go when there is none."""
        if not (worker.ready and worker.task is None) or worker not in pool:
            return
        if not pending:
            # Nothing left to hand out: let it close its sandbox now, beside the last gradings.
            pool.remove(worker)
            retired.append(worker)
            with contextlib.suppress(OSError):
                worker.conn.send(None)
            return
        index = pending.popleft()
        submission = todo[index]
        try:
            worker.conn.send((index, submission.assignment_id, str(submission.notebook), submission.digest,
                              submission.student))
        except OSError:  # it died while idle: the task goes back, the worker is replaced
            pending.appendleft(index)
            lost(worker, "died (killed, or out of memory)")
            return
        worker.task, worker.since = index, time.monotonic()

    try:
        while pending or any(w.task is not None for w in pool):
            if not pool:
                pool.append(spawn())
            for worker in list(pool):
                dispatch(worker)
            waitables = [w.conn for w in pool] + [w.process.sentinel for w in pool]
            ready = set(wait(waitables, timeout=0.5))
            for worker in list(pool):
                if worker.conn in ready or worker.process.sentinel in ready:
                    try:
                        message = worker.conn.recv() if worker.conn.poll() else None
                    except (EOFError, OSError):
                        message = None
                    if message is None:
                        if not worker.process.is_alive() or worker.process.sentinel in ready:
                            lost(worker, "died (killed, or out of memory)")
                        continue
                    _handle(message, worker, todo, recorder, finish, dispatch)
                elif worker.task is not None and time.monotonic() - worker.since > SUBMISSION_DEADLINE:
                    lost(worker, f"gave no answer within {SUBMISSION_DEADLINE:g} s")
            progress.draw()
    except UsageError as error:  # what was done is recorded: the caller shows it before this one line
        if isinstance(error, Stopped):
            raise
        raise Stopped(f"{error}; {not_graded(len(todo), rows)}", rows) from None
    finally:
        progress.draw(final=True)
        for worker in pool:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        for worker in pool + retired:
            worker.process.join(10)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)
            worker.conn.close()
        for sandbox in early:  # their workers are gone: reap the fork servers (or kill the ones never used)
            sandbox.abandon() if sandbox in unused else sandbox.finish_handed_over()
    return rows


def _handle(message: tuple[Any, ...], worker: _Worker, todo: Sequence[Submission], recorder: Recorder,
            finish: Callable[[int, Row], None], dispatch: Callable[[_Worker], None]) -> None:
    """One message from a worker. A result frees the worker, which is handed its next submission (``dispatch``)
    before the result is recorded: the gradebook's commit and the feedback files are written while it grades."""
    from dataclasses import replace

    from dlgrade.autograde import Row

    kind = message[0]
    if kind == "ready":
        worker.ready = True
        dispatch(worker)
        return
    if kind == "fatal":
        raise UsageError(str(message[1]))
    index, payload = message[1], message[2]
    if worker.task != index:
        return  # an answer to a task taken back from it; the retry will answer
    worker.task = None
    dispatch(worker)
    submission = todo[index]
    if kind == "graded":
        if isinstance(payload, dict):
            payload = {**payload, "submission": str(submission.notebook)}  # it graded a private copy
        finish(index, recorder.record(submission, payload))
        return
    row = Row(submission.assignment_id, submission.student, "refused" if kind == "refused" else "failed",
              max_score=recorder.assignments[submission.assignment_id].max_score, detail=str(payload)[:500])
    if kind == "refused":  # e.g. not a notebook: nothing of the student's earlier grades is touched
        row = replace(row, detail=str(payload).splitlines()[0][:300] if payload else "refused")
    finish(index, row)
