"""np.linalg on single 2-D matrices: solve, inv, det, slogdet and cholesky, each one
primitive with its own gradient rule (np.linalg.norm is a composition in reductions)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import primitives as P
from ..errors import ShapeError, UnsupportedNumpyFunction
from .promotion import asarray_like, promote, shape_of
from .shapes import reshape, transpose


def _matrix(name: str, *xs: Any) -> list[Any]:
    shape = shape_of(xs[0])
    if len(shape) > 2:
        raise UnsupportedNumpyFunction(
            f"np.linalg.{name} on a stack of matrices (shape {shape}) is not supported; "
            "apply it to each matrix (a Python loop is unrolled while tracing) and np.stack "
            "the results."
        )
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ShapeError(f"np.linalg.{name} needs a square 2-D matrix, got shape {shape}")
    return promote(*(asarray_like(x) for x in xs), float_only=True)


def solve(a: Any, b: Any) -> Any:
    a, b = _matrix("solve", a, b)
    if len(shape_of(b)) == 1:
        return reshape(P.solve(a, reshape(b, (-1, 1))), (-1,))
    if len(shape_of(b)) != 2:
        raise UnsupportedNumpyFunction(
            f"np.linalg.solve with a right-hand side of shape {shape_of(b)}: only 1-D and 2-D"
        )
    return P.solve(a, b)


def inv(a: Any) -> Any:
    return P.inv(*_matrix("inv", a))


def det(a: Any) -> Any:
    return P.det(*_matrix("det", a))


_SlogdetResult = type(np.linalg.slogdet(np.eye(1)))  # a namedtuple in NumPy 2
if not hasattr(_SlogdetResult, "_fields"):  # NumPy 1: a plain tuple

    def _SlogdetResult(sign: Any, logabsdet: Any) -> tuple:  # noqa: N802
        return sign, logabsdet


def slogdet(a: Any) -> Any:
    """``(sign, logabsdet)``; only logabsdet has a gradient (inv(a).T)."""
    (a,) = _matrix("slogdet", a)
    sign = P.slogdet(a, part="sign")
    logabsdet = P.slogdet(a, part="logabsdet")
    return _SlogdetResult(sign, logabsdet)


def cholesky(a: Any, /, *, upper: bool = False) -> Any:
    """Reads only the lower triangle of ``a`` (upper with ``upper=True``), as NumPy does; so
    does the gradient."""
    (a,) = _matrix("cholesky", a)
    if upper:  # R = chol(a^T)^T reads the upper triangle of a
        return transpose(P.cholesky(transpose(a)))
    return P.cholesky(a)


IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.linalg.solve: solve,
    np.linalg.inv: inv,
    np.linalg.det: det,
    np.linalg.slogdet: slogdet,
    np.linalg.cholesky: cholesky,
}
