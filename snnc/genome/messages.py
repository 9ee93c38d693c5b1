"""Lark's syntax errors in words a person understands.

``unexpected '->'; expected an integer node id`` instead of ``Unexpected token Token('ARROW', '->')
... Expected one of: * NODE``. Terminal names map to phrases; the five value terminals collapse into
"a value"; an unterminated string and an unclosed ``{`` get messages of their own.
"""
from __future__ import annotations

from lark import Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput

#: Lark terminal -> phrase, in the order messages list them.
FRIENDLY = {
    "NODE": "an integer node id",
    "DELAY": "an integer delay",
    "VALUE": "a value",
    "IDENT": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a quoted string",
    "SHAPE": "a shape like 3x32x32",
    "EQ": "'='",
    "ARROW": "'->'",
    "AT": "'@'",
    "BACK": "'back'",
    "LBRACE": "'{'",
    "RBRACE": "'}'",
    "_NL": "end of line",
    "$END": "end of file",
}
VALUES = {"IDENT", "INT", "FLOAT", "STRING", "SHAPE"}


def expected_phrase(names) -> str:
    """``{"ARROW"}`` -> ``'->'``; ``{"LBRACE", "_NL", "INT", ...}`` -> ``a value, '{' or end of
    line``."""
    names = set(names or ())
    if VALUES <= names:
        names = (names - VALUES) | {"VALUE"}
    words = [FRIENDLY[n] for n in FRIENDLY if n in names]
    words += sorted(n.lower() for n in names if n not in FRIENDLY)
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _char(c: str) -> str:
    return repr(c) if c.isprintable() else f"{c!r} (U+{ord(c):04X})"


def describe_unexpected(e: UnexpectedInput) -> str:
    """One line: what was found and what the grammar expected there."""
    if isinstance(e, UnexpectedCharacters):
        if e.char == '"':
            return "unterminated string; a string ends with '\"' on the same line"
        found = f"unexpected character {_char(e.char)}"
        want = expected_phrase(e.allowed)
    else:
        tok = getattr(e, "token", None)
        want = expected_phrase(getattr(e, "expected", ()))
        if tok is None or tok.type == "$END":
            found = "unexpected end of file"
        elif tok.type == "_NL":
            found = "unexpected end of line"
        else:
            found = f"unexpected {str(tok)[:40]!r}"
    return f"{found}; expected {want}" if want else found


def unclosed_brace(e: UnexpectedInput) -> Token | None:
    """The ``{`` still open when the text ended, if the parser's stack holds one."""
    stack = getattr(getattr(e, "state", None), "value_stack", None) or ()
    return next((v for v in reversed(stack) if isinstance(v, Token) and v.type == "LBRACE"), None)
