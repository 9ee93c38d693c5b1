"""A :class:`~snnc.ir.graph.Graph` as JSON-able data plus named arrays, and back.

The model knows how to become data; :mod:`snnc.ir.artifact` alone knows files (NIR's split of
``to_dict`` and one writer). ``graph_to_dict`` gives the structure, ``graph_arrays`` the weights::

    {"meta": {...},
     "nodes": [{"name": "s1.conv", "op": "Conv2d", "attrs": {"kernel": 3, ...},
                "shape": [4, 8, 8], "loc": "12:3",
                "params": {"weight": {"key": "s1.conv/weight", "dtype": "float64",
                                      "shape": [4, 2, 3, 3]}}}, ...],
     "edges": [{"src": "in", "dst": "s1.conv", "port": 0, "delay": 0, "kind": "forward"}, ...]}

Nodes and edges keep their order (so topological tie-breaks and dumps are unchanged). Attribute
and meta values are JSON with three tagged forms that make the round trip exact: a tuple is
``{"$tuple": [...]}``, a non-finite float ``{"$float": "nan" | "inf" | "-inf"}``, and a dict with a
key starting with ``$`` is wrapped as ``{"$dict": {...}}``. Python's ``json`` writes floats with
``repr`` (shortest exact form), so ints stay ints, floats stay floats (``1.0`` is not ``1``), bools
stay bools. NumPy scalars become Python scalars. ``node.meta`` (analysis results) is not saved.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..errors import ArtifactError, GraphError
from .graph import Graph

#: dtype kinds a param may have: floats only ("f"), so ``np.load(allow_pickle=False)`` reads them.
PARAM_KINDS = ("f",)
_TAGS = ("$tuple", "$float", "$dict")


def to_json_value(value: Any, where: str = "value") -> Any:
    """``value`` (str/int/float/bool/None, tuples, lists, str-keyed dicts, NumPy scalars) as
    JSON-able data with the tags above. Raises ArtifactError naming ``where`` (e.g.
    ``meta['x'][2]``) for anything else."""
    if isinstance(value, np.generic):  # np.float64(0.5) -> 0.5, np.int64(3) -> 3, ...
        if not isinstance(value, (np.floating, np.integer, np.bool_, np.str_)):
            raise ArtifactError(f"{where}: cannot serialise NumPy {type(value).__name__}")
        value = value.item()
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, tuple):
        return {"$tuple": [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [to_json_value(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ArtifactError(f"{where}: dict key {k!r} is not a string; JSON keys must be")
            out[k] = to_json_value(v, f"{where}[{k!r}]")
        return {"$dict": out} if any(k.startswith("$") for k in out) else out
    raise ArtifactError(f"{where}: cannot serialise a value of type {type(value).__name__} "
                        f"(allowed: str, int, float, bool, None, tuple, list, dict)")


def from_json_value(data: Any, where: str = "value") -> Any:
    """Inverse of :func:`to_json_value`. Raises ArtifactError on an unknown ``$`` tag."""
    if isinstance(data, list):
        return [from_json_value(v, f"{where}[{i}]") for i, v in enumerate(data)]
    if not isinstance(data, dict):
        return data
    if len(data) == 1 and next(iter(data)).startswith("$"):
        (tag, inner), = data.items()
        if tag == "$tuple" and isinstance(inner, list):
            return tuple(from_json_value(v, f"{where}[{i}]") for i, v in enumerate(inner))
        if tag == "$float" and inner in ("nan", "inf", "-inf"):
            return float(inner)
        if tag == "$dict" and isinstance(inner, dict):
            return {k: from_json_value(v, f"{where}[{k!r}]") for k, v in inner.items()}
        raise ArtifactError(f"{where}: unknown tagged value {tag!r}; known tags: "
                            f"{', '.join(_TAGS)}")
    return {k: from_json_value(v, f"{where}[{k!r}]") for k, v in data.items()}


def param_key(node: str, param: str) -> str:
    """The name of a param array: ``"<node>/<param>"``."""
    return f"{node}/{param}"


def graph_to_dict(graph: Graph) -> dict:
    """The structure of ``graph`` as JSON-able data (see the module docstring); weights are
    referenced by key with dtype and shape, not included (:func:`graph_arrays` has them).

    Raises:
        ArtifactError: an attribute or meta value that JSON cannot hold, or a param that is not a
            float array.
    """
    check_param_dtypes(graph)
    nodes = []
    for n in graph:
        params = {p: {"key": param_key(n.name, p), "dtype": arr.dtype.name,
                      "shape": list(arr.shape)} for p, arr in n.params.items()}
        nodes.append({"name": n.name, "op": n.op,
                      "attrs": to_json_value(dict(n.attrs), f"node {n.name!r} attrs"),
                      "shape": None if n.shape is None else [int(d) for d in n.shape],
                      "loc": n.loc, "params": params})
    edges = [{"src": e.src, "dst": e.dst, "port": e.port, "delay": e.delay, "kind": e.kind}
             for e in graph.edges]
    return {"meta": to_json_value(dict(graph.meta), "meta"), "nodes": nodes, "edges": edges}


def check_param_dtypes(graph: Graph) -> None:
    """Raise ArtifactError naming the first param that is not a float ndarray."""
    for n in graph:
        for pname, arr in n.params.items():
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in PARAM_KINDS:
                what = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
                raise ArtifactError(f"node {n.name!r}: param {pname!r} is {what}; params must be "
                                    f"float arrays")


def graph_arrays(graph: Graph) -> dict[str, np.ndarray]:
    """Every param of ``graph`` by key ``"<node>/<param>"`` (the arrays themselves, not copies).
    Raises ArtifactError if two keys collide (possible only with ``/`` in names)."""
    out: dict[str, np.ndarray] = {}
    for n in graph:
        for p, arr in n.params.items():
            key = param_key(n.name, p)
            if key in out:
                raise ArtifactError(f"node {n.name!r}: param key {key!r} is used twice; "
                                    f"avoid '/' in node and param names")
            out[key] = arr
    return out


def graph_from_dict(data: dict, arrays: dict[str, np.ndarray] | None = None) -> Graph:
    """Rebuild a graph from :func:`graph_to_dict` data and :func:`graph_arrays` arrays.

    The graph is not verified (callers do that). Raises ArtifactError naming the fault: malformed
    data, an array missing, unreferenced, or of another dtype or shape than recorded, or an edit
    the graph refuses (duplicate node name, edge to an unknown node).
    """
    arrays = dict(arrays or {})
    try:
        graph = Graph(_decoded(_get(data, "meta", dict, "graph"), "meta"))
        for i, nd in enumerate(_get(data, "nodes", list, "graph")):
            where = f"nodes[{i}]"
            name = _get(nd, "name", str, where)
            shape = _get(nd, "shape", (list, type(None)), where)
            if shape is not None and not all(type(d) is int for d in shape):
                raise ArtifactError(f"{where}: shape {shape} must be a list of integers")
            params = {p: _array(ref, arrays, f"node {name!r} param {p!r}")
                      for p, ref in _get(nd, "params", dict, where).items()}
            graph.add_node(name, _get(nd, "op", str, where),
                           _decoded(_get(nd, "attrs", dict, where), f"node {name!r} attrs"),
                           params, shape=None if shape is None else tuple(shape),
                           loc=_get(nd, "loc", (str, type(None)), where))
        for i, ed in enumerate(_get(data, "edges", list, "graph")):
            where = f"edges[{i}]"
            graph.add_edge(_get(ed, "src", str, where), _get(ed, "dst", str, where),
                           _get(ed, "port", int, where), _get(ed, "delay", int, where),
                           _get(ed, "kind", str, where))
    except GraphError as exc:
        raise ArtifactError(f"graph data: {exc}") from None
    if arrays:
        raise ArtifactError(f"arrays not referenced by any node: {', '.join(sorted(arrays))}")
    return graph


def _decoded(data: dict, where: str) -> dict:
    """:func:`from_json_value` of a JSON object that must stay a dict (not a tagged tuple)."""
    value = from_json_value(data, where)
    if not isinstance(value, dict):
        raise ArtifactError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _get(d, key: str, typ, where: str):
    """``d[key]``, checked to be of type ``typ`` (bool is not an int here)."""
    if not isinstance(d, dict) or key not in d:
        raise ArtifactError(f"{where}: missing field {key!r}")
    value = d[key]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ArtifactError(f"{where}: field {key!r} has the wrong type ({type(value).__name__})")
    return value


def _array(ref, arrays: dict, where: str) -> np.ndarray:
    """Pop the array ``ref`` names from ``arrays``, checking its recorded dtype and shape."""
    key = _get(ref, "key", str, where)
    if key not in arrays:
        raise ArtifactError(f"{where}: array {key!r} is missing")
    arr = arrays.pop(key)
    shape = tuple(_get(ref, "shape", list, where))
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in PARAM_KINDS:
        raise ArtifactError(f"{where}: array {key!r} is {getattr(arr, 'dtype', type(arr))}, "
                            f"not a float array")
    if arr.dtype.name != _get(ref, "dtype", str, where) or arr.shape != shape:
        raise ArtifactError(f"{where}: array {key!r} is {arr.dtype.name}{list(arr.shape)}, "
                            f"recorded as {ref['dtype']}{list(shape)}")
    return arr
