"""vmap against a Python loop over the batch; Jacobians on vmap against finite differences.

The table test runs every entry of the gradient table (``test_primitive_grads.TABLE``, one or
more per primitive, so a new primitive gets a batching test as soon as it gets its gradient
test) through ``vmap`` with the batch on the first axis, on the last axis, and with only the
first argument mapped, and through ``grad`` of a sum over ``vmap``.  The interpreter runs
these; one compiled program per construct checks the native loop.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scalarize import scalarized
from test_primitive_grads import CASES, TABLE, as_dtype

import tracegrad as tg
from tracegrad.core.primitives import REGISTRY
from tracegrad.testing import numerical_jacobian

pytestmark = pytest.mark.usefixtures("interpret_backend")

BATCH = 3


def _draw_batch(data: st.DataObject, case, dtype) -> list[tuple]:
    """``BATCH`` argument tuples of one shape: fresh draws where the strategy gives the same
    shapes as the first draw, the first draw slightly scaled otherwise."""
    first = as_dtype(data.draw(case.args, label="args"), dtype)
    batch = [first]
    for b in range(1, BATCH):
        more = as_dtype(data.draw(case.args, label=f"args{b}"), dtype)
        if [np.shape(a) for a in more] != [np.shape(a) for a in first]:
            more = tuple(
                a * dtype.type(1 + 0.01 * b) if np.asarray(a).dtype.kind == "f" else a
                for a in first
            )
        batch.append(more)
    return batch


def _stacked(batch: list[tuple], axis: int) -> tuple:
    return tuple(
        np.stack([np.asarray(ex[i]) for ex in batch], axis=axis) for i in range(len(batch[0]))
    )


def _loop(fn, batch: list[tuple]) -> np.ndarray:
    return np.stack([np.asarray(fn(*ex)) for ex in batch])


def _close(got, want, dtype) -> None:
    tol = 1e-10 if dtype == np.float64 else 2e-5
    assert np.shape(got) == np.shape(want)
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_every_primitive_has_a_batching_case():
    assert set(REGISTRY) <= set(TABLE), sorted(set(REGISTRY) - set(TABLE))


@pytest.mark.parametrize("prim, case", CASES)
@settings(max_examples=3)
@given(data=st.data())
def test_vmap_matches_a_loop(prim, case, data):
    dtype = case.dtypes[-1] if data.draw(st.booleans(), label="f32") else case.dtypes[0]
    batch = _draw_batch(data, case, dtype)
    want = _loop(case.fn, batch)
    _close(tg.vmap(case.fn)(*_stacked(batch, 0)), want, dtype)
    # The batch on the last axis of every argument, and out on the last axis.
    got = tg.vmap(case.fn, in_axes=-1, out_axes=-1)(*_stacked(batch, -1))
    _close(np.moveaxis(got, -1, 0), want, dtype)
    # Axis 1 where the arguments have one (out on axis 1 too), else axis 0.
    spec = tuple(1 if np.ndim(a) >= 1 else 0 for a in batch[0])
    stacked = tuple(
        np.stack([np.asarray(ex[i]) for ex in batch], axis=ax) for i, ax in enumerate(spec)
    )
    out_axis = 1 if np.ndim(want) >= 2 else 0
    got = tg.vmap(case.fn, in_axes=spec, out_axes=out_axis)(*stacked)
    _close(np.moveaxis(got, out_axis, 0), want, dtype)
    # Only the first argument mapped: the others are those of the first example.
    if len(batch[0]) > 1:
        shared = batch[0][1:]
        spec = (0,) + (None,) * len(shared)
        got = tg.vmap(case.fn, in_axes=spec)(np.stack([ex[0] for ex in batch]), *shared)
        _close(got, _loop(case.fn, [(ex[0], *shared) for ex in batch]), dtype)


GRAD_CASES = [p for p in CASES if p.values[1].grad]


@pytest.mark.parametrize("prim, case", GRAD_CASES)
@settings(max_examples=2)
@given(data=st.data())
def test_grad_through_vmap_matches_per_example_grads(prim, case, data):
    dtype = case.dtypes[0]
    batch = _draw_batch(data, case, dtype)
    loss = scalarized(case.fn)
    argnums = tuple(i for i, a in enumerate(batch[0]) if np.asarray(a).dtype.kind == "f")
    if not argnums:
        return
    got = tg.grad(lambda *a: np.sum(tg.vmap(loss)(*a)), argnums)(*_stacked(batch, 0))
    per_example = [tg.grad(loss, argnums)(*ex) for ex in batch]
    for k in range(len(argnums)):
        want = np.stack([np.asarray(g[k]) for g in per_example])
        np.testing.assert_allclose(got[k], want, rtol=1e-9, atol=1e-9)


# =============================================================================================
# Axes, pytrees and errors


def _mlp_loss(params, x, t):
    h = np.tanh(x @ params["W1"] + params["b1"])
    return ((h @ params["W2"])[0] - t) ** 2


def _mlp_params(rng, dtype=np.float64):
    return {
        "W1": rng.normal(size=(4, 5)).astype(dtype),
        "b1": rng.normal(size=5).astype(dtype),
        "W2": rng.normal(size=(5, 1)).astype(dtype),
    }


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_per_example_gradients_with_unmapped_params(dtype):
    rng = np.random.default_rng(0)
    params = _mlp_params(rng, dtype)
    X, t = rng.normal(size=(6, 4)).astype(dtype), rng.normal(size=6).astype(dtype)
    got = tg.vmap(tg.grad(_mlp_loss), in_axes=(None, 0, 0))(params, X, t)
    for i in range(6):
        want = tg.grad(_mlp_loss)(params, X[i], t[i])
        for k in params:
            assert got[k].dtype == dtype and got[k].shape == (6, *params[k].shape)
            np.testing.assert_allclose(
                got[k][i], want[k], rtol=1e-5 if dtype == np.float32 else 1e-12
            )


def test_in_axes_pytree_prefix_and_negative_axes():
    rng = np.random.default_rng(1)
    tree = {"a": rng.normal(size=(3, 4)), "b": rng.normal(size=(4, 3))}
    y = rng.normal(size=2)

    def f(d, y):
        return d["a"] * d["b"] + y.sum()

    got = tg.vmap(f, in_axes=({"a": 1, "b": 0}, None))(tree, y)
    want = np.stack([f({"a": tree["a"][:, i], "b": tree["b"][i]}, y) for i in range(4)])
    np.testing.assert_allclose(got, want)
    got = tg.vmap(f, in_axes=({"a": -1, "b": -2}, None), out_axes=-1)(tree, y)
    np.testing.assert_allclose(got, want.T)


def test_out_axes_pytree_and_none():
    x = np.arange(6.0).reshape(2, 3)
    w = np.array([1.0, 2.0])

    def f(x, w):
        return {"scaled": x * 2, "total": x.sum(), "shared": w * 3}

    got = tg.vmap(f, in_axes=(1, None), out_axes={"scaled": 1, "total": 0, "shared": None})(x, w)
    np.testing.assert_allclose(got["scaled"], x * 2)
    np.testing.assert_allclose(got["total"], x.sum(0))
    np.testing.assert_allclose(got["shared"], w * 3)


def test_axis_size_when_nothing_is_mapped():
    got = tg.vmap(lambda w: w * 2, in_axes=None, axis_size=4)(np.ones(2))
    assert got.shape == (4, 2)


def test_keyword_arguments_are_mapped_over_axis_0():
    got = tg.vmap(lambda x, *, scale: x * scale)(np.ones((3, 2)), scale=np.arange(3.0))
    np.testing.assert_allclose(got, np.ones((3, 2)) * np.arange(3.0)[:, None])


def test_empty_batch():
    got = tg.vmap(lambda x: np.sin(x).sum())(np.zeros((0, 3)))
    assert got.shape == (0,)


def test_batch_sizes_that_disagree_name_the_arguments():
    with pytest.raises(tg.BatchAxisError, match=r"argument 0 has 3.*argument 1 has 4"):
        tg.vmap(lambda a, b: a + b)(np.ones(3), np.ones(4))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: tg.vmap(np.sin, in_axes=None)(np.ones(3)), "at least one mapped"),
        (lambda: tg.vmap(np.sin, in_axes=2)(np.ones((3, 2))), "axis 2.*shape \\(3, 2\\)"),
        (lambda: tg.vmap(np.add, in_axes=(0,))(np.ones(3), np.ones(3)), "one entry per"),
        (lambda: tg.vmap(np.sin, in_axes=0.5)(np.ones(3)), "ints and None"),
        (lambda: tg.vmap(lambda x: x, out_axes=None)(np.ones(3)), "depends on the mapped"),
        (lambda: tg.vmap(lambda d: d["a"], in_axes=({"b": 0},))({"a": np.ones(2)}), "match"),
        (lambda: tg.vmap(np.sin, axis_size=5)(np.ones(3)), "axis_size has 5"),
    ],
)
def test_bad_axes_are_clear_errors(call, match):
    with pytest.raises(tg.BatchAxisError, match=match):
        call()


# =============================================================================================
# Composition


def _f(x, w):
    return np.tanh(x @ w).sum() + np.sin(x).prod()


def test_vmap_of_vmap():
    x = np.random.default_rng(2).normal(size=(2, 3, 4))
    got = tg.vmap(tg.vmap(lambda v: np.sin(v) * v.sum()))(x)
    np.testing.assert_allclose(got, np.sin(x) * x.sum(-1, keepdims=True))
    # Inner over axis 1 of the rows the outer maps over: the batch order is (outer, inner).
    got = tg.vmap(tg.vmap(lambda v: v.sum(), in_axes=1))(x)
    np.testing.assert_allclose(got, x.sum(1))


def test_grad_of_a_function_using_vmap_and_its_hessian():
    rng = np.random.default_rng(3)
    X, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 2))

    def total(w):
        return np.sum(tg.vmap(_f, in_axes=(0, None))(X, w) ** 2)

    def total_loop(w):
        return sum(_f(x, w) ** 2 for x in X)

    np.testing.assert_allclose(tg.grad(total)(w), tg.grad(total_loop)(w), rtol=1e-10)
    np.testing.assert_allclose(tg.hessian(total)(w), tg.hessian(total_loop)(w), rtol=1e-9)


def test_jvp_and_jit_of_vmap():
    rng = np.random.default_rng(4)
    X, w, v = rng.normal(size=(4, 3)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    batched = tg.vmap(_f, in_axes=(0, None))
    out, tangent = tg.jvp(lambda w: batched(X, w), (w,), (v,))
    loops = [tg.jvp(lambda w, x=x: _f(x, w), (w,), (v,)) for x in X]
    np.testing.assert_allclose(out, [o for o, _ in loops])
    np.testing.assert_allclose(tangent, [t for _, t in loops], rtol=1e-10)
    np.testing.assert_allclose(tg.jit(batched)(X, w), out)


def test_scan_inside_vmap_and_vmap_inside_scan():
    rng = np.random.default_rng(5)
    xs = rng.normal(size=(3, 6))  # three sequences of six steps

    def running(seq):
        return tg.scan(lambda c, x: (c * 0.9 + x, c), 0.0, seq)[0]

    np.testing.assert_allclose(tg.vmap(running)(xs), [running(s) for s in xs])

    def step(c, row):
        return c + tg.vmap(np.sin)(row).sum(), c

    final, _ = tg.scan(step, 0.0, xs)
    np.testing.assert_allclose(final, np.sin(xs).sum())


# =============================================================================================
# Jacobians on vmap


def _vec_to_mat(x):
    return np.outer(np.sin(x), x**2) + x.sum()


def _mat_to_tree(m, v):
    return {"row": np.tanh(m @ v), "det": np.sum(m**3) * v[0]}


def _to_scalar(x):
    return np.sum(np.cos(x) * x**2)


JACOBIAN_CASES = [
    (_vec_to_mat, lambda rng: (rng.normal(size=3),), 0),
    (_mat_to_tree, lambda rng: (rng.normal(size=(2, 3)), rng.normal(size=3)), (1, 0)),
    (_to_scalar, lambda rng: (rng.normal(size=(2, 2)),), 0),
    (lambda p: p["a"] * np.sum(p["b"]), lambda rng: ({"a": rng.normal(size=2), "b": 1.5},), 0),
    (lambda x: np.sin(x) * 2.0, lambda rng: (np.float64(0.7),), 0),
]


def _tree_close(got, want, rtol, atol):
    got_leaves, got_tree = tg.tree.tree_flatten(got)
    want_leaves, want_tree = tg.tree.tree_flatten(want)
    assert got_tree == want_tree
    for g, w in zip(got_leaves, want_leaves, strict=True):
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)


@pytest.mark.parametrize("k", range(len(JACOBIAN_CASES)))
@pytest.mark.parametrize("transform", [tg.jacrev, tg.jacfwd])
@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_jacobians_match_finite_differences(transform, k, seed):
    f, make, argnums = JACOBIAN_CASES[k]
    args = make(np.random.default_rng(seed))
    got = transform(f, argnums)(*args)
    _tree_close(got, numerical_jacobian(f, args, argnums), rtol=1e-6, atol=1e-7)
    _tree_close(got, tg.jacfwd(f, argnums)(*args) if transform is tg.jacrev else got, 1e-10, 1e-12)


@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_hessian_matches_jacobians_of_the_gradient(seed):
    rng = np.random.default_rng(seed)
    x, w = rng.normal(size=3), rng.normal(size=(3, 2))

    def f(x, w):
        return np.sum(np.tanh(x @ w) ** 2) + np.prod(x)

    h = tg.hessian(f, (0, 1))(x, w)
    via_fwd = tg.jacfwd(tg.grad(f, (0, 1)), (0, 1))(x, w)
    _tree_close(h, via_fwd, 1e-9, 1e-11)
    numeric = numerical_jacobian(tg.grad(f, (0, 1)), (x, w), (0, 1))
    _tree_close(h, numeric, 1e-6, 1e-7)


def test_jacobian_is_one_map_over_the_basis():
    def f(x):
        return np.sin(x) * x.sum()

    program = tg.make_ir(tg.jacrev(f))(np.ones(5))
    loops = [e for e in program.eqns if e.prim.name == "scan"]
    assert {e.params["length"] for e in loops} == {5}
    program = tg.make_ir(tg.jacfwd(f))(np.ones(4))
    assert {e.params["length"] for e in program.eqns if e.prim.name == "scan"} == {4}


def test_jacobians_inside_other_transforms():
    x = np.array([0.3, -0.8, 1.1])

    def f(x):
        return np.sin(x) * x**2

    def trace_of_jacobian(x):
        return np.trace(tg.jacrev(f)(x))

    want = tg.grad(lambda x: np.sum(2 * x * np.sin(x) + x**2 * np.cos(x)))(x)
    np.testing.assert_allclose(tg.grad(trace_of_jacobian)(x), want, rtol=1e-10)
    per_row = tg.vmap(tg.jacfwd(f))(np.stack([x, 2 * x]))
    np.testing.assert_allclose(per_row[1], tg.jacrev(f)(2 * x), rtol=1e-12)


# =============================================================================================
# Compiled: one program for per-example gradients, one for a Jacobian


def test_compiled_per_example_gradients_and_jacobian_match_the_interpreter(monkeypatch):
    rng = np.random.default_rng(6)
    params = _mlp_params(rng)
    X, t = rng.normal(size=(7, 4)), rng.normal(size=7)
    per_example = tg.vmap(tg.grad(_mlp_loss), in_axes=(None, 0, 0))
    jac = tg.jacrev(_vec_to_mat)
    x = rng.normal(size=3)
    want_grads, want_jac = per_example(params, X, t), jac(x)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    got_grads = tg.vmap(tg.grad(_mlp_loss), in_axes=(None, 0, 0))(params, X, t)
    _tree_close(got_grads, want_grads, 1e-12, 1e-12)
    _tree_close(tg.jacrev(_vec_to_mat)(x), want_jac, 1e-12, 1e-12)
    source = tg.show_source(tg.vmap(tg.grad(_mlp_loss), in_axes=(None, 0, 0)))(params, X, t)
    assert "for " in source


def test_block_until_compiled_takes_vmap_and_jacobians():
    f = tg.vmap(np.sin, compile="background")
    f(np.ones(3))
    assert tg.block_until_compiled(f, timeout=300) is f
    jac = tg.jacrev(np.sin, compile="never")
    assert tg.block_until_compiled(jac) is jac


def test_branches_and_loops_inside_vmap_decide_per_example():
    x = np.array([[1.0, 2.0], [-3.0, 0.5], [0.2, -0.1]])

    def branch(v):
        return tg.cond(v.sum() > 0, np.sin, lambda u: u * 2, v)

    np.testing.assert_allclose(tg.vmap(branch)(x), [branch(v) for v in x])
    want = np.where(x.sum(1, keepdims=True) > 0, np.cos(x), 2.0)
    np.testing.assert_allclose(tg.grad(lambda x: tg.vmap(branch)(x).sum())(x), want)

    def doublings(v):  # how many steps c -> 2c + 1 take v past 10: data-dependent trips
        return tg.while_loop(lambda c: c[0] < 10.0, lambda c: (c[0] * 2 + 1, c[1] + 1), (v, 0))[1]

    np.testing.assert_array_equal(tg.vmap(doublings)(np.array([0.0, 3.0, 20.0])), [4, 2, 0])
    pick = tg.vmap(lambda i, v: tg.switch(i, [lambda u: u, lambda u: -u, lambda u: u * 10], v))
    np.testing.assert_allclose(pick(np.array([0, 1, 2]), np.array([1.0, 2.0, 3.0])), [1, -2, 30])
