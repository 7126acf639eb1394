"""Indexing against NumPy itself: ``x[idx]``, its gradient, ``y[idx] = v`` and ``y[idx] += v``.

The Hypothesis tests draw shapes and every index form (ints, negative ints, slices with
steps, None, Ellipsis, integer arrays, boolean masks, 0-d booleans, mixed) and run on the
reference interpreter, so that many examples stay cheap.  The regression table checks the
new-axis cases of issue 14 interpreted, and a few functions compiled with Numba.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tracegrad as tg
from tracegrad.testing import numerical_grad

EXAMPLES = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture
def interpreted(monkeypatch):
    """The reference interpreter, unless TRACEGRAD_BACKEND asks for another backend."""
    if "TRACEGRAD_BACKEND" not in os.environ:
        monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


@pytest.fixture
def compiled(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")


def values(shape: tuple[int, ...]) -> np.ndarray:
    """Distinct values, so that a misplaced element shows."""
    return np.arange(float(np.prod(shape))).reshape(shape) * 0.5 - 1.0


def weights(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=shape)


# =============================================================================================
# Index strategies


def array_index(d: int, shape: tuple[int, ...]) -> st.SearchStrategy:
    """An integer array of ``shape`` indexing an axis of size ``d`` (negative entries too)."""
    return hnp.arrays(np.int64, shape, elements=st.integers(-d, d - 1))


def axis_items(draw: Any, dims: tuple[int, ...], common: tuple[int, ...]) -> list[Any]:
    """Indices for consecutive axes of sizes ``dims``; integer arrays of shapes that are
    suffixes of ``common``, so that they broadcast together."""
    items: list[Any] = []
    n = 0
    while n < len(dims):
        d = dims[n]
        kinds = ["slice", "mask"] + (["int", "array", "array"] if d else [])
        kinds += ["mask2"] if n + 1 < len(dims) else []
        kind = draw(st.sampled_from(kinds))
        if kind == "int":
            items.append(draw(st.integers(-d, d - 1)))
        elif kind == "slice":
            bound = st.none() | st.integers(-d - 2, d + 2)
            step = st.sampled_from([None, -3, -2, -1, 1, 2, 3])
            items.append(slice(draw(bound), draw(bound), draw(step)))
        elif kind == "array":
            suffix = common[draw(st.integers(0, len(common))) :]
            items.append(draw(array_index(d, suffix)))
        elif kind == "mask":
            items.append(draw(hnp.arrays(np.bool_, (d,))))
        else:
            items.append(draw(hnp.arrays(np.bool_, (d, dims[n + 1]))))
            n += 1
        n += 1
    return items


@st.composite
def mixed_indices(draw: Any, shape: tuple[int, ...]) -> tuple:
    """Ints, slices, integer arrays and masks for some leading and trailing axes (with an
    Ellipsis between them, or not), with None and 0-d booleans anywhere."""
    ndim = len(shape)
    consumed = draw(st.integers(0, ndim))
    head = draw(st.integers(0, consumed))
    common = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
    items = axis_items(draw, shape[:head], common)
    if draw(st.booleans()) or head < consumed:
        items.append(Ellipsis)
        items += axis_items(draw, shape[ndim - (consumed - head) :], common)
    for _ in range(draw(st.integers(0, 3))):
        extra = draw(st.sampled_from([None, None, None, True, False, np.True_]))
        items.insert(draw(st.integers(0, len(items))), extra)
    return tuple(items)


@st.composite
def indexed(draw: Any) -> tuple[tuple[int, ...], Any]:
    """(shape, index) in every form; NumPy may reject the index (then tracegrad must too)."""
    form = draw(st.sampled_from(["basic", "arrays", "mask", "mixed", "mixed"]))
    event(f"index form: {form}")
    min_side = 1 if form == "arrays" else 0
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=min_side, max_side=4))
    if form == "basic":
        index = draw(hnp.basic_indices(shape, min_dims=0, allow_newaxis=True))
    elif form == "arrays":
        result_shape = hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)
        index = draw(hnp.integer_array_indices(shape, result_shape=result_shape))
    elif form == "mask":
        k = draw(st.integers(1, len(shape)))
        index = draw(hnp.arrays(np.bool_, shape[:k]))
    else:
        index = draw(mixed_indices(shape))
    return shape, index


def numpy_or_error(f: Any, *args: Any) -> Any:
    try:
        return f(*args)
    except (IndexError, ValueError, TypeError) as e:
        return e


# =============================================================================================
# References computed with NumPy


def scatter_add(shape: tuple[int, ...], index: Any, w: np.ndarray) -> np.ndarray:
    g = np.zeros(shape)
    np.add.at(g, index, w)
    return g


def winners(shape: tuple[int, ...], index: Any) -> tuple[np.ndarray, np.ndarray]:
    """For ``y[index] = v``: which positions of y are written, and by which element of the
    (broadcast) ``v``, NumPy's own last write winning."""
    n = np.arange(float(np.prod(shape))).reshape(shape)[index]
    tag = np.full(shape, -1)
    tag[index] = np.arange(np.size(n)).reshape(np.shape(n))
    return tag >= 0, tag


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` down to the ``shape`` it was broadcast from."""
    g = g.sum(axis=tuple(range(g.ndim - len(shape)))) if g.ndim > len(shape) else g
    g = g.reshape((1,) * (len(shape) - g.ndim) + g.shape)  # leading 1s NumPy stripped
    return g.sum(axis=tuple(i for i, d in enumerate(shape) if d == 1), keepdims=True).reshape(shape)


def value_gradient(shape, index, v_shape, w) -> np.ndarray:
    written, tag = winners(shape, index)
    positions = np.arange(float(np.prod(shape))).reshape(shape)[index]
    full = np.zeros(np.size(positions))
    full[tag[written]] = w[written]
    return unbroadcast(full.reshape(np.shape(positions)), v_shape)


@st.composite
def value_shapes(draw: Any, target: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts to ``target`` in assignment (NumPy also strips leading 1s)."""
    suffix = list(target[draw(st.integers(0, len(target))) :])
    ones = draw(st.lists(st.booleans(), min_size=len(suffix), max_size=len(suffix)))
    lead = [1] * draw(st.integers(0, 1))
    return tuple(lead + [1 if one else d for d, one in zip(suffix, ones, strict=True)])


# =============================================================================================
# The audit


def assert_raises_like_numpy(expected: Exception, call: Any) -> None:
    with pytest.raises((IndexError, tg.TracegradError)):
        call()


@pytest.mark.usefixtures("interpreted")
@EXAMPLES
@given(indexed(), st.integers(0, 2**16), st.booleans())
def test_getitem_and_its_gradient_match_numpy(case, seed, traced_arrays):
    shape, index = case
    x = values(shape)
    want = numpy_or_error(lambda: x[index])
    if isinstance(want, Exception):
        event("NumPy refuses the index")
        assert_raises_like_numpy(want, lambda: tg.jit(lambda x: x[index])(x))
        return
    items = index if isinstance(index, tuple) else (index,)
    traced = [traced_arrays and isinstance(i, np.ndarray) and i.dtype.kind == "i" for i in items]

    def f(x, *arrays):
        it = iter(arrays)
        full = tuple(next(it) if t else i for i, t in zip(items, traced, strict=True))
        return x[full if isinstance(index, tuple) else full[0]]

    arrays = [i for i, t in zip(items, traced, strict=True) if t]
    got = tg.jit(f)(x, *arrays)
    assert np.shape(got) == want.shape
    np.testing.assert_array_equal(got, want)

    w = weights(want.shape, seed)
    grad = tg.grad(lambda x, *a: np.sum(w * f(x, *a)))(x, *arrays)
    np.testing.assert_allclose(grad, scatter_add(shape, index, w), rtol=1e-12, atol=1e-12)


@pytest.mark.usefixtures("interpreted")
@EXAMPLES
@given(indexed(), st.data(), st.sampled_from(["=", "+="]))
def test_inplace_updates_and_their_gradients_match_numpy(case, data, op):
    shape, index = case
    x = values(shape)
    target = numpy_or_error(lambda: x[index])
    if isinstance(target, Exception):
        event("NumPy refuses the index")
        return  # getitem covers the errors
    v_shape = data.draw(value_shapes(np.shape(target)), label="v_shape")
    v = weights(v_shape, 1) + 10.0

    def update(x, v):
        y = x.copy()
        if op == "=":
            y[index] = v
        else:
            y[index] += v
        return y

    want = numpy_or_error(update, x.copy(), v)
    if isinstance(want, Exception):
        event("NumPy refuses the update")
        return  # NumPy refuses some leading 1s (into masks, 0-d targets, or with +=)
    got = tg.jit(update)(x, v)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(x, values(shape))  # the input is left alone

    w = weights(shape, 2)
    gx, gv = tg.grad(lambda x, v: np.sum(w * update(x, v)), argnums=(0, 1))(x, v)
    written, _ = winners(shape, index)
    want_gx = w if op == "+=" else np.where(written, 0.0, w)
    np.testing.assert_allclose(gx, want_gx, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(gv, value_gradient(shape, index, v_shape, w), rtol=1e-12, atol=1e-12)


# =============================================================================================
# Regression table: the new-axis cases of issue 14, and the forms the audit found broken

CASES = [
    ((3,), np.s_[None, :, None]),
    ((4,), np.s_[None, :, None, None]),
    ((2, 3), np.s_[None, :, None, :]),
    ((3, 4), np.s_[0, None]),
    ((4, 5), np.s_[None, ..., None]),
    ((3, 4, 5), np.s_[1, :, None]),
    # An integer with an integer array indexed the sliced-out row (IndexError).
    ((3, 4), np.s_[1, [0, 2, -1]]),
    ((3, 4, 5), np.s_[[2, 0], :, -1]),
    # A 0-d boolean was taken as the integer 1 or 0.
    ((3, 4), np.s_[True]),
    ((3, 4), np.s_[:, False]),
    ((3, 4), np.s_[[0, 2], True]),
    # None with integer arrays was refused.
    ((3, 4), np.s_[[0, 1], None]),
    ((3, 4, 5), np.s_[[0, 1], None, [1, 3]]),
    ((3, 4, 5), np.s_[:, None, [1, 3]]),
    # An Ellipsis standing for no axes still separates the array indices.
    ((2, 3, 4), np.s_[:, [0, 1], ..., [1, 2]]),
    # The gradient (a scatter-add) of an empty selection next to an empty axis.
    ((2, 0), np.s_[[]]),
]
IDS = [f"{shape}-{index}" for shape, index in CASES]


@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize(("shape", "index"), CASES, ids=IDS)
def test_index_regressions_interpreted(shape, index):
    x = values(shape)
    got = tg.jit(lambda x: x[index])(x)
    assert np.shape(got) == x[index].shape
    np.testing.assert_array_equal(got, x[index])
    w = weights(x[index].shape, 0)
    grad = tg.grad(lambda x: np.sum(w * x[index]))(x)
    np.testing.assert_allclose(grad, scatter_add(shape, index, w), rtol=1e-12)


UPDATES = [
    # Positions written out of order (without repeats) got the values in sorted order.
    ((3,), np.s_[[2, 0]], (2,)),
    ((2, 3), np.s_[[1, 0], [0, 2]], (2,)),
    ((2, 3), np.s_[:, [2, 0]], (1, 2)),
    # A value with extra leading 1s, which NumPy drops.
    ((3, 2), np.s_[[0, 1]], (1, 2, 2)),
    ((3, 2), np.s_[None, 1:], (1, 1, 2, 2)),
    # Repeated positions: the last write wins.
    ((4,), np.s_[[3, 1, 3]], (3,)),
]
UPDATE_IDS = [f"{shape}-{index}-{v}" for shape, index, v in UPDATES]


@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize(("shape", "index", "v_shape"), UPDATES, ids=UPDATE_IDS)
def test_update_regressions_interpreted(shape, index, v_shape):
    def update(x, v):
        y = x.copy()
        y[index] = v
        return y

    x, v, w = values(shape), weights(v_shape, 0) + 10.0, weights(shape, 1)
    np.testing.assert_array_equal(tg.jit(update)(x, v), update(x.copy(), v))
    gx, gv = tg.grad(lambda x, v: np.sum(w * update(x, v)), argnums=(0, 1))(x, v)
    written, _ = winners(shape, index)
    np.testing.assert_allclose(gx, np.where(written, 0.0, w), rtol=1e-12)
    np.testing.assert_allclose(gv, value_gradient(shape, index, v_shape, w), rtol=1e-12)


ERRORS = [
    # A mask of the wrong shape selected wrong elements silently.
    ((3, 4), np.s_[:, np.array([True, False, True])], tg.ShapeError),
    ((3, 4), np.s_[np.ones((3, 3), bool)], tg.ShapeError),
    ((3, 4), np.s_[..., 0, ...], tg.ShapeError),
    ((3, 4), np.s_[0, 0, 0], tg.ShapeError),
    ((3, 4), np.s_[1.0], tg.DTypeError),
    ((3, 4), np.s_[:, [0.5]], tg.DTypeError),
    ((3, 4), np.s_[3], IndexError),
    ((3, 4), np.s_[:, [0, -5]], IndexError),
]


@pytest.mark.usefixtures("interpreted")
@pytest.mark.parametrize(
    ("shape", "index", "error"), ERRORS, ids=[f"{n}" for n in range(len(ERRORS))]
)
def test_bad_indices_raise(shape, index, error):
    with pytest.raises(IndexError):
        values(shape)[index]  # NumPy refuses them too
    with pytest.raises(error):
        tg.jit(lambda x: x[index])(values(shape))


A = np.ones((4, 4, 4)) * np.arange(4.0)
C = np.array([1.0, 2.0, 3.0, 4.0])


def bias(c):
    return np.sum(c[None, :, None] * A)


@pytest.mark.parametrize("backend", ["interpreted", "compiled"])
def test_issue_14_reproducer(backend, request):
    request.getfixturevalue(backend)
    assert bias(C) == 240.0
    assert tg.jit(bias)(C) == pytest.approx(240.0, rel=1e-14)
    np.testing.assert_allclose(tg.grad(bias)(C), [24.0, 24.0, 24.0, 24.0], rtol=1e-14)


@pytest.mark.usefixtures("compiled")
def test_index_regressions_compiled():
    """The six cases of issue 14 in one compiled function, and the gradient of the whole
    table in another: two Numba compiles (the index logic is the same for both backends)."""
    xs = [values(shape) for shape, _ in CASES]
    ws = [
        weights(x[index].shape, n) for n, (x, (_, index)) in enumerate(zip(xs, CASES, strict=True))
    ]

    def every(*xs):  # of the first len(xs) cases
        return tuple(x[index] for x, (_, index) in zip(xs, CASES, strict=False))

    def loss(*xs):
        return sum(np.sum(w * y) for w, y in zip(ws, every(*xs), strict=True))

    for got, x, (_, index) in zip(tg.jit(every)(*xs[:6]), xs, CASES[:6], strict=False):
        assert np.shape(got) == x[index].shape
        np.testing.assert_array_equal(got, x[index])
    grads = tg.grad(loss, argnums=tuple(range(len(xs))))(*xs)
    for g, w, (shape, index) in zip(grads, ws, CASES, strict=True):
        np.testing.assert_allclose(g, scatter_add(shape, index, w), rtol=1e-12)


# =============================================================================================
# Updates at traced indices: one scatter primitive, NumPy's semantics


def _set(x, index, v):
    y = x.copy()
    y[index] = v
    return y


def _add(x, index, v):
    y = x.copy()
    y[index] += v
    return y


def _add_at(x, index, v):
    y = x * 1.0
    np.add.at(y, index, v)
    return y


TRACED_UPDATES = [
    ("y[i] = v", _set, lambda i: i[0], (3,)),
    ("y[idx] = v, repeats", _set, lambda i: i, (4, 3)),
    ("y[:, idx] = v", _set, lambda i: (slice(None), i[:2] % 3), (5, 2)),
    ("y[i, j] = v", _set, lambda i: (i, i[::-1] % 3), (4,)),
    ("y[idx] += v, repeats", _add, lambda i: i, (4, 3)),
    ("np.add.at, repeats", _add_at, lambda i: i, (4, 3)),
    ("y[-i] = v", _set, lambda i: -1 - i, (4, 3)),
]


@pytest.mark.parametrize("backend", ["interpret", "numba"])
def test_updates_at_traced_indices_match_numpy_with_gradients(backend, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", backend)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(5, 3))
    idx = np.array([4, 1, 4, 0])  # a repeated position: the last write wins, or adds with at

    def all_updates(x, idx, *values):
        return [
            f(x, index(idx), v) for (_, f, index, _), v in zip(TRACED_UPDATES, values, strict=True)
        ]

    values = [rng.normal(size=shape) for *_, shape in TRACED_UPDATES]
    got = tg.jit(all_updates)(x, idx, *values)
    for (name, f, index, _), v, g in zip(TRACED_UPDATES, values, got, strict=True):
        np.testing.assert_allclose(g, f(x, index(idx), v), err_msg=name)
    weights = rng.normal(size=(len(values), 5, 3))

    def loss(x, *values):
        return sum(
            np.sum(w * np.sin(u))
            for w, u in zip(weights, all_updates(x, idx, *values), strict=True)
        )

    grads = tg.grad(loss, argnums=tuple(range(len(values) + 1)))(x, *values)
    wants = numerical_grad(loss, (x, *values), argnums=tuple(range(len(values) + 1)))
    for g, w in zip(grads, wants, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-8)


def test_traced_index_out_of_range_raises():
    with pytest.raises(IndexError):
        tg.jit(_set)(np.zeros(3), np.int64(3), 1.0)


def test_traced_index_with_a_partial_slice_names_the_alternative():
    with pytest.raises(tg.UnsupportedNumpyFunction, match="np.where"):
        tg.jit(lambda x, i: _set(x, (i, slice(0, 2)), 1.0))(np.zeros((3, 3)), np.int64(1))
