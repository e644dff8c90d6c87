"""reference.models: parameter counts, forward passes against numpy, dropout modes, seeded initialization.

Also the lecture-8 slip in the first FFN listing (forward reads x on every line), pinned as a known mistake.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from reference.models import (
    FFN,
    DropoutFFN,
    LogisticRegression,
    SigmoidFFN,
    TwoLayerClassifier,
    count_parameters,
    reset_parameters,
)
from reference.training import state_dict_to_numpy


def np_sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def np_relu(z):
    return np.maximum(z, 0.0)


def inputs(n, d, seed):
    return np.random.default_rng(seed).standard_normal((n, d))


def run(model, X):
    with torch.no_grad():
        return model(torch.tensor(X)).numpy()


# --- Parameter counts -----------------------------------------------------------------------------------


def test_notes_4_200_300_1_sigmoid_network_has_61601_parameters():
    """The "Deep Learning" lecture's torchsummary table: 1,000 + 60,300 + 301 = 61,601 parameters."""
    model = SigmoidFFN(4, (200, 300), 1)
    assert count_parameters(model) == 61_601
    per_layer = [count_parameters(layer) for layer in (model.fc1, model.fc2, model.output)]
    assert per_layer == [1_000, 60_300, 301]
    shapes = {name: tuple(p.shape) for name, p in model.named_parameters()}
    assert shapes == {
        "fc1.weight": (200, 4), "fc1.bias": (200,), "fc2.weight": (300, 200), "fc2.bias": (300,),
        "output.weight": (1, 300), "output.bias": (1,),
    }  # fmt: skip
    assert count_parameters(SigmoidFFN()) == 61_601  # the defaults are the notes' sizes


def test_lecture8_ffn_4_1_4_has_45_parameters():
    """FFN(4, 1, 4) of lecture 8's end-to-end example: (4·4 + 4) + (4·4 + 4) + (4·1 + 1) = 45."""
    assert count_parameters(FFN(4, 1, 4)) == 45
    # the notes' FFN(3, 1, 2), whose layer1.weight they print
    assert count_parameters(FFN(3, 1, 2)) == (3 * 2 + 2) + (2 * 2 + 2) + (2 * 1 + 1) == 17


@pytest.mark.parametrize("d_in, d_out, h", [(1, 1, 1), (5, 3, 7), (10, 2, 32)])
def test_ffn_count_formula(d_in, d_out, h):
    assert count_parameters(FFN(d_in, d_out, h)) == (d_in * h + h) + (h * h + h) + (h * d_out + d_out)
    assert count_parameters(DropoutFFN(d_in, d_out, h)) == count_parameters(FFN(d_in, d_out, h))
    assert count_parameters(TwoLayerClassifier(d_in, h, d_out)) == (d_in * h + h) + (h * d_out + d_out)


# --- Forward passes against numpy -----------------------------------------------------------------------


def test_ffn_forward_matches_numpy():
    """y = W3 relu(W2 relu(W1 x + b1) + b2) + b3, row-wise, with torch's (out, in) weight layout."""
    model = reset_parameters(FFN(4, 2, 5), seed=3)
    w = state_dict_to_numpy(model)
    X = inputs(11, 4, seed=0)
    h1 = np_relu(X @ w["layer1.weight"].T + w["layer1.bias"])
    h2 = np_relu(h1 @ w["layer2.weight"].T + w["layer2.bias"])
    expected = h2 @ w["layer3.weight"].T + w["layer3.bias"]
    out = run(model, X)
    assert out.shape == (11, 2) and out.dtype == np.float64
    np.testing.assert_allclose(out, expected, rtol=1e-13, atol=1e-15)


def test_sigmoid_ffn_forward_matches_numpy():
    model = reset_parameters(SigmoidFFN(), seed=1)
    w = state_dict_to_numpy(model)
    X = inputs(10, 4, seed=1)  # the notes' batch_dim = 10
    a1 = np_sigmoid(X @ w["fc1.weight"].T + w["fc1.bias"])
    a2 = np_sigmoid(a1 @ w["fc2.weight"].T + w["fc2.bias"])
    expected = a2 @ w["output.weight"].T + w["output.bias"]
    np.testing.assert_allclose(run(model, X), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation, h", [("sigmoid", np_sigmoid), ("tanh", np.tanh), ("relu", np_relu)])
def test_two_layer_classifier_outputs_a_probability_and_logits_option_skips_the_sigmoid(activation, h):
    model = reset_parameters(TwoLayerClassifier(2, 6, activation=activation), seed=2)
    w = state_dict_to_numpy(model)
    X = inputs(9, 2, seed=2) * 3
    z = h(X @ w["Dense1.weight"].T + w["Dense1.bias"]) @ w["Dense2.weight"].T + w["Dense2.bias"]
    probs = run(model, X)
    np.testing.assert_allclose(probs, np_sigmoid(z), rtol=1e-13)
    assert ((probs > 0) & (probs < 1)).all()  # a valid input for nn.BCELoss
    logit_model = TwoLayerClassifier(2, 6, activation=activation, logits=True)
    logit_model.load_state_dict(model.state_dict())  # same keys: Dense1, Dense2, as unit 8's state_dict slide
    np.testing.assert_allclose(run(logit_model, X), z, rtol=1e-13, atol=1e-15)


def test_logistic_regression_is_sigmoid_of_an_affine_map():
    model = reset_parameters(LogisticRegression(3), seed=0)
    w = state_dict_to_numpy(model)
    X = inputs(5, 3, seed=5)
    expected = np_sigmoid(X @ w["linear.weight"].T + w["linear.bias"])
    np.testing.assert_allclose(run(model, X), expected, rtol=1e-14)
    assert count_parameters(model) == 4


def test_notes_first_ffn_forward_reads_x_on_every_line_and_collapses_to_layer3():
    """Lecture 8's first listing: y = self.layer1(x); y = nn.ReLU()(x); y = self.layer2(x); y = F.relu(x);
    y = self.layer3(x). Every assignment to y is overwritten, so it computes layer3(x) (and it would not even
    construct: `nn.module` is lowercase and super().__init__() is missing). FFN chains y, as the end-to-end
    listing does; the two disagree, which is what the known-mistake catalog relies on."""
    model = reset_parameters(FFN(3, 3, 3), seed=0)  # square, so the buggy version type-checks
    x = torch.tensor(inputs(8, 3, seed=8))
    with torch.no_grad():
        y = model.layer1(x)
        y = torch.nn.ReLU()(x)
        y = model.layer2(x)
        y = F.relu(x)
        y = model.layer3(x)
        notes = y.numpy()
        correct = model(x).numpy()
        np.testing.assert_array_equal(notes, model.layer3(x).numpy())
    assert not np.allclose(correct, notes, rtol=1e-3)


# --- Dropout: train vs eval -----------------------------------------------------------------------------


def test_dropout_is_random_in_train_mode_and_the_identity_in_eval_mode():
    model = reset_parameters(DropoutFFN(4, 1, 64, p=0.5), seed=0)
    plain = FFN(4, 1, 64)
    plain.load_state_dict(model.state_dict())  # no dropout parameters: the same keys
    x = torch.tensor(inputs(16, 4, seed=4))
    torch.manual_seed(0)
    model.eval()
    with torch.no_grad():
        first, second = model(x), model(x)
        assert torch.equal(first, second)
        assert torch.equal(first, plain(x))  # eval-mode dropout is the identity
        model.train()
        third, fourth = model(x), model(x)
    assert not torch.equal(third, fourth)
    assert not torch.equal(third, first)


def test_dropout_train_mode_zeroes_about_p_and_rescales_the_rest():
    """nn.Dropout(p) in train mode: each unit is 0 with probability p, else multiplied by 1 / (1 − p)."""
    model = DropoutFFN(1, 1, 1, p=0.25)
    model.train()
    torch.manual_seed(0)
    ones = torch.ones(20_000, dtype=torch.float64)
    dropped = model.dropout(ones)
    values = set(dropped.unique().tolist())
    assert values == {0.0, 1 / 0.75}
    assert abs(float((dropped == 0).double().mean()) - 0.25) < 0.015  # ± 5 binomial std devs
    model.eval()
    assert torch.equal(model.dropout(ones), ones)


# --- dtype, seeding, bad input --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model",
    [FFN(4, 1, 4), DropoutFFN(4, 1, 4), SigmoidFFN(), TwoLayerClassifier(2, 4), LogisticRegression(2)],
    ids=lambda m: type(m).__name__,
)
def test_models_are_float64_without_touching_the_global_default_dtype(model):
    assert all(p.dtype == torch.float64 for p in model.parameters())
    assert torch.get_default_dtype() == torch.float32


def test_float32_is_available_on_request():
    assert all(p.dtype == torch.float32 for p in FFN(2, 1, 3, dtype=torch.float32).parameters())


def test_reset_parameters_is_reproducible_and_restores_the_global_rng():
    # Construction itself draws from the global generator, as in torch; build first, then record the state.
    a, b, c = FFN(4, 1, 4), FFN(4, 1, 4), FFN(4, 1, 4)
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    reset_parameters(a, seed=7), reset_parameters(b, seed=7), reset_parameters(c, seed=8)
    assert torch.equal(torch.random.get_rng_state(), before)
    for (name, pa), pb, pc in zip(a.named_parameters(), b.parameters(), c.parameters(), strict=True):
        assert torch.equal(pa, pb), name
        assert not torch.equal(pa, pc), name


@pytest.mark.parametrize(
    "build, match",
    [
        (lambda: FFN(0, 1, 4), "in_features"),
        (lambda: FFN(4, 1, 2.5), "hidden_size"),
        (lambda: FFN(4, True, 4), "out_features"),
        (lambda: DropoutFFN(4, 1, 4, p=1.0), "p must"),
        (lambda: SigmoidFFN(4, (200,), 1), "hidden_dim"),
        (lambda: SigmoidFFN(4, (200, 0), 1), r"hidden_dim\[1\]"),
        (lambda: TwoLayerClassifier(2, 4, activation="softplus"), "activation"),
        (lambda: TwoLayerClassifier(2, 0), "hidden"),
        (lambda: LogisticRegression(-1), "in_features"),
        (lambda: count_parameters("net"), "model"),
        (lambda: reset_parameters(FFN(1, 1, 1), seed=-1), "seed"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(build, match):
    with pytest.raises(ValueError, match=match):
        build()
