"""The trusted side imports torch only for suites whose references need it: for a numpy-only suite, torch's
import (~1.2 s of CPU, paid again by every batch) stays in the sandbox, where student code needs it."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from pathlib import Path
import dlgrade.autograde, dlgrade.batch
from dlgrade.course import load_assignment
from dlgrade.grading import precompute_public_values
assignment = load_assignment({name!r}, Path({root!r}))
dlgrade.batch.one_thread()
precompute_public_values(assignment)
print('torch' in sys.modules)
"""


def _loads_torch(name: str) -> bool:
    from dlgrade.assignments import PROJECT_ROOT

    out = subprocess.run([sys.executable, "-c", PROBE.format(name=name, root=str(PROJECT_ROOT))],
                         capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("name", ["losses", "backprop", "sgd"])
def test_numpy_only_suites_grade_without_torch_on_the_trusted_side(name: str) -> None:
    assert not _loads_torch(name)


def test_a_torch_suite_still_loads_it() -> None:
    assert _loads_torch("training")


def test_tensors_are_described_when_torch_is_imported_after_the_converter() -> None:
    code = ("from dlgrade.checking import plain\nimport torch\narrays = []\n"
            "tree = plain.describe(torch.ones(2, dtype=torch.float32), arrays)\n"
            "print(tree['type'], tree['dtype'], arrays[0].dtype, arrays[0].tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["torch.Tensor", "torch.float32", "float64", "[1.0,", "1.0]"]
