"""Sandboxes launched before the batch's imports (batch.prelaunch): adopted by the workers, reaped at the end, and
stopped when there is nothing to grade or the run fails before grading; and the sandbox mode as part of what makes
a recorded result reusable."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from course_helpers import (
    alive,
    base_course,  # noqa: F401 - a fixture
    children,
    cli,
    course,  # noqa: F401 - a fixture
    gradebook_scores,
    records,
    submit_class,
)

from dlgrade import batch
from dlgrade.autograde import autograde
from dlgrade.course import Course
from dlgrade.errors import UsageError


def _alive_children() -> set[int]:
    return {pid for pid in children(os.getpid()) if alive(pid)}


def test_early_sandboxes_grade_the_class_and_are_reaped(course: Path) -> None:  # noqa: F811
    students = submit_class(course, ("solution", "blank", "mse-forgot-mean"))
    before = _alive_children()
    with batch.prelaunch(2, sandboxed=True) as early:
        assert len(early) == 2 and all(sandbox.process is not None for sandbox in early)
        rows = autograde(Course.open(course), ["mini"], workers=2, early=early, progress=False, out=io.StringIO())
    assert sorted(row.student for row in rows) == sorted(students)
    scores = {student: sum(v or 0 for v in by_question.values())
              for student, by_question in gradebook_scores(course).items()}
    assert scores["blank"] == 0 and scores["solution"] > scores["mse-forgot-mean"] > 0
    assert all(sandbox.process is None for sandbox in early)
    assert _alive_children() <= before  # no fork server, worker or bwrap left behind


def test_early_sandboxes_are_stopped_when_nothing_is_graded(course: Path) -> None:  # noqa: F811
    before = _alive_children()
    with batch.prelaunch(2, sandboxed=True) as early:
        rows = autograde(Course.open(course), ["mini"], workers=2, early=early, progress=False, out=io.StringIO())
        assert len(early) == 2 and _alive_children() > before  # launched, and still running here
    assert rows == []
    assert all(sandbox.process is None for sandbox in early)
    assert _alive_children() <= before


def test_early_sandboxes_are_stopped_when_the_run_fails(course: Path) -> None:  # noqa: F811
    before = _alive_children()
    with pytest.raises(UsageError), batch.prelaunch(1, sandboxed=True) as early:
        autograde(Course.open(course), ["no-such-assignment"], workers=1, early=early, progress=False)
    assert len(early) == 1
    assert all(sandbox.process is None for sandbox in early)
    assert _alive_children() <= before


def test_a_sandboxed_run_regrades_what_was_graded_without_the_sandbox(course: Path) -> None:  # noqa: F811
    students = submit_class(course, ("solution", "mse-forgot-mean"))
    run = cli("autograde", "mini", "--course", course, "--no-sandbox")
    assert run.code == 0 and "2 graded now, 0 already graded" in run.out, run.out
    assert {r["result"]["sandbox"][0] for r in records(course).values()} == {"none (--no-sandbox)"}
    run = cli("autograde", "mini", "--course", course)  # isolation now: the unisolated results are not reused
    assert run.code == 0 and f"{len(students)} graded now, 0 already graded" in run.out, run.out
    assert {r["result"]["sandbox"][0] for r in records(course).values()} == {"bubblewrap"}
    run = cli("autograde", "mini", "--course", course, "--no-sandbox")  # a sandboxed result is good either way
    assert run.code == 0 and f"0 graded now, {len(students)} already graded" in run.out, run.out
