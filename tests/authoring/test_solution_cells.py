"""The trusted side's reading of a source notebook's code: a known mistake's variant run from the edited cell
after the notebook's cells before it (solution_cells._namespace), and the names a solution cell defines at
module level (assignments._defined_names, which the suite's entry= is checked against)."""

from __future__ import annotations

import sys

import pytest

from dlgrade.assignments import _defined_names
from dlgrade.solution_cells import _namespace


def test_a_variant_runs_after_a_setup_cell_that_imports_my_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The notebooks with per-student numbers import my_numbers in their setup cell: the variant's namespace
    still loads (my_numbers exists and says it has no student's numbers), and no stand-in dlcheck is left."""
    monkeypatch.delitem(sys.modules, "dlcheck", raising=False)  # the stand-in, not a dlcheck imported before
    setup = "import numpy as np\nfrom dlcheck import check, my_numbers\n"
    namespace = _namespace((("setup", setup),), "f_solution", "def f(x):\n    return np.asarray(x) + 1\n")
    assert namespace["f"](1) == 2
    try:
        namespace["my_numbers"]("s1")
    except LookupError as error:
        assert "no student" in str(error)
    else:
        raise AssertionError("my_numbers() answered without a student")
    assert "dlcheck" not in sys.modules


def test_defined_names_are_the_cells_module_level_names_only() -> None:
    cell = ("import numpy as np\nfrom math import sqrt as root\n"
            "def mse(x):\n    total = 0\n    return total\n"
            "class Net:\n    width = 3\n"
            "if True:\n    rate = 0.1\n"
            "for step in range(2):\n    pass\n"
            "squares = [k * k for k in range(3)]\n")
    assert _defined_names(cell) == {"np", "root", "mse", "Net", "rate", "step", "squares"}
    assert _defined_names("def (:") is None
