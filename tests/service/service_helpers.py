"""Helpers for the service's tests: a course of several copies of the 'mini' fixture assignment (one per policy),
`dlgrade serve` as a real process on a port the test picks, and a small HTTP client on http.client."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from dlgrade import assignments, sample_class
from dlgrade.cli import main

FIXTURE_ROOT = Path(__file__).resolve().parent.parent / "fixtures" / "engine_course"


def build_project(root: Path, ids: Iterable[str]) -> Path:
    """A project folder holding copies of the mini assignment under other ids (assignments/ and autograders/)."""
    source = FIXTURE_ROOT / "assignments" / "mini" / "mini.ipynb"
    suite = (FIXTURE_ROOT / "autograders" / "mini.py").read_text()
    for assignment_id in ids:
        folder = root / "assignments" / assignment_id
        folder.mkdir(parents=True)
        shutil.copy(source, folder / f"{assignment_id}.ipynb")
        (root / "autograders").mkdir(exist_ok=True)
        (root / "autograders" / f"{assignment_id}.py").write_text(
            suite.replace('assignment="mini"', f'assignment="{assignment_id}"'))
    return root


def cli(*args: str | Path) -> tuple[int, str, str]:
    """`dlgrade ARGS` in this process: (exit code, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


def issue_tokens(course: Path, *names: str, instructor: bool = False) -> dict[str, str]:
    code, out, err = cli("tokens", "issue", "--course", course, *names, *(["--instructor"] if instructor else []))
    assert code == 0, err
    return dict(line.split("\t") for line in out.splitlines())


def notebooks(assignment_id: str = "mini") -> dict[str, nbformat.NotebookNode]:
    """The sample class of the mini assignment: student name -> notebook (solution, blank, mistakes, hostile)."""
    mini = assignments.load("mini", root=FIXTURE_ROOT)
    return {s.student: s.notebook for s in sample_class.build(mini)}


def notebook_bytes(notebook: nbformat.NotebookNode) -> bytes:
    return nbformat.writes(notebook).encode()


def with_cell(notebook: nbformat.NotebookNode, grade_id: str, source: str) -> nbformat.NotebookNode:
    return sample_class.replace_cell(notebook, grade_id, source)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def detail(self) -> str:
        return self.json()["detail"]


class Server:
    """`dlgrade serve` as a process of its own session, on 127.0.0.1 and a port chosen here."""

    def __init__(self, course: Path, log: Path, workers: int = 1, port: int | None = None,
                 extra: Iterable[str] = (), cafile: Path | None = None) -> None:
        self.course, self.log, self.workers = course, log, workers
        self.port = port or free_port()
        self.extra = list(extra)
        self.cafile = cafile  # HTTPS, trusting this certificate
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.cafile else 'http'}://127.0.0.1:{self.port}"

    def start(self, timeout: float = 600.0) -> Server:
        handle = open(self.log, "ab")  # noqa: SIM115 - the child writes it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dlgrade.cli", "serve", "--course", str(self.course), "--port", str(self.port),
             "--workers", str(self.workers), *self.extra],
            stdout=handle, stderr=handle, stdin=subprocess.DEVNULL, start_new_session=True)
        handle.close()
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, f"dlgrade serve ended: {self.log.read_text()[-3000:]}"
            with contextlib.suppress(OSError):
                if self.request("GET", "/api/v1/health").status == 200:
                    return self
            assert time.monotonic() < deadline, f"dlgrade serve did not start: {self.log.read_text()[-3000:]}"
            time.sleep(0.2)

    def grading_pid(self) -> int:
        """The grading process (the web process's child running dlgrade.service.supervisor)."""
        assert self.process is not None
        for task in Path(f"/proc/{self.process.pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                if b"dlgrade.service.supervisor" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
        raise AssertionError("no grading process")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(60)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def request(self, method: str, path: str, body: Any = None, token: str | None = None,
                headers: dict[str, str] | None = None, timeout: float = 120.0) -> Response:
        if self.cafile:
            import ssl

            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=timeout, context=ssl.create_default_context(cafile=str(self.cafile)))
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            sent = dict(headers or {})
            if token is not None:
                sent["Authorization"] = f"Bearer {token}"
            chunked = sent.get("Transfer-Encoding") == "chunked"
            connection.request(method, path, body=body, headers=sent, encode_chunked=chunked)
            reply = connection.getresponse()
            return Response(reply.status, {k.lower(): v for k, v in reply.getheaders()}, reply.read())
        finally:
            connection.close()

    def submit(self, token: str, assignment: str, data: bytes, content_type: str = "application/x-ipynb+json",
               ) -> Response:
        return self.request("POST", f"/api/v1/assignments/{assignment}/submissions", data, token,
                            {"Content-Type": content_type})

    def wait_final(self, token: str, sid: str, timeout: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            reply = self.request("GET", f"/api/v1/submissions/{sid}?wait=20", token=token)
            assert reply.status == 200, reply.body
            status = reply.json()
            if status["status"] not in ("queued", "grading"):
                return status
            assert time.monotonic() < deadline, f"{sid} still {status['status']}"

    def graded(self, token: str, assignment: str, notebook: nbformat.NotebookNode | bytes) -> dict[str, Any]:
        data = notebook if isinstance(notebook, bytes) else notebook_bytes(notebook)
        reply = self.submit(token, assignment, data)
        assert reply.status == 202, reply.body
        return self.wait_final(token, reply.json()["id"])


def multipart(field: str, filename: str, data: bytes) -> tuple[bytes, str]:
    boundary = "dlgradeboundary7MA4YWxkTrZu0gW"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{filename}\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def log_lines(course: Path, pattern: str) -> list[str]:
    text = (course / ".dlgrade" / "service" / "service.log").read_text()
    return [line for line in text.splitlines() if re.search(pattern, line)]


@dataclass
class Served:
    """The served test course (conftest's ``served`` fixture): its folder, its server, students' tokens."""

    course: Path
    server: Server
    tokens: dict[str, str]
    instructor: str
