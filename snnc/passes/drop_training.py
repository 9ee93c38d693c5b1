"""``drop-training``: remove training-only ops (Dropout), which are identities at inference."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.graph import Graph
from ..ir.ops import op_def
from .base import Pass, bypass_edges, plural, replace_by_edges


@dataclass(frozen=True)
class DropTraining(Pass):
    """Remove every node whose op has kind ``"training"`` (Dropout).

    Expects: a verified graph; training ops are identities at inference (the interpreter's
    semantics, docs/ARCHITECTURE.md op catalogue).
    Changes: each such node ``n`` is removed and every pair of an in-edge ``a -> n`` (delay d1) and
    an out-edge ``n -> b:port`` (delay d2) becomes ``a -> b:port`` with delay ``d1 + d2``, backward
    if either was backward. Where that is impossible (``n`` feeds itself, or two paths would become
    the same edge, i.e. a sum ``2 x`` an unweighted edge cannot carry) ``n`` becomes an identity
    ``Scale(scale=1.0)`` of the same name instead, and a note says so.
    Guarantees: no training op remains; the Output and every other node's value are unchanged.
    """

    name: ClassVar[str] = "drop-training"

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        removed, kept = [], []
        for node in list(graph):
            if op_def(node).kind != "training":
                continue
            edges, why = bypass_edges(graph, node.name)
            if why is None:
                replace_by_edges(graph, node.name, edges)
                removed.append(node.name)
            else:
                node.op, node.attrs, node.params = "Scale", {"scale": 1.0}, {}
                kept.append(f"replaced {node.name} by an identity Scale: {why}")
        if removed:
            shown = ", ".join(removed[:8]) + (", ..." if len(removed) > 8 else "")
            notes.append(f"removed {plural(len(removed), 'training-only node')} ({shown})")
        notes.extend(kept)
        return bool(removed or kept)
