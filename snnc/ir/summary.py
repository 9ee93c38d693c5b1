"""Counts and costs of a graph: nodes by op, edges by kind and delay, parameters, neurons, MACs.

MACs are multiply-accumulates per sample per time step, from each op's own formula
(:meth:`snnc.ir.ops.Op.macs`), e.g. a Conv2d producing ``(O, H', W')`` from ``I`` channels with a
``k x k`` kernel and ``g`` groups costs ``O * H' * W' * (I / g) * k**2``; a Linear ``I -> O``
costs ``I * O``. The energy backend turns these into SOPs with measured firing rates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from math import prod

from .graph import EDGE_KINDS, Graph
from .ops import OPS
from .verify import verify


@dataclass(frozen=True)
class Layer:
    """One node's row: output shape per sample, parameter count, MACs per sample per step."""

    name: str
    op: str
    shape: tuple[int, ...]
    params: int
    macs: int


@dataclass
class Summary:
    """What :func:`summarize` found. Shapes are per sample; MACs per sample per time step."""

    name: str | None
    T: int | None
    classes: int | None
    genome_id: str | None
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    nodes_by_op: dict[str, int]  # in catalogue order, ops present only
    edges_by_kind: dict[str, int]  # every kind, zeros included
    edges_by_delay: dict[int, int]  # ascending delay
    num_params: int
    num_neurons: int  # sum of the sizes of neuron nodes (LIF, ...)
    macs_per_step: int
    layers: list[Layer] = field(default_factory=list)  # topological order

    @property
    def num_nodes(self) -> int:
        return len(self.layers)

    @property
    def num_edges(self) -> int:
        return sum(self.edges_by_kind.values())

    @property
    def macs(self) -> dict[str, int]:
        """MACs per sample per time step of every node, by name."""
        return {layer.name: layer.macs for layer in self.layers}

    def rows(self) -> list[dict]:
        """Per-layer rows for tables: ``{"name", "op", "shape", "params", "macs"}``."""
        return [asdict(layer) for layer in self.layers]

    def to_dict(self) -> dict:
        """JSON-able form (shapes as lists, delays as string keys)."""
        return {"name": self.name, "T": self.T, "classes": self.classes,
                "genome_id": self.genome_id, "input_shape": list(self.input_shape),
                "output_shape": list(self.output_shape), "num_nodes": self.num_nodes,
                "num_edges": self.num_edges, "nodes_by_op": dict(self.nodes_by_op),
                "edges_by_kind": dict(self.edges_by_kind),
                "edges_by_delay": {str(d): n for d, n in self.edges_by_delay.items()},
                "num_params": self.num_params, "num_neurons": self.num_neurons,
                "macs_per_step": self.macs_per_step,
                "layers": [dict(r, shape=list(r["shape"])) for r in self.rows()]}


def summarize(graph: Graph) -> Summary:
    """Verify ``graph`` (in place: shapes and attribute defaults are filled in) and summarise it.

    Raises:
        GraphError: the graph is invalid (see :func:`snnc.ir.verify`).
    """
    verify(graph)
    layers = []
    for name in graph.topological_order():
        node = graph.nodes[name]
        opd = OPS[node.op]
        ins = graph.in_edges(name)
        # Summed inputs all have one shape; multi-port ops (Concat) have no single input shape.
        in_shape = None if not ins or opd.multi_port else tuple(graph.nodes[ins[0].src].shape)
        layers.append(Layer(name, node.op, tuple(node.shape),
                            int(sum(p.size for p in node.params.values())),
                            int(opd.macs(node.attrs, in_shape, tuple(node.shape)))))
    present = {n.op for n in graph}
    kinds = {k: 0 for k in EDGE_KINDS}
    delays: dict[int, int] = {}
    for e in graph.edges:
        kinds[e.kind] += 1
        delays[e.delay] = delays.get(e.delay, 0) + 1
    meta = graph.meta
    return Summary(
        name=meta.get("name"), T=meta.get("T"), classes=meta.get("classes"),
        genome_id=meta.get("genome_id"), input_shape=tuple(graph.input_node.shape),
        output_shape=tuple(graph.output_node.shape),
        nodes_by_op={op: sum(1 for n in graph if n.op == op) for op in OPS if op in present},
        edges_by_kind=kinds, edges_by_delay=dict(sorted(delays.items())),
        num_params=graph.num_params(),
        num_neurons=sum(prod(n.shape) for n in graph if OPS[n.op].kind == "neuron"),
        macs_per_step=sum(layer.macs for layer in layers), layers=layers)
