"""NumPy's API on traced values, expressed with primitives.

Every function here takes Tracers, NumPy arrays or Python numbers, applies
NumPy's dtype promotion (NumPy 2 rules: a Python number takes the array's
dtype) and shape conventions, and emits primitives.  ``np.mean``, ``np.var``,
``np.linalg.norm`` and the like are compositions; none of them needs a rule of
its own.  Tracer's ``__array_ufunc__`` and ``__array_function__`` route here.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core import primitives as P
from ..core.tracing import Tracer, stage
from ..errors import DTypeError, ShapeError, UnsupportedNumpyFunction

# =============================================================================================
# Operands and dtype promotion


def _is_python_scalar(x: Any) -> bool:
    return isinstance(x, bool | int | float) and not isinstance(x, np.generic)


def dtype_of(x: Any) -> np.dtype:
    return x.dtype if isinstance(x, Tracer) else np.asarray(x).dtype


def result_dtype(*xs: Any) -> np.dtype:
    """NumPy's promotion: Python numbers are weak and take the arrays' dtype."""
    proxies = [x if _is_python_scalar(x) else dtype_of(x) for x in xs]
    return np.result_type(*proxies)


def cast(x: Any, dtype: np.dtype) -> Any:
    dtype = np.dtype(dtype)
    if isinstance(x, Tracer):
        return x if x.dtype == dtype else P.convert(x, dtype=dtype)
    array = np.asarray(x)
    return array if array.dtype == dtype else array.astype(dtype)


def promote(*xs: Any, float_only: bool = False) -> list[Any]:
    dtype = result_dtype(*xs)
    if float_only and dtype.kind != "f":
        dtype = np.dtype(np.float64)
    if dtype.kind == "c":
        raise DTypeError("complex numbers are not supported by tracegrad")
    return [cast(x, dtype) for x in xs]


def asarray_like(x: Any) -> Any:
    return x if isinstance(x, Tracer) else np.asarray(x)


def shape_of(x: Any) -> tuple[int, ...]:
    return tuple(x.shape) if isinstance(x, Tracer) else np.shape(x)


# =============================================================================================
# Elementwise functions


def _unary(prim: P.Primitive, float_only: bool = True) -> Callable[[Any], Any]:
    def fn(x: Any) -> Any:
        (x,) = promote(x, float_only=float_only)
        return prim(x)

    fn.__name__ = prim.name
    return fn


def _binary(prim: P.Primitive, float_only: bool = False) -> Callable[[Any, Any], Any]:
    def fn(x: Any, y: Any) -> Any:
        x, y = promote(x, y, float_only=float_only)
        return prim(x, y)

    fn.__name__ = prim.name
    return fn


negative = _unary(P.neg, float_only=False)
absolute = _unary(P.abs_, float_only=False)
sign = _unary(P.sign, float_only=False)
exp = _unary(P.exp)
log = _unary(P.log)
log1p = _unary(P.log1p)
expm1 = _unary(P.expm1)
sin = _unary(P.sin)
cos = _unary(P.cos)
tan = _unary(P.tan)
tanh = _unary(P.tanh)
sqrt = _unary(P.sqrt)
arctan = _unary(P.arctan)
logistic = _unary(P.logistic)

add = _binary(P.add)
subtract = _binary(P.sub)
multiply = _binary(P.mul)
divide = _binary(P.div, float_only=True)
maximum = _binary(P.maximum)
minimum = _binary(P.minimum)
arctan2 = _binary(P.atan2, float_only=True)
less = _binary(P.lt)
less_equal = _binary(P.le)
greater = _binary(P.gt)
greater_equal = _binary(P.ge)
equal = _binary(P.eq)
not_equal = _binary(P.ne)


def _logical(prim: P.Primitive) -> Callable[..., Any]:
    def fn(*xs: Any) -> Any:
        return prim(*(cast(x, np.bool_) for x in xs))

    return fn


logical_and = _logical(P.logical_and)
logical_or = _logical(P.logical_or)
logical_not = _logical(P.logical_not)


def isnan(x: Any) -> Any:
    if dtype_of(x).kind != "f":
        return zeros_like(x, dtype=np.bool_)
    return P.isnan(x)


def power(x: Any, y: Any) -> Any:
    if _is_python_scalar(y) and not isinstance(y, bool) and float(y).is_integer() and abs(y) <= 64:
        n = int(y)
        if n < 0 and result_dtype(x).kind in "iub" and isinstance(y, int):
            raise DTypeError(
                "integers to negative integer powers are not allowed (as in NumPy); "
                "use a float base, e.g. x.astype(float) ** -1."
            )
        (x,) = promote(x, float_only=n < 0 or isinstance(y, float))
        if n == 1:
            return x
        return P.integer_pow(x, n=n)
    x, y = promote(x, y, float_only=True)
    return P.pow_(x, y)


def square(x: Any) -> Any:
    return power(x, 2)


def reciprocal(x: Any) -> Any:
    return divide(1.0, x)


def sinh(x: Any) -> Any:
    (x,) = promote(x, float_only=True)
    return (exp(x) - exp(-x)) * 0.5


def cosh(x: Any) -> Any:
    (x,) = promote(x, float_only=True)
    return (exp(x) + exp(-x)) * 0.5


def log2(x: Any) -> Any:
    return log(x) * (1.0 / math.log(2.0))


def log10(x: Any) -> Any:
    return log(x) * (1.0 / math.log(10.0))


def exp2(x: Any) -> Any:
    return exp(multiply(x, math.log(2.0)))


def logaddexp(x: Any, y: Any) -> Any:
    # Each branch of the select is logaddexp itself (b + log1p(exp(s - b))), so derivatives
    # of every order are exact at ties too; maximum/abs split them there (d2/dx2 was 0 at x=y).
    # Equal infinities give s - b = nan: use 0 there, as np.logaddexp(inf, inf) = inf.
    x, y = promote(x, y, float_only=True)
    first = greater_equal(x, y)
    big, small = where(first, x, y), where(first, y, x)
    infinite_tie = logical_and(equal(x, y), equal(absolute(x), np.inf))
    return big + log1p(exp(where(infinite_tie, 0.0, small - big)))


def hypot(x: Any, y: Any) -> Any:
    return sqrt(x * x + y * y)


def clip(x: Any, a_min: Any = None, a_max: Any = None, out: Any = None, **kwargs: Any) -> Any:
    _no_out("clip", out)
    if a_min is not None:
        x = maximum(x, a_min)
    if a_max is not None:
        x = minimum(x, a_max)
    return x


def where(condition: Any, x: Any = None, y: Any = None) -> Any:
    if x is None or y is None:
        raise UnsupportedNumpyFunction(
            "np.where(condition) with one argument returns indices whose number depends on "
            "the data, which a traced program cannot have. Use np.where(condition, a, b)."
        )
    x, y = promote(x, y)
    return P.select(cast(condition, np.bool_), x, y)


def astype(x: Any, dtype: Any) -> Any:
    return cast(x, np.dtype(dtype))


def stop_gradient(x: Any) -> Any:
    """Treat ``x`` as a constant when differentiating."""
    return P.stop_gradient(x)


# =============================================================================================
# Reductions


def normalize_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not -ndim <= a < ndim:
            raise ShapeError(f"axis {a} is out of bounds for an array of dimension {ndim}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {axis}")
    return tuple(sorted(out))


def _keep(x: Any, result: Any, axes: tuple[int, ...], keepdims: bool) -> Any:
    if not keepdims:
        return result
    shape = tuple(1 if i in axes else d for i, d in enumerate(shape_of(x)))
    return reshape(result, shape)


def _no_out(name: str, out: Any) -> None:
    if out is not None:
        raise UnsupportedNumpyFunction(
            f"np.{name}(..., out=...) writes into an array, which a traced program cannot do. "
            "Use the returned value instead."
        )


def sum(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
        **kwargs: Any) -> Any:  # fmt: skip
    _no_out("sum", out)
    _reject_kwargs("sum", kwargs)
    x = asarray_like(x)
    if dtype is not None:
        x = cast(x, dtype)
    elif dtype_of(x).kind == "b" or (dtype_of(x).kind == "i" and dtype_of(x).itemsize < 8):
        x = cast(x, np.int64)  # NumPy sums bools and small ints in the platform integer
    elif dtype_of(x).kind == "u" and dtype_of(x).itemsize < 8:
        x = cast(x, np.uint64)
    axes = normalize_axes(axis, len(shape_of(x)))
    result = P.reduce_sum(x, axes=axes) if axes else x
    return _keep(x, result, axes, keepdims)


def mean(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, keepdims: bool = False,
         **kwargs: Any) -> Any:  # fmt: skip
    _no_out("mean", out)
    _reject_kwargs("mean", kwargs)
    x = asarray_like(x)
    if dtype is not None:
        x = cast(x, dtype)
    elif dtype_of(x).kind != "f":
        x = cast(x, np.float64)
    shape = shape_of(x)
    axes = normalize_axes(axis, len(shape))
    count = math.prod(shape[a] for a in axes)
    return divide(sum(x, axis=axes, keepdims=keepdims), float(count))


def _extremum(prim: P.Primitive, name: str) -> Callable[..., Any]:
    def fn(x: Any, axis: Any = None, out: Any = None, keepdims: bool = False,
           **kwargs: Any) -> Any:  # fmt: skip
        _no_out(name, out)
        _reject_kwargs(name, kwargs)
        x = asarray_like(x)
        axes = normalize_axes(axis, len(shape_of(x)))
        result = prim(x, axes=axes) if axes else x
        return _keep(x, result, axes, keepdims)

    fn.__name__ = name
    return fn


amax = _extremum(P.reduce_max, "max")
amin = _extremum(P.reduce_min, "min")


def var(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    _no_out("var", out)
    _reject_kwargs("var", kwargs)
    x = asarray_like(x)
    if dtype is not None:
        x = cast(x, dtype)
    elif dtype_of(x).kind != "f":
        x = cast(x, np.float64)
    shape = shape_of(x)
    axes = normalize_axes(axis, len(shape))
    count = math.prod(shape[a] for a in axes)
    centred = x - mean(x, axis=axes, keepdims=True)
    return divide(sum(centred * centred, axis=axes, keepdims=keepdims), float(count - ddof))


def std(x: Any, axis: Any = None, dtype: Any = None, out: Any = None, ddof: int = 0,
        keepdims: bool = False, **kwargs: Any) -> Any:  # fmt: skip
    return sqrt(var(x, axis=axis, dtype=dtype, out=out, ddof=ddof, keepdims=keepdims, **kwargs))


def _reject_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    for key, value in kwargs.items():
        if value is not np._NoValue and value is not None:
            raise UnsupportedNumpyFunction(f"np.{name}: the argument {key}= is not supported")


def norm(x: Any, ord: Any = None, axis: Any = None, keepdims: bool = False) -> Any:
    """Vector norms (any ord) and matrix norms 'fro', 1, -1, inf, -inf, as np.linalg.norm."""
    x = asarray_like(x)
    if dtype_of(x).kind != "f":
        x = cast(x, np.float64)
    ndim = len(shape_of(x))
    if axis is None and ord is None:
        return _keep(x, sqrt(sum(x * x)), tuple(range(ndim)), keepdims)
    if axis is None:
        if ndim not in (1, 2):
            raise ShapeError(f"np.linalg.norm: improper number of dimensions to norm ({ndim})")
        axis = tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    axes = tuple(int(a) % ndim for a in axes)
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) != 2 or axes[0] == axes[1]:
        raise ShapeError(f"np.linalg.norm: improper axis {axis} for a norm")
    row, col = axes
    if ord in (None, "fro"):
        return sqrt(sum(x * x, axis=axes, keepdims=keepdims))
    if ord in (1, -1, np.inf, -np.inf):
        # ord 1: the largest column sum of |x|; inf: the largest row sum.
        summed, other = (row, col) if ord in (1, -1) else (col, row)
        pick = amax if ord in (1, np.inf) else amin
        result = pick(sum(absolute(x), axis=summed, keepdims=True), axis=other, keepdims=True)
        return result if keepdims else reshape(result, _drop(shape_of(result), axes))
    raise UnsupportedNumpyFunction(
        f"np.linalg.norm(ord={ord!r}) of a matrix needs singular values (SVD), which tracegrad "
        "does not have; ord='fro', 1, -1, np.inf and -np.inf are supported."
    )


def _drop(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def _vector_norm(x: Any, ord: Any, axis: int, keepdims: bool) -> Any:
    if isinstance(ord, str):
        raise ValueError(f"np.linalg.norm: invalid norm order {ord!r} for vectors")
    if ord is None or ord == 2:
        return sqrt(sum(x * x, axis=axis, keepdims=keepdims))
    if ord == np.inf:
        return amax(absolute(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return amin(absolute(x), axis=axis, keepdims=keepdims)
    if ord == 0:  # the number of nonzero entries: no gradient
        return cast(sum(not_equal(x, 0), axis=axis, keepdims=keepdims), dtype_of(x))
    if ord == 1:
        return sum(absolute(x), axis=axis, keepdims=keepdims)
    p = float(ord)
    return power(sum(power(absolute(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


# =============================================================================================
# Shapes and structure


def reshape(x: Any, shape: Any, order: str = "C", **kwargs: Any) -> Any:
    if order != "C":
        raise UnsupportedNumpyFunction("reshape supports only order='C'")
    x = asarray_like(x)
    if isinstance(shape, int | np.integer):
        shape = (int(shape),)
    shape = [int(d) for d in shape]
    size = math.prod(shape_of(x))
    if shape.count(-1) > 1:
        raise ShapeError(f"reshape: only one -1 is allowed in {tuple(shape)}")
    if -1 in shape:
        known = math.prod(d for d in shape if d != -1)
        if known == 0 or size % known:
            raise ShapeError(f"cannot reshape an array of shape {shape_of(x)} into {tuple(shape)}")
        shape[shape.index(-1)] = size // known
    shape = tuple(shape)
    if shape == shape_of(x):
        return x
    return P.reshape(x, shape=shape)


def transpose(x: Any, axes: Any = None) -> Any:
    x = asarray_like(x)
    ndim = len(shape_of(x))
    perm = tuple(reversed(range(ndim))) if axes is None else tuple(int(a) % ndim for a in axes)
    if perm == tuple(range(ndim)):
        return x
    return P.transpose(x, perm=perm)


def swapaxes(x: Any, axis1: int, axis2: int) -> Any:
    ndim = len(shape_of(x))
    perm = list(range(ndim))
    perm[axis1 % ndim], perm[axis2 % ndim] = perm[axis2 % ndim], perm[axis1 % ndim]
    return transpose(x, perm)


def moveaxis(x: Any, source: Any, destination: Any) -> Any:
    ndim = len(shape_of(x))
    src = normalize_axes(source, ndim) if isinstance(source, int) else [s % ndim for s in source]
    dst = (
        normalize_axes(destination, ndim)
        if isinstance(destination, int)
        else [d % ndim for d in destination]
    )
    if isinstance(source, int):
        src, dst = [source % ndim], [destination % ndim]
    order = [a for a in range(ndim) if a not in src]
    for d, s in sorted(zip(dst, src, strict=True)):
        order.insert(d, s)
    return transpose(x, order)


def expand_dims(x: Any, axis: Any) -> Any:
    shape = list(shape_of(x))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    ndim = len(shape) + len(axes)
    for a in sorted(a % ndim for a in axes):
        shape.insert(a, 1)
    return reshape(x, tuple(shape))


def squeeze(x: Any, axis: Any = None) -> Any:
    shape = shape_of(x)
    if axis is None:
        axes = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        axes = normalize_axes(axis, len(shape))
        for a in axes:
            if shape[a] != 1:
                raise ShapeError(f"cannot squeeze axis {a} of size {shape[a]} in shape {shape}")
    return reshape(x, tuple(d for i, d in enumerate(shape) if i not in axes))


def ravel(x: Any, order: str = "C") -> Any:
    return reshape(x, (-1,), order=order)


def broadcast_to(x: Any, shape: Any, subok: bool = False) -> Any:
    shape = (int(shape),) if isinstance(shape, int | np.integer) else tuple(int(d) for d in shape)
    if shape_of(x) == shape:
        return x
    return P.broadcast_to(asarray_like(x), shape=shape)


def atleast_1d(x: Any) -> Any:
    return reshape(x, (1,)) if not shape_of(x) else x


def atleast_2d(x: Any) -> Any:
    shape = shape_of(x)
    return reshape(x, (1,) * (2 - len(shape)) + shape) if len(shape) < 2 else x


def concatenate(arrays: Sequence[Any], axis: int | None = 0, out: Any = None, **kwargs: Any) -> Any:
    _no_out("concatenate", out)
    arrays = list(arrays)
    if axis is None:
        arrays = [ravel(a) for a in arrays]
        axis = 0
    arrays = promote(*arrays)
    ndim = len(shape_of(arrays[0]))
    if ndim == 0:
        raise ShapeError("zero-dimensional arrays cannot be concatenated")
    if len(arrays) == 1:
        return arrays[0]
    return P.concatenate(*arrays, axis=int(axis) % ndim)


def stack(arrays: Sequence[Any], axis: int = 0, out: Any = None, **kwargs: Any) -> Any:
    _no_out("stack", out)
    arrays = list(arrays)
    shapes = {shape_of(a) for a in arrays}
    if len(shapes) != 1:
        raise ShapeError(f"np.stack needs arrays of one shape, got {sorted(shapes)}")
    ndim = len(shape_of(arrays[0])) + 1
    return concatenate([expand_dims(a, axis % ndim) for a in arrays], axis=axis % ndim)


def hstack(arrays: Sequence[Any], **kwargs: Any) -> Any:
    arrays = [atleast_1d(a) for a in arrays]
    return concatenate(arrays, axis=0 if len(shape_of(arrays[0])) == 1 else 1)


def vstack(arrays: Sequence[Any], **kwargs: Any) -> Any:
    return concatenate([atleast_2d(a) for a in arrays], axis=0)


def zeros_like(x: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return full_like(x, 0, dtype=dtype)


def ones_like(x: Any, dtype: Any = None, **kwargs: Any) -> Any:
    return full_like(x, 1, dtype=dtype)


def full_like(x: Any, fill_value: Any, dtype: Any = None, **kwargs: Any) -> Any:
    """An array filled with ``fill_value``: no data flows from ``x``, only its shape and dtype.

    For a traced ``x`` the result is traced too (a broadcast constant), so that it can be
    updated in place afterwards (``z = np.zeros_like(x); z[1:3] = ...``).
    """
    dtype = np.dtype(dtype or dtype_of(x))
    fill = np.asarray(fill_value, dtype=dtype)
    return add(zeros(shape_of(x), dtype, like=x), fill) if fill else zeros(shape_of(x), dtype, x)


def zeros(shape: tuple[int, ...], dtype: Any, like: Any) -> Any:
    """Zeros that are traced when ``like`` is (so they can be updated in place)."""
    if isinstance(like, Tracer) and shape:
        return stage(P.broadcast_to, [np.zeros((), dtype)], {"shape": tuple(shape)})
    return np.zeros(shape, dtype)


def setitem(x: Any, index: Any, value: Any) -> Any:
    """``x[index] = value`` as a functional update: returns the updated array.

    The index must be known while tracing (ints, slices, constant integer arrays or masks);
    like NumPy, where an index repeats a position the last write wins.
    """
    if any(isinstance(i, Tracer) for i in (index if isinstance(index, tuple) else (index,))):
        raise UnsupportedNumpyFunction(
            "x[i] = v with a traced index i is not supported; build the result with "
            "np.where(np.arange(n) == i, v, x) instead."
        )
    shape = shape_of(x)
    size = math.prod(shape)
    positions = np.arange(size).reshape(shape)[index]
    flat_positions = np.asarray(positions).reshape(-1)
    # Keep the last write to each position, as NumPy does: the written positions sorted, and
    # for each the (flat) number of the value written last.
    reversed_unique, first_in_reversed = np.unique(flat_positions[::-1], return_index=True)
    last_write = len(flat_positions) - 1 - first_in_reversed
    (value,) = promote(cast(value, dtype_of(x)))
    target, given = np.shape(positions), shape_of(value)
    extra = len(given) - len(target)
    if extra > 0 and all(d == 1 for d in given[:extra]):
        value = reshape(value, given[extra:])  # NumPy drops leading 1s of the value
    values = reshape(broadcast_to(value, target), (-1,))
    if not np.array_equal(last_write, np.arange(len(flat_positions))):
        # Repeated or unsorted positions: put the values in the order of reversed_unique.
        values = P.take(values, last_write.astype(np.int64), axis=0)
    written = P.scatter_add(values, reversed_unique.astype(np.int64), axis=0, size=size)
    mask = np.zeros(size, dtype=bool)
    mask[reversed_unique] = True
    return where(mask.reshape(shape), reshape(written, shape), x)


# =============================================================================================
# Products


def matmul(x: Any, y: Any, out: Any = None, **kwargs: Any) -> Any:
    _no_out("matmul", out)
    x, y = promote(asarray_like(x), asarray_like(y))
    xs, ys = shape_of(x), shape_of(y)
    if not xs or not ys:
        raise ShapeError("matmul: operands must be at least 1-D; use * for scalars")
    if len(xs) > 2 or len(ys) > 2:
        return _batched_matmul(x, y)
    if xs[-1] != ys[0]:
        raise ShapeError(
            f"matmul: shapes {xs} and {ys} do not align: the last axis of the first ({xs[-1]}) "
            f"must equal the first axis of the second ({ys[0]}). Transpose an operand (x.T) "
            "or fix the layer sizes."
        )
    x2 = reshape(x, (1, xs[0])) if len(xs) == 1 else x
    y2 = reshape(y, (ys[0], 1)) if len(ys) == 1 else y
    if dtype_of(x2).kind != "f":
        # Integer matmul is rare in differentiable code; compute in float64 and cast back.
        result = P.matmul(cast(x2, np.float64), cast(y2, np.float64))
        result = cast(result, dtype_of(x2))
    else:
        result = P.matmul(x2, y2)
    out_shape = xs[:-1] + ys[1:]
    return reshape(result, out_shape)


def _batched_matmul(x: Any, y: Any) -> Any:
    xs, ys = shape_of(x), shape_of(y)
    if len(ys) == 2 and len(xs) > 2:
        # (..., n, k) @ (k, m): fold the batch into the rows.
        flat = reshape(x, (-1, xs[-1]))
        return reshape(matmul(flat, y), xs[:-1] + (ys[-1],))
    x = reshape(x, (1, xs[0])) if len(xs) == 1 else x
    y = reshape(y, (ys[0], 1)) if len(ys) == 1 else y
    if shape_of(x)[-1] != shape_of(y)[-2]:
        raise ShapeError(
            f"matmul: shapes {xs} and {ys} do not align: the last axis of the first "
            f"({xs[-1]}) must equal the second-to-last axis of the second ({shape_of(y)[-2]})."
        )
    # Batched: broadcast (..., n, k, 1) * (..., 1, k, m) and sum over k.
    product = multiply(expand_dims(x, -1), expand_dims(y, -3))
    result = sum(product, axis=-2)
    out_shape = shape_of(result)
    if len(xs) == 1:
        out_shape = out_shape[:-2] + out_shape[-1:]
    if len(ys) == 1:
        out_shape = out_shape[:-1]
    return reshape(result, out_shape)


def dot(x: Any, y: Any, out: Any = None) -> Any:
    _no_out("dot", out)
    xs, ys = shape_of(x), shape_of(y)
    if not xs or not ys:
        return multiply(x, y)
    if len(ys) > 2:
        raise UnsupportedNumpyFunction("np.dot with a >2-D second operand is not supported")
    return matmul(x, y)


def inner(x: Any, y: Any) -> Any:
    if len(shape_of(x)) == 1 and len(shape_of(y)) == 1:
        return matmul(x, y)
    return matmul(x, swapaxes(y, -1, -2)) if len(shape_of(y)) > 1 else matmul(x, y)


def outer(x: Any, y: Any, out: Any = None) -> Any:
    _no_out("outer", out)
    return multiply(reshape(ravel(x), (-1, 1)), reshape(ravel(y), (1, -1)))


def vdot(x: Any, y: Any) -> Any:
    return sum(multiply(ravel(x), ravel(y)))


def trace(x: Any, offset: int = 0, axis1: int = 0, axis2: int = 1, dtype: Any = None,
          out: Any = None) -> Any:  # fmt: skip
    _no_out("trace", out)
    from .numpy_extra import diagonal

    return sum(diagonal(x, offset, axis1, axis2), axis=-1, dtype=dtype)


# =============================================================================================
# Indexing


def _as_index_array(item: Any) -> Any:
    if isinstance(item, Tracer):
        if item.dtype.kind == "b":
            raise UnsupportedNumpyFunction(
                "indexing with a traced boolean mask gives a data-dependent shape. Use "
                "np.where(mask, x, 0) instead, or pass the mask as a constant NumPy array."
            )
        if item.dtype.kind not in "iu":
            raise DTypeError(f"array index must be integer, got {item.dtype}")
        return item
    array = np.asarray(item)
    if array.dtype.kind not in "iu" and array.size:
        raise DTypeError(f"array index must be integer, got {array.dtype}")
    return array.astype(np.int64)


def _index_items(index: Any) -> list[tuple[str, Any]]:
    """Classify the entries of an index as ("new" | "ellipsis" | "slice" | "int" | "array" |
    "mask", value); masks are constant boolean arrays (0-d ones included)."""
    items = []
    for item in index if isinstance(index, tuple) else (index,):
        if item is None:
            items.append(("new", None))
        elif item is Ellipsis:
            items.append(("ellipsis", None))
        elif isinstance(item, slice):
            items.append(("slice", item))
        elif isinstance(item, Tracer):
            items.append(("array", _as_index_array(item)))
        elif isinstance(item, bool | np.bool_ | np.ndarray | list | tuple):
            array = np.asarray(item)
            kind = "mask" if array.dtype == np.bool_ else "array"
            items.append((kind, array if kind == "mask" else _as_index_array(array)))
        else:
            try:
                items.append(("int", operator.index(item)))
            except TypeError:
                raise DTypeError(
                    f"cannot index with {type(item).__name__}: indices are ints, slices, None, "
                    "Ellipsis, integer arrays or constant boolean arrays"
                ) from None
    return items


def getitem(x: Any, index: Any) -> Any:
    """``x[index]`` for ints, slices, None, Ellipsis, integer arrays and constant bool masks.

    Basic indices become one ``slice`` and a reshape (dropping integer-indexed axes, adding
    new ones).  With array indices, as in NumPy, integers and masks are array indices too
    (a mask is the integer arrays of its True positions; a 0-d mask a new axis indexed by
    ``[0]`` or ``[]``) and ``_gather`` selects with all of them at once.
    """
    shape = shape_of(x)
    items = _index_items(index)
    consumed = builtins.sum(
        np.ndim(v) if kind == "mask" else 1
        for kind, v in items
        if kind in ("slice", "int", "array", "mask")
    )
    if consumed > len(shape):
        raise ShapeError(f"too many indices ({consumed}) for an array of shape {shape}")
    ellipses = [n for n, (kind, _) in enumerate(items) if kind == "ellipsis"]
    if len(ellipses) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')")
    # The axes an Ellipsis stands for; without one, the unindexed axes trail.
    filler = len(shape) - consumed
    if not ellipses:
        items.append(("ellipsis", None))
    fancy = any(kind in ("array", "mask") for kind, _ in items)

    start, step, size = [], [], []  # the slice taken of x, one entry per axis of x
    out_shape: list[int] = []  # x's slice reshaped: new axes in, integer-indexed axes out
    per_axis: list[Any] = []  # per axis of that reshape: "keep", or an index array
    fancy_items: list[int] = []  # positions in items of the array indices
    dim = 0

    def take_axis(b: int, s: int, n: int) -> None:
        nonlocal dim
        start.append(b), step.append(s), size.append(n)
        dim += 1

    for position, (kind, item) in enumerate(items):
        if kind == "new":
            out_shape.append(1), per_axis.append("keep")
        elif kind == "ellipsis":
            for _ in range(filler):
                out_shape.append(shape[dim]), per_axis.append("keep")
                take_axis(0, 1, shape[dim])
        elif kind == "slice":
            b, e, s = item.indices(shape[dim])
            n = len(range(b, e, s))
            out_shape.append(n), per_axis.append("keep")
            take_axis(b if n else 0, s if n else 1, n)
        elif kind == "int":
            d = shape[dim]
            if not -d <= item < d:
                raise IndexError(f"index {item} is out of bounds for axis {dim} with size {d}")
            if fancy:  # an array index selecting the one row kept by the slice
                out_shape.append(1), per_axis.append(np.zeros((), np.int64))
                fancy_items.append(position)
            take_axis(item % d, 1, 1)
        elif kind == "array":
            out_shape.append(shape[dim]), per_axis.append(item)
            fancy_items.append(position)
            take_axis(0, 1, shape[dim])
        elif np.ndim(item) == 0:  # a 0-d mask: a new axis, kept (True) or emptied (False)
            out_shape.append(1), per_axis.append(np.zeros(int(item), np.int64))
            fancy_items.append(position)
        else:
            axes = shape[dim : dim + item.ndim]
            if item.shape != axes:
                raise ShapeError(
                    f"boolean index of shape {item.shape} does not match the indexed axes "
                    f"{axes} of an array of shape {shape} (starting at axis {dim})"
                )
            for d, where_true in zip(axes, np.nonzero(item), strict=True):
                out_shape.append(d), per_axis.append(where_true.astype(np.int64))
                take_axis(0, 1, d)
            fancy_items.append(position)

    if tuple(size) != shape or any(s != 1 for s in step):
        x = P.slice_(asarray_like(x), start=tuple(start), step=tuple(step), shape=tuple(size))
    x = reshape(x, tuple(out_shape))
    if not fancy:
        return x
    # NumPy puts the selected axes where the array indices are if these are adjacent in the
    # index (None and Ellipsis, even one standing for no axes, separate them), else first.
    adjacent = fancy_items == list(range(fancy_items[0], fancy_items[0] + len(fancy_items)))
    return _gather(x, per_axis, adjacent)


def _gather(x: Any, per_axis: list[Any], in_place: bool) -> Any:
    """Advanced indexing: the index arrays broadcast together and select along their axes.

    The selected axes come first, or, with ``in_place``, where the first indexed axis was.
    """
    shape = shape_of(x)
    axes = [i for i, a in enumerate(per_axis) if not isinstance(a, str)]
    arrays = [per_axis[i] for i in axes]
    index_shape = P.broadcast_shapes(*(shape_of(a) for a in arrays))
    # Wrap negative indices, then combine the arrays into one index into the flattened axes.
    flat = None
    gathered_size = math.prod(shape[a] for a in axes)
    for axis, idx in zip(axes, arrays, strict=True):
        d = shape[axis]
        if isinstance(idx, Tracer):
            idx = where(less(idx, 0), add(idx, d), idx)
            # An index out of range for its own axis must not land on another row of the
            # flattened axes: map it past the end, where take raises IndexError.
            outside = logical_or(less(idx, 0), greater_equal(idx, d))
            idx = where(outside, gathered_size, idx)
        else:
            if idx.size and (idx.min() < -d or idx.max() >= d):
                raise IndexError(f"index out of bounds for axis {axis} with size {d}")
            idx = idx % d if d else idx
        idx = broadcast_to(cast(idx, np.int64), index_shape)
        flat = idx if flat is None else add(multiply(flat, d), idx)
    rest = [i for i in range(len(shape)) if i not in axes]
    moved = transpose(x, axes + rest)
    merged = reshape(moved, (gathered_size,) + tuple(shape[i] for i in rest))
    result = P.take(merged, flat, axis=0)
    if in_place and axes[0] > 0:
        k = len(index_shape)
        lead = list(range(k, k + axes[0]))
        result = transpose(result, lead + list(range(k)) + list(range(k + axes[0], k + len(rest))))
    return result


# =============================================================================================
# Dispatch from NumPy's protocols

UFUNCS: dict[np.ufunc, Callable[..., Any]] = {
    np.add: add,
    np.subtract: subtract,
    np.multiply: multiply,
    np.true_divide: divide,
    np.power: power,
    np.float_power: lambda x, y: power(cast(x, np.float64), cast(y, np.float64)),
    np.negative: negative,
    np.positive: lambda x: x,
    np.absolute: absolute,
    np.fabs: absolute,
    np.sign: sign,
    np.exp: exp,
    np.exp2: exp2,
    np.expm1: expm1,
    np.log: log,
    np.log2: log2,
    np.log10: log10,
    np.log1p: log1p,
    np.sqrt: sqrt,
    np.square: square,
    np.reciprocal: reciprocal,
    np.sin: sin,
    np.cos: cos,
    np.tan: tan,
    np.arctan: arctan,
    np.arctan2: arctan2,
    np.sinh: sinh,
    np.cosh: cosh,
    np.tanh: tanh,
    np.hypot: hypot,
    np.logaddexp: logaddexp,
    np.maximum: maximum,
    np.minimum: minimum,
    np.less: less,
    np.less_equal: less_equal,
    np.greater: greater,
    np.greater_equal: greater_equal,
    np.equal: equal,
    np.not_equal: not_equal,
    np.logical_and: logical_and,
    np.logical_or: logical_or,
    np.logical_not: logical_not,
    np.isnan: isnan,
    np.matmul: matmul,
}

FUNCTIONS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.sum: sum,
    np.mean: mean,
    np.max: amax,
    np.amax: amax,
    np.min: amin,
    np.amin: amin,
    np.var: var,
    np.std: std,
    np.linalg.norm: norm,
    np.reshape: reshape,
    np.transpose: transpose,
    np.swapaxes: swapaxes,
    np.moveaxis: moveaxis,
    np.expand_dims: expand_dims,
    np.squeeze: squeeze,
    np.ravel: ravel,
    np.broadcast_to: broadcast_to,
    np.atleast_1d: atleast_1d,
    np.atleast_2d: atleast_2d,
    np.concatenate: concatenate,
    np.stack: stack,
    np.hstack: hstack,
    np.vstack: vstack,
    np.where: where,
    np.clip: clip,
    np.dot: dot,
    np.inner: inner,
    np.outer: outer,
    np.vdot: vdot,
    np.trace: trace,
    np.zeros_like: zeros_like,
    np.ones_like: ones_like,
    np.full_like: full_like,
    np.shape: shape_of,
    np.ndim: lambda x: len(shape_of(x)),
    np.size: lambda x, axis=None: math.prod(shape_of(x)) if axis is None else shape_of(x)[axis],
    np.copy: lambda x, **kw: x.copy() if isinstance(x, Tracer) else np.copy(x),
    np.asarray: lambda x, dtype=None, **kw: x if dtype is None else astype(x, dtype),
    np.array: lambda x, dtype=None, **kw: (
        (x.copy() if isinstance(x, Tracer) else np.array(x)) if dtype is None else astype(x, dtype)
    ),
}


def apply_ufunc(ufunc: np.ufunc, method: str, inputs: Sequence[Any], kwargs: dict) -> Any:
    if method != "__call__":
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}.{method} is not supported on traced values; use the "
            "matching function (np.sum for add.reduce, indexing for take, ...) instead."
        )
    handler = UFUNCS.get(ufunc)
    if handler is None:
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__} has no tracegrad rule. Express it with supported functions "
            "(docs/numpy-support.md lists them), or compute it outside the differentiated function "
            "and pass the result in as an argument."
        )
    out = kwargs.pop("out", None)
    _no_out(ufunc.__name__, out)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("casting", None)
    if kwargs:
        raise UnsupportedNumpyFunction(
            f"np.{ufunc.__name__}: arguments {sorted(kwargs)} are not supported while tracing"
        )
    result = handler(*inputs)
    return astype(result, dtype) if dtype is not None else result


def apply_function(func: Callable[..., Any], args: Sequence[Any], kwargs: dict) -> Any:
    handler = FUNCTIONS.get(func)
    if handler is None:
        module = getattr(func, "__module__", None) or "numpy"
        prefix = "np." + "".join(f"{part}." for part in module.split(".")[1:] if part != "_core")
        raise UnsupportedNumpyFunction(
            f"{prefix}{func.__name__} has no tracegrad rule. Express it with supported "
            "functions (docs/numpy-support.md lists them), or compute it outside the "
            "differentiated function and pass the result in as an argument."
        )
    return handler(*args, **kwargs)
