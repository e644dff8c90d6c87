"""check("question"): the released notebook's instant public feedback, and the checks.json format it reads.

A released assignment ships this package as ``dlcheck/`` beside the notebook, with ``checks.json``: per
question, its public cases baked at release time (inputs, the expected output, and the outputs of the known
mistakes that differ from it). check() runs the student's entry point from the calling notebook on fresh copies
of those inputs and compares with the very code the grader uses (compare.py). It never raises: a broken student
function is reported, not crashed. It needs numpy only (torch when a case hands over tensors), never dlgrade.

Inside the grader this module is not used: the sandboxed worker replaces ``dlcheck`` with a no-op and scores
come from the suite, with hidden cases.

Value format of checks.json (plain JSON, written with sorted keys, so a re-release gives identical bytes):
  null, true/false, integers, strings, finite floats       as themselves
  a non-finite float                                      {"float": "nan" | "inf" | "-inf"}
  a list                                                  [...]
  a tuple                                                 {"tuple": [...]}
  a dict with string keys                                 {"dict": {...}}
  a numpy array (or a TensorArg / tensor: "tensor": true) {"array": nested lists, "dtype": "float64", "shape": [...]}
                                                          (non-finite elements as the strings "nan", "inf", "-inf")
  a numpy scalar                                          {"scalar": value, "dtype": "float32"}
"""

from __future__ import annotations

import contextlib
import json
import math
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from .answers import Answer, Items, Leaf, from_value
from .compare import _KIND_CLASS, _dtype_kind, compare, precision_for

__all__ = ["CHECKS_FILE", "FORMAT", "Unbakeable", "check", "decode", "encode", "form_of", "form_problem"]

CHECKS_FILE = "checks.json"
FORMAT = 1
MAX_ELEMENTS = 100_000  # per baked array: public cases are small, checkable by hand

_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}
_ARRAY_KINDS = "biuf"  # bool, int, uint, float: nothing else is baked


# ---- the value codec -------------------------------------------------------------------------------------


class Unbakeable(ValueError):
    """A value checks.json cannot hold (an object, a complex or huge array, a dict with non-string keys)."""


def _float(value: float, digits: int | None) -> Any:
    if not math.isfinite(value):
        return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}
    return float(f"{value:.{digits}g}") if digits else float(value)


def _elements(nested: Any, digits: int | None) -> Any:
    """Array elements from tolist(): floats rounded to ``digits`` significant digits, non-finite as strings."""
    if isinstance(nested, list):
        return [_elements(item, digits) for item in nested]
    if isinstance(nested, float):
        coded = _float(nested, digits)
        return coded["float"] if isinstance(coded, dict) else coded
    return nested


def _array(array: np.ndarray, digits: int | None, tensor: bool) -> dict[str, Any]:
    if array.dtype.kind not in _ARRAY_KINDS:
        raise Unbakeable(f"an array of dtype {array.dtype}")
    if array.size > MAX_ELEMENTS:
        raise Unbakeable(f"an array of {array.size} elements (more than {MAX_ELEMENTS})")
    coded = {"array": _elements(array.tolist(), digits), "dtype": str(array.dtype),
             "shape": [int(n) for n in array.shape]}
    return coded | {"tensor": True} if tensor else coded


def encode(value: Any, digits: int | None = None) -> Any:
    """value -> JSON-able data in the format above; ``digits`` rounds floats to that many significant digits
    (for expected outputs: a last-bit difference between machines then does not change the released bytes).
    Raises Unbakeable for anything else."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return _float(value, digits)
    if kind is np.ndarray:
        return _array(value, digits, tensor=False)
    if isinstance(value, np.generic):
        if value.dtype.kind not in _ARRAY_KINDS:
            raise Unbakeable(f"a numpy scalar of dtype {value.dtype}")
        item = value.item()
        return {"scalar": _float(item, digits) if isinstance(item, float) else item, "dtype": str(value.dtype)}
    if kind.__name__ == "TensorArg" and hasattr(value, "array"):
        return _array(np.asarray(value.array), digits, tensor=True)
    if kind.__module__.startswith("torch") and hasattr(value, "detach"):
        return _array(value.detach().cpu().numpy(), digits, tensor=True)
    if kind is list:
        return [encode(item, digits) for item in value]
    if kind is tuple:
        return {"tuple": [encode(item, digits) for item in value]}
    if kind is dict:
        if not all(type(key) is str for key in value):
            raise Unbakeable("a dict with non-string keys")
        return {"dict": {key: encode(item, digits) for key, item in value.items()}}
    raise Unbakeable(f"a {kind.__module__}.{kind.__qualname__}")


def _unfloat(nested: Any) -> Any:
    if isinstance(nested, list):
        return [_unfloat(item) for item in nested]
    if isinstance(nested, str):
        return _NON_FINITE[nested]
    return nested


def decode(data: Any, tensors: bool = True) -> Any:
    """JSON data -> a fresh value (new arrays every call). Arrays marked as tensors become torch tensors when
    ``tensors`` and torch is importable, numpy arrays otherwise."""
    if isinstance(data, list):
        return [decode(item, tensors) for item in data]
    if not isinstance(data, dict):
        return data
    if "array" in data:
        array = np.array(_unfloat(data["array"]), dtype=np.dtype(data["dtype"])).reshape(data["shape"])
        if data.get("tensor") and tensors:
            torch = _torch()
            if torch is not None:
                return torch.from_numpy(array)
        return array
    if "float" in data:
        return _NON_FINITE[data["float"]]
    if "scalar" in data:
        return np.dtype(data["dtype"]).type(decode(data["scalar"], tensors))
    if "tuple" in data:
        return tuple(decode(item, tensors) for item in data["tuple"])
    if "dict" in data:
        return {key: decode(item, tensors) for key, item in data["dict"].items()}
    raise ValueError(f"checks.json: unknown value {sorted(data)[:3]}")


def _torch() -> Any:
    module = sys.modules.get("torch")
    if module is None:
        try:
            import torch as module
        except ImportError:
            return None
    return module


# ---- check() ---------------------------------------------------------------------------------------------


def check(question: str) -> bool:
    """Run the public cases of ``question`` on your code in this notebook and print what is right or wrong.

    True when every public case passes (hidden cases are checked by the grader). Never raises.
    """
    try:
        namespace = _caller_globals()
        lines, passed = _check(str(question), namespace)
    except Exception as error:  # a bug here must not look like the student's
        lines, passed = [f"check({question!r}) could not run: {type(error).__name__}: {error}"], False
    print("\n".join(lines))
    return passed


def _caller_globals() -> dict[str, Any]:
    """The notebook's namespace: the globals of whoever called check() (IPython runs cells in __main__)."""
    return sys._getframe(2).f_globals  # 0: this function, 1: check, 2: the cell that called check


def load_checks(folder: Path | None = None) -> dict[str, Any] | None:
    path = (folder or Path(__file__).resolve().parent) / CHECKS_FILE
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def _check(name: str, namespace: dict[str, Any]) -> tuple[list[str], bool]:
    checks = load_checks()
    if checks is None:
        return [f"{name}: no {CHECKS_FILE} beside the checker; check() works in a released notebook"], False
    questions = checks.get("questions", {})
    if name not in questions:
        return [f"unknown question {name!r} (this notebook has: {', '.join(sorted(questions))})"], False
    spec = questions[name]
    if spec.get("harness"):
        spec = spec | {"harness_function": _harness(checks.get("harness_source", ""), spec["harness"])}
    if spec.get("grader_only") and "form" not in spec and not spec.get("judged"):
        return [f"{name}: this question is checked only by the grader ({spec['grader_only']})"], True
    entry, kind = spec["entry"], spec.get("kind", "function")
    target = _lookup(namespace, entry)
    if target is _MISSING:
        return [f"{name}: {entry} is not defined yet: write it in its cell above and run that cell"], False
    if kind == "variable" and _all_none(target):
        return [f"{name}: not implemented yet: {entry} is still None; put your answer in it and run its cell"
                if target is None else f"{name}: not implemented yet: every value in {entry} is still None; "
                "put your answers in them and run the cell"], False
    if "form" in spec:
        return _check_form(name, spec, target)
    if spec.get("judged"):
        return _check_judged(name, spec, target)
    cases = spec.get("cases", [])
    lines, results, failures = [], [], []
    for number, case in enumerate(cases, 1):
        label = f"case {number}: {case.get('label', '')}".rstrip(": ")
        if case.get("grader_only"):
            lines.append(f"  - {label}: checked only by the grader ({case['grader_only']})")
            continue
        status, detail, answer = _run_case(spec, case, target)
        if status == "not_implemented":
            return [f"{name}: not implemented yet: {entry} raises NotImplementedError; write your solution "
                    f"in its cell above and run that cell"], False
        results.append(status == "passed")
        lines.append(f"  {'✓' if status == 'passed' else '✗'} {label}")
        lines.extend(f"      {line}" for line in detail)
        if status == "failed" and answer is not None:
            failures.append((case, answer))
        if status == "interrupted":
            break
    passed = sum(results)
    if results and passed == len(results):
        head = f"{name}: all passed ({passed} public case{'s' if passed != 1 else ''}; the grader also runs " \
               "hidden cases)"
        return [head, *lines], True
    if not results:
        return [f"{name}: no public case to run here: this question is checked only by the grader", *lines], True
    lines = [f"{name}: {passed} of {len(results)} public cases passed", *lines]
    mistake = _diagnose(spec, failures)
    if mistake is not None:
        lines.append(f"  Known mistake ({mistake['name']}): {mistake['feedback']}")
    elif failures and spec.get("hint"):
        lines.append(f"  Hint: {spec['hint']}")
    return lines, False


_MISSING = object()


def _check_judged(name: str, spec: dict[str, Any], target: Any) -> tuple[list[str], bool]:
    """A judged question (a trained model, a verdict on a gradient check): the entry point runs on each public
    case as in the grader; the answer is judged by the judge's in-kernel twin with that case's data when it was
    baked (the public case's test set), else checked for its form. The grader adds hidden cases."""
    judge = _judge(spec["judge_source"]) if spec.get("judge_source") else None
    lines, results = [], []
    for number, case in enumerate(spec.get("cases", []), 1):
        label = f"case {number}: {case.get('label', '')}".rstrip(": ")
        if case.get("grader_only"):
            lines.append(f"  - {label}: checked only by the grader ({case['grader_only']})")
            continue
        status, detail, value = _call(spec, case, target)
        if status == "not_implemented":
            return [f"{name}: not implemented yet: {spec['entry']} raises NotImplementedError; write your "
                    f"solution in its cell above and run that cell"], False
        if status == "ok":
            status, detail = _judged(case, value, judge)
        results.append(status == "passed")
        lines.append(f"  {'✓' if status == 'passed' else '✗'} {label}")
        lines.extend(f"      {line}" for line in detail)
        if status == "interrupted":
            break
    passed, count = sum(results), len(results)
    plural = "s" if count != 1 else ""
    if results and passed == count:
        head = f"{name}: all passed ({count} public case{plural}, judged as the grader judges them; the grader " \
               "also runs hidden cases)" if judge is not None else \
               f"{name}: ran on the {count} public case{plural} and returned a well-formed answer; the grader " \
               f"judges it ({spec['grader_only']})"
        return [head, *lines], True
    if not results:
        return [f"{name}: no public case to run here: this question is checked only by the grader", *lines], True
    tail = [f"  Hint: {spec['hint']}"] if spec.get("hint") else []
    return [f"{name}: {passed} of {count} public cases passed", *lines, *tail], False


def _judged(case: dict[str, Any], value: Any, judge: Any) -> tuple[str, list[str]]:
    """(status, report lines) for what the entry point returned on a judged case."""
    if value is None:
        return "failed", ["returned None: nothing to judge (is a `return` missing?)"]
    if judge is not None:
        try:
            passed, message = judge(value, decode(case["judge_data"], tensors=False))
        except Exception as error:
            return "failed", [f"your answer could not be judged: {_last_line(error)}"]
        return ("passed" if passed else "failed"), [str(message)] if message else []
    form = case.get("form")
    if form is None:
        return "passed", []
    try:
        answer = from_value(value)
    except Exception as error:
        return "failed", [f"your answer could not be read: {_last_line(error)}"]
    words = {"i": "integers", "u": "integers", "b": "booleans", "f": "floating-point numbers"}
    wanted = f"an array of shape {tuple(form['shape'])} holding {words.get(form['kind'], 'numbers')}"
    if not isinstance(answer, Leaf) or list(answer.shape) != form["shape"] or \
            _KIND_CLASS.get(_dtype_kind(answer)) != _KIND_CLASS.get(form["kind"]):
        return "failed", [f"expected {wanted}, got {answer.describe()}"]
    return "passed", []


_JUDGES: dict[str, Any] = {}


def _judge(source: str) -> Any:
    """The judge(value, data) -> (passed, message) that a judge's in-kernel twin defines."""
    if source not in _JUDGES:
        namespace: dict[str, Any] = {"np": np}
        exec(compile(source, "<dlgrade judge>", "exec"), namespace)  # the suite's public twin of its judge
        _JUDGES[source] = namespace["judge"]
    return _JUDGES[source]


def _check_form(name: str, spec: dict[str, Any], value: Any) -> tuple[list[str], bool]:
    """A hand-computed answer checked for its form only (every part filled in, a finite number where a number
    belongs): its values stay with the grader, since any local comparison would give the answer away."""
    unfilled = _first_none(value, tuple(spec.get("output_names", ())))
    if unfilled is not None:
        return [f"{name}: {unfilled} is still None: put your answer in it and run its cell"], False
    problem = form_problem(value, spec["form"], spec["entry"])
    if problem is not None:
        return [f"{name}: {problem}"], False
    return [f"{name}: filled in and well-formed; the grader checks the values ({spec['grader_only']})"], True


def form_of(value: Any) -> Any:
    """The form of an answer without its values: "number", {"shape": [...]} for an array, containers kept."""
    kind = type(value)
    if kind in (tuple, list):
        forms = [form_of(item) for item in value]
        return {"tuple": forms} if kind is tuple else forms
    if kind is dict:
        return {"dict": {str(key): form_of(item) for key, item in value.items()}}
    if kind is np.ndarray or (kind.__module__.startswith("torch") and hasattr(value, "shape")):
        return {"shape": [int(n) for n in value.shape]}
    return "number"


def form_problem(value: Any, form: Any, where: str) -> str | None:
    """What keeps ``value`` from having ``form`` (the first thing found), or None."""
    if isinstance(form, list) or (isinstance(form, dict) and "tuple" in form):
        items = form if isinstance(form, list) else form["tuple"]
        if type(value) not in (tuple, list) or len(value) != len(items):
            return f"{where} should be a tuple of {len(items)} values, not {_what(value)}"
        for position, (item, item_form) in enumerate(zip(value, items, strict=True)):
            problem = form_problem(item, item_form, f"{where}[{position}]")
            if problem is not None:
                return problem
        return None
    if isinstance(form, dict) and "dict" in form:
        keys = sorted(form["dict"])
        if type(value) is not dict or sorted(map(str, value)) != keys:
            return f"{where} should be a dict with the keys {', '.join(keys)}, not {_what(value)}"
        return next((problem for key in keys
                     if (problem := form_problem(value[key], form["dict"][key], f"{where}[{key!r}]"))), None)
    if isinstance(form, dict) and "shape" in form:
        shape = tuple(getattr(value, "shape", ()) or ())
        if not hasattr(value, "shape") or list(shape) != form["shape"]:
            return f"{where} should be an array of shape {tuple(form['shape'])}, not {_what(value)}"
        return None
    try:  # read as the grader reads it: a float, a numpy scalar, a 0-d array or tensor is a number, a bool not
        answer = from_value(value)
    except Exception:
        answer = None
    if not isinstance(answer, Leaf) or answer.shape != () or _dtype_kind(answer) not in "fiu":
        return f"{where} should be a number, not {_what(value)}"
    if not math.isfinite(float(answer.array)):
        return f"{where} should be a finite number, not {float(answer.array)}"
    return None


def _what(value: Any) -> str:
    if type(value) in (tuple, list, dict):
        return f"a {type(value).__name__} of {len(value)}"
    shape = getattr(value, "shape", None)
    if shape is not None and tuple(shape) == ():
        return f"a 0-d array of dtype {getattr(value, 'dtype', '?')}"
    return f"an array of shape {tuple(shape)}" if shape is not None else f"a {type(value).__name__}"


def _harness(source: str, name: str) -> Any:
    """The suite's public harness function ``name`` (it drives classes and training loops, as in the grader)."""
    # torch only for a harness that uses it (a numpy-only one need not pay its ~4 s import on a fresh kernel)
    namespace: dict[str, Any] = {"np": np, "torch": _torch() if "torch" in source else None}
    exec(compile(source, "<dlgrade harness>", "exec"), namespace)  # the suite's own public helper code
    return namespace[name]


def _lookup(namespace: dict[str, Any], entry: str) -> Any:
    if entry in namespace:
        return namespace[entry]
    main = sys.modules.get("__main__")
    return getattr(main, entry, _MISSING) if main is not None else _MISSING


def _call(spec: dict[str, Any], case: dict[str, Any], target: Any, args: list[Any] | None = None,
          kwargs: dict[str, Any] | None = None) -> tuple[str, list[str], Any]:
    """("ok", [], value) of the entry point on one public case (through the question's harness, as the grader
    calls it), or the status and report lines of why not."""
    kind = spec.get("kind", "function")
    if args is None or kwargs is None:
        args, kwargs = decode(case.get("args", [])), decode(case.get("kwargs", {"dict": {}}))
    try:
        with as_in_the_worker(spec.get("autograd", True)):
            if spec.get("harness_function") is not None:
                value = spec["harness_function"](target, *args, **kwargs)
            else:
                value = target if kind == "variable" else target(*args, **kwargs)
    except NotImplementedError:
        return "not_implemented", [], None
    except KeyboardInterrupt:
        return "interrupted", ["interrupted"], None
    except BaseException as error:  # SystemExit included: the student's code may not end check()
        return "error", [f"your code raised {_last_line(error)}", *_inputs(kind, case)], None
    return "ok", [], value


def _run_case(spec: dict[str, Any], case: dict[str, Any], target: Any) -> tuple[str, list[str], Answer | None]:
    """(status, report lines, the student's answer) for one public case."""
    kind = spec.get("kind", "function")
    args, kwargs = decode(case.get("args", [])), decode(case.get("kwargs", {"dict": {}}))
    status, detail, value = _call(spec, case, target, args, kwargs)
    if status != "ok":
        return status, detail, None
    unfilled = _first_none(value, tuple(spec.get("output_names", ()))) if kind == "variable" else None
    if unfilled is not None:
        return "failed", [f"{unfilled} is still None: put your answer in it and run its cell"], None
    try:
        answer = from_value(value)
    except Exception as error:
        return "error", [f"your answer could not be read: {_last_line(error)}"], None
    expected = decode(case["expected"], tensors=False)
    rtol, atol, dtype = float(spec["rtol"]), float(spec["atol"]), str(spec.get("dtype", "float"))
    outcome = compare(answer, expected, rtol=rtol, atol=atol, dtype=dtype, names=tuple(spec.get("output_names", ())))
    if not outcome.passed:
        detail = [outcome.text(), *_inputs(kind, case)]
        if not (isinstance(answer, Leaf) and answer.shape == () and np.ndim(expected) == 0):  # else: in the text
            precision = precision_for(outcome.max_error, outcome.expected)
            detail += [_labelled("yours:    ", _show(answer, precision)),
                       _labelled("expected: ", _show_expected(expected, precision))]
        return "failed", detail, answer
    if kind == "function" and spec.get("check_mutation", True):
        changed = _mutated(case.get("args", []), args)
        if changed is not None:
            return "failed", [f"changed its argument {changed} in place; a function must not modify its inputs"], \
                None
    return "passed", [], answer


def _all_none(value: Any) -> bool:
    """None, or a tuple/list/dict of nothing but None: a hand-computed answer not started yet."""
    if value is None:
        return True
    if type(value) in (tuple, list) and value:
        return all(_all_none(item) for item in value)
    if type(value) is dict and value:
        return all(_all_none(item) for item in value.values())
    return False


def _first_none(value: Any, names: tuple[str, ...]) -> str | None:
    """Which part of a hand-computed tuple/dict answer is still None ('y3 (output[2])'), if any."""
    if type(value) in (tuple, list):
        for position, item in enumerate(value):
            if item is None:
                return f"{names[position]} (output[{position}])" if position < len(names) else f"output[{position}]"
    if type(value) is dict:
        for key, item in value.items():
            if item is None:
                return f"output[{key!r}]"
    return None


@contextlib.contextmanager
def as_in_the_worker(enabled: bool) -> Any:
    """As the grader's worker runs a call: one torch thread (training is reproducible, and on a busy machine
    many times faster), autograd off for a by-hand question. torch is never imported here."""
    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with contextlib.nullcontext() if enabled else torch.no_grad():
            yield
    finally:
        torch.set_num_threads(threads)


def _mutated(baked: list[Any], given: list[Any]) -> int | None:
    """The 1-based position of the first array argument the student changed in place, if any."""
    for position, (data, value) in enumerate(zip(baked, given, strict=False), 1):
        if isinstance(data, dict) and "array" in data:
            original = decode(data, tensors=False)
            outcome = compare(from_value(value), original, rtol=0.0, atol=0.0, dtype="any")
            if not outcome.passed:
                return position
    return None


def _diagnose(spec: dict[str, Any], failures: list[tuple[dict[str, Any], Answer]]) -> dict[str, Any] | None:
    """The first known mistake whose baked output reproduces every failed answer as it was compared (the
    grader's rule: a case bakes only the mistakes whose output there is wrong, so each one explains it)."""
    if not failures:
        return None
    rtol, atol, names = float(spec["rtol"]), float(spec["atol"]), tuple(spec.get("output_names", ()))
    dtype = str(spec.get("dtype", "float"))
    for mistake in spec.get("mistakes", []):
        matched = True
        for case, answer in failures:
            output = next((m["output"] for m in case.get("mistakes", []) if m["name"] == mistake["name"]), _MISSING)
            if output is _MISSING or not compare(answer, decode(output, tensors=False), rtol=rtol, atol=atol,
                                                 dtype=dtype, names=names, variant=True).passed:
                matched = False
                break
        if matched:
            return mistake
    return None


def _last_line(error: BaseException) -> str:
    try:
        return traceback.format_exception_only(type(error), error)[-1].strip()[:500]
    except Exception:
        return type(error).__name__


def _labelled(label: str, text: str) -> str:
    """label + text, a multi-line text (a 2-d array) indented under its first line."""
    return label + text.replace("\n", "\n      " + " " * len(label))


def _inputs(kind: str, case: dict[str, Any]) -> list[str]:
    """The line showing a failed case's inputs (none for a variable, or a call without arguments)."""
    if kind != "function" or not (case.get("args") or case.get("kwargs", {}).get("dict")):
        return []
    return [_labelled("inputs:   ", _show_inputs(case))]


def _show_inputs(case: dict[str, Any]) -> str:
    args, kwargs = decode(case.get("args", []), tensors=False), decode(case.get("kwargs", {"dict": {}}), False)
    parts = [_show_expected(arg) if isinstance(arg, np.ndarray) else repr(arg) for arg in args]
    parts += [f"{key}={value!r}" for key, value in kwargs.items()]
    return ", ".join(parts)[:600]


def _show(answer: Answer, precision: int = 6) -> str:
    if isinstance(answer, Leaf):
        return np.array2string(answer.array, precision=precision, threshold=20, separator=", ")[:400]
    if isinstance(answer, Items):
        return ("(" + ", ".join(_show(item, precision) for item in answer.items) + ")")[:400]
    return answer.describe()[:400]


def _show_expected(value: Any, precision: int = 6) -> str:
    if isinstance(value, tuple | list):
        return ("(" + ", ".join(_show_expected(item, precision) for item in value) + ")")[:400]
    if isinstance(value, dict):
        return ("{" + ", ".join(f"{key!r}: {_show_expected(item, precision)}" for key, item in value.items())
                + "}")[:400]
    try:
        return np.array2string(np.asarray(value), precision=precision, threshold=20, separator=", ")[:400]
    except Exception:
        return repr(value)[:400]
