"""Shape inference: fill ``node.shape`` for every node from the Input's shape.

Each op computes its own output shape (:meth:`snnc.ir.ops.Op.infer_shape`); this module only walks
the graph. A cycle closes through a delayed edge whose source comes later in the zero-delay
topological order, so one sweep cannot see every input: sweeps repeat, each node inferred from the
inputs known so far, until nothing changes; a last sweep checks every node against all its inputs.
"""
from __future__ import annotations

from ..errors import GraphError
from .graph import Graph
from .ops import op_def


def infer_shapes(graph: Graph) -> Graph:
    """Set ``node.shape`` on every node of ``graph`` (in place) and return it.

    Also fills attribute defaults. Raises GraphError naming the first node whose inputs disagree or
    whose attributes do not fit, or a node with no path from the Input.
    """
    for node in graph:
        op_def(node).check_attrs(node)
        node.shape = None
    order = graph.topological_order()
    for _ in range(len(order) + 1):
        changed = False
        for name in order:
            node = graph.nodes[name]
            known = [(e.port, graph.nodes[e.src].shape) for e in graph.in_edges(name)
                     if graph.nodes[e.src].shape is not None]
            if not known and node.op != "Input":
                continue
            shape = tuple(op_def(node).infer_shape(node, known))
            if shape != node.shape:
                node.shape, changed = shape, True
        if not changed:
            break
    for name in order:
        node = graph.nodes[name]
        if node.shape is None:
            raise GraphError(f"node {name!r} ({node.op}): shape cannot be inferred; it has no path "
                             f"from the Input", node=name, rule="reachable from Input")
        full = tuple(op_def(node).infer_shape(
            node, [(e.port, graph.nodes[e.src].shape) for e in graph.in_edges(name)]))
        if full != node.shape:
            raise GraphError(f"node {name!r} ({node.op}): inputs imply shape {full} but a cycle "
                             f"through it implies {node.shape}", node=name, rule="shapes agree")
    return graph
