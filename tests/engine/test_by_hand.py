"""By hand must mean by hand: every way of reaching torch's own implementation from a from-scratch question scores 0
on that question (status banned, its feedback naming what was refused), and a correct student graded next in the
same sandbox still gets full marks.

Real course notebooks, a real sandbox. Each attack replaces one question's solution cell of the instructor's
notebook. It is graded twice: as the grader runs (the static check finds it first) and with the static check
switched off, which shows the sandbox refuses it at run time on its own: in a numpy-only question's child torch
does not exist; in a by-hand torch question's child (tensors' softmax) the guard refuses it for good.
"""

from __future__ import annotations

import re
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import pytest
from engine_helpers import with_cell

from dlgrade import assignments, grading
from dlgrade.grading import Grader, SubmissionResult
from dlgrade.sandbox.launcher import Sandbox


@dataclass(frozen=True)
class Attack:
    assignment: str
    question: str
    code: str


def _autograd_softmax(open_autograd: str) -> str:
    """A softmax read off autograd: d/dx log sum exp(x) = softmax(x), with autograd opened by ``open_autograd``."""
    return f"""
import operator
def softmax(input, dim):
    x = input.detach().clone().requires_grad_(True)
{open_autograd}
    lse = torch.log(torch.exp(x - x.max()).sum(dim, keepdim=True))
    return torch.autograd.grad(lse.sum(), x)[0]
"""


ATTACKS = {
    # lookups by a computed name
    "getattr_computed_name": Attack("tensors", "softmax", """
def softmax(input, dim):
    return getattr(torch, "soft" + "max")(input, dim)
"""),
    "importlib": Attack("losses", "mse", """
import importlib
def mse_loss(input, target, reduction="mean"):
    F = importlib.import_module("torch.nn.functional")
    return F.mse_loss(torch.from_numpy(input), torch.from_numpy(target), reduction=reduction).numpy()
"""),
    "sys_modules": Attack("losses", "mse", """
import sys
def mse_loss(input, target, reduction="mean"):
    F = sys.modules["torch"].nn.functional
    t = sys.modules["torch"].from_numpy
    return F.mse_loss(t(input), t(target), reduction=reduction).numpy()
"""),
    "eval": Attack("losses", "mse", """
def mse_loss(input, target, reduction="mean"):
    F = eval("torch.nn.functional")
    return F.mse_loss(torch.from_numpy(input), torch.from_numpy(target), reduction=reduction).numpy()
"""),
    "exec": Attack("losses", "mse", """
def mse_loss(input, target, reduction="mean"):
    scope = {}
    exec("import torch.nn.functional as F", scope)
    return scope["F"].mse_loss(torch.from_numpy(input), torch.from_numpy(target), reduction=reduction).numpy()
"""),
    "compile": Attack("backprop", "linear_backward", """
def linear_backward(input, weight, grad_output):
    scope = {"np": np}
    code = compile("import torch\\nx = torch.from_numpy(x0).requires_grad_()\\n"
                   "w = torch.from_numpy(w0).requires_grad_()\\n"
                   "b = torch.zeros(len(w0), dtype=torch.float64, requires_grad=True)\\n"
                   "(x @ w.T + b).backward(torch.from_numpy(g0))", "<mine>", "exec")
    scope.update(x0=input, w0=weight, g0=grad_output)
    eval(code, scope)
    return scope["x"].grad.numpy(), scope["w"].grad.numpy(), scope["b"].grad.numpy()
"""),
    "dunder_import": Attack("losses", "l1", """
def l1_loss(input, target, reduction="mean"):
    F = __import__("torch.nn.functional", fromlist=["l1_loss"])
    return F.l1_loss(torch.from_numpy(input), torch.from_numpy(target), reduction=reduction).numpy()
"""),
    "vars_lookup": Attack("tensors", "softmax", """
def softmax(input, dim):
    return vars(torch)["soft" + "max"](input, dim)
"""),
    # definitions the old check did not look at
    "defined_in_an_if": Attack("tensors", "softmax", """
if True:
    def softmax(input, dim):
        return torch.softmax(input, dim)
"""),
    "defined_through_globals": Attack("tensors", "log_softmax", """
globals()["log_" + "softmax"] = lambda input, dim: torch.log_softmax(input, dim)
"""),
    "autograd_at_cell_run_time": Attack("backprop", "scalar_chain_rule", """
import torch
x = torch.tensor(5.0, requires_grad=True)
y1 = torch.relu(3 * x + 2)
y2 = y1 + 1
y3 = -0.5 * y2 + 4
loss = (y3 - 2) ** 2
g3, g2, g1, gx = torch.autograd.grad(loss, [y3, y2, y1, x])
backward_values = (g3.item(), g2.item(), g1.item(), gx.item())
"""),
    # torch's implementation by another door
    "torch_ops_aten": Attack("tensors", "softmax", """
def softmax(input, dim):
    return torch.ops.aten._softmax(input, dim, False)
"""),
    "categorical_probs": Attack("tensors", "softmax", """
def softmax(input, dim):
    probs = torch.distributions.Categorical(logits=input.movedim(dim, -1)).probs
    return probs.movedim(-1, dim)
"""),
    "func_vjp": Attack("sgd", "l1_grad", """
import torch
def l1_penalty_grad(params, lam):
    weights = {k: torch.from_numpy(np.asarray(w, dtype=np.float64)) for k, w in params.items()}
    n = sum(w.numel() for k, w in weights.items() if "bias" not in k)
    def penalty(ws):
        return lam / n * sum(w.abs().sum() for k, w in ws.items() if "bias" not in k)
    (grads,) = torch.func.vjp(penalty, weights)[1](torch.tensor(1.0, dtype=torch.float64))
    return {k: g.numpy() for k, g in grads.items()}
"""),
    "func_vjp_of_logsumexp": Attack("tensors", "softmax", """
def softmax(input, dim):
    lse = lambda x: torch.log(torch.exp(x - x.max()).sum(dim, keepdim=True))
    return torch.func.vjp(lse, input)[1](torch.ones_like(lse(input)))[0]
"""),
    "enable_grad_through_methodcaller": Attack("tensors", "softmax", _autograd_softmax(
        "    operator.methodcaller('enable_grad')(torch).__enter__()")),
    "set_grad_enabled_through_methodcaller": Attack("tensors", "softmax", _autograd_softmax(
        "    operator.methodcaller('set_grad_enabled', True)(torch)")),
    "autograd_functional": Attack("tensors", "softmax", """
def softmax(input, dim):
    lse = lambda x: torch.log(torch.exp(x - x.max()).sum(dim, keepdim=True))
    return torch.autograd.functional.vjp(lse, input, torch.ones_like(lse(input)))[1]
"""),
    "tensor_backward_unbound": Attack("tensors", "softmax", """
def softmax(input, dim):
    x = input.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        m = x.max(dim, keepdim=True).values.detach()
        lse = torch.log(torch.exp(x - m).sum(dim, keepdim=True))
    torch.Tensor.backward(lse.sum())
    return x.grad
"""),
    "optim_fetched_by_star_import": Attack("sgd", "gd_step", """
from torch import *
def gd_step(theta, grad, lr):
    p = nn.Parameter(from_numpy(np.array(theta, dtype=np.float64)))
    p.grad = from_numpy(np.array(grad, dtype=np.float64))
    optim.SGD([p], lr=lr).step()
    return p.detach().numpy()
"""),
    "optim_fetched_through_the_module_dict": Attack("sgd", "gd_step", """
import torch as t
def gd_step(theta, grad, lr):
    p = t.nn.Parameter(t.from_numpy(np.array(theta, dtype=np.float64)))
    p.grad = t.from_numpy(np.array(grad, dtype=np.float64))
    t.__dict__["op" + "tim"].SGD([p], lr=lr).step()
    return p.detach().numpy()
"""),
    "builtins_module": Attack("losses", "mse", """
import builtins
def mse_loss(input, target, reduction="mean"):
    F = builtins.__import__("torch.nn.functional", fromlist=["mse_loss"])
    return F.mse_loss(F.torch.from_numpy(input), F.torch.from_numpy(target), reduction=reduction).numpy()
"""),
}

# Ways around a guard once it is in place: only the run-time layer can answer these (the static check would
# refuse them first), so they are graded with the static check switched off.
UNDO_ATTACKS = {
    "saved_reference_in_torch_fx": _autograd_softmax(
        "    import torch.fx.node\n    torch.fx.node._side_effectful_need_to_be_preserved_pre_dispatch[0](True)"),
    "gc_finds_the_original": _autograd_softmax(
        "    import gc\n"
        "    [f for f in gc.get_objects() if getattr(f, '__name__', '') == '_set_grad_enabled'][0](True)"),
    "ctypes": """
import ctypes
def softmax(input, dim):
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(input))
    return torch.softmax(input, dim)
""",
    "reload_restores_the_module": """
import importlib
import torch.nn.functional as F
def softmax(input, dim):
    return importlib.reload(F).softmax(input, dim)
""",
    "reimport_after_deleting_it": """
import sys
def softmax(input, dim):
    del sys.modules["torch.nn.functional"]
    import torch.nn.functional as F
    return F.softmax(input, dim)
""",
    "inference_mode_off": _autograd_softmax("    torch.inference_mode(False).__enter__()"),
    "inference_mode_type_found_by_subclasses": _autograd_softmax(
        "    walk, seen = [object], set()\n"
        "    while walk:\n"
        "        k = walk.pop()\n"
        "        if k.__name__ == '_InferenceMode':\n"
        "            k(False)\n"
        "        walk += [s for s in type.__subclasses__(k) if s not in seen and not seen.add(s)]"),
    "dispatch_key_tls": _autograd_softmax(
        "    torch._C._dispatch_tls_set_dispatch_key_excluded(torch._C.DispatchKey.AutogradCPU, False)"),
    "jit_operator_sets_grad_mode": """
def softmax(input, dim):
    torch.ops.aten.set_grad_enabled(True)
    x = input.detach().clone().requires_grad_(True)
    lse = torch.log(torch.exp(x - x.max()).sum(dim, keepdim=True))
    (g,) = torch.autograd.grad(lse.sum(), x)
    return g
""",
    "functorch_grad_level": """
def softmax(input, dim):
    level = torch._C._functorch._grad_increment_nesting()
    return input
""",
    "thread_with_fresh_autograd": """
import threading
def softmax(input, dim):
    out = []
    def work():
        x = input.detach().clone().requires_grad_(True)
        torch.log(torch.exp(x - x.max()).sum(dim, keepdim=True)).sum().backward()
        out.append(x.grad)
    worker = threading.Thread(target=work)
    worker.start()
    worker.join()
    return out[0]
""",
    "fresh_interpreter": """
import subprocess, sys
def softmax(input, dim):
    done = subprocess.run([sys.executable, "-c", "import torch; print(torch.softmax(torch.tensor([1., 2.]), 0))"],
                          capture_output=True, text=True)
    return input
""",
    "compiled_decomposition": """
def softmax(input, dim):
    return torch.compile(lambda x: torch.softmax(x, dim), backend="eager")(input)
""",
    "private_reference_implementation": """
import torch._refs
def softmax(input, dim):
    return torch._refs.softmax(input, dim)
""",
}

# (attack, what its failure says): torch and scipy are not in a numpy-only question's sandbox at all
NUMPY_ONLY_UNDO = {
    # the base interpreter's own site-packages hold scipy (the sandbox shows that directory empty)
    "scipy_from_another_site_directory": (Attack("tensors", "entropy", f"""
import sys
sys.path.append({sysconfig.get_paths(vars={"base": __import__("sys").base_prefix})["purelib"]!r})
def entropy(p, dim=-1, base=None):
    from scipy.stats import entropy as scipy_entropy
    return scipy_entropy(p, base=base, axis=dim)
"""), "ForbiddenModule: scipy is not available in this question"),
    # torch's own files, by their path on the host
    "torch_loaded_from_its_files": (Attack("losses", "mse", f"""
import importlib.util
def mse_loss(input, target, reduction="mean"):
    spec = importlib.util.spec_from_file_location("torch", {str(Path(__import__("torch").__file__))!r})
    torch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(torch)
    return torch.nn.functional.mse_loss(torch.from_numpy(input), torch.from_numpy(target), reduction=reduction)
"""), "No such file or directory"),
}

# Whose submissions these are: backprop's scalar questions and sgd's worked update are on each student's own
# numbers, graded only for a named student (the instructor's solution computes from my_numbers()).
STUDENT = "s1234567"

SOLUTION_CELL = {q.name: q.cell for name in ("tensors", "losses", "backprop", "sgd")
                 for q in assignments.load(name).suite.questions}


@pytest.fixture(scope="module")
def graders(sandbox: Sandbox) -> dict[str, Grader]:
    return {name: Grader(assignments.load(name), sandbox, secret=b"by-hand-tests")
            for name in ("tensors", "losses", "backprop", "sgd")}


@pytest.fixture
def without_static_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grading, "find_banned", lambda *args, **kwargs: None)


def _grade(grader: Grader, question: str, code: str, tmp_path: Path) -> SubmissionResult:
    path = with_cell(grader.assignment.source, SOLUTION_CELL[question], code, tmp_path / "attack.ipynb")
    return grader.grade(path, STUDENT)


def assert_refused(grader: Grader, result: SubmissionResult, question: str, at_run_time: bool,
                   says: str | None = None) -> None:
    """The attacked question scores 0, banned, saying what was refused (or, ``says``, how it failed); every
    question that does not use it keeps its points; and the next, correct student in the same sandbox gets full
    marks."""
    suite = grader.assignment.suite
    attacked = next(q for q in result.questions if q.name == question)
    if says is not None:
        assert attacked.score == 0.0 and says in attacked.feedback, attacked.feedback
    else:
        assert (attacked.score, attacked.status) == (0.0, "banned"), attacked.feedback
    if at_run_time and says is None:
        assert "ForbiddenAPI: " in attacked.feedback or "ForbiddenModule: " in attacked.feedback, attacked.feedback
    others = [q for q in result.questions if q.name != question and question not in suite.question(q.name).uses]
    assert [(q.name, q.score) for q in others] == [(q.name, q.max_score) for q in others]
    correct = grader.grade(grader.assignment.source, STUDENT)
    assert correct.score == correct.max_score


@pytest.mark.parametrize("at_run_time", [False, True], ids=["static_check", "at_run_time"])
@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_banned(graders: dict[str, Grader], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str,
                          at_run_time: bool) -> None:
    """As graded (the static check finds it), and with the static check off (the sandbox refuses it)."""
    if at_run_time:
        monkeypatch.setattr(grading, "find_banned", lambda *args, **kwargs: None)
    attack = ATTACKS[name]
    grader = graders[attack.assignment]
    assert_refused(grader, _grade(grader, attack.question, attack.code, tmp_path), attack.question, at_run_time)


@pytest.mark.parametrize("name", sorted(UNDO_ATTACKS))
def test_the_guard_cannot_be_undone(graders: dict[str, Grader], tmp_path: Path, without_static_check: None,
                                    name: str) -> None:
    grader = graders["tensors"]
    assert_refused(grader, _grade(grader, "softmax", UNDO_ATTACKS[name], tmp_path), "softmax", True)


@pytest.mark.parametrize("name", sorted(NUMPY_ONLY_UNDO))
def test_a_numpy_only_question_has_no_torch_to_find(graders: dict[str, Grader], tmp_path: Path,
                                                    without_static_check: None, name: str) -> None:
    attack, says = NUMPY_ONLY_UNDO[name]
    grader = graders[attack.assignment]
    assert_refused(grader, _grade(grader, attack.question, attack.code, tmp_path), attack.question, True, says)


def test_a_local_variable_is_not_a_same_named_global_of_another_cell(graders: dict[str, Grader],
                                                                    tmp_path: Path) -> None:
    """The loss functions keep their loss in a local `loss`; a top-level `loss` made with torch.nn in the (open)
    loss_inputs cell is another name. The old check followed the local to it and scored correct work 0."""
    grader = graders["losses"]
    source = _solution_source(grader, "loss_inputs_solution") + "\n\nloss = nn.CrossEntropyLoss()\n"
    result = _grade(grader, "loss_inputs", source, tmp_path)
    assert result.score == result.max_score, [(q.name, q.feedback) for q in result.questions if q.score < q.max_score]


def test_torch_is_absent_for_a_numpy_only_question(graders: dict[str, Grader], tmp_path: Path,
                                                   without_static_check: None) -> None:
    """In the numpy-only child `import torch` gives a stub whose every use says why it fails: the question is
    banned with that reason, while the open questions, answered by the torch child, keep torch."""
    grader = graders["losses"]
    code = """
def mse_loss(input, target, reduction="mean"):
    return torch.nn.functional.mse_loss(torch.from_numpy(input), torch.from_numpy(target), reduction=reduction)
"""
    result = _grade(grader, "mse", code, tmp_path)
    mse = next(q for q in result.questions if q.name == "mse")
    assert re.search(r"ForbiddenModule: torch\.\w+ is not available in this question: it is graded with numpy",
                     mse.feedback), mse.feedback
    torch_questions = [q for q in result.questions if q.name in ("loss_inputs", "exponential_nll", "weibull_nll")]
    assert [q.score for q in torch_questions] == [q.max_score for q in torch_questions]


def _solution_source(grader: Grader, cell: str) -> str:
    import nbformat

    notebook = nbformat.read(grader.assignment.source, as_version=4)
    return next(c.source for c in notebook.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == cell)


def _as_script(grader: Grader, replace: dict[str, str] | None = None, top: str = "") -> str:
    """The instructor's notebook as a student's .py: its setup and solution cells one after another (``replace``:
    a solution cell's code by grade_id), ``top`` first."""
    import nbformat

    notebook = nbformat.read(grader.assignment.source, as_version=4)
    pieces = [top] if top else []
    for cell in notebook.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type == "code" and not (meta.get("grade") and not meta.get("solution")):
            pieces.append((replace or {}).get(meta.get("grade_id"), cell.source))
    return "\n\n".join(pieces) + "\n"


@pytest.mark.parametrize("assignment", ["losses", "tensors"])
def test_a_script_is_graded_like_the_notebook_it_was_written_from(graders: dict[str, Grader], tmp_path: Path,
                                                                  assignment: str) -> None:
    """A .py holding every solution, torch ones beside numpy-only ones, and torch used on its top line: full marks.
    The whole file was once one cell owned by every question, so a numpy-only question was banned for a torch
    question's function, and in the numpy-only child `torch.manual_seed(0)` ended the file before its functions."""
    grader = graders[assignment]
    path = tmp_path / f"{assignment}.py"
    many = "".join(f"C{i} = {i}\n" for i in range(300))  # more statements than a cap once allowed
    top = "import torch; torch.manual_seed(0); import math\n" + many + "x0 = torch.zeros(3)\n"
    path.write_text("\ufeff" + _as_script(grader, top=top), encoding="utf-8")  # a byte-order mark, as some editors
    result = grader.grade(path, STUDENT)
    assert result.score == result.max_score, [(q.name, q.feedback) for q in result.questions
                                              if q.score < q.max_score]


def test_a_script_still_bans_what_its_own_function_uses(graders: dict[str, Grader], tmp_path: Path) -> None:
    """In a .py a question owns its own definitions: torch.nn.functional inside mse_loss is still found (and only
    mse pays for it)."""
    grader = graders["losses"]
    attack = ATTACKS["importlib"]
    path = tmp_path / "losses.py"
    path.write_text(_as_script(grader, {SOLUTION_CELL["mse"]: attack.code}))
    assert_refused(grader, grader.grade(path, STUDENT), "mse", at_run_time=False)


def test_a_cell_that_names_torch_beside_what_a_numpy_question_uses_runs_to_its_end(graders: dict[str, Grader],
                                                                                 tmp_path: Path) -> None:
    """Students import everything in one cell: `import torch.nn as nn` then `import math`. In the numpy-only child
    torch does not exist, and the cell stopped at that line: math undefined, a correct mse scored 0 while check()
    passed in Jupyter. Naming torch (an import, a model made from it, a subclass of nn.Module) is refused only
    where it is used, and each refused statement skips itself alone."""
    import nbformat

    grader = graders["losses"]
    notebook = nbformat.read(grader.assignment.source, as_version=4)
    imports = ("import torch.nn as nn\nfrom torch import optim\nimport torch.nn.functional as F\n"
               "criterion = nn.MSELoss()\nclass Net(nn.Module):\n    pass\nimport math\n")
    own = next(i for i, c in enumerate(notebook.cells)
               if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == SOLUTION_CELL["mse"])
    notebook.cells.insert(own, nbformat.v4.new_code_cell(imports))
    cell = notebook.cells[own + 1]
    cell.source = "import torch.nn as nn  # kept, unused\n" + cell.source.replace(
        "np.mean(", "(lambda values: math.fsum(np.ravel(values)) / np.size(values))(")
    assert "math.fsum" in cell.source
    path = tmp_path / "losses.ipynb"
    nbformat.write(notebook, path)
    result = grader.grade(path, STUDENT)
    assert result.score == result.max_score, [(q.name, q.feedback) for q in result.questions
                                              if q.score < q.max_score]


def test_a_numpy_questions_own_error_is_not_blamed_on_a_line_its_world_refused(graders: dict[str, Grader],
                                                                             tmp_path: Path) -> None:
    """mse_loss raising a KeyError was told that loss_inputs' cell (torch, fine where it is graded) 'raised
    ForbiddenModule ... a name this question needs may never have been defined'."""
    grader = graders["losses"]
    code = _solution_source(grader, SOLUTION_CELL["mse"]).replace("    loss = ", "    {}['x']\n    loss = ", 1)
    own = _solution_source(grader, SOLUTION_CELL["loss_inputs"])
    result = _grade(grader, "loss_inputs", own + "\nprobe = torch.nn.MSELoss()\n", tmp_path)  # (its own world)
    assert result.score == result.max_score
    path = with_cell(grader.assignment.source, SOLUTION_CELL["mse"], code, tmp_path / "a.ipynb")
    path = with_cell(path, SOLUTION_CELL["loss_inputs"], "import torch.nn as nn\nnn.MSELoss()\n" + own,
                     tmp_path / "a.ipynb")
    mse = next(q for q in grader.grade(path, STUDENT).questions if q.name == "mse")
    assert "KeyError" in mse.feedback and "Forbidden" not in mse.feedback and "never have been" not in mse.feedback


def test_a_numerical_gradient_that_wrecks_the_callers_x_loses_its_points_and_rounding_does_not(
        graders: dict[str, Grader], tmp_path: Path) -> None:
    """The harness handed the student a copy of x, so one that zeroed x after computing a right gradient kept full
    marks though the notebook says not to touch the caller's x; x now comes back to the grader, within rounding
    (x[i] += eps; ...; x[i] -= eps restores x only to rounding)."""
    grader = graders["backprop"]
    cell = SOLUTION_CELL["numerical_gradient"]
    clobbers = _solution_source(grader, cell).replace("    x = np.array(x, dtype=np.float64)", "    x = np.asarray(x)")
    clobbers = clobbers.replace("    return grad", "    x *= 0.0\n    return grad")
    result = grader.grade(with_cell(grader.assignment.source, cell, clobbers, tmp_path / "a.ipynb"), STUDENT)
    question = next(q for q in result.questions if q.name == "numerical_gradient")
    assert question.score == 0 and "changed an array it was given in place" in question.feedback, question.feedback
    rounding = """
def numerical_gradient(f, x, eps=1e-6):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += eps
        f_plus = f(x)
        x[i] -= 2 * eps
        f_minus = f(x)
        x[i] += eps
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad
"""
    result = grader.grade(with_cell(grader.assignment.source, cell, rounding, tmp_path / "b.ipynb"), STUDENT)
    question = next(q for q in result.questions if q.name == "numerical_gradient")
    assert question.score == question.max_score, question.feedback


def test_a_statement_the_guard_refuses_skips_itself_alone_in_a_guarded_child(graders: dict[str, Grader],
                                                                             tmp_path: Path) -> None:
    """In tensors' guarded child (softmax by hand) a scratch line calling torch.softmax is refused; the lines after
    it, on the same line too, still run, as they do in Jupyter: a name softmax needs is defined."""
    grader = graders["tensors"]
    code = _solution_source(grader, SOLUTION_CELL["softmax"]).replace(
        "def softmax(input, dim):", "def softmax(input, dim):\n    assert SCALE == 1.0") + \
        "\n\nprobe = torch.softmax(torch.zeros(3), 0); SCALE = 1.0\n"
    result = grader.grade(with_cell(grader.assignment.source, SOLUTION_CELL["softmax"], code,
                                    tmp_path / "a.ipynb"), STUDENT)
    softmax = next(q for q in result.questions if q.name == "softmax")
    assert softmax.status == "banned"  # its own cell called torch.softmax: banned, as before
    scratch = "probe = torch.softmax(torch.zeros(3), 0); SCALE = 1.0\n"
    notebook = with_cell(grader.assignment.source, SOLUTION_CELL["softmax"],
                         code.split("\n\nprobe")[0] + "\n", tmp_path / "b.ipynb")
    import nbformat

    loaded = nbformat.read(notebook, as_version=4)
    loaded.cells.insert(2, nbformat.v4.new_code_cell(scratch))
    nbformat.write(loaded, notebook)
    result = grader.grade(notebook, STUDENT)
    assert result.score == result.max_score, [(q.name, q.feedback) for q in result.questions
                                              if q.score < q.max_score]
