"""One table per backend from op name to implementation (docs/ARCHITECTURE.md, "Backends and op tables").

A backend keeps an :class:`OpTable`: op name -> whatever it runs for that op (a function, a
small record; the table does not care), with every op it does not implement entered as a
:class:`Refused` that says why. A table that covers :data:`snnc.ir.ops.OPS` answers every node::

    >>> TABLE = OpTable("NIR")
    >>> TABLE["Concat"] = Refused("NIR has no node that stacks its inputs along channels")
    >>> @TABLE.register("Scale")
    ... def _scale(node): ...
    >>> TABLE.lookup(node)          # the function, or BackendError naming node, op and reason

``tests/backends/test_op_coverage.py`` walks the catalogue for every table, so an op added to
``OPS`` without an entry (implemented or refused) fails there first. This module sits beside
``errors.py`` rather than under ``backends/`` because every backend uses it and one backend never
imports another.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .errors import BackendError, SnncError


@dataclass(frozen=True)
class Refused:
    """A table entry for an op the backend does not implement; ``reason`` says why (and, where
    there is one, what to do instead)."""

    reason: str

    def __post_init__(self):
        if not self.reason.strip():
            raise ValueError("a refusal needs a reason")


def default_error(table: "OpTable", name: str, op: str, reason: str) -> SnncError:
    """``node 'c1' (Upsample): not supported by the Lava backend: <reason>``."""
    return BackendError(f"node {name!r} ({op}): not supported by the {table.backend} backend: "
                        f"{reason}", node=name, op=op, backend=table.backend)


class OpTable(dict):
    """Op name -> implementation (any value) or :class:`Refused`, for the backend ``backend``.

    Args:
        backend: the backend's name as users know it ("torch", "Lava", "NIR export").
        error: ``(table, node name, op, reason) -> SnncError`` builds the exception for a refused or
            unknown op (default :func:`default_error`); a backend passes its own to keep its
            exception class and wording. The message must name the node, the op, the backend
            and the reason.
    """

    def __init__(self, backend: str, entries: dict[str, Any] | None = None, *,
                 error: Callable[["OpTable", str, str, str], SnncError] = default_error):
        super().__init__(entries or {})
        self.backend = backend
        self.error = error

    def register(self, *ops: str) -> Callable:
        """Decorator entering the decorated object for every op in ``ops``; returns it unchanged."""
        def enter(impl):
            for op in ops:
                self[op] = impl
            return impl
        return enter

    def refuse(self, reason: str, *ops: str) -> None:
        """Enter ``Refused(reason)`` for every op in ``ops``."""
        for op in ops:
            self[op] = Refused(reason)

    def implemented(self) -> tuple[str, ...]:
        """The ops with an implementation, in table order."""
        return tuple(op for op, v in self.items() if not isinstance(v, Refused))

    def refused(self) -> dict[str, str]:
        """Refused op -> reason."""
        return {op: v.reason for op, v in self.items() if isinstance(v, Refused)}

    def lookup(self, node, op: str | None = None) -> Any:
        """The implementation of ``node``'s op. ``node`` is an IR node, or a node name with
        ``op`` given (for tables keyed by something else, such as NIR node types).

        Raises:
            SnncError: from :attr:`error` (BackendError by default): the op is refused, or has
                no entry; the message names the node, the op, the backend and the reason.
        """
        name = node if isinstance(node, str) else node.name
        key = node.op if op is None else op
        impl = self.get(key)
        if impl is None:
            raise self.error(self, name, key, f"op {key!r} has no entry in the {self.backend} "
                                              f"backend's op table")
        if isinstance(impl, Refused):
            raise self.error(self, name, key, impl.reason)
        return impl
