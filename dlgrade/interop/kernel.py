"""Run baked dlgrade cases inside the student's own kernel: the runtime of the otter and nbgrader exports.

Shipped beside exported notebooks as ``dlcheck/kernel.py`` (next to a byte copy of dlgrade/checking/), so it
needs numpy, torch when a case hands over tensors, and the checking package's ``decode``/``from_value``/
``compare`` — never dlgrade itself. A question's *spec* is the JSON that dlgrade.interop.bake wrote on the
trusted side: entry point, tolerances, and each case's inputs with its expected output (or the data an in-kernel
judge needs), baked from the suite's reference.

This is in-kernel grading, with in-kernel grading's limits: the student's code runs in this very process and can
patch numpy, this module or the comparison, read the baked expected values, or end the process. The otter and
nbgrader exports exist for instructors who want those tools' workflows; dlgrade's own grader runs student code
in a sandboxed worker and compares on the trusted side (see docs/interop.md).

    run_case(spec, index, env)     one case; raises AssertionError with the student-facing reason on failure
    check_question(spec, env)      every case -> [CaseOutcome]
    assert_question(spec, env)     every case; raises AssertionError listing the failures (an nbgrader test cell)
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

try:  # shipped inside dlcheck/: the checking package's modules sit beside us
    from .answers import from_value
    from .compare import compare
    from .local import as_in_the_worker, decode
except ImportError:  # imported from dlgrade itself (tests, the trusted side)
    from dlgrade.checking.answers import from_value
    from dlgrade.checking.compare import compare
    from dlgrade.checking.local import as_in_the_worker, decode

__all__ = ["CaseOutcome", "SPEC_FORMAT", "assert_question", "check_question", "load_spec", "outcome", "run_case"]

SPEC_FORMAT = 1
_MISSING = object()
_HARNESSES: dict[str, dict[str, Any]] = {}  # harness source -> its namespace, defined once per kernel


class CaseTimeout(Exception):
    """A case ran past its time budget (raised from a SIGALRM handler in the kernel's main thread)."""


@dataclass(frozen=True)
class CaseOutcome:
    """One case: its label, whether it passed, and the reason when not."""

    label: str
    public: bool
    passed: bool
    message: str = ""


def load_spec(spec: str | dict[str, Any]) -> dict[str, Any]:
    """A question spec from its JSON text (or the dict itself), format-checked."""
    data = json.loads(spec) if isinstance(spec, str) else spec
    if data.get("format") != SPEC_FORMAT:
        raise ValueError(f"unsupported dlgrade spec format {data.get('format')!r} (this runtime reads {SPEC_FORMAT})")
    return data


def _lookup(env: Any, entry: str) -> Any:
    if isinstance(env, dict):
        return env.get(entry, _MISSING)
    return getattr(env, entry, _MISSING)


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise CaseTimeout after ``seconds`` (main thread only: elsewhere there is no limit)."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(_signum: int, _frame: Any) -> None:
        raise CaseTimeout(f"did not finish within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def _as_in_the_grader(autograd: bool, seed: int | None) -> Iterator[None]:
    """What dlgrade's worker sets around a call: the case's seed, one torch thread, autograd on or off."""
    torch = sys.modules.get("torch")
    if seed is not None:
        np.random.seed(seed % 2**32)
        if torch is not None:
            torch.manual_seed(seed)
    with as_in_the_worker(autograd):
        yield


def _harness(spec: dict[str, Any]) -> dict[str, Any]:
    source = spec.get("harness_source") or ""
    if source not in _HARNESSES:
        import torch

        namespace: dict[str, Any] = {"np": np, "torch": torch, "__name__": "dlgrade_harness"}
        exec(compile(source, "<dlgrade harness>", "exec"), namespace)
        _HARNESSES[source] = namespace
    return _HARNESSES[source]


def _judge(spec: dict[str, Any]) -> Any:
    judge = spec["judge"]
    namespace: dict[str, Any] = {"np": np, "__name__": "dlgrade_judge"}
    exec(compile(judge["source"], "<dlgrade judge>", "exec"), namespace)
    return namespace["judge"]


def _last_line(error: BaseException) -> str:
    try:
        return traceback.format_exception_only(type(error), error)[-1].strip()[:500]
    except Exception:
        return type(error).__name__


def _diagnosis(spec: dict[str, Any], case: dict[str, Any], answer: Any) -> str:
    """The known mistake whose baked output on this case the answer reproduces, in words, or ''."""
    feedback = {m["name"]: m["feedback"] for m in spec.get("mistakes", [])}
    for mistake in case.get("mistakes", []):
        variant = decode(mistake["output"], tensors=False)
        if compare(answer, variant, rtol=float(spec["rtol"]), atol=float(spec["atol"]),
                   dtype=str(spec.get("dtype", "float")), names=tuple(spec.get("output_names", ())),
                   variant=True).passed:
            return f"\nKnown mistake ({mistake['name']}): {feedback.get(mistake['name'], '')}"
    return ""


def _mutated(case: dict[str, Any], args: list[Any]) -> int | None:
    """The 1-based position of the first array argument the call changed in place, if any."""
    for position, (data, value) in enumerate(zip(case.get("args", []), args, strict=False), 1):
        if isinstance(data, dict) and "array" in data:
            if not compare(from_value(value), decode(data, tensors=False), rtol=0.0, atol=0.0, dtype="any").passed:
                return position
    return None


def outcome(spec: dict[str, Any], index: int, env: Any) -> CaseOutcome:
    """Case ``index`` of the question run against ``env`` (the notebook's globals); never raises for the
    student's errors."""
    case = spec["cases"][index]
    label, public = str(case["label"]), bool(case.get("public", False))
    entry, kind = spec["entry"], spec.get("kind", "function")
    target = _lookup(env, entry)
    if target is _MISSING:
        return CaseOutcome(label, public, False, f"{entry} is not defined: write it in its cell and run it")
    if kind == "variable" and target is None:
        return CaseOutcome(label, public, False, f"{entry} is still None: put your answer in it")
    args, kwargs = decode(case.get("args", [])), decode(case.get("kwargs", {"dict": {}}))
    try:
        with _time_limit(float(spec.get("timeout", 0))), \
                _as_in_the_grader(bool(spec.get("autograd", True)), case.get("seed")):
            if spec.get("harness"):
                value = _harness(spec)[spec["harness"]](target, *args, **kwargs)
            elif kind == "variable":
                value = target
            else:
                value = target(*args, **kwargs)
    except NotImplementedError:
        return CaseOutcome(label, public, False, f"{entry} is not implemented yet")
    except CaseTimeout as error:
        return CaseOutcome(label, public, False, str(error))
    except Exception as error:
        return CaseOutcome(label, public, False, f"your code raised {_last_line(error)}")
    if spec.get("judge"):
        try:
            passed, message = _judge(spec)(value, decode(case["judge_data"], tensors=False))
        except Exception as error:
            return CaseOutcome(label, public, False, f"the returned model could not be judged: {_last_line(error)}")
        return CaseOutcome(label, public, bool(passed), "" if passed else str(message))
    try:
        answer = from_value(value)
    except Exception as error:
        return CaseOutcome(label, public, False, f"your answer could not be read: {_last_line(error)}")
    expected = decode(case["expected"], tensors=False)
    result = compare(answer, expected, rtol=float(spec["rtol"]), atol=float(spec["atol"]),
                     dtype=str(spec.get("dtype", "float")), names=tuple(spec.get("output_names", ())))
    if not result.passed:
        if public:
            return CaseOutcome(label, public, False, result.text() + _diagnosis(spec, case, answer))
        where = f"{result.where}: " if result.where else ""
        brief = result.text() if result.index is None and result.yours is None else \
            f"{where}values differ from the expected ones"
        return CaseOutcome(label, public, False, brief)
    if kind == "function" and not spec.get("harness") and spec.get("check_mutation", True):
        changed = _mutated(case, list(args))
        if changed is not None:
            return CaseOutcome(label, public, False,
                               f"changed its argument {changed} in place; a function must not modify its inputs")
    return CaseOutcome(label, public, True)


def run_case(spec: str | dict[str, Any], index: int, env: Any) -> None:
    """Case ``index``: return when it passes, raise AssertionError with the reason when not (otter's
    exception-based test_case contract)."""
    result = outcome(load_spec(spec), index, env)
    if not result.passed:
        raise AssertionError(f"{result.label}: {result.message}")


def check_question(spec: str | dict[str, Any], env: Any) -> list[CaseOutcome]:
    """Every case of the question against ``env``, in order."""
    data = load_spec(spec)
    return [outcome(data, index, env) for index in range(len(data["cases"]))]


def assert_question(spec: str | dict[str, Any], env: Any) -> None:
    """Every case; raise AssertionError naming each failure (an nbgrader test cell: all or nothing)."""
    data = load_spec(spec)
    failures = [result for result in check_question(data, env) if not result.passed]
    if failures:
        lines = [f"{data['question']}: {len(failures)} of {len(data['cases'])} cases failed"]
        lines += [f"  {result.label}: {result.message}" for result in failures]
        raise AssertionError("\n".join(lines))
