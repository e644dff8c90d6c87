"""A restart of `dlgrade serve`, by SIGKILL, loses nothing: queued, half-graded and graded-but-unrecorded
submissions are all graded (each exactly once) and recorded after it comes back, the gradebook consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import time
from pathlib import Path

from service_helpers import FIXTURE_ROOT, Server, cli, issue_tokens, log_lines, notebook_bytes, notebooks

from dlgrade.course import Course
from dlgrade.service.supervisor import autograde_lock


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            found += [int(child), *_descendants(int(child))]
    return found


def _statuses(course: Path) -> dict[str, tuple[str, int]]:
    connection = sqlite3.connect(course / ".dlgrade" / "service" / "service.db")
    try:
        return {sid: (status, recorded) for sid, status, recorded in
                connection.execute("SELECT id, status, recorded FROM submissions")}
    finally:
        connection.close()


def test_sigkill_with_submissions_queued_grading_and_unrecorded_loses_nothing(tmp_path: Path) -> None:
    course = tmp_path / "course"
    code, _, err = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert code == 0, err
    (course / "dlgrade.yml").write_text("defaults:\n  per_day: null\n  hidden: full\n")
    class_ = notebooks()
    plan = {"s1": "solution", "s0": "hostile-infinite-loop", "s2": "mse-forgot-mean", "s3": "blank",
            "s4": "relu-derivative-returned-relu", "s5": "solution"}
    tokens = issue_tokens(course, *plan)
    server = Server(course, tmp_path / "serve.log", workers=1).start()
    sids: dict[str, str] = {}
    try:
        # dlgrade autograde holds the course: the service grades, but must wait to record
        with autograde_lock(Course.open(course), ["mini"]):
            sids["s1"] = server.submit(tokens["s1"], "mini", notebook_bytes(class_["solution"])).json()["id"]
            assert server.wait_final(tokens["s1"], sids["s1"])["status"] == "graded"
            sids["s0"] = server.submit(tokens["s0"], "mini", notebook_bytes(class_[plan["s0"]])).json()["id"]
            deadline = time.monotonic() + 120
            while server.request("GET", f"/api/v1/submissions/{sids['s0']}", token=tokens["s0"]).json()["status"] \
                    != "grading":
                assert time.monotonic() < deadline
                time.sleep(0.02)
            for student in ("s2", "s3", "s4", "s5"):
                reply = server.submit(tokens[student], "mini", notebook_bytes(class_[plan[student]]))
                assert reply.status == 202
                sids[student] = reply.json()["id"]
            grading = server.grading_pid()
            family = [grading, *_descendants(grading)]
            assert server.process is not None
            os.kill(server.process.pid, signal.SIGKILL)  # the web process only: its grading process must follow
            server.process.wait(10)
            deadline = time.monotonic() + 30
            while any(_alive(pid) for pid in family):
                assert time.monotonic() < deadline, [pid for pid in family if _alive(pid)]
                time.sleep(0.05)
        before = _statuses(course)
        assert before[sids["s1"]] == ("graded", 0)  # graded, its gradebook step never ran
        assert before[sids["s0"]] == ("grading", 0)  # half-graded
        assert all(before[sids[s]] == ("queued", 0) for s in ("s2", "s3", "s4", "s5"))
        assert not (course / "submitted").exists() or not any((course / "submitted").iterdir())

        server = Server(course, tmp_path / "serve.log", workers=1).start()
        final = {student: server.wait_final(tokens[student], sid) for student, sid in sids.items()}
        deadline = time.monotonic() + 120
        while not all(recorded for _, recorded in _statuses(course).values()):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        server.stop()

    assert {student: status["status"] for student, status in final.items()} == dict.fromkeys(plan, "graded")
    assert final["s0"]["score"] == 3.0 and final["s1"]["score"] == final["s5"]["score"] == 5.0
    for student, sid in sids.items():  # graded exactly once: s1 before the kill, the others after it
        assert len(log_lines(course, rf"grader INFO graded {sid} \(")) == 1, student
    assert len(log_lines(course, r"1 submission\(s\) were being graded when the service stopped")) == 1

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
        scores = {s.student.id: s.score for s in book.assignment_submissions("mini")}
    assert scores == {student: status["score"] for student, status in final.items()}
    connection = sqlite3.connect(course / "gradebook.db")
    try:
        rows = connection.execute("SELECT student_id, COUNT(*) FROM submitted_assignment GROUP BY student_id")
        assert dict(rows.fetchall()) == dict.fromkeys(plan, 1)
    finally:
        connection.close()
    for student in plan:
        assert (course / "submitted" / student / "mini" / "mini.ipynb").read_bytes() == \
            notebook_bytes(class_[plan[student]])
    code, out, err = cli("autograde", "mini", "--course", course)
    assert "6 submissions: 0 graded now, 6 already graded" in out, out + err
