"""reference.training: the recipe against hand-written loops, reproducibility, learning, evaluation, weights.

Runs with one torch thread (fixture below, restored afterwards): that is the setting under which train()
promises bit-identical trajectories.
"""

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from reference.datasets import make_circles, make_sum_regression, make_xor_blobs
from reference.models import (
    FFN,
    DropoutFFN,
    LogisticRegression,
    SigmoidFFN,
    TwoLayerClassifier,
    reset_parameters,
)
from reference.training import accuracy, evaluate, load_numpy_state_dict, state_dict_to_numpy, train


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    pairs = zip(a.state_dict().values(), b.state_dict().values(), strict=True)
    return all(torch.equal(p, q) for p, q in pairs)


# --- The recipe, step for step --------------------------------------------------------------------------


def test_full_batch_sgd_is_lecture8_end_to_end_loop_bit_for_bit():
    """Lecture 8: X = randn(100, 4), y = sum(X, 1), FFN(4, 1, 4), SGD lr=1e-2, MSELoss, full batch.

    The notes' loop (with its slips fixed: it sets n = 400 but loops over n_epochs, and stores the loss tensor
    itself in a numpy array instead of loss.item()) gives exactly the same losses and weights as train()."""
    X, y = make_sum_regression(100, 4, rng=0)
    net = reset_parameters(FFN(4, 1, 4), seed=0)
    mine = reset_parameters(FFN(4, 1, 4), seed=0)
    n_epochs = 50
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-2)
    Xt, yt = torch.tensor(X), torch.tensor(y)
    losses = np.zeros(n_epochs)
    for e in range(n_epochs):
        optimizer.zero_grad()
        y_pred = net(Xt).squeeze(1)
        loss = nn.MSELoss()(y_pred, yt)
        loss.backward()
        losses[e] = loss.item()
        optimizer.step()
    settings = dict(loss="mse", optimizer="sgd", lr=1e-2, epochs=n_epochs, seed=0)
    result = train(mine, X, y, shuffle=False, **settings)
    np.testing.assert_array_equal(result.losses, losses)
    assert same_weights(mine, net)
    assert result.steps == n_epochs and result.accuracies is None and result.model is mine
    # Shuffling a single full batch only reorders the sums inside the mean: equal up to rounding.
    shuffled = train(reset_parameters(FFN(4, 1, 4), seed=0), X, y, **settings)
    np.testing.assert_allclose(shuffled.losses, losses, rtol=1e-13)


def test_minibatch_adam_bce_is_unit8_recipe_bit_for_bit():
    """Unit 8: TensorDataset + DataLoader (here shuffled by a seeded generator), Adam, BCELoss, y.view(-1, 1),
    per-epoch np.mean(batch_loss) and accuracy from out.round(): the same numbers, the same weights."""
    X, y = make_xor_blobs(60, 0.2, rng=1)
    ref = reset_parameters(TwoLayerClassifier(2, 4), seed=1)
    mine = reset_parameters(TwoLayerClassifier(2, 4), seed=1)
    num_epoch, seed = 5, 3
    loader = DataLoader(
        TensorDataset(torch.tensor(X), torch.tensor(y)),
        batch_size=20,
        shuffle=True,
        generator=torch.Generator().manual_seed(seed),
    )
    opt = torch.optim.Adam(ref.parameters(), lr=0.01)
    criterion = nn.BCELoss()
    avg_loss, avg_acc = np.zeros(num_epoch), np.zeros(num_epoch)
    for epoch in range(num_epoch):
        ref.train()
        error, total, batch_loss = 0.0, 0, []
        for x_batch, y_batch in loader:
            y_batch = y_batch.view(-1, 1)
            out = ref(x_batch)
            loss = criterion(out, y_batch)
            batch_loss.append(loss.item())
            opt.zero_grad()
            loss.backward()
            opt.step()
            error += float(torch.sum(torch.abs(out.detach().round() - y_batch)))
            total += len(y_batch)
        avg_loss[epoch] = np.mean(batch_loss)
        avg_acc[epoch] = 1 - error / total
    settings = dict(loss="bce", optimizer="adam", lr=0.01, epochs=num_epoch, batch_size=20, seed=seed)
    result = train(mine, X, y, **settings)
    np.testing.assert_array_equal(result.losses, avg_loss)
    np.testing.assert_allclose(result.accuracies, avg_acc, rtol=1e-15)  # correct / n vs 1 − error / n
    assert same_weights(mine, ref)
    assert result.steps == num_epoch * 3


def test_a_column_output_against_row_labels_is_squeezed_never_broadcast():
    """The "Deep Learning" lecture's loop computes torch.mean((y_hat - y)**2) with y_hat of shape (n, 1): if y
    is (n,), that broadcasts to an (n, n) matrix of all pairwise differences and trains on the wrong loss.
    train() squeezes (n, 1) to (n,), like lecture 8's net(X).squeeze(1), and refuses any other mismatch."""
    X, y = make_sum_regression(8, 2, rng=6)
    target = torch.tensor(y)
    perfect = target[:, None]  # a perfect prediction, as an (n, 1) column
    assert (perfect - target).shape == (8, 8)
    broadcast = torch.mean((perfect - target) ** 2).item()
    assert broadcast == pytest.approx(2 * np.var(y), rel=1e-12)  # mean of (y_i − y_j)² over all pairs, not 0
    model = reset_parameters(FFN(2, 1, 3), seed=0)
    with torch.no_grad():
        right = torch.mean((model(torch.tensor(X)).squeeze(1) - target) ** 2).item()
    first = train(model, X, y, loss="mse", lr=1e-9, epochs=1, shuffle=False).losses[0]  # loss before the step
    assert first == pytest.approx(right, rel=1e-15)


def test_notes_unit8_loader_does_not_shuffle_although_the_slides_say_to():
    """Unit 8 says "randomly shuffle all n training indices" each epoch, but its recipe builds
    DataLoader(dataset, batch_size=100) and DataLoader's default is shuffle=False: every epoch sees the same
    batches. train() shuffles by default, from its seed."""
    dataset = TensorDataset(torch.arange(6.0))
    notes_loader = DataLoader(dataset, batch_size=2)
    epochs = [[batch[0].tolist() for batch in notes_loader] for _ in range(2)]
    assert epochs[0] == epochs[1] == [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]]
    X, y = make_sum_regression(12, 2, rng=0)
    kept = train(reset_parameters(FFN(2, 1, 3), seed=0), X, y, lr=0.1, epochs=2, batch_size=4, shuffle=False)
    shuffled = train(reset_parameters(FFN(2, 1, 3), seed=0), X, y, lr=0.1, epochs=2, batch_size=4)
    assert not np.array_equal(kept.losses, shuffled.losses)


# --- Reproducibility ------------------------------------------------------------------------------------


def run_dropout_training(seed: int):
    X, y = make_sum_regression(40, 3, rng=2)
    model = reset_parameters(DropoutFFN(3, 1, 8, p=0.3), seed=0)
    result = train(model, X, y, loss="mse", optimizer="adam", lr=0.01, epochs=6, batch_size=7, seed=seed)
    return result.losses, state_dict_to_numpy(model)


def test_same_seed_gives_bit_identical_trajectory_and_another_seed_does_not():
    """Shuffling (DataLoader generator) and dropout masks (global RNG, forked) both follow `seed`."""
    losses_a, weights_a = run_dropout_training(seed=5)
    losses_b, weights_b = run_dropout_training(seed=5)
    losses_c, weights_c = run_dropout_training(seed=6)
    np.testing.assert_array_equal(losses_a, losses_b)
    for key in weights_a:
        np.testing.assert_array_equal(weights_a[key], weights_b[key])
    assert not np.array_equal(losses_a, losses_c)
    assert not np.array_equal(weights_a["layer1.weight"], weights_c["layer1.weight"])


def test_seeding_the_cpu_generator_is_torch_manual_seed_on_this_machine():
    """The references and harnesses seed torch.default_generator directly (torch.manual_seed also probes the
    accelerators, ~0.3 ms a call): the same state and the same numbers, also for seeds past 2**63."""
    for seed in (0, 5, 2**31 - 1, 2**64 - 1):
        torch.manual_seed(seed)
        by_torch = torch.random.get_rng_state()
        drawn = torch.randn(4, dtype=torch.float64)
        torch.manual_seed(seed + 1 if seed < 2**64 - 1 else 0)  # anything else in between
        torch.default_generator.manual_seed(seed)
        assert torch.equal(torch.random.get_rng_state(), by_torch)
        assert torch.equal(torch.randn(4, dtype=torch.float64), drawn)
    assert not torch.cuda.is_available()  # else torch.manual_seed would also seed a device we do not


def test_train_restores_the_global_torch_rng_and_shuffle_false_keeps_the_order():
    X, y = make_sum_regression(12, 2, rng=3)
    a = reset_parameters(FFN(2, 1, 3), seed=0)
    b = reset_parameters(FFN(2, 1, 3), seed=0)
    torch.manual_seed(99)
    before = torch.random.get_rng_state()
    ra = train(a, X, y, lr=0.05, epochs=3, batch_size=5, seed=1, shuffle=False)
    rb = train(b, X, y, lr=0.05, epochs=3, batch_size=5, seed=2, shuffle=False)  # seed only shuffles here
    assert torch.equal(torch.random.get_rng_state(), before)
    np.testing.assert_array_equal(ra.losses, rb.losses)
    assert ra.steps == 3 * 3  # ⌈12 / 5⌉ batches per epoch


# --- Learning -------------------------------------------------------------------------------------------


def test_regression_loss_decreases_on_lecture8_data():
    """FFN(4, 1, 4), full-batch SGD lr = 1e-2, 400 epochs on y = Σ x_j: the MSE falls from 4.38 to 0.042."""
    X, y = make_sum_regression(100, 4, rng=0)
    model = reset_parameters(FFN(4, 1, 4), seed=0)
    result = train(model, X, y, loss="mse", optimizer="sgd", lr=1e-2, epochs=400, seed=0)
    assert result.losses.shape == (400,) and result.losses.dtype == np.float64
    assert result.losses[-1] < 0.05 * result.losses[0]
    # monotone while far from the minimum (small lr, full batch)
    assert (np.diff(result.losses[:100]) < 0).all()
    # the recorded loss is the pre-step loss of each epoch; evaluate() sees the weights after the last step
    final = evaluate(model, X, y, loss="mse")
    assert final.loss <= result.losses[-1]
    np.testing.assert_allclose(final.loss, np.mean((final.output[:, 0] - y) ** 2), rtol=1e-14)


def test_two_layer_classifier_separates_circles_and_logistic_regression_cannot():
    """Circles (n=200, noise 0.1, seed 0; test set seed 1): TwoLayerClassifier(2, 16) with Adam lr 0.05,
    batch 40, 60 epochs, seed 0 reaches 0.99 train / 0.98 test accuracy. LogisticRegression trained the same
    way stays near chance (0.47): no line separates a disc from the ring around it."""
    X, y = make_circles(200, 0.1, rng=0)
    X_test, y_test = make_circles(200, 0.1, rng=1)
    settings = dict(loss="bce", optimizer="adam", lr=0.05, epochs=60, batch_size=40, seed=0)
    net = reset_parameters(TwoLayerClassifier(2, 16), seed=0)
    result = train(net, X, y, **settings)
    assert evaluate(net, X, y, loss="bce").accuracy >= 0.95
    assert evaluate(net, X_test, y_test, loss="bce").accuracy >= 0.9
    assert result.accuracies[-1] >= 0.9 and result.losses[-1] < 0.5 * result.losses[0]
    linear = reset_parameters(LogisticRegression(2), seed=0)
    train(linear, X, y, **settings)
    assert evaluate(linear, X, y, loss="bce").accuracy < 0.7


def test_cross_entropy_and_bce_logits_train_logit_models():
    X, y = make_xor_blobs(80, 0.15, rng=4)
    settings = dict(optimizer="adam", lr=0.05, epochs=30, batch_size=16, seed=0)
    two_class = reset_parameters(TwoLayerClassifier(2, 8, out=2, activation="tanh", logits=True), seed=0)
    ce = train(two_class, X, y.astype(np.int64), loss="cross_entropy", **settings)
    one_logit = reset_parameters(TwoLayerClassifier(2, 8, activation="tanh", logits=True), seed=0)
    bl = train(one_logit, X, y, loss="bce_logits", **settings)
    for model, result, loss, labels in (
        (two_class, ce, "cross_entropy", y.astype(np.int64)),
        (one_logit, bl, "bce_logits", y),
    ):
        assert result.losses[-1] < 0.3 * result.losses[0]
        assert evaluate(model, X, labels, loss=loss).accuracy >= 0.95


# --- evaluate() and accuracy() --------------------------------------------------------------------------


def test_evaluate_switches_to_eval_mode_runs_under_no_grad_and_stays_in_eval():
    model = reset_parameters(DropoutFFN(2, 1, 8, p=0.5), seed=0)
    seen = []
    def record(module, args, out):
        seen.append((module.training, torch.is_grad_enabled()))

    model.register_forward_hook(record)
    X, y = make_xor_blobs(8, 0.1, rng=0)
    model.train()
    first = evaluate(model, X, y, loss="bce_logits")
    second = evaluate(model, X, y, loss="bce_logits")
    assert seen == [(False, False), (False, False)]
    assert model.training is False and all(not m.training for m in model.modules())
    assert torch.is_grad_enabled()  # restored on the way out
    assert all(p.grad is None for p in model.parameters())
    np.testing.assert_array_equal(first.output, second.output)  # dropout off: deterministic
    z = torch.tensor(first.output[:, 0])
    expected = nn.BCEWithLogitsLoss()(z, torch.tensor(y)).item()
    assert first.loss == pytest.approx(expected, rel=1e-15)
    assert first.accuracy == np.mean((first.output[:, 0] > 0) == y)


def test_accuracy_thresholds_argmax_and_the_notes_round_half_down():
    y = np.array([1.0, 0.0, 1.0, 0.0])
    probs = np.array([0.9, 0.2, 0.5, 0.51])  # 0.5 → 0 like the notes' out.round() (half to even), 0.51 → 1
    assert accuracy(probs, y) == 0.5
    assert accuracy(probs[:, None], y) == 0.5  # (n, 1) output against (n,) labels, as the model returns it
    assert accuracy(np.array([2.0, -1.0, 0.3, -0.2]), y, threshold=0.0) == 1.0  # logits
    assert float(torch.tensor(0.5).round()) == 0.0
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0]])
    assert accuracy(logits, np.array([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(torch.tensor(probs, requires_grad=True), torch.tensor(y)) == 0.5  # tensors are accepted


# --- Weights as numpy -----------------------------------------------------------------------------------


def test_state_dict_round_trip_through_numpy_is_exact():
    source = reset_parameters(SigmoidFFN(), seed=0)
    arrays = state_dict_to_numpy(source)
    names = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "output.weight", "output.bias"]
    assert list(arrays) == names
    assert all(a.dtype == np.float64 for a in arrays.values())
    target = reset_parameters(SigmoidFFN(), seed=1)
    assert not same_weights(source, target)
    assert load_numpy_state_dict(target, arrays) is target
    assert same_weights(source, target)
    x = torch.tensor(np.random.default_rng(0).standard_normal((5, 4)))
    with torch.no_grad():
        assert torch.equal(source(x), target(x))
    # copies both ways: neither side aliases the other's memory
    arrays["fc1.bias"][0] += 1.0
    assert torch.equal(source.fc1.bias, target.fc1.bias)
    assert source.fc1.bias[0].item() != arrays["fc1.bias"][0]


def test_load_accepts_lists_and_ints_from_the_worker():
    model = FFN(1, 1, 1)
    plain = {"layer1.weight": [[1]], "layer1.bias": [0], "layer2.weight": [[2]], "layer2.bias": [0.5],
             "layer3.weight": [[-1]], "layer3.bias": [3]}  # fmt: skip
    load_numpy_state_dict(model, plain)
    with torch.no_grad():
        assert model(torch.tensor([[2.0]], dtype=torch.float64)).item() == 3 - (2 * 2 + 0.5)


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda a: a.pop("layer2.bias"), r"missing \['layer2.bias'\]"),
        (lambda a: a.update(extra=np.ones(1)), r"unexpected \['extra'\]"),
        (lambda a: a.update({"layer1.weight": np.ones((3, 4))}), r"\['layer1.weight'\] has shape \(3, 4\)"),
        (lambda a: a.update({"layer3.bias": np.ones((1, 1))}), r"arrays\['layer3.bias'\] has shape \(1, 1\)"),
        (lambda a: a.update({"layer1.bias": np.full(4, np.nan)}), r"arrays\['layer1.bias'\] contains NaN"),
        (lambda a: a.update({"layer1.bias": np.full(4, np.inf)}), r"arrays\['layer1.bias'\] contains inf"),
        (lambda a: a.update({"layer1.bias": np.array(["a"] * 4)}), r"arrays\['layer1.bias'\] must be a real"),
    ],
)
def test_load_rejects_bad_weights_naming_the_entry(edit, match):
    model = reset_parameters(FFN(3, 1, 4), seed=0)
    before = state_dict_to_numpy(model)
    arrays = state_dict_to_numpy(model)
    edit(arrays)
    with pytest.raises(ValueError, match=match):
        load_numpy_state_dict(model, arrays)
    after = state_dict_to_numpy(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)  # nothing half-loaded


# --- Bad input ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(loss="hinge"), "loss must be one of"),
        (dict(optimizer="rmsprop"), "optimizer must be one of"),
        (dict(lr=0.0), "lr must be"),
        (dict(lr=float("nan")), "lr must be"),
        (dict(epochs=0), "epochs must be"),
        (dict(batch_size=0), "batch_size must be"),
        (dict(seed=-1), "seed must be"),
        (dict(X=np.ones(6)), r"X must have shape \(n, d\)"),
        (dict(y=np.ones(5)), r"y has shape \(5,\) but X has 6 rows"),
        (dict(y=np.ones((6, 2))), r"y has shape \(6, 2\) but the model's output has shape \(6, 1\)"),
        (dict(loss="bce", y=np.full(6, 2.0)), r"y must lie in \[0, 1\]"),
        (dict(loss="cross_entropy", y=np.zeros(6)), "integer class indices"),
        (dict(loss="cross_entropy", y=np.ones(6, dtype=np.int64)), r"y holds class index 1 but the model"),
    ],
)
def test_bad_arguments_raise_value_error_naming_the_argument(kwargs, match):
    model = reset_parameters(FFN(2, 1, 3), seed=0)
    before = state_dict_to_numpy(model)
    args = dict(X=np.ones((6, 2)), y=np.zeros(6), loss="mse", optimizer="sgd", lr=0.1, epochs=1, batch_size=6)
    args.update(kwargs)
    X, y = args.pop("X"), args.pop("y")
    with pytest.raises(ValueError, match=match):
        train(model, X, y, **args)
    assert all(np.array_equal(before[k], v) for k, v in state_dict_to_numpy(model).items())


def test_bad_arguments_to_evaluate_and_accuracy():
    model = FFN(2, 2, 3)
    with pytest.raises(ValueError, match="loss must be one of"):
        evaluate(model, np.ones((3, 2)), np.ones((3, 2)), loss="l1")
    with pytest.raises(ValueError, match=r"y holds class index 2 but the model has 2 outputs"):
        evaluate(model, np.ones((3, 2)), np.array([0, 1, 2]), loss="cross_entropy")
    with pytest.raises(ValueError, match=r"y has shape \(3,\) but output has shape \(2,\)"):
        accuracy(np.ones(2), np.ones(3))
    with pytest.raises(ValueError, match="model must be a torch.nn.Module"):
        evaluate(lambda x: x, np.ones((3, 2)), np.ones(3))
