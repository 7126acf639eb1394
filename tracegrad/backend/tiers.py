"""Tiered execution: answer on the interpreter now, compile in the background, swap when ready.

A program run under the ``background`` policy starts on the reference interpreter (plain
NumPy, no Numba import).  Its second call starts a compile in a daemon thread; when the
kernel is ready the thread hands the compiled runner to its owner (``api.Executable``), which
swaps it into every cache that held the interpreted one, so later calls pay exactly what a
synchronously compiled function pays.  docs/backend.md ("Tiered execution") has the
measurements behind the choices: a thread rather than a worker process, and the second call
rather than the first as the trigger.

Faults: a compile that raises leaves the interpreter answering for good; the caller's thread
is warned once (on its next call or in ``wait``), and a program whose compile failed is not
compiled again in this process, whichever function asks.  Threads are daemons, so a pending
compile never holds up exit; Numba writes its cache files atomically and tracegrad's own
files carry a checksum line, so a compile cut short leaves nothing a later process trusts.
"""

from __future__ import annotations

import threading
import time
import warnings
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from ..config import Settings
from ..core.ir import Program

# A signature called once (a one-off evaluation, a property test drawing a new shape for each
# example) never earns back a compile of 0.3-4 s; one called twice is most likely inside a
# loop.  Starting on the second call also keeps Numba's import off the first call entirely.
START_AFTER_CALLS = 2

# Measured in docs/backend.md: a busy loop of interpreted calls otherwise takes half the GIL
# and doubles the time until the compiled kernel takes over.
YIELD_WHILE_COMPILING = True

Runner = Callable[[Sequence[Any]], list[Any]]

# Structural keys of programs whose compile raised: never tried again in this process.
_failed: dict[str, BaseException] = {}
_pending: weakref.WeakSet[Tier] = weakref.WeakSet()
_registry_lock = threading.Lock()


class Tier:
    """One program's way from the interpreter to its compiled kernel."""

    def __init__(
        self, program: Program, settings: Settings, name: str, install: Callable[[Runner], None]
    ) -> None:
        self.program = program
        self.settings = settings
        self.name = name
        self.install = install  # receives the compiled runner, in the compile thread
        self.calls = 0
        self.started = False
        self.done = threading.Event()
        self.error: BaseException | None = None
        self.reported = False
        self.seconds = 0.0  # wall time of the background compile
        self._lock = threading.Lock()

    def wrap(self, interpret: Runner) -> Runner:
        """The interpreted runner, counting calls to decide when to start compiling."""

        def run(args: Sequence[Any]) -> list[Any]:
            # Unlocked read-modify-write: racing threads may lose a count, which only moves
            # the start by a call (hence >=, not ==); start() itself runs once.
            self.calls += 1
            if self.calls >= START_AFTER_CALLS and not self.started:
                self.start()
            elif self.error is not None and not self.reported:
                self.report()
            elif YIELD_WHILE_COMPILING and self.started and not self.done.is_set():
                # Hand the GIL to the compile thread for one switch interval (5 ms): a
                # compiled call is 50-100x cheaper than an interpreted one, so a loop gets
                # further by waiting for the kernel than by competing with its compile.
                time.sleep(0)
            return interpret(args)

        return run

    def start(self) -> None:
        """Start the background compile (once)."""
        with self._lock:
            if self.started:
                return
            self.started = True
        with _registry_lock:
            _pending.add(self)
        thread = threading.Thread(
            target=self._compile, name=f"tracegrad compile {self.name}", daemon=True
        )
        thread.start()

    def _compile(self) -> None:
        start = time.perf_counter()
        try:
            # Imported here, in the compile thread: the caller's thread never imports Numba.
            from .compiler import compile_program, memory_key

            key = memory_key(self.program, self.settings)
            known = _failed.get(str(key))
            if known is not None:
                self.reported = True  # warned already, for the function that failed first
                self.error = known
                return
            try:
                run = compile_program(self.program, self.settings)
            except Exception as e:
                _failed[str(key)] = e
                raise
            self.install(run)
        except Exception as e:
            self.error = e
        finally:
            self.seconds = time.perf_counter() - start
            self.done.set()
            with _registry_lock:
                _pending.discard(self)

    def report(self) -> None:
        """Warn (once) that this program stays interpreted, and why."""
        with self._lock:
            if self.reported:
                return
            self.reported = True
        warnings.warn(
            f"tracegrad: compiling {self.name} in the background failed "
            f"({type(self.error).__name__}: {self.error}); it keeps running on the "
            "interpreter (same results, slower). Set TRACEGRAD_COMPILE=sync, or pass "
            "compile='sync', to see the error where it happens.",
            RuntimeWarning,
            stacklevel=5,  # report, run, entry, _Staged.__call__, the user's call
        )

    def wait(self, deadline: float | None) -> bool:
        """Start compiling if called already, then wait; False if ``deadline`` passed first."""
        if not self.started:
            if self.calls == 0:
                return True  # never run: there is nothing to compile for
            self.start()
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        finished = self.done.wait(timeout)
        if finished and self.error is not None and not self.reported:
            self.report()
        return finished


def pending() -> list[Tier]:
    """The compiles running now, in every function."""
    with _registry_lock:
        return list(_pending)
