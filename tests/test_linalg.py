"""np.linalg on traced values: NumPy's stacking rules, det's gradient at singular matrices
(the adjugate), the decompositions, and the functions composed from them.

Values are compared with NumPy itself; gradients with central finite differences at inputs
drawn by Hypothesis, kept well conditioned (separated eigenvalues and singular values).
Everything runs on the reference interpreter except one compiled program at the end.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scalarize import scalarized

import tracegrad as tg
from tracegrad.errors import ShapeError, UnsupportedNumpyFunction
from tracegrad.testing import check_grads

pytestmark = pytest.mark.usefixtures("interpret_backend")

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)
DTYPES = [F64, F32]

# =============================================================================================
# Inputs (float64, cast to the tested dtype): every matrix of a stack drawn independently


def well_conditioned(rng, shape):
    """3 I + E, entries of E in [-0.5, 0.5]: far from singular."""
    return rng.uniform(-0.5, 0.5, shape) + 3.0 * np.eye(shape[-1])


def positive_definite(rng, shape):
    b = rng.uniform(-1, 1, shape)
    return b @ np.swapaxes(b, -1, -2) + np.eye(shape[-1])


def _orthonormal(rng, shape):
    """Stacks of square orthogonal matrices."""
    return np.linalg.qr(rng.uniform(-1, 1, shape))[0]


def symmetric(rng, shape):
    """Q diag(w) Q^T with eigenvalues at least 1 apart (in [-1.5, 4])."""
    n = shape[-1]
    q = _orthonormal(rng, shape)
    w = 1.5 * np.arange(n) - 1.5 + rng.uniform(0, 0.3, (*shape[:-2], n))
    return (q * w[..., None, :]) @ np.swapaxes(q, -1, -2)


def separated(rng, shape):
    """U diag(s) V^T with singular values 1, 2, 3, ... (plus up to 0.2): distinct, nonzero."""
    *batch, m, n = shape
    k = min(m, n)
    u = _orthonormal(rng, (*batch, m, m))[..., :k]
    v = _orthonormal(rng, (*batch, n, n))[..., :k]
    s = 1.0 + np.arange(k)[::-1] + rng.uniform(0, 0.2, (*batch, k))
    return (u * s[..., None, :]) @ np.swapaxes(v, -1, -2)


def real(rng, shape):
    return rng.uniform(-2, 2, shape)


def draw(seed, dtype, *specs):
    """One array per (domain, shape) in ``specs``."""
    rng = np.random.default_rng(seed)
    return tuple(np.asarray(domain(rng, shape)).astype(dtype) for domain, shape in specs)


def tolerance(dtype):
    return dict(rtol=1e-10, atol=1e-12) if dtype == F64 else dict(rtol=2e-4, atol=2e-5)


def assert_matches_numpy(fn, args, dtype):
    expected = fn(*args)
    got = tg.jit(fn)(*args)
    leaves_got, leaves_expected = tg.tree.tree_flatten(got)[0], tg.tree.tree_flatten(expected)[0]
    assert len(leaves_got) == len(leaves_expected)
    for g, e in zip(leaves_got, leaves_expected, strict=True):
        g, e = np.asarray(g), np.asarray(e)
        assert g.shape == e.shape, (g.shape, e.shape)
        assert g.dtype == e.dtype, (g.dtype, e.dtype)
        np.testing.assert_allclose(g, e, **tolerance(dtype))


# =============================================================================================
# Stacks of matrices (leading axes are a batch): solve, inv, det, slogdet, cholesky

# NumPy 2: b is a vector only when it is 1-D; otherwise a stack of (n, k) matrices, and the
# batch axes of a and b broadcast.
SOLVE_SHAPES = [
    ((3, 3), (3,)),
    ((3, 3), (3, 2)),
    ((2, 3, 3), (3,)),
    ((2, 3, 3), (3, 4)),
    ((2, 3, 3), (2, 3, 1)),
    ((2, 1, 3, 3), (4, 3, 2)),
    ((3, 3), (2, 3, 2)),
]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shapes", SOLVE_SHAPES, ids=str)
def test_solve_follows_numpy_stacking(shapes, dtype):
    args = draw(0, dtype, (well_conditioned, shapes[0]), (real, shapes[1]))
    assert_matches_numpy(np.linalg.solve, args, dtype)


def test_solve_rejects_a_right_hand_side_that_does_not_fit():
    a, b = np.eye(3)[None].repeat(2, 0), np.ones((2, 3))  # NumPy 2: b is a 2x3 matrix
    with pytest.raises(ShapeError, match="axis -2 must be 3"):
        tg.jit(np.linalg.solve)(a, b)
    with pytest.raises(ShapeError, match="length must be 3"):
        tg.jit(np.linalg.solve)(np.eye(3), np.ones(2))


STACKED = {
    "inv": (np.linalg.inv, well_conditioned),
    "det": (np.linalg.det, well_conditioned),
    "slogdet": (lambda a: np.linalg.slogdet(a), well_conditioned),
    "slogdet of -a": (lambda a: np.linalg.slogdet(-a), well_conditioned),
    "cholesky": (np.linalg.cholesky, positive_definite),
    "cholesky upper": (lambda a: np.linalg.cholesky(a, upper=True), positive_definite),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(3, 3), (2, 3, 3), (2, 2, 1, 1), (0, 2, 2)], ids=str)
@pytest.mark.parametrize("name", STACKED)
def test_stacked_values_match_numpy(name, shape, dtype):
    fn, domain = STACKED[name]
    assert_matches_numpy(fn, draw(1, dtype, (domain, shape)), dtype)


GRADIENTS = {
    "solve, broadcast batches": (
        np.linalg.solve,
        [(well_conditioned, (2, 1, 3, 3)), (real, (3, 3, 2))],
    ),
    "solve, a vector": (np.linalg.solve, [(well_conditioned, (2, 3, 3)), (real, (3,))]),
    "inv": (np.linalg.inv, [(well_conditioned, (2, 3, 3))]),
    "det": (np.linalg.det, [(well_conditioned, (2, 2, 3, 3))]),
    "logabsdet": (lambda a: np.linalg.slogdet(a)[1], [(well_conditioned, (2, 3, 3))]),
    "cholesky upper": (
        lambda a: np.linalg.cholesky(a, upper=True),
        [(positive_definite, (2, 3, 3))],
    ),
    # -- decompositions: functions of them that do not depend on the signs of vectors
    "eigh": (
        lambda a: (lambda w, v: (v * np.exp(w)[..., None, :]) @ np.swapaxes(v, -1, -2))(
            *np.linalg.eigh(a)
        ),
        [(symmetric, (2, 3, 3))],
    ),
    "eigvalsh": (np.linalg.eigvalsh, [(symmetric, (2, 3, 3))]),
    "svd": (
        lambda a: (lambda u, s, vh: (u * np.sqrt(s)[..., None, :]) @ (vh * vh))(
            *np.linalg.svd(a, full_matrices=False)
        ),
        [(separated, (2, 4, 3))],
    ),
    "svd, wide": (
        lambda a: (lambda u, s, vh: u * u * s[..., None, :])(
            *np.linalg.svd(a, full_matrices=False)
        ),
        [(separated, (3, 4))],
    ),
    "svdvals": (lambda a: np.linalg.svd(a, compute_uv=False), [(separated, (2, 3, 4))]),
    "qr": (
        lambda a: (lambda q, r: q @ (r * r))(*np.linalg.qr(a)),
        [(separated, (2, 4, 3))],
    ),
    "qr, wide": (lambda a: np.linalg.qr(a, mode="r") ** 2, [(separated, (3, 4))]),
    # -- composed
    "matrix_power -3": (lambda a: np.linalg.matrix_power(a, -3), [(well_conditioned, (2, 3, 3))]),
    "matrix_power 5": (lambda a: np.linalg.matrix_power(0.3 * a, 5), [(real, (3, 3))]),
    "multi_dot": (
        lambda x, a, b, y: np.linalg.multi_dot([x, a, b, y]),
        [(real, (3,)), (real, (3, 5)), (real, (5, 2)), (real, (2, 4))],
    ),
    "pinv": (np.linalg.pinv, [(separated, (2, 4, 3))]),
    "lstsq": (lambda a, b: np.linalg.lstsq(a, b)[0], [(separated, (4, 3)), (real, (4, 2))]),
    "lstsq, wide": (lambda a, b: np.linalg.lstsq(a, b)[0], [(separated, (2, 4)), (real, (2,))]),
    "norm 2, -2, nuc": (
        lambda a: np.linalg.norm(a, 2) + np.linalg.norm(a, -2) * np.linalg.norm(a, "nuc"),
        [(separated, (3, 4))],
    ),
    "norm 2 of a stack": (
        lambda a: np.linalg.norm(a, 2, axis=(2, 0), keepdims=True),
        [(separated, (3, 2, 4))],
    ),
}
if hasattr(np.linalg, "matrix_norm"):  # NumPy >= 2
    GRADIENTS["matrix_norm, vector_norm"] = (
        lambda a: (
            np.linalg.matrix_norm(a, ord="nuc") + np.linalg.vector_norm(a, ord=3, axis=(-1, -2))
        ),
        [(separated, (2, 3, 2))],
    )
    GRADIENTS["svdvals"] = (np.linalg.svdvals, [(separated, (2, 3, 4))])


@pytest.mark.parametrize("name", GRADIENTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_values_match_numpy(name, dtype):
    fn, specs = GRADIENTS[name]
    assert_matches_numpy(fn, draw(2, dtype, *specs), dtype)


@pytest.mark.parametrize("name", GRADIENTS)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_gradient_matches_finite_differences(name, dtype, seed):
    fn, specs = GRADIENTS[name]
    check_grads(scalarized(fn), draw(seed, dtype, *specs))


@pytest.mark.parametrize(
    "name", ["det", "solve, broadcast batches", "eigh", "logabsdet", "svdvals", "qr"]
)
@settings(max_examples=3)
@given(seed=st.integers(0, 2**32 - 1))
def test_gradient_of_gradient(name, seed):
    fn, specs = GRADIENTS[name]
    check_grads(scalarized(fn), draw(seed, F64, *specs), order=2)


# =============================================================================================
# det at singular matrices: its gradient is the transposed adjugate, which exists there


def adjugate_by_cofactors(a):
    """adj(A)_ji = (-1)^(i+j) det(A without row i and column j): the textbook definition."""
    n = a.shape[-1]
    cof = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            minor = np.delete(np.delete(a, i, axis=-2), j, axis=-1)
            cof[..., i, j] = (-1) ** (i + j) * np.linalg.det(minor)
    return np.swapaxes(cof, -1, -2)


def low_rank(rng, shape, rank):
    *batch, n, _ = shape
    return rng.uniform(-2, 2, (*batch, n, rank)) @ rng.uniform(-2, 2, (*batch, rank, n))


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_det_gradient_at_a_singular_matrix_is_the_adjugate(dtype):
    a = np.array([[1.0, 2.0], [2.0, 4.0]], dtype)
    value, g = tg.value_and_grad(np.linalg.det)(a)
    assert value == 0
    np.testing.assert_allclose(g, [[4.0, -2.0], [-2.0, 1.0]], **tolerance(dtype))
    assert g.dtype == dtype


@pytest.mark.parametrize("rank", [2, 1, 0])
@pytest.mark.parametrize("batch", [(), (2,)], ids=str)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_det_gradient_at_rank_deficient_matrices(rank, batch, seed):
    """Rank n - 1: the adjugate has rank 1; rank <= n - 2: every minor vanishes, so does the
    gradient."""
    a = low_rank(np.random.default_rng(seed), (*batch, 3, 3), rank)
    g = tg.grad(lambda a: np.sum(np.linalg.det(a)))(a)
    expected = np.swapaxes(adjugate_by_cofactors(a), -1, -2)
    scale = np.max(np.abs(a), initial=1.0) ** 2
    np.testing.assert_allclose(g, expected, rtol=1e-9, atol=1e-12 * scale)
    if rank <= 1:
        np.testing.assert_allclose(g, 0.0, atol=1e-12 * scale)
    check_grads(scalarized(np.linalg.det), (a,), order=2)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_compiled_adjugate_kernel_at_every_rank(dtype):
    """The kernel takes det(A) inv(A) from LU far from singular, the SVD near it: both agree
    with the cofactors, across a range of conditioning."""
    from tracegrad.backend.numba_support import stack_adjugate

    rng = np.random.default_rng(15)
    u, v = _orthonormal(rng, (7, 4, 4)), _orthonormal(rng, (7, 4, 4))
    s = np.array([[3, 2, 1, 10.0**-e] for e in (0, 2, 4, 6, 8, 12)] + [[3, 2, 0, 0]])
    a = ((u * s[:, None, :]) @ np.swapaxes(v, -1, -2)).astype(dtype)
    out = np.empty_like(a)
    stack_adjugate(a, out)
    expected = adjugate_by_cofactors(a.astype(np.float64))
    atol = 30 * np.finfo(dtype).eps * 6  # |adj| <= the product of the largest three s
    np.testing.assert_allclose(out, expected, rtol=0, atol=atol)


# =============================================================================================
# Decompositions


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(3, 3), (2, 4, 4)], ids=str)
def test_eigh_and_eigvalsh(shape, dtype):
    (a,) = draw(3, dtype, (symmetric, shape))
    w, v = tg.jit(np.linalg.eigh)(a)
    expected_w, expected_v = np.linalg.eigh(a)
    np.testing.assert_allclose(w, expected_w, **tolerance(dtype))
    np.testing.assert_allclose(np.abs(v), np.abs(expected_v), **tolerance(dtype))
    upper = tg.jit(lambda a: np.linalg.eigvalsh(a, UPLO="U"))(np.triu(a))
    np.testing.assert_allclose(upper, expected_w, **tolerance(dtype))


def test_eigh_reads_one_triangle_and_so_does_its_gradient():
    (a,) = draw(4, F64, (symmetric, (3, 3)))

    def loss(a):
        w, v = np.linalg.eigh(a)
        return np.sum(w * w) + np.sum(v[0] ** 2 * w)

    g = tg.grad(loss)(a)
    np.testing.assert_array_equal(np.triu(g, 1), 0.0)
    g_upper = tg.grad(lambda a: loss(a.T))(a.T)
    np.testing.assert_allclose(g_upper, g.T, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3)], ids=str)
def test_svd_and_qr_reconstruct(shape, dtype):
    (a,) = draw(5, dtype, (separated, shape))
    u, s, vh = tg.jit(lambda a: np.linalg.svd(a, full_matrices=False))(a)
    np.testing.assert_allclose(s, np.linalg.svd(a, compute_uv=False), **tolerance(dtype))
    np.testing.assert_allclose((u * s[..., None, :]) @ vh, a, **tolerance(dtype))
    q, r = tg.jit(np.linalg.qr)(a)
    np.testing.assert_allclose(q @ r, a, **tolerance(dtype))
    np.testing.assert_array_equal(np.tril(r, -1), 0.0)


def test_unsupported_modes_say_what_to_use():
    with pytest.raises(UnsupportedNumpyFunction, match="full_matrices=False"):
        tg.jit(np.linalg.svd)(np.ones((3, 2)))
    with pytest.raises(UnsupportedNumpyFunction, match="mode='reduced'"):
        tg.jit(lambda a: np.linalg.qr(a, mode="complete"))(np.ones((3, 2)))
    with pytest.raises(TypeError, match="must be an integer"):
        tg.jit(lambda a: np.linalg.matrix_power(a, 1.5))(np.eye(2))
    with pytest.raises(ValueError, match="UPLO must be"):
        tg.jit(lambda a: np.linalg.eigh(a, UPLO="X"))(np.eye(2))
    with pytest.raises(ShapeError, match="square matrix"):
        tg.jit(np.linalg.det)(np.ones((2, 3)))
    with pytest.raises(ShapeError, match="needs one matrix"):
        tg.jit(np.linalg.lstsq)(np.ones((2, 3, 2)), np.ones(3))


# =============================================================================================
# Composed functions: remaining values against NumPy


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("power", [-2, -1, 0, 1, 2, 7])
def test_matrix_power(power, dtype):
    (a,) = draw(6, dtype, (well_conditioned, (2, 3, 3)))
    assert_matches_numpy(lambda a: np.linalg.matrix_power(0.4 * a, power), (a,), dtype)


@pytest.mark.parametrize(
    "shapes", [[(3, 4), (4, 2)], [(3,), (3, 4), (4,)], [(2, 6), (6, 1), (1, 5), (5,)]], ids=str
)
def test_multi_dot(shapes):
    args = draw(7, F64, *[(real, s) for s in shapes])
    assert_matches_numpy(lambda *xs: np.linalg.multi_dot(list(xs)), args, F64)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shapes", [((5, 3), (5,)), ((5, 3), (5, 2)), ((2, 4), (2, 3))], ids=str)
def test_lstsq_returns_what_numpy_returns(shapes, dtype):
    a, b = draw(8, dtype, (separated, shapes[0]), (real, shapes[1]))
    assert_matches_numpy(lambda a, b: np.linalg.lstsq(a, b), (a, b), dtype)


def test_pinv_and_rank_of_a_rank_deficient_matrix():
    (a,) = draw(9, F64, (separated, (4, 3)))
    a[:, 2] = a[:, 0] + a[:, 1]  # rank 2
    assert_matches_numpy(np.linalg.pinv, (a,), F64)
    assert_matches_numpy(lambda a: np.linalg.lstsq(a, np.ones(4))[2], (a,), F64)
    assert_matches_numpy(np.linalg.matrix_rank, (np.stack([a, a[::-1] * 2]),), F64)
    assert_matches_numpy(lambda a: np.linalg.matrix_rank(a, hermitian=True), (a.T @ a,), F64)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("ord", [2, -2, "nuc", "fro", 1, np.inf])
def test_matrix_norms(ord, dtype):
    (a,) = draw(10, dtype, (separated, (2, 3, 4)))
    assert_matches_numpy(lambda a: np.linalg.norm(a[0], ord), (a,), dtype)
    assert_matches_numpy(lambda a: np.linalg.norm(a, ord, axis=(0, 2)), (a,), dtype)
    if hasattr(np.linalg, "matrix_norm"):
        assert_matches_numpy(lambda a: np.linalg.matrix_norm(a, ord=ord), (a,), dtype)


@pytest.mark.skipif(not hasattr(np.linalg, "vector_norm"), reason="NumPy >= 2")
@pytest.mark.parametrize("ord", [2, 1, np.inf, 0.5])
def test_vector_norm(ord):
    (a,) = draw(11, F64, (real, (2, 3, 4)))
    assert_matches_numpy(lambda a: np.linalg.vector_norm(a, ord=ord), (a,), F64)
    assert_matches_numpy(
        lambda a: np.linalg.vector_norm(a, ord=ord, axis=(0, 2), keepdims=True), (a,), F64
    )


# =============================================================================================
# scipy.linalg: triangular and Cholesky solvers (called through the module's attribute)


def triangular(rng, shape):
    """Well conditioned, with noise in both triangles (the solvers read one of them)."""
    return well_conditioned(rng, shape) + np.triu(rng.uniform(-1, 1, shape), 1)


SCIPY = {
    "solve_triangular lower": (
        lambda a, b: scipy.linalg.solve_triangular(a, b, lower=True),
        [(triangular, (3, 3)), (real, (3,))],
    ),
    "solve_triangular upper, trans, stack": (
        lambda a, b: scipy.linalg.solve_triangular(a, b, trans="T"),
        [(triangular, (2, 3, 3)), (real, (3, 2))],
    ),
    "solve_triangular unit_diagonal, trans=1": (
        lambda a, b: scipy.linalg.solve_triangular(a, b, 1, lower=True, unit_diagonal=True),
        [(triangular, (3, 3)), (real, (3, 2))],
    ),
    "cholesky (upper)": (lambda a: scipy.linalg.cholesky(a), [(positive_definite, (3, 3))]),
    "cho_factor": (lambda a: scipy.linalg.cho_factor(a)[0], [(positive_definite, (3, 3))]),
    "cho_solve lower": (
        lambda a, b: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a, lower=True), b),
        [(positive_definite, (3, 3)), (real, (3, 2))],
    ),
    "cho_solve upper, stack": (
        lambda a, b: scipy.linalg.cho_solve(scipy.linalg.cho_factor(a), b),
        [(positive_definite, (2, 3, 3)), (real, (3,))],
    ),
}


@pytest.mark.parametrize("name", SCIPY)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_scipy_values_match_scipy(name, dtype):
    fn, specs = SCIPY[name]
    assert_matches_numpy(fn, draw(13, dtype, *specs), dtype)


@pytest.mark.parametrize("name", SCIPY)
@settings(max_examples=5)
@given(seed=st.integers(0, 2**32 - 1))
def test_scipy_gradient_matches_finite_differences(name, seed):
    fn, specs = SCIPY[name]
    check_grads(scalarized(fn), draw(seed, F64, *specs))


def test_solve_triangular_gradient_reaches_only_the_triangle_it_reads():
    a, b = draw(14, F64, (triangular, (3, 3)), (real, (3,)))
    loss = lambda a: np.sum(scipy.linalg.solve_triangular(a, b, unit_diagonal=True))  # noqa: E731
    g = tg.grad(loss)(a)
    np.testing.assert_array_equal(np.tril(g), 0.0)
    assert np.all(g[np.triu_indices(3, 1)] != 0)
    with pytest.raises(ValueError, match="trans must be"):
        tg.jit(lambda a: scipy.linalg.solve_triangular(a, b, trans=3))(a)


# =============================================================================================
# The compiled path: one program with stacks, decompositions and the singular det


def test_compiled_program_matches_the_interpreter(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "numba")
    a, b, sym, wide = draw(12, F64, (well_conditioned, (2, 3, 3)), (real, (3, 2)),
                           (symmetric, (2, 3, 3)), (separated, (2, 3, 4)))  # fmt: skip
    singular = np.array([[[1.0, 2.0], [2.0, 4.0]], [[1.0, 1.0], [1.0, 1.0]]])
    (big,) = draw(16, F64, (well_conditioned, (2, 33, 33)))  # beyond the LU loops: LAPACK

    def loss(a, b, sym, wide, singular, big):
        w, v = np.linalg.eigh(sym)
        u, s, vh = np.linalg.svd(wide, full_matrices=False)
        q, r = np.linalg.qr(np.swapaxes(wide, -1, -2))
        terms = [
            np.linalg.solve(a, b),
            np.linalg.det(a),
            np.linalg.slogdet(a)[1],
            np.linalg.cholesky(a @ np.swapaxes(a, -1, -2)),
            (v * w[..., None, :]) @ np.swapaxes(v[..., 0:1, :], -1, -2),
            u * u * s[..., None, :],
            vh * vh,
            r * r,
            np.linalg.det(singular),
            np.linalg.solve(big, big[0, :, :2]),
            np.linalg.inv(big) * big,
        ]
        return sum(np.sum(np.sin(t)) for t in terms)

    args = (a, b, sym, wide, singular, big)
    argnums = tuple(range(6))
    before = tg.compile_stats().programs
    compiled = tg.value_and_grad(loss, argnums, compile="sync")
    got = compiled(*args)
    assert tg.compile_stats().programs == before + 1
    source = compiled.lower(*args).source()
    assert "_stack_solve_lapack(" in source and "_stack_inv_lapack(" in source
    want = tg.value_and_grad(loss, argnums, compile="never")(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-10)
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(got[1][4][0], np.cos(0.0) * np.array([[4.0, -2.0], [-2.0, 1.0]]))
