"""Primitives of complex values: their parts, their modulus, discrete Fourier transforms.

The gradient convention is JAX's.  For a real-valued f of z = x + iy, the gradient is
``df/dx - i df/dy``; a VJP rule multiplies the cotangent by f'(z), without a conjugate, where
f is holomorphic.  The real rules of ``primitives`` (exp, log, mul, matmul, sums...) then
serve complex operands unchanged.  The primitives here are the ones that are not holomorphic
(real and imaginary parts, conjugate, modulus) or not elementwise (the transforms).
``primitives`` imports this module at its end, so the registry holds these too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import DTypeError, ShapeError
from .ir import Aval
from .primitives import (
    Kind,
    Primitive,
    broadcast_shapes,
    const,
    convert,
    div,
    lt,
    mul,
    neg,
    select,
    sub,
    unbroadcast,
    unslice,
)


def real_dtype(dtype: Any) -> np.dtype:
    """The real dtype of a complex one (float32 for complex64); other dtypes unchanged."""
    dtype = np.dtype(dtype)
    return np.dtype(f"f{dtype.itemsize // 2}") if dtype.kind == "c" else dtype


def complex_dtype(dtype: Any) -> np.dtype:
    """The complex dtype of a float one (complex64 for float32, complex128 otherwise)."""
    dtype = np.dtype(dtype)
    if dtype.kind == "c":
        return dtype
    return np.dtype(np.complex64 if dtype == np.float32 else np.complex128)


# =============================================================================================
# Parts and modulus (elementwise, complex operand, real result except for conj)


def _to_real_rule(name: str) -> Callable[..., Aval]:
    def rule(z: Aval) -> Aval:
        if z.dtype.kind != "c":
            raise DTypeError(f"{name} needs a complex operand, got {z.dtype}")
        return Aval(z.shape, real_dtype(z.dtype))

    return rule


def _conj_rule(z: Aval) -> Aval:
    if z.dtype.kind != "c":
        raise DTypeError(f"conj needs a complex operand, got {z.dtype}")
    return z


def _imag_vjp(ct: Any, out: Any, z: Any) -> tuple:
    # Im(z) = Re(-i z): the cotangent is -i ct.
    return (mul(convert(ct, dtype=z.dtype), const(-1j, z)),)


def _complex_abs_vjp(ct: Any, out: Any, z: Any) -> tuple:
    # (d/dx - i d/dy) sqrt(x^2 + y^2) = (x - iy) / |z|; 0 at z = 0 (the subgradient of least
    # norm, as np.abs of a real 0 has derivative 0 here), never 0 / 0.  The quotients x / |z|
    # and y / |z| are real and at most 1: a complex division by |z| would square it, and
    # ct / |z| overflow, for tiny z.  Subnormal |z| count as 0: compiled code may divide by
    # multiplying with 1 / |z|, which overflows there.
    tiny = const(np.finfo(real_dtype(z.dtype)).tiny, out)
    safe = select(lt(out, tiny), const(1, out), out)
    dx, dy = mul(ct, div(real(z), safe)), mul(ct, div(imag(z), safe))
    return (sub(convert(dx, dtype=z.dtype), mul(convert(dy, dtype=z.dtype), const(1j, z))),)


real = Primitive(
    name="real",
    kind=Kind.UNARY,
    shape_rule=_to_real_rule("real"),
    impl=np.real,
    vjp=lambda ct, out, z: (convert(ct, dtype=z.dtype),),
    scalar="{0}.real",
    complex=True,
)
imag = Primitive(
    name="imag",
    kind=Kind.UNARY,
    shape_rule=_to_real_rule("imag"),
    impl=np.imag,
    vjp=_imag_vjp,
    scalar="{0}.imag",
    complex=True,
)
conj = Primitive(
    name="conj",
    kind=Kind.UNARY,
    shape_rule=_conj_rule,
    impl=np.conjugate,
    vjp=lambda ct, out, z: (conj(ct),),
    scalar="{0}.conjugate()",
    involution=True,
    complex=True,
)
# np.abs of a complex operand (np.abs of a real one is the primitive ``abs``).
complex_abs = Primitive(
    name="complex_abs",
    kind=Kind.UNARY,
    shape_rule=_to_real_rule("complex_abs"),
    impl=lambda z: np.abs(z),  # not the ufunc itself, which dispatches to ``abs``
    vjp=_complex_abs_vjp,
    scalar="abs({0})",
    complex=True,
)


def _make_complex_rule(re: Aval, im: Aval) -> Aval:
    if re.dtype.kind != "f" or im.dtype != re.dtype:
        raise DTypeError(f"make_complex needs two float operands of one dtype, got {re}, {im}")
    return Aval(broadcast_shapes(re.shape, im.shape), complex_dtype(re.dtype))


def _make_complex_impl(re: np.ndarray, im: np.ndarray) -> np.ndarray:
    re, im = np.broadcast_arrays(re, im)
    out = np.empty(re.shape, complex_dtype(re.dtype))
    out.real, out.imag = re, im
    return out


def _make_complex_vjp(ct: Any, out: Any, re: Any, im: Any) -> tuple:
    # ct = dL/du - i dL/dv for out = u + iv, and u = re, v = im.
    return unbroadcast(real(ct), tuple(re.shape)), unbroadcast(neg(imag(ct)), tuple(im.shape))


# re + i im from two real arrays (broadcast), each part exact: ``re + 1j * im`` in complex
# arithmetic turns an infinite im into a NaN real part (inf * 0), and loses a -0.0.
make_complex = Primitive(
    name="make_complex",
    kind=Kind.BINARY,
    shape_rule=_make_complex_rule,
    impl=_make_complex_impl,
    vjp=_make_complex_vjp,
    scalar="complex({0}, {1})",
)


# =============================================================================================
# Discrete Fourier transforms along the last axis, NumPy's scaling (norm="backward").  They
# are linear, so each VJP is a transform of the cotangent; the real-input forms need care with
# the bins that stand for two (conjugate) frequencies.  Numba has no np.fft: compiled code
# calls NumPy in object mode.


def _last_axis(name: str, x: Aval) -> int:
    if x.ndim == 0 or x.shape[-1] == 0:
        raise ShapeError(f"{name} needs an array with a non-empty last axis, got {x}")
    return x.shape[-1]


def _complex_to_complex_rule(name: str) -> Callable[..., Aval]:
    def rule(x: Aval) -> Aval:
        _last_axis(name, x)
        if x.dtype.kind != "c":
            raise DTypeError(f"{name} needs a complex operand, got {x.dtype}")
        return x

    return rule


def _rfft_rule(x: Aval) -> Aval:
    n = _last_axis("rfft", x)
    if x.dtype.kind != "f":
        raise DTypeError(f"rfft needs a float operand, got {x.dtype}")
    return Aval(x.shape[:-1] + (n // 2 + 1,), complex_dtype(x.dtype))


def _irfft_rule(x: Aval, *, n: int) -> Aval:
    m = _last_axis("irfft", x)
    if x.dtype.kind != "c" or n < 1 or m != n // 2 + 1:
        raise ShapeError(f"irfft: {x} is not the spectrum of a real signal of length {n}")
    return Aval(x.shape[:-1] + (n,), real_dtype(x.dtype))


def _rfft_vjp(ct: Any, out: Any, x: Any) -> tuple:
    # rfft is the first n // 2 + 1 rows of the DFT matrix: its transpose pads the cotangent
    # with zeros to length n and applies the (symmetric) DFT; x is real, so the real part.
    shape = tuple(x.shape)
    zeros, ones = (0,) * len(shape), (1,) * len(shape)
    padded = ct if ct.shape == shape else unslice(ct, start=zeros, step=ones, shape=shape)
    return (real(fft(padded)),)


def _irfft_vjp(ct: Any, out: Any, x: Any, *, n: int) -> tuple:
    # irfft reads each bin k of 0 < k < n / 2 twice (as X_k and as conj(X_k) at n - k), bins 0
    # and n / 2 once and only their real parts: sum_j ct_j y_j = Re sum_k w_k X_k with
    # w_k = c_k conj(rfft(ct))_k / n, c_k = 2 for the doubled bins and 1 for the others.
    weights = np.full(n // 2 + 1, 2.0 / n)
    weights[0] = 1.0 / n
    if n % 2 == 0:
        weights[-1] = 1.0 / n
    return (mul(conj(rfft(ct)), const(weights, x)),)


def _transform(
    name: str, rule: Callable[..., Aval], impl: Callable, vjp: Callable, call: str
) -> Primitive:
    """A transform: ``call`` is the same NumPy call as source text over ``{x}`` and the
    params, which compiled code runs in object mode."""
    return Primitive(
        name=name,
        kind=Kind.LINALG,
        shape_rule=rule,
        impl=impl,
        vjp=vjp,
        emit=lambda w, out, x, **params: w.object_mode(out, call.format(x=x, **params)),
        complex=True,
    )


fft = _transform(
    "fft",
    _complex_to_complex_rule("fft"),
    lambda x: np.fft.fft(x, axis=-1),
    lambda ct, out, x: (fft(ct),),
    "np.fft.fft({x}, axis=-1)",
)
ifft = _transform(
    "ifft",
    _complex_to_complex_rule("ifft"),
    lambda x: np.fft.ifft(x, axis=-1),
    lambda ct, out, x: (ifft(ct),),
    "np.fft.ifft({x}, axis=-1)",
)
rfft = _transform(
    "rfft", _rfft_rule, lambda x: np.fft.rfft(x, axis=-1), _rfft_vjp, "np.fft.rfft({x}, axis=-1)"
)
irfft = _transform(
    "irfft",
    _irfft_rule,
    lambda x, *, n: np.fft.irfft(x, n=n, axis=-1),
    _irfft_vjp,
    "np.fft.irfft({x}, n={n}, axis=-1)",
)
