"""Starts the worker's fork server inside bubblewrap and opens one job (one submission's child) at a time.

The sandbox sees a read-only view of the Python installation and the system libraries, its own /tmp, no
network, its own pid/ipc/uts/user namespaces (uid 65534), and dies with us. Our own packages (the engine, the
references and the suites) are hidden even where they sit inside the bound Python tree. A pids cgroup caps the
process count where the kernel offers one (RLIMIT_NPROC does not bind a uid that maps to root).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlgrade.sandbox import protocol

# Copied flat into the directory the sandbox sees: the worker, its wire format, and the value converter.
WORKER_FILES = ("sandbox/worker.py", "sandbox/protocol.py", "checking/plain.py")
INSIDE_WORKER_DIR = "/opt/dlgrade"
SANDBOX_UID = 65534
# Packages of ours that must never be readable from inside, wherever they are installed.
PRIVATE_PACKAGES = ("dlgrade", "reference", "autograders")
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
UNSANDBOXED = "none (--no-sandbox)"  # what a result's isolation says when graded without bubblewrap


class SandboxUnavailable(Exception):
    """bubblewrap is missing or does not work here, and the caller did not allow grading without it."""


class WorkerGone(Exception):
    """The job's child died, hung past its deadline, or spoke out of protocol."""

    def __init__(self, reason: str, timed_out: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out


@dataclass(frozen=True)
class Limits:
    """Resource limits of one job (a submission's child) and of the sandbox as a whole."""

    cpu_seconds: int = 300
    memory_bytes: int = 3 << 30
    file_bytes: int = 16 << 20
    processes: int = 64

    def for_child(self) -> dict[str, int]:
        return {"cpu_seconds": self.cpu_seconds, "memory_bytes": self.memory_bytes,
                "file_bytes": self.file_bytes, "processes": self.processes}


def bwrap_path() -> str | None:
    """The bubblewrap binary, if installed."""
    return shutil.which("bwrap")


def _bound_python_trees() -> list[str]:
    """Directories the worker's interpreter needs: the base installation and the virtualenv, if any."""
    trees = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    return sorted(trees)


def _private_package_dirs(trees: list[str]) -> list[str]:
    """Our packages' directories that fall inside a bound tree (a non-editable install): to be hidden."""
    hidden = []
    for name in PRIVATE_PACKAGES:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            real = os.path.realpath(location)
            if any(real == tree or real.startswith(tree + os.sep) for tree in trees):
                hidden.append(real)
    return hidden


def bwrap_command(worker_dir: str) -> list[str]:
    """The bubblewrap invocation that runs the worker as PID 1 of a fresh set of namespaces."""
    command = [
        bwrap_path() or "bwrap", "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
        "--ro-bind", "/usr", "/usr",
    ]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        command += ["--ro-bind-try", etc, etc]
    # The private /tmp comes before the Python trees: a checkout (and its venv) may itself live under /tmp.
    command += ["--tmpfs", "/tmp"]
    trees = _bound_python_trees()
    for tree in trees:
        command += ["--ro-bind", tree, tree]
    for hidden in _private_package_dirs(trees):
        command += ["--tmpfs", hidden, "--remount-ro", hidden]
    command += [
        "--ro-bind", worker_dir, INSIDE_WORKER_DIR,
        "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/dev/shm",
        "--chdir", "/tmp",
        sys.executable, "-I", "-B", f"{INSIDE_WORKER_DIR}/worker.py",
    ]
    return command


def _minimal_env() -> dict[str, str]:
    # One thread each: batches run one sandbox per core, and training must be reproducible.
    return {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


class _PidsCgroup:
    """A v1 pids cgroup capping the sandbox's process count; absent where the kernel or our rights say no."""

    def __init__(self, limit: int) -> None:
        self.path: Path | None = None
        if not os.access(PIDS_CGROUP_ROOT, os.W_OK):
            return
        path = PIDS_CGROUP_ROOT / f"dlgrade-{os.getpid()}-{secrets.token_hex(4)}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(limit))
            self.path = path
        except OSError:
            with contextlib.suppress(OSError):
                path.rmdir()

    def enter(self) -> None:
        """Run in the sandbox's process before exec: join the cgroup."""
        if self.path is not None:
            (self.path / "cgroup.procs").write_text(str(os.getpid()))

    def remove(self) -> None:
        if self.path is not None:
            for _ in range(50):
                try:
                    self.path.rmdir()
                    return
                except OSError:
                    time.sleep(0.02)


@dataclass
class Sandbox:
    """A running fork server. Use as a context manager; open_job() gives one submission a fresh child."""

    limits: Limits = field(default_factory=Limits)
    sandboxed: bool = True
    startup_timeout: float = 60.0

    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    control: socket.socket | None = field(default=None, init=False, repr=False)
    isolation: list[str] = field(default_factory=list, init=False)
    warm_ups: list[str] = field(default_factory=list, init=False, repr=False)  # sent again after a restart
    _reaps_unread: int = field(default=0, init=False, repr=False)

    def __enter__(self) -> Sandbox:
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> None:
        """Launch the fork server and wait until it has imported numpy and torch."""
        self.launch()
        self.wait_ready()

    def launch(self) -> None:
        """Start the fork server without waiting for it: it imports numpy and torch while we go on."""
        if self.sandboxed and bwrap_path() is None:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed; install it or pass --no-sandbox")
        self._worker_dir = tempfile.mkdtemp(prefix="dlgrade-worker-")
        package = Path(__file__).parent.parent
        for name in WORKER_FILES:
            shutil.copy(package / name, Path(self._worker_dir) / Path(name).name)
        os.chmod(self._worker_dir, 0o755)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._stderr = tempfile.TemporaryFile()
        self._cgroup = _PidsCgroup(self.limits.processes) if self.sandboxed else None
        if self.sandboxed:
            command = bwrap_command(self._worker_dir)
            self.isolation = ["bubblewrap", "no network", f"uid {SANDBOX_UID}", "pid namespace"]
            if self._cgroup and self._cgroup.path:
                self.isolation.append(f"pids cgroup ({self.limits.processes})")
        else:
            command = [sys.executable, "-I", "-B", str(Path(self._worker_dir) / "worker.py")]
            self.isolation = [UNSANDBOXED]
        env = _minimal_env() | ({} if self.sandboxed else {"DLGRADE_JOBS": self._worker_dir})
        self.process = subprocess.Popen(
            command, stdin=theirs, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
            preexec_fn=self._cgroup.enter if self._cgroup else None, close_fds=True,
        )
        theirs.close()
        self.control = ours
        self._owner = os.getpid()
        self._reaps_unread = 0
        for source in self.warm_ups:  # queued: the fork server runs them once torch is imported
            self._send_warm_up(source)

    def warm(self, source: str) -> None:
        """Have the fork server run a suite's warm-up code (Suite.warm_up) before it forks the next child; once
        per source, and again whenever the fork server is restarted. Nothing is waited for."""
        if source and source not in self.warm_ups:
            self.warm_ups.append(source)
            if self.control is not None:
                self._send_warm_up(source)

    def _send_warm_up(self, source: str) -> None:
        assert self.control is not None
        with contextlib.suppress(OSError):  # a dead fork server shows at the next job
            self.control.send(json.dumps({"op": "warm", "source": source}).encode())

    def wait_ready(self) -> None:
        """Wait until the launched fork server says it is ready."""
        ready = self._control_receive(self.startup_timeout)
        if ready.get("op") != "ready":
            raise SandboxUnavailable(f"the worker did not start: {self.stderr_tail()}")

    # A batch launches its sandboxes before its own imports, then forks one grading process per sandbox: that
    # process uses it (adopted), while the launching process, its parent, reaps it at the end (finish_handed_over).

    def _adopted(self) -> bool:
        return getattr(self, "_owner", os.getpid()) != os.getpid()

    def hand_over(self) -> None:
        """In the launching process, once a forked process has adopted this sandbox: let go of the control
        socket, so the fork server sees it close when its adopter exits or dies."""
        if self.control is not None:
            self.control.close()
            self.control = None

    def finish_handed_over(self, timeout: float = 10.0) -> None:
        """In the launching process, at the end: reap the fork server (its adopter told it to quit, or died),
        killing it after ``timeout`` seconds, and remove what it left."""
        if self.process is not None:
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        self.close()

    def abandon(self) -> None:
        """Stop a sandbox nobody will use (it may still be importing torch): kill it and clean up."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        self.finish_handed_over()

    def stderr_tail(self) -> str:
        self._stderr.seek(0, os.SEEK_END)
        size = self._stderr.tell()
        self._stderr.seek(max(0, size - 2000))
        text = self._stderr.read().decode("utf-8", "replace").strip()
        return text.splitlines()[-1] if text else "no output"

    def _control_receive(self, timeout: float) -> dict[str, Any]:
        assert self.control is not None
        self.control.settimeout(timeout)
        try:
            data = self.control.recv(1 << 16)
        except (TimeoutError, OSError) as error:
            raise SandboxUnavailable(f"the worker stopped answering ({error}): {self.stderr_tail()}") from None
        if not data:
            raise SandboxUnavailable(f"the worker exited: {self.stderr_tail()}")
        return json.loads(data)

    def alive(self) -> bool:
        """The fork server is running: its end of the control channel is open (it hangs up as it dies, before its
        exit shows) and, where it is our child, it has not exited."""
        if self.process is None or self.control is None:
            return False
        poller = select.poll()
        poller.register(self.control, select.POLLHUP | select.POLLERR)
        if poller.poll(0):
            return False
        return self._adopted() or self.process.poll() is None  # an adopted one is not ours to poll

    def survived(self) -> bool:
        """After a job's child died: whether the fork server outlived it (then the death was the child's own).
        A live fork server answers the reap its job sent; a dead one hangs up, though only once bubblewrap, which
        holds the other end too, has exited after it, so alive() alone can still say yes for a moment."""
        try:
            self._read_reaps()
        except (SandboxUnavailable, OSError):
            return False
        return self.alive()

    def open_job(self) -> Job:
        """Fork a fresh child for one submission and connect to it. A fork server that dies before the child has
        greeted us (killed, out of memory: the moment can fall anywhere) is restarted and asked once more, since
        nothing of the submission has run yet; a fresh one that fails too is reported."""
        try:
            return self._open_job()
        except (SandboxUnavailable, WorkerGone, OSError):
            if self.alive():
                raise  # the fork server is fine: the child itself failed to start
        self.close()
        return self._open_job()

    def _open_job(self) -> Job:
        try:
            self._read_reaps()  # the last child is gone first
        except SandboxUnavailable:
            self.close()
        if not self.alive():
            self.close()
            self.start()
        assert self.control is not None
        nonce = secrets.token_hex(16)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            message = {"op": "spawn", "nonce": nonce, "limits": self.limits.for_child()}
            socket.send_fds(self.control, [json.dumps(message).encode()], [theirs.fileno()])
        finally:
            theirs.close()
        spawned = self._control_receive(30.0)
        if spawned.get("op") != "spawned":
            raise SandboxUnavailable(f"the worker could not fork: {spawned}")
        job = Job(self, ours, nonce)
        hello = job.receive(time.monotonic() + 30.0)
        if hello.header.get("op") != "hello":
            raise WorkerGone("the child did not greet")
        return job

    def reap(self) -> None:
        """Kill the current child and everything it started, and wipe its files. The fork server does it while we
        go on (it answers before it forks the next child, which open_job reads first): a submission's grading
        does not wait for its child's teardown."""
        if not self.alive() or self.control is None:
            return
        try:
            self.control.send(json.dumps({"op": "reap"}).encode())
            self._reaps_unread += 1
        except OSError:
            self.close()

    def _read_reaps(self) -> None:
        """The answers to the reaps sent so far: each child is gone before anything else happens here."""
        while self._reaps_unread and self.alive():
            self._reaps_unread -= 1
            if self._control_receive(30.0).get("op") != "reaped":
                raise SandboxUnavailable("the worker answered a reap out of order")

    def close(self) -> None:
        if self.control is not None:
            with contextlib.suppress(OSError):
                self.control.send(json.dumps({"op": "quit"}).encode())
            self.control.close()
            self.control = None
        if self._adopted():  # the launching process reaps it and removes its files
            self.process = None
            return
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        if getattr(self, "_cgroup", None):
            self._cgroup.remove()
        if getattr(self, "_worker_dir", None):
            shutil.rmtree(self._worker_dir, ignore_errors=True)


@dataclass(frozen=True)
class Message:
    header: dict[str, Any]
    blobs: list[bytes]


class Job:
    """One submission's child: send requests, read answers with deadlines; kill() sweeps it away."""

    def __init__(self, sandbox: Sandbox, sock: socket.socket, nonce: str) -> None:
        self.sandbox, self.sock, self.nonce = sandbox, sock, nonce
        self.reader = protocol.Reader(sock)
        self.dead = False

    def send(self, header: dict[str, Any], blobs: list[bytes] | None = None) -> None:
        try:
            protocol.send(self.sock, {**header, "nonce": self.nonce}, blobs or [])
        except OSError as error:
            self.kill()
            raise WorkerGone(f"the worker process ended ({error})") from None

    def receive(self, deadline: float) -> Message:
        """The next message for this job; WorkerGone if the child dies, lies about the nonce, or is too slow."""
        try:
            header, blobs = self.reader.receive(deadline)
        except protocol.Deadline:
            self.kill()
            raise WorkerGone("timed out", timed_out=True) from None
        except protocol.ChannelClosed:
            self.kill()
            raise WorkerGone("the worker process ended (exit, crash or resource limit)") from None
        except protocol.ProtocolError as error:
            self.kill()
            raise WorkerGone(f"the worker broke protocol: {error}") from None
        if header.get("nonce") != self.nonce:
            self.kill()
            raise WorkerGone("the worker answered with the wrong nonce")
        return Message(header, blobs)

    def kill(self) -> None:
        if not self.dead:
            self.dead = True
            with contextlib.suppress(OSError):
                self.sock.close()
            self.sandbox.reap()

    def close(self) -> None:
        """Say bye and sweep the child (its leftovers die with it)."""
        if not self.dead:
            with contextlib.suppress(WorkerGone):
                self.send({"op": "bye"})
        self.kill()
