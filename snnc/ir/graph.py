"""The spiking dataflow graph: named nodes, edges with synaptic delays, and a small editing API.

Semantics (docs/ARCHITECTURE.md, "The IR"): for ``t = 0 .. T-1``, visiting nodes in a topological order of the
zero-delay subgraph::

    in_j[t]  = sum over edges (i -> j, port p, delay d) of out_i[t - d]   (zero when t - d < 0)
    out_j[t] = op_j(in_j[t], state_j)

A :class:`Graph` is mutable only through its methods, which keep the adjacency indices in step and
refuse unsafe edits with a reason. Passes copy the graph (:meth:`Graph.copy`) and edit the copy.
"""
from __future__ import annotations

import copy as _copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

import networkx as nx
import numpy as np

from ..errors import GraphError

FORWARD = "forward"
BACKWARD = "backward"
EDGE_KINDS = (FORWARD, BACKWARD)


@dataclass(frozen=True)
class Edge:
    """A connection ``src -> dst`` into input ``port`` of ``dst``, read ``delay`` time steps late.

    ``kind`` records whether the frontend created a forward connection or a backward connection
    (feedback from a later layer, SNASNet section 4.3, BCNAS-SNN eq. 6); backward edges need
    ``delay >= 1``.
    """

    src: str
    dst: str
    port: int = 0
    delay: int = 0
    kind: str = FORWARD

    def __str__(self) -> str:
        port = f":{self.port}" if self.port else ""
        delay = f" @{self.delay}" if self.delay else ""
        back = " (backward)" if self.kind == BACKWARD else ""
        return f"{self.src} -> {self.dst}{port}{delay}{back}"


@dataclass(eq=False)
class Node:
    """One operation. ``shape`` is the inferred output shape per sample (``(C, H, W)`` or ``(F,)``).

    ``attrs`` holds scalars (ints, floats, strings, bools, tuples of ints); ``params`` holds named
    float arrays (weights, BatchNorm statistics). ``loc`` points back at the genome text that
    produced the node (``"line:col"``) so errors can name it; ``meta`` is for analyses.
    """

    name: str
    op: str
    attrs: dict[str, Any] = field(default_factory=dict)
    params: dict[str, np.ndarray] = field(default_factory=dict)
    shape: tuple[int, ...] | None = None
    loc: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.op}, shape={self.shape})"


class Graph:
    """A directed multigraph of :class:`Node` s joined by :class:`Edge` s, plus graph-level ``meta``
    (``T``, ``classes``, ``encoding``, ``name``, ``genome_id``, ...).

    Nodes and edges keep their insertion order, which breaks ties in :meth:`topological_order`
    and so makes dumps and backends deterministic. Every edit goes through a method that keeps the
    adjacency lists in step; the edits refuse, with a :class:`~snnc.errors.GraphError` that names
    the node and the rule, anything that would leave a dangling or duplicate edge. Example::

        >>> g = Graph({"T": 4, "classes": 2})
        >>> _ = g.add_node("in", "Input", {"shape": (2,)})
        >>> _ = g.add_node("lif", "LIF", {"beta": 0.5})
        >>> _ = g.add_node("out", "Output")
        >>> _ = g.add_edge("in", "lif"); _ = g.add_edge("lif", "out")
        >>> _ = g.add_edge("lif", "lif", delay=1, kind=BACKWARD)   # recurrence needs a delay
        >>> g.topological_order(), g.predecessors("lif")
        (['in', 'lif', 'out'], ['in', 'lif'])

    Shapes and attribute defaults are filled in by :func:`~snnc.ir.verify.verify`, not here.
    """

    def __init__(self, meta: dict[str, Any] | None = None):
        self.nodes: dict[str, Node] = {}
        self._edges: dict[Edge, int] = {}  # insertion-ordered set; value = multiplicity guard
        self._in: dict[str, list[Edge]] = {}
        self._out: dict[str, list[Edge]] = {}
        self.meta: dict[str, Any] = dict(meta or {})

    # ----------------------------------------------------------------- reading
    @property
    def edges(self) -> list[Edge]:
        """Every edge in insertion order (a new list; editing it does not edit the graph)."""
        return list(self._edges)

    def __contains__(self, name: str) -> bool:
        """Whether a node is called ``name``."""
        return name in self.nodes

    def __getitem__(self, name: str) -> Node:
        """The node called ``name``.

        Raises:
            GraphError: no node has that name (rule ``unknown node``).
        """
        try:
            return self.nodes[name]
        except KeyError:
            raise GraphError(f"no node named {name!r}", node=name, rule="unknown node") from None

    def __iter__(self) -> Iterator[Node]:
        """The nodes in insertion order (not topological order: see :meth:`topological_order`)."""
        return iter(self.nodes.values())

    def __len__(self) -> int:
        """The number of nodes."""
        return len(self.nodes)

    def in_edges(self, name: str) -> list[Edge]:
        """The edges into ``name`` in insertion order (an empty list for an unknown name)."""
        return list(self._in.get(name, ()))

    def out_edges(self, name: str) -> list[Edge]:
        """The edges out of ``name`` in insertion order (an empty list for an unknown name)."""
        return list(self._out.get(name, ()))

    def predecessors(self, name: str) -> list[str]:
        """Names of the nodes with an edge into ``name``, each once, in edge order (a node that
        feeds ``name`` at two delays or ports is listed once)."""
        return list(dict.fromkeys(e.src for e in self._in.get(name, ())))

    def successors(self, name: str) -> list[str]:
        """Names of the nodes that ``name`` has an edge into, each once, in edge order."""
        return list(dict.fromkeys(e.dst for e in self._out.get(name, ())))

    def nodes_of(self, *ops: str) -> list[Node]:
        """The nodes whose op is one of ``ops``, in insertion order, e.g.
        ``g.nodes_of("LIF", "ALIF", "PLIF")``."""
        return [n for n in self.nodes.values() if n.op in ops]

    @property
    def input_node(self) -> Node:
        """The one Input node.

        Raises:
            GraphError: the graph has none or several (rule ``one Input``).
        """
        return self._single("Input")

    @property
    def output_node(self) -> Node:
        """The one Output node.

        Raises:
            GraphError: the graph has none or several (rule ``one Output``).
        """
        return self._single("Output")

    def _single(self, op: str) -> Node:
        found = self.nodes_of(op)
        if len(found) != 1:
            raise GraphError(f"graph has {len(found)} {op} nodes; exactly one is required",
                             rule=f"one {op}")
        return found[0]

    # ----------------------------------------------------------------- editing
    def add_node(self, name: str, op: str, attrs: dict[str, Any] | None = None,
                 params: dict[str, np.ndarray] | None = None, *, shape=None,
                 loc: str | None = None) -> Node:
        """Add a node and return it. ``attrs`` and ``params`` are copied (shallowly: the arrays are
        shared); ``shape`` is normally left for :func:`~snnc.ir.verify.verify` to infer; ``loc``
        is the genome position ``"line:col"``. The op name is not checked here (verify does), so
        a broken graph can still be built and dumped.

        Example::

            >>> g = Graph()
            >>> g.add_node("fc", "Linear", {"in_features": 2, "out_features": 3},
            ...            {"weight": np.zeros((3, 2)), "bias": np.zeros(3)})
            Node('fc', Linear, shape=None)

        Raises:
            GraphError: ``name`` is already used (rule ``unique names``).
        """
        if name in self.nodes:
            raise GraphError(f"node name {name!r} is already used", node=name, rule="unique names")
        node = Node(name, op, dict(attrs or {}), dict(params or {}), shape=shape, loc=loc)
        self.nodes[name] = node
        self._in[name] = []
        self._out[name] = []
        return node

    def add_edge(self, src: str, dst: str, port: int = 0, delay: int = 0,
                 kind: str = FORWARD) -> Edge:
        """Add and return the edge ``src -> dst`` into input ``port`` of ``dst``, read ``delay``
        steps late, of ``kind`` :data:`FORWARD` or :data:`BACKWARD`. Several edges may join the
        same two nodes if they differ in port, delay or kind; their values are summed.

        Example: ``g.add_edge("b.lif", "a.lif", delay=1, kind=BACKWARD)`` is a feedback
        connection read one step late. Rules about delays (every cycle needs one, backward edges
        need ``delay >= 1``) and ports are checked by :func:`~snnc.ir.verify.verify`, not here.

        Raises:
            GraphError: ``src`` or ``dst`` is not a node (rule ``no dangling edges``), or the same
                edge exists already (rule ``no duplicate edges``; sum the weights instead).
        """
        for end in (src, dst):
            if end not in self.nodes:
                raise GraphError(f"edge {src} -> {dst} names unknown node {end!r}", node=end,
                                 rule="no dangling edges")
        edge = Edge(src, dst, int(port), int(delay), kind)
        if edge in self._edges:
            raise GraphError(f"duplicate edge {edge}", node=dst, rule="no duplicate edges")
        self._edges[edge] = 1
        self._in[dst].append(edge)
        self._out[src].append(edge)
        return edge

    def remove_edge(self, edge: Edge) -> None:
        """Remove ``edge`` (an :class:`Edge` equal to one in the graph, e.g. from
        :meth:`in_edges`); its endpoints stay.

        Raises:
            GraphError: the graph has no such edge (rule ``unknown edge``).
        """
        if edge not in self._edges:
            raise GraphError(f"no edge {edge}", node=edge.dst, rule="unknown edge")
        del self._edges[edge]
        self._in[edge.dst].remove(edge)
        self._out[edge.src].remove(edge)

    def remove_node(self, name: str) -> None:
        """Remove node ``name``, which must have no edges left (so that no edge is dropped by
        accident; :meth:`remove_node_and_edges` drops them on purpose).

        Raises:
            GraphError: no such node (rule ``unknown node``), or it still has edges: the message
                names up to four of them (rule ``remove edges first``), e.g. ``cannot remove
                'bn': still connected by conv -> bn, bn -> lif``.
        """
        node = self[name]
        left = self._in[name] + self._out[name]
        if left:
            shown = ", ".join(str(e) for e in left[:4]) + (" ..." if len(left) > 4 else "")
            raise GraphError(f"cannot remove {name!r}: still connected by {shown}", node=name,
                             rule="remove edges first")
        del self.nodes[node.name], self._in[name], self._out[name]

    def remove_node_and_edges(self, name: str) -> None:
        """Remove node ``name`` together with every edge into or out of it (what dead-code
        removal wants; a rewrite that replaces a node should :meth:`replace_uses` first).

        Raises:
            GraphError: no such node (rule ``unknown node``).
        """
        for e in self.in_edges(name) + self.out_edges(name):
            self.remove_edge(e)
        self.remove_node(name)

    def replace_uses(self, old: str, new: str) -> None:
        """Redirect every out-edge of ``old`` to leave from ``new`` instead (same dst, port, delay
        and kind); ``old`` keeps its in-edges and can then be removed. This is how a fold keeps the
        readers of the node it removes: fold-bn calls ``replace_uses(bn, conv)`` and then
        ``remove_node_and_edges(bn)``.

        Raises:
            GraphError: ``new`` is not a node, or ``new`` already has one of the redirected edges
                (rule ``no duplicate edges``; the graph is then partly rewritten, so edit a copy).
        """
        for e in self.out_edges(old):
            self.remove_edge(e)
            self.add_edge(new, e.dst, e.port, e.delay, e.kind)

    def copy(self, *, copy_params: bool = False) -> "Graph":
        """A copy whose nodes, attrs, edges and meta are independent of this graph's.

        Param arrays are values: code that changes a param assigns a new array
        (``node.params["weight"] = w2``) and never writes into one in place, so by default the copy
        shares the arrays (a deploy pipeline over a 50M-parameter graph would otherwise spend
        seconds copying weights). ``copy_params=True`` copies them too.
        """
        g = Graph(_copy.deepcopy(self.meta))
        for n in self.nodes.values():
            params = ({k: np.array(v, copy=True) for k, v in n.params.items()} if copy_params
                      else dict(n.params))
            new = g.add_node(n.name, n.op, _copy.deepcopy(n.attrs), params, shape=n.shape,
                             loc=n.loc)
            new.meta = _copy.deepcopy(n.meta)
        for e in self._edges:
            g.add_edge(e.src, e.dst, e.port, e.delay, e.kind)
        return g

    # ----------------------------------------------------------------- analyses
    def to_networkx(self, zero_delay_only: bool = False) -> nx.MultiDiGraph:
        """Nodes and edges as a networkx MultiDiGraph (edge data: port, delay, kind), without the
        delayed edges if ``zero_delay_only`` (the subgraph that fixes the order within a step)."""
        g = nx.MultiDiGraph()
        g.add_nodes_from(self.nodes)
        g.add_edges_from((e.src, e.dst, {"port": e.port, "delay": e.delay, "kind": e.kind})
                         for e in self._edges if not (zero_delay_only and e.delay))
        return g

    def topological_order(self) -> list[str]:
        """Node names in a topological order of the zero-delay subgraph, ties broken by insertion
        order (deterministic). Raises GraphError naming a zero-delay cycle if there is one."""
        index = {name: i for i, name in enumerate(self.nodes)}
        g = self.to_networkx(zero_delay_only=True)
        try:
            return list(nx.lexicographical_topological_sort(g, key=index.__getitem__))
        except nx.NetworkXUnfeasible:
            cycle = nx.find_cycle(g)
            names = " -> ".join([u for u, *_ in cycle] + [cycle[0][0]])
            raise GraphError(f"zero-delay cycle {names}: every cycle needs an edge with delay >= 1",
                             node=cycle[0][0], rule="cycles need delay") from None

    def strongly_connected_components(self) -> list[list[str]]:
        """Components of the full graph (all delays) with more than one node or a self-loop —
        the parts a time-stepped backend must run step by step — in topological order."""
        g = self.to_networkx()
        cond = nx.condensation(g)
        index = {name: i for i, name in enumerate(self.nodes)}
        out = []
        for c in nx.topological_sort(cond):
            members = sorted(cond.nodes[c]["members"], key=index.__getitem__)
            if len(members) > 1 or g.has_edge(members[0], members[0]):
                out.append(members)
        return out

    def reachable_from(self, name: str) -> set[str]:
        """``name`` and every node a path of edges (any delay or kind) leads to from it.

        Raises:
            networkx.NetworkXError: ``name`` is not a node.
        """
        return nx.descendants(self.to_networkx(), name) | {name}

    def reaching(self, name: str) -> set[str]:
        """``name`` and every node with a path of edges (any delay or kind) to it; remove-dead
        keeps ``reaching(output)``.

        Raises:
            networkx.NetworkXError: ``name`` is not a node.
        """
        return nx.ancestors(self.to_networkx(), name) | {name}

    def num_params(self) -> int:
        """The total number of param elements (weights, biases, BatchNorm statistics)."""
        return int(sum(p.size for n in self.nodes.values() for p in n.params.values()))

    def __repr__(self) -> str:
        return f"Graph({len(self.nodes)} nodes, {len(self._edges)} edges)"


def edges_by(edges: Iterable[Edge], key) -> dict:
    """Group edges by ``key(edge)`` (e.g. by kind or delay) for summaries."""
    out: dict = {}
    for e in edges:
        out.setdefault(key(e), []).append(e)
    return out


def graph_differences(a: Graph, b: Graph, *, params: str = "values", rtol: float = 0.0,
                      atol: float = 0.0, limit: int = 20) -> list[str]:
    """How graph ``b`` differs from graph ``a``, one sentence per difference (at most ``limit``);
    empty when they are equal.

    Compared: ``meta``; the set of node names; per node its op, attrs and meta values (types too:
    ``1`` is not ``1.0`` nor ``True``, a tuple is not a list; NaN equals NaN; dict key order does
    not matter), shape, loc, param names, dtypes and shapes, and with ``params="values"`` the
    values (``np.array_equal``, or ``np.allclose(rtol, atol)`` when a tolerance is given); the set
    of edges (src, dst, port, delay, kind). Not compared: ``node.meta`` (analysis results) and
    insertion order, which only breaks ties between topological orders.

    Example::

        >>> a = Graph({"T": 4}); _ = a.add_node("x", "Input", {"shape": (2,)})
        >>> b = a.copy(); b["x"].attrs["shape"] = (3,)
        >>> graph_differences(a, b)
        ["node 'x': attrs['shape'][0]: 2 != 3"]

    Raises:
        ValueError: ``params`` is not ``"values"`` or ``"shapes"``.
    """
    if params not in ("values", "shapes"):
        raise ValueError(f"params must be 'values' or 'shapes', got {params!r}")
    out: list[str] = []
    _value_differences(a.meta, b.meta, "meta", out)
    only_a = [n for n in a.nodes if n not in b.nodes]
    only_b = [n for n in b.nodes if n not in a.nodes]
    if only_a:
        out.append(f"nodes only in the first graph: {', '.join(only_a[:8])}")
    if only_b:
        out.append(f"nodes only in the second graph: {', '.join(only_b[:8])}")
    for name, x in a.nodes.items():
        y = b.nodes.get(name)
        if y is None:
            continue
        where = f"node {name!r}"
        if x.op != y.op:
            out.append(f"{where}: op {x.op} != {y.op}")
        _value_differences(x.attrs, y.attrs, f"{where}: attrs", out)
        sx = None if x.shape is None else tuple(x.shape)
        sy = None if y.shape is None else tuple(y.shape)
        if sx != sy:
            out.append(f"{where}: shape {sx} != {sy}")
        if x.loc != y.loc:
            out.append(f"{where}: loc {x.loc!r} != {y.loc!r}")
        if set(x.params) != set(y.params):
            out.append(f"{where}: params {sorted(x.params)} != {sorted(y.params)}")
            continue
        for k, p in x.params.items():
            _param_difference(f"{where}: param {k!r}", np.asarray(p), np.asarray(y.params[k]),
                              params, rtol, atol, out)
    ea, eb = set(a.edges), set(b.edges)
    out += [f"edge only in the first graph: {e}" for e in a.edges if e not in eb]
    out += [f"edge only in the second graph: {e}" for e in b.edges if e not in ea]
    return out[:limit]


def graphs_equal(a: Graph, b: Graph, **options) -> bool:
    """True when :func:`graph_differences` finds none (same keyword options)."""
    return not graph_differences(a, b, limit=1, **options)


def _param_difference(where: str, p: np.ndarray, q: np.ndarray, params: str, rtol: float,
                      atol: float, out: list[str]) -> None:
    if p.dtype != q.dtype or p.shape != q.shape:
        out.append(f"{where}: {p.dtype}{list(p.shape)} != {q.dtype}{list(q.shape)}")
    elif params == "values":
        if rtol or atol:
            same = np.allclose(p, q, rtol=rtol, atol=atol, equal_nan=True)
        else:
            same = np.array_equal(p, q, equal_nan=p.dtype.kind in "fc")
        if not same:
            diff = np.argwhere(~np.isclose(p, q, rtol=rtol, atol=atol, equal_nan=True)
                               if p.dtype.kind in "fc" else p != q)
            at = tuple(int(i) for i in diff[0]) if len(diff) else ()
            out.append(f"{where}: values differ ({len(diff)} of {p.size}; first at {list(at)}: "
                       f"{p[at]!r} != {q[at]!r})")


def _value_differences(a: Any, b: Any, where: str, out: list[str]) -> None:
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(b, np.generic):
        b = b.item()
    if type(a) is not type(b):
        out.append(f"{where}: {a!r} ({type(a).__name__}) != {b!r} ({type(b).__name__})")
    elif isinstance(a, dict):
        for k in a:
            if k not in b:
                out.append(f"{where}[{k!r}] only in the first graph")
            else:
                _value_differences(a[k], b[k], f"{where}[{k!r}]", out)
        out += [f"{where}[{k!r}] only in the second graph" for k in b if k not in a]
    elif isinstance(a, (list, tuple)):
        if len(a) != len(b):
            out.append(f"{where}: {a!r} != {b!r}")
        else:
            for i, (x, y) in enumerate(zip(a, b)):
                _value_differences(x, y, f"{where}[{i}]", out)
    elif isinstance(a, float) and a != a:
        if b == b:
            out.append(f"{where}: nan != {b!r}")
    elif a != b:
        out.append(f"{where}: {a!r} != {b!r}")
