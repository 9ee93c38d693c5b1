"""The verifier: every invariant of docs/ARCHITECTURE.md, each violation named with its node or edge.

Invariants: exactly one Input and one Output; known ops with well-typed attributes; no dangling
edges; edge kinds forward/backward, integer delays >= 0, backward edges with delay >= 1; every cycle
contains an edge with delay >= 1 (the zero-delay subgraph is acyclic); ports only on multi-port ops;
shapes agree on every edge; params present with the shapes their op expects; Input has no in-edges,
Output no out-edges.
"""
from __future__ import annotations

import weakref

import numpy as np

from ..errors import GraphError
from .graph import BACKWARD, EDGE_KINDS, Graph
from .ops import op_def
from .shapes import infer_shapes


def verify(graph: Graph) -> Graph:
    """Check ``graph`` in place (inferring shapes and filling attribute defaults) and return it.

    Raises:
        GraphError: the first violated rule, with ``.node`` and ``.rule`` set and a message that
            names the node or edge, e.g. ``node 's3.n4.conv' (Conv2d): input has 96 channels,
            in_channels is 192``.
    """
    for op in ("Input", "Output"):
        found = graph.nodes_of(op)
        if len(found) != 1:
            names = ", ".join(n.name for n in found) or "none"
            raise GraphError(f"graph must have exactly one {op} node, found {len(found)} ({names})",
                             rule=f"one {op}")
    for name, node in graph.nodes.items():
        if node.name != name:
            raise GraphError(f"node registered as {name!r} is named {node.name!r}", node=name,
                             rule="unique names")
        op_def(node)
    for e in graph.edges:
        where = f"edge {e}"
        if e.src not in graph.nodes or e.dst not in graph.nodes:
            raise GraphError(f"{where} names a node that does not exist", node=e.dst,
                             rule="no dangling edges")
        if e.kind not in EDGE_KINDS:
            raise GraphError(f"{where}: kind must be one of {EDGE_KINDS}", node=e.dst, rule="edge kind")
        if not isinstance(e.delay, int) or e.delay < 0:
            raise GraphError(f"{where}: delay must be an integer >= 0", node=e.dst, rule="delays")
        if e.kind == BACKWARD and e.delay < 1:
            raise GraphError(f"{where}: a backward edge needs delay >= 1", node=e.dst,
                             rule="backward edges are delayed")
        if e.port and not op_def(graph.nodes[e.dst]).multi_port:
            raise GraphError(f"{where}: port {e.port} on {graph.nodes[e.dst].op}, which sums its "
                             f"inputs on port 0", node=e.dst, rule="ports")
        if graph.nodes[e.src].op == "Output":
            raise GraphError(f"{where}: the Output has no out-edges", node=e.src, rule="io")
    graph.topological_order()  # raises on a zero-delay cycle, naming it
    infer_shapes(graph)
    for node in graph:
        if node.op != "Input" and not graph.in_edges(node.name):
            raise GraphError(f"node {node.name!r} ({node.op}) has no inputs", node=node.name,
                             rule="inputs")
        _check_params(node)
    return graph


def _check_params(node) -> None:
    opd = op_def(node)
    expected = opd.param_shapes(node.attrs)
    for key in node.params:
        if key not in expected:
            raise GraphError(f"node {node.name!r} ({node.op}): unexpected param {key!r}; expected "
                             f"{', '.join(expected) or 'none'}", node=node.name, rule="params")
    for key, shape in expected.items():
        if key not in node.params:
            raise GraphError(f"node {node.name!r} ({node.op}): missing param {key!r} of shape "
                             f"{shape}", node=node.name, rule="params")
        arr = node.params[key]
        if not isinstance(arr, np.ndarray) or tuple(arr.shape) != tuple(shape):
            got = getattr(arr, "shape", type(arr).__name__)
            raise GraphError(f"node {node.name!r} ({node.op}): param {key!r} has shape {got}, "
                             f"expected {tuple(shape)}", node=node.name, rule="params")
        if arr.dtype.kind != "f":
            raise GraphError(f"node {node.name!r} ({node.op}): param {key!r} has dtype {arr.dtype}; "
                             f"params are float arrays", node=node.name, rule="params")
        if not _known_finite(arr):
            raise GraphError(f"node {node.name!r} ({node.op}): param {key!r} has non-finite values",
                             node=node.name, rule="params")


# Params are immutable values (see Graph.copy), so an array found finite once stays finite: verify
# runs after every pass and would otherwise rescan tens of millions of shared weights each time.
_FINITE: "weakref.WeakValueDictionary[int, np.ndarray]" = weakref.WeakValueDictionary()


def _known_finite(arr: np.ndarray) -> bool:
    if _FINITE.get(id(arr)) is arr:
        return True
    # one reduction instead of a boolean array; NaN and inf always survive a sum
    if np.isfinite(arr.sum()) or np.all(np.isfinite(arr)):
        _FINITE[id(arr)] = arr
        return True
    return False
