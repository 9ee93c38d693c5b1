"""One writer per run folder or experiment store: an OS file lock that dies with its process.

:class:`FileLock` holds an exclusive :func:`fcntl.flock` on a lock file (``DIR/.snnc.lock`` for a
run folder, ``<store>.lock`` beside a store). The kernel releases the lock when the holder's
file descriptor closes, which includes every way a process can die (SIGKILL, out-of-memory
kill), so a crashed run never leaves a stale lock behind and nobody has to delete anything.
The holder writes its PID into the file so that the refusal can name it. The lock file itself is
never deleted: unlinking it while another process waits on the old inode would let two
processes hold "the" lock at once.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from ..errors import SnncError

__all__ = ["FileLock"]


class FileLock:
    """An exclusive, non-blocking lock on ``path`` (created if missing).

    Args:
        path: the lock file.
        what: how the refusal names the locked thing, e.g. ``"run folder runs/a"``.
        error: the :class:`SnncError` subclass raised when the lock is held elsewhere.
    Use as a context manager, or call :meth:`acquire` and :meth:`release`.
    """

    def __init__(self, path: str | os.PathLike, what: str, error: type[SnncError] = SnncError):
        self.path = Path(path)
        self.what = what
        self.error = error
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> "FileLock":
        """Take the lock (a no-op when this object already holds it).

        Raises:
            ``error``: another process (or another FileLock in this one) holds it: "<what> is
                in use by process <pid>"; or the lock file cannot be created.
        """
        if self._fd is not None:
            return self
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise self.error(f"{self.what}: cannot create the lock file {self.path} "
                             f"({exc.strerror or exc})") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            by = f"process {holder}" if holder else "another process"
            raise self.error(f"{self.what} is in use by {by} (lock {self.path}); wait for it to "
                             f"finish or stop it") from None
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # the PID only improves the message; the lock is what counts
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        except OSError:
            pass
        os.close(fd)  # closing the last descriptor releases the flock

    def __enter__(self) -> "FileLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
