"""`dlgrade serve`: check everything that can be checked (course, dlgrade.yml, address, TLS, backend), start the
grading process and wait until it can grade, then serve HTTP with uvicorn on a socket bound beforehand.

Two processes: this one (the web process: uvicorn, the API, the page; it stores submissions and never runs
student code) and its child, the grading process (supervisor.py: the backend's workers and sandboxes, and the
one writer of the course's records). The child dies with us (PR_SET_PDEATHSIG), so a SIGKILL here leaves no
grading behind; a child that dies on its own is started again, as the queue keeps its work.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from dlgrade.errors import UsageError
from dlgrade.service import TICK

log = logging.getLogger("dlgrade.service")

SERVE_LOCK = "serve.lock"
READY_TIMEOUT = 900.0  # s for the grading process to have a warm sandbox (torch's import on a busy machine)
RESTARTS = 5  # grading processes started again within RESTART_WINDOW before the service gives up on grading
RESTART_WINDOW = 600.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_listen(host: str, certfile: str | None, keyfile: str | None, insecure_http: bool) -> None:
    """Refuse plain HTTP beyond this machine (tokens would cross the network in clear) unless told to."""
    if bool(certfile) != bool(keyfile):
        raise UsageError("give both --ssl-certfile and --ssl-keyfile for TLS")
    for path in filter(None, (certfile, keyfile)):
        if not Path(path).is_file():
            raise UsageError(f"{path}: no such file")
    if certfile and keyfile:
        check_tls(certfile, keyfile)
    if not is_loopback(host) and not certfile and not insecure_http:
        raise UsageError(f"--host {host} is reachable from other machines: give --ssl-certfile and --ssl-keyfile "
                         "(tokens must not cross the network in clear), or --insecure-http behind your own TLS proxy")


def check_tls(certfile: str, keyfile: str) -> None:
    """Load the certificate and its key as uvicorn will, now: a bad PEM file is one line naming it before anything
    starts, not an error of OpenSSL's after the grading process has warmed up."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_verify_locations(cafile=certfile)  # the certificate(s) alone: is it one?
    except (ssl.SSLError, OSError, ValueError) as error:
        raise UsageError(f"--ssl-certfile {certfile}: not a PEM certificate that can be used "
                         f"({' '.join(str(error).split())[:120]})") from None

    def no_password() -> bytes:
        raise UsageError(f"--ssl-keyfile {keyfile}: the key is encrypted; give it without a passphrase")

    try:
        context.load_cert_chain(certfile, keyfile, password=no_password)
    except (ssl.SSLError, OSError, ValueError) as error:
        mismatch = "KEY_VALUES_MISMATCH" in str(error)
        raise UsageError(f"--ssl-keyfile {keyfile}: " + ("not the key of the certificate in " + certfile
                         if mismatch else "not a PEM private key that can be used") +
                         f" ({' '.join(str(error).split())[:120]})") from None


def check_port(port: int) -> None:
    if not 0 < port < 65536:
        raise UsageError(f"--port {port}: give a port from 1 to 65535")


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound now: a port in use is one line here, before anything is started."""
    try:
        family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(256)
    except (OSError, OverflowError, ValueError) as error:  # (OverflowError: a port beyond 65535)
        raise UsageError(f"cannot listen on {host}:{port}: {getattr(error, 'strerror', None) or error}") from None
    sock.set_inheritable(False)
    return sock


class GradingProcess:
    """The child process that grades and records (dlgrade.service.supervisor), and the two pipes to it."""

    def __init__(self, course: Path, workers: int | None, scheduler: str | None, sandboxed: bool) -> None:
        self.command = [sys.executable, "-m", "dlgrade.service.supervisor", "--course", str(course),
                        "--parent", str(os.getpid())]
        if workers:
            self.command += ["--workers", str(workers)]
        if scheduler:
            self.command += ["--scheduler", scheduler]
        if not sandboxed:
            self.command.append("--no-sandbox")
        self.process: subprocess.Popen[bytes] | None = None
        self.wake_fd = self.notify_fd = -1
        self.starts: list[float] = []
        self.lock = threading.Lock()

    def start(self, timeout: float = READY_TIMEOUT) -> None:
        """Start it and wait for 'ready' (UsageError with its one line when it cannot grade)."""
        wake_read, wake_write = os.pipe()
        notify_read, notify_write = os.pipe()
        os.set_blocking(wake_write, False)
        self.process = subprocess.Popen(
            [*self.command, "--wake-fd", str(wake_read), "--notify-fd", str(notify_write)],
            pass_fds=(wake_read, notify_write), stdin=subprocess.DEVNULL)
        os.close(wake_read)
        os.close(notify_write)
        self.wake_fd, self.notify_fd = wake_write, notify_read
        self.starts.append(time.monotonic())
        line = self._first_line(timeout)
        if line != "ready":
            self.stop()
            raise UsageError(line.removeprefix("fatal: ") if line else "the grading process ended as it started")
        os.set_blocking(self.notify_fd, False)

    def _first_line(self, timeout: float) -> str:
        """The grading process's first line that is not a tick ('changed ...': a status changed as it started)."""
        buffer = b""
        deadline = time.monotonic() + timeout
        while b"\n" not in (buffer := _without_ticks(buffer)):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "fatal: the grading process did not become ready in time"
            readable, _, _ = select.select([self.notify_fd], [], [], min(remaining, 1.0))
            if readable:
                chunk = os.read(self.notify_fd, 4096)
                if not chunk:
                    break
                buffer += chunk
            elif self.process is not None and self.process.poll() is not None:
                break
        return _without_ticks(buffer).split(b"\n", 1)[0].decode("utf-8", "replace").strip()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def wake(self) -> None:
        with contextlib.suppress(BlockingIOError, BrokenPipeError, OSError):
            os.write(self.wake_fd, b".")

    def may_restart(self) -> bool:
        now = time.monotonic()
        return len([t for t in self.starts if now - t < RESTART_WINDOW]) < RESTARTS

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (it puts what it was grading back in the queue), then SIGKILL."""
        process = self.process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        for fd in (self.wake_fd, self.notify_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self.wake_fd = self.notify_fd = -1


def _without_ticks(buffer: bytes) -> bytes:
    """``buffer`` without the whole tick lines (and empty lines) at its start."""
    while True:
        line, newline, rest = buffer.partition(b"\n")
        if not newline or (line.strip() and line.split()[0] != TICK.encode()):
            return buffer
        buffer = rest


def _attach(grading: GradingProcess) -> Any:
    """In the server's event loop: ticks from the grading process wake long polls; its end starts it again."""

    def attach(service: Any) -> Any:
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(grading.notify_fd, 65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if data:
                service.changes.feed(data)
                return
            loop.remove_reader(grading.notify_fd)
            loop.run_in_executor(None, restart)

        def restart() -> None:
            with grading.lock:
                code = grading.process.poll() if grading.process else None
                log.error("the grading process ended (exit %s)", code)
                grading.stop()
                while grading.may_restart():
                    try:
                        grading.start()
                    except UsageError as error:
                        log.error("the grading process cannot start again: %s", error)
                        time.sleep(5)
                        continue
                    log.info("the grading process was started again; the queue is graded from where it was")
                    loop.call_soon_threadsafe(loop.add_reader, grading.notify_fd, readable)
                    return
                log.error("the grading process keeps ending: submissions are queued but not graded until "
                          "dlgrade serve is restarted")

        loop.add_reader(grading.notify_fd, readable)
        return lambda: grading.notify_fd >= 0 and loop.remove_reader(grading.notify_fd)

    return attach


def facts_of(course: Any, ids: list[str], policy: Any) -> dict[str, Any]:
    """Per assignment: the grade ids of its grade and solution cells, and its points (from the course's source
    notebook), and its deadline."""
    from datetime import UTC

    import nbformat

    from dlgrade.assignments import grade_cell_points
    from dlgrade.service.app import Facts

    duedates: dict[str, Any] = {}
    with course.gradebook() as book:
        for assignment in book.assignments:
            duedates[assignment.name] = assignment.duedate
    facts = {}
    for assignment_id in ids:
        source = nbformat.read(course.path("source", ".", assignment_id) / f"{assignment_id}.ipynb", as_version=4)
        marked = [cell.get("metadata", {}).get("nbgrader", {}) for cell in source.cells]
        marked = [meta for meta in marked if isinstance(meta.get("grade_id"), str) and meta["grade_id"]]
        cell_ids = frozenset(meta["grade_id"] for meta in marked if meta.get("solution") or meta.get("grade"))
        solution_ids = frozenset(meta["grade_id"] for meta in marked if meta.get("solution"))
        deadline = policy.of(assignment_id).deadline
        if deadline is None and duedates.get(assignment_id) is not None:
            deadline = duedates[assignment_id].replace(tzinfo=UTC)  # nbgrader keeps duedates as naive UTC
        facts[assignment_id] = Facts(assignment_id, cell_ids, solution_ids, sum(grade_cell_points(source).values()),
                                     deadline)
    return facts


def serve(course_root: Path, host: str = "127.0.0.1", port: int = 8642, workers: int | None = None,
          scheduler: str | None = None, ssl_certfile: str | None = None, ssl_keyfile: str | None = None,
          insecure_http: bool = False, sandboxed: bool = True) -> int:
    from dlgrade.course import Course
    from dlgrade.sandbox.launcher import bwrap_path
    from dlgrade.service.cluster import unavailable
    from dlgrade.service.logs import setup_logging
    from dlgrade.service.policy import load_policy
    from dlgrade.service.store import Store, hold_lock

    check_port(port)
    check_listen(host, ssl_certfile, ssl_keyfile, insecure_http)
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: give at least 1")
    if scheduler and unavailable():
        raise UsageError(unavailable() or "")
    if sandboxed and not scheduler and bwrap_path() is None:
        raise UsageError("bubblewrap (bwrap) is not installed: install it (apt-get install bubblewrap) or pass "
                         "--no-sandbox to grade without isolation")
    course = Course.open(course_root)
    ids = course.set_up_ids()
    if not ids:
        raise UsageError(f"no assignment is set up in {course.root}: run `dlgrade setup ID --course {course.root}`")
    policy = load_policy(course.root, ids)
    store = Store(course.state).create()
    setup_logging(store.root, "web")
    lock = hold_lock(store.root / SERVE_LOCK, f"another dlgrade serve is running on this course "
                                              f"({store.root / SERVE_LOCK})")
    try:
        sock = bind(host, port)
    except UsageError:
        lock.close()
        raise
    import uvicorn

    from dlgrade.service.app import Service, create_app

    grading = GradingProcess(course.root, workers, scheduler, sandboxed)
    log.info("starting the grading process (%s)", f"scheduler {scheduler}" if scheduler else
             f"{workers or 'one per core'} local worker(s)")
    try:
        grading.start()
        state = Service(course.root, store, policy, facts_of(course, ids, policy), course.db_url, course.course_id,
                        wake=grading.wake, grading_alive=grading.alive, attach=_attach(grading))
        scheme = "https" if ssl_certfile else "http"
        config = uvicorn.Config(create_app(state), ssl_certfile=ssl_certfile, ssl_keyfile=ssl_keyfile,
                                server_header=False, proxy_headers=False, timeout_keep_alive=10,
                                timeout_graceful_shutdown=5,  # long polls hold a connection for up to 60 s
                                limit_concurrency=500, log_level="info", access_log=True)
        log.info("dlgrade serve: %s://%s:%d/ for %s (%s); policy from %s", scheme, host, port, course.course_id,
                 ", ".join(ids), policy.source)
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        grading.stop()
        sock.close()
        lock.close()
    return 0
