"""Child processes that die with their parent.

Lava forks one OS process per process model and ``snnc search`` spawns scoring workers. When the
parent ends without cleaning up (SIGKILL, SIGTERM's default action, an out-of-memory kill), the
children must not keep running, holding memory and the caller's pipes. On Linux the kernel does it:
``prctl(PR_SET_PDEATHSIG, SIGKILL)`` in the child sends it SIGKILL when the thread that created it
ends. Elsewhere these functions do nothing and return ``False``.

- :func:`die_with_parent`: call in a spawned child (e.g. a pool initializer);
- :class:`ForkGuard`: while one is open, every ``fork()`` of this process (``os.fork``,
  multiprocessing's ``fork`` start method, which Lava uses) makes a child that dies with it and
  ignores SIGINT: Ctrl-C in a terminal reaches the whole process group, and only the parent should
  handle it (once), then stop its children.

The multiprocessing resource tracker needs nothing: it exits when the last process holding its
pipe has gone.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def die_with_parent(parent_pid: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """In a child process: ask the kernel for ``sig`` when the parent ends.

    ``parent_pid``: the parent's pid when it was known to be alive; if the parent has already
    gone (it died before this call, so no signal will come), the child exits now (status 1).
    Returns ``True`` if the request was made (Linux), ``False`` otherwise.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(1)
    return True


_open = 0  # ForkGuards open in this process
_guard_pid: int | None = None  # the process that opened them (a forked child does not inherit)


def _after_fork_in_child() -> None:
    global _open, _guard_pid
    parent, active = _guard_pid, _open
    _open, _guard_pid = 0, None  # the child's own forks are not guarded on its behalf
    if not active or parent is None:
        return
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class ForkGuard:
    """While open (``with``, or :meth:`open`/:meth:`close`), children forked by this process die
    with it and ignore SIGINT. Guards nest; only forks, not spawned or exec'd processes, are
    affected (call :func:`die_with_parent` in those)."""

    def __init__(self):
        self._is_open = False

    def open(self) -> ForkGuard:
        global _open, _guard_pid
        if not self._is_open:
            _open += 1
            _guard_pid = os.getpid()
            self._is_open = True
        return self

    def close(self) -> None:
        global _open
        if self._is_open:
            _open -= 1
            self._is_open = False

    def __enter__(self) -> ForkGuard:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
