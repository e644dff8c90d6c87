"""reference.optim against torch.optim.SGD / Adam and lr_scheduler in float64; the mini-batch partition."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reference.optim import (
    SGD,
    Adam,
    AdamState,
    SGDState,
    adam_step,
    exponential_lr,
    gd_step,
    minibatch_indices,
    sgd_step,
    step_lr,
)

N_STEPS = 7
SHAPES = [(3, 4), (4,)]


def gradient_sequence(seed: int, shrinking: bool = False) -> list[list[np.ndarray]]:
    """N_STEPS gradients per parameter; shrinking ones make amsgrad's running max differ from Adam's v."""
    rng = np.random.default_rng(seed)
    return [
        [rng.normal(size=shape) * (4.0 / (step + 1) if shrinking else 1.0) for shape in SHAPES]
        for step in range(N_STEPS)
    ]


def initial_params(seed: int = 100) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape) for shape in SHAPES]


def torch_trajectory(optimizer_class, params0, grads, **hyper) -> tuple[list[list[np.ndarray]], object]:
    """The parameters after each torch.optim step, feeding .grad directly with the given gradient sequence."""
    tensors = [torch.tensor(p, dtype=torch.float64, requires_grad=True) for p in params0]
    opt = optimizer_class(tensors, **hyper)
    trajectory = []
    for step_grads in grads:
        opt.zero_grad()
        for tensor, g in zip(tensors, step_grads, strict=True):
            tensor.grad = torch.tensor(g, dtype=torch.float64)
        opt.step()
        trajectory.append([tensor.detach().numpy().copy() for tensor in tensors])
    return trajectory, (opt, tensors)


def assert_same_step(got: np.ndarray, expected: np.ndarray, start: np.ndarray) -> None:
    """Same parameters and the same displacement from the start (small moves hide in the last digits)."""
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(got - start, expected - start, rtol=1e-10, atol=1e-15)


SGD_CASES = {
    "plain": dict(lr=0.1),
    "momentum": dict(lr=0.1, momentum=0.9),
    "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True),
    "dampening": dict(lr=0.1, momentum=0.8, dampening=0.5),
    "weight_decay": dict(lr=0.1, weight_decay=0.05),
    "nesterov_weight_decay": dict(lr=0.02, momentum=0.9, weight_decay=0.01, nesterov=True),
    "everything_maximize": dict(lr=0.1, momentum=0.5, dampening=0.3, weight_decay=0.1, maximize=True),
}

ADAM_CASES = {
    "default": dict(),
    "betas": dict(lr=0.01, betas=(0.8, 0.99)),
    "amsgrad": dict(lr=0.01, amsgrad=True),
    "weight_decay": dict(lr=0.01, weight_decay=0.1),
    "large_eps": dict(lr=0.1, eps=1e-3),
    "amsgrad_weight_decay_maximize": dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True),
    "decoupled_weight_decay": dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
}


# --- SGD ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hyper", SGD_CASES.values(), ids=SGD_CASES.keys())
def test_sgd_step_matches_torch_optim_sgd_over_7_steps(hyper):
    params0, grads = initial_params(), gradient_sequence(0)
    expected, (opt, tensors) = torch_trajectory(torch.optim.SGD, params0, grads, **hyper)
    params, states = [p.copy() for p in params0], [None] * len(params0)
    for step, step_grads in enumerate(grads):
        for i, g in enumerate(step_grads):
            params[i], states[i] = sgd_step(params[i], g, states[i], **hyper)
            assert_same_step(params[i], expected[step][i], params0[i])
    for state, tensor in zip(states, tensors, strict=True):
        torch_buffer = opt.state[tensor].get("momentum_buffer")
        if torch_buffer is None:
            assert state.momentum_buffer is None
        else:
            np.testing.assert_allclose(state.momentum_buffer, torch_buffer.numpy(), rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("hyper", SGD_CASES.values(), ids=SGD_CASES.keys())
def test_sgd_class_updates_its_arrays_in_place_like_torch_optim_sgd(hyper):
    params0, grads = initial_params(), gradient_sequence(1)
    expected, _ = torch_trajectory(torch.optim.SGD, params0, grads, **hyper)
    params = [p.copy() for p in params0]
    opt = SGD(params, **hyper)
    for step, step_grads in enumerate(grads):
        opt.step(step_grads)
        for i in range(len(params)):
            np.testing.assert_allclose(params[i], expected[step][i], rtol=1e-13, atol=1e-14)


def test_sgd_first_step_initialises_the_buffer_to_the_gradient_without_dampening():
    g1, g2 = np.array([1.0, -2.0]), np.array([3.0, 0.5])
    p1, state = sgd_step(np.zeros(2), g1, lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_array_equal(state.momentum_buffer, g1)  # not (1 − 0.5)·g1
    np.testing.assert_allclose(p1, [-0.1, 0.2])
    p2, state = sgd_step(p1, g2, state, lr=0.1, momentum=0.9, dampening=0.5)
    np.testing.assert_allclose(state.momentum_buffer, 0.9 * g1 + 0.5 * g2)
    np.testing.assert_allclose(p2, p1 - 0.1 * (0.9 * g1 + 0.5 * g2))


def test_sgd_nesterov_step_uses_gradient_plus_momentum_times_buffer():
    p, state = sgd_step(np.array([1.0]), np.array([2.0]), lr=0.1, momentum=0.9, nesterov=True)
    assert state.momentum_buffer.tolist() == [2.0]
    assert p[0] == pytest.approx(1.0 - 0.1 * (2.0 + 0.9 * 2.0))


def test_sgd_without_momentum_keeps_no_buffer():
    _, state = sgd_step(np.ones(3), np.ones(3), lr=0.1)
    assert state == SGDState(momentum_buffer=None)


def test_sgd_step_does_not_modify_param_grad_or_state():
    param, grad = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    _, state = sgd_step(param, grad, lr=0.1, momentum=0.9)
    buffer_before = state.momentum_buffer.copy()
    sgd_step(param, grad, state, lr=0.1, momentum=0.9, weight_decay=0.1)
    np.testing.assert_array_equal(param, [1.0, 2.0])
    np.testing.assert_array_equal(grad, [0.5, -0.5])
    np.testing.assert_array_equal(state.momentum_buffer, buffer_before)


@settings(deadline=None, max_examples=40, derandomize=True, database=None)
@given(seed=st.integers(0, 2**32 - 1), lr=st.floats(0.0, 1.0))
def test_sgd_without_momentum_is_gradient_descent(seed, lr):
    rng = np.random.default_rng(seed)
    param, grad = rng.normal(size=5), rng.normal(size=5)
    np.testing.assert_array_equal(sgd_step(param, grad, lr=lr)[0], gd_step(param, grad, lr))


def test_gd_step_on_the_lecture_worked_example_moves_against_the_gradient():
    """θ' = θ − lr·dl/dθ for w1 = 3, dl/dw1 = 32.5, lr = 1e-3 (lecture 8's example): 2.9675."""
    assert gd_step(np.array(3.0), np.array(32.5), 1e-3) == pytest.approx(2.9675, abs=1e-15)
    np.testing.assert_allclose(gd_step([1.0, -1.0], [10.0, -10.0], 0.1), [0.0, 0.0], atol=1e-15)


# --- Adam --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hyper", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_step_matches_torch_optim_adam_over_7_steps(hyper):
    params0, grads = initial_params(), gradient_sequence(2, shrinking=True)
    expected, (opt, tensors) = torch_trajectory(torch.optim.Adam, params0, grads, **hyper)
    params, states = [p.copy() for p in params0], [None] * len(params0)
    for step, step_grads in enumerate(grads):
        for i, g in enumerate(step_grads):
            params[i], states[i] = adam_step(params[i], g, states[i], **hyper)
            assert_same_step(params[i], expected[step][i], params0[i])
    for state, tensor in zip(states, tensors, strict=True):
        torch_state = opt.state[tensor]
        assert state.step == int(torch_state["step"].item()) == N_STEPS
        names = ["exp_avg", "exp_avg_sq"] + (["max_exp_avg_sq"] if hyper.get("amsgrad") else [])
        for name in names:
            expected_state = torch_state[name].numpy()
            np.testing.assert_allclose(getattr(state, name), expected_state, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("hyper", ADAM_CASES.values(), ids=ADAM_CASES.keys())
def test_adam_class_updates_its_arrays_in_place_like_torch_optim_adam(hyper):
    params0, grads = initial_params(), gradient_sequence(3, shrinking=True)
    expected, _ = torch_trajectory(torch.optim.Adam, params0, grads, **hyper)
    params = [p.copy() for p in params0]
    opt = Adam(params, **hyper)
    for step, step_grads in enumerate(grads):
        opt.step(step_grads)
        for i in range(len(params)):
            np.testing.assert_allclose(params[i], expected[step][i], rtol=1e-13, atol=1e-14)


def test_the_adam_gradient_sequence_makes_amsgrad_matter():
    """Guard for the amsgrad cases above: with shrinking gradients max v ≠ v, so the trajectories differ."""
    params0, grads = initial_params(), gradient_sequence(2, shrinking=True)
    plain, _ = torch_trajectory(torch.optim.Adam, params0, grads, lr=0.01)
    amsgrad, _ = torch_trajectory(torch.optim.Adam, params0, grads, lr=0.01, amsgrad=True)
    assert not np.allclose(plain[-1][0], amsgrad[-1][0], rtol=1e-6, atol=0)


@settings(deadline=None, max_examples=40, derandomize=True, database=None)
@given(seed=st.integers(0, 2**32 - 1), lr=st.floats(1e-4, 1.0), beta1=st.floats(0.0, 0.99))
def test_adams_first_step_moves_each_weight_by_lr_times_g_over_abs_g_plus_eps(seed, lr, beta1):
    """Bias correction makes step 1 θ − lr·g / (|g| + eps): about lr in magnitude, whatever the scale of g."""
    rng = np.random.default_rng(seed)
    param, grad = rng.normal(size=6), rng.normal(size=6) * 10.0 ** rng.uniform(-3, 3)
    new_param, state = adam_step(param, grad, lr=lr, betas=(beta1, 0.999))
    assert state.step == 1
    np.testing.assert_allclose(new_param - param, -lr * grad / (np.abs(grad) + 1e-8), rtol=1e-9, atol=1e-15)


def test_adam_state_starts_at_zero_and_counts_steps():
    _, state = adam_step(np.zeros(2), np.array([1.0, -1.0]), amsgrad=True)
    assert isinstance(state, AdamState) and state.step == 1
    np.testing.assert_allclose(state.exp_avg, [0.1, -0.1])
    np.testing.assert_allclose(state.exp_avg_sq, [0.001, 0.001])
    np.testing.assert_allclose(state.max_exp_avg_sq, [0.001, 0.001])
    _, state = adam_step(np.zeros(2), np.array([1.0, -1.0]), state, amsgrad=True)
    assert state.step == 2


# --- Learning-rate schedules -------------------------------------------------------------------------


@pytest.mark.parametrize(("step_size", "gamma"), [(3, 0.5), (1, 0.9), (5, 0.1)])
def test_step_lr_matches_torch_step_lr_for_15_epochs(step_size, gamma):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=step_size, gamma=gamma)
    for epoch in range(15):
        assert step_lr(0.1, epoch, step_size, gamma) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        scheduler.step()


@pytest.mark.parametrize("gamma", [0.95, 0.5])
def test_exponential_lr_matches_torch_exponential_lr_for_15_epochs(gamma):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.05)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(opt, gamma=gamma)
    for epoch in range(15):
        assert exponential_lr(0.05, epoch, gamma) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-12)
        opt.step()
        scheduler.step()


def test_step_lr_decays_in_blocks():
    assert [step_lr(1.0, e, step_size=2, gamma=0.5) for e in range(6)] == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    assert exponential_lr(1.0, 3, 0.5) == 0.125


# --- Mini-batches ------------------------------------------------------------------------------------


@settings(deadline=None, max_examples=50, derandomize=True, database=None)
@given(
    n=st.integers(0, 200),
    batch_size=st.integers(1, 64),
    seed=st.integers(0, 2**32 - 1),
    shuffle=st.booleans(),
    drop_last=st.booleans(),
)
def test_minibatches_cover_every_index_exactly_once(n, batch_size, seed, shuffle, drop_last):
    rng = np.random.default_rng(seed)
    batches = minibatch_indices(n, batch_size, rng, shuffle=shuffle, drop_last=drop_last)
    used = np.concatenate(batches) if batches else np.array([], dtype=np.int64)
    assert len(np.unique(used)) == len(used)  # no index twice
    assert all(len(b) == batch_size for b in batches[:-1])
    if drop_last:
        assert len(batches) == n // batch_size and all(len(b) == batch_size for b in batches)
        assert len(used) == n - n % batch_size
    else:
        assert len(batches) == -(-n // batch_size)
        np.testing.assert_array_equal(np.sort(used), np.arange(n))  # every index, exactly once
    if not shuffle:
        np.testing.assert_array_equal(used, np.arange(len(used)))


def test_minibatches_are_reproducible_from_the_same_seed_and_differ_across_seeds():
    first = minibatch_indices(50, 8, np.random.default_rng(7))
    again = minibatch_indices(50, 8, np.random.default_rng(7))
    other = minibatch_indices(50, 8, np.random.default_rng(8))
    assert [b.tolist() for b in first] == [b.tolist() for b in again]
    assert [b.tolist() for b in first] != [b.tolist() for b in other]
    assert [len(b) for b in first] == [8, 8, 8, 8, 8, 8, 2]


def test_minibatches_are_the_shuffled_indices_cut_into_contiguous_subsets():
    """Unit 8: shuffle all n indices, then partition the shuffled order into T contiguous subsets."""
    batches = minibatch_indices(10, 4, np.random.default_rng(3))
    order = np.random.default_rng(3).permutation(10)
    assert [b.tolist() for b in batches] == [order[:4].tolist(), order[4:8].tolist(), order[8:].tolist()]


def test_one_generator_gives_new_batches_every_epoch():
    rng = np.random.default_rng(0)
    epoch1, epoch2 = minibatch_indices(30, 10, rng), minibatch_indices(30, 10, rng)
    assert [b.tolist() for b in epoch1] != [b.tolist() for b in epoch2]


def test_minibatches_without_shuffle_are_in_order():
    batches = minibatch_indices(5, 2, np.random.default_rng(0), shuffle=False)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    full = minibatch_indices(5, 2, np.random.default_rng(0), shuffle=False, drop_last=True)
    assert [b.tolist() for b in full] == [[0, 1], [2, 3]]


# --- Bad input ---------------------------------------------------------------------------------------


def test_gradient_of_another_shape_names_grad():
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but param has shape \(3, 1\)"):
        sgd_step(np.ones((3, 1)), np.ones(3), lr=0.1)
    with pytest.raises(ValueError, match="grad has shape"):
        adam_step(np.ones((3, 1)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="grad has shape"):
        gd_step(np.ones(2), np.ones(3), 0.1)


def test_nan_gradient_names_grad():
    with pytest.raises(ValueError, match="grad contains NaN"):
        sgd_step(np.ones(2), np.array([1.0, np.nan]), lr=0.1)


def test_nesterov_needs_momentum_and_no_dampening_like_torch():
    with pytest.raises(ValueError, match="nesterov"):
        sgd_step(np.ones(2), np.ones(2), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)
    with pytest.raises(ValueError, match="nesterov"):
        SGD([np.ones(2)], lr=0.1, nesterov=True)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        (dict(lr=-0.1), "lr"),
        (dict(betas=(1.0, 0.999)), r"betas\[0\]"),
        (dict(betas=(0.9, -0.1)), r"betas\[1\]"),
        (dict(eps=-1e-8), "eps"),
        (dict(weight_decay=-0.1), "weight_decay"),
    ],
)
def test_adam_hyper_parameters_are_checked_like_torch(kwargs, name):
    with pytest.raises(ValueError, match=name):
        adam_step(np.ones(2), np.ones(2), **kwargs)


def test_adam_amsgrad_needs_a_state_made_with_amsgrad():
    _, state = adam_step(np.ones(2), np.ones(2))
    with pytest.raises(ValueError, match="max_exp_avg_sq"):
        adam_step(np.ones(2), np.ones(2), state, amsgrad=True)


def test_optimizer_classes_check_params_and_grads():
    with pytest.raises(ValueError, match=r"params\[0\]"):
        SGD([np.ones(2, dtype=np.float32)], lr=0.1)
    with pytest.raises(ValueError, match="params must be"):
        Adam(np.ones(2))
    opt = SGD([np.ones(2), np.ones(3)], lr=0.1)
    with pytest.raises(ValueError, match="grads must be a list of 2"):
        opt.step([np.ones(2)])
    with pytest.raises(ValueError, match=r"grads\[1\] has shape"):
        opt.step([np.ones(2), np.ones(2)])


@pytest.mark.parametrize(
    ("args", "name"),
    [((-1, 2), "n"), ((10, 0), "batch_size"), ((10, 2.5), "batch_size")],
)
def test_minibatch_arguments_are_checked(args, name):
    with pytest.raises(ValueError, match=f"^{name} must be"):
        minibatch_indices(*args, np.random.default_rng(0))


def test_minibatch_rng_must_be_a_numpy_generator():
    with pytest.raises(ValueError, match="rng must be a numpy.random.Generator"):
        minibatch_indices(10, 2, 0)


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="step_size"):
        step_lr(0.1, 3, 0, 0.5)
    with pytest.raises(ValueError, match="epoch"):
        exponential_lr(0.1, -1, 0.5)
