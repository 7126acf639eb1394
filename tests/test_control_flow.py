"""Structured control flow (tracegrad.lax): each construct against its unrolled Python
equivalent (value, grad, vjp, jvp, jit) and finite differences, on the interpreter; the IR
(printer, checker, CSE, cache keys); the errors.  One compiled test per construct at the end.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.core.ir import SubProgram, check
from tracegrad.core.passes import cse
from tracegrad.core.scan_passes import row_product_body
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

RNG = np.random.default_rng(11)
W0 = RNG.normal(scale=0.5, size=(3, 3))
B0 = RNG.normal(scale=0.5, size=3)
TRIPS = st.sampled_from([0, 1, 2, 5])
DTYPES = st.sampled_from([np.float64, np.float32])


def _tol(dtype: type) -> dict:
    return {"rtol": 2e-4, "atol": 2e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-11}


def _close(a, b, dtype=np.float64) -> None:
    for x, y in zip(tg.tree.tree_leaves(a), tg.tree.tree_leaves(b), strict=True):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), **_tol(dtype))


# =============================================================================================
# scan: a small RNN with a pytree carry and pytree xs/ys


def _step(W, b):
    def step(carry, x):
        h = np.tanh(carry["h"] @ W + x[0] * 0.5 + b)
        s = carry["s"] + (h * x[1]).sum()
        return {"h": h, "s": s}, (h.sum(), h * 2.0)

    return step


def rnn_scan(W, b, h0, xs, zs, reverse=False):
    carry, (sums, hs) = tg.scan(_step(W, b), {"h": h0, "s": h0[0] * 0}, (xs, zs), reverse=reverse)
    return carry["h"].sum() * 0.7 + carry["s"] + (sums * 0.3).sum() + (hs**2).sum() * 0.1


def rnn_unrolled(W, b, h0, xs, zs, reverse=False):
    step = _step(W, b)
    carry = {"h": h0, "s": h0[0] * 0}
    total = 0.0
    order = range(len(xs))
    for t in reversed(order) if reverse else order:
        carry, (s, h) = step(carry, (xs[t], zs[t]))
        total = total + s * 0.3 + (h**2).sum() * 0.1
    return carry["h"].sum() * 0.7 + carry["s"] + total


def _rnn_args(T: int, dtype: type) -> tuple:
    xs = RNG.normal(size=(T, 3))
    zs = RNG.normal(size=T)
    return tuple(np.asarray(a, dtype) for a in (W0, B0, B0[::-1].copy(), xs, zs))


@settings(max_examples=12)
@given(T=TRIPS, reverse=st.booleans(), dtype=DTYPES)
def test_scan_matches_unrolled(T, reverse, dtype):
    args = _rnn_args(T, dtype)

    def loop(*a):
        return rnn_scan(*a, reverse=reverse)

    def unrolled(*a):
        return rnn_unrolled(*a, reverse=reverse)

    _close(loop(*args), unrolled(*args), dtype)
    _close(tg.jit(loop)(*args), unrolled(*args), dtype)
    argnums = (0, 1, 2, 3, 4)
    got = tg.value_and_grad(loop, argnums=argnums)(*args)
    want = tg.value_and_grad(unrolled, argnums=argnums)(*args)
    _close(got, want, dtype)
    for g, a in zip(got[1], args, strict=True):
        assert g.shape == a.shape and g.dtype == a.dtype
    tangents = tuple(np.asarray(RNG.normal(size=a.shape), dtype) for a in args)
    _close(tg.jvp(loop, args, tangents), tg.jvp(unrolled, args, tangents), dtype)


@settings(max_examples=8)
@given(T=TRIPS, reverse=st.booleans())
def test_scan_vjp_of_stacked_outputs(T, reverse):
    xs = RNG.normal(size=(T, 2))

    def loop(c0, xs):
        return tg.scan(lambda c, x: (np.sin(c * x), c * x), c0, xs, reverse=reverse)

    def unrolled(c0, xs):
        c, ys = c0, [None] * T
        for t in reversed(range(T)) if reverse else range(T):
            c, ys[t] = np.sin(c * xs[t]), c * xs[t]
        return c, (np.stack(ys) if T else np.zeros((0, 2)))

    c0 = np.array([0.3, -0.4])
    out, pull = tg.vjp(loop, c0, xs)
    want, pull_want = tg.vjp(unrolled, c0, xs)
    _close(out, want)
    ct = (RNG.normal(size=2), RNG.normal(size=(T, 2)))
    _close(pull(ct), pull_want(ct))


@pytest.mark.parametrize("T", [0, 1, 4])
def test_scan_finite_differences_second_order(T):
    args = _rnn_args(T, np.float64)
    check_grads(rnn_scan, args, order=2)


def test_scan_eager_returns_arrays_and_length_without_xs():
    carry, ys = tg.scan(lambda c, _: (c * 2.0, c), np.float64(1.0), None, length=4)
    assert float(carry) == 16.0
    np.testing.assert_array_equal(ys, [1.0, 2.0, 4.0, 8.0])
    carry, ys = tg.scan(lambda c, x: (c + x, None), 0.0, np.arange(5.0))
    assert float(carry) == 10.0 and ys is None


def test_scan_with_integer_carry_differentiates_the_floats():
    def f(x):
        (n, v), _ = tg.scan(lambda c, t: ((c[0] + 1, c[1] * t), None), (0, x), np.arange(1.0, 4))
        return v * n

    assert tg.grad(f)(2.0) == pytest.approx(18.0)


# =============================================================================================
# fori_loop and while_loop


def _body(i, v):
    # The loop index is int64: cast it, or it promotes a float32 carry to float64.
    return np.sin(v @ W0.astype(v.dtype)) * 0.9 + np.asarray(i, v.dtype) * 0.1


@settings(max_examples=8)
@given(n=TRIPS, dtype=DTYPES)
def test_fori_loop_static_matches_unrolled(n, dtype):
    def loop(v):
        return tg.fori_loop(0, n, _body, v).sum()

    def unrolled(v):
        for i in range(n):
            v = _body(i, v)
        return v.sum()

    v = np.asarray(B0, dtype)
    _close(tg.value_and_grad(loop)(v), tg.value_and_grad(unrolled)(v), dtype)
    _close(
        tg.jvp(loop, (v,), (np.ones_like(v),)), tg.jvp(unrolled, (v,), (np.ones_like(v),)), dtype
    )


def test_fori_loop_traced_bound_is_a_while_loop():
    def f(v, n):
        return tg.fori_loop(0, n, lambda i, a: a * 2.0 + i, v)

    assert "while_loop" in str(tg.make_ir(f)(np.ones(2), np.int64(3)))
    np.testing.assert_allclose(tg.jit(f)(np.ones(2), np.int64(3)), [12.0, 12.0])
    np.testing.assert_allclose(tg.jit(f)(np.ones(2), np.int64(0)), [1.0, 1.0])


def _collatz(x):
    # The trip count depends on the data.
    return tg.while_loop(
        lambda s: s[0] > 1,
        lambda s: (np.where(s[0] % 2 == 0, s[0] // 2, 3 * s[0] + 1), s[1] + 1, s[2] * 1.01),
        (x, 0, 1.0),
    )


def test_while_loop_data_dependent_trip_count():
    for start, steps in [(6, 8), (1, 0), (27, 111)]:
        _, n, v = _collatz(np.int64(start))
        assert int(n) == steps and float(v) == pytest.approx(1.01**steps)
        _, n, _ = tg.jit(_collatz)(np.int64(start))
        assert int(n) == steps


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_while_loop_forward_mode_against_finite_differences(dtype):
    y = np.asarray([0.1, 0.2], dtype)

    def f(x):
        n, v, w = tg.while_loop(
            lambda s: s[1].sum() < 10.0,
            lambda s: (s[0] + 1, s[1] * 1.5 + y, np.sin(s[2]) * s[1]),
            (0, x, x),
        )
        return v.sum() + w.sum() * n

    x, t = np.asarray([0.5, 1.0], dtype), np.asarray([0.3, -0.2], dtype)
    value, tangent = tg.jvp(f, (x,), (t,))
    assert value == pytest.approx(f(x), rel=1e-6)
    x64, t64 = x.astype(np.float64), t.astype(np.float64)
    eps = 1e-6
    fd = (f(x64 + eps * t64) - f(x64 - eps * t64)) / (2 * eps)
    assert tangent == pytest.approx(fd, rel=1e-4 if dtype == np.float32 else 1e-6)
    assert tg.jit(lambda x: tg.jvp(f, (x,), (t,))[1])(x) == pytest.approx(tangent, rel=1e-5)


def test_while_loop_reverse_mode_error_names_the_alternatives():
    def f(x):
        return tg.while_loop(lambda s: s[0] < 3, lambda s: (s[0] + 1, s[1] * x), (0, x))[1]

    assert f(2.0) == 16.0
    with pytest.raises(tg.ControlFlowError, match="fori_loop.*scan"):
        tg.grad(f)(2.0)


# =============================================================================================
# cond and switch


def _branches(x):
    return [lambda a: np.sin(a).sum(), lambda a: (a * x).sum(), lambda a: np.exp(a).sum() * 0.5]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cond_with_traced_predicate_inside_grad(dtype):
    def f(x):
        return tg.cond(x.sum() > 0, lambda a: (np.sin(a) * a).sum(), lambda a: (a**3).sum(), x)

    def branch(positive):
        return (lambda x: (np.sin(x) * x).sum()) if positive else (lambda x: (x**3).sum())

    for x in (np.asarray([0.5, 0.2], dtype), np.asarray([-0.5, 0.2], dtype)):
        unrolled = branch(x.sum() > 0)
        _close(tg.value_and_grad(f)(x), tg.value_and_grad(unrolled)(x), dtype)
        _close(tg.jit(f)(x), unrolled(x), dtype)
        check_grads(f, [x.astype(np.float64)], order=2)


@pytest.mark.parametrize("k", [-1, 0, 1, 2, 5])
def test_switch_clamps_and_matches_the_branch(k):
    x = np.array([0.3, -0.7])

    def f(x, k):
        return tg.switch(k, _branches(x), x * 2.0)

    chosen = _branches(x)[min(max(k, 0), 2)]
    assert tg.jit(f)(x, np.int64(k)) == pytest.approx(chosen(x * 2.0))
    _close(
        tg.grad(f)(x, np.int64(k)), tg.grad(lambda x: _branches(x)[min(max(k, 0), 2)](x * 2.0))(x)
    )
    _close(
        tg.jvp(lambda x: f(x, np.int64(k)), (x,), (np.ones(2),)),
        tg.jvp(
            lambda x: chosen(x * 2.0) if False else _branches(x)[min(max(k, 0), 2)](x * 2.0),
            (x,),
            (np.ones(2),),
        ),
    )


def test_branches_that_disagree_are_errors():
    with pytest.raises(tg.ControlFlowError, match="structure"):
        tg.jit(lambda x: tg.cond(x > 0, lambda a: (a, a), lambda a: a, x))(1.0)
    with pytest.raises(tg.ControlFlowError, match="types"):
        tg.jit(lambda x: tg.cond(x > 0, lambda a: a, lambda a: np.ones(2) * a, x))(1.0)


def test_carry_that_changes_type_is_an_error():
    with pytest.raises(tg.ControlFlowError, match="carry"):
        tg.scan(lambda c, x: (c * x, None), np.float32(1), np.ones(3))
    with pytest.raises(tg.ControlFlowError, match="structure"):
        tg.scan(lambda c, x: ((c, c), None), 1.0, np.ones(3))
    with pytest.raises(tg.ControlFlowError, match="pair"):
        tg.scan(lambda c, x: c, 1.0, np.ones(3))


# =============================================================================================
# Nesting and higher order


def nested(x):
    def outer(i, c):
        inner, _ = tg.scan(lambda d, y: (np.tanh(d + y * c.sum()), None), c, np.arange(3.0))
        return tg.cond(i % 2 == 0, lambda a: a * 0.9, lambda a: np.sin(a), inner)

    return (tg.fori_loop(0, 4, outer, x) ** 2).sum()


def nested_unrolled(x):
    c = x
    for i in range(4):
        d = c
        for y in np.arange(3.0):
            d = np.tanh(d + y * c.sum())
        c = d * 0.9 if i % 2 == 0 else np.sin(d)
    return (c**2).sum()


def test_nested_loops_match_unrolled_and_differentiate_twice():
    x = np.array([0.1, -0.2])
    _close(tg.value_and_grad(nested)(x), tg.value_and_grad(nested_unrolled)(x))
    _close(tg.hessian(nested)(x), tg.hessian(nested_unrolled)(x))
    check_grads(nested, [x], order=2)


# =============================================================================================
# Sums of outer products leave the loop as one matrix product (core/scan_passes.py)


def _outer_sums(W, xs, zs, reverse=False):
    """A scan whose carries sum outer products: alone (S), a sum of two terms (P), unread
    (D, dropped); and one the body reads otherwise (R), which must stay a carry."""

    def step(c, xz):
        x, z = xz
        h = np.tanh(c["h"] @ W + x)
        col = h[:, None]
        return {
            "h": h,
            "S": c["S"] + col * z,
            "P": c["P"] + np.outer(h, x) + col * h[None, :],
            "D": c["D"] + np.outer(z, z),
            "R": c["R"] * 0.9 + col * z,
        }, h.sum()

    n, k = W.shape[0], zs.shape[1]
    zero = np.zeros((), W.dtype)
    init = {"h": xs[0] * 0 if len(xs) else np.zeros(n, W.dtype)}
    init.update(S=np.full((n, k), zero), P=np.full((n, n), zero), D=np.full((k, k), zero))
    init["R"] = np.full((n, k), zero + 0.5)
    c, ys = tg.scan(step, init, (xs, zs), reverse=reverse)
    return (c["S"] * 1.5).sum() + (c["P"] ** 2).sum() + c["R"].sum() + (ys * 0.3).sum()


def _outer_sums_unrolled(W, xs, zs, reverse=False):
    n, k = W.shape[0], zs.shape[1]
    h = np.zeros(n, W.dtype)
    S, P, R = np.zeros((n, k), W.dtype), np.zeros((n, n), W.dtype), np.full((n, k), 0.5)
    total = 0.0
    for t in reversed(range(len(xs))) if reverse else range(len(xs)):
        h = np.tanh(h @ W + xs[t])
        S = S + np.outer(h, zs[t])
        P = P + np.outer(h, xs[t]) + np.outer(h, h)
        R = R * 0.9 + np.outer(h, zs[t])
        total = total + h.sum() * 0.3
    return (S * 1.5).sum() + (P**2).sum() + R.sum() + total


def _outer_args(T: int, dtype: type) -> tuple:
    return tuple(
        np.asarray(a, dtype) for a in (W0, RNG.normal(size=(T, 3)), RNG.normal(size=(T, 2)))
    )


def _carry_avals(program) -> list[list[str]]:
    """The carries of each loop of ``program`` and of the loops nested in it."""
    found, seen = [], set()
    for eqn in program.eqns:
        body = eqn.params.get("body")
        if eqn.prim.name != "scan" or id(body) in seen:
            continue
        seen.add(id(body))
        inputs = body.program.inputs[eqn.params["n_consts"] :]
        found.append([str(v.aval) for v in inputs[: eqn.params["n_carry"]]])
        found += _carry_avals(body.program)
    return found


@settings(max_examples=10)
@given(T=TRIPS, reverse=st.booleans(), dtype=DTYPES)
def test_sums_of_outer_products_leave_the_loop(T, reverse, dtype):
    from tracegrad.core.interpret import eval_program
    from tracegrad.core.passes import lower

    args = _outer_args(T, dtype)
    program = tg.make_ir(lambda *a: _outer_sums(*a, reverse=reverse))(*args)
    lowered = lower(program)
    # S, P and D are no longer carried (D not computed at all); h and R are.
    short = "f64" if dtype == np.float64 else "f32"
    assert _carry_avals(lowered) == [[f"{short}[3,2]", f"{short}[3]"]]
    assert sum(e.prim.name == "matmul" for e in lowered.eqns) == 3  # S; P's two terms
    _close(eval_program(lowered, list(args)), eval_program(program, list(args)), dtype)
    # Through the public API (the interpreter runs the lowered program), value and gradient.
    argnums = (0, 1, 2)
    got = tg.value_and_grad(_outer_sums, argnums=argnums)(*args, reverse)
    _close(got, tg.value_and_grad(_outer_sums_unrolled, argnums=argnums)(*args, reverse), dtype)


def test_gradient_loops_sum_weight_gradients_after_the_loop():
    """The backward loop of an RNN accumulates no weight gradient: ``h @ W``'s VJP is an
    outer product per step, stacked and summed by one matrix product after the loop; so is
    a nested scan's, inside the map around it; the carries that stay are vectors."""
    args = _rnn_args(4, np.float64)
    lowered = tg.jit(tg.grad(rnn_scan)).lower(*args).lowered
    assert _carry_avals(lowered) == [["f64[3]", "f64[]"], ["f64[3]", "f64[3]", "f64[]"]]
    W, xs = W0, RNG.normal(size=(2, 3, 3))
    nested = tg.jit(tg.grad(_map_of_scans)).lower(W, xs, True).lowered
    # Only the map's sum of the inner loops' products (one per sequence) stays a carry.
    assert [c for c in _carry_avals(nested) if "f64[3,3]" in c] == [["f64[3,3]"]]
    _close(tg.grad(_map_of_scans)(W, xs, True), tg.grad(_map_of_scans_unrolled)(W, xs, True))


@pytest.mark.parametrize("T", [0, 1, 4])
def test_forward_loop_stores_no_step_input_and_no_unit_axes(T):
    """``h @ W + x @ U``: the backward loop reads ``x_t`` from xs (not from a copy) and the
    forward loop stores ``h_{t-1}`` and ``1 - h_t**2`` as vectors, not as ``(3, 1)`` columns."""
    U, xs = RNG.normal(size=(2, 3)), RNG.normal(size=(T, 2))
    V = np.arange(6.0).reshape(2, 3) * 0.1  # a constant the body closes over

    def loss(W, U, xs):
        h, _ = tg.scan(lambda h, x: (np.tanh(h @ W + x @ U + x @ V), None), np.ones(3), xs)
        return (h**2).sum()

    def unrolled(W, U, xs):
        h = np.ones(3)
        for x in xs:
            h = np.tanh(h @ W + x @ U + x @ V)
        return (h**2).sum()

    program = tg.make_ir(tg.grad(loss, argnums=(0, 1, 2)))(W0, U, xs)
    forward = [e for e in program.eqns if e.prim.name == "scan" and not e.params["reverse"]]
    stacks = sorted(e.out.aval.shape for e in forward if e.params["index"] > 0)
    assert stacks == [(T, 3), (T, 3)]
    # Run (lowered), ``x @ U`` and ``x @ V`` are maps of their own before the loop: one GEMM
    # each when compiled.
    lowered = tg.jit(tg.grad(loss, argnums=(0, 1, 2))).lower(W0, U, xs).lowered
    maps = [e for e in lowered.eqns if e.prim.name == "scan" and e.params["n_carry"] == 0]
    assert [row_product_body(e.params["body"].program) for e in maps] == [True, True]
    got = tg.value_and_grad(loss, argnums=(0, 1, 2))(W0, U, xs)
    _close(got, tg.value_and_grad(unrolled, argnums=(0, 1, 2))(W0, U, xs))


# =============================================================================================
# The IR


def test_printer_checker_and_cse_understand_sub_programs():
    program = tg.make_ir(lambda W, b, h0, xs, zs: rnn_scan(W, b, h0, xs, zs))(
        *_rnn_args(3, np.float64)
    )
    text = str(program)
    assert "scan[index=0, body={ lambda" in text and "same loop as" in text
    check(program)
    twice = tg.make_ir(
        lambda x: (
            tg.scan(lambda c, y: (c * y, None), x, np.ones(3))[0]
            + tg.scan(lambda c, y: (c * y, None), x, np.ones(3))[0]
        )
    )(1.0)
    assert sum(e.prim.name == "scan" for e in cse(twice).eqns) == 1


def test_sub_programs_compare_by_structure_and_constants():
    def body_with(k):
        return tg.make_ir(lambda x: tg.scan(lambda c, y: (c * k, None), x, np.ones(2))[0])(
            np.ones(2)
        )

    a, b, c = (
        body_with(np.array([1.0, 2.0])),
        body_with(np.array([1.0, 2.0])),
        body_with(np.array([1.0, 3.0])),
    )
    sub = [
        next(v for v in p.eqns[0].params.values() if isinstance(v, SubProgram)) for p in (a, b, c)
    ]
    assert sub[0] == sub[1] and hash(sub[0]) == hash(sub[1]) and sub[0] != sub[2]


# =============================================================================================
# Compiled: one test per construct (each compile costs seconds)


@pytest.fixture
def numba_backend(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")


@pytest.mark.usefixtures("numba_backend")
def test_compiled_scan_value_and_gradient():
    args = _rnn_args(6, np.float64)

    def loss(*a):
        return rnn_scan(*a, reverse=True)

    got = tg.value_and_grad(loss, argnums=(0, 1, 2, 3, 4))(*args)
    want = tg.value_and_grad(rnn_unrolled, argnums=(0, 1, 2, 3, 4))(*args, reverse=True)
    _close(got, want)
    short = _rnn_args(2, np.float64)  # another trip count: the same loop kernels
    _close(tg.grad(loss)(*short), tg.grad(rnn_unrolled)(*short, reverse=True))


@pytest.mark.usefixtures("numba_backend")
def test_compiled_float32_scan_keeps_its_dtypes():
    def loss(W, b, h0, xs, zs):
        # (x @ W: a product of the step's input, computed before the loop as one GEMM)
        c, _ = tg.scan(lambda c, x: (c + np.tanh(x @ W), None), h0, xs)
        return rnn_scan(W, b, h0, xs, zs) + c.sum()

    args = _rnn_args(5, np.float32)
    argnums = (0, 1, 2, 3, 4)
    got = tg.value_and_grad(loss, argnums=argnums)(*args)
    want = tg.value_and_grad(loss, argnums=argnums, compile="never")(*args)
    for g, w in zip(tg.tree.tree_leaves(got), tg.tree.tree_leaves(want), strict=True):
        assert np.asarray(g).dtype == np.asarray(w).dtype == np.float32
    _close(got, want, np.float32)


@pytest.mark.usefixtures("numba_backend")
def test_compiled_fori_and_while_loops():
    def f(v, n):
        return tg.fori_loop(0, n, lambda i, a: a * 2.0 + i, v)

    before = tg.compile_stats()
    np.testing.assert_allclose(tg.jit(f)(np.ones(2), np.int64(3)), [12.0, 12.0])
    _, n, v = tg.jit(_collatz)(np.int64(27))
    assert int(n) == 111 and float(v) == pytest.approx(1.01**111)
    x = np.array([0.1, -0.2])  # a scan and a cond inside a fori_loop: loops inside a body
    _close(tg.value_and_grad(nested)(x), tg.value_and_grad(nested_unrolled)(x))
    x = np.asarray(B0)
    _close(
        tg.grad(lambda v: tg.fori_loop(0, 3, _body, v).sum())(x),
        tg.grad(lambda v: _body(2, _body(1, _body(0, v))).sum())(x),
    )
    # Every loop and branch above, nested ones too, runs natively: none from Python.
    assert tg.compile_stats().python_loops == before.python_loops


@pytest.mark.usefixtures("numba_backend")
def test_compiled_cond_and_switch():
    def f(x, k):
        return tg.switch(k, _branches(x), x * 2.0) + tg.cond(x[0] > 0, np.sum, np.prod, x)

    x = np.array([0.3, -0.7])
    for k in (0, 2):
        want = _branches(x)[k](x * 2.0) + (np.sum(x) if x[0] > 0 else np.prod(x))
        assert tg.jit(f)(x, np.int64(k)) == pytest.approx(want)
        g = tg.grad(f)(x, np.int64(k))
        h = tg.grad(lambda x, k=k: _branches(x)[k](x * 2.0) + np.sum(x))(x)
        _close(g, h)


def test_show_source_shows_one_function_with_native_loops():
    def f(x, xs):
        return tg.scan(lambda c, t: (np.sin(c) * t, c), x, xs)[1].sum()

    src = tg.show_source(f)(np.ones(3), np.ones((4, 3)))
    assert src.count("def ") == 1 and "# scan: a native loop over the rows of a1" in src
    assert re.search(r"\n    (T\d+) = a1.shape\[0\]\n(.*\n)*    for i\d+ in range\(\1\):\n", src)
    src = tg.show_source(lambda v, n: tg.fori_loop(0, n, lambda i, a: a * 0.5, v))(
        np.ones(3), np.int64(4)
    )
    assert "\n    while True:\n" in src


def test_unused_stacked_outputs_leave_the_body():
    def f(x):
        carry, (kept, dropped) = tg.scan(lambda c, t: (c * t, (c + t, np.exp(c))), x, np.ones(3))
        return carry + kept.sum()

    program = tg.make_ir(tg.value_and_grad(f))(0.5)
    bodies = [e.params["body"].program for e in program.eqns if e.prim.name == "scan"]
    assert bodies and not any(e.prim.name == "exp" for b in bodies for e in b.eqns)
    assert tg.value_and_grad(f)(0.5) == pytest.approx((0.5 + 4.5, 1.0 + 3.0))


def test_compile_cache_key_holds_the_body_and_its_constants():
    from tracegrad.backend.compiler import structural_key

    def program_with(k):
        return tg.make_ir(lambda x: tg.scan(lambda c, y: (c * k, None), x, np.ones(2))[0])(
            np.ones(2)
        )

    same = (
        structural_key(program_with(np.array([1.0, 2.0]))),
        structural_key(program_with(np.array([1.0, 2.0]))),
    )
    assert same[0] == same[1]
    assert structural_key(program_with(np.array([1.0, 3.0]))) != same[0]


def test_checkpointed_scan_stores_carries_only_and_has_the_same_gradient():
    def loss(W, b, h0, xs, zs, remat):
        step = _step(W, b)
        body = tg.checkpoint(step) if remat else step
        carry, (sums, hs) = tg.scan(body, {"h": h0, "s": h0[0] * 0}, (xs, zs))
        return carry["h"].sum() + carry["s"] + sums.sum() + (hs**2).sum()

    args = _rnn_args(4, np.float64)
    argnums = (0, 1, 2, 3, 4)
    plain = tg.value_and_grad(lambda *a: loss(*a, False), argnums=argnums)(*args)
    remat = tg.value_and_grad(lambda *a: loss(*a, True), argnums=argnums)(*args)
    _close(remat, plain)
    check_grads(lambda *a: loss(*a, True), args, order=2)

    def stored(remat):
        program = tg.make_ir(tg.grad(lambda *a: loss(*a, remat), argnums=argnums))(*args)
        forward = [e for e in program.eqns if e.prim.name == "scan" and not e.params["reverse"]]
        return sum(e.out.aval.size for e in forward)

    assert stored(True) < stored(False)


# =============================================================================================
# Nested loops compiled as nested native loops (vmap and jacobians make these)


def _map_of_scans(W, xs, reverse):
    """A map over a batch (a scan with no carry) whose body runs a scan with a pytree carry."""

    def per_example(_, seq):
        def step(c, x):
            h = np.tanh(c["h"] @ W + x)
            return {"h": h, "n": c["n"] + h.sum()}, h * 2.0

        c, hs = tg.scan(step, {"h": seq[0] * 0.5, "n": seq[0, 0]}, seq, reverse=reverse)
        return None, (c["h"].sum() + c["n"], hs)

    _, (totals, hss) = tg.scan(per_example, None, xs)
    return totals.sum() + (hss**2).sum() * 0.1


def _map_of_scans_unrolled(W, xs, reverse):
    total = 0.0
    for seq in xs:
        h, n = seq[0] * 0.5, seq[0, 0]
        order = range(len(seq))
        for t in reversed(order) if reverse else order:
            h = np.tanh(h @ W + seq[t])
            n = n + h.sum()
            total = total + (h * 2.0) ** 2 @ np.full(3, 0.1)
        total = total + h.sum() + n
    return total


@settings(max_examples=6)
@given(batch=st.sampled_from([0, 1, 3]), T=st.sampled_from([1, 4]), reverse=st.booleans())
def test_map_of_scans_matches_unrolled(batch, T, reverse):
    W, xs = W0, RNG.normal(size=(batch, T, 3))
    got = tg.value_and_grad(_map_of_scans, argnums=(0, 1))(W, xs, reverse)
    _close(got, tg.value_and_grad(_map_of_scans_unrolled, argnums=(0, 1))(W, xs, reverse))


@pytest.mark.usefixtures("numba_backend")
def test_compiled_nested_scans_are_one_function_of_native_loops():
    W, xs = W0, RNG.normal(size=(3, 5, 3))
    before = tg.compile_stats()
    f = tg.value_and_grad(_map_of_scans, argnums=(0, 1))
    got = f(W, xs, True)
    stats = tg.compile_stats()
    interpreted = tg.value_and_grad(_map_of_scans, argnums=(0, 1), compile="never")(W, xs, True)
    _close(got, interpreted)
    # Forward map and scan, backward map and scan: all native, one program, one function.
    assert stats.native_loops - before.native_loops == 4
    assert stats.python_loops == before.python_loops
    assert stats.programs - before.programs == 1
    assert stats.compiles + stats.disk_hits - before.compiles - before.disk_hits == 1
    src = tg.show_source(f)(W, xs, True)
    assert src.count("\ndef ") == 1 and re.search(r"\n        for \w+ in range\(\w*T\d+\):", src)


@pytest.mark.usefixtures("numba_backend")
def test_pieces_split_into_several_functions_are_compiled_apart(monkeypatch):
    from tracegrad.backend import package

    monkeypatch.setattr(package, "MAX_OPS_PER_FUNCTION", 0)  # every block a function of its own

    def f(x, xs):
        c, ys = tg.scan(lambda c, t: (np.sin(c @ W0) * t, (c * t).sum()), x, xs, reverse=True)
        return c, ys

    args = (np.asarray(B0), RNG.normal(size=(4, 3)))
    before = tg.compile_stats()
    got = tg.jit(f)(*args)
    assert tg.compile_stats().python_loops == before.python_loops + 1
    _close(got, tg.jit(f, compile="never")(*args))

    # A body of one block inlines; the code after it does not: the loop alone is one function.
    def g(x, xs):
        c, ys = tg.scan(lambda c, t: (c * t, c + t), x, xs)
        return c.sum() + ys.sum()

    before = tg.compile_stats()
    _close(tg.jit(g)(*args), tg.jit(g, compile="never")(*args))
    stats = tg.compile_stats()
    assert (stats.native_loops, stats.python_loops) == (
        before.native_loops + 1,
        before.python_loops,
    )


def _corner_cases(x, xs, k):
    # A scan of no steps with an integer carry and a constant y.
    (c0, n0), e0 = tg.scan(lambda c, t: ((c[0] * t, c[1] + 1), 2.0), (x, 0), xs[:0])

    # A switch of one branch and a cond on a scalar, inside a reversed scan.
    def body(c, t):
        total, doubled = tg.switch(k, [lambda a: (a.sum(), a * 2.0)], c * t)
        v = tg.cond(total > 0, lambda a: a + 1.0, lambda a: a - 1.0, total)
        return doubled * 0.5, (v, c)

    c1, (vs, cs) = tg.scan(body, x, xs, reverse=True)

    # A while loop whose trip count depends on the data, in a map (a scan with no carry).
    def grow(_, t):
        limit = t.sum() * 4.0
        return None, tg.while_loop(
            lambda s: s[1].sum() < limit, lambda s: (s[0] + 1, s[1] * 1.5 + 0.1), (0, abs(t))
        )

    _, (ms, ys) = tg.scan(grow, None, xs)

    # A scan inside a while loop (a fori_loop with a traced bound).
    def sweep(i, c):
        return tg.scan(lambda d, t: (np.sin(d * t) + i, None), c, xs)[0]

    c2 = tg.fori_loop(0, k, sweep, x)

    # A sum of outer products in a scan inside a map: one matrix product instead of the loop.
    def gram(_, seq):
        return None, tg.scan(lambda g, t: (g + t[:, None] * t, None), np.zeros((2, 2)), seq)[0]

    _, grams = tg.scan(gram, None, np.stack([xs, xs * x]))
    return c0, n0, e0, c1, vs, cs, ms, ys, c2, grams


@pytest.mark.usefixtures("numba_backend")
def test_compiled_corner_cases_in_one_function_match_the_interpreter():
    args = (np.array([0.5, -0.3]), RNG.normal(size=(4, 2)), np.int64(3))
    before = tg.compile_stats()
    got = tg.jit(_corner_cases)(*args)
    stats = tg.compile_stats()
    assert stats.python_loops == before.python_loops
    # (the inner loop of ``gram`` is gone: its sum is ``seq.T @ seq``, read from its xs)
    assert stats.native_loops - before.native_loops == 7
    for g, w in zip(got, tg.jit(_corner_cases, compile="never")(*args), strict=True):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-12)
    x, xs, _ = args
    np.testing.assert_allclose(got[-1], [xs.T @ xs, (xs * x).T @ (xs * x)], rtol=1e-12)


@pytest.mark.usefixtures("numba_backend")
def test_one_compile_serves_every_trip_count():
    """The matrix products over the stacked steps (``x @ W`` and ``x @ W0.T`` before the
    loop, ``W``'s gradient after the backward loop) read the trip count from the arrays."""

    def step(h, x, W):
        return np.tanh(h @ W + x @ W - x @ W0.T), None  # (W0.T: a constant array)

    def loss(W, xs):
        h, _ = tg.scan(lambda h, x: step(h, x, W), np.zeros(3), xs, reverse=True)
        return (h**2).sum()

    before = tg.compile_stats()
    for T in (5, 2, 0):
        xs = RNG.normal(size=(T, 3))
        got = tg.grad(loss, argnums=(0, 1))(W0, xs)
        _close(got, tg.grad(loss, argnums=(0, 1), compile="never")(W0, xs))
    stats = tg.compile_stats()
    assert stats.compiles + stats.disk_hits - before.compiles - before.disk_hits == 1


@pytest.mark.parametrize("reverse", [False, True])
def test_scan_with_a_complex_carry_matches_unrolled(reverse):
    """A complex carry and complex xs: value and gradient (JAX's convention for a real loss
    of complex values) equal the unrolled loop's."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=3) + 1j * rng.normal(size=3)
    xs = rng.normal(size=(4, 3))

    def step(h, x):
        h = h * np.exp(1j * x) + 0.5 * w * x
        return h, np.real(h * np.conj(h))

    def scanned(w, xs):
        h, ys = tg.scan(step, w, xs, reverse=reverse)
        return np.sum(np.abs(h)) + np.sum(ys)

    def unrolled(w, xs):
        h, total = w, 0.0
        for x in xs[::-1] if reverse else xs:
            h, y = step(h, x)
            total = total + np.sum(y)
        return np.sum(np.abs(h)) + total

    for argnums in (0, 1):
        got = tg.value_and_grad(scanned, argnums=argnums)(w, xs)
        want = tg.value_and_grad(unrolled, argnums=argnums)(w, xs)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12)
