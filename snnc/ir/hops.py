"""Synaptic hops: the time steps a neuromorphic chip adds to an IR graph, and the latencies that
absorb them. One place for the timing rule that the Lava planner
(:mod:`snnc.backends.lava.planning`) and the ``hop-timing`` pass (:mod:`snnc.passes.hop_timing`)
both apply.

**Links.** On Loihi 2, and in Lava's simulation of it, neurons talk only through synapses, and
every synapse costs one time step (a spike sent at step ``k`` is integrated at ``k + 1``). The
non-neuron ops between two neurons (convolutions, BatchNorm, pooling, sums, ...) fold into that
synapse. A :class:`Link` is the IR view of one synapse: neuron ``u`` reaches neuron ``j`` along a
path of non-neuron nodes with total IR delay ``D`` (the sum of the edges' delays).
:func:`neuron_links` lists every link of a graph (one per source, target, delay and set of
backward edges passed).

**Latency.** Neuron ``j``'s IR step ``t`` runs at chip step ``L_j + t``. A link through a synapse
with an extra delay line of ``e >= 0`` steps delivers ``u``'s IR step ``t - D`` (sent at
``L_u + t - D``) at ``L_u + t - D + 1 + e``; that is ``j``'s IR step ``t`` exactly when
``e = L_j - L_u - 1 + D``, so the link keeps the IR's timing iff::

    L_j >= L_u + HOP - D          (HOP = 1: one step per synapse)

:func:`balance_latency` gives the least ``L >= 0`` meeting every such difference constraint
(Bellman-Ford). Summed around a loop of ``h`` links with total delay ``d`` the constraints need
``d >= h``: a loop with fewer delay steps than synapse hops cannot keep the IR's semantics on the
chip; it arrives ``h - d`` steps late. Feed-forward paths never fail: the latencies absorb them.

Needs numpy and networkx only (layer ``ir``).
"""
from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from ..errors import GraphError
from .graph import BACKWARD, Edge, Graph
from .ops import NEURON_OPS

#: Time steps one synapse adds between two neurons (Loihi 2 and Lava: a spike sent at step k is
#: integrated at step k + 1).
HOP = 1


@dataclass(frozen=True)
class Link:
    """Neuron ``src`` reaches neuron ``dst`` through non-neuron nodes with IR delay ``delay``;
    ``backward``: the backward edges on the path, in path order (empty: a forward link)."""

    src: str
    dst: str
    delay: int
    backward: tuple[Edge, ...] = ()

    def weight(self, hops: int = HOP) -> int:
        """The least ``L_dst - L_src`` with which this link keeps the IR's timing over ``hops``
        synapse hops (module docstring): ``hops - delay``."""
        return hops - self.delay


def neurons_of(graph: Graph) -> list[str]:
    """The neuron nodes (op kind ``neuron``: LIF, ALIF, PLIF, ReLU) in the graph's node order."""
    return [n.name for n in graph if n.op in NEURON_OPS]


def non_neuron_ancestors(graph: Graph, targets, neurons) -> set[str]:
    """Non-neuron nodes other than the Input with a path to any of ``targets`` that passes no
    node of ``neurons`` (and no Input)."""
    stop = set(neurons)
    seen: set[str] = set()
    stack = list(targets)
    while stack:
        n = stack.pop()
        for e in graph.in_edges(n):
            s = e.src
            if s in stop or graph[s].op == "Input" or s in seen:
                continue
            seen.add(s)
            stack.append(s)
    return seen


def neuron_links(graph: Graph, neurons=None) -> list[Link]:
    """Every :class:`Link` of ``graph`` between the ``neurons`` (default :func:`neurons_of`),
    grouped by target in ``neurons`` order; paths that differ only in forward edges with the same
    total delay are one link.

    Raises:
        GraphError: a cycle through non-neuron nodes only (a linear recurrence: no synapse can
            carry it), rule ``neuron-free cycle``.
    """
    neurons = neurons_of(graph) if neurons is None else list(neurons)
    is_neuron = set(neurons)
    region = non_neuron_ancestors(graph, neurons, neurons)
    sub = nx.DiGraph()
    sub.add_nodes_from(n for n in graph.nodes if n in region)
    sub.add_edges_from((e.src, e.dst) for e in graph.edges if e.src in region and e.dst in region)
    try:
        order = list(nx.topological_sort(sub))
    except nx.NetworkXUnfeasible:
        cyc = [u for u, _ in nx.find_cycle(sub)]
        raise GraphError(f"cycle {' -> '.join(cyc + cyc[:1])} has no neuron on it: no synapse "
                         f"can carry a linear recurrence", node=cyc[0],
                         rule="neuron-free cycle") from None
    reach: dict[str, dict[tuple, None]] = {}

    def through(e: Edge):
        if e.src in is_neuron:
            keys = ((e.src, 0, ()),)
        else:
            keys = reach.get(e.src, ())  # the Input and nodes outside the region reach nothing
        back = (e,) if e.kind == BACKWARD else ()
        return [(u, d + e.delay, b + back) for u, d, b in keys]

    for n in order:
        reach[n] = dict.fromkeys(k for e in graph.in_edges(n) for k in through(e))
    out: list[Link] = []
    for j in neurons:
        keys = dict.fromkeys(k for e in graph.in_edges(j) for k in through(e))
        out += [Link(u, j, d, b) for u, d, b in keys]
    return out


class Unbalanced(Exception):
    """No latencies meet the constraints; ``cycle`` is a cycle of them (nodes, first repeated
    last) whose weights sum above zero."""

    def __init__(self, cycle):
        super().__init__(" -> ".join(map(str, cycle)))
        self.cycle = cycle


def balance_latency(neurons: list[str], links: list[tuple[str, str, int, bool]]) -> dict[str, int]:
    """Least integer ``L >= 0`` meeting every link ``(u, j, w, exact)``: ``L[j] >= L[u] + w``,
    with equality where ``exact``. Raises :class:`Unbalanced` if there is none."""
    cons = [(u, j, w) for u, j, w, _ in links] + [(j, u, -w) for u, j, w, ex in links if ex]
    L = {n: 0 for n in neurons}
    for _ in range(len(neurons) + 1):
        changed = False
        for u, j, w in cons:
            if L[u] + w > L[j]:
                L[j] = L[u] + w
                changed = True
        if not changed:
            return L
    g = nx.DiGraph()
    for u, j, w in cons:  # the tightest constraint per pair, negated: a negative-cycle search
        if not g.has_edge(u, j) or -w < g[u][j]["weight"]:
            g.add_edge(u, j, weight=-w)
    g.add_node("__root__")
    g.add_edges_from(("__root__", n, {"weight": 0}) for n in neurons)
    raise Unbalanced(nx.find_negative_cycle(g, "__root__"))


def hop_latency(neurons: list[str], links: list[Link]) -> dict[str, int]:
    """The least latencies of ``neurons`` (chip step of IR step 0) over the links, every link one
    synapse hop. Raises :class:`Unbalanced` for a loop with less delay than hops."""
    return balance_latency(neurons, [(k.src, k.dst, k.weight(), False) for k in links])
