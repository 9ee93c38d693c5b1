"""The execution plan of a compiled graph: the condensation of the graph (every edge, every delay)
in a deterministic topological order. A unit is one node, run multi-step, or a strongly connected
component (made by backward edges), run step by step.

A supernet under an assignment is planned on what the assignment runs: without the skipped nodes
and the edges into unselected ports. Its components are then those of the candidate's plain graph,
so train-mode BatchNorm (statistics over ``T*B`` samples outside components, per step inside)
computes what the resolved graph computes; planned on the full supernet, the unselected backward
connections would put nearly every node in one component."""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ...ir.choices import selected_edges
from ...ir.graph import Graph


@dataclass
class Unit:
    """A condensation node: one node run multi-step, or a strongly connected component run step by
    step (members in a topological order of the zero-delay edges)."""

    members: list[str]
    cyclic: bool
    live: bool
    release: list[str] = field(default_factory=list)  # values no later unit reads


def plan(graph: Graph, mode: str = "multi", picks: dict[str, int] | None = None,
         skip: frozenset[str] | set[str] = frozenset()) -> list[Unit]:
    """:func:`units`, each with the values it is the last reader of (never the Output's), of the
    graph without the nodes ``skip`` and the edges into ports that ``picks`` (choice node ->
    selected port, -1 none) leaves unselected."""
    g = selected_networkx(graph, picks or {}, skip)
    found = units(graph, mode, g)
    where = {m: i for i, u in enumerate(found) for m in u.members}
    out = graph.output_node.name
    for name in g.nodes:
        readers = [where[d] for d in g.successors(name)]
        last = max(readers + [where[name]])
        if name != out:
            found[last].release.append(name)
    return found


def selected_networkx(graph: Graph, picks: dict[str, int], skip) -> nx.MultiDiGraph:
    """``graph.to_networkx()`` less the nodes ``skip`` and the edges ``picks`` does not select."""
    if not picks and not skip:
        return graph.to_networkx()
    used = selected_edges(graph, picks)
    g = nx.MultiDiGraph()
    g.add_nodes_from(n for n in graph.nodes if n not in skip)
    g.add_edges_from((e.src, e.dst, {"port": e.port, "delay": e.delay, "kind": e.kind})
                     for e in graph.edges if used(e) and e.src not in skip and e.dst not in skip)
    return g


def units(graph: Graph, mode: str, g: nx.MultiDiGraph | None = None) -> list[Unit]:
    """The condensation of ``g`` (default: the full graph) in a deterministic topological order
    (``mode="multi"``), or every node but the Input in one step-by-step unit (``mode="step"``; the
    dead ones in a second unit after it)."""
    g = graph.to_networkx() if g is None else g
    order = [n for n in graph.topological_order() if n in g]
    pos = {n: i for i, n in enumerate(order)}
    live = graph.reaching(graph.output_node.name)
    inp = graph.input_node.name
    if mode == "step":
        steps = [Unit([inp], False, True)]
        for alive in (True, False):
            members = [n for n in order if n != inp and (n in live) == alive]
            if members:
                steps.append(Unit(members, True, alive))
        return steps
    if mode != "multi":
        raise ValueError(f"mode must be 'multi' or 'step', got {mode!r}")
    cond = nx.condensation(g)
    key = {c: min(pos[m] for m in cond.nodes[c]["members"]) for c in cond}
    found = []
    for c in nx.lexicographical_topological_sort(cond, key=key.__getitem__):
        members = sorted(cond.nodes[c]["members"], key=pos.__getitem__)
        cyclic = len(members) > 1 or g.has_edge(members[0], members[0])
        found.append(Unit(members, cyclic, members[0] in live))
    return found
