"""The primitive registry: every primitive declared once, complete when it is created.

A declaration holds, side by side: the shape/dtype rule, the NumPy
implementation (the reference semantics), the VJP rule, the code-generation
template and the algebra the passes may use (commutativity, units, no-op
cases).  VJP rules are written with the primitives themselves (through
:func:`bind`), so the backward pass they produce is IR and can be
differentiated again.  A rule that needs a primitive declared further down
names it inside its body, which runs only when the rule is applied.

A VJP rule has the signature ``rule(ct, out, *inputs, **params)`` and returns
one cotangent per input, or ``None`` for "no gradient flows here".
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from .ir import Aval
from .tracing import bind

REGISTRY: dict[str, Primitive] = {}


class Kind(str, enum.Enum):
    """What a primitive is, to the passes and the code generator.

    A ``str`` enum: ``prim.kind == "unary"`` holds for ``Kind.UNARY``.
    """

    UNARY = "unary"  # elementwise, one operand: a ``scalar`` template
    BINARY = "binary"  # elementwise, two operands with NumPy broadcasting
    COMPARE = "compare"  # elementwise with a bool result
    LOGICAL = "logical"  # elementwise on bools
    SELECT = "select"  # np.where
    CAST = "cast"  # dtype conversion
    REDUCE = "reduce"  # a fold over axes: ``scalar`` over {acc} and {0}, from ``identity``
    STRUCTURAL = "structural"  # moves data: ``index_map`` and/or ``emit``
    SCAN = "scan"  # a recurrence along one axis: ``emit``
    INDEX = "index"  # integer positions (argmax, argsort): ``emit``
    LINALG = "linalg"  # matrix products and LAPACK: ``emit``
    GRADIENT_MARKER = "gradient_marker"  # steers differentiation; passes.lower removes it
    CONTROL = "control"  # a loop or a branch over sub-programs (core/control_flow.py)

    def __str__(self) -> str:
        return self.value

    @property
    def elementwise(self) -> bool:
        return self in _ELEMENTWISE


_ELEMENTWISE = frozenset(
    {Kind.UNARY, Kind.BINARY, Kind.COMPARE, Kind.LOGICAL, Kind.SELECT, Kind.CAST}
)
_MOVES_DATA = frozenset({Kind.STRUCTURAL, Kind.GRADIENT_MARKER})


@dataclass(frozen=True, eq=False, kw_only=True)
class Primitive:
    """One operation of the IR, with everything the pipeline needs to know about it."""

    name: str
    kind: Kind
    shape_rule: Callable[..., Aval]
    impl: Callable[..., Any]  # for elementwise kinds, the NumPy ufunc where there is one
    vjp: Callable[..., Sequence[Any]] | None = None
    # Elementwise kinds: a Python expression over scalars {0}, {1}, ... used inside fused loops.
    scalar: str | None = None
    # The same with tracegrad.backend.vecmath's kernels in place of libm calls ({f} is f32 or f64):
    # LLVM vectorises those, so codegen prefers this over ``scalar`` in loops over arrays.
    vector: str | None = None
    # Whether complex operands are accepted (else abstract_eval refuses them, naming the
    # primitive; by default only kinds that move data accept them), and their template where
    # ``scalar`` does not serve (cmath, not math).
    complex: bool | None = None
    complex_scalar: str | None = None
    # Code generation for the other kinds (see tracegrad/backend/emit.py):
    # emit(w, out, *inputs, **params) writes the statements computing ``out`` with the
    # helpers of backend.writer.Writer; inputs and out are backend.writer.Operands.
    emit: Callable[..., None] | None = None
    # Views: index_map(out_index, x_aval, out_aval, **params) -> the input's index (a list of
    # Python expressions), so that fused loops read the input directly; None if not cheap.
    index_map: Callable[..., list[str] | None] | None = None
    # Reductions: the accumulator's starting value (the template uses {acc}).
    identity: float | None = None
    # Algebra, read by passes.py (simplify and cse):
    commutative: bool = False  # f(x, y) == f(y, x)
    unit: float | None = None  # f(x, unit) == x (and f(unit, x) == x if commutative)
    # noop_if(**params): True when f(x) == x wherever the result's aval equals x's.
    noop_if: Callable[..., bool] | None = None
    involution: bool = False  # f(f(x)) == x
    collapses: bool = False  # f(f(x, **inner), **params) == f(x, **params)
    # Higher-order primitives with several results: one equation per result, told apart by
    # the ``index`` param and sharing inputs and other params (a *group*).  impl_all(*inputs,
    # **params) computes every result at once; vjp_all(cts, *inputs, **params) takes the
    # cotangents of the whole group ({index: ct}) so the backward loop runs once.
    impl_all: Callable[..., list[Any]] | None = None
    vjp_all: Callable[..., Sequence[Any]] | None = None
    # prune(used, **params) -> (params, {old index: new index}) without the results no
    # equation reads (passes.prune_loops), or None when none can go.
    prune: Callable[..., tuple[dict[str, Any], dict[int, int]] | None] | None = None

    def __post_init__(self) -> None:
        if self.name in REGISTRY:
            raise ValueError(f"primitive {self.name!r} declared twice")
        object.__setattr__(self, "kind", Kind(self.kind))
        if self.complex is None:
            object.__setattr__(self, "complex", self.kind in _MOVES_DATA)
        REGISTRY[self.name] = self

    def __call__(self, *args: Any, **params: Any) -> Any:
        return bind(self, *args, **params)

    def abstract_eval(self, *avals: Aval, **params: Any) -> Aval:
        """The shape rule where equations are made and checked (tracing, ``ir.check``), after
        refusing the complex operands the primitive does not accept."""
        if not self.complex and any(a.dtype.kind == "c" for a in avals):
            got = ", ".join(map(str, avals))
            raise DTypeError(
                f"{self.name} does not support complex operands (got {got}); see "
                "docs/sharp-bits.md#complex-numbers, or apply it to np.real(z), np.imag(z)."
            )
        return self.shape_rule(*avals, **params)

    def __repr__(self) -> str:
        return self.name

    @property
    def elementwise(self) -> bool:
        return self.kind.elementwise


def _always(**params: Any) -> bool:
    return True


# =============================================================================================
# Shape and dtype rules


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    ndim = max((len(s) for s in shapes), default=0)
    result = []
    for axis in range(ndim):
        size = 1
        for s in shapes:
            offset = axis - (ndim - len(s))
            if offset < 0:
                continue
            d = s[offset]
            if d == 1:
                continue
            if size not in (1, d):
                listed = " and ".join(str(tuple(s)) for s in shapes)
                raise ShapeError(
                    f"operands with shapes {listed} cannot be broadcast together "
                    f"(axis {axis - ndim} has sizes {size} and {d}). Reshape one operand, "
                    "e.g. x[:, None], so that each axis matches or is 1."
                )
            size = d
        result.append(size)
    return tuple(result)


def _float_dtype(prim: str, *avals: Aval) -> np.dtype:
    dtype = avals[0].dtype
    for a in avals:
        if a.dtype != dtype:
            raise DTypeError(f"{prim}: operand dtypes differ ({a.dtype} vs {dtype})")
    return dtype


def _unary_rule(name: str, floats_only: bool) -> Callable[..., Aval]:
    def rule(x: Aval) -> Aval:
        if floats_only and x.dtype.kind not in "fc":
            raise DTypeError(f"{name} needs a float operand, got {x.dtype}")
        return x

    return rule


def _binary_rule(name: str, out_dtype: Any = None) -> Callable[..., Aval]:
    def rule(x: Aval, y: Aval) -> Aval:
        dtype = _float_dtype(name, x, y)
        return Aval(broadcast_shapes(x.shape, y.shape), out_dtype or dtype)

    return rule


# =============================================================================================
# Helpers used by rules.  They accept arrays or Tracers; Python numbers take the other
# operand's dtype, as NumPy 2 does for a Python scalar.


def const(value: Any, like: Any) -> np.ndarray:
    return np.asarray(value, dtype=like.dtype)


def unbroadcast(ct: Any, shape: tuple[int, ...]) -> Any:
    """Sum ``ct`` over the axes that broadcasting added or stretched to reach ``shape``."""
    ct_shape = tuple(ct.shape)
    if ct_shape == tuple(shape):
        return ct
    lead = len(ct_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and ct_shape[lead + i] != 1
    )
    return reshaped(reduce_sum(ct, axes=axes) if axes else ct, shape)


def reshaped(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` reshaped to ``shape``; ``x`` itself if it has that shape already."""
    return x if tuple(x.shape) == tuple(shape) else reshape(x, shape=tuple(shape))


def broadcast_like(x: Any, shape: tuple[int, ...]) -> Any:
    """``x`` broadcast to ``shape``; ``x`` itself if it has that shape already."""
    return x if tuple(x.shape) == tuple(shape) else broadcast_to(x, shape=tuple(shape))


def expand_reduced(ct: Any, in_shape: tuple[int, ...], axes: tuple[int, ...]) -> Any:
    """Undo a reduction's shape: re-insert ``axes`` as size 1, then broadcast to ``in_shape``."""
    kept = tuple(1 if i in axes else d for i, d in enumerate(in_shape))
    return broadcast_like(reshaped(ct, kept), in_shape)


def as_float(mask: Any, like: Any) -> Any:
    return convert(mask, dtype=like.dtype)


# =============================================================================================
# Elementwise unary


def unary(*, name: str, floats_only: bool = True, **fields: Any) -> Primitive:
    """An elementwise primitive of one operand, whose result has the operand's dtype."""
    rule = _unary_rule(name, floats_only)
    return Primitive(name=name, kind=Kind.UNARY, shape_rule=rule, **fields)


neg = unary(
    name="neg",
    impl=np.negative,
    vjp=lambda ct, out, x: (neg(ct),),
    scalar="-{0}",
    floats_only=False,
    involution=True,
    complex=True,
)
exp = unary(
    name="exp",
    impl=np.exp,
    vjp=lambda ct, out, x: (mul(ct, out),),
    scalar="math.exp({0})",
    complex=True,
    complex_scalar="cmath.exp({0})",
    vector="_vm_exp_{f}({0})",
)
log = unary(
    name="log",
    impl=np.log,
    vjp=lambda ct, out, x: (div(ct, x),),
    scalar="math.log({0})",
    complex=True,
    complex_scalar="cmath.log({0})",
    vector="_vm_log_{f}({0})",
)
log1p = unary(
    name="log1p",
    impl=np.log1p,
    vjp=lambda ct, out, x: (div(ct, add(x, const(1, x))),),
    scalar="math.log1p({0})",
    vector="_vm_log1p_{f}({0})",
    complex=True,
    complex_scalar="cmath.log(1.0 + {0})",  # NumPy's complex log1p is this formula too
)
expm1 = unary(
    name="expm1",
    impl=np.expm1,
    vjp=lambda ct, out, x: (mul(ct, add(out, const(1, x))),),
    scalar="math.expm1({0})",
    vector="_vm_expm1_{f}({0})",
    complex=True,
    # NumPy's formula: the real part e^x cos y - 1 as expm1(x) cos y - 2 sin^2(y / 2).
    complex_scalar=(
        "complex(math.expm1({0}.real) * math.cos({0}.imag) - 2.0 * math.sin(0.5 * {0}.imag) "
        "** 2, math.exp({0}.real) * math.sin({0}.imag))"
    ),
)
sin = unary(
    name="sin",
    impl=np.sin,
    vjp=lambda ct, out, x: (mul(ct, cos(x)),),
    scalar="math.sin({0})",
    complex=True,
    complex_scalar="cmath.sin({0})",
    vector="_vm_sin_{f}({0})",
)
cos = unary(
    name="cos",
    impl=np.cos,
    vjp=lambda ct, out, x: (neg(mul(ct, sin(x))),),
    scalar="math.cos({0})",
    complex=True,
    complex_scalar="cmath.cos({0})",
    vector="_vm_cos_{f}({0})",
)
tan = unary(
    name="tan",
    impl=np.tan,
    vjp=lambda ct, out, x: (mul(ct, add(const(1, x), mul(out, out))),),
    scalar="math.tan({0})",
    complex=True,
    complex_scalar="cmath.tan({0})",
)
tanh = unary(
    name="tanh",
    impl=np.tanh,
    vjp=lambda ct, out, x: (mul(ct, sub(const(1, x), mul(out, out))),),
    scalar="math.tanh({0})",
    complex=True,
    complex_scalar="cmath.tanh({0})",
    vector="_vm_tanh_{f}({0})",
)
sqrt = unary(
    name="sqrt",
    impl=np.sqrt,
    vjp=lambda ct, out, x: (div(mul(ct, const(0.5, x)), out),),
    scalar="math.sqrt({0})",
    complex=True,
    complex_scalar="cmath.sqrt({0})",
)
abs_ = unary(
    name="abs",
    impl=np.abs,
    vjp=lambda ct, out, x: (mul(ct, sign(x)),),
    scalar="abs({0})",
    floats_only=False,
)
sign = unary(
    name="sign",
    impl=np.sign,
    vjp=None,
    scalar="(1.0 if {0} > 0 else (-1.0 if {0} < 0 else {0}))",
    floats_only=False,
)


def _logistic_impl(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) = inf gives 1 / inf = 0, the right limit
        return 1 / (1 + np.exp(-x))


# The derivative s(x) (1 - s(x)) as s(x) s(-x): 1 - s(x) would cancel to 0 for large x.
logistic = unary(
    name="logistic",
    impl=_logistic_impl,
    vjp=lambda ct, out, x: (mul(ct, mul(out, logistic(neg(x)))),),
    scalar="1.0 / (1.0 + math.exp(-{0}))",
    vector="1.0 / (1.0 + _vm_exp_{f}(-{0}))",
)
arctan = unary(
    name="arctan",
    impl=np.arctan,
    vjp=lambda ct, out, x: (div(ct, add(const(1, x), mul(x, x))),),
    scalar="math.atan({0})",
)
# Piecewise constant: zero derivative almost everywhere, so no VJP rule.


def _integral(fn: str) -> str:
    """A rounding template: math.floor and friends return Python ints, which cannot hold
    inf, nan or floats past 2**63; floats from 2**52 up are integral already.  The sign is
    the operand's, so that -0.5 rounds to -0.0 as in NumPy."""
    rounded = f"math.copysign(float(math.{fn}({{0}})), {{0}})"
    return f"({rounded} if abs({{0}}) < 4503599627370496.0 else {{0}})"


floor = unary(name="floor", impl=np.floor, vjp=None, scalar=_integral("floor"))
ceil = unary(name="ceil", impl=np.ceil, vjp=None, scalar=_integral("ceil"))
trunc = unary(name="trunc", impl=np.trunc, vjp=None, scalar=_integral("trunc"))


def _integer_pow_rule(x: Aval, *, n: int) -> Aval:
    return x


def _integer_pow_impl(x: np.ndarray, *, n: int) -> np.ndarray:
    return np.power(x, n) if x.dtype.kind == "f" or n >= 0 else np.power(x * 1.0, n)


def _integer_pow_vjp(ct: Any, out: Any, x: Any, *, n: int) -> tuple:
    if n == 0:
        return (None,)
    if n == 1:
        return (ct,)
    lower = x if n == 2 else integer_pow(x, n=n - 1)
    return (mul(ct, mul(const(n, x), lower)),)


integer_pow = Primitive(
    name="integer_pow",
    kind=Kind.UNARY,
    shape_rule=_integer_pow_rule,
    impl=_integer_pow_impl,
    vjp=_integer_pow_vjp,
    scalar="{0} ** {n}",
    noop_if=lambda *, n: n == 1,
    complex=True,
)


# =============================================================================================
# Elementwise binary (NumPy broadcasting; operands share one dtype)


def binary(*, name: str, **fields: Any) -> Primitive:
    """An elementwise primitive of two operands of one dtype, broadcast as in NumPy."""
    return Primitive(name=name, kind=Kind.BINARY, shape_rule=_binary_rule(name), **fields)


add = binary(
    name="add",
    impl=np.add,
    vjp=lambda ct, out, x, y: (unbroadcast(ct, x.shape), unbroadcast(ct, y.shape)),
    scalar="{0} + {1}",
    commutative=True,
    unit=0,
    complex=True,
)
sub = binary(
    name="sub",
    impl=np.subtract,
    vjp=lambda ct, out, x, y: (unbroadcast(ct, x.shape), unbroadcast(neg(ct), y.shape)),
    scalar="{0} - {1}",
    unit=0,
    complex=True,
)
# No x * 0 -> 0: it would be wrong for x = inf or nan.
mul = binary(
    name="mul",
    impl=np.multiply,
    vjp=lambda ct, out, x, y: (
        unbroadcast(mul(ct, y), x.shape),
        unbroadcast(mul(ct, x), y.shape),
    ),
    scalar="{0} * {1}",
    commutative=True,
    unit=1,
    complex=True,
)
div = binary(
    name="div",
    impl=np.true_divide,
    vjp=lambda ct, out, x, y: (
        unbroadcast(div(ct, y), x.shape),
        unbroadcast(neg(div(mul(ct, out), y)), y.shape),
    ),
    scalar="{0} / {1}",
    unit=1,
    complex=True,
)


def _pow_vjp(ct: Any, out: Any, x: Any, y: Any) -> tuple:
    one = const(1, y)
    dx = mul(ct, mul(y, pow_(x, sub(y, one))))
    # d/dy x**y = x**y log x; where x == 0 the term is 0 (x**y is 0 there for y > 0).
    safe_log = log(select(eq(x, const(0, x)), const(1, x), x))
    dy = mul(ct, mul(out, safe_log))
    return unbroadcast(dx, x.shape), unbroadcast(dy, y.shape)


pow_ = binary(name="pow", impl=np.power, vjp=_pow_vjp, scalar="{0} ** {1}", complex=True)


def _split_ties(ct: Any, wins: Any, x: Any, y: Any) -> tuple:
    """max/min: ``ct`` goes where ``x`` ``wins``, to ``y`` elsewhere; ties split it evenly."""
    share = add(as_float(wins, ct), mul(as_float(eq(x, y), ct), const(0.5, ct)))
    dx = mul(ct, share)
    dy = sub(ct, dx)
    return unbroadcast(dx, x.shape), unbroadcast(dy, y.shape)


maximum = binary(
    name="max",
    impl=np.maximum,
    vjp=lambda ct, out, x, y: _split_ties(ct, gt(x, y), x, y),
    scalar="({0} if {0} > {1} or {0} != {0} else {1})",
    commutative=True,
)
minimum = binary(
    name="min",
    impl=np.minimum,
    vjp=lambda ct, out, x, y: _split_ties(ct, lt(x, y), x, y),
    scalar="({0} if {0} < {1} or {0} != {0} else {1})",
    commutative=True,
)


def _atan2_vjp(ct: Any, out: Any, y: Any, x: Any) -> tuple:
    denom = add(mul(x, x), mul(y, y))
    return (
        unbroadcast(div(mul(ct, x), denom), y.shape),
        unbroadcast(neg(div(mul(ct, y), denom)), x.shape),
    )


atan2 = binary(name="atan2", impl=np.arctan2, vjp=_atan2_vjp, scalar="math.atan2({0}, {1})")


# =============================================================================================
# Comparisons and logic (no gradient)


def compare(*, name: str, **fields: Any) -> Primitive:
    """An elementwise comparison: a bool result, no gradient."""
    rule = _binary_rule(name, np.bool_)
    return Primitive(name=name, kind=Kind.COMPARE, shape_rule=rule, **fields)


lt = compare(name="lt", impl=np.less, scalar="{0} < {1}")
le = compare(name="le", impl=np.less_equal, scalar="{0} <= {1}")
gt = compare(name="gt", impl=np.greater, scalar="{0} > {1}")
ge = compare(name="ge", impl=np.greater_equal, scalar="{0} >= {1}")
eq = compare(name="eq", impl=np.equal, scalar="{0} == {1}", commutative=True, complex=True)
ne = compare(name="ne", impl=np.not_equal, scalar="{0} != {1}", commutative=True, complex=True)


def _logical_rule(name: str) -> Callable[..., Aval]:
    def rule(*avals: Aval) -> Aval:
        for a in avals:
            if a.dtype != np.bool_:
                raise DTypeError(f"{name} needs bool operands, got {a.dtype}")
        return Aval(broadcast_shapes(*(a.shape for a in avals)), np.bool_)

    return rule


def logical(*, name: str, **fields: Any) -> Primitive:
    """An elementwise operation on bools."""
    return Primitive(name=name, kind=Kind.LOGICAL, shape_rule=_logical_rule(name), **fields)


logical_and = logical(name="and", impl=np.logical_and, scalar="{0} and {1}", commutative=True)
logical_or = logical(name="or", impl=np.logical_or, scalar="{0} or {1}", commutative=True)
logical_not = logical(name="not", impl=np.logical_not, scalar="not {0}")


def _isnan_rule(x: Aval) -> Aval:
    return Aval(x.shape, np.bool_)


isnan = Primitive(
    name="isnan",
    kind=Kind.COMPARE,
    shape_rule=_isnan_rule,
    impl=np.isnan,
    scalar="{0} != {0}",
    complex=True,
)


# =============================================================================================
# select (np.where) and dtype conversion


def _select_rule(cond: Aval, x: Aval, y: Aval) -> Aval:
    if cond.dtype != np.bool_:
        raise DTypeError(f"select needs a bool condition, got {cond.dtype}")
    dtype = _float_dtype("select", x, y)
    return Aval(broadcast_shapes(cond.shape, x.shape, y.shape), dtype)


def _select_vjp(ct: Any, out: Any, cond: Any, x: Any, y: Any) -> tuple:
    zero = const(0, ct)
    return (
        None,
        unbroadcast(select(cond, ct, zero), x.shape),
        unbroadcast(select(cond, zero, ct), y.shape),
    )


select = Primitive(
    name="select",
    kind=Kind.SELECT,
    shape_rule=_select_rule,
    impl=np.where,
    vjp=_select_vjp,
    scalar="({1} if {0} else {2})",
    complex=True,
)


def _convert_rule(x: Aval, *, dtype: np.dtype) -> Aval:
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        raise DTypeError(
            f"casting complex {x} to {np.dtype(dtype)} would drop the imaginary part (NumPy "
            "warns and drops it). Take np.real(z), np.imag(z) or np.abs(z) explicitly."
        )
    return Aval(x.shape, dtype)


def _convert_vjp(ct: Any, out: Any, x: Any, *, dtype: np.dtype) -> tuple:
    kind = np.dtype(x.dtype).kind
    if kind not in "fc":
        return (None,)
    if kind == "f" and np.dtype(ct.dtype).kind == "c":
        from .complex_primitives import real  # declared after this module

        ct = real(ct)  # a real x in a complex result: only the real part of ct pairs with dx
    return (convert(ct, dtype=np.dtype(x.dtype)),)


convert = Primitive(
    name="convert",
    kind=Kind.CAST,
    shape_rule=_convert_rule,
    impl=lambda x, *, dtype: x.astype(dtype),
    vjp=_convert_vjp,
    scalar="{0}",  # the store into a typed array does the cast; codegen adds explicit casts
    noop_if=_always,
    complex=True,
)


# =============================================================================================
# Reductions over ``axes`` (a sorted tuple); the reduced axes are removed


def _reduce_rule(name: str) -> Callable[..., Aval]:
    def rule(x: Aval, *, axes: tuple[int, ...]) -> Aval:
        if any(not 0 <= a < x.ndim for a in axes) or len(set(axes)) != len(axes):
            raise ShapeError(f"{name}: axes {axes} out of range for shape {x.shape}")
        if name not in ("reduce_sum", "reduce_prod") and any(x.shape[a] == 0 for a in axes):
            raise ShapeError(f"{name}: zero-size axis in {x.shape} has no identity")
        return Aval(tuple(d for i, d in enumerate(x.shape) if i not in axes), x.dtype)

    return rule


def _sum_vjp(ct: Any, out: Any, x: Any, *, axes: tuple[int, ...]) -> tuple:
    return (expand_reduced(ct, tuple(x.shape), axes),)


def _extremum_reduce_vjp(ct: Any, out: Any, x: Any, *, axes: tuple[int, ...]) -> tuple:
    shape = tuple(x.shape)
    hit = eq(x, expand_reduced(out, shape, axes))
    count = reduce_sum(as_float(hit, ct), axes=axes)
    share = expand_reduced(div(ct, count), shape, axes)
    return (select(hit, share, const(0, ct)),)


def reduction(
    *, name: str, numpy_fn: Callable, vjp: Callable, scalar: str, identity: float, **fields: Any
) -> Primitive:
    """A reduction over ``axes``: ``scalar`` folds ``{0}`` into the accumulator ``{acc}``,
    which starts at ``identity``."""
    return Primitive(
        name=name,
        kind=Kind.REDUCE,
        shape_rule=_reduce_rule(name),
        impl=lambda x, *, axes: numpy_fn(x, axis=axes),
        vjp=vjp,
        scalar=scalar,
        identity=identity,
        **fields,
    )


reduce_sum = reduction(
    name="reduce_sum",
    numpy_fn=np.sum,
    vjp=_sum_vjp,
    scalar="{acc} + {0}",
    identity=0.0,
    complex=True,
)
# NaN propagates, as in NumPy.
# Complex numbers are ordered as NumPy orders them: by real part, then by imaginary part.
reduce_max = reduction(
    name="reduce_max",
    numpy_fn=np.max,
    vjp=_extremum_reduce_vjp,
    scalar="({0} if {0} > {acc} or {0} != {0} else {acc})",
    identity=-math.inf,
    complex=True,
    complex_scalar=(
        "({0} if {0}.real > {acc}.real or ({0}.real == {acc}.real and {0}.imag > {acc}.imag)"
        " or {0} != {0} else {acc})"
    ),
)
reduce_min = reduction(
    name="reduce_min",
    numpy_fn=np.min,
    vjp=_extremum_reduce_vjp,
    scalar="({0} if {0} < {acc} or {0} != {0} else {acc})",
    identity=math.inf,
    complex=True,
    complex_scalar=(
        "({0} if {0}.real < {acc}.real or ({0}.real == {acc}.real and {0}.imag < {acc}.imag)"
        " or {0} != {0} else {acc})"
    ),
)


# =============================================================================================
# Structure: broadcast_to, reshape, transpose, slice and its adjoint, concatenate


def _broadcast_to_rule(x: Aval, *, shape: tuple[int, ...]) -> Aval:
    if broadcast_shapes(x.shape, shape) != tuple(shape):
        raise ShapeError(f"cannot broadcast shape {x.shape} to {shape}")
    return Aval(shape, x.dtype)


def _broadcast_to_index(index: list[str], x: Aval, out: Aval, *, shape: tuple) -> list[str]:
    lead = len(shape) - x.ndim
    return ["0" if d == 1 else index[lead + j] for j, d in enumerate(x.shape)]


broadcast_to = Primitive(
    name="broadcast_to",
    kind=Kind.STRUCTURAL,
    shape_rule=_broadcast_to_rule,
    impl=lambda x, *, shape: np.broadcast_to(x, shape).copy(),
    vjp=lambda ct, out, x, *, shape: (unbroadcast(ct, tuple(x.shape)),),
    index_map=_broadcast_to_index,  # no emitter: codegen stores it with a copy loop
    noop_if=_always,
)


def _reshape_rule(x: Aval, *, shape: tuple[int, ...]) -> Aval:
    if math.prod(shape) != x.size:
        raise ShapeError(f"cannot reshape an array of shape {x.shape} into shape {shape}")
    return Aval(shape, x.dtype)


def _reshape_index(index: list[str], x: Aval, out: Aval, *, shape: tuple) -> list[str] | None:
    """Only reshapes that add or drop size-1 axes are free index arithmetic."""
    if [d for d in x.shape if d != 1] != [d for d in shape if d != 1]:
        return None
    kept = iter(e for e, d in zip(index, shape, strict=True) if d != 1)
    return ["0" if d == 1 else next(kept) for d in x.shape]


def _reshape_emit(w: Any, out: Any, x: Any, *, shape: tuple) -> None:
    # Views and copies go through numba_support's intrinsics: Numba's ``x.reshape`` compiles
    # a subroutine per rank pair, and ``out[...] = x.reshape(..)`` its generic fancy setitem
    # (7 of the 7.3 s a logistic regression took to compile).
    if out.aval.ndim == 0:
        w.line(f"{out} = {w.index(x, ['0'] * x.aval.ndim)}")
    elif x.aval.ndim == 0:
        w.alloc(out, fill=x.name)
    elif x.layout != "C":  # a transposed view: copy it in C order through a view of out
        w.alloc(out)
        target = w.fresh("v")
        w.line(f"{target} = {w.view(out, x.aval.shape)}")
        with w.loops(x.aval.shape) as index:
            w.line(f"{target}[{', '.join(index)}] = {w.index(x, index)}")
    elif w.preallocated(out):
        w.copy(out, x)
    else:
        w.line(f"{out} = {w.view(x, shape)}")


reshape = Primitive(
    name="reshape",
    kind=Kind.STRUCTURAL,
    shape_rule=_reshape_rule,
    impl=lambda x, *, shape: np.reshape(x, shape),
    vjp=lambda ct, out, x, *, shape: (reshape(ct, shape=tuple(x.shape)),),
    index_map=_reshape_index,
    emit=_reshape_emit,
    noop_if=_always,
    collapses=True,
)


def _transpose_rule(x: Aval, *, perm: tuple[int, ...]) -> Aval:
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {perm} is not a permutation of the axes of {x.shape}")
    return Aval(tuple(x.shape[p] for p in perm), x.dtype)


def _transpose_index(index: list[str], x: Aval, out: Aval, *, perm: tuple) -> list[str]:
    source = [""] * len(perm)
    for k, p in enumerate(perm):
        source[p] = index[k]
    return source


def _transpose_emit(w: Any, out: Any, x: Any, *, perm: tuple) -> None:
    # Not for a size-1 axis: that view is C- and F-contiguous, so Numba types it "C" when it is
    # passed between the generated functions, and the "F" signature would not match.
    if x.aval.ndim == 2 and x.layout == "C" and 1 not in x.aval.shape and not w.preallocated(out):
        w.line(f"{out} = {x}.T")  # a Fortran-order view: np.dot takes it without a copy
        w.set_layout(out, "F")
        return
    w.alloc(out)
    with w.loops(out.aval.shape) as index:
        w.line(f"{w.index(out, index)} = {w.index(x, _transpose_index(index, x, out, perm=perm))}")


transpose = Primitive(
    name="transpose",
    kind=Kind.STRUCTURAL,
    shape_rule=_transpose_rule,
    impl=lambda x, *, perm: np.transpose(x, perm),
    vjp=lambda ct, out, x, *, perm: (transpose(ct, perm=tuple(np.argsort(perm).tolist())),),
    index_map=_transpose_index,
    emit=_transpose_emit,
    noop_if=lambda *, perm: perm == tuple(range(len(perm))),
)


def slice_indices(start: tuple[int, ...], step: tuple[int, ...], shape: tuple[int, ...]) -> tuple:
    """NumPy index selecting ``shape[i]`` elements from ``start[i]`` by ``step[i]``."""
    index = []
    for b, s, n in zip(start, step, shape, strict=True):
        stop = b + s * n
        index.append(slice(b, stop if stop >= 0 else None, s))
    return tuple(index)


def _slice_rule(
    x: Aval, *, start: tuple[int, ...], step: tuple[int, ...], shape: tuple[int, ...]
) -> Aval:
    for d, b, s, n in zip(x.shape, start, step, shape, strict=True):
        last = b + s * (n - 1)
        if n and not (0 <= b < d and 0 <= last < d):
            raise ShapeError(f"slice out of bounds: start {start} step {step} on {x.shape}")
    return Aval(shape, x.dtype)


def _slice_impl(x, *, start, step, shape):
    return x[slice_indices(start, step, shape)]


def _affine(index: str, start: int, step: int) -> str:
    """The text of ``start + step * index``, simplified."""
    if index == "0":
        return str(start)
    scaled = index if step == 1 else f"{step} * {index}"
    return scaled if start == 0 else f"{start} + {scaled}"


def _slice_index(index: list[str], x: Aval, out: Aval, *, start, step, shape) -> list[str]:
    return [_affine(e, b, s) for e, b, s in zip(index, start, step, strict=True)]


slice_ = Primitive(
    name="slice",
    kind=Kind.STRUCTURAL,
    shape_rule=_slice_rule,
    impl=_slice_impl,
    vjp=lambda ct, out, x, *, start, step, shape: (
        unslice(ct, start=start, step=step, shape=tuple(x.shape)),
    ),
    index_map=_slice_index,  # no emitter: codegen stores it with a copy loop
)


def _unslice_rule(
    x: Aval, *, start: tuple[int, ...], step: tuple[int, ...], shape: tuple[int, ...]
) -> Aval:
    _slice_rule(Aval(shape, x.dtype), start=start, step=step, shape=x.shape)
    return Aval(shape, x.dtype)


def _unslice_impl(x, *, start, step, shape):
    out = np.zeros(shape, x.dtype)
    out[slice_indices(start, step, x.shape)] = x
    return out


def _unslice_emit(w: Any, out: Any, x: Any, *, start, step, shape) -> None:
    w.alloc(out, fill=w.cast("0", out.aval))
    with w.loops(x.aval.shape) as index:
        target = [_affine(e, b, s) for e, b, s in zip(index, start, step, strict=True)]
        w.line(f"{w.index(out, target)} = {w.index(x, index)}")


unslice = Primitive(
    name="unslice",
    kind=Kind.STRUCTURAL,
    shape_rule=_unslice_rule,
    impl=_unslice_impl,
    vjp=lambda ct, out, x, *, start, step, shape: (
        slice_(ct, start=start, step=step, shape=tuple(x.shape)),
    ),
    emit=_unslice_emit,
)


def _concatenate_rule(*xs: Aval, axis: int) -> Aval:
    first = xs[0]
    for x in xs:
        if x.ndim != first.ndim or any(
            a != b for i, (a, b) in enumerate(zip(x.shape, first.shape, strict=True)) if i != axis
        ):
            shapes = ", ".join(str(x.shape) for x in xs)
            raise ShapeError(f"concatenate along axis {axis}: shapes {shapes} do not match")
    _float_dtype("concatenate", *xs)
    size = sum(x.shape[axis] for x in xs)
    return Aval(first.shape[:axis] + (size,) + first.shape[axis + 1 :], first.dtype)


def _concatenate_vjp(ct: Any, out: Any, *xs: Any, axis: int) -> tuple:
    cts = []
    offset = 0
    for x in xs:
        shape = tuple(x.shape)
        start = tuple(offset if i == axis else 0 for i in range(len(shape)))
        cts.append(slice_(ct, start=start, step=(1,) * len(shape), shape=shape))
        offset += shape[axis]
    return tuple(cts)


def _concatenate_emit(w: Any, out: Any, *xs: Any, axis: int) -> None:
    w.alloc(out)
    offset = 0
    for x in xs:
        with w.loops(x.aval.shape) as index:
            target = list(index)
            target[axis] = _affine(index[axis], offset, 1)
            w.line(f"{w.index(out, target)} = {w.index(x, index)}")
        offset += x.aval.shape[axis]


concatenate = Primitive(
    name="concatenate",
    kind=Kind.STRUCTURAL,
    shape_rule=_concatenate_rule,
    impl=lambda *xs, axis: np.concatenate(xs, axis=axis),
    vjp=_concatenate_vjp,
    emit=_concatenate_emit,
)


# =============================================================================================
# Gather along one axis with integer indices, and its adjoint scatter-add


def _take_rule(x: Aval, idx: Aval, *, axis: int) -> Aval:
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"take: indices must be integers, got {idx.dtype}")
    return Aval(x.shape[:axis] + idx.shape + x.shape[axis + 1 :], x.dtype)


def _checked_index(w: Any, idx: Any, at: list[str], size: int) -> str:
    """Read an index into a local; negative ones count from the end (as in np.take), and
    out-of-range ones raise IndexError (as NumPy does).

    Without the check Numba would read or write outside the array: a wrong result or a
    crash instead of an error.
    """
    j = w.fresh("j")
    w.line(f"{j} = {w.index(idx, at)}")
    w.line(f"if {j} < 0:")
    with w.indented():
        w.line(f"{j} += {size}")
    w.line(f"if {j} < 0 or {j} >= {size}:")
    with w.indented():
        w.line(f'raise IndexError("index out of bounds for an axis of size {size}")')
    return j


def _take_emit(w: Any, out: Any, x: Any, idx: Any, *, axis: int) -> None:
    k = idx.aval.ndim
    w.alloc(out)
    with w.loops(out.aval.shape) as o:
        j = _checked_index(w, idx, o[axis : axis + k], x.aval.shape[axis])
        w.line(f"{w.index(out, o)} = {w.index(x, o[:axis] + [j] + o[axis + k :])}")


take = Primitive(
    name="take",
    kind=Kind.STRUCTURAL,
    shape_rule=_take_rule,
    impl=lambda x, idx, *, axis: np.take(x, idx, axis=axis),
    vjp=lambda ct, out, x, idx, *, axis: (
        scatter_add(ct, idx, axis=axis, size=tuple(x.shape)[axis]),
        None,
    ),
    emit=_take_emit,
)


def _scatter_add_rule(x: Aval, idx: Aval, *, axis: int, size: int) -> Aval:
    return Aval(x.shape[:axis] + (size,) + x.shape[axis + idx.ndim :], x.dtype)


def _scatter_add_impl(x, idx, *, axis, size):
    shape = x.shape[:axis] + (size,) + x.shape[axis + idx.ndim :]
    out = np.zeros(shape, x.dtype)
    moved = np.moveaxis(out, axis, 0)
    # idx.size, not -1: with an empty axis among the others, -1 is ambiguous.
    src = x.reshape(x.shape[:axis] + (idx.size,) + x.shape[axis + idx.ndim :])
    src = np.moveaxis(src, axis, 0)
    np.add.at(moved, idx.reshape(-1), src)
    return out


def _scatter_add_emit(w: Any, out: Any, x: Any, idx: Any, *, axis: int, size: int) -> None:
    k = idx.aval.ndim
    w.alloc(out, fill=w.cast("0", out.aval))
    with w.loops(x.aval.shape) as i:
        j = _checked_index(w, idx, i[axis : axis + k], size)
        w.line(f"{w.index(out, i[:axis] + [j] + i[axis + k :])} += {w.index(x, i)}")


scatter_add = Primitive(
    name="scatter_add",
    kind=Kind.STRUCTURAL,
    shape_rule=_scatter_add_rule,
    impl=_scatter_add_impl,
    vjp=lambda ct, out, x, idx, *, axis, size: (take(ct, idx, axis=axis), None),
    emit=_scatter_add_emit,
)


def _scatter_rule(x: Aval, idx: Aval, v: Aval, *, axis: int) -> Aval:
    if idx.dtype.kind not in "iu":
        raise DTypeError(f"scatter: indices must be integers, got {idx.dtype}")
    expected = x.shape[:axis] + idx.shape + x.shape[axis + 1 :]
    if v.shape != expected or v.dtype != x.dtype:
        raise ShapeError(f"scatter: values {v} do not fit {x} at indices {idx} (need {expected})")
    return x


def _last_writes(flat: np.ndarray) -> np.ndarray:
    """Which entries of ``flat`` are the last to name their position (NumPy's assignment)."""
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    last = np.zeros(flat.size, bool)
    last[flat.size - 1 - first_from_end] = True
    return last


def _scatter_impl(x, idx, v, *, axis):
    size = x.shape[axis]
    flat = idx.reshape(-1)
    if flat.size and (flat.min() < -size or flat.max() >= size):
        raise IndexError(f"index out of bounds for an axis of size {size}")
    flat = flat % size if size else flat
    out = np.array(x, copy=True)
    src = np.moveaxis(
        v.reshape(v.shape[:axis] + (flat.size,) + v.shape[axis + idx.ndim :]), axis, 0
    )
    keep = _last_writes(flat)
    np.moveaxis(out, axis, 0)[flat[keep]] = src[keep]
    return out


def _scatter_vjp(ct: Any, out: Any, x: Any, idx: Any, v: Any, *, axis: int) -> tuple:
    """The written positions take nothing from ``x``; each value gets the cotangent of its
    position if it was the last write there (earlier writes to a position were overwritten)."""
    ordinals = np.arange(math.prod(idx.shape), dtype=np.int64).reshape(idx.shape)
    size = tuple(x.shape)[axis]
    winner = scatter(np.full(size, -1, np.int64), idx, ordinals, axis=0)
    is_last = eq(take(winner, idx, axis=0), ordinals)
    lead, trail = (1,) * axis, (1,) * (len(x.shape) - axis - 1)
    is_last = reshaped(is_last, lead + tuple(idx.shape) + trail)
    gathered = take(ct, idx, axis=axis)
    v_ct = select(is_last, gathered, const(0, gathered))
    return scatter(ct, idx, np.zeros(tuple(v.shape), ct.dtype), axis=axis), None, v_ct


def _scatter_emit(w: Any, out: Any, x: Any, idx: Any, v: Any, *, axis: int) -> None:
    k = idx.aval.ndim
    w.alloc(out)
    with w.loops(out.aval.shape) as o:
        w.line(f"{w.index(out, o)} = {w.index(x, o)}")
    # In order, so that the last write to a position wins, as in NumPy.
    with w.loops(v.aval.shape) as i:
        j = _checked_index(w, idx, i[axis : axis + k], x.aval.shape[axis])
        w.line(f"{w.index(out, i[:axis] + [j] + i[axis + k :])} = {w.index(v, i)}")


# ``x`` with ``v`` written at ``idx`` along ``axis`` (x[..., idx, ...] = v); the last write to
# a repeated position wins.  ``x[i] = v`` with a traced ``i`` traces to this.
scatter = Primitive(
    name="scatter",
    kind=Kind.STRUCTURAL,
    shape_rule=_scatter_rule,
    impl=_scatter_impl,
    vjp=_scatter_vjp,
    emit=_scatter_emit,
)


# =============================================================================================
# Linear algebra: 2-D matrix product (1-D and batched forms are reshapes around it)


def _matmul_rule(x: Aval, y: Aval) -> Aval:
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ShapeError(
            f"matmul: shapes {x.shape} and {y.shape} do not align (the inner dimensions "
            f"{x.shape[-1] if x.shape else None} and {y.shape[0] if y.shape else None} must be "
            "equal). Transpose one operand (x.T) or fix the layer sizes."
        )
    dtype = _float_dtype("matmul", x, y)
    return Aval((x.shape[0], y.shape[1]), dtype)


def _matmul_emit(w: Any, out: Any, x: Any, y: Any) -> None:
    # One BLAS gemm call (backend.writer.Writer.matmul); operands may be C arrays or x.T views.
    if 0 in out.aval.shape:  # nothing to compute: BLAS is not called
        w.alloc(out)
        return
    w.alloc(out)
    w.matmul(out, x, y)


matmul = Primitive(
    name="matmul",
    kind=Kind.LINALG,
    shape_rule=_matmul_rule,
    impl=np.matmul,
    vjp=lambda ct, out, x, y: (
        _product(ct, _transposed(y)),
        _product(_transposed(x), ct),
    ),
    emit=_matmul_emit,
    complex=True,
)


def _transposed(x: Any) -> Any:
    """``x.T``; a reshape where ``x`` has an axis of length 1 (the same numbers in the same
    order): a view, and a scan's stored residual is then the vector it came from."""
    if 1 in x.shape:
        return reshape(x, shape=tuple(x.shape[::-1]))
    return transpose(x, perm=(1, 0))


def _product(x: Any, y: Any) -> Any:
    """``x @ y``; an outer product (inner dimension 1) as a broadcast multiply, which fuses
    with the elementwise work around it (the weight gradients of a vector-matrix product,
    accumulated at every step of a backward loop) instead of one BLAS call of its own."""
    if x.shape[1] == 1 and x.dtype == y.dtype:
        return mul(x, y)
    return matmul(x, y)


# =============================================================================================
# Gradient barrier


stop_gradient = Primitive(
    name="stop_gradient",
    kind=Kind.GRADIENT_MARKER,
    shape_rule=_unary_rule("stop_gradient", False),
    impl=lambda x: x,
)


# =============================================================================================
# custom_vjp: ``custom_vjp_call(value, *inputs)`` equals ``value`` (computed from the inputs
# behind stop_gradient); its VJP rule calls the user's backward function on the inputs.
# Before execution, passes.lower removes it, so code generation never sees it.


def _custom_vjp_rule(value: Aval, *inputs: Aval, rule: Any, index: int) -> Aval:
    return value


def _custom_vjp_vjp(ct: Any, out: Any, value: Any, *inputs: Any, rule: Any, index: int) -> tuple:
    return (None, *rule.pullback(inputs, index, ct))


custom_vjp_call = Primitive(
    name="custom_vjp_call",
    kind=Kind.GRADIENT_MARKER,
    shape_rule=_custom_vjp_rule,
    impl=lambda value, *inputs, rule, index: value,
    vjp=_custom_vjp_vjp,
)


# =============================================================================================
# Products over axes, scans along one axis (cumulative sums, first-order linear recurrences),
# argmax/argmin and argsort


def _moved_last(x: Any, axes: tuple[int, ...]) -> tuple[Any, tuple[int, ...]]:
    """``x`` with ``axes`` moved last and merged into one; also the permutation used."""
    shape = tuple(x.shape)
    perm = tuple([i for i in range(len(shape)) if i not in axes] + list(axes))
    moved = transpose(x, perm=perm) if perm != tuple(range(len(shape))) else x
    kept = tuple(shape[i] for i in perm[: len(shape) - len(axes)])
    flat_shape = kept + (math.prod(shape[a] for a in axes),)
    return reshaped(moved, flat_shape), perm


def _moved_back(y: Any, shape: tuple[int, ...], perm: tuple[int, ...]) -> Any:
    """Undo :func:`_moved_last` for a value of the moved, merged shape."""
    y = reshaped(y, tuple(shape[p] for p in perm))
    if perm == tuple(range(len(shape))):
        return y
    return transpose(y, perm=tuple(np.argsort(perm).tolist()))


def _prod_vjp(ct: Any, out: Any, x: Any, *, axes: tuple[int, ...]) -> tuple:
    # d prod / d x_i is the product of the others: exclusive cumulative products from both
    # ends, multiplied.  Never out / x, so exact where x has zeros, and differentiable again.
    shape = tuple(x.shape)
    if math.prod(shape) == 0:
        return (None,)
    flat, perm = _moved_last(x, axes)
    last = len(flat.shape) - 1
    left = exclusive_cumprod(flat, axis=last, reverse=False)
    right = exclusive_cumprod(flat, axis=last, reverse=True)
    others = _moved_back(mul(left, right), shape, perm)
    return (mul(expand_reduced(ct, shape, axes), others),)


reduce_prod = reduction(
    name="reduce_prod",
    numpy_fn=np.prod,
    vjp=_prod_vjp,
    scalar="{acc} * {0}",
    identity=1.0,
    complex=True,
)


def _at_end(shape: tuple[int, ...], axis: int, reverse: bool) -> np.ndarray:
    """A bool mask of shape (1, .., n, .., 1): True at the first position a scan visits."""
    n = shape[axis]
    mask = np.zeros(n, dtype=bool)
    if n:
        mask[n - 1 if reverse else 0] = True
    return mask.reshape(tuple(n if i == axis else 1 for i in range(len(shape))))


def shift_along(x: Any, axis: int, by: int) -> Any:
    """``out[i] = x[i - by]`` along ``axis`` (``by`` is +1 or -1), zeros shifted in."""
    shape = tuple(x.shape)
    n = shape[axis]
    if n <= 1:
        return np.zeros(shape, x.dtype)
    part = tuple(n - 1 if i == axis else d for i, d in enumerate(shape))
    unit = (1,) * len(shape)
    src = tuple(int(i == axis and by < 0) for i in range(len(shape)))
    dst = tuple(int(i == axis and by > 0) for i in range(len(shape)))
    return unslice(slice_(x, start=src, step=unit, shape=part), start=dst, step=unit, shape=shape)


def cumprod_along(x: Any, axis: int, reverse: bool = False) -> Any:
    """Cumulative product as the recurrence h_i = x_i h_(i-1): gradients exact at zeros."""
    first = _at_end(tuple(x.shape), axis, reverse)
    return linear_scan(x, select(first, x, const(0, x)), axis=axis, reverse=reverse)


def exclusive_cumprod(x: Any, axis: int, reverse: bool = False) -> Any:
    """Products of the elements strictly before each one (after, with ``reverse``)."""
    shape = tuple(x.shape)
    before = shift_along(cumprod_along(x, axis, reverse), axis, -1 if reverse else 1)
    return add(before, _at_end(shape, axis, reverse).astype(x.dtype))


def _scan_rule(name: str) -> Callable[..., Aval]:
    def rule(*xs: Aval, axis: int, reverse: bool) -> Aval:
        x = xs[0]
        if any(y.shape != x.shape for y in xs):
            raise ShapeError(f"{name}: operand shapes {[y.shape for y in xs]} differ")
        _float_dtype(name, *xs)
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{name}: axis {axis} out of range for shape {x.shape}")
        return x

    return rule


def _flip_if(x: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    return np.flip(x, axis) if reverse else x


@contextmanager
def _along(w: Any, shape: tuple[int, ...], axis: int, reverse: bool) -> Iterator[tuple]:
    """Loops over every axis but ``axis``; yields (index with a hole at ``axis``, steps).

    ``steps(first)`` opens the sequential loop along ``axis`` (the first visited position
    when ``first``, the others otherwise) and yields the index expression of the position.
    """
    n = shape[axis]
    others = tuple(1 if i == axis else d for i, d in enumerate(shape))
    with w.loops(others) as index:

        @contextmanager
        def steps(first: bool) -> Iterator[str]:
            if first:
                yield str(n - 1 if reverse else 0)
                return
            k = w.fresh("k")
            w.line(
                f"for {k} in range({n - 2}, -1, -1):" if reverse else f"for {k} in range(1, {n}):"
            )
            with w.indented():
                yield k

        yield index, steps


def _scan_emit(w: Any, out: Any, *xs: Any, axis: int, reverse: bool, step: str) -> None:
    """h = x[first]; then h = step(h, x[k]) along ``axis``; out[k] = h."""
    w.alloc(out)
    shape = out.aval.shape
    if shape[axis] == 0 or 0 in shape:
        return
    with _along(w, shape, axis, reverse) as (index, steps):
        h = w.fresh("h")
        for first in (True, False):
            with steps(first) as k:
                at = [k if i == axis else e for i, e in enumerate(index)]
                reads = [w.index(x, at) for x in xs]
                expr = reads[-1] if first else step.format(*reads, h=h)
                w.line(f"{h} = {w.cast(expr, out.aval)}")
                w.line(f"{w.index(out, at)} = {h}")


def _cumsum_impl(x: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
    return _flip_if(np.cumsum(_flip_if(x, axis, reverse), axis=axis), axis, reverse)


cumsum = Primitive(
    name="cumsum",
    kind=Kind.SCAN,
    shape_rule=_scan_rule("cumsum"),
    impl=_cumsum_impl,
    vjp=lambda ct, out, x, *, axis, reverse: (cumsum(ct, axis=axis, reverse=not reverse),),
    emit=lambda w, out, x, *, axis, reverse: _scan_emit(
        w, out, x, axis=axis, reverse=reverse, step="{h} + {0}"
    ),
    complex=True,
)


def _linear_scan_impl(a: np.ndarray, b: np.ndarray, *, axis: int, reverse: bool) -> np.ndarray:
    a, b = (
        np.moveaxis(_flip_if(a, axis, reverse), axis, 0),
        np.moveaxis(_flip_if(b, axis, reverse), axis, 0),
    )
    h = np.empty_like(b)
    for k in range(len(b)):
        h[k] = b[k] if k == 0 else a[k] * h[k - 1] + b[k]
    return _flip_if(np.moveaxis(h, 0, axis), axis, reverse)


def _linear_scan_vjp(ct: Any, h: Any, a: Any, b: Any, *, axis: int, reverse: bool) -> tuple:
    # h_i = a_i h_(i-1) + b_i: the cotangent l_i = ct_i + a_(i+1) l_(i+1) is the same
    # recurrence run the other way; then da_i = l_i h_(i-1) and db_i = l_i.
    by = -1 if reverse else 1
    lam = linear_scan(shift_along(a, axis, -by), ct, axis=axis, reverse=not reverse)
    return mul(lam, shift_along(h, axis, by)), lam


# The first-order linear recurrence h_0 = b_0, h_i = a_i h_(i-1) + b_i along ``axis`` (from
# the end with ``reverse``; a_0 is not read).  Cumulative products are this with b = x_0 e_0.
linear_scan = Primitive(
    name="linear_scan",
    kind=Kind.SCAN,
    shape_rule=_scan_rule("linear_scan"),
    impl=_linear_scan_impl,
    vjp=_linear_scan_vjp,
    emit=lambda w, out, a, b, *, axis, reverse: _scan_emit(
        w, out, a, b, axis=axis, reverse=reverse, step="{0} * {h} + {1}"
    ),
    complex=True,
)


def _arg_rule(name: str) -> Callable[..., Aval]:
    def rule(x: Aval, *, axis: int) -> Aval:
        if not 0 <= axis < x.ndim:
            raise ShapeError(f"{name}: axis {axis} out of range for shape {x.shape}")
        if x.shape[axis] == 0:
            raise ShapeError(f"{name}: attempt to get {name} of an empty sequence")
        return Aval(x.shape[:axis] + x.shape[axis + 1 :], np.dtype(np.int64))

    return rule


def _arg_emit(better: str) -> Callable[..., None]:
    def emit(w: Any, out: Any, x: Any, *, axis: int) -> None:
        # The first extremum wins; a NaN beats everything, the first NaN wins (as in NumPy).
        if out.aval.ndim:
            w.alloc(out)
        with _along(w, x.aval.shape, axis, False) as (index, steps):
            best, pos, v = w.fresh("best"), w.fresh("pos"), w.fresh("v")
            for first in (True, False):
                with steps(first) as k:
                    read = w.index(x, [k if i == axis else e for i, e in enumerate(index)])
                    if first:
                        w.line(f"{best} = {read}")
                        w.line(f"{pos} = 0")
                        continue
                    w.line(f"{v} = {read}")
                    w.line(f"if {v} {better} {best} or ({v} != {v} and {best} == {best}):")
                    with w.indented():
                        w.line(f"{best} = {v}")
                        w.line(f"{pos} = {k}")
            kept = [e for i, e in enumerate(index) if i != axis]
            target = out.name if out.aval.ndim == 0 else w.index(out, kept)
            w.line(f"{target} = {pos}")

    return emit


def _arg_extremum(name: str, numpy_fn: Callable, better: str) -> Primitive:
    """Position of the extremum along ``axis`` (int64, no gradient)."""
    return Primitive(
        name=name,
        kind=Kind.INDEX,
        shape_rule=_arg_rule(name),
        impl=lambda x, *, axis: numpy_fn(x, axis=axis).astype(np.int64),
        emit=_arg_emit(better),
    )


argmax = _arg_extremum("argmax", np.argmax, ">")
argmin = _arg_extremum("argmin", np.argmin, "<")


def _argsort_rule(x: Aval) -> Aval:
    if x.ndim == 0:
        raise ShapeError("argsort needs at least one axis")
    return Aval(x.shape, np.dtype(np.int64))


def _argsort_emit(w: Any, out: Any, x: Any) -> None:
    # Along the last axis; a stable sort, so ties keep their order (as NumPy's kind="stable").
    w.alloc(out)
    if 0 in x.aval.shape:
        return
    with w.loops(x.aval.shape[:-1]) as index:
        row = ", ".join([*index, ":"])
        w.line(f"{out}[{row}] = np.argsort({x}[{row}], kind='mergesort')")


argsort = Primitive(
    name="argsort",
    kind=Kind.INDEX,
    shape_rule=_argsort_rule,
    impl=lambda x: np.argsort(x, axis=-1, kind="stable").astype(np.int64),
    emit=_argsort_emit,
)


# Complex parts and discrete Fourier transforms are declared in a module of their own.
from . import complex_primitives  # noqa: E402, F401
