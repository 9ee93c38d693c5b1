"""Assignments of a supernet's choice points, and what they leave live.

A supernet is a graph with choice nodes (:data:`~snnc.ir.ops.CHOICE_OPS`: ``Choice``,
``WeightedMix``). An **assignment** maps choice node names to the selected port: ``0..k-1``, or
``-1`` (nothing) for an optional ``Choice``. Every ``Choice`` needs an entry; a ``WeightedMix``
may have one (then it passes that port through instead of mixing). The interpreter, the torch
backend and the ``resolve-choices`` pass all read assignments through :func:`check_assignment`.
"""
from __future__ import annotations

import difflib
from collections.abc import Mapping

import numpy as np

from ..errors import AssignmentError
from .graph import Graph
from .ops import CHOICE_OPS

#: The port of an optional Choice that selects nothing (its output is zero).
NOTHING = -1


def choice_nodes(graph: Graph) -> list[str]:
    """Names of the choice nodes of ``graph`` (Choice, WeightedMix), in insertion order."""
    return [n.name for n in graph.nodes_of(*CHOICE_OPS)]


def check_assignment(graph: Graph, assignment: Mapping[str, int] | None) -> dict[str, int]:
    """``assignment`` checked against ``graph`` (verified: attribute defaults filled) and returned
    as a plain ``{name: int}`` (numpy integers become ints).

    Raises:
        AssignmentError: an entry names no node, or a node that is no choice point; a port that
            is not an integer, or outside ``0..k-1`` (``-1`` too for an optional Choice); or a
            Choice has no entry. The message names the node.
    """
    given = dict(assignment or {})
    out: dict[str, int] = {}
    for name, port in given.items():
        node = graph.nodes.get(name)
        if node is None:
            close = difflib.get_close_matches(str(name), choice_nodes(graph), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise AssignmentError(f"the assignment names {name!r}, which is not a node of the "
                                  f"graph{hint}", node=str(name))
        if node.op not in CHOICE_OPS:
            raise AssignmentError(f"the assignment names node {name!r} ({node.op}), which is not "
                                  f"a choice point ({', '.join(CHOICE_OPS)})", node=name)
        if isinstance(port, (bool, np.bool_)) or not isinstance(port, (int, np.integer)):
            raise AssignmentError(f"choice node {name!r} ({node.op}): the assigned port must be "
                                  f"an integer, got {port!r}", node=name)
        port, k = int(port), node.attrs["k"]
        optional = node.op == "Choice" and node.attrs.get("optional", False)
        if not (0 <= port < k or (optional and port == NOTHING)):
            allowed = f"0..{k - 1}" + (" or -1 (nothing: the Choice is optional)" if optional
                                       else "")
            raise AssignmentError(f"choice node {name!r} ({node.op}): port {port} is out of "
                                  f"range; allowed: {allowed}", node=name)
        out[name] = port
    missing = [n.name for n in graph.nodes_of("Choice") if n.name not in out]
    if missing:
        shown = ", ".join(map(repr, missing[:5])) + (", ..." if len(missing) > 5 else "")
        raise AssignmentError(f"the assignment has no entry for Choice node(s) {shown}; a "
                              f"Choice runs only with its selected port (0..k-1, or -1 for an "
                              f"optional one)", node=missing[0])
    return out


def softmax(alpha: np.ndarray) -> np.ndarray:
    """The mixing weights of a WeightedMix, ``exp(alpha_j) / sum_l exp(alpha_l)`` (shifted by
    ``max(alpha)`` first, which leaves the value unchanged and cannot overflow)."""
    e = np.exp(alpha - np.max(alpha))
    return e / e.sum()


def argmax_port(alpha: np.ndarray) -> int:
    """The port a WeightedMix resolves to without an assignment entry: the largest ``alpha``
    (the first on a tie), DARTS's discretisation."""
    return int(np.argmax(alpha))


def selected_edges(graph: Graph, assignment: Mapping[str, int]):
    """Whether an edge carries a value that the assignment uses: a function ``edge -> bool``,
    false for the edges into the unselected ports of an assigned choice node (all of them for
    ``-1``)."""
    def used(e) -> bool:
        p = assignment.get(e.dst)
        return p is None or e.port == p
    return used


def skipped_under(graph: Graph, assignment: Mapping[str, int]) -> set[str]:
    """The nodes that only feed unselected ports under ``assignment`` (checked): those that reach
    the Output in the full graph but not through selected edges, plus the nodes that only they
    feed. Skipping them changes no value the Output or any other node depends on."""
    used = selected_edges(graph, assignment)
    out = graph.output_node.name
    live = {out}
    stack = [out]
    while stack:
        for e in graph.in_edges(stack.pop()):
            if used(e) and e.src not in live:
                live.add(e.src)
                stack.append(e.src)
    full = graph.reaching(out) | {out}
    skipped = full - live
    stack = list(skipped)
    while stack:  # dead readers of skipped nodes would read values that are never made
        for e in graph.out_edges(stack.pop()):
            if e.dst not in full and e.dst not in skipped:
                skipped.add(e.dst)
                stack.append(e.dst)
    return skipped


#: Why a consumer other than the torch backend refuses a choice node (op tables, ``prepare``).
UNRESOLVED = ("an unresolved choice point of a supernet: resolve it first with the "
              "resolve-choices pass")
