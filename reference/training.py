"""Unit 8's PyTorch recipe as one reproducible function, plus evaluation and numpy ↔ model weight transfer.

The recipe (unit 8, lecture 8): wrap numpy arrays in a TensorDataset, draw mini-batches from a DataLoader,
and for each batch: zero_grad → forward → loss → backward → step, with the model in train mode; record the
loss and accuracy of each epoch. Evaluation switches to eval mode (dropout off) and runs under
torch.no_grad().

Reproducibility: the DataLoader shuffles with its own torch.Generator seeded with `seed`, and the global torch
RNG (used by dropout) is seeded with `seed` inside torch.random.fork_rng, so the caller's global RNG state is
restored afterwards. With torch.set_num_threads(1) the same model, data and seed give bit-identical loss
trajectories (a multi-threaded reduction may add terms in another order); the thread count is global state
that belongs to the caller, so train() leaves it alone.

Arrays are float64 numpy; the tensors take the dtype of the model's parameters (float64 for reference.models,
see there why). Shapes: X is (n, d). For 'mse', 'bce' and 'bce_logits' y is (n,) or the model output's shape;
a (n, 1) output is squeezed to (n,) when y is (n,) — the notes' `net(X).squeeze(1)` — and nothing else is ever
broadcast. For 'cross_entropy' y holds int class indices of shape (n,) and the output is (n, K) logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reference._checks import as_float_array

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "EvalResult",
    "TrainResult",
    "accuracy",
    "evaluate",
    "load_numpy_state_dict",
    "state_dict_to_numpy",
    "train",
]

# loss name -> (criterion class, threshold on the output for a positive binary prediction, or None)
_LOSSES: dict[str, tuple[type[nn.Module], float | None]] = {
    "mse": (nn.MSELoss, None),  # regression: mean of (output − y)²
    "bce": (nn.BCELoss, 0.5),  # output is a probability σ(z): predict 1 iff p > 0.5
    "bce_logits": (nn.BCEWithLogitsLoss, 0.0),  # output is a logit z: predict 1 iff z > 0 (σ(z) > 0.5)
    "cross_entropy": (nn.CrossEntropyLoss, None),  # output is (n, K) logits: predict argmax (no threshold)
}
LOSSES = tuple(_LOSSES)
OPTIMIZERS = ("sgd", "adam")


@dataclass(frozen=True)
class TrainResult:
    """What train() returns; `model` is the very object passed in, now trained (and left in train mode)."""

    model: nn.Module
    losses: np.ndarray  # (epochs,) float64: per epoch, the mean of its batch losses (the notes' np.mean)
    accuracies: np.ndarray | None  # (epochs,) float64 training accuracy per epoch; None for 'mse'
    steps: int  # optimizer steps taken = epochs · ⌈n / batch_size⌉


@dataclass(frozen=True)
class EvalResult:
    """What evaluate() returns."""

    loss: float  # the criterion's mean over all n samples
    accuracy: float | None  # fraction correct; None for 'mse'
    output: np.ndarray  # the model's output on X, float64, shape as the model returns it


# ------------------------------------------------------------------------------------------------------------
# Argument checks


def _check_loss(loss: str) -> None:
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {list(LOSSES)}, got {loss!r}")


def _check_model(model: nn.Module) -> torch.dtype:
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    params = list(model.parameters())
    if not params:
        raise ValueError("model has no parameters")
    dtype = params[0].dtype
    if not dtype.is_floating_point:
        raise ValueError(f"model parameters must be floating point, got {dtype}")
    return dtype


def _positive_int(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return int(value)


def _tensors(X: ArrayLike, y: ArrayLike, loss: str, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """X and y as tensors after checking shapes and values; y is int64 class indices for 'cross_entropy'."""
    X64 = as_float_array(X, "X")
    if X64.ndim != 2 or X64.shape[0] == 0:
        raise ValueError(f"X must have shape (n, d) with n >= 1, got {X64.shape}")
    if not np.isfinite(X64).all():
        raise ValueError("X contains inf")
    n = X64.shape[0]
    if loss == "cross_entropy":
        labels = np.asarray(y)
        if labels.dtype.kind not in "iu":
            kind = labels.dtype
            raise ValueError(f"y must hold integer class indices for loss='cross_entropy', got dtype {kind}")
        if labels.shape != (n,):
            raise ValueError(f"y has shape {labels.shape} but X has {n} rows; expected ({n},)")
        if (labels < 0).any():
            raise ValueError("y holds a negative class index")
        return torch.tensor(X64, dtype=dtype), torch.tensor(labels, dtype=torch.int64)
    y64 = as_float_array(y, "y")
    if y64.ndim not in (1, 2) or y64.shape[0] != n:
        raise ValueError(f"y has shape {y64.shape} but X has {n} rows; expected ({n},) or ({n}, k)")
    if not np.isfinite(y64).all():
        raise ValueError("y contains inf")
    if loss in ("bce", "bce_logits") and ((y64 < 0) | (y64 > 1)).any():
        raise ValueError(f"y must lie in [0, 1] for loss={loss!r}")
    return torch.tensor(X64, dtype=dtype), torch.tensor(y64, dtype=dtype)


def _match(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor:
    """The output the criterion sees: (n, 1) → (n,) when target is (n,); otherwise shapes must be equal."""
    if loss == "cross_entropy":
        if output.ndim != 2 or output.shape[0] != target.shape[0]:
            shape = tuple(output.shape)
            raise ValueError(f"loss='cross_entropy' needs (n, K) logits, but the model's output is {shape}")
        if int(target.max()) >= output.shape[1]:
            top, k = int(target.max()), output.shape[1]
            raise ValueError(f"y holds class index {top} but the model has {k} outputs")
        return output
    if target.ndim == 1 and output.ndim == 2 and output.shape[1] == 1:
        output = output.squeeze(1)
    if output.shape != target.shape:
        got, want = tuple(target.shape), tuple(output.shape)
        raise ValueError(f"y has shape {got} but the model's output has shape {want}")
    return output


# ------------------------------------------------------------------------------------------------------------
# Accuracy, training, evaluation


def _as_numpy(x: ArrayLike | torch.Tensor) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def accuracy(output: ArrayLike | torch.Tensor, y: ArrayLike | torch.Tensor, threshold: float = 0.5) -> float:
    """mean(argmax_k output[:, k] == y) for (n, K>1) outputs, else mean(1[output > threshold] == y)."""
    # threshold 0.5 for probabilities (p = 0.5 counts as 0, like the notes' out.round()), 0 for logits;
    # an (n, 1) output is compared with (n,) labels, as in training.
    out = as_float_array(_as_numpy(output), "output")
    target = as_float_array(_as_numpy(y), "y")
    if out.size == 0:
        raise ValueError("output is empty")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float | np.floating):
        raise ValueError(f"threshold must be a real number, got {threshold!r}")
    if out.ndim == 2 and out.shape[1] > 1 and target.shape == (out.shape[0],):
        return float(np.mean(np.argmax(out, axis=1) == target))
    if target.ndim == 1 and out.shape == (target.shape[0], 1):
        out = out[:, 0]
    if out.shape != target.shape:
        raise ValueError(f"y has shape {target.shape} but output has shape {out.shape}")
    return float(np.mean((out > threshold).astype(np.float64) == target))


def _correct(output: torch.Tensor, target: torch.Tensor, loss: str) -> float:
    threshold = _LOSSES[loss][1]
    if loss == "cross_entropy":
        return float((output.argmax(dim=1) == target).sum())
    assert threshold is not None
    # Mean over a row's entries, so that a multi-output binary model counts each row once.
    hits = ((output > threshold).to(target.dtype) == target).to(torch.float64)
    return float(hits.reshape(hits.shape[0], -1).mean(dim=1).sum())


def train(
    model: nn.Module,
    X: ArrayLike,
    y: ArrayLike,
    *,
    loss: str = "mse",
    optimizer: str = "sgd",
    lr: float = 1e-2,
    epochs: int = 1,
    batch_size: int | None = None,
    seed: int = 0,
    shuffle: bool = True,
) -> TrainResult:
    """Per epoch, per batch of a seeded DataLoader: zero_grad, J = loss(model(xb), yb), backward, θ ← step."""
    # batch_size None is full batch, as lecture 8's end-to-end loop. See the module docstring for shapes.
    _check_loss(loss)
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {list(OPTIMIZERS)}, got {optimizer!r}")
    dtype = _check_model(model)
    real = isinstance(lr, int | float | np.floating) and not isinstance(lr, bool)
    if not real or not np.isfinite(lr) or lr <= 0:
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    epochs = _positive_int(epochs, "epochs")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    Xt, yt = _tensors(X, y, loss, dtype)
    n = Xt.shape[0]
    batch_size = n if batch_size is None else _positive_int(batch_size, "batch_size")

    criterion = _LOSSES[loss][0]()
    opt_cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
    opt = opt_cls(model.parameters(), lr=float(lr))
    loader = DataLoader(
        TensorDataset(Xt, yt),
        batch_size=batch_size,
        shuffle=bool(shuffle),
        generator=torch.Generator().manual_seed(seed),
    )
    losses = np.zeros(epochs)
    accuracies = None if loss == "mse" else np.zeros(epochs)
    steps = 0
    # fork_rng: dropout draws from the global generator; seed it here and give the caller's state back after.
    with torch.random.fork_rng(devices=[]), torch.enable_grad():
        # torch.manual_seed(seed) on the CPU, without its per-call probing of accelerators (~0.3 ms)
        torch.default_generator.manual_seed(int(seed))
        for epoch in range(epochs):
            model.train()
            batch_losses, correct = [], 0.0
            for xb, yb in loader:
                opt.zero_grad()
                out = _match(model(xb), yb, loss)
                batch_loss = criterion(out, yb)
                batch_loss.backward()
                opt.step()
                steps += 1
                batch_losses.append(batch_loss.item())
                if accuracies is not None:
                    correct += _correct(out.detach(), yb, loss)
            # Unit 8's avg_loss: a plain mean, so a short last batch counts as much as a full one.
            losses[epoch] = np.mean(batch_losses)
            if accuracies is not None:
                accuracies[epoch] = correct / n
    return TrainResult(model=model, losses=losses, accuracies=accuracies, steps=steps)


def evaluate(model: nn.Module, X: ArrayLike, y: ArrayLike, *, loss: str = "mse") -> EvalResult:
    """Under model.eval() and torch.no_grad(): model(X), its mean loss and accuracy; stays in eval mode."""
    _check_loss(loss)
    dtype = _check_model(model)
    Xt, yt = _tensors(X, y, loss, dtype)
    model.eval()
    with torch.no_grad():
        raw = model(Xt)
        out = _match(raw, yt, loss)
        value = float(_LOSSES[loss][0]()(out, yt))
        acc = None if loss == "mse" else _correct(out, yt, loss) / Xt.shape[0]
    return EvalResult(loss=value, accuracy=acc, output=raw.numpy().astype(np.float64))


# ------------------------------------------------------------------------------------------------------------
# Weights as plain numpy arrays: what crosses the sandbox boundary


def state_dict_to_numpy(model: nn.Module) -> dict[str, np.ndarray]:
    """{name: float64 copy of tensor} for every entry of model.state_dict() (parameters and buffers)."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    state = model.state_dict()
    return {key: value.detach().cpu().numpy().astype(np.float64, copy=True) for key, value in state.items()}


def load_numpy_state_dict(model: nn.Module, arrays: Mapping[str, ArrayLike]) -> nn.Module:
    """Copy arrays (same keys and shapes as model.state_dict(), finite) into model, exactly; returns model."""
    # Each array is cast to its entry's dtype: exact for a float64 model. All checks run before anything is
    # copied, so a rejected dict leaves the model as it was.
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not isinstance(arrays, Mapping):
        raise ValueError(f"arrays must be a mapping of name -> array, got {type(arrays).__name__}")
    expected = model.state_dict()
    missing = sorted(set(expected) - set(arrays))
    unexpected = sorted(str(key) for key in set(arrays) - set(expected))
    if missing or unexpected:
        raise ValueError(f"arrays keys do not match the model: missing {missing}, unexpected {unexpected}")
    tensors = {}
    for key, current in expected.items():
        name = f"arrays[{key!r}]"
        value = as_float_array(arrays[key], name)
        if value.shape != tuple(current.shape):
            raise ValueError(f"{name} has shape {value.shape} but the model expects {tuple(current.shape)}")
        if not np.isfinite(value).all():
            raise ValueError(f"{name} contains inf")
        tensors[key] = torch.tensor(value, dtype=current.dtype)
    model.load_state_dict(tensors, strict=True)
    return model
