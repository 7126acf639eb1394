"""``scipy.linalg``'s triangular and Cholesky solvers on traced values.

SciPy's functions call LAPACK on ``np.asarray`` of their arguments, which cannot take Tracers;
so while a trace runs, the names on ``scipy.linalg`` are swapped for these (see
``constructors``), as for ``scipy.special``. A name imported before tracing
(``from scipy.linalg import solve_triangular``) keeps SciPy's own: call it as
``scipy.linalg.solve_triangular``. tracegrad never imports SciPy itself.

Each is composed from ``np.linalg.solve`` and ``cholesky`` on the triangle the function
reads (the other triangle is masked out), so gradients reach only the entries SciPy reads.
Stacks of matrices and right-hand sides broadcast as in SciPy (and NumPy 2's ``solve``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ShapeError
from . import linalg
from .promotion import asarray_like, dtype_of, promote, shape_of, traced_replacement
from .shapes import reshape, swapaxes, tril, triu


def _scipy_linalg() -> Any:
    return sys.modules.get("scipy.linalg")


def _square_matrices(name: str, a: Any) -> Any:
    shape = shape_of(a)
    if len(shape) < 2 or shape[-1] != shape[-2]:
        raise ShapeError(
            f"scipy.linalg.{name} needs a square matrix or a stack of them, got shape {shape}"
        )
    (a,) = promote(asarray_like(a), float_only=True)
    return a


def _transposed(x: Any) -> Any:
    return swapaxes(x, -1, -2)


def _triangle(a: Any, lower: bool, unit_diagonal: bool = False) -> Any:
    """The lower (or upper) triangle of ``a``; with ``unit_diagonal``, ones on the diagonal
    in place of a's (which are then not read)."""
    if not unit_diagonal:
        return tril(a) if lower else triu(a)
    strict = tril(a, -1) if lower else triu(a, 1)
    return strict + np.eye(shape_of(a)[-1], dtype=dtype_of(strict))


_TRANS = {0: False, "N": False, 1: True, "T": True, 2: True, "C": True}


def solve_triangular(a: Any, b: Any, trans: Any = 0, lower: bool = False,
                     unit_diagonal: bool = False, overwrite_b: bool = False,
                     check_finite: bool = True) -> Any:  # fmt: skip
    """x with ``op(T) x = b``, T the lower (or upper) triangle of ``a``, op the transpose if
    ``trans`` is 1, 'T', 2 or 'C' (the same for real matrices)."""
    if trans not in _TRANS:
        raise ValueError(f"scipy.linalg.solve_triangular: trans must be 0, 1, 2, 'N', 'T' or 'C', "
                         f"got {trans!r}")  # fmt: skip
    t = _triangle(_square_matrices("solve_triangular", a), lower, unit_diagonal)
    return linalg.solve(_transposed(t) if _TRANS[trans] else t, b)


def cholesky(a: Any, lower: bool = False, overwrite_a: bool = False,
             check_finite: bool = True) -> Any:  # fmt: skip
    """SciPy's default is the upper factor R, with a = R^T R."""
    return linalg.cholesky(a, upper=not lower)


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False,
               check_finite: bool = True) -> tuple[Any, bool]:  # fmt: skip
    """``(c, lower)``: the factor in one triangle of c and, as SciPy leaves it, the entries
    of ``a`` in the other (which cho_solve does not read)."""
    a = _square_matrices("cho_factor", a)
    factor = cholesky(a, lower=lower)
    rest = triu(a, 1) if lower else tril(a, -1)
    return factor + rest, lower


def cho_solve(c_and_lower: tuple[Any, bool], b: Any, overwrite_b: bool = False,
              check_finite: bool = True) -> Any:  # fmt: skip
    """x with ``a x = b`` from ``cho_factor(a)``: two triangular solves."""
    c, lower = c_and_lower
    vector = len(shape_of(b)) == 1  # kept a column, or the first solve's stack of vectors
    columns = reshape(b, (-1, 1)) if vector else b  # would be read as a matrix by the second
    if lower:  # a = L L^T
        x = solve_triangular(c, solve_triangular(c, columns, lower=True), trans=1, lower=True)
    else:  # a = R^T R
        x = solve_triangular(c, solve_triangular(c, columns, trans=1), lower=False)
    return x[..., 0] if vector else x


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "solve_triangular": solve_triangular,
    "cholesky": cholesky,
    "cho_factor": cho_factor,
    "cho_solve": cho_solve,
}


def replacements() -> list[tuple[Any, str, Callable[[Callable[..., Any]], Callable[..., Any]]]]:
    """(scipy.linalg, name, make) for the functions swapped while tracing, if SciPy is in."""
    module = _scipy_linalg()
    if module is None:
        return []
    return [(module, name, traced_replacement(ours)) for name, ours in FUNCTIONS.items()]
