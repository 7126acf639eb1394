"""Public transformations: grad, value_and_grad, vjp, jit, make_ir.

Each transformation flattens its arguments into leaves, looks up (or builds)
a Program for their signature, and runs it.  Called with concrete arrays it
runs compiled code (or the reference interpreter); called with Tracers, from
inside another transformation, it replays its Program on them so that the
outer trace records it (this is what makes grad of grad work).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import adjoint
from .errors import ArgnumsError, DTypeError, NonScalarOutputError, TracerConversionError
from .interpret import eval_program
from .ir import Aval, Program
from .passes import optimize
from .tracing import Tracer, trace_flat
from .tree import TreeDef, tree_flatten, tree_leaves_with_path, tree_unflatten

# =============================================================================================
# Argument signatures


_STATIC = "static"


@dataclass(frozen=True)
class Signature:
    """What a cached program depends on: tree structure, traced leaves' avals, static leaves."""

    treedef: TreeDef
    leaves: tuple  # per leaf: an Aval (traced) or (_STATIC, value)


def _leaf_aval(leaf: Any) -> Aval | None:
    """The aval of a leaf that is traced, or None for a static (Python) value."""
    if isinstance(leaf, Tracer):
        return leaf.aval
    if isinstance(leaf, np.ndarray | np.generic):
        return Aval(leaf.shape, leaf.dtype)
    if isinstance(leaf, float):
        return Aval((), np.float64)
    return None


def _signature(
    args: tuple, diff_leaf_flags: Sequence[bool] | None, fn_name: str
) -> tuple[Signature, list[Any], list[int]]:
    """Flatten ``args``; return the signature, traced leaves, and their leaf positions."""
    leaves, treedef = tree_flatten(args)
    spec = []
    traced, positions = [], []
    for i, leaf in enumerate(leaves):
        aval = _leaf_aval(leaf)
        if aval is None:
            if isinstance(leaf, bool | int | str | bytes | type(None) | tuple | frozenset):
                spec.append((_STATIC, leaf))
                continue
            if isinstance(leaf, list):
                spec.append((_STATIC, tuple(leaf)))
                continue
            raise DTypeError(
                f"{fn_name}: argument leaf of type {type(leaf).__name__} is neither an array, "
                "a float nor a hashable Python value. Pass NumPy arrays (or register the "
                "class with tracegrad.tree.register_pytree_node)."
            )
        if aval.dtype.kind == "c":
            raise DTypeError(f"{fn_name}: complex inputs are not supported")
        spec.append(aval)
        traced.append(leaf)
        positions.append(i)
    return Signature(treedef, tuple(spec)), traced, positions


def _rebuild(signature: Signature, traced: Sequence[Any]) -> tuple:
    it = iter(traced)
    leaves = [next(it) if isinstance(s, Aval) else s[1] for s in signature.leaves]
    return tree_unflatten(signature.treedef, leaves)


def _normalize_argnums(argnums: int | Sequence[int], nargs: int, fn_name: str) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ArgnumsError(
                f"{fn_name}: argnums={argnums!r} but the function was called with {nargs} "
                f"positional argument(s); valid argnums are 0..{nargs - 1}."
            )
    return tuple(n % nargs for n in nums)


def _function_name(f: Callable) -> str:
    return getattr(f, "__qualname__", getattr(f, "__name__", repr(f)))


# =============================================================================================
# Running a program


def _backend() -> str:
    return os.environ.get("TRACEGRAD_BACKEND", "numba")


class Executable:
    """A Program plus the fastest available way to run it on arrays."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self._run: Callable[[Sequence[Any]], list[Any]] | None = None

    def __call__(self, args: Sequence[Any]) -> list[Any]:
        if any(isinstance(a, Tracer) for a in args):
            return eval_program(self.program, args)
        if self._run is None:
            self._run = self._build()
        return self._run(args)

    def _build(self) -> Callable[[Sequence[Any]], list[Any]]:
        if _backend() == "numba":
            try:
                from .compiler import compile_program
            except ImportError:  # the backend is not built yet or numba is missing
                pass
            else:
                return compile_program(self.program)
        program = self.program
        return lambda args: eval_program(program, [np.asarray(a) for a in args])


def _scalar_if_0d(x: Any) -> Any:
    return x[()] if isinstance(x, np.ndarray) and x.ndim == 0 else x


def _restore(leaf_in: Any, value: Any) -> Any:
    """Give a gradient leaf the form of its input (Python float -> NumPy float scalar)."""
    if isinstance(value, Tracer):
        return value
    if isinstance(leaf_in, np.ndarray):
        return value if isinstance(value, np.ndarray) else np.asarray(value)
    return _scalar_if_0d(np.asarray(value))


# =============================================================================================
# Tracing a user function


@dataclass
class Traced:
    """The result of tracing a user function for one signature."""

    program: Program
    captured: list[Tracer]  # enclosing-trace values the function closed over
    out_tree: TreeDef
    aux_tree: TreeDef | None = None


def _trace_user_function(
    f: Callable,
    signature: Signature,
    has_aux: bool = False,
    scalar_output: bool = False,
) -> Traced:
    trees: dict[str, TreeDef] = {}

    def flat_fn(*tracers: Tracer) -> list[Any]:
        result = f(*_rebuild(signature, tracers))
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise TypeError(
                    f"{_function_name(f)} was used with has_aux=True, so it must return a pair "
                    f"(output, aux); it returned {type(result).__name__}."
                )
            result, aux = result
            aux_leaves, trees["aux"] = tree_flatten(aux)
        else:
            aux_leaves = []
        if scalar_output:
            _check_scalar_output(f, result)
        out_leaves, trees["out"] = tree_flatten(result)
        return out_leaves + aux_leaves

    in_avals = [s for s in signature.leaves if isinstance(s, Aval)]
    program, captured = trace_flat(flat_fn, in_avals)
    return Traced(optimize(program), captured, trees["out"], trees.get("aux"))


def _check_scalar_output(f: Callable, out: Any) -> None:
    shape = np.shape(out) if not isinstance(out, Tracer) else out.shape
    if isinstance(out, tuple | list | dict) or shape != ():
        desc = f"shape {shape}" if not isinstance(out, tuple | list | dict) else type(out).__name__
        raise NonScalarOutputError(
            f"grad needs {_function_name(f)} to return a scalar, but it returned {desc}. "
            "Reduce the output (e.g. np.sum or np.mean), or use tracegrad.vjp / jacobian for "
            "non-scalar outputs."
        )
    dtype = out.dtype if isinstance(out, Tracer) else np.asarray(out).dtype
    if dtype.kind != "f":
        raise DTypeError(
            f"grad needs {_function_name(f)} to return a float, but it returned {dtype}. "
            "Is the output computed only from integer data? Cast the inputs to float."
        )


def _check_differentiable(args: tuple, argnums: tuple[int, ...], fn_name: str) -> None:
    for n in argnums:
        for path, leaf in tree_leaves_with_path(args[n]):
            aval = _leaf_aval(leaf)
            if aval is None or aval.dtype.kind != "f":
                kind = type(leaf).__name__ if aval is None else str(aval.dtype)
                raise DTypeError(
                    f"{fn_name}: argument {n}{path} is {kind}, but gradients are only defined "
                    "for float inputs. Pass a float array (x.astype(float)) or a Python float, "
                    "or leave this argument out of argnums."
                )


# =============================================================================================
# value_and_grad / grad


class _ValueAndGrad:
    def __init__(self, f: Callable, argnums: int | Sequence[int], has_aux: bool) -> None:
        self.f = f
        self.argnums = argnums
        self.has_aux = has_aux
        self.cache: dict[tuple, tuple[Executable, Traced, tuple[int, ...]]] = {}
        functools.update_wrapper(self, f)

    def _prepare(self, args: tuple) -> tuple[Executable, Traced, list[Any], tuple[int, ...]]:
        name = _function_name(self.f)
        argnums = _normalize_argnums(self.argnums, len(args), f"grad({name})")
        signature, traced, positions = _signature(args, None, name)
        key = (signature, argnums)
        hit = self.cache.get(key)
        if hit is not None:
            return hit[0], hit[1], traced, hit[2]
        _check_differentiable(args, argnums, f"grad({name})")
        found = _trace_user_function(self.f, signature, self.has_aux, scalar_output=True)
        # Which traced inputs belong to the differentiated arguments.
        arg_of_leaf = _arg_index_of_leaves(args)
        wrt = tuple(j for j, pos in enumerate(positions) if arg_of_leaf[pos] in argnums)
        joint = adjoint.joint_program(found.program, wrt)
        executable = Executable(joint)
        if not found.captured:
            self.cache[key] = (executable, found, wrt)
        return executable, found, traced, wrt

    def __call__(self, *args: Any) -> Any:
        executable, found, traced, wrt = self._prepare(args)
        outs = executable(list(traced) + found.captured)
        n_out = found.out_tree.num_leaves
        value = _scalar_if_0d(outs[0])
        n_aux = len(outs) - n_out - len(wrt)
        aux_leaves = outs[n_out : n_out + n_aux]
        grad_leaves = outs[n_out + n_aux :]
        grads = self._unflatten_grads(args, grad_leaves)
        if self.has_aux:
            aux = tree_unflatten(found.aux_tree, [_scalar_if_0d(a) for a in aux_leaves])
            return (value, aux), grads
        return value, grads

    def _unflatten_grads(self, args: tuple, grad_leaves: list[Any]) -> Any:
        argnums = _normalize_argnums(self.argnums, len(args), "grad")
        it = iter(grad_leaves)
        per_arg = []
        for n in argnums:
            leaves, treedef = tree_flatten(args[n])
            per_arg.append(tree_unflatten(treedef, [_restore(x, next(it)) for x in leaves]))
        return per_arg[0] if isinstance(self.argnums, int) else tuple(per_arg)


def _arg_index_of_leaves(args: tuple) -> list[int]:
    owner = []
    for i, a in enumerate(args):
        owner.extend([i] * len(tree_flatten(a)[0]))
    return owner


def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Return a function computing ``f(*args)`` and its gradient w.r.t. ``args[argnums]``.

    ``f`` must return a float scalar (or ``(scalar, aux)`` with ``has_aux=True``).
    The gradient has the structure, shapes and dtypes of the differentiated
    arguments; with a tuple ``argnums`` it is a tuple of those.
    """
    return _ValueAndGrad(f, argnums, has_aux)


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Return a function computing the gradient of the scalar function ``f``."""
    vg = _ValueAndGrad(f, argnums, has_aux)

    @functools.wraps(f)
    def grad_f(*args: Any) -> Any:
        if has_aux:
            (_, aux), grads = vg(*args)
            return grads, aux
        return vg(*args)[1]

    grad_f.value_and_grad = vg  # type: ignore[attr-defined]
    return grad_f


# =============================================================================================
# jit and make_ir


class _Jit:
    def __init__(self, f: Callable) -> None:
        self.f = f
        self.cache: dict[Signature, tuple[Executable, Traced]] = {}
        functools.update_wrapper(self, f)

    def __call__(self, *args: Any) -> Any:
        signature, traced, _ = _signature(args, None, _function_name(self.f))
        hit = self.cache.get(signature)
        if hit is None:
            found = _trace_user_function(self.f, signature)
            hit = (Executable(found.program), found)
            if not found.captured:
                self.cache[signature] = hit
        executable, found = hit
        outs = executable(list(traced) + found.captured)
        return tree_unflatten(found.out_tree, [_scalar_if_0d(o) for o in outs])


def jit(f: Callable) -> Callable:
    """Compile ``f`` for each new input signature and run the compiled code."""
    return _Jit(f)


def make_ir(f: Callable) -> Callable[..., Program]:
    """Return a function that traces ``f`` on the given arguments and returns its Program."""

    @functools.wraps(f)
    def ir_of(*args: Any) -> Program:
        signature, _, _ = _signature(args, None, _function_name(f))
        return _trace_user_function(f, signature).program

    return ir_of


def vjp(f: Callable, *primals: Any) -> tuple[Any, Callable[[Any], Any]]:
    """``(f(*primals), vjp_fn)`` where ``vjp_fn(cotangent)`` returns cotangents of the primals."""
    signature, traced, _ = _signature(primals, None, _function_name(f))
    found = _trace_user_function(f, signature)
    wrt = tuple(range(len(traced)))
    program = adjoint.vjp_program(found.program, wrt)
    executable = Executable(program)
    n_out = len(found.program.outputs)
    forward = Executable(found.program)(list(traced) + found.captured)
    out = tree_unflatten(found.out_tree, [_scalar_if_0d(o) for o in forward])

    def vjp_fn(cotangent: Any) -> Any:
        ct_leaves, ct_tree = tree_flatten(cotangent)
        if ct_tree != found.out_tree:
            raise TypeError(f"cotangent structure {ct_tree} does not match output {found.out_tree}")
        cts = [
            c if isinstance(c, Tracer) else np.asarray(c, dtype=a.dtype)
            for c, a in zip(ct_leaves, found.program.out_avals, strict=True)
        ]
        results = executable(list(traced) + found.captured + cts)[n_out:]
        leaves = iter(results)
        restored = [
            _restore(leaf, next(leaves)) if isinstance(s, Aval) else None
            for leaf, s in zip(tree_flatten(primals)[0], signature.leaves, strict=True)
        ]
        return tree_unflatten(signature.treedef, restored)

    return out, vjp_fn


def _no_concrete(x: Any) -> None:
    if isinstance(x, Tracer):
        raise TracerConversionError("a traced value reached a place that needs a concrete one")
