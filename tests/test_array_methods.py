"""ndarray methods on traced values: each one with a traced meaning gives NumPy's value and a
correct gradient; the rest raise an error that names what to write instead.  Rounding keeps
NumPy's results at inf, nan, huge values and signed zeros, compiled and interpreted."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads

X = np.random.default_rng(3).normal(size=(3, 4))

METHODS = {
    "swapaxes": lambda x: x.swapaxes(0, 1),
    "diagonal": lambda x: x.diagonal(1),
    "trace": lambda x: x.trace(),
    "mT": lambda x: x.mT,
    "take": lambda x: x.take([0, 2], axis=1),
    "repeat": lambda x: x.repeat(2, axis=0),
    "real": lambda x: x.real,
    "imag": lambda x: x.imag,
    "conj": lambda x: x.conj(),
    "conjugate": lambda x: x.conjugate(),
    "round": lambda x: x.round(1),
}


@pytest.mark.usefixtures("interpret_backend")
@pytest.mark.parametrize("name", sorted(METHODS))
def test_method_value_and_gradient(name):
    method = METHODS[name]
    np.testing.assert_array_equal(tg.jit(method)(X), method(X))
    check_grads(lambda x: np.sum(method(x) * np.cos(method(x))), (X,), order=2)


@pytest.mark.usefixtures("interpret_backend")
def test_in_place_methods_and_sizes():
    def f(x):
        filled, put = x.copy(), x.copy()
        filled.fill(2.5)
        put.put([0, 5], [1.0, -1.0])
        return filled, put, np.zeros(x.nbytes // x.itemsize)

    want_put = X.copy()
    want_put.put([0, 5], [1.0, -1.0])
    filled, put, sized = tg.jit(f)(X)
    np.testing.assert_array_equal(filled, np.full_like(X, 2.5))
    np.testing.assert_array_equal(put, want_put)
    assert sized.shape == (X.size,)
    g = tg.grad(lambda x: np.sum(f(x)[1] * x))(X)
    written = np.isin(np.arange(X.size), [0, 5]).reshape(X.shape)
    np.testing.assert_allclose(g, np.where(written, want_put, 2 * X))


@pytest.mark.parametrize("name", ["view", "flat", "strides", "tobytes", "resize", "ctypes"])
def test_attributes_without_a_traced_meaning_name_the_alternative(name):
    with pytest.raises(tg.UnsupportedNumpyFunction, match=f"ndarray.{name} has no meaning"):
        tg.jit(lambda x: getattr(x, name))(X)


def test_unknown_attributes_stay_attribute_errors():
    with pytest.raises(AttributeError, match="no attribute 'nonsense'"):
        tg.jit(lambda x: x.nonsense)(X)


SPECIAL = np.array(
    [0.5, 1.5, 2.5, -0.5, -1.5, 2.675, 0.125, -0.2, -0.0, 1e300, -1e300, np.inf, -np.inf, np.nan]
    + [2.0**60 + 2.0**8]
)


def _rounding(v):
    return np.floor(v), np.ceil(v), np.trunc(v), np.round(v), np.round(v, 1), np.rint(v)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("backend", ["numba", "interpret"])
def test_rounding_matches_numpy_at_special_values(dtype, backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)
    with np.errstate(over="ignore"):
        x = SPECIAL.astype(dtype)
    got, want = tg.jit(_rounding)(x), _rounding(x)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(np.signbit(g), np.signbit(w))  # -0.0 stays -0.0
