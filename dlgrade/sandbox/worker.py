"""The sandboxed worker: a fork server that has imported numpy and torch, and the per-submission children it forks.

Runs inside bubblewrap as PID 1 of its own pid namespace (so a student's SIGKILL cannot reach it and
``kill(-1)`` sweeps every leftover process), with only the standard library, numpy, torch and protocol.py.

Control channel (fd 0, a SOCK_SEQPACKET socket from the grader), one JSON message per packet; an answer carries
the id of its request, so the grader can tell a stale or forged one:
  {"op": "spawn", "id", "nonce", "limits"} + one passed fd -> fork a child serving that fd -> {"op": "spawned", "id"}
  {"op": "reap", "id"}                     -> kill the child and all leftovers, wipe    -> {"op": "reaped", "id"}
  {"op": "warm", "source"}                 -> run the suite's warm-up code here, once (no answer)
  {"op": "quit"}
The fork server is not dumpable, so no child reaches its memory or descriptors through ptrace or /proc/1.

A child confines itself before any student code runs (confine.py): its own user, mount and IPC namespaces with a
fresh capped /tmp and /dev/shm where the host allows nested user namespaces (otherwise the fork server wipes the
shared ones after each child), a job directory of a random name, only the job's socket and fds 0-2 (the control
channel swapped for /dev/null, output for a capped capture file), no capabilities, and a seccomp filter.

Data channel (the passed stream socket), protocol.py messages, every header carrying the job's nonce:
  exec {cells, numbers}        run the student's cells in order, one "cell" progress message before each
                               (numbers: the student's own, what the notebook's my_numbers() returns here)
  guard {policy}               before anything else: enforce a by-hand question's rules at run time (guard.py)
  harness {source}             define trusted (public) helper functions in a namespace of their own
  call {seq, entry, kind, args...}  look up the student's entry point, call it, convert what it returns
  bye
Nothing the child sends is believed: the grader checks every message (dlgrade.boundary.messages; an answer must
carry its call's seq) and compares only the plain arrays it decodes.
"""

from __future__ import annotations
import __future__

import ast
import builtins
import contextlib
import itertools
import json
import os
import resource
import secrets
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.random  # noqa: F401  (numpy loads it lazily: here once, not in every child that seeds it)

try:  # torch is optional so the protocol can be exercised without it, but the course needs it
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - the grading environment pins torch
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import confine  # noqa: E402  (these sit beside this file inside the sandbox; never the grader's package)
import guard  # noqa: E402
import plain  # noqa: E402
import protocol  # noqa: E402

JOBS_ROOT = os.environ.get("DLGRADE_JOBS", "/tmp")
OUTPUT_CAP = 4000  # characters of the student's stdout/stderr returned with each answer

# Captured now: student code may monkeypatch builtins and traceback; the worker keeps the originals.
_type, _len = builtins.type, builtins.len
_exec, _compile = builtins.exec, builtins.compile
_isinstance, _only_ast, _segment = builtins.isinstance, ast.PyCF_ONLY_AST, ast.get_source_segment
_FUTURE_FLAGS = sum({getattr(__future__, f).compiler_flag for f in __future__.all_feature_names})  # kept per cell
_format_exception = traceback.format_exception
_encode_array = protocol.encode_array
_stat = os.stat


# ---- the child: one submission -------------------------------------------------------------------------


class Child:
    """Serves one submission's requests on its data socket until told bye or killed."""

    def __init__(self, sock: socket.socket, nonce: str, capture_path: str) -> None:
        self.sock, self.nonce = sock, nonce
        self.reader = protocol.Reader(sock)
        self.capture_path, self.capture_offset = capture_path, 0
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        # The released notebook imports its public checker; inside the grader check() and submit() do nothing.
        sys.modules["dlcheck"] = _silent_checker()
        self.harness: dict[str, Any] = {"np": np, "torch": torch}

    def reply(self, header: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        protocol.send(self.sock, {"nonce": self.nonce, **header}, list(blobs))

    def new_output(self) -> str:
        """What the student printed since the last answer, capped (the file itself is capped by RLIMIT_FSIZE)."""
        with contextlib.suppress(OSError):
            if _stat(self.capture_path).st_size == self.capture_offset:
                return ""  # nothing new: most calls print nothing, and a stat costs far less than an open
        with contextlib.suppress(OSError), open(self.capture_path, "rb") as handle:
            handle.seek(self.capture_offset)
            data = handle.read(OUTPUT_CAP + 1)
            self.capture_offset = handle.seek(0, os.SEEK_END)
            text = data.decode("utf-8", "replace")
            return text if _len(text) <= OUTPUT_CAP else text[:OUTPUT_CAP] + "\n… (output truncated)"
        return ""

    def serve(self) -> None:
        self.reply({"op": "hello", "pid": os.getpid()})
        while True:
            header, blobs = self.reader.receive()
            if header.get("nonce") != self.nonce:
                continue  # stale or forged: not for this job
            op = header.get("op")
            if op == "bye":
                return
            handler = {"exec": self.run_cells, "harness": self.define_harness, "call": self.call,
                       "calls": self.calls, "guard": self.install_guard}.get(op)
            if handler is None:
                self.reply({"op": "error", "error": f"unknown op {op!r}"})
            else:
                handler(header, blobs)

    def run_cells(self, header: dict[str, Any], _blobs: list[bytes]) -> None:
        sys.modules["dlcheck"] = _silent_checker(header.get("numbers"))
        results, started = [], time.perf_counter()
        for cell in header["cells"]:
            self.reply({"op": "cell", "id": cell["id"]})
            error, code = None, None
            try:
                code = _cell_code(cell)
                _exec(code, self.namespace)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt included: a cell may not end us
                error = _short_traceback(exc)
                if _isinstance(exc, guard.ForbiddenAPI) and code is not None:
                    try:
                        ended = self.run_rest(cell, code, exc)
                    except BaseException as broken:  # (builtins the student replaced, say): the cell ends here
                        ended = _short_traceback(broken)
                    error = error if ended is None else f"{error}\n{ended}"  # what stopped it said last
            results.append({"id": cell["id"], "error": error})
        seconds = time.perf_counter() - started
        self.reply({"op": "executed", "cells": results, "seconds": seconds, "output": self.new_output()})

    def run_rest(self, cell: dict[str, Any], code: Any, refused: BaseException) -> str | None:
        """The cell's top-level statements after the one this world refused, each on its own, as they would run
        where the student wrote them: an `import torch.nn as nn` above `import math` in an imports cell (refused
        in a numpy-only child, where torch does not exist) must not leave math undefined for a numpy question.
        Another refusal skips only its statement; any other error ends the cell, as it would in Jupyter. (The
        refusal stays the cell's error: a question whose own cell it is is banned for it.) The error that ended
        the rest, if one did."""
        name = f"<cell {cell['id']}>"
        where, frame = (0, 0), refused.__traceback__
        while frame is not None:  # the cell's own module-level frame: where in it the refused call was
            if frame.tb_frame.f_code is code:
                position = next(itertools.islice(code.co_positions(), frame.tb_lasti // 2, None), None)
                where = (position[0] or frame.tb_lineno, position[2] or 0) if position else (frame.tb_lineno, 0)
            frame = frame.tb_next
        text = _cell_text(cell)
        try:  # (parsed only: the by-hand guard refuses compiling a syntax tree, so each piece is compiled as text)
            body = _compile(text, name, "exec", _only_ast, True).body
        except BaseException:
            return None
        at = max((n for n, s in enumerate(body) if (s.lineno, s.col_offset) <= where), default=-1)  # the refused
        for statement in body[at + 1:]:  # (statements sharing its line after it, `a(); import math`, included)
            try:
                piece = "\n" * (statement.lineno - 1) + (_segment(text, statement) or "")
                _exec(_compile(piece, name, "exec", code.co_flags & _FUTURE_FLAGS, True), self.namespace)
            except BaseException as exc:  # noqa: BLE001 - as run_cells: a cell may not end us
                if not _isinstance(exc, guard.ForbiddenAPI):
                    return _short_traceback(exc)
        return None

    def install_guard(self, header: dict[str, Any], _blobs: list[bytes]) -> None:
        """A by-hand question's rules, in force from now until this child ends (the grader asks before any cell
        runs; a guard that cannot be installed is reported, and the grader grades nothing with this child)."""
        try:
            guard.install(header["policy"])
        except BaseException as exc:
            self.reply({"op": "unguarded", "error": _short_traceback(exc)})
            return
        self.reply({"op": "guarded"})

    def define_harness(self, header: dict[str, Any], _blobs: list[bytes]) -> None:
        _exec(_compile(header["source"], "<dlgrade harness>", "exec"), self.harness)
        self.reply({"op": "harnessed"})

    def calls(self, header: dict[str, Any], blobs: list[bytes]) -> None:
        """A question's cases in one request (they share its blobs); one answer message streamed back per case."""
        for call in header["calls"]:
            self.call(call, blobs)

    def call(self, header: dict[str, Any], blobs: list[bytes]) -> None:
        entry, kind = header["entry"], header.get("kind", "function")
        if entry not in self.namespace:
            self.reply({"op": "answer", "seq": header.get("seq"), "status": "missing",
                        "error": f"{entry} is not defined", "seconds": 0.0, "output": self.new_output()})
            return
        target = self.namespace[entry]
        args = protocol.decode_value(header.get("args", {"t": "list", "v": []}), blobs, _to_tensor)
        kwargs = protocol.decode_value(header.get("kwargs", {"t": "dict", "v": []}), blobs, _to_tensor)
        _seed(header.get("seed"))
        arrays: list[np.ndarray] = []
        status, error, value = "ok", None, None
        started = time.perf_counter()
        try:
            with _autograd(header.get("autograd", True)):
                if header.get("harness"):
                    value = self.harness[header["harness"]](target, *args, **kwargs)
                elif kind == "variable":
                    value = target
                else:
                    value = target(*args, **kwargs)
        except NotImplementedError as exc:
            status, error = "not_implemented", _short_traceback(exc)
        except BaseException as exc:
            status, error = "error", _short_traceback(exc)
        seconds = time.perf_counter() - started
        reply: dict[str, Any] = {"op": "answer", "seq": header.get("seq"), "status": status, "error": error,
                                 "seconds": seconds}
        if status == "ok":
            try:
                reply["value"] = plain.describe(value, arrays)
                if header.get("return_args"):
                    reply["args_after"] = plain.describe(list(args), arrays)
            except BaseException as exc:  # a hostile value that breaks conversion fails only this answer
                reply.update(status="error", error=f"could not read the returned value: {_short_traceback(exc)}")
                arrays = []
        reply["output"] = self.new_output()
        self.reply(reply, [_encode_array(array) for array in arrays])


def _silent_checker(numbers: Any = None) -> Any:
    """The notebook's dlcheck inside the grader: check() does nothing; my_numbers() returns the graded student's
    own numbers (whatever id it is given: grading is always as the submission's student)."""
    module = type(sys)("dlcheck")
    module.check = lambda *args, **kwargs: None
    module.submit = lambda *args, **kwargs: None
    given = dict(numbers) if _type(numbers) is dict else None

    def my_numbers(*args: Any, **kwargs: Any) -> dict[str, float]:
        if given is None:
            raise LookupError("my_numbers(): the grader was not told whose submission this is, so it has no "
                              "numbers for it")
        return dict(given)

    module.my_numbers = my_numbers
    return module


def _to_tensor(array: np.ndarray) -> Any:
    return torch.from_numpy(array) if torch is not None else array


def _seed(seed: Any) -> None:
    if type(seed) is int:
        np.random.seed(seed % 2**32)
        if torch is not None:
            # What torch.manual_seed does on a machine without accelerators (the sandbox has none), at 1/100 of
            # its cost: it would also probe CUDA, MPS and XPU on each of a submission's hundreds of calls.
            torch.default_generator.manual_seed(seed)


def _autograd(enabled: bool) -> Any:
    # A guarded child with autograd off is in inference mode for good (guard.py): nothing to switch, or to restore.
    if torch is None or enabled or torch.is_inference_mode_enabled():
        return contextlib.nullcontext()
    return torch.set_grad_enabled(False)


def _cell_text(cell: dict[str, Any]) -> str:
    """A cell's source at its lines in the submitted file (a script's statement starts on its own line)."""
    line = cell.get("line", 1)
    return "\n" * (line - 1) + cell["source"] if _type(line) is int and 1 < line < 10_000_000 else cell["source"]


def _cell_code(cell: dict[str, Any]) -> Any:
    """A cell compiled as the student's kernel would (no future import of this file's), at its lines."""
    return _compile(_cell_text(cell), f"<cell {cell['id']}>", "exec", 0, True)


def _short_traceback(exc: BaseException) -> str:
    """The student's part of a traceback: frames from their cells, then the exception line."""
    try:
        lines = _format_exception(_type(exc), exc, exc.__traceback__)
        kept = [line for line in lines if "<cell" in line or not line.startswith("  File")]
        text = "".join(kept[-12:]).strip()
        return text[-3000:]
    except BaseException:
        return plain.type_name(_type(exc))


# ---- the fork server -------------------------------------------------------------------------------------


def _limit(resource_id: int, value: int | None) -> None:
    if value:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource_id, (value, value))


def _vm_size() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@dataclass(frozen=True)
class World:
    """What the fork server found it can give each child (probed once, at its start)."""

    private: bool  # a private, capped /tmp and /dev/shm per child (nested user namespaces work here)
    filtered: bool  # a seccomp filter for this machine
    sandboxed: bool  # inside bubblewrap, as PID 1 of its pid namespace

    def jobs_root(self) -> str:
        return "/tmp" if self.private or self.sandboxed else JOBS_ROOT

    @property
    def metadata_calls(self) -> bool:
        """chmod, utime, xattrs allowed: a private world has the sandbox's device nodes (the host's own) on
        read-only mounts; a sandbox without one refuses the calls instead (confine.METADATA_CALLS). Without the
        sandbox a child is the host's user anyway."""
        return self.private or not self.sandboxed


def run_child(fd: int, nonce: str, limits: dict[str, int], job_name: str, world: World) -> None:
    """In the forked child: leave the control channel behind, shut ourselves in, then serve."""
    os.setsid()
    try:
        job_dir = _enter_own_world(job_name, limits, world)
        capture = _only_the_jobs_descriptors(fd, job_dir)
    except Exception as error:
        _refuse(fd, nonce, error)
        return
    os.chdir(job_dir)
    # matplotlib (a question may invite a plot): no display, and its config/font cache in our writable dir.
    os.environ.update(HOME=job_dir, TMPDIR=job_dir, MPLCONFIGDIR=job_dir, MPLBACKEND="Agg")
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized output raises OSError in print, not a kill
    _limit(resource.RLIMIT_CPU, limits.get("cpu_seconds"))
    _limit(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
    _limit(resource.RLIMIT_NPROC, limits.get("processes"))
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a core dump of a big child would stall its sweep
    if limits.get("memory_bytes"):
        _limit(resource.RLIMIT_AS, _vm_size() + limits["memory_bytes"])
    try:
        _shut_in(world)
    except Exception as error:
        _refuse(fd, nonce, error)
        return
    sock = socket.socket(fileno=fd)
    try:
        Child(sock, nonce, capture).serve()
    except protocol.ProtocolError:
        pass


def _enter_own_world(job_name: str, limits: dict[str, int], world: World) -> str:
    """A fresh /tmp and /dev/shm of our own where we can have them, and a new job directory of an unpredictable
    name (mkdir, not makedirs: one that somehow exists already is refused, never entered)."""
    if world.private:
        confine.private_world(int(limits.get("tmp_bytes", 1 << 28)), int(limits.get("shm_bytes", 1 << 26)),
                              int(limits.get("tmp_inodes", 1 << 14)), keep=_mounts_in("/tmp"))
    job_dir = os.path.join(world.jobs_root(), f"job-{job_name}")
    os.mkdir(job_dir, 0o700)
    return job_dir


def _only_the_jobs_descriptors(fd: int, job_dir: str) -> str:
    """fds 0-2 become /dev/null and the capped capture file (fd 0 was the control channel); every descriptor
    but those and the job's socket is closed. Returns the capture file's path."""
    capture = os.path.join(job_dir, ".output")
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(capture, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.closerange(3, fd)
    os.closerange(fd + 1, max(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 1 << 16))
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    return capture


def _shut_in(world: World) -> None:
    """The last step before student code: no capabilities (a private world's user namespace granted them all; an
    unsandboxed root has them too), then the seccomp filter (refused calls get EPERM)."""
    confine.drop_capabilities()
    if world.filtered:
        confine.install_filter(metadata=world.metadata_calls)


def _refuse(fd: int, nonce: str, error: Exception) -> None:
    """Tell the grader this child could not be confined (the sandbox's fault, not the student's) and end."""
    with contextlib.suppress(OSError), socket.socket(fileno=fd) as sock:
        protocol.send(sock, {"op": "refused", "nonce": nonce, "error": f"the child could not confine itself: {error}"})


def _sweep(child: int | None, as_init: bool) -> int | None:
    """Kill the child and everything it started; reap them all. Returns the child's wait status."""
    status = None
    if as_init:
        with contextlib.suppress(ProcessLookupError):
            os.kill(-1, signal.SIGKILL)  # PID 1 of the namespace: every other process in it
    elif child:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child, signal.SIGKILL)
    while True:
        try:
            pid, code = os.waitpid(-1, 0)
        except ChildProcessError:
            return status
        if pid == child:
            status = code


def _clean_up(world: World, job_name: str | None) -> None:
    """What a swept child leaves behind. Inside the sandbox /tmp and /dev/shm are the sandbox's own tmpfs: both
    are emptied whole (a private child never saw them, and they are empty). Without the sandbox they are the
    machine's, shared with the instructor's other programs: only the child's job directory is removed, where it
    had no /tmp of its own."""
    if world.sandboxed:
        _empty("/tmp")
        _empty("/dev/shm")
    elif job_name is not None and not world.private:
        path = os.path.join(JOBS_ROOT, f"job-{job_name}")
        _empty(path)
        with contextlib.suppress(OSError):
            os.rmdir(path)


def _mounts_in(top: str) -> list[str]:
    """The mount points right inside ``top``: where the launcher bound Python trees that live under /tmp (each in
    a read-only mount of its own, so no student can rename or fill it)."""
    with contextlib.suppress(OSError):
        device = os.stat(top).st_dev
        return [os.path.join(top, name) for name in os.listdir(top)
                if os.stat(os.path.join(top, name), follow_symlinks=False).st_dev != device]
    return []


def _empty(top: str) -> None:
    """Remove everything inside ``top``, however deep, odd or locked, once its maker is dead, but the mounts right
    inside it (see _mounts_in). Nothing recurses and no path grows long (shutil.rmtree overflows Python's stack
    on a deep enough tree, and skips a job-* name that is a file): a non-empty directory has its subdirectories
    moved up into ``top``, the rest of its entries removed, and then itself; passes repeat until ``top`` is empty
    or a pass removes nothing."""
    try:
        top_fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    kept = {os.path.basename(path) for path in _mounts_in(top)}
    try:
        progress = True
        while progress:
            progress = False
            for name in os.listdir(top_fd):
                if name not in kept and (_unlink(top_fd, name) or _rmdir(top_fd, name) or _dismantle(top_fd, name)):
                    progress = True
    finally:
        os.close(top_fd)


def _dismantle(top_fd: int, name: str) -> bool:
    """Take the non-empty directory ``name`` of ``top_fd`` apart: its subdirectories moved up next to it, its other
    entries removed, then itself. True if anything changed."""
    with contextlib.suppress(OSError):
        os.chmod(name, 0o700, dir_fd=top_fd)  # a real directory (unlink took any symlink), and ours to open
    try:
        inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=top_fd)
    except OSError:
        return False
    changed = False
    try:
        for entry in os.listdir(inner):
            if _unlink(inner, entry) or _rmdir(inner, entry):
                changed = True
                continue
            with contextlib.suppress(OSError):
                os.rename(entry, f".swept-{secrets.token_hex(8)}", src_dir_fd=inner, dst_dir_fd=top_fd)
                changed = True
    except OSError:
        pass
    finally:
        os.close(inner)
    return _rmdir(top_fd, name) or changed


def _rmdir(dir_fd: int, name: str) -> bool:
    """Remove an empty directory; False when it is not one."""
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except OSError:
        return False
    return True


def _unlink(dir_fd: int, name: str) -> bool:
    """Remove a non-directory; False when ``name`` is a directory (or cannot be removed)."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def serve_forever(control: socket.socket, world: World) -> None:
    """The fork server loop: one child at a time, swept clean before the next."""
    as_init = world.sandboxed
    child: int | None = None
    job_name: str | None = None
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 16, 1)
        except OSError:  # the grader is gone (a hang-up with our answer unread shows as a reset)
            break
        if not data:
            break
        message = json.loads(data)
        op, request = message.get("op"), message.get("id")
        if op == "spawn":
            if child is not None:
                _sweep(child, as_init)
                _clean_up(world, job_name)
            job_name = secrets.token_hex(16)  # drawn after the last child is gone: it cannot know this one
            pid = os.fork()
            if pid == 0:
                try:
                    run_child(fds[0], message["nonce"], message.get("limits", {}), job_name, world)
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            child = pid
            if not _answer(control, {"op": "spawned", "id": request, "pid": pid}):
                break
        elif op == "reap":
            status = _sweep(child, as_init)
            child = None
            _clean_up(world, job_name)
            job_name = None
            if not _answer(control, {"op": "reaped", "id": request, "status": status}):
                break
        elif op == "warm":
            warm_up(str(message.get("source", "")))
        elif op == "quit":
            break
    _sweep(child, as_init)


def _answer(control: socket.socket, message: dict[str, object]) -> bool:
    """Send an answer to the grader; False if it is gone (it quits without reading the answer to its last reap)."""
    try:
        control.send(json.dumps(message).encode())
    except OSError:
        return False
    return True


def warm_up(source: str) -> None:
    """Run a suite's warm-up code (the grader's, not a student's) here in the fork server, so every child it
    forks inherits what that code loaded lazily; only ever about speed, so a failure is ignored."""
    with contextlib.suppress(Exception):
        _exec(_compile(source, "<warm-up>", "exec"), {"__name__": "__warm_up__", "torch": torch, "np": np})


def _numpy_only_world() -> None:
    """In the launcher's numpy-only sandbox (no package but numpy exists): say so when one is imported. No value
    can be a tensor there, so the converter never looks torch up (``import torch`` gives guard.py's stub)."""
    if os.environ.get("DLGRADE_NUMPY_ONLY") == "1":
        guard.explain_absent_packages()
        plain._modules = {}


def _survey() -> World:
    """Make ourselves unreachable from our children, and find what confinement this host lets them have. Without
    the sandbox a child gets a /tmp of its own only where the Python installation is not under /tmp (unbound,
    it would vanish under the new one)."""
    confine.undumpable()
    os.chdir("/")  # not the shared /tmp bubblewrap started us in
    sandboxed = os.getpid() == 1
    trees = {os.path.realpath(sys.prefix), os.path.realpath(sys.base_prefix)}
    wanted = sandboxed or not any(tree == top or tree.startswith(top + os.sep)
                                  for tree in trees for top in ("/tmp", "/dev/shm"))
    world = World(private=wanted and confine.nested_namespaces_work(keep=_mounts_in("/tmp")),
                  filtered=confine.supported(), sandboxed=sandboxed)
    if world.filtered:  # built here once, inherited by every child
        confine.filter_program(confine.machine(), metadata=world.metadata_calls)
    return world


def main() -> None:
    _numpy_only_world()
    control = socket.socket(fileno=0)
    # The grader reads our stderr only if we die; keep the control socket off fd 1 as well.
    if os.getpid() == 1:
        # As init, signals without a handler are ignored; reap the orphans that get reparented to us.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    status = 1
    try:
        world = _survey()
        ready = {"op": "ready", "pid": os.getpid(), "torch": torch is not None, "private_tmp": world.private,
                 "seccomp": world.filtered, "machine": confine.machine()}
        if _answer(control, ready):
            serve_forever(control, world)
        status = 0
    except BaseException:
        traceback.print_exc()  # the grader shows the last line of our stderr if we die
    finally:
        # Everything is swept and nothing is buffered: skip the interpreter's teardown of torch (~0.6 s), which
        # the grader would otherwise wait for at the end of every batch, even after an error.
        sys.stderr.flush()
        os._exit(status)


if __name__ == "__main__":
    main()
