"""Every exception snnc raises on bad input, under one base class.

The CLI catches :class:`SnncError` and prints ``str(exc)`` as one line (plus context lines for
genome errors) with exit code 1; anything else escaping is a bug in snnc, not in the user's input.
"""
from __future__ import annotations


class SnncError(Exception):
    """Base class of all user-facing snnc errors."""


class GenomeSyntaxError(SnncError):
    """A genome text does not parse, or names something the genome language does not know.

    ``str(exc)`` is ``file:line:col: message`` followed by the source line and a caret.
    """

    def __init__(self, message: str, line: int, column: int, source_line: str = "",
                 filename: str = "<genome>"):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.filename = filename
        super().__init__(self.render())

    def render(self) -> str:
        return _render_located(self.filename, self.line, self.column, self.message,
                               self.source_line)

    def with_filename(self, filename: str) -> "GenomeSyntaxError":
        return GenomeSyntaxError(self.message, self.line, self.column, self.source_line, filename)


class InputShapeError(SnncError, ValueError):
    """An input array fits neither ``[B, *input_shape]`` (direct encoding) nor
    ``[T, B, *input_shape]``, or holds fewer steps than asked for (see
    :func:`snnc.ir.inputs.input_layout`). Also a ``ValueError``, as the array is a bad argument."""


class MissingDependencyError(SnncError):
    """An optional package a feature needs is not installed; the message names the package and the
    ``pip install 'snnc[extra]'`` that brings it (see :func:`snnc.optional.require`)."""


class IRSyntaxError(SnncError):
    """An IR text (the form :func:`snnc.ir.dump` writes) does not parse into a graph.

    ``str(exc)`` is ``file:line:col: message`` followed by the source line and a caret, as for
    :class:`GenomeSyntaxError`.
    """

    def __init__(self, message: str, line: int, column: int, source_line: str = "",
                 filename: str = "<ir>"):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.filename = filename
        super().__init__(_render_located(filename, line, column, message, source_line))


#: Widest source line an error echoes; longer lines are cut around the column (a generated genome
#: may hold its whole body on one line of hundreds of kilobytes).
ECHO_WIDTH = 160


def _render_located(filename: str, line: int, column: int, message: str, source_line: str) -> str:
    head = f"{filename}:{line}:{column}: {message}"
    if not source_line:
        return head
    shown, caret_at = cut_line(source_line, max(column, 1) - 1)
    return f"{head}\n    {shown}\n    {' ' * caret_at}^"


def cut_line(text: str, index: int, width: int = ECHO_WIDTH) -> tuple[str, int]:
    """``(shown, caret)``: ``text`` cut to about ``width`` characters around ``index`` (0-based),
    with ``...`` where something was cut, and the caret's position in the shown text."""
    if len(text) <= width:
        return text, index
    start = max(0, min(index - width // 2, len(text) - width))
    end = start + width
    shown = text[start:end]
    caret = index - start
    if start > 0:
        shown, caret = "..." + shown, caret + 3
    if end < len(text):
        shown += "..."
    return shown, caret


class LimitError(SnncError):
    """A genome or graph asks for more than a resource limit allows (:mod:`snnc.limits`):
    parameters, MACs, nodes, edges, a name's length, channels, classes, input size, T, a delay.

    ``str(exc)`` is ``file:line:col: message`` plus the source line and a caret when the genome
    position is known; ``.limit`` is the limit's name and ``.value`` the value asked for.
    """

    def __init__(self, message: str, line: int = 0, column: int = 0, source_line: str = "",
                 filename: str = "<genome>", *, limit: str | None = None, value: int | None = None):
        self.message = message
        self.line = line
        self.column = column
        self.source_line = source_line
        self.filename = filename
        self.limit = limit
        self.value = value
        super().__init__(self.render())

    def render(self) -> str:
        if self.line <= 0:
            return f"{self.filename}: {self.message}"
        return _render_located(self.filename, self.line, self.column, self.message,
                               self.source_line)

    def located(self, filename: str, text: str | None = None) -> "LimitError":
        """The same error naming ``filename``, with its source line taken from ``text``."""
        src = self.source_line
        if text is not None and self.line > 0 and not src:
            lines = text.split("\n")
            src = lines[self.line - 1].rstrip("\r") if self.line <= len(lines) else ""
        return LimitError(self.message, self.line, self.column, src, filename, limit=self.limit,
                          value=self.value)


class LoweringError(SnncError):
    """A parsed genome cannot be lowered to IR (e.g. a family the frontend does not lower yet)."""


class GraphError(SnncError):
    """An IR graph violates a rule of docs/ARCHITECTURE.md ("The IR"); the message names the node
    or edge and the rule."""

    def __init__(self, message: str, node: str | None = None, rule: str | None = None):
        self.node = node
        self.rule = rule
        super().__init__(message)


class AssignmentError(SnncError, ValueError):
    """An assignment of a supernet's choice points (node name -> selected port) that does not fit
    the graph: a Choice without an entry, a port out of range, a name that is no choice point.
    ``.node`` names the node (or the unknown name)."""

    def __init__(self, message: str, node: str | None = None):
        self.node = node
        super().__init__(message)


class PassError(SnncError):
    """A pass failed or left an invalid graph: 'error in pass X after passes [A, B]: ...'."""


class ArtifactError(SnncError):
    """A ``.snnir`` file is truncated, corrupt, of a newer format version, or cannot be written."""


class DatasetError(SnncError):
    """A dataset is missing, malformed (IDX, CIFAR batches) or asked for with invalid options.

    The message names the file or folder and, for missing data, how to install it.
    """


class UnsafePickleError(DatasetError):
    """A pickle names a global outside the data-only allow-list (see ``runtime.data.safe_pickle``)."""


class RunError(SnncError):
    """A training run cannot start, resume or be evaluated: an invalid training config, a
    non-empty run folder without ``--resume``, a resume with another config or model, a damaged
    or missing checkpoint. The message names the run folder or file."""


class StoreError(SnncError):
    """The experiment store cannot be opened, holds another schema version, or was asked for
    something it does not hold (an unknown search, a candidate stored twice)."""


class SearchError(SnncError):
    """A search cannot start or resume: an unknown search space or score, a configuration that
    differs from the stored one, a resume without a stored search."""


class BackendError(SnncError):
    """A backend cannot express a graph: an op it refuses or does not know, or a parameter,
    path or cycle it has no mapping for. The message names the node, the op, the backend and
    the reason; ``.node``, ``.op``, ``.backend`` and ``.rule`` hold what is known of them."""

    def __init__(self, message: str, node: str | None = None, rule: str | None = None, *,
                 op: str | None = None, backend: str | None = None):
        self.node = node
        self.rule = rule
        self.op = op
        self.backend = backend
        super().__init__(message)


class EnergyError(SnncError):
    """An energy report cannot be made: an unknown or malformed technology table, rates that do
    not fit the graph, or a layer whose input firing rate was not measured."""


class OnnxError(BackendError):
    """An op the ONNX export cannot write (named), or an ONNX file that cannot be run."""


class NirError(BackendError):
    """A graph or NIR file that the other side cannot express; names the node and the reason."""


class NetxError(BackendError):
    """A graph the lava-dl netx export cannot express (named node and reason), a parameter that
    does not fit Loihi 2's integer formats, or a netx file that cannot be read or run."""


class LavaMappingError(BackendError):
    """A graph, op or parameter the Lava backend cannot express; the message names the node, the
    attribute or path and the reason (``.node`` and ``.rule`` as in GraphError)."""
