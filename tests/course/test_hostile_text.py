"""No string of a student's stops a class, and no error recording one submission stops the others.

- a lone surrogate or an escape sequence in a student's error, output or type name: `dlgrade autograde` grades the
  class, writes every file as plain UTF-8 text, and a rerun finishes; a record stored before texts were made
  plain is read plain;
- any error while recording one submission fails that submission alone, and a rerun records it;
- a grading worker that runs out of its own memory limit fails that submission alone, and says so.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from course_helpers import (  # noqa: F401 - base_course and course are fixtures
    base_course,
    cli,
    course,
    gradebook_scores,
    mini,
    records,
    results_json,
    submit,
    submit_class,
)

from dlgrade import sample_class

TIMESTAMP = "2030-01-01 10:00:00.000000 UTC"
# What must never reach a terminal or a file raw (see dlgrade.boundary.text).
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What a student's script would do in an instructor's page (tests/course/test_formgrader_view.py watches for it).
RUN = "document.documentElement.setAttribute('data-pwned', '1')"

HOSTILE_CODE = r'''
print("\x1b[2J\x1b]0;owned\x07 \x9b31m printed")

class Sneaky(Exception):
    pass
Sneaky.__qualname__ = "Sneaky\ud800\x1b[32m"

def mse_loss(input, target, reduction='mean'):
    raise Sneaky("\ud800 \x1b[32mpassed\x1b[0m \u202eevil <script>RUN</script> <img src=x onerror=\"RUN\">")
'''.replace("RUN", RUN)


def solution() -> nbformat.NotebookNode:
    return copy.deepcopy(next(s.notebook for s in sample_class.build(mini()) if s.student == "solution"))


def with_mse(code: str) -> nbformat.NotebookNode:
    notebook = solution()
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "mse_solution":
            cell.source = code
    return notebook


def strict_json(path: Path) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"{name} in {path}")

    return json.loads(path.read_text(encoding="utf-8"), parse_constant=refuse)


def assert_plain_files(course: Path, student: str) -> None:  # noqa: F811
    """Every file written for the student is UTF-8 holding no raw control, override or surrogate."""
    for folder in ("feedback", "autograded"):
        for path in (course / folder / student / "mini").iterdir():
            text = path.read_bytes().decode("utf-8")
            assert not RAW.search(text), (path, RAW.search(text))
    strict_json(course / "feedback" / student / "mini" / "results.json")


# ---- one string never stops a class ------------------------------------------------------------------------


def test_lone_surrogates_and_escapes_never_stop_a_class_and_a_rerun_finishes(course: Path) -> None:  # noqa: F811
    submit_class(course, ["solution", "mse-forgot-mean"])
    submit(course, "sneaky", with_mse(HOSTILE_CODE), TIMESTAMP)
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 0, run.err
    assert gradebook_scores(course)["sneaky"] == {"mse": 0.0, "relu_derivative": 2.0, "worked_loss": 1.0}
    assert_plain_files(course, "sneaky")
    assert "\\x1b[32mpassed" in results_json(course, "sneaky")["tests"][0]["output"]
    assert not RAW.search(run.out + run.err)
    again = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert again.code == 0, again.err
    assert "3 already graded" in again.out


def test_a_record_stored_with_a_lone_surrogate_is_read_plain_and_a_rerun_finishes(course: Path) -> None:  # noqa: F811
    """A record written before texts were made plain (by an older dlgrade) used to crash every rerun."""
    submit_class(course, ["solution", "mse-forgot-mean"])
    assert cli("autograde", "mini", "--course", course, "--workers", "1").code == 0
    path = course / ".dlgrade" / "results" / "mini" / "mse-forgot-mean.json"
    data = json.loads(path.read_text())
    data["result"]["questions"][0]["feedback"] += " \ud800 \x1b]0;owned\x07"
    data["result"]["notes"] = ["\ud800\x1b[31m"]
    path.write_text(json.dumps(data))  # json escapes the surrogate: the file is valid, the text is not
    shutil.rmtree(course / "feedback" / "mse-forgot-mean")
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 0, run.err
    assert_plain_files(course, "mse-forgot-mean")
    assert "\ufffd \\x1b]0;owned\\x07" in results_json(course, "mse-forgot-mean")["tests"][0]["output"]


def test_an_error_recording_one_submission_fails_it_alone_and_a_rerun_records_it(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    from dlgrade import autograde

    write_feedback = autograde.write_feedback

    def failing(course_, submission, *args, **kwargs):  # noqa: ANN001, ANN202
        if submission.student == "mse-forgot-mean":
            raise OSError(28, "No space left on device")
        return write_feedback(course_, submission, *args, **kwargs)

    submit_class(course, ["solution", "mse-forgot-mean", "blank"])
    monkeypatch.setattr(autograde, "write_feedback", failing)
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 1
    assert "mse-forgot-mean: failed: could not be recorded (OSError: [Errno 28] No space left on device)" in run.err
    assert set(records(course)) == {"solution", "blank"}  # not the one that failed: a rerun grades it again
    assert results_json(course, "solution")["score"] == 5.0 and results_json(course, "blank")["score"] == 0.0
    monkeypatch.setattr(autograde, "write_feedback", write_feedback)
    again = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert again.code == 0, again.err
    assert results_json(course, "mse-forgot-mean")["tests"][0]["diagnosis"]["mistake"] == "forgot_mean"


def test_a_grading_worker_past_its_memory_limit_fails_that_submission_alone(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A fault on the trusted side (here injected: the grading of one notebook allocating 2 GiB) meets the worker's
    own limit: that submission fails with words saying so, the worker goes on with the class."""
    import numpy as np

    from dlgrade import batch
    from dlgrade.grading import Grader

    grade = Grader.grade

    def hungry(self, path):  # noqa: ANN001, ANN202
        if "# hungry" in Path(path).read_text():
            np.ones(1 << 28)
        return grade(self, path)

    monkeypatch.setattr(batch, "TRUSTED_MEMORY_BYTES", 512 << 20)
    monkeypatch.setattr(Grader, "grade", hungry)  # the forked grading workers inherit both
    submit_class(course, ["solution", "blank"])
    submit(course, "hungry", with_mse("# hungry\n" + "def mse_loss(input, target, reduction='mean'):\n    pass\n"),
           TIMESTAMP)
    run = cli("autograde", "mini", "--course", course, "--workers", "1")
    assert run.code == 1
    assert "hungry: failed: grading it needed more memory than a grading worker may take (0.5 GiB" in run.err
    assert results_json(course, "solution")["score"] == 5.0 and results_json(course, "blank")["score"] == 0.0
