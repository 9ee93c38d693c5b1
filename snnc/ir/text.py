"""IR text -> :class:`~snnc.ir.graph.Graph`: the reader of the form :func:`snnc.ir.dump` writes.

``parse_ir(dump(g, params="values"))`` equals ``g`` (see :func:`~snnc.ir.graph.graphs_equal`:
meta, nodes with ops, attrs, shapes, locations and params, edges with ports, delays and kinds);
``parse_ir(dump(g))`` equals it but for param values, which come back as zeros of the declared
shape and dtype. What the text does not hold, the parse cannot give back: ``node.meta``
(analysis results) and the insertion order of nodes and edges; nodes are added in the order of
their lines (a topological order, so the parsed graph's :meth:`~Graph.topological_order` is the
original's) and edges node by node in the order of each node's inputs.

The grammar is ``ir.lark`` (LALR(1)); then one walk over the tree builds the graph. The parse
checks what it can see in the text: known ops, names defined once, inputs naming defined nodes,
integer shapes, ports and delays, param values matching their declared shapes and dtypes. It does
not verify the graph (attributes, shapes agreeing along edges, cycles): call
:func:`~snnc.ir.verify.verify` for that. Every fault raises
:class:`~snnc.errors.IRSyntaxError` with ``file:line:col``, the source line and a caret::

    >>> g = parse_ir('%in = Input[shape=(2,)]() : (2,)\\n%out = Output(%in) : (2,)')
    >>> [str(e) for e in g.edges]
    ['in -> out']
"""
from __future__ import annotations

import difflib
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import lark
import numpy as np
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from ..errors import GraphError, IRSyntaxError, SnncError
from .graph import BACKWARD, FORWARD, Graph
from .ops import OPS

Token = lark.Token
Tree = lark.Tree

_INT = re.compile(r"-?[0-9]+")
_CONSTS = {"True": True, "False": False, "None": None}
_SIMPLE_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "r": "\r", "t": "\t"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
#: dtype kinds a param may have in text, and how one element is read.
_READERS = {"f": float, "i": int, "u": int,
            "b": lambda s: {"True": True, "False": False}[s.strip()]}

#: Lark terminal -> phrase, in the order syntax errors list them.
_FRIENDLY = {
    "REF": "a node reference like %name", "REF_QUOTED": None, "WORD": "a name",
    "NUMBER": "a number", "STRING": "a quoted string", "CONST": "True, False or None",
    "VALUES": "a list of param values", "GRAPH": "'# graph'", "PARAMS": "'params'",
    "BACK": "'(back)'", "EQ": "'='", "AT": "'@'", "COLON": "':'", "COMMA": "','", "QMARK": "'?'",
    "LPAR": "'('", "RPAR": "')'", "LSQB": "'['", "RSQB": "']'", "LBRACE": "'{'",
    "RBRACE": "'}'", "_NL": "end of line", "$END": "end of file",
}


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("ir.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=True)


class _Located(Exception):
    """A fault at a known position (turned into IRSyntaxError by :func:`parse_ir`)."""

    def __init__(self, message: str, line: int, column: int):
        super().__init__(message)
        self.message, self.line, self.column = message, line, column


def _at(tok: Token, message: str, offset: int = 0) -> _Located:
    return _Located(message, tok.line, tok.column + offset)


# ----------------------------------------------------------------------------- entry points
def parse_ir(text: str, filename: str = "<ir>") -> Graph:
    """The graph that IR ``text`` describes (unverified; see the module docstring).

    Raises:
        IRSyntaxError: ``file:line:col: message`` plus the source line and a caret.
    """
    if not isinstance(text, str):
        raise IRSyntaxError(f"IR text must be a str, got {type(text).__name__}", 1, 1,
                            filename=filename)
    try:
        try:
            tree = _lark().parse(text)
        except UnexpectedInput as e:
            raise _syntax(e, text) from None
        return _Builder().build([c for c in tree.children if c is not None])
    except _Located as e:
        lines = text.split("\n")
        src = lines[e.line - 1].rstrip("\r") if 0 < e.line <= len(lines) else ""
        if len(src) > 200:  # a param values line can be megabytes long
            start = max(0, e.column - 100)
            src, column = src[start:start + 200], e.column - start
        else:
            column = e.column
        raise IRSyntaxError(e.message, e.line, column, src, filename) from None


def parse_ir_file(path: str | Path) -> Graph:
    """:func:`parse_ir` of a UTF-8 file; errors name the file.

    Raises:
        IRSyntaxError: the text does not parse; SnncError: the file cannot be read.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise SnncError(f"{path}: cannot read IR text ({e})") from None
    return parse_ir(text, filename=str(path))


def _expected(names) -> str:
    words = [_FRIENDLY[n] for n in _FRIENDLY if n in set(names or ()) and _FRIENDLY[n]]
    if not words:
        return ""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _syntax(e: UnexpectedInput, text: str) -> _Located:
    if isinstance(e, UnexpectedCharacters):
        if e.char == '"':
            msg = "unterminated string; a string ends with '\"' on the same line"
        else:
            msg = f"unexpected character {e.char!r}"
            want = _expected(e.allowed)
            msg += f"; expected {want}" if want else ""
        return _Located(msg, e.line, e.column)
    tok = getattr(e, "token", None)
    want = _expected(getattr(e, "expected", ()))
    if isinstance(e, UnexpectedEOF) or tok is None or tok.type == "$END":
        line, col = text.count("\n") + 1, len(text) - text.rfind("\n")
        return _Located("unexpected end of file" + (f"; expected {want}" if want else ""),
                        line, col)
    found = "end of line" if tok.type == "_NL" else repr(str(tok)[:40])
    line, col = tok.line, tok.column
    if tok.type == "_NL":  # the token starts at the line break: point at the end of the line
        line = text.count("\n", 0, tok.start_pos) + 1
        col = tok.start_pos - text.rfind("\n", 0, tok.start_pos)
    return _Located(f"unexpected {found}" + (f"; expected {want}" if want else ""), line, col)


# ----------------------------------------------------------------------------- values
def _unquote(tok: Token) -> str:
    """The text of a STRING token (or of a ``%"..."`` reference) with escapes decoded."""
    s = str(tok)
    base = 1 if s.startswith("%") else 0  # column offset of the opening quote
    s, out, i = s[base:], [], 1
    while i < len(s) - 1:
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = s[i + 1]
        if e in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[e])
            i += 2
        elif e in _HEX_ESCAPES:
            n = _HEX_ESCAPES[e]
            digits = s[i + 2:i + 2 + n]
            if len(digits) != n or not re.fullmatch(r"[0-9a-fA-F]+", digits):
                raise _at(tok, f"escape \\{e} needs {n} hex digits", i + base)
            code = int(digits, 16)
            if code > 0x10FFFF:
                raise _at(tok, f"escape \\{e}{digits} is not a Unicode character", i + base)
            out.append(chr(code))
            i += 2 + n
        else:
            raise _at(tok, f"unknown escape \\{e}; known: \\\\ \\\" \\n \\r \\t \\xNN \\uNNNN "
                           f"\\UNNNNNNNN", i + base)
    return "".join(out)


def _number(tok: Token) -> int | float:
    s = str(tok)
    if _INT.fullmatch(s):
        return int(s)
    return float(s)


def _value(x: Token | Tree) -> Any:
    if isinstance(x, Token):
        if x.type == "NUMBER":
            return _number(x)
        if x.type == "STRING":
            return _unquote(x)
        if x.type == "CONST":
            return _CONSTS[str(x)]
        if x.type == "WORD":
            return str(x)
        raise _at(x, f"unexpected {str(x)!r}")
    items = [c for c in x.children if c is not None and not _punct(c)]
    if x.data == "tuple":
        return tuple(_value(c) for c in items)
    if x.data == "list":
        return [_value(c) for c in items]
    if x.data == "dict":
        out: dict = {}
        for pair in items:
            key_tree, _, v = pair.children
            k = _key(key_tree)
            if k in out:
                raise _at(key_tree.children[0], f"key {k!r} is given twice")
            out[k] = _value(v)
        return out
    if x.data == "key":
        return _key(x)
    raise AssertionError(x.data)


def _punct(c) -> bool:
    return isinstance(c, Token) and c.type in ("LPAR", "RPAR", "LSQB", "RSQB", "LBRACE",
                                               "RBRACE", "COMMA", "COLON", "EQ")


def _key(tree: Tree) -> Any:
    (tok,) = tree.children
    return str(tok) if tok.type == "WORD" else _value(tok)


def _int(tok: Token, what: str, minimum: int | None = None) -> int:
    s = str(tok)
    if not _INT.fullmatch(s):
        raise _at(tok, f"{what} must be an integer, got {s}")
    v = int(s)
    if minimum is not None and v < minimum:
        raise _at(tok, f"{what} must be >= {minimum}, got {v}")
    return v


def _first_token(x) -> Token:
    if isinstance(x, Token):
        return x
    for c in x.children:
        if c is not None:
            return _first_token(c)
    raise AssertionError("empty tree")


# ----------------------------------------------------------------------------- graph
class _Builder:
    """Walks the statements in order: header, then nodes, each followed by its value lines."""

    def __init__(self):
        self.graph = Graph()
        self.defs: dict[str, Token] = {}
        # (dst, src token, port, delay, kind); an input may name a node defined further down
        # (delayed and backward edges), so edges are added once every node exists
        self.inputs: list[tuple[str, Token, int, int, str]] = []
        self.declared: dict[str, tuple[Token, tuple[int, ...], np.dtype]] = {}
        self.given: set[str] = set()
        self.node: str | None = None

    def build(self, statements: list[Tree]) -> Graph:
        for i, st in enumerate(statements):
            if st.data == "header":
                if i:
                    raise _at(st.children[0], "'# graph' header must be the first statement "
                                              "(only one per text)")
                self.header(st)
            elif st.data == "node":
                self.finish_node()
                self.add_node(st)
            else:
                self.values(st)
        self.finish_node()
        g = self.graph
        for dst, tok, port, delay, kind in self.inputs:
            src = _name(tok)
            if src not in g:
                close = difflib.get_close_matches(src, list(g.nodes), n=1)
                hint = f"; did you mean %{close[0]}?" if close else ""
                raise _at(tok, f"input {str(tok)} names no node{hint}")
            try:
                g.add_edge(src, dst, port, delay, kind)
            except GraphError as e:
                raise _at(tok, str(e)) from None
        return g

    def header(self, st: Tree) -> None:
        _, *rest = st.children
        meta = self.graph.meta
        for c in rest:
            if c is None:
                continue
            if isinstance(c, Tree) and c.data == "meta_attr":
                key_tree, _, v = c.children
                k = _key(key_tree)
                if k in meta:
                    raise _at(_first_token(key_tree), f"meta key {k!r} is given twice")
                meta[k] = _value(v)
            else:
                if "name" in meta:
                    raise _at(_first_token(c), "meta key 'name' is given twice")
                meta["name"] = _value(c)

    def add_node(self, st: Tree) -> None:
        ref, _, op_tok, attrs_tree, *rest = st.children
        name = _name(_first_token(ref))
        if name in self.defs:
            first = self.defs[name]
            raise _at(_first_token(ref), f"node %{name} is already defined at "
                                         f"{first.line}:{first.column}")
        op = str(op_tok)
        if op not in OPS:
            close = difflib.get_close_matches(op, list(OPS), n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            raise _at(op_tok, f"unknown op {op!r}; {hint}known ops: {', '.join(OPS)}")
        attrs: dict[str, Any] = {}
        if attrs_tree is not None:
            for a in attrs_tree.children:
                if isinstance(a, Tree):
                    key_tree, _, v = a.children
                    k = _key(key_tree)
                    if k in attrs:
                        raise _at(_first_token(key_tree), f"attribute {k!r} is given twice")
                    attrs[k] = _value(v)
        shape_tree = params_tree = loc_tree = None
        for c in rest:
            if isinstance(c, Tree) and c.data == "input":
                self.input(name, c)
            elif isinstance(c, Tree) and c.data == "shape":
                shape_tree = c
            elif isinstance(c, Tree) and c.data == "params":
                params_tree = c
            elif isinstance(c, Tree) and c.data == "loc":
                loc_tree = c
        shape = self.shape(shape_tree)
        loc = None
        if loc_tree is not None:
            toks = [t for t in loc_tree.children if t.type in ("NUMBER", "STRING")]
            loc = (_unquote(toks[0]) if toks[0].type == "STRING" else
                   f"{_int(toks[0], 'a location line', 1)}:{_int(toks[1], 'a location column', 1)}")
        self.declared = {}
        if params_tree is not None:
            for p in params_tree.children[1:]:
                self.declare(p)
        self.defs[name] = _first_token(ref)
        self.graph.add_node(name, op, attrs, shape=shape, loc=loc)
        self.node, self.given = name, set()

    def input(self, dst: str, tree: Tree) -> None:
        ref, at, delay, colon, port, back = tree.children
        d = _int(delay, "a delay", 0) if delay is not None else 0
        p = _int(port, "a port", 0) if port is not None else 0
        kind = BACKWARD if back is not None else FORWARD
        self.inputs.append((dst, _first_token(ref), p, d, kind))

    def shape(self, tree: Tree) -> tuple[int, ...] | None:
        (x,) = tree.children
        if isinstance(x, Token):  # "?"
            return None
        dims = [c for c in x.children if not _punct(c)]
        for d in dims:
            if not isinstance(d, Token) or d.type != "NUMBER":
                raise _at(_first_token(d), "a shape holds integers")
            _int(d, "a shape dimension", 0)
        return tuple(int(str(d)) for d in dims)

    def declare(self, tree: Tree) -> None:
        key_tree, *rest = tree.children
        key_tok = _first_token(key_tree)
        k = _key(key_tree)
        if not isinstance(k, str):
            raise _at(key_tok, f"a param name is a string, got {k!r}")
        if k in self.declared:
            raise _at(key_tok, f"param {k!r} is declared twice")
        dims = tuple(_int(t, "a param dimension", 0) for t in rest
                     if isinstance(t, Token) and t.type == "NUMBER")
        dtype_tok = rest[-1] if rest and isinstance(rest[-1], Token) and rest[-1].type == "WORD" \
            else None
        dtype = np.dtype(np.float64)
        if dtype_tok is not None:
            try:
                dtype = np.dtype(str(dtype_tok))
            except TypeError:
                dtype = None
            if dtype is None or dtype.kind not in _READERS:
                raise _at(dtype_tok, f"unknown param dtype {str(dtype_tok)!r}; params are float, "
                                     f"int, uint or bool arrays (e.g. float32)")
        self.declared[k] = (key_tok, dims, dtype)

    def finish_node(self) -> None:
        if self.node is None:
            return
        node = self.graph.nodes[self.node]
        for k, (_, dims, dtype) in self.declared.items():
            if k not in node.params:
                node.params[k] = np.zeros(dims, dtype=dtype)
        # declared order, whatever order the value lines came in
        node.params = {k: node.params[k] for k in self.declared}

    def values(self, st: Tree) -> None:
        key_tree, _, tok = st.children
        key_tok = _first_token(key_tree)
        k = _key(key_tree)
        if self.node is None:
            raise _at(key_tok, "param values must follow the line of the node that declares them")
        if k not in self.declared:
            shown = ", ".join(map(str, self.declared)) or "none"
            raise _at(key_tok, f"node %{self.node} declares no param {k!r} (declared: {shown})")
        if k in self.given:
            raise _at(key_tok, f"values of param {k!r} are given twice")
        _, dims, dtype = self.declared[k]
        s = str(tok)
        inner = s[1:-1]
        parts = inner.split(",") if inner.strip() else []
        size = int(np.prod(dims, dtype=np.int64))
        if len(parts) != size:
            raise _at(tok, f"param {k!r} of shape {list(dims)} needs {size} values, got "
                           f"{len(parts)}")
        read = _READERS[dtype.kind]
        try:
            vals = list(map(read, parts))
        except (ValueError, KeyError):
            offset = 1
            for part in parts:
                try:
                    read(part)
                except (ValueError, KeyError):
                    lead = len(part) - len(part.lstrip())
                    raise _at(tok, f"{part.strip()[:40]!r} is not a {dtype.name} value",
                              offset + lead) from None
                offset += len(part) + 1
            raise AssertionError("unreachable")
        if dtype.kind in "iu" and vals:
            info = np.iinfo(dtype)
            if min(vals) < info.min or max(vals) > info.max:
                raise _at(tok, f"a value of param {k!r} does not fit {dtype.name} "
                               f"({info.min}..{info.max})")
        arr = np.array(vals, dtype=np.float64 if dtype.kind == "f" else dtype).astype(dtype)
        self.graph.nodes[self.node].params[k] = arr.reshape(dims)
        self.given.add(k)


def _name(tok: Token) -> str:
    s = str(tok)
    return _unquote(tok) if s.startswith('%"') else s[1:]
