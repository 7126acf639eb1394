"""Gradient checking against finite differences, for tests and for users' own rules.

``check_grads(f, args)`` compares ``tracegrad.grad`` with central differences
along random directions, one argument leaf at a time (so a failure names the
leaf), and with ``order=2`` also checks the gradient of ``<grad f, v>``.
``numerical_grad(f, args)`` is the per-element central-difference gradient and
``numerical_jacobian(f, args)`` the central-difference Jacobian of an array-valued ``f``.
Hypothesis strategies for property-based gradient tests are in
:mod:`tracegrad.testing.strategies` (it needs the ``hypothesis`` package).

Finite differences are evaluated in float64 whenever the function allows it:
float32 inputs are upcast, so the step can be small and the reference is
accurate even when the analytic side runs in float32.

Complex leaves follow tracegrad's (JAX's) convention: the gradient of a real ``f`` at
``z = x + iy`` is ``df/dx - i df/dy``, so ``<grad f, v>`` pairs without a conjugate,
``Re sum(g * v)``.  The real and the imaginary parts of a complex leaf are perturbed
separately (a conjugated gradient agrees with the differences along the real part and
fails along the imaginary part), and forward mode along the whole complex direction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np

from ..api import grad
from ..signature import dtype_of, function_name, is_differentiable_leaf, normalize_argnums
from ..tree import tree_flatten, tree_leaves_with_path, tree_unflatten

__all__ = ["check_grads", "numerical_grad", "numerical_jacobian"]

# Base step of the central difference (scaled by max(1, |x|)), and default tolerances, by
# the dtype the differences / the analytic gradient are computed in.
_STEP = {np.dtype(np.float64): 1e-6, np.dtype(np.float32): 1e-3, np.dtype(np.float16): 1e-2}
_RTOL = {np.dtype(np.float64): 1e-5, np.dtype(np.float32): 5e-3, np.dtype(np.float16): 5e-2}
_ATOL = {np.dtype(np.float64): 1e-8, np.dtype(np.float32): 1e-5, np.dtype(np.float16): 1e-3}
# A complex dtype has the tolerances of its parts.
for _complex, _real in ((np.complex128, np.float64), (np.complex64, np.float32)):
    for _table in (_STEP, _RTOL, _ATOL):
        _table[np.dtype(_complex)] = _table[np.dtype(_real)]


# =============================================================================================
# Leaves


def _dtype(leaf: Any) -> np.dtype:
    """The leaf's dtype in native byte order (the tolerance tables' keys)."""
    return dtype_of(leaf).newbyteorder("=")


def _upcast(leaf: Any) -> Any:
    """float16/float32 arrays and scalars -> float64, complex64 -> complex128; everything
    else unchanged."""
    if isinstance(leaf, np.ndarray | np.generic) and leaf.dtype.kind in "fc":
        wide = np.dtype(np.float64 if leaf.dtype.kind == "f" else np.complex128)
        return np.asarray(leaf, dtype=wide) if isinstance(leaf, np.ndarray) else wide.type(leaf)
    return leaf


def _shift(leaf: Any, step: Any) -> Any:
    """``leaf + step`` keeping the leaf's kind (Python float or complex, NumPy scalar,
    array)."""
    if isinstance(leaf, complex):
        return leaf + complex(step)
    if isinstance(leaf, float):
        return leaf + float(step)
    if isinstance(leaf, np.generic):
        return leaf.dtype.type(leaf + step)
    return (leaf + step).astype(leaf.dtype)


def _scalar(value: Any, name: str) -> float:
    array = np.asarray(value)
    if array.shape != ():
        raise ValueError(f"{name} must return a scalar for gradient checking, got {array.shape}")
    if array.dtype.kind == "c":
        raise ValueError(
            f"{name} must return a real scalar for gradient checking, got {array.dtype}: check "
            "np.real and np.imag of a complex output (or its contraction with random weights)"
        )
    return float(array)


def _default_argnums(args: Sequence[Any]) -> tuple[int, ...]:
    """Every argument whose leaves are all floats or complex numbers (and that has at least
    one leaf)."""
    nums = []
    for i, a in enumerate(args):
        leaves = tree_flatten(a)[0]
        if leaves and all(is_differentiable_leaf(x) for x in leaves):
            nums.append(i)
    if not nums:
        raise ValueError(
            "check_grads: no argument consists of float or complex leaves; pass argnums"
        )
    return tuple(nums)


def _normalize_argnums(argnums: int | Sequence[int] | None, args: Sequence[Any]) -> tuple:
    if argnums is None:
        return _default_argnums(args)
    return normalize_argnums(argnums, len(args), "check_grads")


class _Point:
    """The flattened arguments of ``f`` and how to evaluate ``f`` near them."""

    def __init__(self, f: Callable, args: Sequence[Any], argnums: tuple[int, ...]) -> None:
        self.f = f
        self.name = function_name(f)
        self.args = tuple(args)
        self.leaves, self.treedef = tree_flatten(self.args)
        self.paths = [p for p, _ in tree_leaves_with_path(self.args)]
        owner: list[int] = []
        for i, a in enumerate(self.args):
            owner.extend([i] * len(tree_flatten(a)[0]))
        # Leaves of the differentiated arguments, in the order grad returns them.
        self.wrt = [k for n in argnums for k, o in enumerate(owner) if o == n]
        # Evaluate in float64 if the function keeps float64 on upcast inputs.
        upcast = [_upcast(x) for x in self.leaves]
        out = np.asarray(f(*tree_unflatten(self.treedef, upcast)))
        if out.dtype == np.float64:
            self.base, self.eval_dtype = upcast, np.dtype(np.float64)
        else:
            self.base, self.eval_dtype = list(self.leaves), out.dtype.newbyteorder("=")
        self.value = _scalar(out, self.name)

    def at(self, k: int, step: Any) -> float:
        leaves = list(self.base)
        leaves[k] = _shift(leaves[k], step)
        return _scalar(self.f(*tree_unflatten(self.treedef, leaves)), self.name)

    def step(self, k: int, eps: float | None) -> float:
        if eps is not None:
            return eps
        magnitude = float(np.max(np.abs(self.base[k]))) if np.size(self.base[k]) else 0.0
        return _STEP.get(self.eval_dtype, 1e-6) * max(1.0, magnitude)

    def central(
        self, k: int, v: Any, eps: float | None, richardson: bool = False
    ) -> tuple[float, float]:
        """``(f(x + h v) - f(x - h v)) / 2h`` along ``v`` in leaf ``k``, and its round-off.

        With ``richardson`` the steps h and h/2 are combined as ``(4 D(h/2) - D(h)) / 3``,
        which cancels the h^2 error term (for functions with large third derivatives).
        """
        h = self.step(k, eps)
        estimate, noise = self._difference(k, v, h)
        if richardson:
            half, half_noise = self._difference(k, v, h / 2)
            estimate = (4 * half - estimate) / 3
            noise = (4 * half_noise + noise) / 3
        return estimate, noise

    def _difference(self, k: int, v: Any, h: float) -> tuple[float, float]:
        plus, minus = self.at(k, h * v), self.at(k, -h * v)
        noise = 4 * np.finfo(self.eval_dtype).eps * (abs(plus) + abs(minus)) / (2 * h)
        return (plus - minus) / (2 * h), noise


def _direction(leaf: Any, rng: np.random.Generator) -> Any:
    """A random unit vector shaped like ``leaf`` (float64, or complex128 for a complex leaf;
    a Python number for scalar leaves)."""
    shape = np.shape(leaf)
    v = rng.standard_normal(shape)
    if dtype_of(leaf).kind == "c":
        v = v + 1j * rng.standard_normal(shape)
        norm = np.sqrt(np.sum(np.abs(v) ** 2))
        v = v / norm if norm > 0 else v
        return complex(v) if shape == () else v
    norm = np.sqrt(np.sum(v * v))
    v = v / norm if norm > 0 else v
    return float(v) if shape == () else v


def _parts(v: Any) -> list[tuple[str, Any]]:
    """The directions a leaf is checked along: ``v`` itself if it is real, else its real
    part and its imaginary part (times i), separately."""
    if not np.iscomplexobj(v):
        return [("", v)]
    return [(" (real part)", v.real + 0j), (" (imaginary part)", 1j * v.imag)]


def _pair(g: Any, v: Any) -> float:
    """``<g, v>`` in the gradient convention: ``sum(g * v)``, its real part if complex."""
    if not np.iscomplexobj(g) and not np.iscomplexobj(v):
        return float(np.sum(np.asarray(g, dtype=np.float64) * v))
    return float(np.real(np.sum(np.asarray(g, dtype=np.complex128) * v)))


class _Tolerance(NamedTuple):
    eps: float | None
    rtol: float | None
    atol: float | None
    richardson: bool


# =============================================================================================
# check_grads


def check_grads(
    f: Callable[..., Any],
    args: Sequence[Any],
    order: int = 1,
    eps: float | None = None,
    rtol: float | None = None,
    atol: float | None = None,
    argnums: int | Sequence[int] | None = None,
    seed: int = 0,
    modes: Sequence[str] = ("rev", "fwd"),
    richardson: bool = False,
) -> None:
    """Check ``tracegrad.grad(f)`` (and ``tracegrad.jvp``) at ``args`` against central
    finite differences.

    For every float or complex leaf of the differentiated arguments (default: every argument
    made only of such leaves) a random unit direction ``v`` is drawn and ``<grad f(x), v>``
    is compared with ``(f(x + eps v) - f(x - eps v)) / (2 eps)``; a complex leaf is checked
    along the real and the imaginary part of ``v`` separately, with ``<g, v> = Re sum(g v)``
    (the gradient is ``df/dx - i df/dy``).  The gradient's leaves must
    also have the shapes and dtypes of the inputs.  ``order=2`` (or more) then checks the
    gradient of ``lambda *a: <grad f(a), v>`` the same way, recursively.

    ``modes`` picks reverse mode (``"rev"``: each leaf's ``<grad f, v>``) and forward mode
    (``"fwd"``: ``jvp`` along all directions at once, against the sum of the leaves'
    differences; checked at the first order).  ``richardson=True`` extrapolates two step
    sizes for a more accurate reference.

    ``eps`` defaults to a step chosen for the dtype the differences are evaluated in
    (float32 inputs are upcast to float64 when ``f`` allows), scaled by the leaf's size.
    Raises ``AssertionError`` naming the function, the leaf's path, expected and actual
    directional derivatives, and the direction.
    """
    if not isinstance(args, tuple | list):
        raise TypeError("check_grads: args must be a tuple or list of positional arguments")
    args = tuple(args)
    unknown = set(modes) - {"rev", "fwd"}
    if unknown or not modes:
        raise ValueError(f"check_grads: modes must be a subset of ('rev', 'fwd'), got {modes!r}")
    nums = _normalize_argnums(argnums, args)
    point = _Point(f, args, nums)
    rng = np.random.default_rng(seed)
    fwd_expected, fwd_tol = 0.0, 0.0
    tolerance = _Tolerance(eps, rtol, atol, richardson)

    grads = grad(f, argnums=nums)(*args)
    grad_leaves = tree_flatten(grads)[0]
    if len(grad_leaves) != len(point.wrt):
        raise AssertionError(
            f"check_grads({point.name}): grad returned {len(grad_leaves)} leaves for "
            f"{len(point.wrt)} differentiated input leaves"
        )
    directions = []
    for k, g in zip(point.wrt, grad_leaves, strict=True):
        _check_form(point.name, f"args{point.paths[k]}", point.leaves[k], g)
        v = _direction(point.leaves[k], rng)
        directions.append(v)
        for part, v_part in _parts(v):
            expected, tol = _check_reverse(point, k, g, v_part, part, tolerance)
            fwd_expected += expected
            fwd_tol += tol
            if "rev" in modes and not abs(_pair(g, v_part) - expected) <= tol:  # also on NaN
                raise AssertionError(
                    _reverse_failure(point, k, g, v_part, part, expected, tol, order, eps)
                )
    if "fwd" in modes and point.wrt:
        _check_forward(f, args, point, directions, fwd_expected, fwd_tol, order)
    if order > 1:
        check_grads(
            _directional_grad(f, nums, directions, point.name),
            args,
            order=order - 1,
            eps=eps,
            rtol=rtol,
            atol=atol,
            argnums=nums,
            seed=seed + 1,
            modes=("rev",),
            richardson=richardson,
        )


def _check_reverse(
    point: _Point, k: int, g: Any, v: Any, part: str, tolerance: _Tolerance
) -> tuple[float, float]:
    """The finite-difference ``<grad, v>`` of leaf ``k``, and the tolerance of comparing it
    with ``<g, v>``."""
    expected, noise = point.central(k, v, tolerance.eps, tolerance.richardson)
    got = _pair(g, v)
    scale = float(np.sqrt(np.sum(np.abs(np.asarray(g, dtype=np.result_type(g, float))) ** 2)))
    dtype = _dtype(point.leaves[k])
    r = tolerance.rtol
    r = r if r is not None else max(_RTOL[dtype], _RTOL[point.eval_dtype])
    a = tolerance.atol
    a = a if a is not None else max(_ATOL[dtype], _ATOL[point.eval_dtype])
    return expected, a + noise + r * max(abs(expected), abs(got), scale)


def _reverse_failure(
    point: _Point,
    k: int,
    g: Any,
    v: Any,
    part: str,
    expected: float,
    tol: float,
    order: int,
    eps: float | None,
) -> str:
    leaf, got = point.leaves[k], _pair(g, v)
    message = (
        f"check_grads({point.name}, order={order}): the gradient with respect to "
        f"args{point.paths[k]}{part} ({_describe(leaf)}) disagrees with central differences\n"
        f"  expected <grad, v> = {expected!r} (finite differences, step "
        f"{point.step(k, eps):.3g}, evaluated in {point.eval_dtype})\n"
        f"  got      <grad, v> = {got!r} (tracegrad.grad)\n"
        f"  |difference| = {abs(got - expected):.3g} > tolerance {tol:.3g}\n"
        f"  direction v = {_short(v)}\n"
        f"  gradient = {_short(g)}"
    )
    if np.iscomplexobj(g) and abs(_pair(np.conj(g), v) - expected) <= tol:
        message += (
            "\n  the conjugate of the gradient agrees: tracegrad's convention for complex "
            "inputs is df/dx - i df/dy (docs/sharp-bits.md#complex-numbers); a rule written "
            "for df/dx + i df/dy is conjugated"
        )
    return message


def _check_forward(
    f: Callable,
    args: tuple,
    point: _Point,
    directions: list[Any],
    expected: float,
    tol: float,
    order: int,
) -> None:
    """``jvp(f)`` along every differentiated leaf's direction at once, against differences."""
    from ..transforms import jvp

    tangent_leaves = [np.zeros(np.shape(x), _dtype(x)) if is_differentiable_leaf(x) else x for
                      x in point.leaves]  # fmt: skip
    for k, v in zip(point.wrt, directions, strict=True):
        leaf = point.leaves[k]
        python = isinstance(leaf, float | complex)
        tangent_leaves[k] = v if python else np.asarray(v, dtype=_dtype(leaf))
    tangents = tree_unflatten(point.treedef, tangent_leaves)
    _, t_out = jvp(f, args, tangents)
    got = _scalar(np.asarray(t_out, dtype=np.float64), point.name)
    if not abs(got - expected) <= tol:
        raise AssertionError(
            f"check_grads({point.name}, order={order}, mode='fwd'): jvp disagrees with central "
            f"differences along the random directions of every differentiated leaf\n"
            f"  expected J v = {expected!r} (finite differences)\n"
            f"  got      J v = {got!r} (tracegrad.jvp)\n"
            f"  |difference| = {abs(got - expected):.3g} > tolerance {tol:.3g}"
        )


def _directional_grad(
    f: Callable, argnums: tuple[int, ...], directions: list[Any], name: str
) -> Callable[..., Any]:
    """``lambda *a: <grad f(a), v>``, itself differentiable with tracegrad."""
    grad_f = grad(f, argnums=argnums)

    def directional(*a: Any) -> Any:
        total: Any = 0.0
        for g, v in zip(tree_flatten(grad_f(*a))[0], directions, strict=True):
            dtype = g.dtype if hasattr(g, "dtype") else np.result_type(v)
            term = np.sum(g * np.asarray(v, dtype=dtype))
            total = total + (np.real(term) if np.dtype(dtype).kind == "c" else term)
        return total

    directional.__qualname__ = f"<grad {name}, v>"
    return directional


def _check_form(name: str, where: str, leaf: Any, g: Any) -> None:
    """A gradient leaf has its input's shape and dtype (a Python float gives a scalar)."""
    if isinstance(leaf, float | complex):
        kind = "f" if isinstance(leaf, float) else "c"
        ok = np.shape(g) == () and np.asarray(g).dtype.kind == kind
    else:
        # Gradients are in native byte order: a '>f8' input has a float64 gradient.
        native = leaf.dtype.newbyteorder("=")
        ok = np.shape(g) == np.shape(leaf) and np.asarray(g).dtype.newbyteorder("=") == native
    if not ok:
        raise AssertionError(
            f"check_grads({name}): the gradient for {where} is {_describe(g)} but the input "
            f"is {_describe(leaf)}"
        )


def _describe(x: Any) -> str:
    if isinstance(x, float | complex):
        return f"Python {type(x).__name__}"
    return f"{type(x).__name__} {np.asarray(x).dtype}{list(np.shape(x))}"


def _short(x: Any) -> str:
    return np.array2string(np.asarray(x), precision=4, threshold=12, max_line_width=88)


# =============================================================================================
# numerical_grad


def numerical_grad(
    f: Callable[..., Any],
    args: Sequence[Any],
    argnums: int | Sequence[int] = 0,
    eps: float | None = None,
) -> Any:
    """The gradient of scalar ``f`` at ``args`` by per-element central differences.

    Mirrors ``tracegrad.grad(f, argnums)(*args)``: the result has the structure of
    ``args[argnums]`` (a tuple of those for a tuple ``argnums``), with each leaf in its
    input's dtype.  Differences are evaluated in float64 where ``f`` allows it.  For a
    complex leaf each element's gradient is ``df/dx - i df/dy`` (``tracegrad.grad``'s
    convention), from differences along its real and its imaginary part.
    """
    args = tuple(args)
    nums = normalize_argnums(argnums, len(args), "numerical_grad")
    point = _Point(f, args, nums)
    results = []
    for k in point.wrt:
        leaf, base = point.leaves[k], point.base[k]
        if not is_differentiable_leaf(leaf):
            raise TypeError(f"numerical_grad: args{point.paths[k]} is not a float or complex leaf")
        is_complex = dtype_of(leaf).kind == "c"
        flat = np.zeros(np.size(base), np.complex128 if is_complex else np.float64)
        for i in range(flat.size):
            x_i = abs(np.asarray(base).reshape(-1)[i])
            h = eps if eps is not None else _STEP.get(point.eval_dtype, 1e-6) * max(1.0, x_i)
            flat[i] = _partial(point, k, i, h, 1.0)
            if is_complex:  # the imaginary part: df/dx - i df/dy
                flat[i] -= 1j * _partial(point, k, i, h, 1j)
        if isinstance(leaf, float | complex):
            results.append(type(leaf)(flat[0]))
        elif isinstance(leaf, np.generic):
            results.append(leaf.dtype.type(flat[0]))
        else:
            results.append(flat.reshape(leaf.shape).astype(leaf.dtype))
    it = iter(results)
    per_arg = []
    for n in nums:
        leaves, treedef = tree_flatten(args[n])
        per_arg.append(tree_unflatten(treedef, [next(it) for _ in leaves]))
    return per_arg[0] if isinstance(argnums, int) else tuple(per_arg)


def _partial(point: _Point, k: int, i: int, h: float, unit: complex) -> float:
    """The central difference of ``f`` along ``unit`` in element ``i`` of leaf ``k``."""
    base = point.base[k]
    step = np.zeros(np.size(base), np.result_type(base, unit))
    step[i] = unit * h
    shaped = step.reshape(np.shape(base)) if np.shape(base) else step[0].item()
    return (point.at(k, shaped) - point.at(k, -shaped)) / (2 * h)


# =============================================================================================
# numerical_jacobian


def numerical_jacobian(
    f: Callable[..., Any],
    args: Sequence[Any],
    argnums: int | Sequence[int] = 0,
    eps: float | None = None,
) -> Any:
    """The Jacobian of ``f`` at ``args`` by per-element central differences.

    Laid out like ``tracegrad.jacobian(f, argnums)(*args)``: for an output leaf of shape
    ``S_o`` and an argument leaf of shape ``S_i`` the block has shape ``S_o + S_i``; the
    blocks have the structure of ``args[argnums]`` (a tuple of those for a tuple
    ``argnums``) and, for a pytree output, the output's structure holds such results.
    Differences are evaluated in float64 where ``f`` allows it; blocks are float64, or
    complex128 where the output or the argument is complex.  A complex argument of a real
    output gives ``df/dx - i df/dy`` (``tracegrad.jacrev``'s convention); a complex argument
    of a complex output is refused, as the derivative is not a complex number unless ``f`` is
    holomorphic.
    """
    args = tuple(args)
    nums = normalize_argnums(argnums, len(args), "numerical_jacobian")
    leaves, treedef = tree_flatten(args)
    paths = [p for p, _ in tree_leaves_with_path(args)]
    owner = [i for i, a in enumerate(args) for _ in tree_flatten(a)[0]]
    base = [_upcast(x) for x in leaves]

    outs, out_tree = tree_flatten(f(*tree_unflatten(treedef, base)))
    out_shapes = [np.shape(o) for o in outs]
    eval_dtype = np.result_type(*[np.asarray(o).dtype for o in outs]) if outs else np.float64
    rel = _STEP.get(np.dtype(eval_dtype), 1e-6)
    wide = np.dtype(np.complex128 if np.dtype(eval_dtype).kind == "c" else np.float64)

    def difference(k: int, i: int, h: float, unit: complex) -> list[np.ndarray]:
        """Every output leaf's central difference along ``unit`` in element ``i`` of leaf
        ``k``."""
        step = np.zeros(np.size(base[k]), np.result_type(base[k], unit))
        step[i] = unit * h
        shaped = step.reshape(np.shape(base[k])) if np.shape(base[k]) else step[0].item()
        plus, minus = list(base), list(base)
        plus[k], minus[k] = _shift(base[k], shaped), _shift(base[k], -shaped)
        pairs = zip(tree_flatten(f(*tree_unflatten(treedef, plus)))[0],
                    tree_flatten(f(*tree_unflatten(treedef, minus)))[0], strict=True)  # fmt: skip
        return [(np.asarray(p, wide) - np.asarray(m, wide)) / (2 * h) for p, m in pairs]

    def block(k: int) -> list[np.ndarray]:
        """The Jacobian of every output leaf with respect to input leaf ``k``."""
        leaf = leaves[k]
        if not is_differentiable_leaf(leaf):
            raise TypeError(f"numerical_jacobian: args{paths[k]} is not a float or complex leaf")
        is_complex = dtype_of(leaf).kind == "c"
        if is_complex and wide.kind == "c":
            raise TypeError(
                f"numerical_jacobian: args{paths[k]} and an output are complex; the derivative "
                "is a complex number only for a holomorphic f. Take np.real and np.imag of the "
                "output separately."
            )
        x = np.asarray(base[k])
        kind = np.complex128 if is_complex else wide
        columns = [np.zeros(shape + (x.size,), kind) for shape in out_shapes]
        for i in range(x.size):
            h = eps if eps is not None else rel * max(1.0, abs(x.reshape(-1)[i]))
            along_real = difference(k, i, h, 1.0)
            along_imag = difference(k, i, h, 1j) if is_complex else [0.0] * len(columns)
            for c, d_re, d_im in zip(columns, along_real, along_imag, strict=True):
                c[..., i] = d_re - 1j * d_im if is_complex else d_re
        return [c.reshape(shape + x.shape) for c, shape in zip(columns, out_shapes, strict=True)]

    per_input = {k: block(k) for k, o in enumerate(owner) if o in nums}
    results = []
    for j in range(len(outs)):
        per_arg = []
        for n in nums:
            arg_leaves, arg_tree = tree_flatten(args[n])
            first = owner.index(n) if arg_leaves else 0
            blocks = [per_input[first + m][j] for m in range(len(arg_leaves))]
            per_arg.append(tree_unflatten(arg_tree, blocks))
        results.append(per_arg[0] if isinstance(argnums, int) else tuple(per_arg))
    return results[0] if out_tree.is_leaf else tree_unflatten(out_tree, results)
