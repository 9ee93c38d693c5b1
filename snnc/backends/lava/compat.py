"""Make lava-nc 0.10.0 importable on Python 3.11, from our side, without touching site-packages.

lava-nc 0.10.0 declares ``python < 3.11``. Its one incompatibility with 3.11 is in
``lava/magma/compiler/var_model.py``: dataclasses whose fields default to an *instance* of another
(unfrozen, hence unhashable) dataclass, e.g. ``x: ByteEncoder = ByteEncoder()``. Python 3.11
rejects such defaults (``ValueError: mutable default ... use default_factory``), so every Lava
compile (``proc.run(...)``) fails.

:func:`install` puts a :class:`importlib.abc.MetaPathFinder` in front of ``sys.meta_path``. When
that one module is imported, its loader reads the original source, rewrites
``name: Cls = Cls()`` into ``name: Cls = dataclasses.field(default_factory=Cls)`` in memory and
executes the result. Nothing on disk changes, no Lava code lives in this repository, and every
other module loads normally. On Python < 3.11 the rewrite is harmless (same behaviour).

Call :func:`install` before the first ``import lava`` (the backend's ``_lava()`` helpers do).
"""
from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys

#: The one module that needs rewriting.
TARGET = "lava.magma.compiler.var_model"

# ``    x: ByteEncoder = ByteEncoder()``
#   -> ``    x: ByteEncoder = __import__("dataclasses").field(default_factory=ByteEncoder)``
# (written inline so no import line is added and line numbers in tracebacks stay true)
_MUTABLE_DEFAULT = re.compile(r"^(\s+\w+\s*:\s*(\w+)\s*=\s*)\2\(\)[ \t]*$", re.MULTILINE)


def rewrite_source(source: str) -> tuple[str, int]:
    """Return ``(new_source, count)``: ``source`` with every ``name: Cls = Cls()`` class-body
    default replaced by ``dataclasses.field(default_factory=Cls)``, line for line."""
    return _MUTABLE_DEFAULT.subn(r'\1__import__("dataclasses").field(default_factory=\2)', source)


class _RewritingLoader(importlib.machinery.SourceFileLoader):
    """Loads the target module from its real file, with :func:`rewrite_source` applied."""

    def get_data(self, path):  # bytes of the source (not the cached bytecode)
        data = super().get_data(path)
        if path == self.path:
            text, _ = rewrite_source(data.decode("utf-8"))
            return text.encode("utf-8")
        return data

    def get_code(self, fullname):  # compile from the rewritten source, never from a stale .pyc
        source = self.get_data(self.path)
        return compile(source, self.path, "exec", dont_inherit=True)


class LavaCompatFinder(importlib.abc.MetaPathFinder):
    """Finds :data:`TARGET` through the normal path machinery and swaps in the rewriting loader."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return spec
        loader = _RewritingLoader(fullname, spec.loader.path)
        return importlib.util.spec_from_file_location(fullname, spec.origin, loader=loader,
                                                      submodule_search_locations=None)


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (idempotent). Must run before ``lava`` imports
    :data:`TARGET`; if that already happened (without the hook), nothing can be fixed here."""
    if not any(isinstance(f, LavaCompatFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, LavaCompatFinder())


def installed() -> bool:
    return any(isinstance(f, LavaCompatFinder) for f in sys.meta_path)
