"""The autograded notebook's writer gives nbformat's own text, and its feedback outputs are valid nbformat."""

from __future__ import annotations

import copy

import nbformat
import pytest

from dlgrade import assignments
from dlgrade.notebook import dumps_consumed, stream_output


@pytest.mark.parametrize("assignment_id", ["losses", "training"])
def test_dumps_consumed_writes_what_nbformat_writes(assignment_id: str) -> None:
    notebook = nbformat.read(assignments.load(assignment_id).source, as_version=4)
    code = next(cell for cell in notebook.cells if cell.cell_type == "code")
    code.outputs = [stream_output("dlgrade: failed, 1 / 4\nline two, ünïcode\n")]
    code.metadata["trusted"] = True  # transient: nbformat drops it on writing
    expected = nbformat.v4.writes(copy.deepcopy(notebook))
    assert dumps_consumed(notebook) == expected
    assert '"trusted"' not in expected


def test_stream_output_is_valid_nbformat() -> None:
    output = stream_output("yours 1, expected 2\n")
    assert output == nbformat.v4.new_output("stream", name="stdout", text="yours 1, expected 2\n")
    nbformat.validate(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", outputs=[output])]))
