"""The verifier: every invariant of docs/ARCHITECTURE.md, each violation named with its node or edge.

Invariants: exactly one Input and one Output; known ops with well-typed attributes; no dangling
edges; edge kinds forward/backward, integer delays >= 0, backward edges with delay >= 1; every cycle
contains an edge with delay >= 1 (the zero-delay subgraph is acyclic); ports only on multi-port ops,
and on the choice ops (Choice, WeightedMix) exactly ports ``0..k-1``;
shapes agree on every edge; params present with the shapes their op expects; Input has no in-edges,
Output no out-edges; attribute values in their op's ranges (finite thresholds, 0 <= beta <= 1, ...);
``meta["T"]`` and ``meta["classes"]`` integers >= 1 where present; sizes (node and edge counts,
delays, name lengths, channels and features) within :mod:`snnc.limits`.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from ..errors import GraphError
from ..limits import Limits, resolve
from .graph import BACKWARD, EDGE_KINDS, Graph
from .ops import op_def
from .shapes import infer_shapes


def verify(graph: Graph, *, limits: Limits | dict | str | None = None) -> Graph:
    """Check ``graph`` in place (inferring shapes and filling attribute defaults) and return it.

    ``limits``: also check node and edge counts, delays, name lengths and layer sizes against
    these limits (see :func:`snnc.limits.resolve`; ``{}`` means the environment's). ``None``
    (default) skips that check: passes and backends verify graphs that were already bounded when
    lowered or loaded.

    Raises:
        GraphError: the first violated rule, with ``.node`` and ``.rule`` set and a message that
            names the node or edge, e.g. ``node 's3.n4.conv' (Conv2d): input has 96 channels,
            in_channels is 192``.
    """
    _check_meta(graph)
    if limits is not None:
        _check_sizes(graph, resolve(limits))
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
        op_def(node).check_ports(node, {e.port for e in graph.in_edges(node.name)})
    return graph


def _check_meta(graph: Graph) -> None:
    for key in ("T", "classes"):
        if key not in graph.meta:
            continue
        v = graph.meta[key]
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise GraphError(f"meta[{key!r}] must be an integer >= 1, got {v!r}", rule="meta")


_SIZE_ATTRS = ("in_channels", "out_channels", "in_features", "out_features", "num_features",
               "classes")


def _check_sizes(graph: Graph, lim: Limits) -> None:
    """Counts and sizes within the limits, before shapes are inferred or anything is run."""
    if lim.exceeded("nodes", len(graph.nodes)):
        raise GraphError(lim.message("nodes", len(graph.nodes), "the number of nodes"),
                         rule="limits")
    if lim.exceeded("edges", len(graph.edges)):
        raise GraphError(lim.message("edges", len(graph.edges), "the number of edges"),
                         rule="limits")
    T = graph.meta.get("T")
    if isinstance(T, int) and lim.exceeded("T", T):
        raise GraphError(lim.message("T", T, "meta['T']"), rule="limits")
    for name, node in graph.nodes.items():
        if isinstance(name, str) and lim.exceeded("name", len(name)):
            raise GraphError(lim.message("name", len(name), f"the length of node name "
                                         f"{name[:40]!r}..."), node=name[:60], rule="limits")
        for key in _SIZE_ATTRS:
            v = node.attrs.get(key)
            which = "classes" if key == "classes" else "channels"
            if isinstance(v, int) and lim.exceeded(which, v):
                raise GraphError(f"node {name!r} ({node.op}): " + lim.message(which, v, key),
                                 node=name, rule="limits")
        shape = node.attrs.get("shape") if node.op == "Input" else None
        if isinstance(shape, (tuple, list)) and all(isinstance(d, int) for d in shape):
            size = math.prod(shape)
            if lim.exceeded("input", size):
                raise GraphError(f"node {name!r} (Input): " + lim.message("input", size, "the "
                                 "input size"), node=name, rule="limits")
    for e in graph.edges:
        if isinstance(e.delay, int) and lim.exceeded("delay", e.delay):
            raise GraphError(f"edge {e}: " + lim.message("delay", e.delay, "the delay"),
                             node=e.dst, rule="limits")


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
