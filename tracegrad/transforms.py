"""Transformations built on the reverse-mode core: vjp, jvp, jacrev, jacfwd, hessian.

Forward mode is derived by transposition ("double vjp"): the pullback
``u -> J^T u`` is linear in ``u``, so ``J v`` is the gradient with respect to
``u`` of ``<J^T u, v>``.  Our VJP rules are themselves differentiable IR, so
this needs no JVP rule per primitive; DCE removes the parts of the nested
program that the tangent does not need.  See docs/architecture.md.

Complex values pair without a conjugate, ``<a, b> = Re sum(a * b)``: under that pairing
JAX's gradient convention (``df/dx - i df/dy``) makes the pullback the transpose of the
directional derivative, so the same transposition gives ``J v`` of complex values.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .api import Executable, trace_user_function, value_and_grad
from .core import adjoint
from .core.interpret import eval_program
from .core.ir import Aval
from .core.tracing import Tracer
from .errors import ControlFlowError, DTypeError, ShapeError
from .frontend.tracer import box
from .signature import (
    Signature,
    check_differentiable,
    dtype_of,
    function_name,
    is_differentiable_leaf,
    leaf_key,
    normalize_argnums,
    restorer,
    scalar_if_0d,
)
from .tree import TreeDef, tree_flatten, tree_unflatten

# =============================================================================================
# vjp: the forward sweep runs once, the backward sweep once per cotangent


@dataclass
class _VjpPlan:
    signature: Signature
    forward: Executable  # traced inputs -> (*outputs, *residuals)
    backward: Executable  # (*residuals, *output cotangents) -> input cotangents
    joint: Executable  # (*inputs, *cotangents) -> (*outputs, *input cotangents), for Tracers
    out_tree: TreeDef
    out_avals: list[Aval]
    wrt: tuple[int, ...]  # positions (among traced leaves) of the float leaves
    captured: list[Tracer]


_VJP_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _vjp_plan(f: Callable, leaves: list, treedef: TreeDef, compile: str | None = None) -> _VjpPlan:
    key = (treedef, compile, *map(leaf_key, leaves))
    plans = _VJP_PLANS.setdefault(f, {}) if _weakrefable(f) else {}
    plan = plans.get(key)
    if plan is not None:
        return plan
    signature = Signature.of(leaves, treedef, function_name(f))
    found = trace_user_function(f, signature)
    wrt = tuple(i for i, a in enumerate(signature.avals) if a.dtype.kind in "fc")
    joint = adjoint.vjp_program(found.program, wrt, box)
    n_in, n_out = len(found.program.inputs), len(found.program.outputs)
    forward, backward, _ = adjoint.split_program(joint, n_in, range(n_out))
    name = f"vjp({function_name(f)}) for ({', '.join(map(str, signature.avals))})"
    plan = _VjpPlan(
        signature,
        Executable(forward, compile, f"the forward sweep of {name}"),
        Executable(backward, compile, f"the backward sweep of {name}"),
        Executable(joint, compile, name),
        found.out_tree,
        found.program.out_avals,
        wrt,
        found.captured,
    )
    if not found.captured:
        plans[key] = plan
    return plan


def _weakrefable(f: Any) -> bool:
    try:
        weakref.ref(f)
    except TypeError:
        return False
    return True


def vjp(
    f: Callable, *primals: Any, compile: str | None = None
) -> tuple[Any, Callable[[Any], tuple]]:
    """``(f(*primals), vjp_fn)``: ``vjp_fn(cotangent)`` returns one cotangent per primal.

    The cotangent has the structure of ``f``'s output.  The forward sweep runs
    once, here; each ``vjp_fn`` call runs only the backward sweep.  Leaves that
    are not floats (integer arrays, Python ints) get ``None``.  ``compile`` chooses when the
    sweeps are compiled, as for :func:`tracegrad.value_and_grad`.
    """
    leaves, treedef = tree_flatten(primals)
    plan = _vjp_plan(f, leaves, treedef, compile)
    traced = plan.signature.select(leaves) + plan.captured
    symbolic = any(isinstance(x, Tracer) for x in traced)
    n_out = len(plan.out_avals)
    if symbolic:
        outs = eval_program(plan.forward.program, traced)
    else:
        outs = plan.forward(traced)
    residuals = outs[n_out:]
    out = tree_unflatten(plan.out_tree, [scalar_if_0d(o) for o in outs[:n_out]])
    positions = plan.signature.traced_positions
    restorers = [restorer(leaves[positions[i]]) for i in plan.wrt]
    name = function_name(f)

    def vjp_fn(cotangent: Any) -> tuple:
        cts = _check_cotangent(name, cotangent, plan.out_tree, plan.out_avals)
        if symbolic or any(isinstance(c, Tracer) for c in cts):
            grads = eval_program(plan.backward.program, residuals + cts)
        else:
            grads = plan.backward(residuals + cts)
        result: list[Any] = [None] * treedef.num_leaves
        for i, g, fix in zip(plan.wrt, grads, restorers, strict=True):
            result[positions[i]] = fix(g)
        return tree_unflatten(treedef, result)

    return out, vjp_fn


def _check_cotangent(
    name: str, cotangent: Any, out_tree: TreeDef, out_avals: Sequence[Aval]
) -> list[Any]:
    ct_leaves, ct_tree = tree_flatten(cotangent)
    if ct_tree != out_tree:
        raise ShapeError(
            f"vjp of {name}: the cotangent has structure {ct_tree}, but the output has "
            f"structure {out_tree}; pass one array per output, shaped like it."
        )
    cts = []
    for c, aval in zip(ct_leaves, out_avals, strict=True):
        c = c if isinstance(c, Tracer) else np.asarray(c, dtype=aval.dtype)
        if tuple(c.shape) != aval.shape:
            raise ShapeError(
                f"vjp of {name}: a cotangent has shape {tuple(c.shape)} but the output has "
                f"shape {aval.shape}."
            )
        cts.append(c)
    return cts


# =============================================================================================
# jvp by transposing the pullback


_JVP_FNS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _pullback_dot(f: Callable) -> Callable:
    def pullback_dot(primals: tuple, tangents: tuple, u: Any) -> tuple[Any, Any]:
        out, vjp_fn = vjp(f, *primals)
        cts = tree_flatten(vjp_fn(u))[0]
        total = 0.0
        for c, t in zip(cts, tree_flatten(tangents)[0], strict=True):
            if c is not None and t is not None:
                term = np.sum(c * t)
                total = total + (np.real(term) if dtype_of(term).kind == "c" else term)
        return total, out

    return pullback_dot


def jvp(
    f: Callable, primals: Sequence[Any], tangents: Sequence[Any], compile: str | None = None
) -> tuple[Any, Any]:
    """``(f(*primals), J v)``: the directional derivative of ``f`` along ``tangents``.

    ``tangents`` has the structure of ``primals``; entries for leaves that are neither
    float nor complex are ignored.  A complex primal takes a complex tangent (a direction in
    the complex plane; a real one points along the real axis), and the tangent of a complex
    output is complex: ``J v`` is ``(f(x + h v) - f(x - h v)) / 2h`` as ``h -> 0``, also for
    functions that are not holomorphic.  ``compile`` as for :func:`tracegrad.value_and_grad`.
    """
    primals, tangents = tuple(primals), tuple(tangents)
    p_leaves, p_tree = tree_flatten(primals)
    t_leaves, t_tree = tree_flatten(tangents)
    if p_tree != t_tree:
        raise ShapeError(
            f"jvp of {function_name(f)}: tangents have structure {t_tree} but primals have "
            f"{p_tree}; pass one tangent per primal, shaped like it."
        )
    tangents = tree_unflatten(
        t_tree,
        [_as_tangent(p, t, function_name(f)) for p, t in zip(p_leaves, t_leaves, strict=True)],
    )
    try:
        plan = _vjp_plan(f, p_leaves, p_tree, compile)
    except ControlFlowError:
        # A while_loop has no VJP to transpose: forward mode of its own (core/forward.py).
        return _forward_jvp(f, p_leaves, p_tree, tree_flatten(tangents)[0])
    u = tree_unflatten(plan.out_tree, [np.zeros(a.shape, a.dtype) for a in plan.out_avals])
    by_policy = _JVP_FNS.setdefault(f, {}) if _weakrefable(f) else {}
    vg = by_policy.get(compile)
    if vg is None:
        vg = by_policy[compile] = value_and_grad(
            _pullback_dot(f), argnums=2, has_aux=True, compile=compile
        )
    (_, out), tangent_out = vg(primals, tangents, u)
    return out, tangent_out


def _forward_jvp(f: Callable, leaves: list, treedef: TreeDef, tangent_leaves: list) -> tuple:
    """``jvp`` of a function with while loops, by ``core.forward.jvp_program``."""
    from .core.forward import jvp_program

    signature = Signature.of(leaves, treedef, function_name(f))
    found = trace_user_function(f, signature)
    program = jvp_program(found.program)
    given = signature.select(tangent_leaves)
    tangents = [None if t is None else t for t in given] + [None] * len(found.captured)
    args = signature.select(leaves) + found.captured
    for i, aval in enumerate(found.program.in_avals):
        if aval.dtype.kind in "fc":
            t = tangents[i]
            args.append(np.zeros(aval.shape, aval.dtype) if t is None else t)
    if any(isinstance(a, Tracer) for a in args):
        outs = eval_program(program, args)
    else:
        outs = Executable(program)(args)
    n_out = len(found.program.outputs)
    it = iter(outs[n_out:])
    t_outs = [
        next(it) if a.dtype.kind in "fc" else np.zeros(a.shape, a.dtype)
        for a in found.program.out_avals
    ]
    values = [scalar_if_0d(v) for v in outs[:n_out]]
    return tree_unflatten(found.out_tree, values), tree_unflatten(found.out_tree, t_outs)


def _as_tangent(primal: Any, tangent: Any, name: str) -> Any:
    if isinstance(primal, Tracer | np.ndarray | np.generic | float | complex) and (
        (kind := dtype_of(primal).kind) in "fc"
    ):
        shape = tuple(primal.shape) if hasattr(primal, "shape") else ()
        if tuple(np.shape(tangent) if not isinstance(tangent, Tracer) else tangent.shape) != (
            shape
        ):
            raise ShapeError(
                f"jvp of {name}: a tangent has shape {np.shape(tangent)} but its primal has "
                f"shape {shape}."
            )
        if kind == "f" and dtype_of(tangent).kind == "c":
            raise DTypeError(
                f"jvp of {name}: a complex tangent for a real primal of shape {shape}; its "
                "imaginary part would point out of the function's domain. Pass a real tangent, "
                "or make the primal complex (x.astype(complex))."
            )
        return tangent
    return None


# =============================================================================================
# Jacobians and the Hessian: one map over a basis, traced and compiled as one program


def _selected(args: tuple, nums: tuple[int, ...]) -> Callable[[tuple], tuple]:
    """``fill(values)``: ``args`` with ``args[nums[k]]`` replaced by ``values[k]``."""

    def fill(values: tuple) -> tuple:
        full = list(args)
        for n, v in zip(nums, values, strict=True):
            full[n] = v
        return tuple(full)

    return fill


def _eye(size: int, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    return np.eye(size, dtype=dtype).reshape((size, *shape))


def _jacobian_transform(build: Callable[..., Any], what: str, f: Callable, compile: Any) -> Any:
    """Run ``build(*args)`` traced: inline when the arguments are Tracers (inside another
    transformation), else through ``jit`` so that each signature is one compiled call."""
    from .api import jit

    compiled = jit(build, compile=compile)

    def jacobian_of(*args: Any) -> Any:
        if any(isinstance(x, Tracer) for x in tree_flatten(args)[0]):
            return build(*args)
        return compiled(*args)

    jacobian_of.__name__ = f"{what}({function_name(f)})"
    jacobian_of.tracegrad_staged = compiled  # type: ignore[attr-defined]
    return jacobian_of


def jacrev(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    compile: str | None = None,
    holomorphic: bool = False,
) -> Callable:
    """The Jacobian of ``f`` by reverse mode: the pullback mapped over the output basis.

    For an output leaf of shape ``S_o`` and an argument leaf of shape ``S_i`` the
    block has shape ``S_o + S_i``.  The result has the structure of the argument
    (a tuple of those for a tuple ``argnums``); for a pytree output, the output's
    structure holds such results.  The forward sweep runs once and the backward sweep once
    per output element, in one compiled loop (``tracegrad.vmap``).  ``compile`` as for
    :func:`tracegrad.value_and_grad`.

    Complex arguments of a real-valued ``f`` give rows in ``grad``'s convention
    (``df/dx - i df/dy``).  A complex output needs ``holomorphic=True`` (complex arguments
    and outputs; the blocks are then the complex derivatives ``df_i/dz_j``).
    """
    from .vmap import vmap

    single = isinstance(argnums, int)

    def jacobian(*args: Any) -> Any:
        name = f"jacrev({function_name(f)})"
        nums = normalize_argnums(argnums, len(args), name)
        check_differentiable(args, nums, name, complex_only=holomorphic)
        fill = _selected(args, nums)
        out, pullback = vjp(lambda *wrt: f(*fill(wrt)), *(args[n] for n in nums))
        out_leaves, out_tree = tree_flatten(out)
        _check_outputs(name, out_leaves, holomorphic)
        blocks = []
        for k, o in enumerate(out_leaves):
            shape = tuple(np.shape(o))

            def row(e: Any, k: int = k) -> tuple:
                cts = [np.zeros(np.shape(c), dtype_of(c)) for c in out_leaves]
                cts[k] = e
                return pullback(tree_unflatten(out_tree, cts))

            size = int(np.prod(shape, dtype=np.int64))
            rows = vmap(row)(_eye(size, shape, _basis_dtype(o)))
            rows = tuple(_with_leading(r, shape, args[n]) for r, n in zip(rows, nums, strict=True))
            blocks.append(rows[0] if single else rows)
        return blocks[0] if out_tree.is_leaf else tree_unflatten(out_tree, blocks)

    return _jacobian_transform(jacobian, "jacrev", f, compile)


# A Jacobian is a matrix of complex numbers only where the function is holomorphic; elsewhere
# the directional derivative is merely R-linear in the direction.  So, as in JAX, the
# Jacobians refuse complex values on the side where they would need that matrix (jacrev's
# outputs, jacfwd's inputs) unless the caller promises holomorphic=True.
_HOLOMORPHIC_HINT = (
    "If the function is holomorphic, pass holomorphic=True (complex inputs and outputs) for "
    "its complex derivative; otherwise split the values into np.real and np.imag parts, or "
    "use tg.jvp / tg.vjp directly."
)


def _check_outputs(name: str, out_leaves: Sequence[Any], holomorphic: bool) -> None:
    for leaf in out_leaves:
        kind = dtype_of(leaf).kind
        if holomorphic and kind != "c":
            raise DTypeError(
                f"{name}: holomorphic=True needs complex outputs, but an output is "
                f"{dtype_of(leaf)}. Drop holomorphic=True."
            )
        if not holomorphic and kind == "c" and name.startswith("jacrev"):
            raise DTypeError(
                f"{name}: an output is complex ({dtype_of(leaf)}), and reverse mode needs real "
                f"outputs for a Jacobian. {_HOLOMORPHIC_HINT}"
            )


def _check_real_inputs(name: str, leaves: Sequence[Any]) -> None:
    for leaf in leaves:
        if dtype_of(leaf).kind == "c":
            raise DTypeError(
                f"{name}: an argument is complex ({dtype_of(leaf)}), and forward mode needs real "
                f"arguments for a Jacobian. {_HOLOMORPHIC_HINT}"
            )


def _differentiable(leaf: Any) -> bool:
    if isinstance(leaf, Tracer):
        return leaf.dtype.kind in "fc"
    return is_differentiable_leaf(leaf)


def _basis_dtype(x: Any) -> np.dtype:
    """The dtype of the unit vectors a Jacobian maps over: the leaf's own for floats and
    complex numbers, float64 for the rest."""
    dtype = dtype_of(x)
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def _with_leading(stacked: Any, shape: tuple[int, ...], like: Any) -> Any:
    """Each leaf of ``stacked`` is ``(size, *leaf shape)``: make it ``shape + leaf shape``;
    leaves with no gradient (None, integer arguments) become zeros."""
    leaves, tree = tree_flatten(like)
    got = tree_flatten(stacked)[0] if stacked is not None else []
    it = iter(got)
    out = []
    for leaf in leaves:
        if _differentiable(leaf):
            out.append(np.reshape(next(it), shape + tuple(np.shape(leaf))))
        else:
            out.append(np.zeros(shape + tuple(np.shape(leaf)), np.float64))
    return tree_unflatten(tree, out)


def jacfwd(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    compile: str | None = None,
    holomorphic: bool = False,
) -> Callable:
    """The Jacobian of ``f`` by forward mode: ``jvp`` mapped over the input basis.

    Same layout as :func:`jacrev` (output shape first, then the argument's shape).  One
    compiled loop per argument leaf.  ``compile`` as for :func:`tracegrad.value_and_grad`.
    Real arguments may give complex outputs (complex blocks).  Complex arguments need
    ``holomorphic=True`` (and complex outputs): the blocks are then ``df_i/dz_j``.
    """
    from .vmap import vmap

    single = isinstance(argnums, int)

    def jacobian(*args: Any) -> Any:
        name = f"jacfwd({function_name(f)})"
        nums = normalize_argnums(argnums, len(args), name)
        check_differentiable(args, nums, name, complex_only=holomorphic)
        fill = _selected(args, nums)

        def restricted(*wrt: Any) -> Any:
            return f(*fill(wrt))

        primals = tuple(args[n] for n in nums)
        p_leaves, p_tree = tree_flatten(primals)
        if not holomorphic:
            _check_real_inputs(name, p_leaves)
        out_leaves, out_tree = tree_flatten(restricted(*primals))
        _check_outputs(name, out_leaves, holomorphic)
        out_shapes = [tuple(np.shape(o)) for o in out_leaves]
        # columns[k][j]: the block of output leaf k and input leaf j.
        columns: list[list[Any]] = [[] for _ in out_leaves]
        for j, leaf in enumerate(p_leaves):
            shape = tuple(np.shape(leaf))
            if not _differentiable(leaf):
                for k, o_shape in enumerate(out_shapes):
                    columns[k].append(np.zeros(o_shape + shape, np.float64))
                continue

            def column(e: Any, j: int = j) -> Any:
                tangents = [np.zeros(np.shape(x), dtype_of(x)) for x in p_leaves]
                tangents[j] = e
                return jvp(restricted, primals, tree_unflatten(p_tree, tangents))[1]

            size = int(np.prod(shape, dtype=np.int64))
            stacked = tree_flatten(vmap(column)(_eye(size, shape, dtype_of(leaf))))[0]
            for k, (c, o_shape) in enumerate(zip(stacked, out_shapes, strict=True)):
                columns[k].append(np.reshape(np.moveaxis(c, 0, -1), o_shape + shape))
        blocks = []
        for per_leaf in columns:
            per_arg = tree_unflatten(p_tree, per_leaf)
            blocks.append(per_arg[0] if single else per_arg)
        return blocks[0] if out_tree.is_leaf else tree_unflatten(out_tree, blocks)

    return _jacobian_transform(jacobian, "jacfwd", f, compile)


jacobian = jacrev


def hessian(f: Callable, argnums: int | Sequence[int] = 0, compile: str | None = None) -> Callable:
    """The Hessian of the scalar function ``f``: the Jacobian of its gradient.

    Computed as ``jacrev(grad(f))``: the gradient's forward sweep once, then its pullback
    mapped over the basis in one compiled loop.  ``compile`` as for
    :func:`tracegrad.value_and_grad`.
    """
    from .api import grad

    jacobian_of_grad = jacrev(grad(f, argnums=argnums), argnums=argnums, compile=compile)

    def hessian_of(*args: Any) -> Any:
        try:
            return jacobian_of_grad(*args)
        except DTypeError as error:
            if any(dtype_of(leaf).kind == "c" for leaf in tree_flatten(args)[0]):
                raise DTypeError(
                    f"hessian({function_name(f)}): complex arguments. The gradient of a real "
                    "function of complex values is complex and in general not holomorphic, so "
                    "its derivative is not a complex matrix. Differentiate with respect to the "
                    "real and imaginary parts as separate real arguments."
                ) from error
            raise

    hessian_of.__name__ = f"hessian({function_name(f)})"
    hessian_of.tracegrad_staged = jacobian_of_grad.tracegrad_staged  # type: ignore[attr-defined]
    return hessian_of
