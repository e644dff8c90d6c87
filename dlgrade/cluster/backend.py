"""The client side of grading on a Dask cluster, in the trusted main process: ClusterBackend connects to the
scheduler, turns a submission's bytes into a grading request (with its hidden cases' seed, computed here from the
course secret, which never leaves this process), routes it to a worker that grades the assignment exactly as this
process would, and hands back plain result data. run_on_cluster() is `dlgrade autograde --scheduler`'s loop: a
window of tasks in flight, each result checked and recorded here as it arrives, exactly once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import json
import logging
import queue
import socket
import tempfile
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from distributed import Client, Future

    from dlgrade.assignments import Assignment
    from dlgrade.autograde import Recorder, Row, Submission

CONNECT_TIMEOUT = 10.0  # s to reach the scheduler
NO_WORKER_GRACE = 120.0  # s a run waits with no fitting worker in the cluster before it stops
WINDOW_PER_SLOT = 2  # tasks in flight per fitting grading slot: one running, one queued behind it
MIN_WINDOW = 4
MAX_RETRIES = 1  # a task whose worker dies is run again once (the scheduler's allowed-failures), then reported


class WorkerRefused(Exception):
    """No worker of the cluster grades this as the main process would (another dlgrade or suite version, no
    bubblewrap), or the one that got the task said so."""


class GradingFailed(Exception):
    """The cluster could not grade a submission (its workers died twice on it, or grading broke there): an
    infrastructure failure, never the student's; grading it again later may well work."""


# ---- connecting --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_distributed() -> Iterator[None]:
    """distributed logs every failed connection attempt (and, once its scheduler is gone, every failed reconnect)
    to stderr; the user gets one line from us instead. Dask's logging configuration gives some of its loggers
    (distributed.client, distributed.scheduler, ...) levels of their own, so each of those is quieted too, not
    only their parent."""
    import distributed  # noqa: F401 - its import sets those levels: they are saved, and restored, from then on

    manager = logging.Logger.manager
    names = ["distributed"] + [name for name, logger in list(manager.loggerDict.items())
                               if name.startswith("distributed.") and isinstance(logger, logging.Logger)
                               and logger.level != logging.NOTSET]
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


def _not_a_scheduler(address: str, why: str) -> UsageError:
    return UsageError(f"{address} does not answer as a Dask scheduler ({why}): is a Dask "
                      "scheduler (`dask scheduler`) listening there? fix --scheduler / DLGRADE_SCHEDULER")


def _garbled(error: BaseException) -> str:
    """Why an answer is not Dask's: a MemoryError is a greeting's first bytes read as a message's length."""
    if isinstance(error, MemoryError):
        return "its first bytes are not a Dask message (read as a length, they ask for more memory than exists)"
    return f"its answer is not Dask's protocol: {_cause(error)}"


def _cause(error: BaseException) -> str:
    """An exception as a short cause for one line: its type and the first line of its text."""
    text = str(error).strip().splitlines()[0][:160] if str(error).strip() else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _speaks_dask(address: str, timeout: float, said: float | None = None) -> None:
    """UsageError unless the server at ``address`` completes Dask's handshake and says it is a scheduler, all of
    it within ``timeout`` seconds. Dask's own connect() bounds the TCP connect but not the handshake: a listener
    that accepts and stays silent would hold it for ever, and one that greets with a banner has its first bytes
    read as a frame length (2.82 EiB: a MemoryError). Run on a thread of its own with its own event loop, so the
    deadline holds whatever the caller's thread is doing (an event loop of its own, too). ``said``: the timeout
    the user gave, for the message (``timeout`` is what is left of it)."""
    import asyncio
    import threading

    from distributed.comm import connect as dask_connect

    answer: dict[str, Any] = {}

    async def ask() -> Any:
        comm = await dask_connect(address, timeout=timeout, deserialize=False)
        try:
            await comm.write({"op": "identity", "n_workers": 0, "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    def run() -> None:
        try:
            answer["reply"] = asyncio.run(asyncio.wait_for(ask(), timeout))
        except BaseException as error:  # noqa: BLE001 - MemoryError included: a garbage length, not our memory
            answer["error"] = error

    with _quiet_distributed():
        thread = threading.Thread(target=run, name="dlgrade-dask-probe", daemon=True)
        thread.start()
        thread.join(timeout + 1.0)  # wait_for ends it by then; the daemon thread is left behind if not
    said = timeout if said is None else said
    if "reply" not in answer:
        error = answer.get("error")
        if error is None or isinstance(error, (TimeoutError, asyncio.TimeoutError)):
            raise _not_a_scheduler(address, f"no Dask handshake came back within {said:g} s")
        # it listens (reachable() connected): whatever went wrong after that is its answer, not the network
        raise _not_a_scheduler(address, _garbled(error))
    reply = answer["reply"]
    kind = reply.get("type") if isinstance(reply, dict) else None
    if not (isinstance(kind, str) and "Scheduler" in kind):
        what = f"a Dask {kind}" if isinstance(kind, str) and kind else "a Dask server"
        raise UsageError(f"{address} is {what}, not a scheduler: give the scheduler's address to --scheduler / "
                         "DLGRADE_SCHEDULER")


def reachable(address: str, timeout: float = CONNECT_TIMEOUT) -> None:
    """UsageError, in one line, unless something listens at the scheduler's host and port and, on tcp://, answers
    Dask's handshake as a scheduler, within ``timeout`` seconds. (On tls:// only the listening is checked here:
    the TLS files may be given to `dask worker` on its command line, which this process does not see.)"""
    from distributed.comm import parse_address
    from distributed.comm.addressing import parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location, default_port=8786)
    except (ValueError, TypeError) as error:
        raise UsageError(f"{address!r} is not a Dask scheduler address ({error}); give tcp://HOST:PORT") from None
    if scheme not in ("tcp", "tls"):
        return  # another transport (ucx, inproc): dask worker reports it
    deadline = time.monotonic() + timeout
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as error:
        raise UsageError(f"cannot reach the Dask scheduler at {address} ({error.strerror or error}); start it "
                         "(`dask scheduler`) or fix --scheduler / DLGRADE_SCHEDULER") from None
    if scheme == "tcp":
        _speaks_dask(address, max(1.0, deadline - time.monotonic()), said=timeout)


def connect(address: str, timeout: float = CONNECT_TIMEOUT, security: Any = None) -> Client:
    """A Dask client of the scheduler at ``address`` (tcp://HOST:PORT, tls://...; TLS from ``security`` or
    Dask's configuration), made within ``timeout`` seconds all told; one UsageError line when it cannot be: not
    reachable, not a Dask scheduler (a silent listener, a web server, an SSH banner), or not answering in time.
    A client left half-made by a failure is closed here, never left to its finalizer."""
    from distributed import Client

    if not address or address.isspace():
        raise UsageError("no Dask scheduler given: pass --scheduler tcp://HOST:PORT or set DLGRADE_SCHEDULER")
    deadline = time.monotonic() + timeout
    reachable(address, timeout)  # a refused connection is said at once (Dask would retry it until the timeout)
    left = max(1.0, deadline - time.monotonic())
    made: list[Client] = []

    class BoundedClient(Client):
        """Client whose start (connect, handshake, registration) is given up after ``left`` seconds: Client's
        own timeout bounds the connect alone."""

        def start(self, **kwargs: Any) -> Any:
            made.append(self)
            return super().start(callback_timeout=left, **kwargs)

    with _quiet_distributed():
        try:
            return BoundedClient(address, timeout=left, set_as_default=False, security=security)
        except (ValueError, TypeError) as error:
            _abandon(made)
            raise UsageError(f"{address!r} is not a Dask scheduler address ({error}); give tcp://HOST:PORT") \
                from None
        except (OSError, TimeoutError) as error:
            _abandon(made)
            raise UsageError(f"cannot reach the Dask scheduler at {address} within {timeout:g} s "
                             f"({_cause(error)}); start it (`dask scheduler`) or fix --scheduler / "
                             "DLGRADE_SCHEDULER") from None
        except Exception as error:  # MemoryError included: something at that port that is not Dask's protocol
            _abandon(made)
            raise _not_a_scheduler(address, _garbled(error)) from None


def _abandon(clients: list[Client]) -> None:
    """Close clients whose start failed, at once: left to Client.__del__, each would try again at exit and print
    a traceback of its own."""
    for client in clients:
        with contextlib.suppress(Exception):
            client.close(timeout=2)
        if client.status != "closed":  # its loop is stuck: stop it, and tell __del__ there is nothing to close
            with contextlib.suppress(Exception):
                client._loop_runner.stop()
            client.status = "closed"


RETRY_HOLDERS = "_dlgrade_retry_holders"  # on the scheduler: {"before": its allowed-failures, "clients": {ids}}


def _at_most_one_retry(client_id: str | None = None, *, dask_scheduler: Any) -> int:
    """On the scheduler: a task whose worker dies is retried at most once (allowed-failures = 1); returns the
    value it had. Run by name, as the grading tasks are: the scheduler needs dlgrade installed for both (Dask
    passes ``dask_scheduler`` by name, the arguments before it). ``client_id``: the client that holds it lowered
    until _restore_retries (several dlgrade runs may share one scheduler: the value it had before the first is
    restored when the last of them lets go; a client that went away without letting go, killed, is forgotten
    then)."""
    current = dask_scheduler.allowed_failures
    held = getattr(dask_scheduler, RETRY_HOLDERS, None)
    if held is not None:
        held["clients"] &= set(dask_scheduler.clients)  # runs killed before they let go
        if not held["clients"]:
            if current == 1:
                current = held["before"]  # what it had before them
            delattr(dask_scheduler, RETRY_HOLDERS)
            held = None
    if held is None and current > 1:
        held = {"before": current, "clients": set()}
        setattr(dask_scheduler, RETRY_HOLDERS, held)
    if held is not None and client_id is not None:
        held["clients"].add(client_id)
    dask_scheduler.allowed_failures = min(current, 1)
    return current


def _restore_retries(client_id: str, *, dask_scheduler: Any) -> int | None:
    """On the scheduler: ``client_id`` lets go of the lowered allowed-failures; the last one to let go puts back
    the value it had before (unless someone changed it meanwhile). Returns the value restored, if any."""
    held = getattr(dask_scheduler, RETRY_HOLDERS, None)
    if held is None:
        return None
    held["clients"].discard(client_id)
    held["clients"] &= set(dask_scheduler.clients)
    if held["clients"]:
        return None
    delattr(dask_scheduler, RETRY_HOLDERS)
    if dask_scheduler.allowed_failures != 1:
        return None
    dask_scheduler.allowed_failures = held["before"]
    return held["before"]


# ---- the backend -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fit:
    """The workers of the cluster, by address: those that grade an assignment as this process does, and why each
    other one does not."""

    names: dict[str, str]  # address -> worker name, fitting workers
    slots: int
    unfit: dict[str, str]  # worker name -> why not


class ClusterBackend:
    """Grading on the Dask cluster at ``address``, from a trusted process that records the results itself.

    ``secret``: the course secret that seeds hidden cases (each request carries its submission's seed alone);
    ``sandboxed``: False sends tasks that may run without bubblewrap (--no-sandbox); ``assignments``: assignments
    already loaded by the caller (a course's), others are loaded from ``assignments_root`` on first use.
    ``submit()`` gives a concurrent.futures.Future of the result's plain data, as the local pool's workers send
    it (dlgrade.autograde.result_to_data), checked against the assignment here. Use as a context manager, or
    close()."""

    def __init__(self, address: str, *, secret: bytes, sandboxed: bool = True,
                 assignments: dict[str, Assignment] | None = None, assignments_root: Path | None = None,
                 security: Any = None, timeout: float = CONNECT_TIMEOUT, client: Client | None = None) -> None:
        from dlgrade.cluster.identity import engine_version

        self.address, self.secret, self.sandboxed = address, secret, sandboxed
        self.assignments_root = assignments_root
        self._assignments: dict[str, tuple[Assignment, str]] = {}
        self._content: dict[str, dict[str, bytes]] = {}  # a course's own assignments: shipped with each task
        self.engine = engine_version()
        for assignment in (assignments or {}).values():
            self._add(assignment)
        self.client = client or connect(address, timeout, security)
        self._own_client = client is None
        self.previous_allowed_failures: int | None = None
        try:
            self.previous_allowed_failures = self.client.run_on_scheduler(_at_most_one_retry, self.client.id)
        except Exception as error:  # a scheduler that refuses to run functions keeps its own allowed-failures
            if isinstance(error, ImportError) or "dlgrade" in str(error):
                self.close()
                raise UsageError(f"the Dask scheduler at {address} cannot import dlgrade (it unpickles the grading "
                                 "tasks): install the same dlgrade in the scheduler's environment") from None

    def __enter__(self) -> ClusterBackend:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Give the scheduler back its allowed-failures (when this backend lowered it and no other dlgrade run on
        that scheduler still holds it lowered), then close the client this backend made."""
        if self.previous_allowed_failures is not None and self.client.status == "running":
            with _quiet_distributed(), contextlib.suppress(Exception):
                self.client.run_on_scheduler(_restore_retries, self.client.id, callback_timeout=CONNECT_TIMEOUT)
        self.previous_allowed_failures = None
        if self._own_client:
            with _quiet_distributed(), contextlib.suppress(Exception):
                self.client.close(timeout=10)

    # ---- assignments and workers ----

    def _add(self, assignment: Assignment) -> tuple[Assignment, str]:
        from dlgrade.autograde import assignment_fingerprint
        from dlgrade.cluster.task import content_bundle

        self._assignments[assignment.id] = (assignment, assignment_fingerprint(assignment))
        if assignment.course_owned:
            self._content[assignment.id] = content_bundle(assignment)
        return self._assignments[assignment.id]

    def assignment(self, assignment_id: str) -> tuple[Assignment, str]:
        """(assignment, fingerprint), loaded once."""
        if assignment_id not in self._assignments:
            from dlgrade.assignments import PROJECT_ROOT
            from dlgrade.course import load_assignment

            self._add(load_assignment(assignment_id, self.assignments_root or PROJECT_ROOT))
        return self._assignments[assignment_id]

    def resources(self, assignment_id: str) -> dict[str, float]:
        """The Dask resources a task of the assignment asks for: its grading resource, and bubblewrap."""
        from dlgrade.cluster.identity import SANDBOX_RESOURCE, engine_resource, grading_resource

        _, fingerprint = self.assignment(assignment_id)
        if assignment_id in self._content:  # it travels with the task: any worker of this engine grades it
            wanted = {engine_resource(self.engine): 1.0}
        else:
            wanted = {grading_resource(assignment_id, fingerprint, self.engine): 1.0}
        if self.sandboxed:
            wanted[SANDBOX_RESOURCE] = 1.0
        return wanted

    def fit(self, assignment_ids: Iterable[str], explain: bool = True) -> Fit:
        """Which workers now grade every one of the assignments as this process does, and (``explain``) why the
        others do not, asked of each worker that lacks a resource: one question to the cluster when all fit."""
        ids = list(assignment_ids)
        wanted: dict[str, float] = {}
        for assignment_id in ids:
            wanted |= self.resources(assignment_id)
        workers = self.client.scheduler_info(n_workers=-1).get("workers", {})
        names, slots, lacking = {}, 0, []
        for address, info in workers.items():
            offered = info.get("resources") or {}
            if all(offered.get(name, 0) >= 1 for name in wanted):
                names[address] = str(info.get("name", address))
                slots += int(min(offered[name] for name in wanted))
            else:
                lacking.append(address)
        unfit = {}
        if lacking and not explain:
            unfit = {str(workers[address].get("name", address)): "lacks the resources" for address in lacking}
        elif lacking:
            from dlgrade.cluster.task import identity

            try:
                answers = self.client.run(identity, ids, workers=lacking, on_error="return")
            except Exception as error:
                answers = {address: {"error": f"did not answer ({type(error).__name__})"} for address in lacking}
            for address in lacking:
                info = answers.get(address)
                name = str(workers[address].get("name", address))
                unfit[name] = self._why_unfit(ids, info)
        return Fit(names, slots, unfit)

    def _why_unfit(self, ids: list[str], info: Any) -> str:
        if not isinstance(info, dict):
            return f"did not answer ({str(info)[:120]})"
        if "error" in info:
            return str(info["error"])
        if info.get("engine") != self.engine:
            return f"runs {info.get('engine')}; this process runs {self.engine}"
        for assignment_id in ids:
            assignment, fingerprint = self.assignment(assignment_id)
            if assignment_id in self._content:
                continue  # shipped with each task: nothing of it to install there
            theirs = info.get("assignments", {}).get(assignment_id)
            if theirs is None:
                broken = info.get("broken", {}).get(assignment_id)
                return f"has no assignment {assignment_id}" + (f" that loads ({broken})" if broken else
                                                               " (start it with --project naming its folder)")
            if theirs != fingerprint:
                version = info.get("versions", {}).get(assignment_id)
                if version != assignment.suite.version:
                    return (f"has {assignment_id}'s suite version {version}; this process has "
                            f"{assignment.suite.version}")
                return f"has another instructor notebook of {assignment_id} (same suite version)"
        if self.sandboxed and not info.get("bubblewrap"):
            return "has no bubblewrap (install it there, or grade with --no-sandbox)"
        return "does not offer the resources yet (still starting?)"

    def require(self, assignment_ids: Iterable[str], wait: float = NO_WORKER_GRACE,
                stream: TextIO | None = None) -> Fit:
        """fit(), waiting up to ``wait`` seconds while the cluster has no worker at all or only starting ones;
        UsageError naming every worker and why it does not fit when none does."""
        ids = list(assignment_ids)
        deadline = time.monotonic() + wait
        told = False
        while True:
            fit = self.fit(ids)
            if fit.names:
                return fit
            starting = not fit.unfit or all(why.startswith("does not offer") for why in fit.unfit.values())
            if not starting or time.monotonic() >= deadline:
                break
            if stream is not None and not told:
                stream.write(f"waiting up to {wait:g} s for grading workers to join {self.address} "
                             "(start them with `dlgrade worker --scheduler ADDRESS`)\n")
                stream.flush()
                told = True
            time.sleep(1.0)
        if not fit.unfit:
            raise UsageError(f"no grading worker joined the Dask scheduler at {self.address} within {wait:g} s: "
                             "start them with `dlgrade worker --scheduler ADDRESS`")
        reasons = "; ".join(f"{name} {why}" for name, why in sorted(fit.unfit.items()))
        raise UsageError(f"no worker of the Dask cluster at {self.address} can grade {', '.join(ids)} as this "
                         f"process does: {reasons}")

    # ---- requests ----

    def request(self, assignment_id: str, notebook: bytes, suffix: str = ".ipynb",
                label: str = "", student: str | None = None) -> dict[str, Any]:
        """The grading request of a submission's bytes: UsageError where they are not a gradable submission
        (checked here, before any worker is busy with them). ``student``: whose it is, for the questions on each
        student's own numbers (derived here from the course secret; the request carries the numbers alone)."""
        from dlgrade.cluster.task import make_request
        from dlgrade.grading import own_numbers, submission_seed
        from dlgrade.notebook import MAX_SUBMISSION_BYTES, extract

        assignment, fingerprint = self.assignment(assignment_id)
        if suffix not in (".ipynb", ".py"):
            raise UsageError(f"{label or 'the submission'}: not a notebook or .py file")
        if len(notebook) > MAX_SUBMISSION_BYTES:
            raise UsageError(f"{label or 'the submission'}: larger than {MAX_SUBMISSION_BYTES >> 20} MB")
        file_name = f"{assignment.id}{suffix}"
        with tempfile.TemporaryDirectory(prefix="dlgrade-request-") as scratch:
            private = Path(scratch) / file_name
            private.write_bytes(notebook)
            try:
                extraction = extract(private, assignment.source)
            except UsageError as error:
                raise UsageError(str(error).replace(str(private), label or file_name)) from None
        from dlgrade.insight.probes import probe_seed

        seed = submission_seed(self.secret, extraction, assignment.suite.version)
        numbers = own_numbers(assignment, self.secret, student)
        return make_request(assignment.id, fingerprint, self.engine, notebook, file_name, seed, self.sandboxed,
                            student, numbers, probe_seed(self.secret, assignment.id),
                            content=self._content.get(assignment.id))

    def send(self, request: dict[str, Any]) -> Future:
        """The Dask task grading ``request`` on a fitting worker."""
        from dlgrade.cluster.task import grade

        key = f"dlgrade-grade-{request['assignment']}-{hashlib.sha256(request['notebook']).hexdigest()[:8]}-" \
              f"{time.time_ns():x}"
        return self.client.submit(grade, request, key=key, pure=False, retries=0,
                                  resources=self.resources(request["assignment"]))

    def submit(self, assignment_id: str, student: str, notebook: bytes, *,
               filename: str = "") -> concurrent.futures.Future[dict[str, Any]]:
        """Grade a student's submission (a notebook's bytes; a .py script's where ``filename`` ends in .py) on the
        cluster. The future gives the checked result data (result_to_data's form, ``submission`` = ``filename``
        or <id>.ipynb), or raises UsageError (an unusable submission: the student's to fix), WorkerRefused or
        GradingFailed (the cluster's, never the student's). An unusable submission fails the future at once."""
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        label = f"{student}: {filename or assignment_id + '.ipynb'}"
        try:
            suffix = Path(filename).suffix if filename else ".ipynb"
            request = self.request(assignment_id, notebook, suffix, label, student)
            task = self.send(request)
        except Exception as error:
            future.set_exception(error)
            return future
        assignment, _ = self.assignment(assignment_id)

        def done(task: Future) -> None:
            if not settled(task):  # its answer was lost with its worker before it was read: Dask reruns it
                task.add_done_callback(done)
                return
            try:
                future.set_result(self.checked(task, assignment, filename or f"{assignment_id}.ipynb", label))
            except Exception as error:
                future.set_exception(error)

        task.add_done_callback(done)
        future.dask_future = task  # type: ignore[attr-defined]  # kept alive with the future, cancellable
        return future

    def checked(self, task: Future, assignment: Assignment, submission: str, label: str) -> dict[str, Any]:
        """A finished task's result data, checked against the assignment; the exception that says why not."""
        from dlgrade.autograde import checked_result, result_to_data

        outcome = task_outcome(task)
        if outcome.kind == "graded":
            data = {**outcome.result, "submission": submission}
            try:
                return result_to_data(checked_result(data, assignment))
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise GradingFailed(f"{label}: the grader's result was rejected: {error}") from None
        detail = outcome.detail.replace(outcome.path, submission) if outcome.path else outcome.detail
        if outcome.kind == "refused":
            raise UsageError(f"{label}: {detail}")
        if outcome.kind == "unfit":
            raise WorkerRefused(f"worker {outcome.worker} refused {label}: {detail}")
        raise GradingFailed(f"{label}: {detail}")


@dataclass(frozen=True)
class Outcome:
    """A finished task, read: kind graded (result: plain data), refused, failed, unfit or lost (the task erred on
    the cluster: workers died, or it was cancelled)."""

    kind: str
    worker: str = ""
    result: Any = None
    detail: str = ""
    path: str = ""


def settled(task: Future) -> bool:
    """Whether a task whose done-callback ran is really done. A finished task's answer lives on its worker until
    read: a worker that dies first takes it along, and the scheduler runs the task again (status lost, then
    pending): then it is not done yet."""
    return task.status in ("finished", "error", "cancelled")


def task_outcome(task: Future) -> Outcome:
    """What a finished Dask task says, without raising."""
    from distributed.scheduler import KilledWorker

    if task.status == "finished":
        try:
            answer = task.result()
        except Exception as error:
            return Outcome("lost", detail=f"its answer could not be read ({type(error).__name__}: {error})")
        if not isinstance(answer, dict) or answer.get("kind") not in ("graded", "refused", "failed", "unfit"):
            return Outcome("failed", detail="the worker's answer is not one this dlgrade understands")
        result = None
        if answer["kind"] == "graded":
            try:
                result = json.loads(answer.get("result") or "")
            except (TypeError, ValueError):
                return Outcome("failed", str(answer.get("worker", "")), detail="the worker's result is not JSON")
        return Outcome(answer["kind"], str(answer.get("worker", "")), result, str(answer.get("detail", ""))[:2000],
                       str(answer.get("path", "")))
    if task.status == "error":
        error = task.exception()
        if isinstance(error, KilledWorker):
            return Outcome("lost", detail=f"the grading workers died on it {MAX_RETRIES + 1} times (last: "
                                          f"{getattr(error, 'last_worker', None) and error.last_worker.name}): "
                                          "an infrastructure failure, not the student's; rerun to grade it")
        first = str(error).strip().splitlines()[0][:300] if str(error).strip() else ""
        return Outcome("lost", detail=f"the cluster failed to run it: {type(error).__name__}: {first}")
    return Outcome("lost", detail=f"the task was {task.status} (the scheduler lost it)")


# ---- dlgrade autograde --scheduler ---------------------------------------------------------------------------


def _progress_class() -> type:
    from dlgrade.batch import Progress

    @dataclass
    class ClusterProgress(Progress):
        """The local pool's progress line, with the count each worker graded."""

        by_worker: Counter[str] = field(default_factory=Counter)

        def line(self) -> str:
            shown = ", ".join(f"{name} {count}" for name, count in sorted(self.by_worker.items()))
            return super().line() + (f"  by {shown}" if shown else "")

    return ClusterProgress


def run_on_cluster(address: str, todo: Sequence[Submission], recorder: Recorder, loaded: dict[str, Assignment],
                   secret: bytes, sandboxed: bool = True, already: Sequence[Row] = (),
                   stream: TextIO | None = None) -> list[Row]:
    """Grade ``todo`` on the Dask cluster at ``address``, recording each result here as it arrives (the local
    pool's contract: batch.run, batch.Stopped included). distributed's own log lines are kept off stderr for the
    whole run: what goes wrong is said in the table and in one line."""
    with _quiet_distributed():
        return _run_on_cluster(address, todo, recorder, loaded, secret, sandboxed, already, stream)


def _run_on_cluster(address: str, todo: Sequence[Submission], recorder: Recorder, loaded: dict[str, Assignment],
                    secret: bytes, sandboxed: bool, already: Sequence[Row], stream: TextIO | None) -> list[Row]:
    from dlgrade.autograde import Row
    from dlgrade.batch import Stopped, already_said, not_graded

    rows: list[Row] = []
    title = "grading " + ",".join(loaded)
    with ClusterBackend(address, secret=secret, sandboxed=sandboxed, assignments=loaded) as backend:
        fit = backend.require(loaded, stream=stream)
        progress = _progress_class()(len(todo), stream, title)
        if stream is not None:
            cached = already_said(already)
            unfit = f"; not used: {'; '.join(f'{n} {w}' for n, w in sorted(fit.unfit.items()))}" if fit.unfit else ""
            retry = "" if backend.previous_allowed_failures in (None, 0, 1) else \
                f"; the scheduler's allowed-failures lowered from {backend.previous_allowed_failures} to 1"
            workers = f"{len(fit.names)} worker{'s' if len(fit.names) != 1 else ''}"
            stream.write(f"{title}: {len(todo)} submissions on the Dask cluster at {address}, {workers} "
                         f"({', '.join(sorted(fit.names.values()))}), {fit.slots} slots{cached}{unfit}{retry}\n")
            stream.flush()
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        inflight: dict[str, tuple[Future, int]] = {}
        recorded: set[int] = set()
        pending = deque(range(len(todo)))
        window = max(MIN_WINDOW, WINDOW_PER_SLOT * fit.slots)
        last_fit, alone_since = time.monotonic(), None

        def finish(index: int, row: Row, worker: str = "") -> None:
            if index in recorded:  # a second answer for a submission (never expected: one task each)
                return
            recorded.add(index)
            rows.append(row)
            if worker:
                progress.by_worker[worker] += 1
            progress.add(row.outcome)

        try:
            while pending or inflight:
                while pending and len(inflight) < window:
                    index = pending.popleft()
                    submission = todo[index]
                    try:
                        request = _request_of(backend, submission)
                    except UsageError as error:
                        finish(index, Row(submission.assignment_id, submission.student, "refused",
                                          max_score=loaded[submission.assignment_id].max_score,
                                          detail=str(error).splitlines()[0][:300]))
                        continue
                    task = backend.send(request)
                    inflight[task.key] = (task, index)
                    task.add_done_callback(finished.put)
                try:
                    task = finished.get(timeout=0.5)
                except queue.Empty:
                    task = None
                while task is not None:
                    if not settled(task):  # its answer was lost with its worker before we read it: Dask reruns it
                        task.add_done_callback(finished.put)
                    elif task.key in inflight:
                        _, index = inflight.pop(task.key)
                        _settle(task, todo[index], index, recorder, loaded, finish)
                    try:
                        task = finished.get_nowait()
                    except queue.Empty:
                        task = None
                if time.monotonic() - last_fit > 5.0 and (pending or inflight):
                    last_fit = time.monotonic()
                    fit = backend.fit(loaded, explain=False)
                    window = max(MIN_WINDOW, WINDOW_PER_SLOT * fit.slots)
                    if fit.names:
                        alone_since = None
                    elif alone_since is None:
                        alone_since = time.monotonic()
                    elif time.monotonic() - alone_since > NO_WORKER_GRACE:
                        raise UsageError(f"no grading worker left in the Dask cluster at {address} for "
                                         f"{NO_WORKER_GRACE:g} s: {not_graded(len(todo), rows)}; rerun once "
                                         "workers are back")
                if backend.client.status not in ("running", "connecting"):
                    raise UsageError(f"lost the Dask scheduler at {address}: {not_graded(len(todo), rows)}; rerun")
                progress.draw()
        except UsageError as error:  # what was done is recorded: the caller shows it before this one line
            raise Stopped(str(error), rows) from None
        finally:
            progress.draw(final=True)
            for task, _ in inflight.values():
                with contextlib.suppress(Exception):
                    task.cancel()
    return rows


def _request_of(backend: ClusterBackend, submission: Submission) -> dict[str, Any]:
    """The request of a submission: the very bytes its key was computed from."""
    assert submission.notebook is not None
    try:
        data = submission.notebook.read_bytes()
    except OSError as error:
        raise UsageError(f"{submission.notebook}: unreadable ({error.strerror})") from None
    if hashlib.sha256(data).hexdigest() != submission.digest:
        raise UsageError(f"{submission.notebook}: changed while it was being graded; rerun")
    return backend.request(submission.assignment_id, data, submission.notebook.suffix, str(submission.notebook),
                           submission.student)


def _settle(task: Future, submission: Submission, index: int, recorder: Recorder, loaded: dict[str, Assignment],
            finish: Any) -> None:
    """Record a finished task's submission: its result through the Recorder, or a row saying why there is none."""
    from dlgrade.autograde import Row

    outcome = task_outcome(task)
    path = str(submission.notebook)
    if outcome.kind == "graded":
        payload = {**outcome.result, "submission": path} if isinstance(outcome.result, dict) else outcome.result
        finish(index, recorder.record(submission, payload), outcome.worker)
        return
    detail = outcome.detail.replace(outcome.path, path) if outcome.path else outcome.detail
    max_score = loaded[submission.assignment_id].max_score
    if outcome.kind == "refused":  # e.g. not a notebook: nothing of the student's earlier grades is touched
        row = Row(submission.assignment_id, submission.student, "refused", max_score=max_score,
                  detail=detail.splitlines()[0][:300] if detail else "refused")
    elif outcome.kind == "unfit":
        row = Row(submission.assignment_id, submission.student, "failed", max_score=max_score,
                  detail=f"worker {outcome.worker} refused it: {detail}"[:500])
    else:
        row = Row(submission.assignment_id, submission.student, "failed", max_score=max_score, detail=detail[:500])
    finish(index, row, outcome.worker)
