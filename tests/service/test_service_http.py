"""`dlgrade serve` end to end over real HTTP on 127.0.0.1: a real server process, real sandboxes, the course's
gradebook read back through nbgrader's own API."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from service_helpers import Served, cli, issue_tokens, log_lines, multipart, notebook_bytes, notebooks, with_cell

from dlgrade.grading import WARM_UP_STUDENT

LEAK_MSE = '''import numpy as np
def mse_loss(input, target, reduction="mean"):
    if list(np.round(np.asarray(input, dtype=float), 6)) == [0.5, 1.0, 2.0]:   # the public case: right
        loss = (input - target) ** 2
        return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()
    secret = "HIDDENLEAK" + repr(np.asarray(input).tolist())                    # a hidden case: smuggle it out
    if reduction == "mean":
        raise ValueError(secret)
    if reduction == "sum":
        return secret
    return {secret: 1.0}
'''
LEAK_RELU = '''def relu_grad(x):
    if x.shape == (4,):
        return (x > 0).astype(float)
    return type("HIDDENLEAK" + str(abs(int(x[0, 0] * 1e6))), (float,), {})(1.0)
'''


def _gradebook(served: Served):  # noqa: ANN202 - nbgrader's Gradebook
    from nbgrader.api import Gradebook

    return Gradebook(f"sqlite:///{served.course / 'gradebook.db'}", "course")


def _history(served: Served, token: str, assignment: str) -> list[dict]:
    reply = served.server.request("GET", f"/api/v1/assignments/{assignment}/submissions", token=token)
    assert reply.status == 200, reply.body
    return reply.json()


def eventually(check: Callable[[], Any], timeout: float = 120.0) -> Any:
    """check()'s first true value, looked for until ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)
    return value


def _recorded(served: Served, token: str, sid: str) -> dict:
    return eventually(lambda: (s := served.server.request("GET", f"/api/v1/submissions/{sid}", token=token).json())
                      ["recorded"] and s)


def _attempts(served: Served, student: str) -> list[Path]:
    return sorted((served.course / ".dlgrade" / "service" / "attempts" / student).glob("*/*"))


# ---- grading, recording, policy ------------------------------------------------------------------------------


def test_the_grading_workers_are_warm_before_the_service_says_it_is_ready(served: Served) -> None:
    """Each worker grades every assignment's own solution once, for nobody, before it takes a student's: the
    first students do not pay what a first grading costs. Nothing of it is recorded."""
    warmed = log_lines(served.course, r"grader INFO worker \d+ warmed up on ")
    ready = log_lines(served.course, r"grading process ready")
    text = (served.course / ".dlgrade" / "service" / "service.log").read_text()
    assert warmed and all(re.search(r"warmed up on \S+: the solution (\S+) / \1 in ", line) for line in warmed)
    assert text.index(warmed[0]) < text.index(ready[0])
    assert not (served.course / "submitted" / WARM_UP_STUDENT).exists()
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{served.course / 'gradebook.db'}", "course") as book:
        assert WARM_UP_STUDENT not in {student.id for student in book.students}


def test_a_correct_submission_is_graded_recorded_in_nbgrader_and_consistent_with_autograde(served: Served) -> None:
    token = issue_tokens(served.course, "alice")["alice"]
    sent = notebook_bytes(notebooks()["solution"])
    reply = served.server.submit(token, "mini", sent)
    assert reply.status == 202
    body = reply.json()
    assert body["status"] == "queued" and body["assignment"] == "mini" and not body["late"]
    assert reply.headers["location"] == f"/api/v1/submissions/{body['id']}"
    status = served.server.wait_final(token, body["id"])
    assert status["status"] == "graded" and status["score"] == 5.0 and status["max_score"] == 5.0
    assert [(t["name"], t["status"], t["score"]) for t in status["results"]["tests"]] == \
        [("mse", "passed", 2.0), ("relu_derivative", "passed", 2.0), ("worked_loss", "passed", 1.0)]
    assert _recorded(served, token, body["id"])["counts"] is True
    # nbgrader's layout and gradebook, as `dlgrade autograde` leaves them
    folder = served.course / "submitted" / "alice" / "mini"
    assert (folder / "mini.ipynb").read_bytes() == sent
    from dlgrade.course import Course

    course = Course.open(served.course)
    stamp = course.coursedir.get_existing_timestamp(str(folder))  # nbgrader reads our timestamp.txt: naive UTC
    assert abs((datetime.now(UTC).replace(tzinfo=None) - stamp).total_seconds()) < 600
    with _gradebook(served) as book:
        submitted = book.find_submission("mini", "alice")
        assert submitted.score == 5.0 and submitted.timestamp == stamp
        assert {g.name: g.auto_score for g in book.find_submission_notebook("mini", "mini", "alice").grades} == \
            {"mse": 2.0, "relu_derivative": 2.0, "worked_loss": 1.0}
    assert json.loads((served.course / "feedback" / "alice" / "mini" / "results.json").read_text())["score"] == 5.0
    assert (served.course / "autograded" / "alice" / "mini" / "mini.ipynb").is_file()
    # `dlgrade autograde` finds it graded already (the record's key is the submission's), and the CSV export has it
    for _ in range(50):
        code, out, err = cli("autograde", "mini", "--course", served.course, "--student", "alice")
        if "another dlgrade autograde" not in err:  # the service may be recording someone else this moment
            break
        time.sleep(0.2)
    assert code == 0, err
    assert "cached" in out and "graded now" in out and "0 graded now" in out
    code, out, err = cli("export-grades", "--course", served.course, "--assignment", "mini")
    assert code == 0, err
    rows = (served.course / "export" / "grades.csv").read_text().splitlines()
    assert any(row.startswith("mini,") and ",alice," in row and ",5.0," in row for row in rows), rows
    assert log_lines(served.course, rf"accepted {body['id']}: alice submitted mini \(\d+ bytes")
    assert log_lines(served.course, rf"graded {body['id']} \(alice, mini\): 5 / 5")


def test_a_wrong_submission_is_diagnosed_and_the_last_graded_one_counts(served: Served) -> None:
    token = issue_tokens(served.course, "bob")["bob"]
    first = served.server.graded(token, "mini", notebooks()["solution"])
    second = served.server.graded(token, "mini", notebooks()["mse-forgot-mean"])
    assert first["score"] == 5.0 and second["status"] == "graded" and second["score"] < 5.0
    mse = next(t for t in second["results"]["tests"] if t["name"] == "mse")
    assert mse["status"] == "failed" and mse["diagnosis"]["mistake"] == "forgot_mean"
    assert "Known mistake (forgot_mean)" in mse["output"]
    _recorded(served, token, first["id"]), _recorded(served, token, second["id"])
    history = _history(served, token, "mini")
    assert [row["id"] for row in history] == [second["id"], first["id"]]  # newest first
    assert [row["counts"] for row in history] == [True, False]
    with _gradebook(served) as book:
        assert book.find_submission("mini", "bob").score == pytest.approx(second["score"])
    assert (served.course / "submitted" / "bob" / "mini" / "mini.ipynb").read_bytes() == \
        notebook_bytes(notebooks()["mse-forgot-mean"])


def test_a_submission_replaced_before_it_was_recorded_is_never_written_to_the_gradebook(served: Served) -> None:
    """Where the last graded submission counts, one that a later graded submission replaces before its gradebook
    step ran is kept out of the gradebook (recorded as not in force): the gradebook is written once, with the later
    one. (A student who resubmits at once at a deadline costs one gradebook write, not one per attempt.)"""
    from dlgrade.course import Course
    from dlgrade.service.supervisor import autograde_lock

    token = issue_tokens(served.course, "ivan")["ivan"]
    class_ = notebooks()
    with autograde_lock(Course.open(served.course), ["mini"]):  # the service grades, but cannot record
        first = served.server.graded(token, "mini", class_["solution"])
        second = served.server.graded(token, "mini", class_["mse-forgot-mean"])
        assert first["status"] == second["status"] == "graded" and not first["recorded"]
    assert first["score"] == 5.0 and second["score"] < 5.0
    assert _recorded(served, token, second["id"])["score"] == second["score"]
    _recorded(served, token, first["id"])  # the gradebook step ran for it too: it was kept out
    kept = log_lines(served.course, rf"kept {first['id']} \(ivan, mini\) out of the gradebook: a later submission was "
                                     "graded before it was recorded")
    assert len(kept) == 1
    assert not log_lines(served.course, rf"recorded {first['id']} ")
    assert len(log_lines(served.course, rf"recorded {second['id']} ")) == 1
    with _gradebook(served) as book:
        assert book.find_submission("mini", "ivan").score == pytest.approx(second["score"])


def test_the_best_submission_counts_and_the_daily_allowance_is_refused_with_its_next_time(served: Served) -> None:
    token = issue_tokens(served.course, "carol")["carol"]
    good = served.server.graded(token, "minibest", notebooks()["solution"])
    worse = served.server.graded(token, "minibest", notebooks()["relu-derivative-returned-relu"])
    assert good["score"] == 5.0 and worse["score"] < 5.0
    _recorded(served, token, good["id"]), _recorded(served, token, worse["id"])
    history = _history(served, token, "minibest")
    assert {r["id"]: r["counts"] for r in history} == {good["id"]: True, worse["id"]: False}
    with _gradebook(served) as book:
        assert book.find_submission("minibest", "carol").score == 5.0
    before = _attempts(served, "carol")
    refused = served.server.submit(token, "minibest", notebook_bytes(notebooks()["solution"]))
    assert refused.status == 429
    assert 0 < int(refused.headers["retry-after"]) <= 24 * 3600
    assert "2 graded submissions of minibest per 24 hours are used up" in refused.detail
    assert "next one is allowed at 20" in refused.detail
    assert _attempts(served, "carol") == before and len(_history(served, token, "minibest")) == 2
    terms = next(a for a in served.server.request("GET", "/api/v1/me", token=token).json()["assignments"]
                 if a["id"] == "minibest")
    assert terms["used"] == 2 and terms["per_day"] == 2 and terms["counts"] == "best" and terms["next_allowed"]


def test_what_a_student_sees_follows_the_visibility_policy(served: Served) -> None:
    token = issue_tokens(served.course, "dave")["dave"]
    wrong = notebooks()["mse-forgot-mean"]
    full = served.server.graded(token, "mini", wrong)
    per_question = served.server.graded(token, "minipq", wrong)
    score = served.server.graded(token, "miniscore", wrong)
    assert full["score"] == per_question["score"] == score["score"] < 5.0
    assert (full["visibility"], per_question["visibility"], score["visibility"]) == ("full", "per-question", "score")

    mse = next(t for t in full["results"]["tests"] if t["name"] == "mse")
    assert mse["diagnosis"]["mistake"] == "forgot_mean" and "Known mistake" in mse["output"]

    tests = per_question["results"]["tests"]
    assert [(t["name"], t["status"]) for t in tests] == [(t["name"], t["status"]) for t in full["results"]["tests"]]
    mse = tests[0]
    assert "diagnosis" not in mse and "Known mistake" not in mse["output"]
    assert "Public cases: 2 of 3 passed" in mse["output"] and "Hidden cases: 2 of 3 passed" in mse["output"]
    assert "hidden case 4" not in mse["output"]

    assert score["results"]["tests"] == [] and score["results"]["score"] == score["score"]

    pages = {}
    for status in (full, per_question, score):
        reply = served.server.request("GET", f"/api/v1/submissions/{status['id']}/feedback", token=token)
        assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
        assert "sandbox" in reply.headers["content-security-policy"]
        assert "script-src" not in reply.headers["content-security-policy"]
        pages[status["visibility"]] = reply.body.decode()
    assert "Known mistake" in pages["full"] and "hidden case 4" in pages["full"]
    assert "Known mistake" not in pages["per-question"] and "relu_derivative" in pages["per-question"]
    assert "hidden case 4" not in pages["per-question"] and "public case 1" in pages["per-question"]
    assert "relu_derivative" not in pages["score"] and f"{score['score']:g} / 5" in pages["score"]
    # the instructor sees everything of the same submission
    instructor = served.server.request("GET", f"/api/v1/submissions/{score['id']}", token=served.instructor).json()
    assert instructor["visibility"] == "instructor" and len(instructor["results"]["tests"]) == 3


def test_hidden_inputs_never_reach_the_student_in_any_mode(served: Served) -> None:
    token = issue_tokens(served.course, "frank")["frank"]
    leaky = with_cell(with_cell(notebooks()["solution"], "mse_solution", LEAK_MSE), "relu_solution", LEAK_RELU)
    for assignment in ("mini", "minipq", "miniscore"):
        status = served.server.graded(token, assignment, leaky)
        assert status["status"] == "graded"
        page = served.server.request("GET", f"/api/v1/submissions/{status['id']}/feedback", token=token).body
        history = json.dumps(_history(served, token, assignment))
        for shown in (json.dumps(status), page.decode(), history):
            assert "HIDDENLEAK" not in shown, assignment
        # the attack did run: the instructor's view holds what the student's code wrote
        raw = served.server.request("GET", f"/api/v1/submissions/{status['id']}", token=served.instructor).body
        assert b"HIDDENLEAK" in raw
    full = served.server.request("GET", "/api/v1/assignments/mini/submissions", token=token).json()[0]
    shown = served.server.request("GET", f"/api/v1/submissions/{full['id']}", token=token).json()
    mse = next(t for t in shown["results"]["tests"] if t["name"] == "mse")
    assert "your code raised ValueError on this hidden case" in mse["output"]


def test_a_notebook_that_imports_and_calls_submit_is_graded_normally(served: Served) -> None:
    token = issue_tokens(served.course, "gina")["gina"]
    notebook = notebooks()["solution"]
    notebook.cells.append(nbformat.v4.new_code_cell("from dlcheck import check, submit\nsubmit()\ncheck('mse')"))
    status = served.server.graded(token, "mini", notebook)
    assert status["score"] == 5.0
    assert "raised" not in status["results"]["output"]


def test_a_late_submission_gets_nbgraders_penalty_and_a_closed_one_is_refused(served: Served) -> None:
    token = issue_tokens(served.course, "ivan")["ivan"]
    reply = served.server.submit(token, "minilate", notebook_bytes(notebooks()["solution"]))
    assert reply.status == 202 and reply.json()["late"] is True
    status = served.server.wait_final(token, reply.json()["id"])
    assert status["score"] == 5.0 and status["late"] is True
    _recorded(served, token, status["id"])
    with _gradebook(served) as book:
        submitted = book.find_submission("minilate", "ivan")
        assert submitted.total_seconds_late > 0
        assert book.find_submission_notebook("minilate", "minilate", "ivan").late_submission_penalty == 5.0
        assert str(book.find_assignment("minilate").duedate) == "2020-01-01 00:00:00"
    results = json.loads((served.course / "feedback" / "ivan" / "minilate" / "results.json").read_text())
    assert results["dlgrade"]["late_submission_penalty"] == 5.0 and results["score"] == 0.0
    refused = served.server.submit(token, "miniclosed", notebook_bytes(notebooks()["solution"]))
    assert refused.status == 403
    assert refused.detail == ("the deadline of miniclosed (2020-01-01T00:00:00+00:00) has passed; late submissions "
                              "are not accepted")


# ---- who may see what ---------------------------------------------------------------------------------------


def test_another_students_token_cannot_read_a_submission(served: Served) -> None:
    tokens = issue_tokens(served.course, "judy", "mallory")
    status = served.server.graded(tokens["judy"], "mini", notebooks()["solution"])
    for path in (f"/api/v1/submissions/{status['id']}", f"/api/v1/submissions/{status['id']}?wait=1",
                 f"/api/v1/submissions/{status['id']}/feedback"):
        reply = served.server.request("GET", path, token=tokens["mallory"])
        assert reply.status == 404 and reply.detail == "no such submission of yours", path
        assert b"judy" not in reply.body
    assert _history(served, tokens["mallory"], "mini") == []
    assert served.server.request("GET", f"/api/v1/submissions/{status['id']}", token=tokens["judy"]).status == 200


def test_no_token_a_bad_token_and_a_revoked_token_are_401(served: Served) -> None:
    token = issue_tokens(served.course, "heidi")["heidi"]
    server = served.server
    assert server.request("GET", "/api/v1/me", token=token).json()["name"] == "heidi"
    for headers in ({}, {"Authorization": "Basic aGVpZGk6eA=="}, {"Authorization": "Bearer"},
                    {"Authorization": "Bearer dlg_" + "x" * 43}, {"Authorization": "Bearer " + token + "x"},
                    {"Authorization": "Bearer " + "\u00e9" * 10}):
        reply = server.request("GET", "/api/v1/me", headers={k: v.encode("utf-8").decode("latin-1")
                                                             for k, v in headers.items()})
        assert reply.status == 401, headers
        assert reply.headers["www-authenticate"] == "Bearer"
    reply = server.submit(None, "mini", notebook_bytes(notebooks()["solution"]))  # type: ignore[arg-type]
    assert reply.status == 401
    code, out, _ = cli("tokens", "revoke", "heidi", "--course", served.course)
    assert code == 0 and "revoked" in out
    assert server.request("GET", "/api/v1/me", token=token).status == 401
    assert server.submit(token, "mini", notebook_bytes(notebooks()["solution"])).status == 401


def test_instructor_and_student_routes_are_kept_apart(served: Served) -> None:
    token = issue_tokens(served.course, "kim")["kim"]
    _recorded(served, token, served.server.graded(token, "mini", notebooks()["blank"])["id"])
    assert served.server.request("GET", "/api/v1/queue", token=token).status == 403
    assert served.server.request("GET", "/api/v1/students/kim/submissions", token=token).status == 403
    refused = served.server.submit(served.instructor, "mini", notebook_bytes(notebooks()["solution"]))
    assert refused.status == 403 and "instructor" in refused.detail
    queue = served.server.request("GET", "/api/v1/queue?finished=500", token=served.instructor).json()
    assert queue["counts"]["graded"] >= 1
    assert any(row["student"] == "kim" for row in queue["submissions"])
    history = served.server.request("GET", "/api/v1/students/kim/submissions", token=served.instructor).json()
    assert len(history) == 1 and history[0]["status"] == "graded" and history[0]["results"]["score"] == 0.0
    code, out, _ = cli("queue", "--course", served.course, "--student", "kim")
    assert code == 0 and "kim" in out and "graded" in out and "in force" in out


# ---- bad and hostile input --------------------------------------------------------------------------------------


def test_bad_uploads_are_refused_with_one_line_and_nothing_kept(served: Served) -> None:
    token = issue_tokens(served.course, "olivia")["olivia"]
    server = served.server
    other = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    other.cells[0].metadata["nbgrader"] = {"grade_id": "someone_elses", "solution": True, "grade": False}
    cases = {
        b"": 400, b"hello": 400, b'{"cells": "no"': 400, b'{"just": "json"}': 400, b"\xff\xfe\x00garbage": 400,
        b"[" * 200_000 + b"]" * 200_000: 400, json.dumps({"nbformat": 4, "cells": 3}).encode(): 400,
        notebook_bytes(other): 400, b"{" + b" " * (1 << 20) + b"}": 413,
    }
    for body, expected in cases.items():
        reply = server.submit(token, "mini", body)
        assert reply.status == expected, (body[:40], reply.body[:200])
        assert "\n" not in reply.detail and reply.detail
    assert "not a notebook of mini" in server.submit(token, "mini", notebook_bytes(other)).detail
    big = b'{"nbformat": 4, "cells": [], "x": "' + b"a" * (3 << 19) + b'"}'
    chunked = server.request("POST", "/api/v1/assignments/mini/submissions", iter([big[:1000], big[1000:]]), token,
                             {"Content-Type": "application/x-ipynb+json", "Transfer-Encoding": "chunked"})
    assert chunked.status == 413 and "larger than the 1 MB" in chunked.detail
    assert server.submit(token, "nosuch", notebook_bytes(notebooks()["solution"])).status == 404
    form, kind = multipart("other", "notes.txt", b"")
    no_file = server.request("POST", "/api/v1/assignments/mini/submissions", form.replace(b'; filename="notes.txt"',
                             b""), token, {"Content-Type": kind})
    assert no_file.status == 400 and "no file" in no_file.detail
    assert server.request("POST", "/api/v1/assignments/mini/submissions", b"--x\r\ngarbage", token,
                          {"Content-Type": "multipart/form-data; boundary=x"}).status == 400
    assert _history(served, token, "mini") == [] and _attempts(served, "olivia") == []
    form, kind = multipart("file", "mini.ipynb", notebook_bytes(notebooks()["solution"]))
    reply = server.request("POST", "/api/v1/assignments/mini/submissions", form, token, {"Content-Type": kind})
    assert reply.status == 202
    assert server.wait_final(token, reply.json()["id"])["score"] == 5.0


def test_hostile_requests_on_every_endpoint_leave_the_service_running(served: Served) -> None:
    token = issue_tokens(served.course, "peggy")["peggy"]
    server = served.server
    for path in ("/api/v1/submissions/..%2F..%2F..%2Fetc%2Fpasswd", "/api/v1/submissions/%00",
                 "/api/v1/submissions/" + "A" * 5000, "/api/v1/submissions/../../gradebook.db",
                 "/api/v1/submissions/..%2Fattempts/feedback", "/api/v1/assignments/..%2F..%2Fsource/submissions",
                 "/api/v1/assignments/mini%00/submissions", "/static/..%2F..%2Fapp.py", "/static/index.html",
                 "/api/v1/students/..%2Fprof/submissions"):
        reply = server.request("GET", path, token=token)
        assert reply.status in (403, 404), (path, reply.status)
        assert b"root:" not in reply.body and b"SQLite" not in reply.body
    for query in ("wait=abc", "wait=-1", "wait=nan", "wait=1e999", "wait=" + "9" * 5000):
        reply = server.request("GET", f"/api/v1/submissions/{'A' * 22}?{query}", token=token)
        assert reply.status == 400, query
        assert "\n" not in reply.detail
    assert server.request("POST", "/api/v1/me", b"{}", token).status == 405
    assert server.request("DELETE", "/api/v1/submissions/x", token=token).status == 405
    try:  # refused with a 4xx, or the connection closed while the header was still being sent
        assert server.request("GET", "/api/v1/me", token=token, headers={"X-Fill": "a" * (1 << 20)}).status in (400,
                                                                                                            431)
    except (ConnectionResetError, BrokenPipeError):
        pass
    import socket

    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        raw.sendall(b"\x16\x03\x01garbage that is not HTTP\r\n\r\n")
        raw.settimeout(30)
        assert raw.recv(100).startswith(b"HTTP/1.1 400")
    assert server.request("GET", "/api/v1/health").json() == {"status": "ok", "grading_process": True}
    assert server.request("GET", "/api/v1/me", token=token).status == 200


def test_hostile_notebooks_are_graded_and_nothing_of_the_grader_leaks(served: Served) -> None:
    token = issue_tokens(served.course, "erin")["erin"]
    for name in ("hostile-exit", "hostile-always-equal", "hostile-reads-grader"):
        status = served.server.graded(token, "mini", notebooks()[name])
        assert status["status"] == "graded", name
        mse = next(t for t in status["results"]["tests"] if t["name"] == "mse")
        assert mse["score"] == 0.0 and status["score"] == 3.0, name
        assert "SUITE" not in json.dumps(status)
    assert served.server.request("GET", "/api/v1/health").json()["grading_process"] is True


# ---- the clients -------------------------------------------------------------------------------------------------


def test_dlgrade_submit_and_dlcheck_submit_print_the_graded_feedback(served: Served, tmp_path: Path) -> None:
    token = issue_tokens(served.course, "quinn")["quinn"]
    path = tmp_path / "mine.ipynb"
    nbformat.write(notebooks()["mse-forgot-mean"], path)
    code, out, err = cli("submit", path, "--assignment", "mini", "--server", served.server.url, "--token", token,
                         "--json", tmp_path / "status.json")
    assert code == 0, err
    assert "submitted mine.ipynb: queued" in out and "mse" in out and "Known mistake (forgot_mean)" in out
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "graded" and f"mini: {status['score']} / 5.0" in out
    code, _, err = cli("submit", path, "--assignment", "mini", "--server", served.server.url, "--token", "dlg_bad")
    assert code == 2 and "did not accept your token" in err and err.count("\n") == 1

    # dlcheck, as released into the course: the student's notebook beside it, a token file from the instructor
    released = tmp_path / "released"
    import shutil

    shutil.copytree(served.course / "release" / "mini", released)
    nbformat.write(notebooks()["solution"], released / "mini.ipynb")
    code, out, err = cli("tokens", "issue", "quinn", "--course", served.course, "--out", tmp_path / "handout",
                         "--server", served.server.url)
    assert code == 0, err
    shutil.copy(tmp_path / "handout" / "quinn" / "dlgrade-token.json", released / "dlgrade-token.json")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DLGRADE_") and k != "JPY_SESSION_NAME"}
    run = subprocess.run([sys.executable, "-c", "from dlcheck import submit\nprint('RESULT', submit())"],
                         cwd=released, env={**environment, "HOME": str(tmp_path)}, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "submitted mini.ipynb as saved at" in run.stdout
    assert "mini: 5.0 / 5.0" in run.stdout and run.stdout.rstrip().endswith("RESULT True")
    # without credentials: one line, False, no traceback
    (released / "dlgrade-token.json").unlink()
    run = subprocess.run([sys.executable, "-c", "from dlcheck import submit\nprint('RESULT', submit())"],
                         cwd=released, env={**environment, "HOME": str(tmp_path)}, capture_output=True, text=True,
                         timeout=120)
    assert run.stdout.splitlines() == ["submit: no token: set DLGRADE_TOKEN, or put the dlgrade-token.json your "
                                       "instructor gave you beside the notebook or in your home folder",
                                       "RESULT False"]
