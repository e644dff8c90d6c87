"""Faults are the platform's, never the student's: a sandbox killed under a submission (its fork server SIGKILLed
from outside while a job runs) is graded again on a fresh sandbox, and reported as not graded (never scored, never
recorded) if that fails too; a student whose own code kills itself or exhausts its memory limit stays graded."""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import time
from pathlib import Path

import nbformat
from course_helpers import (
    base_course,  # noqa: F401 - a fixture
    cli,
    cli_process,
    course,  # noqa: F401 - a fixture
    gradebook_scores,
    mini,
    records,
    results_json,
    submit,
)

FULL = {"mse": 2.0, "relu_derivative": 2.0, "worked_loss": 1.0}
RETRIED = "graded again on a fresh sandbox"


def with_cell(prefix: str = "", body: str | None = None, cell_id: str = "mse_solution") -> nbformat.NotebookNode:
    """The instructor's solution with code put before a solution cell's, or that cell's code replaced by ``body``."""
    notebook = copy.deepcopy(nbformat.read(mini().source, as_version=4))
    cell = next(c for c in notebook.cells if c.metadata.get("nbgrader", {}).get("grade_id") == cell_id)
    cell.source = prefix + (body if body is not None else cell.source)
    return notebook


# Its relu_grad takes 2 s a call (within the question's 20 s): time for the test to kill the sandbox mid-job.
SLOW = with_cell("import time\n", "def relu_grad(x):\n    time.sleep(2)\n    return (x > 0).astype(float)\n",
                 "relu_solution")


def _children(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(p) for p in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def fork_servers(root: int) -> dict[int, list[int]]:
    """Every fork server below ``root`` (the process bubblewrap runs) -> its children, the jobs it runs."""
    found, todo = {}, [root]
    while todo:
        pid = todo.pop()
        kids = _children(pid)
        if _comm(pid) == "bwrap":
            for server in kids:
                if _comm(server) != "bwrap":
                    found[server] = _children(server)
        todo += kids
    return found


def kill_fork_servers_mid_job(process: subprocess.Popen, times: int, running_for: float = 0.7) -> list[int]:
    """SIGKILL ``times`` fork servers, each once one of its jobs has been running ``running_for`` seconds."""
    killed: list[int] = []
    seen: dict[int, float] = {}
    deadline = time.monotonic() + 240
    while len(killed) < times and process.poll() is None and time.monotonic() < deadline:
        for server, jobs in fork_servers(process.pid).items():
            if server in killed or not jobs:
                continue
            seen.setdefault(server, time.monotonic())
            if time.monotonic() - seen[server] >= running_for:
                os.kill(server, signal.SIGKILL)
                killed.append(server)
        time.sleep(0.02)
    return killed


def test_a_sandbox_killed_mid_job_is_retried_on_a_fresh_one_and_graded_in_full(course: Path) -> None:  # noqa: F811
    submit(course, "slow", SLOW, "2030-01-01 10:00:00.000000 UTC")
    process = cli_process("autograde", "mini", "--course", course, "--workers", "1")
    killed = kill_fork_servers_mid_job(process, times=1)
    out, err = process.communicate(timeout=300)
    assert len(killed) == 1, "the test never caught the sandbox running the job"
    assert process.returncode == 0, err
    assert gradebook_scores(course)["slow"] == FULL  # not a question lost to our own fault
    record = records(course)["slow"]["result"]
    assert {q["name"]: q["score"] for q in record["questions"]} == FULL
    assert any(RETRIED in note for note in record["notes"])
    assert results_json(course, "slow")["score"] == 5.0


def test_a_sandbox_killed_twice_is_not_graded_and_a_rerun_grades_it(course: Path) -> None:  # noqa: F811
    submit(course, "slow", SLOW, "2030-01-01 10:00:00.000000 UTC")
    process = cli_process("autograde", "mini", "--course", course, "--workers", "1")
    killed = kill_fork_servers_mid_job(process, times=2)
    out, err = process.communicate(timeout=300)
    assert len(killed) == 2, "the test never caught the sandboxes running the job"
    assert process.returncode == 1, (out, err)
    lines = [line for line in err.splitlines() if line.startswith("dlgrade: slow:")]
    assert len(lines) == 1 and "not graded" in lines[0], err
    assert "slow" not in gradebook_scores(course)  # never scored
    assert records(course) == {}  # never recorded, so never reused
    assert not (course / "feedback" / "slow").exists()
    run = cli("autograde", "mini", "--course", course, "--workers", "1")  # nobody kills it now
    assert run.code == 0, run.err
    assert "1 graded now, 0 already graded" in run.out
    assert gradebook_scores(course)["slow"] == FULL


def test_a_student_who_kills_itself_or_exhausts_its_memory_stays_graded(course: Path) -> None:  # noqa: F811
    suicide = "import os, signal\ndef mse_loss(input, target, reduction='mean'):\n" \
              "    os.kill(os.getpid(), signal.SIGKILL)\n"
    hog = "import numpy as np\ndef mse_loss(input, target, reduction='mean'):\n" \
          "    return float(np.ones(10 * 2**30, dtype=np.uint8).sum())\n"
    top_level_exit = "import os\nos._exit(3)\n"
    submit(course, "suicide", with_cell(body=suicide), "2030-01-01 10:00:00.000000 UTC")
    submit(course, "hog", with_cell(body=hog), "2030-01-01 10:00:00.000000 UTC")
    submit(course, "exits", with_cell(prefix=top_level_exit), "2030-01-01 10:00:00.000000 UTC")
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 0, run.err
    scores, recorded = gradebook_scores(course), records(course)
    for student in ("suicide", "hog", "exits"):
        assert scores[student] == {**FULL, "mse": 0.0}, student  # the question its own code broke, no more
        result = recorded[student]["result"]
        assert result["questions"][0]["status"] == ("not_implemented" if student == "exits" else "error"), student
        assert not any(RETRIED in note for note in result["notes"]), student
    assert "ended the worker process" in recorded["suicide"]["result"]["questions"][0]["feedback"]
    assert "MemoryError" in recorded["hog"]["result"]["questions"][0]["feedback"]
    assert any("ended the worker process when run, and was skipped" in note
               for note in recorded["exits"]["result"]["notes"])
