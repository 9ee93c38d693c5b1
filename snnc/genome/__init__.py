"""The genome language: AST, grammar, schema, parser, canonical printer and genome ids.

    >>> g = parse(text)                  # GenomeSyntaxError with file:line:col on bad input
    >>> to_text(g)                       # canonical text; parse(to_text(g)) == g
    >>> genome_id(g)                     # sha256 of the canonical text

Importing this package needs the standard library and lark only.
"""
from __future__ import annotations

from pathlib import Path

from ..errors import GenomeSyntaxError
from . import schema
from .ast import Block, Edge, Genome, Loc, Spec
from .neuron import canonical_neuron
from .parser import build_spec, parse
from .printer import genome_id, to_text


def parse_file(path: str | Path) -> Genome:
    """Parse a genome file; errors carry the file's path."""
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), filename=str(path))


def make_spec(kind: str, table: str = "neuron", **params) -> Spec:
    """A validated, completed neuron (``table="neuron"``) or surrogate spec, e.g.
    ``make_spec("lif", tau=3.0, decay_input=False)``. Raises GenomeSyntaxError on bad values."""
    tables = {"neuron": schema.NEURONS, "surrogate": schema.SURROGATES}
    return _checked(lambda: build_spec(kind, [(k, v, None) for k, v in params.items()], None,
                                       tables[table], table))


def make_block(kind: str, name: str | None = None, form: str | None = None, *,
               edges=(), neuron: Spec | None = None, surrogate: Spec | None = None,
               **attrs) -> Block:
    """A validated block with defaults filled in, e.g.
    ``make_block("stage", "s3", "graph", nodes=4, channels=32, edges=[Edge(0, 1)])``."""
    from .parser import _Builder, _Stmt

    def build():
        words = [(w, None) for w in (name, form) if w is not None]
        st = _Stmt(kind, Loc(1, 1), words, [(k, v, None) for k, v in attrs.items()],
                   list(edges))
        if kind not in schema.BLOCKS:
            from .parser import _fail
            _fail(f"unknown block kind {kind!r}; expected one of {', '.join(schema.BLOCKS)}", None)
        b = _Builder([]).block(st)
        from dataclasses import replace
        return replace(b, neuron=neuron, surrogate=surrogate, loc=None)

    return _checked(build)


def _checked(fn):
    from .parser import _Err

    try:
        return fn()
    except _Err as e:
        raise GenomeSyntaxError(e.msg, e.line, e.col) from None


__all__ = ["Block", "Edge", "Genome", "Loc", "Spec", "GenomeSyntaxError", "canonical_neuron",
           "genome_id", "make_block", "make_spec", "parse", "parse_file", "schema", "to_text"]
