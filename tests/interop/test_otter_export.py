"""`dlgrade export losses --format otter`: otter's exception-based test files (read back with otter's own parser),
an autograder zip made by `otter generate`, a student folder for in-notebook grader.check(); and real `otter run`
on the sample class: the reference solution scores full marks, the blank template zero."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from interop_helpers import otter_patcher
from otter.test_files import create_test_file
from otter.test_files.exception_test import ExceptionTestFile

from dlgrade import assignments, sample_class
from dlgrade.interop.otter import OtterExport, export_otter

OTTER = [sys.executable, "-m", "otter"]


@pytest.fixture(scope="module")
def losses() -> assignments.Assignment:
    return assignments.load("losses")


@pytest.fixture(scope="module")
def exported(losses: assignments.Assignment, tmp_path_factory: pytest.TempPathFactory) -> OtterExport:
    return export_otter(losses, tmp_path_factory.mktemp("otter") / "out", seed=11)


def test_tests_are_otter_exception_files(exported: OtterExport, losses: assignments.Assignment) -> None:
    assert [path.stem for path in exported.tests] == [q.name for q in losses.suite.questions]
    for path in exported.tests:
        test = create_test_file(str(path), None)
        assert isinstance(test, ExceptionTestFile) and test.name == path.stem
        points = [case.points for case in test.test_cases]
        assert sum(points) == pytest.approx(losses.points[path.stem])
        hidden = [case.hidden for case in test.test_cases]
        assert False in hidden and True in hidden
        student = ExceptionTestFile.from_file(str(exported.student / "tests" / path.name))
        assert [case.hidden for case in student.test_cases] == [False] * hidden.count(False)


def test_zip_is_otter_generates_with_the_support_files(exported: OtterExport) -> None:
    with zipfile.ZipFile(exported.autograder) as archive:
        names = set(archive.namelist())
        environment = archive.read("environment.yml").decode()
        config = json.loads(archive.read("otter_config.json"))
    assert {"run_autograder", "run_otter.py", "setup.sh", "environment.yml", "otter_config.json",
            "files/dlcheck/kernel.py", "files/dlcheck/compare.py", "files/dlcheck/checks.json"} <= names
    assert {f"tests/{path.name}" for path in exported.tests} <= names
    assert "torch==2.13.0" in environment and "download.pytorch.org/whl/cpu" in environment
    assert config["lang"] == "python"


def test_student_notebook_calls_grader_check(exported: OtterExport, losses: assignments.Assignment) -> None:
    notebook = nbformat.read(exported.student / "losses.ipynb", as_version=4)
    sources = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert 'grader = otter.Notebook(tests_dir="tests")' in sources
    for name in losses.points:
        assert f'grader.check("{name}")' in sources
    assert "BEGIN SOLUTION" not in sources
    assert (exported.student / "dlcheck" / "kernel.py").is_file()


def test_otter_run_solution_full_marks_blank_zero(exported: OtterExport, losses: assignments.Assignment,
                                                  tmp_path: Path) -> None:
    """And what in-kernel grading cannot stop: the blank template plus a cell that patches otter scores full
    marks (dlgrade gives the same notebook 0: tests/interop/test_gradescope_export.py)."""
    students = {s.student: s for s in sample_class.build(losses, hostile=False)}
    students["patches-otter"] = otter_patcher(losses)
    expected = {"solution": losses.max_score, "blank": 0.0, "patches-otter": losses.max_score}
    running = {}
    for name in expected:
        notebook = students[name].write(tmp_path / name / "losses.ipynb")
        results = tmp_path / name / "results"
        results.mkdir()
        running[name] = (results, subprocess.Popen(
            [*OTTER, "run", "-a", str(exported.autograder), "-o", str(results), "--no-logo", str(notebook)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    for name, (results, process) in running.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr[-2000:]
        data = json.loads((results / "results.json").read_text())
        scored = sum(test.get("score") or 0.0 for test in data["tests"])
        assert scored == pytest.approx(expected[name]), (name, stdout[-2000:])
