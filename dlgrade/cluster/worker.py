"""`dlgrade worker --scheduler ADDRESS`: a grading node in one command, as a thin wrapper of `dask worker`: one
worker process per grading slot (default: the cores), one thread each, each holding one warm sandbox through the
dlgrade plugin (preloaded). One thread per process, not one process with many threads: the trusted side's
references are Python and numpy/torch code under the GIL, and some seed torch's global generator, so two gradings
in one process would slow each other down and could interleave their random draws. Arguments it does not know
(--nanny-port, --memory-limit, --tls-ca-file, ...) go to `dask worker` unchanged.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Sequence
from pathlib import Path

from dlgrade.cluster.backend import reachable
from dlgrade.errors import UsageError


def dask_worker_arguments(scheduler: str, slots: int, name: str, extra: Sequence[str]) -> list[str]:
    """`dask worker`'s command line for a grading node of ``slots`` processes."""
    arguments = [scheduler, "--nworkers", str(slots), "--nthreads", "1", "--name", name,
                 "--preload", "dlgrade.cluster.plugin"]
    if not any(a == "--dashboard" or a == "--no-dashboard" or a.startswith("--dashboard-address") for a in extra):
        arguments.append("--no-dashboard")  # a grading node needs none (and Bokeh is not installed)
    return arguments + list(extra)


def wait_for_scheduler(address: str, timeout: float) -> None:
    """Until the scheduler listens (a node may well start before it: a batch job, a pod), at most ``timeout``
    seconds; then reachable()'s one line."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return reachable(address, timeout=min(10.0, max(0.5, deadline - time.monotonic())))
        except UsageError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def run_worker(scheduler: str | None, slots: int | None, name: str | None, projects: Sequence[str],
               extra: Sequence[str], connect_timeout: float = 60.0, warm: Sequence[str] | None = None) -> int:
    """Wait for the scheduler, then become `dask worker` with the dlgrade plugin (until stopped). ``warm``: the
    assignments each worker process warms before it takes tasks (GradingPlugin.warm; empty: all of them)."""
    from dlgrade.assignments import PROJECT_ROOT, known_ids
    from dlgrade.batch import default_workers

    scheduler = scheduler or os.environ.get("DLGRADE_SCHEDULER")
    if not scheduler:
        raise UsageError("no Dask scheduler given: pass --scheduler tcp://HOST:PORT or set DLGRADE_SCHEDULER")
    count = slots if slots is not None else default_workers()
    if count < 1:
        raise UsageError(f"--slots {count}: give at least 1")
    folders = [Path(p).resolve() for p in projects]
    for folder in folders:
        if not (folder / "assignments").is_dir() or not (folder / "autograders").is_dir():
            raise UsageError(f"--project {folder}: no assignments/ and autograders/ in it")
    known = {i for folder in folders or [PROJECT_ROOT] for i in known_ids(folder)}
    unknown = sorted(set(warm or ()) - known)
    if unknown:
        raise UsageError(f"--warm {unknown[0]}: no such assignment on this node (it has: {', '.join(sorted(known))})")
    wait_for_scheduler(scheduler, connect_timeout)
    from distributed.cli.dask_worker import main as dask_worker

    from dlgrade.cluster.plugin import PROJECTS_ENV, WARM_ENV

    if folders:
        os.environ[PROJECTS_ENV] = os.pathsep.join(map(str, folders))  # read by each worker process's plugin
    if warm is not None:
        os.environ[WARM_ENV] = ",".join(warm) or "*"
    worker_name = name or f"{socket.gethostname()}-{os.getpid()}"
    try:
        dask_worker.main(args=dask_worker_arguments(scheduler, count, worker_name, extra),
                         prog_name="dlgrade worker", standalone_mode=True)
    except SystemExit as done:
        return int(done.code or 0) if not isinstance(done.code, str) else 1
    return 0


__all__ = ["dask_worker_arguments", "run_worker"]
