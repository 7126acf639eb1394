"""Settings from environment variables: the one module that reads them.

``read()`` takes a snapshot of all of them. Callers take one snapshot per unit of work (a
program built, compiled or generated) and pass its fields down, so nothing reads the
environment per expression, and a variable changed at run time (tests do, with
``monkeypatch``) applies from the next program on.

* ``TRACEGRAD_BACKEND``: ``numba`` (default) compiles programs; ``interpret`` runs them on
  the reference interpreter.
* ``TRACEGRAD_CACHE_DIR``: where generated modules and Numba's cache files go (default
  ``~/.cache/tracegrad``).
* ``TRACEGRAD_DISABLE_DISK_CACHE=1``: compile into a private temporary directory instead.
* ``TRACEGRAD_VECTOR_MATH=0``: loops call libm's scalar functions, never
  ``tracegrad.backend.vecmath``'s kernels.
* ``TRACEGRAD_COMPILE``: when programs are compiled (a function's ``compile=`` argument
  overrides it). ``background`` (default): calls run on the interpreter at once, and a
  signature called again is compiled in a background thread that takes over when ready;
  ``sync``: the first call compiles and waits; ``never``: always interpret.
* ``TRACEGRAD_THREADS``: how many threads large loop nests are split across (blocks of the
  outermost loop under ``numba.prange``); 1 gives serial code. Unset, it follows
  ``NUMBA_NUM_THREADS``, then ``OMP_NUM_THREADS``, and is 1 when neither is set. Set,
  it also lets the BLAS thread pool of matrix products use that many (through threadpoolctl).
* ``TRACEGRAD_TUNE_MALLOC=0``: leave glibc's malloc thresholds alone (by default, the first
  program compiled fixes them so that kernels reuse the memory of their temporaries; see
  ``tracegrad.backend.heap``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """One reading of tracegrad's environment variables."""

    backend: str
    cache_dir: str
    disk_cache: bool
    vector_math: bool
    compile: str = "background"
    threads: int = 1
    blas_threads: int | None = None  # the least BLAS pool size; None: leave the pool be
    tune_malloc: bool = True  # fix glibc's malloc thresholds (backend/heap.py)


COMPILE_POLICIES = ("background", "sync", "never")


def check_policy(value: str, source: str) -> str:
    """``value`` if it names a compile policy; a ValueError naming ``source`` otherwise."""
    if value not in COMPILE_POLICIES:
        raise ValueError(
            f"{source} is {value!r}; it must be one of {', '.join(map(repr, COMPILE_POLICIES))}."
        )
    return value


def _off(value: str | None) -> bool:
    return value is not None and value.strip() not in ("", "0")


def _thread_count(value: str, source: str) -> int:
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise ValueError(f"{source} is {value!r}; it must be a whole number of threads, >= 1.")
    return count


def _threads(env: Mapping[str, str]) -> tuple[int, int | None]:
    """The kernels' thread count, and the BLAS pool size to set (only if asked for).

    Unset, the count follows what the process was told elsewhere: Numba's own setting, then
    ``OMP_NUM_THREADS`` (which Dask and joblib set to 1 in their worker processes, so that
    workers sharing a machine do not oversubscribe it). Told nothing, kernels are serial:
    measured on two cores, parallel kernels won at most 1.4x, and a program that alternates
    them with multi-threaded matrix products (an MLP's gradient) ran 2.5x slower, its
    OpenMP and BLAS threads spinning against each other (docs/backend.md, "Multi-core").
    """
    for name in ("TRACEGRAD_THREADS", "NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        value = env.get(name, "").strip()
        if value:
            count = _thread_count(value, name)
            return count, count if name == "TRACEGRAD_THREADS" else None
    return 1, None


def read() -> Settings:
    """The settings as the environment holds them now."""
    env = os.environ
    threads, blas_threads = _threads(env)
    default_dir = os.path.join(os.path.expanduser("~"), ".cache", "tracegrad")
    return Settings(
        backend=env.get("TRACEGRAD_BACKEND", "numba"),
        cache_dir=env.get("TRACEGRAD_CACHE_DIR") or default_dir,
        disk_cache=not _off(env.get("TRACEGRAD_DISABLE_DISK_CACHE")),
        vector_math=env.get("TRACEGRAD_VECTOR_MATH", "1") != "0",
        compile=check_policy(
            env.get("TRACEGRAD_COMPILE", "").strip().lower() or "background", "TRACEGRAD_COMPILE"
        ),
        threads=threads,
        blas_threads=blas_threads,
        tune_malloc=env.get("TRACEGRAD_TUNE_MALLOC", "1").strip() != "0",
    )
