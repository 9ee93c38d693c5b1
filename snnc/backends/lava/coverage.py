"""What of a graph the Lava backend runs, and how, decided without starting Lava.

:func:`coverage` gives one row per IR node: **maps** (how: the Lava process it becomes or the
synapse processes it is folded into), **host** (work the host does: the first layer's currents,
biases, the non-spiking head), or **refused** (why, in the words of the error a simulation would
raise). It walks every node, so a graph with several unsupported ops shows all of them (a
simulation stops at the first), then plans the graph (:func:`.planning.plan`, numpy only) and
records a graph-level refusal (an unbalanceable cycle, a delay line too long) with the node it
names. :func:`coverage_of` first runs the ``lava`` target's passes, as ``snnc lava`` does.

``bench/lava_coverage.py`` prints the table of every zoo preset and example genome at small width
(README, section Lava).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from ...errors import SnncError
from ...ir.graph import Graph
from ...optable import Refused
from .mapping import LavaALIF, LavaMappingError, NEURON_MAPS, map_neuron
from .optable import AFFINE_OPS, RULES

#: Row statuses.
MAPS, HOST, REFUSED = "maps", "host", "refused"


@dataclass(frozen=True)
class NodeCoverage:
    """One node: ``status`` (:data:`MAPS`, :data:`HOST` or :data:`REFUSED`), ``how`` (the Lava
    process or host role, or the reason it is refused; the same words for every node treated
    alike) and ``detail`` (this node's specifics: synapse counts, the full error message)."""

    node: str
    op: str
    status: str
    how: str
    detail: str = ""


@dataclass
class Coverage:
    """The rows of a graph (topological order) and the verdict.

    ``refusal``: the first reason the graph cannot run on Lava (None: it maps); ``refused_node``:
    the node that reason names. ``neurons``/``synapses``/``injectors``/``delay_hops``: the
    plan's counts of Lava processes (zero when not planned); ``planned``: the plan succeeded."""

    name: str
    nodes: list[NodeCoverage] = field(default_factory=list)
    refusal: str | None = None
    refused_node: str | None = None
    planned: bool = False
    neurons: int = 0
    synapses: int = 0
    injectors: int = 0
    delay_hops: int = 0

    @property
    def maps(self) -> bool:
        return self.refusal is None

    def refused(self) -> list[NodeCoverage]:
        return [r for r in self.nodes if r.status == REFUSED]

    def by_op(self) -> dict[str, Counter]:
        """Op -> Counter of ``(status, how)`` over its nodes (the per-op summary)."""
        out: dict[str, Counter] = {}
        for r in self.nodes:
            out.setdefault(r.op, Counter())[(r.status, r.how)] += 1
        return out

    def to_dict(self) -> dict:
        d = asdict(self)
        d["maps"] = self.maps
        return d


def neuron_process(node) -> str:
    """The Lava process of a LIF/ALIF node (raises :class:`LavaMappingError` as the plan would)."""
    n = map_neuron(node)
    if isinstance(n, LavaALIF):
        return "ALIFReset, snnc's process model"
    return "LIFReset as IF (dv = 0)" if n.dv == 0.0 and n.alpha == 1.0 else "LIFReset"


def _reason(message: str) -> str:
    """An op-table refusal without its ``node 'x': op Y is not supported by ...:`` prefix."""
    head = " backend: "
    return message.split(head, 1)[1] if " is not supported by the " in message and head in \
        message else message


def _node_refusal(node) -> str | None:
    """Why ``node`` cannot run on Lava wherever it sits, or None."""
    try:
        if node.op in NEURON_MAPS:
            map_neuron(node)
        elif node.op not in RULES or isinstance(RULES[node.op], Refused):
            RULES.lookup(node)  # raises the refusal a plan would raise, naming the node
    except LavaMappingError as exc:
        return str(exc)
    return None


def _op_level(node) -> tuple[str, str]:
    """Status and how for a node that is not refused, before (or without) a plan."""
    if node.op in NEURON_MAPS:
        return MAPS, neuron_process(node)
    if node.op == "Input":
        return HOST, "first-layer currents computed on the host, sent through Injectors"
    if node.op == "Output":
        return HOST, "readout on the host"
    if node.op in AFFINE_OPS:
        return MAPS, "folds into synapse weights (graph not planned)"
    return MAPS, "synaptic term"


def coverage(graph: Graph, T: int | None = None, name: str | None = None) -> Coverage:
    """Per node of a deploy graph (after the ``lava`` target's passes): maps, host or refused.

    Never starts Lava. ``T`` as for :func:`.planning.plan`. A graph that does not verify is
    reported as refused at the graph level (the verifier's message).
    """
    from .planning import plan

    cov = Coverage(name or str(graph.meta.get("name", "graph")))
    try:
        order = graph.topological_order()
    except SnncError:
        order = list(graph.nodes)
    rows: dict[str, NodeCoverage] = {}
    for n in order:
        node = graph[n]
        why = _node_refusal(node)
        if why is not None:
            rows[n] = NodeCoverage(n, node.op, REFUSED, _reason(why), why)
            if cov.refusal is None:
                cov.refusal, cov.refused_node = why, n
        else:
            rows[n] = NodeCoverage(n, node.op, *_op_level(node))
    if cov.refusal is None:
        try:
            p = plan(graph, T)
        except SnncError as exc:
            cov.refusal, cov.refused_node = str(exc), getattr(exc, "node", None)
        else:
            cov.planned = True
            _from_plan(graph, p, rows)
            cov.neurons = len(p.neurons)
            real = [s for s in p.synapses if not s.direct]
            cov.synapses = len(real)
            cov.injectors = len(p.fed)
            longest: dict[str, int] = {}
            for s in real:
                longest[s.src] = max(longest.get(s.src, 0), s.extra)
            cov.delay_hops = sum(longest.values())
    cov.nodes = [rows[n] for n in order]
    return cov


def _from_plan(graph: Graph, p, rows: dict[str, NodeCoverage]) -> None:
    """Refine the op-level rows with what the plan decided for each node."""
    from_input, stack = set(), [graph.input_node.name]  # what the host computes from the input
    while stack:
        for e in graph.out_edges(stack.pop()):
            if graph[e.dst].op not in NEURON_MAPS and e.dst not in from_input:
                from_input.add(e.dst)
                stack.append(e.dst)
    kinds: dict[str, Counter] = {}
    for s in p.synapses:
        for v in s.via:
            kinds.setdefault(v, Counter())[s.kind] += 1
    for n, row in list(rows.items()):
        node = graph[n]
        if node.op in NEURON_MAPS:
            detail = (f"latency {p.latency[n]}" + ("; host current through an Injector"
                                                   if n in p.fed else ""))
            rows[n] = NodeCoverage(n, node.op, MAPS, row.how, detail)
            continue
        if node.op == "Input":
            continue
        parts = []
        if n in kinds:
            parts.append(f"folded into {' + '.join(sorted(kinds[n]))} synapses")
        if n in p.pre_nodes and n in from_input:
            parts.append("input currents on the host")
        if n in p.head_nodes:
            parts.append("head on the host, from recorded spikes")
        if not parts:
            parts.append("bias only, on the host")
        detail = ", ".join(f"{c} {k}" for k, c in sorted(kinds.get(n, Counter()).items()))
        rows[n] = NodeCoverage(n, node.op, MAPS if n in kinds else HOST, "; ".join(parts),
                               detail)


def coverage_of(graph: Graph, T: int | None = None, name: str | None = None) -> Coverage:
    """:func:`coverage` of ``graph`` after the ``lava`` target's passes
    (:func:`snnc.passes.targets.prepare`). Where those refuse the graph (a supernet), the rows
    are those of the graph as given and the verdict is the passes' message."""
    from ...passes.targets import prepare

    try:
        deployed, _ = prepare(graph, "lava")
    except SnncError as exc:
        cov = coverage(graph, T, name)
        if cov.refusal is None:  # keep a node's own refusal (e.g. a WeightedMix), else the passes'
            cov = Coverage(cov.name, cov.nodes, str(exc), getattr(exc, "node", None))
        return cov
    return coverage(deployed, T, name)
