"""Atomic file writes: a reader sees the old file or the complete new one, never a partial file.

The content goes to a temporary file in the destination folder, is flushed and fsynced, then renamed
over the destination (:func:`os.replace`, atomic on POSIX); the folder is fsynced so the rename is
durable. On any failure, KeyboardInterrupt included, the temporary file is removed and the
destination is untouched. Used for artifacts, genomes, checkpoints and reports.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(fh)`` on a temporary binary file and move it to ``path`` atomically.

    Raises:
        OSError: the folder is missing or unwritable, the disk is full, ...; nothing is left behind.
            Its ``filename`` is ``path`` (never the temporary file, which the user never named).
    """
    path = Path(path)
    try:
        return _atomic_write(path, write)
    except OSError as exc:
        if exc.filename == str(path) or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, str(path)) from None


def _atomic_write(path: Path, write: Callable[[BinaryIO], None]) -> Path:
    tmp = None
    try:
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp",
                                         delete=False) as fh:
            tmp = fh.name
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # NamedTemporaryFile creates 0600; honour the umask
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda fh: fh.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def _fsync_dir(folder: Path) -> None:
    """Make the rename itself durable (POSIX); skipped where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


#: Public name for callers that rename files themselves (several files, one manifest).
fsync_dir = _fsync_dir


def _umask() -> int:
    """The process umask without changing it (Linux /proc); 0o022 where unknown."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return 0o022
