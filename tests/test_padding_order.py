"""np.pad's copying modes and column-major reshapes: NumPy's values for random widths and
shapes, gradients against finite differences, one compiled program, and clear errors for
the modes and orders a traced array cannot follow."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.testing import check_grads

COPYING_MODES = ("edge", "reflect", "symmetric", "wrap")


@st.composite
def padded_problems(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    # Up to 12: wide enough for many periods of a short axis (one gather instead of slices).
    widths = tuple((draw(st.integers(0, 12)), draw(st.integers(0, 12))) for _ in shape)
    mode = draw(st.sampled_from(COPYING_MODES + ("constant",)))
    return shape, widths, mode


@pytest.mark.usefixtures("interpret_backend")
@settings(max_examples=40, deadline=None)
@given(padded_problems())
def test_pad_matches_numpy_and_finite_differences(problem):
    shape, widths, mode = problem
    x = np.random.default_rng(len(shape)).normal(size=shape)
    np.testing.assert_array_equal(
        tg.jit(lambda x: np.pad(x, widths, mode=mode))(x), np.pad(x, widths, mode=mode)
    )
    weights = np.random.default_rng(1).normal(size=np.pad(x, widths).shape)
    check_grads(lambda x: np.sum(np.pad(x, widths, mode=mode) * weights), (x,), order=1)


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
    """One compiled program: the values and the gradient of a weighted sum of all of them,
    which for these linear maps is sum_j weights_j * d out_j / d x_i, computed by NumPy."""
    x = np.random.default_rng(2).normal(size=(3, 4))

    def outputs(x):
        parts = [np.pad(x, ((2, 1), (5, 3)), mode=m) for m in COPYING_MODES]
        parts += [np.pad(x, ((0, 0), (30, 11)), mode=m) for m in ("symmetric", "wrap")]
        return parts + [x.reshape((2, 6), order="F"), x.flatten("F")]

    def flat(x):
        return np.concatenate([np.ravel(p) for p in outputs(x)])

    weights = np.arange(float(flat(x).size)) % 7
    basis = np.eye(x.size).reshape((x.size, *x.shape))
    want_grad = np.array([flat(e) @ weights for e in basis]).reshape(x.shape)

    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    program = tg.jit(lambda x: (outputs(x), tg.grad(lambda x: flat(x) @ weights)(x)), "sync")
    got, got_grad = program(x)
    for g, w in zip(got, outputs(x), strict=True):
        np.testing.assert_array_equal(g, w)
    np.testing.assert_allclose(got_grad, want_grad, rtol=1e-14)


@pytest.mark.parametrize("order", ["A", "K"])
def test_layout_orders_are_refused_with_the_fix(order):
    with pytest.raises(tg.UnsupportedNumpyFunction, match=r"memory layout.*order='F'"):
        tg.jit(lambda x: np.reshape(x, (4, 3), order=order))(np.ones((3, 4)))
    with pytest.raises(tg.UnsupportedNumpyFunction, match=rf"ravel\(order='{order}'\)"):
        tg.jit(lambda x: x.ravel(order))(np.ones((3, 4)))
    with pytest.raises(ValueError, match="order must be one of"):
        tg.jit(lambda x: x.flatten("X"))(np.ones((3, 4)))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda x: np.pad(x, 2, mode="mean"), r"np\.pad\(mode='mean'\).*'wrap'"),
        (lambda x: np.pad(x, 2, mode="reflect", reflect_type="odd"), r"reflect_type='odd'"),
        (lambda x: np.pad(x, 2, mode="maximum", stat_length=1), r"stat_length="),
    ],
)
def test_unsupported_pad_modes_name_the_supported_ones(call, message):
    with pytest.raises(tg.UnsupportedNumpyFunction, match=message):
        tg.jit(call)(np.ones(3))


def test_pad_of_an_empty_axis_is_numpys_error():
    with pytest.raises(ValueError, match="empty axis"):
        tg.jit(lambda x: np.pad(x, ((0, 0), (1, 1)), mode="edge"))(np.ones((0, 2)).T)
