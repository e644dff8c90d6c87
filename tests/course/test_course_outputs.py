"""Outputs that cannot be written, or were damaged, are never silent: a read-only feedback/ or autograded/ stops
`dlgrade autograde` in one line before anything is graded, a single student's unwritable folder fails that student
in one line while the others are graded, and a rerun repairs an autograded notebook or a feedback page replaced by
garbage. Read-only here is a real read-only mount (root ignores permission bits) or, for other users, chmod."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from course_helpers import (
    base_course,  # noqa: F401 - a fixture
    cli,
    course,  # noqa: F401 - a fixture
    records,
    results_json,
    submit_class,
)

MOUNT = 'for d in "$@"; do [ "$d" = -- ] && break; mount --bind "$d" "$d" && mount -o remount,bind,ro "$d" "$d" ' \
        '|| exit 97; done; while [ "$1" != -- ]; do shift; done; shift; exec "$@"'


def dlgrade_with_read_only(folders: list[Path], *args: str | Path) -> subprocess.CompletedProcess:
    """`dlgrade ARGS` as a process that sees ``folders`` read-only (and nothing else changed)."""
    command = [sys.executable, "-m", "dlgrade.cli", *map(str, args)]
    if os.geteuid() != 0:
        for folder in folders:
            folder.chmod(0o555)
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=600)
        finally:
            for folder in folders:
                folder.chmod(0o755)
    if shutil.which("unshare") is None:
        pytest.skip("as root, a read-only folder needs a read-only bind mount, and util-linux's unshare is missing")
    done = subprocess.run(["unshare", "-m", "sh", "-c", MOUNT, "sh", *map(str, folders), "--", *command],
                          capture_output=True, text=True, timeout=600)
    if done.returncode == 97 or "unshare failed" in done.stderr:
        pytest.skip(f"no private mount namespace here (root without CAP_SYS_ADMIN?): {done.stderr.strip()[:200]}")
    return done


def one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("grading ")]
    assert len(lines) == 1 and lines[0].startswith("dlgrade: "), done.stderr
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize("step", ["feedback", "autograded"])
def test_a_read_only_output_folder_stops_autograde_in_one_line_before_grading(course: Path, step: str) -> None:  # noqa: F811
    submit_class(course, ("solution",))
    done = dlgrade_with_read_only([course / step], "autograde", "mini", "--course", course)
    one_line(done, str(course / step), "not writable")
    assert records(course) == {} and not (course / "feedback" / "solution").exists()
    run = cli("autograde", "mini", "--course", course)  # writable again: graded, nothing was lost
    assert run.code == 0, run.err
    assert results_json(course, "solution")["score"] == 5.0


def test_dlgrade_feedback_into_a_read_only_folder_is_one_line(course: Path) -> None:  # noqa: F811
    submit_class(course, ("solution",))
    assert cli("autograde", "mini", "--course", course).code == 0
    before = (course / "feedback" / "solution" / "mini" / "results.json").read_bytes()
    one_line(dlgrade_with_read_only([course / "feedback"], "feedback", "mini", "--course", course),
             "feedback", "not writable")
    assert (course / "feedback" / "solution" / "mini" / "results.json").read_bytes() == before


def test_one_students_unwritable_folder_fails_that_student_only(course: Path) -> None:  # noqa: F811
    submit_class(course, ("solution", "blank"))
    (course / "feedback" / "blank" / "mini").mkdir(parents=True)
    done = dlgrade_with_read_only([course / "feedback" / "blank" / "mini"], "autograde", "mini", "--course", course)
    assert done.returncode == 1, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("dlgrade: ")]
    assert len(lines) == 1 and lines[0].startswith("dlgrade: blank: failed: ") and "could not be written" in lines[0]
    assert results_json(course, "solution")["score"] == 5.0
    run = cli("autograde", "mini", "--course", course)  # the rerun writes what was missing, grading nothing
    assert run.code == 0, run.err
    assert "0 graded now, 2 already graded" in run.out
    assert results_json(course, "blank")["score"] == 0.0


def test_a_rerun_repairs_outputs_replaced_by_garbage(course: Path) -> None:  # noqa: F811
    submit_class(course, ("solution",))
    assert cli("autograde", "mini", "--course", course).code == 0
    notebook = course / "autograded" / "solution" / "mini" / "mini.ipynb"
    page = course / "feedback" / "solution" / "mini" / "mini.html"
    good_notebook, good_page = notebook.read_bytes(), page.read_bytes()
    for damaged in (b"garbage", good_notebook[:len(good_notebook) // 2]):
        notebook.write_bytes(damaged)
        page.write_bytes(b"<h1>100 / 5</h1>")
        run = cli("autograde", "mini", "--course", course)
        assert run.code == 0 and "0 graded now, 1 already graded" in run.out, run.out
        assert notebook.read_bytes() == good_notebook and page.read_bytes() == good_page
    nbformat.validate(nbformat.reads(notebook.read_text(), as_version=4))
    assert json.loads(notebook.read_text())["metadata"]["dlgrade"]["key"] == records(course)["solution"]["key"]
