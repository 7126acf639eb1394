"""Public transformations: grad, value_and_grad, jit, make_ir, show_source.

Each transformation flattens its arguments into leaves, looks up (or builds)
an entry for their signature, and runs it.  Called with concrete arrays an
entry runs compiled code (or the reference interpreter); called with Tracers,
from inside another transformation, it replays its Program on them so that the
outer trace records it (this is what makes grad of grad work).

The per-call path (``_Staged.__call__``) is kept short: one flatten, one
tuple key, one dict lookup, then a closure built for that signature.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import config
from .core import adjoint
from .core.interpret import eval_program
from .core.ir import Literal, Program
from .core.passes import lower, optimize
from .core.tracing import Tracer, trace_flat
from .errors import (
    DTypeError,
    NonScalarOutputError,
    NotCallableError,
    OutputStructureError,
)
from .frontend.constructors import traced_constructors
from .frontend.randomness import warn_if_random_drawn
from .frontend.tracer import box
from .signature import (
    Signature,
    check_differentiable,
    function_name,
    leaf_hints,
    leaf_key,
    normalize_argnums,
    restorer,
    scalar_if_0d,
)
from .tree import (
    LEAF,
    TreeDef,
    tree_flatten,
    tree_unflatten,
)

# =============================================================================================
# Running a program


class Executable:
    """A Program plus the fastest available way to run it on concrete arrays."""

    def __init__(self, program: Program) -> None:
        self.program = program
        self._run: Callable[[Sequence[Any]], list[Any]] | None = None

    def __call__(self, args: Sequence[Any]) -> list[Any]:
        return self.runner()(args)

    def runner(self) -> Callable[[Sequence[Any]], list[Any]]:
        """The function running this program on concrete arrays (built on first use)."""
        run = self._run
        if run is None:
            run = self._run = self._build()
        return run

    @functools.cached_property
    def lowered(self) -> Program:
        """The program as executed: without differentiation-only markers."""
        return lower(self.program)

    def _build(self) -> Callable[[Sequence[Any]], list[Any]]:
        settings = config.read()
        if settings.backend == "numba":
            try:
                from .backend.compiler import compile_program
            except ImportError:  # the Numba backend is unavailable; fall back to NumPy
                pass
            else:
                return compile_program(self.lowered, settings)
        program = self.lowered

        def interpret(args: Sequence[Any]) -> list[Any]:
            # Like compiled code: outputs are fresh, writable arrays, never inputs, constants
            # (zero gradients are broadcast literals), views of them, or one another.
            arrays = [np.asarray(a) for a in args]
            seen = {id(a) for a in arrays}
            outs = []
            for atom, out in zip(program.outputs, eval_program(program, arrays), strict=True):
                if isinstance(out, np.ndarray) and (
                    id(out) in seen
                    or isinstance(atom, Literal)
                    or out.base is not None
                    or not out.flags.writeable
                ):
                    out = np.array(out)
                seen.add(id(out))
                outs.append(out)
            return outs

        return interpret

    def source(self) -> str:
        """The generated Numba source of this program."""
        from .backend.codegen import generate_source

        return generate_source(self.lowered, vector_math=config.read().vector_math)


# =============================================================================================
# Tracing a user function


@dataclass
class Traced:
    """The result of tracing a user function for one signature."""

    program: Program
    captured: list[Tracer]  # enclosing-trace values the function closed over
    out_tree: TreeDef
    aux_tree: TreeDef | None = None


def trace_user_function(
    f: Callable, signature: Signature, has_aux: bool = False, scalar_output: bool = False
) -> Traced:
    trees: dict[str, TreeDef] = {}

    def flat_fn(*tracers: Tracer) -> list[Any]:
        result = f(*signature.rebuild(tracers))
        if has_aux:
            if not (isinstance(result, tuple) and len(result) == 2):
                raise OutputStructureError(
                    f"{function_name(f)} was used with has_aux=True, so it must return a pair "
                    f"(output, aux); it returned {type(result).__name__}."
                )
            result, aux = result
            aux_leaves, trees["aux"] = tree_flatten(aux)
        else:
            aux_leaves = []
        if scalar_output:
            _check_scalar_output(f, result)
        out_leaves, trees["out"] = tree_flatten(result)
        return out_leaves + aux_leaves

    with traced_constructors(), warn_if_random_drawn(f):
        hints = leaf_hints(f, signature)
        program, captured = trace_flat(flat_fn, signature.avals, box, hints)
    return Traced(optimize(program), captured, trees["out"], trees.get("aux"))


def _check_scalar_output(f: Callable, out: Any) -> None:
    if isinstance(out, tuple | list | dict):
        raise NonScalarOutputError(
            f"grad needs {function_name(f)} to return one scalar, but it returned a "
            f"{type(out).__name__}. Return the loss alone, or use has_aux=True to return "
            "(loss, extra)."
        )
    shape = out.shape if isinstance(out, Tracer) else np.shape(out)
    if shape != ():
        raise NonScalarOutputError(
            f"grad needs {function_name(f)} to return a scalar, but it returned an array of "
            f"shape {shape}. Reduce it (np.sum, np.mean), or use tracegrad.vjp for "
            "non-scalar outputs."
        )
    dtype = out.dtype if isinstance(out, Tracer) else np.asarray(out).dtype
    if dtype.kind != "f":
        raise DTypeError(
            f"grad needs {function_name(f)} to return a float, but it returned {dtype}. "
            "Is the output computed only from integer data? Cast the inputs to float."
        )


# =============================================================================================
# The shared call path


Entry = Callable[[list[Any]], Any]


class _Staged:
    """A transformed function: caches one entry per argument signature."""

    def __init__(self, f: Callable) -> None:
        if not callable(f):
            raise NotCallableError(
                f"expected a function to transform, got {type(f).__name__} {f!r:.60}. Pass the "
                "function itself, e.g. tg.grad(loss)(params), not its result."
            )
        self.f = f
        self.cache: dict[tuple, Entry] = {}  # (treedef uid, *leaf keys) -> entry
        self.flat_cache: dict[tuple, Entry] = {}  # (*leaf keys) -> entry, all args leaves
        self.executables: dict[tuple, Executable] = {}
        # Threads that miss the cache together build the entry once.
        self._lock = threading.RLock()
        self._keyword_forms: dict[int, _Staged] = {}  # number of positional args -> staged
        functools.update_wrapper(self, f, updated=())

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            return self._call_with_keywords(args, kwargs)
        # Fast path: every argument is itself a leaf (a float, an array, ...), so the
        # arguments are the leaves and no flattening is needed.  A container argument
        # (see leaf_key) misses, and so does an unhashable static one (TypeError).
        try:
            if len(args) == 1:  # one argument (a loss of one array): no map, ~0.1 us less
                entry = self.flat_cache.get((leaf_key(args[0]),))
            else:
                entry = self.flat_cache.get(tuple(map(leaf_key, args)))
        except TypeError:
            entry = None
        if entry is not None:
            return entry(args)
        leaves, treedef = tree_flatten(args)
        try:
            key = (treedef.uid, *map(leaf_key, leaves))
            entry = self.cache.get(key)
        except TypeError:  # an unhashable static leaf: Signature.of explains
            key, entry = None, None
        if entry is None:
            with self._lock:
                entry = self.cache.get(key) if key is not None else None
                if entry is None:
                    entry = self._make_entry(args, leaves, treedef, key)
        return entry(leaves)

    def _call_with_keywords(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        """Keyword arguments are passed through, as JAX does: traced like positional
        arguments (static when they are Python ints, strings, ...) but never differentiated.
        They travel as one trailing dict argument of a wrapped function."""
        nargs = len(args)
        staged = self._keyword_forms.get(nargs)
        if staged is None:
            f = self.f

            @functools.wraps(f)
            def with_keywords(*args_then_kwargs: Any) -> Any:
                return f(*args_then_kwargs[:-1], **args_then_kwargs[-1])

            staged = self._keyword_forms[nargs] = self._rebind(with_keywords, nargs)
        return staged(*args, kwargs)

    def _rebind(self, f: Callable, nargs: int) -> _Staged:
        """The same transformation of ``f``, whose first ``nargs`` arguments are positional."""
        return type(self)(f)

    def lower(self, *args: Any) -> Executable:
        """The Executable (Program and compiled code) used for these arguments."""
        leaves, treedef = tree_flatten(args)
        key = (treedef.uid, *map(leaf_key, leaves))
        if key not in self.executables:
            self._make_entry(args, leaves, treedef, key)
        return self.executables[key]

    def _make_entry(self, args: tuple, leaves: list, treedef: TreeDef, key: Any) -> Entry:
        signature = Signature.of(leaves, treedef, function_name(self.f))
        executable, captured, finish = self._build(args, signature)
        select = signature.select
        if captured or any(isinstance(x, Tracer) for x in leaves):
            program = executable.program

            def entry(leaves: list) -> Any:
                return finish(eval_program(program, select(leaves) + captured))

            return entry
        all_traced = signature.traced_positions == tuple(range(len(leaves)))

        def first_call(leaves: list) -> Any:
            # Build (compile) on first use, then install a closure with nothing left to check.
            run = executable.runner()
            if all_traced:

                def entry(leaves: list) -> Any:
                    return finish(run(leaves))

            else:

                def entry(leaves: list) -> Any:
                    return finish(run(select(leaves)))

            if key is not None:
                self.cache[key] = entry
                if treedef.num_leaves == len(args) and treedef.children == (LEAF,) * len(args):
                    self.flat_cache[key[1:]] = entry
            return entry(leaves)

        if key is not None:
            self.cache[key] = first_call
            self.executables[key] = executable
        return first_call

    def _build(
        self, args: tuple, signature: Signature
    ) -> tuple[Executable, list[Tracer], Callable[[list], Any]]:
        raise NotImplementedError


# =============================================================================================
# value_and_grad / grad


class _ValueAndGrad(_Staged):
    def __init__(
        self, f: Callable, argnums: int | Sequence[int], has_aux: bool, value: bool = True
    ) -> None:
        super().__init__(f)
        self.argnums = argnums
        self.has_aux = has_aux
        self.with_value = value

    def _rebind(self, f: Callable, nargs: int) -> _Staged:
        # Resolve negative argnums against the positional arguments, not the keyword dict.
        nums = normalize_argnums(self.argnums, nargs, f"grad({function_name(self.f)})")
        argnums = nums[0] if isinstance(self.argnums, int) else nums
        return _ValueAndGrad(f, argnums, self.has_aux, self.with_value)

    def _build(
        self, args: tuple, signature: Signature
    ) -> tuple[Executable, list[Tracer], Callable[[list], Any]]:
        name = f"grad({function_name(self.f)})"
        argnums = normalize_argnums(self.argnums, len(args), name)
        check_differentiable(args, argnums, name)
        found = trace_user_function(self.f, signature, self.has_aux, scalar_output=True)
        owner = [i for i, a in enumerate(args) for _ in range(len(tree_flatten(a)[0]))]
        traced_owner = [owner[p] for p in signature.traced_positions]
        # Gradients come back in argnums order, which need not be the argument order.
        wrt = tuple(j for n in argnums for j, arg in enumerate(traced_owner) if arg == n)
        joint = adjoint.joint_program(found.program, wrt, box)
        return Executable(joint), found.captured, self._finisher(args, argnums, found, len(wrt))

    def _finisher(
        self, args: tuple, argnums: tuple[int, ...], found: Traced, n_grads: int
    ) -> Callable[[list], Any]:
        n_aux = found.aux_tree.num_leaves if found.aux_tree is not None else 0
        grad_start = 1 + n_aux
        restorers, treedefs = [], []
        for n in argnums:
            arg_leaves, arg_tree = tree_flatten(args[n])
            restorers.append([restorer(x) for x in arg_leaves])
            treedefs.append(arg_tree)
        single = isinstance(self.argnums, int)
        has_aux, with_value, aux_tree = self.has_aux, self.with_value, found.aux_tree
        if single and not has_aux and treedefs[0].is_leaf:
            # The common case, one array or float argument: no trees to rebuild.
            restore = restorers[0][0]
            if with_value:
                return lambda outs: (scalar_if_0d(outs[0]), restore(outs[1]))
            return lambda outs: restore(outs[1])

        def finish(outs: list) -> Any:
            grads = []
            at = grad_start
            for fix, tree in zip(restorers, treedefs, strict=True):
                grads.append(tree_unflatten(tree, [r(outs[at + k]) for k, r in enumerate(fix)]))
                at += len(fix)
            g = grads[0] if single else tuple(grads)
            value = scalar_if_0d(outs[0])
            if has_aux:
                aux = tree_unflatten(aux_tree, [scalar_if_0d(a) for a in outs[1:grad_start]])
                return ((value, aux), g) if with_value else (g, aux)
            return (value, g) if with_value else g

        return finish


def value_and_grad(
    f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False
) -> Callable[..., Any]:
    """Return a function computing ``f(*args)`` and its gradient w.r.t. ``args[argnums]``.

    ``f`` must return a float scalar (or ``(scalar, aux)`` with ``has_aux=True``, and
    then the result is ``((value, aux), grads)``).  The gradient has the structure,
    shapes and dtypes of the differentiated arguments; a tuple ``argnums`` gives a
    tuple of gradients.
    """
    return _ValueAndGrad(f, argnums, has_aux)


def grad(f: Callable, argnums: int | Sequence[int] = 0, has_aux: bool = False) -> Callable:
    """Return a function computing the gradient of the scalar function ``f``.

    With ``has_aux=True`` the result is ``(grads, aux)``.
    """
    return _ValueAndGrad(f, argnums, has_aux, value=False)


# =============================================================================================
# jit and make_ir


class _Jit(_Staged):
    def _build(
        self, args: tuple, signature: Signature
    ) -> tuple[Executable, list[Tracer], Callable[[list], Any]]:
        found = trace_user_function(self.f, signature)
        out_tree = found.out_tree
        if out_tree.is_leaf:  # one array or scalar: nothing to rebuild on the per-call path
            return Executable(found.program), found.captured, lambda outs: scalar_if_0d(outs[0])

        def finish(outs: list) -> Any:
            return tree_unflatten(out_tree, [scalar_if_0d(o) for o in outs])

        return Executable(found.program), found.captured, finish


def jit(f: Callable) -> Callable:
    """Compile ``f`` for each new input signature and run the compiled code.

    Python ints, bools and strings among the arguments are static: each new value
    compiles a new version.  Floats and arrays are traced.
    """
    return _Jit(f)


def make_ir(f: Callable) -> Callable[..., Program]:
    """Return a function that traces ``f`` on the given arguments and returns its Program."""

    @functools.wraps(f)
    def ir_of(*args: Any) -> Program:
        leaves, treedef = tree_flatten(args)
        signature = Signature.of(leaves, treedef, function_name(f))
        return trace_user_function(f, signature).program

    return ir_of


def show_source(f: Callable) -> Callable[..., str]:
    """Return a function that gives the generated Numba source ``f`` runs for its arguments.

    For ``grad(g)`` or ``value_and_grad(g)`` this is the joint forward+backward program.
    """

    def source_of(*args: Any) -> str:
        staged = f if isinstance(f, _Staged) else jit(f)
        return staged.lower(*args).source()

    return source_of
