"""What the public transformations share about their arguments.

A call's arguments are a pytree; its leaves are traced (arrays, floats) or static (Python
ints, strings, ...).  ``Signature`` is what a program depends on; ``leaf_key`` the cheap
per-call cache key of one leaf; ``normalize_argnums`` checks ``argnums``; the restorers
give results the form of the inputs (a NumPy scalar for a float input, an array for an
array input).
"""

from __future__ import annotations

import inspect
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Signature",
    "check_differentiable",
    "dtype_of",
    "function_name",
    "is_differentiable_leaf",
    "is_float_leaf",
    "leaf_hints",
    "leaf_key",
    "normalize_argnums",
    "restorer",
    "scalar_if_0d",
]

import numpy as np

from .core.ir import Aval
from .core.tracing import Tracer
from .errors import ArgnumsError, DTypeError
from .frontend.promotion import dtype_of
from .frontend.tracer import NumpyArrayTracer, NumpyTracer
from .tree import TreeDef, is_container_type, tree_leaves_with_path, tree_unflatten


class _Static:
    """Marks a leaf that is a Python value baked into the program (part of the cache key)."""


def leaf_key(leaf: Any) -> Any:
    """A cheap hashable description of one argument leaf, for the signature cache."""
    t = type(leaf)
    if t is np.ndarray:
        return (leaf.shape, leaf.dtype)
    if t is float or t is complex:
        return t
    if t is NumpyTracer or t is NumpyArrayTracer:
        return (Tracer, leaf.node.aval)
    if isinstance(leaf, np.generic):  # not the key of a 0-d array: results differ in form
        return (np.generic, leaf.dtype)
    if isinstance(leaf, np.ndarray):  # a subclass (np.matrix, ...): traced as its data
        return (leaf.shape, leaf.dtype)
    if is_container_type(t):
        return _NOT_A_LEAF
    return (_Static, t, leaf)


class _NotALeaf:
    """The key of a container argument: never in the flat-argument cache, whose keys are made
    only of leaves, so the lookup misses (without raising, which costs about 1 us a call)."""


_NOT_A_LEAF = _NotALeaf()


def leaf_aval(leaf: Any) -> Aval | None:
    """The aval of a leaf that is traced, or None for a static (Python) value."""
    if isinstance(leaf, Tracer):
        return leaf.aval
    if isinstance(leaf, np.ndarray | np.generic):
        return Aval(leaf.shape, leaf.dtype)
    if isinstance(leaf, float):
        return Aval((), np.float64)
    if isinstance(leaf, complex):
        return Aval((), np.complex128)
    return None


@dataclass(frozen=True)
class Signature:
    """What a program depends on: tree structure, traced leaves' avals, static leaves."""

    treedef: TreeDef
    avals: tuple[Aval, ...]  # one per traced leaf
    traced_positions: tuple[int, ...]  # leaf index of each traced leaf
    statics: tuple[tuple[int, Any], ...]  # (leaf index, value) of each static leaf

    @staticmethod
    def of(leaves: Sequence[Any], treedef: TreeDef, fn_name: str) -> Signature:
        avals, positions, statics = [], [], []
        for i, leaf in enumerate(leaves):
            if isinstance(leaf, np.ma.MaskedArray):
                raise DTypeError(
                    f"{fn_name}: masked arrays are not supported (the mask would be ignored). "
                    "Pass x.filled(value) or x.compressed() instead."
                )
            aval = leaf_aval(leaf)
            if aval is None:
                try:
                    hash(leaf)
                except TypeError:
                    raise DTypeError(
                        f"{fn_name}: an argument leaf of type {type(leaf).__name__} is neither "
                        "an array, a float nor a hashable Python value. Pass NumPy arrays, or "
                        "register the class with tracegrad.tree.register_pytree_node."
                    ) from None
                statics.append((i, leaf))
                continue
            if aval.dtype.kind not in "fciub":
                raise DTypeError(
                    f"{fn_name}: inputs of dtype {aval.dtype} are not supported; use float, "
                    "complex, integer or bool arrays."
                )
            avals.append(aval)
            positions.append(i)
        return Signature(treedef, tuple(avals), tuple(positions), tuple(statics))

    def rebuild(self, traced: Sequence[Any]) -> tuple:
        leaves: list[Any] = [None] * self.treedef.num_leaves
        for i, value in zip(self.traced_positions, traced, strict=True):
            leaves[i] = value
        for i, value in self.statics:
            leaves[i] = value
        return tree_unflatten(self.treedef, leaves)

    def select(self, leaves: Sequence[Any]) -> list[Any]:
        return [leaves[i] for i in self.traced_positions]


def normalize_argnums(argnums: int | Sequence[int], nargs: int, fn_name: str) -> tuple[int, ...]:
    if not isinstance(argnums, int | tuple | list):
        raise ArgnumsError(
            f"{fn_name}: argnums must be an int or a tuple of ints, got {argnums!r}."
        )
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if nargs == 0:
        raise ArgnumsError(
            f"{fn_name}: the function was called without positional arguments, so there is "
            "nothing to differentiate. Pass the inputs as positional arguments."
        )
    for n in nums:
        if not isinstance(n, int) or not -nargs <= n < nargs:
            raise ArgnumsError(
                f"{fn_name}: argnums={argnums!r}, but the function was called with {nargs} "
                f"positional argument(s); valid argnums are 0..{nargs - 1} (or -{nargs}..-1)."
            )
    normalized = tuple(n % nargs for n in nums)
    if len(set(normalized)) != len(normalized):
        raise ArgnumsError(
            f"{fn_name}: argnums={argnums!r} names the same argument more than once. List "
            "each argument once; the gradients come back in the order argnums gives."
        )
    return normalized


_PATH_PART = re.compile(r"\[(-?\d+)\]|\[(['\"])(.*?)\2\]|\.(\w+)|\[(.*?)\]")


def _path_parts(path: str, params: Sequence[str]) -> list[str]:
    """``"[0]['W1']"`` -> ``["params", "W1"]``: the parameter's name, then the keys."""
    parts = []
    for index, _, key, attr, other in _PATH_PART.findall(path):
        parts.append(index or key or attr or other)
    if parts and parts[0].isdigit():
        position = int(parts[0])
        parts[0] = params[position] if position < len(params) else f"arg{position}"
    return [re.sub(r"\W", "_", part) for part in parts]


def _positional_names(f: Callable) -> list[str]:
    try:
        parameters = inspect.signature(f).parameters.values()
    except (TypeError, ValueError):  # a builtin or an object without a signature
        return []
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return [p.name for p in parameters if p.kind in kinds]


def leaf_hints(f: Callable, signature: Signature) -> list[str]:
    """A display name per traced leaf, in the user's words: the shortest ending of
    ``parameter_key_key`` that names one leaf only (``W1`` for ``params["W1"]``,
    ``layers_0_W`` where every layer has a ``W``)."""
    args = signature.rebuild(range(len(signature.avals)))
    paths = [path for path, _ in tree_leaves_with_path(args)]
    params = _positional_names(f)
    parts = [_path_parts(paths[i], params) for i in signature.traced_positions]
    names = [""] * len(parts)
    pending = set(range(len(parts)))
    for k in range(1, max(map(len, parts), default=0) + 1):
        candidates = {i: "_".join(parts[i][-k:]) for i in pending}
        counts = Counter(candidates.values()) + Counter(n for n in names if n)
        for i, name in candidates.items():
            if counts[name] == 1 and name.isidentifier():
                names[i] = name
        pending = {i for i in pending if not names[i]}
    return names


def function_name(f: Callable) -> str:
    """The name error messages use for a user function."""
    return getattr(f, "__qualname__", getattr(f, "__name__", repr(f)))


def is_float_leaf(leaf: Any) -> bool:
    """Whether a leaf can be differentiated: a float array, a NumPy float or a Python float."""
    if isinstance(leaf, bool):
        return False
    if isinstance(leaf, float):
        return True
    return isinstance(leaf, np.ndarray | np.generic) and leaf.dtype.kind == "f"


def is_differentiable_leaf(leaf: Any) -> bool:
    """A float leaf (:func:`is_float_leaf`) or a complex one (array, NumPy or Python complex)."""
    if isinstance(leaf, complex) or is_float_leaf(leaf):
        return True
    return isinstance(leaf, np.ndarray | np.generic) and leaf.dtype.kind == "c"


# =============================================================================================
# Giving results the form of the inputs


def scalar_if_0d(x: Any) -> Any:
    """A 0-d array as a NumPy scalar (compiled code returns 0-d arrays); others unchanged."""
    return x[()] if type(x) is np.ndarray and x.ndim == 0 else x


def _as_array(v: Any) -> Any:
    # The per-call path: an ndarray (the usual case) is returned after one type check.
    if type(v) is np.ndarray:
        return v
    return np.asarray(v) if isinstance(v, _PYTHON_OR_NUMPY_SCALAR) else v


_PYTHON_OR_NUMPY_SCALAR = (float, complex, np.generic)


def restorer(leaf_in: Any) -> Callable[[Any], Any]:
    """How to give a gradient leaf the form of its input: an array for an array input
    (also 0-d), a NumPy scalar for a Python float or NumPy scalar input."""
    return _as_array if isinstance(leaf_in, np.ndarray) else scalar_if_0d


def check_differentiable(
    args: tuple, argnums: tuple[int, ...], fn_name: str, complex_only: bool = False
) -> None:
    """Refuse arguments that cannot be differentiated (with ``complex_only``, for
    ``holomorphic=True``, all but complex ones)."""
    for n in argnums:
        for path, leaf in tree_leaves_with_path(args[n]):
            aval = leaf_aval(leaf)
            if complex_only and (aval is None or aval.dtype.kind != "c"):
                raise DTypeError(
                    f"{fn_name}: holomorphic=True needs complex arguments, but argument "
                    f"{n}{path} is {aval.dtype if aval else type(leaf).__name__}. Pass it as "
                    "complex (x.astype(complex)), or drop holomorphic=True for a real loss."
                )
            if aval is None or aval.dtype.kind not in "fc":
                kind = type(leaf).__name__ if aval is None else f"an array of {aval.dtype}"
                raise DTypeError(
                    f"{fn_name}: argument {n}{path} is {kind}, but gradients are only defined "
                    "for float inputs and complex ones. Pass a float array (x.astype(float)) or a "
                    "Python float, or leave this argument out of argnums."
                )
