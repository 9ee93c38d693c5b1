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

``dump(g, params="values")`` adds, under each node line, one line per param with its values in C
order, written with ``repr`` of each element widened to a Python float (the shortest decimal that
reads back to the same float64, so every float16/32/64 value comes back bit-exactly, ``-0.0``,
``inf`` and ``nan`` included; a NaN's sign and payload are not kept)::

    %fc = Linear[in_features=2, out_features=1, bias=True](%in) : (1,)  params weight[1,2] bias[1]
        weight = [0.5, -1.25]
        bias = [0.1]

Decimal rather than ``float.hex``: the text is meant for people to read and to write by hand (the
pass test cases), and ``repr`` is just as exact. :func:`snnc.ir.text.parse_ir` reads both forms
back; without value lines it gives zero-filled params of the declared shape and dtype.

Names, keys and strings that the grammar could not read bare are quoted (``%"a b"``,
``{"a b": 1}``), and strings escape ``\\``, ``"`` and control characters (``\\n``, ``\\x01``);
NumPy scalars print as the Python scalars they hold. Ordinary graphs never need any of this.
"""
from __future__ import annotations

import re
from typing import Any

import numpy as np

from ..errors import GraphError
from .graph import BACKWARD, EDGE_KINDS, Graph
from .ops import OPS, REQUIRED

_HEAD_KEYS = ("T", "classes", "genome_id")  # shown first in the header, then the rest sorted


_BARE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BARE_NAME = re.compile(r"[A-Za-z0-9_.\-/]+")
_LOC = re.compile(r"[0-9]+:[0-9]+")
#: Words that read as values, so a key spelled like one must be quoted.
RESERVED = frozenset({"True", "False", "None", "inf", "nan"})
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def fmt_string(s: str) -> str:
    """``s`` double-quoted, with ``\\``, ``"`` and unprintable characters escaped."""
    out = []
    for c in s:
        if c in _ESCAPES:
            out.append(_ESCAPES[c])
        elif c.isprintable():
            out.append(c)
        else:
            code = ord(c)
            out.append(f"\\x{code:02x}" if code < 0x100 else
                       f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return '"' + "".join(out) + '"'


def fmt_key(k: Any) -> str:
    """A dict, attribute or meta key: bare when it is an identifier, else written as a value."""
    if isinstance(k, str) and _BARE_KEY.fullmatch(k) and k not in RESERVED:
        return k
    return fmt_value(k)


def fmt_name(name: str) -> str:
    """A node reference: ``%name``, or ``%"..."`` for a name with other characters."""
    return "%" + (name if _BARE_NAME.fullmatch(name) else fmt_string(name))


def fmt_value(v: Any) -> str:
    """One attribute or meta value: strings double-quoted, tuples ``(a, b)``, floats by repr."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, str):
        return fmt_string(v)
    if isinstance(v, tuple):
        return "(" + ", ".join(map(fmt_value, v)) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(map(fmt_value, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{fmt_key(k)}: {fmt_value(x)}" for k, x in v.items()) + "}"
    return repr(v)


PARAM_FORMS = ("shapes", "values")


def dump(graph: Graph, *, defaults: bool = True, params: str = "shapes") -> str:
    """The text form of ``graph`` (see the module docstring), ending without a newline.

    ``defaults=False`` leaves out attributes equal to their op's default (the parsed graph then
    lacks them until :func:`~snnc.ir.verify` fills them in). ``params="values"`` writes every
    param's values under its node, so that ``parse_ir(dump(g, params="values"))`` equals ``g``;
    the default ``"shapes"`` writes names and shapes only. Never raises on a malformed graph: a
    graph with a zero-delay cycle is listed in insertion order under a warning.

    Raises:
        ValueError: ``params`` is not ``"shapes"`` or ``"values"``.
    """
    if params not in PARAM_FORMS:
        raise ValueError(f"params must be one of {PARAM_FORMS}, got {params!r}")
    lines = [_header(graph)]
    try:
        order = graph.topological_order()
    except GraphError as exc:
        lines.append(f"# warning: {exc}; nodes listed in insertion order")
        order = list(graph.nodes)
    for name in order:
        node = graph.nodes[name]
        lines.append(_node_line(graph, node, defaults))
        if params == "values":
            lines += [f"    {fmt_key(k)} = {fmt_array(a)}" for k, a in node.params.items()
                      if hasattr(a, "dtype")]
    return "\n".join(lines)


def fmt_array(arr) -> str:
    """Every element of ``arr`` in C order as ``[a, b, ...]``, each the ``repr`` of the Python
    scalar it widens to (exact for every float dtype, see the module docstring)."""
    return "[" + ", ".join(map(repr, np.asarray(arr).ravel().tolist())) + "]"


def _header(graph: Graph) -> str:
    meta = graph.meta
    first = "# graph" + (f" {fmt_value(meta['name'])}" if "name" in meta else "")
    keys = [k for k in _HEAD_KEYS if k in meta] + sorted(k for k in meta if k not in _HEAD_KEYS
                                                          and k != "name")
    first += "".join(f" {fmt_key(k)}={fmt_value(meta[k])}" for k in keys)
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
    shown = ", ".join(f"{fmt_key(k)}={fmt_value(node.attrs[k])}" for k in keys)
    attrs = f"[{shown}]" if keys else ""
    multi = bool(opd and opd.multi_port)
    in_edges = sorted(graph.in_edges(node.name), key=lambda e: e.port)  # stable: insertion order
    ins = ", ".join(_input(e, multi) for e in in_edges)
    shape = "?" if node.shape is None else fmt_value(tuple(node.shape))
    line = f"{fmt_name(node.name)} = {node.op}{attrs}({ins}) : {shape}"
    if node.params:
        line += "  params " + " ".join(_param(k, a) for k, a in node.params.items())
    if node.loc:
        line += f"  @{node.loc if _LOC.fullmatch(node.loc) else fmt_string(node.loc)}"
    return line


def _input(e, multi: bool) -> str:
    return (fmt_name(e.src) + (f"@{e.delay}" if e.delay else "")
            + (f":{e.port}" if multi or e.port else "") + ("(back)" if e.kind == BACKWARD else ""))


def _param(name: str, arr) -> str:
    shape = getattr(arr, "shape", None)
    if shape is None:
        return f"{fmt_key(name)}<{type(arr).__name__}>"
    dtype = getattr(arr, "dtype", None)
    suffix = "" if dtype is None or dtype.name == "float64" else f":{dtype.name}"
    return f"{fmt_key(name)}[{','.join(map(str, shape))}]{suffix}"
