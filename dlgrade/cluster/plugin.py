"""The grading state of one Dask worker process, held by a WorkerPlugin: the assignments it can grade (loaded
once, from its own installed projects), one sandbox per worker thread (launched at set-up, restarted when it
dies; warmed, each assignment's solution graded once on it, by ``dlgrade worker --warm`` at set-up or by
dlgrade.cluster.task.warm later, so that a standing worker grades its first submission as fast as its hundredth),
and the Dask resources that route to it only the tasks it grades exactly as the main process would. Also the
preload module that `dlgrade worker` hands to `dask worker` (``dask_setup``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from distributed import WorkerPlugin

if TYPE_CHECKING:
    from distributed import Worker

    from dlgrade.assignments import Assignment
    from dlgrade.grading import Grader
    from dlgrade.sandbox.launcher import Sandbox

PLUGIN_NAME = "dlgrade"
PROJECTS_ENV = "DLGRADE_WORKER_PROJECTS"  # os.pathsep-separated project folders, set by `dlgrade worker --project`
WARM_ENV = "DLGRADE_WORKER_WARM"  # assignments warmed at set-up, comma-separated ("*": all), by `dlgrade worker --warm`
logger = logging.getLogger("distributed.dlgrade")  # shown in the worker's log, as Dask's own


@dataclass(frozen=True)
class Gradable:
    """An assignment this worker grades: the assignment, its fingerprint, and its Dask resource's name."""

    assignment: Assignment
    fingerprint: str
    resource: str


def projects_from_env() -> list[Path]:
    """The project folders named by `dlgrade worker --project` (the installed project when none)."""
    from dlgrade.assignments import PROJECT_ROOT

    named = [Path(p) for p in os.environ.get(PROJECTS_ENV, "").split(os.pathsep) if p]
    return named or [PROJECT_ROOT]


def warm_from_env() -> list[str] | None:
    """The assignments `dlgrade worker --warm` named: None for none, [] for all of the worker's."""
    named = os.environ.get(WARM_ENV)
    if named is None:
        return None
    return [] if named.strip() == "*" else [i for i in (p.strip() for p in named.split(",")) if i]


def load_gradables(projects: list[Path]) -> tuple[dict[str, Gradable], dict[str, str]]:
    """Every assignment of the projects (the first project wins on a shared id), and why others did not load."""
    from dlgrade.assignments import known_ids
    from dlgrade.autograde import assignment_fingerprint
    from dlgrade.cluster.identity import grading_resource
    from dlgrade.course import load_assignment

    gradables: dict[str, Gradable] = {}
    broken: dict[str, str] = {}
    for project in projects:
        for assignment_id in known_ids(project):
            if assignment_id in gradables:
                continue
            try:
                assignment = load_assignment(assignment_id, project)
                fingerprint = assignment_fingerprint(assignment)
            except Exception as error:  # one broken suite must not take the node's other assignments down
                broken[assignment_id] = f"{type(error).__name__}: {error}"
                continue
            gradables[assignment_id] = Gradable(assignment, fingerprint,
                                                grading_resource(assignment_id, fingerprint))
    return gradables, broken


@dataclass
class _Slot:
    """A sandbox and whether its fork server's "ready" is still unread (launched, never waited for)."""

    sandbox: Sandbox
    launched: bool = False


class GradingPlugin(WorkerPlugin):
    """One worker process's grading state (see the module's docstring). ``projects``: where its assignments
    come from (default: $DLGRADE_WORKER_PROJECTS, else the installed project). ``warm``: the assignments warmed
    at set-up, before the worker offers to grade anything (see warm; [] for all of them; default: $DLGRADE_WORKER_WARM,
    else none). Made of these alone until set up, so Dask can ship it to workers (Client.register_plugin,
    LocalCluster(plugins=...))."""

    name = PLUGIN_NAME

    def __init__(self, projects: list[Path] | None = None, warm: list[str] | None = None) -> None:
        self.projects = [Path(p) for p in projects] if projects else None
        self.warm_at_setup = list(warm) if warm is not None else None
        self.gradables: dict[str, Gradable] = {}
        self.broken: dict[str, str] = {}
        self.bubblewrap = False
        self._shipped: dict[str, Gradable] = {}  # a course's own assignments, by their content's digest
        self._content_dir: Path | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {"projects": self.projects, "warm": self.warm_at_setup}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["projects"], state.get("warm"))  # type: ignore[misc]

    # ---- WorkerPlugin --------------------------------------------------------------------------------------

    async def setup(self, worker: Worker) -> None:
        from dlgrade.batch import one_thread
        from dlgrade.cluster.identity import SANDBOX_RESOURCE, engine_resource
        from dlgrade.sandbox.launcher import bwrap_path

        one_thread()  # the trusted side on one thread per slot, as in the local pool
        self._free: queue.SimpleQueue[_Slot] = queue.SimpleQueue()
        self._sandboxes: list[Sandbox] = []
        self._graders: dict[tuple[str, int], Grader] = {}
        self._warm: dict[tuple[str, int | None], dict[str, Any]] = {}  # (fingerprint, fork server's pid): warmed
        self._lock = threading.Lock()
        self.bubblewrap = bwrap_path() is not None
        slots = max(1, worker.state.nthreads)
        if slots > 1:  # works, but the trusted side then shares one GIL and torch's global generator
            logger.warning("dlgrade: %d threads in one worker process: start grading workers with one thread each "
                           "(dlgrade worker does; dask worker --nthreads 1)", slots)
        # Launched first, so their torch imports run while this process loads the suites.
        for _ in range(slots):
            self._add_sandbox(sandboxed=self.bubblewrap)
        self.gradables, self.broken = load_gradables(self.projects or projects_from_env())
        for assignment_id, why in self.broken.items():
            logger.error("dlgrade: %s cannot be graded on this worker: %s", assignment_id, why)
        warm_ups = {g.assignment.suite.warm_up for g in self.gradables.values() if g.assignment.suite.warm_up}
        for sandbox in self._sandboxes:
            for source in sorted(warm_ups):
                sandbox.warm(source)
        warm = self.warm_at_setup if self.warm_at_setup is not None else warm_from_env()
        if warm is not None:  # before any task can come: in a thread, so the worker's event loop goes on
            for line in await asyncio.to_thread(self.warm, warm or None):
                said = line.get("error") or f"{line['score']:g}/{line['max_score']:g}"
                full = "error" not in line and line["score"] == line["max_score"]
                logger.log(logging.INFO if full else logging.ERROR, "dlgrade: warm: %s's solution on slot %d: %s",
                           line["assignment"], line["slot"], said)
        resources = {gradable.resource: float(slots) for gradable in self.gradables.values()}
        resources[engine_resource()] = float(slots)  # tasks that bring their own (a course's) assignment
        if self.bubblewrap:
            resources[SANDBOX_RESOURCE] = float(slots)
        await _offer(worker, resources)
        logger.info("dlgrade: %d grading slot(s) (%s), assignments: %s", slots,
                    "bubblewrap" if self.bubblewrap else "no bubblewrap: unsandboxed tasks only",
                    ", ".join(sorted(self.gradables)) or "none")

    def teardown(self, worker: Worker) -> None:
        for sandbox in getattr(self, "_sandboxes", []):
            with contextlib.suppress(Exception):
                sandbox.close()
        self._sandboxes = []
        if self._content_dir is not None:
            shutil.rmtree(self._content_dir, ignore_errors=True)

    # ---- a course's own assignments, shipped with their tasks ----------------------------------------------------

    def shipped(self, request: dict[str, Any]) -> Gradable:
        """The Gradable of a request's own content (dlgrade.cluster.task.content_bundle): written once per version
        into this worker's private content folder and loaded from there. ValueError for damaged content."""
        from dlgrade.autograde import assignment_fingerprint
        from dlgrade.cluster.identity import engine_resource
        from dlgrade.cluster.task import content_digest, content_name_ok
        from dlgrade.course import load_assignment

        assignment_id, files = str(request.get("assignment")), request.get("content")
        if not isinstance(files, dict) or not all(isinstance(v, bytes) for v in files.values()):
            raise ValueError("the request's content is not a set of files")
        digest = content_digest(files)
        if digest != request.get("content_sha256"):
            raise ValueError("the assignment's content arrived damaged")
        with self._lock:
            if digest in self._shipped:
                return self._shipped[digest]
            bad = [name for name in files if not isinstance(name, str) or not content_name_ok(name, assignment_id)]
            if bad:
                raise ValueError(f"the content holds a file outside the assignment's own: {str(bad[0])[:100]!r}")
            if self._content_dir is None:
                self._content_dir = Path(tempfile.mkdtemp(prefix="dlgrade-content-"))
            root = self._content_dir / digest[:24]
            if not root.exists():
                staging = Path(tempfile.mkdtemp(dir=self._content_dir))
                for name, data in files.items():
                    (staging / name).parent.mkdir(parents=True, exist_ok=True)
                    (staging / name).write_bytes(data)
                staging.rename(root)
            assignment = load_assignment(assignment_id, root)
            gradable = Gradable(assignment, assignment_fingerprint(assignment), engine_resource())
            self._shipped[digest] = gradable
            return gradable

    # ---- slots ---------------------------------------------------------------------------------------------

    def _add_sandbox(self, sandboxed: bool) -> None:
        from dlgrade.sandbox.launcher import Sandbox, SandboxUnavailable

        slot = _Slot(Sandbox(sandboxed=sandboxed))
        try:
            slot.sandbox.launch()
            slot.launched = True
        except (SandboxUnavailable, OSError) as error:  # started again on first use, which reports it
            logger.error("dlgrade: a sandbox did not launch: %s", error)
        self._sandboxes.append(slot.sandbox)
        self._free.put(slot)

    @contextlib.contextmanager
    def slot(self) -> Iterator[Sandbox]:
        """A warm sandbox of this worker's own, for one task: ready (waited for if it is still importing torch),
        or started again if it died (SandboxUnavailable if it cannot start)."""
        from dlgrade.sandbox.launcher import SandboxUnavailable

        slot = self._free.get()
        try:
            if slot.launched:  # launched at set-up: its "ready" is still to be read
                slot.launched = False
                try:
                    slot.sandbox.wait_ready()
                except SandboxUnavailable:
                    slot.sandbox.close()
            if not slot.sandbox.alive():  # failed to start, or killed since: a fresh one
                slot.sandbox.close()
                slot.sandbox.start()
            yield slot.sandbox
        finally:
            self._free.put(slot)

    @contextlib.contextmanager
    def every_slot(self) -> Iterator[list[Sandbox]]:
        """Every slot at once, each sandbox ready (waited for, or started again), handed back at the end."""
        with contextlib.ExitStack() as stack:
            yield [stack.enter_context(self.slot()) for _ in self._sandboxes]

    def warm(self, assignment_ids: list[str] | None = None) -> list[dict[str, Any]]:
        """Make every slot as warm as one that has graded before: on each, each assignment's own solution is graded
        once, thrown away (Grader.warm_up: the fork server's warm-up waited for, the trusted side's lazy imports,
        the public values, the numpy-only sandbox). Once per slot's fork server and assignment: a later call (or a
        restarted sandbox's first) grades only what is not warm yet. ``assignment_ids``: default every assignment
        of this worker's. Per slot and assignment: the score the solution got (the full marks, unless the
        assignment is broken here), or why it could not be graded."""
        wanted = sorted(self.gradables) if assignment_ids is None else assignment_ids
        report: list[dict[str, Any]] = []
        with self.every_slot() as sandboxes:
            for number, sandbox in enumerate(sandboxes, 1):
                for assignment_id in wanted:
                    gradable = self.gradables.get(assignment_id)
                    if gradable is None:
                        report.append({"slot": number, "assignment": assignment_id,
                                       "error": f"this worker has no assignment {assignment_id!r}"})
                        continue
                    report.append({"slot": number, "assignment": assignment_id} | self._warm_up(gradable, sandbox))
        return report

    def _warm_up(self, gradable: Gradable, sandbox: Sandbox) -> dict[str, Any]:
        key = (gradable.fingerprint, sandbox.process.pid if sandbox.process is not None else None)
        if key in self._warm:
            return self._warm[key] | {"already": True}
        try:
            result = self.grader(gradable, sandbox).warm_up()
        except Exception as error:  # a broken solution is reported, and graded again by the next warm
            logger.error("dlgrade: %s's solution could not be graded on this worker: %s", gradable.assignment.id,
                         error)
            return {"error": f"{type(error).__name__}: {str(error)[:300]}"}
        self._warm[key] = {"score": result.score, "max_score": result.max_score}
        return self._warm[key] | {"already": False}

    def grader(self, gradable: Gradable, sandbox: Sandbox) -> Grader:
        """The Grader of an assignment on a sandbox, made once (it keeps the public cases' trusted values)."""
        from dlgrade.grading import Grader

        key = (gradable.fingerprint, id(sandbox))
        with self._lock:
            if key not in self._graders:
                self._graders[key] = Grader(gradable.assignment, sandbox, secret=b"")
            return self._graders[key]


async def _offer(worker: Worker, resources: dict[str, float]) -> None:
    """Add resources to the worker: straight into its state while it starts (they go with its registration),
    through the scheduler once it runs."""
    from distributed.core import Status

    if worker.status == Status.running:
        await worker.set_resources(**resources)
        return
    for name, quantity in resources.items():
        worker.state.total_resources[name] = quantity
        worker.state.available_resources[name] = quantity


def plugin_of(worker: Any) -> GradingPlugin:
    """This worker's GradingPlugin, or a clear error where the worker was started without it."""
    plugin = worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, GradingPlugin):
        raise LookupError("this Dask worker has no dlgrade plugin: start grading workers with `dlgrade worker`")
    return plugin


async def dask_setup(worker: Worker) -> None:
    """Dask's preload hook (`dask worker --preload dlgrade.cluster.plugin`): install the plugin."""
    await worker.plugin_add(GradingPlugin(), name=PLUGIN_NAME, catch_errors=False)
