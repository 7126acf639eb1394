"""Small dense linear algebra as loops: LU with partial pivoting, solve, inv, slogdet, det.

Numba's ``np.linalg`` functions are generic overloads: in a new process ``solve``,
``slogdet`` and ``inv`` cost 1-6 s of compile each (they copy into Fortran order through
Numba's fancy setitem, and type SciPy's LAPACK bindings). For the small matrices of typical
programs the same algorithm as LAPACK's unblocked ``getf2`` / ``getrs``, written as scalar
loops, compiles in milliseconds and runs as fast; from ``MAX_LOOP_SIZE`` up, generated code
calls LAPACK through ``np.linalg`` (its blocked algorithms win there).

Each function writes lines with a :class:`~tracegrad.backend.writer.Writer` ``w``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .text import empty_text

if TYPE_CHECKING:
    from .writer import Operand, Writer

# Loops for n <= 32: about 11k flops for the factorisation, some microseconds.
MAX_LOOP_SIZE = 32


def use_loops(n: int) -> bool:
    return 1 <= n <= MAX_LOOP_SIZE


@dataclass
class Factors:
    """The names of an LU factorisation: ``lu`` (L below the diagonal, U on and above),
    the row swapped with each row ``perm``, and the swaps' parity ``sign`` (1.0 or -1.0)."""

    lu: str
    perm: str
    sign: str
    n: str  # the size as a loop bound (``_ext<n>``)


def factor(w: Writer, a: Operand, singular_raises: bool) -> Factors:
    """Factor ``a`` (any layout) into a fresh C array; a zero pivot raises LinAlgError as
    NumPy does if ``singular_raises`` (solve, inv), else is left for the caller (slogdet)."""
    n = a.aval.shape[0]
    # Loop bounds are ``_ext<n>`` (read from an argument's shape where one has the size):
    # with constant bounds LLVM unrolls every loop of the factorisation, and the Gaussian
    # log-likelihood took 7.9 s to compile instead of 1.
    f = Factors(w.fresh("lu"), w.fresh("perm"), w.fresh("sign"), w.extent(n))
    i, j, k, p, best = (w.fresh(h) for h in ("i", "j", "k", "p", "best"))
    w.line(f"{f.lu} = {empty_text((n, n), a.aval.dtype)}")
    with w.loops((n, n)) as index:
        w.line(f"{f.lu}[{', '.join(index)}] = {w.index(a, index)}")
    w.line(f"{f.perm} = {empty_text((n,), 'int64')}")
    w.line(f"{f.sign} = 1.0")
    with w.loop(k, f.n):
        # The pivot: the largest magnitude in column k at or below the diagonal.
        w.line(f"{p} = {k}")
        w.line(f"{best} = abs({f.lu}[{k}, {k}])")
        with w.loop(i, f"{k} + 1, {f.n}"):
            w.line(f"if abs({f.lu}[{i}, {k}]) > {best}:")
            with w.indented():
                w.line(f"{best} = abs({f.lu}[{i}, {k}])")
                w.line(f"{p} = {i}")
        w.line(f"{f.perm}[{k}] = {p}")
        w.line(f"if {p} != {k}:")
        with w.indented():
            w.line(f"{f.sign} = -{f.sign}")
            _swap_rows(w, f.lu, k, p, f.n)
        _eliminate(w, f, k, singular_raises)
    return f


def _swap_rows(w: Writer, name: str, r: str, s: str, width: str) -> None:
    j, t = w.fresh("j"), w.fresh("t")
    with w.loop(j, width):
        w.line(f"{t} = {name}[{r}, {j}]")
        w.line(f"{name}[{r}, {j}] = {name}[{s}, {j}]")
        w.line(f"{name}[{s}, {j}] = {t}")


def _eliminate(w: Writer, f: Factors, k: str, singular_raises: bool) -> None:
    """Below-diagonal multipliers of column ``k`` and the update of the trailing block."""
    i, j, pivot, m = w.fresh("i"), w.fresh("j"), w.fresh("pivot"), w.fresh("m")
    w.line(f"{pivot} = {f.lu}[{k}, {k}]")
    if singular_raises:
        w.line(f"if {pivot} == 0.0:")
        with w.indented():
            w.line('raise np.linalg.LinAlgError("Singular matrix")')
    else:
        w.line(f"if {pivot} == 0.0:")
        with w.indented():
            w.line("continue")  # slogdet reads the zero on the diagonal
    with w.loop(i, f"{k} + 1, {f.n}"):
        w.line(f"{m} = {f.lu}[{i}, {k}] / {pivot}")
        w.line(f"{f.lu}[{i}, {k}] = {m}")
        with w.loop(j, f"{k} + 1, {f.n}"):
            w.line(f"{f.lu}[{i}, {j}] = {f.lu}[{i}, {j}] - {m} * {f.lu}[{k}, {j}]")


def solve_into(w: Writer, f: Factors, out: Operand) -> None:
    """``out`` (n x m, C, holding the right-hand side) becomes A^-1 out: the row swaps, then
    forward substitution with the unit lower triangle, back substitution with the upper."""
    n, width = f.n, w.extent(out.aval.shape[1])
    k, i, j, c, m = (w.fresh(h) for h in ("k", "i", "j", "c", "m"))
    with w.loop(k, n):
        w.line(f"if {f.perm}[{k}] != {k}:")
        with w.indented():
            _swap_rows(w, out.name, k, f"{f.perm}[{k}]", width)
    with w.loop(i, n):
        with w.loop(j, i):
            w.line(f"{m} = {f.lu}[{i}, {j}]")
            with w.loop(c, width):
                w.line(f"{out}[{i}, {c}] = {out}[{i}, {c}] - {m} * {out}[{j}, {c}]")
    with w.loop(i, f"{n} - 1, -1, -1"):
        with w.loop(j, f"{i} + 1, {n}"):
            w.line(f"{m} = {f.lu}[{i}, {j}]")
            with w.loop(c, width):
                w.line(f"{out}[{i}, {c}] = {out}[{i}, {c}] - {m} * {out}[{j}, {c}]")
        w.line(f"{m} = {f.lu}[{i}, {i}]")
        with w.loop(c, width):
            w.line(f"{out}[{i}, {c}] = {out}[{i}, {c}] / {m}")


def solve(w: Writer, out: Operand, a: Operand, b: Operand) -> None:
    """``out = solve(a, b)`` for a square ``a`` of at most MAX_LOOP_SIZE rows."""
    f = factor(w, a, singular_raises=True)
    w.alloc(out)
    with w.loops(out.aval.shape) as index:
        w.line(f"{w.index(out, index)} = {w.index(b, index)}")
    solve_into(w, f, out)


def inv(w: Writer, out: Operand, a: Operand) -> None:
    """``out = inv(a)``: solve against the identity."""
    f = factor(w, a, singular_raises=True)
    w.alloc(out, fill=w.cast("0", out.aval))
    k = w.fresh("k")
    with w.loop(k, f.n):
        w.line(f"{out}[{k}, {k}] = {w.cast('1', out.aval)}")
    solve_into(w, f, out)


def determinant(w: Writer, out: Operand, a: Operand, part: str) -> None:
    """``out`` = det(a) (``part`` "det"), or the "sign" or "logabsdet" of slogdet(a): from
    the diagonal of U and the parity of the row swaps; a zero pivot gives 0 and -inf."""
    f = factor(w, a, singular_raises=False)
    k, d, value = w.fresh("k"), w.fresh("d"), w.fresh("value")
    w.line(f"{value} = {'1.0' if part == 'det' else '0.0'}")
    with w.loop(k, f.n):
        w.line(f"{d} = {f.lu}[{k}, {k}]")
        if part == "det":
            w.line(f"{value} = {value} * {d}")
        else:
            _log_abs_step(w, f.sign, value, d)
    result = {"det": f"{f.sign} * {value}", "sign": f.sign, "logabsdet": value}[part]
    w.line(f"{out} = {w.cast(result, out.aval)}")


def _log_abs_step(w: Writer, sign: str, value: str, d: str) -> None:
    w.line(f"if {d} < 0.0:")
    with w.indented():
        w.line(f"{sign} = -{sign}")
    w.line(f"elif {d} == 0.0:")  # NumPy: sign 0, log|det| -inf
    with w.indented():
        w.line(f"{sign} = 0.0")
    w.line(f"{value} = {value} + math.log(abs({d}))")
