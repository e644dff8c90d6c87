"""my_numbers() in a real Jupyter kernel, in a copy of the committed backprop release: under JupyterHub it finds the
student by $JUPYTERHUB_USER and prints and returns the numbers the grader computes for that id; without any id it
says, in one clear message, how to give one; and the released numbers key is the project template's, never a
secret."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from dlgrade import assignments
from dlgrade.checking.student_numbers import STUDENT_VARIABLE, TEMPLATE_SECRET, numbers_key, student_numbers

RELEASED = assignments.TEMPLATES_DIR / "backprop"
PROBE = "from dlcheck import my_numbers\nnumbers = my_numbers()\nprint('RESULT', sorted(numbers.items()))"


def _run(tmp_path: Path, env: dict[str, str], source: str = PROBE) -> nbformat.NotebookNode:
    """Run one cell in a python kernel of this venv, started with ``env`` added, in a copy of the release."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    kernels = tmp_path / "kernels"
    (kernels / "probe").mkdir(parents=True)
    (kernels / "probe" / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "my_numbers probe", "language": "python", "env": env}))
    folder = tmp_path / "student" / "backprop"
    shutil.copytree(RELEASED, folder)
    notebook = new_notebook(cells=[new_code_cell(source)])
    manager = KernelManager(kernel_name="probe", kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
    NotebookClient(notebook, km=manager, timeout=120, allow_errors=True,
                   resources={"metadata": {"path": str(folder)}}).execute()
    return notebook


def _text(notebook: nbformat.NotebookNode) -> str:
    outputs = notebook.cells[0].outputs
    return "".join(o.get("text", "") for o in outputs if o.output_type == "stream") + "".join(
        f"{o.ename}: {o.evalue}" for o in outputs if o.output_type == "error")


@pytest.fixture()
def no_ids(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """An environment that names nobody: no JupyterHub, no nbgrader config, no $DLGRADE_STUDENT."""
    for name in ("JUPYTERHUB_USER", STUDENT_VARIABLE, "JUPYTER_CONFIG_PATH"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / "home").mkdir()
    return {"HOME": str(tmp_path / "home"), "JUPYTER_CONFIG_DIR": str(tmp_path / "home" / ".jupyter")}


def test_my_numbers_under_jupyterhub_are_the_graders_numbers_for_that_student(no_ids: dict[str, str],
                                                                             tmp_path: Path) -> None:
    notebook = _run(tmp_path, no_ids | {"JUPYTERHUB_USER": "ada"})
    text = _text(notebook)
    expected = student_numbers("scalar_network", numbers_key(TEMPLATE_SECRET, "backprop"), "ada")
    assert f"RESULT {sorted(expected.items())}" in text, text
    assert "Your numbers for backprop (student 'ada', JupyterHub ($JUPYTERHUB_USER)): x = " in text


def test_my_numbers_without_any_id_says_how_to_give_one(no_ids: dict[str, str], tmp_path: Path) -> None:
    text = _text(_run(tmp_path, no_ids))
    assert "NoStudentId: my_numbers() cannot tell who you are" in text, text
    assert f"%env {STUDENT_VARIABLE}=" in text and 'my_numbers("abc123")' in text
    given = _text(_run(tmp_path / "given", no_ids, PROBE.replace("my_numbers()", 'my_numbers("Ada ")')))
    expected = student_numbers("scalar_network", numbers_key(TEMPLATE_SECRET, "backprop"), "ada")
    assert f"RESULT {sorted(expected.items())}" in given, given


def test_the_release_holds_the_templates_numbers_key_and_no_answer() -> None:
    checks = json.loads((RELEASED / "dlcheck" / "checks.json").read_text(encoding="utf-8"))
    assert checks["numbers"] == {"assignment": "backprop", "scheme": "scalar_network",
                                 "key": numbers_key(TEMPLATE_SECRET, "backprop")}
    for name in ("scalar_forward", "scalar_chain_rule", "scalar_param_grads", "scalar_sgd_step"):
        assert set(checks["questions"][name]) == {"entry", "form", "grader_only", "kind", "output_names"}
