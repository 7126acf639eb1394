"""scipy.stats distributions on traced values: every method's value equals SciPy's (inside and
outside the support, at invalid parameters), and its gradient with respect to every floating
argument matches finite differences; the distributions are reached however the user holds
them, and SciPy's own methods are back after tracing."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as ss
from scipy.stats import norm  # held before tracing: reached all the same

import tracegrad as tg
from tracegrad.frontend import scipy_stats
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

X = np.array([-1.3, -0.2, 0.4, 1.7])  # points anywhere
U = np.array([0.15, 0.4, 0.55, 0.9])  # points in (0, 1)
K = np.array([0.0, 1.0, 3.0, 7.0])  # counts

# name -> (f(x, a, b), x, a, b): a and b are the distribution's floating parameters
CASES = {
    "norm.logpdf": (lambda x, a, b: norm.logpdf(x, a, b), X, 0.3, 1.4),
    "norm.logpdf keywords": (lambda x, a, b: ss.norm.logpdf(x, loc=a, scale=b), X, 0.3, 1.4),
    "norm.pdf": (lambda x, a, b: ss.norm.pdf(x, a, scale=b), X, -0.2, 0.8),
    "norm.cdf": (lambda x, a, b: ss.norm.cdf(x, a, b), X, 0.3, 1.4),
    "norm.logcdf": (lambda x, a, b: ss.norm.logcdf(x, a, b), X, 0.3, 1.4),
    "norm.sf": (lambda x, a, b: ss.norm.sf(x, a, b), X, 0.3, 1.4),
    "norm.logsf": (lambda x, a, b: ss.norm.logsf(x, a, b), X, 0.3, 1.4),
    "norm.ppf": (lambda q, a, b: ss.norm.ppf(q, a, b), U, 0.3, 1.4),
    "frozen norm": (lambda x, a, b: ss.norm(a, b).logpdf(x), X, 0.3, 1.4),
    "t.logpdf": (lambda x, a, b: ss.t.logpdf(x, a, 0.2, b), X, 3.5, 1.2),
    "t.pdf": (lambda x, a, b: ss.t.pdf(x, df=a, scale=b), X, 2.5, 0.7),
    "cauchy.logpdf": (lambda x, a, b: ss.cauchy.logpdf(x, a, b), X, 0.1, 0.9),
    "laplace.logpdf": (lambda x, a, b: ss.laplace.logpdf(x, a, b), X, 0.05, 1.1),
    "logistic.logpdf": (lambda x, a, b: ss.logistic.logpdf(x, a, b), X * 20, 0.1, 0.9),
    "expon.logpdf": (lambda x, a, b: ss.expon.logpdf(x, a, b), U * 2, -0.5, 1.5),
    "gamma.logpdf": (lambda x, a, b: ss.gamma.logpdf(x, a, scale=b), U, 2.5, 0.7),
    "gamma.pdf": (lambda x, a, b: ss.gamma.pdf(x, a, -1.0, b), X, 1.5, 2.0),
    "chi2.logpdf": (lambda x, a, b: ss.chi2.logpdf(x, a, 0.0, b), U * 3, 3.0, 1.3),
    "beta.logpdf": (lambda x, a, b: ss.beta.logpdf(x, a, b), U, 2.5, 1.5),
    "beta.pdf": (lambda x, a, b: ss.beta.pdf(x, a, b, -1.5, 3.0), X, 0.8, 1.5),
    "cauchy.pdf": (lambda x, a, b: ss.cauchy.pdf(x, a, b), X, 0.1, 0.9),
    "laplace.pdf": (lambda x, a, b: ss.laplace.pdf(x, a, b), X, 0.05, 1.1),
    "logistic.pdf": (lambda x, a, b: ss.logistic.pdf(x, a, b), X, 0.1, 0.9),
    "expon.pdf": (lambda x, a, b: ss.expon.pdf(x, a, b), X, -0.5, 1.5),
    "chi2.pdf": (lambda x, a, b: ss.chi2.pdf(x, a, scale=b), U * 3, 3.0, 1.3),
    "poisson.logpmf": (lambda k, a, b: ss.poisson.logpmf(k, a * b), K, 1.5, 2.0),
    "poisson.pmf": (lambda k, a, b: ss.poisson.pmf(k, a + b, 1), K, 1.5, 2.0),
    "dirichlet.logpdf": (
        lambda x, a, b: ss.dirichlet.logpdf(x / np.sum(x), np.array([a, b, a * b, 1.5])),
        U,
        1.2,
        2.5,
    ),
    "dirichlet.pdf": (
        lambda x, a, b: ss.dirichlet.pdf(np.stack([x, 1 - x]), np.array([a, b])),
        U,
        1.2,
        2.5,
    ),
    "multivariate_normal.logpdf": (
        lambda x, a, b: ss.multivariate_normal.logpdf(
            np.stack([x, x[::-1] * a]), np.array([0.1, a, -0.3, 0.0]), _spd(b)
        ),
        X,
        0.6,
        1.3,
    ),
    "multivariate_normal.pdf diagonal": (
        lambda x, a, b: ss.multivariate_normal.pdf(x, np.zeros(4), np.array([a, b, a, b])),
        X,
        0.6,
        1.3,
    ),
    # --- incomplete gamma ---
    "gamma.cdf": (lambda x, a, b: ss.gamma.cdf(x, a, scale=b), U * 3, 2.5, 0.7),
    "gamma.sf": (lambda x, a, b: ss.gamma.sf(x, a, -1.0, b), X, 1.5, 2.0),
    "gamma.logcdf": (lambda x, a, b: ss.gamma.logcdf(x, a=a, loc=-0.5, scale=b), U, 0.8, 1.2),
    "gamma.logsf": (lambda x, a, b: ss.gamma.logsf(x * 5, a, 0.0, b), U, 3.5, 0.6),
    "chi2.cdf": (lambda x, a, b: ss.chi2.cdf(x, a, 0.0, b), U * 3, 3.0, 1.3),
    "chi2.sf": (lambda x, a, b: ss.chi2.sf(x, df=a, loc=-1.5, scale=b), X, 2.2, 0.9),
    "expon.cdf": (lambda x, a, b: ss.expon.cdf(x, a, b), X, -0.5, 1.5),
    "expon.sf": (lambda x, a, b: ss.expon.sf(x, loc=a, scale=b), X, -0.5, 1.5),
    "poisson.cdf": (lambda k, a, b: ss.poisson.cdf(k, a * b), K + 0.5, 1.5, 2.0),
    "poisson.sf": (lambda k, a, b: ss.poisson.sf(k, a + b, 1), K, 1.5, 2.0),
    # --- incomplete beta (more in tests/test_betainc.py) ---
    # a and b are loc and scale here: betainc differentiates once in its shape parameters
    "beta.cdf": (lambda x, a, b: ss.beta.cdf(x, 2.5, 1.5, a, b), X, -1.5, 3.0),
    "beta.sf": (lambda x, a, b: ss.beta.sf(x, 0.8, 2.0, a, b), X, -1.5, 3.0),
    "t.cdf": (lambda x, a, b: ss.t.cdf(x, 3.5, a, b), X, 0.2, 1.2),
    "t.sf": (lambda x, a, b: ss.t.sf(x, df=2.5, loc=a, scale=b), X, 0.2, 0.7),
    "f.cdf": (lambda x, a, b: ss.f.cdf(x, 3.0, 5.0, a, b), U * 3, -0.1, 1.3),
    "f.sf": (lambda x, a, b: ss.f.sf(x, 4.0, 2.5, a, b), U * 3, -0.1, 1.3),
    # counts between whole numbers: floor(k) is constant there, and its gradient 0
    "binom.cdf": (lambda k, a, b: ss.binom.cdf(k, 8, a * b), K + 0.5, 0.3, 1.5),
    "binom.sf": (lambda k, a, b: ss.binom.sf(k, 9, a * b, -1), K + 0.5, 0.3, 1.5),
}


def _spd(b):
    """A positive definite 4x4 matrix depending on b."""
    base = np.array([[2.0, 0.3, 0.0, 0.1], [0.3, 1.5, 0.2, 0.0], [0.0, 0.2, 1.0, 0.4]])
    base = np.concatenate([base, np.array([[0.1, 0.0, 0.4, 1.2]])])
    return base + b * np.eye(4)


def test_every_supported_method_has_a_case():
    covered = {name.split(" ")[0] for name in CASES}
    covered |= {"norm.logpdf"}  # the frozen case calls it
    missing = set(scipy_stats.names()) - covered
    assert not missing, f"add a case to CASES for {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_gradient(name):
    f, x, a, b = CASES[name]
    np.testing.assert_allclose(tg.jit(f)(x, a, b), f(x, a, b), rtol=1e-12, atol=1e-300)
    argnums = (1, 2) if name.startswith("poisson") else (0, 1, 2)
    check_grads(lambda *args: np.sum(np.sin(f(*args))), (x, a, b), argnums=argnums)


EDGES = np.array([-np.inf, -2.0, -0.0, 0.0, 0.5, 1.0, 2.5, np.inf, np.nan])


@pytest.mark.parametrize(
    "f",
    [
        lambda x, s: ss.norm.logpdf(x, 0.5, s),
        lambda x, s: ss.norm.cdf(x, 0.5, s),
        lambda x, s: ss.t.logpdf(x, s, 0.0, 1.0),
        lambda x, s: ss.expon.logpdf(x, 0.0, s),
        lambda x, s: ss.gamma.logpdf(x, s),
        lambda x, s: ss.beta.logpdf(x / 2.0, s, 2.0),
        lambda x, s: ss.laplace.pdf(x, 0.0, s),
        lambda x, s: ss.poisson.logpmf(x, s),
    ],
    ids=["norm", "norm.cdf", "t", "expon", "gamma", "beta", "laplace", "poisson"],
)
def test_values_outside_the_support_and_at_invalid_parameters_are_scipys(f):
    x, s = (a.ravel() for a in np.meshgrid(EDGES, [-1.0, 0.0, 0.7, 2.0]))
    got = tg.jit(f)(x, s)
    with np.errstate(all="ignore"):
        want = f(x, s)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=0, equal_nan=True)


def test_gradients_outside_the_support_are_zero_and_finite():
    x = np.array([-1.0, 0.5, 2.0])
    g = tg.grad(lambda x, a: np.sum(np.exp(ss.gamma.logpdf(x, a))), argnums=(0, 1))(x, 2.0)
    assert g[0][0] == 0.0 and np.all(np.isfinite(g[0])) and np.isfinite(g[1])
    g = tg.grad(lambda a: np.sum(ss.beta.pdf(x, a, 2.0)))(1.5)
    assert np.isfinite(g)


def test_the_normal_likelihoods_gradient_is_the_closed_form():
    """d/dmu of mean(-logpdf) = (mu - mean(x)) / s^2 and d/dlog_s = 1 - mean((x - mu)^2) / s^2:
    zero at the sample mean and standard deviation."""
    data = np.random.default_rng(0).normal(2.0, 0.5, size=200)

    def nll(p, data):
        return -np.mean(norm.logpdf(data, p["mu"], np.exp(p["log_s"])))

    for mu, s in ((0.3, 1.7), (data.mean(), data.std())):
        g = tg.grad(nll)({"mu": mu, "log_s": np.log(s)}, data)
        np.testing.assert_allclose(g["mu"], (mu - data.mean()) / s**2, rtol=1e-12, atol=1e-14)
        want = 1 - np.mean((data - mu) ** 2) / s**2
        np.testing.assert_allclose(g["log_s"], want, rtol=1e-12, atol=1e-14)


def test_scipys_own_methods_are_back_after_tracing():
    classes = {name: type(getattr(ss, name)) for name in scipy_stats.DISTRIBUTIONS}
    before = {name: dict(vars(cls)) for name, cls in classes.items()}
    tg.jit(lambda x: norm.logpdf(x) + ss.gamma.logpdf(x, 2.0))(U)
    assert {name: dict(vars(cls)) for name, cls in classes.items()} == before
    assert norm.logpdf(0.0) == pytest.approx(-0.5 * np.log(2 * np.pi))


def test_frozen_multivariate_normal_with_traced_parameters_names_the_library_function():
    with pytest.raises(tg.errors.UnsupportedNumpyFunction, match="scipy.stats"):
        tg.grad(lambda m: ss.multivariate_normal(m, np.eye(2)).logpdf(np.zeros(2)))(np.ones(2))


def test_a_method_taken_before_tracing_gets_an_error_that_says_how_to_reach_ours():
    logpdf = norm.logpdf  # SciPy's own code, bound before any trace
    with pytest.raises(tg.errors.TracerConversionError, match=r"write norm\.logpdf\(\.\.\.\)"):
        tg.grad(lambda mu: np.sum(logpdf(U, mu, 1.0)))(0.3)
    with pytest.raises(tg.errors.UnsupportedNumpyFunction, match="allow_singular"):
        tg.grad(lambda x: ss.multivariate_normal.logpdf(x, np.zeros(2), np.eye(2), True))(U[:2])
