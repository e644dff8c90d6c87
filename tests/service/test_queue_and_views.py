"""The service's queue (durable accept, the daily allowance under concurrent requests, claims and restarts) and
what a student's view of a hidden case keeps of what the student's own code wrote."""

from __future__ import annotations

import hashlib
import threading
import time
from pathlib import Path

import pytest

from dlgrade.service import visibility
from dlgrade.service.store import Store, nbgrader_timestamp
from dlgrade.service.tokens import issue, revoke, verify


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / ".dlgrade").create()


def _accept(store: Store, student: str = "ann", per_day: int | None = None, data: bytes = b'{"cells": []}'):  # noqa: ANN202
    return store.accept(student, "losses", data, hashlib.sha256(data).hexdigest(), "127.0.0.1", per_day)


def test_an_accepted_submission_is_in_nbgraders_layout_and_the_queue(store: Store) -> None:
    row, later = _accept(store, data=b'{"nbformat": 4}')
    assert later is None and row is not None and row.status == "queued"
    folder = store.folder(row)
    assert folder == store.attempts / "ann" / "losses" / row.id
    assert (folder / "losses.ipynb").read_bytes() == b'{"nbformat": 4}'
    assert (folder / "timestamp.txt").read_text() == nbgrader_timestamp(row.submitted_at)
    assert oct(folder.stat().st_mode & 0o777) == "0o700" and oct((folder / "losses.ipynb").stat().st_mode & 0o777) \
        == "0o600"
    assert [p.name for p in folder.parent.iterdir()] == [row.id]  # no staging left behind


def test_the_daily_allowance_holds_under_concurrent_requests(store: Store) -> None:
    results: list[tuple] = []
    start = threading.Barrier(12)

    def one() -> None:
        start.wait()
        results.append(_accept(store, per_day=3))

    threads = [threading.Thread(target=one) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    accepted = [row for row, _ in results if row is not None]
    refused = [later for row, later in results if row is None]
    assert len(accepted) == 3 and len(refused) == 9
    first = min(row.submitted_at for row in accepted)
    assert all(abs(later - (first + 24 * 3600)) < 1e-6 for later in refused)
    assert sorted(p.name for p in (store.attempts / "ann" / "losses").iterdir()) == sorted(r.id for r in accepted)


def test_refused_and_failed_submissions_do_not_use_the_allowance(store: Store) -> None:
    first, _ = _accept(store, per_day=2)
    assert first is not None
    store.claim(1)
    store.finish(first.id, "refused", "not a notebook")
    second, _ = _accept(store, per_day=2)
    third, _ = _accept(store, per_day=2)
    assert second is not None and third is not None
    fourth, later = _accept(store, per_day=2)
    assert fourth is None and later == pytest.approx(second.submitted_at + 24 * 3600)
    assert store.used("ann", "losses", time.time() - 3600) == 2


def test_claims_go_oldest_first_and_a_restart_puts_grading_ones_back(store: Store) -> None:
    rows = [_accept(store, student=f"s{i}")[0] for i in range(4)]
    claimed = store.claim(2)
    assert [r.id for r in claimed] == [rows[0].id, rows[1].id]
    assert all(r.status == "grading" and r.handouts == 1 for r in claimed)
    store.finish(rows[0].id, "graded", result="{}", score=1.0, max_score=2.0)
    store.finish(rows[0].id, "failed", "a second outcome")  # ignored: it is no longer being graded
    assert store.get(rows[0].id).status == "graded"
    assert store.requeue_interrupted() == 1
    assert store.get(rows[1].id).status == "queued"
    assert [r.id for r in store.claim(10)] == [rows[1].id, rows[2].id, rows[3].id]
    assert store.get(rows[1].id).handouts == 2
    assert store.position(rows[3].seq) == 0


def test_files_of_a_submission_never_accepted_are_removed_on_start(store: Store) -> None:
    kept, _ = _accept(store)
    orphan = store.attempts / "ann" / "losses" / "never-committed"
    orphan.mkdir()
    (orphan / "losses.ipynb").write_text("{}")
    staging = store.attempts / "ann" / "losses" / ".x.tmp"
    staging.mkdir()
    assert sorted(p.name for p in store.remove_orphans()) == sorted([".x.tmp", "never-committed"])
    assert [p.name for p in (store.attempts / "ann" / "losses").iterdir()] == [kept.id]


def test_tokens_are_stored_hashed_replaced_on_reissue_and_revoked_at_once(store: Store) -> None:
    token = issue(store, "ann")
    assert verify(store, token).name == "ann" and verify(store, token).role == "student"
    assert token.encode() not in store.path.read_bytes()
    again = issue(store, "ann")
    assert verify(store, token) is None and verify(store, again).name == "ann"
    staff = issue(store, "ann", "instructor")
    assert verify(store, staff).instructor and verify(store, again).role == "student"
    assert revoke(store, "ann") and verify(store, again) is None and verify(store, staff) is not None
    for bad in ("", "dlg_", "x" * 1000, again[:-1], "dlg_" + "\x00" * 40):
        assert verify(store, bad) is None
    with pytest.raises(Exception, match="unusable name"):
        issue(store, "../../etc")


# ---- what a student sees of hidden cases -----------------------------------------------------------------


def _case(status: str, message: str, public: bool = False) -> dict:
    return {"label": "public case 1" if public else "hidden case 4", "public": public, "passed": status == "passed",
            "status": status, "message": message, "mistake": None, "inputs": "x=[1, 2]" if public else None,
            "yours": None, "expected": None}


@pytest.mark.parametrize(("status", "message", "shown"), [
    ("error", "Traceback (most recent call last):\n  File \"cell\", line 3\nValueError: SECRET[0.123, 4.5]",
     "your code raised ValueError on this hidden case; its message is not shown"),
    ("error", "MyError: SECRET", "your code raised an error (or ended the worker) on this hidden case"),
    ("not_implemented", "NotImplementedError: SECRET", "not implemented yet"),
    ("error", "not run: ZeroDivisionError: SECRET", "not run: your code raised ZeroDivisionError"),
    ("failed", "expected a number, got the string 'SECRET[0.1, \\'2\\']'; return a plain float",
     "expected a number, got a string; return a plain float"),
    ("failed", "expected an array of shape (3,), got a dict with keys ['SECRET1', \"SECRET'2\"]",
     "expected an array of shape (3,), got a dict"),
    ("failed", "the dict's keys are wrong: missing ['w']; unexpected ['SECRET0.5']",
     "the dict's keys are wrong: missing ['w']; unexpected keys"),
    ("failed", "expected a number, got a SECRET123 of shape () and dtype float64",
     "expected a number, got a value of a class of your own of shape () and dtype float64"),
    ("failed", "expected a number, got a numpy.SECRET_7", "expected a number, got a value of a class of your own"),
    ("failed", "shape: expected (3,), got (4,)", "shape: expected (3,), got (4,)"),
    ("failed", "expected a number, got a numpy.float32 of shape ()", "got a numpy.float32 of shape ()"),
    ("timeout", "did not finish within the question's 3 s budget", "did not finish within the question's 3 s"),
])
def test_a_hidden_case_never_repeats_what_the_students_code_wrote(status: str, message: str, shown: str) -> None:
    question = {"name": "mse", "entry": "mse_loss", "score": 0.0, "max_score": 2.0, "status": "failed",
                "feedback": f"0/2 cases passed.\nFirst problem, hidden case 4: {message}", "diagnosis": None,
                "cases": [_case("passed", "", public=True), _case(status, message)]}
    data = {"assignment": "mini", "questions": [question], "notes": [], "output": "", "sandbox": [],
            "execution_time": 0.1, "student_time": 0.0, "suite_version": "v"}
    for mode in ("full", "per-question", "score"):
        view = visibility.student_result(data, mode)
        everything = repr(view) + str(visibility.results_json(data, mode)) + visibility.feedback_html(data, mode)
        assert "SECRET" not in everything, mode
    full = visibility.student_result(data, "full").questions[0]
    assert shown in full.cases[1].message and shown in full.feedback
    assert visibility.student_result(data, "full").questions[0].cases[0].inputs == "x=[1, 2]"
    assert "SECRET" in str(visibility.results_json(data, "instructor")) or "SECRET" not in message


# ---- the web process's own costs: connections and long polls ------------------------------------------------


def test_a_thread_keeps_its_connection_and_a_failed_statement_leaves_it_clean(store: Store) -> None:
    with store.connect() as first:
        pass
    with store.connect() as again:
        assert again is first  # opened once per thread
    with pytest.raises(Exception, match="no such table"), store.connect() as db, store.transaction(db):
        db.execute("INSERT INTO submissions (id, assignment, student, submitted_at, digest, size) "
                   "VALUES ('x', 'losses', 'ann', 0, 'd', 1)")
        db.execute("SELECT * FROM no_such_table")
    with store.connect() as db:
        assert not db.in_transaction
        assert db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0  # the insert was rolled back
    row, _ = _accept(store)  # and the store still takes submissions
    assert row is not None and store.get(row.id) == row
    others: list = []
    thread = threading.Thread(target=lambda: others.append(store._connection()))
    thread.start()
    thread.join()
    assert others[0] is not first  # each thread its own


def test_a_long_poll_wakes_for_its_own_submission_only() -> None:
    import asyncio

    from dlgrade.service.app import Changes

    async def scenario() -> list[str]:
        changes, woken = Changes(), []

        async def poll(sid: str) -> None:
            started = asyncio.get_running_loop().time()
            await changes.wait(sid, 5.0)
            if asyncio.get_running_loop().time() - started < 4.0:
                woken.append(sid)

        polls = [asyncio.create_task(poll(sid)) for sid in ("a", "b", "c")]
        await asyncio.sleep(0.05)
        changes.feed(b"changed a\nchanged")  # a line cut by the read: the rest comes with the next one
        await asyncio.sleep(0.05)
        assert woken == ["a"]
        changes.feed(b" b\nready\n")  # not a tick: wakes no one
        await asyncio.sleep(0.05)
        assert woken == ["a", "b"]
        changes.feed(b"\xff\xfe garbage \x00\nchanged c" + b"x" * 100_000)  # garbage, and a huge cut line
        await asyncio.sleep(0.05)
        assert woken == ["a", "b"] and len(changes.partial) <= 256  # what is kept of a cut line is bounded
        changes.feed(b"\n")  # its end: an id no poll follows
        await asyncio.sleep(0.05)
        assert woken == ["a", "b"]
        changes.feed(b"changed\n")  # no id: every poll looks again
        await asyncio.gather(*polls)
        assert not changes.waiting  # nothing left behind
        return woken

    assert asyncio.run(scenario()) == ["a", "b", "c"]
