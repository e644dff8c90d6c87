"""The `dlgrade grade` command: exit 0 when graded whatever the score, 2 with one stderr line for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from engine_helpers import FIXTURE_ROOT, blank


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"DLGRADE_ROOT": str(FIXTURE_ROOT)}
    return subprocess.run([sys.executable, "-m", "dlgrade.cli", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_grade_writes_gradescope_json_and_html(tmp_path: Path, mini) -> None:
    out = run("grade", str(blank(mini.source, tmp_path / "mini.ipynb")), "--assignment", "mini",
              "--json", str(tmp_path / "r.json"), "--html", str(tmp_path / "r.html"))
    assert out.returncode == 0, out.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert (results["score"], results["max_score"]) == (0.0, 5.0)
    assert {t["status"] for t in results["tests"]} == {"not_implemented"}
    for test in results["tests"]:
        assert set(test) >= {"name", "score", "max_score", "status", "output", "visibility"}
    assert "mse" in out.stdout and "total" in out.stdout
    assert "<h1>mini: 0 / 5</h1>" in (tmp_path / "r.html").read_text()


def test_grade_a_folder_submission(tmp_path: Path, mini) -> None:
    folder = tmp_path / "alice"
    folder.mkdir()
    (folder / "mini.ipynb").write_bytes(mini.source.read_bytes())
    out = run("grade", str(folder), "--assignment", "mini", "--json", str(tmp_path / "r.json"))
    assert out.returncode == 0
    assert json.loads((tmp_path / "r.json").read_text())["score"] == 5.0


@pytest.mark.parametrize(("make", "needle"), [
    (lambda p: p / "missing.ipynb", "no such file"),
    (lambda p: (p / "x.ipynb").write_text("{oops") and p / "x.ipynb", "not a notebook"),
    (lambda p: (p / "x.txt").write_text("hi") and p / "x.txt", "not a notebook or .py file"),
])
def test_unusable_input_exits_2_with_one_line(tmp_path: Path, make, needle: str) -> None:
    out = run("grade", str(make(tmp_path)), "--assignment", "mini")
    assert out.returncode == 2
    assert needle in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1


def test_unknown_assignment_exits_2(tmp_path: Path, mini) -> None:
    out = run("grade", str(mini.source), "--assignment", "nope")
    assert out.returncode == 2
    assert out.stderr.strip() == "dlgrade: unknown assignment 'nope' (known: mini)"


def test_without_bwrap_grading_is_refused_unless_no_sandbox(tmp_path: Path, mini) -> None:
    env = os.environ | {"DLGRADE_ROOT": str(FIXTURE_ROOT), "PATH": "/nonexistent"}
    args = [sys.executable, "-m", "dlgrade.cli", "grade", str(mini.source), "--assignment", "mini"]
    refused = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
    assert refused.returncode == 2 and "--no-sandbox" in refused.stderr
    allowed = subprocess.run([*args, "--no-sandbox", "--json", str(tmp_path / "r.json")], capture_output=True,
                             text=True, env=env, timeout=300)
    assert allowed.returncode == 0, allowed.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["score"] == 5.0
    assert results["dlgrade"]["sandbox"] == ["none (--no-sandbox)"]
    assert "none (--no-sandbox)" in results["output"]
