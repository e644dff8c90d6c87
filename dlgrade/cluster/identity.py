"""What a worker must share with the main process to grade for it: the engine (dlgrade's code, numpy, torch,
Python) and, per assignment, its fingerprint (suite version and instructor notebook). Both sides compute the same
Dask resource name from them; a worker advertises the names of what it can grade, a task asks for one."""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import sys
from pathlib import Path

SANDBOX_RESOURCE = "dlgrade-bubblewrap"  # a worker whose sandboxes are bubblewrap's offers it
PACKAGE = Path(__file__).resolve().parent.parent


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "absent"


@functools.cache
def engine_version() -> str:
    """dlgrade's version and a hash of every one of its Python files, with the versions of what computes a
    grade's numbers beside it (numpy, torch, the interpreter): two processes whose engine_version agrees grade a
    submission identically. Read once per process."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes() + b"\0")
    python = ".".join(map(str, sys.version_info[:3]))
    return (f"dlgrade {_version('dlgrade')}+{digest.hexdigest()[:12]}, numpy {_version('numpy')}, "
            f"torch {_version('torch')}, python {python}")


def grading_resource(assignment_id: str, fingerprint: str, engine: str | None = None) -> str:
    """The Dask resource a worker offers, one unit per grading slot, when it grades ``assignment_id`` at this
    fingerprint with this engine; a task of that assignment asks for one unit of it."""
    key = hashlib.sha256(f"{fingerprint}\0{engine or engine_version()}".encode()).hexdigest()[:16]
    return f"dlgrade-{assignment_id}-{key}"


def engine_resource(engine: str | None = None) -> str:
    """The Dask resource every worker of this engine offers, one unit per slot: a task that brings its own
    assignment (a course's, dlgrade.cluster.task.content_bundle) asks for it instead of an assignment's."""
    return f"dlgrade-engine-{hashlib.sha256((engine or engine_version()).encode()).hexdigest()[:16]}"
