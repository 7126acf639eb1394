"""Data-parallel gradients on Dask: one compiled ``value_and_grad`` per shard, summed.

For a loss that is a mean (or a sum) over the rows of its data, the gradient over a dataset
is the row-weighted mean (or the sum) of the gradients over its shards.  So each step

1. sends the parameters to every worker once (``Client.scatter(..., broadcast=True)``);
2. runs ``tracegrad.value_and_grad(loss)`` on every shard, where the shard lives;
3. adds the partial values and gradients in a tree on the workers (each task adds up to
   ``fan_in`` of them); only the root (one value and one gradient) comes back.

Data arguments are Dask arrays chunked along axis 0 only (a chunk is a shard) or lists of
shards (``dask.delayed`` objects, futures or arrays).  Every other argument is broadcast.

Each worker process keeps one ``tracegrad.value_and_grad`` per loss, so it traces and
compiles once per shard shape, not once per step, and it finds compiled code in the disk
cache (``TRACEGRAD_CACHE_DIR``) where the workers share a file system.  Without a
``distributed.Client`` the same graph runs on Dask's local threaded scheduler.

Only this module imports Dask: ``import tracegrad`` does not.
"""

from __future__ import annotations

import functools
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import dask
import dask.array as da
import numpy as np
from dask.delayed import Delayed, delayed

from . import api, config
from .errors import ArgnumsError, TracegradError
from .optim import Optimizer, apply_updates
from .signature import _positional_names, function_name, normalize_argnums
from .tree import tree_map

__all__ = [
    "DaskValueAndGrad",
    "Fit",
    "ShardError",
    "StepStats",
    "fit",
    "persist",
    "train_step",
    "value_and_grad",
]

PyTree = Any
REDUCTIONS = ("mean", "sum")


class ShardError(TracegradError, ValueError):
    """A shard of the data does not match the others (shape, dtype, rows), or has no rows."""


class StepStats(NamedTuple):
    """Where the time of one distributed step went.

    ``compute_seconds`` sums the time the shards spent in the compiled gradient on the
    workers; ``wall_seconds`` is the whole step as the caller saw it.  With ``w`` workers,
    ``wall_seconds - compute_seconds / w`` estimates Dask's overhead (scheduling, transfers,
    the reduction).
    """

    rows: int
    shards: int
    compute_seconds: float
    wall_seconds: float


# =============================================================================================
# Worker side: the gradient of one shard, and the sum of two partial results


@dataclass
class _Partial:
    """The gradient of some consecutive shards, weighted for the reduction."""

    value: Any
    grads: PyTree
    rows: int
    first: int  # index of the first shard summed in: the reference for ``layout``
    layout: tuple  # (shape after axis 0, dtype) of each data argument of shard ``first``
    aux: list
    seconds: float


# One tracegrad.value_and_grad per loss in each process, so that a worker traces and compiles
# once per shard signature rather than once per task (the loss arrives pickled with every
# task).  Bounded: a long session creating many losses does not keep them all.
_STAGED: OrderedDict[str, Callable] = OrderedDict()
_STAGED_LOCK = threading.Lock()
_STAGED_KEEP = 16


@dataclass(frozen=True)
class _ShardTask:
    """Everything a worker needs to compute one shard's gradient (pickled into each task)."""

    loss: Callable
    argnums: int | tuple[int, ...]
    has_aux: bool
    reduce: str
    compile: str
    key: str  # names the loss across processes: the per-process cache key
    nargs: int
    data_positions: tuple[int, ...]
    names: tuple[str, ...]  # how messages name each data argument
    declared: tuple  # per data argument: (trailing shape, dtype) of a Dask array, or None

    def staged(self) -> Callable:
        with _STAGED_LOCK:
            found = _STAGED.get(self.key)
            if found is None:
                found = api.value_and_grad(self.loss, self.argnums, self.has_aux, self.compile)
                _STAGED[self.key] = found
                if len(_STAGED) > _STAGED_KEEP:
                    _STAGED.popitem(last=False)
            else:
                _STAGED.move_to_end(self.key)
            return found

    def __call__(
        self, shared: dict[int, Any], index: int, rows_declared: float | None, *shards: Any
    ) -> _Partial:
        arrays = [self._checked(index, k, shard, rows_declared) for k, shard in enumerate(shards)]
        rows = self._rows(index, arrays)
        args = [shared.get(i) for i in range(self.nargs)]
        for position, array in zip(self.data_positions, arrays, strict=True):
            args[position] = array
        start = time.perf_counter()
        try:
            out = self.staged()(*args)
        except Exception as e:
            if hasattr(e, "add_note"):  # Python >= 3.11; the note travels with the exception
                e.add_note(f"(in tracegrad.dask: computing the gradient of shard {index})")
            raise
        seconds = time.perf_counter() - start
        (value, aux), grads = out if self.has_aux else ((out[0], None), out[1])
        if self.reduce == "mean":  # weight by rows: the root divides by the total
            value = value * rows
            grads = tree_map(lambda g: g * rows, grads)
        layout = tuple((a.shape[1:], a.dtype.str) for a in arrays)
        return _Partial(value, grads, rows, index, layout, [aux], seconds)

    def _checked(self, index: int, k: int, shard: Any, rows: float | None) -> np.ndarray:
        array = np.asarray(shard)
        where = f"shard {index} of {self.names[k]}"
        if array.ndim == 0:
            raise ShardError(f"{where} is a scalar; a shard is an array of rows (axis 0).")
        declared = self.declared[k]
        if declared is None:
            return array
        trailing, dtype = declared
        if array.shape[1:] != trailing or array.dtype != dtype:
            raise ShardError(
                f"{where} has shape {array.shape} and dtype {array.dtype}, but the Dask array "
                f"declares rows of shape {trailing} and dtype {dtype}. Fix the function that "
                "builds this chunk, or declare its true shape and dtype (meta=, dtype=)."
            )
        if rows is not None and not np.isnan(rows) and array.shape[0] != rows:
            raise ShardError(
                f"{where} has {array.shape[0]} rows, but the Dask array declares "
                f"{int(rows)}. Fix the chunk, or declare its size as unknown (nan)."
            )
        return array

    def _rows(self, index: int, arrays: list[np.ndarray]) -> int:
        counts = {name: a.shape[0] for name, a in zip(self.names, arrays, strict=True)}
        if len(set(counts.values())) > 1:
            listed = ", ".join(f"{name}: {n}" for name, n in counts.items())
            raise ShardError(
                f"shard {index} holds different numbers of rows per data argument ({listed}); "
                "the shards of every data argument must match row for row."
            )
        rows = next(iter(counts.values()))
        if rows == 0:
            raise ShardError(f"shard {index} has no rows; leave empty shards out of the data.")
        return rows


def _describe(layout: tuple, names: Sequence[str]) -> str:
    return ", ".join(
        f"{name} rows of shape {shape} {np.dtype(dtype)}"
        for name, (shape, dtype) in zip(names, layout, strict=True)
    )


def _add(left: _Partial, right: _Partial, names: tuple[str, ...]) -> _Partial:
    """The sum of two partial results (``left`` covers the earlier shards)."""
    if left.layout != right.layout:
        raise ShardError(
            f"shard {right.first} has {_describe(right.layout, names)}, but shard {left.first} "
            f"has {_describe(left.layout, names)}. Every shard of a data argument needs the "
            "same shape after axis 0 and the same dtype."
        )
    return _Partial(
        left.value + right.value,
        tree_map(np.add, left.grads, right.grads),
        left.rows + right.rows,
        left.first,
        left.layout,
        left.aux + right.aux,
        left.seconds + right.seconds,
    )


def _combine(names: tuple[str, ...], *parts: _Partial) -> _Partial:
    """The sum of consecutive partial results, in shard order."""
    return functools.reduce(lambda left, right: _add(left, right, names), parts)


# =============================================================================================
# Client side: splitting the arguments, the graph of one step


@dataclass
class _Plan:
    """The arguments of one call sorted into broadcast values and sharded data."""

    shared: dict[int, Any] = field(default_factory=dict)
    data_positions: list[int] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    shards: list[list[Any]] = field(default_factory=list)  # per data argument
    declared: list[Any] = field(default_factory=list)
    axis0_chunks: list[tuple | None] = field(default_factory=list)

    def declared_rows(self) -> list[float | None]:
        """Each shard's rows as the Dask arrays declare them (None: lists of shards)."""
        for chunks in self.axis0_chunks:
            if chunks is not None:
                return list(chunks)  # the same for every Dask array: _check_same_shards
        return [None] * len(self.shards[0])


def _is_lazy(x: Any) -> bool:
    """A ``dask.delayed`` object or a ``distributed`` future (without importing distributed)."""
    return isinstance(x, Delayed) or (
        type(x).__name__ == "Future" and type(x).__module__.startswith("distributed")
    )


def _is_shard_list(x: Any) -> bool:
    return isinstance(x, list | tuple) and any(map(_is_lazy, x))


def _holds_arrays(x: Any) -> bool:
    return isinstance(x, np.ndarray) or (
        isinstance(x, list | tuple) and any(isinstance(s, np.ndarray) for s in x)
    )


def _argument_name(names: list[str], position: int) -> str:
    """How messages name a positional argument: ``argument 1 (x)``."""
    if position < len(names):
        return f"argument {position} ({names[position]})"
    return f"argument {position}"


def _add_dask_array(plan: _Plan, x: da.Array, name: str) -> None:
    if x.ndim == 0:
        raise ShardError(f"{name} is a 0-d Dask array; data needs an axis 0 of rows.")
    split = [axis for axis in range(1, x.ndim) if len(x.chunks[axis]) > 1]
    if split:
        raise ShardError(
            f"{name} is chunked along axis {split[0]} too (chunks {x.chunks}); shards split "
            f"the rows only. Rechunk it: x.rechunk({{{split[0]}: -1}})."
        )
    rows = x.chunks[0]
    keep = [i for i, n in enumerate(rows) if n != 0]  # empty chunks (after slicing) add nothing
    blocks = list(x.to_delayed().ravel())
    plan.shards.append([blocks[i] for i in keep])
    plan.axis0_chunks.append(tuple(rows[i] for i in keep))
    plan.declared.append((tuple(x.shape[1:]), x.dtype))


def _add_data(plan: _Plan, position: int, x: Any, name: str) -> None:
    plan.data_positions.append(position)
    plan.names.append(name)
    if isinstance(x, da.Array):
        _add_dask_array(plan, x, name)
    else:
        plan.shards.append(list(x))
        plan.axis0_chunks.append(None)
        plan.declared.append(None)


def _plan(loss: Callable, args: tuple, argnums: tuple[int, ...]) -> _Plan:
    plan = _Plan()
    parameter_names = _positional_names(loss)
    for position, x in enumerate(args):
        name = _argument_name(parameter_names, position)
        is_data = isinstance(x, da.Array) or _is_shard_list(x)
        if position in argnums:
            if is_data:
                raise ArgnumsError(
                    f"{name} is differentiated (argnums), so it is broadcast to every worker, "
                    "but it is Dask data. Pass the parameters as NumPy arrays (compute them)."
                )
            plan.shared[position] = x
        elif is_data:
            _add_data(plan, position, x, name)
        elif _holds_arrays(x):
            raise ShardError(
                f"{name} is a {type(x).__name__} of NumPy data, not Dask data. Data arguments "
                "are Dask arrays chunked along axis 0 (dask.array.from_array(x, chunks=(rows, "
                "...))) or lists of dask.delayed shards; a constant array the loss needs can "
                "be closed over."
            )
        else:
            plan.shared[position] = x  # a static value (int, str, ...): broadcast as it is
    if not plan.shards:
        raise ShardError(
            "tracegrad.dask.value_and_grad was called without data: pass at least one Dask "
            "array chunked along axis 0, or a list of dask.delayed shards."
        )
    _check_same_shards(plan)
    return plan


def _check_same_shards(plan: _Plan) -> None:
    first_name, first_count = plan.names[0], len(plan.shards[0])
    first_chunks = plan.axis0_chunks[0]
    for name, shards, chunks in zip(plan.names, plan.shards, plan.axis0_chunks, strict=True):
        if len(shards) != first_count:
            raise ShardError(
                f"{name} has {len(shards)} shards but {first_name} has {first_count}; every "
                "data argument needs the same shards, row for row."
            )
        known = first_chunks is not None and chunks is not None
        if known and not np.array_equal(chunks, first_chunks, equal_nan=True):
            raise ShardError(
                f"{name} is chunked {chunks} along axis 0 but {first_name} is chunked "
                f"{first_chunks}; rechunk one to match: {{0: other.chunks[0]}}."
            )


def _tree_sum(nodes: list[Any], names: tuple[str, ...], fan_in: int) -> Any:
    """Sum ``nodes`` in a tree: each task adds up to ``fan_in`` of them, level by level.

    Each level costs a scheduler round trip, so a wide fan-in is faster than pairs (Dask's
    own reductions do the same with ``split_every``); the levels run in parallel across
    workers once there are more than ``fan_in`` shards."""
    while len(nodes) > 1:
        groups = [nodes[i : i + fan_in] for i in range(0, len(nodes), fan_in)]
        nodes = [
            delayed(_combine, pure=True)(names, *group) if len(group) > 1 else group[0]
            for group in groups
        ]
    return nodes[0]


def _scheduler_client() -> Any:
    """The distributed Client that ``dask.compute`` would use now, or None."""
    from dask.base import get_scheduler

    scheduler = get_scheduler()
    owner = getattr(scheduler, "__self__", None)
    return owner if hasattr(owner, "scatter") else None


def _share(values: dict[int, Any], key: str) -> Any:
    """The broadcast arguments as one node of the graph, sent to every worker up front."""
    client = _scheduler_client()
    if client is None:  # threads in this process: the graph holds the object itself
        return delayed(values, name=f"tracegrad-shared-{key}", traverse=False)
    return client.scatter([values], broadcast=True, hash=False)[0]


# =============================================================================================
# The public functions


class DaskValueAndGrad:
    """``value_and_grad`` of a loss over Dask data; made by :func:`value_and_grad`."""

    def __init__(
        self,
        loss: Callable,
        argnums: int | Sequence[int],
        reduce: str,
        has_aux: bool,
        compile: str | None,
        fan_in: int,
    ) -> None:
        if reduce not in REDUCTIONS:
            raise ValueError(f"reduce is {reduce!r}; it must be 'mean' or 'sum'.")
        if not isinstance(fan_in, int) or fan_in < 2:
            raise ValueError(f"fan_in is {fan_in!r}; it must be an int >= 2.")
        self.fan_in = fan_in
        self.loss = loss
        self.argnums = argnums if isinstance(argnums, int) else tuple(argnums)
        self.reduce = reduce
        self.has_aux = has_aux
        self.compile = None if compile is None else config.check_policy(compile, "compile")
        self.key = f"{function_name(loss)}-{uuid.uuid4().hex}"
        self.last_step: StepStats | None = None
        self._calls = 0  # names each call's broadcast arguments in the graph

    def __call__(self, *args: Any) -> Any:
        argnums = normalize_argnums(self.argnums, len(args), f"grad({function_name(self.loss)})")
        plan = _plan(self.loss, args, argnums)
        task = _ShardTask(
            self.loss,
            self.argnums,
            self.has_aux,
            self.reduce,
            self.compile or config.read().compile,  # the caller's policy, not each worker's
            self.key,
            len(args),
            tuple(plan.data_positions),
            tuple(plan.names),
            tuple(plan.declared),
        )
        start = time.perf_counter()
        self._calls += 1
        shared = _share(plan.shared, f"{self.key}-{self._calls}")
        partials = [
            delayed(task, pure=False)(shared, index, rows, *shards)
            for index, (rows, *shards) in enumerate(
                zip(plan.declared_rows(), *plan.shards, strict=True)
            )
        ]
        (total,) = dask.compute(_tree_sum(partials, task.names, self.fan_in))
        wall = time.perf_counter() - start
        self.last_step = StepStats(total.rows, len(partials), total.seconds, wall)
        return self._finish(total)

    def _finish(self, total: _Partial) -> Any:
        value, grads = total.value, total.grads
        if self.reduce == "mean":
            value = value / total.rows
            grads = tree_map(lambda g: g / total.rows, grads)
        if self.has_aux:
            return (value, total.aux), grads
        return value, grads


def value_and_grad(
    loss: Callable,
    argnums: int | Sequence[int] = 0,
    reduce: str = "mean",
    has_aux: bool = False,
    compile: str | None = None,
    fan_in: int = 8,
) -> DaskValueAndGrad:
    """Return ``f(*args) -> (value, grads)`` for ``loss`` over data held by Dask.

    ``loss(params, *data)`` is a mean (``reduce="mean"``) or a sum (``reduce="sum"``) over the
    rows of its data, as ``tracegrad.value_and_grad`` would differentiate it in one process.
    The arguments named by ``argnums`` (the parameters, any pytree) are broadcast to every
    worker once per call.  Each data argument is a Dask array chunked along axis 0 only, or
    a list of shards (``dask.delayed`` objects); all data arguments have the same shards.
    Other arguments (ints, strings) are broadcast as they are.

    Each shard's value and gradient is computed on a worker; with ``"mean"`` they are
    weighted by the shard's rows, so uneven shards give the mean over all rows.  The partial
    results are added on the workers in a tree, each task adding up to ``fan_in`` of them.
    The result equals the single-process one to rounding.  With ``has_aux=True`` the result
    is ``((value, auxes), grads)`` where ``auxes`` lists each shard's aux in shard order.

    Runs on the distributed Client Dask would use (the default one), or on Dask's threaded
    scheduler without one.  ``compile`` is the workers' compile policy (default: this
    process's ``TRACEGRAD_COMPILE``).  After each call, ``f.last_step`` holds a
    :class:`StepStats`.  A shard of the wrong shape or dtype raises :class:`ShardError`
    naming it.
    """
    return DaskValueAndGrad(loss, argnums, reduce, has_aux, compile, fan_in)


def train_step(
    loss_and_grad: DaskValueAndGrad, optimizer: Optimizer
) -> Callable[..., tuple[PyTree, Any, Any]]:
    """Return ``step(params, state, *data) -> (params, state, value)``: one distributed
    gradient, then one optimiser update (in this process: the parameters are small)."""

    def step(params: PyTree, state: Any, *data: Any) -> tuple[PyTree, Any, Any]:
        value, grads = loss_and_grad(params, *data)
        if loss_and_grad.has_aux:
            value = value[0]
        updates, state = optimizer.update(grads, state, params)
        return apply_updates(params, updates), state, value

    return step


class Fit(NamedTuple):
    """What :func:`fit` returns: the last parameters and optimiser state, the loss of every
    step (at the parameters before its update), and each step's :class:`StepStats`."""

    params: PyTree
    state: Any
    losses: list[float]
    stats: list[StepStats]


def persist(data: Sequence[Any]) -> list[Any]:
    """The data arguments computed once and kept in the workers' memory (or this process's
    without a Client), so steps reuse them instead of recomputing or resending them."""
    kept = []
    for x in data:
        if isinstance(x, da.Array):
            kept.append(x.persist())
        elif _is_shard_list(x):
            kept.append(list(dask.persist(*x)))
        else:
            kept.append(x)
    return kept


def fit(
    loss: Callable,
    params: PyTree,
    data: Sequence[Any],
    optimizer: Optimizer,
    steps: int,
    reduce: str = "mean",
    compile: str | None = None,
    on_step: Callable[[int, float, PyTree], None] | None = None,
) -> Fit:
    """Minimise ``loss(params, *data)`` by full-batch steps over Dask data.

    ``data`` is the sequence of data arguments (Dask arrays or lists of shards); they are
    persisted first.  Each step computes the gradient over all of them with
    :func:`value_and_grad` and applies ``optimizer`` (from :mod:`tracegrad.optim`).
    ``on_step(step, loss, params)`` is called after each step, e.g. to show progress.
    """
    loss_and_grad = value_and_grad(loss, 0, reduce, compile=compile)
    step = train_step(loss_and_grad, optimizer)
    data = persist(data)
    state = optimizer.init(params)
    losses, stats = [], []
    for n in range(steps):
        params, state, value = step(params, state, *data)
        losses.append(float(value))
        stats.append(loss_and_grad.last_step)
        if on_step is not None:
            on_step(n, float(value), params)
    return Fit(params, state, losses, stats)
