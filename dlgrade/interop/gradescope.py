"""Export an assignment as a Gradescope autograder zip, and the code that zip runs for each submission.

Gradescope's contract (gradescope-autograders.readthedocs.io, "Autograder Specifications"): the zip holds
``setup.sh`` (run once, as root, to build the image) and ``run_autograder`` (run per submission, from
/autograder) at its root; Gradescope unpacks it in /autograder/source, puts the student's files in
/autograder/submission, and reads /autograder/results/results.json.

    build_autograder_zip(assignment, out_dir, allow_unsandboxed) -> out_dir/autograder.zip, holding
        setup.sh              installs bubblewrap and a venv with the pinned environment (constraints.txt,
                              torch's CPU build) and this dlgrade (templates/gradescope_setup.sh)
        run_autograder        `python -I -m dlgrade.interop.gradescope --root /autograder`
                              (templates/gradescope_run_autograder)
        constraints.txt       the project's pins
        dlgrade_autograder.json   assignment id, sandbox policy, the grading secret (seeds hidden cases), and
                              which field of Gradescope's submission_metadata.json is the student's id for the
                              per-student numbers ("student_id": email by default; the notebook's my_numbers()
                              must be given the same, e.g. my_numbers("ada@uni.edu"))
        project/              pyproject.toml, README.md, dlgrade/, reference/, autograders/, assignments/<id>/

    run_autograder(root) -> exit status: grade root/submission with the dlgrade engine, write
        root/results/results.json (Gradescope's format: status only passed/failed, dlgrade's own status and
        diagnosis under extra_data). Exit 0 when it wrote results (a submission without a notebook gets 0
        points and says why); 1, with no results, when the grader itself cannot run (the sandbox does not
        start and the export did not allow grading without it).

The root is /autograder unless DLGRADE_AUTOGRADER_ROOT (or --root) says otherwise: tests run the zip on a local
directory laid out as Gradescope lays it out.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dlgrade.assignments import Assignment
from dlgrade.boundary.text import plain
from dlgrade.errors import UsageError

__all__ = ["CONFIG_FILE", "build_autograder_zip", "gradescope_results", "main", "run_autograder"]

CONFIG_FILE = "dlgrade_autograder.json"
DEFAULT_ROOT = "/autograder"
ROOT_VARIABLE = "DLGRADE_AUTOGRADER_ROOT"
TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
# The tree this dlgrade runs from: the engine, the trusted references and the pins come from it; an assignment and
# its suite from the assignment's own content pack (the built-in one, or a course's: dlgrade.content).
ENGINE_ROOT = Path(__file__).resolve().parent.parent.parent
ENGINE_PACKAGES = ("dlgrade", "reference")
_SKIPPED = {"__pycache__", ".ipynb_checkpoints", ".pytest_cache"}
_EXECUTABLE = 0o100755 << 16
_REGULAR = 0o100644 << 16


# ---- building the zip ------------------------------------------------------------------------------------


def _pinned_torch(root: Path) -> str:
    for line in (root / "constraints.txt").read_text(encoding="utf-8").splitlines():
        name, _, version = line.strip().partition("==")
        if name.lower() == "torch" and version:
            return version
    raise UsageError(f"{root / 'constraints.txt'} does not pin torch")


def _render(template: str, assignment: Assignment) -> str:
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    values = {"ASSIGNMENT": assignment.id, "TORCH_VERSION": _pinned_torch(ENGINE_ROOT),
              "PYTHON_VERSION": f"{sys.version_info.major}.{sys.version_info.minor}"}
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    return text


def _files(folder: Path) -> list[Path]:
    return sorted(path for path in folder.rglob("*") if path.is_file() and not _SKIPPED & set(path.parts)
                  and path.suffix != ".pyc")


def _write(archive: zipfile.ZipFile, name: str, data: bytes | str, executable: bool = False) -> None:
    info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
    info.external_attr = _EXECUTABLE if executable else _REGULAR
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def build_autograder_zip(assignment: Assignment, out_dir: Path, allow_unsandboxed: bool = False) -> Path:
    """out_dir/autograder.zip for ``assignment`` (see the module docstring for its layout).

    ``allow_unsandboxed``: where bubblewrap cannot start in the grading container, grade without it (the
    container is then the only isolation, and each result says so) instead of stopping.
    """
    root = ENGINE_ROOT
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "autograder.zip"
    config = {"assignment": assignment.id, "sandbox": "fallback" if allow_unsandboxed else "require",
              "secret": secrets.token_hex(32), "student_id": "email"}
    with tempfile.NamedTemporaryFile(dir=out_dir, prefix=".autograder-", suffix=".zip", delete=False) as handle:
        staging = Path(handle.name)
    try:
        with zipfile.ZipFile(staging, "w") as archive:
            _write(archive, "setup.sh", _render("gradescope_setup.sh", assignment), executable=True)
            _write(archive, "run_autograder", _render("gradescope_run_autograder", assignment), executable=True)
            _write(archive, "constraints.txt", (root / "constraints.txt").read_bytes())
            _write(archive, CONFIG_FILE, json.dumps(config, indent=2) + "\n")
            _write(archive, "project/pyproject.toml", (root / "pyproject.toml").read_bytes())
            readme = root / "README.md"
            _write(archive, "project/README.md", readme.read_bytes() if readme.is_file() else "# dlgrade\n")
            # The engine and the trusted code always come from the installed dlgrade (the tree that runs this
            # export); the assignment and its suite from the assignment's own content pack.
            for package in ENGINE_PACKAGES:
                for path in _files(root / package):
                    _write(archive, f"project/{path.relative_to(root).as_posix()}", path.read_bytes())
            pack = assignment.root
            suites = [pack / "autograders" / "__init__.py", assignment.suite_file]
            for path in [p for p in suites if p.is_file()] + _files(assignment.source.parent):
                _write(archive, f"project/{path.relative_to(pack).as_posix()}", path.read_bytes())
        os.replace(staging, target)
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    return target


# ---- grading one submission on Gradescope ------------------------------------------------------------------


def gradescope_results(data: dict[str, Any]) -> dict[str, Any]:
    """dlgrade's results JSON (report.to_json) in the shape Gradescope reads: a test's ``status`` is passed or
    failed only; dlgrade's finer status (error, timeout, banned, not_implemented) and its diagnosis move to the
    test's ``extra_data``, and the run's own details to the top-level ``extra_data``."""
    tests = []
    for test in data.get("tests", []):
        status = str(test.get("status", "failed"))
        output = str(test.get("output", ""))
        extra: dict[str, Any] = {"dlgrade_status": status}
        if test.get("diagnosis"):
            extra["diagnosis"] = test["diagnosis"]
        tests.append({
            "name": test["name"], "score": test["score"], "max_score": test["max_score"],
            "status": "passed" if status == "passed" else "failed",
            "output": output if status in ("passed", "failed") else f"[{status}] {output}",
            "visibility": test.get("visibility", "visible"), "output_format": "text", "extra_data": extra,
        })
    # Gradescope shows "text" as it is; its default (simple_format) and "html" would render a student's tags.
    return {"score": data["score"], "execution_time": data.get("execution_time", 0.0),
            "output": data.get("output", ""), "output_format": "text", "test_output_format": "text",
            "test_name_format": "text", "stdout_visibility": "hidden", "tests": tests,
            "extra_data": data.get("dlgrade", {})}


def _write_results(root: Path, results: dict[str, Any]) -> Path:
    from dlgrade.report import write_atomic

    path = root / "results" / "results.json"
    write_atomic(path, json.dumps(results, indent=2, allow_nan=False) + "\n")
    return path


def _start_sandbox(policy: str) -> tuple[Any, str | None]:
    """A running sandbox, and a note when it runs without bubblewrap (only where the export allowed it)."""
    from dlgrade.sandbox.launcher import Sandbox, SandboxUnavailable

    sandbox = Sandbox(sandboxed=True)
    try:
        sandbox.start()
        return sandbox, None
    except SandboxUnavailable as error:
        sandbox.close()
        if policy != "fallback":
            raise
        unsandboxed = Sandbox(sandboxed=False)
        unsandboxed.start()
        return unsandboxed, (f"Graded without the bubblewrap sandbox ({error}); the grading container was the "
                             "only isolation.")


def gradescope_student(root: Path, field: str = "email") -> str | None:
    """The submitter's id from Gradescope's submission_metadata.json (the first user's ``field``: email, sid or
    id), or None when there is none."""
    try:
        metadata = json.loads((root / "submission_metadata.json").read_text(encoding="utf-8"))
        value = metadata["users"][0][field]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    return str(value).strip() or None


def run_autograder(root: Path) -> int:
    """Grade root/submission and write root/results/results.json; the exit status (see the module docstring)."""
    from dlgrade import assignments, report
    from dlgrade.grading import Grader
    from dlgrade.notebook import find_submission_file
    from dlgrade.sandbox.launcher import SandboxUnavailable

    root = Path(root)
    config = json.loads((root / "source" / CONFIG_FILE).read_text(encoding="utf-8"))
    assignment = assignments.load(config["assignment"])
    try:
        path = find_submission_file(root / "submission", assignment.id)
    except UsageError as error:
        _write_results(root, {"score": 0.0, "output": f"Nothing could be graded: {error}. Submit "
                                                      f"{assignment.id}.ipynb.", "tests": []})
        return 0
    try:
        sandbox, note = _start_sandbox(str(config.get("sandbox", "require")))
    except SandboxUnavailable as error:
        print(f"dlgrade: the sandbox does not start in this container ({error}); nothing was graded. Export "
              "with --allow-no-sandbox to grade without it here.", file=sys.stderr)
        return 1
    try:
        student = gradescope_student(root, str(config.get("student_id", "email")))
        result = Grader(assignment, sandbox, bytes.fromhex(config["secret"])).grade(path, student)
    finally:
        sandbox.close()
    results = gradescope_results(report.to_json(result))
    if note:
        results["output"] = f"{note}\n{results['output']}"
    _write_results(root, results)
    print(plain(report.table(result)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """run_autograder's entry point: ``python -m dlgrade.interop.gradescope [--root DIR]``."""
    parser = argparse.ArgumentParser(prog="dlgrade.interop.gradescope", description=run_autograder.__doc__)
    parser.add_argument("--root", default=os.environ.get(ROOT_VARIABLE, DEFAULT_ROOT),
                        help=f"Gradescope's autograder directory (default: ${ROOT_VARIABLE} or {DEFAULT_ROOT})")
    args = parser.parse_args(argv)
    try:
        return run_autograder(Path(args.root))
    except UsageError as error:
        print(f"dlgrade: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
