"""`dlgrade autograde --scheduler` when the cluster is not what it should be, on real processes on 127.0.0.1: a port
where something other than a Dask scheduler listens (silent, or greeting with a banner) is one line and exit 2
within the connect timeout, for autograde, worker and the backend the grading service uses; a scheduler killed
mid-batch leaves the table of what was done, every submission not graded named, and one true line; the
scheduler's allowed-failures is given back when the last run that lowered it ends."""

# The course tests' fixtures (base_course, course) are imported from course_helpers, and named again as parameters.
# ruff: noqa: F811

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_helpers import Cluster
from course_helpers import (
    CLASS,
    FIXTURE_ROOT,
    base_course,  # noqa: F401 - a fixture
    cli,
    cli_process,
    course,  # noqa: F401 - a fixture
    records,
    submit_class,
)

from dlgrade.errors import UsageError

STUDENTS = (*CLASS, "hostile-infinite-loop")


@contextlib.contextmanager
def listener(greeting: bytes | None) -> Iterator[str]:
    """A TCP listener on 127.0.0.1 that accepts every connection and then says ``greeting`` (None: nothing) and
    stays silent, holding it open; its tcp:// address."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(connection)
            if greeting is not None:
                with contextlib.suppress(OSError):
                    connection.sendall(greeting)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(5)
        for connection in held:
            connection.close()
        server.close()


def one_line(err: str) -> str:
    assert err.count("\n") == 1 and err.startswith("dlgrade: "), err
    return err.strip()


@pytest.mark.parametrize("greeting", [None, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
                                      b"HTTP/1.0 400 Bad request\r\n\r\n"], ids=["silent", "ssh", "http"])
def test_a_port_that_is_no_dask_scheduler_is_one_line_and_exit_2_in_time(course: Path, greeting: bytes | None) -> None:
    submit_class(course, ["solution"])
    with listener(greeting) as address:
        for command, budget in ((("autograde", "mini", "--course", course, "--scheduler", address), 10.0),
                                (("worker", "--scheduler", address, "--connect-timeout", "4"), 4.0)):
            started = time.monotonic()
            process = cli_process(*command)
            try:
                out, err = process.communicate(timeout=120)
            finally:
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            took = time.monotonic() - started
            assert process.returncode == 2, (command[0], err)
            line = one_line(err)
            assert line.startswith(f"dlgrade: {address} does not answer as a Dask scheduler ("), line
            assert "Traceback" not in err and "MemoryError" not in err
            assert took < budget + 20, (command[0], took)  # the budget, plus starting Python and dlgrade
    assert not records(course)


@pytest.mark.parametrize("greeting", [None, b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"], ids=["silent", "ssh"])
def test_the_backend_gives_up_on_a_port_that_is_no_dask_scheduler_within_its_timeout(greeting: bytes | None) -> None:
    """The grading service's ClusterBackend: the same line, in time, and no client left for a finalizer."""
    from distributed import Client

    from dlgrade.cluster import ClusterBackend

    with listener(greeting) as address:
        before = set(Client._instances)
        started = time.monotonic()
        with pytest.raises(UsageError, match="does not answer as a Dask scheduler"):
            ClusterBackend(address, secret=b"x" * 32, assignments_root=FIXTURE_ROOT, timeout=3)
        assert time.monotonic() - started < 3 + 2
        assert all(client.status == "closed" for client in set(Client._instances) - before)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = Cluster(tmp_path_factory.mktemp("dask")).start()
    try:
        running.add_node("node-a")
        running.wait_for(["node-a"])
        yield running
    finally:
        running.close()


def allowed_failures(cluster: Cluster) -> int:
    with cluster.client() as client:
        return client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)


def test_the_schedulers_allowed_failures_is_given_back_when_the_last_run_ends(cluster: Cluster,
                                                                              course: Path) -> None:
    from dlgrade.cluster import ClusterBackend

    assert allowed_failures(cluster) == 3  # Dask's default
    submit_class(course, ["solution", "blank"])
    run = cli("autograde", "mini", "--course", course, "--scheduler", cluster.address)
    assert run.code == 0, run.err
    assert "the scheduler's allowed-failures lowered from 3 to 1" in run.err
    assert allowed_failures(cluster) == 3
    # two runs at once: the first to end leaves it lowered for the other, the last gives it back
    first = ClusterBackend(cluster.address, secret=b"x" * 32, assignments_root=FIXTURE_ROOT)
    second = ClusterBackend(cluster.address, secret=b"x" * 32, assignments_root=FIXTURE_ROOT)
    assert (first.previous_allowed_failures, second.previous_allowed_failures) == (3, 1)
    first.close()
    assert allowed_failures(cluster) == 1
    second.close()
    assert allowed_failures(cluster) == 3
    # a run that dies without letting go (its client gone) does not keep it lowered for ever
    dead = ClusterBackend(cluster.address, secret=b"x" * 32, assignments_root=FIXTURE_ROOT)
    dead.client.close()
    assert allowed_failures(cluster) == 1
    with ClusterBackend(cluster.address, secret=b"x" * 32, assignments_root=FIXTURE_ROOT) as later:
        assert later.previous_allowed_failures == 3
    assert allowed_failures(cluster) == 3


def test_a_scheduler_killed_mid_batch_leaves_the_table_and_one_true_line(course: Path, tmp_path: Path) -> None:
    cluster = Cluster(tmp_path / "dask").start()
    try:
        cluster.add_node("node-a")
        cluster.wait_for(["node-a"])
        submit_class(course, STUDENTS)
        process = cli_process("autograde", "mini", "--course", course, "--scheduler", cluster.address)
        deadline = time.monotonic() + 300
        while not records(course):  # mid-batch: at least one recorded
            assert time.monotonic() < deadline and process.poll() is None, process.communicate()
            time.sleep(0.05)
        assert cluster.scheduler is not None
        os.killpg(cluster.scheduler.pid, signal.SIGKILL)
        out, err = process.communicate(timeout=300)
    finally:
        cluster.close()
    assert process.returncode == 2, err
    done = records(course)
    assert 0 < len(done) < len(STUDENTS), "the scheduler was not killed mid-batch"
    said = [line for line in err.splitlines() if not line.startswith("grading mini")]  # progress lines aside
    assert len(said) == 1, err  # no distributed log line, no traceback
    assert said[0] == (f"dlgrade: lost the Dask scheduler at {cluster.address}: {len(STUDENTS) - len(done)} of "
                       f"{len(STUDENTS)} submissions not graded ({len(done)} graded and recorded); rerun"), err
    # the table: every student, the graded ones as graded, each other one named with why
    table = out[out.index("\nmini\n"):].strip().splitlines()
    rows = {line.split()[0]: line for line in table[2:-1]}
    assert sorted(rows) == sorted(STUDENTS), out
    assert {s for s, line in rows.items() if re.search(r"\s+graded\s", line)} == set(done), out
    for student in set(STUDENTS) - set(done):
        assert re.search(r"\s+failed\s+\S", rows[student]), rows[student]
    assert f"{len(STUDENTS)} submissions: {len(done)} graded now" in table[-1], table[-1]
