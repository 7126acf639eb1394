"""np.pad in every mode and column-major reshapes: NumPy's values for random widths, shapes,
options and dtypes, gradients against finite differences, one compiled program, and clear
errors for what a traced array cannot follow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.testing import check_grads

COPYING_MODES = ("edge", "reflect", "symmetric", "wrap")
STATISTIC_MODES = ("maximum", "minimum", "mean", "median")
MODES = ("constant", *COPYING_MODES, "linear_ramp", *STATISTIC_MODES)


@st.composite
def pad_options(draw, mode, ndim):
    pairs = st.tuples(st.integers(-3, 3), st.integers(-3, 3))
    if mode == "constant":
        return {"constant_values": draw(pairs | st.integers(-3, 3))}
    if mode in ("reflect", "symmetric"):
        return {"reflect_type": draw(st.sampled_from(["even", "odd"]))}
    if mode == "linear_ramp":
        return {"end_values": draw(st.lists(pairs, min_size=ndim, max_size=ndim).map(tuple))}
    if mode in STATISTIC_MODES:
        lengths = st.lists(st.tuples(st.integers(1, 5), st.integers(1, 5)), min_size=ndim)
        return {"stat_length": draw(st.none() | lengths.map(lambda p: tuple(p[:ndim])))}
    return {}


@st.composite
def padded_problems(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    # Up to 12: wide enough for many periods of a short axis (one gather instead of slices).
    widths = tuple((draw(st.integers(0, 12)), draw(st.integers(0, 12))) for _ in shape)
    mode = draw(st.sampled_from(MODES))
    return shape, widths, mode, draw(pad_options(mode, len(shape)))


@pytest.mark.usefixtures("interpret_backend")
@settings(max_examples=60, deadline=None)
@given(padded_problems())
def test_pad_matches_numpy_and_finite_differences(problem):
    shape, widths, mode, options = problem
    x = np.random.default_rng(len(shape)).normal(size=shape)

    def padded(x):
        return np.pad(x, widths, mode=mode, **options)

    for a in (x, np.round(x * 4).astype(np.int64)):  # integers: NumPy's rounding
        got, want = tg.jit(padded)(a), padded(a)
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13)
    weights = np.random.default_rng(1).normal(size=np.pad(x, widths).shape)
    check_grads(lambda x: np.sum(padded(x) * weights), (x,), order=1)


def test_pad_empty_mode_is_zeros_of_numpys_shape():
    x = np.ones((2, 3))
    got = tg.jit(lambda x: np.pad(x, ((1, 0), (2, 2)), mode="empty"))(x)
    np.testing.assert_array_equal(got, np.pad(x, ((1, 0), (2, 2))))


@pytest.mark.usefixtures("interpret_backend")
@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=1, max_size=4), st.data())
def test_column_major_reshape_matches_numpy(shape, data):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    target = tuple(data.draw(st.permutations(shape)))
    want = x.reshape(target, order="F")
    np.testing.assert_array_equal(tg.jit(lambda x: np.reshape(x, target, order="F"))(x), want)
    np.testing.assert_array_equal(tg.jit(lambda x: x.ravel(order="F"))(x), x.ravel(order="F"))
    weights = np.random.default_rng(0).normal(size=target)
    g = tg.grad(lambda x: np.sum(x.reshape(target, order="F") * weights))(x)
    np.testing.assert_array_equal(g, weights.reshape(shape, order="F"))


def test_compiled_pad_and_column_major_order(monkeypatch):
    """One compiled program: NumPy's values, and the interpreter's gradient (which the tests
    above check against finite differences) of a weighted sum of all of them."""
    x = np.random.default_rng(2).normal(size=(3, 4))
    others = [
        ("reflect", {"reflect_type": "odd"}),
        ("linear_ramp", {"end_values": 2.0}),
        ("maximum", {"stat_length": 2}),
        ("mean", {}),
    ]

    def outputs(x):
        parts = [np.pad(x, ((2, 1), (5, 3)), mode=m) for m in COPYING_MODES]
        parts += [np.pad(x, ((0, 0), (30, 11)), mode=m) for m in ("symmetric", "wrap")]
        parts += [np.pad(x, ((1, 2), (4, 1)), mode=m, **options) for m, options in others]
        return parts + [x.reshape((2, 6), order="F"), x.flatten("F")]

    def loss(x):
        flat = np.concatenate([np.ravel(p) for p in outputs(x)])
        return flat @ (np.arange(flat.size) % 7.0)

    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")
    want_grad = tg.grad(loss)(x)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    got, got_grad = tg.jit(lambda x: (outputs(x), tg.grad(loss)(x)), "sync")(x)
    for g, w in zip(got, outputs(x), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-13)


@pytest.mark.parametrize("order", ["A", "K"])
def test_layout_orders_are_refused_with_the_fix(order):
    with pytest.raises(tg.UnsupportedNumpyFunction, match=r"memory layout.*order='F'"):
        tg.jit(lambda x: np.reshape(x, (4, 3), order=order))(np.ones((3, 4)))
    with pytest.raises(tg.UnsupportedNumpyFunction, match=rf"ravel\(order='{order}'\)"):
        tg.jit(lambda x: x.ravel(order))(np.ones((3, 4)))
    with pytest.raises(ValueError, match="order must be one of"):
        tg.jit(lambda x: x.flatten("X"))(np.ones((3, 4)))


def test_unsupported_pad_arguments_are_named():
    with pytest.raises(tg.UnsupportedNumpyFunction, match=r"np\.pad\(mode=<function.*'median'"):
        tg.jit(lambda x: np.pad(x, 2, mode=lambda *args: None))(np.ones(3))
    with pytest.raises(ValueError, match=r"unsupported keyword arguments for mode 'edge'"):
        tg.jit(lambda x: np.pad(x, 2, mode="edge", constant_values=1.0))(np.ones(3))
    with pytest.raises(ValueError, match="stat_length of 0"):
        tg.jit(lambda x: np.pad(x, 2, mode="maximum", stat_length=0))(np.ones(3))


def test_pad_of_an_empty_axis_is_numpys_error():
    with pytest.raises(ValueError, match="empty axis"):
        tg.jit(lambda x: np.pad(x, ((0, 0), (1, 1)), mode="edge"))(np.ones((0, 2)).T)
