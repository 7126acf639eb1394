"""Forward mode and the gradient checker on complex values.

``jvp`` along a complex direction is the directional derivative ``(f(z + hv) - f(z - hv)) /
2h``, also for functions that are not holomorphic, so it is checked against central
differences.  It must also be the transpose of ``vjp`` under the pairing of JAX's convention,
``<a, b> = Re sum(a * b)`` (no conjugate): ``<u, J v> = <J^T u, v>``.  The Jacobians follow
JAX's rules for complex values (``holomorphic=True``).  ``tracegrad.testing.check_grads``
must accept complex leaves and catch a gradient with the wrong convention.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad as tg
from tracegrad.errors import DTypeError
from tracegrad.testing import check_grads, numerical_grad, numerical_jacobian

pytestmark = pytest.mark.usefixtures("interpret_backend")

C64, C128 = np.dtype(np.complex64), np.dtype(np.complex128)
RIGHT = (0.3, 2.0)  # real parts > 0: away from the branch cuts of log, sqrt, angle


def complex_arrays(shape, re=(-1.5, 1.5), im=(-1.5, 1.5)):
    """complex128 arrays with real parts in ``re`` and imaginary parts in ``im``."""
    parts = [hnp.arrays(np.float64, shape, elements=st.floats(*bounds)) for bounds in (re, im)]
    return st.tuples(*parts).map(lambda p: p[0] + 1j * p[1])


# (label, function of one complex array, shape, real-part range): holomorphic ones, ones that
# are not (conj, abs, real, angle), complex and real outputs, reductions and transforms.
FUNCTIONS = [
    ("sin(z) z + exp(z) / 3", lambda z: np.sin(z) * z + np.exp(z) / 3, (3,), (-1.5, 1.5)),
    ("conj(z) exp(z)", lambda z: np.conj(z) * np.exp(z), (3,), (-1.5, 1.5)),
    ("|z|^2 + Re z", lambda z: np.abs(z) ** 2 + np.real(z) * np.imag(z), (2, 2), (-2, 2)),
    ("sqrt, log, angle", lambda z: np.sqrt(z) / (z + 3) + np.log(z) * np.angle(z), (3,), RIGHT),
    ("fft, reshape, matmul", lambda z: np.fft.fft(z * z) @ z.reshape(4, 1).conj(), (4,), (-1, 1)),
    ("var, mean, sum", lambda z: np.var(z) * np.mean(z) + np.sum(z * z.T), (2, 2), (-1.5, 1.5)),
    ("tanh, tan, cos ** 2", lambda z: np.tanh(z) + np.tan(0.5 * z) * np.cos(z) ** 2, (3,), (-1, 1)),
]
IDS = [f[0] for f in FUNCTIONS]


def _tolerance(dtype):
    return 1e-6 if dtype == C128 else 3e-3


@pytest.mark.parametrize("label, f, shape, re", FUNCTIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [C128, C64], ids=["c128", "c64"])
@settings(max_examples=5)
@given(data=st.data())
def test_jvp_matches_finite_differences_along_complex_directions(label, f, shape, re, dtype, data):
    z = data.draw(complex_arrays(shape, re))
    v = data.draw(complex_arrays(shape, (-1, 1), (-1, 1)))
    h = 1e-6
    want = (f(z + h * v) - f(z - h * v)) / (2 * h)  # in complex128 always
    value, tangent = tg.jvp(f, (z.astype(dtype),), (v.astype(dtype),))
    assert np.asarray(tangent).dtype == np.asarray(value).dtype == f(z.astype(dtype)).dtype
    tol = _tolerance(dtype)
    scale = max(1.0, float(np.max(np.abs(want))))
    np.testing.assert_allclose(tangent, want, rtol=tol, atol=tol * scale)


def _random_like(rng, x):
    x = np.asarray(x)
    u = rng.standard_normal(x.shape)
    if x.dtype.kind == "c":
        u = u + 1j * rng.standard_normal(x.shape)
    return u.astype(x.dtype)


def _pair(a, b):
    """The pairing under which vjp is the transpose of jvp: Re sum(a * b), no conjugate."""
    return float(np.real(np.sum(np.asarray(a, np.complex128) * np.asarray(b, np.complex128))))


@pytest.mark.parametrize("label, f, shape, re", FUNCTIONS, ids=IDS)
@pytest.mark.parametrize("dtype", [C128, C64], ids=["c128", "c64"])
@settings(max_examples=5)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_vjp_is_the_transpose_of_jvp(label, f, shape, re, dtype, data, seed):
    z = data.draw(complex_arrays(shape, re)).astype(dtype)
    rng = np.random.default_rng(seed)
    v = _random_like(rng, z)
    out, tangent = tg.jvp(f, (z,), (v,))
    u = _random_like(rng, out)
    _, pullback = tg.vjp(f, z)
    (ct,) = pullback(u)
    assert ct.dtype == dtype
    left, right = _pair(u, tangent), _pair(ct, v)
    scale = np.linalg.norm(u) * np.linalg.norm(tangent) + np.linalg.norm(ct) * np.linalg.norm(v)
    assert abs(left - right) <= _tolerance(dtype) * max(1.0, scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_vjp_is_the_transpose_of_jvp_between_real_and_complex(dtype):
    """Real inputs, complex outputs, and back: the tangent of a real input is real."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(4).astype(dtype)
    v = rng.standard_normal(4).astype(dtype)

    def f(x):
        return np.exp(1j * x) * x + np.fft.rfft(x)[:1]

    out, tangent = tg.jvp(f, (x,), (v,))
    assert out.dtype == tangent.dtype == (C128 if dtype == np.float64 else C64)
    h = 1e-6
    want = (f(x.astype(float) + h * v) - f(x.astype(float) - h * v)) / (2 * h)
    tol = 1e-6 if dtype == np.float64 else 2e-3
    np.testing.assert_allclose(tangent, want, rtol=tol, atol=tol)
    u = _random_like(rng, out)
    (ct,) = tg.vjp(f, x)[1](u)
    assert ct.dtype == dtype
    assert _pair(u, tangent) == pytest.approx(_pair(ct, v), rel=tol, abs=tol)


def test_jvp_of_a_python_complex_and_of_a_while_loop():
    z, v = 0.5 + 0.25j, 1.0 - 2.0j
    value, tangent = tg.jvp(lambda z: z * np.conj(z) * z, (z,), (v,))
    assert tangent == pytest.approx(2 * z * np.conj(z) * v + z * z * np.conj(v))

    def power(z):  # a while loop: forward mode of its own (core/forward.py)
        return tg.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * z + 1j, c[1] + 1), (z, 0))[0]

    zs, vs = np.array([0.5 + 0.25j, -1j]), np.array([1.0 - 2.0j, 0.5j])
    _, tangent = tg.jvp(power, (zs,), (vs,))
    # ((z z + i) z + i) z + i = z^4 + i z^2 + i z + i
    np.testing.assert_allclose(tangent, (4 * zs**3 + 2j * zs + 1j) * vs)


def test_jvp_refuses_a_complex_tangent_for_a_real_primal():
    with pytest.raises(DTypeError, match="complex tangent for a real primal"):
        tg.jvp(np.sin, (np.ones(2),), (np.ones(2) * 1j,))


# =============================================================================================
# Jacobians: JAX's rules for complex values


def test_holomorphic_jacobians_are_the_complex_derivative():
    z = np.array([0.3 + 0.4j, -1.0 + 0.2j, 0.5j])

    def f(z):
        return np.sin(z) * z[::-1]

    # d f_i / d z_j = cos(z_i) z_(2-i) [i = j] + sin(z_i) [j = 2 - i]
    want = np.diag(np.cos(z) * z[::-1]) + np.eye(3)[::-1] * np.sin(z)[:, None]
    for jac in (tg.jacfwd, tg.jacrev):
        got = jac(f, holomorphic=True)(z)
        assert got.dtype == C128
        np.testing.assert_allclose(got, want, atol=1e-12)
        got64 = jac(f, holomorphic=True)(z.astype(C64))
        assert got64.dtype == C64
        np.testing.assert_allclose(got64, want, rtol=1e-5, atol=1e-5)


def test_jacobians_of_real_functions_of_complex_values():
    """jacrev of a real output takes complex inputs (rows in grad's convention); jacfwd of
    a real input gives complex outputs (columns of d f / d x)."""
    z = np.array([0.3 + 0.4j, -1.0 + 0.2j])
    got = tg.jacrev(lambda z: np.abs(z) ** 2 * np.real(z))(z)
    grads = [tg.grad(lambda z, i=i: (np.abs(z) ** 2 * np.real(z))[i])(z) for i in range(2)]
    np.testing.assert_allclose(got, np.stack(grads))
    x = np.array([0.5, -0.25])
    got = tg.jacfwd(lambda x: np.exp(1j * x[::-1]))(x)
    assert got.dtype == C128
    np.testing.assert_allclose(got, np.eye(2)[::-1] * 1j * np.exp(1j * x[::-1])[:, None])
    np.testing.assert_allclose(got, numerical_jacobian(lambda x: np.exp(1j * x[::-1]), (x,)))


@pytest.mark.parametrize(
    "transform, x, message",
    [
        (lambda f: tg.jacfwd(f), np.ones(2, complex), "forward mode needs real arguments"),
        (lambda f: tg.jacrev(f), np.ones(2, complex), "reverse mode needs real outputs"),
        (lambda f: tg.jacfwd(f, holomorphic=True), np.ones(2), "needs complex arguments"),
        (lambda f: tg.jacrev(f, holomorphic=True), np.ones(2), "needs complex arguments"),
        (
            lambda f: tg.jacrev(lambda x: np.abs(f(x)), holomorphic=True),
            np.ones(2, complex),
            "needs complex outputs",
        ),  # fmt: skip
        (
            lambda f: tg.hessian(lambda z: np.sum(np.abs(f(z)))),
            np.ones(2, complex),
            "hessian.*complex arguments",
        ),  # fmt: skip
    ],
)
def test_jacobians_refuse_what_jax_refuses(transform, x, message):
    with pytest.raises(DTypeError, match=message):
        transform(lambda x: x * 2)(x)


# =============================================================================================
# check_grads and the numerical references on complex leaves


def test_check_grads_accepts_complex_leaves():
    z = np.array([0.4 + 0.1j, 1.2 - 0.3j])
    x = np.array([1.0, -2.0])
    check_grads(lambda z: np.sum(np.abs(np.sin(z) * z) ** 2), (z,), order=2)
    check_grads(lambda z, x: np.real(np.sum(np.conj(z) * x * np.exp(z))), (z, x), order=2)
    check_grads(lambda z: np.abs(z) ** 2 + np.angle(z), (0.3 + 0.2j,), order=2)
    check_grads(lambda z: np.imag(z * z), (np.complex64(0.3 + 0.2j),))
    tree = {"a": z.astype(C64), "b": [z, x]}
    check_grads(
        lambda p: np.sum(np.abs(p["a"]) ** 2 + np.real(p["b"][0] ** 2) * p["b"][1]), (tree,)
    )


def _conjugated_abs2():
    """sum |z|^2 with the gradient 2 z (the conjugate of the right 2 conj(z))."""

    @tg.custom_vjp
    def abs2(z):
        return np.sum(np.abs(z) ** 2)

    abs2.defvjp(lambda z: (abs2(z), z), lambda z, ct: (2 * ct * z,))
    return abs2


@pytest.mark.parametrize("modes", [("rev",), ("fwd",)])
def test_check_grads_catches_a_conjugated_gradient(modes):
    z = np.array([0.4 + 0.1j, 1.2 - 0.3j])
    message = r"imaginary part" if modes == ("rev",) else r"jvp disagrees"
    with pytest.raises(AssertionError, match=message) as caught:
        check_grads(_conjugated_abs2(), (z,), modes=modes)
    if modes == ("rev",):
        assert "the conjugate of the gradient agrees" in str(caught.value)


def test_check_grads_catches_a_gradient_missing_its_imaginary_part():
    @tg.custom_vjp
    def f(z):
        return np.sum(np.imag(z) ** 3 + np.real(z))

    f.defvjp(lambda z: (f(z), z), lambda z, ct: (ct * np.ones_like(z),))
    with pytest.raises(AssertionError, match="imaginary part"):
        check_grads(f, (np.array([0.5 + 1.0j]),), modes=("rev",))


def test_check_grads_refuses_a_complex_output():
    with pytest.raises(ValueError, match="real scalar"):
        check_grads(lambda z: np.sum(z * z), (np.ones(2, complex),))


def test_numerical_grad_and_jacobian_of_complex_leaves():
    z = np.array([0.4 + 0.1j, 1.2 - 0.3j, -0.5j])

    def f(z):
        return np.sum(np.abs(z) ** 2 * np.real(z) + np.imag(np.exp(z)))

    want = tg.grad(f)(z)
    got = numerical_grad(f, (z,))
    assert got.dtype == C128
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)
    assert numerical_grad(f, (z.astype(C64),)).dtype == C64
    np.testing.assert_allclose(numerical_grad(lambda z: np.abs(z), (3 + 4j,)), 0.6 - 0.8j)

    def g(z):
        return np.abs(z) * np.real(z[::-1])

    np.testing.assert_allclose(numerical_jacobian(g, (z,)), tg.jacrev(g)(z), atol=1e-7)
    with pytest.raises(TypeError, match="holomorphic"):
        numerical_jacobian(np.sin, (z,))


def test_custom_jvp_rules_on_complex_values():
    """A custom_jvp rule serves reverse mode through the same pairing (non-holomorphic here:
    f(z) = z conj(z) z, whose tangent is 2 |z|^2 t + z^2 conj(t))."""

    @tg.custom_jvp
    def f(z):
        return z * np.conj(z) * z

    f.defjvp(lambda p, t: (f(p[0]), 2 * p[0] * np.conj(p[0]) * t[0] + p[0] ** 2 * np.conj(t[0])))

    def plain(z):
        return z * np.conj(z) * z

    z, v = np.array([0.3 + 0.4j, 1 - 1j]), np.array([1j, 0.5 - 2j])
    np.testing.assert_allclose(tg.jvp(f, (z,), (v,))[1], tg.jvp(plain, (z,), (v,))[1])
    loss = [lambda z, g=g: np.sum(np.real(g(z) * (1 - 2j))) for g in (f, plain)]
    np.testing.assert_allclose(tg.grad(loss[0])(z), tg.grad(loss[1])(z))
    check_grads(loss[0], (z,), order=1)
