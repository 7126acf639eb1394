"""Complex numbers: values against NumPy, gradients against finite differences.

The gradient of a real-valued f of complex z = x + iy is df/dx - i df/dy (JAX's convention),
so it is checked against central differences along the real and the imaginary part of each
element separately.
"""

from __future__ import annotations

import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad as tg
from tracegrad.errors import DTypeError
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

C64, C128 = np.dtype(np.complex64), np.dtype(np.complex128)


def complex_arrays(shape, re=(-2.0, 2.0), im=(-2.0, 2.0)):
    """complex128 arrays with real parts in ``re`` and imaginary parts in ``im``."""
    parts = [hnp.arrays(np.float64, shape, elements=st.floats(*bounds)) for bounds in (re, im)]
    return st.tuples(*parts).map(lambda p: p[0] + 1j * p[1])


RIGHT = (0.3, 2.0)  # real parts > 0: away from 0 and from the branch cut of log, sqrt, angle

# (label, real-valued function of one complex array, shape, real-part range)
FUNCTIONS = [
    ("sum |z|^2", lambda z: np.sum(np.abs(z) ** 2), (3,), (-2, 2)),
    ("|z| (abs)", lambda z: np.sum(abs(z)), (2, 2), RIGHT),
    ("exp(z) conj(z)", lambda z: np.sum(np.real(np.exp(z) * z.conj())), (3,), (-2, 2)),
    ("log", lambda z: np.sum(np.imag(np.log(z)) + np.log(z).real), (3,), RIGHT),
    ("sqrt", lambda z: np.sum(np.sqrt(z)).imag, (4,), RIGHT),
    ("sin, cos", lambda z: np.real(np.sum(np.sin(z) * np.cos(0.5 * z))), (3,), (-1, 1)),
    ("tan, tanh", lambda z: np.real(np.sum(np.tan(0.3 * z) + np.tanh(0.4 * z))), (3,), (-1, 1)),
    ("angle", lambda z: np.sum(np.angle(z) * np.angle(z, deg=True)), (3,), RIGHT),
    ("z ** 2.5, z ** 3", lambda z: np.sum(np.real(z**2.5) + np.imag(z**3)), (3,), RIGHT),
    ("division", lambda z: np.sum(np.imag(1 / (z + 3.0)) + np.real(z / (2 - 1j))), (3,), RIGHT),
    ("1j * z - conj", lambda z: np.sum(np.real(1j * z - np.conjugate(z) * 2j)), (3,), (-2, 2)),
    ("matmul", lambda z: np.sum(np.abs(z @ z.T.conj() + z @ z)), (2, 2), RIGHT),
    (
        "reshape, transpose, indexing",
        lambda z: np.sum(np.real(z.reshape(3, 2).T[:, ::-1] * np.arange(3.0)) ** 2),
        (6,),
        (-2, 2),
    ),
    ("mean, cumsum", lambda z: np.imag(np.mean(z * z) + np.cumsum(z)[-1] * 1j), (3,), (-2, 2)),
    (
        "fft, ifft",
        lambda z: np.sum(np.real(np.fft.fft(z) * np.conj(np.fft.ifft(z * z, n=5)[..., :4]))),
        (2, 4),
        (-1, 1),
    ),
    (
        "rfft, irfft",
        lambda z: (
            np.sum(np.fft.irfft(z * (1 + 1j)) * np.arange(6.0))
            + np.sum(np.abs(np.fft.rfft(z.real, axis=0, norm="ortho")) ** 2)
        ),
        (3, 4),
        (-1, 1),
    ),
    (
        "var, std, norm, vdot, cov, vecdot",
        lambda z: (
            np.var(z)
            + np.std(z + np.arange(6))
            + np.linalg.norm(z)
            + np.real(np.vdot(z, 2 * z + 1j))
            + np.imag(np.sum(np.cov(z.reshape(2, 3))))
            + np.real(np.vecdot(z, z + 1j))
            + np.linalg.norm(z, 0)
        ),
        (6,),
        (-2, 2),
    ),
    # complex through log1p, expm1, the inverse hyperbolic functions, products and extrema
    (
        "log1p, expm1, arcsinh, arctanh",
        lambda z: np.sum(
            np.real(np.log1p(z) * np.expm1(0.5 * z))
            + np.imag(np.arcsinh(0.4 * z) - np.arctanh(0.3 * z))
        ),
        (3,),
        (-0.9, 0.9),
    ),
    (
        "prod, cumprod",
        lambda z: np.real(np.prod(z) + np.cumprod(z)[1] * (1 - 2j)),
        (3,),
        (-2, 2),
    ),
    (
        "dot of N-d arrays",
        lambda z: np.sum(np.real(np.dot(z.reshape(2, 2, 3), np.conj(z).reshape(2, 3, 2)))),
        (12,),
        (-1, 1),
    ),
    (  # scaled to stay off the cuts: real |w| > 1 for arcsin, imaginary |w| > 1 for arctan
        "arcsin, arccos, arctan, arccosh",
        lambda z: np.sum(
            np.real(np.arcsin(0.4 * z) * (1 + 1j) + np.arccos(0.3 * z))
            + np.imag(np.arctan(0.4 * z) + np.arccosh(z + 3.5))
        ),
        (3,),
        (-2, 2),
    ),
    (
        "sign, log2, log10, maximum, minimum",  # constants that simple draws do not tie with
        lambda z: np.sum(
            np.real(np.sign(z) * np.log2(z) + np.log10(z) * z)
            + np.imag(np.maximum(z, 0.7071 + 1.1j) + np.minimum(z * 1j, z + 0.123))
        ),
        (3,),
        RIGHT,
    ),
    (
        "where, stack, concatenate",
        lambda z: np.sum(np.abs(np.where(z.real > 0, z, 2 * z)) ** 2 + np.stack([z, z]).imag),
        (3,),
        (0.3, 2),
    ),
]
IDS = [f[0] for f in FUNCTIONS]


def finite_difference_gradient(f, z, h=1e-6):
    """df/dx - i df/dy at complex128 ``z``, by central differences."""
    grad = np.zeros(z.shape, C128)
    for k in np.ndindex(z.shape):
        step = np.zeros(z.shape, C128)
        step[k] = h
        d_re = (f(z + step) - f(z - step)) / (2 * h)
        d_im = (f(z + 1j * step) - f(z - 1j * step)) / (2 * h)
        grad[k] = d_re - 1j * d_im
    return grad


@pytest.mark.parametrize("label, f, shape, re", FUNCTIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [C128, C64], ids=["c128", "c64"])
@settings(max_examples=8)
@given(data=st.data())
def test_values_match_numpy(label, f, shape, re, dtype, data):
    z = data.draw(complex_arrays(shape, re)).astype(dtype)
    want = f(z)
    got = tg.jit(f)(z)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    tol = 1e-12 if dtype == C128 else 2e-5
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("label, f, shape, re", FUNCTIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [C128, C64], ids=["c128", "c64"])
@settings(max_examples=8)
@given(data=st.data())
def test_gradient_matches_finite_differences(label, f, shape, re, dtype, data):
    z = data.draw(complex_arrays(shape, re))
    want = finite_difference_gradient(f, z)  # in complex128 always
    got = tg.grad(f)(z.astype(dtype))
    assert got.dtype == dtype and got.shape == z.shape
    tol = 1e-6 if dtype == C128 else 2e-3
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale)


def test_gradient_convention_is_jaxs():
    """d/dx - i d/dy: for |z|^2 = x^2 + y^2 that is 2x - 2iy = 2 conj(z)."""
    assert tg.grad(lambda z: np.abs(z) ** 2)(3.0 + 4.0j) == pytest.approx(6.0 - 8.0j)
    assert tg.grad(lambda z: np.imag(z))(1.0 + 1.0j) == pytest.approx(-1.0j)
    z = np.array([1.0 + 2.0j, -0.5j])
    np.testing.assert_allclose(tg.grad(lambda z: np.sum(np.real(z * z)))(z), 2 * z)


def test_abs_at_zero_has_gradient_zero():
    z = np.array([0j, 3.0 + 4.0j])
    np.testing.assert_allclose(tg.grad(lambda z: np.sum(np.abs(z)))(z), [0.0, 0.6 - 0.8j])


def test_real_arguments_through_complex_values():
    """A real function computed with complex intermediates has the real gradient."""

    def f(x):
        return np.sum(np.abs(np.exp(1j * x) * (1.0 + x)) ** 2)  # = sum (1 + x)^2

    x = np.array([0.5, -0.25, 2.0])
    np.testing.assert_allclose(tg.grad(f)(x), 2 * (1 + x))
    assert tg.grad(f)(x.astype(np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    "make, want",
    [
        (lambda: np.float32(1.5) * np.ones(2, np.float32), C64),  # float32 * 1j
        (lambda: np.ones(2, np.float64), C128),
        (lambda: np.ones(2, np.complex64), C64),
    ],
)
def test_python_complex_constants_are_weak(make, want):
    x = make()
    got = tg.jit(lambda x: 1j * x + (2 - 1j))(x)
    assert got.dtype == want == (1j * x + (2 - 1j)).dtype


def test_promotion_follows_numpy():
    a = np.ones(2, np.float64)
    b = np.ones(2, np.complex64) * (1 + 2j)
    c = np.ones(2, np.float32)
    f = tg.jit(lambda a, b, c: (a * b, c + b, c * 1j, np.real(b) + c))
    for got, want in zip(f(a, b, c), (a * b, c + b, c * 1j, np.real(b) + c), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want)


def test_methods_and_functions_on_real_arrays():
    x = np.array([1.0, -2.0])
    f = tg.jit(lambda x: (x.real, x.imag, x.conj(), np.angle(x), np.real(x), np.imag(x)))
    for got, want in zip(f(x), (x, 0 * x, x, np.angle(x), x, 0 * x), strict=True):
        np.testing.assert_array_equal(got, want)


def test_python_complex_argument():
    value, g = tg.value_and_grad(lambda z: np.real(z * z))(1.0 + 2.0j)
    assert value == pytest.approx(-3.0)
    assert g == pytest.approx(2.0 + 4.0j)  # d/dx (x^2 - y^2) - i d/dy = 2x + 2iy


def test_complex_output_of_grad_is_an_error():
    with pytest.raises(DTypeError, match="complex"):
        tg.grad(lambda z: np.sum(z * z))(np.ones(2, complex))


@pytest.mark.parametrize(
    "f, op",
    [
        (lambda z: np.linalg.inv(z.reshape(1, 3) * z.reshape(3, 1)), "inv"),
        (lambda z: np.floor(z), "floor"),
        (lambda z: np.arctan2(z, z), "atan2"),
    ],
)
def test_unsupported_complex_operations_name_the_operation(f, op):
    with pytest.raises(DTypeError, match=f"^{op} does not support complex operands"):
        tg.jit(f)(np.ones(3, complex))


def test_real_if_close_keeps_real_arrays_and_refuses_traced_complex_ones():
    x = np.array([1.0, -2.0])
    np.testing.assert_array_equal(tg.grad(lambda x: np.sum(np.real_if_close(x) ** 2))(x), 2 * x)
    with pytest.raises(DTypeError, match="depends on the values"):
        tg.jit(np.real_if_close)(np.ones(2, complex))


def test_extrema_of_complex_values_order_as_numpy_does():
    """By real part, then imaginary part; NaN propagates."""
    z = np.array([[1 + 2j, 1 + 3j, -1 + 9j], [0.5j, 1 - 1j, 1 + 2.5j]])
    for fn in (np.max, np.min):
        for axis in (None, 0, 1):
            np.testing.assert_array_equal(
                tg.jit(lambda z, fn=fn, axis=axis: fn(z, axis=axis))(z), fn(z, axis=axis)
            )
    grad = tg.grad(lambda z: np.real(np.max(z) * (2 - 1j)))(z)
    np.testing.assert_array_equal(grad, np.where(z == np.max(z), 2 - 1j, 0))
    # Away from equal real parts, where the order jumps with the imaginary parts.
    w = np.array([[1 + 2j, 1.5 + 3j, -1 + 9j], [0.5j, 0.7 - 1j, 1.2 + 2.5j]])
    check_grads(
        lambda w: np.real(np.sum(np.max(w, axis=1)) * np.sum(np.min(w, axis=0)) * (1 - 2j)), (w,)
    )
    with_nan = z.copy()
    with_nan[1, 1] = complex(np.nan, 0)
    assert np.isnan(tg.jit(np.max)(with_nan))


# Points on the whole plane, the branch cuts and the branch points among them, with zeros of
# either sign: the compositions must pick NumPy's principal values and sides of the cuts.
_EDGES = [complex(a, b) for a in (-3.0, -1.0, -0.5, -0.0, 0.0, 0.5, 1.0, 3.0)
          for b in (-3.0, -1.0, -0.0, 0.0, 1.0, 3.0)]  # fmt: skip
PLANE = np.concatenate([np.random.default_rng(0).uniform(-3, 3, (60, 2)) @ [1, 1j], _EDGES])


@pytest.mark.parametrize(
    "f",
    [np.arcsin, np.arccos, np.arctan, np.arcsinh, np.arccosh, np.arctanh, np.log2, np.log10,
     np.log1p, np.expm1, np.sign, np.rint, lambda z: np.round(z, 1),
     lambda z: np.maximum(z, z[::-1]), lambda z: np.minimum(z, 0.5j)],
    ids=lambda f: getattr(f, "__name__", "f"),
)  # fmt: skip
@pytest.mark.parametrize("dtype", [C128, C64], ids=["c128", "c64"])
def test_elementary_functions_match_numpy_over_the_plane(f, dtype):
    z = PLANE.astype(dtype)
    with np.errstate(all="ignore"):
        want, got = f(z), tg.jit(f)(z)
    assert got.dtype == want.dtype
    tol = 1e-12 if dtype == C128 else 2e-6
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)  # NaNs where NumPy's are


def test_sorting_complex_values_orders_as_numpy_does():
    """By real part, then imaginary part; NaNs last, grouped as NumPy groups them."""
    nan = np.nan
    parts = [(1, 2), (1, 1), (nan, 0), (-1, 5), (1, nan), (nan, nan), (0.5, nan), (nan, -1),
             (2, 0), (1, 1), (3, nan), (nan, -5)]  # fmt: skip
    z = np.array([complex(a, b) for a, b in parts])
    got = tg.jit(np.sort)(z)
    for part in (np.real, np.imag):
        np.testing.assert_array_equal(part(got), part(np.sort(z)))
    np.testing.assert_array_equal(tg.jit(np.argsort)(z), np.argsort(z, kind="stable"))
    w = np.random.default_rng(0).normal(size=(3, 4, 2)) @ [1, 1j]
    for axis in (0, 1, None):
        np.testing.assert_array_equal(
            tg.jit(lambda w, a=axis: np.sort(w, axis=a))(w), np.sort(w, axis)
        )
    for x in (np.array([3, 1, 2], np.int8), np.array([3.0, 1.0], np.float32), w[0]):
        got = tg.jit(np.sort_complex)(x)
        assert got.dtype == np.sort_complex(x).dtype
        np.testing.assert_array_equal(got, np.sort_complex(x))
    weights = np.arange(12).reshape(3, 4) * (1 - 1j)  # distinct real parts: no ties
    check_grads(lambda w: np.real(np.sum(np.sort(w, axis=0) * weights)), (w,), order=2)


def test_comparisons_of_complex_values_order_as_numpy_does():
    nan = np.nan
    values = [1 + 1j, 1 + 2j, 1, 2, 5j, complex(1, nan), complex(nan, 1), complex(nan, nan)]
    a = np.array([x for x in values for _ in values])
    b = np.array([y for _ in values for y in values])
    cases = [
        operator.lt,
        operator.le,
        operator.gt,
        operator.ge,
        np.less,
        np.greater_equal,
        np.maximum,
        np.minimum,
        np.fmax,
        np.fmin,
        lambda a, b: a < 1.5,
        lambda a, b: np.clip(a, 1, 1.5 + 1j),
    ]
    for f in cases:
        with np.errstate(invalid="ignore"):
            want, got = f(a, b), tg.jit(f)(a, b)
        assert got.dtype == want.dtype
        for part in (np.real, np.imag):
            np.testing.assert_array_equal(part(got), part(want))


def test_rounding_complex_values_has_gradient_zero():
    z = np.array([0.26 + 1.74j, -1.5 + 0.5j])
    np.testing.assert_array_equal(tg.grad(lambda z: np.real(np.sum(np.round(z, 1))))(z), 0)


def test_casting_complex_to_real_is_refused():
    with pytest.raises(DTypeError, match="np.real"):
        tg.jit(lambda z: z.astype(np.float64))(np.ones(2, complex))


@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
@pytest.mark.parametrize("n", [None, 3, 8])
@pytest.mark.parametrize("axis", [-1, 0])
def test_fft_options_match_numpy(norm, n, axis):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4))
    z = x + 1j * rng.normal(size=(5, 4))
    calls = [
        (np.fft.fft, z),
        (np.fft.ifft, z),
        (np.fft.rfft, x),
        (np.fft.irfft, z),
        (np.fft.fft, x.astype(np.float32)),  # a real signal: complex64 spectrum
        (np.fft.irfft, z.astype(np.complex64)),
    ]
    for fn, a in calls:
        want = fn(a, n=n, axis=axis, norm=norm)
        got = tg.jit(lambda a, fn=fn: fn(a, n=n, axis=axis, norm=norm))(a)
        assert got.dtype == want.dtype and got.shape == want.shape, fn.__name__
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5, err_msg=fn.__name__)


N_D_CALLS = [
    (np.fft.fftn, "complex", {}),
    (np.fft.ifftn, "complex", {"norm": "ortho"}),
    (np.fft.fftn, "real", {"axes": (2, 0)}),
    (np.fft.fft2, "complex", {"s": (3, 6)}),
    (np.fft.ifft2, "complex", {"axes": (0, 2), "norm": "forward"}),
    (np.fft.rfftn, "real", {}),
    (np.fft.rfft2, "real", {"s": (5, 4)}),
    (np.fft.irfftn, "complex", {"s": (2, 3, 8), "axes": (0, 1, 2)}),
    (np.fft.irfft2, "complex", {"norm": "ortho"}),
]


@pytest.mark.parametrize("fn, kind, options", N_D_CALLS, ids=lambda v: getattr(v, "__name__", ""))
def test_n_dimensional_ffts_match_numpy_and_finite_differences(fn, kind, options):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 4, 5))
    a = x if kind == "real" else x + 1j * rng.normal(size=x.shape)
    want = fn(a, **options)
    got = tg.jit(lambda a: fn(a, **options))(a)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    weights = rng.normal(size=want.shape)
    check_grads(lambda a: np.sum(weights * np.abs(fn(a, **options)) ** 2), (a,), modes=("rev",))


def test_fft_errors():
    with pytest.raises(DTypeError, match="np.real"):
        tg.jit(np.fft.rfft)(np.ones(4, complex))
    with pytest.raises(ValueError, match="Invalid number of FFT data points"):
        tg.jit(lambda x: np.fft.fft(x, n=0))(np.ones(4))
    with pytest.raises(ValueError, match="norm"):
        tg.jit(lambda x: np.fft.fft(x, norm="both"))(np.ones(4))


def test_compiled_complex_program_matches_the_interpreter(monkeypatch):
    """One compiled program: complex inputs and outputs, most complex operations, np.fft."""
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")

    def f(z, x):
        w = np.exp(1j * x) * z.conj() + np.sqrt(z + 3.0) - np.log(z * z + 1.0) / (2 - 1j)
        spectrum = np.fft.fft(w) + np.fft.ifft(z.T, axis=0).T
        signal = np.fft.irfft(np.fft.rfft(x) * (1 + 0.5j), n=x.shape[-1])
        loss = np.sum(np.abs(spectrum) ** 2) + np.sum(np.angle(z)) + np.sum(signal * x)
        loss = loss + np.real(np.sum(z @ z.T) + np.sum(np.sin(z) * np.cos(z) + z**2.5 + z**3))
        loss = loss + np.imag(np.mean(np.tanh(0.3 * z) + np.tan(0.2 * z)))
        # log1p, expm1, products, cumulative products and extrema (reductions' complex folds)
        more = np.log1p(0.5 * z) * np.expm1(0.3 * z) + np.cumprod(0.5 * z, axis=1)
        more = more + np.prod(0.5 * z, axis=0) + np.max(z, axis=1, keepdims=True) * np.min(z)
        # the inverse functions, sign, log2, rounding and maximum (complex_math.py)
        more = more + np.arcsin(0.3 * z) * np.arccosh(z) + np.arctan(0.2 * z) * np.sign(z)
        more = more + np.log2(z) + np.round(z, 1) * np.maximum(z, 1 + 0.5j)
        return loss + np.real(np.sum(more * (1 - 0.5j))), (w, spectrum, more)

    rng = np.random.default_rng(3)
    z = rng.uniform(0.3, 2, (3, 4)) + 1j * rng.uniform(-2, 2, (3, 4))
    x = rng.normal(size=(3, 4))
    interpreted = tg.value_and_grad(f, argnums=(0, 1), has_aux=True, compile="never")(z, x)
    compiled = tg.value_and_grad(f, argnums=(0, 1), has_aux=True, compile="sync")(z, x)
    (value, (w, spectrum, more)), (gz, gx) = compiled
    (value0, (w0, spectrum0, more0)), (gz0, gx0) = interpreted
    assert gz.dtype == np.complex128 and gx.dtype == np.float64 and w.dtype == np.complex128
    np.testing.assert_allclose(more0, f(z, x)[1][2], rtol=1e-12)  # the interpreter is NumPy
    pairs = [(value, value0), (w, w0), (spectrum, spectrum0), (more, more0), (gz, gz0), (gx, gx0)]
    for got, want in pairs:
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@settings(max_examples=10)
@given(z=complex_arrays((3,), (-1.5, 1.5), (-1.5, 1.5)))
def test_holomorphic_gradient_is_the_complex_derivative(z):
    """grad(f, holomorphic=True) of a holomorphic f is f'(z), for each dtype."""
    for dtype, tol in ((C128, 1e-12), (C64, 1e-4)):
        zz = z.astype(dtype)
        got = tg.grad(lambda z: np.sum(np.sin(z) * z + np.exp(z) / 3), holomorphic=True)(zz)
        want = np.cos(zz) * zz + np.sin(zz) + np.exp(zz) / 3
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_holomorphic_needs_complex_arguments():
    with pytest.raises(DTypeError, match="holomorphic=True needs complex arguments"):
        tg.grad(np.sin, holomorphic=True)(1.0)


def test_vjp_of_complex_values():
    z = np.array([1.0 + 2.0j, 0.5 - 1.0j])
    _, pullback = tg.vjp(lambda z: np.sin(z) * z, z)
    (ct,) = pullback(np.ones(2, complex))
    np.testing.assert_allclose(ct, np.cos(z) * z + np.sin(z))  # holomorphic: f'(z)
    _, pullback = tg.vjp(lambda z: np.sum(np.abs(z) ** 2), z)
    np.testing.assert_allclose(pullback(1.0)[0], 2 * np.conj(z))


def test_jvp_from_real_to_complex():
    x, t = np.array([0.3, 1.2]), np.array([1.0, 2.0])
    _, tangent = tg.jvp(lambda x: np.exp(1j * x) * x, (x,), (t,))
    np.testing.assert_allclose(tangent, (1j * np.exp(1j * x) * x + np.exp(1j * x)) * t)
