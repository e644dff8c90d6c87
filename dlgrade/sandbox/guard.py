"""Run-time rules of "by hand" questions, enforced inside a sandbox child before any student code runs there.

Copied beside worker.py into the sandbox (launcher.WORKER_FILES); like it, it needs only the standard library (and
torch, in a child that guards torch). A by-hand question is answered by a child of its own world:

* **numpy only** (``Question.numpy_only``): the launcher's numpy-only sandbox shows the standard library and numpy
  and no other Python package, so torch, scipy and scikit-learn do not exist for the question, whatever its code
  does. ``explain_absent_packages`` only words the failures: ``import torch`` gives a stub whose every use raises
  ForbiddenModule with the reason.
* **guarded torch** (a question with ``banned`` APIs or ``autograd=False`` that needs torch): ``install(policy)``,
  called by the worker on the grader's request before the child runs a single cell, makes the policy's forbidden
  entry points raise ForbiddenAPI for the rest of the child's life, in layers a student cannot peel off:

  - the ATen operators of a banned function or method (torch.softmax, .logsumexp, their private, sparse, masked
    and special_ variants, torch.nn's fused attention) get a kernel that raises, on every dispatch key that has
    one, from a dispatcher library no Python object refers to: torch.ops.aten, Tensor methods, torch._C and
    torch.distributions (Categorical's probs is a logsumexp) reach that kernel;
  - the C functions of a banned namespace (torch._C._nn behind torch.nn.functional, torch.special) are replaced
    wherever torch keeps them, and the Python functions of a banned module (torch.nn, torch.distributions,
    torch.optim, torch.func...) have their code replaced in place, so every reference anywhere (saved,
    re-exported, wrapped, in torch's own tables) runs the replacement;
  - autograd off (``autograd=False``): the child enters inference mode for good (no graph is recorded, and with
    the autograd keys excluded even a grad mode switched back on records none), the C functions that could leave
    it (_set_grad_enabled, dispatch-key TLS, functorch's grad and jvp levels) are replaced wherever torch keeps
    them, and new threads (whose thread-local autograd state would start afresh) are refused by seccomp;
  - a seccomp filter refuses execve (a fresh interpreter would be unguarded), and an audit hook, which Python
    offers no way to remove, refuses what could find or rebuild an original: gc's object walks, ctypes, tracing,
    re-running the source of a module whose functions were replaced, importing a banned package.

The expensive part, finding what to replace (every operator's name, every holder of a C function), is done once
in the fork server by ``prepare`` (the grader sends it as a warm-up); a child only applies the plan. Nothing
installed keeps an original: the replacements neither hold nor can reach what they replace.
"""

from __future__ import annotations

import builtins
import importlib.machinery
import importlib.util
import json
import os
import struct
import sys
import types
from typing import Any


class ForbiddenAPI(RuntimeError):
    """An API the question's rules forbid was used; the question scores 0 (status banned)."""


class ForbiddenModule(ModuleNotFoundError, ForbiddenAPI):
    """A package that does not exist for a numpy-only question was imported."""


# Tracebacks then read "ForbiddenAPI: ..." (the grader recognises the line, and a student understands it).
ForbiddenAPI.__module__ = ForbiddenModule.__module__ = "builtins"
NUMPY_ONLY = "{name} is not available in this question: it is graded with numpy (and the standard library) only"
AUTOGRAD_OFF = "autograd is off in this question: compute the gradient yourself"


# ---- numpy-only children -------------------------------------------------------------------------------------


# Imported by the notebooks' setup cells, so imported anyway in a numpy-only child: a stub stands in for it, which
# every use of refuses with the reason (the setup cell then runs to its end, and `torch.tensor` says why it fails).
STUBBED = ("torch",)


class _Absent(types.ModuleType):
    """A package that does not exist here, or a name in it: importing it (`import torch.nn as nn`, `from torch
    import optim`) or naming it gives this, and any use of it (a call, a subclass, `from torch import *`) raises
    ForbiddenModule. So an imports cell that names torch beside math runs to its end, as a numpy-only question's
    cell that merely kept `import torch.nn` does (the static check does not count an unused import either)."""

    def __getattr__(self, name: str) -> Any:
        if name in _MACHINERY:
            raise AttributeError(name)  # what the import machinery, repr() and introspection ask of any module
        if name.startswith("__") and name.endswith("__"):  # __version__, __all__ (`from torch import *`),
            self._refuse()  # __mro_entries__ (`class Net(nn.Module)`), numpy's __array__...: each a use
        return _absent(f"{self.__name__}.{name}")

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise ForbiddenModule(NUMPY_ONLY.format(name=self.__name__), name=self.__name__.partition(".")[0])


# Asked of modules by Python itself (imports, repr, inspect, pickle): absent, as from any module.
_MACHINERY = frozenset({"__file__", "__cached__", "__loader__", "__spec__", "__path__", "__package__",
                        "__builtins__", "__wrapped__", "__signature__", "__text_signature__", "__annotations__",
                        "__origin__", "__reduce_ex__", "__getstate__"})
# A stub used as a value (called, tested, iterated, combined) refuses with the reason, as its attributes do.
for _name in ("__call__", "__iter__", "__len__", "__contains__", "__getitem__", "__instancecheck__",
              "__subclasscheck__", "__or__", "__ror__", "__float__", "__int__", "__index__", "__add__", "__radd__",
              "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__", "__rtruediv__", "__pow__", "__rpow__",
              "__neg__", "__matmul__", "__rmatmul__", "__lt__", "__le__", "__gt__", "__ge__"):
    setattr(_Absent, _name, _Absent._refuse)


def _absent(name: str) -> _Absent:
    stub = _Absent(name)
    stub.__path__ = []  # a package: `import torch.nn.functional` finds its parts here too
    return stub


class _AbsentPackages:
    """Last on sys.meta_path: a module that no other finder found is named as absent, with the reason; a stubbed
    package imports as its stub."""

    @classmethod
    def find_spec(cls, name: str, path: Any = None, target: Any = None) -> Any:
        top = name.partition(".")[0]
        if top in STUBBED:
            return importlib.machinery.ModuleSpec(name, cls, is_package=True)
        if path is None and name not in sys.stdlib_module_names:
            raise ForbiddenModule(NUMPY_ONLY.format(name=name), name=name)
        return None  # a module missing from a package that is there (numpy's, matplotlib's): plainly not found

    @staticmethod
    def create_module(spec: Any) -> types.ModuleType:
        return _absent(spec.name)

    @staticmethod
    def exec_module(module: types.ModuleType) -> None:
        return None


def explain_absent_packages() -> None:
    """In a numpy-only fork server: ``import torch`` gives a stub that refuses every use, saying why, and any other
    package raises ForbiddenModule on import. (The packages are absent from the sandbox's file system; this only
    words the error.)"""
    sys.meta_path.append(_AbsentPackages())


# ---- what a policy forbids at run time -----------------------------------------------------------------------

# What "autograd off" adds to a policy's banned names at run time.
AUTOGRAD_BANNED = ("torch.autograd", ".backward", "torch.func", "functorch")
# Ways an operator's name varies around the function it implements (aten::_softmax, special_softmax,
# _sparse_log_softmax_backward_data, nll_loss2d_forward): stripped before comparing with a banned name.
_OP_PREFIXES = ("special_", "_sparse_", "_masked_", "_safe_", "_nested_tensor_", "_")
_OP_SUFFIXES = ("_backward_data", "_backward", "_forward", "_with_shape", "_nd", "2d", "_out", "_")
# torch.nn's fused layers (attention computes a softmax inside): their operators are blocked when torch.nn is.
_NN_FUSED = ("attention", "multi_head", "transformer")
# Where a CPU tensor's call of an operator can end: the backend kernels of this CPU-only machine, or the
# composite kernel of an operator that has no CPU kernel of its own.
_BACKEND_KEYS = ("CPU", "SparseCPU", "SparseCsrCPU", "QuantizedCPU", "MkldnnCPU", "NestedTensorCPU")
_COMPOSITE_KEYS = ("CompositeImplicitAutograd", "CompositeExplicitAutograd")
# C namespaces whose every function a banned module name stands for.
_C_NAMESPACES = {"torch.nn": ("torch._C._nn",), "torch.nn.functional": ("torch._C._nn",),
                 "torch.special": ("torch._C._special", "torch.special")}
# torch's private reimplementations of public functions (Python over allowed primitives): those named like a
# banned function are replaced too.
_REFERENCE_MODULES = ("torch._refs", "torch._decomp", "torch._prims")
# Never needed by a by-hand question, and ways around its rules (compiling decomposes softmax into exp and sum).
_ALWAYS_DENIED_MODULES = ("torch._dynamo", "torch._inductor", "torch.compiler", "torch._export",
                          "torch.utils.cpp_extension")
# torch.autograd at run time: its computing entry points (its grad-mode context managers stay: torch uses no_grad).
_AUTOGRAD_MODULES = ("torch.autograd.functional", "torch.autograd.forward_ad", "torch.autograd.gradcheck")
_AUTOGRAD_FUNCTIONS = ("torch.autograd.backward", "torch.autograd.grad")
# A banned class's special methods that are a way in (the others stay: isinstance(x, nn.Parameter) is asked by a
# tensor's repr); and the one function of a banned module torch's allowed work calls (repr again; nothing to unpack).
_ENTRY_DUNDERS = ("__init__", "__new__", "__call__")
_STILL_ALLOWED = ("torch.autograd.forward_ad.unpack_dual",)
_FUNCTORCH_MODULES = ("torch.func", "torch._functorch.apis", "torch._functorch.eager_transforms",
                      "torch._functorch.functional_call", "torch._functorch.make_functional")
# C functions that could leave "autograd off", replaced wherever torch keeps them (torch.fx's tables included).
_GRAD_SWITCHES = ("_set_grad_enabled", "_set_fwd_grad_enabled", "_dispatch_tls_set_dispatch_key_excluded",
                  "_dispatch_tls_set_dispatch_key_included", "_enter_dual_level", "_InferenceMode")
_FUNCTORCH_LEVELS = ("_grad_increment_nesting", "_jvp_increment_nesting")
_JIT_AUTOGRAD_OPS = ("set_grad_enabled", "backward", "grad")
# pybind11 types that set thread-local autograd state, found through object.__subclasses__() as well as by name:
# their __init__ is replaced.
_GRAD_GUARD_TYPES = ("_InferenceMode", "_IncludeDispatchKeyGuard", "_SetExcludeDispatchKeyGuard",
                     "_ForceDispatchKeyGuard")
_FUNCTORCH_GUARD_TYPES = ("CGradInterpreterPtr", "CJvpInterpreterPtr")
# Audit events refused once a guard is in place (a trailing dot: every event of that family).
_DENIED_EVENTS = ("gc.get_objects", "gc.get_referrers", "gc.get_referents", "ctypes.", "sys._current_frames",
                  "sys.settrace", "sys.setprofile", "sys.addaudithook", "subprocess.Popen", "os.system", "os.exec",
                  "os.posix_spawn", "os.spawn")

_PLANS: dict[str, Plan] = {}


def policy_key(policy: dict[str, Any]) -> str:
    """A policy's canonical text (the key of its prepared plan)."""
    return json.dumps({"banned": sorted(policy.get("banned", ())), "autograd": bool(policy.get("autograd", True))},
                      sort_keys=True)


def run_time_banned(policy: dict[str, Any]) -> tuple[str, ...]:
    """The banned names a policy enforces at run time: its own, and autograd's when autograd is off."""
    return tuple(policy.get("banned", ())) + (() if policy.get("autograd", True) else AUTOGRAD_BANNED)


class Plan:
    """What install() changes, found by prepare(): plain lists, applied in a child in a few milliseconds."""

    def __init__(self) -> None:
        self.autograd = True
        self.ops: list[tuple[str, str, str, str]] = []  # (namespace, name.overload, dispatch key, banned name)
        self.functions: list[tuple[types.FunctionType, str]] = []  # (Python function, its name for the message)
        # (container, key / index / the original itself for a set, what replaces it: a switch's or a banned name)
        self.bindings: list[tuple[Any, Any, str]] = []
        self.guard_types: list[type] = []
        self.denied_modules: tuple[str, ...] = ()  # not to be imported
        self.denied_dirs: tuple[str, ...] = ()  # no code from under these to be run
        self.guarded_files: frozenset[tuple[int, int]] = frozenset()  # (device, inode): not to be run again


def prepare(policy: dict[str, Any]) -> None:
    """In the fork server, ahead of any child: work out the policy's plan once (its children inherit it)."""
    key = policy_key(policy)
    if key not in _PLANS:
        _PLANS[key] = _plan(policy)


def _plan(policy: dict[str, Any]) -> Plan:
    import torch

    banned = run_time_banned(policy)
    plan = Plan()
    plan.autograd = bool(policy.get("autograd", True))
    bases = _op_bases(banned)
    nn = any(p in ("torch.nn", "torch.nn.functional") for p in banned)
    plan.ops = _forbidden_ops(torch, bases, nn)
    functions: dict[int, tuple[types.FunctionType, str]] = {}
    guarded: set[str] = set()
    denied = list(_ALWAYS_DENIED_MODULES)
    builtins_: dict[int, tuple[Any, str]] = {}  # C functions of banned namespaces -> the banned name
    for pattern in banned:
        if pattern.startswith("."):
            _collect_method(torch.Tensor, pattern[1:], functions)
            continue
        for namespace in _C_NAMESPACES.get(pattern, ()):
            for value in vars(sys.modules.get(namespace, types)).values():
                if isinstance(value, types.BuiltinFunctionType):
                    builtins_[id(value)] = (value, pattern)
        modules = _modules_named(_run_time_modules(pattern))
        for module in modules:
            guarded.add(module.__name__)
            _collect_module(module, functions, (pattern,) + _run_time_modules(pattern))
        if pattern == "torch.autograd":
            for name in _AUTOGRAD_FUNCTIONS:
                _collect_function(_resolve(name), functions, ("torch.autograd",))
        if pattern in AUTOGRAD_BANNED:
            continue  # their modules stay importable: torch loads parts of them lazily for allowed work
        target = _resolve(pattern)
        if isinstance(target, types.FunctionType):
            _collect_function(target, functions, (target.__module__,))
        elif target is None or isinstance(target, types.ModuleType):
            denied.append(pattern)
    for module in _modules_named(_REFERENCE_MODULES):
        for name, value in list(vars(module).items()):
            if isinstance(value, types.FunctionType) and (
                    _op_base(name) in bases or nn and module.__name__.startswith("torch._refs.nn")):
                guarded.add(module.__name__)
                _collect_function(value, functions, _REFERENCE_MODULES)
    plan.functions = [(function, label) for function, label in functions.values() if label not in _STILL_ALLOWED]
    plan.denied_modules = tuple(denied)
    plan.denied_dirs = tuple(sorted({d for name in denied if name.partition(".")[0] != "torch" or
                                     name in _ALWAYS_DENIED_MODULES for d in _package_dirs(name)}))
    plan.guarded_files = frozenset(_file_ids(sys.modules[name] for name in guarded if name in sys.modules))
    targets = dict(builtins_)
    if not plan.autograd:
        for holder, names in ((torch._C, _GRAD_SWITCHES), (torch._C._functorch, _FUNCTORCH_LEVELS)):
            targets.update({id(getattr(holder, n)): (getattr(holder, n), n) for n in names if hasattr(holder, n)})
        plan.guard_types = [getattr(torch._C, n) for n in _GRAD_GUARD_TYPES if hasattr(torch._C, n)]
        plan.guard_types += [getattr(torch._C._functorch, n) for n in _FUNCTORCH_GUARD_TYPES
                             if hasattr(torch._C._functorch, n)]
    plan.bindings = _bindings(targets)
    return plan


def _resolve(dotted: str) -> Any:
    """The object a dotted name names, among what is already imported (None if it names nothing loaded)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = sys.modules.get(".".join(parts[:cut]))
        if module is None:
            continue
        value: Any = module
        for part in parts[cut:]:
            value = getattr(value, part, None)
            if value is None:
                return None
        return value
    return None


def _run_time_modules(pattern: str) -> tuple[str, ...]:
    """The modules a banned name stands for at run time (torch.autograd: its computing parts, not no_grad)."""
    if pattern == "torch.autograd":
        return _AUTOGRAD_MODULES
    if pattern in ("torch.func", "functorch"):
        return _FUNCTORCH_MODULES
    return (pattern,)


def _modules_named(prefixes: tuple[str, ...]) -> list[types.ModuleType]:
    return [module for name, module in list(sys.modules.items()) if isinstance(module, types.ModuleType) and
            any(name == p or name.startswith(p + ".") for p in prefixes)]


def _file_ids(modules: Any) -> list[tuple[int, int]]:
    """(device, inode) of each module's source file: the file itself, however a path to it is spelled."""
    ids = []
    for module in modules:
        try:
            status = os.stat(module.__file__)
        except (AttributeError, TypeError, OSError):
            continue
        ids.append((status.st_dev, status.st_ino))
    return ids


def _package_dirs(name: str) -> list[str]:
    """Where a package's files are (found without importing it): as found and as real paths, ending in a slash."""
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return []
    found: set[str] = set()
    for location in (spec.submodule_search_locations or []) if spec else []:
        found.update({os.path.join(location, ""), os.path.join(os.path.realpath(location), "")})
    return sorted(found)


def _op_base(name: str) -> str:
    """An operator's name without its variants' prefixes and suffixes (_softmax_backward_data -> softmax)."""
    changed = True
    while changed:
        changed = False
        for prefix in _OP_PREFIXES:
            if name.startswith(prefix) and len(name) > len(prefix):
                name, changed = name[len(prefix):], True
        for suffix in _OP_SUFFIXES:
            if name.endswith(suffix) and len(name) > len(suffix):
                name, changed = name[:-len(suffix)], True
    return name


def _op_bases(banned: tuple[str, ...]) -> dict[str, str]:
    """The operator bases of banned functions and methods (torch.logsumexp, .softmax) -> the banned name."""
    bases: dict[str, str] = {}
    for pattern in banned:
        if pattern.startswith("."):
            bases[_op_base(pattern[1:])] = pattern
        elif pattern.startswith("torch.") and pattern.count(".") == 1 and \
                not isinstance(_resolve(pattern), types.ModuleType):
            bases[_op_base(pattern[len("torch."):])] = pattern
    return bases


def _forbidden_ops(torch: Any, bases: dict[str, str], nn: bool) -> list[tuple[str, str, str, str]]:
    ops = []
    has_kernel = torch._C._dispatch_has_kernel_for_dispatch_key
    for qualified in torch._C._dispatch_get_all_op_names():
        namespace, _, rest = qualified.partition("::")
        name = rest.partition(".")[0]
        label = bases.get(_op_base(name)) or ("torch.nn" if nn and any(w in name for w in _NN_FUSED) else None)
        if label is None:
            continue
        keys = [key for key in _BACKEND_KEYS if has_kernel(qualified, key)]
        if not keys or not has_kernel(qualified, "CPU"):
            keys += [key for key in _COMPOSITE_KEYS if has_kernel(qualified, key)][:1]
        ops += [(namespace, rest, key, label) for key in keys]
    return ops


def _collect_function(value: Any, found: dict[int, tuple[types.FunctionType, str]], owners: tuple[str, ...],
                      depth: int = 0) -> None:
    """A Python function of the ``owners`` modules to replace, with the functions of theirs it wraps."""
    if not isinstance(value, types.FunctionType) or id(value) in found or depth > 4:
        return
    module = value.__module__ if isinstance(value.__module__, str) else ""
    if not any(module == owner or module.startswith(owner + ".") for owner in owners):
        return
    found[id(value)] = (value, f"{value.__module__}.{value.__qualname__}")
    _collect_function(getattr(value, "__wrapped__", None), found, owners, depth + 1)
    for cell in value.__closure__ or ():
        try:
            _collect_function(cell.cell_contents, found, owners, depth + 1)
        except ValueError:  # an empty cell
            continue


def _collect_class(cls: type, found: dict[int, tuple[types.FunctionType, str]], owners: tuple[str, ...],
                   depth: int = 0) -> None:
    """A class's methods, but the special ones that are not a way in (see _ENTRY_DUNDERS)."""
    for name, value in list(vars(cls).items()):
        if name.startswith("__") and name not in _ENTRY_DUNDERS:
            continue
        for inner in (value, getattr(value, "__func__", None), getattr(value, "fget", None),
                      getattr(value, "fset", None), getattr(value, "fdel", None), getattr(value, "wrapped", None)):
            _collect_function(inner, found, owners)
        if isinstance(value, type) and value.__module__ == cls.__module__ and depth < 3:
            _collect_class(value, found, owners, depth + 1)


def _collect_module(module: types.ModuleType, found: dict[int, tuple[types.FunctionType, str]],
                    owners: tuple[str, ...]) -> None:
    """Every function and class method defined in ``module`` (not those it imports from elsewhere)."""
    for value in list(vars(module).values()):
        if getattr(value, "__module__", None) != module.__name__:
            continue
        if isinstance(value, types.FunctionType):
            _collect_function(value, found, owners)
        elif isinstance(value, type):
            _collect_class(value, found, owners)


def _collect_method(cls: type, name: str, found: dict[int, tuple[types.FunctionType, str]]) -> None:
    for klass in cls.__mro__:
        value = vars(klass).get(name)
        if isinstance(value, types.FunctionType):
            _collect_function(value, found, (value.__module__,))


def _bindings(targets: dict[int, tuple[Any, str]]) -> list[tuple[Any, Any, str]]:
    """Every place torch keeps one of the ``targets`` (module dicts, torch.fx's side-effect tables...), found with
    one walk of gc's objects, so that a child can replace them all."""
    import gc

    objects = [value for value, _ in targets.values()]
    bindings: list[tuple[Any, Any, str]] = []
    for holder in gc.get_referrers(*objects):
        if holder is objects or holder is targets:
            continue
        if isinstance(holder, dict):
            bindings += [(holder, key, targets[id(value)][1]) for key, value in list(holder.items())
                         if id(value) in targets]
        elif isinstance(holder, list):
            bindings += [(holder, index, targets[id(value)][1]) for index, value in enumerate(holder)
                         if id(value) in targets]
        elif isinstance(holder, set):
            bindings += [(holder, value, targets[id(value)][1]) for value in list(holder) if id(value) in targets]
    return bindings


# ---- installing a plan in a child ----------------------------------------------------------------------------


def install(policy: dict[str, Any]) -> None:
    """In a fresh child, before any student code: enforce ``policy`` ({"banned": [...], "autograd": bool}) until
    the child ends. Raises if any layer cannot be put in place (the grader then grades nothing with this child)."""
    import torch

    plan = _PLANS.pop(policy_key(policy), None) or _plan(policy)
    _PLANS.clear()  # the plans of other policies name originals: gone from this child
    keep: list[Any] = []
    _block_ops(torch, plan, keep)
    # The replaced code and defaults are kept too (in ``keep``, beyond reach): freeing them would walk and touch
    # thousands of objects the fork server shares with us, copying their pages (~60 ms of a child's time).
    keep += [(function.__code__, function.__defaults__, function.__kwdefaults__) for function, _ in plan.functions]
    for function, label in plan.functions:
        _replace_code(function, label)
    if not plan.autograd:
        keep.append(torch._C._InferenceMode(True))  # entered for the child's life: no graph, no forward AD
        for guard_type in plan.guard_types:
            guard_type.__init__ = _switch(guard_type.__name__)
        for name in _JIT_AUTOGRAD_OPS:  # TorchScript's own autograd operators, as torch.ops offers them
            setattr(torch.ops.aten, name, _raiser(AUTOGRAD_OFF))
        _no_threads()
    for container, key, name in plan.bindings:
        replacement = _switch(name) if name in _GRAD_SWITCHES + _FUNCTORCH_LEVELS else _builtin_raiser(name, key)
        if isinstance(container, set):
            container.discard(key)
            container.add(replacement)
        else:
            container[key] = replacement
    _leak(keep)
    hook = _hook(plan.denied_modules, plan.denied_dirs, plan.guarded_files)
    threads = not plan.autograd
    forbid_exec_and_threads(threads)
    sys.addaudithook(hook)


def _block_ops(torch: Any, plan: Plan, keep: list[Any]) -> None:
    import warnings

    libraries: dict[str, Any] = {}
    raisers: dict[tuple[str, str], Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "overriding a previously registered kernel": what we mean to do
        for namespace, name, key, label in plan.ops:
            library = libraries.get(namespace)
            if library is None:
                library = libraries[namespace] = torch._C._dispatch_library("IMPL", namespace, "", "dlgrade", 0)
            op = f"{namespace}::{name.partition('.')[0]}"
            raiser = raisers.get((op, label))
            if raiser is None:
                raiser = raisers[op, label] = _raiser(f"{label} is not allowed in this question (torch's operator "
                                                      f"{op}): compute it yourself")
            library.impl(name, key, raiser, False)
    keep += libraries.values()


def _raiser(message: str) -> Any:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise ForbiddenAPI(message)
    return forbidden


def _builtin_raiser(label: str, original: Any) -> Any:
    name = getattr(original, "__name__", "it") if not isinstance(original, str) else original
    return _raiser(f"{name} ({label}) is not allowed in this question: compute it yourself")


_RAISER_CODES: dict[int, types.CodeType] = {}
_PLACEHOLDER = "\x00dlgrade\x00"


def _raiser_code(free: int) -> types.CodeType:
    """The code of ``def f(*args, dlgrade_forbidden, **kwargs): raise ForbiddenAPI(dlgrade_forbidden + ...)`` with
    ``free`` free variables (a function's code can only be swapped for one with as many): one per count, shared by
    every replaced function, whose name comes from its keyword-only default."""
    if free not in _RAISER_CODES:
        names = [f"_free{i}" for i in range(free)]
        source = "def outer():\n" + "".join(f"    {name} = None\n" for name in names)
        source += "    def forbidden(*args, dlgrade_forbidden='', **kwargs):\n"
        source += f"        ({', '.join(names)},)\n" if names else ""
        source += f"        raise {_PLACEHOLDER!r}(dlgrade_forbidden + ' is not allowed in this question: " \
                  "compute it yourself')\n    return forbidden\n"
        namespace: dict[str, Any] = {}
        exec(compile(source, "<dlgrade guard>", "exec"), namespace)  # noqa: S102 - our own constant source
        code = namespace["outer"]().__code__
        _RAISER_CODES[free] = code.replace(co_consts=tuple(ForbiddenAPI if c == _PLACEHOLDER else c
                                                           for c in code.co_consts))
    return _RAISER_CODES[free]


def _replace_code(function: types.FunctionType, label: str) -> None:
    function.__code__ = _raiser_code(len(function.__code__.co_freevars))
    function.__defaults__, function.__kwdefaults__ = None, {"dlgrade_forbidden": label}


def _switch(name: str) -> Any:
    """What replaces an autograd switch: turning autograd off (it is off) is accepted, anything else refused."""
    if name in ("_set_grad_enabled", "_set_fwd_grad_enabled"):
        def switch(enabled: Any) -> None:
            if enabled:
                raise ForbiddenAPI(AUTOGRAD_OFF)
    elif name == "_InferenceMode":
        return _InferenceModeStaysOn
    else:
        def switch(*args: Any, **kwargs: Any) -> None:  # type: ignore[misc]
            raise ForbiddenAPI(AUTOGRAD_OFF)
    switch.__name__ = switch.__qualname__ = name
    return switch


def _no_threads() -> None:
    """Say why a thread does not start (seccomp refuses it anyway: a new thread's autograd state would be on)."""
    import _thread
    import threading

    refuse = _raiser("starting a thread is not allowed in this question (autograd is off, and would not be in a "
                     "new thread)")
    for module, name in ((_thread, "start_new_thread"), (_thread, "start_new"), (threading, "_start_new_thread"),
                         (_thread, "start_joinable_thread"), (threading, "_start_joinable_thread")):
        if hasattr(module, name):
            setattr(module, name, refuse)


class _InferenceModeStaysOn:
    """torch._C._InferenceMode where autograd is off: entering inference mode is what the child already is."""

    def __init__(self, enabled: Any = True) -> None:
        if not enabled:
            raise ForbiddenAPI(AUTOGRAD_OFF)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _leak(objects: list[Any]) -> None:
    """One more reference to the list (and so to all it holds), owned by no Python object: it lives as long as the
    process, and no Python code can find it (gc's walks are refused from here on) or let it go."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(objects))


# ---- seccomp: no other program, no new thread ---------------------------------------------------------------

# linux/audit.h, asm/unistd.h
_ARCHES = {"x86_64": (0xC000003E, {"execve": 59, "execveat": 322, "clone": 56, "clone3": 435}),
           "aarch64": (0xC00000B7, {"execve": 221, "execveat": 281, "clone": 220, "clone3": 435})}
_X32_BIT, _CLONE_THREAD = 0x40000000, 0x00010000
_RET_ALLOW, _RET_ERRNO, _EPERM, _ENOSYS = 0x7FFF0000, 0x00050000, 1, 38
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS, _SECCOMP_MODE_FILTER = 22, 38, 2


def seccomp_program(arch: str, threads: bool) -> list[tuple[int, int, int, int]]:
    """A classic-BPF program: execve/execveat refused; with ``threads``, clone with CLONE_THREAD too (clone3 says
    ENOSYS, since its flags sit in memory a filter cannot read, and glibc falls back to clone). A system call of
    another ABI (x32, i386 on x86_64) is refused."""
    audit_arch, numbers = _ARCHES[arch]
    deny, enosys = _RET_ERRNO | _EPERM, _RET_ERRNO | _ENOSYS
    arg0_low = 16 if sys.byteorder == "little" else 20  # offset of args[0]'s low half in struct seccomp_data
    program = [(_LD_W_ABS, 0, 0, 4), (_JEQ_K, 1, 0, audit_arch), (_RET_K, 0, 0, deny), (_LD_W_ABS, 0, 0, 0)]
    if arch == "x86_64":
        program += [(_JGE_K, 0, 1, _X32_BIT), (_RET_K, 0, 0, deny)]
    program += [(_JEQ_K, 0, 1, numbers["execve"]), (_RET_K, 0, 0, deny),
                (_JEQ_K, 0, 1, numbers["execveat"]), (_RET_K, 0, 0, deny)]
    if threads:
        program += [(_JEQ_K, 0, 1, numbers["clone3"]), (_RET_K, 0, 0, enosys),
                    (_JEQ_K, 0, 3, numbers["clone"]), (_LD_W_ABS, 0, 0, arg0_low),
                    (_JSET_K, 0, 1, _CLONE_THREAD), (_RET_K, 0, 0, deny)]
    return program + [(_RET_K, 0, 0, _RET_ALLOW)]


def forbid_exec_and_threads(threads: bool) -> None:
    """Install the seccomp filter, for good: a filter cannot be removed, and every process forked inherits it."""
    import ctypes

    arch = os.uname().machine
    if arch not in _ARCHES:
        raise OSError(f"no seccomp filter for the {arch} architecture")
    program = seccomp_program(arch, threads)
    data = b"".join(struct.pack("=HBBI", code, jt, jf, k) for code, jt, jf, k in program)
    buffer = ctypes.create_string_buffer(data, len(data))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    libc = ctypes.CDLL(None, use_errno=True)
    fprog = Program(len(program), ctypes.addressof(buffer))
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "the seccomp filter could not be installed")


# ---- the audit hook ------------------------------------------------------------------------------------------


def _hook(denied_modules: tuple[str, ...], denied_dirs: tuple[str, ...],
          guarded: frozenset[tuple[int, int]]) -> Any:
    """The last layer: refuse what could find or rebuild an original. An audit hook cannot be removed; this one
    holds only immutable data and builtins captured now, so nothing a student patches changes its answers."""
    events = tuple(e for e in _DENIED_EVENTS if not e.endswith("."))
    families = tuple(e for e in _DENIED_EVENTS if e.endswith("."))
    type_, str_, code_type, stat, error = builtins.type, builtins.str, types.CodeType, os.stat, ForbiddenAPI
    packages = tuple(m + "." for m in denied_modules)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event in events or event.startswith(families):
            raise error(f"{event} is not allowed while a by-hand question runs")
        if event == "import":
            name = args[0]
            if type_(name) is not str_ or name in denied_modules or name.startswith(packages):
                raise error(f"importing {name} is not allowed in this question")
        elif event == "exec" or event == "compile":
            filename = args[0].co_filename if type_(args[0]) is code_type else args[1] if event == "compile" else ""
            if type_(filename) is not str_:
                raise error("compiling code under a file name that is not a string is not allowed here")
            if filename.startswith(denied_dirs):
                raise error(f"running {filename} is not allowed in this question")
            if filename[:1] == "/":
                try:
                    status = stat(filename)
                except OSError:
                    return
                if (status.st_dev, status.st_ino) in guarded:
                    raise error(f"running {filename} again is not allowed in this question")

    return hook
