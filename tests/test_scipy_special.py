"""scipy.special functions that losses use, on traced values: values equal SciPy's, gradients
match finite differences; the rest name themselves correctly in the error."""

from __future__ import annotations

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


def test_unsupported_scipy_ufunc_is_named_as_scipy():
    with pytest.raises(tg.UnsupportedNumpyFunction, match=r"scipy\.special\.erf has no"):
        tg.grad(lambda x: np.sum(sp.erf(x)))(P)


def test_scipy_is_scipys_own_after_tracing():
    tg.grad(lambda x: sp.logsumexp(x))(P)
    assert sp.logsumexp.__module__ == "scipy.special._logsumexp"
