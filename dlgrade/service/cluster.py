"""`dlgrade serve --scheduler ADDRESS`: grading on the Dask cluster of dlgrade.cluster, through FutureBackend.

dlgrade.cluster's ClusterBackend already does what the grading process needs of a backend: it sends a
submission's bytes (with its hidden-case seed, from the course secret that stays here) to a worker that grades
the assignment exactly as this process would, and its future gives the plain result data (or UsageError for a
submission that cannot be graded, WorkerRefused/GradingFailed for the cluster's own failures). The grading
process keeps as many submissions in flight as the cluster has fitting grading slots.

Where dlgrade.cluster is not part of this installation, ``unavailable()`` says so in one line and `dlgrade serve`
stops with it (exit 2) instead of starting a service that cannot grade.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from dlgrade.assignments import Assignment
    from dlgrade.service.backends import Backend, Job


def unavailable() -> str | None:
    """Why --scheduler cannot be used here, or None."""
    if importlib.util.find_spec("dlgrade.cluster") is None:
        return ("--scheduler: the cluster backend is not available in this dlgrade (dlgrade.cluster is not "
                "installed); omit --scheduler to grade on this machine's local pool")
    return None


def cluster_backend(address: str, loaded: dict[str, Assignment], secret: bytes, sandboxed: bool,
                    workers: int | None) -> Backend:
    """A FutureBackend on the cluster at ``address`` (``workers`` is the cluster's business, not ours)."""
    why = unavailable()
    if why:
        raise UsageError(why)
    from dlgrade.cluster import ClusterBackend, GradingFailed, WorkerRefused
    from dlgrade.service.backends import FutureBackend

    client = ClusterBackend(address, secret=secret, sandboxed=sandboxed, assignments=dict(loaded))
    try:
        fit = client.require(list(loaded))
    except BaseException:
        client.close()
        raise

    def submit(job: Job) -> Any:
        data = Path(job.path).read_bytes()
        if hashlib.sha256(data).hexdigest() != job.digest:
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            future.set_exception(GradingFailed("the stored submission changed on disk"))
            return future
        return client.submit(job.assignment, job.student, data, filename=f"{job.assignment}.ipynb")

    def outcome(future: Any) -> tuple[str, Any]:
        try:
            return "graded", future.result()
        except UsageError as error:
            return "refused", str(error)
        except (WorkerRefused, GradingFailed) as error:
            return "failed", str(error)

    return FutureBackend(f"cluster {address}", submit, outcome, slots=max(1, fit.slots), close=client.close)
