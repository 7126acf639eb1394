"""Every argument form against an independent reference: argnums in any order, negative,
one-element, repeated (an error); pytree arguments; keyword arguments; np.asarray / np.array
of traced values; random numbers drawn while tracing.

References are finite differences (tracegrad.testing.numerical_grad / numerical_jacobian),
which never see argnums through tracegrad's own transforms: each one builds its answer per
argument from a one-argument closure.
"""

import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import ArgnumsError, FrozenRandomnessWarning
from tracegrad.testing import check_grads, numerical_grad, numerical_jacobian

pytestmark = pytest.mark.usefixtures("interpret_backend")

RNG = np.random.default_rng(7)
X, Y, Z = RNG.normal(size=3), RNG.normal(size=3), RNG.normal(size=3)
PARAMS = {"w": RNG.normal(size=(3, 2)), "b": [RNG.normal(size=2), 0.5]}


def three(x, y, z):
    return np.sum(np.sin(x) * y) + np.sum(y * z**2)


def tree_loss(x, params, z):
    h = np.tanh(x @ params["w"] + params["b"][0]) * params["b"][1]
    return np.sum(h**2) + np.sum(z * x)


ARGS = {"three": (three, (X, Y, Z)), "tree": (tree_loss, (X, PARAMS, Z))}


def _reference_grad(f, args, n):
    """d f / d args[n] by finite differences of a one-argument closure."""

    def only(a):
        return f(*args[:n], a, *args[n + 1 :])

    return numerical_grad(only, (args[n],), argnums=0)


ARGNUMS = [0, 1, 2, -1, -3, (2, 0), (1, 2, 0), (0,), (-1, 0), (2, 1)]


def _assert_tree_close(got, want, rtol=1e-6, atol=1e-7):
    got_leaves, got_tree = tg.tree.tree_flatten(got)
    want_leaves, want_tree = tg.tree.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


def _expected(f, args, argnums):
    if isinstance(argnums, int):
        return _reference_grad(f, args, argnums % len(args))
    return tuple(_reference_grad(f, args, n % len(args)) for n in argnums)


@pytest.mark.parametrize("name", sorted(ARGS))
@pytest.mark.parametrize("argnums", ARGNUMS, ids=str)
def test_grad_and_value_and_grad_follow_argnums_order(name, argnums):
    f, args = ARGS[name]
    want = _expected(f, args, argnums)
    _assert_tree_close(tg.grad(f, argnums=argnums)(*args), want, rtol=1e-5, atol=1e-6)
    value, got = tg.value_and_grad(f, argnums=argnums)(*args)
    np.testing.assert_allclose(value, f(*args))
    _assert_tree_close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("argnums", [0, -1, (2, 0), (0,), (1, 2)], ids=str)
def test_check_grads_and_numerical_grad_follow_argnums_order(argnums):
    check_grads(three, (X, Y, Z), argnums=argnums, order=2)
    _assert_tree_close(
        numerical_grad(three, (X, Y, Z), argnums=argnums), _expected(three, (X, Y, Z), argnums)
    )


def vector_fn(x, y):
    return np.stack([np.sum(x * y), np.sum(np.sin(x)), np.sum(y**3)])


@pytest.mark.parametrize("jac", [tg.jacrev, tg.jacfwd], ids=["jacrev", "jacfwd"])
@pytest.mark.parametrize("argnums", [0, -1, (1, 0), (0,)], ids=str)
def test_jacobians_follow_argnums_order(jac, argnums):
    args = (X, Y)
    want = numerical_jacobian(vector_fn, args, argnums=argnums)
    _assert_tree_close(jac(vector_fn, argnums=argnums)(*args), want, rtol=1e-5, atol=1e-6)
    # Independently of numerical_jacobian's own argnums handling: one argument at a time.
    nums = (argnums,) if isinstance(argnums, int) else argnums
    for k, n in enumerate(nums):
        block = jac(vector_fn, argnums=argnums)(*args)
        block = block if isinstance(argnums, int) else block[k]
        n = n % 2

        def only(a, n=n):
            return vector_fn(*args[:n], a, *args[n + 1 :])

        np.testing.assert_allclose(block, numerical_jacobian(only, (args[n],)), rtol=1e-5)


@pytest.mark.parametrize("argnums", [1, (1, 0)], ids=str)
def test_hessian_follows_argnums_order(argnums):
    def f(x, y):
        return np.sum(np.sin(x) * y**2)

    got = tg.hessian(f, argnums=argnums)(X, Y)
    want = numerical_jacobian(tg.grad(f, argnums=argnums), (X, Y), argnums=argnums)
    _assert_tree_close(got, want, rtol=1e-5, atol=1e-6)
    if not isinstance(argnums, int):  # d2f/dy dx by hand: 2 y cos(x) on the diagonal
        np.testing.assert_allclose(got[0][1], np.diag(2 * Y * np.cos(X)), atol=1e-12)


def test_vjp_with_pytree_arguments_against_finite_differences():
    out, pullback = tg.vjp(tree_loss, X, PARAMS, Z)
    gx, gp, gz = pullback(np.ones(()))
    for n, got in enumerate((gx, gp, gz)):
        _assert_tree_close(got, _reference_grad(tree_loss, (X, PARAMS, Z), n), rtol=1e-5)


@pytest.mark.parametrize(
    "transform", [tg.grad, tg.value_and_grad, tg.jacrev, tg.jacfwd, tg.hessian]
)
@pytest.mark.parametrize("argnums", [(0, 0), (1, -2)], ids=str)
def test_repeated_argnums_are_an_error(transform, argnums):
    with pytest.raises(ArgnumsError, match="more than once"):
        transform(three, argnums=argnums)(X, Y, Z)


def test_check_grads_rejects_repeated_argnums():
    with pytest.raises(ArgnumsError, match="more than once"):
        check_grads(three, (X, Y, Z), argnums=(2, -1))


# =============================================================================================
# Keyword arguments: passed through, not differentiated


def keyword_loss(w, x, scale=1.0, power=2):
    return scale * np.sum((x @ w) ** power)


def test_keyword_arguments_are_passed_through():
    W, A = RNG.normal(size=3), RNG.normal(size=(4, 3))
    want = _reference_grad(lambda w, a: keyword_loss(w, a, scale=0.5, power=2), (W, A), 0)
    np.testing.assert_allclose(tg.grad(keyword_loss)(W, x=A, scale=0.5), want, rtol=1e-6)
    np.testing.assert_allclose(tg.grad(keyword_loss)(W, A, scale=0.5), want, rtol=1e-6)
    value, g = tg.value_and_grad(keyword_loss, argnums=-1)(W, x=A, scale=0.5)
    np.testing.assert_allclose(value, keyword_loss(W, A, scale=0.5))
    np.testing.assert_allclose(g, want, rtol=1e-6)
    # A Python int keyword is static: a new value is a new program with the new result.
    g3 = tg.grad(keyword_loss)(W, x=A, power=3)
    np.testing.assert_allclose(
        g3, _reference_grad(lambda w: keyword_loss(w, A, power=3), (W,), 0), rtol=1e-6
    )
    np.testing.assert_allclose(
        tg.jit(keyword_loss)(W, x=A, scale=2.0), keyword_loss(W, A, scale=2.0)
    )


# =============================================================================================
# np.asarray / np.array / np.full of traced values


def test_asarray_at_the_top_of_a_function():
    def f(x):
        x = np.asarray(x)
        y = np.asarray(x, dtype=np.float64)
        return np.sum(np.ascontiguousarray(y) ** 2)

    np.testing.assert_allclose(tg.grad(f)(X), 2 * X)


def test_array_of_a_list_of_traced_values():
    def rhs(state, k):
        position, velocity = state[0], state[1]
        return np.array([velocity, -k * position])

    def f(state, k):
        return np.sum(rhs(state, k) ** 2) + np.sum(np.array([[k, 1.0], [2.0, k]]))

    args = (np.array([0.3, -1.2]), 1.7)
    check_grads(f, args, argnums=(0, 1), order=2)
    np.testing.assert_allclose(tg.jit(f)(*args), f(*args))


def test_array_of_traced_values_promotes_like_numpy_and_copies():
    def f(x):
        stacked = np.array([x[0], 2.0])  # a Python float makes float64, as NumPy does
        copy = np.array(x)
        copy[0] = 0.0  # must not change x
        return stacked, copy, x, np.full((2, 3), x[1]), np.array(x, ndmin=3)

    x = np.array([1.5, 2.5], dtype=np.float32)
    got = tg.jit(f)(x)
    want = (np.array([x[0], 2.0]), np.array([0.0, 2.5], np.float32), x, np.full((2, 3), x[1]))
    for g, w in zip(got[:4], want, strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    assert got[4].shape == (1, 1, 2)


def test_constructors_are_numpys_own_outside_tracing():
    original = np.asarray
    tg.grad(lambda x: np.sum(np.asarray(x)))(X)
    assert np.asarray is original and np.array.__module__ == "numpy"


def test_ragged_list_of_traced_values_is_a_clear_error():
    with pytest.raises(tg.UnsupportedNumpyFunction, match="one shape"):
        tg.grad(lambda x: np.sum(np.array([x, x[:2]])))(X)


# =============================================================================================
# Random numbers drawn while tracing


GLOBAL_RNG = np.random.default_rng(0)


def dropout_global_generator(w):
    return np.sum(w * (GLOBAL_RNG.uniform(size=w.shape) > 0.5))


def dropout_legacy(w):
    return np.sum(w * (np.random.uniform(size=w.shape) > 0.5))


def test_random_draws_while_tracing_warn_with_the_fix():
    closure_rng = np.random.default_rng(1)

    def dropout_closure(w):
        return np.sum(w * (closure_rng.uniform(size=w.shape) > 0.5))

    for f in (dropout_global_generator, dropout_legacy, dropout_closure):
        with pytest.warns(FrozenRandomnessWarning, match="pass them in as an argument") as rec:
            tg.grad(f)(np.ones(4))
        assert rec[0].filename == __file__  # points at the user's call


def test_no_warning_when_randomness_is_an_argument():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tg.grad(lambda w, mask: np.sum(w * mask))(np.ones(4), RNG.uniform(size=4) > 0.5)


LIST_CASES = {
    "mean": lambda a, b: np.mean([a, b]),
    "sum": lambda a, b: np.sum([a, b**2]),
    "std": lambda a, b: np.std([a, b]),
    "var axis": lambda a, b: np.var([a, b], axis=0),
    "max": lambda a, b: np.max([a, 2 * b]),
    "prod": lambda a, b: np.prod((a, b)),
    "dot": lambda a, b: np.dot([a, b], [1.0, 2.0]),
    "norm": lambda a, b: np.linalg.norm([a, b]),
    "r_": lambda a, b: np.r_[a, 0.5, b, 1:3],
    "c_": lambda a, b: np.c_[a, b, np.ones(2)],
    "full": lambda a, b: np.full((2, 2), a[0]) * b,
}


@pytest.mark.parametrize("name", sorted(LIST_CASES))
def test_numpy_functions_of_lists_of_traced_values(name):
    f = LIST_CASES[name]
    a, b = np.array([0.3, -1.2]), np.array([0.7, 1.9])
    np.testing.assert_allclose(tg.jit(f)(a, b), f(a, b))
    check_grads(lambda a, b: np.sum(np.sin(f(a, b))), (a, b), order=2)


def test_lists_of_traced_values_leave_numpy_alone_afterwards():
    tg.jit(lambda a: np.mean([a, a]))(np.ones(2))
    assert np.mean([np.ones(2), np.zeros(2)]) == 0.5
    assert type(np.r_).__name__ == "RClass" and np.r_[1:3].tolist() == [1, 2]
