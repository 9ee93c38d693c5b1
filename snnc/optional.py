"""Optional dependencies: import one by name, or fail with the install line that brings it.

    >>> onnx = require("onnx", feature="ONNX export", extra="interop")

Every feature outside the core (numpy, networkx, lark, click, rich) lives in an extra of
``pyproject.toml``; the message names both the package and the extra, so a user with a minimal
install learns the one command to run.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from .errors import MissingDependencyError

#: Extras whose packages pip cannot install from the extra alone (they need ``--no-deps``).
_SPECIAL = {
    "lava": "pip install 'snnc[lava]' && pip install --no-deps --ignore-requires-python "
            "lava-nc==0.10.0 lava-dl==0.6.0",
}


def install_hint(extra: str) -> str:
    """The shell command that installs extra ``extra`` of snnc."""
    return _SPECIAL.get(extra, f"pip install 'snnc[{extra}]'")


def require(module: str, *, feature: str, extra: str) -> ModuleType:
    """Import ``module`` (dotted name) and return it.

    Raises:
        MissingDependencyError: the module (or one it needs) is not installed; the message says
            ``"{feature} needs the '{top-level package}' package: {install_hint(extra)}"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or module.split(".")[0]
        raise MissingDependencyError(f"{feature} needs the {missing.split('.')[0]!r} package: "
                                     f"{install_hint(extra)}") from None
