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
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    """One reading of tracegrad's environment variables."""

    backend: str
    cache_dir: str
    disk_cache: bool
    vector_math: bool
    compile: str = "background"


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


def read() -> Settings:
    """The settings as the environment holds them now."""
    env = os.environ
    default_dir = os.path.join(os.path.expanduser("~"), ".cache", "tracegrad")
    return Settings(
        backend=env.get("TRACEGRAD_BACKEND", "numba"),
        cache_dir=env.get("TRACEGRAD_CACHE_DIR") or default_dir,
        disk_cache=not _off(env.get("TRACEGRAD_DISABLE_DISK_CACHE")),
        vector_math=env.get("TRACEGRAD_VECTOR_MATH", "1") != "0",
        compile=check_policy(
            env.get("TRACEGRAD_COMPILE", "").strip().lower() or "background", "TRACEGRAD_COMPILE"
        ),
    )
