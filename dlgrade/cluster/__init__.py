"""Grading on a Dask cluster: the trusted main process (``dlgrade autograde --scheduler``, or the submission
service through ``ClusterBackend``) reads each submission, sends its bytes with the assignment's id, fingerprint and
the submission's hidden-case seed to a Dask worker, and records the plain result that comes back itself; workers
need no shared file system and never touch a course. Each worker process (``dlgrade worker``: one thread, one
warm sandbox) holds its sandbox in a ``WorkerPlugin`` (plugin.py), grades with the pure task function of task.py,
and advertises, as Dask resources, exactly the assignments it grades as the main process does (identity.py), so a
task only ever reaches a worker with the same dlgrade and the same suite. A worker that dies mid-task is Dask's to
retry once (allowed-failures); a student's timeout or crash is graded, never retried. backend.py is the client
side; worker.py the ``dlgrade worker`` command.
"""

from dlgrade.cluster.backend import ClusterBackend, GradingFailed, WorkerRefused

__all__ = ["ClusterBackend", "GradingFailed", "WorkerRefused"]
