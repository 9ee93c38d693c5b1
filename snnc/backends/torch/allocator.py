"""Keep the memory a training step frees inside the process (glibc ``mallopt``), so the next step
reuses it instead of faulting fresh pages in.

Why. A training step allocates and frees the same large tensors every step (activations
``[T*B, C, H, W]``, tens to hundreds of MiB each). glibc serves every block above its mmap
threshold (adaptive, at most 32 MiB) with a fresh ``mmap`` and unmaps it on ``free``, so each step
touches those pages for the first time again: the kernel zero-fills them one 4 KiB page fault at a
time. Measured on the benchmark network (``bench/torch_train_throughput.py``, T = 4, one thread,
torch 2.13, glibc 2.36, a 2-core Xeon; ``resource.getrusage`` per step)::

    batch   default glibc                         kept (this module)
    32      ~80k faults, ~0.12 s system / step    0 faults, ~0.01 s;  peak RSS  908 -> 1028 MiB
    64      ~570k faults, ~0.9 s system / step    0 faults, ~0.01 s;  peak RSS 1213 -> 1693 MiB

(the user time per step is about the same, ~1.25 s and ~2.45 s; a step where the heap still
grows faults a few tens of thousands of pages in). The price is peak memory: the heap
keeps its largest extent, and freed blocks between live ones fragment it. What was measured and
dropped: ``M_MMAP_THRESHOLD`` at its maximum (32 MiB) with a large ``M_TRIM_THRESHOLD`` changes
nothing at batch 64 (the blocks are larger than 32 MiB); ``M_ARENA_MAX = 1`` changes nothing.

Settings: ``M_MMAP_MAX = 0`` (no block is served by ``mmap``: the heap serves them and keeps them)
and ``M_TRIM_THRESHOLD`` at its maximum (never hand the top of the heap back). Applied once, when
:mod:`snnc.backends.torch` is imported, on Linux with glibc only (elsewhere nothing happens); the
environment variable ``SNNC_MALLOC=default`` leaves glibc's defaults (for a process that must stay
small). Blocks already mapped keep their old behaviour until freed.
"""
from __future__ import annotations

import ctypes
import os
import platform
import sys

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

#: The environment variable that opts out (``default``) of :func:`keep_freed_memory` at import.
ENV = "SNNC_MALLOC"

_applied: bool | None = None


def _glibc():
    """The C library when it is glibc on Linux, else None."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") else None


def keep_freed_memory() -> bool:
    """Apply the settings of the module docstring to this process. Returns whether they are in
    force (False off glibc Linux, or when ``mallopt`` refused them). Idempotent."""
    global _applied
    if _applied is not None:
        return _applied
    libc = _glibc()
    ok = False
    if libc is not None:
        libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.mallopt.restype = ctypes.c_int
        ok = bool(libc.mallopt(M_MMAP_MAX, 0)) and bool(libc.mallopt(M_TRIM_THRESHOLD, 2**31 - 1))
    _applied = ok
    return ok


def apply_default() -> bool:
    """What importing the torch backend does: :func:`keep_freed_memory` unless ``SNNC_MALLOC`` is
    ``default``. Returns whether the settings are in force."""
    if os.environ.get(ENV, "").strip().lower() == "default":
        return False
    return keep_freed_memory()
