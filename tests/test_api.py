"""The public API: pytrees, result structure/shapes/dtypes, argnums, has_aux, caching, vjp.

These tests run on whatever backend is active (few distinct programs), so they also
exercise compiled code when the Numba backend is available.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads, numerical_grad

Layer = namedtuple("Layer", ["W", "b"])

rng = np.random.default_rng(0)
X = rng.normal(size=(5, 3))


def assert_same_structure(got, like):
    """Same container types, keys, shapes and dtypes, leaf by leaf."""
    assert type(got) is type(like) or (isinstance(like, float) and np.isscalar(got)), (got, like)
    if isinstance(like, dict):
        assert sorted(got) == sorted(like)
        for k in like:
            assert_same_structure(got[k], like[k])
    elif isinstance(like, tuple | list):
        assert len(got) == len(like)
        for g, w in zip(got, like, strict=True):
            assert_same_structure(g, w)
    elif like is None:
        assert got is None
    elif isinstance(like, float):
        assert np.shape(got) == () and np.asarray(got).dtype.kind == "f"
    else:
        assert isinstance(got, np.ndarray | np.generic)
        assert got.shape == like.shape and got.dtype == like.dtype, (got, like)


# =============================================================================================
# Pytrees in, same structure out


def tree_loss(params, x):
    h = np.tanh(x @ params["layers"][0].W + params["layers"][0].b)
    out = h @ params["layers"][1].W + params["layers"][1].b
    return np.mean(out**2) * params["scale"] + params["extra"][0] ** 2


def make_params(dtype=np.float64):
    return {
        "layers": [
            Layer(rng.normal(size=(3, 4)).astype(dtype), np.zeros(4, dtype)),
            Layer(rng.normal(size=(4, 2)).astype(dtype), rng.normal(size=2).astype(dtype)),
        ],
        "scale": 0.5,
        "extra": (np.array(1.5, dtype), None),
    }


def test_pytree_gradient_has_the_structure_of_the_input():
    params = make_params()
    g = tg.grad(tree_loss)(params, X)
    assert_same_structure(g, params)
    assert isinstance(g["layers"][0], Layer)
    assert g["extra"][1] is None


def test_pytree_gradient_values():
    params = make_params()
    check_grads(tree_loss, (params, X), argnums=0)
    expected = numerical_grad(tree_loss, (params, X))
    g = tg.grad(tree_loss)(params, X)
    np.testing.assert_allclose(g["layers"][1].W, expected["layers"][1].W, rtol=1e-6)
    np.testing.assert_allclose(g["scale"], expected["scale"], rtol=1e-6)


def test_float32_stays_float32():
    params = make_params(np.float32)
    g = tg.grad(tree_loss)(params, X.astype(np.float32))
    assert_same_structure(g, params)
    assert g["layers"][0].W.dtype == np.float32
    value, _ = tg.value_and_grad(lambda x: np.sum(x**2))(np.ones(3, np.float32))
    assert np.asarray(value).dtype == np.float32


def test_python_float_input_gives_float_scalar():
    g = tg.grad(lambda x: x**3)(2.0)
    assert np.shape(g) == () and isinstance(g, float | np.floating)
    assert g == pytest.approx(12.0)


def test_zero_d_array_input_gives_zero_d_array():
    g = tg.grad(lambda x: x**3)(np.array(2.0))
    assert isinstance(g, np.ndarray) and g.shape == () and float(g) == pytest.approx(12.0)


def test_numpy_scalar_input():
    g = tg.grad(lambda x: x**3)(np.float32(2.0))
    assert np.shape(g) == () and np.asarray(g).dtype == np.float32


def test_list_and_tuple_arguments():
    xs = [np.ones(2), np.full(2, 2.0)]
    g = tg.grad(lambda xs: np.sum(xs[0] * xs[1]))(xs)
    assert isinstance(g, list)
    np.testing.assert_allclose(g[0], [2.0, 2.0])
    g = tg.grad(lambda t: np.sum(t[0] * t[1]))(tuple(xs))
    assert isinstance(g, tuple)
    np.testing.assert_allclose(g[1], [1.0, 1.0])


def test_constant_gradient():
    """A gradient that does not depend on the input (the program output is a constant)."""
    np.testing.assert_array_equal(tg.grad(lambda x: np.sum(x))(np.ones(3)), np.ones(3))
    np.testing.assert_array_equal(tg.grad(lambda x: np.sum(3.0 * x))(np.ones(2)), [3.0, 3.0])


def test_unused_input_gets_zero_gradient():
    g = tg.grad(lambda x, y: np.sum(x**2), argnums=(0, 1))(np.ones(2), np.ones((2, 2)))
    np.testing.assert_array_equal(g[1], np.zeros((2, 2)))
    assert g[1].shape == (2, 2)


# =============================================================================================
# argnums and has_aux


def f3(x, y, z):
    return np.sum(x * y**2) + z


def test_argnums_int_and_tuple():
    x, y, z = np.array([1.0, 2.0]), np.array([3.0, 4.0]), 0.5
    np.testing.assert_allclose(tg.grad(f3)(x, y, z), y**2)
    np.testing.assert_allclose(tg.grad(f3, argnums=1)(x, y, z), 2 * x * y)
    gx, gz = tg.grad(f3, argnums=(0, 2))(x, y, z)
    np.testing.assert_allclose(gx, y**2)
    assert gz == pytest.approx(1.0)
    (gy,) = tg.grad(f3, argnums=(1,))(x, y, z)
    np.testing.assert_allclose(gy, 2 * x * y)


def test_negative_argnums():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    np.testing.assert_allclose(tg.grad(f3, argnums=-2)(x, y, 0.0), 2 * x * y)


def test_value_and_grad():
    x, y = np.array([1.0, 2.0]), np.array([3.0, 4.0])
    value, g = tg.value_and_grad(f3, argnums=(0, 1))(x, y, 1.0)
    assert value == pytest.approx(f3(x, y, 1.0))
    assert np.shape(value) == ()
    np.testing.assert_allclose(g[0], y**2)


def test_has_aux():
    def loss(w, x):
        pred = x @ w
        return np.mean(pred**2), {"pred": pred, "norm": np.sum(w * w)}

    w = np.array([1.0, -1.0, 0.5])
    g, aux = tg.grad(loss, has_aux=True)(w, X)
    np.testing.assert_allclose(aux["pred"], X @ w)
    assert aux["norm"] == pytest.approx(2.25)
    np.testing.assert_allclose(g, 2 * X.T @ (X @ w) / 5)
    (value, aux2), g2 = tg.value_and_grad(loss, has_aux=True)(w, X)
    assert value == pytest.approx(np.mean((X @ w) ** 2))
    np.testing.assert_allclose(g2, g)
    np.testing.assert_allclose(aux2["pred"], aux["pred"])


def test_non_differentiated_integer_and_bool_arguments():
    def f(x, idx, mask):
        return np.sum(np.where(mask, x[idx], 0.0) ** 2)

    x = np.array([1.0, 2.0, 3.0])
    idx, mask = np.array([2, 0]), np.array([True, False])
    np.testing.assert_allclose(tg.grad(f)(x, idx, mask), [0.0, 0.0, 6.0])


def test_static_python_arguments():
    def f(x, power, name):
        assert name == "cube"
        return np.sum(x**power)

    np.testing.assert_allclose(tg.grad(f)(np.array([2.0]), 3, "cube"), [12.0])


# =============================================================================================
# Caching and retracing


def test_same_signature_hits_the_cache_new_signature_retraces():
    traces = []

    def f(x):
        traces.append(x.shape)
        return np.sum(np.sin(x))

    df = tg.grad(f)
    df(np.ones(3))
    df(np.zeros(3))  # same shape and dtype: cached
    assert len(traces) == 1
    df(np.ones(4))  # new shape
    assert len(traces) == 2
    df(np.ones(3, np.float32))  # new dtype
    assert len(traces) == 3
    df(np.ones(3))
    assert len(traces) == 3
    assert len(df.cache) == 3


def test_static_argument_change_retraces():
    traces = []

    def f(x, n):
        traces.append(n)
        return np.sum(x**n)

    df = tg.grad(f)
    assert df(np.ones(2), 2)[0] == pytest.approx(2.0)
    assert df(np.ones(2), 3)[0] == pytest.approx(3.0)
    df(np.ones(2), 3)
    assert traces == [2, 3]


def test_python_float_values_do_not_retrace():
    traces = []

    def f(x):
        traces.append(1)
        return x**2

    df = tg.grad(f)
    assert df(1.0) == pytest.approx(2.0)
    assert df(3.0) == pytest.approx(6.0)  # a traced input, not baked into the program
    assert len(traces) == 1


def test_jit_caches_and_retraces():
    traces = []

    def f(x):
        traces.append(1)
        return {"s": np.sin(x), "n": np.sum(x)}

    jf = tg.jit(f)
    out = jf(np.ones(3))
    np.testing.assert_allclose(out["s"], np.sin(np.ones(3)))
    jf(np.zeros(3))
    jf(np.zeros((2, 2)))
    assert len(traces) == 2


# =============================================================================================
# Closures


def test_closure_constants():
    W = np.array([[1.0, 2.0], [3.0, 4.0]])
    scale = 0.5
    k = 3

    def f(x):
        return scale * np.sum((W @ x) ** k)

    x = np.array([0.2, -0.1])
    expected = scale * k * W.T @ ((W @ x) ** (k - 1))
    np.testing.assert_allclose(tg.grad(f)(x), expected, rtol=1e-13)
    check_grads(f, (x,), order=2)


def test_closure_constants_are_baked_in_at_trace_time():
    """Documents the caching semantics: closed-over arrays are constants of the cached program,
    so changing them later does not change the result. Data that changes must be an argument."""
    c = np.ones(2)

    def f(w):
        return np.sum(c * w)

    g = tg.grad(f)
    np.testing.assert_array_equal(g(np.ones(2)), [1.0, 1.0])
    c[:] = 5.0
    np.testing.assert_array_equal(g(np.ones(2)), [1.0, 1.0])  # the cached program
    np.testing.assert_array_equal(tg.grad(f)(np.ones(2)), [5.0, 5.0])  # a fresh trace


def test_closure_over_outer_traced_value():
    """An inner grad closing over the outer function's argument (a Tracer)."""

    def outer(y):
        return tg.grad(lambda x: np.sum(np.sin(x * y)))(np.array([0.3, 0.4]))[0]

    y = 1.3
    expected = -0.3 * np.sin(0.3 * y) * y + np.cos(0.3 * y)  # d/dy [y cos(0.3 y)]
    assert tg.grad(outer)(y) == pytest.approx(expected, rel=1e-12)


# =============================================================================================
# vjp and jit


def test_vjp_non_scalar_output():
    def f(x, W):
        return np.tanh(x @ W)

    x, W = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))
    out, vjp_fn = tg.vjp(f, x, W)
    np.testing.assert_allclose(out, np.tanh(x @ W))
    ct = rng.normal(size=(4, 2))
    gx, gW = vjp_fn(ct)
    d = ct * (1 - np.tanh(x @ W) ** 2)
    np.testing.assert_allclose(gx, d @ W.T, rtol=1e-12)
    np.testing.assert_allclose(gW, x.T @ d, rtol=1e-12)
    # Against grad of <f, ct>.
    g = tg.grad(lambda x, W: np.sum(f(x, W) * ct), argnums=(0, 1))(x, W)
    np.testing.assert_allclose(g[0], gx, rtol=1e-12)


def test_vjp_pytree_output():
    out, vjp_fn = tg.vjp(lambda x: {"a": x * 2.0, "b": np.sum(x)}, np.ones(3))
    (g,) = vjp_fn({"a": np.array([1.0, 0.0, 2.0]), "b": 1.0})
    np.testing.assert_allclose(g, [3.0, 1.0, 5.0])


def test_jit_of_grad_and_grad_of_jit():
    f = lambda x: np.sum(np.sin(x) ** 2)  # noqa: E731
    x = np.array([0.1, 0.7, -2.0])
    expected = 2 * np.sin(x) * np.cos(x)
    np.testing.assert_allclose(tg.jit(tg.grad(f))(x), expected, rtol=1e-12)
    np.testing.assert_allclose(tg.grad(tg.jit(f))(x), expected, rtol=1e-12)


def test_jit_matches_numpy():
    def f(x, y):
        return np.maximum(x @ y, 0.0), np.mean(x, axis=0)

    x, y = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    got = tg.jit(f)(x, y)
    want = f(x, y)
    assert isinstance(got, tuple)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_make_ir_returns_program():
    program = tg.make_ir(lambda x: np.sum(x * x))(np.ones(2))
    assert isinstance(program, tg.Program)
    assert [str(a) for a in program.in_avals] == ["f64[2]"]


# =============================================================================================
# tracegrad.testing itself: check_grads must be able to fail, and say where


@tg.custom_vjp
def wrong_square(x):
    return x * x


wrong_square.defvjp(lambda x: (x * x, (x,)), lambda res, g: (3.0 * res[0] * g,))  # 3x, not 2x


def test_check_grads_reports_a_wrong_gradient():
    def model(params, x):
        return np.sum(wrong_square(params["w"]) * x) + np.sum(params["b"] ** 2)

    params = {"b": np.ones(2), "w": np.array([0.5, -1.0, 2.0])}
    with pytest.raises(AssertionError) as info:
        check_grads(model, (params, np.ones(3)), argnums=0)
    message = str(info.value)
    for words in ["model", "args[0]['w']", "expected", "got", "direction"]:
        assert words in message, message


def test_check_grads_order_two_catches_a_wrong_second_derivative():
    # First derivative right (through the plain path), second derivative wrong: the custom rule
    # returns the right value 2x but as a constant, so its own derivative is 0.
    @tg.custom_vjp
    def square(x):
        return x * x

    square.defvjp(lambda x: (x * x, (x,)), lambda res, g: (g * tg.stop_gradient(2.0 * res[0]),))
    x = np.array([0.3, 1.2])
    check_grads(lambda x: np.sum(square(x)), (x,), order=1)
    with pytest.raises(AssertionError, match="grad"):
        check_grads(lambda x: np.sum(square(x)), (x,), order=2)


def test_check_grads_forward_mode_alone_catches_a_wrong_rule():
    x = np.array([0.5, -1.0, 2.0])
    with pytest.raises(AssertionError, match="mode='fwd'"):
        check_grads(lambda x: np.sum(wrong_square(x)), (x,), modes=("fwd",))
    with pytest.raises(ValueError, match="modes"):
        check_grads(lambda x: np.sum(x), (x,), modes=("sideways",))


def test_check_grads_richardson_extrapolation():
    # A large third derivative makes the plain central difference's h^2 error visible with
    # a coarse step; extrapolating steps h and h/2 removes it.
    def f(x):
        return np.exp(4.0 * x)

    with pytest.raises(AssertionError):
        check_grads(f, (1.0,), eps=1e-2, rtol=1e-6, atol=0.0, modes=("rev",))
    check_grads(f, (1.0,), eps=1e-2, rtol=1e-6, atol=0.0, richardson=True)


def test_check_grads_checks_gradient_dtype():
    # tracegrad keeps float32; check_grads would flag a float64 gradient for a float32 input.
    check_grads(lambda x: np.sum(np.sin(x)), (np.linspace(0, 1, 4).astype(np.float32),))


def test_numerical_grad_structure():
    def f(p, y):
        return np.sum(p["a"] ** 2) * y + p["c"][0]

    p = {"a": np.array([1.0, 2.0], np.float32), "c": (3.0,)}
    g = numerical_grad(f, (p, 2.0))
    assert g["a"].dtype == np.float32 and g["a"].shape == (2,)
    np.testing.assert_allclose(g["a"], [4.0, 8.0], rtol=1e-5)
    assert g["c"][0] == pytest.approx(1.0, rel=1e-6)
    gp, gy = numerical_grad(f, (p, 2.0), argnums=(0, 1))
    assert gy == pytest.approx(5.0, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.int64, np.uint8, np.bool_, np.float32])
def test_jit_sum_dtype_matches_numpy(dtype):
    x = np.ones((2, 3), dtype)
    for f in (lambda x: np.sum(x), lambda x: np.sum(x, axis=0), lambda x: x.sum(axis=1)):
        got, want = tg.jit(f)(x), f(x)
        assert np.asarray(got).dtype == np.asarray(want).dtype
        np.testing.assert_array_equal(got, want)
