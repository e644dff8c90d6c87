"""The release pipeline on the toy assignment: nbgrader's student version, the post-processing steps one by one,
the baked public checks, check() in a real Jupyter kernel, byte-stable re-releases and the CI currency check."""

from __future__ import annotations

import ast
import copy
import importlib.util
import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from dlgrade.assignments import Assignment, grade_cell_points
from dlgrade.checking import local
from dlgrade.release import (
    ReleaseError,
    bake_question,
    checks_json,
    clear_outputs,
    ensure_no_solutions,
    neutralize_top_level_stubs,
    refresh_checksums,
    release,
    stable_cell_ids,
    templates_current,
)
from dlgrade.suite import Case, Question, TensorArg

TOY = Path(__file__).resolve().parent / "fixtures" / "toy"
CHECKING = Path(local.__file__).resolve().parent


def _toy() -> Assignment:
    spec = importlib.util.spec_from_file_location("_dlgrade_toy_suite", TOY / "toy_suite.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = TOY / "toy.ipynb"
    return Assignment("toy", source, module.SUITE, grade_cell_points(nbformat.read(source, as_version=4)), TOY)


@pytest.fixture(scope="module")
def toy() -> Assignment:
    return _toy()


@pytest.fixture(scope="module")
def released(toy: Assignment, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The toy released once for the module (nbgrader's generate_assignment takes seconds)."""
    return release(toy, tmp_path_factory.mktemp("templates"))


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _by_grade_id(notebook: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    return {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells if "nbgrader" in c.metadata}


# ---- the post-processing steps, each alone -------------------------------------------------------------


def _nb(*sources: str, markdown: str = "") -> nbformat.NotebookNode:
    cells = [new_code_cell(source, id=f"c{i}") for i, source in enumerate(sources)]
    if markdown:
        cells.append(new_markdown_cell(markdown, id="md"))
    return new_notebook(cells=cells)


def test_top_level_stub_becomes_a_comment_naming_the_variable() -> None:
    notebook = _nb("dl_dx = None\n# YOUR CODE HERE\nraise NotImplementedError()",
                   "def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError()",
                   "# YOUR CODE HERE\nraise NotImplementedError()",
                   "y = None\nloss = None  # the loss\n# YOUR CODE HERE\nraise NotImplementedError()\nout = (y, loss)",
                   markdown="raise NotImplementedError()")
    out = neutralize_top_level_stubs(notebook)
    assert out.cells[0].source == ("dl_dx = None\n# YOUR CODE HERE\n"
                                   "# Replace the None above with your answer: dl_dx = ...")
    assert out.cells[1].source == notebook.cells[1].source  # a function body keeps its stub: "not implemented"
    assert "raise" not in out.cells[2].source and out.cells[2].source.startswith("# YOUR CODE HERE\n#")
    assert out.cells[3].source.splitlines()[3] == "# Replace the Nones above with your answers: y, loss"
    assert out.cells[4].source == "raise NotImplementedError()"  # markdown is text
    assert notebook.cells[0].source.endswith("raise NotImplementedError()")  # the input is not modified
    for cell in out.cells[:4]:
        compile(cell.source, "cell", "exec")
    namespace: dict[str, Any] = {}
    exec(out.cells[0].source, namespace)
    assert namespace["dl_dx"] is None


def test_clear_outputs_leaves_no_run_state() -> None:
    notebook = _nb("print(1)")
    cell = notebook.cells[0]
    cell.execution_count = 7
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\n")]
    cell.metadata.update({"execution": {"iopub.status.busy": "2024-01-01"}, "scrolled": True, "tags": ["keep"]})
    out = clear_outputs(notebook)
    assert out.cells[0].outputs == [] and out.cells[0].execution_count is None
    assert out.cells[0].metadata == {"tags": ["keep"]}
    assert cell.execution_count == 7


def test_stable_cell_ids_keep_given_ids_and_invent_none_at_random() -> None:
    notebook = _nb("a = 1", "b = 2", "c = 3", "d = 4")
    notebook.nbformat_minor = 4
    del notebook.cells[1]["id"]
    notebook.cells[1].metadata["nbgrader"] = {"grade_id": "q1 solution"}
    notebook.cells[3]["id"] = "c0"  # a pasted cell: nbformat would give it a random id
    first, second = stable_cell_ids(notebook), stable_cell_ids(notebook)
    assert [c.id for c in first.cells] == ["c0", "q1-solution", "c2", "cell-3"] == [c.id for c in second.cells]
    assert first.nbformat_minor == 5
    nbformat.validate(first)


def test_refresh_checksums_matches_nbgrader_on_changed_cells() -> None:
    from nbgrader.utils import compute_checksum

    notebook = _nb("x = None\n# YOUR CODE HERE\nraise NotImplementedError()")
    cell = notebook.cells[0]
    cell.metadata["nbgrader"] = {"grade": False, "solution": True, "locked": False, "grade_id": "x_solution",
                                 "schema_version": 3}
    cell.metadata["nbgrader"]["checksum"] = compute_checksum(cell)
    changed = refresh_checksums(neutralize_top_level_stubs(notebook))
    assert changed.cells[0].metadata["nbgrader"]["checksum"] == compute_checksum(changed.cells[0])
    assert changed.cells[0].metadata["nbgrader"]["checksum"] != cell.metadata["nbgrader"]["checksum"]


def test_ensure_no_solutions_refuses_a_leftover_marker() -> None:
    ensure_no_solutions(_nb("x = 1"))
    with pytest.raises(ReleaseError, match="BEGIN SOLUTION"):
        ensure_no_solutions(_nb("### BEGIN SOLUTION\nx = 1\n### END SOLUTION"))
    with pytest.raises(ReleaseError, match="HIDDEN TESTS"):
        ensure_no_solutions(_nb("### BEGIN HIDDEN TESTS\nassert x\n### END HIDDEN TESTS"))


# ---- the value codec -------------------------------------------------------------------------------------


def test_codec_round_trips_plain_values_through_json() -> None:
    value = {"a": [np.array([[1.5, np.nan], [np.inf, -np.inf]]), (1, "s", None, True)],
             "t": TensorArg(np.arange(3, dtype=np.float32)), "i": np.int32(4), "f": float("-inf"),
             "b": np.array([True, False]), "e": np.zeros((0, 2))}
    data = json.loads(json.dumps(local.encode(value), allow_nan=False))
    back = local.decode(data, tensors=False)
    np.testing.assert_array_equal(back["a"][0], value["a"][0])
    assert back["a"][1] == (1, "s", None, True)
    assert back["t"].dtype == np.float32 and back["t"].tolist() == [0.0, 1.0, 2.0]
    assert type(back["i"]) is np.int32 and back["f"] == -np.inf
    assert back["b"].dtype == bool and back["e"].shape == (0, 2)
    tensor = local.decode(local.encode(TensorArg(np.ones(2))))
    assert type(tensor).__name__ == "Tensor"
    assert local.encode(1 / 3, digits=13) == 0.3333333333333
    for bad in (object(), {1: 2}, np.array(["a"]), np.zeros(3, dtype=complex)):
        with pytest.raises(local.Unbakeable):
            local.encode(bad)


def test_baking_marks_what_only_the_grader_can_check() -> None:
    def identity(x: Any) -> Any:
        return x

    def question(**fields: Any) -> Question:
        return Question(**{"name": "q", "cell": "q_solution", "entry": "f", "reference": identity} | fields)

    odd = bake_question(question(public=lambda: [Case((object(),), label="an object"), Case((np.ones(2),)),
                                                 Case(({1: 2},))]))
    assert odd["cases"][0] == {"label": "an object", "grader_only": "its inputs are not plain data (a "
                                                                    "builtins.object)"}
    assert odd["cases"][1]["expected"] == {"array": [1.0, 1.0], "dtype": "float64", "shape": [2]}
    assert odd["cases"][2]["grader_only"].startswith("its inputs are not plain data (a dict with non-string")
    unplain = bake_question(question(reference=lambda x: range(x), public=lambda: [Case((3,))]))
    assert unplain["cases"][0]["grader_only"] == "its expected answer is a builtins.range"
    # a judged question without an in-kernel twin: its public cases are baked for check() to run, each with the
    # form of the answer (an array's shape and kind), never a value
    judged = bake_question(question(public=lambda: [Case((1,))], judge=lambda case, answer: None))
    assert judged == {"entry": "f", "kind": "function",
                      "grader_only": "its answer is judged by the grader, not compared with one expected value",
                      "judged": True, "harness": None, "autograd": True, "hint": "",
                      "cases": [{"label": "1", "args": [1], "kwargs": {"dict": {}},
                                 "form": {"shape": [], "kind": "i"}}]}
    with pytest.raises(ReleaseError, match="the reference fails on public case"):
        bake_question(question(reference=lambda x: 1 / x, public=lambda: [Case((0,))]))


# ---- the released folder ---------------------------------------------------------------------------------


def test_released_folder_layout(released: Path) -> None:
    assert released.name == "toy"
    modules = sorted(p.name for p in CHECKING.glob("*.py"))
    assert sorted(_files(released)) == sorted(["toy.ipynb", "dlcheck/checks.json"] +
                                              [f"dlcheck/{name}" for name in modules])
    for name in modules:  # one source of truth: the grader's comparison code, byte for byte
        assert (released / "dlcheck" / name).read_bytes() == (CHECKING / name).read_bytes()


def test_dlcheck_needs_only_numpy_torch_and_the_standard_library(released: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"numpy", "torch", "__future__"}
    for path in (released / "dlcheck").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                assert {alias.name.split(".")[0] for alias in node.names} <= allowed, path.name
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                assert node.module.split(".")[0] in allowed, path.name


def test_released_notebook_has_no_solutions_and_keeps_grade_cells(released: Path, toy: Assignment) -> None:
    text = (released / "toy.ipynb").read_text()
    assert "BEGIN SOLUTION" not in text and "END SOLUTION" not in text
    assert "toy-solution-text" not in text and "17.25" not in text and "torch.clamp" not in text
    notebook = nbformat.read(released / "toy.ipynb", as_version=4)
    nbformat.validate(notebook)
    cells = _by_grade_id(notebook)
    assert grade_cell_points(notebook) == toy.points == {"sq_error": 2.0, "relu": 1.0, "chain_rule": 1.0,
                                                         "forward": 1.0, "accumulator": 1.0}
    for name in toy.points:
        meta = cells[name].metadata
        assert cells[name].source == f'check("{name}")'
        assert meta["nbgrader"]["grade"] and meta["nbgrader"]["locked"] and meta["editable"] is False
        assert len(meta["nbgrader"]["checksum"]) == 32
    assert cells["sq_error_solution"].metadata["nbgrader"]["solution"]
    assert "def squared_error(pred, target, reduction=\"mean\"):" in cells["sq_error_solution"].source
    assert "    raise NotImplementedError()" in cells["sq_error_solution"].source
    assert "raise NotImplementedError" not in cells["chain_rule_solution"].source
    assert cells["forward_solution"].source == ("y = None\nloss = None\n# YOUR CODE HERE\n"
                                                "# Replace the Nones above with your answers: y, loss\n"
                                                "forward_values = (y, loss)")
    assert cells["setup"].source.endswith("from dlcheck import check")
    assert [c.id for c in notebook.cells] == [c.id for c in nbformat.read(toy.source, as_version=4).cells]
    assert all(c.outputs == [] and c.execution_count is None for c in notebook.cells if c.cell_type == "code")


def test_checks_json_bakes_public_cases_and_the_mistakes_they_reveal(released: Path) -> None:
    checks = json.loads((released / "dlcheck" / "checks.json").read_text())
    questions = checks["questions"]
    assert checks["assignment"] == "toy" and sorted(questions) == ["accumulator", "chain_rule", "forward", "relu",
                                                                              "sq_error"]
    accumulator = questions["accumulator"]
    assert (accumulator["entry"], accumulator["harness"]) == ("Accumulator", "run_accumulator")
    assert "grader_only" not in accumulator and accumulator["cases"][0]["expected"] is not None
    assert "def run_accumulator" in checks["harness_source"]  # public helper code: check() runs it too
    sq = questions["sq_error"]
    assert (sq["entry"], sq["kind"], sq["rtol"], sq["atol"], sq["dtype"]) == ("squared_error", "function", 1e-7,
                                                                               1e-10, "float")
    assert [m["name"] for m in sq["mistakes"]] == ["forgot_mean", "absolute_error", "not_squared"]
    mean, total, single = sq["cases"]
    assert mean["kwargs"] == {"dict": {"reduction": "mean"}} and mean["expected"] == 1.416666666667
    assert mean["args"][0] == {"array": [0.5, 1.0, 2.0], "dtype": "float64", "shape": [3]}
    # a mistake is baked only where its output differs from the expected one
    assert [m["name"] for m in mean["mistakes"]] == ["forgot_mean", "absolute_error", "not_squared"]
    assert [m["name"] for m in total["mistakes"]] == ["absolute_error", "not_squared"]
    assert [m["name"] for m in single["mistakes"]] == ["absolute_error", "not_squared"]
    assert next(m for m in mean["mistakes"] if m["name"] == "forgot_mean")["output"] == 4.25
    relu = questions["relu"]
    assert relu["autograd"] is False and relu["cases"][0]["args"][0]["tensor"] is True
    # a hand-computed variable's one public case is its answer: only its form is baked, never a value
    chain, forward = questions["chain_rule"], questions["forward"]
    assert chain["form"] == "number" and "cases" not in chain and "mistakes" not in chain
    assert forward["form"] == {"tuple": ["number", "number"]} and forward["output_names"] == ["y", "loss"]
    assert "hand-computed" in chain["grader_only"] and "cases" not in forward


def test_checks_json_never_holds_a_hand_computed_answer_or_its_mistakes(released: Path) -> None:
    questions = json.loads((released / "dlcheck" / "checks.json").read_text())["questions"]

    def numbers(data: Any) -> list[Any]:
        if isinstance(data, dict):
            return [n for item in data.values() for n in numbers(item)]
        if isinstance(data, list):
            return [n for item in data for n in numbers(item)]
        return [data] if isinstance(data, (int, float)) and not isinstance(data, bool) else []

    assert numbers(questions["chain_rule"]) == [] and numbers(questions["forward"]) == []
    assert numbers(questions["sq_error"])  # a function question's public cases do carry numbers


def test_release_holds_no_hidden_case_and_no_source_code(released: Path, toy: Assignment) -> None:
    text = (released / "dlcheck" / "checks.json").read_text()
    everything = "\n".join(data.decode() for data in _files(released).values())
    for question in toy.suite.questions:
        for case in question.hidden(np.random.default_rng(0)):
            for arg in case.args:
                array = np.asarray(arg.array if isinstance(arg, TensorArg) else arg, dtype=float)
                assert not any(repr(float(x)) in text for x in array.ravel()), question.name
    for marker in ("toy-reference-body", "toy-mistake-source", "np.square(np.subtract", "toy-solution-text"):
        assert marker not in everything
    import inspect

    for question in toy.suite.questions:
        for line in inspect.getsource(question.reference).splitlines()[1:]:
            if len(line.strip()) > 12:
                assert line.strip() not in text


def test_rerelease_gives_identical_bytes(released: Path, toy: Assignment, tmp_path: Path) -> None:
    again = release(toy, tmp_path)
    assert _files(again) == _files(released)
    assert checks_json(toy.suite) == (released / "dlcheck" / "checks.json").read_text()
    (again / "stale.txt").write_text("old")
    assert "stale.txt" not in _files(release(toy, tmp_path))  # a release replaces the folder


def test_templates_current_is_empty_for_a_fresh_release(released: Path, toy: Assignment) -> None:
    assert templates_current(toy, released.parent) == []


def test_templates_current_reports_hand_edits(released: Path, toy: Assignment, tmp_path: Path) -> None:
    assert templates_current(toy, tmp_path) == [f"{tmp_path / 'toy'} is missing: run `dlgrade release toy`"]
    committed = tmp_path / "toy"
    shutil.copytree(released, committed)
    notebook = nbformat.read(committed / "toy.ipynb", as_version=4)
    notebook.cells[0].source += "\nA hand-made hint."
    nbformat.write(notebook, committed / "toy.ipynb")
    (committed / "dlcheck" / "plain.py").unlink()
    (committed / "notes.md").write_text("hand-made")
    (committed / "dlcheck" / "__pycache__").mkdir()
    (committed / "dlcheck" / "__pycache__" / "local.cpython-311.pyc").write_bytes(b"ignored")
    problems = templates_current(toy, tmp_path)
    assert len(problems) == 3, problems
    assert problems[0].startswith("toy/dlcheck/plain.py is missing")
    assert problems[1].startswith("toy/notes.md is not produced by the release")
    assert problems[2].startswith("toy/toy.ipynb differs from a fresh release")


# ---- check() in-process: the report, and that it never raises --------------------------------------------


@pytest.fixture(scope="module")
def dlcheck(released: Path) -> Any:
    """The released dlcheck package, imported from the release under a name of its own."""
    name = "_released_toy_dlcheck"
    spec = importlib.util.spec_from_file_location(name, released / "dlcheck" / "__init__.py",
                                                  submodule_search_locations=[str(released / "dlcheck")])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    yield module
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def _call_check(dlcheck: Any, question: str, capsys: pytest.CaptureFixture[str], **names: Any) -> tuple[Any, str]:
    """check(question) called from a 'notebook' whose globals hold ``names``; (return value, printed text)."""
    namespace = {"check": dlcheck.check, **names}
    exec(compile(f"result = check({question!r})", "<cell>", "exec"), namespace)
    return namespace["result"], capsys.readouterr().out


def _sq(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
    err = (pred - target) ** 2
    return err if reduction == "none" else (err.mean() if reduction == "mean" else err.sum())


def test_check_passes_a_right_answer(dlcheck: Any, capsys: pytest.CaptureFixture[str]) -> None:
    import torch

    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=_sq)
    assert result is True and out.startswith("sq_error: all passed (3 public cases")
    assert out.count("✓") == 3
    result, out = _call_check(dlcheck, "relu", capsys, relu=lambda x: torch.clamp(x, min=0.0))
    assert result is True, out
    result, out = _call_check(dlcheck, "chain_rule", capsys, dl_dx=17.25)
    assert result is True and "chain_rule: filled in and well-formed; the grader checks the values" in out
    assert "17.25" not in out


def test_check_of_a_hand_computed_answer_checks_its_form_and_never_its_value(
        dlcheck: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # a wrong value passes the local check too: telling right from wrong here would reveal the answer
    result, out = _call_check(dlcheck, "chain_rule", capsys, dl_dx=-17.25)
    assert result is True and "Known mistake" not in out and "17.25" not in out
    result, out = _call_check(dlcheck, "forward", capsys, forward_values=(3.0, 1.0))
    assert result is True and "4" not in out
    result, out = _call_check(dlcheck, "forward", capsys, forward_values=(4.0,))
    assert result is False and "forward_values should be a tuple of 2 values, not a tuple of 1" in out
    result, out = _call_check(dlcheck, "forward", capsys, forward_values=(4.0, "4"))
    assert result is False and "forward_values[1] should be a number, not a str" in out
    result, out = _call_check(dlcheck, "chain_rule", capsys, dl_dx=float("nan"))
    assert result is False and "dl_dx should be a finite number, not nan" in out
    result, out = _call_check(dlcheck, "chain_rule", capsys, dl_dx=[17.25])
    assert result is False and "dl_dx should be a number, not a list of 1" in out


def test_check_reports_a_wrong_answer_with_the_largest_error(dlcheck: Any,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    result, out = _call_check(dlcheck, "relu", capsys, relu=lambda x: x * 2)
    assert result is False
    assert "relu: 0 of 1 public cases passed" in out and "✗ case 1: x = [[-1.5, 0.5], [2, -0.25]]" in out
    assert "largest error 3 at index (0, 0): yours -3, expected 0" in out
    assert "inputs:   [[-1.5 ,  0.5 ],\n                 [ 2.  , -0.25]]" in out
    assert "yours:    [[-3. ,  1. ],\n                 [ 4. , -0.5]]" in out
    assert "expected: [[0. , 0.5],\n                 [2. , 0. ]]" in out
    assert "Known mistake" not in out


def test_check_names_a_known_mistake_and_gives_the_hint_otherwise(dlcheck: Any,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    def forgot_mean(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
        return _sq(pred, target, "sum" if reduction == "mean" else reduction)

    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=forgot_mean)
    assert result is False and "sq_error: 2 of 3 public cases passed" in out
    assert "Known mistake (forgot_mean): your loss sums the squared errors" in out
    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=lambda p, t, reduction="mean": 0.0)
    assert "Known mistake" not in out and "Hint: square each difference, then reduce" in out


def test_check_reports_not_implemented_missing_and_grader_only(dlcheck: Any,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    def stub(*args: Any, **kwargs: Any) -> None:
        raise NotImplementedError()

    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=stub)
    assert result is False and out.startswith("sq_error: not implemented yet")
    result, out = _call_check(dlcheck, "chain_rule", capsys, dl_dx=None)
    assert result is False and "not implemented yet: dl_dx is still None" in out
    result, out = _call_check(dlcheck, "forward", capsys, forward_values=(None, None))
    assert result is False and "not implemented yet: every value in forward_values is still None" in out
    result, out = _call_check(dlcheck, "forward", capsys, forward_values=(4.0, None))
    assert result is False and "loss (output[1]) is still None: put your answer in it" in out
    result, out = _call_check(dlcheck, "relu", capsys)
    assert result is False and "relu is not defined yet" in out
    result, out = _call_check(dlcheck, "accumulator", capsys)
    assert result is False and "Accumulator is not defined yet" in out
    result, out = _call_check(dlcheck, "nope", capsys)
    assert result is False and "unknown question 'nope'" in out and "sq_error" in out


def test_check_never_raises(dlcheck: Any, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
        return pred @ np.ones((7, 7))

    def exits(*args: Any, **kwargs: Any) -> None:
        raise SystemExit(3)

    def mutates(pred: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
        value = _sq(pred, target, reduction)
        pred -= 1
        return value

    class Hostile:
        def __eq__(self, other: object) -> bool:
            raise RuntimeError("boom")

    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=broken)
    assert result is False and "your code raised ValueError: matmul: Input operand 1 has a mismatch" in out
    assert "Traceback" not in out
    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=exits)
    assert result is False and "your code raised SystemExit: 3" in out
    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=mutates)
    assert result is False and "changed its argument 1 in place" in out
    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=lambda *a, **k: Hostile())
    assert result is False and "got a " in out and "Hostile" in out
    result, out = _call_check(dlcheck, "sq_error", capsys, squared_error=lambda *a, **k: np.zeros((3, 1)))
    assert result is False and "shape: expected (), got (3, 1)" in out


def test_check_outside_a_release_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    from dlgrade import checking

    assert checking.check("sq_error") is False
    assert "no checks.json beside the checker" in capsys.readouterr().out


# ---- the released notebook in a real Jupyter kernel -----------------------------------------------------


@pytest.fixture(scope="module")
def run_notebook(released: Path, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., nbformat.NotebookNode]:
    """Execute a notebook top to bottom in a python kernel of this venv, in a copy of the released folder."""
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    kernels = tmp_path_factory.mktemp("kernels")
    spec = kernels / "dlgrade-test-python"
    spec.mkdir()
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "dlgrade tests", "language": "python"}))

    def run(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
        folder = tmp_path_factory.mktemp("student") / "toy"
        shutil.copytree(released, folder)
        manager = AsyncKernelManager(kernel_name="dlgrade-test-python",
                                     kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]))
        notebook = copy.deepcopy(notebook)
        NotebookClient(notebook, km=manager, timeout=120, resources={"metadata": {"path": str(folder)}}).execute()
        return notebook

    return run


def _printed(cell: nbformat.NotebookNode) -> str:
    """What a grade cell showed: check()'s report, then its return value."""
    parts = [o.get("text", "") for o in cell.outputs if o.output_type == "stream"]
    parts += [o["data"].get("text/plain", "") for o in cell.outputs if o.output_type == "execute_result"]
    return "".join(parts)


def _with_cells(notebook: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    notebook = copy.deepcopy(notebook)
    cells = _by_grade_id(notebook)
    for grade_id, source in sources.items():
        cells[grade_id].source = source
    return notebook


def test_released_notebook_runs_and_says_not_implemented(released: Path, run_notebook: Callable[..., Any]) -> None:
    executed = run_notebook(nbformat.read(released / "toy.ipynb", as_version=4))  # raises if any cell fails
    cells = _by_grade_id(executed)
    for name in ("sq_error", "relu", "chain_rule", "forward"):
        assert "not implemented" in _printed(cells[name]), _printed(cells[name])
        assert _printed(cells[name]).endswith("False")
    assert "not implemented" in _printed(cells["accumulator"])


def test_correct_solutions_pass_in_the_kernel(released: Path, toy: Assignment,
                                              run_notebook: Callable[..., Any]) -> None:
    solutions = {gid: c.source for gid, c in _by_grade_id(nbformat.read(toy.source, as_version=4)).items()
                 if c.metadata["nbgrader"].get("solution")}
    executed = run_notebook(_with_cells(nbformat.read(released / "toy.ipynb", as_version=4), solutions))
    cells = _by_grade_id(executed)
    for name in ("sq_error", "relu"):
        text = _printed(cells[name])
        assert f"{name}: all passed" in text and text.endswith("True"), text
        assert "✗" not in text
    for name in ("chain_rule", "forward"):  # hand-computed: the form only, never the value
        text = _printed(cells[name])
        assert f"{name}: filled in and well-formed" in text and text.endswith("True"), text


def test_known_mistakes_are_named_in_the_kernel(released: Path, toy: Assignment,
                                                run_notebook: Callable[..., Any]) -> None:
    suite = toy.suite
    mistakes = {"sq_error": "forgot_mean", "relu": "leaky"}  # a hand-computed answer's mistakes: grader only
    sources = {suite.question(q).cell: next(m for m in suite.question(q).mistakes if m.name == name).solution
               for q, name in mistakes.items()}
    executed = run_notebook(_with_cells(nbformat.read(released / "toy.ipynb", as_version=4), sources))
    cells = _by_grade_id(executed)
    for question, name in mistakes.items():
        text = _printed(cells[question])
        feedback = next(m for m in suite.question(question).mistakes if m.name == name).feedback
        assert f"Known mistake ({name}): {feedback}" in text, text
        assert text.endswith("False") and re.search(r"\d of \d public cases passed", text)


def test_baked_numbers_may_differ_in_their_last_bits_only() -> None:
    from dlgrade.release import same_baked

    committed = {"cases": [{"output": {"array": [1.000010000007, -1.999984999967], "dtype": "float64"}}]}
    other_cpu = {"cases": [{"output": {"array": [1.000010000007, -1.99998499999], "dtype": "float64"}}]}
    assert same_baked(committed, other_cpu)
    wrong = {"cases": [{"output": {"array": [1.000010000007, -1.99998], "dtype": "float64"}}]}
    assert not same_baked(committed, wrong)
    assert not same_baked(committed, {"cases": [{"output": {"array": [1.000010000007], "dtype": "float64"}}]})
    assert not same_baked({"dtype": "float64"}, {"dtype": "float32"})
    assert not same_baked({"flag": True}, {"flag": 1})
