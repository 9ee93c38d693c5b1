"""A readable, deterministic text form of a graph (like MLIR's or torch.fx's graph print).

Example (one line per node, in topological order of the zero-delay subgraph)::

    # graph "tiny" T=4 classes=2 genome_id="3f2a..."
    # 9 nodes, 10 edges (forward 9, backward 1; delayed 2), 1,234 params
    %in = Input[shape=(2, 8, 8)]() : (2, 8, 8)
    %s3.n4.conv = Conv2d[in_channels=96, out_channels=192, kernel=3, stride=2, padding=1,
        groups=1, bias=False](%s3.n4.lif) : (192, 16, 16)  params weight[192,96,3,3]  @12:3
    %s1.cat = Concat(%a:0, %b@2:1, %c@1:0(back)) : (12, 8, 8)

(the Conv2d line is one line in real output). An input ``%src@d`` is read ``d`` steps late,
``:p`` is the port (shown for multi-port ops and non-zero ports), ``(back)`` marks a backward edge.
A param with a dtype other than float64 shows it (``weight[4,2,3,3]:float32``); ``@line:col``
is the genome location. The dump needs no verified graph: it is also for looking at broken ones.
"""
from __future__ import annotations

from typing import Any

from ..errors import GraphError
from .graph import BACKWARD, EDGE_KINDS, Graph
from .ops import OPS, REQUIRED

_HEAD_KEYS = ("T", "classes", "genome_id")  # shown first in the header, then the rest sorted


def fmt_value(v: Any) -> str:
    """One attribute or meta value: strings double-quoted, tuples ``(a, b)``, floats by repr."""
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, tuple):
        return "(" + ", ".join(map(fmt_value, v)) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(map(fmt_value, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {fmt_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


def dump(graph: Graph, *, defaults: bool = True) -> str:
    """The text form of ``graph`` (see the module docstring), ending without a newline.

    ``defaults=False`` leaves out attributes equal to their op's default. Never raises on a
    malformed graph: a graph with a zero-delay cycle is listed in insertion order under a warning.
    """
    lines = [_header(graph)]
    try:
        order = graph.topological_order()
    except GraphError as exc:
        lines.append(f"# warning: {exc}; nodes listed in insertion order")
        order = list(graph.nodes)
    lines += [_node_line(graph, graph.nodes[name], defaults) for name in order]
    return "\n".join(lines)


def _header(graph: Graph) -> str:
    meta = graph.meta
    first = "# graph" + (f" {fmt_value(meta['name'])}" if "name" in meta else "")
    keys = [k for k in _HEAD_KEYS if k in meta] + sorted(k for k in meta if k not in _HEAD_KEYS
                                                          and k != "name")
    first += "".join(f" {k}={fmt_value(meta[k])}" for k in keys)
    kinds = {k: 0 for k in EDGE_KINDS}
    for e in graph.edges:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    delayed = sum(1 for e in graph.edges if e.delay)
    second = (f"# {len(graph)} nodes, {len(graph.edges)} edges ("
              + ", ".join(f"{k} {n}" for k, n in kinds.items())
              + f"; delayed {delayed}), {graph.num_params():,} params")
    return first + "\n" + second


def _node_line(graph: Graph, node, defaults: bool) -> str:
    opd = OPS.get(node.op)
    declared = opd.attrs if opd else {}
    keys = [k for k in declared if k in node.attrs] + [k for k in node.attrs if k not in declared]
    if not defaults:
        keys = [k for k in keys if k not in declared or declared[k][1] is REQUIRED
                or node.attrs[k] != declared[k][1]]
    attrs = f"[{', '.join(f'{k}={fmt_value(node.attrs[k])}' for k in keys)}]" if keys else ""
    multi = bool(opd and opd.multi_port)
    in_edges = sorted(graph.in_edges(node.name), key=lambda e: e.port)  # stable: insertion order
    ins = ", ".join(_input(e, multi) for e in in_edges)
    shape = "?" if node.shape is None else fmt_value(tuple(node.shape))
    line = f"%{node.name} = {node.op}{attrs}({ins}) : {shape}"
    if node.params:
        line += "  params " + " ".join(_param(k, a) for k, a in node.params.items())
    if node.loc:
        line += f"  @{node.loc}"
    return line


def _input(e, multi: bool) -> str:
    return (f"%{e.src}" + (f"@{e.delay}" if e.delay else "")
            + (f":{e.port}" if multi or e.port else "") + ("(back)" if e.kind == BACKWARD else ""))


def _param(name: str, arr) -> str:
    shape = getattr(arr, "shape", None)
    if shape is None:
        return f"{name}<{type(arr).__name__}>"
    dtype = getattr(arr, "dtype", None)
    suffix = "" if dtype is None or dtype.name == "float64" else f":{dtype.name}"
    return f"{name}[{','.join(map(str, shape))}]{suffix}"
