"""np.fft on traced values: the 1-D transforms fft, ifft, rfft and irfft along one axis, and
their N-d forms (fft2, fftn, ...) as 1-D transforms along each axis in turn; the Hermitian
ones (hfft, ihfft) are irfft and rfft of the conjugate, scaled the other way.

Each 1-D transform is one primitive along the last axis; ``n`` crops or zero-pads the input
first, ``axis`` moves the axis last and back, and ``norm`` scales the result as NumPy does.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import complex_primitives as C
from ..core import primitives as P
from ..errors import DTypeError
from .elementwise import conjugate, multiply
from .promotion import asarray_like, cast, dtype_of, no_out, shape_of
from .shapes import moveaxis


def _along(x: Any, axis: int, transform: Callable[[Any], Any]) -> Any:
    """``transform`` (of the last axis) applied along ``axis``."""
    ndim = len(shape_of(x))
    if ndim == 0:
        raise ValueError("np.fft: the input must have at least one axis")
    axis = operator.index(axis)
    if not -ndim <= axis < ndim:
        raise np.exceptions.AxisError(axis, ndim)
    if axis % ndim == ndim - 1:
        return transform(x)
    return moveaxis(transform(moveaxis(x, axis, -1)), -1, axis)


def _points(n: Any, default: int) -> int:
    n = default if n is None else operator.index(n)
    if n < 1:
        raise ValueError(f"Invalid number of FFT data points ({n}) specified.")
    return n


def _fit(x: Any, n: int) -> Any:
    """``x`` with its last axis cropped or zero-padded to ``n`` entries."""
    shape = tuple(shape_of(x))
    if shape[-1] == n:
        return x
    new = shape[:-1] + (n,)
    zeros, ones = (0,) * len(shape), (1,) * len(shape)
    if n < shape[-1]:
        return P.slice_(x, start=zeros, step=ones, shape=new)
    return P.unslice(x, start=zeros, step=ones, shape=new)


def _normalized(y: Any, n: int, norm: str | None, inverse: bool) -> Any:
    """NumPy's ``norm``: "backward" (the default) scales the inverse transform by 1 / n,
    "ortho" both by 1 / sqrt(n), "forward" the forward transform by 1 / n."""
    if norm in (None, "backward"):
        return y
    if norm == "ortho":
        return multiply(y, math.sqrt(n) if inverse else 1.0 / math.sqrt(n))
    if norm == "forward":
        return multiply(y, float(n) if inverse else 1.0 / n)
    raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')


def _complex(x: Any) -> Any:
    return cast(x, C.complex_dtype(dtype_of(x)))


def _real(name: str, x: Any) -> Any:
    dtype = dtype_of(x)
    if dtype.kind == "c":
        raise DTypeError(
            f"np.fft.{name} takes a real signal, got {dtype} (NumPy would drop the imaginary "
            f"part). Pass np.real(x), or use np.fft.{name[1:]} for a complex signal."
        )
    return cast(x, dtype if dtype.kind == "f" else np.float64)


def _complex_transform(name: str, prim: Any, inverse: bool) -> Callable[..., Any]:
    def transform(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
        no_out(f"fft.{name}", out)

        def last(x: Any) -> Any:
            points = _points(n, shape_of(x)[-1])
            return _normalized(prim(_fit(_complex(x), points)), points, norm, inverse)

        return _along(asarray_like(a), axis, last)

    transform.__name__ = name
    transform.__doc__ = f"np.fft.{name} on traced values (primitive {prim.name})."
    return transform


fft = _complex_transform("fft", C.fft, inverse=False)
ifft = _complex_transform("ifft", C.ifft, inverse=True)


def rfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    no_out("fft.rfft", out)

    def last(x: Any) -> Any:
        points = _points(n, shape_of(x)[-1])
        return _normalized(C.rfft(_fit(_real("rfft", x), points)), points, norm, False)

    return _along(asarray_like(a), axis, last)


def irfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    no_out("fft.irfft", out)

    def last(x: Any) -> Any:
        points = _points(n, 2 * (shape_of(x)[-1] - 1))
        spectrum = _fit(_complex(x), points // 2 + 1)
        return _normalized(C.irfft(spectrum, n=points), points, norm, True)

    return _along(asarray_like(a), axis, last)


# A Hermitian transform is a real one run in the other direction: its norm swaps too.
_OTHER_DIRECTION = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _other_direction(norm: Any) -> str:
    if norm not in _OTHER_DIRECTION:
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or "forward".')
    return _OTHER_DIRECTION[norm]


def hfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """The real signal whose spectrum is Hermitian with ``a`` as its first half: irfft of the
    conjugate, scaled as a forward transform."""
    no_out("fft.hfft", out)
    return irfft(conjugate(_complex(asarray_like(a))), n, axis, _other_direction(norm))


def ihfft(a: Any, n: Any = None, axis: int = -1, norm: Any = None, out: Any = None) -> Any:
    """hfft's inverse for a real signal: the conjugate of its rfft, scaled as an inverse."""
    no_out("fft.ihfft", out)
    return conjugate(rfft(a, n, axis, _other_direction(norm)))


def _shape_and_axes(a: Any, s: Any, axes: Any) -> tuple[list[Any], list[int]]:
    """NumPy's ``s`` and ``axes`` of an N-d transform: every axis (or the last ``len(s)``)
    by default, and each axis's length (None: the input's, as -1 says too)."""
    ndim = len(shape_of(a))
    if axes is None:
        axes = list(range(ndim)) if s is None else list(range(ndim - len(s), ndim))
    axes = [operator.index(axis) for axis in axes]
    if s is None:
        return [None] * len(axes), axes
    if len(s) != len(axes):
        raise ValueError("np.fft: s and axes must have the same length")
    return [None if n == -1 else n for n in s], axes


def _prepared(name: str, a: Any, s: Any, axes: Any, out: Any) -> tuple[Any, list, list[int]]:
    """An N-d transform's input as an array, each axis's length, and the axes."""
    no_out(f"fft.{name}", out)
    a = asarray_like(a)
    return (a, *_shape_and_axes(a, s, axes))


def _each(a: Any, one: Callable[..., Any], lengths: list, axes: list[int], norm: Any) -> Any:
    """The 1-D transform ``one`` along each of ``axes`` in turn."""
    for n, axis in zip(lengths, axes, strict=True):
        a = one(a, n=n, axis=axis, norm=norm)
    return a


def _nd(name: str, one: Callable[..., Any]) -> Callable[..., Any]:
    def transform(
        a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None
    ) -> Any:
        a, lengths, axes = _prepared(name, a, s, axes, out)
        return _each(a, one, lengths, axes, norm)

    transform.__name__ = name
    transform.__doc__ = f"np.fft.{name} on traced values: np.fft.{one.__name__} along each axis."
    return transform


def _real_nd(name: str, inverse: bool) -> Callable[..., Any]:
    """rfftn (rfft along the last axis, then fft along the others) and irfftn (ifft along
    all axes but the last, then irfft along it), as NumPy orders them."""

    def transform(
        a: Any, s: Any = None, axes: Any = None, norm: Any = None, out: Any = None
    ) -> Any:
        a, lengths, axes = _prepared(name, a, s, axes, out)
        if not axes:
            raise ValueError(f"np.fft.{name}: at least one axis is needed")
        if inverse:
            a = _each(a, ifft, lengths[:-1], axes[:-1], norm)
            return irfft(a, n=lengths[-1], axis=axes[-1], norm=norm)
        a = rfft(a, n=lengths[-1], axis=axes[-1], norm=norm)
        return _each(a, fft, lengths[:-1], axes[:-1], norm)

    transform.__name__ = name
    transform.__doc__ = f"np.fft.{name} on traced values."
    return transform


def _two_d(nd: Callable[..., Any], name: str) -> Callable[..., Any]:
    def transform(
        a: Any, s: Any = None, axes: Any = (-2, -1), norm: Any = None, out: Any = None
    ) -> Any:
        return nd(a, s=s, axes=axes, norm=norm, out=out)

    transform.__name__ = name
    transform.__doc__ = f"np.fft.{name} on traced values: np.fft.{nd.__name__} over two axes."
    return transform


fftn, ifftn = _nd("fftn", fft), _nd("ifftn", ifft)
rfftn, irfftn = _real_nd("rfftn", inverse=False), _real_nd("irfftn", inverse=True)
fft2, ifft2 = _two_d(fftn, "fft2"), _two_d(ifftn, "ifft2")
rfft2, irfft2 = _two_d(rfftn, "rfft2"), _two_d(irfftn, "irfft2")

IMPLEMENTS: dict[Callable[..., Any], Callable[..., Any]] = {
    np.fft.fft: fft,
    np.fft.ifft: ifft,
    np.fft.rfft: rfft,
    np.fft.irfft: irfft,
    np.fft.fftn: fftn,
    np.fft.ifftn: ifftn,
    np.fft.rfftn: rfftn,
    np.fft.irfftn: irfftn,
    np.fft.fft2: fft2,
    np.fft.ifft2: ifft2,
    np.fft.rfft2: rfft2,
    np.fft.irfft2: irfft2,
    np.fft.hfft: hfft,
    np.fft.ihfft: ihfft,
}
