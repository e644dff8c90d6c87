"""Export an assignment to otter-grader: exception-based test files and an autograder zip from `otter generate`.

    export_otter(assignment, out, seed) -> OtterExport, writing
        out/tests/<question>.py          otter's exception-based format (``OK_FORMAT = False``, ``name``,
                                         ``points``, one ``@test_case`` per case): public cases and, hidden=True,
                                         one draw of the hidden cases; each case is worth points / cases, as in
                                         dlgrade's partial credit
        out/autograder.zip               made by otter's own ``otter generate`` from out/tests, with dlcheck/ as a
                                         support file (the notebook's check() and the tests' runtime) and the
                                         pinned torch/numpy as requirements
        out/student/<id>.ipynb           the released notebook, its setup cell making
                                         ``grader = otter.Notebook(tests_dir="tests")``, each grade cell's
                                         ``check("q")`` turned into ``grader.check("q")``
        out/student/tests/<question>.py  the same tests with the public cases only (what students may see)
        out/student/dlcheck/             the checker plus kernel.py

Grade one submission with ``otter run -a out/autograder.zip <notebook>``, or upload the zip to Gradescope. The
tests call dlcheck/kernel.py, so every case is compared exactly as dlgrade's check() compares it — but inside
the student's kernel, with what that cannot defend against (docs/interop.md).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from dlgrade.assignments import Assignment
from dlgrade.interop.bake import ExportError, bake_suite, public_only, spec_json, write_kernel_checker

__all__ = ["OtterExport", "export_otter", "otter_notebook", "pinned_requirements", "test_file_source"]

OTTER_CONFIG: dict[str, Any] = {"lang": "python", "show_stdout": False, "show_hidden": False}
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PINNED = ("torch", "numpy")  # what the tests and the student's code need beyond otter's own environment
_CHECK_CALL = re.compile(r"^(\s*)check\((['\"])([A-Za-z_][A-Za-z0-9_]*)\2\)\s*$", re.M)
_CHECK_IMPORT = "from dlcheck import check"
_OTTER_SETUP = 'import otter\n\ngrader = otter.Notebook(tests_dir="tests")'


@dataclass(frozen=True)
class OtterExport:
    """Where an otter export put its parts."""

    out: Path
    tests: tuple[Path, ...]
    autograder: Path
    student: Path
    seed: int


def _label(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def test_file_source(spec: dict[str, Any]) -> str:
    """An otter exception-based test file for one baked question spec (one test_case per case)."""
    public = sum(1 for case in spec["cases"] if case.get("public"))
    hidden = len(spec["cases"]) - public
    lines = [
        f'"""otter test for {spec["assignment"]}/{spec["question"]}, exported by `dlgrade export '
        f'{spec["assignment"]} --format otter`.',
        "",
        f"{public} public and {hidden} hidden cases of dlgrade's suite, baked with their expected values; each case "
        "is one test_case",
        f"worth {spec['points']:g}/{len(spec['cases'])} points. They run in the notebook's kernel through "
        "dlcheck/kernel.py (beside the notebook).",
        "Edit the suite and export again rather than this file.",
        '"""',
        "",
        "from otter.test_files import test_case",
        "",
        "OK_FORMAT = False",
        "",
        f"name = {spec['question']!r}",
        f"points = {float(spec['points'])!r}",
        "",
        f"SPEC = {spec_json(spec)!r}",
        "",
        "",
        "def _run(env, index):",
        "    from dlcheck.kernel import run_case",
        "",
        "    run_case(SPEC, index, env)",
    ]
    for index, case in enumerate(spec["cases"]):
        name = _label(f"{spec['question']} {case['label']}")
        lines += [
            "",
            "",
            f"@test_case(name={name!r}, hidden={not case.get('public', False)!r})",
            f"def case_{index + 1}(env):",
            f"    _run(env, {index})",
        ]
    return "\n".join(lines) + "\n"


def otter_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The released notebook for otter: an otter.Notebook named ``grader`` set up where dlcheck is imported
    (or in a first cell), and every grade cell's ``check("q")`` calling ``grader.check("q")`` instead."""
    notebook = nbformat.from_dict(json.loads(json.dumps(notebook)))
    placed = False
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        if not placed and _CHECK_IMPORT in cell.source:
            cell.source = cell.source.rstrip("\n") + "\n" + _OTTER_SETUP
            placed = True
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            cell.source = _CHECK_CALL.sub(r'\1grader.check("\3")', cell.source)
    if not placed:
        cell = nbformat.v4.new_code_cell(_OTTER_SETUP)
        cell["id"] = "otter-setup"
        notebook.cells.insert(0, cell)
    return notebook


def _released(assignment: Assignment, workdir: Path) -> nbformat.NotebookNode:
    """The committed student template when there is one, else a fresh release (nbgrader generate_assignment)."""
    if assignment.template.is_file():
        return nbformat.read(assignment.template, as_version=4)
    from dlgrade.release import release_notebook

    return release_notebook(assignment, workdir)


ENGINE_ROOT = Path(__file__).resolve().parent.parent.parent  # the pins of the dlgrade that runs the export


def pinned_requirements(root: Path = ENGINE_ROOT) -> str:
    """requirements.txt for otter's grading environment: torch and numpy as constraints.txt pins them, torch's
    CPU build (the default wheel pulls CUDA)."""
    pins = {}
    constraints = root / "constraints.txt"
    if constraints.is_file():
        for line in constraints.read_text(encoding="utf-8").splitlines():
            name, _, version = line.strip().partition("==")
            if name.lower() in PINNED and version:
                pins[name.lower()] = f"{name}=={version}"
    lines = [f"--extra-index-url {TORCH_CPU_INDEX}"] + [pins.get(name, name) for name in PINNED]
    return "\n".join(lines) + "\n"


def _otter_generate(staging: Path, zip_path: Path) -> None:
    """otter's own `otter generate`, run in ``staging`` (it only packs files under its working directory)."""
    command = [sys.executable, "-m", "otter", "generate", "-t", "tests", "-o", str(zip_path),
               "-c", "otter_config.json", "-r", "requirements.txt", "--no-environment",
               "--python-version", f"{sys.version_info.major}.{sys.version_info.minor}", "dlcheck"]
    env = os.environ | {"PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(command, cwd=staging, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0 or not zip_path.is_file():
        detail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ExportError("otter generate failed: " + " | ".join(detail))


def export_otter(assignment: Assignment, out: Path, seed: int | None = None) -> OtterExport:
    """Write the otter export of ``assignment`` under ``out`` (replacing an earlier export's parts).

    ``seed`` draws the hidden cases (a fresh random one by default; hidden cases are fixed once exported).
    """
    seed = secrets.randbits(63) if seed is None else int(seed)
    out = Path(out).resolve()
    specs = bake_suite(assignment, seed)
    tests_dir, student = out / "tests", out / "student"
    for folder in (tests_dir, student):
        shutil.rmtree(folder, ignore_errors=True)
    tests_dir.mkdir(parents=True)
    (student / "tests").mkdir(parents=True)
    tests = []
    for name, spec in specs.items():
        path = tests_dir / f"{name}.py"
        path.write_text(test_file_source(spec), encoding="utf-8")
        tests.append(path)
        (student / "tests" / f"{name}.py").write_text(test_file_source(public_only(spec)), encoding="utf-8")
    write_kernel_checker(student, assignment)
    with tempfile.TemporaryDirectory(prefix="dlgrade-otter-") as scratch:
        staging = Path(scratch) / "staging"
        shutil.copytree(tests_dir, staging / "tests")
        write_kernel_checker(staging, assignment)
        (staging / "requirements.txt").write_text(pinned_requirements(), encoding="utf-8")
        (staging / "otter_config.json").write_text(json.dumps(OTTER_CONFIG, indent=2) + "\n", encoding="utf-8")
        zip_path = out / "autograder.zip"
        zip_path.unlink(missing_ok=True)
        _otter_generate(staging, zip_path)
        notebook = otter_notebook(_released(assignment, Path(scratch) / "release"))
    nbformat.write(notebook, student / f"{assignment.id}.ipynb")
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    missing = [f"tests/{path.name}" for path in tests if f"tests/{path.name}" not in names]
    if missing or "files/dlcheck/kernel.py" not in names:
        raise ExportError(f"otter generate left out {missing or ['files/dlcheck/kernel.py']}")
    return OtterExport(out, tuple(tests), zip_path, student, seed)
