"""networks: XOR by hand-written backprop, the perceptron, collapsing linear stacks, vanishing and exploding
gradients, nn.RNN / nn.LSTM shapes and one RNN step, regularised least squares, decision regions and a digits
classifier.

One source for every solution: the solution cells are read from the assignment's notebook, and each known
mistake is that cell with an edit (dlgrade.solution_cells), run on the trusted side to recognise a student who
makes it. References come from reference/xor.py and reference/networks.py, tested against torch.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from dlgrade.solution_cells import edited, solution_sources
from dlgrade.suite import WARM_UP_DATA, WARM_UP_OPTIMIZERS, Case, Mistake, Question, Suite, Verdict, too_large_to_judge
from reference import networks, xor

NOTEBOOK = Path(__file__).resolve().parent.parent / "assignments" / "networks" / "networks.ipynb"
SOLUTIONS = solution_sources(NOTEBOOK)

# "By hand": numpy only where the question says so; autograd is also switched off at run time there.
BANNED = ("torch.autograd", ".backward", "torch.func", "functorch", "torch.nn.functional")

SETUP_IMPORTS = "import numpy as np\nimport torch\nfrom torch import nn\n"

HARNESS_SOURCE = '''
import hashlib as _hashlib

_FITTED = {}  # (fit, seed, digest of X and y) -> state dict: one training per split, judged at every threshold


def fit_and_export(fit, X, y, seed):
    """The state dict of the model fit(X, y) returns, under the global torch seed `seed` (judged outside). The
    same fit on the same data and seed again (the next accuracy threshold of one split) reuses that training."""
    digest = _hashlib.sha256(np.ascontiguousarray(X).tobytes() + np.ascontiguousarray(y).tobytes()).hexdigest()
    key = (fit, int(seed), X.shape, y.shape, digest)
    if key not in _FITTED:
        torch.default_generator.manual_seed(int(seed))
        model = fit(X, y)
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"return the trained torch.nn.Module, not a {type(model).__name__}")
        while len(_FITTED) >= 8:
            _FITTED.pop(next(iter(_FITTED)))
        _FITTED[key] = {name: value.detach().clone() for name, value in model.state_dict().items()}
    return {name: value.clone() for name, value in _FITTED[key].items()}
'''
_HARNESS: dict[str, Any] = {}


def _harness() -> dict[str, Any]:
    if not _HARNESS:  # torch imported only for the questions that need it (most of the suite is numpy)
        import torch

        _HARNESS.update(np=np, torch=torch)
        exec(compile(HARNESS_SOURCE, "<networks harness>", "exec"), _HARNESS)
    return _HARNESS


@functools.cache
def _namespace(source: str, uses: tuple[str, ...] = ()) -> dict[str, Any]:
    """The names a solution cell defines, run after the setup imports and the cells it builds on."""
    namespace: dict[str, Any] = {"__name__": "solution"}
    exec(SETUP_IMPORTS, namespace)
    for cell in uses:
        exec(compile(SOLUTIONS[cell], f"<{cell}>", "exec"), namespace)
    exec(compile(source, "<mistake solution>", "exec"), namespace)
    return namespace


def _plain(value: Any) -> Any:
    """Tensors as float64/int64 numpy arrays, recursively (what the worker sends back)."""
    if hasattr(value, "detach"):
        array = value.detach().numpy()
        return array.astype(np.float64) if array.dtype.kind == "f" else array
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _trusted_fit(fit: Callable[..., Any], *args: Any) -> Any:
    """fit_and_export on the trusted side as in the worker: one torch thread, the caller's RNG state kept."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            return _plain(_harness()["fit_and_export"](fit, *args))
    finally:
        torch.set_num_threads(threads)


def _mistake(cell: str, entry: str, name: str, feedback: str, *edits: tuple[str, str],
             uses: tuple[str, ...] = (), harness: bool = False) -> Mistake:
    """A known mistake: the notebook's solution cell ``cell`` with ``edits``, computed by running that code."""
    source = edited(SOLUTIONS[cell], *edits, where=f"networks' {cell}")

    def compute(*args: Any, **kwargs: Any) -> Any:
        function = _namespace(source, uses)[entry]
        return _trusted_fit(function, *args) if harness else _plain(function(*args, **kwargs))

    return Mistake(name, feedback, compute, source)


def _xor_params(rng: np.random.Generator, hidden: int) -> dict[str, np.ndarray]:
    return xor.init_xor_params(hidden, rng)


XOR_X, XOR_Y = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]), np.array([0.0, 1.0, 1.0, 0.0])


# ---- 1. XOR -------------------------------------------------------------------------------------------------


def xor_forward_reference(params: dict[str, np.ndarray], X: np.ndarray) -> np.ndarray:
    return xor.predict_proba(params, X)


def xor_forward_public() -> list[Case]:
    return [Case((xor.init_xor_params(4, 0), XOR_X), label="params0 of the notebook (hidden 4), the XOR table"),
            Case((xor.init_xor_params(2, 1), np.array([[0.5, -1.0], [2.0, 0.25]])), label="hidden 2, two points")]


def xor_forward_hidden(rng: np.random.Generator) -> list[Case]:
    return [Case((_xor_params(rng, int(rng.integers(2, 7))), rng.normal(size=(int(rng.integers(3, 9)), 2))))
            for _ in range(4)]


def xor_loss_reference(p: np.ndarray, y: np.ndarray) -> float:
    return float(0.5 * np.sum((p - y) ** 2))


def xor_loss_public() -> list[Case]:
    return [Case((np.array([0.2, 0.9, 0.6, 0.3]), XOR_Y), label="p=[0.2, 0.9, 0.6, 0.3], y=XOR")]


def xor_loss_hidden(rng: np.random.Generator) -> list[Case]:
    return [Case((rng.uniform(0.01, 0.99, size=n), rng.integers(0, 2, size=n).astype(float)))
            for n in (4, int(rng.integers(5, 12)), 1)]


def xor_backward_reference(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    return xor.xor_gradients(params, X, y)


def xor_backward_public() -> list[Case]:
    return [Case((xor.init_xor_params(4, 0), XOR_X, XOR_Y), label="params0 of the notebook, the XOR table")]


def xor_backward_hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        n = int(rng.integers(3, 9))
        cases.append(Case((_xor_params(rng, int(rng.integers(2, 6))), rng.normal(size=(n, 2)),
                           rng.integers(0, 2, size=n).astype(float))))
    return cases


def train_xor_reference(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, lr: float,
                        epochs: int) -> dict[str, np.ndarray]:
    p = {name: np.asarray(value, dtype=np.float64) for name, value in params.items()}
    for _ in range(epochs):
        grads = xor.xor_gradients(p, X, y)
        p = {name: p[name] - lr * grads[name] for name in xor.PARAM_NAMES}
    return p


def train_xor_public() -> list[Case]:
    return [Case((xor.init_xor_params(4, 0), XOR_X, XOR_Y, 1.0, 2000), label="params0, lr=1.0, 2000 epochs"),
            Case((xor.init_xor_params(3, 2), XOR_X, XOR_Y, 0.5, 25), label="hidden 3, lr=0.5, 25 epochs")]


def train_xor_hidden(rng: np.random.Generator) -> list[Case]:
    return [Case((_xor_params(rng, int(rng.integers(2, 6))), XOR_X, XOR_Y, float(rng.uniform(0.2, 2.0)),
                  int(rng.integers(5, 60)))) for _ in range(2)]


# ---- 2. perceptron, collapsing stacks --------------------------------------------------------------------------


def _away_from_zero(rng: np.random.Generator, n: int, d: int) -> tuple[np.ndarray, np.ndarray, float]:
    """x, w, b with every score |x·w + b| ≥ 0.1 (no point sits on the threshold)."""
    while True:
        x, w, b = rng.normal(size=(n, d)), rng.normal(size=d), float(rng.normal())
        if np.abs(x @ w + b).min() >= 0.1:
            return x, w, b


def perceptron_public() -> list[Case]:
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.2, -0.3], [3.0, 1.0]])
    return [Case((x, np.array([1.0, -1.0]), 0.25), label="4 points, w=[1, -1], b=0.25")]


def perceptron_hidden(rng: np.random.Generator) -> list[Case]:
    return [Case(_away_from_zero(rng, int(rng.integers(5, 12)), int(rng.integers(2, 5)))) for _ in range(3)]


def _square_stack(rng: np.random.Generator, depth: int, d: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    return [rng.normal(size=(d, d)) for _ in range(depth)], [rng.normal(size=d) for _ in range(depth)]


def collapse_public() -> list[Case]:
    W = [np.array([[1.0, 2.0], [0.0, 1.0]]), np.array([[0.5, 0.0], [1.0, -1.0]])]
    b = [np.array([1.0, -1.0]), np.array([0.0, 2.0])]
    return [Case((W, b), label="two 2x2 layers")]


def collapse_hidden(rng: np.random.Generator) -> list[Case]:
    return [Case(_square_stack(rng, depth, int(rng.integers(2, 5)))) for depth in (2, 3, 4)]


# ---- 3. gradient norms ----------------------------------------------------------------------------------------


def _deep_stack(rng: np.random.Generator, depth: int, width: int, scale: float) -> list[np.ndarray]:
    """depth − 1 hidden layers of `width` and a 2-unit output, N(0, scale²/width) weights (scale 1 = He-like)."""
    layers = [rng.normal(scale=scale / np.sqrt(3), size=(width, 3))]
    layers += [rng.normal(scale=scale / np.sqrt(width), size=(width, width)) for _ in range(depth - 2)]
    return layers + [rng.normal(scale=1 / np.sqrt(width), size=(2, width))]


def gradient_norms_public() -> list[Case]:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(4, 3))
    return [Case((x, _deep_stack(np.random.default_rng(1), 6, 5, 2.0), activation), label=f"6 layers, {activation}")
            for activation in ("sigmoid", "tanh", "relu")]


def gradient_norms_hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for activation in ("sigmoid", "tanh", "relu"):
        depth, width = int(rng.integers(4, 9)), int(rng.integers(3, 7))
        cases.append(Case((rng.normal(size=(int(rng.integers(2, 6)), 3)),
                           _deep_stack(rng, depth, width, float(rng.uniform(0.5, 3.0))), activation)))
    return cases


# ---- 4. recurrent layers --------------------------------------------------------------------------------------


def recurrent_public() -> list[Case]:
    return [Case(("lstm", 10, 20, 1, False, True, 3, 5),
                 label="the lecture's LSTM(10, 20, batch_first=True), B=3, L=5"),
            Case(("rnn", 4, 6, 2, True, False, 2, 7), label="RNN(4, 6, num_layers=2, bidirectional=True), N=2, L=7")]


def recurrent_hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for kind in ("rnn", "lstm", "rnn", "lstm"):
        cases.append(Case((kind, int(rng.integers(2, 9)), int(rng.integers(2, 9)), int(rng.integers(1, 4)),
                           bool(rng.integers(0, 2)), bool(rng.integers(0, 2)), int(rng.integers(2, 6)),
                           int(rng.integers(2, 8)))))
    # Every flag both ways at least once, with batch != seq_len so a swapped layout shows.
    cases.append(Case(("lstm", 3, 5, 2, True, True, 2, 6)))
    cases.append(Case(("rnn", 5, 3, 3, False, True, 4, 3)))
    return cases


def rnn_step_public() -> list[Case]:
    rng = np.random.default_rng(3)
    return [Case((rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(4, 3)), rng.normal(size=(4, 4)),
                  rng.normal(size=4), rng.normal(size=4)), label="N=2, input 3, hidden 4")]


def rnn_step_hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(3):
        n, d, h = int(rng.integers(1, 5)), int(rng.integers(2, 6)), int(rng.integers(2, 6))
        cases.append(Case((rng.normal(size=(n, d)), rng.normal(size=(n, h)), rng.normal(size=(h, d)) / 2,
                           rng.normal(size=(h, h)) / 2, rng.normal(size=h), rng.normal(size=h))))
    return cases


# ---- 5. ridge --------------------------------------------------------------------------------------------------


def ridge_public() -> list[Case]:
    X = np.array([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]])
    return [Case((X, np.array([1.0, 2.0, 2.5, 4.5]), 0.5), label="4 points, intercept column, lam=0.5")]


def ridge_hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for lam in (float(rng.uniform(0.1, 3.0)), float(rng.uniform(3.0, 20.0))):
        n, d = int(rng.integers(6, 15)), int(rng.integers(2, 5))
        cases.append(Case((rng.normal(size=(n, d)), rng.normal(size=n), lam)))
    return cases


def ridge_gd_public() -> list[Case]:
    X, y, lam = ridge_public()[0].args
    return [Case((X, y, lam, 0.02, 40), label="the closed form's data, lr=0.02, 40 steps")]


def ridge_gd_hidden(rng: np.random.Generator) -> list[Case]:
    cases = []
    for _ in range(2):
        n, d = int(rng.integers(6, 12)), int(rng.integers(2, 4))
        X = rng.normal(size=(n, d))
        lr = 0.4 / (2 * np.linalg.norm(X, 2) ** 2 + 2)  # well inside the stable range
        cases.append(Case((X, rng.normal(size=n), float(rng.uniform(0.1, 2.0)), float(lr), int(rng.integers(5, 30)))))
    return cases


# ---- 6. decision region, digits ------------------------------------------------------------------------------


def _classifier(rng: np.random.Generator, hidden: int, classes: int) -> tuple[np.ndarray, ...]:
    return (rng.normal(size=(hidden, 2)), rng.normal(size=hidden), rng.normal(size=(classes, hidden)),
            rng.normal(size=classes))


def region_public() -> list[Case]:
    return [Case((*_classifier(np.random.default_rng(5), 6, 3), -2.0, 2.0, 9), label="6 hidden, 3 classes, 9x9 grid")]


def region_hidden(rng: np.random.Generator) -> list[Case]:
    return [Case((*_classifier(rng, int(rng.integers(3, 9)), int(rng.integers(2, 5))), float(rng.uniform(-4, -1)),
                  float(rng.uniform(1, 4)), int(rng.integers(6, 15)))) for _ in range(3)]


# One case per threshold, a third of the points each; the solution reaches 0.95-0.975 on held-out splits.
DIGITS_BAND = (0.80, 0.86, 0.92)
DIGITS_TRAIN = 1200


@functools.cache
def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled 8x8 digits (no download), pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return digits.data.astype(np.float64) / 16.0, digits.target.astype(np.int64)


def _digits_split(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).permutation(len(_digits()[1]))


def _digits_cases(split_seed: int, torch_seed: int, label: str) -> list[Case]:
    X, y = _digits()
    train = _digits_split(split_seed)[:DIGITS_TRAIN]
    return [Case((X[train], y[train], torch_seed), {}, f"{label}: accuracy >= {threshold:.2f}")
            for threshold in DIGITS_BAND]


def digits_public() -> list[Case]:
    return _digits_cases(0, 0, "split seed 0, torch.manual_seed(0)")


def digits_hidden(rng: np.random.Generator) -> list[Case]:
    return _digits_cases(int(rng.integers(1, 2**31 - 1)), int(rng.integers(0, 2**31 - 1)), "a hidden split")


def _held_out(X_train: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The digits a case's training set leaves out (found from the training rows; nothing else is sent)."""
    X, y = _digits()
    key = hashlib.sha256
    seen = {key(row.tobytes()).digest() for row in np.ascontiguousarray(X_train)}
    keep = np.array([key(row.tobytes()).digest() not in seen for row in np.ascontiguousarray(X)])
    return X[keep], y[keep]


def _threshold(case: Case) -> float:
    return float(case.label.rsplit(">= ", 1)[1])


def digits_accuracy(weights: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of Linear(64, h) → ReLU → Linear(h, 10) with these weights (state-dict keys 0.* and 2.*)."""
    hidden = np.maximum(X @ weights["0.weight"].T + weights["0.bias"], 0.0)
    return float(np.mean(np.argmax(hidden @ weights["2.weight"].T + weights["2.bias"], axis=1) == y))


def judge_digits(case: Case, answer: Any) -> Verdict:
    """Accuracy on the held-out digits against this case's threshold."""
    entries = getattr(answer, "entries", None)
    arrays = {key: getattr(leaf, "array", None) for key, leaf in entries} if entries is not None else {}
    shapes = {"0.weight": 2, "0.bias": 1, "2.weight": 2, "2.bias": 1}
    if set(arrays) != set(shapes) or any(a is None or np.ndim(a) != shapes[k] for k, a in arrays.items()):
        return Verdict(False, "expected nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, 10)); "
                              f"the returned model's state dict has {sorted(arrays)}")
    weights = {key: np.asarray(value, dtype=np.float64) for key, value in arrays.items()}
    if problem := too_large_to_judge([value.shape for value in weights.values()]):
        return Verdict(False, problem)
    hidden = weights["0.weight"].shape[0]
    if weights["0.weight"].shape != (hidden, 64) or weights["2.weight"].shape != (10, hidden) \
            or weights["0.bias"].shape != (hidden,) or weights["2.bias"].shape != (10,):
        return Verdict(False, f"the layers must be Linear(64, hidden) and Linear(hidden, 10); yours: "
                              f"{ {key: value.shape for key, value in weights.items()} }")
    if not all(np.isfinite(value).all() for value in weights.values()):
        return Verdict(False, "training diverged: the weights hold NaN or infinity (a smaller lr?)")
    X_test, y_test = _held_out(case.args[0])
    accuracy = digits_accuracy(weights, X_test, y_test)
    threshold = _threshold(case)
    verdict = "reaches" if accuracy >= threshold else "does not reach"
    return Verdict(accuracy >= threshold, f"accuracy on {len(y_test)} held-out digits: {accuracy:.3f}, which "
                                          f"{verdict} {threshold:.2f}")


def _digits_reference(X: np.ndarray, y: np.ndarray, seed: int) -> Any:
    return _trusted_fit(_namespace(SOLUTIONS["digits_solution"])["train_digits"], X, y, seed)


# ---- the questions ------------------------------------------------------------------------------------------------

XOR_USES = ("xor_forward_solution",)


def _questions() -> tuple[Question, ...]:
    fwd = functools.partial(_mistake, "xor_forward_solution", "xor_forward")
    back = functools.partial(_mistake, "xor_backward_solution", "xor_backward", uses=XOR_USES)
    train = functools.partial(_mistake, "train_xor_solution", "train_xor",
                              uses=("xor_forward_solution", "xor_backward_solution"))
    return (
        Question(
            name="xor_forward", cell="xor_forward_solution", entry="xor_forward", reference=xor_forward_reference,
            public=xor_forward_public, hidden=xor_forward_hidden, banned=BANNED, numpy_only=True, autograd=False,
            hint="p = sigmoid(sigmoid(X @ W1.T + b1) @ W2.T + b2)[:, 0]",
            mistakes=(
                fwd("no_output_sigmoid",
                    "you returned the output layer's pre-activation Z2: the network's output is p = sigmoid(Z2), "
                    "a probability in (0, 1).",
                    ("return sigmoid(Z2)[:, 0]", "return Z2[:, 0]")),
                fwd("no_hidden_activation",
                    "your hidden layer has no sigmoid: A1 = sigmoid(X W1^T + b1). Without it the two layers are "
                    "one linear layer (section 2), which cannot represent XOR.",
                    ('A1 = sigmoid(X @ params["W1"].T + params["b1"])', 'A1 = X @ params["W1"].T + params["b1"]')),
                fwd("forgot_hidden_bias",
                    "your hidden layer leaves out its bias: Z1 = X W1^T + b1.",
                    ('A1 = sigmoid(X @ params["W1"].T + params["b1"])', 'A1 = sigmoid(X @ params["W1"].T)')),
            ),
        ),
        Question(
            name="xor_loss", cell="xor_loss_solution", entry="xor_loss", reference=xor_loss_reference,
            public=xor_loss_public, hidden=xor_loss_hidden, dtype="number", banned=BANNED, autograd=False,
            numpy_only=True,
            mistakes=(
                _mistake("xor_loss_solution", "xor_loss", "forgot_half",
                         "you left out the 1/2: J = 1/2 * sum((p - y)^2) (the half cancels the 2 of the derivative).",
                         ("0.5 * np.sum", "np.sum")),
                _mistake("xor_loss_solution", "xor_loss", "mean_not_sum",
                         "you averaged over the batch: the notes' loss is a sum, J = 1/2 * sum((p - y)^2).",
                         ("0.5 * np.sum((p - y) ** 2)", "0.5 * np.mean((p - y) ** 2)")),
                _mistake("xor_loss_solution", "xor_loss", "absolute_error",
                         "you summed |p - y|: the squared error squares each difference, J = 1/2 * sum((p - y)^2).",
                         ("(p - y) ** 2", "np.abs(p - y)")),
            ),
        ),
        Question(
            name="xor_backward", cell="xor_backward_solution", entry="xor_backward",
            reference=xor_backward_reference, public=xor_backward_public, hidden=xor_backward_hidden,
            banned=BANNED, numpy_only=True, autograd=False, uses=("xor_forward",),
            hint="delta2 = (p - y) * p * (1 - p) of shape (n, 1); dW2 = delta2.T @ A1; "
                 "delta1 = (delta2 @ W2) * A1 * (1 - A1); dW1 = delta1.T @ X; biases: sums over the batch",
            mistakes=(
                back("notes_sign",
                     "your gradients have the wrong sign: the notes' l2_delta = (y - l2) * ... is the negative "
                     "gradient (they add it to the weights). dJ/dZ2 = (p - y) * p * (1 - p).",
                     ('delta2 = (p - y[:, None])', 'delta2 = (y[:, None] - p)')),
                back("no_output_sigmoid_derivative",
                     "you left out sigmoid'(Z2) = p (1 - p) at the output: with the squared error, "
                     "dJ/dZ2 = (p - y) * p * (1 - p) (dropping it is the cross-entropy loss's gradient).",
                     ("delta2 = (p - y[:, None]) * p * (1 - p)", "delta2 = (p - y[:, None])")),
                back("no_hidden_sigmoid_derivative",
                     "you left out sigmoid'(Z1) = A1 (1 - A1) on the way back into the hidden layer: "
                     "delta1 = (delta2 @ W2) * A1 * (1 - A1).",
                     ('delta1 = (delta2 @ params["W2"]) * A1 * (1 - A1)', 'delta1 = delta2 @ params["W2"]')),
            ),
        ),
        Question(
            name="train_xor", cell="train_xor_solution", entry="train_xor", reference=train_xor_reference,
            public=train_xor_public, hidden=train_xor_hidden, banned=BANNED, autograd=False, rtol=1e-6, atol=1e-9,
            numpy_only=True,
            uses=("xor_forward", "xor_backward"), timeout=30.0,
            hint="each epoch: grads = xor_backward(params, X, y); params[k] = params[k] - lr * grads[k]",
            mistakes=(
                train("notes_plus_update",
                      "you added the gradient (the notes' syn1 += ... adds their *negative* gradient): gradient "
                      "descent subtracts it, theta <- theta - lr * dJ/dtheta.",
                      ("params[name] - lr * grads[name]", "params[name] + lr * grads[name]")),
                train("forgot_lr",
                      "your steps ignore the learning rate: theta <- theta - lr * dJ/dtheta.",
                      ("params[name] - lr * grads[name]", "params[name] - grads[name]")),
                train("one_epoch_short",
                      "you took one step fewer than `epochs` (range(epochs - 1)): take exactly `epochs` steps.",
                      ("for _ in range(epochs):", "for _ in range(epochs - 1):")),
            ),
        ),
        Question(
            name="perceptron", cell="perceptron_solution", entry="perceptron", reference=networks.perceptron,
            public=perceptron_public, hidden=perceptron_hidden, dtype="int", banned=BANNED, autograd=False,
            numpy_only=True,
            mistakes=(
                _mistake("perceptron_solution", "perceptron", "sign_output",
                         "you returned the sign of the score (-1 or +1): the perceptron outputs 1 above the "
                         "threshold and 0 below it.",
                         ("(x @ weight + bias > 0).astype(np.int64)", "np.sign(x @ weight + bias).astype(np.int64)")),
                _mistake("perceptron_solution", "perceptron", "forgot_bias",
                         "your perceptron ignores its bias: the unit fires when x . w + b > 0.",
                         ("x @ weight + bias > 0", "x @ weight > 0")),
                _mistake("perceptron_solution", "perceptron", "notes_sigmoid_unit",
                         "you returned sigmoid(x . w + b), a probability (the notes' forward propagation writes "
                         "y = sigma(w0 + x^T w) for a unit with an activation): the perceptron's output is the step "
                         "1[x . w + b > 0], an integer 0 or 1.",
                         ("(x @ weight + bias > 0).astype(np.int64)", "1 / (1 + np.exp(-(x @ weight + bias)))")),
            ),
        ),
        Question(
            name="collapse_linear", cell="collapse_linear_solution", entry="collapse_linear",
            reference=networks.collapse_linear, public=collapse_public, hidden=collapse_hidden,
            output_names=("A", "c"), banned=BANNED, numpy_only=True, autograd=False,
            mistakes=(
                _mistake("collapse_linear_solution", "collapse_linear", "wrong_order",
                         "you multiplied the weights in input order (W1 W2 ...): the layer applied last is on the "
                         "left, A = WL ... W2 W1.",
                         ("A = W @ A", "A = A @ W")),
                _mistake("collapse_linear_solution", "collapse_linear", "summed_biases",
                         "you added the biases up: an earlier bias passes through every later layer's weights, "
                         "c = bL + WL b(L-1) + WL W(L-1) b(L-2) + ...",
                         ("c = W @ c + b", "c = c + b")),
                _mistake("collapse_linear_solution", "collapse_linear", "last_bias_only",
                         "you kept only the last layer's bias: the earlier biases pass through the later weights, "
                         "c = bL + WL b(L-1) + ...",
                         ("c = W @ c + b", "c = b")),
            ),
        ),
        Question(
            name="gradient_norms", cell="gradient_norms_solution", entry="gradient_norms",
            reference=networks.gradient_norms, public=gradient_norms_public, hidden=gradient_norms_hidden,
            banned=BANNED, numpy_only=True, autograd=False, rtol=1e-7,
            hint="delta starts as ones; per layer, from the last: norm(delta.T @ A_prev), then "
                 "delta = (delta @ W) * h'(Z_prev)",
            mistakes=(
                _mistake("gradient_norms_solution", "gradient_norms", "no_activation_derivative",
                         "you passed delta back through the weights only: each hidden layer also multiplies it by "
                         "its activation's derivative, delta(l-1) = (delta(l) W(l)) * h'(Z(l-1)).",
                         ("delta = (delta @ weights[layer]) * h_prime(pre[layer - 1])",
                          "delta = delta @ weights[layer]")),
                _mistake("gradient_norms_solution", "gradient_norms", "last_layer_first",
                         "your norms are in backprop's order (output layer first): return them first layer first.",
                         ("return np.array(norms[::-1])", "return np.array(norms)")),
                _mistake("gradient_norms_solution", "gradient_norms", "derivative_of_output",
                         "you evaluated h' at the layer's output A instead of its input Z: "
                         "delta(l-1) = (delta(l) W(l)) * h'(Z(l-1)).",
                         ("h_prime(pre[layer - 1])", "h_prime(inputs[layer])")),
            ),
        ),
        Question(
            name="recurrent_shapes", cell="recurrent_shapes_solution", entry="recurrent_shapes",
            reference=networks.recurrent_shapes, public=recurrent_public, hidden=recurrent_hidden, dtype="int",
            timeout=30.0,
            hint="nn.RNN / nn.LSTM(input_size, hidden_size, num_layers=..., bidirectional=..., batch_first=...); "
                 "h_n is (D * num_layers, batch, hidden) whatever batch_first says",
            mistakes=(
                _mistake("recurrent_shapes_solution", "recurrent_shapes", "ignored_batch_first",
                         "you built the module without batch_first, so it read your (batch, seq, feature) input as "
                         "(seq, batch, feature): pass batch_first=batch_first to the constructor.",
                         ("bidirectional=bidirectional,\n                 batch_first=batch_first)",
                          "bidirectional=bidirectional)")),
                _mistake("recurrent_shapes_solution", "recurrent_shapes", "ignored_bidirectional",
                         "you built a one-directional module: bidirectional=True doubles the output features "
                         "(2 * hidden) and the states' first dimension (2 * num_layers).",
                         ("bidirectional=bidirectional,\n                 batch_first",
                          "bidirectional=False,\n                 batch_first")),
                _mistake("recurrent_shapes_solution", "recurrent_shapes", "counted_weights_only",
                         "your parameter count leaves out the biases: every layer and direction has two bias "
                         "vectors, b_ih and b_hh (4 * hidden each for an LSTM).",
                         ("sum(p.numel() for p in module.parameters())",
                          "sum(p.numel() for name, p in module.named_parameters() if 'weight' in name)")),
            ),
        ),
        Question(
            name="rnn_step", cell="rnn_step_solution", entry="rnn_step", reference=networks.rnn_step,
            public=rnn_step_public, hidden=rnn_step_hidden, banned=BANNED, numpy_only=True, autograd=False,
            mistakes=(
                _mistake("rnn_step_solution", "rnn_step", "notes_one_bias",
                         "you left out b_hh, as the notes' h(t) = tanh(W_hh h(t-1) + W_uh u(t) + b_h) has one bias: "
                         "nn.RNN adds two, h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh).",
                         (" + bias_hh)", ")")),
                _mistake("rnn_step_solution", "rnn_step", "no_tanh",
                         "you returned the pre-activation: nn.RNN's default non-linearity is tanh.",
                         ("np.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)",
                          "x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh")),
                _mistake("rnn_step_solution", "rnn_step", "relu_not_tanh",
                         "you used ReLU: nn.RNN's default nonlinearity is 'tanh'.",
                         ("np.tanh(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh)",
                          "np.maximum(x @ weight_ih.T + bias_ih + h @ weight_hh.T + bias_hh, 0)")),
            ),
        ),
        Question(
            name="ridge_closed_form", cell="ridge_closed_form_solution", entry="ridge_closed_form",
            reference=networks.ridge_closed_form, public=ridge_public, hidden=ridge_hidden, banned=BANNED,
            numpy_only=True, autograd=False,
            mistakes=(
                _mistake("ridge_closed_form_solution", "ridge_closed_form", "forgot_lambda",
                         "you solved plain least squares: the penalty adds lam to the diagonal, "
                         "(X^T X + lam I) beta = X^T y.",
                         ("X.T @ X + lam * np.eye(X.shape[1])", "X.T @ X")),
                _mistake("ridge_closed_form_solution", "ridge_closed_form", "half_lambda",
                         "you added lam / 2 to the diagonal: the penalty lam sum beta^2 has gradient 2 lam beta, "
                         "which against the 2 X^T (X beta - y) gives (X^T X + lam I) beta = X^T y.",
                         ("lam * np.eye", "lam / 2 * np.eye")),
                _mistake("ridge_closed_form_solution", "ridge_closed_form", "lambda_everywhere",
                         "you added lam to every entry of X^T X: the penalty is lam times the identity, "
                         "(X^T X + lam I).",
                         ("lam * np.eye(X.shape[1])", "lam")),
            ),
        ),
        Question(
            name="ridge_gd", cell="ridge_gd_solution", entry="ridge_gd", reference=networks.ridge_gd,
            public=ridge_gd_public, hidden=ridge_gd_hidden, banned=BANNED, numpy_only=True, autograd=False, uses=(),
            hint="beta <- beta - lr * (2 X^T (X beta - y) + 2 lam beta), keeping every iterate (beta^0 = 0 first)",
            mistakes=(
                _mistake("ridge_gd_solution", "ridge_gd", "dropped_factor_two",
                         "your gradient lacks the factor 2: the derivative of sum (y - X beta)^2 + lam |beta|^2 is "
                         "2 X^T (X beta - y) + 2 lam beta (the same minimum, but not the same steps).",
                         ("2 * X.T @ (X @ beta - y) + 2 * lam * beta", "X.T @ (X @ beta - y) + lam * beta")),
                _mistake("ridge_gd_solution", "ridge_gd", "penalty_sign",
                         "your penalty's gradient has the wrong sign: lam |beta|^2 pulls beta towards 0, its "
                         "gradient is +2 lam beta.",
                         ("+ 2 * lam * beta", "- 2 * lam * beta")),
                _mistake("ridge_gd_solution", "ridge_gd", "forgot_penalty",
                         "your steps leave out the penalty: the objective has + lam sum beta_j^2, whose gradient "
                         "is 2 lam beta.",
                         (" + 2 * lam * beta", "")),
            ),
        ),
        Question(
            name="decision_region", cell="decision_region_solution", entry="decision_region",
            reference=networks.decision_region, public=region_public, hidden=region_hidden, dtype="int",
            banned=BANNED, numpy_only=True, autograd=False,
            mistakes=(
                _mistake("decision_region_solution", "decision_region", "ij_indexing",
                         "your region is transposed: rows must follow the second input and columns the first "
                         "(np.meshgrid's default indexing='xy', what plt.contourf(u, u, region) expects).",
                         ("np.meshgrid(u, u)", "np.meshgrid(u, u, indexing='ij')")),
                _mistake("decision_region_solution", "decision_region", "no_hidden_relu",
                         "your classifier has no ReLU on its hidden layer: Z2 = ReLU(x W1^T + b1) W2^T + b2.",
                         ("np.maximum(points @ W1.T + b1, 0)", "(points @ W1.T + b1)")),
                _mistake("decision_region_solution", "decision_region", "grid_without_endpoint",
                         "your grid leaves out hi: np.linspace(lo, hi, n) includes both ends.",
                         ("np.linspace(lo, hi, n)", "np.linspace(lo, hi, n, endpoint=False)")),
            ),
        ),
        Question(
            name="digits", cell="digits_solution", entry="train_digits", reference=_digits_reference,
            public=digits_public, hidden=digits_hidden, harness="fit_and_export", judge=judge_digits,
            timeout=90.0, rtol=1e-6, atol=1e-9,  # the judge decides; rtol/atol only recognise known mistakes
            hint="the unit-8 recipe: DataLoader(TensorDataset(X, y), shuffle=True), Adam, nn.CrossEntropyLoss "
                 "on the raw logits, zero_grad / backward / step per batch, enough epochs",
            mistakes=(
                _mistake("digits_solution", "train_digits", "forgot_step",
                         "you never call optimizer.step(): the gradients are computed but the weights keep their "
                         "random initial values.",
                         ("            optimizer.step()\n", ""), harness=True),
                _mistake("digits_solution", "train_digits", "lr_too_high",
                         "your learning rate is far too high for Adam: the loss jumps around instead of falling. "
                         "Try 1e-3 to 1e-2.",
                         ("lr=0.01", "lr=5.0"), harness=True),
                _mistake("digits_solution", "train_digits", "no_zero_grad",
                         "you never zero the gradients: each backward adds to all earlier ones, so every step "
                         "follows the sum of the whole history. Call optimizer.zero_grad() before each backward.",
                         ("            optimizer.zero_grad()\n", ""), harness=True),
            ),
        ),
    )


SUITE = Suite(
    assignment="networks",
    questions=_questions(),
    harness_source=HARNESS_SOURCE,
    warm_up=WARM_UP_OPTIMIZERS + WARM_UP_DATA,
)
