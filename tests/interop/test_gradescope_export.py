"""`dlgrade export losses --format gradescope`: the zip has Gradescope's layout, its setup.sh installs the pinned
environment into a venv, and its run_autograder, run on a local directory laid out as Gradescope lays out
/autograder (the root moved by DLGRADE_AUTOGRADER_ROOT, the interpreter by DLGRADE_PYTHON: setup.sh's install is
not run here), grades the sample class with the dlgrade engine in the sandbox."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from interop_helpers import otter_patcher

from dlgrade import assignments, sample_class
from dlgrade.cli import main
from dlgrade.interop.gradescope import CONFIG_FILE, gradescope_results

GRADESCOPE_STATUSES = {"passed", "failed"}


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gradescope")
    assert main(["export", "losses", "--format", "gradescope", "--out", str(out)]) == 0
    return out / "autograder.zip"


def autograder_root(zip_path: Path, where: Path, notebook: sample_class.SampleSubmission | None) -> Path:
    """where/autograder as Gradescope builds it: source/ (the zip), run_autograder, submission/, results/."""
    root = where / "autograder"
    for folder in ("source", "submission", "results"):
        (root / folder).mkdir(parents=True)
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    if notebook is not None:
        notebook.write(root / "submission" / "losses.ipynb")
    return root


def start(root: Path) -> subprocess.Popen[str]:
    env = os.environ | {"DLGRADE_AUTOGRADER_ROOT": str(root), "DLGRADE_PYTHON": sys.executable}
    env.pop("DLGRADE_ROOT", None)
    return subprocess.Popen(["bash", str(root / "run_autograder")], cwd=root, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_zip_layout_and_pinned_setup(exported: Path) -> None:
    with zipfile.ZipFile(exported) as archive:
        names = set(archive.namelist())
        setup = archive.read("setup.sh").decode()
        config = json.loads(archive.read(CONFIG_FILE))
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        constraints = archive.read("constraints.txt").decode()
    assert {"setup.sh", "run_autograder", "constraints.txt", "project/pyproject.toml",
            "project/dlgrade/grading.py", "project/dlgrade/sandbox/worker.py", "project/reference/losses.py",
            "project/autograders/losses.py", "project/assignments/losses/losses.ipynb"} <= names
    assert not any(name.startswith("project/assignments/training") for name in names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert "torch==2.13.0" in constraints
    assert '"torch==2.13.0"' in setup and "-m venv" in setup and "bubblewrap" in setup
    assert '-c "$SOURCE/constraints.txt" "$SOURCE/project"' in setup
    assert config["assignment"] == "losses" and config["sandbox"] == "require" and len(config["secret"]) == 64
    for script in ("setup.sh", "run_autograder"):
        with zipfile.ZipFile(exported) as archive:
            text = archive.read(script).decode()
        assert subprocess.run(["bash", "-n"], input=text, text=True).returncode == 0, script


def test_run_autograder_grades_the_sample_class(exported: Path, tmp_path: Path) -> None:
    """The solution gets full marks, a known mistake loses its question's cases and is named, and the notebook
    that patches otter's test runner into giving it full marks gets 0 (three containers' worth of
    run_autograder, side by side)."""
    losses = assignments.load("losses")
    students = {s.student: s for s in sample_class.build(losses, hostile=False)}
    students["patches-otter"] = otter_patcher(losses)
    roots = {name: autograder_root(exported, tmp_path / name, students[name])
             for name in ("solution", "bce-forgot-minus", "patches-otter")}
    running = {name: start(root) for name, root in roots.items()}
    results = {}
    for name, process in running.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        results[name] = json.loads((roots[name] / "results" / "results.json").read_text())
        assert {test["status"] for test in results[name]["tests"]} <= GRADESCOPE_STATUSES
        assert "bubblewrap" in results[name]["extra_data"]["sandbox"]
        assert results[name]["extra_data"]["assignment"] == "losses"
        assert "total" in stdout  # the table in Gradescope's stdout, for the instructor
    assert results["solution"]["score"] == pytest.approx(losses.max_score)
    assert {test["status"] for test in results["solution"]["tests"]} == {"passed"}
    bce = next(test for test in results["bce-forgot-minus"]["tests"] if test["name"] == "bce")
    assert bce["status"] == "failed" and bce["extra_data"]["diagnosis"]["mistake"] == "forgot_minus"
    assert 0 < results["bce-forgot-minus"]["score"] < losses.max_score
    assert results["patches-otter"]["score"] == 0.0


def test_an_empty_submission_scores_zero_and_says_why(exported: Path, tmp_path: Path) -> None:
    root = autograder_root(exported, tmp_path, None)
    process = start(root)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 0, stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0.0 and "losses.ipynb" in results["output"]


def test_statuses_map_to_gradescopes_two() -> None:
    data = {"score": 1.0, "max_score": 3.0, "execution_time": 0.5, "output": "Graded by dlgrade",
            "dlgrade": {"assignment": "x"},
            "tests": [{"name": "a", "score": 1.0, "max_score": 1.0, "status": "passed", "output": "ok",
                       "visibility": "visible"},
                      {"name": "b", "score": 0.0, "max_score": 1.0, "status": "timeout", "output": "slow",
                       "visibility": "visible"},
                      {"name": "c", "score": 0.0, "max_score": 1.0, "status": "failed", "output": "wrong",
                       "visibility": "visible", "diagnosis": {"mistake": "m", "feedback": "f"}}]}
    results = gradescope_results(data)
    assert [t["status"] for t in results["tests"]] == ["passed", "failed", "failed"]
    assert results["tests"][1]["output"] == "[timeout] slow"
    assert results["tests"][1]["extra_data"] == {"dlgrade_status": "timeout"}
    assert results["tests"][2]["extra_data"]["diagnosis"] == {"mistake": "m", "feedback": "f"}
    assert results["extra_data"] == {"assignment": "x"} and results["score"] == 1.0


def test_unknown_assignment_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export", "nope", "--format", "gradescope", "--out", str(tmp_path)]) == 2
    assert "unknown assignment" in capsys.readouterr().err
