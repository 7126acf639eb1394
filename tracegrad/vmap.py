"""``vmap``: a function of one example, run over a batch axis as one staged loop.

The function is traced once, on one example (the batch axis removed from every mapped
leaf), and recorded as a ``scan`` with no carry: a map.  Leaves mapped along another axis are
moved to the front first; unmapped leaves, and whatever the function closes over, enter the
loop as constants (``core/control_flow.py`` hoists the work that depends on them alone out of
the loop).  Every primitive, transform and loop construct works inside the body unchanged,
the backend turns the map into a native loop around the fused body, and reverse mode is
the scan's.  Called on concrete arrays, the batched function is compiled per signature like
:func:`tracegrad.jit`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .api import jit
from .core import control_flow as C
from .core.ir import Aval, Program, Var
from .core.passes import optimize
from .core.tracing import Tracer, trace_flat
from .errors import BatchAxisError
from .frontend.constructors import traced_constructors
from .frontend.tracer import box
from .signature import function_name
from .tree import TreeDef, tree_flatten, tree_leaves_with_path, tree_unflatten

__all__ = ["vmap"]

Axis = int | None


def vmap(
    f: Callable,
    in_axes: Any = 0,
    out_axes: Any = 0,
    axis_size: int | None = None,
    compile: str | None = None,
) -> Callable:
    """Map ``f`` over an axis of its arguments: ``vmap(f)(xs)[i] == f(xs[i])``.

    ``in_axes`` is an int, None, or a tuple with one entry per positional argument, each an
    int, None or a pytree matching (a prefix of) that argument: the axis of every leaf that
    is mapped over, None for leaves passed whole to every call.  Negative axes count from the
    end.  ``out_axes`` places the batch axis in the outputs the same way (None: the output
    does not depend on the mapped inputs and is returned once).  ``axis_size`` gives the
    batch size when no argument is mapped.  Keyword arguments are mapped over axis 0.
    ``compile`` as for :func:`tracegrad.value_and_grad`, when called on concrete arrays.
    """
    if not callable(f):
        raise TypeError(f"vmap needs a function, got {type(f).__name__}")
    _check_axes_spec(in_axes, "in_axes")
    _check_axes_spec(out_axes, "out_axes")

    def staged(*args: Any) -> Any:
        return batched_call(f, args, in_axes, out_axes, axis_size)

    compiled = jit(staged, compile=compile)

    @functools.wraps(f)
    def batched(*args: Any, **kwargs: Any) -> Any:
        if kwargs:
            call = functools.partial(_with_keywords, f)
            spec = (*_per_argument(in_axes, len(args)), 0)
            return vmap(call, spec, out_axes, axis_size, compile)(*args, kwargs)
        if any(isinstance(x, Tracer) for x in tree_flatten(args)[0]):
            return staged(*args)
        return compiled(*args)

    batched.tracegrad_staged = compiled  # type: ignore[attr-defined]
    return batched


def _with_keywords(f: Callable, *args_then_kwargs: Any) -> Any:
    return f(*args_then_kwargs[:-1], **args_then_kwargs[-1])


def _check_axes_spec(spec: Any, what: str) -> None:
    for _, axis in tree_leaves_with_path(_mark_none(spec)):
        if axis is not _NONE and (isinstance(axis, bool) or not isinstance(axis, int)):
            raise BatchAxisError(
                f"vmap {what} must hold ints and None, got {axis!r} ({type(axis).__name__})."
            )


def _per_argument(in_axes: Any, nargs: int) -> tuple:
    if in_axes is None or isinstance(in_axes, int):
        return (in_axes,) * nargs
    if not isinstance(in_axes, tuple | list) or len(in_axes) != nargs:
        raise BatchAxisError(
            f"vmap in_axes must be an int, None, or a tuple with one entry per positional "
            f"argument; got {in_axes!r} for {nargs} argument(s)."
        )
    return tuple(in_axes)


# =============================================================================================
# Axis specs: pytree prefixes of the arguments (or outputs), with ints and None at the leaves


class _NoneMarker:
    def __repr__(self) -> str:
        return "None"


_NONE = _NoneMarker()  # None is an empty pytree; this stands for it as a leaf of a spec


def _mark_none(spec: Any) -> Any:
    if spec is None:
        return _NONE
    if isinstance(spec, dict):
        return type(spec)((k, _mark_none(v)) for k, v in spec.items())
    if isinstance(spec, tuple) and hasattr(spec, "_fields"):
        return type(spec)(*map(_mark_none, spec))
    if isinstance(spec, tuple | list):
        return type(spec)(map(_mark_none, spec))
    return spec


def _is_prefix(prefix: str, path: str) -> bool:
    return path.startswith(prefix) and (len(path) == len(prefix) or path[len(prefix)] in "[.")


def leaf_axes(spec: Any, tree: Any, what: str) -> list[tuple[str, Axis]]:
    """``(path, axis)`` for every leaf of ``tree``, from ``spec``, a prefix of ``tree``."""
    spec_axes = tree_leaves_with_path(_mark_none(spec))
    found = []
    for path, _ in tree_leaves_with_path(tree):
        axes = [a for p, a in spec_axes if _is_prefix(p, path)]
        if not axes:
            raise BatchAxisError(
                f"vmap {what} {spec!r} does not match the structure {tree_flatten(tree)[1]}: "
                f"no entry covers the leaf at {path or 'the root'}. Give one int or None per "
                "argument, or a pytree shaped like (a prefix of) the argument."
            )
        found.append((path, None if axes[0] is _NONE else axes[0]))
    return found


# =============================================================================================
# The batched call


def _describe(path: str) -> str:
    """``[1]['w']`` -> ``argument 1 ['w']``."""
    head, _, rest = path[1:].partition("]")
    return f"argument {head}{' ' + rest if rest else ''}"


def _batch_size(leaves: list, axes: list[tuple[str, Axis]], axis_size: int | None) -> int:
    sizes: dict[int, str] = {}
    for leaf, (path, axis) in zip(leaves, axes, strict=True):
        if axis is None:
            continue
        shape = tuple(np.shape(leaf)) if not isinstance(leaf, Tracer) else leaf.shape
        if not -len(shape) <= axis < len(shape):
            raise BatchAxisError(
                f"vmap: in_axes says {_describe(path)} is mapped over axis {axis}, but it has "
                f"shape {shape}. Use None for arguments that are not batched."
            )
        sizes.setdefault(shape[axis], _describe(path))
    if axis_size is not None:
        sizes.setdefault(int(axis_size), "axis_size")
    if len(sizes) > 1:
        shown = ", ".join(f"{who} has {n}" for n, who in sizes.items())
        raise BatchAxisError(
            f"vmap got different batch sizes along the mapped axes: {shown}. Every mapped "
            "argument needs the same size along its axis."
        )
    if not sizes:
        raise BatchAxisError(
            "vmap needs at least one mapped argument (an in_axes entry that is not None), "
            "or axis_size to know the batch size."
        )
    return next(iter(sizes))


def _as_mapped(leaf: Any, axis: int) -> Any:
    if not isinstance(leaf, Tracer):
        leaf = np.asarray(leaf)
    return leaf if axis % leaf.ndim == 0 else np.moveaxis(leaf, axis, 0)


def batched_call(f: Callable, args: tuple, in_axes: Any, out_axes: Any, axis_size: Any) -> Any:
    """``f`` over the batch, recorded as one map when ``args`` hold Tracers."""
    spec = _per_argument(in_axes, len(args))
    leaves, treedef = tree_flatten(args)
    axes = leaf_axes(spec, args, "in_axes")
    length = _batch_size(leaves, axes, axis_size)
    mapped = [i for i, (_, axis) in enumerate(axes) if axis is not None]
    xs = [_as_mapped(leaves[i], axes[i][1]) for i in mapped]
    program, consts, out_tree = _trace_body(f, leaves, treedef, mapped, xs)
    ys = C.bind_scan([*consts, *xs], program, len(consts), 0, length, False)
    n = len(consts)
    invariant = C.invariant_part(program, n)[1]
    out_leaves = []
    for k, (path, axis) in enumerate(leaf_axes(out_axes, tree_unflatten(out_tree, ys), "out_axes")):
        out = program.outputs[k]
        unmapped = not isinstance(out, Var) or out in invariant
        out_leaves.append(_place(ys[k], axis, unmapped, path, f))
    return tree_unflatten(out_tree, out_leaves)


def _trace_body(
    f: Callable, leaves: list, treedef: TreeDef, mapped: list[int], xs: list
) -> tuple[Program, list[Tracer], TreeDef]:
    """``f`` on one example: a program ``(*consts, *x) -> outputs`` and its consts."""
    found: dict[str, TreeDef] = {}

    def one_example(*x: Tracer) -> list:
        full = list(leaves)
        for i, value in zip(mapped, x, strict=True):
            full[i] = value
        out_leaves, found["tree"] = tree_flatten(f(*tree_unflatten(treedef, full)))
        return out_leaves

    avals = [Aval(tuple(x.shape[1:]), x.dtype) for x in xs]
    with traced_constructors():
        program, consts = trace_flat(one_example, avals, box)
    k = len(avals)
    closed = Program(program.inputs[k:] + program.inputs[:k], program.eqns, program.outputs)
    return optimize(closed), consts, found["tree"]


def _place(y: Any, axis: Axis, invariant: bool, path: str, f: Callable) -> Any:
    if axis is None:
        if not invariant:
            raise BatchAxisError(
                f"vmap of {function_name(f)}: out_axes is None for the output at "
                f"{path or 'the root'}, but it depends on the mapped arguments. Give it a "
                "batch axis (an int) instead."
            )
        return y[0]
    return y if axis % y.ndim == 0 else np.moveaxis(y, 0, axis)
