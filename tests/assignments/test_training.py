"""training: the suite's references are torch and reference/ (models, training, datasets), each question has a
solution cell in the notebook, the harness runs the same on both sides,
the notes' slip is what the catalog says it is, and the judged questions' thresholds separate the recipe from
its known mistakes with room to spare."""

from __future__ import annotations

import warnings
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch

from autograders import training
from dlgrade.checking.answers import from_value
from dlgrade.checking.compare import compare
from dlgrade.suite import Case
from reference import datasets, models
from reference.training import evaluate
from reference.training import train as reference_train

NOTEBOOK = Path(__file__).resolve().parents[2] / "assignments" / "training" / "training.ipynb"
SEEDS = range(3)


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # known mistakes broadcast losses on purpose
        yield


def _cells() -> dict[str, str]:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    return {c.metadata["nbgrader"]["grade_id"]: c.source for c in notebook.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def _notebook_namespace() -> dict:
    """The notebook's setup, solution and data cells run as the worker runs them (grade cells skipped)."""
    namespace: dict = {"__name__": "__main__"}
    exec(training.SETUP_IMPORTS, namespace)
    for grade_id, source in _cells().items():
        if grade_id != "setup" and not source.startswith("check("):
            exec(source, namespace)
    return namespace


def cases(name: str) -> list[Case]:
    question = training.SUITE.question(name)
    found = list(question.public())
    for seed in SEEDS:
        found += list(question.hidden(np.random.default_rng([seed, 5307])))
    return found


def _student(name: str, case: Case, namespace: dict):
    """What the worker would send back for the notebook's solution on this case."""
    question = training.SUITE.question(name)
    return from_value(training._trusted(question.harness, namespace[question.entry], *case.args))


def test_every_question_has_a_solution_cell():
    solutions = {name for name in _cells() if name.endswith("_solution")}
    assert solutions == {q.cell for q in training.SUITE.questions}


def test_points_total_40_and_every_question_has_a_budget():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
              if c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert list(points) == [q.name for q in training.SUITE.questions]
    assert sum(points.values()) == 40
    assert all(q.timeout >= 20 for q in training.SUITE.questions)


def test_notebook_data_cell_draws_the_graders_datasets():
    namespace = _notebook_namespace()
    for seed in (0, 7, 123456789):
        for n in (5, 200):
            mine, theirs = namespace["make_circles"](n, 0.1, seed), datasets.make_circles(n, 0.1, seed)
            for a, b in zip(mine, theirs, strict=True):
                np.testing.assert_array_equal(a, b)
        for a, b in zip(namespace["make_sum_regression"](100, 4, seed), datasets.make_sum_regression(100, 4, seed),
                        strict=True):
            np.testing.assert_array_equal(a, b)


# ---- parameter counts and the notes' slip ------------------------------------------------------------------


def test_the_notes_parameter_counts():
    namespace = _notebook_namespace()

    def count(model):
        return sum(p.numel() for p in model.parameters())

    assert count(namespace["FFN"](3, 1, 2)) == models.count_parameters(models.FFN(3, 1, 2)) == 17
    assert count(namespace["FFN"](4, 1, 4)) == 45
    assert count(namespace["FeedforwardNeuralNetModel"](4, [200, 300], 1)) == 61_601
    assert models.count_parameters(models.SigmoidFFN(4, [200, 300], 1)) == 61_601
    public = training.SUITE.question("ffn_sigmoid").public()[0]
    np.testing.assert_array_equal(training.SUITE.question("ffn_sigmoid").reference(*public.args)["parameters"],
                                  [61_601])


@pytest.mark.parametrize("case", cases("ffn"), ids=lambda c: c.describe()[:40])
def test_forward_uses_x_slip_is_layer3_of_the_input(case):
    """Lecture 8's first forward reads x on every line: what is left is y = x W3ᵀ + b3."""
    configs, weights, X = case.args
    slip = next(m for m in training.SUITE.question("ffn").mistakes if m.name == "forward_uses_x")
    expected = X @ weights["layer3.weight"].T + weights["layer3.bias"]
    np.testing.assert_allclose(slip.compute(*case.args)["output"], expected, rtol=1e-12)


@pytest.mark.parametrize("case", cases("ffn"), ids=lambda c: c.describe()[:40])
def test_ffn_reference_is_the_formula(case):
    configs, weights, X = case.args

    def relu(z):
        return np.maximum(z, 0.0)

    h = relu(X @ weights["layer1.weight"].T + weights["layer1.bias"])
    h = relu(h @ weights["layer2.weight"].T + weights["layer2.bias"])
    expected = h @ weights["layer3.weight"].T + weights["layer3.bias"]
    answer = training.SUITE.question("ffn").reference(*case.args)
    np.testing.assert_allclose(answer["output"], expected, rtol=1e-12)
    for (d_in, d_out, h_size), count in zip(configs, answer["parameters"], strict=True):
        assert count == d_in * h_size + h_size + h_size * h_size + h_size + h_size * d_out + d_out


# ---- dropout, the loop, accuracy: the harness on the trusted side equals the reference ----------------------


@pytest.mark.parametrize("case", cases("dropout_model"), ids=lambda c: c.describe()[:40])
def test_dropout_reference_eval_is_the_plain_network_and_train_scales_survivors(case):
    rate, weights, X, seed = case.args
    answer = training.SUITE.question("dropout_model").reference(*case.args)
    h = np.maximum(X @ weights["input.weight"].T + weights["input.bias"], 0.0)
    h = np.maximum(h @ weights["hidden.weight"].T + weights["hidden.bias"], 0.0)
    np.testing.assert_allclose(answer["eval"], h @ weights["output.weight"].T + weights["output.bias"], rtol=1e-12)
    assert {key: value for key, value in answer.items() if key != "eval"} == {
        "dropout_after_input": True, "dropout_after_hidden": True, "rate_after_input": True,
        "rate_after_hidden": True, "fresh_masks": True, "output_is_output_layer": True}


def test_the_dropout_watch_tells_a_drop_rate_from_its_complement():
    # 256 repeated rows: a drop rate of 0.3 is within its band, 0.7 (the keep probability as p) far outside
    harness = training._HARNESS
    assert harness["_drop_rate_ok"](300, 1000, 0.3) and harness["_drop_rate_ok"](330, 1000, 0.3)
    assert not harness["_drop_rate_ok"](700, 1000, 0.3) and not harness["_drop_rate_ok"](0, 1000, 0.3)
    assert not harness["_drop_rate_ok"](400, 1000, 0.3)  # 7 standard deviations off


@pytest.mark.parametrize("name", ["make_loader", "ffn", "ffn_sigmoid", "dropout_model", "train_loop", "accuracy"])
def test_notebook_solution_matches_reference_on_every_case(name):
    question = training.SUITE.question(name)
    namespace = _notebook_namespace()
    for case in cases(name):
        outcome = compare(_student(name, case, namespace), question.reference(*case.args), rtol=question.rtol,
                          atol=question.atol, dtype=question.dtype, names=question.output_names)
        assert outcome.passed, (case.describe(), outcome.text())


def test_trajectory_is_reproducible_and_independent_of_call_order():
    question = training.SUITE.question("train_loop")
    case = question.public()[1]
    first = question.reference(*case.args)
    namespace = _notebook_namespace()
    _student("train_loop", question.public()[0], namespace)  # another run in between changes nothing
    again = question.reference(*case.args)
    np.testing.assert_array_equal(first["losses"], again["losses"])
    assert _student("train_loop", case, namespace).describe() == "a dict with keys ['losses', 'state']"


def test_train_reference_is_reference_training_with_the_notes_epoch_mean():
    """Epoch loss = np.mean of the batch losses (unit 8's avg_loss), even with a short last batch."""
    X, y = datasets.make_sum_regression(10, 2, 0)
    torch.manual_seed(3)
    model = models.DropoutFFN(2, 1, 6, 0.25)
    result = reference_train(model, X, y, loss="mse", optimizer="sgd", lr=0.02, epochs=1, batch_size=4, seed=3)
    answer = training.train_loop_reference(X, y, 6, 0.25, "sgd", 0.02, 4, 1, 3)
    np.testing.assert_array_equal(answer["losses"], result.losses)


def test_accuracy_hooks_see_eval_mode_and_no_grad_and_accept_inference_mode():
    case = training.SUITE.question("accuracy").public()[0]

    def with_inference_mode(model, loader):
        model.eval()
        right = total = 0
        with torch.inference_mode():
            for x, y in loader:
                right += ((model(x).squeeze(1) > 0).double() == y).sum().item()
                total += len(y)
        return right / total

    def careless(model, loader):
        x, y = loader.dataset.tensors
        return ((model(x).squeeze(1) > 0).double() == y).double().mean()

    good = training._trusted("accuracy_run", with_inference_mode, *case.args)
    assert good == training.accuracy_reference(*case.args)
    bad = training._trusted("accuracy_run", careless, *case.args)
    assert bad["eval_mode"] is False and bad["no_grad"] is False


def test_loader_harness_survives_a_loader_without_batches():
    drop = next(m for m in training.SUITE.question("make_loader").mistakes if m.name == "drop_last")
    answer = drop.compute(np.ones((3, 2)), np.ones(3), 4, False, 0)
    assert answer["X"].shape == (0, 2) and answer["batch_sizes"].shape == (0,)


# ---- judged questions: thresholds with margins ---------------------------------------------------------------


def test_circles_are_not_linearly_separable_and_the_recipe_separates_them():
    X, y = datasets.make_circles(200, training.CIRCLES_NOISE, 11)
    X_test, y_test = datasets.make_circles(1000, training.CIRCLES_NOISE, 12)
    torch.manual_seed(0)
    line = models.LogisticRegression(2)
    reference_train(line, X, y, loss="bce", optimizer="adam", lr=0.05, epochs=200, seed=0)
    assert evaluate(line, X_test, y_test, loss="bce").accuracy < 0.7

    case = Case((X, y, 11))
    weights = training.SUITE.question("classifier").reference(*case.args)
    verdict = training.judge_classifier(case, from_value(weights))
    assert verdict.passed and float(verdict.message.split(": ")[1].split(",")[0]) >= 0.95


def test_classifier_mistakes_fail_the_judge_and_say_their_accuracy():
    question = training.SUITE.question("classifier")
    case = question.public()[0]
    for mistake in question.mistakes:
        verdict = question.judge(case, from_value(mistake.compute(*case.args)))
        assert not verdict.passed and "accuracy on 1000 hidden test points" in verdict.message, mistake.name


def test_regressor_reference_passes_with_margin_and_the_mistakes_do_not():
    question = training.SUITE.question("regressor")
    for case in cases("regressor"):
        verdict = question.judge(case, from_value(question.reference(*case.args)))
        assert verdict.passed and float(verdict.message.split(": ")[1].split(",")[0]) < training.REGRESSOR_MSE / 3
    case = question.public()[0]
    for mistake in question.mistakes:
        assert not question.judge(case, from_value(mistake.compute(*case.args))).passed, mistake.name


def test_judges_explain_weights_of_the_wrong_architecture():
    X, y = datasets.make_circles(20, 0.1, 0)
    wrong = from_value({"linear.weight": np.zeros((1, 2)), "linear.bias": np.zeros(1)})
    verdict = training.judge_classifier(Case((X, y, 0)), wrong)
    assert not verdict.passed and "Dense1" in verdict.message
    verdict = training.judge_regressor(Case((X, y, 0)), from_value(3.0))
    assert not verdict.passed and "state dict" in verdict.message


def test_hidden_test_sets_are_fresh_and_fixed_per_case():
    X, _ = datasets.make_circles(200, training.CIRCLES_NOISE, 0)
    assert training._test_seed(X) == training._test_seed(X.copy())
    assert training._test_seed(X) != training._test_seed(X + 1e-9)
    X_test, _ = datasets.make_circles(training.N_TEST, training.CIRCLES_NOISE, training._test_seed(X))
    assert not np.isin(X_test[:, 0], X[:, 0]).any()
