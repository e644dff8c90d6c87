"""A judge evaluates the model a student returns on the trusted side, and the model's size is the student's choice:
beyond dlgrade.suite's caps (parameters, units a layer) it is refused with words that say why, before any model
is built or any test point goes through it (a classifier of 100k hidden units took 1.9 GB there). The in-kernel
twins of the exports refuse the same models."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from dlgrade import assignments
from dlgrade.checking.answers import from_value
from dlgrade.interop.judges import twin_for
from dlgrade.suite import MAX_JUDGED_PARAMETERS, MAX_JUDGED_WIDTH, too_large_to_judge

TOO_LARGE = "the model is too large to evaluate"


def zeros(shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    return {key: np.zeros(shape) for key, shape in shapes.items()}


def classifier(hidden: int) -> dict[str, np.ndarray]:
    return zeros({"Dense1.weight": (hidden, 2), "Dense1.bias": (hidden,), "Dense2.weight": (1, hidden),
                  "Dense2.bias": (1,)})


def regressor(hidden: int) -> dict[str, np.ndarray]:
    return zeros({"layer1.weight": (hidden, 4), "layer1.bias": (hidden,), "layer2.weight": (hidden, hidden),
                  "layer2.bias": (hidden,), "layer3.weight": (1, hidden), "layer3.bias": (1,)})


def digits(hidden: int) -> dict[str, np.ndarray]:
    return zeros({"0.weight": (hidden, 64), "0.bias": (hidden,), "2.weight": (10, hidden), "2.bias": (10,)})


def _never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a model this large was built or evaluated")


def test_the_caps_count_parameters_and_units() -> None:
    assert too_large_to_judge([(64, 2), (64,), (1, 64), (1,)]) is None
    assert too_large_to_judge([(MAX_JUDGED_WIDTH, 2)]) is None
    assert TOO_LARGE in too_large_to_judge([(MAX_JUDGED_WIDTH + 1, 2)])
    assert TOO_LARGE in too_large_to_judge([(1024, 1025)])  # 1,049,600 > MAX_JUDGED_PARAMETERS
    assert MAX_JUDGED_PARAMETERS == 1 << 20


@pytest.mark.parametrize(("question", "weights", "builder"), [
    ("classifier", classifier(100_000), "TwoLayerClassifier"),
    ("regressor", regressor(2048), "FFN"),
])
def test_the_training_judges_refuse_a_huge_model_before_building_it(question: str, weights: dict[str, np.ndarray],
                                                                    builder: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    training = assignments.load("training")
    judged = training.suite.question(question)
    module = __import__(judged.judge.__module__, fromlist=["models", "evaluate"])
    monkeypatch.setattr(module.models, builder, _never)
    monkeypatch.setattr(module, "evaluate", _never)
    verdict = judged.judge(judged.public()[0], from_value(weights))
    assert not verdict.passed
    assert TOO_LARGE in verdict.message


def test_the_digits_judge_refuses_a_layer_of_5000_units(monkeypatch: pytest.MonkeyPatch) -> None:
    networks = assignments.load("networks")
    judged = networks.suite.question("digits")
    module = __import__(judged.judge.__module__, fromlist=["digits_accuracy"])
    monkeypatch.setattr(module, "digits_accuracy", _never)
    verdict = judged.judge(judged.public()[0], from_value(digits(5000)))
    assert not verdict.passed and TOO_LARGE in verdict.message


@pytest.mark.parametrize(("question", "weights"), [("classifier", classifier(5000)), ("regressor", regressor(2048))])
def test_the_in_kernel_twins_refuse_the_same_models(question: str, weights: dict[str, np.ndarray]) -> None:
    judged = assignments.load("training").suite.question(question)
    twin = twin_for(judged)
    assert twin is not None
    namespace: dict[str, Any] = {"np": np}
    exec(compile(twin.source, "<twin>", "exec"), namespace)
    data = twin.data(judged, judged.public()[0])
    with pytest.raises(ValueError, match=TOO_LARGE):
        namespace["judge"](weights, data)
