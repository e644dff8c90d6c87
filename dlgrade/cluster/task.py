"""The task a Dask worker runs for one submission: plain data in (the submission's bytes, the assignment's id and
fingerprint, the hidden cases' seed, whether a sandbox is required), plain data out (the result as JSON text, or
why there is none). Pure in what matters: the same request gives the same result on any fitting worker; it reads
nothing of a course and writes nothing but a private copy of the submission, removed when it is done.

A course's own assignment (not in the pack the nodes have installed) travels with its request: ``content`` holds
its suite and its assignment folder (content_bundle), which the worker writes once per version into a private
folder and loads from there; the fingerprint the main process computed must come out the same there (suite
version and notebook), or the worker refuses the task. The worker trusts the main process as it trusts any Dask
client (which can run any function on it): the content is the instructor's, never a student's.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

REQUEST_FORMAT = 1
# What a request may name its file (an .ipynb or a .py, a plain name): the worker writes it under that name.
_FILE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}\.(ipynb|py)$")
MAX_CONTENT_BYTES = 64 << 20  # a course's assignment folder and suite, as shipped with each task
_SKIPPED = {"__pycache__", ".ipynb_checkpoints"}


def content_bundle(assignment: Any) -> dict[str, bytes]:
    """A course's own assignment as a task carries it: path (relative to its content pack) -> bytes, for its suite
    and every file of its assignment folder. UsageError when it is too large to ship."""
    from dlgrade.errors import UsageError

    files = {f"autograders/{assignment.id}.py": assignment.suite_file.read_bytes()}
    for path in sorted(assignment.source.parent.rglob("*")):
        if path.is_file() and not path.is_symlink() and not _SKIPPED & set(path.parts):
            files[path.relative_to(assignment.root).as_posix()] = path.read_bytes()
    if sum(map(len, files.values())) > MAX_CONTENT_BYTES:
        raise UsageError(f"{assignment.source.parent}: more than {MAX_CONTENT_BYTES >> 20} MB to ship to the "
                         "cluster's workers with each task; keep data files out of the assignment's folder")
    return files


def content_digest(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(b"dlgrade-content-v1\0")
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return digest.hexdigest()


def content_name_ok(name: str, assignment_id: str) -> bool:
    """Whether a shipped file's path is one of the assignment's own: its suite, or under its assignment folder."""
    parts = name.split("/")
    if name == f"autograders/{assignment_id}.py":
        return True
    return len(parts) >= 3 and parts[:2] == ["assignments", assignment_id] and all(
        part not in ("", ".", "..") and "\\" not in part and "\0" not in part for part in parts)


def make_request(assignment_id: str, fingerprint: str, engine: str, notebook: bytes, file_name: str, seed: int,
                 sandboxed: bool, student: str | None = None, numbers: dict[str, float] | None = None,
                 probe_seed: int | None = None, content: dict[str, bytes] | None = None) -> dict[str, Any]:
    """A grading request as it crosses the network: plain values only (no course path, no course secret: the seed
    is this submission's alone, and so are the student's own numbers, for the questions that have them; the probe
    seed, the course's probe inputs for this assignment, is derived from the secret and reveals nothing of it).
    ``content``: a course's own assignment (content_bundle)."""
    request = {"format": REQUEST_FORMAT, "assignment": assignment_id, "fingerprint": fingerprint, "engine": engine,
               "notebook": notebook, "sha256": hashlib.sha256(notebook).hexdigest(), "file_name": file_name,
               "seed": seed, "sandboxed": sandboxed, "student": student, "numbers": numbers,
               "probe_seed": probe_seed}
    if content is not None:
        request |= {"content": content, "content_sha256": content_digest(content)}
    return request


def _numbers(value: Any) -> dict[str, float] | None:
    """A request's per-student numbers, if it carries well-formed ones (names to finite floats)."""
    if not isinstance(value, dict) or not value:
        return None
    if not all(isinstance(k, str) and isinstance(v, float | int) and not isinstance(v, bool) and math.isfinite(v)
               for k, v in value.items()):
        return None
    return {k: float(v) for k, v in value.items()}


def answer(kind: str, worker: str, result: str | None = None, detail: str = "", path: str = "") -> dict[str, Any]:
    """A task's answer: kind is graded (result: the SubmissionResult as JSON text), refused (the submission is
    unusable: detail says why, as the local pool says it), failed (grading broke: detail) or unfit (this worker
    cannot grade it as the main process would: detail)."""
    return {"format": REQUEST_FORMAT, "kind": kind, "result": result, "detail": detail, "worker": worker,
            "path": path}


def unfit_reason(request: dict[str, Any], plugin: Any) -> str | None:
    """Why this worker must not grade the request (another dlgrade, another suite, no bubblewrap), or None."""
    from dlgrade.cluster.identity import engine_version

    if not isinstance(request, dict) or request.get("format") != REQUEST_FORMAT:
        return "the request is not one this dlgrade understands (another dlgrade version sent it)"
    if request.get("engine") != engine_version():
        return f"this worker runs {engine_version()}; the main process runs {request.get('engine')}"
    assignment_id = request.get("assignment")
    if request.get("content") is not None:  # a course's own assignment: it came with the request
        if request.get("sandboxed", True) and not plugin.bubblewrap:
            return "bubblewrap (bwrap) is not installed on this worker: install it there, or grade with --no-sandbox"
        return None
    gradable = plugin.gradables.get(assignment_id)
    if gradable is None:
        why = plugin.broken.get(assignment_id)
        return f"this worker has no assignment {assignment_id!r}" + (f" that loads ({why})" if why else "")
    if gradable.fingerprint != request.get("fingerprint"):
        return (f"{assignment_id} differs here (suite version {gradable.assignment.suite.version}, or its "
                "instructor notebook): install the main process's assignments and suites on this worker")
    if request.get("sandboxed", True) and not plugin.bubblewrap:
        return "bubblewrap (bwrap) is not installed on this worker: install it there, or grade with --no-sandbox"
    return None


def grade(request: dict[str, Any]) -> dict[str, Any]:
    """Grade one submission on this worker's warm sandbox (the Dask task)."""
    from distributed import get_worker

    from dlgrade.autograde import result_to_data
    from dlgrade.cluster.plugin import plugin_of
    from dlgrade.errors import UsageError

    worker = get_worker()
    name = str(worker.name)
    try:
        plugin = plugin_of(worker)
    except LookupError as error:
        return answer("unfit", name, detail=str(error))
    why = unfit_reason(request, plugin)
    if why is not None:
        return answer("unfit", name, detail=why)
    data = request["notebook"]
    if not isinstance(data, bytes) or hashlib.sha256(data).hexdigest() != request.get("sha256"):
        return answer("failed", name, detail="the submission's bytes arrived damaged")
    file_name = str(request.get("file_name", ""))
    if not _FILE_NAME.match(file_name):
        return answer("refused", name, detail=f"{file_name!r}: not a notebook or .py file name")
    if request.get("content") is not None:
        try:
            gradable = plugin.shipped(request)
        except Exception as error:
            return answer("failed", name, detail=f"the course's assignment {request.get('assignment')!r} does not "
                                                 f"load on worker {name}: {type(error).__name__}: {str(error)[:300]}")
        if gradable.fingerprint != request.get("fingerprint"):
            return answer("unfit", name, detail=f"{request.get('assignment')} loads differently here (suite version "
                                                f"{gradable.assignment.suite.version}): install the main process's "
                                                "dlgrade and reference code on this worker")
    else:
        gradable = plugin.gradables[request["assignment"]]
    scratch = Path(tempfile.mkdtemp(prefix="dlgrade-task-"))
    private = scratch / file_name
    try:
        private.write_bytes(data)
        with plugin.slot() as sandbox:
            student = request.get("student")
            probes = request.get("probe_seed")
            result = plugin.grader(gradable, sandbox).grade(
                private, student if isinstance(student, str) else None, seed=int(request["seed"]),
                numbers=_numbers(request.get("numbers")), probe_seed=probes if type(probes) is int else None)
        return answer("graded", name, json.dumps(result_to_data(result)), path=str(private))
    except UsageError as error:
        return answer("refused", name, detail=str(error), path=str(private))
    except Exception as error:  # a grading failure of ours: reported for this submission, the batch goes on
        return answer("failed", name, detail=f"grading failed on worker {name}: {type(error).__name__}: "
                                             f"{str(error)[:300]}", path=str(private))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def identity(assignment_ids: list[str], dask_worker: Any = None) -> dict[str, Any]:
    """What this worker is (for the main process's message when no worker fits): its engine, the fingerprints of
    the named assignments here (or why there are none), and whether it has bubblewrap. Run by Client.run, which
    passes the worker as ``dask_worker``."""
    from dlgrade.cluster.identity import engine_version
    from dlgrade.cluster.plugin import plugin_of

    worker = dask_worker
    try:
        plugin = plugin_of(worker)
    except LookupError as error:
        return {"name": str(worker.name), "error": str(error)}
    return {"name": str(worker.name), "engine": engine_version(), "bubblewrap": plugin.bubblewrap,
            "assignments": {a: (plugin.gradables[a].fingerprint if a in plugin.gradables else None)
                            for a in assignment_ids},
            "versions": {a: plugin.gradables[a].assignment.suite.version for a in assignment_ids
                         if a in plugin.gradables},
            "broken": {a: plugin.broken[a] for a in assignment_ids if a in plugin.broken},
            "at": time.time()}


def warm(assignment_ids: list[str] | None = None, dask_worker: Any = None) -> dict[str, Any]:
    """Make this worker as warm as a standing one that has graded before: on each of its slots, each named
    assignment's own solution graded once and thrown away (GradingPlugin.warm; default: every assignment it has),
    so that its first submission costs what its hundredth does. A task (submitted to one worker: a benchmark's
    warm start, an operator's before a deadline) or Client.run's function; returns the worker's name, the
    seconds it took, and per slot and assignment the solution's score (``slots``)."""
    from distributed import get_worker

    from dlgrade.cluster.plugin import plugin_of

    started = time.monotonic()
    dask_worker = dask_worker or get_worker()
    slots = plugin_of(dask_worker).warm(assignment_ids)
    return {"name": str(dask_worker.name), "seconds": round(time.monotonic() - started, 3), "slots": slots}
