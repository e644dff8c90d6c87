"""The lectures' torch networks, done right: the trusted models of the training assignment.

Every model is built in float64 by default (`dtype=torch.float64` is passed to each layer, never through the
global torch.set_default_dtype). Why float64: the grading engine receives student weights as float64 numpy
arrays and compares outputs with the float64 reference at tight tolerances; a float32 model would round every
weight on loading (so state_dict_to_numpy ∘ load_numpy_state_dict would not be exact) and add ~1e-7 relative
noise to every output.

Attribute names follow the notes, so state-dict keys are the ones students see: FFN has layer1..layer3
(lecture 8), SigmoidFFN has fc1, fc2, output (the "Deep Learning" lecture), TwoLayerClassifier has Dense1,
Dense2 (unit 8, whose slide reads state_dict['Dense2.weight']).

Initial weights come from torch's global generator, as in torch; `reset_parameters(model, seed)` re-draws them
from a private seeded generator state and leaves the global one as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "FFN",
    "DropoutFFN",
    "LogisticRegression",
    "SigmoidFFN",
    "TwoLayerClassifier",
    "count_parameters",
    "reset_parameters",
]

_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": F.relu}


def _size(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an int >= 1, got {value!r}")
    return value


class FFN(nn.Module):
    """Lecture 8's network: y = layer3(relu(layer2(relu(layer1(x))))), hidden width hidden_size, linear out.

    The notes' first version subclasses `nn.module` (no such class), omits super().__init__() and feeds x
    instead of y to every line of forward, which makes it layer3(x); the end-to-end version (chaining y) is
    this one.
    """

    def __init__(
        self, in_features: int, out_features: int, hidden_size: int, *, dtype: torch.dtype = torch.float64
    ) -> None:
        super().__init__()
        in_features = _size(in_features, "in_features")
        out_features = _size(out_features, "out_features")
        hidden_size = _size(hidden_size, "hidden_size")
        self.layer1 = nn.Linear(in_features, hidden_size, dtype=dtype)
        self.layer2 = nn.Linear(hidden_size, hidden_size, dtype=dtype)
        self.layer3 = nn.Linear(hidden_size, out_features, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(n, in_features) → (n, out_features): W3·relu(W2·relu(W1 x + b1) + b2) + b3 per row."""
        y = self.layer1(x)
        y = F.relu(y)
        y = self.layer2(y)
        y = F.relu(y)
        return self.layer3(y)


class DropoutFFN(nn.Module):
    """FFN with nn.Dropout(p) after each hidden ReLU (lecture "Deep learning in detail"): random in train
    mode, the identity in eval mode."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        hidden_size: int,
        p: float = 0.5,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p < 1.0:
            raise ValueError(f"p must be a number in [0, 1), got {p!r}")
        in_features = _size(in_features, "in_features")
        out_features = _size(out_features, "out_features")
        hidden_size = _size(hidden_size, "hidden_size")
        self.layer1 = nn.Linear(in_features, hidden_size, dtype=dtype)
        self.layer2 = nn.Linear(hidden_size, hidden_size, dtype=dtype)
        self.layer3 = nn.Linear(hidden_size, out_features, dtype=dtype)
        self.dropout = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """layer3(drop(relu(layer2(drop(relu(layer1(x))))))); drop zeroes w.p. p and scales by 1/(1−p)."""
        y = self.dropout(F.relu(self.layer1(x)))
        y = self.dropout(F.relu(self.layer2(y)))
        return self.layer3(y)


class SigmoidFFN(nn.Module):
    """The "Deep Learning" lecture's FeedforwardNeuralNetModel: fc1 → sigmoid → fc2 → sigmoid → output.

    With the notes' sizes 4 → [200, 300] → 1 it has (4·200 + 200) + (200·300 + 300) + (300·1 + 1)
    = 1,000 + 60,300 + 301 = 61,601 parameters, as the notes' torchsummary table says.
    """

    def __init__(
        self,
        input_dim: int = 4,
        hidden_dim: Sequence[int] = (200, 300),
        output_dim: int = 1,
        *,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if len(hidden_dim) != 2:
            raise ValueError(f"hidden_dim must hold two widths, got {hidden_dim!r}")
        input_dim = _size(input_dim, "input_dim")
        h0, h1 = _size(hidden_dim[0], "hidden_dim[0]"), _size(hidden_dim[1], "hidden_dim[1]")
        output_dim = _size(output_dim, "output_dim")
        self.fc1 = nn.Linear(input_dim, h0, dtype=dtype)
        self.sigmoid1 = nn.Sigmoid()
        self.fc2 = nn.Linear(h0, h1, dtype=dtype)
        self.sigmoid2 = nn.Sigmoid()
        self.output = nn.Linear(h1, output_dim, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """W3 σ(W2 σ(W1 x + b1) + b2) + b3 per row."""
        x = self.sigmoid1(self.fc1(x))
        x = self.sigmoid2(self.fc2(x))
        return self.output(x)


class TwoLayerClassifier(nn.Module):
    """Unit 8's 2-layer classifier: a_H = h(Dense1 x), output σ(Dense2 a_H), a probability for nn.BCELoss.

    The output sigmoid is there because nn.BCELoss takes probabilities, not logits (unit 8's "be careful"
    slide). With logits=True the output is the raw score Dense2 a_H instead, for BCEWithLogitsLoss (out=1) or
    CrossEntropyLoss (out=K classes). The hidden activation h is sigmoid by default, as in unit 8.
    """

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out: int = 1,
        *,
        activation: str = "sigmoid",
        logits: bool = False,
        dtype: torch.dtype = torch.float64,
    ) -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        in_features, hidden = _size(in_features, "in_features"), _size(hidden, "hidden")
        out = _size(out, "out")
        self.activation_name = activation
        self.logits = bool(logits)
        self.Dense1 = nn.Linear(in_features, hidden, dtype=dtype)
        self.Dense2 = nn.Linear(hidden, out, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """σ(W2 h(W1 x + b1) + b2) per row (without the σ when logits=True)."""
        z = self.Dense2(_ACTIVATIONS[self.activation_name](self.Dense1(x)))
        return z if self.logits else torch.sigmoid(z)


class LogisticRegression(nn.Module):
    """No hidden layer: σ(w·x + b), a probability for nn.BCELoss; its decision boundary is a hyperplane."""

    def __init__(self, in_features: int, *, dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.linear = nn.Linear(_size(in_features, "in_features"), 1, dtype=dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """σ(x wᵀ + b), shape (n, 1)."""
        return torch.sigmoid(self.linear(x))


def count_parameters(model: nn.Module) -> int:
    """Σ over model.parameters() of p.numel(): torchsummary's "Total params"."""
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    return sum(p.numel() for p in model.parameters())


def reset_parameters(model: nn.Module, seed: int) -> nn.Module:
    """Re-draw the initial weights from torch.manual_seed(seed), restoring the global RNG; returns model."""
    # Calls reset_parameters() of every module that has one, in model.modules() order.
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an int >= 0, got {seed!r}")
    with torch.random.fork_rng(devices=[]):
        # torch.manual_seed(seed) on the CPU, without its per-call probing of accelerators (~0.3 ms)
        torch.default_generator.manual_seed(int(seed))
        for module in model.modules():
            reset = getattr(module, "reset_parameters", None)
            if callable(reset):
                reset()
    return model
