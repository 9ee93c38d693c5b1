"""Genome text -> :class:`~snnc.genome.ast.Genome`: the lark grammar, then the schema's checks.

Every fault, syntactic or semantic, raises :class:`~snnc.errors.GenomeSyntaxError` with the 1-based
line and column of the offending token, the source line, and what was expected; no other exception
escapes :func:`parse`, whatever the input. Parsing is one LALR pass plus a walk of a tree that is at
most four levels deep (bodies hold no bodies), so it is linear in the text and cannot recurse deeply.

    >>> g = parse('snnc-genome 1\\nname "demo"\\nT 4\\ninput 3x32x32\\nclasses 10\\n'
    ...           'stage s1 node channels=96 spiking=false\\nclassifier head\\n')
    >>> g.blocks[0]["stride"], g.neuron.kind
    (1, 'lif')
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from ..errors import GenomeSyntaxError, LimitError, SnncError
from ..limits import Limits, resolve
from . import schema as S
from . import sizes
from . import validate as V
from .ast import Block, Edge, Genome, Loc, Spec
from .build import default_spec
from .lexical import EscapeError, unquote
from .messages import describe_unexpected, unclosed_brace

Token = lark.Token


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    grammar = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(grammar, parser="lalr", lexer="contextual", maybe_placeholders=True)


class _Located(Exception):
    """A fault at a known position (converted to GenomeSyntaxError, or LimitError when ``limit``
    is ``(name, value)``, by :func:`parse`)."""

    def __init__(self, message: str, line: int, column: int, limit: tuple | None = None):
        self.message, self.line, self.column, self.limit = message, line, column, limit

    def with_limit(self, name: str, value: int) -> "_Located":
        self.limit = (name, value)
        return self


def _at(tok: Token, message: str, offset: int = 0) -> "_Located":
    return _Located(message, tok.line, tok.column + offset)


def _loc(tok: Token) -> Loc:
    return Loc(tok.line, tok.column)


# ----------------------------------------------------------------------------- entry points
def parse(text: str | bytes, filename: str = "<genome>", *,
          limits: Limits | dict | str | None = None) -> Genome:
    """Parse genome ``text`` (str, or UTF-8 bytes) into a complete, validated :class:`Genome`.

    Line ends are ``\\n``, ``\\r\\n`` or a lone ``\\r`` (one rule for every command, whatever
    reads the file). ``limits`` (see :func:`snnc.limits.resolve`; default: the environment's)
    bound what the genome states: ``T``, input size, classes, widths, node and edge counts, names.

    Raises:
        GenomeSyntaxError: ``file:line:col: message`` plus the source line and a caret.
        LimitError: a value over a resource limit, located the same way.
    """
    if isinstance(text, (bytes, bytearray)):
        text = _decode(bytes(text), filename)
    if not isinstance(text, str):
        raise GenomeSyntaxError(f"a genome is text, got {type(text).__name__}", 1, 1,
                                filename=filename)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lim = resolve(limits)
    try:
        _check_version_first(text)
        _count_edges(text, lim)
        try:
            tree = _lark().parse(text)
        except UnexpectedInput as e:
            raise _syntax(e, text) from None
        return _Walker(lim).genome([c for c in tree.children if c is not None])
    except _Located as e:
        lines = text.split("\n")
        src = lines[e.line - 1] if 0 < e.line <= len(lines) else ""
        message = e.message if len(e.message) <= 400 else e.message[:400] + "..."
        if e.limit is not None:
            raise LimitError(message, e.line, e.column, src, filename, limit=e.limit[0],
                             value=e.limit[1]) from None
        raise GenomeSyntaxError(message, e.line, e.column, src, filename) from None


def parse_file(path: str | Path, *, limits: Limits | dict | str | None = None) -> Genome:
    """Parse a genome file (UTF-8); errors name the file.

    Raises:
        GenomeSyntaxError: bad UTF-8 or a bad genome; SnncError: the file cannot be read.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SnncError(f"{path}: cannot read genome ({e.strerror or e})") from None
    return parse(data, filename=str(path), limits=limits)


def _decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        head = data[:e.start]
        line = head.count(b"\n") + 1
        col = len(head[head.rfind(b"\n") + 1:].decode("utf-8", "replace")) + 1
        raise GenomeSyntaxError(f"not UTF-8 text (byte 0x{data[e.start]:02x}); a genome is UTF-8 "
                                f"text", line, col, filename=filename) from None


_VERSION = re.compile(r"(?:[\t ]*(?:#[^\n]*)?\n)*[\t ]*snnc-genome[\t ]+([0-9]+)\b")
_EDGE_LINE = re.compile(r"^[\t ]*(?:back[\t ]+)?-?[0-9]+[\t ]*->", re.M)


def _check_version_first(text: str) -> None:
    """A newer genome may use syntax this grammar lacks: report its version, not a syntax error."""
    m = _VERSION.match(text)
    if m is None:
        return
    digits = m.group(1).lstrip("0") or "0"
    if len(digits) > 1 or int(digits) > S.FORMAT_VERSION:
        shown = digits if len(digits) <= 20 else f"{digits[:12]}... ({len(digits)} digits)"
        line = text.count("\n", 0, m.start(1)) + 1
        col = m.start(1) - text.rfind("\n", 0, m.start(1))
        raise _Located(f"genome format version {shown} is newer than this snnc supports "
                       f"({S.FORMAT_VERSION})", line, col)


def _count_edges(text: str, lim: Limits) -> None:
    """Refuse a text with more edge lines than the edge limit before the parser builds a tree of
    them (a sampled genome can hold millions; parsing it alone would take minutes)."""
    if lim.edges is None or text.count("->") <= lim.edges:
        return
    for n, m in enumerate(_EDGE_LINE.finditer(text), start=1):
        if n > lim.edges:
            start = m.start() + len(m.group()) - len(m.group().lstrip())
            line = text.count("\n", 0, start) + 1
            col = start - text.rfind("\n", 0, start)
            count = n + sum(1 for _ in _EDGE_LINE.finditer(text, m.end()))
            raise _Located(lim.message("edges", count, "the number of edges in this genome"),
                           line, col, limit=("edges", count))


def _syntax(e: UnexpectedInput, text: str) -> _Located:
    if isinstance(e, UnexpectedCharacters):
        return _Located(describe_unexpected(e), e.line, e.column)
    tok = getattr(e, "token", None)
    if isinstance(e, UnexpectedEOF) or tok is None or tok.type == "$END":
        line = text.count("\n") + 1
        col = len(text) - text.rfind("\n")
        msg = describe_unexpected(e)
        brace = unclosed_brace(e)
        if brace is not None:
            msg += f"; the '{{' at {brace.line}:{brace.column} is never closed"
        return _Located(msg, line, col)
    return _Located(describe_unexpected(e), tok.line, tok.column)


# ----------------------------------------------------------------------------- tokens -> values
def value_of(tok: Token) -> Any:
    """The Python value of a value token: int, float, bool (``true``/``false``), str, shape tuple."""
    t, s = tok.type, str(tok)
    try:
        if t == "IDENT":
            return {"true": True, "false": False}.get(s, s)
        if t == "STRING":
            return unquote(s)
        if t in ("INT", "NODE", "DELAY"):
            return int(s)
        if t == "SHAPE":
            return tuple(int(d) for d in s.split("x"))
        if t == "FLOAT":
            return float(s)
    except EscapeError as e:
        raise _at(tok, str(e), e.offset) from None
    except ValueError:  # more digits than int() converts
        raise _at(tok, f"number {s[:20]}... is too long") from None
    raise _at(tok, f"unexpected {t}")


@dataclass
class _Stmt:
    """A statement as tokens: ``keyword words* (key, value)* [body]``."""

    keyword: Token
    words: list[Token]
    attrs: list[tuple[Token, Token]]
    body: list | None = None  # [_Stmt | tree of an edge]
    lbrace: Token | None = None

    @classmethod
    def of(cls, tree: lark.Tree) -> "_Stmt":
        kw, *rest = tree.children
        st = cls(kw, [], [])
        for c in rest:
            if isinstance(c, Token):
                st.words.append(c)
            elif c.data == "attr":
                st.attrs.append((c.children[0], c.children[2]))
            else:  # body
                st.lbrace = c.children[0]
                st.body = [_Stmt.of(i) if i.data == "inner" else i
                           for i in c.children[1:-1] if i is not None]
        return st

    def given(self) -> list[tuple[str, Any]]:
        return [(str(k), value_of(v)) for k, v in self.attrs]

    def point(self, at: tuple | None, kind_word: Token | None = None) -> Token:
        """The token a validate.Problem's ``at`` names."""
        if at and at[0] == "key":
            return self.attrs[at[1]][0]
        if at and at[0] == "value":
            return self.attrs[at[1]][1]
        if at and at[0] in ("kind", "name", "form") and kind_word is not None:
            return kind_word
        return self.keyword


def _edge(tree: lark.Tree) -> tuple[Edge, dict[str, Token]]:
    back, src, arrow, dst, at, delay, op = tree.children
    toks = {"edge": back or src, "src": src, "dst": dst, "delay": delay or at or dst,
            "op": op or dst}
    e = Edge(value_of(src), value_of(dst), value_of(delay) if delay is not None else 0,
             back is not None, str(op) if op is not None else None, loc=_loc(back or src))
    return e, toks


# ----------------------------------------------------------------------------- statements
_EXAMPLES = {"name": '"my-net"', "T": "4", "input": "3x32x32", "classes": "10"}


class _Walker:
    """Turns statements into a Genome, applying :mod:`snnc.genome.validate` and the size limits
    of :mod:`snnc.genome.sizes`."""

    def __init__(self, limits: Limits):
        self.limits = limits

    def genome(self, trees: list[lark.Tree]) -> Genome:
        if not trees:
            raise _Located("empty genome; a genome starts with 'snnc-genome 1'", 1, 1)
        stmts = [_Stmt.of(t) for t in trees]
        first = stmts[0]
        if str(first.keyword) != "snnc-genome":
            raise _at(first.keyword, f"a genome starts with 'snnc-genome {S.FORMAT_VERSION}', not "
                                     f"{str(first.keyword)!r}")
        header: dict[str, Any] = {}
        header_stmts: dict[str, _Stmt] = {}
        blocks: list[Block] = []
        block_stmts: list[_Stmt] = []
        for st in stmts:
            kw = str(st.keyword)
            if kw in S.HEADERS:
                if blocks:
                    raise _at(st.keyword, f"header statement {kw!r} must come before the first "
                                          f"block ({V.label(blocks[0].kind, blocks[0].name)} at "
                                          f"{blocks[0].loc})")
                if S.HEADERS[kw].field in header:
                    raise _at(st.keyword, f"{kw!r} is given twice")
                header[S.HEADERS[kw].field] = self.header(st)
                header_stmts[S.HEADERS[kw].field] = st
            elif kw in S.BLOCKS:
                blocks.append(self.block(st))
                block_stmts.append(st)
            else:
                raise _at(st.keyword, f"unknown statement {kw!r}; expected one of "
                                      f"{', '.join(S.STATEMENTS)}")
        for h in S.HEADERS.values():
            if h.required and h.field not in header:
                raise _at(first.keyword, f"missing header statement {h.keyword!r}, e.g. "
                                         f"'{h.keyword} {_EXAMPLES.get(h.keyword, '')}'")
        try:
            V.genome_blocks(blocks)
        except V.Problem as p:
            _, i, key = p.at
            st = block_stmts[i]
            tok = st.keyword
            if key == "name" and st.words:
                tok = st.words[0]
            elif key is not None:
                tok = next((v for k, v in st.attrs if str(k) == key), st.keyword)
            raise _at(tok, p.message) from None
        header.setdefault("neuron", default_spec("neuron"))
        header.setdefault("surrogate", default_spec("surrogate"))
        genome = Genome(blocks=tuple(blocks), **header)
        over = sizes.check(genome, self.limits)
        if over is not None:
            tok = self._token_of(over.at, genome, header_stmts, block_stmts)
            if isinstance(tok, Loc):
                raise _Located(over.message, tok.line, tok.column, (over.limit, over.value))
            raise _at(tok, over.message).with_limit(over.limit, over.value)
        return genome

    @staticmethod
    def _token_of(at: tuple, genome: Genome, header_stmts: dict, block_stmts: list) -> Any:
        if at[0] == "header":
            st = header_stmts[at[1]]
            return st.words[0] if st.words else st.keyword
        if at[0] == "edge":
            loc = genome.blocks[at[1]].edges[at[2]].loc
            return loc if loc is not None else block_stmts[at[1]].keyword
        st = block_stmts[at[1]]
        if at[2] == "name" and st.words:
            return st.words[0]
        return next((v for k, v in st.attrs if str(k) == at[2]), st.keyword)

    def header(self, st: _Stmt) -> Any:
        kw = str(st.keyword)
        h = S.HEADERS[kw]
        if st.lbrace is not None:
            raise _at(st.lbrace, f"{kw!r} takes no body")
        if h.param is None:  # neuron / surrogate
            return self.spec(kw, st)
        if st.attrs:
            raise _at(st.attrs[0][0], f"{kw!r} takes one value and no attributes")
        if len(st.words) != 1:
            tok = st.words[1] if len(st.words) > 1 else st.keyword
            raise _at(tok, f"{kw!r} takes exactly one value ({h.param.describe()})")
        try:
            return V.coerce(h.param, value_of(st.words[0]), "")
        except V.Problem as p:
            raise _at(st.words[0], p.message) from None

    def spec(self, role: str, st: _Stmt) -> Spec:
        if not st.words:
            raise _at(st.keyword, f"{role} needs a model, one of {', '.join(S.SPECS[role])}")
        if len(st.words) > 1:
            raise _at(st.words[1], f"{role} takes one model word, then key=value attributes")
        kind_tok = st.words[0]
        try:
            s = V.spec(role, value_of(kind_tok), st.given())
        except V.Problem as p:
            raise _at(st.point(p.at, kind_tok), p.message) from None
        return replace(s, loc=_loc(st.keyword))

    def block(self, st: _Stmt) -> Block:
        kw = str(st.keyword)
        bk = S.BLOCKS[kw]
        words = list(st.words)
        pattern = (f"'{kw}{({'required': ' NAME', 'optional': ' [NAME]'}).get(bk.naming, '')}"
                   f"{' FORM' if bk.has_forms else ''} key=value ...'")
        if (bk.naming == "required" and bk.has_forms and len(words) == 1
                and bk.form(str(words[0])) is not None):
            raise _at(st.keyword, f"{kw} needs a name before its form: {pattern}")
        name_tok = form_tok = None
        if bk.naming != "none" and words and (bk.naming == "required" or not bk.has_forms):
            name_tok = words.pop(0)
        if bk.has_forms and words:
            form_tok = words.pop(0)
        if words:
            raise _at(words[0], f"unexpected word {str(words[0])!r}; {kw} is written {pattern}")
        name = value_of(name_tok) if name_tok is not None else None
        form = value_of(form_tok) if form_tok is not None else None
        at = {"name": name_tok, "form": form_tok}
        try:
            f = V.block_form(bk, name, form)
            attrs = V.block_attrs(bk, f, name, st.given())
        except V.Problem as p:
            tok = at.get(p.at[0]) if p.at and p.at[0] in at else None
            raise _at(tok or st.point(p.at), p.message) from None
        edges, toks, neuron, surrogate = [], [], None, None
        for item in st.body or ():
            if isinstance(item, _Stmt):
                role = str(item.keyword)
                if role not in ("neuron", "surrogate"):
                    raise _at(item.keyword, f"unknown statement {role!r} in a block body; expected "
                                            f"an edge, 'neuron ...' or 'surrogate ...'")
                if item.lbrace is not None:
                    raise _at(item.lbrace, f"{role!r} takes no body")
                if (neuron if role == "neuron" else surrogate) is not None:
                    raise _at(item.keyword, f"{V.label(kw, name)}: {role} is given twice")
                s = self.spec(role, item)
                neuron, surrogate = (s, surrogate) if role == "neuron" else (neuron, s)
            else:
                e, t = _edge(item)
                edges.append(e)
                toks.append(t)
        try:
            sorted_edges = V.edges(bk, f, name, dict(attrs), edges)
        except V.Problem as p:
            _, i, part = p.at
            raise _at(toks[i][part], p.message) from None
        return Block(kw, name, f.name, attrs, sorted_edges, neuron, surrogate, _loc(st.keyword))
