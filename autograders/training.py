"""Autograder for `training`: the PyTorch recipe of unit 8 and lecture 8, graded by running it.

Questions, in notebook order:
  make_loader    TensorDataset + DataLoader, shuffled by a seeded torch.Generator (the batches are compared)
  ffn            lecture 8's FFN (layer1..layer3, ReLU): parameter counts and the output with given weights
  ffn_sigmoid    the "Deep Learning" lecture's 4 → 200 → 300 → 1 sigmoid network (61,601 parameters)
  dropout_model  the dropout Model of "Deep learning in detail": dropout only in train mode
  train_loop     train(model, loader, optimizer, loss_fn, epochs): the loss trajectory and final weights must
                 equal reference.training.train's under the same seeds (one thread, float64)
  accuracy       accuracy(model, loader): eval mode and no_grad are checked by hooks, not only the number
  classifier     unit 8's Net trained on two concentric circles; judged on a hidden test set (accuracy ≥ 0.9)
  regressor      lecture 8's end-to-end regression (y = Σx) with the student's FFN; judged by hidden test MSE

Student classes and loops run through harness functions (HARNESS_SOURCE, executed in the sandboxed worker next to
the student's code): they build the model, loader and optimizer from plain arrays with fixed seeds, call the
student's entry point, and return plain data (batches, parameter counts, outputs, loss trajectories, state
dicts). The trusted side computes the expected values with reference/ (models, training, datasets) and torch.

One source for every solution: the notebook's solution cells. Known mistakes are the question's solution cell
with small edits (`_mistake`, Mistake.edits); their `compute` runs that very edited cell on the trusted side
through the same harness, so a student who makes the mistake is recognised bit for bit.
The notes' own slips in the catalog: lecture 8's first FFN feeds x (not y) to every line of forward
(ffn: forward_uses_x); unit 8 scores the sigmoid output with out.round() and reports 100·(1 − error/total)
(accuracy: threshold_half, percent), which are wrong for a logit model and for a fraction.

Why float64 everywhere: the grader receives weights and losses as float64 arrays and compares trajectories at
rtol 1e-6; the harness builds float64 models (reference.models does the same) and float64 data.
"""

from __future__ import annotations

import functools
import hashlib
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from dlgrade.solution_cells import edited, solution_sources
from dlgrade.suite import WARM_UP_DATA, WARM_UP_OPTIMIZERS, Case, Mistake, Question, Suite, Verdict, too_large_to_judge
from reference import datasets, models
from reference.training import evaluate, load_numpy_state_dict, state_dict_to_numpy
from reference.training import train as reference_train

NOTEBOOK = Path(__file__).resolve().parent.parent / "assignments" / "training" / "training.ipynb"

# ============================================================================================================
# What runs in the worker next to the student's code (public: students may read it in the feedback)
# ============================================================================================================

HARNESS_SOURCE = '''
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _tensor(array):
    """A float64 torch copy of a plain array (never sharing memory with the case's arrays)."""
    return torch.tensor(np.asarray(array))


def _plain_state(model):
    return {key: value.detach().clone() for key, value in model.state_dict().items()}


def _load_weights(net, weights):
    """Load the named weights into net. A parameter the model also keeps under another name (an nn.Sequential
    alias of its own layers) is the same tensor, so it fills too; any other name missing on either side is an
    error that says which."""
    result = net.load_state_dict({key: _tensor(value) for key, value in weights.items()}, strict=False)
    if result.unexpected_keys:
        raise AttributeError(f"your model has no {', '.join(sorted(result.unexpected_keys))}: keep the names of "
                             f"the task ({', '.join(sorted({key.rsplit('.', 1)[0] for key in weights}))})")
    state = net.state_dict(keep_vars=True)
    loaded = {id(state[key]) for key in weights}
    other = sorted(key for key, value in state.items() if key not in weights and id(value) not in loaded)
    if other:
        raise AttributeError(f"your model has parameters the task does not ask for: {', '.join(other)}")


def loader_batches(make_loader, X, y, batch_size, shuffle, seed):
    """Two passes over make_loader(X, y, batch_size, shuffle=shuffle, generator=torch.Generator(seed))."""
    # The global generator: what a loader that ignores `generator` shuffles with. Seeded as torch.manual_seed
    # seeds it on a machine without accelerators, minus probing CUDA, XPU and MTIA (~0.3 ms a call, the stack
    # formatted three times): the same numbers, here and below.
    torch.default_generator.manual_seed(int(seed + 1))
    loader = make_loader(X, y, batch_size, shuffle=shuffle, generator=torch.Generator().manual_seed(seed))
    if loader is None:
        return None
    xs, ys, sizes, float64 = [], [], [], True
    for _ in range(2):
        for x_batch, y_batch in loader:
            xs.append(x_batch)
            ys.append(y_batch)
            sizes.append(len(x_batch))
            float64 = float64 and x_batch.dtype == torch.float64 and y_batch.dtype == torch.float64
    if not xs:  # no batch at all (e.g. drop_last with batch_size > n)
        xs, ys = [torch.zeros((0,) + np.shape(X)[1:])], [torch.zeros((0,) + np.shape(y)[1:])]
    return {"X": torch.cat(xs).double(), "y": torch.cat(ys).double(),
            "batch_sizes": np.array(sizes, dtype=np.int64), "float64": bool(float64)}


def build_and_run(cls, configs, weights, X):
    """Parameter counts of cls(*args) for each args in configs; then cls(*configs[0]) in float64 with the given
    weights (loaded by name) applied to X."""
    counts = [int(sum(p.numel() for p in cls(*args).parameters())) for args in configs]
    net = cls(*configs[0]).double()
    _load_weights(net, weights)
    net.eval()
    with torch.no_grad():
        output = net(_tensor(X))
    return {"parameters": np.array(counts, dtype=np.int64), "output": output}


DROPOUT_ROWS = 256  # the case's rows repeated to at least this many: enough units to tell the rate from 1 - rate
DROPOUT_PASSES = 2  # masks must change from one pass to the next


def _drop_rate_ok(dropped, positive, rate):
    """A fraction dropped/positive within 4.5 standard deviations (and half a percent) of `rate`."""
    if positive == 0:
        return True
    return abs(dropped / positive - rate) <= 4.5 * (rate * (1 - rate) / positive) ** 0.5 + 0.005


def dropout_outputs(cls, rate, weights, X, seed):
    """cls(rate) with the given weights: its output in eval mode, and in train mode (global seed `seed`) what
    DROPOUT_PASSES forward passes of X's rows, repeated to DROPOUT_ROWS, feed into net.hidden and net.output,
    watched by hooks and checked against the ReLU outputs before them (computed from the weights): every entry
    is 0 or that output / (1 - rate), about a fraction `rate` of the positive ones is zeroed, the masks change
    from pass to pass, and the model returns what net.output makes of its input. Any dropout passes:
    F.dropout, nn.Dropout, or a mask of one's own."""
    net = cls(rate).double()
    _load_weights(net, weights)
    w = {key: _tensor(value) for key, value in weights.items()}
    x = _tensor(X)
    many = x.repeat(-(-DROPOUT_ROWS // len(x)), 1)
    seen = {}
    hooks = [net.hidden.register_forward_pre_hook(lambda module, inputs: seen.__setitem__("hidden", inputs[0])),
             net.output.register_forward_pre_hook(lambda module, inputs: seen.__setitem__("output", inputs[0]))]
    scale = 1.0 / (1.0 - rate)
    counts = {"input": [0, 0, True], "hidden": [0, 0, True]}  # dropped, positive, every entry 0 or scaled
    returns_output, masks = True, set()
    net.train()
    torch.default_generator.manual_seed(int(seed))
    try:
        with torch.no_grad():
            for _ in range(DROPOUT_PASSES):
                seen.clear()
                output = net(many)
                if "hidden" not in seen or "output" not in seen:
                    raise RuntimeError("the grader watches what goes into self.hidden and self.output: call them "
                                       "as modules in forward, e.g. self.hidden(x)")
                before_input = torch.relu(many @ w["input.weight"].T + w["input.bias"])
                into_hidden = seen["hidden"].detach().double()
                before_hidden = torch.relu(into_hidden @ w["hidden.weight"].T + w["hidden.bias"])
                into_output = seen["output"].detach().double()
                mask = []
                for layer, before, after in (("input", before_input, into_hidden),
                                             ("hidden", before_hidden, into_output)):
                    if after.shape != before.shape:
                        counts[layer][2] = False
                        continue
                    dropped = after == 0
                    kept = torch.isclose(after, before * scale, rtol=1e-9, atol=1e-12)
                    counts[layer][0] += int((dropped & (before > 0)).sum())
                    counts[layer][1] += int((before > 0).sum())
                    counts[layer][2] = counts[layer][2] and bool((dropped | kept).all())
                    mask.append(dropped.numpy().tobytes())
                masks.add(tuple(mask))
                final = into_output @ w["output.weight"].T + w["output.bias"]
                returns_output = returns_output and output.shape == final.shape and bool(
                    torch.allclose(output.detach().double(), final, rtol=1e-9, atol=1e-12))
    finally:
        for hook in hooks:
            hook.remove()
    net.eval()
    with torch.no_grad():
        eval_output = net(x)
    informative = rate > 0 and counts["input"][1] + counts["hidden"][1] > 0
    return {
        "eval": eval_output,
        "dropout_after_input": counts["input"][2],
        "dropout_after_hidden": counts["hidden"][2],
        "rate_after_input": _drop_rate_ok(counts["input"][0], counts["input"][1], rate),
        "rate_after_hidden": _drop_rate_ok(counts["hidden"][0], counts["hidden"][1], rate),
        "fresh_masks": len(masks) > 1 or not informative,
        "output_is_output_layer": returns_output,
    }


class DropoutFFN(nn.Module):
    """reference.models.DropoutFFN, float64: layer3(drop(relu(layer2(drop(relu(layer1(x)))))))."""

    def __init__(self, in_features, out_features, hidden_size, p):
        super().__init__()
        self.layer1 = nn.Linear(in_features, hidden_size, dtype=torch.float64)
        self.layer2 = nn.Linear(hidden_size, hidden_size, dtype=torch.float64)
        self.layer3 = nn.Linear(hidden_size, out_features, dtype=torch.float64)
        self.dropout = nn.Dropout(p)

    def forward(self, x):
        y = self.dropout(torch.relu(self.layer1(x)))
        y = self.dropout(torch.relu(self.layer2(y)))
        return self.layer3(y)


def train_run(train, X, y, hidden, p, optimizer, lr, batch_size, epochs, seed):
    """train(model, loader, optimizer, nn.MSELoss(), epochs) on a DropoutFFN handed over in eval mode, with a
    shuffling loader seeded by `seed` and the global generator (dropout) seeded by `seed`."""
    torch.default_generator.manual_seed(int(seed))
    model = DropoutFFN(X.shape[1], 1, hidden, p)
    model.eval()  # as an evaluation left it: train() must switch dropout back on
    make = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = make(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(_tensor(X), _tensor(y)), batch_size=batch_size, shuffle=True,
                        generator=torch.Generator().manual_seed(seed))
    torch.default_generator.manual_seed(int(seed))
    losses = train(model, loader, opt, nn.MSELoss(), epochs)
    if losses is None:
        return None
    return {"losses": np.array([float(value) for value in losses], dtype=np.float64),
            "state": _plain_state(model)}


def accuracy_run(accuracy, X, y, weights, p, batch_size, seed):
    """accuracy(model, loader) on a logit DropoutFFN with the given weights, left in train mode; hooks on its
    dropout record whether every forward pass ran in eval mode and without gradient tracking."""
    hidden = weights["layer1.weight"].shape[0]
    model = DropoutFFN(X.shape[1], 1, hidden, p)
    model.load_state_dict({key: _tensor(value) for key, value in weights.items()})
    model.train()  # as training left it
    seen = []
    model.dropout.register_forward_hook(
        lambda module, inputs, output: seen.append((module.training, torch.is_grad_enabled())))
    loader = DataLoader(TensorDataset(_tensor(X), _tensor(y)), batch_size=batch_size)
    torch.default_generator.manual_seed(int(seed))
    value = accuracy(model, loader)
    if value is None:
        return None
    return {"accuracy": float(value),
            "eval_mode": bool(seen) and not any(training for training, _ in seen),
            "no_grad": bool(seen) and not any(grad for _, grad in seen)}


def fit_and_export(fit, X, y, seed):
    """The state dict of the model fit(X, y) returns (global torch seed `seed`): it is judged outside."""
    torch.default_generator.manual_seed(int(seed))
    model = fit(X, y)
    if model is None:
        return None
    if not isinstance(model, nn.Module):
        raise TypeError(f"return the trained torch.nn.Module, not a {type(model).__name__}")
    return _plain_state(model)
'''

_HARNESS: dict[str, Any] = {"np": np, "torch": torch}
exec(compile(HARNESS_SOURCE, "<training harness>", "exec"), _HARNESS)  # the same harness on the trusted side

# The setup cell's imports: solution sources (the notebook's and the mistakes') are written against these.
SETUP_IMPORTS = """\
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
"""


def _trusted(harness: str, entry: Any, *args: Any) -> Any:
    """harness(entry, *args) on the trusted side as in the worker: one thread, the caller's RNG state kept."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # Known mistakes warn (e.g. a broadcasting loss); that is their point, not news for the grader's log.
        with torch.random.fork_rng(devices=[]), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _plain(_HARNESS[harness](entry, *args))
    finally:
        torch.set_num_threads(threads)


def _plain(value: Any) -> Any:
    """Tensors -> float64/int64/bool numpy arrays, recursively (what the worker sends back)."""
    if isinstance(value, torch.Tensor):
        array = value.detach().numpy()
        return array.astype(np.float64) if array.dtype.kind == "f" else array
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_plain(item) for item in value)
    return value


@functools.cache
def _namespace(source: str) -> dict[str, Any]:
    """The names a solution cell defines, run on the trusted side after the setup imports and the reference
    versions of the earlier questions' entry points it may use (FFN: lecture 8's, initialised as nn.Linear's
    default float32, exactly as the notebook's class)."""
    namespace: dict[str, Any] = {"__name__": "solution"}
    exec(SETUP_IMPORTS, namespace)
    namespace["FFN"] = functools.partial(models.FFN, dtype=torch.float32)
    exec(compile(source, "<mistake solution>", "exec"), namespace)
    return namespace


def _variant(harness: str, entry: str, source: str) -> Callable[..., Any]:
    """A known mistake's compute: its solution cell, run through the question's harness on the trusted side."""

    def compute(*args: Any) -> Any:
        return _trusted(harness, _namespace(source)[entry], *args)

    return compute


def _mistake(question: str, name: str, feedback: str, *edits: tuple[str, str]) -> Mistake:
    """A known mistake: the question's solution cell with ``edits`` (applied to the notebook's cell when the suite
    is bound to it); its compute runs that edited cell through the question's harness."""
    harness, entry, cell = _QUESTIONS[question]
    source = edited(solution_sources(NOTEBOOK)[cell], *edits, where=f"training's {cell}")
    return Mistake(name, feedback, _variant(harness, entry, source), edits=edits)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


def _uniform_weights(rng: np.random.Generator, layers: Sequence[tuple[str, int, int]]) -> dict[str, np.ndarray]:
    """nn.Linear-like weights: name.weight (out, in) and name.bias (out,) uniform on ±1/√in, float64."""
    weights = {}
    for name, fan_in, fan_out in layers:
        bound = 1.0 / np.sqrt(fan_in)
        weights[f"{name}.weight"] = rng.uniform(-bound, bound, size=(fan_out, fan_in))
        weights[f"{name}.bias"] = rng.uniform(-bound, bound, size=fan_out)
    return weights


# question -> (harness, entry, its solution cell in the notebook: the one source of its code and its mistakes')
_QUESTIONS: dict[str, tuple[str, str, str]] = {
    "make_loader": ("loader_batches", "make_loader", "make_loader_solution"),
    "ffn": ("build_and_run", "FFN", "ffn_solution"),
    "ffn_sigmoid": ("build_and_run", "FeedforwardNeuralNetModel", "ffn_sigmoid_solution"),
    "dropout_model": ("dropout_outputs", "Model", "dropout_model_solution"),
    "train_loop": ("train_run", "train", "train_loop_solution"),
    "accuracy": ("accuracy_run", "accuracy", "accuracy_solution"),
    "classifier": ("fit_and_export", "train_classifier", "classifier_solution"),
    "regressor": ("fit_and_export", "train_regressor", "regressor_solution"),
}


# ============================================================================================================
# 1. make_loader: TensorDataset and DataLoader
# ============================================================================================================


def _reference_make_loader(X: Any, y: Any, batch_size: int, shuffle: bool = False,
                           generator: torch.Generator | None = None) -> DataLoader:
    """torch's own loader over float64 copies: the oracle for the batches, their order and sizes."""
    return DataLoader(TensorDataset(torch.tensor(np.asarray(X, dtype=np.float64)),
                                    torch.tensor(np.asarray(y, dtype=np.float64))),
                      batch_size=batch_size, shuffle=shuffle, generator=generator)


def loader_reference(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int) -> Any:
    return _trusted("loader_batches", _reference_make_loader, X, y, batch_size, shuffle, seed)


def _loader_case(X: np.ndarray, y: np.ndarray, batch_size: int, shuffle: bool, seed: int, label: str = "") -> Case:
    return Case((X, y, batch_size, shuffle, seed), label=label)


def loader_public() -> Sequence[Case]:
    X5 = np.arange(10.0).reshape(5, 2)
    X6 = np.arange(12.0).reshape(6, 2)
    return [
        _loader_case(X5, np.arange(5.0), 2, False, 0, "X = [[0,1],…,[8,9]], y = [0,…,4], batch_size=2, no shuffle"),
        _loader_case(X6, np.arange(6.0) / 10, 4, True, 0, "6 rows, batch_size=4, shuffle=True, generator seed 0"),
    ]


def loader_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for n, batch_size, shuffle in ((11, 3, True), (9, 4, False), (12, 4, True), (5, 8, True), (3, 1, True)):
        d = int(rng.integers(1, 4))
        cases.append(_loader_case(rng.normal(size=(n, d)), rng.normal(size=n), batch_size, shuffle, _seed(rng)))
    return cases


# ============================================================================================================
# 2-3. The notes' FFN classes: parameter counts and the forward pass with given weights
# ============================================================================================================


def _module_reference(cls: Callable[..., torch.nn.Module]) -> Callable[..., Any]:
    """Counts by reference.models.count_parameters; the output of the reference model with the given weights."""

    def reference(configs: list[list[Any]], weights: dict[str, np.ndarray], X: np.ndarray) -> dict[str, Any]:
        counts = np.array([models.count_parameters(cls(*args)) for args in configs], dtype=np.int64)
        net = load_numpy_state_dict(cls(*configs[0]), weights).eval()
        with torch.no_grad():
            output = net(torch.tensor(X)).numpy()
        return {"parameters": counts, "output": output}

    return reference


def _ffn_weights(rng: np.random.Generator, in_features: int, out_features: int, hidden: int) -> dict[str, np.ndarray]:
    return _uniform_weights(rng, [("layer1", in_features, hidden), ("layer2", hidden, hidden),
                                  ("layer3", hidden, out_features)])


def ffn_public() -> Sequence[Case]:
    rng = np.random.default_rng(8)
    return [
        Case(([[4, 1, 4], [3, 1, 2]], _ffn_weights(rng, 4, 1, 4), np.ones((3, 4))),
             label="FFN(4, 1, 4) and the notes' FFN(3, 1, 2): counts; FFN(4, 1, 4) on torch.ones(3, 4)"),
        Case(([[2, 3, 2]], _ffn_weights(rng, 2, 3, 2), np.array([[1.0, -2.0], [0.5, 0.25]])),
             label="FFN(2, 3, 2) on [[1, -2], [0.5, 0.25]]"),
    ]


def ffn_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for rows in (1, 4, 6):  # a single-row batch too
        width = int(rng.integers(2, 7))  # in_features == hidden_size: the notes' slip (layer3(x)) then runs
        out = int(rng.integers(1, 4))
        configs = [[width, out, width]] + [[int(v) for v in rng.integers(1, 11, size=3)] for _ in range(2)]
        weights = _ffn_weights(rng, width, out, width)
        weights["layer3.bias"] -= 1.0  # some negative outputs, so a ReLU on the output layer shows
        cases.append(Case((configs, weights, rng.normal(size=(rows, width)))))
    return cases


def _sigmoid_weights(rng: np.random.Generator, input_dim: int, hidden: Sequence[int],
                     output_dim: int) -> dict[str, np.ndarray]:
    return _uniform_weights(rng, [("fc1", input_dim, hidden[0]), ("fc2", hidden[0], hidden[1]),
                                  ("output", hidden[1], output_dim)])


def ffn_sigmoid_public() -> Sequence[Case]:
    rng = np.random.default_rng(2)
    return [
        Case(([[4, [200, 300], 1]], _sigmoid_weights(rng, 4, (200, 300), 1), rng.normal(size=(10, 4))),
             label="the notes' model: input_dim=4, hidden_dim=[200, 300], output_dim=1 on a batch of 10"),
        Case(([[2, [3, 2], 2], [4, [200, 300], 1]], _sigmoid_weights(rng, 2, (3, 2), 2),
              np.array([[0.5, -1.0], [2.0, 0.0]])),
             label="input_dim=2, hidden_dim=[3, 2], output_dim=2 on [[0.5, -1], [2, 0]]"),
    ]


def ffn_sigmoid_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for rows in (1, 5):
        input_dim, h0, h1, out = (int(v) for v in rng.integers([1, 2, 2, 1], [7, 21, 21, 4]))
        configs = [[input_dim, [h0, h1], out], [int(rng.integers(1, 9)), [int(v) for v in rng.integers(1, 50, 2)],
                                                 int(rng.integers(1, 5))]]
        cases.append(Case((configs, _sigmoid_weights(rng, input_dim, (h0, h1), out),
                           rng.normal(size=(rows, input_dim)))))
    return cases


# ============================================================================================================
# 4. dropout_model: the dropout Model of "Deep learning in detail"
# ============================================================================================================


class NotesDropoutModel(torch.nn.Module):
    """The notes' Model: relu(input) -> dropout -> relu(hidden) -> dropout -> output, dropout only in training."""

    def __init__(self, dropout_rate: float) -> None:
        super().__init__()
        self.input = torch.nn.Linear(4, 12, dtype=torch.float64)
        self.hidden = torch.nn.Linear(12, 12, dtype=torch.float64)
        self.output = torch.nn.Linear(12, 3, dtype=torch.float64)
        self.dr = dropout_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.nn.functional.dropout(torch.relu(self.input(x)), p=self.dr, training=self.training)
        x = torch.nn.functional.dropout(torch.relu(self.hidden(x)), p=self.dr, training=self.training)
        return self.output(x)


def dropout_reference(rate: float, weights: dict[str, np.ndarray], X: np.ndarray, seed: int) -> Any:
    return _trusted("dropout_outputs", NotesDropoutModel, rate, weights, X, seed)


def _dropout_weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return _uniform_weights(rng, [("input", 4, 12), ("hidden", 12, 12), ("output", 12, 3)])


def dropout_public() -> Sequence[Case]:
    rng = np.random.default_rng(17)
    return [
        Case((0.2, _dropout_weights(rng), np.ones((2, 4)), 17),
             label="Model(0.2) on torch.ones(2, 4), torch.manual_seed(17) before the train-mode pass"),
        Case((0.25, _dropout_weights(rng), np.round(rng.normal(size=(3, 4)), 2), 0),
             label="Model(0.25) on 3 rows, torch.manual_seed(0)"),
    ]


def dropout_hidden(rng: np.random.Generator) -> Sequence[Case]:
    # Never 0.5: there p and 1 − p coincide and a keep/drop mix-up would go unseen.
    rates = rng.choice([0.1, 0.2, 0.3, 0.4, 0.6, 0.7], size=3, replace=False)
    return [Case((float(rate), _dropout_weights(rng), rng.normal(size=(rows, 4)), _seed(rng)))
            for rate, rows in zip(rates, (1, 4, 8), strict=True)]


# ============================================================================================================
# 5. train_loop: the loss trajectory of reference.training.train under the same seeds
# ============================================================================================================


def train_loop_reference(X: np.ndarray, y: np.ndarray, hidden: int, p: float, optimizer: str, lr: float,
                         batch_size: int, epochs: int, seed: int) -> dict[str, Any]:
    """reference.training.train on reference.models.DropoutFFN built from torch seed `seed` (as the harness)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.default_generator.manual_seed(int(seed))
            model = models.DropoutFFN(X.shape[1], 1, hidden, p)
            model.eval()
            result = reference_train(model, X, y, loss="mse", optimizer=optimizer, lr=lr, epochs=epochs,
                                     batch_size=batch_size, seed=seed, shuffle=True)
    finally:
        torch.set_num_threads(threads)
    return {"losses": result.losses, "state": state_dict_to_numpy(model)}


def _train_case(rng: np.random.Generator, n: int, d: int, batch_size: int, epochs: int, optimizer: str,
                seed: int, label: str = "") -> Case:
    X, y = datasets.make_sum_regression(n, d, rng)
    hidden = int(rng.integers(5, 11))
    p = float(rng.choice([0.2, 0.25, 0.3, 0.4, 0.5]))
    lr = 0.02 if optimizer == "sgd" else 0.01
    return Case((X, y, hidden, p, optimizer, lr, batch_size, epochs, seed), label=label)


def train_public() -> Sequence[Case]:
    rng = np.random.default_rng(5307)
    return [
        _train_case(rng, 12, 3, 4, 3, "sgd", 0, "12 samples, 3 features, batch_size=4, SGD(lr=0.02), 3 epochs"),
        _train_case(rng, 10, 2, 4, 2, "adam", 1, "10 samples (last batch of 2), Adam(lr=0.01), 2 epochs"),
    ]


def train_hidden(rng: np.random.Generator) -> Sequence[Case]:
    return [
        _train_case(rng, int(rng.integers(20, 30)), int(rng.integers(2, 6)), 8, 3, "sgd", _seed(rng)),
        _train_case(rng, 23, int(rng.integers(2, 6)), 5, 3, "adam", _seed(rng)),  # a ragged last batch
        _train_case(rng, 9, 3, 1, 2, "sgd", _seed(rng)),  # single-sample batches
    ]


# ============================================================================================================
# 6. accuracy: eval mode and no_grad, watched by hooks
# ============================================================================================================


def accuracy_reference(X: np.ndarray, y: np.ndarray, weights: dict[str, np.ndarray], p: float, batch_size: int,
                       seed: int) -> dict[str, Any]:
    """reference.training.evaluate's accuracy (logits: predict 1 iff z > 0) of the harness's model."""
    model = models.DropoutFFN(X.shape[1], 1, weights["layer1.weight"].shape[0], p)
    load_numpy_state_dict(model, weights)
    return {"accuracy": evaluate(model, X, y, loss="bce_logits").accuracy, "eval_mode": True, "no_grad": True}


def _logit_weights(rng: np.random.Generator, d: int, hidden: int) -> dict[str, np.ndarray]:
    """Weights twice nn.Linear's scale: logits spread over a few units (some in (0, 0.5), some beyond ±1)."""
    weights = _uniform_weights(rng, [("layer1", d, hidden), ("layer2", hidden, hidden), ("layer3", hidden, 1)])
    return {key: 2.0 * value for key, value in weights.items()}


def accuracy_public() -> Sequence[Case]:
    rng = np.random.default_rng(3)
    X, y = datasets.make_moons(20, 0.1, 0)
    X2, y2 = datasets.make_xor_blobs(30, 0.2, 1)
    return [
        Case((X, y, _logit_weights(rng, 2, 8), 0.5, 8, 0),
             label="20 moons points in batches of 8, a DropoutFFN(2, 1, 8, p=0.5)"),
        Case((X2, y2, _logit_weights(rng, 2, 16), 0.3, 30, 1),
             label="30 XOR points in one batch, a DropoutFFN(2, 1, 16, p=0.3)"),
    ]


def _thresholds_told_apart(X: np.ndarray, y: np.ndarray, weights: dict[str, np.ndarray], p: float) -> bool:
    """Whether the eval-mode model's accuracy with the logit threshold 0 differs from that with 0.5 (out.round(),
    the threshold_half mistake) and with 1 (a logit compared with a probability's 1): some logits in (0, 1)."""
    model = models.DropoutFFN(X.shape[1], 1, weights["layer1.weight"].shape[0], p)
    load_numpy_state_dict(model, weights)
    logits = evaluate(model, X, y, loss="bce_logits").output.reshape(-1)
    accuracy = {t: float(np.mean((logits > t) == (y > 0.5))) for t in (0.0, 0.5, 1.0)}
    return accuracy[0.0] != accuracy[0.5] and accuracy[0.0] != accuracy[1.0]


def accuracy_hidden(rng: np.random.Generator) -> Sequence[Case]:
    cases = []
    for n, batch_size in ((int(rng.integers(30, 50)), 16), (int(rng.integers(20, 30)), 7), (5, 1)):
        X, y = datasets.make_circles(n, 0.1, rng)
        units, p = int(rng.integers(8, 17)), float(rng.uniform(0.3, 0.6))
        weights = _logit_weights(rng, 2, units)
        for _ in range(100 if n > 5 else 0):  # the two larger cases tell the threshold 0 from 0.5 and from 1
            if _thresholds_told_apart(X, y, weights, p):
                break
            weights = _logit_weights(rng, 2, units)
        cases.append(Case((X, y, weights, p, batch_size, _seed(rng))))
    return cases


# ============================================================================================================
# 7-8. classifier and regressor: trained by the student, judged on hidden test sets
# ============================================================================================================

CLASSIFIER_ACCURACY = 0.9  # on two noisy concentric circles; no line does better than ~0.6
REGRESSOR_MSE = 0.25  # on y = Σ x with x ~ N(0, I₄) (variance 4); predicting the mean scores 4
CIRCLES_NOISE = 0.1
N_TEST = 1000


def _test_seed(X: np.ndarray) -> int:
    """The hidden test set's seed, derived from the training data (so it is fixed per case, never sent)."""
    digest = hashlib.sha256(b"training/test/" + np.ascontiguousarray(X, dtype=np.float64).tobytes()).digest()
    return int.from_bytes(digest[:8], "big")


def _weights(answer: Any) -> dict[str, np.ndarray] | None:
    """{name: float64 array} from a returned state dict (a dict answer of arrays), or None."""
    entries = getattr(answer, "entries", None)
    if entries is None:
        return None
    arrays = {}
    for key, leaf in entries:
        array = getattr(leaf, "array", None)
        if array is None:
            return None
        arrays[key] = np.asarray(array, dtype=np.float64)
    return arrays


def _without_aliases(weights: dict[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """The weights without the extra names that only repeat one of ``names`` (a model that also keeps its
    layers in an nn.Sequential exports each of their tensors under two names)."""
    wanted = [weights[name] for name in names if name in weights]
    return {key: value for key, value in weights.items()
            if key in names or not any(value.shape == w.shape and np.array_equal(value, w, equal_nan=True)
                                       for w in wanted)}


def _load(model: torch.nn.Module, answer: Any, what: str) -> tuple[torch.nn.Module | None, str]:
    weights = _weights(answer)
    if weights is None:
        described = answer.describe() if hasattr(answer, "describe") else type(answer).__name__
        return None, f"expected the trained model's state dict, got {described}"
    weights = _without_aliases(weights, list(model.state_dict()))
    diverged = [key for key, value in weights.items() if not np.isfinite(value).all()]
    if diverged:
        return None, (f"your training diverged: after it, {', '.join(diverged[:3])} "
                      f"{'holds' if len(diverged) == 1 else 'hold'} nan or inf (a smaller learning rate? a loss "
                      "that grows from epoch to epoch?)")
    try:
        return load_numpy_state_dict(model, weights), ""
    except ValueError as error:
        shapes = {key: value.shape for key, value in weights.items()}
        return None, f"these weights are not those of {what}: {error} (yours: {shapes})"


def judge_classifier(case: Case, answer: Any) -> Verdict:
    """Load the weights into unit 8's Net (reference.models.TwoLayerClassifier, sigmoid hidden and output) and
    measure its accuracy on 1,000 fresh points of the same circles."""
    weights = _weights(answer)
    if weights and (problem := too_large_to_judge([w.shape for w in weights.values()])):
        return Verdict(False, problem)
    hidden = weights["Dense1.weight"].shape[0] if weights and weights.get("Dense1.weight", np.zeros(0)).ndim == 2 \
        else 1
    model, problem = _load(models.TwoLayerClassifier(2, hidden, 1, activation="sigmoid"), answer,
                           "unit 8's Net(nin=2, nh, nout=1): Dense1 (nh × 2) and Dense2 (1 × nh)")
    if model is None:
        return Verdict(False, problem)
    X_test, y_test = datasets.make_circles(N_TEST, CIRCLES_NOISE, _test_seed(case.args[0]))
    accuracy = evaluate(model, X_test, y_test, loss="bce").accuracy
    assert accuracy is not None
    verdict = "reaches" if accuracy >= CLASSIFIER_ACCURACY else "does not reach"
    return Verdict(accuracy >= CLASSIFIER_ACCURACY,
                   f"accuracy on {N_TEST} hidden test points: {accuracy:.3f}, which {verdict} the required "
                   f"{CLASSIFIER_ACCURACY:.2f}")


def judge_regressor(case: Case, answer: Any) -> Verdict:
    """Load the weights into lecture 8's FFN(4, 1, hidden) and measure its MSE on 1,000 fresh samples."""
    weights = _weights(answer)
    if weights and (problem := too_large_to_judge([w.shape for w in weights.values()])):
        return Verdict(False, problem)
    hidden = weights["layer1.weight"].shape[0] if weights and weights.get("layer1.weight", np.zeros(0)).ndim == 2 \
        else 1
    model, problem = _load(models.FFN(4, 1, hidden), answer,
                           "FFN(4, 1, hidden_size): layer1 (h × 4), layer2 (h × h), layer3 (1 × h)")
    if model is None:
        return Verdict(False, problem)
    X_test, y_test = datasets.make_sum_regression(N_TEST, 4, _test_seed(case.args[0]))
    mse = evaluate(model, X_test, y_test, loss="mse").loss
    verdict = "within" if mse <= REGRESSOR_MSE else "above"
    return Verdict(mse <= REGRESSOR_MSE,
                   f"mean squared error on {N_TEST} hidden test samples: {mse:.4f}, {verdict} the allowed "
                   f"{REGRESSOR_MSE:g}")


def _fit_reference(question: str) -> Callable[..., Any]:
    """The exported weights of the notebook's own solution (the judge, not these, decides a pass)."""
    harness, entry, cell = _QUESTIONS[question]
    return _variant(harness, entry, solution_sources(NOTEBOOK)[cell])


def classifier_public() -> Sequence[Case]:
    X, y = datasets.make_circles(200, CIRCLES_NOISE, 0)
    return [Case((X, y, 0), label="make_circles(200, noise=0.1, seed 0), torch.manual_seed(0) before the call")]


def classifier_hidden(rng: np.random.Generator) -> Sequence[Case]:
    X, y = datasets.make_circles(200, CIRCLES_NOISE, rng)
    return [Case((X, y, _seed(rng)))]


def regressor_public() -> Sequence[Case]:
    X, y = datasets.make_sum_regression(100, 4, 0)
    return [Case((X, y, 0), label="make_sum_regression(100, 4, seed 0), torch.manual_seed(0) before the call")]


def regressor_hidden(rng: np.random.Generator) -> Sequence[Case]:
    X, y = datasets.make_sum_regression(100, 4, rng)
    return [Case((X, y, _seed(rng)))]


# ============================================================================================================
# The questions and their catalogs of known mistakes
# ============================================================================================================


def _make_loader_question() -> Question:
    return Question(
        name="make_loader", cell="make_loader_solution", entry="make_loader", reference=loader_reference,
        public=loader_public, hidden=loader_hidden, harness="loader_batches", dtype="any", timeout=20.0,
        hint="TensorDataset(torch.as_tensor(X), torch.as_tensor(y)) and DataLoader(dataset, batch_size=…, "
             "shuffle=…, generator=…)",
        mistakes=(
            _mistake("make_loader", "ignores_generator",
                     "your loader shuffles with torch's global random generator: pass generator=generator to "
                     "DataLoader, so the order depends only on that seeded generator (reproducible runs).",
                     (", generator=generator)", ")")),
            _mistake("make_loader", "float32_tensors",
                     "torch.Tensor(X) (as in unit 8's slide) converts to float32 and loses digits: keep the "
                     "arrays' float64 with torch.as_tensor(X) (or torch.from_numpy).",
                     ("TensorDataset(torch.as_tensor(X), torch.as_tensor(y))",
                      "TensorDataset(torch.Tensor(X), torch.Tensor(y))")),
            _mistake("make_loader", "drop_last",
                     "your loader drops the last, smaller batch (drop_last=True): every sample must be served "
                     "once per epoch, so the last batch holds the remaining n mod batch_size rows.",
                     ("generator=generator)", "generator=generator, drop_last=True)")),
            _mistake("make_loader", "never_shuffles",
                     "your loader ignores the shuffle argument and never shuffles: pass shuffle=shuffle to "
                     "DataLoader.",
                     ("shuffle=shuffle,", "shuffle=False,")),
            _mistake("make_loader", "always_shuffles",
                     "your loader always shuffles: with shuffle=False the batches must come in the data's order; "
                     "pass shuffle=shuffle to DataLoader.",
                     ("shuffle=shuffle,", "shuffle=True,")),
        ),
    )


def _ffn_question() -> Question:
    return Question(
        name="ffn", cell="ffn_solution", entry="FFN", reference=_module_reference(models.FFN),
        public=ffn_public, hidden=ffn_hidden, harness="build_and_run", dtype="number", timeout=20.0,
        hint="forward chains y through the layers: y = layer1(x), ReLU, layer2, ReLU, layer3",
        mistakes=(
            _mistake("ffn", "forward_uses_x",
                     "every line of your forward reads x instead of y (the slip in lecture 8's first FFN), so "
                     "the output is layer3(x) and the first two layers are thrown away: feed each step the "
                     "previous step's result, y = layer1(x); y = relu(y); y = layer2(y); y = relu(y); "
                     "y = layer3(y).",
                     ("y = nn.ReLU()(y)", "y = nn.ReLU()(x)"), ("y = self.layer2(y)", "y = self.layer2(x)"),
                     ("y = F.relu(y)", "y = F.relu(x)"), ("y = self.layer3(y)", "y = self.layer3(x)")),
            _mistake("ffn", "no_activation",
                     "your forward has no ReLU: three linear layers in a row collapse into one linear map. Apply "
                     "ReLU after layer1 and after layer2.",
                     ("        y = nn.ReLU()(y)\n", ""), ("        y = F.relu(y)\n", "")),
            _mistake("ffn", "missing_second_relu",
                     "your forward applies ReLU after layer1 but not after layer2: the network is "
                     "layer3(relu(layer2(relu(layer1(x))))).",
                     ("        y = F.relu(y)\n", "")),
            _mistake("ffn", "relu_on_output",
                     "your forward applies ReLU to the output of layer3 too, so it can never predict a negative "
                     "value: the last layer of a regression network is linear.",
                     ("        y = self.layer3(y)\n", "        y = self.layer3(y)\n        y = F.relu(y)\n")),
        ),
    )


def _ffn_sigmoid_question() -> Question:
    return Question(
        name="ffn_sigmoid", cell="ffn_sigmoid_solution", entry="FeedforwardNeuralNetModel",
        reference=_module_reference(models.SigmoidFFN), public=ffn_sigmoid_public, hidden=ffn_sigmoid_hidden,
        harness="build_and_run", dtype="number", timeout=20.0,
        hint="fc1: input_dim → hidden_dim[0], fc2: hidden_dim[0] → hidden_dim[1], output: hidden_dim[1] → "
             "output_dim; sigmoid after fc1 and fc2 only",
        mistakes=(
            _mistake("ffn_sigmoid", "relu_instead_of_sigmoid",
                     "your hidden activations are ReLU; this network uses the sigmoid σ(z) = 1/(1 + e^(−z)) "
                     "after fc1 and after fc2 (nn.Sigmoid()).",
                     ("self.sigmoid1 = nn.Sigmoid()", "self.sigmoid1 = nn.ReLU()"),
                     ("self.sigmoid2 = nn.Sigmoid()", "self.sigmoid2 = nn.ReLU()")),
            _mistake("ffn_sigmoid", "sigmoid_on_output",
                     "your forward applies a sigmoid to the output layer too; the output layer is linear "
                     "(y = W₃ σ(W₂ σ(W₁ x + b₁) + b₂) + b₃), so it can predict any real value.",
                     ("        x = self.output(x)\n", "        x = torch.sigmoid(self.output(x))\n")),
            _mistake("ffn_sigmoid", "missing_second_sigmoid",
                     "your forward skips the sigmoid after fc2: it is fc1 → sigmoid → fc2 → sigmoid → output.",
                     ("        x = self.sigmoid2(x)\n", "")),
        ),
    )


def _dropout_question() -> Question:
    return Question(
        name="dropout_model", cell="dropout_model_solution", entry="Model", reference=dropout_reference,
        public=dropout_public, hidden=dropout_hidden, harness="dropout_outputs", timeout=20.0,
        # The eval output is compared; train mode is checked by the harness's watch on self.hidden and
        # self.output (any dropout passes, whatever its random numbers), which returns booleans.
        dtype="any", output_names=("eval",),
        hint="after each hidden ReLU: in train mode zero each unit with probability p and scale the others by "
             "1/(1 − p) (F.dropout(x, p=self.dr, training=self.training) does both); in eval mode do nothing",
        mistakes=(
            _mistake("dropout_model", "dropout_always_on",
                     "your dropout is active in eval mode too: F.dropout's training argument defaults to True, "
                     "so pass training=self.training (or use nn.Dropout modules, which follow model.eval()).",
                     ("self.input(x))\n        x = F.dropout(x, p=self.dr, training=self.training)",
                      "self.input(x))\n        x = F.dropout(x, p=self.dr)"),
                     ("self.hidden(x))\n        x = F.dropout(x, p=self.dr, training=self.training)",
                      "self.hidden(x))\n        x = F.dropout(x, p=self.dr)")),
            _mistake("dropout_model", "no_dropout",
                     "your forward has no dropout: in train mode each hidden unit must be zeroed with "
                     "probability dropout_rate (and the survivors scaled by 1/(1 − dropout_rate)).",
                     ("self.input(x))\n        x = F.dropout(x, p=self.dr, training=self.training)\n",
                      "self.input(x))\n"),
                     ("self.hidden(x))\n        x = F.dropout(x, p=self.dr, training=self.training)\n",
                      "self.hidden(x))\n")),
            _mistake("dropout_model", "keep_probability_as_p",
                     "you passed the keep probability 1 − dropout_rate as p: p is the probability of dropping "
                     "a unit, so p=self.dr.",
                     ("self.input(x))\n        x = F.dropout(x, p=self.dr,",
                      "self.input(x))\n        x = F.dropout(x, p=1 - self.dr,"),
                     ("self.hidden(x))\n        x = F.dropout(x, p=self.dr,",
                      "self.hidden(x))\n        x = F.dropout(x, p=1 - self.dr,")),
            _mistake("dropout_model", "one_dropout_only",
                     "your forward drops out after the first hidden layer only: the notes' model applies "
                     "dropout after both hidden layers.",
                     ("x = F.relu(self.hidden(x))\n        x = F.dropout(x, p=self.dr, training=self.training)\n",
                      "x = F.relu(self.hidden(x))\n")),
        ),
    )


def _train_question() -> Question:
    return Question(
        name="train_loop", cell="train_loop_solution", entry="train", reference=train_loop_reference,
        # 60 s: the first optimizer a process creates imports torch._dynamo (seconds on a busy machine).
        public=train_public, hidden=train_hidden, harness="train_run", timeout=60.0,
        # float64 throughout; the only freedom is the order of a few additions (e.g. of the epoch's loss).
        rtol=1e-6, atol=1e-9, output_names=("losses", "state"),
        hint="per epoch: model.train(); per batch: forward, loss, zero_grad, backward, step; record the mean "
             "of the epoch's batch losses",
        mistakes=(
            _mistake("train_loop", "no_zero_grad",
                     "you never call optimizer.zero_grad(): loss.backward() adds to the .grad of the previous "
                     "batches, so every step uses the sum of all gradients so far. Zero them in every batch.",
                     ("            optimizer.zero_grad()\n", "")),
            _mistake("train_loop", "no_train_mode",
                     "you never call model.train(): the model came in eval mode, so dropout stayed off while "
                     "training. Call model.train() at the start of every epoch (evaluation switches it off).",
                     ("        model.train()\n", "")),
            _mistake("train_loop", "zero_grad_after_backward",
                     "your optimizer step never sees a gradient (zero_grad runs between backward and step, or "
                     "step runs before backward), so the weights never change: zero_grad, then backward, then "
                     "step.",
                     ("            optimizer.zero_grad()\n            loss.backward()\n",
                      "            loss.backward()\n            optimizer.zero_grad()\n")),
            _mistake("train_loop", "no_target_reshape",
                     "the model's output is (B, 1) but the targets are (B,): the loss broadcasts them to a "
                     "(B, B) matrix and compares every prediction with every target. Reshape the targets, "
                     "y_batch.view(-1, 1), as in unit 8's loop.",
                     ("loss_fn(out, y_batch.view(-1, 1))", "loss_fn(out, y_batch)")),
            _mistake("train_loop", "weighted_by_batch_size",
                     "you weight each batch's loss by its size (a per-sample average); this loop records unit 8's "
                     "avg_loss, the plain mean of the epoch's batch losses, np.mean(batch_loss), so a smaller "
                     "last batch counts as much as a full one.",
                     ("batch_loss.append(loss.item())", "batch_loss.append(loss.item() * len(x_batch))"),
                     ("history.append(float(np.mean(batch_loss)))",
                      "history.append(sum(batch_loss) / len(loader.dataset))")),
            _mistake("train_loop", "last_batch_loss",
                     "you record only the last batch's loss of each epoch: record the mean of all the epoch's "
                     "batch losses.",
                     ("history.append(float(np.mean(batch_loss)))", "history.append(loss.item())")),
        ),
    )


def _accuracy_question() -> Question:
    return Question(
        name="accuracy", cell="accuracy_solution", entry="accuracy", reference=accuracy_reference,
        public=accuracy_public, hidden=accuracy_hidden, harness="accuracy_run", dtype="any", timeout=20.0,
        output_names=("accuracy", "eval_mode", "no_grad"),
        hint="model.eval(); with torch.no_grad(): count (logit > 0) == label over all batches; return a fraction",
        mistakes=(
            _mistake("accuracy", "no_eval",
                     "you evaluate in train mode: dropout is still dropping units, so the predictions are "
                     "random. Call model.eval() first.",
                     ("    model.eval()\n", "")),
            _mistake("accuracy", "no_no_grad",
                     "your forward passes track gradients: evaluate inside `with torch.no_grad():` (nothing is "
                     "trained here, and it saves memory and time).",
                     ("    with torch.no_grad():\n        for x_batch, y_batch in loader:\n"
                      "            out = model(x_batch).squeeze(1)\n            guess = (out > 0).double()\n"
                      "            correct += (guess == y_batch).sum().item()\n            total += len(y_batch)\n",
                      "    for x_batch, y_batch in loader:\n        out = model(x_batch).squeeze(1)\n"
                      "        guess = (out > 0).double()\n        correct += (guess == y_batch).sum().item()\n"
                      "        total += len(y_batch)\n")),
            _mistake("accuracy", "threshold_half",
                     "out.round() (unit 8's guess) is right for a sigmoid output, but this model outputs "
                     "logits z: predict class 1 when z > 0, i.e. σ(z) > 0.5.",
                     ("guess = (out > 0).double()", "guess = out.round()")),
            _mistake("accuracy", "percent",
                     "you return a percentage (unit 8 prints 100·(1 − error/total)); return the fraction "
                     "correct / total, a number in [0, 1].",
                     ("return correct / total", "return 100 * correct / total")),
            _mistake("accuracy", "no_squeeze",
                     "the model's output is (B, 1) and the labels are (B,): comparing them broadcasts to (B, B) "
                     "and counts B times too many matches. Squeeze the output to (B,) first.",
                     ("out = model(x_batch).squeeze(1)", "out = model(x_batch)")),
        ),
    )


def _classifier_question() -> Question:
    return Question(
        name="classifier", cell="classifier_solution", entry="train_classifier",
        reference=_fit_reference("classifier"), public=classifier_public,
        hidden=classifier_hidden, harness="fit_and_export", judge=judge_classifier, timeout=90.0,
        # The judge decides pass/fail; rtol/atol only match wrong weights to a known mistake (a training run of
        # the same code under the same seeds reproduces them to rounding).
        rtol=1e-6, atol=1e-9,
        hint="unit 8's recipe: DataLoader(shuffle=True), Net(2, nh, 1), Adam, BCELoss, zero_grad/backward/step "
             "per batch, enough epochs (watch the loss fall)",
        mistakes=(
            _mistake("classifier", "no_hidden_activation",
                     "your Net applies no activation after Dense1, so Dense2(Dense1(x)) is linear in x and its "
                     "decision boundary is a line, which cannot separate a circle from a ring around it. Apply "
                     "the sigmoid to Dense1's output.",
                     ("x = self.activation(self.Dense1(x))", "x = self.Dense1(x)")),
            _mistake("classifier", "one_hidden_unit",
                     "one hidden unit gives a single linear feature, so the boundary is still a line: the inner "
                     "circle needs several hidden units (at least 3 to enclose it; 8 works well).",
                     ("Net(nin=2, nh=8, nout=1)", "Net(nin=2, nh=1, nout=1)")),
            _mistake("classifier", "forgot_step",
                     "you never call opt.step(): the gradients are computed but the weights never change, so "
                     "the model stays at its random initialisation.",
                     ("            opt.step()\n", "")),
        ),
    )


def _regressor_question() -> Question:
    return Question(
        name="regressor", cell="regressor_solution", entry="train_regressor",
        reference=_fit_reference("regressor"), public=regressor_public,
        hidden=regressor_hidden, harness="fit_and_export", judge=judge_regressor, timeout=60.0, uses=("ffn",),
        rtol=1e-6, atol=1e-9,  # as for the classifier: only for recognising known mistakes
        hint="lecture 8's end-to-end loop: zero_grad, y_pred = net(X).squeeze(1), MSELoss, backward, step",
        mistakes=(
            _mistake("regressor", "no_squeeze",
                     "net(X) is (n, 1) but y is (n,): MSELoss broadcasts them to (n, n) and the network learns "
                     "to predict the mean. Squeeze the output, net(X).squeeze(1), as in lecture 8.",
                     ("y_pred = net(X).squeeze(1)", "y_pred = net(X)")),
            _mistake("regressor", "forgot_step",
                     "you never call optimizer.step(): the weights keep their random initial values.",
                     ("        optimizer.step()\n", "")),
            _mistake("regressor", "no_zero_grad",
                     "you never call optimizer.zero_grad(): each backward adds to the gradients of all earlier "
                     "epochs, the steps grow and training goes astray. Zero the gradients every epoch.",
                     ("        optimizer.zero_grad()\n", "")),
        ),
    )


SUITE = Suite(
    assignment="training",
    questions=(
        _make_loader_question(),
        _ffn_question(),
        _ffn_sigmoid_question(),
        _dropout_question(),
        _train_question(),
        _accuracy_question(),
        _classifier_question(),
        _regressor_question(),
    ),
    harness_source=HARNESS_SOURCE,
    warm_up=WARM_UP_OPTIMIZERS + WARM_UP_DATA,  # every question builds loaders, most train
    notebook=NOTEBOOK,  # each mistake's code: its question's solution cell with its edits
)
