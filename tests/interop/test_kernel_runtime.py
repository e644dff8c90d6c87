"""The in-kernel runtime of the otter/nbgrader exports, run in this process on baked `losses` specs: the solution
passes every case, the blank template none, a known mistake loses the cases the grader's catalog says it loses
(and is named); the training judges' in-kernel twins agree with the trusted judges."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Iterator
from typing import Any

import nbformat
import numpy as np
import pytest

from dlgrade import assignments, sample_class
from dlgrade.interop import bake, kernel
from dlgrade.interop.judges import TWINS, judge_key, twin_for

SEED = 20240611


@pytest.fixture(scope="module")
def losses() -> assignments.Assignment:
    return assignments.load("losses")


@pytest.fixture(scope="module")
def specs(losses: assignments.Assignment) -> dict[str, dict[str, Any]]:
    return bake.bake_suite(losses, SEED)


@pytest.fixture(scope="module")
def students(losses: assignments.Assignment) -> dict[str, sample_class.SampleSubmission]:
    return {student.student: student for student in sample_class.build(losses, hostile=False)}


@pytest.fixture(autouse=True, scope="module")
def silent_dlcheck() -> Iterator[None]:
    """The notebooks import `from dlcheck import check`: a no-op here, as in dlgrade's worker."""
    saved = sys.modules.get("dlcheck")
    sys.modules["dlcheck"] = types.SimpleNamespace(check=lambda *args, **kwargs: None)  # type: ignore[assignment]
    yield
    if saved is None:
        sys.modules.pop("dlcheck", None)
    else:
        sys.modules["dlcheck"] = saved


def notebook_globals(notebook: nbformat.NotebookNode) -> dict[str, Any]:
    """Run a notebook's code cells, grade cells excepted, in a fresh namespace (a kernel's globals)."""
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for cell in notebook.cells:
        if cell.cell_type == "code" and not cell.get("metadata", {}).get("nbgrader", {}).get("grade"):
            exec(compile(cell.source, "<cell>", "exec"), namespace)
    return namespace


def score(specs: dict[str, dict[str, Any]], env: dict[str, Any]) -> dict[str, float]:
    scores = {}
    for name, spec in specs.items():
        outcomes = kernel.check_question(bake.spec_json(spec), env)
        scores[name] = spec["points"] * sum(o.passed for o in outcomes) / len(outcomes)
    return scores


def test_specs_are_json_with_public_and_hidden_cases(specs: dict[str, dict[str, Any]],
                                                     losses: assignments.Assignment) -> None:
    assert list(specs) == [q.name for q in losses.suite.questions]
    for name, spec in specs.items():
        data = json.loads(bake.spec_json(spec))
        assert data["format"] == kernel.SPEC_FORMAT and data["points"] == losses.points[name]
        publics = [case for case in data["cases"] if case["public"]]
        assert publics and len(publics) < len(data["cases"]), name
        assert all("expected" in case for case in data["cases"])
        assert bake.public_only(spec)["cases"] == publics


def test_hidden_cases_follow_the_seed(losses: assignments.Assignment, specs: dict[str, dict[str, Any]]) -> None:
    question = losses.suite.question("mse")
    again = bake.bake_question(losses, question, SEED)
    other = bake.bake_question(losses, question, SEED + 1)
    assert bake.spec_json(again) == bake.spec_json(specs["mse"])
    assert bake.spec_json(other) != bake.spec_json(specs["mse"])


def test_solution_full_marks_blank_zero(specs, students, losses) -> None:
    solution = score(specs, notebook_globals(students["solution"].notebook))
    assert solution == pytest.approx(losses.points)
    blank = score(specs, notebook_globals(students["blank"].notebook))
    assert sum(blank.values()) == 0.0


def test_a_known_mistake_fails_its_question_and_is_named(specs, students) -> None:
    env = notebook_globals(students["mse-half-factor"].notebook)
    outcomes = kernel.check_question(specs["mse"], env)
    failed = [o for o in outcomes if not o.passed]
    assert failed and not all(not o.passed for o in outcomes)  # reduction='none' of zeros still agrees
    public_failure = next(o for o in failed if o.public)
    assert "Known mistake (half_factor)" in public_failure.message
    hidden_failure = next(o for o in failed if not o.public)
    assert "values differ" in hidden_failure.message and "yours" not in hidden_failure.message
    with pytest.raises(AssertionError, match="public case 1"):
        kernel.run_case(specs["mse"], 0, env)
    with pytest.raises(AssertionError, match=r"mse: \d+ of 12 cases failed"):
        kernel.assert_question(specs["mse"], env)
    kernel.assert_question(specs["l1"], env)  # the other questions are untouched


def test_student_errors_become_failures_not_crashes(specs) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ValueError("boom")

    def mutating(input: np.ndarray, target: np.ndarray, reduction: str = "mean") -> Any:
        value = np.mean((input - target) ** 2) if reduction == "mean" else (
            np.sum((input - target) ** 2) if reduction == "sum" else (input - target) ** 2)
        input += 1.0
        return value

    messages = {
        "missing": kernel.outcome(specs["mse"], 0, {}).message,
        "raises": kernel.outcome(specs["mse"], 0, {"mse_loss": broken}).message,
        "mutates": kernel.outcome(specs["mse"], 1, {"mse_loss": mutating}).message,
        "object": kernel.outcome(specs["mse"], 1, {"mse_loss": lambda *a, **k: object()}).message,
    }
    assert "not defined" in messages["missing"]
    assert "ValueError: boom" in messages["raises"]
    assert "changed its argument 1 in place" in messages["mutates"]
    assert "got a object" in messages["object"] or "expected a number" in messages["object"]


def test_a_case_that_hangs_times_out(specs) -> None:
    spec = specs["mse"] | {"timeout": 0.3}

    def forever(*args: Any, **kwargs: Any) -> Any:
        while True:
            pass

    result = kernel.outcome(spec, 0, {"mse_loss": forever})
    assert not result.passed and "within 0.3 s" in result.message


def test_every_judge_of_the_suites_has_a_twin() -> None:
    for assignment_id in assignments.known_ids():
        for question in assignments.load(assignment_id).suite.questions:
            if question.judge is not None:
                assert twin_for(question) is not None, judge_key(question)
    assert set(TWINS) == {"training.judge_classifier", "training.judge_regressor", "backprop._checker_verdict",
                          "sgd.judge_lr_regimes", "networks.judge_digits"}


def _twin(question: Any) -> Any:
    twin = twin_for(question)
    assert twin is not None
    namespace: dict[str, Any] = {"np": np}
    exec(compile(twin.source, "<twin>", "exec"), namespace)
    return twin, namespace["judge"]


def test_the_number_judges_twins_agree() -> None:
    """backprop's gradient-check verdict and sgd's learning-rate regimes, on right and wrong answers."""
    from dlgrade.checking.answers import from_value

    gradcheck = assignments.load("backprop").suite.question("gradcheck_linear")
    twin, judge = _twin(gradcheck)
    for case in gradcheck.public():
        data = bake.decode_roundtrip(twin.data(gradcheck, case))
        for number in (1e-9, 1e-5, 0.5, float("nan")):
            verdict = gradcheck.judge(case, from_value(np.float64(number)))
            assert judge(np.float64(number), data)[0] == verdict.passed, (case.args[0], number)
    regimes = assignments.load("sgd").suite.question("lr_regimes")
    twin, judge = _twin(regimes)
    for case in regimes.public():
        data = bake.decode_roundtrip(twin.data(regimes, case))
        right = regimes.reference(*case.args)
        for codes in (right, (right + 1) % 3, right.astype(np.float64), right[:-1]):
            verdict = regimes.judge(case, from_value(codes))
            assert judge(codes, data)[0] == verdict.passed, codes


@pytest.mark.parametrize("question_name", ["classifier", "regressor"])
def test_judge_twins_agree_with_the_trusted_judges(question_name: str) -> None:
    """On the solution's trained weights (a pass) and on untrained weights (a fail)."""
    import torch

    from dlgrade.checking.answers import from_value

    training = assignments.load("training")
    question = training.suite.question(question_name)
    case = question.public()[0]
    twin, judge = _twin(question)
    data = bake.decode_roundtrip(twin.data(question, case))
    trained = question.reference(*case.args)  # the notebook solution's weights, trained on the trusted side
    torch.manual_seed(0)
    untrained = {key: np.random.default_rng(0).normal(0.0, 0.1, value.shape) for key, value in trained.items()}
    for weights in (trained, untrained):
        verdict = question.judge(case, from_value(weights))
        passed, message = judge({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, data)
        assert passed == verdict.passed
        assert message.split(":")[0] == verdict.message.split(":")[0]
    assert question.judge(case, from_value(trained)).passed


def test_the_digits_twin_agrees_with_the_trusted_judge() -> None:
    """networks' digits classifier: the notebook solution's trained weights (every threshold of the band reached),
    untrained weights, another architecture and diverged weights get the same verdict and the same words."""
    import torch

    from dlgrade.checking.answers import from_value

    question = assignments.load("networks").suite.question("digits")
    cases = question.public()
    trained = question.reference(*cases[0].args)  # one training serves every threshold of the split
    rng = np.random.default_rng(0)
    untrained = {key: rng.normal(0.0, 0.01, value.shape) for key, value in trained.items()}
    other = {"0.weight": np.zeros((5, 64)), "0.bias": np.zeros(5)}
    diverged = {key: np.full(value.shape, np.nan) for key, value in trained.items()}
    for case in cases:
        twin, judge = _twin(question)
        data = bake.decode_roundtrip(twin.data(question, case))
        for weights in (trained, untrained, other, diverged):
            verdict = question.judge(case, from_value(weights))
            passed, message = judge({k: torch.from_numpy(np.array(v)) for k, v in weights.items()}, data)
            assert (passed, message) == (verdict.passed, verdict.message)
        assert question.judge(case, from_value(trained)).passed
        assert not question.judge(case, from_value(untrained)).passed
