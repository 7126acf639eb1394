"""The IR: ``check(program)`` after every transform, golden printouts, the checker itself."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.api import Signature, trace_user_function
from tracegrad.core import adjoint, passes
from tracegrad.core import primitives as P
from tracegrad.core.interpret import eval_program
from tracegrad.core.ir import Aval, Eqn, IRCheckError, Literal, Program, Var, check
from tracegrad.tree import tree_flatten

pytestmark = pytest.mark.usefixtures("interpret_backend")

rng = np.random.default_rng(0)
W, B, XB = rng.normal(size=(3, 2)), rng.normal(size=2), rng.normal(size=(4, 3))


def mlp(W, b, x):
    return np.mean(np.tanh(x @ W + b) ** 2)


def fanout(x):
    y = np.sin(x)
    return np.sum(y * y + y * x + np.exp(y))


def structural(x):
    z = np.concatenate([x[::-1], x[::2] * 2.0])
    return np.max(z) + np.sum(z[np.array([0, 2, 2])]) + np.sum(z.reshape(3, -1).T ** 3)


def selecting(x, y):
    return np.sum(np.where(x > y, x * y, np.maximum(x, 0.5) / y)) + np.sum(np.abs(x) ** y)


FUNCTIONS = [
    pytest.param(mlp, (W, B, XB), id="mlp"),
    pytest.param(fanout, (np.linspace(-1, 1, 5),), id="fanout"),
    pytest.param(structural, (np.linspace(-1, 1, 6),), id="structural"),
    pytest.param(selecting, (np.linspace(0.1, 2, 4), np.linspace(0.5, 1.5, 4)), id="selecting"),
    pytest.param(lambda x: np.sin(x) * x**3, (0.7,), id="scalar"),
]


def raw_trace(f, args) -> Program:
    """The program as traced, before any pass."""
    from tracegrad.core.tracing import trace_flat
    from tracegrad.frontend.tracer import box

    leaves, treedef = tree_flatten(tuple(args))
    avals = [Aval.of(x) for x in leaves]

    def flat(*tracers):
        return [f(*tracers)]

    assert treedef.num_leaves == len(args)
    program, captured = trace_flat(flat, avals, box)
    assert not captured
    return program


# =============================================================================================
# check() after every transform


@pytest.mark.parametrize("f, args", FUNCTIONS)
def test_check_after_every_transform(f, args):
    program = check(raw_trace(f, args))
    for pass_, _reason in passes.PIPELINE:
        check(pass_(program))
    optimized = check(passes.optimize(program))
    wrt = tuple(range(len(args)))
    joint = check(adjoint.joint_program(optimized, wrt))
    check(adjoint.vjp_program(optimized, wrt))
    for pass_, _reason in passes.PIPELINE:
        check(pass_(joint))
    # Through the public API: forward, gradient, gradient of gradient.
    check(tg.make_ir(f)(*args))
    check(tg.make_ir(tg.grad(f, argnums=wrt))(*args))
    check(tg.make_ir(tg.value_and_grad(f))(*args))

    def directional(*a):
        g = tg.grad(f, argnums=wrt)(*a)
        return sum(np.sum(gi * 0.5) for gi in g)

    check(tg.make_ir(tg.grad(directional, argnums=wrt))(*args))


@pytest.mark.parametrize("f, args", FUNCTIONS)
def test_programs_evaluate_to_the_function(f, args):
    """Interpreting the traced and the optimised program gives the NumPy result."""
    expected = f(*args)
    flat = [np.asarray(a) for a in args]
    for program in (raw_trace(f, args), tg.make_ir(f)(*args)):
        (got,) = eval_program(program, flat)
        np.testing.assert_allclose(got, expected, rtol=1e-14)


@pytest.mark.parametrize("f, args", FUNCTIONS)
def test_joint_program_returns_value_and_gradient(f, args):
    wrt = tuple(range(len(args)))
    program = passes.optimize(raw_trace(f, args))
    joint = adjoint.joint_program(program, wrt)
    outs = eval_program(joint, [np.asarray(a) for a in args])
    value, grads = tg.value_and_grad(f, argnums=wrt)(*args)
    np.testing.assert_allclose(outs[0], value, rtol=1e-14)
    for got, want in zip(outs[1:], grads, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-14)


def test_signature_trace_is_checked():
    leaves, treedef = tree_flatten(((W, B, XB), {}))
    found = trace_user_function(lambda args, kw: mlp(*args), Signature.of(leaves, treedef, "f"))
    check(found.program)


# =============================================================================================
# What the adjoint program contains


def test_grad_program_drops_the_unused_value():
    """grad alone does not need the loss value: DCE removes the forward reduction."""
    program = tg.make_ir(tg.grad(lambda x: np.sum(np.sin(x) * x)))(np.ones(3))
    assert "reduce_sum" not in {e.prim.name for e in program.eqns}


def test_symbolic_zero_for_unused_input():
    """An input that does not reach the output gets a zero gradient and costs no work."""
    program = tg.make_ir(tg.grad(lambda x, y: np.sum(x**2), argnums=1))(np.ones(3), np.ones(2))
    assert program.eqns == [] or {e.prim.name for e in program.eqns} <= {"broadcast_to"}
    g = tg.grad(lambda x, y: np.sum(x**2), argnums=1)(np.ones(3), np.ones(2))
    np.testing.assert_array_equal(g, np.zeros(2))


def test_fan_out_accumulates_cotangents():
    """x used three times: the cotangents of all uses are summed (2x + 3 + cos x)."""
    x = np.array([0.3, -1.2])
    g = tg.grad(lambda x: np.sum(x * x + 3.0 * x + np.sin(x)))(x)
    np.testing.assert_allclose(g, 2 * x + 3 + np.cos(x), rtol=1e-15)


def test_no_gradient_flows_into_condition():
    program = tg.make_ir(tg.grad(lambda x: np.sum(np.where(x > 0, x, 2 * x))))(np.ones(3))
    check(program)
    g = tg.grad(lambda x: np.sum(np.where(x > 0, x, 2 * x)))(np.array([1.0, -1.0]))
    np.testing.assert_array_equal(g, [1.0, 2.0])


def test_closure_array_becomes_literal():
    w = np.array([1.0, 2.0, 3.0])
    program = tg.make_ir(lambda x: np.sum(x * w))(np.ones(3))
    assert len(program.inputs) == 1
    literals = [a for e in program.eqns for a in e.inputs if isinstance(a, Literal)]
    assert any(np.array_equal(lit.value, w) for lit in literals)


# =============================================================================================
# Golden printouts: a change in tracing or in the printer shows up here


def golden(text: str) -> str:
    return textwrap.dedent(text).strip("\n")


def test_golden_forward():
    program = tg.make_ir(lambda x: np.sum(np.sin(x) * x))(np.ones(3))
    assert str(program) == golden(
        """
        { lambda x:f64[3] ;
            a:f64[3] = sin x
            b:f64[3] = mul a x
            c:f64[] = reduce_sum[axes=(0,)] b
          in (c) }
        """
    )


def test_golden_gradient():
    program = tg.make_ir(tg.grad(lambda x: np.sum(np.sin(x) * x)))(np.ones(3))
    assert str(program) == golden(
        """
        { lambda x:f64[3] ;
            a:f64[3] = sin x
            b:f64[3] = cos x
            c:f64[3] = mul x b
            d:f64[3] = add a c
          in (d) }
        """
    )


def test_golden_value_and_grad():
    program = tg.make_ir(tg.value_and_grad(lambda x: np.sum(np.sin(x) * x)))(np.ones(3))
    assert str(program) == golden(
        """
        { lambda x:f64[3] ;
            a:f64[3] = sin x
            b:f64[3] = mul a x
            c:f64[] = reduce_sum[axes=(0,)] b
            d:f64[3] = cos x
            e:f64[3] = mul x d
            f:f64[3] = add a e
          in (c, f) }
        """
    )


def test_golden_layer():
    program = tg.make_ir(mlp)(W, B, XB)
    assert str(program) == golden(
        """
        { lambda W:f64[3,2] b:f64[2] x:f64[4,3] ;
            a:f64[4,2] = matmul x W
            c:f64[4,2] = add a b
            d:f64[4,2] = tanh c
            e:f64[4,2] = integer_pow[n=2] d
            f:f64[] = reduce_sum[axes=(0, 1)] e
            g:f64[] = div f 8.0
          in (g) }
        """
    )


def test_golden_float32_slicing_and_literals():
    program = tg.make_ir(lambda x: x[::-1, 1] * 2.0 + 1)(np.ones((3, 2), np.float32))
    assert str(program) == golden(
        """
        { lambda x:f32[3,2] ;
            a:f32[3,1] = slice[start=(2, 1), step=(-1, 1), shape=(3, 1)] x
            b:f32[3] = reshape[shape=(3,)] a
            c:f32[3] = mul b 2.0:f32
            d:f32[3] = add c 1.0:f32
          in (d) }
        """
    )


# =============================================================================================
# The checker rejects malformed programs


def _f64(*shape):
    return Aval(shape, np.float64)


def test_check_rejects_use_before_definition():
    a, b, c = Var(_f64(3)), Var(_f64(3)), Var(_f64(3))
    program = Program([a], [Eqn(P.sin, (b,), c, {}), Eqn(P.cos, (a,), b, {})], [c])
    with pytest.raises(IRCheckError, match="before it is defined"):
        check(program)


def test_check_rejects_wrong_output_type():
    a, b = Var(_f64(3)), Var(_f64(4))
    with pytest.raises(IRCheckError, match="rule gives"):
        check(Program([a], [Eqn(P.sin, (a,), b, {})], [b]))


def test_check_rejects_wrong_dtype():
    a, b = Var(_f64(3)), Var(Aval((3,), np.float32))
    with pytest.raises(IRCheckError, match="rule gives"):
        check(Program([a], [Eqn(P.exp, (a,), b, {})], [b]))


def test_check_rejects_double_definition():
    a, b = Var(_f64(3)), Var(_f64(3))
    eqns = [Eqn(P.sin, (a,), b, {}), Eqn(P.cos, (a,), b, {})]
    with pytest.raises(IRCheckError, match="defined twice"):
        check(Program([a], eqns, [b]))


def test_check_rejects_undefined_output():
    a, b = Var(_f64(3)), Var(_f64(3))
    with pytest.raises(IRCheckError, match="before it is defined"):
        check(Program([a], [], [b]))


def test_check_rejects_bad_literal():
    a, b = Var(_f64(3)), Var(_f64(3))
    bad = Literal(np.array(1.0), _f64(3))
    with pytest.raises(IRCheckError, match="literal"):
        check(Program([a], [Eqn(P.add, (a, bad), b, {})], [b]))


def test_check_rejects_shape_rule_violation():
    a, b, c = Var(_f64(2, 3)), Var(_f64(4, 5)), Var(_f64(2, 5))
    with pytest.raises((IRCheckError, tg.ShapeError)):
        check(Program([a, b], [Eqn(P.matmul, (a, b), c, {})], [c]))


def test_check_accepts_literal_outputs_and_passthrough():
    a = Var(_f64(3))
    check(Program([a], [], [a, Literal.make(2.0)]))


# =============================================================================================
# simplify and cse: the algebra each primitive declares, applied by the passes


def _after(pass_, fn, *shapes):
    """``fn`` on float64 inputs of ``shapes``, traced with the core Tracer, after ``pass_``."""
    from tracegrad.core.tracing import trace_flat

    def flat(*xs):
        out = fn(*xs)
        return out if isinstance(out, list) else [out]

    program, _ = trace_flat(flat, [_f64(*s) for s in shapes])
    return check(pass_(program))


def _simplify(program):
    return passes.dce(passes.simplify(program))


def _lit(value):
    return Literal.make(np.float64(value))


SIMPLIFIED = [
    pytest.param(lambda x: P.mul(x, _lit(1)), id="x*1"),
    pytest.param(lambda x: P.mul(_lit(1), x), id="1*x"),
    pytest.param(lambda x: P.add(x, _lit(0)), id="x+0"),
    pytest.param(lambda x: P.add(_lit(0), x), id="0+x"),
    pytest.param(lambda x: P.sub(x, _lit(0)), id="x-0"),
    pytest.param(lambda x: P.div(x, _lit(1)), id="x/1"),
    pytest.param(lambda x: P.reshape(x, shape=(3,)), id="reshape-same-shape"),
    pytest.param(lambda x: P.broadcast_to(x, shape=(3,)), id="broadcast-same-shape"),
    pytest.param(lambda x: P.convert(x, dtype=np.dtype(np.float64)), id="convert-same-dtype"),
    pytest.param(lambda x: P.transpose(x, perm=(0,)), id="transpose-identity"),
    pytest.param(lambda x: P.integer_pow(x, n=1), id="x**1"),
    pytest.param(lambda x: P.neg(P.neg(x)), id="neg-neg"),
]


@pytest.mark.parametrize("fn", SIMPLIFIED)
def test_simplify_removes_identities(fn):
    program = _after(_simplify, fn, (3,))
    assert program.eqns == [] and program.outputs == program.inputs, program


KEPT = [
    pytest.param(lambda x: P.sub(_lit(0), x), "sub", id="0-x"),
    pytest.param(lambda x: P.div(_lit(1), x), "div", id="1/x"),
    pytest.param(lambda x: P.mul(x, _lit(0)), "mul", id="x*0"),  # NaN and inf times 0
    pytest.param(lambda x: P.maximum(x, _lit(-np.inf)), "max", id="max(x,-inf)"),
    pytest.param(lambda x: P.mul(x, _lit(2)), "mul", id="x*2"),
    pytest.param(lambda x: P.integer_pow(x, n=2), "integer_pow", id="x**2"),
    pytest.param(lambda x: P.transpose(P.reshape(x, shape=(3, 1)), perm=(1, 0)), "transpose"),
    pytest.param(lambda x: P.broadcast_to(x, shape=(2, 3)), "broadcast_to", id="broadcast"),
]


@pytest.mark.parametrize("fn, name", KEPT)
def test_simplify_keeps_what_is_not_an_identity(fn, name):
    program = _after(_simplify, fn, (3,))
    assert name in [e.prim.name for e in program.eqns], program


def test_simplify_unit_must_not_change_the_shape():
    program = _after(_simplify, lambda x: P.mul(x, Literal.make(np.ones(3))), ())
    assert [e.prim.name for e in program.eqns] == ["mul"], program


def test_simplify_merges_reshape_chains():
    program = _after(_simplify, lambda x: P.reshape(P.reshape(x, shape=(2, 3)), shape=(3, 2)), (6,))
    assert [str(e.inputs[0].aval) for e in program.eqns] == ["f64[6]"], program


def test_simplify_folds_scalar_constants():
    program = _after(_simplify, lambda x: P.mul(x, P.exp(_lit(0.0))), (3,))
    assert program.eqns == [] and program.outputs == program.inputs, program


def _both_orders(name):
    prim = P.REGISTRY[name]
    return lambda x, y: [prim(x, y), prim(y, x)]


@pytest.mark.parametrize("name", ["add", "mul", "max", "min", "eq", "ne"])
def test_cse_shares_commutative_operations(name):
    program = _after(passes.cse, _both_orders(name), (3,), (3,))
    assert len(program.eqns) == 1, program


@pytest.mark.parametrize("name", ["sub", "div", "lt", "pow"])
def test_cse_keeps_operand_order_of_other_operations(name):
    program = _after(passes.cse, _both_orders(name), (3,), (3,))
    assert len(program.eqns) == 2, program


@pytest.mark.parametrize("name", ["and", "or"])
def test_cse_shares_commutative_logic(name):
    def fn(x, y):
        return _both_orders(name)(P.lt(x, y), P.gt(x, y))

    assert len(_after(passes.cse, fn, (3,), (3,)).eqns) == 3


def test_declarations_are_complete_and_frozen():
    import dataclasses

    with pytest.raises(dataclasses.FrozenInstanceError):
        P.exp.vjp = None
    for prim in P.REGISTRY.values():
        assert isinstance(prim.kind, P.Kind) and prim.kind == prim.kind.value
        assert (prim.scalar is not None) == (prim.elementwise or prim.kind == "reduce"), prim
        assert prim.unit is None or prim.kind is P.Kind.BINARY, prim
        assert not (prim.commutative and prim.kind is P.Kind.UNARY), prim


# =============================================================================================
# Names in the user's words


def test_inputs_and_gradients_carry_the_users_names():
    def loss(params, x, y):
        return np.sum((np.tanh(x @ params["W1"] + params["b1"]) - y) ** 2)

    params = {"W1": np.ones((3, 2)), "b1": np.zeros(2)}
    program = tg.grad(loss).lower(params, np.ones((4, 3)), np.ones((4, 2))).program
    text = str(program)
    assert text.startswith("{ lambda W1:f64[3,2] b1:f64[2] x:f64[4,3] y:f64[4,2] ;")
    assert text.endswith("  in (f, grad_W1, grad_b1) }")


def test_ambiguous_keys_take_the_shortest_unique_path():
    def f(layers, x):
        for layer in layers:
            x = np.tanh(x @ layer["W"] + layer["b"])
        return np.sum(x)

    layers = [{"W": np.ones((2, 2)), "b": np.zeros(2)} for _ in range(2)]
    program = tg.make_ir(f)(layers, np.ones(2))
    names = [v.hint for v in program.inputs]
    assert names == ["layers_0_W", "layers_0_b", "layers_1_W", "layers_1_b", "x"]
    assert str(program).startswith("{ lambda layers_0_W:f64[2,2] layers_0_b:f64[2]")


def test_names_never_change_what_is_cached():
    def f(a):
        return np.sum(np.sin(a))

    def g(b):
        return np.sum(np.sin(b))

    ir_f, ir_g = tg.make_ir(f)(np.ones(3)), tg.make_ir(g)(np.ones(3))
    assert str(ir_f) != str(ir_g)
    assert str(ir_f).replace("a", "b") == str(ir_g).replace("a", "b")
