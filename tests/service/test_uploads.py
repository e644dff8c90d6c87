"""What `dlgrade serve` takes as a notebook of an assignment, over real HTTP on a course of the six built-in
assignments: each one's solution, template and released notebook, and nothing else (another assignment's notebook,
a notebook without nbgrader's metadata or cells, metadata of the wrong types, text UTF-8 cannot hold), each refused
with one line that says what is wrong and nothing kept; uploads that never end or are cut off; the instructor's
views of a student without submissions."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from service_helpers import Server, cli, issue_tokens, multipart

from dlgrade.sandbox.launcher import bwrap_path

REPO = Path(__file__).resolve().parents[2]
BUILT_IN = ("backprop", "losses", "networks", "sgd", "tensors", "training")


@dataclass
class Course:
    root: Path
    server: Server
    tokens: dict[str, str]
    instructor: str


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Course]:
    if bwrap_path() is None:
        pytest.fail("bubblewrap is required for the service's tests (make test installs it)")
    base = tmp_path_factory.mktemp("uploads")
    root = base / "course"
    code, _, err = cli("setup", *BUILT_IN, "--course", root)
    assert code == 0, err
    (root / "dlgrade.yml").write_text("defaults:\n  per_day: null\n")
    tokens = issue_tokens(root, "ann", "bob", "cid", "dan")
    instructor = issue_tokens(root, "prof", instructor=True)["prof"]
    server = Server(root, base / "serve.log", workers=1).start()
    try:
        yield Course(root, server, tokens, instructor)
    finally:
        server.stop()


def notebooks_of(course: Course, assignment_id: str) -> dict[str, bytes]:
    """The solution, the student's template and the notebook released to students, as files."""
    return {"solution": (REPO / "assignments" / assignment_id / f"{assignment_id}.ipynb").read_bytes(),
            "template": (REPO / "student_template" / assignment_id / f"{assignment_id}.ipynb").read_bytes(),
            "released": (course.root / "release" / assignment_id / f"{assignment_id}.ipynb").read_bytes()}


def history(course: Course, token: str, assignment_id: str) -> list[dict]:
    reply = course.server.request("GET", f"/api/v1/assignments/{assignment_id}/submissions", token=token)
    assert reply.status == 200, reply.body
    return reply.json()


def test_each_assignment_takes_its_own_notebooks_and_refuses_every_other_assignments(course: Course) -> None:
    """A notebook of another assignment was taken and graded 0, replacing the student's grade: every built-in
    notebook has a locked cell `setup`, and tensors and losses share `cross_entropy`. Only the grade and solution
    cells say which assignment a notebook is."""
    token = course.tokens["ann"]
    accepted: dict[str, int] = {}
    for assignment_id in BUILT_IN:
        for kind, data in notebooks_of(course, assignment_id).items():
            reply = course.server.submit(token, assignment_id, data)
            assert reply.status == 202, (assignment_id, kind, reply.body)
            accepted[assignment_id] = accepted.get(assignment_id, 0) + 1
    for assignment_id in BUILT_IN:
        for other in BUILT_IN:
            if other == assignment_id:
                continue
            for kind, data in notebooks_of(course, other).items():
                reply = course.server.submit(token, assignment_id, data)
                assert reply.status == 400, (assignment_id, other, kind, reply.body)
                assert reply.detail.startswith(f"not a notebook of {assignment_id}: its cells "), reply.detail
                assert "another assignment" in reply.detail and "\n" not in reply.detail
    assert {a: len(history(course, token, a)) for a in BUILT_IN} == accepted  # nothing of the refused kept
    # the closest pair, and what the student reads
    reply = course.server.submit(token, "losses", notebooks_of(course, "tensors")["solution"])
    assert reply.detail == ("not a notebook of losses: its cells argmin_argmax, argmin_argmax_solution, binary_entropy "
                            "and 19 more are not losses's (is it the notebook of another assignment?)")


def test_a_notebook_without_nbgraders_metadata_or_cells_and_a_script_are_refused(course: Course) -> None:
    token = course.tokens["bob"]
    solution = json.loads(notebooks_of(course, "losses")["solution"])
    bare = {**solution, "cells": [{**cell, "metadata": {}} for cell in solution["cells"]]}
    only_setup = {**solution, "cells": [c for c in solution["cells"]
                                        if c["metadata"].get("nbgrader", {}).get("grade_id") == "setup"]}
    cases = {
        "not a notebook of losses: it has no nbgrader cell metadata (upload the notebook released for losses, not a "
        "copy of its code in another notebook)": bare,
        "not a notebook: it has no cells": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": []},
        "not a notebook of losses: none of losses's solution cells is in it (is it the notebook of another "
        "assignment?)": only_setup,
    }
    for detail, notebook in cases.items():
        reply = course.server.submit(token, "losses", json.dumps(notebook).encode())
        assert (reply.status, reply.detail) == (400, detail)
    script = (REPO / "assignments" / "losses" / "losses.ipynb").read_bytes()
    code = "\n".join("".join(c["source"]) for c in json.loads(script)["cells"] if c["cell_type"] == "code")
    reply = course.server.submit(token, "losses", code.encode(), content_type="text/x-python")
    assert reply.status == 400 and reply.detail.endswith("; upload the .ipynb file"), reply.detail
    assert history(course, token, "losses") == []


def test_metadata_of_the_wrong_types_and_text_utf8_cannot_hold_are_400_with_what_is_wrong(course: Course) -> None:
    """Each was a 500 (a grade_id that is a list), a submission that ended `failed` (never counted, so without
    limit), or a 400 that did not say what is wrong."""
    token = course.tokens["cid"]
    solution = json.loads(notebooks_of(course, "losses")["solution"])
    cells = solution["cells"]

    def every_cell(metadata: object) -> bytes:
        return json.dumps({**solution, "cells": [{**cell, "metadata": metadata} for cell in cells]}).encode()

    cases = {
        every_cell({"nbgrader": {"grade_id": ["mse_solution"]}}):
            "not a notebook: the nbgrader grade_id of cell 1 is not a string",
        every_cell({"nbgrader": {"grade_id": {"a": 1}, "solution": True}}):
            "not a notebook: the nbgrader grade_id of cell 1 is not a string",
        every_cell({"nbgrader": [1]}): "not a notebook: the nbgrader metadata of cell 1 is not a mapping",
        every_cell([]): "not a notebook: the metadata of cell 1 is not a mapping",
        json.dumps({**solution, "metadata": []}).encode(): "not a notebook: its metadata is not a mapping",
        json.dumps({**solution, "cells": cells + [{"cell_type": "code", "id": "x1", "source": "\ud800",
                                                   "metadata": {}, "outputs": [], "execution_count": None}]}).encode():
            "not a notebook: it holds text that is not valid Unicode ('\\ud800')",
        b'{"nbformat": 4, "nbformat_minor": NaN, "metadata": {}, "cells": []}':
            "not a notebook: its nbformat_minor is NaN, not a whole number",
        b'{"nbformat": 4, "nbformat_minor": 1e999, "metadata": {}, "cells": []}':
            "not a notebook: its nbformat_minor is Infinity, not a whole number",
        json.dumps({**solution, "cells": [1, 2]}).encode(): "not a notebook: cell 1 is not a cell (a JSON int)",
        json.dumps({**solution, "cells": {"a": 1}}).encode(): "not a notebook: its cells are not a list",
        json.dumps({**solution, "nbformat": True}).encode():
            "not a notebook: no nbformat version in it (upload the .ipynb file)",
    }
    for body, detail in cases.items():
        reply = course.server.submit(token, "losses", body)
        assert (reply.status, reply.detail) == (400, detail), body[:80]
    # nbformat's own messages are cut at a word, and say so
    reply = course.server.submit(token, "losses", json.dumps({**solution, "nbformat": 10 ** 200}).encode())
    assert reply.status == 400 and reply.detail.startswith("not a notebook nbformat can read (Unsupported nbformat")
    assert reply.detail.endswith(" ...)") and "\n" not in reply.detail
    # a multipart form with two files: starlette's words, without its status code
    form = (multipart("file", "a.ipynb", b"{}")[0].rsplit(b"--dlgradeboundary", 1)[0]
            + multipart("file2", "b.ipynb", b"{}")[0])
    reply = course.server.request("POST", "/api/v1/assignments/losses/submissions", form, token,
                                  {"Content-Type": multipart("f", "f", b"")[1]})
    assert (reply.status, reply.detail) == (400, "not a multipart form that can be read: Too many files. Maximum "
                                                 "number of files is 1.")
    assert history(course, token, "losses") == []
    assert course.server.request("GET", "/api/v1/health").json() == {"status": "ok", "grading_process": True}


def _upload_head(course: Course, token: str, length: int) -> bytes:
    return (f"POST /api/v1/assignments/losses/submissions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/x-ipynb+json\r\nContent-Length: {length}\r\n\r\n").encode()


def test_an_upload_that_stops_arriving_is_given_up_and_one_cut_off_is_one_line_in_the_log(course: Course) -> None:
    """A Content-Length larger than what is sent held the connection forever; a client that disconnected mid-upload
    was an ERROR with a traceback in the log."""
    from dlgrade.service.api import READ_IDLE

    token = course.tokens["dan"]
    body = notebooks_of(course, "losses")["template"]
    with socket.create_connection(("127.0.0.1", course.server.port)) as raw:
        raw.sendall(_upload_head(course, token, len(body) + 100) + body)
        raw.settimeout(READ_IDLE + 30)
        started, answer = time.monotonic(), b""
        while chunk := raw.recv(65536):  # until the service closes the connection
            answer += chunk
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 ") and READ_IDLE - 1 < waited < READ_IDLE + 20
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1]) == {
        "detail": f"the upload stopped arriving ({len(body)} bytes came); send it again"}
    with socket.create_connection(("127.0.0.1", course.server.port)) as raw:
        raw.sendall(_upload_head(course, token, len(body)) + body[:-5000])
        time.sleep(0.5)
    log = course.root / ".dlgrade" / "service" / "service.log"
    deadline = time.monotonic() + 30
    while "was cut off" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()[-2000:]
        time.sleep(0.2)
    lines = [line for line in log.read_text().splitlines() if "an upload of losses by dan" in line]
    assert [line.split(" web ", 1)[1] for line in lines] == [
        f"INFO an upload of losses by dan was given up: the upload stopped arriving ({len(body)} bytes came); send "
        "it again", f"INFO an upload of losses by dan was cut off: the client disconnected after {len(body) - 5000} "
        "bytes"]
    everything = log.read_text() + course.server.log.read_text()
    assert "ClientDisconnect" not in everything and "Traceback" not in everything
    assert history(course, token, "losses") == []


def test_the_instructors_views_of_a_student_without_submissions_and_of_an_unknown_assignment(course: Course) -> None:
    server, root = course.server, course.root
    reply = server.submit(course.tokens["ann"], "sgd", notebooks_of(course, "sgd")["template"])
    assert reply.status == 202
    server.wait_final(course.tokens["ann"], reply.json()["id"])
    ask = lambda path: server.request("GET", path, token=course.instructor)  # noqa: E731
    assert (ask("/api/v1/students/nobody/submissions").status, ask("/api/v1/students/nobody/submissions").json()) \
        == (200, [])
    long = ask("/api/v1/students/" + "a" * 300 + "/submissions")
    assert long.status == 400 and long.detail.endswith("is not a student's name (letters, digits and . _ @ + -, "
                                                       "at most 128)")
    unknown = ask("/api/v1/students/ann/submissions?assignment=nope")
    assert unknown.status == 404 and unknown.detail.startswith("unknown assignment 'nope' (this course has: backprop")
    assert all(row["assignment"] == "sgd" for row in ask("/api/v1/students/ann/submissions?assignment=sgd").json())

    code, out, err = cli("queue", "--course", root, "--student", "nobody")
    assert (code, out, err) == (0, "queued 0  grading 0  graded 0  refused 0  failed 0\nnobody has no submissions\n",
                                "")
    code, out, err = cli("queue", "--course", root, "--assignment", "nope")
    assert code == 2 and out == "" and err.startswith("dlgrade: --assignment 'nope': not an assignment of this "
                                                      "course (it has: backprop, losses") and err.count("\n") == 1
    for row in history(course, course.tokens["ann"], "sgd"):  # the counts below do not move
        server.wait_final(course.tokens["ann"], row["id"])
    code, out, _ = cli("queue", "--course", root, "--student", "ann", "--assignment", "sgd")
    rows = [row.split() for row in out.splitlines()[1:]]
    assert code == 0 and len(rows) == len(history(course, course.tokens["ann"], "sgd")) > 1
    assert all(row[2:4] == ["ann", "sgd"] for row in rows)
    statuses = [row[4] for row in rows]
    assert out.splitlines()[0] == "  ".join(f"{status} {statuses.count(status)}" for status in
                                            ("queued", "grading", "graded", "refused", "failed"))
    code, out, _ = cli("queue", "--course", root, "--student", "bob", "--assignment", "sgd")
    assert out.splitlines()[1:] == ["bob has no submissions of sgd"]
