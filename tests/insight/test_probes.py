"""The probe set and a submission's behaviour on it: the same inputs for every student of a course and unknown
without its secret, answers rounded to the question's tolerance (equal within it, different beyond it), errors
told apart by their type, stored answers rebuilt from a record only when well-formed, and probes asked after
grading, of failures without a known mistake only, changing nothing that is graded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest

from dlgrade import assignments, sample_class
from dlgrade.checking.answers import Answer, Entries, Items, Leaf, Nothing
from dlgrade.grading import Grader
from dlgrade.insight.probes import ProbeAnswers, behaviour, digits_of, probe_seed, probe_set, rounded
from dlgrade.sandbox.launcher import Sandbox, bwrap_path

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "engine_course"
LOSSES = assignments.load("losses")
MSE = LOSSES.suite.question("mse")


@dataclass
class Reply:
    status: str
    error: str = ""
    answer: Answer | None = None


def leaf(values: object) -> Leaf:
    array = np.asarray(values, dtype=np.float64)
    return Leaf("ndarray", "numpy.ndarray", "float64", array.shape, array)


def signature(*answers: Answer | Reply) -> str:
    probes = probe_set(MSE, probe_seed(b"course secret", "losses"))
    assert probes is not None
    replies = [a if isinstance(a, Reply) else Reply("ok", answer=a) for a in answers]
    return behaviour(MSE, probes, replies, lambda answer: answer.describe()).signature


def test_the_probe_set_is_the_same_for_every_student_of_a_course_and_differs_between_courses() -> None:
    first = probe_set(MSE, probe_seed(b"course A", "losses"))
    again = probe_set(MSE, probe_seed(b"course A", "losses"))
    other = probe_set(MSE, probe_seed(b"course B", "losses"))
    assert first is not None and again is not None and other is not None
    assert first.key == again.key and first.key != other.key
    generated = len(MSE.hidden(np.random.default_rng(0)))  # 9 cases, whatever the seed
    assert len(first.cases) == len(other.cases) == first.public + generated == 3 + 9
    assert first.cases[:first.public] == tuple(MSE.public())  # the public cases, then the generator's
    a, b = first.cases[first.public].args[0], other.cases[other.public].args[0]
    assert not (a.shape == b.shape and np.array_equal(a, b))
    assert probe_seed(b"course A", "losses") != probe_seed(b"course A", "l1")


def test_a_judged_question_has_no_probe_set() -> None:
    training = assignments.load("training")
    assert probe_set(training.suite.question("classifier"), 1) is None
    assert probe_set(training.suite.question("train_loop"), 1) is not None


def test_answers_equal_within_the_tolerance_behave_alike_and_beyond_it_differ() -> None:
    assert digits_of(1e-7) == 7 and digits_of(1e-6) == 6 and digits_of(0.0) == 15
    base = [leaf([0.25, 0.0, 4.0]), leaf(1.4166666666666667)]
    assert signature(*base) == signature(leaf([0.25 + 1e-15, -0.0, 4.0 * (1 + 1e-12)]), leaf(1.4166666666666667))
    assert signature(*base) == signature(leaf([0.25, 1e-12, 4.0]), base[1])  # below atol: zero
    assert signature(*base) != signature(leaf([0.25, 0.0, 4.0001]), base[1])
    assert signature(*base) != signature(leaf([0.25, 0.0, 4.0]), leaf([1.4166666666666667]))  # shape counts
    assert signature(leaf([np.nan, np.inf, -np.inf])) == signature(leaf([np.nan, np.inf, -np.inf]))
    assert signature(leaf([np.nan])) != signature(leaf([np.inf])) != signature(leaf([0.0]))
    assert signature(Items("tuple", (leaf(1.0), leaf(2.0)))) != signature(Items("list", (leaf(1.0), leaf(2.0))))
    assert signature(Entries((("a", leaf(1.0)),))) != signature(Entries((("b", leaf(1.0)),)))
    assert signature(Nothing()) != signature(leaf(0.0))


def test_rounding_carries_into_the_next_power_of_ten() -> None:
    mantissa, exponent = rounded(np.array([9.99999999, 10.0, -0.000123456789, 0.0]), 7, 1e-10)
    assert mantissa.tolist() == [1000000, 1000000, -1234568, 0]
    assert exponent.tolist() == [1, 1, -4, 0]


def test_errors_count_by_their_type_not_their_message() -> None:
    one = Reply("error", "Traceback (most recent call last):\n  File ...\nValueError: shapes (3,) and (4,) differ")
    two = Reply("error", "Traceback (most recent call last):\nValueError: object at 0x7f01 is odd")
    three = Reply("error", "Traceback (most recent call last):\nTypeError: unsupported operand")
    assert signature(one) == signature(two) != signature(three)
    assert signature(Reply("timeout")) != signature(Reply("crashed")) != signature(one)
    probes = probe_set(MSE, probe_seed(b"course secret", "losses"))
    assert probes is not None
    told = behaviour(MSE, probes, [one], lambda answer: "")
    assert told.answers[0] == "error: ValueError: shapes (3,) and (4,) differ"
    assert set(told.answers[1:]) == {"not run"}  # the worker stopped: the rest count as not run


@pytest.mark.parametrize("data", [
    None, "x", {"key": "0123456789abcdef", "signature": "short", "answers": []},
    {"key": "0123456789ABCDEF", "signature": "0123456789abcdef", "answers": []},
    {"key": "0123456789abcdef", "signature": "0123456789abcdef", "answers": [1]},
    {"key": "0123456789abcdef", "signature": "0123456789abcdef", "answers": "text"},
])
def test_stored_probe_answers_are_rebuilt_only_when_well_formed(data: object) -> None:
    with pytest.raises(ValueError):
        ProbeAnswers.from_data(data)


def test_stored_probe_answers_round_trip_and_are_capped() -> None:
    stored = ProbeAnswers("0123456789abcdef", "fedcba9876543210", ("[1. 2.]", "x" * 500))
    again = ProbeAnswers.from_data(stored.to_data())
    assert again.key == stored.key and again.signature == stored.signature
    assert again.answers == ("[1. 2.]", "x" * 200 + " … (truncated)")


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    if bwrap_path() is None:
        pytest.fail("bubblewrap is required (make test installs it)")
    with Sandbox() as box:
        yield box


def test_probes_are_asked_after_grading_and_change_nothing_that_is_graded(sandbox: Sandbox, tmp_path: Path) -> None:
    mini = assignments.load("mini", root=MINI)
    students = {s.student: s for s in sample_class.build(mini)}
    seed = probe_seed(b"course secret", "mini")
    for name in ("hostile-always-equal", "hostile-reads-grader", "mse-forgot-mean", "solution"):
        path = students[name].write(tmp_path / name / "mini.ipynb")
        plain = Grader(mini, sandbox, b"secret").grade(path)
        probed = Grader(mini, sandbox, b"secret", probe_seed=seed).grade(path)
        for without, with_probes in zip(plain.questions, probed.questions, strict=True):
            assert without.probe is None
            assert replace(with_probes, probe=None) == without, name
            unexplained = without.diagnosis is None and without.status in ("failed", "error")
            assert (with_probes.probe is not None) == unexplained, (name, without.name)
        assert probed.notes == plain.notes and probed.output == plain.output
    # the attacks on mse were probed: a shared probe set, their own behaviours
    first = Grader(mini, sandbox, b"secret", probe_seed=seed).grade(tmp_path / "hostile-always-equal" / "mini.ipynb")
    second = Grader(mini, sandbox, b"secret", probe_seed=seed).grade(tmp_path / "hostile-reads-grader" / "mini.ipynb")
    one, two = first.questions[0].probe, second.questions[0].probe
    assert one is not None and two is not None and one.key == two.key and one.signature != two.signature
    assert two.answers[0].startswith("error: FileNotFoundError")
