"""scipy.special functions that losses use, on traced values: values equal SciPy's, gradients
match finite differences; the rest name themselves correctly in the error."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import scipy.special as sp

import tracegrad as tg
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

X = np.array([[0.3, -1.2, 2.0], [0.1, 0.5, -0.7]])
P = np.array([0.2, 0.5, 0.9])

CASES = {
    "expit": (lambda x: sp.expit(x), X),
    "logit": (lambda p: sp.logit(p), P),
    "xlogy": (lambda p: sp.xlogy(p, p + 1.0), P),
    "xlogy at 0": (lambda p: sp.xlogy(p * 0.0, p), P),
    "xlog1py": (lambda p: sp.xlog1py(p, p), P),
    "log_expit": (lambda x: sp.log_expit(x), X),
    "logsumexp": (lambda x: sp.logsumexp(x), X),
    "logsumexp axis": (lambda x: sp.logsumexp(x, axis=1), X),
    "logsumexp keepdims": (lambda x: sp.logsumexp(x, axis=0, keepdims=True), X),
    "softmax": (lambda x: sp.softmax(x, axis=1), X),
    "log_softmax": (lambda x: sp.log_softmax(x, axis=-1), X),
    "gammaln": (lambda x: sp.gammaln(x), X),  # negative non-integers too: log|gamma|
    "gamma": (lambda x: sp.gamma(x), X),
    "digamma": (lambda x: sp.digamma(x), X),
    "psi": (lambda x: sp.psi(x), X),
    "polygamma(1)": (lambda x: sp.polygamma(1, x), X),
    "polygamma(3)": (lambda x: sp.polygamma(3, x), X + 3.0),
    "polygamma(array n)": (lambda x: sp.polygamma(np.array([[2], [2]]), x), X + 3.0),
    "erf": (lambda x: sp.erf(x), X),
    "erfc": (lambda x: sp.erfc(x), X),
    "ndtr": (lambda x: sp.ndtr(x), X),
    "log_ndtr": (lambda x: sp.log_ndtr(x), X),
    "log_ndtr (tail)": (lambda x: sp.log_ndtr(12.0 * x - 20.0), X),
    "ndtri": (lambda p: sp.ndtri(p), P),
    "erfinv": (lambda x: sp.erfinv(x / 2.5), X),
    "erfcinv": (lambda p: sp.erfcinv(p), P),
    "i0": (lambda x: sp.i0(x), X),
    "i0e": (lambda x: sp.i0e(x * 20.0), X),
    "i1": (lambda x: sp.i1(x), X),
    "i1e": (lambda x: sp.i1e(x * 20.0), X),
    "betaln": (lambda p: sp.betaln(p, 2.0 * p + 0.5), P),
    "beta": (lambda x: sp.beta(x, 2.0 * x[::-1] + 0.3), X),  # negative non-integers too
    "gammasgn": (lambda x: sp.gammasgn(x), X),
    "rgamma": (lambda x: sp.rgamma(x), X),
    "multigammaln": (lambda x: sp.multigammaln(x + 3.0, 3), X),
    "logsumexp b": (lambda x: sp.logsumexp(x, axis=0, b=np.array([[1.0], [0.5]])), X),
    "logsumexp b traced": (lambda p: sp.logsumexp(p, b=p), P),
    "logsumexp return_sign": (
        lambda x: np.multiply(*sp.logsumexp(x, axis=1, b=[1.0, -2.0, 0.5], return_sign=True)),
        X,
    ),
    "entr": (lambda p: sp.entr(p), P),
    "rel_entr": (lambda p: sp.rel_entr(p, 1.0 - 0.5 * p), P),
    "kl_div": (lambda p: sp.kl_div(p, p[::-1]), P),
    "huber": (lambda x: sp.huber(0.6, x), X),
    "pseudo_huber": (lambda x: sp.pseudo_huber(0.6, x), X),
    "expm1": (lambda x: sp.expm1(x), X),
    "log1p": (lambda p: sp.log1p(p), P),
    "exp2": (lambda x: sp.exp2(x), X),
    "exp10": (lambda x: sp.exp10(x), X),
    "cbrt": (lambda x: sp.cbrt(x), X),
    # --- incomplete gamma (gradients in a: tests/test_incomplete_gamma.py) ---
    "gammainc": (lambda p: sp.gammainc(1.7, 3.0 * p), P),
    "gammaincc": (lambda x: sp.gammaincc(0.6, np.abs(x) + 0.2), X),
    # --- incomplete beta (more in tests/test_betainc.py) ---
    "betainc": (lambda p: sp.betainc(2.0, 1.5, p), P),
    "betaincc": (lambda p: sp.betaincc(0.7, 3.0, p), P),  # order 2: x only
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_value_and_gradient(name):
    f, x = CASES[name]
    np.testing.assert_allclose(tg.jit(f)(x), f(x), rtol=1e-12)
    check_grads(lambda x: np.sum(np.sin(f(x))), (x,), order=2)


def test_logsumexp_of_minus_infinities_is_finite_where_scipy_is():
    x = np.array([-np.inf, -np.inf, 0.0])
    # Looked up on scipy.special at call time (tg.jit(sp.logsumexp) would hold SciPy's own).
    assert tg.jit(lambda x: sp.logsumexp(x))(x) == sp.logsumexp(x)
    np.testing.assert_allclose(tg.grad(lambda x: sp.logsumexp(x))(x), [0.0, 0.0, 1.0])


def test_entropies_and_huber_losses_at_their_edges_are_scipys():
    x, y = (a.ravel() for a in np.meshgrid(*[[-1.0, 0.0, 0.5, 2.0, np.inf, np.nan]] * 2))
    functions = [sp.rel_entr, sp.kl_div, sp.huber, sp.pseudo_huber]
    for f in functions:
        got = tg.jit(lambda x, y, f=f: f(x, y))(x, y)
        np.testing.assert_array_equal(got, f(x, y), f.__name__)
    np.testing.assert_array_equal(tg.jit(lambda x: sp.entr(x))(x), sp.entr(x))
    tiny = np.array([1e-9, 1e-3])  # pseudo_huber for |r| << delta: no cancellation
    np.testing.assert_allclose(
        tg.jit(lambda r: sp.pseudo_huber(2.0, r))(tiny), sp.pseudo_huber(2.0, tiny), rtol=1e-15
    )


def test_xlogy_at_zero_keeps_its_derivative_and_scipys_values():
    """d/dx x log y = log y at x = 0 too; d/dy = x / y = 0 there."""
    y = np.array([0.5, 2.0, 7.0])
    for f, inner in ((sp.xlogy, np.log), (sp.xlog1py, np.log1p)):
        dx, dy = tg.grad(lambda x, y, f=f: np.sum(f(x, y)), argnums=(0, 1))(np.zeros(3), y)
        np.testing.assert_allclose(dx, inner(y), rtol=1e-15)
        np.testing.assert_array_equal(dy, 0.0)
        x, y2 = (
            a.ravel()
            for a in np.meshgrid([0.0, 1.5], [-2.0, -1.0, -0.5, 0.0, 0.5, 3.0, np.inf, np.nan])
        )
        got = tg.jit(lambda x, y, f=f: f(x, y))(x, y2)
        np.testing.assert_array_equal(got, f(x, y2), f.__name__)


def test_gamma_signs_and_reciprocal_at_poles_and_infinities():
    x = np.array([0.0, -0.0, -1.0, -2.0, -2.5, 3.0, np.inf, -np.inf, np.nan, -200.5])
    np.testing.assert_array_equal(tg.jit(lambda x: sp.gammasgn(x))(x), sp.gammasgn(x))
    np.testing.assert_allclose(tg.jit(lambda x: sp.rgamma(x))(x), sp.rgamma(x), rtol=1e-14)
    # 1 / gamma is entire: at x = -n its derivative is (-1)^n n!, not 0.
    for n in range(4):
        slope = tg.grad(lambda x: sp.rgamma(x))(float(-n))
        assert slope == (-1) ** n * math.factorial(n), (n, slope)


def test_values_keep_scipys_dtypes():
    x32 = X.astype(np.float32)
    for name, (f, x) in sorted(CASES.items()):
        x = x.astype(np.float32)
        assert tg.jit(f)(x).dtype == f(x).dtype, name
    assert tg.jit(lambda x: sp.gammaln(x))(np.arange(1, 4)).dtype == np.float64
    np.testing.assert_allclose(tg.jit(lambda x: sp.digamma(x))(x32), sp.digamma(x32), rtol=1e-6)


@pytest.mark.parametrize(
    "call, name",
    [
        (lambda x: sp.dawsn(x), "dawsn"),  # a public ufunc
        (lambda x: sp.zeta(x + 2.0, 1.0), "zeta"),  # a function calling a private ufunc
        (lambda x: sp.factorial(x), "factorial"),  # a function converting to an array
    ],
)
def test_unsupported_scipy_functions_are_named_as_scipy(call, name):
    with pytest.raises(tg.TracegradError, match=rf"scipy\.special\.{name}\b") as info:
        tg.grad(lambda x: np.sum(call(x)))(P)
    assert "np." + name not in str(info.value)
    assert __file__ in str(info.value)  # the user's line


@pytest.mark.parametrize(
    "name, call",
    [
        ("logsumexp", lambda f, x: f(x)),  # SciPy's code reaches np.result_type
        ("polygamma", lambda f, x: f(1, x)),  # converts x to an array
        ("multigammaln", lambda f, x: f(x + 2.0, 2)),  # tests x in an if
    ],
)
def test_references_taken_before_tracing_say_how_to_reach_ours(name, call):
    """`from scipy.special import f` holds SciPy's own code: whichever way it fails on a
    traced value, the error names f and says to look it up while tracing."""
    held = getattr(sp, name)  # taken here, outside tracing: SciPy's function
    with pytest.raises(tg.TracegradError) as info:
        tg.grad(lambda x: np.sum(call(held, x)))(P)
    message = str(info.value)
    assert message.startswith(f"scipy.special.{name} "), message
    assert f"write scipy.special.{name}(...)" in message and __file__ in message


def test_polygamma_order_must_be_static_and_whole():
    with pytest.raises(tg.UnsupportedNumpyFunction, match="known while tracing"):
        tg.grad(lambda x: np.sum(sp.polygamma(x, x)))(P)
    with pytest.raises(tg.UnsupportedNumpyFunction, match="one whole number"):
        tg.grad(lambda x: np.sum(sp.polygamma(np.array([1, 2, 1]), x)))(P)
    with pytest.raises(tg.UnsupportedNumpyFunction, match="one whole number"):
        tg.grad(lambda x: np.sum(sp.polygamma(1.5, x)))(P)


def test_derivatives_of_every_order_stay_polygamma():
    """d^k/dx^k gammaln = polygamma(k - 1): four nested grads against SciPy."""
    f = lambda x: sp.gammaln(x)  # noqa: E731
    for k in range(1, 5):
        f = tg.grad(f)
        np.testing.assert_allclose(f(2.7), sp.polygamma(k - 1, 2.7), rtol=1e-13)
    erf3 = tg.grad(tg.grad(tg.grad(lambda x: sp.erf(x))))
    want = 2 / np.sqrt(np.pi) * np.exp(-(0.6**2)) * (4 * 0.6**2 - 2)
    np.testing.assert_allclose(erf3(0.6), want, rtol=1e-13)


# Arguments for the compiled kernels: tiny to huge, negative non-integers next to the poles
# and far from them, and the special values (poles, infinities, NaN).
_RNG = np.random.default_rng(7)
_POSITIVE = np.concatenate([np.geomspace(1e-300, 1e300, 400), _RNG.uniform(0, 40, 400)])
_NEGATIVE = -np.concatenate(
    [np.geomspace(1e-9, 1e4, 400), _RNG.uniform(0, 40, 400), np.arange(1, 30) + 1e-7]
)
_NEGATIVE = _NEGATIVE[_NEGATIVE != np.floor(_NEGATIVE)]
_SPECIAL = np.array([0.0, -0.0, -1.0, -7.0, np.inf, -np.inf, np.nan])
ORDERS = (0, 1, 2, 3, 6)


def _polygamma_scale(n, x):
    """The size of the terms the reflection formula adds up for x < 0 (where the result may
    cancel to far below them): the error bound is relative to these."""
    scale = np.abs(sp.polygamma(n, x))
    negative = x < 0  # SciPy's time grows with -x: only where needed
    y = x[negative]
    with np.errstate(all="ignore"):
        terms = [sp.polygamma(n, 1 - y), sp.polygamma(n, np.ceil(y) - y), sp.polygamma(n, y % 1)]
    scale[negative] = sum(np.abs(t) for t in terms)
    return scale


def _special_functions(x):
    return [sp.polygamma(n, x) for n in ORDERS] + [
        sp.digamma(x),
        sp.gammaln(x),
        sp.gamma(x),
        sp.erf(x),
        sp.erfc(x),
    ]


def test_compiled_special_functions_match_scipy(monkeypatch):
    """One compiled program: polygamma of several orders to 1e-13 of SciPy relative to the
    size of its terms (rounding of the sums, near the roots of polygamma too), the libm
    functions to 1e-13, and SciPy's values at poles, infinities and NaN."""
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    x = np.concatenate([_POSITIVE, _NEGATIVE, _SPECIAL])
    source = tg.show_source(_special_functions)(x)
    assert "_polygamma(6, " in source and "math.lgamma(" in source  # compiled
    got = tg.jit(_special_functions, compile="sync")(x)
    with np.errstate(all="ignore"):
        want = _special_functions(x)
    for k, (g, w) in enumerate(zip(got, want, strict=True)):
        name = f"polygamma({ORDERS[k]})" if k < len(ORDERS) else f"output {k}"
        finite = np.isfinite(w)
        np.testing.assert_array_equal(g[~finite], w[~finite], err_msg=name)
        scale = _polygamma_scale(ORDERS[k], x) if k < len(ORDERS) else np.abs(w)
        if k >= len(ORDERS) + 2:  # gamma, erf, erfc: libm against SciPy's own code
            finite &= np.abs(w) > 1e-300
        error = np.abs(g[finite] - w[finite]) / np.maximum(scale[finite], 1e-300)
        assert error.max() < 1e-13, (name, x[finite][np.argmax(error)], error.max())


# Probabilities from the smallest normal float to 1 - 1e-16, and values outside (0, 1).
_P = np.concatenate([np.geomspace(1e-307, 0.5, 500), 1 - np.geomspace(1e-16, 0.5, 300)])
_P = np.concatenate([_P, _RNG.uniform(0, 1, 300), [0.0, 0.5, 1.0, -0.1, 1.1, np.nan]])


def _normal_functions(x, p):
    y = np.concatenate([p, -p])  # erfinv's argument: tiny to +-1
    bessel = [sp.i0(x), sp.i0e(x), sp.i1(x), sp.i1e(x)]
    return [sp.log_ndtr(x), sp.ndtri(p), sp.erfinv(y), sp.erfcinv(2 * p), *bessel]


def test_compiled_normal_distribution_and_bessel_functions_match_scipy(monkeypatch):
    """One compiled program: log_ndtr (asymptotic series far in the lower tail), ndtri and
    erfinv (refined inverses) and the Bessel functions I_0, I_1 (series, then Hankel's
    asymptotic series) to 1e-13 of SciPy, relative, including the smallest probabilities,
    those next to 1, tiny arguments, overflow, and SciPy's inf and nan."""
    x = np.concatenate([_POSITIVE, -_POSITIVE, _SPECIAL])
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    source = tg.show_source(_normal_functions)(x, _P)
    assert "_log_ndtr(" in source and "_ndtri(" in source and "_erfinv(" in source
    assert "_bessel_i(1, True, " in source
    got = tg.jit(_normal_functions, compile="sync")(x, _P)
    with np.errstate(all="ignore"):
        want = _normal_functions(x, _P)
    names = ["log_ndtr", "ndtri", "erfinv", "erfcinv", "i0", "i0e", "i1", "i1e"]
    for name, g, w in zip(names, got, want, strict=True):
        finite = np.isfinite(w)
        np.testing.assert_array_equal(g[~finite], w[~finite], err_msg=name)
        # Subnormal results (log_ndtr of x > 37) may differ in their few bits.
        error = np.abs(g[finite] - w[finite]) / np.maximum(np.abs(w[finite]), 1e-290)
        assert error.max() < 1e-13, (name, np.argmax(error), error.max())


def test_scipy_is_scipys_own_after_tracing():
    tg.grad(lambda x: sp.logsumexp(x))(P)
    assert sp.logsumexp.__module__ == "scipy.special._logsumexp"


def test_support_page_lists_exactly_the_tested_functions():
    """The names docs/numpy-support.md gives are SciPy's, and each has a case above."""
    from tracegrad.frontend import support

    section = support.render().split("## scipy.special")[1]
    listed = set(re.findall(r"`scipy\.special\.(\w+)`", section)) - {"dawsn"}  # the example
    assert all(callable(getattr(sp, name, None)) for name in listed)
    assert listed == {name.split("(")[0].split(" ")[0] for name in CASES}
