"""The execution plan of a compiled graph: the condensation of the full graph (every edge, every
delay) in a deterministic topological order. A unit is one node, run multi-step, or a strongly
connected component (made by backward edges), run step by step."""
from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from ...ir.graph import Graph


@dataclass
class Unit:
    """A condensation node: one node run multi-step, or a strongly connected component run step by
    step (members in a topological order of the zero-delay edges)."""

    members: list[str]
    cyclic: bool
    live: bool
    release: list[str] = field(default_factory=list)  # values no later unit reads


def plan(graph: Graph, mode: str = "multi") -> list[Unit]:
    """:func:`units`, each with the values it is the last reader of (never the Output's)."""
    found = units(graph, mode)
    where = {m: i for i, u in enumerate(found) for m in u.members}
    out = graph.output_node.name
    for node in graph:
        readers = [where[d] for d in graph.successors(node.name)]
        last = max(readers + [where[node.name]])
        if node.name != out:
            found[last].release.append(node.name)
    return found


def units(graph: Graph, mode: str) -> list[Unit]:
    """The condensation of the full graph in a deterministic topological order (``mode="multi"``),
    or every node but the Input in one step-by-step unit (``mode="step"``; the dead ones in a
    second unit after it)."""
    g = graph.to_networkx()
    order = graph.topological_order()
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
