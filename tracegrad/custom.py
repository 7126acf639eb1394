"""User-defined differentiation rules: custom_vjp, custom_jvp, checkpoint.

A function with a custom rule is traced twice over: its value is computed from
inputs behind ``stop_gradient`` (so no gradient flows through its body), and a
``custom_vjp_call`` marker ties that value to the inputs.  The marker's VJP rule
runs the user's rule on the inputs, under the trace, so the rule's work becomes
part of the backward program and can itself be differentiated.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .core import primitives as P
from .core.tracing import Tracer
from .frontend.elementwise import stop_gradient, zeros
from .signature import dtype_of
from .tree import TreeDef, tree_flatten, tree_unflatten


class _Pullback:
    """The data a ``custom_vjp_call`` marker needs to run the user's backward rule."""

    def __init__(
        self,
        name: str,
        cotangents_of_args: Callable[[tuple, Any], tuple],
        arg_leaves: list[Any],
        arg_tree: TreeDef,
        out_tree: TreeDef,
        out_avals: list[tuple[tuple[int, ...], np.dtype]],
    ) -> None:
        self.name = name
        self.cotangents_of_args = cotangents_of_args
        self.arg_leaves = arg_leaves  # constants stay here; Tracer positions are refilled
        self.arg_tree = arg_tree
        self.out_tree = out_tree
        self.out_avals = out_avals

    def __repr__(self) -> str:
        return self.name

    def pullback(self, inputs: tuple, index: int, ct: Any) -> list[Any]:
        """Cotangents of the traced inputs, given the cotangent of output leaf ``index``."""
        it = iter(inputs)
        leaves = [next(it) if isinstance(x, Tracer) else x for x in self.arg_leaves]
        args = tree_unflatten(self.arg_tree, leaves)
        out_cts = [zeros(shape, dtype, like=ct) for shape, dtype in self.out_avals]
        out_cts[index] = ct
        arg_cts = self.cotangents_of_args(args, tree_unflatten(self.out_tree, out_cts))
        if not isinstance(arg_cts, tuple | list) or len(arg_cts) != len(args):
            raise TypeError(
                f"the backward rule of {self.name} must return a tuple with one cotangent per "
                f"argument ({len(args)}), got {type(arg_cts).__name__}."
            )
        ct_leaves: list[Any] = []
        for i, (arg, ct_arg) in enumerate(zip(args, arg_cts, strict=True)):
            n = len(tree_flatten(arg)[0])
            if ct_arg is None:  # "no gradient" for this whole argument
                ct_leaves.extend([None] * n)
                continue
            leaves = tree_flatten(ct_arg)[0]
            if len(leaves) != n:
                raise TypeError(
                    f"the backward rule of {self.name} returned a cotangent for argument {i} "
                    f"with {len(leaves)} leaves; the argument has {n}. Give it the argument's "
                    "structure."
                )
            ct_leaves.extend(leaves)
        return [c for c, x in zip(ct_leaves, self.arg_leaves, strict=True) if isinstance(x, Tracer)]


def _call_with_rule(
    fun: Callable, name: str, cotangents_of_args: Callable[[tuple, Any], tuple], args: tuple
) -> Any:
    leaves, treedef = tree_flatten(args)
    if not any(isinstance(x, Tracer) for x in leaves):
        return fun(*args)
    frozen = [stop_gradient(x) if isinstance(x, Tracer) else x for x in leaves]
    out = fun(*tree_unflatten(treedef, frozen))
    out_leaves, out_tree = tree_flatten(out)
    avals = [
        (tuple(np.shape(o)) if not isinstance(o, Tracer) else o.shape, dtype_of(o))
        for o in out_leaves
    ]
    rule = _Pullback(name, cotangents_of_args, leaves, treedef, out_tree, avals)
    inputs = [x for x in leaves if isinstance(x, Tracer)]
    marked = [P.custom_vjp_call(o, *inputs, rule=rule, index=k) for k, o in enumerate(out_leaves)]
    return tree_unflatten(out_tree, marked)


class custom_vjp:  # noqa: N801  (named like the decorator users know from JAX)
    """Give ``fun`` a hand-written reverse-mode rule.

    ```python
    @tg.custom_vjp
    def f(x):
        return np.log1p(np.exp(x))

    def f_fwd(x):
        return f(x), (x,)              # (output, residuals)

    def f_bwd(res, g):
        (x,) = res
        return (g / (1 + np.exp(-x)),)  # one cotangent per argument

    f.defvjp(f_fwd, f_bwd)
    ```

    The rule's functions are traced like any other code, so higher derivatives
    differentiate ``f_bwd``.
    """

    def __init__(self, fun: Callable) -> None:
        self.fun = fun
        self.fwd: Callable | None = None
        self.bwd: Callable | None = None
        functools.update_wrapper(self, fun, updated=())

    def defvjp(self, fwd: Callable, bwd: Callable) -> custom_vjp:
        self.fwd, self.bwd = fwd, bwd
        return self

    def _cotangents(self, args: tuple, out_ct: Any) -> tuple:
        _, residuals = self.fwd(*args)  # type: ignore[misc]
        return self.bwd(residuals, out_ct)  # type: ignore[misc]

    def __call__(self, *args: Any) -> Any:
        if self.fwd is None:
            raise TypeError(f"custom_vjp function {self.__name__} has no rule: call defvjp first")
        return _call_with_rule(self.fun, self.__name__, self._cotangents, args)


class custom_jvp:  # noqa: N801
    """Give ``fun`` a hand-written forward-mode rule ``rule(primals, tangents) -> (out, t_out)``.

    Reverse mode uses the transpose of the rule's (linear) tangent map, so one rule
    serves ``grad``, ``vjp`` and ``jvp``.
    """

    def __init__(self, fun: Callable) -> None:
        self.fun = fun
        self.rule: Callable | None = None
        functools.update_wrapper(self, fun, updated=())

    def defjvp(self, rule: Callable) -> custom_jvp:
        self.rule = rule
        return self

    def _cotangents(self, args: tuple, out_ct: Any) -> tuple:
        from .api import grad

        def tangent_dot(tangents: tuple) -> Any:
            _, t_out = self.rule(args, tangents)  # type: ignore[misc]
            total = 0.0
            for t, c in zip(tree_flatten(t_out)[0], tree_flatten(out_ct)[0], strict=True):
                term = np.sum(t * c)  # complex values pair as Re sum(t * c), no conjugate
                total = total + (np.real(term) if dtype_of(term).kind == "c" else term)
            return total

        zero_tangents = tuple(
            tree_unflatten(tree, [np.zeros(np.shape(x), _float_dtype(x)) for x in leaves])
            for leaves, tree in (tree_flatten(a) for a in args)
        )
        return grad(tangent_dot)(zero_tangents)

    def __call__(self, *args: Any) -> Any:
        if self.rule is None:
            raise TypeError(f"custom_jvp function {self.__name__} has no rule: call defjvp first")
        return _call_with_rule(self.fun, self.__name__, self._cotangents, args)


def _float_dtype(x: Any) -> np.dtype:
    """The dtype of a tangent of ``x``: its own for floats and complex numbers."""
    dtype = dtype_of(x)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def checkpoint(fun: Callable) -> Callable:
    """Differentiate ``fun`` by recomputing its forward pass from its inputs.

    The gradient is the same as without ``checkpoint``.  In compiled code the
    recomputation is merged with the forward pass when both are in one program.
    """
    from .transforms import vjp

    def fwd(*args: Any) -> tuple[Any, tuple]:
        return fun(*args), args

    def bwd(args: tuple, out_ct: Any) -> tuple:
        return vjp(fun, *args)[1](out_ct)

    wrapped = custom_vjp(fun)
    wrapped.defvjp(fwd, bwd)
    wrapped.checkpointed = fun  # tracegrad.scan of it stores carries only (docs/control-flow.md)
    return wrapped
