"""`dlgrade serve --scheduler`: submissions graded on a real Dask cluster (a `dask scheduler` and a `dlgrade worker`
node, processes of their own on 127.0.0.1) and recorded by the service's grading process as the local pool's are;
an unreachable scheduler stops the service at start-up in one line."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from service_helpers import FIXTURE_ROOT, Server, cli, free_port, issue_tokens, log_lines, notebooks

DASK = Path(sys.executable).parent / "dask"


def _stop(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


def test_submissions_are_graded_on_the_cluster_and_recorded(tmp_path: Path) -> None:
    course = tmp_path / "course"
    code, _, err = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert code == 0, err
    (course / "dlgrade.yml").write_text("defaults:\n  hidden: full\n")
    tokens = issue_tokens(course, "una", "vic")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], stdout=subprocess.DEVNULL,
                                 stderr=(tmp_path / "scheduler.log").open("w"), start_new_session=True)
    node = subprocess.Popen([sys.executable, "-m", "dlgrade.cli", "worker", "--scheduler", address, "--slots", "1",
                             "--name", "node-a", "--project", str(FIXTURE_ROOT), "--", "--host", "127.0.0.1",
                             "--no-dashboard"], stdout=subprocess.DEVNULL,
                            stderr=(tmp_path / "node.log").open("w"), start_new_session=True)
    server = Server(course, tmp_path / "serve.log", extra=["--scheduler", address])
    try:
        server.start()
        good = server.graded(tokens["una"], "mini", notebooks()["solution"])
        wrong = server.graded(tokens["vic"], "mini", notebooks()["mse-forgot-mean"])
        assert good["status"] == wrong["status"] == "graded"
        assert good["score"] == 5.0 and 0 < wrong["score"] < 5.0
        mse = next(t for t in wrong["results"]["tests"] if t["name"] == "mse")
        assert mse["diagnosis"]["mistake"] == "forgot_mean"
        assert log_lines(course, rf"grading {good['id']} \(una, mini\) on the cluster {address} backend")
        for student, status in (("una", good), ("vic", wrong)):
            for _ in range(600):
                if server.request("GET", f"/api/v1/submissions/{status['id']}",
                                  token=tokens[student]).json()["recorded"]:
                    break
                time.sleep(0.1)
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{course / 'gradebook.db'}", "course") as book:
            assert {s.student.id: s.score for s in book.assignment_submissions("mini")} == \
                {"una": 5.0, "vic": wrong["score"]}
    finally:
        server.stop()
        _stop(node)
        _stop(scheduler)


def test_an_unreachable_scheduler_stops_the_service_in_one_line(tmp_path: Path) -> None:
    course = tmp_path / "course"
    code, _, err = cli("setup", "mini", "--course", course, "--project", FIXTURE_ROOT)
    assert code == 0, err
    nobody = free_port()
    code, out, err = cli("serve", "--course", course, "--port", free_port(), "--scheduler",
                         f"tcp://127.0.0.1:{nobody}")
    assert code == 2, err
    error = [line for line in err.splitlines() if line.startswith("dlgrade: ")]  # the others: the service's log
    assert len(error) == 1 and error[0].startswith(f"dlgrade: cannot reach the Dask scheduler at "
                                                  f"tcp://127.0.0.1:{nobody} (")
