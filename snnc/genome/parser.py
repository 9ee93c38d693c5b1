"""Genome text -> :class:`~snnc.genome.ast.Genome`: lark grammar, then the schema's checks.

Every fault, syntactic or semantic, raises :class:`~snnc.errors.GenomeSyntaxError` with the line and
column of the offending token and what was expected; no other exception escapes :func:`parse`.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import lark

from ..errors import GenomeSyntaxError
from .ast import Block, Edge, Genome, Loc, Spec
from . import schema as S

#: Lark terminal names in words a person understands.
FRIENDLY = {
    "NAME": "a name", "STRING": "a quoted string", "SIGNED_INT": "an integer node id",
    "INT": "a non-negative integer delay", "SIGNED_NUMBER": "a number", "SHAPE": "a shape like 3x32x32",
    "ARROW": "'->'", "BACK": "'back'", "_NL": "end of line", "LBRACE": "'{'", "RBRACE": "'}'",
    "EQUAL": "'='", "AT": "'@'", "$END": "end of file",
}


@lru_cache(maxsize=1)
def _lark() -> lark.Lark:
    text = resources.files(__package__).joinpath("grammar.lark").read_text(encoding="utf-8")
    return lark.Lark(text, parser="lalr", lexer="contextual", propagate_positions=True,
                     maybe_placeholders=False)


@dataclass
class _Stmt:
    keyword: str
    loc: Loc
    words: list = field(default_factory=list)  # [(value, Loc)]
    attrs: list = field(default_factory=list)  # [(key, value, Loc)]
    body: list | None = None  # [_Stmt | Edge]


def parse(text: str, filename: str = "<genome>") -> Genome:
    """Parse genome ``text``. Raises GenomeSyntaxError (``file:line:col: message``)."""
    lines = text.splitlines()
    try:
        if not isinstance(text, str):
            raise _Err("a genome is text", 1, 1)
        if "\x00" in text:
            i = text.index("\x00")
            line = text.count("\n", 0, i) + 1
            raise _Err("NUL character in genome text", line, i - text.rfind("\n", 0, i))
        tree = _lark().parse(text + "\n")
        stmts = [_stmt(t) for t in tree.children]
        return _Builder(stmts).genome()
    except _Err as e:
        raise GenomeSyntaxError(e.msg, e.line, e.col, _line(lines, e.line), filename) from None
    except lark.exceptions.UnexpectedInput as e:
        line, col = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
        raise GenomeSyntaxError(_describe(e), max(line, 1), max(col, 1), _line(lines, line),
                                filename) from None
    except RecursionError:
        raise GenomeSyntaxError("genome nested too deeply", 1, 1, "", filename) from None


def _line(lines: list[str], n: int) -> str:
    return lines[n - 1] if 0 < n <= len(lines) else ""


class _Err(Exception):
    def __init__(self, msg: str, line: int, col: int):
        self.msg, self.line, self.col = msg, line, col


def _fail(msg: str, loc: Loc | None):
    raise _Err(msg, loc.line if loc else 1, loc.column if loc else 1)


def _describe(e: lark.exceptions.UnexpectedInput) -> str:
    expected = sorted({FRIENDLY.get(t, repr(t) if not t.isupper() else t.lower())
                       for t in (getattr(e, "expected", None) or getattr(e, "allowed", None) or ())})
    want = f"; expected {', '.join(expected)}" if expected else ""
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        return f"unexpected character {e.char!r}{want}"
    if isinstance(e, lark.exceptions.UnexpectedEOF):
        return f"unexpected end of file{want}"
    tok = getattr(e, "token", None)
    if tok is None or tok.type == "$END":
        return f"unexpected end of file{want}"
    shown = "end of line" if tok.type == "_NL" else repr(str(tok))
    return f"unexpected {shown}{want}"


# ----------------------------------------------------------------- tree -> raw statements
def _loc(tok) -> Loc:
    return Loc(tok.line, tok.column)


def _value(t) -> tuple[Any, Loc]:
    tok = t.children[0]
    s = str(tok)
    if t.data == "shape":
        return tuple(int(p) for p in s.split("x")), _loc(tok)
    if t.data == "number":
        if re.fullmatch(r"[+-]?[0-9]+", s):
            return int(s), _loc(tok)
        v = float(s)
        if not math.isfinite(v):
            _fail(f"number {s} is out of range", _loc(tok))
        return v, _loc(tok)
    if t.data == "string":
        return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)),
                      s[1:-1]), _loc(tok)
    return {"true": True, "false": False}.get(s, s), _loc(tok)


def _stmt(t) -> _Stmt:
    kw = t.children[0]
    st = _Stmt(str(kw), _loc(kw))
    for c in t.children[1:]:
        if c.data == "word":
            st.words.append(_value(c.children[0]))
        elif c.data == "attr":
            key = c.children[0]
            if any(k == str(key) for k, _, _ in st.attrs):
                _fail(f"attribute {str(key)!r} given twice", _loc(key))
            st.attrs.append((str(key), _value(c.children[1])[0], _loc(key)))
        elif c.data == "body":
            st.body = [_edge(i) if i.data == "edge" else _stmt(i) for i in c.children]
    return st


def _edge(t) -> Edge:
    toks = list(t.children)
    back = toks[0].type == "BACK"
    first = toks[1] if back else toks[0]
    rest = [x for x in toks if not isinstance(x, lark.Token) or x.type in ("NAME",)]
    src = int(first)
    ints = [x for x in toks if isinstance(x, lark.Token) and x.type == "SIGNED_INT"]
    dst = int(ints[1])
    delay = 0
    op = None
    for x in rest:
        if isinstance(x, lark.Tree):
            delay = int(x.children[0])
        else:
            op = str(x)
    return Edge(src, dst, delay, back, op, loc=_loc(first if not back else toks[0]))


# ----------------------------------------------------------------- schema checks
def check_value(key: str, attr: S.Attr, value: Any, loc: Loc | None, owner: str):
    """Value converted to the attribute's type, or a located error."""
    t = attr.type
    ok = {"int": isinstance(value, int) and not isinstance(value, bool),
          "float": isinstance(value, (int, float)) and not isinstance(value, bool),
          "bool": isinstance(value, bool), "str": isinstance(value, str),
          "shape": isinstance(value, tuple)}[t]
    if not ok:
        kind = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a name",
                "shape": "a shape like 3x32x32"}[t]
        _fail(f"{owner}: {key} must be {kind}, got {_show(value)}", loc)
    if t == "float":
        value = float(value)
    if attr.choices and value not in attr.choices:
        _fail(f"{owner}: {key} must be one of {', '.join(map(str, attr.choices))}, got "
              f"{_show(value)}", loc)
    if attr.lo is not None and value < attr.lo or attr.hi is not None and value > attr.hi:
        lo = "" if attr.lo is None else f">= {attr.lo}"
        hi = "" if attr.hi is None else f"<= {attr.hi}"
        _fail(f"{owner}: {key} must be {' and '.join(x for x in (lo, hi) if x)}, got {_show(value)}",
              loc)
    return value


def _show(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, tuple):
        return "x".join(map(str, v))
    return repr(v) if isinstance(v, str) else str(v)


def build_spec(kind: str, given: list, loc: Loc | None, table: dict, what: str) -> Spec:
    """A neuron or surrogate Spec from ``[(key, value, loc)]``, validated and completed."""
    if kind not in table:
        _fail(f"unknown {what} {kind!r}; expected one of {', '.join(table)}", loc)
    attrs = table[kind]
    keys = {k for k, _, _ in given}
    for k, _, kloc in given:
        if k not in attrs:
            _fail(f"unknown parameter {k!r} for {what} {kind!r}; expected one of "
                  f"{', '.join(attrs) or 'none'}", kloc)
    groups = S.PARAMETERISATIONS.get(kind, ())
    chosen: tuple = ()
    if groups:
        used = [g for g in groups if keys & set(g)]
        if len(used) > 1:
            _fail(f"{what} {kind!r}: use one of the parameterisations "
                  f"{' | '.join('/'.join(g) for g in groups)}, not several", loc)
        chosen = used[0] if used else groups[0]
    excluded = {k for g in groups for k in g} - set(chosen)
    values = {k: check_value(k, attrs[k], v, kloc, f"{what} {kind}") for k, v, kloc in given}
    params = []
    for k, attr in attrs.items():
        if k in excluded:
            continue
        if k in values:
            params.append((k, values[k]))
        elif attr.default is S.REQUIRED:
            _fail(f"{what} {kind!r}: missing parameter {k!r}", loc)
        else:
            params.append((k, float(attr.default) if attr.type == "float" else attr.default))
    return Spec(kind, tuple(params), loc=loc)


class _Builder:
    def __init__(self, stmts: list[_Stmt]):
        self.stmts = stmts

    def genome(self) -> Genome:
        if not self.stmts:
            raise _Err("empty genome; expected 'snnc-genome 1' as the first statement", 1, 1)
        first = self.stmts[0]
        if first.keyword != "snnc-genome":
            _fail(f"a genome starts with 'snnc-genome 1', not {first.keyword!r}", first.loc)
        header: dict[str, Any] = {}
        blocks: list[Block] = []
        names: set[str] = set()
        for st in self.stmts:
            if st.keyword in S.HEADER:
                if blocks:
                    _fail(f"header statement {st.keyword!r} after the first block", st.loc)
                if st.keyword in header:
                    _fail(f"{st.keyword!r} given twice", st.loc)
                header[st.keyword] = self.header(st)
            elif st.keyword in S.BLOCKS:
                b = self.block(st)
                if b.name is not None:
                    if b.name in names:
                        _fail(f"block name {b.name!r} is already used", st.loc)
                    names.add(b.name)
                if blocks and blocks[-1].kind == "classifier":
                    _fail("the classifier must be the last block", st.loc)
                blocks.append(b)
            else:
                _fail(f"unknown statement {st.keyword!r}; expected one of "
                      f"{', '.join(list(S.HEADER) + list(S.BLOCKS))}", st.loc)
        for key, (_, required, _) in S.HEADER.items():
            if required and key not in header:
                _fail(f"missing header statement {key!r}", first.loc)
        neuron = header.get("neuron") or build_spec(S.DEFAULT_NEURON[0], [
            (k, v, None) for k, v in S.DEFAULT_NEURON[1].items()], None, S.NEURONS, "neuron")
        surrogate = header.get("surrogate") or build_spec(S.DEFAULT_SURROGATE[0], [], None,
                                                          S.SURROGATES, "surrogate")
        return Genome(name=header["name"], T=header["T"], input_shape=header["input"],
                      classes=header["classes"], neuron=neuron, surrogate=surrogate,
                      blocks=tuple(blocks), encoding=header.get("encoding", "direct"),
                      provenance=header.get("provenance"), version=header["snnc-genome"])

    def header(self, st: _Stmt):
        typ = S.HEADER[st.keyword][0]
        if st.body is not None:
            _fail(f"{st.keyword!r} takes no body", st.loc)
        if typ == "spec":
            if len(st.words) != 1 or not isinstance(st.words[0][0], str):
                _fail(f"{st.keyword!r} needs one model name, e.g. 'neuron lif tau=2'", st.loc)
            table = S.NEURONS if st.keyword == "neuron" else S.SURROGATES
            return build_spec(st.words[0][0], st.attrs, st.words[0][1], table, st.keyword)
        if st.attrs:
            _fail(f"{st.keyword!r} takes no attributes", st.attrs[0][2])
        if len(st.words) != 1:
            _fail(f"{st.keyword!r} takes exactly one value", st.loc)
        value, loc = st.words[0]
        if st.keyword == "snnc-genome":
            check_value("version", S.Attr("int", lo=1), value, loc, "snnc-genome")
            if value > S.FORMAT_VERSION:
                _fail(f"genome format version {value} is newer than this snnc supports "
                      f"({S.FORMAT_VERSION})", loc)
            return value
        if st.keyword == "input":
            if not isinstance(value, tuple) and isinstance(value, int) and not isinstance(value, bool):
                value = (value,)
            check_value("input", S.Attr("shape"), value, loc, "input")
            if not 1 <= len(value) <= 3 or min(value) < 1:
                _fail("input must be CxHxW or F with every size >= 1", loc)
            return value
        if st.keyword == "encoding":
            return check_value("encoding", S.Attr("str", choices=S.ENCODINGS), value, loc, "encoding")
        if st.keyword in ("T", "classes"):
            return check_value(st.keyword, S.Attr("int", lo=1, hi=1_000_000), value, loc, st.keyword)
        return check_value(st.keyword, S.Attr("str"), value, loc, st.keyword)

    def block(self, st: _Stmt) -> Block:
        kind = S.BLOCKS[st.keyword]
        owner = st.keyword
        words = list(st.words)
        name = form = None
        for v, loc in words:
            if not isinstance(v, str) or isinstance(v, bool):
                _fail(f"{owner}: expected a name, got {_show(v)}", loc)
        want_form = bool(kind.forms)
        if words and (kind.name_required or len(words) > int(want_form) or
                      (want_form and words[0][0] not in kind.forms) or not want_form):
            name = words.pop(0)[0]
        if kind.name_required and name is None:
            _fail(f"{owner} needs a name, e.g. '{owner} s1 ...'", st.loc)
        if want_form:
            if not words:
                _fail(f"{owner} {name or ''}: missing form; expected one of "
                      f"{', '.join(kind.forms)}", st.loc)
            form, floc = words.pop(0)
            if form not in kind.forms:
                _fail(f"{owner}: unknown form {form!r}; expected one of {', '.join(kind.forms)}", floc)
        if words:
            _fail(f"{owner}: unexpected word {_show(words[0][0])}", words[0][1])
        owner = f"{owner} {name}" if name else owner
        applicable = {k: a for k, a in kind.attrs.items() if not a.forms or form in a.forms}
        given = {}
        for k, v, loc in st.attrs:
            if k not in applicable:
                _fail(f"unknown attribute {k!r} for {st.keyword!r}"
                      f"{' ' + form if form else ''}; expected one of {', '.join(applicable)}", loc)
            given[k] = check_value(k, applicable[k], v, loc, owner)
        attrs = []
        for k, a in applicable.items():
            if k in given:
                attrs.append((k, given[k]))
            else:
                d = a.default_for(form)
                if d is S.REQUIRED:
                    _fail(f"{owner}: missing attribute {k!r}", st.loc)
                attrs.append((k, float(d) if a.type == "float" else d))
        edges, neuron, surrogate = self.body(st, kind, form, dict(attrs), owner)
        return Block(st.keyword, name, form, tuple(attrs), edges, neuron, surrogate, loc=st.loc)

    def body(self, st, kind, form, attrs, owner):
        edges: list[Edge] = []
        neuron = surrogate = None
        for item in st.body or ():
            if isinstance(item, Edge):
                if (form or "") not in kind.edges:
                    _fail(f"{owner}: edges are not allowed here", item.loc)
                edges.append(check_edge(item, kind.edge_ops.get(form or ""), attrs, owner))
            elif item.keyword in ("neuron", "surrogate"):
                if (neuron if item.keyword == "neuron" else surrogate) is not None:
                    _fail(f"{owner}: {item.keyword!r} given twice", item.loc)
                spec = self.header(item)
                neuron, surrogate = (spec, surrogate) if item.keyword == "neuron" else (neuron, spec)
            else:
                _fail(f"{owner}: unexpected {item.keyword!r} in a block body; expected an edge "
                      f"'i -> j', 'neuron ...' or 'surrogate ...'", item.loc)
        seen = set()
        for e in edges:
            key = (e.src, e.dst, e.delay, e.backward, e.op)
            if key in seen:
                _fail(f"{owner}: duplicate edge {e.src} -> {e.dst}", e.loc)
            seen.add(key)
        return tuple(sorted(edges, key=Edge.sort_key)), neuron, surrogate


def check_edge(e: Edge, ops, attrs: dict, owner: str) -> Edge:
    """Validate an edge against its block: node range, direction, delay, operation."""
    if ops is None and e.op is not None:
        _fail(f"{owner}: edges here carry no operation, got {e.op!r}", e.loc)
    if ops is not None:
        if e.op is None:
            _fail(f"{owner}: edge {e.src} -> {e.dst} needs an operation ({', '.join(ops)})", e.loc)
        if e.op not in ops:
            _fail(f"{owner}: unknown operation {e.op!r}; expected one of {', '.join(ops)}", e.loc)
    n = attrs.get("nodes")
    lo = -2 if ops is not None and "snn_b3" in ops else 0
    if n is not None:
        for v in (e.src, e.dst):
            if not lo <= v < n:
                _fail(f"{owner}: node id {v} out of range {lo}..{n - 1}", e.loc)
    if e.delay > 1_000_000:
        _fail(f"{owner}: delay {e.delay} is too large", e.loc)
    if e.backward:
        if e.src < e.dst:
            _fail(f"{owner}: backward edge {e.src} -> {e.dst} must go from a later (or the same) "
                  f"node to an earlier one", e.loc)
        if e.delay < 1:
            _fail(f"{owner}: backward edge {e.src} -> {e.dst} needs a delay >= 1, e.g. '@1'", e.loc)
    elif e.src >= e.dst:
        _fail(f"{owner}: forward edge {e.src} -> {e.dst} must go from a lower to a higher node id; "
              f"write 'back {e.src} -> {e.dst} @1' for a backward connection", e.loc)
    return e
