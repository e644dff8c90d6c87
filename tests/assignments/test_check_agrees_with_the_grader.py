"""The released notebooks' check() and the grader agree: a judged question's entry point is looked up and run on
the public cases as the grader runs it (and judged as the grader judges it where that gives nothing away), a 0-d
tensor is a number in both, every sgd question has a hint, and a numpy-only harness does not import torch."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from autograders import backprop, sgd, training
from dlgrade.checking.answers import from_value
from dlgrade.checking.compare import compare
from dlgrade.solution_cells import solution_sources

TEMPLATES = Path(__file__).resolve().parents[2] / "student_template"


def dlcheck(assignment_id: str) -> Any:
    """The committed template's dlcheck package, imported under a name of its own."""
    name = f"_template_dlcheck_{assignment_id}"
    if name not in sys.modules:
        folder = TEMPLATES / assignment_id / "dlcheck"
        spec = importlib.util.spec_from_file_location(name, folder / "__init__.py",
                                                      submodule_search_locations=[str(folder)])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def check(assignment_id: str, question: str, capsys: pytest.CaptureFixture[str], **names: Any) -> tuple[bool, str]:
    """check(question) from a notebook whose globals hold ``names``: (its return value, what it printed)."""
    namespace = {"check": dlcheck(assignment_id).check, **names}
    exec(compile(f"result = check({question!r})", "<cell>", "exec"), namespace)
    return namespace["result"], capsys.readouterr().out


def _solution(source: str, *entries: str) -> dict[str, Any]:
    namespace = training._namespace(source)
    return {entry: namespace[entry] for entry in entries}


# ---- a judged question is looked up, run and judged ------------------------------------------------------------


def test_a_missing_or_crashing_train_classifier_does_not_look_fine(capsys):
    passed, out = check("training", "classifier", capsys)
    assert passed is False and "classifier: train_classifier is not defined yet" in out

    def crashes(X, y):
        raise ValueError("shapes do not match")

    passed, out = check("training", "classifier", capsys, train_classifier=crashes)
    assert passed is False and "your code raised ValueError: shapes do not match" in out

    passed, out = check("training", "classifier", capsys, train_classifier=lambda X, y: None)
    assert passed is False and "0 of 1 public cases passed" in out


def test_check_judges_the_classifier_as_the_grader_does(capsys):
    question = training.SUITE.question("classifier")
    case = question.public()[0]
    grader = question.judge(case, from_value(question.reference(*case.args)))  # the solution, as graded
    assert grader.passed and grader.message.startswith("accuracy on 1000 hidden test points: 0.9")
    solution = solution_sources(training.NOTEBOOK)["classifier_solution"]
    passed, out = check("training", "classifier", capsys, **_solution(solution, "train_classifier", "Net"))
    assert passed is True and "classifier: all passed (1 public case, judged as the grader judges them" in out
    assert grader.message in out
    forgot_step = {m.name: m for m in question.mistakes}["forgot_step"]
    passed, out = check("training", "classifier", capsys, **_solution(forgot_step.solution, "train_classifier"))
    assert passed is False and "which does not reach the required 0.90" in out
    assert question.judge(case, from_value(forgot_step.compute(*case.args))).message in out


def test_check_runs_a_gradient_checker_and_judges_its_verdicts(capsys):
    namespace: dict[str, Any] = {"np": np}
    exec(solution_sources(backprop.NOTEBOOK)["gradcheck_linear_solution"], namespace)
    passed, out = check("backprop", "gradcheck_linear", capsys, gradcheck_linear=namespace["gradcheck_linear"])
    assert passed is True and "gradcheck_linear: all passed (5 public cases" in out
    min_not_max = {m.name: m for m in backprop.SUITE.question("gradcheck_linear").mistakes}["min_not_max"]
    exec(min_not_max.solution, namespace)
    passed, out = check("backprop", "gradcheck_linear", capsys, gradcheck_linear=namespace["gradcheck_linear"])
    assert passed is False and "3 of 5 public cases passed" in out
    assert "for a linear backward whose bias gradient is a mean over the batch instead of a sum: it missed the bug" \
        in out


def test_check_runs_lr_regimes_for_its_form_without_giving_the_codes_away(capsys):
    checks = (TEMPLATES / "sgd" / "dlcheck" / "checks.json").read_text()
    assert "judge_data" not in checks  # the public codes are the answer to the question's thought experiment
    namespace: dict[str, Any] = {"np": np}
    solutions = solution_sources(sgd.NOTEBOOK)
    exec(solutions["run_gd_solution"] + "\n" + solutions["lr_regimes_solution"], namespace)
    passed, out = check("sgd", "lr_regimes", capsys, lr_regimes=namespace["lr_regimes"])
    assert passed is True and "lr_regimes: ran on the 2 public cases and returned a well-formed answer" in out
    passed, out = check("sgd", "lr_regimes", capsys, lr_regimes=lambda X, y, lrs, steps: np.zeros(len(lrs)))
    assert passed is False
    assert "expected an array of shape (5,) holding integers, got a numpy.ndarray of shape (5,) and dtype float64" \
        in out


# ---- a 0-d tensor is a number in both ---------------------------------------------------------------------------


def test_a_zero_dimensional_tensor_is_a_number_for_check_as_for_the_grader(capsys):
    values = (torch.tensor(17.0), torch.tensor(17), np.float64(-4.5), np.array(42.25))
    passed, out = check("backprop", "scalar_forward", capsys, forward_values=values)
    assert passed is True and "scalar_forward: filled in and well-formed" in out
    expected = backprop.SUITE.question("scalar_forward").reference()
    assert compare(from_value(values), expected, rtol=1e-6, atol=1e-9, dtype="number").passed
    passed, out = check("backprop", "scalar_forward", capsys, forward_values=(torch.tensor(True), 17, -4.5, 42.25))
    assert passed is False and "forward_values[0] should be a number, not a 0-d array of dtype torch.bool" in out


# ---- hints, and torch only where a harness needs it -------------------------------------------------------------


def test_every_sgd_question_has_a_hint_and_check_shows_it(capsys):
    assert [q.name for q in sgd.SUITE.questions if not q.hint] == []
    passed, out = check("sgd", "gd_step", capsys, gd_step=lambda theta, grad, lr: theta - lr * grad ** 2)
    assert passed is False
    assert f"Hint: {sgd.SUITE.question('gd_step').hint}" in out


def test_check_of_a_numpy_only_harness_does_not_import_torch(tmp_path):
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(TEMPLATES / 'backprop')!r})
        import numpy as np
        from dlcheck import check
        exec({solution_sources(backprop.NOTEBOOK)["numerical_gradient_solution"]!r})
        assert check("numerical_gradient") is True
        print("torch" in sys.modules)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, check=True)
    assert "numerical_gradient: all passed (4 public cases" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_check_judges_a_regressor_whose_ffn_keeps_a_sequential_alias_as_the_grader_does(capsys):
    solutions = solution_sources(training.NOTEBOOK)
    alias = solutions["ffn_solution"].replace(
        "        self.layer3 = nn.Linear(hidden_size, out_features)\n",
        "        self.layer3 = nn.Linear(hidden_size, out_features)\n"
        "        self.net = nn.Sequential(self.layer1, nn.ReLU(), self.layer2, nn.ReLU(), self.layer3)\n")
    names = _solution(alias + "\n" + solutions["regressor_solution"], "FFN", "train_regressor")
    question = training.SUITE.question("regressor")
    case = question.public()[0]
    exported = training._trusted("fit_and_export", names["train_regressor"], *case.args)
    assert {"net.0.weight", "layer1.weight"} <= set(exported)  # the alias is exported too
    grader = question.judge(case, from_value(exported))
    assert grader.passed and grader.message.startswith("mean squared error on 1000 hidden test samples: 0.0")
    passed, out = check("training", "regressor", capsys, **names)
    assert passed is True and grader.message in out
