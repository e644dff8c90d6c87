"""What the trusted side hands a reference or a known mistake is a copy of the case (Case.call, fresh_copy): the
same data, of the same types, that the called code may change at will without the case changing; and the in-place
check (grading._same) tells an argument returned untouched from one a student's function changed."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np

from dlgrade.checking.answers import from_value
from dlgrade.grading import _mutation, _same
from dlgrade.suite import Case, TensorArg, fresh_copy


def _vandal(*args, **kwargs) -> tuple:  # noqa: ANN002, ANN003
    """Changes everything it is given in place (what a careless reference or variant could do)."""
    for value in [*args, *kwargs.values()]:
        if isinstance(value, np.ndarray):
            value[...] = -1
        elif isinstance(value, list):
            value.append("junk")
        elif isinstance(value, dict):
            value["junk"] = 1
    return args, kwargs


def test_a_call_gets_copies_of_the_same_types_and_values_and_the_case_stays() -> None:
    case = Case(args=(np.arange(3.0), TensorArg(np.ones(2)), [np.zeros(2), 3], {"k": np.eye(2)}, np.float32(2.5),
                      "text", None, SimpleNamespace(items=[1])),
                kwargs={"weights": np.arange(4).reshape(2, 2), "flag": True})
    before = copy.deepcopy(case)
    args, kwargs = case.call(_vandal)
    assert type(args[1]) is np.ndarray  # a TensorArg arrives as its array on the trusted side
    assert type(args[2]) is list and type(args[3]) is dict and type(args[4]) is np.float32
    assert args[7] == case.args[7] and args[7].items is not case.args[7].items  # anything else: deepcopy
    np.testing.assert_array_equal(args[0], [-1, -1, -1])  # the call did change its copies...
    np.testing.assert_array_equal(case.args[0], before.args[0])  # ...and not the case
    np.testing.assert_array_equal(case.args[1].array, before.args[1].array)
    assert len(case.args[2]) == 2 and set(case.args[3]) == {"k"}
    np.testing.assert_array_equal(case.kwargs["weights"], before.kwargs["weights"])


def test_fresh_copy_keeps_dtypes_shapes_and_memory_order() -> None:
    for array in (np.arange(6, dtype=np.int32).reshape(2, 3), np.asfortranarray(np.ones((2, 3))),
                  np.array([True, False]), np.array(1 + 2j)):
        copied = fresh_copy(array)
        assert copied is not array and copied.dtype == array.dtype and copied.shape == array.shape
        np.testing.assert_array_equal(copied, array)
    strings = np.array(["a", "b"])
    assert fresh_copy(strings) is not strings and list(fresh_copy(strings)) == ["a", "b"]


def test_the_in_place_check_tells_an_untouched_argument_from_a_changed_one() -> None:
    values = np.array([1.0, np.nan, 3.0])
    assert _same(from_value(values.copy()), values)  # NaN where it was NaN: untouched
    assert not _same(from_value(np.array([1.0, 2.0, 3.0])), values)
    assert not _same(from_value(values[:2].copy()), values)
    assert _same(from_value(np.arange(3)), np.arange(3))
    case = Case(args=(values, np.arange(3.0)))
    assert _mutation(case, from_value((values.copy(), np.arange(3.0)))) is None
    assert "argument 2" in _mutation(case, from_value((values.copy(), np.array([0.0, 1.0, 5.0]))))
