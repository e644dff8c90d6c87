"""reference.backprop and reference.gradcheck against torch.autograd and central differences, in float64.

Also the slips of the lecture notes in the worked example, the FFN forward pass and unit 8's derivations: each
test is named after a slip, asserts the correct number and says in its docstring what the notes print and why.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from reference.activations import sigmoid, sigmoid_grad
from reference.backprop import (
    MLPGradients,
    ScalarBackprop,
    TwoLayerBackward,
    mlp_backward,
    mlp_forward,
    scalar_backprop_example,
    two_layer_backward,
    two_layer_forward,
)
from reference.gradcheck import numerical_gradient, numerical_vjp
from reference.layers import linear, linear_backward

TORCH_ACTIVATIONS = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu}
TORCH_LOSSES = {
    "bce": F.binary_cross_entropy_with_logits,
    "cross_entropy": F.cross_entropy,
    "squared_error": F.mse_loss,
}
ACTIVATIONS = list(TORCH_ACTIVATIONS)
LOSSES = list(TORCH_LOSSES)


def t(array, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(array, dtype=np.float64), requires_grad=grad)


# ====================================================================================================
# Lecture 8's scalar worked example
# ====================================================================================================


def torch_scalar_example(x, w1, b1, w3, b3, target, lr):
    """The worked example run by autograd, then one torch.optim.SGD step on w1, b1, w3, b3."""
    tx, tw1, tb1, tw3, tb3 = (t(v, True) for v in (x, w1, b1, w3, b3))
    y1 = tw1 * tx + tb1
    y2 = torch.relu(y1)
    y3 = tw3 * y2 + tb3
    for node in (y1, y2, y3):
        node.retain_grad()
    loss = (y3 - target) ** 2
    loss.backward()
    values = dict(y1=y1.item(), y2=y2.item(), y3=y3.item(), loss=loss.item())
    grads = dict(
        dl_dy3=y3.grad.item(), dl_dy2=y2.grad.item(), dl_dy1=y1.grad.item(), dl_dx=tx.grad.item(),
        dl_dw1=tw1.grad.item(), dl_db1=tb1.grad.item(), dl_dw3=tw3.grad.item(), dl_db3=tb3.grad.item(),
    )  # fmt: skip
    torch.optim.SGD([tw1, tb1, tw3, tb3], lr=lr).step()
    updated = dict(w1_new=tw1.item(), b1_new=tb1.item(), w3_new=tw3.item(), b3_new=tb3.item())
    return values | grads | updated


NOTES = dict(x=5.0, w1=3.0, b1=2.0, w3=-0.5, b3=4.0, target=2.0, lr=1e-3)


@pytest.fixture(scope="module")
def example() -> ScalarBackprop:
    return scalar_backprop_example(**NOTES)


def test_scalar_example_defaults_are_the_lectures_numbers(example):
    assert scalar_backprop_example() == example


def test_scalar_example_matches_autograd_and_torch_sgd(example):
    for name, expected in torch_scalar_example(**NOTES).items():
        assert getattr(example, name) == pytest.approx(expected, rel=1e-15, abs=1e-15), name


def test_scalar_example_every_number(example):
    """All of it by hand: forward 17, 17, −4.5, 42.25; backward −13, 6.5, 6.5, 19.5; updates."""
    assert (example.y1, example.y2, example.y3, example.loss) == (17.0, 17.0, -4.5, 42.25)
    assert (example.dy3_dy2, example.dy2_dy1, example.dy1_dx) == (-0.5, 1.0, 3.0)
    assert (example.dy3_dw3, example.dy3_db3, example.dy1_dw1, example.dy1_db1) == (17.0, 1.0, 5.0, 1.0)
    assert (example.dl_dy3, example.dl_dy2, example.dl_dy1, example.dl_dx) == (-13.0, 6.5, 6.5, 19.5)
    assert (example.dl_dw3, example.dl_db3, example.dl_dw1, example.dl_db1) == (-221.0, -13.0, 32.5, 6.5)
    assert example.w3_new == pytest.approx(-0.279, abs=1e-15)
    assert example.b3_new == pytest.approx(4.013, abs=1e-15)
    assert example.w1_new == pytest.approx(2.9675, abs=1e-15)
    assert example.b1_new == pytest.approx(1.9935, abs=1e-15)


def test_scalar_example_step_lowers_the_loss(example):
    after = scalar_backprop_example(
        x=5.0, w1=example.w1_new, b1=example.b1_new, w3=example.w3_new, b3=example.b3_new, target=2.0
    )
    assert after.loss < example.loss


def test_scalar_example_with_relu_off_passes_no_gradient_below_it():
    dead = scalar_backprop_example(x=-5.0)  # y1 = −13 < 0: ReLU blocks the gradient
    assert dead.y2 == 0.0 and dead.dy2_dy1 == 0.0
    assert (dead.dl_dx, dead.dl_dw1, dead.dl_db1) == (0.0, 0.0, 0.0)
    assert dead.dl_db3 == pytest.approx(2 * (4.0 - 2.0))
    for name, expected in torch_scalar_example(**(NOTES | {"x": -5.0})).items():
        assert getattr(dead, name) == pytest.approx(expected, rel=1e-15, abs=1e-15), name


@settings(deadline=None, max_examples=50, derandomize=True, database=None)
@given(
    values=st.tuples(*[st.floats(-5.0, 5.0) for _ in range(6)]),
    lr=st.floats(1e-4, 1e-1),
)
def test_scalar_example_matches_autograd_for_any_numbers(values, lr):
    x, w1, b1, w3, b3, target = values
    assume(abs(w1 * x + b1) > 1e-6)  # away from ReLU's kink
    result = scalar_backprop_example(x, w1, b1, w3, b3, target, lr)
    for name, expected in torch_scalar_example(x, w1, b1, w3, b3, target, lr).items():
        assert getattr(result, name) == pytest.approx(expected, rel=1e-12, abs=1e-12), name


def test_scalar_example_gradients_match_central_differences(example):
    def loss(theta: np.ndarray) -> float:
        x, w1, b1, w3, b3 = theta
        return scalar_backprop_example(x, w1, b1, w3, b3).loss

    numeric = numerical_gradient(loss, np.array([5.0, 3.0, 2.0, -0.5, 4.0]))
    analytic = [example.dl_dx, example.dl_dw1, example.dl_db1, example.dl_dw3, example.dl_db3]
    np.testing.assert_allclose(numeric, analytic, rtol=1e-7)


def test_scalar_example_refuses_non_finite_numbers():
    with pytest.raises(ValueError, match="x must be finite"):
        scalar_backprop_example(x=float("nan"))
    with pytest.raises(ValueError, match="lr must be a real number"):
        scalar_backprop_example(lr="0.001")


# --- The slips of lecture 8's worked example ("Backpropagation" and "Optimization Step") -------------


def test_notes_forward_y3_minus_4_5_and_loss_42_25_are_right(example):
    """The notes: "x = 5 ... gives us y = −4.5", "l = (−4.5 − 2)² = 42.25". Right: y1 = y2 = 17, y3 = −4.5."""
    assert example.y3 == -4.5
    assert example.loss == 42.25


def test_notes_dl_dy3_is_minus_13_not_minus_11_5(example):
    """The notes print dl/dy3 = 2y3 − 4 = −11.5, but 2·(−4.5) − 4 = −13 (−11.5 would need y3 = −3.75)."""
    assert example.dl_dy3 == -13.0
    assert example.dl_dy3 != -11.5


def test_notes_dl_dx_is_19_5_not_17_25(example):
    """The notes print dl/dx = 17.25 =
    (−11.5)(−0.5)(1)(3), carrying the dl/dy3 slip; (−13)(−0.5)(1)(3) = 19.5."""
    assert example.dl_dx == example.dl_dy3 * example.dy3_dy2 * example.dy2_dy1 * example.dy1_dx == 19.5


def test_notes_update_rule_uses_dl_dw_not_dl_dy():
    """The notes write w_n' = lr · (−dl/dy_n) + w_n: the gradient with respect to a layer's output y_n.

    Gradient descent moves each parameter against its own gradient: w' = w − lr · dl/dw. For w3 the two differ
    by the factor dy3/dw3 = y2 = 17: dl/dy3 = −13 but dl/dw3 = −221.
    """
    example = scalar_backprop_example()
    assert example.w3_new == pytest.approx(example.w3 - example.lr * example.dl_dw3)
    assert example.w3_new != pytest.approx(example.w3 - example.lr * example.dl_dy3)


def test_notes_minus_dl_dw3_is_221_not_11_5(example):
    """The notes print −dl/dw3 = −dl/dy3 · dy3/dw3 = 11.5: they drop dy3/dw3 = y2 = 17 (and carry −11.5).

    Correct: −dl/dw3 = 13 · 17 = 221.
    """
    assert example.dy3_dw3 == example.y2 == 17.0
    assert -example.dl_dw3 == 221.0


def test_notes_minus_dl_db3_is_13_not_11_5(example):
    """The notes print −dl/db3 = 11.5 (in a column headed "−dl/dw3"); dy3/db3 = 1, so it is −dl/dy3 = 13."""
    assert -example.dl_db3 == 13.0


def test_notes_minus_dl_dw1_is_minus_32_5_not_minus_17_25(example):
    """The notes print −dl/dw1 = −17.25, i.e. −dl/dx: they multiply by dy1/dx = w1 = 3, not dy1/dw1 = x = 5.

    Correct: dl/dy1 = (−13)(−0.5)(1) = 6.5, dl/dw1 = 6.5 · 5 = 32.5, so −dl/dw1 = −32.5.
    """
    assert example.dl_dy1 == 6.5
    assert -example.dl_dw1 == -32.5


def test_notes_minus_dl_db1_is_minus_6_5_not_minus_17_25(example):
    """The notes print −dl/db1 = −17.25 (in a column headed "−dl/dw1"); dy1/db1 = 1, so −dl/db1 = −6.5."""
    assert -example.dl_db1 == -6.5


def test_notes_updated_w3_is_minus_0_279_not_minus_0_4885(example):
    """The notes print w3' = 11.5 · 1e-3 + w3 = −0.4885; with −dl/dw3 = 221: w3' = −0.5 + 0.221 = −0.279."""
    assert example.w3_new == pytest.approx(-0.279, abs=1e-15)


def test_notes_updated_b3_is_4_013_not_4_0115(example):
    """The notes print b3' = 11.5 · 1e-3 + b3 = 4.0115; with −dl/db3 = 13: b3' = 4 + 0.013 = 4.013."""
    assert example.b3_new == pytest.approx(4.013, abs=1e-15)


def test_notes_updated_w1_is_2_9675_not_w3_prime_minus_2_98275(example):
    """The notes print "w3' = −2.98275" for w1: wrong label (w3 for w1), wrong sign (3 − 0.01725 = +2.98275),
    and the wrong gradient (17.25 for 32.5). Correct: w1' = 3 − 1e-3 · 32.5 = 2.9675.
    """
    assert example.w1_new == pytest.approx(2.9675, abs=1e-15)
    assert example.w1_new > 0


def test_notes_updated_b1_is_1_9935_not_b3_prime_1_98275(example):
    """The notes print "b3' = 1.98275" for b1: wrong label (b3 for b1) and wrong gradient (17.25 for 6.5).

    Correct: b1' = 2 − 1e-3 · 6.5 = 1.9935.
    """
    assert example.b1_new == pytest.approx(1.9935, abs=1e-15)


# ====================================================================================================
# Unit 8's 2-layer network
# ====================================================================================================


def two_layer_case(activation: str, loss: str, seed: int, batch: int = 6, n_in: int = 3, hidden: int = 5):
    rng = np.random.default_rng(seed)
    n_out = {"bce": 1, "cross_entropy": 4, "squared_error": 2}[loss]
    X = rng.normal(size=(batch, n_in))
    W1, b1 = rng.normal(size=(hidden, n_in)), rng.normal(size=hidden)
    W2, b2 = rng.normal(size=(n_out, hidden)), rng.normal(size=n_out)
    if loss == "bce":
        y = rng.integers(0, 2, size=(batch, 1)).astype(np.float64)
    elif loss == "cross_entropy":
        y = rng.integers(0, n_out, size=batch)
    else:
        y = rng.normal(size=(batch, n_out))
    return X, y, W1, b1, W2, b2


def torch_two_layer(X, y, W1, b1, W2, b2, activation, loss):
    tensors = [t(a, True) for a in (X, W1, b1, W2, b2)]
    tX, tW1, tb1, tW2, tb2 = tensors
    Z1 = F.linear(tX, tW1, tb1)
    A1 = TORCH_ACTIVATIONS[activation](Z1)
    Z2 = F.linear(A1, tW2, tb2)
    target = torch.tensor(y) if loss == "cross_entropy" else t(y)
    J = TORCH_LOSSES[loss](Z2, target)
    for node in (Z1, A1, Z2):
        node.retain_grad()
    J.backward()
    return dict(
        Z1=Z1, A1=A1, Z2=Z2, loss=J, dZ2=Z2.grad, dA1=A1.grad, dZ1=Z1.grad,
        dX=tX.grad, dW1=tW1.grad, db1=tb1.grad, dW2=tW2.grad, db2=tb2.grad,
    )  # fmt: skip


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_two_layer_network_matches_autograd(activation, loss):
    X, y, W1, b1, W2, b2 = two_layer_case(activation, loss, seed=10)
    result = two_layer_backward(X, y, W1, b1, W2, b2, activation=activation, loss=loss)
    assert isinstance(result, TwoLayerBackward)
    for name, expected in torch_two_layer(X, y, W1, b1, W2, b2, activation, loss).items():
        got = getattr(result, name)
        expected = expected.detach().numpy()
        assert np.shape(got) == expected.shape, name
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_two_layer_forward_agrees_with_backward_and_gives_the_output_activation(activation, loss):
    X, y, W1, b1, W2, b2 = two_layer_case(activation, loss, seed=11)
    forward = two_layer_forward(X, y, W1, b1, W2, b2, activation=activation, loss=loss)
    backward = two_layer_backward(X, y, W1, b1, W2, b2, activation=activation, loss=loss)
    for name in ("Z1", "A1", "Z2", "output", "loss"):
        np.testing.assert_array_equal(getattr(forward, name), getattr(backward, name))
    expected_output = {
        "bce": torch.sigmoid(t(forward.Z2)),
        "cross_entropy": torch.softmax(t(forward.Z2), dim=1),
        "squared_error": t(forward.Z2),
    }[loss]
    np.testing.assert_allclose(forward.output, expected_output.numpy(), rtol=1e-14, atol=1e-16)


def kink_free_case(activation: str, loss: str, margin: float = 0.05):
    """A seeded case whose hidden scores all lie at least `margin` from 0, where ReLU has its kink."""
    for seed in range(100):
        case = two_layer_case(activation, loss, seed=seed, batch=4, hidden=4)
        X, _, W1, b1, _, _ = case
        if np.min(np.abs(linear(X, W1, b1))) > margin:
            return case
    raise AssertionError("no kink-free case among 100 seeds")


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_two_layer_gradients_match_central_differences(activation, loss):
    case = kink_free_case(activation, loss)
    result = two_layer_backward(*case, activation=activation, loss=loss)
    names = ("X", "y", "W1", "b1", "W2", "b2")
    for position, name in ((0, "dX"), (2, "dW1"), (3, "db1"), (4, "dW2"), (5, "db2")):

        def J(value, position=position):
            args = list(case)
            args[position] = value
            return two_layer_forward(*args, activation=activation, loss=loss).loss

        numeric = numerical_gradient(J, case[position])
        np.testing.assert_allclose(
            getattr(result, name), numeric, rtol=1e-6, atol=1e-9, err_msg=names[position]
        )


@settings(deadline=None, max_examples=30, derandomize=True, database=None)
@given(
    activation=st.sampled_from(ACTIVATIONS),
    loss=st.sampled_from(LOSSES),
    seed=st.integers(0, 2**32 - 1),
    batch=st.integers(1, 8),
    n_in=st.integers(1, 4),
    hidden=st.integers(1, 6),
)
def test_two_layer_network_matches_autograd_for_any_shape(activation, loss, seed, batch, n_in, hidden):
    case = two_layer_case(activation, loss, seed, batch=batch, n_in=n_in, hidden=hidden)
    result = two_layer_backward(*case, activation=activation, loss=loss)
    expected = torch_two_layer(*case, activation, loss)
    for name in ("loss", "dW1", "db1", "dW2", "db2", "dX"):
        expected_value = expected[name].detach().numpy()
        np.testing.assert_allclose(getattr(result, name), expected_value, rtol=1e-11, atol=1e-13)


def test_two_layer_bce_is_stable_for_huge_logits():
    """Logits of ±1000: the loss comes from the logits, so it stays finite (1000 for a confident miss)."""
    X = np.array([[1.0], [1.0]])
    y = np.array([[1.0], [0.0]])
    result = two_layer_backward(X, y, np.ones((1, 1)), np.zeros(1), np.zeros((1, 1)), np.array([-1000.0]))
    assert result.loss == pytest.approx(500.0)  # mean of 1000 (miss) and 0 (hit)
    np.testing.assert_allclose(result.dZ2, [[-0.5], [0.0]])


# --- The slips of unit 8 (back-propagation in matrix form, loss functions) ---------------------------


def scalar_net(x, y, w_h=0.8, b_h=0.1, w_o=-2.0, b_o=0.5, activation="sigmoid"):
    """Unit 8's "simple case": scalar weights, one hidden unit, squared error, as 1×1 matrices."""
    X = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    Y = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    args = (X, Y, np.array([[w_h]]), np.array([b_h]), np.array([[w_o]]), np.array([b_o]))
    return two_layer_backward(*args, activation=activation, loss="squared_error")


def test_notes_dJ_da_H_is_dJ_dz_O_times_w_O_not_z_O():
    """Unit 8, simple case 1, writes ∂J/∂a_H = ∂J/∂z_O · ∂z_O/∂a_H with ∂z_O/∂a_H "= z_O".

    z_O = w_O a_H + b_O, so ∂z_O/∂a_H = w_O. For x = 1.5, y = 1, w_H = 0.8, b_H = 0.1, w_O = −2, b_O = 0.5
    (sigmoid, squared error): z_O = −1.07167, ∂J/∂z_O = −4.14334, so ∂J/∂a_H = 8.28668 (the notes' rule would
    give −4.14334 · −1.07167 = 4.44029).
    """
    result = scalar_net(1.5, 1.0)
    assert result.Z2[0, 0] == pytest.approx(-1.0716699660851172, rel=1e-12)
    assert result.dZ2[0, 0] == pytest.approx(-4.143339932170234, rel=1e-12)
    assert result.dA1[0, 0] == pytest.approx(8.286679864340469, rel=1e-12)
    assert result.dA1[0, 0] == pytest.approx(result.dZ2[0, 0] * -2.0)
    assert result.dA1[0, 0] != pytest.approx(result.dZ2[0, 0] * result.Z2[0, 0], rel=1e-3)


def test_notes_dJ_dw_H_sums_dJ_dz_H_times_x_not_a_H():
    """Unit 8, simple case 2, writes ∂J/∂w_H = Σ_i ∂J/∂z_H,i · ∂z_O,i/∂w_H with the last factor "= a_H,i".

    z_H,i = w_H x_i + b_H, so ∂z_H,i/∂w_H = x_i: ∂J/∂w_H = Σ_i ∂J/∂z_H,i · x_i (a_H,i belongs to ∂J/∂w_O).
    """
    x, y = np.array([1.5, -0.5, 2.0]), np.array([1.0, 0.0, 0.5])
    result = scalar_net(x, y)
    tw_h = t(0.8, True)
    a_h = torch.sigmoid(tw_h * t(x) + 0.1)
    torch.mean((-2.0 * a_h + 0.5 - t(y)) ** 2).backward()
    assert result.dW1[0, 0] == pytest.approx(tw_h.grad.item(), rel=1e-12)
    assert result.dW1[0, 0] == pytest.approx(np.sum(result.dZ1[:, 0] * x), rel=1e-12)
    assert result.dW1[0, 0] != pytest.approx(np.sum(result.dZ1[:, 0] * result.A1[:, 0]), rel=1e-3)
    assert result.dW2[0, 0] == pytest.approx(np.sum(result.dZ2[:, 0] * result.A1[:, 0]), rel=1e-12)


def test_notes_logit_losses_keep_their_minus_signs():
    """Unit 8's loss slide reads "ln[1 + e^z] y z" (BCE), "(y z)²" (quadratic), "ln Σ e^z Σ y z" (CE).

    The minus signs are lost: BCE is ln(1 + e^z) − y z, quadratic (y − z)², cross entropy
    ln Σ_k e^{z_k} − Σ_k y_k z_k. With every logit pinned to z = 2 (W2 = 0, b2 = 2): BCE with y = 1 is
    ln(1 + e²) − 2 = 0.126928 (not 4.126928 with + y z); quadratic with y = 0.5 is 2.25; cross entropy over
    3 equal logits is ln 3 = 1.098612.
    """
    X = np.ones((1, 2))
    W1, b1 = np.ones((3, 2)), np.zeros(3)

    def pinned(loss, y, n_out):
        return two_layer_forward(X, y, W1, b1, np.zeros((n_out, 3)), np.full(n_out, 2.0), loss=loss).loss

    assert pinned("bce", np.array([[1.0]]), 1) == pytest.approx(np.log1p(np.exp(2.0)) - 2.0, rel=1e-14)
    assert pinned("bce", np.array([[1.0]]), 1) == pytest.approx(0.1269280110429727, rel=1e-12)
    assert pinned("squared_error", np.array([[0.5]]), 1) == pytest.approx(2.25)
    assert pinned("cross_entropy", np.array([1]), 3) == pytest.approx(np.log(3.0), rel=1e-14)


def test_notes_xor_network_update_is_gradient_descent_on_half_the_squared_error():
    """Lecture "Intro to deep learning": the numpy XOR net does syn1 += l1ᵀ l2_delta, l2_delta = (y − l2) σ'.

    That is right: it is one step (lr = 1, no biases) of descent on ½ Σ (l2 − y)². The same step from
    linear_backward and sigmoid_grad (with zero biases) agrees with it.
    """
    X = np.array([[0, 0, 1], [0, 1, 1], [1, 0, 1], [1, 1, 1]], dtype=np.float64)
    y = np.array([[0, 1, 1, 0]], dtype=np.float64).T
    rng = np.random.default_rng(1)
    syn0, syn1 = 2 * rng.random((3, 4)) - 1, 2 * rng.random((4, 1)) - 1
    # The notes' loop body, verbatim apart from names.
    l1 = 1 / (1 + np.exp(-(np.dot(X, syn0))))
    l2 = 1 / (1 + np.exp(-(np.dot(l1, syn1))))
    l2_delta = (y - l2) * (l2 * (1 - l2))
    l1_delta = l2_delta.dot(syn1.T) * (l1 * (1 - l1))
    notes_syn1, notes_syn0 = syn1 + l1.T.dot(l2_delta), syn0 + X.T.dot(l1_delta)
    # The same with the reference: weights in torch's (out, in) layout are the transposes of syn0 and syn1.
    Z1 = linear(X, syn0.T)
    A1 = sigmoid(Z1)
    Z2 = linear(A1, syn1.T)
    dZ2 = (sigmoid(Z2) - y) * sigmoid_grad(Z2)  # d/dZ2 of ½ Σ (σ(Z2) − y)²
    dA1, dW2, _ = linear_backward(A1, syn1.T, dZ2)
    _, dW1, _ = linear_backward(X, syn0.T, dA1 * sigmoid_grad(Z1))
    np.testing.assert_allclose(syn1 - dW2.T, notes_syn1, rtol=1e-14)
    np.testing.assert_allclose(syn0 - dW1.T, notes_syn0, rtol=1e-14)


# --- Bad input ---------------------------------------------------------------------------------------


def test_unknown_activation_names_activation():
    case = two_layer_case("relu", "bce", 0)
    with pytest.raises(ValueError, match="activation must be one of"):
        two_layer_backward(*case, activation="softplus")
    with pytest.raises(ValueError, match="activation must be one of"):
        mlp_forward(np.ones((2, 3)), [(np.ones((2, 3)), np.ones(2))], activation="leaky_relu")


def test_unknown_loss_names_loss():
    case = two_layer_case("relu", "bce", 0)
    with pytest.raises(ValueError, match="loss must be one of"):
        two_layer_forward(*case, loss="hinge")


def test_bce_target_of_shape_b_is_not_broadcast_against_logits_b_by_1():
    X, y, W1, b1, W2, b2 = two_layer_case("tanh", "bce", 0)
    with pytest.raises(ValueError, match=r"y has shape \(6,\)"):
        two_layer_backward(X, y[:, 0], W1, b1, W2, b2, loss="bce")


def test_squared_error_target_shape_must_equal_the_output_shape():
    X, y, W1, b1, W2, b2 = two_layer_case("tanh", "squared_error", 0)
    with pytest.raises(ValueError, match="y has shape"):
        two_layer_backward(X, y[:, :1], W1, b1, W2, b2, loss="squared_error")


def test_cross_entropy_targets_must_be_integer_class_indices_in_range():
    X, y, W1, b1, W2, b2 = two_layer_case("tanh", "cross_entropy", 0)
    with pytest.raises(ValueError, match="y must hold integer class indices"):
        two_layer_backward(X, y.astype(np.float64), W1, b1, W2, b2, loss="cross_entropy")
    with pytest.raises(ValueError, match="y must hold class indices in 0..3"):
        two_layer_backward(X, y + 4, W1, b1, W2, b2, loss="cross_entropy")
    with pytest.raises(ValueError, match=r"y has shape \(6, 1\)"):
        two_layer_backward(X, y[:, None], W1, b1, W2, b2, loss="cross_entropy")


@pytest.mark.parametrize(
    ("replace", "message"),
    [
        ({"W1": np.ones((5, 4))}, "W1 has shape"),
        ({"b1": np.ones((5, 1))}, "b1 has shape"),
        ({"W2": np.ones((1, 4))}, "W2 has shape"),
        ({"b2": np.ones(2)}, "b2 has shape"),
        ({"X": np.ones(3)}, "X must be 2-D"),
        ({"W2": np.ones((2, 5)), "b2": np.ones(2)}, "bce needs one output unit"),
    ],
)
def test_two_layer_shape_mismatches_name_the_argument(replace, message):
    X, y, W1, b1, W2, b2 = two_layer_case("sigmoid", "bce", 0)
    args = dict(X=X, y=y, W1=W1, b1=b1, W2=W2, b2=b2) | replace
    with pytest.raises(ValueError, match=message):
        two_layer_backward(**args)


def test_two_layer_nan_names_the_argument():
    X, y, W1, b1, W2, b2 = two_layer_case("sigmoid", "bce", 0)
    W2 = W2.copy()
    W2[0, 0] = np.nan
    with pytest.raises(ValueError, match="W2 contains NaN"):
        two_layer_forward(X, y, W1, b1, W2, b2)


# ====================================================================================================
# An MLP of any depth
# ====================================================================================================


def mlp_case(depth: int, seed: int, batch: int = 5, widths: tuple[int, ...] = (3, 6, 5, 4, 2)):
    rng = np.random.default_rng(seed)
    sizes = [widths[0], *widths[1:depth], widths[-1]]
    shapes = zip(sizes[:-1], sizes[1:], strict=True)
    params = [(rng.normal(size=(n_out, n_in)), rng.normal(size=n_out)) for n_in, n_out in shapes]
    return rng.normal(size=(batch, sizes[0])), params, rng.normal(size=(batch, sizes[-1]))


def torch_mlp(x, params, grad_output, activation):
    tx = t(x, True)
    tparams = [(t(W, True), t(b, True)) for W, b in params]
    out = tx
    for i, (W, b) in enumerate(tparams):
        out = F.linear(out, W, b)
        if i < len(tparams) - 1:
            out = TORCH_ACTIVATIONS[activation](out)
    out.backward(t(grad_output))
    return out.detach().numpy(), tx.grad.numpy(), [(W.grad.numpy(), b.grad.numpy()) for W, b in tparams]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("depth", [1, 2, 4])
def test_mlp_matches_autograd(depth, activation):
    x, params, g = mlp_case(depth, seed=depth)
    out, grad_input, grads = torch_mlp(x, params, g, activation)
    np.testing.assert_allclose(mlp_forward(x, params, activation), out, rtol=1e-12, atol=1e-14)
    result = mlp_backward(x, params, g, activation)
    assert isinstance(result, MLPGradients) and len(result.grads) == depth
    np.testing.assert_allclose(result.grad_input, grad_input, rtol=1e-12, atol=1e-14)
    for (dW, db), (tdW, tdb) in zip(result.grads, grads, strict=True):
        np.testing.assert_allclose(dW, tdW, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(db, tdb, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_mlp_gradients_match_central_differences(activation):
    x, params, g = mlp_case(3, seed=5, batch=3)
    hidden_scores = [mlp_forward(x, params[: k + 1], activation) for k in range(len(params) - 1)]
    assert min(np.min(np.abs(z)) for z in hidden_scores) > 1e-3  # away from ReLU's kink
    result = mlp_backward(x, params, g, activation)
    np.testing.assert_allclose(
        result.grad_input, numerical_vjp(lambda v: mlp_forward(v, params, activation), x, g), atol=1e-8
    )
    for layer, (dW, db) in enumerate(result.grads):
        W, b = params[layer]

        def with_W(v, layer=layer, b=b):
            return mlp_forward(x, [*params[:layer], (v, b), *params[layer + 1 :]], activation)

        def with_b(v, layer=layer, W=W):
            return mlp_forward(x, [*params[:layer], (W, v), *params[layer + 1 :]], activation)

        np.testing.assert_allclose(dW, numerical_vjp(with_W, W, g), atol=1e-8)
        np.testing.assert_allclose(db, numerical_vjp(with_b, b, g), atol=1e-8)


def test_mlp_with_two_layers_is_the_two_layer_network():
    X, y, W1, b1, W2, b2 = two_layer_case("tanh", "squared_error", seed=3)
    net = two_layer_backward(X, y, W1, b1, W2, b2, activation="tanh", loss="squared_error")
    mlp = mlp_backward(X, [(W1, b1), (W2, b2)], net.dZ2, activation="tanh")
    np.testing.assert_allclose(mlp_forward(X, [(W1, b1), (W2, b2)], "tanh"), net.Z2, rtol=1e-15)
    np.testing.assert_allclose(mlp.grad_input, net.dX, rtol=1e-14)
    expected_grads = (net.dW1, net.db1, net.dW2, net.db2)
    for got, expected in zip((*mlp.grads[0], *mlp.grads[1]), expected_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-14)


def test_notes_ffn_forward_feeds_y_to_each_layer_not_x():
    """Lecture 8's first FFN.forward writes y = self.layer1(x); y = nn.ReLU()(x); y = self.layer2(x); ...

    Every line reads x, so layers 1 and 2 and both ReLUs are dead code and the network is layer3(x) — the
    "wrong variable in the forward pass" mistake. The end-to-end version chains y; mlp_forward does the same.
    """
    torch.manual_seed(0)
    layers = [torch.nn.Linear(3, 3).double(), torch.nn.Linear(3, 3).double(), torch.nn.Linear(3, 1).double()]
    x = torch.randn(8, 3, dtype=torch.float64)
    with torch.no_grad():
        correct = layers[2](F.relu(layers[1](F.relu(layers[0](x))))).numpy()
        notes = layers[2](x).numpy()
    params = [(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in layers]
    ours = mlp_forward(x.numpy(), params, activation="relu")
    np.testing.assert_allclose(ours, correct, rtol=1e-14)
    assert not np.allclose(ours, notes, rtol=1e-3)


def test_notes_4_200_300_1_sigmoid_network_has_61601_parameters_and_matches_torch():
    """Lecture "Deep Learning": FeedforwardNeuralNetModel(4, [200, 300], 1) has 61,601 parameters."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(4, 200), torch.nn.Sigmoid(), torch.nn.Linear(200, 300), torch.nn.Sigmoid(),
        torch.nn.Linear(300, 1),
    ).double()  # fmt: skip
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]
    params = [(m.weight.detach().numpy(), m.bias.detach().numpy()) for m in linears]
    assert sum(W.size + b.size for W, b in params) == 61_601
    x = torch.randn(10, 4, dtype=torch.float64)
    expected = model(x).detach().numpy()
    np.testing.assert_allclose(mlp_forward(x.numpy(), params, "sigmoid"), expected, rtol=1e-12)


def test_mlp_params_chain_mismatch_names_the_layer():
    x, params, g = mlp_case(2, seed=0)
    bad = [params[0], (np.ones((2, 7)), np.ones(2))]
    with pytest.raises(ValueError, match=r"params\[1\]\[0\] \(W\) has shape \(2, 7\)"):
        mlp_forward(x, bad)
    with pytest.raises(ValueError, match=r"params\[0\]\[1\] \(b\) has shape"):
        mlp_forward(x, [(params[0][0], np.ones((6, 1))), params[1]])
    with pytest.raises(ValueError, match=r"params\[0\] must be a \(W, b\) pair"):
        mlp_forward(x, [params[0][0]])
    with pytest.raises(ValueError, match="params must be a non-empty list"):
        mlp_forward(x, [])


def test_mlp_grad_output_of_wrong_shape_names_grad_output():
    x, params, g = mlp_case(2, seed=0)
    with pytest.raises(ValueError, match="grad_output has shape"):
        mlp_backward(x, params, g[:, :1])


# ====================================================================================================
# reference.gradcheck
# ====================================================================================================


def test_numerical_gradient_of_sum_of_sines_is_cosine():
    x = np.linspace(-2.0, 2.0, 7).reshape(7, 1)
    np.testing.assert_allclose(numerical_gradient(lambda v: np.sin(v).sum(), x), np.cos(x), atol=1e-9)


def test_numerical_vjp_of_elementwise_square_is_2_x_g():
    rng = np.random.default_rng(0)
    x, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    np.testing.assert_allclose(numerical_vjp(np.square, x, g), 2 * x * g, atol=1e-8)


def test_numerical_vjp_of_a_matrix_product_matches_autograd():
    rng = np.random.default_rng(1)
    A, x, g = rng.normal(size=(5, 3)), rng.normal(size=(3, 2)), rng.normal(size=(5, 2))
    tx = t(x, True)
    (t(A) @ tx).backward(t(g))
    np.testing.assert_allclose(numerical_vjp(lambda v: A @ v, x, g), tx.grad.numpy(), atol=1e-8)


@settings(deadline=None, max_examples=30, derandomize=True, database=None)
@given(values=st.lists(st.floats(-3.0, 3.0), min_size=1, max_size=6))
def test_numerical_gradient_of_log_sum_exp_is_softmax(values):
    x = np.array(values)
    softmax = np.exp(x - x.max()) / np.exp(x - x.max()).sum()
    numeric = numerical_gradient(lambda v: np.log(np.exp(v).sum()), x)
    np.testing.assert_allclose(numeric, softmax, atol=1e-8)


def test_numerical_gradient_does_not_modify_x_and_probes_a_copy():
    x = np.array([1.0, 2.0])
    seen = []

    def f(v):
        seen.append(v)
        v[0] = 100.0  # a badly behaved f must not disturb the next probe
        return float(np.sum(v**2))

    grad = numerical_gradient(f, x)
    np.testing.assert_array_equal(x, [1.0, 2.0])
    assert grad[1] == pytest.approx(4.0, abs=1e-6)


def test_numerical_gradient_needs_a_scalar_valued_f():
    with pytest.raises(ValueError, match="f\\(x\\) must be a scalar"):
        numerical_gradient(np.square, np.ones(3))


def test_numerical_vjp_grad_output_must_have_f_of_x_shape():
    with pytest.raises(ValueError, match="grad_output has shape"):
        numerical_vjp(np.square, np.ones(3), np.ones((3, 1)))


@pytest.mark.parametrize("eps", [0.0, -1e-6, float("nan")])
def test_numerical_gradient_eps_must_be_positive(eps):
    with pytest.raises(ValueError, match="eps must be"):
        numerical_gradient(np.sum, np.ones(2), eps=eps)


def test_numerical_gradient_nan_x_names_x():
    with pytest.raises(ValueError, match="x contains NaN"):
        numerical_gradient(np.sum, np.array([1.0, np.nan]))
