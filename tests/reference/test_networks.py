"""reference.networks against torch: nn.Linear stacks, autograd through deep stacks, nn.RNN / nn.LSTM, and the
normal equations of ridge regression."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from reference import networks


def _t(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64)


def test_perceptron_is_a_step_of_the_affine_score() -> None:
    x = np.array([[1.0, 2.0], [-1.0, 0.5], [0.2, -0.3]])
    np.testing.assert_array_equal(networks.perceptron(x, np.array([1.0, -1.0]), 0.25), [0, 0, 1])


@pytest.mark.parametrize("depth", [1, 2, 4])
def test_stacked_linear_layers_collapse_to_one(depth: int) -> None:
    rng = np.random.default_rng(depth)
    sizes = [3, 5, 4, 2, 6][: depth + 1]
    layers = [torch.nn.Linear(a, b).double() for a, b in itertools.pairwise(sizes)]
    weights = [layer.weight.detach().numpy() for layer in layers]
    biases = [layer.bias.detach().numpy() for layer in layers]
    A, c = networks.collapse_linear(weights, biases)
    x = rng.normal(size=(7, sizes[0]))
    out = torch.nn.Sequential(*layers)(_t(x)).detach().numpy()
    np.testing.assert_allclose(x @ A.T + c, out, rtol=1e-12, atol=1e-12)
    assert A.shape == (sizes[-1], sizes[0])


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_gradient_norms_match_autograd(activation: str) -> None:
    rng = np.random.default_rng(3)
    weights = [rng.normal(scale=0.8, size=(4, 3))] + [rng.normal(scale=0.8, size=(4, 4)) for _ in range(4)]
    weights.append(rng.normal(size=(2, 4)))
    x = rng.normal(size=(5, 3))
    tensors = [_t(W).requires_grad_() for W in weights]
    h = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}[activation]
    a = _t(x)
    for i, W in enumerate(tensors):
        a = a @ W.T
        if i < len(tensors) - 1:
            a = h(a)
    a.sum().backward()
    expected = [W.grad.norm().item() for W in tensors]
    np.testing.assert_allclose(networks.gradient_norms(x, weights, activation), expected, rtol=1e-10)


def test_sigmoid_gradients_vanish_towards_the_input() -> None:
    rng = np.random.default_rng(0)
    weights = [rng.normal(scale=0.5, size=(8, 8)) for _ in range(10)]
    norms = networks.gradient_norms(rng.normal(size=(4, 8)), weights, "sigmoid")
    assert norms[0] < 1e-3 * norms[-1]


@pytest.mark.parametrize("kind,layers,bidirectional,batch_first",
                         list(itertools.product(["rnn", "lstm"], [1, 2, 3], [False, True], [False, True])))
def test_recurrent_shapes_match_torch(kind: str, layers: int, bidirectional: bool, batch_first: bool) -> None:
    module_class = torch.nn.LSTM if kind == "lstm" else torch.nn.RNN
    module = module_class(5, 7, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    x = torch.zeros((3, 4, 5) if batch_first else (4, 3, 5))
    output, state = module(x)
    shapes = networks.recurrent_shapes(kind, 5, 7, layers, bidirectional, batch_first, batch=3, seq_len=4)
    assert shapes["output"] == tuple(output.shape)
    h_n = state[0] if kind == "lstm" else state
    assert shapes["h_n"] == tuple(h_n.shape)
    if kind == "lstm":
        assert shapes["c_n"] == tuple(state[1].shape)
    assert shapes["parameters"] == sum(p.numel() for p in module.parameters())


def test_rnn_step_is_nn_rnns_first_step() -> None:
    rng = np.random.default_rng(1)
    rnn = torch.nn.RNN(3, 4, batch_first=True).double()
    x, h = rng.normal(size=(2, 3)), rng.normal(size=(2, 4))
    _, h1 = rnn(_t(x)[:, None, :], _t(h)[None])
    ours = networks.rnn_step(x, h, *(p.detach().numpy() for p in (rnn.weight_ih_l0, rnn.weight_hh_l0,
                                                                   rnn.bias_ih_l0, rnn.bias_hh_l0)))
    np.testing.assert_allclose(ours, h1[0].detach().numpy(), rtol=1e-12)


def test_ridge_closed_form_zeroes_the_gradient_and_gd_converges_to_it() -> None:
    rng = np.random.default_rng(2)
    X, y, lam = rng.normal(size=(20, 3)), rng.normal(size=20), 0.7
    beta = networks.ridge_closed_form(X, y, lam)
    b = _t(beta).requires_grad_()
    ((_t(y) - _t(X) @ b) ** 2).sum().add(lam * (b ** 2).sum()).backward()
    np.testing.assert_allclose(b.grad.numpy(), 0.0, atol=1e-10)
    path = networks.ridge_gd(X, y, lam, lr=0.01, steps=500)
    np.testing.assert_allclose(path[-1], beta, rtol=1e-8)
    assert networks.ridge_objective(X, y, lam, path[1]) < networks.ridge_objective(X, y, lam, path[0])


def test_decision_region_rows_follow_the_second_input() -> None:
    # Class 1 iff the second input is positive: the upper rows (v > 0) are 1 whatever the column.
    W1, b1 = np.array([[0.0, 1.0], [0.0, -1.0]]), np.zeros(2)
    W2, b2 = np.array([[0.0, 1.0], [1.0, 0.0]]), np.zeros(2)
    region = networks.decision_region(W1, b1, W2, b2, -1.0, 1.0, 5)
    np.testing.assert_array_equal(region[:, 0], [0, 0, 0, 1, 1])
    assert (region == region[:, :1]).all()
