"""The sandboxed worker: a fork server that has imported numpy and torch, and the per-submission children it forks.

Runs inside bubblewrap as PID 1 of its own pid namespace (so a student's SIGKILL cannot reach it and
``kill(-1)`` sweeps every leftover process), with only the standard library, numpy, torch and protocol.py.

Control channel (fd 0, a SOCK_SEQPACKET socket from the grader), one JSON message per packet:
  {"op": "spawn", "nonce", "limits"} + one passed fd  -> fork a child serving that fd  -> {"op": "spawned"}
  {"op": "reap"}                                      -> kill the child and all leftovers -> {"op": "reaped"}
  {"op": "warm", "source"}                            -> run the suite's warm-up code here, once (no answer)
  {"op": "quit"}
The child never sees the control channel: it swaps fds 0-2 for /dev/null and a capped capture file first.

Data channel (the passed stream socket), protocol.py messages, every header carrying the job's nonce:
  exec {cells, numbers}        run the student's cells in order, one "cell" progress message before each
                               (numbers: the student's own, what the notebook's my_numbers() returns here)
  harness {source}             define trusted (public) helper functions in a namespace of their own
  call {entry, kind, args...}  look up the student's entry point, call it, convert what it returns
  bye
Nothing the child sends is believed: the grader compares only the plain arrays it decodes.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import sys
import time
import traceback
from typing import Any

import numpy as np
import numpy.random  # noqa: F401  (numpy loads it lazily: here once, not in every child that seeds it)

try:  # torch is optional so the protocol can be exercised without it, but the course needs it
    import torch

    torch.set_num_threads(1)
except ImportError:  # pragma: no cover - the grading environment pins torch
    torch = None

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import plain  # noqa: E402  (these two sit beside this file inside the sandbox; never the grader's package)
import protocol  # noqa: E402

JOBS_ROOT = os.environ.get("DLGRADE_JOBS", "/tmp")
OUTPUT_CAP = 4000  # characters of the student's stdout/stderr returned with each answer

# Captured now: student code may monkeypatch builtins and traceback; the worker keeps the originals.
_type, _len = builtins.type, builtins.len
_exec, _compile = builtins.exec, builtins.compile
_format_exception = traceback.format_exception
_encode_array = protocol.encode_array


# ---- the child: one submission -------------------------------------------------------------------------


class Child:
    """Serves one submission's requests on its data socket until told bye or killed."""

    def __init__(self, sock: socket.socket, nonce: str, capture_path: str) -> None:
        self.sock, self.nonce = sock, nonce
        self.reader = protocol.Reader(sock)
        self.capture_path, self.capture_offset = capture_path, 0
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
        # The released notebook imports its public checker; inside the grader check() does nothing.
        sys.modules["dlcheck"] = _silent_checker()
        self.harness: dict[str, Any] = {"np": np, "torch": torch}

    def reply(self, header: dict[str, Any], blobs: list[bytes] = ()) -> None:  # type: ignore[assignment]
        protocol.send(self.sock, {"nonce": self.nonce, **header}, list(blobs))

    def new_output(self) -> str:
        """What the student printed since the last answer, capped (the file itself is capped by RLIMIT_FSIZE)."""
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
                       "calls": self.calls}.get(op)
            if handler is None:
                self.reply({"op": "error", "error": f"unknown op {op!r}"})
            else:
                handler(header, blobs)

    def run_cells(self, header: dict[str, Any], _blobs: list[bytes]) -> None:
        sys.modules["dlcheck"] = _silent_checker(header.get("numbers"))
        results, started = [], time.perf_counter()
        for cell in header["cells"]:
            self.reply({"op": "cell", "id": cell["id"]})
            error = None
            try:
                code = _compile(cell["source"], f"<cell {cell['id']}>", "exec")
                _exec(code, self.namespace)
            except BaseException as exc:  # SystemExit and KeyboardInterrupt included: a cell may not end us
                error = _short_traceback(exc)
            results.append({"id": cell["id"], "error": error})
        seconds = time.perf_counter() - started
        self.reply({"op": "executed", "cells": results, "seconds": seconds, "output": self.new_output()})

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
            self.reply({"op": "answer", "status": "missing", "error": f"{entry} is not defined",
                        "seconds": 0.0, "output": self.new_output()})
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
        reply: dict[str, Any] = {"op": "answer", "status": status, "error": error, "seconds": seconds}
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
    if torch is None or enabled:
        return contextlib.nullcontext()
    return torch.set_grad_enabled(False)


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


def run_child(fd: int, nonce: str, limits: dict[str, int], control_fd: int) -> None:
    """In the forked child: leave the control channel behind, confine ourselves, then serve."""
    os.setsid()
    job_dir = os.path.join(JOBS_ROOT, f"job-{os.getpid()}")
    os.makedirs(job_dir, mode=0o700, exist_ok=True)
    capture = os.path.join(job_dir, ".output")
    null = os.open(os.devnull, os.O_RDONLY)
    out = os.open(capture, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.closerange(3, fd)
    os.closerange(fd + 1, 1 << 16)
    del control_fd  # fd 0 was the control channel; it is /dev/null now
    sys.stdout = open(1, "w", buffering=1, closefd=False)  # noqa: SIM115 - lives as long as the child
    sys.stderr = open(2, "w", buffering=1, closefd=False)  # noqa: SIM115
    sys.stdin = open(0, closefd=False)  # noqa: SIM115
    os.chdir(job_dir)
    os.environ.update(HOME=job_dir, TMPDIR=job_dir)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # oversized output raises OSError in print, not a kill
    _limit(resource.RLIMIT_CPU, limits.get("cpu_seconds"))
    _limit(resource.RLIMIT_FSIZE, limits.get("file_bytes"))
    _limit(resource.RLIMIT_NPROC, limits.get("processes"))
    if limits.get("memory_bytes"):
        _limit(resource.RLIMIT_AS, _vm_size() + limits["memory_bytes"])
    sock = socket.socket(fileno=fd)
    try:
        Child(sock, nonce, capture).serve()
    except protocol.ProtocolError:
        pass


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


def _clean_jobs(sandboxed: bool) -> None:
    """Remove the job directories; inside the sandbox also empty /dev/shm, its own tmpfs there. Without the
    sandbox /dev/shm is the machine's, shared with the instructor's other programs, and is left alone."""
    for name in os.listdir(JOBS_ROOT):
        if name.startswith("job-"):
            shutil.rmtree(os.path.join(JOBS_ROOT, name), ignore_errors=True)
    if not sandboxed:
        return
    with contextlib.suppress(OSError):
        for name in os.listdir("/dev/shm"):
            path = os.path.join("/dev/shm", name)
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)


def serve_forever(control: socket.socket) -> None:
    """The fork server loop: one child at a time, swept clean before the next."""
    as_init = os.getpid() == 1
    child: int | None = None
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(control, 1 << 16, 1)
        except OSError:  # the grader is gone (a hang-up with our answer unread shows as a reset)
            break
        if not data:
            break
        message = json.loads(data)
        op = message.get("op")
        if op == "spawn":
            if child is not None:
                _sweep(child, as_init)
            pid = os.fork()
            if pid == 0:
                try:
                    run_child(fds[0], message["nonce"], message.get("limits", {}), control.fileno())
                finally:
                    os._exit(0)
            for fd in fds:
                os.close(fd)
            child = pid
            if not _answer(control, {"op": "spawned", "pid": pid}):
                break
        elif op == "reap":
            status = _sweep(child, as_init)
            child = None
            _clean_jobs(sandboxed=as_init)
            if not _answer(control, {"op": "reaped", "status": status}):
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


def main() -> None:
    control = socket.socket(fileno=0)
    # The grader reads our stderr only if we die; keep the control socket off fd 1 as well.
    if os.getpid() == 1:
        # As init, signals without a handler are ignored; reap the orphans that get reparented to us.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    status = 1
    try:
        if _answer(control, {"op": "ready", "pid": os.getpid(), "torch": torch is not None}):
            serve_forever(control)
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
