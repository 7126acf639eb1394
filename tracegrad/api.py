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
import importlib.util
import threading
import time
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
    TracegradError,
)
from .frontend.constructors import traced_constructors
from .frontend.dispatch import library_failure
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


def interpreter(program: Program) -> Callable[[Sequence[Any]], list[Any]]:
    """A runner of ``program`` on the reference interpreter (plain NumPy)."""

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


@functools.cache
def _numba_available() -> bool:
    # find_spec locates Numba without importing it (the import alone costs 0.2-0.5 s).
    return importlib.util.find_spec("numba") is not None


class Executable:
    """A Program plus the fastest available way to run it on concrete arrays.

    ``compile`` is the policy (``background``, ``sync``, ``never``; None: the environment's,
    read when the runner is built).  Under ``background`` the runner starts as the
    interpreter and ``tier`` (a ``backend.tiers.Tier``) compiles the program in a thread;
    when it is done, ``runner()`` returns the compiled runner and every function given to
    ``on_compiled`` receives it.
    """

    def __init__(self, program: Program, compile: str | None = None, name: str = "") -> None:
        self.program = program
        self.compile = None if compile is None else config.check_policy(compile, "compile")
        self.name = name or "a program"
        self.tier: Any = None  # a backend.tiers.Tier while the program may yet be compiled
        self._run: Callable[[Sequence[Any]], list[Any]] | None = None
        self._swapped = False
        self._listeners: list[Callable[[Callable], None]] = []
        self._lock = threading.Lock()

    def __call__(self, args: Sequence[Any]) -> list[Any]:
        return self.runner()(args)

    def runner(self) -> Callable[[Sequence[Any]], list[Any]]:
        """The function running this program on concrete arrays (built on first use)."""
        run = self._run
        if run is None:
            with self._lock:
                run = self._run
                if run is None:
                    run = self._run = self._build()
        return run

    def on_compiled(self, listener: Callable[[Callable], None]) -> None:
        """Call ``listener(compiled_runner)`` when the background compile is done (now if
        it is done already; never if it fails)."""
        with self._lock:
            if not self._swapped:
                self._listeners.append(listener)
                return
            run = self._run
        listener(run)

    def _compiled(self, run: Callable[[Sequence[Any]], list[Any]]) -> None:
        # In the compile thread.  Listeners run outside the lock: they take other locks.
        with self._lock:
            self._run = run
            self._swapped = True
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(run)

    @functools.cached_property
    def lowered(self) -> Program:
        """The program as executed: without differentiation-only markers."""
        return lower(self.program)

    def _build(self) -> Callable[[Sequence[Any]], list[Any]]:
        settings = config.read()
        policy = self.compile or settings.compile
        if settings.backend != "numba" or policy == "never" or not _numba_available():
            return interpreter(self.lowered)
        if policy == "sync":
            try:
                from .backend.compiler import compile_program
            except ImportError:  # the Numba backend is unavailable; fall back to NumPy
                return interpreter(self.lowered)
            return compile_program(self.lowered, settings)
        from .backend.tiers import Tier

        self.tier = Tier(self.lowered, settings, self.name, self._compiled)
        return self.tier.wrap(interpreter(self.lowered))

    def source(self) -> str:
        """The generated Numba source of this program."""
        from .backend.codegen import generate_source

        settings = config.read()
        return generate_source(
            self.lowered, vector_math=settings.vector_math, threads=settings.threads
        )


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
    f: Callable,
    signature: Signature,
    has_aux: bool = False,
    scalar_output: bool = False,
    holomorphic: bool = False,
) -> Traced:
    trees: dict[str, TreeDef] = {}

    def flat_fn(*tracers: Tracer) -> list[Any]:
        try:
            result = f(*signature.rebuild(tracers))
        except TracegradError:
            raise
        except Exception as e:
            failure = library_failure(e)
            if failure is None:
                raise
            raise failure from e
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
            _check_scalar_output(f, result, holomorphic)
        out_leaves, trees["out"] = tree_flatten(result)
        return out_leaves + aux_leaves

    with traced_constructors(), warn_if_random_drawn(f):
        hints = leaf_hints(f, signature)
        program, captured = trace_flat(flat_fn, signature.avals, box, hints)
    return Traced(optimize(program), captured, trees["out"], trees.get("aux"))


def _check_scalar_output(f: Callable, out: Any, holomorphic: bool = False) -> None:
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
    if dtype.kind == "c" and not holomorphic:
        raise DTypeError(
            f"grad needs {function_name(f)} to return a real float, but it returned {dtype}: "
            "the gradient of a complex output is not defined. Differentiate a real quantity "
            "of it (np.real, np.imag, np.abs(z) ** 2), use tracegrad.vjp, or, for a "
            "holomorphic function of complex inputs, grad(..., holomorphic=True)."
        )
    if dtype.kind not in "fc":
        raise DTypeError(
            f"grad needs {function_name(f)} to return a float, but it returned {dtype}. "
            "Is the output computed only from integer data? Cast the inputs to float."
        )


# =============================================================================================
# The shared call path


Entry = Callable[[list[Any]], Any]


class _Staged:
    """A transformed function: caches one entry per argument signature."""

    def __init__(self, f: Callable, compile: str | None = None) -> None:
        if not callable(f):
            raise NotCallableError(
                f"expected a function to transform, got {type(f).__name__} {f!r:.60}. Pass the "
                "function itself, e.g. tg.grad(loss)(params), not its result."
            )
        self.f = f
        self.compile = None if compile is None else config.check_policy(compile, "compile")
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
        return type(self)(f, self.compile)

    def _executable(self, program: Program, signature: Signature, what: str) -> Executable:
        avals = ", ".join(map(str, signature.avals))
        return Executable(program, self.compile, f"{what}({function_name(self.f)}) for ({avals})")

    def _all_executables(self) -> list[Executable]:
        found = list(self.executables.values())
        for staged in list(self._keyword_forms.values()):
            found += staged._all_executables()
        return found

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

        flat = treedef.num_leaves == len(args) and treedef.children == (LEAF,) * len(args)
        swapped = _byte_swapped(leaves)

        def install(run: Callable) -> Entry:
            # A closure with nothing left to check, put where the per-call path looks.  Called
            # again, from the compile thread, with the compiled runner when a background
            # compile finishes: one dict store each, so calls racing it see either entry.
            if all_traced:

                def entry(leaves: list) -> Any:
                    return finish(run(leaves))

            else:

                def entry(leaves: list) -> Any:
                    return finish(run(select(leaves)))

            entry = _in_native_byte_order(entry, swapped)
            if key is not None:
                self.cache[key] = entry
                if flat:
                    self.flat_cache[key[1:]] = entry
            return entry

        def first_call(leaves: list) -> Any:
            # Build on first use (compile, or the interpreter while a compile is pending).
            entry = install(executable.runner())
            if executable.tier is not None:
                executable.on_compiled(install)
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
        self,
        f: Callable,
        argnums: int | Sequence[int],
        has_aux: bool,
        value: bool = True,
        compile: str | None = None,
        holomorphic: bool = False,
    ) -> None:
        super().__init__(f, compile)
        self.argnums = argnums
        self.has_aux = has_aux
        self.with_value = value
        self.holomorphic = holomorphic

    def _rebind(self, f: Callable, nargs: int) -> _Staged:
        # Resolve negative argnums against the positional arguments, not the keyword dict.
        nums = normalize_argnums(self.argnums, nargs, f"grad({function_name(self.f)})")
        argnums = nums[0] if isinstance(self.argnums, int) else nums
        return _ValueAndGrad(
            f, argnums, self.has_aux, self.with_value, self.compile, self.holomorphic
        )

    def _build(
        self, args: tuple, signature: Signature
    ) -> tuple[Executable, list[Tracer], Callable[[list], Any]]:
        name = f"grad({function_name(self.f)})"
        argnums = normalize_argnums(self.argnums, len(args), name)
        check_differentiable(args, argnums, name, complex_only=self.holomorphic)
        found = trace_user_function(
            self.f, signature, self.has_aux, scalar_output=True, holomorphic=self.holomorphic
        )
        owner = [i for i, a in enumerate(args) for _ in range(len(tree_flatten(a)[0]))]
        traced_owner = [owner[p] for p in signature.traced_positions]
        # Gradients come back in argnums order, which need not be the argument order.
        wrt = tuple(j for n in argnums for j, arg in enumerate(traced_owner) if arg == n)
        joint = adjoint.joint_program(found.program, wrt, box)
        executable = self._executable(
            joint, signature, "value_and_grad" if self.with_value else "grad"
        )
        return executable, found.captured, self._finisher(args, argnums, found, len(wrt))

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
    f: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    compile: str | None = None,
    holomorphic: bool = False,
) -> Callable[..., Any]:
    """Return a function computing ``f(*args)`` and its gradient w.r.t. ``args[argnums]``.

    ``f`` must return a float scalar (or ``(scalar, aux)`` with ``has_aux=True``, and
    then the result is ``((value, aux), grads)``).  The gradient has the structure,
    shapes and dtypes of the differentiated arguments; a tuple ``argnums`` gives a
    tuple of gradients.  For complex arguments it is ``df/dx - i df/dy`` (JAX's
    convention); ``holomorphic=True`` lets a holomorphic ``f`` of complex arguments return
    a complex scalar, and the gradient is then its complex derivative ``f'(z)``.

    ``compile`` chooses when the program is compiled (default: ``TRACEGRAD_COMPILE``, itself
    ``"background"`` by default): ``"background"`` answers on the interpreter at once and
    compiles in a thread from the second call on, ``"sync"`` compiles before the first
    answer, ``"never"`` always interprets.  See :func:`block_until_compiled`.
    """
    return _ValueAndGrad(f, argnums, has_aux, compile=compile, holomorphic=holomorphic)


def grad(
    f: Callable,
    argnums: int | Sequence[int] = 0,
    has_aux: bool = False,
    compile: str | None = None,
    holomorphic: bool = False,
) -> Callable:
    """Return a function computing the gradient of the scalar function ``f``.

    With ``has_aux=True`` the result is ``(grads, aux)``.  ``compile`` and ``holomorphic``
    as for :func:`value_and_grad`.
    """
    return _ValueAndGrad(f, argnums, has_aux, value=False, compile=compile, holomorphic=holomorphic)


# =============================================================================================
# jit and make_ir


class _Jit(_Staged):
    def _build(
        self, args: tuple, signature: Signature
    ) -> tuple[Executable, list[Tracer], Callable[[list], Any]]:
        found = trace_user_function(self.f, signature)
        executable = self._executable(found.program, signature, "jit")
        out_tree = found.out_tree
        if out_tree.is_leaf:  # one array or scalar: nothing to rebuild on the per-call path
            return executable, found.captured, lambda outs: scalar_if_0d(outs[0])

        def finish(outs: list) -> Any:
            return tree_unflatten(out_tree, [scalar_if_0d(o) for o in outs])

        return executable, found.captured, finish


def jit(f: Callable, compile: str | None = None) -> Callable:
    """Compile ``f`` for each new input signature and run the compiled code.

    Python ints, bools and strings among the arguments are static: each new value
    compiles a new version.  Floats and arrays are traced.  ``compile`` as for
    :func:`value_and_grad`.
    """
    return _Jit(f, compile)


def block_until_compiled(f: Callable | None = None, timeout: float | None = None) -> Any:
    """Wait until ``f`` (a function from ``jit``, ``grad`` or ``value_and_grad``) runs compiled
    code for every signature it has been called with; returns ``f``.

    Under the background policy a signature is compiled from its second call on; this starts
    the compile of signatures called only once, so timing after it measures compiled code.
    With no ``f``, waits for every background compile running in the process.  A compile that
    failed is reported by a RuntimeWarning and leaves the interpreter running; with a
    ``timeout`` (seconds) that passes first, a TimeoutError is raised.
    """
    from .backend import tiers

    # vmap and the Jacobian transforms run through a jit they carry as this attribute.
    staged = getattr(f, "tracegrad_staged", f)
    if f is None:
        pending = tiers.pending()
    elif isinstance(staged, _Staged):
        pending = [e.tier for e in staged._all_executables() if e.tier is not None]
    else:
        raise TypeError(
            f"block_until_compiled takes a function made by tracegrad.jit, grad or "
            f"value_and_grad, not {type(f).__name__}."
        )
    deadline = None if timeout is None else time.monotonic() + timeout
    for tier in pending:
        if not tier.wait(deadline):
            raise TimeoutError(f"{tier.name} was still compiling after {timeout} s")
    return f


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


def _byte_swapped(leaves: list) -> list[int]:
    return [i for i, x in enumerate(leaves) if isinstance(x, np.ndarray) and not x.dtype.isnative]


def _in_native_byte_order(entry: Entry, positions: list[int]) -> Entry:
    """``entry`` given the leaves at ``positions`` converted to native byte order. Compiled
    kernels must never see a byte-swapped array: Numba's dispatcher caches argument types
    by dtype number, and once warm it can take a big-endian array for a native one and read
    its bytes as they lie (seen after Dask had run in the process)."""
    if not positions:
        return entry

    def native_entry(leaves: list) -> Any:
        leaves = list(leaves)
        for i in positions:
            leaves[i] = leaves[i].astype(leaves[i].dtype.newbyteorder("="))
        return entry(leaves)

    return native_entry
