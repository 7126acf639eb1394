"""The regularized incomplete beta function (scipy.special.betainc, betaincc) and the
scipy.stats distribution functions built on it: values against SciPy over regimes of a, b
and x (compiled, one program), gradients against finite differences, the a- and
b-derivatives of compiled code against the interpreter's, and the errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as stats
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.errors import UnsupportedNumpyFunction
from tracegrad.testing import check_grads


def _both(a, b, x):
    return sp.betainc(a, b, x), sp.betaincc(a, b, x)


def _grads(a, b, x):
    return tg.grad(lambda a, b: np.sum(sp.betainc(a, b, x)), argnums=(0, 1))(a, b)


_COMPILED = tg.jit(_both, compile="sync")


def _regime(data, n: int = 64):
    """a and b log-uniform in [1e-2, 1e3]; x uniform on [0, 1] or near the mean a / (a + b)
    (where large a and b make the continued fraction slowest and cancellation likeliest)."""
    floats = st.lists(st.floats(-2.0, 3.0), min_size=n, max_size=n)
    a, b = 10.0 ** np.array(data.draw(floats)), 10.0 ** np.array(data.draw(floats))
    u = np.array(data.draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n)))
    spread = np.sqrt(a * b / (a + b) ** 3)
    near = np.clip(a / (a + b) + (u - 0.5) * 6.0 * spread, 0.0, 1.0)
    return a, b, u if data.draw(st.booleans()) else near


@settings(max_examples=20, deadline=None)
@given(data=st.data())
def test_compiled_values_match_scipy_over_regimes(data):
    a, b, x = _regime(data)
    wants = _both(a, b, x)
    # where SciPy's betainc and betaincc disagree, one is wrong (betainc(0.5, 0.5, 1 - 2^-53)
    # loses 3e-9; mpmath agrees with the kernel): no reference there
    consistent = np.abs(wants[0] + wants[1] - 1.0) <= 1e-15
    for got, want in zip(_COMPILED(a, b, x), wants, strict=True):
        # SciPy itself loses digits far in the tails (below ~1e-250: 1e-7 relative against
        # mpmath, where the kernel is within 1e-13), in places 1e-12 elsewhere (betaincc(10,
        # 301.2, 0.05788); the kernel: 3e-14), and 0.8% for subnormal x (x = 5e-324, a = 0.1)
        normal = ((x == 0) | (x >= np.finfo(np.float64).tiny)) & consistent
        shown = (want > 1e-250) & normal
        np.testing.assert_allclose(got[shown], want[shown], rtol=3e-12, atol=0)
        tail = (want <= 1e-250) & normal
        np.testing.assert_array_less(got[tail], 1e-240, err_msg=repr((a[tail], b[tail], x[tail])))


def test_edges_and_invalid_arguments_as_scipy():
    a = np.array([0.0, 1.0, 0.0, -1.0, 1.0, 1.0, np.inf, 1.0, 0.0, 1.0, np.nan, 2.0, 2.0, 0.5])
    b = np.array([1.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, np.inf, 1.0, 0.0, 1.0, 3.0, 3.0, 0.5])
    x = np.array([0.5, 0.5, 0.5, 0.5, -0.1, 1.1, 0.5, 0.5, 0.0, 1.0, 0.5, 0.0, 1.0, np.nan])
    for got, want in zip(_COMPILED(a, b, x), _both(a, b, x), strict=True):
        np.testing.assert_array_equal(got, want)


def test_float32_as_scipy():
    rng = np.random.default_rng(3)
    a, b = (rng.uniform(0.2, 30.0, 50).astype(np.float32) for _ in range(2))
    x = rng.uniform(0.0, 1.0, 50).astype(np.float32)
    for got, want in zip(_COMPILED(a, b, x), _both(a, b, x), strict=True):
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-6)  # SciPy's float32 loop


def test_compiled_derivatives_in_a_and_b_match_the_interpreter(interpret_backend):
    rng = np.random.default_rng(4)
    a, b = 10.0 ** rng.uniform(-2, 3, 40), 10.0 ** rng.uniform(-2, 3, 40)
    x = rng.uniform(0.0, 1.0, 40)
    want = _grads(a, b, x)
    got = tg.jit(_grads, compile="sync")(a, b, x)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-300)


@pytest.mark.usefixtures("interpret_backend")
@pytest.mark.parametrize("scale", [1.0, 30.0, 400.0])
def test_derivatives_in_a_and_b_match_finite_differences(scale):
    """Large a, b too: there the continued fraction takes hundreds of steps."""
    rng = np.random.default_rng(int(scale))
    a, b = rng.uniform(0.5, 2.0, 6) * scale, rng.uniform(0.5, 2.0, 6) * scale
    x = np.clip(a / (a + b) + rng.uniform(-1, 1, 6) * np.sqrt(a * b / (a + b) ** 3), 0.01, 0.99)
    da, db = _grads(a, b, x)
    h = 1e-6 * scale
    fd_a = (sp.betainc(a + h, b, x) - sp.betainc(a - h, b, x)) / (2 * h)
    fd_b = (sp.betainc(a, b + h, x) - sp.betainc(a, b - h, x)) / (2 * h)
    np.testing.assert_allclose(da, fd_a, rtol=1e-6, atol=1e-9 / scale)
    np.testing.assert_allclose(db, fd_b, rtol=1e-6, atol=1e-9 / scale)


@pytest.mark.usefixtures("interpret_backend")
def test_gradients_of_higher_order_in_x_and_mixed():
    a, b, x = np.array([0.7, 3.0]), np.array([2.0, 0.4]), np.array([0.3, 0.8])
    check_grads(lambda x: np.sum(sp.betainc(a, b, x)), (x,), order=3)
    check_grads(lambda x: np.sum(sp.betaincc(a, b, x)), (x,), order=3)
    # d/da then d/dx, and d/dx then d/da (the density's derivative in a): both order 2
    check_grads(lambda x: np.sum(_grads(a, b, x)[0] + _grads(a, b, x)[1]), (x,), order=2)
    check_grads(
        lambda a, b: np.sum(tg.grad(lambda x: np.sum(sp.betainc(a, b, x)))(x)), (a, b), order=2
    )


@pytest.mark.usefixtures("interpret_backend")
def test_second_derivative_in_a_is_a_clear_error():
    a, b, x = np.array([0.7, 3.0]), np.array([2.0, 0.4]), np.array([0.3, 0.8])
    with pytest.raises(
        UnsupportedNumpyFunction, match="second derivative of scipy.special.betainc / betaincc in a"
    ):
        tg.grad(lambda a: np.sum(_grads(a, b, x)[0]))(a)
    with pytest.raises(UnsupportedNumpyFunction, match="in b"):
        tg.grad(lambda b: np.sum(_grads(a, b, x)[0]))(b)


# =============================================================================================
# scipy.stats

_X = np.array([-0.5, 0.0, 0.1, 0.5, 0.93, 1.0, 1.4, np.nan])
_T = np.array([-1e3, -30.0, -2.0, -0.3, 0.0, 1e-9, 0.4, 3.0, 50.0, np.inf, -np.inf, np.nan])
_K = np.array([-1.0, 0.0, 3.0, 3.5, 9.0, 10.0, 12.0, np.nan])
STATS = [
    *(("beta", _X, args) for args in [(2.0, 3.0), (0.5, 0.7), (-1.0, 2.0), (2.0, 3.0, 0.1, 2.0)]),
    *(("t", _T, args) for args in [(3.0,), (0.5,), (1e4,), (np.inf,), (-1.0,), (2.5, 1.0, 2.0)]),
    *(("f", _T, args) for args in [(3.0, 5.0), (0.5, 20.0), (-1.0, 2.0), (4.0, 6.0, 1.0, 3.0)]),
]


@pytest.mark.usefixtures("interpret_backend")
@pytest.mark.parametrize("method", ["cdf", "sf"])
@pytest.mark.parametrize("name, x, args", STATS)
def test_stats_values_match_scipy(name, x, args, method):
    def fn(x):  # the method looked up while tracing (a bound method held before is SciPy's)
        return getattr(getattr(stats, name), method)(x, *args)

    np.testing.assert_allclose(tg.jit(fn)(x), fn(x), rtol=1e-12)


@pytest.mark.usefixtures("interpret_backend")
@pytest.mark.parametrize("method", ["cdf", "sf"])
@pytest.mark.parametrize("n, p", [(10, 0.3), (10, 0.0), (10, 1.0), (10, 1.2), (2.5, 0.3), (0, 0.4)])
def test_binom_values_match_scipy(n, p, method):
    def fn(p):
        return getattr(stats.binom, method)(_K, n, p)

    np.testing.assert_allclose(tg.jit(fn)(p), fn(p), rtol=1e-12)


@pytest.mark.usefixtures("interpret_backend")
def test_stats_gradients_match_finite_differences():
    x, a, b = np.array([0.2, 0.6]), np.array([1.5, 3.0]), np.array([2.0, 0.8])
    check_grads(lambda x, a, b: np.sum(stats.beta.cdf(x, a, b)), (x, a, b), order=1)
    check_grads(lambda x: np.sum(stats.beta.sf(x, a, b, loc=-0.1, scale=1.5)), (x,), order=2)
    t, df = np.array([-2.0, 0.0, 0.3, 4.0]), np.array([1.5, 3.0, 7.0, 2.0])
    check_grads(lambda t, df: np.sum(stats.t.sf(t, df)), (t, df), order=1)
    check_grads(lambda t: np.sum(stats.t.cdf(t, df, loc=0.5, scale=2.0)), (t,), order=2)
    check_grads(lambda t, m, n: np.sum(stats.f.cdf(t, m, n)), (x * 5, a, b * 3), order=1)
    check_grads(lambda p: np.sum(stats.binom.sf(np.array([1.0, 4.0]), 8, p)), (x + 0.1,), order=2)
