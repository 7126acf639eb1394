"""Elementary functions of complex operands that are not one primitive, from primitives.

``elementwise`` calls these for complex operands where the real formula does not carry over:
where it would pick another branch than NumPy's principal values (``arccosh``,
``arctanh`` on its cuts), turn an infinity into NaN (``log2(0j)``), or needs an ordering
(``maximum``: NumPy orders complex numbers by real part, then imaginary part).  Every
function takes complex operands of one dtype and is a composition of primitives, so its
gradient follows the primitives' convention (JAX's: ``df/dx - i df/dy``) with no rule of
its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..core import complex_primitives as C
from ..core import primitives as P

__all__ = [
    "arccos",
    "arccosh",
    "arcsin",
    "arcsinh",
    "arctan",
    "arctanh",
    "by_parts",
    "extremum",
    "ordered",
    "scaled_log",
    "sign",
]


def _c(value: Any, z: Any) -> Any:
    """``value`` as a constant in ``z``'s dtype."""
    return P.const(value, z)


def by_parts(z: Any, fn: Callable[[Any], Any]) -> Any:
    """A real function applied to the real and the imaginary part (``np.round``)."""
    return C.make_complex(fn(C.real(z)), fn(C.imag(z)))


def _scaled(w: Any, scale: float) -> Any:
    """``w * scale`` for a real ``scale``, part by part: the complex product with
    ``scale + 0j`` turns an infinite part into NaN in the other (``inf * 0``)."""
    re, im = C.real(w), C.imag(w)
    return C.make_complex(P.mul(re, _c(scale, re)), P.mul(im, _c(scale, im)))


def _times_i(w: Any, sign: int = 1) -> Any:
    """``i w`` (``-i w`` for ``sign=-1``) exactly, by swapping the parts."""
    re, im = C.real(w), C.imag(w)
    return C.make_complex(P.neg(im), re) if sign > 0 else C.make_complex(im, P.neg(re))


def scaled_log(z: Any, scale: float) -> Any:
    """``log(z) * scale`` (``log2``, ``log10``): ``log2(0j)`` is ``-inf + 0j``."""
    return _scaled(P.log(z), scale)


def _sign_factor(x: Any) -> Any:
    """-1 where the real ``x`` has its sign bit set (-0.0 included: atan2(-0.0, -1) is -pi),
    else 1; a constant for the gradient."""
    negative = P.lt(P.atan2(x, _c(-1, x)), _c(0, x))
    return P.select(negative, _c(-1, x), _c(1, x))


def arcsinh(z: Any) -> Any:
    """The principal value ``log(w + sqrt(w^2 + 1))`` on the first quadrant, where it
    neither cancels nor leaves a cut, and by the symmetries ``asinh(-z) = -asinh(z)`` and
    ``asinh(conj z) = conj asinh(z)`` elsewhere; the signs of zero parts pick the side of
    the cuts as NumPy does (``asinh(-0.0 + 2j)`` is on the left of the imaginary axis)."""
    re, im = C.real(z), C.imag(z)
    s_re, s_im = _sign_factor(re), _sign_factor(im)
    w = C.make_complex(P.mul(s_re, re), P.mul(s_im, im))
    q = P.log(P.add(w, P.sqrt(P.add(P.mul(w, w), _c(1, w)))))
    return C.make_complex(P.mul(s_re, C.real(q)), P.mul(s_im, C.imag(q)))


def arccosh(z: Any) -> Any:
    """``log(z + sqrt(z + 1) sqrt(z - 1))``, principal also for ``Re z < 0`` (where
    ``log(z + sqrt(z^2 - 1))`` lands on the other branch), on the upper half plane, and by
    ``acosh(conj z) = conj acosh(z)`` on the lower one: -0.0 imaginary parts pick the lower
    side of the cut, as in NumPy."""
    re, im = C.real(z), C.imag(z)
    s_im = _sign_factor(im)
    w = C.make_complex(re, P.mul(s_im, im))
    root = P.mul(P.sqrt(P.add(w, _c(1, w))), P.sqrt(P.sub(w, _c(1, w))))
    q = P.log(P.add(w, root))
    return C.make_complex(C.real(q), P.mul(s_im, C.imag(q)))


def arctanh(z: Any) -> Any:
    """``(log1p(z) - log1p(-z)) / 2``: on the cuts (real ``|z| > 1``) the imaginary part's
    sign is NumPy's, which ``log1p(2z / (1 - z))`` gets wrong for a real ``z > 1``."""
    return _scaled(P.sub(P.log1p(z), P.log1p(P.neg(z))), 0.5)


def arcsin(z: Any) -> Any:
    """``-i arcsinh(i z)``."""
    return _times_i(arcsinh(_times_i(z)), -1)


def arccos(z: Any) -> Any:
    """``pi/2 - arcsin(z)``."""
    return P.sub(_c(math.pi / 2, z), arcsin(z))


def arctan(z: Any) -> Any:
    """``-i arctanh(i z)``."""
    return _times_i(arctanh(_times_i(z)), -1)


def sign(z: Any) -> Any:
    """NumPy's ``z / |z|``, 0 at 0 (where the division is kept off 0 / 0, for the gradient)."""
    zero = P.eq(z, _c(0, z))
    safe = P.select(zero, _c(1, z), z)
    unit = P.div(safe, P.convert(C.complex_abs(safe), dtype=z.dtype))
    return P.select(zero, _c(0, z), unit)


def extremum(a: Any, b: Any, larger: bool) -> Any:
    """``np.maximum`` (``larger``) or ``np.minimum``: by real part, then imaginary part; a NaN
    (in either part) wins, as in NumPy; ties share the gradient, as for real operands."""
    ra, rb, ia, ib = C.real(a), C.real(b), C.imag(a), C.imag(b)
    first = P.gt if larger else P.lt
    a_wins = P.logical_or(first(ra, rb), P.logical_and(P.eq(ra, rb), first(ia, ib)))
    a_nan = P.logical_or(P.isnan(ra), P.isnan(ia))
    b_nan = P.logical_or(P.isnan(rb), P.isnan(ib))
    a_wins = P.logical_or(a_nan, P.logical_and(a_wins, P.logical_not(b_nan)))
    tie = P.eq(a, b)
    shared = P.mul(P.add(a, b), _c(0.5, a))
    return P.select(tie, shared, P.select(a_wins, a, b))


def ordered(a: Any, b: Any, op: str) -> Any:
    """NumPy's comparison ``op`` ("lt", "le", "gt", "ge") of complex numbers: the real parts
    decide unless equal, then the imaginary parts; a NaN imaginary part makes a decision by
    the real parts false (as NumPy's loops do)."""
    ra, rb, ia, ib = C.real(a), C.real(b), C.imag(a), C.imag(b)
    strict = P.lt if op in ("lt", "le") else P.gt
    on_tie = {"lt": P.lt, "le": P.le, "gt": P.gt, "ge": P.ge}[op]
    no_nan = P.logical_not(P.logical_or(P.isnan(ia), P.isnan(ib)))
    by_real = P.logical_and(strict(ra, rb), no_nan)
    return P.logical_or(by_real, P.logical_and(P.eq(ra, rb), on_tie(ia, ib)))
