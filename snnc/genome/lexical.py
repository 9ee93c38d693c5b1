"""Spelling of genome values, shared by the parser and the printer so that they agree exactly.

Names are identifiers (``s3``, ``snn_b3``, ``snnc-genome``): a letter or ``_``, then letters,
digits and ``_``, with single ``-`` between parts. Strings are double-quoted on one line with the
escapes ``\\\\ \\" \\n \\t \\r \\uXXXX``; the printer escapes every control character and lone
surrogate, so canonical text is always printable and encodable as UTF-8. Floats print in their
shortest round-trip form without a trailing ``.0`` (``3``, ``0.2``, ``1e-05``): the schema maps an
int written for a float attribute back to a float.
"""
from __future__ import annotations

import re

from .schema import RESERVED

NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*")
_ESCAPE = re.compile(r"\\(u[0-9A-Fa-f]{4}|.)", re.S)
_SIMPLE = {"\\": "\\", '"': '"', "n": "\n", "t": "\t", "r": "\r"}
_NEEDS_ESCAPE = re.compile(r'[\\"\x00-\x1f\x7f-\x9f\ud800-\udfff]')
_SHORT = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


class EscapeError(ValueError):
    """A bad escape in a quoted string; ``offset`` is the backslash's index in the token."""

    def __init__(self, message: str, offset: int):
        super().__init__(message)
        self.offset = offset


def is_name(s: object) -> bool:
    """True for a string that can be written bare and reads back as the same string."""
    return isinstance(s, str) and NAME_RE.fullmatch(s) is not None and s not in RESERVED


def quote(s: str) -> str:
    """``a "b"`` -> ``"a \\"b\\""``; control characters and lone surrogates as ``\\uXXXX``."""
    return '"' + _NEEDS_ESCAPE.sub(lambda m: _SHORT.get(m.group(), f"\\u{ord(m.group()):04x}"),
                                   s) + '"'


def unquote(token: str) -> str:
    """The value of a STRING token (quotes included). Raises EscapeError on an unknown escape."""
    body = token[1:-1]

    def one(m: re.Match) -> str:
        e = m.group(1)
        if len(e) == 5:
            return chr(int(e[1:], 16))
        if e in _SIMPLE:
            return _SIMPLE[e]
        hint = "; \\u needs 4 hex digits" if e == "u" else ""
        raise EscapeError(f"unknown escape '\\{e}' in a string; use \\\\ \\\" \\n \\t \\r or "
                          f"\\uXXXX{hint}", m.start() + 1)

    return _ESCAPE.sub(one, body) if "\\" in body else body


def fmt_float(x: float) -> str:
    """Shortest round-trip spelling: ``3.0 -> 3``, ``0.2 -> 0.2``, ``1e-05``."""
    r = repr(float(x))
    return r[:-2] if r.endswith(".0") else r


def fmt_value(v: object, type_: str | None = None) -> str:
    """One attribute value in genome syntax; ``type_`` (a schema type) forces quoting for text."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return fmt_float(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, tuple):
        return str(v[0]) if len(v) == 1 else "x".join(str(d) for d in v)
    if isinstance(v, str) and type_ != "text" and is_name(v):
        return v
    return quote(str(v))


def show(v: object) -> str:
    """A value as messages show it: ``2.0``, ``true``, ``3x32x32``, ``'four'``."""
    if isinstance(v, (str, float)):
        return repr(v)
    return fmt_value(v)
