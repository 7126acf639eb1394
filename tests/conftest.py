"""Shared fixtures and Hypothesis settings."""

import contextlib
import os
from collections.abc import Callable, Iterator

import pytest
from hypothesis import settings

settings.register_profile("tracegrad", max_examples=20, deadline=None, derandomize=False)
# CI draws the same examples on every run, so a red run is reproducible from its log and
# never a roll of the dice; local runs keep exploring new examples.
settings.register_profile("ci", parent=settings.get_profile("tracegrad"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "tracegrad")


@contextlib.contextmanager
def _default_env(name: str, value: str | Callable[[], str]) -> Iterator[None]:
    """Set ``name`` for the duration, unless the environment already sets it."""
    if name in os.environ:
        yield
        return
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(name, value() if callable(value) else value)
        yield


@pytest.fixture(scope="module")
def interpret_backend():
    """Run a module on the reference interpreter (unless TRACEGRAD_BACKEND is set).

    Finite-difference tests build hundreds of distinct programs; compiling each one
    would dominate the run.  ``TRACEGRAD_BACKEND=numba pytest`` tests the compiler too.
    """
    with _default_env("TRACEGRAD_BACKEND", "interpret"):
        yield


@pytest.fixture(scope="session", autouse=True)
def _compile_cache_dir(tmp_path_factory):
    """One fresh cache directory for compiled code per test session (unless one is given)."""
    with _default_env("TRACEGRAD_CACHE_DIR", lambda: str(tmp_path_factory.mktemp("tg-cache"))):
        yield


@pytest.fixture(scope="session", autouse=True)
def _synchronous_compiles():
    """Compile synchronously (unless TRACEGRAD_COMPILE is set): many tests count compiles or
    read generated source right after a call.  Tests of tiered execution opt into the
    background policy with ``monkeypatch`` or a function's ``compile=`` argument."""
    with _default_env("TRACEGRAD_COMPILE", "sync"):
        yield


@pytest.fixture(scope="session", autouse=True)
def _serial_kernels():
    """Serial kernels (unless TRACEGRAD_THREADS is set): the suite's generated code and
    compile counts are those of one thread. tests/test_parallel.py asks for threads itself."""
    with _default_env("TRACEGRAD_THREADS", "1"):
        yield
