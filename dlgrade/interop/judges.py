"""In-kernel twins of suites' custom judges, for the otter and nbgrader exports.

A suite's judge (e.g. "the trained classifier reaches 0.9 accuracy on a hidden test set") runs on dlgrade's
trusted side with the reference models. An in-kernel export has no trusted side, so each judge it supports has a
twin here: ``data`` runs at export time on the trusted side and bakes what the judge needs for one case (the
hidden test set, the threshold); ``source`` defines ``judge(value, data) -> (passed, message)``, run in the
student's kernel on what the question's harness returned (a state dict). Twins are keyed by the judge's
suite and name; tests/interop check that each twin agrees with its judge. A judge without a twin cannot be
exported (ExportError names the question).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dlgrade.suite import MAX_JUDGED_PARAMETERS, MAX_JUDGED_WIDTH, Case, Question

__all__ = ["KernelJudge", "TWINS", "judge_key", "twin_for"]


@dataclass(frozen=True)
class KernelJudge:
    """What an in-kernel export needs to judge one question: per-case data (trusted side) and the judge's code."""

    source: str
    data: Callable[[Question, Case], dict[str, Any]]
    # The data is the answer itself (lr_regimes' codes): fine for an export's hidden tests, not for the public
    # check() a released notebook runs.
    reveals_answer: bool = False


# The same caps as the trusted judges' (dlgrade.suite.too_large_to_judge), checked before anything is converted.
_STATE_HELPERS = f"_MAX_PARAMETERS, _MAX_WIDTH = {MAX_JUDGED_PARAMETERS}, {MAX_JUDGED_WIDTH}\n" + '''
def _weights(value, shapes):
    """{name: float64 array} of a returned state dict, checked against the expected names and shapes."""
    if not isinstance(value, dict):
        raise TypeError(f"expected the trained model's state dict, got a {type(value).__name__}")
    sizes = [tuple(int(n) for n in np.shape(item)) for item in value.values()]
    parameters = sum(int(np.prod(size, dtype=object)) for size in sizes)
    width = max((max(size) for size in sizes if size), default=0)
    if parameters > _MAX_PARAMETERS or width > _MAX_WIDTH:
        raise ValueError(f"the model is too large to evaluate ({parameters:,} parameters, a layer of {width:,} "
                         f"units): the judge evaluates models of at most {_MAX_PARAMETERS:,} parameters and "
                         f"{_MAX_WIDTH:,} units a layer, far more than this exercise needs")
    arrays = {}
    for key, item in value.items():
        item = item.detach().cpu().numpy() if hasattr(item, "detach") else item
        arrays[key] = np.asarray(item, dtype=np.float64)
    wanted = [arrays[key] for key in shapes if key in arrays]  # an nn.Sequential alias repeats these: dropped
    arrays = {key: item for key, item in arrays.items() if key in shapes or not any(
        item.shape == w.shape and np.array_equal(item, w, equal_nan=True) for w in wanted)}
    if set(arrays) != set(shapes):
        raise ValueError(f"these weights are not those of the expected model: keys {sorted(arrays)}, "
                         f"expected {sorted(shapes)}")
    diverged = [key for key in shapes if not np.all(np.isfinite(arrays[key]))]
    if diverged:
        raise ValueError(f"your training diverged: after it, {', '.join(diverged[:3])} hold nan or inf")
    for key, ndim in shapes.items():
        if arrays[key].ndim != ndim:
            raise ValueError(f"{key}: shape {arrays[key].shape}, expected {ndim} dimensions")
    return arrays
'''

CLASSIFIER_SOURCE = _STATE_HELPERS + '''

def judge(value, data):
    """Unit 8's Net (sigmoid hidden layer, sigmoid output) with the returned weights, on the baked test set."""
    w = _weights(value, {"Dense1.weight": 2, "Dense1.bias": 1, "Dense2.weight": 2, "Dense2.bias": 1})
    X, y, threshold = data["X"], data["y"], float(data["threshold"])
    hidden = 1.0 / (1.0 + np.exp(-(X @ w["Dense1.weight"].T + w["Dense1.bias"])))
    p = 1.0 / (1.0 + np.exp(-(hidden @ w["Dense2.weight"].T + w["Dense2.bias"])))
    if p.shape != (len(y), 1):
        raise ValueError(f"the model's output has shape {p.shape}, expected ({len(y)}, 1)")
    accuracy = float(np.mean((p[:, 0] > 0.5).astype(np.float64) == y))
    verdict = "reaches" if accuracy >= threshold else "does not reach"
    return accuracy >= threshold, (f"accuracy on {len(y)} hidden test points: {accuracy:.3f}, which {verdict} "
                                   f"the required {threshold:.2f}")
'''

REGRESSOR_SOURCE = _STATE_HELPERS + '''

def judge(value, data):
    """Lecture 8's FFN (ReLU, ReLU, linear) with the returned weights: its mean squared error on the baked set."""
    names = [f"layer{i}.{part}" for i in (1, 2, 3) for part in ("weight", "bias")]
    w = _weights(value, {name: 2 if name.endswith("weight") else 1 for name in names})
    X, y, limit = data["X"], data["y"], float(data["limit"])
    out = np.maximum(X @ w["layer1.weight"].T + w["layer1.bias"], 0.0)
    out = np.maximum(out @ w["layer2.weight"].T + w["layer2.bias"], 0.0)
    out = out @ w["layer3.weight"].T + w["layer3.bias"]
    if out.shape != (len(y), 1):
        raise ValueError(f"the model's output has shape {out.shape}, expected ({len(y)}, 1)")
    mse = float(np.mean((out[:, 0] - y) ** 2))
    verdict = "within" if mse <= limit else "above"
    return mse <= limit, (f"mean squared error on {len(y)} hidden test samples: {mse:.4f}, {verdict} the allowed "
                          f"{limit:g}")
'''


DIGITS_SOURCE = '''
def judge(value, data):
    """networks' digits classifier, Linear(64, h) -> ReLU -> Linear(h, 10) with the returned weights, on the baked
    held-out digits against the case's accuracy threshold."""
    if not isinstance(value, dict):
        raise TypeError(f"expected the trained model's state dict, got a {type(value).__name__}")
    shapes = {"0.weight": 2, "0.bias": 1, "2.weight": 2, "2.bias": 1}
    w = {key: np.asarray(item.detach().cpu().numpy() if hasattr(item, "detach") else item, dtype=np.float64)
         for key, item in value.items()}
    if set(w) != set(shapes) or any(w[key].ndim != ndim for key, ndim in shapes.items()):
        return False, ("expected nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)); "
                       f"the returned model's state dict has {sorted(w)}")
    hidden = w["0.weight"].shape[0]
    if w["0.weight"].shape != (hidden, 64) or w["2.weight"].shape != (10, hidden) or w["0.bias"].shape != (hidden,) \
            or w["2.bias"].shape != (10,):
        return False, (f"the layers must be Linear(64, hidden) and Linear(hidden, 10); yours: "
                       f"{ {key: item.shape for key, item in w.items()} }")
    if not all(np.isfinite(item).all() for item in w.values()):
        return False, "training diverged: the weights hold NaN or infinity (a smaller lr?)"
    X, y, threshold = data["X"], data["y"], float(data["threshold"])
    scores = np.maximum(X @ w["0.weight"].T + w["0.bias"], 0.0) @ w["2.weight"].T + w["2.bias"]
    accuracy = float(np.mean(np.argmax(scores, axis=1) == y))
    verdict = "reaches" if accuracy >= threshold else "does not reach"
    return accuracy >= threshold, (f"accuracy on {len(y)} held-out digits: {accuracy:.3f}, which {verdict} "
                                   f"{threshold:.2f}")
'''

GRADCHECK_SOURCE = '''
def judge(value, data):
    """A numerical gradient check's verdict on one candidate backward: below `pass` for the correct one, above
    `flag` for a broken one."""
    array = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value, dtype=np.float64)
    if array.size != 1:
        return False, f"expected one number (the largest relative error), got shape {array.shape}"
    number = float(array.reshape(()))
    if not np.isfinite(number) or number < 0:
        return False, f"the relative error must be a finite number >= 0, got {number}"
    if data["which"] == "correct":
        if number < data["pass"]:
            return True, ""
        return False, (f"your check reported {number:.3g} for {data['candidate']}; it should be below "
                       f"{data['pass']:g}")
    if number > data["flag"]:
        return True, ""
    return False, (f"your check reported {number:.3g} for {data['candidate']}: it missed the bug (a working check "
                   f"reports an error of order 1, above {data['flag']:g})")
'''

LR_REGIMES_SOURCE = '''
def judge(value, data):
    """One regime code per learning rate, each among the codes its reference trajectory accepts."""
    array = np.asarray(value)
    accepted, truth, words = data["accepted"], data["truth"], data["words"]
    if array.shape != (len(truth),):
        return False, f"expected one code per learning rate, shape ({len(truth)},), got shape {array.shape}"
    if array.dtype.kind not in "iu":
        return False, f"expected integer codes (an int64 array), got dtype {array.dtype}"
    wrong = []
    for position, code in enumerate(array.tolist()):
        if code not in accepted[position]:
            said = words.get(str(code), repr(code))
            wrong.append(f"learning rate #{position + 1} of {len(truth)}: you answered {said}, but it is "
                         f"{words[str(truth[position])]}")
    if wrong:
        return False, "; ".join(wrong[:3]) + (f" (and {len(wrong) - 3} more)" if len(wrong) > 3 else "")
    return True, ""
'''


def _suite_module(question: Question) -> Any:
    module = inspect.getmodule(question.judge)
    if module is None:
        raise LookupError(f"{question.name}: the judge's module cannot be found")
    return module


def _classifier_data(question: Question, case: Case) -> dict[str, Any]:
    suite = _suite_module(question)
    X, y = suite.datasets.make_circles(suite.N_TEST, suite.CIRCLES_NOISE, suite._test_seed(case.args[0]))
    return {"X": X, "y": y, "threshold": float(suite.CLASSIFIER_ACCURACY)}


def _regressor_data(question: Question, case: Case) -> dict[str, Any]:
    suite = _suite_module(question)
    X, y = suite.datasets.make_sum_regression(suite.N_TEST, 4, suite._test_seed(case.args[0]))
    return {"X": X, "y": y, "limit": float(suite.REGRESSOR_MSE)}


def _digits_data(question: Question, case: Case) -> dict[str, Any]:
    suite = _suite_module(question)
    X, y = suite._held_out(case.args[0])
    return {"X": X, "y": y, "threshold": suite._threshold(case)}


def _gradcheck_data(question: Question, case: Case) -> dict[str, Any]:
    suite = _suite_module(question)
    which = case.args[0]
    return {"which": which, "candidate": suite.CANDIDATES[which], "pass": float(suite.GRADCHECK_PASS),
            "flag": float(suite.GRADCHECK_FLAG)}


def _lr_regimes_data(question: Question, case: Case) -> dict[str, Any]:
    suite = _suite_module(question)
    X, y, lrs, steps = case.args
    accepted, truth = [], []
    for lr in lrs:
        trajectory = suite.run_gd_reference(X, y, lr, steps)
        accepted.append(sorted(int(code) for code in suite._acceptable(trajectory[0], trajectory[-1])))
        truth.append(int(suite._code(trajectory[0], trajectory[-1])))
    return {"accepted": accepted, "truth": truth,
            "words": {str(code): word for code, word in suite.REGIME_WORDS.items()}}


TWINS: dict[str, KernelJudge] = {
    "training.judge_classifier": KernelJudge(CLASSIFIER_SOURCE, _classifier_data),
    "training.judge_regressor": KernelJudge(REGRESSOR_SOURCE, _regressor_data),
    "backprop._checker_verdict": KernelJudge(GRADCHECK_SOURCE, _gradcheck_data),
    "sgd.judge_lr_regimes": KernelJudge(LR_REGIMES_SOURCE, _lr_regimes_data, reveals_answer=True),
    "networks.judge_digits": KernelJudge(DIGITS_SOURCE, _digits_data),
}


def judge_key(question: Question) -> str:
    """'<suite>.<qualname>' of the question's judge: autograders/training.py's judge_classifier is
    'training.judge_classifier', however the suite module was imported."""
    judge = question.judge
    module = str(getattr(judge, "__module__", "?")).rsplit(".", 1)[-1].removeprefix("_dlgrade_suite_")
    return f"{module}.{getattr(judge, '__qualname__', '?')}"


def twin_for(question: Question) -> KernelJudge | None:
    """The in-kernel twin of the question's judge, or None when it has none."""
    return TWINS.get(judge_key(question)) if question.judge is not None else None
