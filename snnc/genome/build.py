"""Validated AST constructors for code that writes genomes (searchers, tests).

They apply the same schema checks as the parser and return complete nodes (defaults filled in,
attributes in table order, edges sorted), so ``parse(to_text(g)) == g`` holds for genomes built from
them. Faults raise :class:`~snnc.errors.GenomeSyntaxError` at the given ``loc`` (``0:0`` when none),
with the file name ``<make_block>`` etc.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable

from ..errors import GenomeSyntaxError
from . import schema as S
from . import validate as V
from .ast import Block, Edge, Genome, Loc, Spec


def _raise(e: V.Problem, loc: Loc | None, who: str):
    raise GenomeSyntaxError(e.message, loc.line if loc else 0, loc.column if loc else 0,
                            filename=f"<{who}>") from None


def make_spec(kind: str, table: str | None = None, *, loc: Loc | None = None,
              **params: Any) -> Spec:
    """A complete neuron or surrogate spec: ``make_spec("lif", tau=3, decay_input=False)``,
    ``make_spec("atan", "surrogate", alpha=2)``. ``table`` (``"neuron"``/``"surrogate"``) is inferred
    from ``kind`` when omitted (model names are unique across both tables)."""
    if table is None:
        table = "surrogate" if kind in S.SURROGATES else "neuron"
    if table not in S.SPECS:
        raise ValueError(f"table must be 'neuron' or 'surrogate', got {table!r}")
    try:
        return replace(V.spec(table, kind, list(params.items())), loc=loc)
    except V.Problem as e:
        _raise(e, loc, "make_spec")


def _edge(e: Edge | tuple) -> Edge:
    return e if isinstance(e, Edge) else Edge(*e)


def make_block(kind: str, name: str | None = None, form: str | None = None, *,
               edges: Iterable[Edge | tuple] = (), neuron: Spec | None = None,
               surrogate: Spec | None = None, loc: Loc | None = None, **attrs: Any) -> Block:
    """A complete block, e.g. ``make_block("stage", "s3", "graph", nodes=4, channels=32,
    edges=[Edge(0, 1), Edge(1, 3, 1), Edge(3, 1, 1, backward=True)])``; tuples
    ``(src, dst[, delay[, backward[, op]]])`` are accepted for edges."""
    try:
        bk = V.block_kind(kind)
        f = V.block_form(bk, name, form)
        full = V.block_attrs(bk, f, name, list(attrs.items()))
        es = V.edges(bk, f, name, dict(full), [_edge(e) for e in edges])
    except V.Problem as e:
        _raise(e, loc, "make_block")
    for role, s in (("neuron", neuron), ("surrogate", surrogate)):
        if s is not None and s.kind not in S.SPECS[role]:
            _raise(V.Problem(f"{V.label(kind, name)}: unknown {role} {s.kind!r}"), loc,
                   "make_block")
    return Block(kind, name, f.name, full, es, neuron, surrogate, loc)


def make_genome(name: str, T: int, input_shape: tuple[int, ...] | int, classes: int,
                blocks: Iterable[Block] = (), *, neuron: Spec | None = None,
                surrogate: Spec | None = None, encoding: str = "direct",
                provenance: str | None = None) -> Genome:
    """A checked genome; neuron and surrogate default to ``lif tau=2`` and ``atan alpha=2``.
    Applies the header checks and the genome-wide block rules (unique names, the classifier last,
    references such as ``layer l4 cell=c3`` to earlier blocks)."""
    blocks = tuple(blocks)
    values = {}
    try:
        for key, v in (("name", name), ("provenance", provenance), ("T", T),
                       ("input", input_shape), ("classes", classes), ("encoding", encoding)):
            h = S.HEADERS[key]
            values[h.field] = None if v is None and not h.required else V.coerce(h.param, v, "")
        V.genome_blocks(blocks)
    except V.Problem as e:
        _raise(e, None, "make_genome")
    return Genome(neuron=neuron or default_spec("neuron"),
                  surrogate=surrogate or default_spec("surrogate"), blocks=blocks, **values)


def default_spec(role: str) -> Spec:
    """``lif tau=2`` or ``atan alpha=2``: what a genome without that header statement uses."""
    kind, params = S.DEFAULT_NEURON if role == "neuron" else S.DEFAULT_SURROGATE
    return V.spec(role, kind, list(params))
