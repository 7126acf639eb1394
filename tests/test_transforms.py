"""Transformations against finite differences and against each other.

jvp along random tangents, ``<vjp(u), v> == <u, jvp(v)>``, jacrev/jacfwd against
finite-difference Jacobians, hessian against differences of the gradient, third
derivatives, custom rules, stop_gradient, checkpoint, functional in-place updates and
NaN-safe ``np.where`` gradients.  Runs on the reference interpreter (many small programs).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads, numerical_jacobian

pytestmark = pytest.mark.usefixtures("interpret_backend")

RNG = np.random.default_rng(7)
X = RNG.uniform(0.5, 1.5, (2, 3))
A = RNG.uniform(-0.5, 0.5, (3, 3)) + 3 * np.eye(3)
V = RNG.normal(size=4)


def _mlp(w, x):
    return np.tanh(x @ w[:, :2]) * np.exp(-(w[:, 2:] ** 2)).sum(axis=0, keepdims=True)


# A representative subset: elementwise, broadcasting, reductions, scans, structure,
# indexing, linear algebra, several arguments, non-scalar outputs.
FUNCTIONS = {
    "sin*exp": (lambda x: np.sin(x) * np.exp(-x), (X,)),
    "logaddexp broadcast": (lambda x, y: np.logaddexp(x, y), (X, V[:3])),
    "softmax": (lambda x: np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True), (X,)),
    "prod/cumprod": (lambda x: np.cumprod(x, axis=1) * np.prod(x), (X,)),
    "cumsum": (lambda x: np.cumsum(x**2), (X,)),
    "norm": (lambda x: np.linalg.norm(x, axis=0), (X,)),
    "var": (lambda x: np.var(x, axis=1, ddof=1), (X,)),
    "concatenate/pad": (lambda x: np.pad(np.concatenate([x, x[::-1] ** 2]), 1), (X,)),
    "gather": (lambda x: x[[1, 0, 1], [2, 2, 0]] * x[:, 1:].sum(), (X,)),
    "einsum": (lambda x, a: np.einsum("ij,jk,ik->i", x, a, x), (X, A)),
    "solve": (lambda a, b: np.linalg.solve(a, b), (A, V[:3])),
    "inv/det": (lambda a: np.linalg.inv(a) * np.linalg.det(a), (A,)),
    "slogdet": (lambda a: np.linalg.slogdet(a)[1], (A,)),
    "cholesky": (lambda a: np.linalg.cholesky(a @ a.T), (A,)),
    "sort": (lambda x: np.sort(x, axis=None) ** 2, (X + np.arange(6).reshape(2, 3),)),
    "mlp": (_mlp, (RNG.normal(size=(3, 4)) * 0.5, X)),
}
IDS = list(FUNCTIONS)


def _directions(args, seed=0):
    rng = np.random.default_rng(seed)
    return tuple(rng.normal(size=np.shape(a)) for a in args)


def _along(f, args, tangents, h=1e-6):
    """Central difference of ``f`` along ``tangents``."""
    plus = f(*(a + h * t for a, t in zip(args, tangents, strict=True)))
    minus = f(*(a - h * t for a, t in zip(args, tangents, strict=True)))
    return (np.asarray(plus) - np.asarray(minus)) / (2 * h)


# =============================================================================================
# jvp, vjp and their consistency


@pytest.mark.parametrize("name", IDS)
def test_jvp_matches_finite_differences(name):
    f, args = FUNCTIONS[name]
    tangents = _directions(args)
    out, t_out = tg.jvp(f, args, tangents)
    np.testing.assert_allclose(out, f(*args), rtol=1e-12)
    np.testing.assert_allclose(t_out, _along(f, args, tangents), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", IDS)
def test_vjp_and_jvp_are_transposes(name):
    """<vjp(u), v> == <u, jvp(v)> for random u and v."""
    f, args = FUNCTIONS[name]
    v = _directions(args, seed=1)
    out, vjp_fn = tg.vjp(f, *args)
    u = np.random.default_rng(2).normal(size=np.shape(out))
    _, jv = tg.jvp(f, args, v)
    left = sum(np.sum(g * t) for g, t in zip(vjp_fn(u), v, strict=True))
    right = np.sum(u * jv)
    assert left == pytest.approx(right, rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", ["sin*exp", "prod/cumprod", "solve", "mlp"])
def test_jacrev_and_jacfwd_match_finite_differences(name):
    f, args = FUNCTIONS[name]
    argnums = tuple(range(len(args)))
    want = numerical_jacobian(f, args, argnums=argnums)
    for jac in (tg.jacrev, tg.jacfwd):
        got = jac(f, argnums=argnums)(*args)
        for g, w in zip(got, want, strict=True):
            assert g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-8)
    assert tg.jacobian is tg.jacrev


def test_hessian_matches_differences_of_the_gradient():
    def f(x, a):
        return np.sum(np.log1p(np.exp(x @ a))) + np.prod(x[0]) + np.linalg.slogdet(a)[1]

    for argnums in (0, 1):
        got = tg.hessian(f, argnums=argnums)(X, A)
        want = numerical_jacobian(tg.grad(f, argnums=argnums), (X, A), argnums=argnums)
        shape = (X, A)[argnums].shape
        assert got.shape == shape + shape
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
        flat = got.reshape(math.prod(shape), -1)
        np.testing.assert_allclose(flat, flat.T, rtol=1e-10, atol=1e-12)  # symmetric


def test_third_derivatives():
    x = 0.7
    d3 = tg.grad(tg.grad(tg.grad(lambda x: np.sin(x) * x**2)))(x)
    # (x^2 sin x)''' = -x^2 cos x - 6x sin x + 6 cos x
    want = -(x**2) * math.cos(x) - 6 * x * math.sin(x) + 6 * math.cos(x)
    assert d3 == pytest.approx(want, rel=1e-12)

    # prod and cumprod are polynomials: exact third derivatives, also at zeros.
    def d3(f, y):
        """d3 f / dy0 dy1 dy3."""
        return tg.grad(lambda y: tg.grad(lambda y: tg.grad(f)(y)[0])(y)[1])(y)[3]

    z, w = np.array([0.0, 2.0, 0.0, 3.0]), np.array([1.5, 2.0, -1.0, 3.0])
    assert d3(np.prod, z) == 0.0  # = y2
    assert d3(np.prod, w) == pytest.approx(-1.0)
    assert d3(lambda y: np.sum(np.cumprod(y)), w) == pytest.approx(-1.0)
    check_grads(lambda y: np.sum(np.cumprod(y) ** 2), (z,), order=3)


# =============================================================================================
# Custom rules, stop_gradient, checkpoint


@tg.custom_vjp
def clipped_identity(x):
    """Identity forward; the backward pass clips the cotangent to [-1, 1]."""
    return x * 1.0


clipped_identity.defvjp(lambda x: (x * 1.0, ()), lambda res, g: (np.clip(g, -1.0, 1.0),))


def test_custom_vjp_replaces_the_gradient():
    x = np.array([1.0, 2.0, 3.0])
    g = tg.grad(lambda x: np.sum(clipped_identity(x) * np.array([0.5, 3.0, -4.0])))(x)
    np.testing.assert_allclose(g, [0.5, 1.0, -1.0])
    # vjp and jvp (by transposition) use the rule too.
    _, vjp_fn = tg.vjp(clipped_identity, x)
    np.testing.assert_allclose(vjp_fn(np.array([0.5, 3.0, -4.0]))[0], [0.5, 1.0, -1.0])


@tg.custom_jvp
def log1pexp(x):
    return np.log1p(np.exp(x))


@log1pexp.defjvp
def _log1pexp_jvp(primals, tangents):
    (x,), (t,) = primals, tangents
    return log1pexp(x), t / (1 + np.exp(-x))


def test_custom_jvp_is_used_by_every_mode():
    x = np.array([-30.0, 0.0, 2.0, 800.0])  # exp(800) overflows: the rule stays finite
    want = 1 / (1 + np.exp(-x))
    with np.errstate(over="ignore"):
        g = tg.grad(lambda x: np.sum(log1pexp(x)))(x)
        _, t = tg.jvp(log1pexp, (x,), (np.ones(4),))
    np.testing.assert_allclose(g, want)
    np.testing.assert_allclose(t, want)
    check_grads(lambda x: np.sum(log1pexp(x) ** 2), (x[:3],), order=2)


def test_stop_gradient():
    x = np.array([0.5, -1.0, 2.0])
    g = tg.grad(lambda x: np.sum(tg.stop_gradient(x**2) * x))(x)
    np.testing.assert_allclose(g, x**2)
    _, t = tg.jvp(lambda x: tg.stop_gradient(x) * x, (x,), (np.ones(3),))
    np.testing.assert_allclose(t, x)


def test_checkpoint_gives_the_same_gradients():
    def block(w, x):
        return np.tanh(x @ w) @ w.T

    def loss(w, x, remat):
        f = tg.checkpoint(block) if remat else block
        return np.sum(f(w, f(w, x)) ** 2)

    w, x = RNG.normal(size=(3, 3)) * 0.5, X
    plain = tg.grad(loss, argnums=(0, 1))(w, x, False)
    remat = tg.grad(loss, argnums=(0, 1))(w, x, True)
    for p, r in zip(plain, remat, strict=True):
        np.testing.assert_allclose(r, p, rtol=1e-12)
    check_grads(lambda w: loss(w, x, True), (w,), order=2)


# =============================================================================================
# Functional in-place updates


def test_setitem_and_augmented_assignment_gradients():
    def f(x):
        z = np.zeros_like(x)
        z[1:3] = x[:2] * 2
        z[0] += x[3] ** 2
        z[-1] = z[1] * x[0]  # reads the updated array
        z[[0, 0]] = x[1:3]  # repeated positions: the last write wins, as in NumPy
        z *= x
        return np.sum(np.sin(z))

    x = np.array([0.3, -0.7, 1.1, 0.4, 0.9])
    eager = f(x.copy())  # plain NumPy defines the semantics
    assert tg.jit(f)(x) == pytest.approx(eager, rel=1e-14)
    check_grads(f, (x,), order=2)


def test_inplace_updates_on_a_2d_array():
    def f(x, y):
        z = np.ones_like(x)
        z[:, 0] = y
        z[1] -= np.exp(x[0])
        z[z.shape[0] - 1, 1:] *= 3.0
        x = x + 0.0
        x[0, ::2] = z[1, ::2]
        return np.sum(x * z)

    x, y = RNG.normal(size=(3, 4)), RNG.normal(size=3)
    assert tg.jit(f)(x, y) == pytest.approx(f(x.copy(), y), rel=1e-14)
    check_grads(f, (x, y), order=2)


def test_updates_of_a_copy_leave_the_original_alone():
    # x.copy() and np.copy(x) are new arrays: updating them must not change x
    # (a Tracer's copy once was the Tracer itself, and z.sort() then sorted x too).
    def f(x):
        z = x.copy()
        z.sort(axis=1)
        w = np.copy(x)
        w[0, 0] = 5.0
        return np.sum(z * np.arange(3.0)) + np.sum(w * x) + np.sum(x**3)

    x = np.array([[0.3, 0.5, 0.2], [0.9, 0.1, 0.7]])
    assert tg.jit(f)(x) == pytest.approx(f(x.copy()), rel=1e-14)
    check_grads(f, (x,), order=1)


# =============================================================================================
# NaN in np.where: the single where gives NaN, the double where a finite gradient
# (docs/sharp-bits.md, "NaN in np.where and the double-where")


def sqrt_single_where(x):
    return np.sum(np.where(x > 0, np.sqrt(x), 0.0))


def sqrt_double_where(x):
    positive = x > 0
    return np.sum(np.where(positive, np.sqrt(np.where(positive, x, 1.0)), 0.0))


def test_single_where_gives_nan_gradient_at_the_discarded_pole():
    x = np.array([4.0, 0.0, -1.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        assert sqrt_single_where(x) == 2.0
        g = tg.grad(sqrt_single_where)(x)
    assert g[0] == pytest.approx(0.25)
    assert np.isnan(g[1])  # 0 (cotangent of the discarded branch) * inf (1 / (2 sqrt 0))
    assert np.isnan(g[2])  # 0 * nan (sqrt(-1) is nan)


def test_double_where_gives_finite_gradients_at_every_order():
    x = np.array([4.0, 0.0, -1.0])
    assert sqrt_double_where(x) == 2.0
    np.testing.assert_array_equal(tg.grad(sqrt_double_where)(x), [0.25, 0.0, 0.0])
    h = tg.hessian(sqrt_double_where)(x)
    assert np.all(np.isfinite(h)) and h[0, 0] == pytest.approx(-1 / 32)
    _, t = tg.jvp(sqrt_double_where, (x,), (np.ones(3),))
    assert t == pytest.approx(0.25)


def test_where_with_log_and_division():
    def f(x):
        ok = x != 0
        safe = np.where(ok, x, 1.0)
        return np.sum(np.where(ok, np.log(np.abs(safe)) / safe, 0.0))

    x = np.array([0.0, 2.0, -0.5])
    g = tg.grad(f)(x)
    assert np.all(np.isfinite(g)) and g[0] == 0.0
    check_grads(f, (x[1:],), order=2)
