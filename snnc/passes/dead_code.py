"""``remove-dead``: remove nodes whose value can never reach the Output."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.graph import Graph
from .base import Pass, plural


@dataclass(frozen=True)
class RemoveDead(Pass):
    """Remove every node with no path to the Output.

    Expects: a verified graph.
    Changes: nodes that are not ancestors of the Output in the full graph (all edges, delayed and
    backward ones included, so a node that feeds the Output only through a cycle or a delay stays)
    are removed with their edges. The Input is never removed.
    Guarantees: no surviving node reads a removed one (a reader would reach the Output too), so
    the Output and every surviving node's value are unchanged exactly.
    """

    name: ClassVar[str] = "remove-dead"

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        live = graph.reaching(graph.output_node.name) | {graph.input_node.name}
        dead = [name for name in graph.nodes if name not in live]
        for name in dead:
            graph.remove_node_and_edges(name)
        if dead:
            shown = ", ".join(dead[:8]) + (", ..." if len(dead) > 8 else "")
            notes.append(f"removed {plural(len(dead), 'dead node')} ({shown})")
        return bool(dead)
