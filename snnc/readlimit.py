"""Bounded reads: no input file can make snnc read until the machine runs out of memory.

A path such as ``/dev/zero``, a FIFO or a multi-gigabyte file passed where a genome is expected
would otherwise be read whole. Every loader reads through :func:`read_bytes`, which stops one byte
past a limit and refuses the file by name. The limits are generous defaults that the
``SNNC_MAX_GENOME_BYTES`` and ``SNNC_MAX_ARTIFACT_BYTES`` environment variables (a byte count, or
with a ``K``/``M``/``G`` suffix, powers of 1024) or a ``max_bytes`` argument override.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import SnncError

__all__ = ["DEFAULT_LIMITS", "format_bytes", "max_bytes", "read_bytes"]

#: Default limit per kind of file: a genome text, one member (part) of a ``.snnir`` artifact.
#: The largest shipped genome is a few kB; TANet-Regular's weights are ~100 MB.
DEFAULT_LIMITS = {"genome": 64 * 2**20, "artifact": 4 * 2**30}
_ENV = {"genome": "SNNC_MAX_GENOME_BYTES", "artifact": "SNNC_MAX_ARTIFACT_BYTES"}
_SUFFIX = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}


def max_bytes(kind: str) -> int:
    """The limit for ``kind`` (``"genome"`` or ``"artifact"``): its environment variable if set,
    else :data:`DEFAULT_LIMITS`.

    Raises:
        SnncError: the environment variable is not a positive byte count.
    """
    var = _ENV[kind]
    raw = os.environ.get(var, "").strip()
    if not raw:
        return DEFAULT_LIMITS[kind]
    scale = _SUFFIX.get(raw[-1].upper(), 1)
    digits = raw[:-1] if scale != 1 else raw
    if not digits.isdigit() or int(digits) < 1:
        raise SnncError(f"{var}={raw!r}: expected a positive byte count such as 1000000 or 64M")
    return int(digits) * scale


def format_bytes(n: int) -> str:
    """``64 MiB`` for 64 * 2**20; plain bytes where no power of 1024 divides exactly."""
    for suffix in ("T", "G", "M", "K"):
        if n >= _SUFFIX[suffix] and n % _SUFFIX[suffix] == 0:
            return f"{n // _SUFFIX[suffix]} {suffix}iB"
    return f"{n} bytes"


def read_bytes(path: str | os.PathLike, kind: str, *, limit: int | None = None,
               error: type[SnncError] = SnncError) -> bytes:
    """The content of ``path``, at most ``limit`` bytes (default :func:`max_bytes` of ``kind``).

    Reads in chunks and stops one byte past the limit, so endless files (``/dev/zero``) and
    files that grow while read are refused without reading more than ``limit + 1`` bytes.

    Raises:
        SnncError (``error``, a subclass): the file is larger than the limit (the message names
            the file, the limit and the environment variable that raises it).
        OSError: from opening or reading the file (the callers word these per file kind).
    """
    limit = max_bytes(kind) if limit is None else limit
    chunks, total = [], 0
    with open(Path(path), "rb") as fh:
        while total <= limit:
            chunk = fh.read(min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise error(f"{path}: larger than the {format_bytes(limit)} snnc reads for a {kind} "
                        f"file; set {_ENV[kind]} (e.g. {_ENV[kind]}=8G) to allow larger files")
    return b"".join(chunks)
