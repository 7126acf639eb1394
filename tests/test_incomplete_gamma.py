"""The regularized incomplete gamma functions P = scipy.special.gammainc and
Q = scipy.special.gammaincc on traced values: the compiled kernel against SciPy in every
regime (power series, continued fraction, small a, large a near x) and at SciPy's edge
values; dP/da, compiled, against the interpreter's NumPy implementation and finite
differences; gradients of every order in x, the first in a, and the error for the second in
a; and the scipy.stats methods built on them at their edges."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as ss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.core.special_gammainc import gammainc_da_numpy
from tracegrad.errors import UnsupportedNumpyFunction
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

N = 128  # every compiled program below takes arrays of this length: one compile per dtype


def _functions(a, x):
    """P, Q and dP/da (through the gradient: the gammainc_da primitive)."""
    return [sp.gammainc(a, x), sp.gammaincc(a, x), tg.grad(lambda a: np.sum(sp.gammainc(a, x)))(a)]


def _tolerance(want):
    """1e-13 relative, growing with |log want|: far in the tails both SciPy and the kernel
    round the exponent of x^a e^-x / Gamma(a) (up to about 700 in size) to 1e-16 of itself."""
    return 1e-13 * np.maximum(1.0, np.abs(np.log(np.abs(want))) / 5.0)


def _assert_matches(got, want, name, scale=1.0):
    exact = ~np.isfinite(want)
    np.testing.assert_array_equal(got[exact], want[exact], err_msg=name)
    normal = ~exact & (np.abs(want) > 1e-300)
    # Below, underflow: SciPy may flush to 0 what the kernel keeps as a subnormal number.
    assert np.all(np.abs(got[~exact & ~normal]) <= 1e-300), name
    error = np.abs(got[normal] - want[normal]) / np.abs(want[normal])
    bound = scale * _tolerance(want[normal])
    worst = np.argmax(error / bound) if error.size else 0
    assert np.all(error <= bound), (name, worst, error[worst], bound[worst])


_LOG_A = st.floats(-3.0, 3.0)
REGIMES = {
    "anywhere": st.tuples(_LOG_A, st.floats(-4.0, 3.0)).map(lambda t: (10 ** t[0], 10 ** t[1])),
    "x near a": st.tuples(_LOG_A, st.floats(-4.0, 4.0)).map(
        lambda t: (10 ** t[0], max(0.0, 10 ** t[0] * (1 + t[1] / np.sqrt(10 ** t[0]))))
    ),
    "x = a + 1 +- 2": st.tuples(_LOG_A, st.floats(-2.0, 2.0)).map(
        lambda t: (10 ** t[0], max(0.0, 10 ** t[0] + 1 + t[1]))
    ),
    "small a, x < 2": st.tuples(st.floats(-3.0, -0.3), st.floats(0.0, 2.0)).map(
        lambda t: (10 ** t[0], t[1])
    ),
    "x / a from 1/10 to 10": st.tuples(_LOG_A, st.floats(-1.0, 1.0)).map(
        lambda t: (10 ** t[0], 10 ** (t[0] + t[1]))
    ),
}
_PAIRS = st.lists(st.one_of(*REGIMES.values()), min_size=N, max_size=N)


@pytest.fixture(scope="module")
def compiled():
    """P, Q, dP/da compiled (Numba) for float64 arrays of length N: the backend is chosen
    when a shape is first seen, so later calls run the compiled code."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRACEGRAD_BACKEND", "numba")
        a = np.linspace(0.5, 50.0, N)
        source = tg.show_source(_functions)(a, a)
        assert "_gammainc(False, " in source and "_gammainc_da(" in source
        run = tg.jit(_functions, compile="sync")
        run(a, a)
    return run


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=_PAIRS)
def test_compiled_values_match_scipy_in_every_regime(compiled, pairs):
    a, x = np.array(pairs).T
    p, q, dp = compiled(a, x)
    _assert_matches(p, sp.gammainc(a, x), "P")
    _assert_matches(q, sp.gammaincc(a, x), "Q")
    # The reference multiplies SciPy's P or Q by the same log-derivatives: 10x the rounding.
    _assert_matches(dp, gammainc_da_numpy(a, x, sp), "dP/da", scale=10.0)


def test_compiled_da_matches_finite_differences(compiled):
    rng = np.random.default_rng(0)
    a = 10 ** rng.uniform(-1, 2.5, N)
    x = a * 10 ** rng.uniform(-0.5, 0.5, N)

    def central(step):
        return (sp.gammainc(a + step, x) - sp.gammainc(a - step, x)) / (2 * step)

    want = (4 * central(5e-5 * a) - central(1e-4 * a)) / 3  # Richardson: error O(step^4)
    np.testing.assert_allclose(compiled(a, x)[2], want, rtol=1e-7, atol=1e-12)


EDGE_A = [0.0, -0.0, 1e-300, 1e-3, 0.5, 1.0, 2.5, 30.0, 1e3, 1e6, np.inf, -1.0, np.nan]
EDGE_X = [0.0, -0.0, 1e-300, 1e-10, 0.5, 1.0, 3.0, 1e3, 1e6, np.inf, -1.0, np.nan]


@pytest.mark.parametrize("part", [slice(0, N), slice(-N, None)], ids=["first", "last"])
def test_compiled_edge_values_are_scipys(compiled, part):
    """a = 0 (P = 1 for x > 0), x = 0, inf, nan and negative arguments as SciPy; dP/da is
    0 where P is constant (x = 0, a or x infinite), finite elsewhere in the domain."""
    a, x = (v.ravel()[part] for v in np.meshgrid(EDGE_A, EDGE_X))
    p, q, dp = compiled(a, x)
    with np.errstate(all="ignore"):
        _assert_matches(p, sp.gammainc(a, x), "P")
        _assert_matches(q, sp.gammaincc(a, x), "Q")
        want = gammainc_da_numpy(a, x, sp)
    np.testing.assert_array_equal(np.isnan(dp), np.isnan(p))
    _assert_matches(dp, want, "dP/da", scale=10.0)
    constant = (x == 0) | np.isinf(a) | np.isinf(x)
    assert np.all(dp[constant & ~np.isnan(p)] == 0.0)


def test_compiled_float32_follows_scipys_dtype(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    rng = np.random.default_rng(1)
    a = (10 ** rng.uniform(-2, 2, 16)).astype(np.float32)
    x = (a * 10 ** rng.uniform(-0.5, 0.5, 16)).astype(np.float32)

    def f(a, x):
        return [sp.gammainc(a, x), sp.gammaincc(a, 2.0 * x), sp.gammainc(a, 1.5)]

    for got, want in zip(tg.jit(f)(a, x), f(a, x), strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-30)


@pytest.mark.parametrize(
    "a, x",
    [(0.7, 0.4), (2.5, 3.0), (0.01, 0.3), (0.3, 4.0), (150.0, 140.0), (40.0, 60.0), (1.0, 0.05)],
)
def test_gradients_in_a_and_x_match_finite_differences(a, x):
    a, x = np.array([a, a + 0.25]), np.array([x, x + 0.5])
    check_grads(lambda a, x: np.sum(sp.gammainc(a, x) + sp.gammaincc(a, 2 * x) ** 2), (a, x))


def test_x_derivatives_of_every_order_are_closed_form():
    a = np.array([0.6, 2.0, 7.5])
    check_grads(lambda x: np.sum(np.sin(sp.gammaincc(a, x))), (np.array([0.3, 1.7, 8.0]),), order=3)
    # d^2P/dx^2 = density ((a - 1) / x - 1): 0 at x = a - 1
    b = a + 1.0
    second = tg.grad(lambda x: np.sum(tg.grad(lambda x: np.sum(sp.gammainc(b, x)))(x)))(a)
    np.testing.assert_allclose(second, 0.0, atol=1e-15)


def test_the_mixed_derivative_is_the_density_times_log_x_minus_digamma():
    a, x = np.array([0.6, 2.0, 7.5]), np.array([0.3, 1.7, 8.0])
    mixed = tg.grad(lambda x: np.sum(tg.grad(lambda a: np.sum(sp.gammainc(a, x)))(a)))(x)
    density = np.exp((a - 1) * np.log(x) - x - sp.gammaln(a))
    np.testing.assert_allclose(mixed, density * (np.log(x) - sp.digamma(a)), rtol=1e-13)


def test_a_second_derivative_in_a_says_it_is_not_implemented():
    x = np.array([0.5, 2.0])

    def da(a):
        return np.sum(tg.grad(lambda a: np.sum(sp.gammaincc(a, x)))(a))

    with pytest.raises(UnsupportedNumpyFunction, match="second derivative .* in their first"):
        tg.grad(da)(np.array([1.5, 3.0]))
    with pytest.raises(NotImplementedError):
        tg.hessian(lambda a: np.sum(sp.gammainc(a, 2.0)))(np.array([1.5, 3.0]))


def test_dp_da_at_a_zero_is_the_limit_minus_e1():
    x = np.array([0.2, 0.9, 3.0, 30.0])
    got = tg.grad(lambda a: np.sum(sp.gammainc(a, x)))(np.zeros(4))
    np.testing.assert_allclose(got, -sp.exp1(x), rtol=1e-13)


# -- scipy.stats methods at their edges (values vs SciPy; gradients in test_scipy_stats.py)

STATS_EDGES = np.array([-np.inf, -2.0, -0.0, 0.0, 0.5, 1.0, 2.5, 7.0, np.inf, np.nan])


@pytest.mark.parametrize(
    "f",
    [
        lambda x, s: ss.gamma.cdf(x, s),
        lambda x, s: ss.gamma.sf(x, 2.0, 0.5, s),
        lambda x, s: ss.gamma.logcdf(x, s, scale=1.5),
        lambda x, s: ss.gamma.logsf(x, a=s),
        lambda x, s: ss.chi2.cdf(x, s),
        lambda x, s: ss.chi2.sf(x, 3.0, scale=s),
        lambda x, s: ss.expon.cdf(x, 0.0, s),
        lambda x, s: ss.expon.sf(x, loc=0.5, scale=s),
        lambda x, s: ss.poisson.cdf(x, s),
        lambda x, s: ss.poisson.sf(x, s, loc=1),
    ],
    ids=["gamma.cdf", "gamma.sf", "gamma.logcdf", "gamma.logsf", "chi2.cdf", "chi2.sf"]
    + ["expon.cdf", "expon.sf", "poisson.cdf", "poisson.sf"],
)
def test_stats_values_outside_the_support_and_at_invalid_parameters_are_scipys(f):
    x, s = (a.ravel() for a in np.meshgrid(STATS_EDGES, [-1.0, 0.0, 0.7, 2.0, np.nan]))
    got = tg.jit(f)(x, s)
    with np.errstate(all="ignore"):
        want = f(x, s)
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=0, equal_nan=True)


def test_stats_gradients_are_zero_and_finite_outside_the_support():
    x = np.array([-1.0, 0.5, 2.0])
    for name in ("gamma.cdf", "gamma.sf", "chi2.cdf"):
        distribution, method = name.split(".")

        def f(x, a, d=distribution, m=method):  # looked up while tracing
            return np.sum(getattr(getattr(ss, d), m)(x, a))

        g = tg.grad(f, argnums=(0, 1))(x, 2.0)
        assert g[0][0] == 0.0 and np.all(np.isfinite(g[0])) and np.isfinite(g[1])
    g = tg.grad(lambda mu: np.sum(ss.poisson.cdf(np.array([-1, 0, 2, 5]), mu)))(0.0)
    np.testing.assert_allclose(g, -1.0, rtol=1e-14)  # d/dmu e^-mu at 0; 0 for k >= 1


def test_gradients_where_p_is_constant_are_zero():
    """x = inf or a = inf: P is 1 or 0 there, and so is every derivative 0 (no inf - inf)."""
    a, x = np.array([0.5, 2.0, np.inf, 3.0]), np.array([np.inf, np.inf, 2.0, 1.5])

    def f(a, x):
        return np.sum(sp.gammainc(a, x) + sp.gammaincc(a, x) ** 2)

    da, dx = tg.grad(f, argnums=(0, 1))(a, x)
    np.testing.assert_array_equal(da[:3], 0.0)
    np.testing.assert_array_equal(dx[:3], 0.0)
    second = tg.grad(lambda x: np.sum(tg.grad(lambda x: f(a, x))(x)))(x)
    np.testing.assert_array_equal(second[:3], 0.0)
    assert np.all(np.isfinite(da)) and np.all(np.isfinite(dx)) and np.isfinite(second[3])
