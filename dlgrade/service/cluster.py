"""`dlgrade serve --scheduler ADDRESS`: grading on the Dask cluster of dlgrade.cluster, through FutureBackend.

Until dlgrade.cluster is part of this installation, ``unavailable()`` says so in one line and `dlgrade serve`
stops with it (exit 2) instead of starting a service that cannot grade.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

from dlgrade.errors import UsageError

if TYPE_CHECKING:
    from dlgrade.assignments import Assignment
    from dlgrade.service.backends import Backend


def unavailable() -> str | None:
    """Why --scheduler cannot be used here, or None."""
    if importlib.util.find_spec("dlgrade.cluster") is None:
        return ("--scheduler: the cluster backend is not available in this dlgrade (dlgrade.cluster is not "
                "installed); omit --scheduler to grade on this machine's local pool")
    return None


def cluster_backend(address: str, loaded: dict[str, Assignment], secret: bytes, sandboxed: bool,
                    workers: int | None) -> Backend:
    why = unavailable()
    if why:
        raise UsageError(why)
    raise UsageError("--scheduler: this dlgrade.cluster offers no client the service knows how to use")
