"""Turn whatever student code returned into plain data: a JSON-able tree whose leaves point at float64 /
int64 / bool arrays and record the original type, shape and dtype.

Runs where student code runs (the sandboxed worker, and the released notebook's check()): it never calls a
method of an unknown object, so a hostile ``__eq__``, ``__float__`` or ``__array__`` never runs, and it keeps
its own references to builtins and numpy so monkeypatching them changes nothing here. Standalone: numpy, and
torch if something has imported it; no imports of the package around it.
"""

from __future__ import annotations

import builtins
import sys
from collections import OrderedDict
from typing import Any

import numpy as np

# torch is looked up, never imported: a value can only be a tensor once torch is loaded, and the trusted side
# of a numpy-only suite then never pays torch's import (~1.2 s of CPU) for this module. Where it is loaded
# before us (the sandbox's worker imports it first) it is captured now, out of reach of sys.modules tampering.
_modules = sys.modules
_torch_at_import = _modules.get("torch")

MAX_ELEMENTS = 1 << 24  # per returned array
MAX_ITEMS = 10_000  # per returned list/tuple/dict
MAX_DEPTH = 8

# Captured at import: later monkeypatching of builtins or numpy by student code does not reach us (module
# globals shadow builtins, so the names below keep meaning the originals).
_type, _len, _str = builtins.type, builtins.len, builtins.str
float, int, bool, tuple, list, dict, str, any, type = (  # noqa: A001
    builtins.float, builtins.int, builtins.bool, builtins.tuple, builtins.list, builtins.dict, builtins.str,
    builtins.any, builtins.type,
)
_asarray, _array = np.asarray, np.array
_NUMPY_SCALARS = frozenset(
    {np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
     np.uint8, np.uint16, np.uint32, np.uint64, np.bool_}
)
_PLAIN_TARGET = {"f": np.float64, "i": np.int64, "u": np.int64, "b": np.bool_}


def type_name(kind: type) -> str:
    """'numpy.ndarray', 'float', 'mymodule.MyFloat': read off the type without running its code."""
    try:
        module = type.__getattribute__(kind, "__module__")
        name = type.__getattribute__(kind, "__qualname__")
        return f"{module}.{name}" if module != "builtins" else _str(name)
    except Exception:
        return "<unknown type>"


def describe(value: Any, arrays: list[np.ndarray], depth: int = 0) -> dict[str, Any]:
    """value -> tree; array leaves are appended to ``arrays`` and referenced by index."""
    kind = _type(value)
    if value is None:
        return {"t": "none"}
    if depth > MAX_DEPTH:
        return {"t": "opaque", "type": "nesting too deep"}
    if kind is np.ndarray:
        return _leaf(value, "ndarray", "numpy.ndarray", _str(value.dtype), arrays)
    torch = _torch_at_import or _modules.get("torch")
    if torch is not None and kind in (torch.Tensor, torch.nn.Parameter):
        if value.layout != torch.strided or value.is_complex() or value.device.type != "cpu":
            return {"t": "opaque", "type": f"torch.Tensor ({value.layout}, {value.dtype}, {value.device})"}
        array = value.detach().resolve_conj().resolve_neg().numpy()
        return _leaf(array, "tensor", "torch.Tensor", _str(value.dtype), arrays)
    if kind in (float, int, bool):
        try:
            array = _asarray(value)
        except OverflowError:
            return {"t": "opaque", "type": "int too large for int64"}
        return _leaf(array, "scalar", kind.__name__, _str(array.dtype), arrays)
    if kind in _NUMPY_SCALARS:
        return _leaf(_asarray(value), "scalar", f"numpy.{kind.__name__}", _str(value.dtype), arrays)
    if kind in (tuple, list):
        if _len(value) > MAX_ITEMS:
            return {"t": "opaque", "type": f"{kind.__name__} of more than {MAX_ITEMS} items"}
        return {"t": kind.__name__, "v": [describe(item, arrays, depth + 1) for item in value]}
    if kind in (dict, OrderedDict):
        if _len(value) > MAX_ITEMS or any(_type(key) is not str for key in value):
            return {"t": "opaque", "type": "dict with non-string keys or too many items"}
        return {"t": "dict", "v": [[key, describe(item, arrays, depth + 1)] for key, item in value.items()]}
    if kind is str:
        return {"t": "str", "v": value[:1000]}
    return {"t": "opaque", "type": type_name(kind)}


def _leaf(array: np.ndarray, kind: str, type_label: str, dtype: str, arrays: list[np.ndarray]) -> dict[str, Any]:
    meta = {"t": "leaf", "kind": kind, "type": type_label, "dtype": dtype, "shape": [int(n) for n in array.shape]}
    if array.size > MAX_ELEMENTS:
        return meta | {"t": "opaque", "type": f"{type_label} with {array.size} elements (too large)"}
    target = _PLAIN_TARGET.get(array.dtype.kind)
    if target is None:
        return meta | {"t": "opaque", "type": f"{type_label} of dtype {dtype}"}
    arrays.append(_array(array, dtype=target, copy=True, subok=False))
    return meta | {"i": _len(arrays) - 1}
