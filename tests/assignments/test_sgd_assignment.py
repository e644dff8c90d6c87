"""sgd: the suite's references are torch's own numbers (torch.optim.SGD / Adam, the lr schedulers, a torch
training loop, autograd), and the learning-rate judge reads the regimes as the notebook defines them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from autograders import sgd
from dlgrade.checking.answers import from_value
from dlgrade.suite import Case

SEEDS = range(4)


def cases(name: str) -> list[Case]:
    question = sgd.SUITE.question(name)
    found = list(question.public())
    for seed in SEEDS:
        found += list(question.hidden(np.random.default_rng([seed, 7])))
    return found


def _steps(optimizer_class, theta0, grads, **hyper) -> np.ndarray:
    """The trajectory torch.optim produces when each step finds grads[t] in .grad."""
    p = torch.tensor(theta0, dtype=torch.float64, requires_grad=True)
    optimizer = optimizer_class([p], **hyper)
    out = [p.detach().clone()]
    for g in grads:
        p.grad = torch.tensor(g, dtype=torch.float64)
        optimizer.step()
        out.append(p.detach().clone())
    return torch.stack(out).numpy()


@pytest.mark.parametrize("case", cases("sgd_momentum"), ids=lambda c: c.describe()[:50])
def test_sgd_reference_is_torch_optim_sgd(case):
    theta0, grads, lr = case.args
    expected = _steps(torch.optim.SGD, theta0, grads, lr=lr, **case.kwargs)
    np.testing.assert_allclose(sgd.sgd_reference(*case.args, **case.kwargs), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", cases("adam"), ids=lambda c: c.describe()[:50])
def test_adam_reference_is_torch_optim_adam(case):
    theta0, grads = case.args
    expected = _steps(torch.optim.Adam, theta0, grads, **case.kwargs)
    np.testing.assert_allclose(sgd.adam_reference(*case.args, **case.kwargs), expected, rtol=1e-12, atol=1e-14)


def test_tiny_gradients_separate_eps_inside_from_eps_outside_the_sqrt():
    """Public case 2: gradients of 1e-4 make sqrt(v_hat) = 1e-4 comparable with sqrt(eps) = 1e-4."""
    case = sgd.public_adam()[1]
    right = sgd.adam_reference(*case.args, **case.kwargs)
    wrong = sgd._adam_mistake(eps_inside=True)(*case.args, **case.kwargs)
    assert right[1, 0] == pytest.approx(0.5 - 0.01, abs=1e-6)  # the first step moves by about lr
    assert abs(wrong[1, 0] - right[1, 0]) > 2e-3


@pytest.mark.parametrize("case", cases("lr_schedule"), ids=lambda c: c.describe()[:50])
def test_lr_schedule_reference_is_torch_schedulers(case):
    kind, lr0, gamma, epochs = case.args
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr0)
    if kind == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=case.kwargs["step_size"], gamma=gamma)
    else:
        scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=gamma)
    used = []
    for _ in range(epochs):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    np.testing.assert_allclose(sgd.lr_schedule_reference(*case.args, **case.kwargs), used, rtol=1e-12)


def test_step_lr_public_example_is_the_staircase_of_the_notebook():
    case = sgd.public_lr_schedule()[0]
    np.testing.assert_allclose(sgd.lr_schedule_reference(*case.args, **case.kwargs),
                               [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025])


@pytest.mark.parametrize("case", cases("run_gd"), ids=lambda c: c.describe()[:50])
def test_run_gd_reference_is_a_torch_training_loop(case):
    """The lecture's loop (zero_grad, MSELoss, backward, SGD step) on nn.Linear from zero, plus the final loss."""
    X, y, lr, steps = case.args
    model = torch.nn.Linear(X.shape[1], 1).double()
    torch.nn.init.zeros_(model.weight)
    torch.nn.init.zeros_(model.bias)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    Xt, yt, losses = torch.tensor(X), torch.tensor(y), []
    for step in range(steps + 1):
        loss = torch.nn.MSELoss()(model(Xt).squeeze(1), yt)
        losses.append(loss.item())
        if step == steps:
            break
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(sgd.run_gd_reference(*case.args), losses, rtol=1e-9, atol=1e-12)


def test_worked_update_is_autograd_and_one_sgd_step():
    w1, b1, w3, b3 = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (3.0, 2.0, -0.5, 4.0))
    loss = (w3 * torch.relu(w1 * 5.0 + b1) + b3 - 2.0) ** 2
    loss.backward()
    torch.optim.SGD([w1, b1, w3, b3], lr=1e-3).step()
    expected = {"w1": w1.item(), "b1": b1.item(), "w3": w3.item(), "b3": b3.item()}
    assert sgd.worked_update_reference() == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx({"w1": 2.9675, "b1": 1.9935, "w3": -0.279, "b3": 4.013}, rel=1e-12)


def test_the_slides_numbers_are_a_mistake_not_the_answer():
    slides = sgd.WORKED_MISTAKES[0].compute()
    assert slides["w1"] == -2.98275  # the sign slip of the "Optimization Step" slide
    assert slides != pytest.approx(sgd.worked_update_reference())


@pytest.mark.parametrize("case", cases("l1_penalty"), ids=lambda c: c.describe()[:50])
def test_l1_references_are_the_lectures_loop_under_autograd(case):
    params, lam = case.args
    tensors = {name: torch.tensor(w, requires_grad=True) for name, w in params.items()}
    n_weights = sum(t.numel() for name, t in tensors.items() if "bias" not in name)
    l1_term = torch.tensor(0.0, dtype=torch.float64)
    for name, weights in tensors.items():
        if "bias" not in name:
            l1_term = l1_term + torch.sum(torch.abs(weights))
    penalty = lam * l1_term / n_weights
    penalty.backward()
    assert sgd.l1_penalty_reference(params, lam) == pytest.approx(penalty.item(), rel=1e-12)
    grads = sgd.l1_grad_reference(params, lam)
    assert list(grads) == list(params)
    for name, t in tensors.items():
        expected = np.zeros_like(params[name]) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(grads[name], expected, rtol=1e-12, atol=0)


def test_l1_public_case_is_checkable_by_hand():
    params, lam = sgd.public_l1()[0].args
    assert sgd.l1_penalty_reference(params, lam) == pytest.approx(0.6 * 8 / 6)
    assert sgd.l1_grad_reference(params, lam)["0.weight"][1, 0] == 0.0  # sign(0) = 0


@pytest.mark.parametrize("case", cases("minibatches"), ids=lambda c: c.describe()[:50])
def test_minibatches_partition_one_permutation_and_keep_the_last_batch(case):
    n, batch_size, seed = case.args
    batches = sgd.minibatches_reference(n, batch_size, seed)
    np.testing.assert_array_equal(np.concatenate(batches), np.random.default_rng(seed).permutation(n))
    assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert len(batches) == -(-n // batch_size)
    assert all(b.dtype == np.int64 for b in batches)


def test_valley_shows_every_regime():
    X, y, lrs, steps = sgd.public_lr_regimes()[0].args
    np.testing.assert_array_equal(sgd.lr_regimes_reference(X, y, lrs, steps), [1, 1, 0, 2, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sneaky = sgd._run_gd_variant()(X, y, 0.021, steps)
        overflow = sgd._run_gd_variant()(X, y, 100.0, steps)
    assert sneaky[1] < sneaky[0] < sneaky[-1]  # lower after one step, diverged by the end
    assert np.isnan(overflow[-1])  # nan, not inf: what `nan > x is False` gets wrong


@pytest.mark.parametrize("seed", range(20))
def test_hidden_valleys_cover_every_regime_with_a_sneaky_lr(seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for case in sgd.hidden_lr_regimes(np.random.default_rng(seed))[:2]:
            X, y, lrs, steps = case.args
            assert set(sgd.lr_regimes_reference(*case.args).tolist()) == {0, 1, 2}
            runs = [sgd._run_gd_variant()(X, y, lr, steps) for lr in lrs]
            assert any(r[1] < r[0] < r[-1] for r in runs)
            assert any(np.isnan(r[-1]) for r in runs)


def test_hidden_valleys_are_built_for_any_submission_seed():
    """An overflowing lr can reach NaN (inf - inf), which the reference refuses: the builder draws again instead of
    failing the submission's grading (it did for one seed in 300 of the grader's own generator, 248)."""
    from dlgrade.grading import question_rng

    question = sgd.SUITE.question("lr_regimes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for seed in (248, *range(20)):
            assert len(question.hidden(question_rng(seed, question))) == 4  # three valleys and the near-threshold case


def _judge(case: Case, value) -> tuple[bool, str]:
    verdict = sgd.judge_lr_regimes(case, from_value(value))
    return verdict.passed, verdict.message


def test_judge_accepts_the_reference_and_names_the_wrong_lr_without_its_value():
    case = sgd.public_lr_regimes()[0]
    codes = sgd.lr_regimes_reference(*case.args)
    assert _judge(case, codes) == (True, "")
    wrong = codes.copy()
    wrong[3] = 1
    passed, message = _judge(case, wrong)
    assert not passed
    assert "learning rate #4 of 5" in message and "2 (diverges)" in message
    assert "0.021" not in message  # hidden cases show the message: never an input


@pytest.mark.parametrize("value, words", [
    (np.array([1, 1, 0]), "shape (5,)"),
    (np.array([1.0, 1.0, 0.0, 2.0, 2.0]), "integer codes"),
    ("diverges", "int64 array"),
])
def test_judge_explains_a_malformed_answer(value, words):
    passed, message = _judge(sgd.public_lr_regimes()[0], value)
    assert not passed and words in message


def test_judge_accepts_either_side_of_a_threshold_within_one_percent():
    assert sgd._acceptable(1.0, 0.1005) == {0, 1}
    assert sgd._acceptable(1.0, 0.12) == {1}
    assert sgd._acceptable(1.0, 1.005) == {1, 2}
    assert sgd._acceptable(1.0, np.inf) == {2}


def test_a_run_whose_prediction_overflows_is_inf_in_the_reference_not_an_error():
    # found by the seed a suite edit gave CI's validate: ŷ = ±inf makes the gradient inf − inf = nan, which
    # gd_step refuses; the reference (and so lr_regimes on a student's hidden case) raised instead of "diverged"
    X = np.array([[60.3, -185.2], [45.1, 25.6], [-0.0, -213.3], [156.7, 89.8]])
    y = np.array([0.0, 0.5, -0.9, 0.5])
    trajectory = sgd.run_gd_reference(X, y, 4.5, 70)
    assert trajectory[0] == pytest.approx(0.3275) and trajectory[1] > trajectory[0] and np.isinf(trajectory[-1])
    np.testing.assert_array_equal(sgd.lr_regimes_reference(X, y, [1e-6, 4.5], 70), [1, 2])


@pytest.mark.parametrize("seed", range(10))
def test_the_hidden_case_near_the_slow_threshold_sits_between_a_twentieth_and_a_tenth(seed):
    case = sgd.hidden_lr_regimes(np.random.default_rng(seed))[-1]
    X, y, lrs, steps = case.args
    assert np.mean(y ** 2) == pytest.approx(0.05) and sorted(sgd.lr_regimes_reference(*case.args).tolist()) == [0, 1, 2]
    fine = lrs[sgd.lr_regimes_reference(*case.args).tolist().index(0)]
    ratios = sgd.run_gd_reference(X, y, fine, steps) / np.mean(y ** 2)
    assert 0.055 < ratios[-1] < 0.09 and ratios[-2] > 0.11 and ratios[1] <= 0.5
