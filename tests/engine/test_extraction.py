"""Extraction: student cells by grade_id, instructor cells from the source, problems reported not fatal."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from engine_helpers import with_cell

from dlgrade.errors import UsageError
from dlgrade.notebook import extract, find_submission_file


def _ids(extraction) -> list[str]:
    return [cell.id for cell in extraction.cells]


def test_grade_cells_never_run_and_locked_cells_come_from_the_source(mini, tmp_path: Path) -> None:
    tampered = with_cell(mini.source, "setup", "import numpy as np\nCHEAT = 1", tmp_path / "a.ipynb")
    tampered = with_cell(tampered, "mse", "assert True  # my own 'test'", tmp_path / "a.ipynb")
    extraction = extract(tampered, mini.source)
    assert _ids(extraction) == ["setup", "mse_solution", "relu_solution", "worked_solution"]
    assert "CHEAT" not in extraction.cells[0].source
    assert not extraction.cells[0].student and extraction.cells[1].student


def test_deleted_duplicated_and_retyped_cells_are_reported(mini, tmp_path: Path) -> None:
    notebook = nbformat.read(mini.source, as_version=4)
    cells = notebook.cells
    mse = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_solution")
    relu = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "relu_solution")
    worked = next(c for c in cells if c.metadata.get("nbgrader", {}).get("grade_id") == "worked_solution")
    cells.remove(mse)
    cells.append(nbformat.from_dict(dict(relu)))
    worked["cell_type"] = "markdown"
    worked.pop("outputs", None)
    worked.pop("execution_count", None)
    path = tmp_path / "mini.ipynb"
    nbformat.write(notebook, path)
    extraction = extract(path, mini.source)
    notes = " | ".join(extraction.notes)
    assert "mse_solution is missing" in notes
    assert "relu_solution appears 2 times" in notes
    assert "worked_solution was changed to markdown" in notes
    assert _ids(extraction) == ["setup", "relu_solution"]


def test_magics_and_shell_escapes_are_stripped_and_reported(mini, tmp_path: Path) -> None:
    code = "%matplotlib inline\n!pip install evil\nimport numpy as np\ndef relu_grad(x):\n    return (x > 0) * 1.0"
    path = with_cell(mini.source, "relu_solution", code, tmp_path / "a.ipynb")
    path = with_cell(path, "worked_solution", "%%bash\nrm -rf /", tmp_path / "a.ipynb")
    extraction = extract(path, mini.source)
    relu = next(c for c in extraction.cells if c.id == "relu_solution")
    assert "pip" not in relu.source and "def relu_grad" in relu.source
    assert next(c for c in extraction.cells if c.id == "worked_solution").source == ""
    assert sum("dropped" in note for note in extraction.notes) == 3


def test_cells_the_student_added_run_in_place(mini, tmp_path: Path) -> None:
    notebook = nbformat.read(mini.source, as_version=4)
    helper = nbformat.v4.new_code_cell("def square(v):\n    return v * v")
    index = next(i for i, c in enumerate(notebook.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "mse_solution")
    notebook.cells.insert(index, helper)
    path = tmp_path / "a.ipynb"
    nbformat.write(notebook, path)
    assert _ids(extract(path, mini.source))[:3] == ["setup", f"added-{index + 1}", "mse_solution"]


def test_a_script_runs_as_the_notebook_of_its_top_level_statements(mini, tmp_path: Path) -> None:
    """One cell per statement (decorators with their def, statements sharing a line together), each at its own
    line numbers, the script's __future__ imports in force in every cell."""
    path = tmp_path / "mini.py"
    path.write_text('"""My work."""\r\nfrom __future__ import annotations\n\nimport numpy as np; import math\n'
                    "\n@staticmethod\ndef relu_grad(x: Later):\n    return (x > 0) * 1.0\n\n"
                    "if __name__ == '__main__':\n    print(relu_grad(np.ones(2)))\n")
    extraction = extract(path, mini.source)
    assert _ids(extraction) == ["script:1", "script:2", "script:4", "script:6", "script:10"]
    assert all(cell.student for cell in extraction.cells)
    relu = extraction.cells[3]
    assert relu.source.startswith("from __future__ import annotations\n") and relu.line == 5  # the line before
    assert [cell.line for cell in extraction.cells] == [1, 2, 3, 5, 9]
    code = compile("\n" * (relu.line - 1) + relu.source, "relu", "exec")  # as the worker places it
    function = next(const for const in code.co_consts if hasattr(const, "co_firstlineno"))
    assert function.co_firstlineno == 6  # the decorator's line, as in the script
    namespace: dict = {"np": None}
    exec(code, namespace)  # the annotation names nothing defined: fine only under the script's future import
    assert namespace["relu_grad"].__annotations__ == {"x": "Later"}


@pytest.mark.parametrize("code", ["def relu_grad(x:\n    return x\n", "x = " + "+".join(["1"] * 100_000), ""])
def test_a_script_that_does_not_parse_is_one_cell(mini, tmp_path: Path, code: str) -> None:
    """As written, where Python could not split it either (it fails when it runs: the student hears why)."""
    path = tmp_path / "mini.py"
    path.write_text(code)
    assert [(cell.id, cell.source) for cell in extract(path, mini.source).cells] == [("script", code.rstrip("\n"))]


def test_nbgrader_metadata_that_is_not_nbgraders_is_no_metadata(mini, tmp_path: Path) -> None:
    """A list, or a grade_id that is no string, is not matched (no crash): the cell counts as one the student
    added."""
    notebook = nbformat.read(mini.source, as_version=4)
    for cell in notebook.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "mse_solution":
            cell.metadata["nbgrader"] = [1]
        elif cell.metadata.get("nbgrader", {}).get("grade_id") == "relu_solution":
            cell.metadata["nbgrader"]["grade_id"] = ["relu_solution"]
    path = tmp_path / "mini.ipynb"
    nbformat.write(notebook, path)
    extraction = extract(path, mini.source)
    assert "solution cell mse_solution is missing from the submission; graded as empty" in extraction.notes
    assert any(cell.id.startswith("added-") and "def mse" in cell.source for cell in extraction.cells)


def test_a_lone_surrogate_is_refused_and_an_emoji_is_not(mini, tmp_path: Path) -> None:
    """JSON may escape half of a UTF-16 pair alone; that is no text and could not be stored again (the autograded
    notebook, the gradebook): one line. A whole pair (an emoji) is text like any other."""
    notebook = nbformat.read(mini.source, as_version=4)
    notebook.cells.append(nbformat.v4.new_markdown_cell("\U0001F600 done"))
    path = tmp_path / "mini.ipynb"
    nbformat.write(notebook, path)
    assert "\\ud83d" in path.read_text() or "\U0001F600" in path.read_text()
    extract(path, mini.source)
    path.write_text(path.read_text().replace("done", "\\ud800"))
    with pytest.raises(UsageError, match="lone UTF-16 surrogate") as error:
        extract(path, mini.source)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not a notebook"),
    ('{"cells": 3, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "notebook"),
    ("", "not a notebook"),
    ('{"cells": [5], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}', "notebook"),
])
def test_broken_notebooks_are_one_line_usage_errors(mini, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "mini.ipynb"
    path.write_text(content)
    with pytest.raises(UsageError, match=message) as error:
        extract(path, mini.source)
    assert "\n" not in str(error.value)


def test_symlinked_submission_is_refused(mini, tmp_path: Path) -> None:
    link = tmp_path / "mini.ipynb"
    link.symlink_to(mini.source)
    with pytest.raises(UsageError, match="symbolic link"):
        find_submission_file(link, "mini")


def test_edits_to_a_locked_cell_are_not_run_and_the_student_is_told(mini, tmp_path: Path) -> None:
    """An `import math` added to the locked setup cell never ran (nbgrader restores locked cells), and the student
    heard only that math is defined in no cell."""
    path = with_cell(mini.source, "setup", "import numpy as np\nimport math", tmp_path / "a.ipynb")
    extraction = extract(path, mini.source)
    assert "import math" not in extraction.cells[0].source
    assert any(note.startswith("cell setup is locked: your edits to it were not run") for note in extraction.notes)
    assert not [note for note in extract(mini.source, mini.source).notes if "locked" in note]
