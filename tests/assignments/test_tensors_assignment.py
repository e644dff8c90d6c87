"""tensors: torch (the oracle) agrees with the suite's references on every public and seeded hidden case, the
lecture notes' numbers are what the public cases expect (and the notes' slips are the catalogued mistakes), the
±1000 logits really separate the max-subtracted softmax from the naive one, the seeded references are exactly what
torch.manual_seed / np.random.default_rng give, and each question has its solution and grade cell."""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from autograders import tensors
from dlgrade.solution_cells import solution_sources
from dlgrade.suite import Case, TensorArg

NOTEBOOK = Path(__file__).resolve().parents[2] / "assignments" / "tensors" / "tensors.ipynb"
SEEDS = range(6)


def cases(name: str) -> list[Case]:
    question = tensors.SUITE.question(name)
    found = list(question.public())
    for seed in SEEDS:
        found += list(question.hidden(np.random.default_rng([seed, 11])))
    return found


def plain(value: object) -> object:
    return value.array if isinstance(value, TensorArg) else value


def t(value: object) -> object:
    value = plain(value)
    return torch.from_numpy(np.array(value)) if isinstance(value, np.ndarray) else value


def expected(name: str, case: Case) -> object:
    question = tensors.SUITE.question(name)
    return question.reference(*map(plain, case.args), **{k: plain(v) for k, v in case.kwargs.items()})


def student(name: str, source: str | None = None):
    """The entry point defined by a solution cell's source (the notebook's, unless another is given)."""
    question = tensors.SUITE.question(name)
    namespace = {"np": np, "torch": torch}
    exec(source or solution_sources(tensors.NOTEBOOK)[question.cell], namespace)
    return namespace[question.entry]


def call(function, case: Case) -> np.ndarray:
    with torch.random.fork_rng():
        out = function(*map(t, case.args), **{k: t(v) for k, v in case.kwargs.items()})
    return np.asarray(out.numpy() if isinstance(out, torch.Tensor) else out)


def _entropy_oracle(p: torch.Tensor, dim: int = -1, base: float | None = None) -> torch.Tensor:
    h = -torch.special.xlogy(p, p).sum(dim=dim)
    return h if base is None else h / np.log(base)


def _cross_entropy_oracle(p: torch.Tensor, q: torch.Tensor, dim: int = -1, base: float | None = None) -> torch.Tensor:
    h = -torch.special.xlogy(p, q).sum(dim=dim)
    return h if base is None else h / np.log(base)


def _binary_entropy_oracle(p: torch.Tensor, base: float | None = None) -> torch.Tensor:
    h = torch.special.entr(p) + torch.special.entr(1 - p)
    return h if base is None else h / np.log(base)


ORACLES = {
    "dot": torch.dot,
    "linear_unit": F.linear,
    "gram": lambda X: X @ X.T,
    "softmax": torch.softmax,
    "log_softmax": torch.log_softmax,
    "entropy": _entropy_oracle,
    "cross_entropy": _cross_entropy_oracle,
    "binary_entropy": _binary_entropy_oracle,
    "argmin_argmax": lambda x, axis: (torch.argmin(x, dim=axis), torch.argmax(x, dim=axis)),
    "mean_var": lambda x: (x.mean(dim=0), x.var(dim=0, correction=0), x.var(dim=0, correction=1)),
}


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_reference_agrees_with_torch(name: str) -> None:
    for case in cases(name):
        want = ORACLES[name](*map(t, case.args), **{k: t(v) for k, v in case.kwargs.items()})
        got = expected(name, case)
        for g, w in zip(got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,),
                        strict=True):
            w = w.numpy()
            assert np.shape(g) == w.shape, case.label
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12, err_msg=case.label)


def test_argmin_argmax_answers_are_integers() -> None:
    for case in cases("argmin_argmax"):
        for answer in expected("argmin_argmax", case):
            assert np.asarray(answer).dtype.kind == "i", case.label
        x, axis = case.args[0], case.kwargs["axis"]
        for extreme in (np.min, np.max):  # a tie at the extreme would make the answer a convention
            assert ((x == extreme(x, axis=axis, keepdims=True)).sum(axis=axis) == 1).all(), case.label


def test_seeded_normal_is_torch_global_seed_then_float64_randn() -> None:
    for case in cases("seeded_normal"):
        seed, n = case.args
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            want = torch.randn(n, dtype=torch.float64).numpy()
        np.testing.assert_array_equal(expected("seeded_normal", case), want, err_msg=case.label)
        np.testing.assert_array_equal(call(student("seeded_normal"), case), want, err_msg=case.label)


def test_rng_batches_is_one_generator_drawn_batch_after_batch() -> None:
    for case in cases("rng_batches"):
        seed, k, n = case.args
        rng = np.random.default_rng(seed)
        want = np.stack([rng.standard_normal(n) for _ in range(k)])
        np.testing.assert_array_equal(expected("rng_batches", case), want, err_msg=case.label)


def test_lecture_8_product_slip() -> None:
    """x = [1.2, 0.3, 0.4], A = [2, 2, 2]: xAᵀ = 3.8, and the slide's [2.4, 0.6, 0.8] is the elementwise mistake."""
    case = tensors.SUITE.question("linear_unit").public()[0]
    np.testing.assert_allclose(expected("linear_unit", case), [[3.8]], rtol=1e-15)
    slip = next(m for m in tensors.SUITE.question("linear_unit").mistakes if m.name == "elementwise_product")
    np.testing.assert_allclose(slip.compute(*case.args), [[2.4, 0.6, 0.8]], rtol=1e-15)
    np.testing.assert_allclose(expected("dot", tensors.SUITE.question("dot").public()[1]), 3.8, rtol=1e-15)


def test_notes_information_numbers() -> None:
    entropy_case, = (c for c in tensors.SUITE.question("entropy").public() if "notes" in c.label)
    assert expected("entropy", entropy_case) == pytest.approx(0.8112781244591328, rel=1e-12)  # [0.25, 0.75], bits
    ce_case = tensors.SUITE.question("cross_entropy").public()[0]
    assert expected("cross_entropy", ce_case) == pytest.approx(2.0, rel=1e-12)  # -log2(0.25)
    swapped = next(m for m in tensors.SUITE.question("cross_entropy").mistakes if m.name == "swapped_arguments")
    assert swapped.compute(*ce_case.args, **ce_case.kwargs) == np.inf  # the notes' loop: -0.75 log 0
    var_case = tensors.SUITE.question("mean_var").public()[0]
    mean, population, sample = expected("mean_var", Case(tuple(map(plain, var_case.args))))
    np.testing.assert_allclose(mean, [4, 2])
    np.testing.assert_allclose(population, [8 / 3, 2])
    np.testing.assert_allclose(sample, [4, 3])


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_large_logits_pass_only_with_the_max_subtracted(name: str) -> None:
    naive = next(m for m in tensors.SUITE.question(name).mistakes if m.name == "no_max_subtraction")
    large = [c for c in cases(name) if np.abs(plain(c.args[0])).max() >= 995]
    assert len(large) >= 3 * len(SEEDS)
    for case in large:
        want = expected(name, case)
        assert np.isfinite(want).all(), case.label
        np.testing.assert_allclose(call(student(name), case), want, rtol=1e-12, atol=1e-12, err_msg=case.label)
        with np.errstate(all="ignore"):
            wrong = call(student(name, naive.solution), case)
        assert not np.allclose(wrong, want, equal_nan=False), case.label


def test_zero_probabilities_are_in_public_and_hidden_cases() -> None:
    for name in ("entropy", "cross_entropy", "binary_entropy"):
        question = tensors.SUITE.question(name)
        assert any((plain(c.args[0]) == 0).any() for c in question.public()), name
        assert any((plain(c.args[0]) == 0).any() for c in question.hidden(np.random.default_rng(0))), name


def test_each_question_has_a_solution_cell_and_a_grade_cell_worth_its_points() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    cells = {c.metadata["nbgrader"]["grade_id"]: c for c in notebook.cells if "nbgrader" in c.metadata}
    for question in tensors.SUITE.questions:
        assert cells[question.cell].metadata["nbgrader"]["solution"] is True, question.cell
        assert cells[question.name].source == f'check("{question.name}")'
    assert sum(c.metadata["nbgrader"].get("points", 0) for c in cells.values()) == 31
