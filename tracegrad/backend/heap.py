"""glibc's malloc, set up for kernels that allocate the same large temporaries on every call.

A compiled kernel allocates its intermediate arrays when it runs and frees them when it
returns. glibc serves an allocation above its mmap threshold with a fresh ``mmap``, and gives
free memory at the top of its heap back to the system once it exceeds its trim threshold;
both thresholds start small and grow only with the largest block freed so far (to twice it,
for the trim threshold). A kernel whose temporaries add up to more than that hands them back
at every return and takes them again at the next call, and the system then zeroes every
page on first touch: 4,600 page faults a call for the MLP gradient at batch 4,096, 11 of its
25 ms on one thread, and half of its time at batch 16,384 (docs/performance.md).

``keep_freed_memory`` fixes the two thresholds once: blocks up to glibc's largest mmap
threshold (32 MiB) come from the heap, and up to ``TRIM_THRESHOLD`` of free memory stays
with the process for the next call. The memory kept is memory the process used at its peak
and will use again; arrays larger than 32 MiB are still mapped and unmapped one by one.

Process-wide, so it can be turned off: ``TRACEGRAD_TUNE_MALLOC=0``; and it is left alone
where the user tuned malloc (``MALLOC_*_`` variables, ``GLIBC_TUNABLES``), on other C
libraries (musl, macOS, Windows), and where the C library has no ``mallopt``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
import threading

# mallopt(3) parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# The largest mmap threshold glibc accepts on 64-bit systems (DEFAULT_MMAP_THRESHOLD_MAX),
# and free heap kept: beyond the temporaries of the MLP gradient at batch 16,384 (about
# 200 MB), whose calls took twice as long with 64 MiB.
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 256 << 20

_USER_SETTINGS = (
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)

_applied: bool | None = None  # None: not decided yet
_lock = threading.Lock()


def _user_tuned_malloc() -> bool:
    env = os.environ
    return any(name in env for name in _USER_SETTINGS) or "glibc.malloc" in env.get(
        "GLIBC_TUNABLES", ""
    )


def _mallopt() -> ctypes._CFuncPtr | None:
    """glibc's ``mallopt``, or None on another C library."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        function = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").mallopt
    except (OSError, AttributeError):
        return None
    function.argtypes = (ctypes.c_int, ctypes.c_int)
    function.restype = ctypes.c_int
    return function


def _apply() -> bool:
    mallopt = None if _user_tuned_malloc() else _mallopt()
    if mallopt is None:
        return False
    # Setting either threshold also ends glibc's own adjustment of both.
    mapped = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and mapped


def keep_freed_memory() -> bool:
    """Fix glibc's mmap and trim thresholds, once per process (see the module's docstring).
    Returns whether they are tracegrad's (False: left to the user or the C library)."""
    global _applied
    with _lock:
        if _applied is None:
            _applied = _apply()
        return _applied
