"""Crash safety of `dlgrade autograde`: SIGKILL of the whole run or of one grading worker, then a rerun, leaves
every submission graded exactly once, its gradebook entry equal to its record, and nothing graded twice."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

from course_helpers import (
    base_course,  # noqa: F401 - a fixture
    children,
    cli,
    cli_process,
    course,  # noqa: F401 - a fixture
    gradebook_scores,
    records,
    results_json,
    submission_counts,
    submit_class,
)

SUMMARY = re.compile(r"(\d+) graded now, (\d+) already graded")


def wait_for_records(folder: Path, at_least: int, process, timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while len(records(folder)) < at_least:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no submission was recorded in time"
        time.sleep(0.02)


def session_members(sid: int) -> list[int]:
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after ')': state, ppid, pgrp, session
            members.append(int(stat.parent.name))
    return members


def assert_each_graded_once(course: Path, students: list[str]) -> None:  # noqa: F811
    scores, recorded = gradebook_scores(course), records(course)
    assert sorted(scores) == sorted(students) == sorted(recorded)
    assert set(submission_counts(course).values()) == {1}
    for student in students:
        from_record = {q["name"]: q["score"] for q in recorded[student]["result"]["questions"]}
        assert scores[student] == from_record
        assert {t["name"]: t["score"] for t in results_json(course, student)["tests"]} == from_record


def test_sigkill_of_the_whole_run_then_a_rerun_grades_each_submission_once(course: Path) -> None:  # noqa: F811
    students = submit_class(course)
    process = cli_process("autograde", "mini", "--course", course, "--workers", "2")
    wait_for_records(course, 1, process)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = set(records(course))
    assert 0 < len(done) < len(students), "the run was not killed mid-batch"
    deadline = time.monotonic() + 10
    while session_members(process.pid) and time.monotonic() < deadline:  # workers die with their parent
        time.sleep(0.1)
    assert not session_members(process.pid)
    run = cli("autograde", "mini", "--course", course, "--workers", "2")
    assert run.code == 0, run.err
    graded_now, already = map(int, SUMMARY.search(run.out).groups())
    assert (graded_now, already) == (len(students) - len(done), len(done))  # nothing graded twice
    assert_each_graded_once(course, students)


def test_sigkill_of_a_worker_mid_batch_the_run_completes(course: Path) -> None:  # noqa: F811
    students = submit_class(course)
    process = cli_process("autograde", "mini", "--course", course, "--workers", "2")
    wait_for_records(course, 1, process)
    workers = children(process.pid, bwrap=False)
    assert workers
    os.kill(workers[0], signal.SIGKILL)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    graded_now, already = map(int, SUMMARY.search(out).groups())
    assert (graded_now, already) == (len(students), 0)
    assert_each_graded_once(course, students)


def test_sigkill_of_an_early_sandbox_mid_batch_the_run_completes(course: Path) -> None:  # noqa: F811
    # The run launches its sandboxes before its imports and hands them to its workers: one dying under a worker
    # costs at most the question being answered, and the worker starts a sandbox of its own.
    students = submit_class(course)
    process = cli_process("autograde", "mini", "--course", course, "--workers", "2")
    wait_for_records(course, 1, process)
    sandboxes = children(process.pid, bwrap=True)
    assert len(sandboxes) == 2, "the run did not launch its two sandboxes early"
    os.kill(sandboxes[0], signal.SIGKILL)
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    graded_now, already = map(int, SUMMARY.search(out).groups())
    assert (graded_now, already) == (len(students), 0)
    assert_each_graded_once(course, students)
    assert records(course)["solution"]["result"]["questions"]  # still graded in full by someone
