"""Starts the worker's fork server inside bubblewrap and opens one job (one submission's child) at a time.

The sandbox sees a read-only view of the Python installation and the system libraries (its root, /dev and
everything else read-only too), its own size-capped /tmp and /dev/shm, no network, its own pid/ipc/uts/user
namespaces (uid 65534), and dies with us. Our own packages (the engine, the references and the suites) are
hidden even where they sit inside the bound Python tree. A pids cgroup caps the process count where the kernel
offers one (RLIMIT_NPROC does not bind a uid that maps to root).

Each submission's child then shuts itself in further (worker.py, confine.py): a private capped /tmp and /dev/shm
in namespaces of its own, and a seccomp filter; the fork server is undumpable. The control channel's answers
carry the id of their request: one out of step (stale, or forged) gets the fork server replaced.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dlgrade.sandbox import protocol

# Copied flat into the directory the sandbox sees: the worker, its wire format, its confinement, the value converter.
WORKER_FILES = ("sandbox/worker.py", "sandbox/protocol.py", "sandbox/confine.py", "checking/plain.py")
INSIDE_WORKER_DIR = "/opt/dlgrade"
SANDBOX_UID = 65534
# Packages of ours that must never be readable from inside, wherever they are installed.
PRIVATE_PACKAGES = ("dlgrade", "reference", "autograders")
PIDS_CGROUP_ROOT = Path("/sys/fs/cgroup/pids")
UNSANDBOXED = "none (--no-sandbox)"  # what a result's isolation says when graded without bubblewrap


class SandboxUnavailable(Exception):
    """bubblewrap is missing or does not work here, and the caller did not allow grading without it."""


class ControlOutOfStep(SandboxUnavailable):
    """The fork server answered something other than the answer to our oldest request: stale, or forged."""


class WorkerGone(Exception):
    """The job's child died, hung past its deadline, or spoke out of protocol (``broke_protocol``: a message that
    is no message of the worker's, which student code sent from inside the child)."""

    def __init__(self, reason: str, timed_out: bool = False, broke_protocol: bool = False) -> None:
        super().__init__(reason)
        self.timed_out = timed_out
        self.broke_protocol = broke_protocol


@dataclass(frozen=True)
class Limits:
    """Resource limits of one job (a submission's child) and of the sandbox as a whole."""

    cpu_seconds: int = 300
    memory_bytes: int = 3 << 30
    file_bytes: int = 16 << 20
    processes: int = 64
    # A child's /tmp and /dev/shm (tmpfs: host memory, beside memory_bytes), and the files in each; the
    # sandbox's own /tmp and /dev/shm, shared by its children where they cannot have their own, get the same caps.
    tmp_bytes: int = 256 << 20
    shm_bytes: int = 64 << 20
    tmp_inodes: int = 16384

    def for_child(self) -> dict[str, int]:
        return {"cpu_seconds": self.cpu_seconds, "memory_bytes": self.memory_bytes,
                "file_bytes": self.file_bytes, "processes": self.processes, "tmp_bytes": self.tmp_bytes,
                "shm_bytes": self.shm_bytes, "tmp_inodes": self.tmp_inodes}


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


def bwrap_command(worker_dir: str, limits: Limits | None = None, nested_namespaces: bool = True) -> list[str]:
    """The bubblewrap invocation that runs the worker as PID 1 of a fresh set of namespaces. Without
    ``nested_namespaces`` the sandbox may not create user namespaces of its own (as on hosts that forbid them):
    its children then share its /tmp, which the fork server wipes between them."""
    limits = limits or Limits()
    command = [
        bwrap_path() or "bwrap", "--unshare-all", "--as-pid-1", "--die-with-parent", "--new-session",
        "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID),
    ]
    if not nested_namespaces:
        command += ["--unshare-user", "--disable-userns"]
    command += ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib64", "/lib32"):
        if os.path.islink(top):
            command += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            command += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/nsswitch.conf"):
        command += ["--ro-bind-try", etc, etc]
    # The private /tmp comes before the Python trees: a checkout (and its venv) may itself live under /tmp. Such a
    # tree then sits in a read-only mount of its own right inside /tmp, which no child can rename, fill or wipe.
    command += ["--size", str(limits.tmp_bytes), "--tmpfs", "/tmp"]
    trees = _bound_python_trees()
    tops = {_first_below("/tmp", tree) for tree in trees}
    sealed = sorted(top for top in tops if top is not None and top not in trees)  # a tree itself is a mount
    for top in sealed:
        command += ["--tmpfs", top]
    for tree in trees:
        command += ["--ro-bind", tree, tree]
    for hidden in _private_package_dirs(trees):
        command += ["--tmpfs", hidden, "--remount-ro", hidden]
    for top in sealed:
        command += ["--remount-ro", top]
    command += [
        "--ro-bind", worker_dir, INSIDE_WORKER_DIR,
        # bubblewrap leaves /proc/sys writable where it judges it read-only already (the directory's mode): but
        # where bubblewrap runs as root the sandbox's uid is the host's root to the sysctl check, and fs.*,
        # vm.* and more would take a student's write, for the whole host.
        "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys",
        "--dev", "/dev", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",
        # Nothing else is writable: bubblewrap's root (/, /etc, /opt...) and /dev would otherwise be, for every
        # child in turn. (Its device nodes are the host's own, bound in: bubblewrap's --remount-ro would make
        # them unusable (nodev); each child deals with them, see confine.METADATA_CALLS.)
        "--remount-ro", "/dev", "--remount-ro", "/",
        "--chdir", "/",
        sys.executable, "-I", "-B", f"{INSIDE_WORKER_DIR}/worker.py",
    ]
    return command


def _first_below(root: str, path: str) -> str | None:
    """The directory right inside ``root`` that holds ``path`` (/tmp/ci for /tmp/ci/repo/.venv), if any."""
    relative = os.path.relpath(path, root)
    if relative == "." or relative.startswith(".."):
        return None
    return os.path.join(root, relative.split(os.sep)[0])


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

    def kill_all(self) -> None:
        """SIGKILL every process still in the cgroup (all of them the sandbox's)."""
        if self.path is None:
            return
        with contextlib.suppress(OSError):
            for pid in (self.path / "cgroup.procs").read_text().split():
                with contextlib.suppress(ProcessLookupError, PermissionError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)

    def remove(self) -> None:
        if self.path is not None:
            self.kill_all()  # a process left behind would keep the cgroup (see Sandbox._kill)
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
    # False: the sandbox may not nest user namespaces, so its children share a /tmp it wipes between them (what
    # hosts that forbid nested user namespaces get anyway; the tests use it to check that path).
    nested_namespaces: bool = True

    process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    control: socket.socket | None = field(default=None, init=False, repr=False)
    isolation: list[str] = field(default_factory=list, init=False)
    warm_ups: list[str] = field(default_factory=list, init=False, repr=False)  # sent again after a restart
    _pending: list[tuple[str, str]] = field(default_factory=list, init=False, repr=False)  # (request id, answer)

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
            command = bwrap_command(self._worker_dir, self.limits, self.nested_namespaces)
            self.isolation = ["bubblewrap", "no network", f"uid {SANDBOX_UID}", "pid namespace", "read-only root"]
            if self._cgroup and self._cgroup.path:
                self.isolation.append(f"pids cgroup ({self.limits.processes})")
            self._launched_isolation = list(self.isolation)  # wait_ready adds what the children get
        else:
            command = [sys.executable, "-I", "-B", str(Path(self._worker_dir) / "worker.py")]
            self.isolation = [UNSANDBOXED]
        env = _minimal_env() | ({} if self.sandboxed else {"DLGRADE_JOBS": self._worker_dir})
        self.process = subprocess.Popen(
            command, stdin=theirs, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env,
            preexec_fn=self._cgroup.enter if self._cgroup else None, close_fds=True, process_group=0,
        )
        theirs.close()
        self.control = ours
        self._owner = os.getpid()
        self._pending = []
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
        """Wait until the launched fork server says it is ready, and what confinement its children get."""
        ready = self._control_receive(self.startup_timeout)
        if ready.get("op") != "ready":
            raise SandboxUnavailable(f"the worker did not start: {self.stderr_tail()}")
        if self.sandboxed and not ready.get("seccomp"):
            raise SandboxUnavailable(f"no seccomp filter for this machine ({ready.get('machine')}): "
                                     "grading in the sandbox needs x86_64 or aarch64; or pass --no-sandbox")
        if not self.sandboxed:
            return  # the children confine themselves as they can, but nothing here is a sandbox
        children = ["seccomp filter per child"]
        if ready.get("private_tmp"):
            children.append(f"private /tmp ({self.limits.tmp_bytes >> 20} MiB) and /dev/shm per child")
        else:
            children += [f"/tmp ({self.limits.tmp_bytes >> 20} MiB) and /dev/shm wiped between children",
                         "chmod, utime and xattrs refused"]
        self.isolation = self._launched_isolation + children

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
                self._kill()
                self.process.wait()
            self.process = None
        self.close()

    def abandon(self) -> None:
        """Stop a sandbox nobody will use (it may still be importing torch): kill it and clean up."""
        if self.process is not None and self.process.poll() is None:
            self._kill()
        self.finish_handed_over()

    def _kill(self) -> None:
        """SIGKILL bubblewrap with its process group. bwrap clones the sandbox's first process, then releases it
        once its namespaces are set up; killed between the two, bwrap leaves that process waiting for ever (an
        orphan per kill, seen once in three kills of a starting sandbox). Until it is released it is still in
        bwrap's process group (it starts its own session only as it execs), so killpg reaches it."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()

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
        try:
            message = json.loads(data)
        except ValueError:
            raise ControlOutOfStep("the worker sent a malformed control message") from None
        if not isinstance(message, dict):
            raise ControlOutOfStep("the worker sent a malformed control message")
        return message

    def _request(self, message: dict[str, Any], answer: str, fds: Sequence[int] = ()) -> None:
        """Send a request that the fork server answers with op ``answer`` and the request's id."""
        assert self.control is not None
        request = secrets.token_hex(8)
        socket.send_fds(self.control, [json.dumps({**message, "id": request}).encode()], list(fds))
        self._pending.append((request, answer))

    def _answer(self, timeout: float) -> dict[str, Any]:
        """The answer to the oldest request still unanswered; ControlOutOfStep if what comes is anything else."""
        request, op = self._pending.pop(0)
        answer = self._control_receive(timeout)
        if answer.get("id") != request or answer.get("op") != op:
            raise ControlOutOfStep(f"the worker answered out of step: {str(answer)[:200]}")
        return answer

    def _replace(self) -> None:
        """Kill a fork server that cannot be trusted to be in step (a forged or stale answer): the next job is
        opened on a fresh one."""
        if self.process is not None:
            with contextlib.suppress(OSError):  # ours, or adopted: its launcher has not reaped it, the pid is its
                os.kill(self.process.pid, signal.SIGKILL)
        self.close()

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
        greeted us (killed, out of memory: the moment can fall anywhere), or whose answers are out of step, is
        replaced and asked once more, since nothing of the submission has run yet; a fresh one that fails too is
        reported."""
        try:
            return self._open_job()
        except ControlOutOfStep:
            self._replace()
        except (SandboxUnavailable, WorkerGone, OSError):
            if self.alive():
                raise  # the fork server is fine: the child itself failed to start
            self.close()
        return self._open_job()

    def _open_job(self) -> Job:
        try:
            self._read_reaps()  # the last child is gone first
        except SandboxUnavailable:  # out of step, or too slow: replaced, never waited for again
            self._replace()
        if not self.alive():
            self.close()
            self.start()
        assert self.control is not None
        nonce = secrets.token_hex(16)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._request({"op": "spawn", "nonce": nonce, "limits": self.limits.for_child()}, "spawned",
                          [theirs.fileno()])
        finally:
            theirs.close()
        self._answer(30.0)
        job = Job(self, ours, nonce)
        hello = job.receive(time.monotonic() + 30.0)
        if hello.header.get("op") == "refused":  # the child could not confine itself: the sandbox's fault
            job.kill()
            raise SandboxUnavailable(str(hello.header.get("error"))[:500])
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
            self._request({"op": "reap"}, "reaped")
        except OSError:
            self.close()

    def _read_reaps(self) -> None:
        """The answers to the reaps sent so far: each child is gone before anything else happens here."""
        while self._pending and self.alive():
            self._answer(30.0)

    def close(self) -> None:
        if self.control is not None:
            with contextlib.suppress(OSError):
                self.control.send(json.dumps({"op": "quit"}).encode())
            self.control.close()
            self.control = None
        self._pending = []
        if self._adopted():  # the launching process reaps it and removes its files
            self.process = None
            return
        if self.process is not None:
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._kill()
                self.process.wait()
            self.process = None
        if getattr(self, "_cgroup", None):
            self._cgroup.remove()
        if getattr(self, "_worker_dir", None):
            shutil.rmtree(self._worker_dir, ignore_errors=True)


@dataclass(frozen=True)
class Message:
    header: dict[str, Any]
    blobs: list[bytes | None]  # None: a blob beyond the receiver's budget, read past (protocol.Reader.receive)


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

    def receive(self, deadline: float, budget: Callable[[dict[str, Any]], int] | None = None) -> Message:
        """The next message for this job; WorkerGone if the child dies, lies about the nonce, or is too slow.
        ``budget``: see protocol.Reader.receive (it may refuse the header with a ProtocolError)."""
        try:
            header, blobs = self.reader.receive(deadline, budget)
        except protocol.Deadline:
            self.kill()
            raise WorkerGone("timed out", timed_out=True) from None
        except protocol.ChannelClosed:
            self.kill()
            raise WorkerGone("the worker process ended (exit, crash or resource limit)") from None
        except protocol.ProtocolError as error:
            self.kill()
            raise WorkerGone(f"the worker broke protocol: {error}", broke_protocol=True) from None
        if header.get("nonce") != self.nonce:
            self.kill()
            raise WorkerGone("the worker answered with the wrong nonce", broke_protocol=True)
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
