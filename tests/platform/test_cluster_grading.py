"""`dlgrade autograde --scheduler` on a real Dask cluster (a `dask scheduler` and two `dlgrade worker` nodes, each
a process of its own on 127.0.0.1): the same records, gradebook and feedback as the local pool's, every submission
recorded exactly once when a worker or the main process is SIGKILLed mid-batch, and one clear line when the
cluster cannot grade (unreachable scheduler, a node with another suite version)."""

# The course tests' fixtures (base_course, course) are imported from course_helpers, and named again as parameters.
# ruff: noqa: F811

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cluster_helpers import Cluster, comparable, free_port, stop, wait_listening
from course_helpers import (
    CLASS,
    FIXTURE_ROOT,
    base_course,  # noqa: F401 - a fixture
    cli,
    cli_process,
    course,  # noqa: F401 - a fixture
    gradebook_scores,
    records,
    results_json,
    submission_counts,
    submit_class,
)

# The engine tests' class, plus a student whose mse loops for ever: ~3 s on a worker (the question's time-out),
# long enough to be caught in flight.
STUDENTS = (*CLASS, "hostile-infinite-loop")
SUMMARY = re.compile(r"(\d+) graded now, (\d+) already graded")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    running = Cluster(tmp_path_factory.mktemp("dask")).start()
    try:
        running.add_node("node-a")
        running.add_node("node-b")
        running.wait_for(["node-a", "node-b"])
        yield running
    finally:
        running.close()


@pytest.fixture(scope="module")
def local_pool(base_course: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The class graded by the local pool on a copy of the same course (same secret): records, gradebook, feedback."""
    copy = tmp_path_factory.mktemp("local") / "course"
    shutil.copytree(base_course, copy)
    submit_class(copy, STUDENTS)
    run = cli("autograde", "mini", "--course", copy, "--workers", "2")
    assert run.code == 0, run.err
    return {"records": {s: comparable(r) for s, r in records(copy).items()}, "scores": gradebook_scores(copy),
            "feedback": {s: feedback_of(copy, s) for s in records(copy)}}


def feedback_of(folder: Path, student: str) -> dict:
    data = results_json(folder, student)
    data.pop("execution_time")  # timings differ between any two gradings
    data["dlgrade"].pop("student_time")
    data["dlgrade"].pop("page")  # the page's digest: the page shows the timings too
    return data


def assert_as_the_local_pool(folder: Path, local_pool: dict) -> None:
    recorded = records(folder)
    assert sorted(recorded) == sorted(local_pool["records"])
    assert set(submission_counts(folder).values()) == {1}  # one submission row per student: recorded once
    assert {s: comparable(r) for s, r in recorded.items()} == local_pool["records"]
    assert gradebook_scores(folder) == local_pool["scores"]
    assert {s: feedback_of(folder, s) for s in recorded} == local_pool["feedback"]


def test_a_class_graded_on_the_cluster_is_identical_to_the_local_pools(cluster: Cluster, course: Path,
                                                                        local_pool: dict) -> None:
    submit_class(course, STUDENTS)
    run = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address)
    assert run.code == 0, run.err
    assert SUMMARY.search(run.out).groups() == (str(len(STUDENTS)), "0")
    assert_as_the_local_pool(course, local_pool)
    # progress names the cluster and its workers, and who graded how many
    assert f"on the Dask cluster at {cluster.address}, 2 workers (node-a, node-b)" in run.err
    counts = re.findall(r"by (node-\w) (\d+)(?:, (node-\w) (\d+))?\n", run.err)[-1]
    assert sum(int(n) for n in counts[1::2] if n) == len(STUDENTS)
    # a rerun grades nothing again
    again = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address)
    assert again.code == 0, again.err
    assert SUMMARY.search(again.out).groups() == ("0", str(len(STUDENTS)))


def key_prefix(folder: Path, student: str) -> str:
    """The start of the Dask key of a student's grading task (ClusterBackend.send: the bytes' sha256)."""
    data = (folder / "submitted" / student / "mini" / "mini.ipynb").read_bytes()
    return f"dlgrade-grade-mini-{hashlib.sha256(data).hexdigest()[:8]}-"


def wait_until_processing(cluster: Cluster, prefix: str, process, timeout: float = 180.0) -> str:
    """The address of the worker running the task whose key starts with ``prefix``, as soon as one is."""
    deadline = time.monotonic() + timeout
    with cluster.client() as client:
        while True:
            for address, keys in client.processing().items():
                if any(str(key).startswith(prefix) for key in keys):
                    return address
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "the task was never seen running"
            time.sleep(0.05)


def test_sigkill_of_a_worker_mid_task_its_task_is_graded_once_by_another(cluster: Cluster, course: Path,
                                                                         local_pool: dict) -> None:
    submit_class(course, STUDENTS)
    process = cli_process("autograde", "mini", "--course", course, "--scheduler", cluster.address)
    victim = wait_until_processing(cluster, key_prefix(course, "hostile-infinite-loop"), process)
    os.kill(cluster.worker_pid(victim), signal.SIGKILL)  # the worker process itself, mid-task (its nanny stays)
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err
    assert SUMMARY.search(out).groups() == (str(len(STUDENTS)), "0")
    assert_as_the_local_pool(course, local_pool)  # the retried submission too: graded in full, identically
    cluster.wait_for(["node-a", "node-b"])  # the nanny restarted the killed worker process


def test_sigkill_of_the_main_process_mid_batch_then_a_rerun_grades_each_once(cluster: Cluster,
                                                                             course: Path,
                                                                             local_pool: dict,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    submit_class(course, STUDENTS)
    monkeypatch.setenv("DLGRADE_SCHEDULER", cluster.address)  # the variable, this time
    process = cli_process("autograde", "mini", "--course", course)
    wait_until_processing(cluster, key_prefix(course, "hostile-infinite-loop"), process)
    deadline = time.monotonic() + 120
    while not records(course):  # at least one recorded, and the infinite loop still in flight
        assert time.monotonic() < deadline and process.poll() is None
        time.sleep(0.02)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done = set(records(course))
    assert 0 < len(done) < len(STUDENTS), "the run was not killed mid-batch"
    run = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address)
    assert run.code == 0, run.err
    assert SUMMARY.search(run.out).groups() == (str(len(STUDENTS) - len(done)), str(len(done)))
    assert_as_the_local_pool(course, local_pool)


def test_a_submission_graded_through_the_backend_gives_the_local_result_data(cluster: Cluster, course: Path,
                                                                             local_pool: dict) -> None:
    from dlgrade.cluster import ClusterBackend
    from dlgrade.course import Course
    from dlgrade.errors import UsageError

    submit_class(course, ["solution", "mse-forgot-mean"])
    with ClusterBackend(cluster.address, secret=Course.open(course).secret(), assignments_root=FIXTURE_ROOT) as backend:
        futures = {student: backend.submit("mini", student, (course / "submitted" / student / "mini" /
                                                             "mini.ipynb").read_bytes())
                   for student in ("solution", "mse-forgot-mean")}
        broken = backend.submit("mini", "someone", b"{ not json")
        for student, future in futures.items():
            data = future.result(timeout=300)
            assert data["submission"] == "mini.ipynb"
            record = {"result": {**data, "submission": f"submitted/{student}/mini/mini.ipynb"}}
            assert comparable(record) == local_pool["records"][student]
        with pytest.raises(UsageError, match="someone: mini.ipynb: not"):
            broken.result(timeout=5)


def test_an_unreachable_scheduler_is_one_line_and_exit_2(course: Path) -> None:
    submit_class(course, ["solution"])
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    for command in (("autograde", "mini", "--course", course, "--scheduler", address),
                    ("worker", "--scheduler", address, "--connect-timeout", "2")):
        process = cli_process(*command)
        out, err = process.communicate(timeout=300)
        assert process.returncode == 2, err
        assert err.count("\n") == 1 and err.startswith(f"dlgrade: cannot reach the Dask scheduler at {address}")
    assert not records(course)


def test_a_node_with_another_suite_version_refuses(tmp_path: Path, course: Path) -> None:
    from dlgrade.cluster.backend import ClusterBackend
    from dlgrade.cluster.task import grade
    from dlgrade.course import Course

    stale = tmp_path / "stale-project"
    shutil.copytree(FIXTURE_ROOT, stale)
    suite = stale / "autograders" / "mini.py"
    suite.write_text(suite.read_text() + "\n# edited on this node only\n")
    cluster = Cluster(tmp_path / "dask").start()
    try:
        cluster.add_node("stale", project=stale)
        address = cluster.wait_for(["stale"])["stale"]
        submit_class(course, ["solution"])
        run = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address)
        assert run.code == 2, run.err
        assert run.err.count("\n") == 1
        assert re.match(r"dlgrade: no worker of the Dask cluster at \S+ can grade mini as this process does: stale "
                        r"has mini's suite version [0-9a-f]{16}; this process has [0-9a-f]{16}\n$", run.err), run.err
        assert not records(course)
        # sent to it anyway (no resources asked for), the task itself refuses
        with ClusterBackend(cluster.address, secret=Course.open(course).secret(),
                            assignments_root=FIXTURE_ROOT) as backend:
            request = backend.request("mini", (course / "submitted/solution/mini/mini.ipynb").read_bytes())
            answer = backend.client.submit(grade, request, workers=[address], pure=False).result(timeout=120)
        assert answer["kind"] == "unfit"
        assert "mini differs here (suite version" in answer["detail"]
    finally:
        cluster.close()


# A scheduler whose environment cannot import dlgrade (it must: it unpickles the grading tasks by name).
NO_DLGRADE_SCHEDULER = """\
import sys
sys.modules["dlgrade"] = None
from distributed.cli.dask_scheduler import main
main(["--host", "127.0.0.1", "--port", "{port}", "--no-dashboard"])
"""


def test_a_scheduler_without_dlgrade_is_one_line_and_exit_2(tmp_path: Path, course: Path) -> None:
    port = free_port()
    script = tmp_path / "scheduler.py"
    script.write_text(NO_DLGRADE_SCHEDULER.format(port=port))
    log = tmp_path / "scheduler.log"
    scheduler = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.DEVNULL, stderr=log.open("w"),
                                 start_new_session=True)
    try:
        wait_listening(port, scheduler, log)
        submit_class(course, ["solution"])
        run = cli("autograde", "mini", "--course", course, "--scheduler", f"tcp://127.0.0.1:{port}")
        assert run.code == 2
        assert run.err == (f"dlgrade: the Dask scheduler at tcp://127.0.0.1:{port} cannot import dlgrade (it "
                           "unpickles the grading tasks): install the same dlgrade in the scheduler's environment\n")
        assert not records(course)
    finally:
        stop(scheduler)


def test_a_node_without_bubblewrap_grades_only_what_may_run_unsandboxed(tmp_path: Path, course: Path) -> None:
    cluster = Cluster(tmp_path / "dask").start()
    try:
        # bwrap is looked up on PATH: this node's PATH has none
        cluster.add_node("bare", env=os.environ | {"PATH": str(tmp_path / "no-tools")})
        cluster.wait_for(["bare"])
        submit_class(course, ["solution", "blank"])
        run = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address)
        assert run.code == 2
        assert run.err.endswith("can grade mini as this process does: bare has no bubblewrap (install it there, "
                                "or grade with --no-sandbox)\n") and run.err.count("\n") == 1, run.err
        assert not records(course)
        run = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address, "--no-sandbox")
        assert run.code == 0, run.err
        graded = records(course)
        assert sorted(graded) == ["blank", "solution"]
        assert graded["solution"]["result"]["sandbox"] == ["none (--no-sandbox)"]
        assert sum(q["score"] for q in graded["solution"]["result"]["questions"]) == 5.0
    finally:
        cluster.close()
