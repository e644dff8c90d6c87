"""The grading process's gradebook step where the last graded submission counts (Supervisor.record_pending): a
graded submission waits while a later one of the same student is queued or grading, and is recorded after all
when that one fails; it is kept out of the gradebook once a later one is graded (the HTTP test of that is in
test_service_http.py). Real course, real gradebook, a result graded in a real sandbox; no service process."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from service_helpers import FIXTURE_ROOT, cli, notebook_bytes, notebooks

from dlgrade.autograde import Recorder, result_to_data
from dlgrade.course import Course
from dlgrade.grading import Grader
from dlgrade.sandbox.launcher import Sandbox
from dlgrade.service.backends import Job, Outcome
from dlgrade.service.policy import load_policy
from dlgrade.service.store import Store
from dlgrade.service.supervisor import Supervisor


@pytest.fixture
def setting(tmp_path: Path) -> tuple[Course, Store, Supervisor, dict]:
    root = tmp_path / "course"
    code, _, err = cli("setup", "mini", "--course", root, "--project", FIXTURE_ROOT)
    assert code == 0, err
    course = Course.open(root)
    store = Store(course.state, synchronous="NORMAL").create()
    loaded = {"mini": course.assignment("mini")}
    supervisor = Supervisor(course, store, load_policy(course.root, ["mini"]), loaded, backend=None)
    class_ = {name: notebook_bytes(notebook) for name, notebook in notebooks().items()}
    return course, store, supervisor, class_


def _graded(course: Course, store: Store, supervisor: Supervisor, sid: str, data: bytes) -> float:
    """The submission graded in a sandbox and its outcome taken by the grading process, as a worker's would be."""
    path = course.root / "graded.ipynb"
    path.write_bytes(data)
    with Sandbox() as sandbox:
        result = Grader(supervisor.loaded["mini"], sandbox, course.secret(), numbers_secret=course.secret()
                        ).grade(path, "ann")
    row = store.get(sid)
    supervisor.finish(Outcome(Job(sid, "mini", path, row.digest, "ann"), "graded", result_to_data(result)))
    assert store.get(sid).status == "graded"
    return result.score


def _accept(store: Store, data: bytes) -> str:
    row, _ = store.accept("ann", "mini", data, hashlib.sha256(data).hexdigest(), "test", None)
    assert row is not None
    return row.id


def test_a_submission_waits_for_a_later_one_and_is_recorded_when_that_one_fails(setting: tuple) -> None:
    course, store, supervisor, class_ = setting
    first, later = _accept(store, class_["mse-forgot-mean"]), _accept(store, class_["solution"])
    assert [row.id for row in store.claim(2)] == [first, later]
    score = _graded(course, store, supervisor, first, class_["mse-forgot-mean"])
    with course.gradebook() as book:
        recorder = Recorder(course, supervisor.loaded, book)
        assert supervisor.record_pending(recorder, book) is False
        assert store.get(first).recorded == 0  # the later one is still grading: it is likely the grade
        assert not (course.root / "submitted" / "ann").exists()
        supervisor.finish(Outcome(Job(later, "mini", Path("x"), "", "ann"), "failed", "the worker died twice"))
        supervisor.record_pending(recorder, book)
        row = store.get(first)
        assert (row.recorded, row.in_force) == (1, 1)
        assert book.find_submission("mini", "ann").score == pytest.approx(score)
    assert (course.root / "submitted" / "ann" / "mini" / "mini.ipynb").read_bytes() == class_["mse-forgot-mean"]


def test_a_submission_replaced_by_a_graded_later_one_is_kept_out(setting: tuple) -> None:
    course, store, supervisor, class_ = setting
    first, later = _accept(store, class_["solution"]), _accept(store, class_["mse-forgot-mean"])
    store.claim(2)
    _graded(course, store, supervisor, first, class_["solution"])
    score = _graded(course, store, supervisor, later, class_["mse-forgot-mean"])
    with course.gradebook() as book:
        supervisor.record_pending(Recorder(course, supervisor.loaded, book), book)
        assert (store.get(first).recorded, store.get(first).in_force) == (1, 0)
        assert (store.get(later).recorded, store.get(later).in_force) == (1, 1)
        assert book.find_submission("mini", "ann").score == pytest.approx(score)
