"""The static check of by-hand questions (dlgrade/banned.py): Python's scopes, every statement of the owned cells,
and fail-closed findings for what it cannot follow; no false positive on any assignment's solution or known
mistake."""

from __future__ import annotations

import pytest

from dlgrade import assignments
from dlgrade.banned import Rules, find_banned
from dlgrade.by_hand import question_rules
from dlgrade.notebook import CodeCell, extract
from dlgrade.sample_class import build

SETUP = CodeCell("setup", "import numpy as np\nimport torch\nfrom torch import nn\n\nfrom dlcheck import check", False)
SOFTMAX = Rules(entry="softmax", banned=("torch.nn", "torch.softmax", ".softmax", "torch.special"), autograd=False,
                cells=("softmax_solution",))
MSE = Rules(entry="mse_loss", banned=("torch.nn", "torch.autograd", ".backward"), autograd=False, numpy_only=True,
            cells=("mse_solution",))
CORRECT_SOFTMAX = """
def softmax(input, dim):
    shifted = input - input.max(dim=dim, keepdim=True).values
    e = torch.exp(shifted)
    return e / e.sum(dim=dim, keepdim=True)
"""
CORRECT_MSE = """
def mse_loss(input, target, reduction="mean"):
    loss = (input - target) ** 2
    return loss if reduction == "none" else np.sum(loss) if reduction == "sum" else np.mean(loss)
"""


def _check(rules: Rules, **cells: str) -> str | None:
    code = [SETUP] + [CodeCell(name, source, True) for name, source in cells.items()]
    violation = find_banned(code, rules)
    return violation.message() if violation else None


def test_a_local_variable_is_not_a_same_named_global_of_another_cell() -> None:
    other = "loss = nn.MSELoss()\nprint(loss(torch.ones(2), torch.zeros(2)))"
    assert _check(MSE, mse_solution=CORRECT_MSE, loss_inputs_solution=other) is None


def test_a_closure_reads_its_enclosing_function_not_a_global() -> None:
    code = CORRECT_SOFTMAX + """
def softmax(input, dim):
    e = torch.exp(input - input.max(dim=dim, keepdim=True).values)
    def total():
        return e.sum(dim=dim, keepdim=True)
    return e / total()
"""
    other = "e = torch.softmax(torch.ones(3), 0)"
    assert _check(SOFTMAX, softmax_solution=code, scratch=other) is None


def test_a_global_used_by_the_entry_is_followed_to_every_binding_in_any_cell() -> None:
    code = "def softmax(input, dim):\n    return helper(input, dim)\n"
    message = _check(SOFTMAX, softmax_solution=code, helper_cell="helper = torch.softmax")
    assert message is not None and "torch.softmax" in message


def test_top_level_code_sees_the_cells_run_before_it_and_a_function_all_cells() -> None:
    """A hand-computed value's cell reads `y1` when it runs: a later cell's `y1` made with torch is not it. A
    function reads its globals when the grader calls it, after every cell: any cell's binding may be the live one."""
    rules = Rules(entry="forward_values", autograd=False, numpy_only=True, cells=("forward_solution",))
    later = "import torch\ny1 = torch.relu(torch.tensor(17.0))"
    assert _check(rules, forward_solution="y1 = 3 * 5 + 2\nforward_values = (y1,)", later=later) is None
    function = Rules(entry="forward", autograd=False, numpy_only=True, cells=("forward_solution",))
    code = "y1 = 17.0\ndef forward():\n    return y1\n"
    assert "torch" in (_check(function, forward_solution=code, later=later) or "")


def test_a_name_bound_by_a_global_statement_in_a_function_is_followed() -> None:
    code = "def softmax(input, dim):\n    return helper(input, dim)\n"
    other = "def setup():\n    global helper\n    helper = torch.softmax\nsetup()"
    assert "torch.softmax" in (_check(SOFTMAX, softmax_solution=code, other=other) or "")


def test_every_statement_of_the_owned_cell_is_checked() -> None:
    code = CORRECT_SOFTMAX + "\nprobe = torch.softmax(torch.zeros(3), 0)\n"
    message = _check(SOFTMAX, softmax_solution=code)
    assert message is not None and "cell softmax_solution uses torch.softmax (line 7)" in message


def test_a_cell_the_question_does_not_own_counts_only_where_its_entry_reaches() -> None:
    """A student who wrote every function in one added cell (or a script's one cell): another question's torch
    function and a top-level torch call beside mse_loss are not mse's; torch inside mse_loss, or reached from it,
    still is."""
    together = "torch.manual_seed(0)\n" + CORRECT_MSE + \
        "\ndef loss_inputs(logits, target):\n    return nn.CrossEntropyLoss()(logits, target)\n"
    assert _check(MSE, mse_solution="# moved below", added_1=together) is None
    reaching = together.replace("np.mean(loss)", "helper(loss)") + "\nhelper = torch.mean\n"
    assert "torch is not available in this question" in (_check(MSE, mse_solution="", added_1=reaching) or "")


def test_an_alias_from_the_instructors_setup_cell_is_resolved() -> None:
    rules = Rules(entry="sig", banned=("torch.nn.functional",), cells=("sig_solution",))
    message = _check(rules, sig_solution="def sig(x):\n    return nn.functional.sigmoid(x)\n")
    assert message is not None and "torch.nn.functional.sigmoid" in message


def test_getattr_with_a_written_name_is_an_attribute_and_with_a_computed_one_a_finding() -> None:
    written = "def softmax(input, dim):\n    return getattr(torch, 'softmax')(input, dim)\n"
    assert "uses torch.softmax" in (_check(SOFTMAX, softmax_solution=written) or "")
    computed = "def softmax(input, dim):\n    return getattr(torch, 'soft' + 'max')(input, dim)\n"
    assert "uses getattr() (line 2): the checker cannot follow it" in (_check(SOFTMAX, softmax_solution=computed)
                                                                       or "")


@pytest.mark.parametrize("code", [
    "import importlib\ndef softmax(input, dim):\n    return importlib.import_module('torch').softmax(input, dim)",
    "import sys\ndef softmax(input, dim):\n    return sys.modules['torch'].softmax(input, dim)",
    "def softmax(input, dim):\n    return input.__class__.__subclasses__()",
    "def softmax(input, dim):\n    return torch.ops.aten._softmax(input, dim, False)",
    "def softmax(input, dim):\n    return torch._C._VariableFunctions.softmax(input, dim)",
    "import operator\ndef softmax(input, dim):\n    operator.methodcaller('set_grad_enabled', True)(torch)",
    "import threading\ndef softmax(input, dim):\n    threading.Thread(target=print).start()",
])
def test_what_cannot_be_followed_is_a_finding(code: str) -> None:
    assert _check(SOFTMAX, softmax_solution=code) is not None


def test_an_entry_defined_where_the_checker_cannot_look_is_a_finding() -> None:
    other = "exec('def softmax(input, dim):\\n    return torch.softmax(input, dim)')"
    message = _check(SOFTMAX, softmax_solution="# nothing here", added_1=other)
    assert message is not None and "softmax is not defined by a def or an assignment" in message


def test_dynamic_code_in_another_cell_costs_only_a_question_it_may_define() -> None:
    """exec in another question's cell is that question's business, unless this question's entry point exists only
    through it (what it rebinds at run time runs in this question's guarded child too)."""
    other = "globals()['helper'] = lambda x: x"
    assert _check(SOFTMAX, softmax_solution=CORRECT_SOFTMAX, added_1=other) is None
    assert "globals()" in (_check(SOFTMAX, softmax_solution="# later", added_1=other) or "")


def test_a_name_no_cell_defines_is_a_finding() -> None:
    code = "def softmax(input, dim):\n    return from_somewhere(input, dim)\n"
    assert "from_somewhere is defined in no cell" in (_check(SOFTMAX, softmax_solution=code) or "")


def test_a_star_import_resolves_the_names_it_brings() -> None:
    code = "from torch.nn.functional import *\ndef softmax(input, dim):\n    return log_softmax(input, dim).exp()\n"
    assert "torch.nn" in (_check(SOFTMAX, softmax_solution=code) or "")


def test_autograd_off_bans_autograd_even_unlisted() -> None:
    rules = Rules(entry="grad", autograd=False, cells=("grad_solution",))
    code = "def grad(x):\n    y = (x ** 2).sum()\n    y.backward()\n    return x.grad\n"
    assert ".backward()" in (_check(rules, grad_solution=code) or "")


def test_an_import_is_checked_where_what_it_binds_is_used() -> None:
    """An import that is never used uses nothing (a numpy-only cell that kept `import torch` is not banned for it);
    an import inside a function is resolved like any other."""
    assert _check(MSE, mse_solution="import torch\n" + CORRECT_MSE) is None
    local = "def softmax(input, dim):\n    import torch.nn.functional as F\n    return F.softmax(input, dim)\n"
    assert "torch.nn.functional.softmax" in (_check(SOFTMAX, softmax_solution=local) or "")


def test_the_static_check_and_the_guard_ban_the_same_autograd() -> None:
    from dlgrade.banned import AUTOGRAD_BANNED
    from dlgrade.sandbox import guard

    assert AUTOGRAD_BANNED[:len(guard.AUTOGRAD_BANNED)] == guard.AUTOGRAD_BANNED


def test_numpy_only_allows_numpy_the_standard_library_and_the_checker_only() -> None:
    fine = CORRECT_MSE + "\nimport math\ncheck('mse')\nprint(math.pi)\n"
    assert _check(MSE, mse_solution=fine) is None
    uses_torch = "def mse_loss(input, target, reduction='mean'):\n    return torch.mean((input - target) ** 2)\n"
    assert "torch is not available in this question" in (_check(MSE, mse_solution=uses_torch) or "")


@pytest.mark.parametrize("assignment", ["tensors", "losses", "backprop", "sgd", "networks", "training"])
def test_no_solution_or_known_mistake_is_flagged(assignment: str, tmp_path) -> None:  # noqa: ANN001
    loaded = assignments.load(assignment)
    for student in build(loaded, hostile=False):
        extraction = extract(student.write(tmp_path / student.student / f"{assignment}.ipynb"), loaded.source)
        for question in loaded.suite.questions:
            violation = find_banned(extraction.cells, question_rules(loaded.suite, question))
            assert violation is None, (student.student, question.name, violation.message())


def test_a_cycle_of_assignments_is_followed_without_end_and_still_finds_the_module() -> None:
    """A loop's ``d_p = buf; buf = d_p`` once recursed until Python's limit (a mutant of sgd_momentum found it: a
    RecursionError instead of a grade); a cycle is cut where it closes, and what it reaches is still found."""
    looping = CORRECT_MSE.replace("    loss = (input - target) ** 2\n",
                                  "    buf = input\n    d_p = target\n    for _ in range(2):\n"
                                  "        d_p = buf\n        buf = d_p\n    loss = (input - target) ** 2\n")
    assert _check(MSE, mse_solution=looping) is None
    hidden = CORRECT_SOFTMAX.replace("    e = torch.exp(shifted)\n",
                                     "    a = torch\n    b = a\n    a = b\n"
                                     "    e = b.nn.functional.softmax(shifted, dim)\n")
    assert "torch.nn" in _check(SOFTMAX, softmax_solution=hidden)


def test_an_alias_chain_too_long_to_follow_is_a_finding_not_a_pass() -> None:
    chain = "a0 = torch\n" + "".join(f"a{i + 1} = a{i}\n" for i in range(40))
    code = chain + CORRECT_SOFTMAX.replace("torch.exp(shifted)", "a40.special.softmax(shifted, dim)")
    found = _check(SOFTMAX, softmax_solution=code)
    assert found is not None and "steps deep" in found
