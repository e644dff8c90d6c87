"""losses: torch (the oracle) agrees with the suite's references on every public and seeded hidden case, the
lecture notes' printed numbers are what the public cases expect (and the notes' formulas, where they slip, are the
catalogued mistakes), the edge cases really separate stable from naive forms, and the notebook's solution cells are
the sources the mistakes are edited from."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograders import losses
from dlgrade.suite import Case, TensorArg

NOTEBOOK = Path(__file__).resolve().parents[2] / "assignments" / "losses" / "losses.ipynb"
SEEDS = range(6)


def cases(name: str) -> list[Case]:
    question = losses.SUITE.question(name)
    found = list(question.public())
    for seed in SEEDS:
        found += list(question.hidden(np.random.default_rng([seed, 7])))
    return found


def plain(value: object) -> object:
    return value.array if isinstance(value, TensorArg) else value


def t(value: object) -> object:
    return torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value


def expected(name: str, case: Case) -> np.ndarray:
    question = losses.SUITE.question(name)
    return question.reference(*map(plain, case.args), **{k: plain(v) for k, v in case.kwargs.items()})


# torch.nn.functional on the same arguments: the oracle for parts A-D.
ORACLES = {
    "mse": F.mse_loss, "l1": F.l1_loss, "bce": F.binary_cross_entropy,
    "bce_with_logits": F.binary_cross_entropy_with_logits, "cross_entropy": F.cross_entropy, "nll": F.nll_loss,
    "multi_margin": F.multi_margin_loss, "poisson_nll": F.poisson_nll_loss, "gaussian_nll": F.gaussian_nll_loss,
}


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_reference_agrees_with_torch_functional(name: str) -> None:
    for case in cases(name):
        want = ORACLES[name](*map(t, case.args), **{k: t(v) for k, v in case.kwargs.items()}).numpy()
        got = expected(name, case)
        assert got.shape == want.shape, case.label
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=case.label)


def test_loss_inputs_reference_is_torch_modules_correctly_fed() -> None:
    nn = torch.nn
    for case in cases("loss_inputs"):
        logits, target = (torch.from_numpy(a.array) for a in case.args)
        one_hot = F.one_hot(target, logits.shape[1]).to(logits.dtype)
        want = (nn.BCELoss()(torch.sigmoid(logits), one_hot), nn.BCEWithLogitsLoss()(logits, one_hot),
                nn.CrossEntropyLoss()(logits, target), nn.NLLLoss()(torch.log_softmax(logits, dim=1), target))
        got = expected("loss_inputs", case)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-12, err_msg=case.label)


def test_distribution_references_are_torch_distributions() -> None:
    for case in cases("exponential_nll"):
        rate, y = (torch.from_numpy(a.array) for a in case.args)
        want = -torch.distributions.Exponential(rate.squeeze(1)).log_prob(y).sum()
        np.testing.assert_allclose(expected("exponential_nll", case), want.numpy(), rtol=1e-12, err_msg=case.label)
    for case in cases("weibull_nll"):
        params, y = (torch.from_numpy(a.array) for a in case.args)
        scale, k = torch.clamp(params[:, 0], min=1e-6), torch.clamp(params[:, 1], min=1e-6)
        want = -torch.distributions.Weibull(scale, k).log_prob(y).sum()
        # torch's Weibull goes through transforms; the closed form agrees to rounding (1e-9 relative at worst)
        np.testing.assert_allclose(expected("weibull_nll", case), want.numpy(), rtol=1e-9, err_msg=case.label)


def test_lecture_8_printouts_are_the_public_expectations() -> None:
    # nn.BCELoss, nn.MultiMarginLoss, nn.PoissonNLLLoss, nn.GaussianNLLLoss (reduction='none') as printed in lecture
    # 8, on the inputs printed there to 4 decimals: the printed numbers are right to that precision.
    printed = {
        "bce": [0.4866, 0.4797, 0.4508, 0.6433, 0.3374],
        "multi_margin": [0.5738, 0.5554, 0.6083, 0.5189],
        "poisson_nll": [-0.0888, 0.7997, 0.7265, 3.9148, -1.3360],
        "gaussian_nll": [0.6120, 0.7687, 0.7754, 0.4796, 0.6720],
    }
    for name, numbers in printed.items():
        case = next(c for c in losses.SUITE.question(name).public() if c.label.startswith("lecture 8's example"))
        np.testing.assert_allclose(expected(name, case), numbers, atol=2e-4, err_msg=name)


def test_the_notes_slipped_formulas_are_caught_mistakes() -> None:
    # lecture 8's BCE without the minus sign is negative; its MultiMargin sum over every class misses the printout.
    bce = losses.SUITE.question("bce")
    notes_bce = next(m for m in bce.mistakes if m.name == "forgot_minus")
    case = bce.public()[0]
    assert np.all(notes_bce.compute(*case.args, **case.kwargs) < 0)
    margin = losses.SUITE.question("multi_margin")
    notes_margin = next(m for m in margin.mistakes if m.name == "included_target_class")
    case = margin.public()[0]
    wrong = notes_margin.compute(*case.args, **case.kwargs)
    np.testing.assert_allclose(wrong - expected("multi_margin", case), 1.0 / 3.0)  # margin^p / C for each sample


def test_edge_cases_separate_stable_from_naive_forms() -> None:
    """Every seed's hidden cases hold logits of ±1000 (and exact 0/1 probabilities) on which the naive forms give
    inf or nan while the references stay finite."""
    naive = {("bce", "no_log_clamp"), ("bce_with_logits", "sigmoid_then_log"), ("bce_with_logits", "naive_softplus"),
             ("bce_with_logits", "forgot_abs"), ("cross_entropy", "naive_softmax"),
             ("cross_entropy", "log_of_softmax"), ("gaussian_nll", "no_eps_clamp"), ("poisson_nll", "forgot_eps")}
    for name, mistake_name in naive:
        question = losses.SUITE.question(name)
        mistake = next(m for m in question.mistakes if m.name == mistake_name)
        for seed in SEEDS:
            hidden = question.hidden(np.random.default_rng(seed))
            finite = [np.all(np.isfinite(expected(name, c))) for c in hidden]
            with np.errstate(all="ignore"):
                broken = [not np.all(np.isfinite(mistake.compute(*c.args, **c.kwargs))) for c in hidden]
            assert all(finite), name
            assert any(broken), (name, mistake_name, seed)


def test_hidden_cases_are_plain_data_and_reproducible() -> None:
    allowed = (np.float64, np.int64, np.bool_)
    for question in losses.SUITE.questions:
        first = question.hidden(np.random.default_rng(3))
        again = question.hidden(np.random.default_rng(3))
        assert len(first) == len(again) >= 5
        for a, b in zip(first, again, strict=True):
            for x, y in zip(a.args, b.args, strict=True):
                x, y = plain(x), plain(y)
                if isinstance(x, np.ndarray):
                    assert x.dtype.type in allowed, (question.name, a.label, x.dtype)
                    np.testing.assert_array_equal(x, y)
        reductions = {c.kwargs.get("reduction") for c in first}
        if question.name in ORACLES:
            assert {"none", "mean", "sum"} <= reductions, question.name


def test_each_question_has_a_solution_cell_and_a_grade_cell_worth_its_points() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells if "nbgrader" in c.metadata}
    for question in losses.SUITE.questions:
        assert cells[question.cell].metadata["nbgrader"]["solution"] is True
        assert cells[question.name].source == f'check("{question.name}")'
    points = {c.metadata["nbgrader"]["grade_id"]: c.metadata["nbgrader"]["points"] for c in notebook.cells
              if c.metadata.get("nbgrader", {}).get("grade")}
    assert list(points) == [q.name for q in losses.SUITE.questions]
    assert sum(points.values()) == 37


def test_by_hand_questions_ban_torch_losses() -> None:
    for name in ORACLES:
        question = losses.SUITE.question(name)
        assert "torch.nn" in question.banned and not question.autograd, name
