"""Resource limits on a genome's own numbers, checked right after parsing, before any lowering.

What a genome states directly is bounded here: name lengths, ``T``, the input size, ``classes``,
every layer width (``channels``, ``hidden``, ``vote``), node counts (``nodes``, ``depth``), the
number of edges and each delay. Totals that need shapes (parameters, MACs, IR nodes and edges) are
bounded while the frontend lowers (:class:`snnc.frontend.builder.Builder`). The limits themselves
are :class:`snnc.limits.Limits`.
"""
from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..limits import Limits
from .ast import Genome


@dataclass(frozen=True)
class Over:
    """One value over a limit. ``at``: ``("header", field)``, ``("block", i, key)`` (key ``None``:
    the block keyword, ``"name"``: its name word) or ``("edge", i, j)``."""

    limit: str
    value: int
    message: str
    at: tuple


def check(genome: Genome, limits: Limits) -> Over | None:
    """The first value of ``genome`` over ``limits``, or None."""
    for over in _walk(genome, limits):
        if over is not None:
            return over
    return None


def _over(limits: Limits, name: str, value: int, what: str, at: tuple) -> Over | None:
    if not limits.exceeded(name, value):
        return None
    return Over(name, value, limits.message(name, value, what), at)


def _walk(g: Genome, lim: Limits):
    yield _over(lim, "name", len(g.name), "the model name's length", ("header", "name"))
    yield _over(lim, "T", g.T, "T", ("header", "T"))
    yield _over(lim, "input", prod(g.input_shape), "the input size "
                + "x".join(str(d) for d in g.input_shape)[:60], ("header", "input_shape"))
    yield _over(lim, "classes", g.classes, "classes", ("header", "classes"))
    nodes = edges = 0
    for i, b in enumerate(g.blocks):
        who = f"{b.kind} {b.name}" if b.name else b.kind
        if b.name is not None:
            yield _over(lim, "name", len(b.name), f"{b.kind}: the name's length", ("block", i, "name"))
        for key in ("channels", "hidden"):
            v = b.get(key)
            if isinstance(v, int):
                yield _over(lim, "channels", v, f"{who}: {key}", ("block", i, key))
        vote = b.get("vote")
        if isinstance(vote, int) and vote:
            yield _over(lim, "classes", vote * g.classes, f"{who}: vote x classes",
                        ("block", i, "vote"))
        for key in ("nodes", "depth"):
            v = b.get(key)
            if isinstance(v, int):
                nodes += v
                yield _over(lim, "nodes", nodes, f"{who}: {key} (with earlier blocks)",
                            ("block", i, key))
        for j, e in enumerate(b.edges):
            yield _over(lim, "delay", e.delay, f"{who}: the delay of an edge", ("edge", i, j))
        before, edges = edges, edges + len(b.edges)
        if lim.exceeded("edges", edges):
            # point at the first edge past the limit
            yield _over(lim, "edges", edges, f"{who}: the number of edges (with earlier blocks)",
                        ("edge", i, max(0, lim.edges - before)))
