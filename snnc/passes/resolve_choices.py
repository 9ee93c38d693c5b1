"""``resolve-choices``: a supernet plus an assignment becomes a plain graph (one candidate)."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from ..errors import PassError
from ..ir.choices import NOTHING, argmax_port, check_assignment, choice_nodes
from ..ir.graph import Graph
from ..ir.ops import op_def
from .base import Pass, bypass_edges, check_choice, plural, replace_by_edges
from .dead_code import RemoveDead

#: How a WeightedMix without an assignment entry resolves.
MIX_RULES = ("argmax", "refuse")


def format_assignment(assignment: Mapping[str, int]) -> str:
    """The option text of an assignment: ``"name:port;name:port"`` in name order (what
    ``resolve-choices{assignment=...}`` reads and what ``meta["passes"]`` records)."""
    return ";".join(f"{name}:{int(port)}" for name, port in sorted(assignment.items()))


def parse_assignment(text: str) -> dict[str, int]:
    """Inverse of :func:`format_assignment`.

    Raises:
        PassError: an item that is not ``name:port`` with an integer port.
    """
    out: dict[str, int] = {}
    for item in filter(None, (s.strip() for s in text.split(";"))):
        name, sep, port = item.rpartition(":")
        try:
            if not sep or not name:
                raise ValueError(item)
            out[name] = int(port)
        except ValueError:
            raise PassError(f"pass resolve-choices: assignment item {item!r} is not "
                            f"'node:port' with an integer port") from None
    return out


@dataclass(frozen=True)
class ResolveChoices(Pass):
    """Turn a supernet (Choice / WeightedMix nodes) plus an assignment into a plain graph.

    Options: ``assignment``, node name -> port in the text form ``"name:port;name:port"``
    (:func:`resolve_choices` takes a dict); ``mix``: what a WeightedMix without an entry becomes,
    ``"argmax"`` (default: the input of its largest ``alpha``, the first on a tie; DARTS's
    discretisation) or ``"refuse"``.

    Expects: a verified graph; an assignment that :func:`snnc.ir.choices.check_assignment`
    accepts (every Choice assigned).
    Changes: each choice node with port ``p`` loses the edges into its other ports and is
    bypassed: every edge ``s -@d1-> node:p`` and ``node -@d2-> y:q`` become ``s -@(d1+d2)-> y:q``
    (backward if either was); where that would duplicate an edge, the node stays as a
    ``Scale(scale=1.0)`` of the same name. An optional Choice assigned ``-1`` is removed with its
    edges. Then every node that no longer reaches the Output (the unselected alternatives) is
    removed, as ``remove-dead`` does.
    Guarantees: with Choices only, or WeightedMix nodes assigned a port, the result computes
    exactly what the supernet computes under the assignment (``Interpreter(supernet,
    assignment=...)``): the same Output and the same spikes in every surviving neuron. A
    WeightedMix resolved by ``argmax`` changes the output (its weights are dropped): the notes say
    so, naming each.
    Raises (as PassError through the PassManager): an assignment that does not fit, a
    WeightedMix without an entry under ``mix=refuse``, a ``-1`` that would leave a node (or a
    port of a multi-port node) without inputs, or a selection that cuts nodes that reach the
    Output off from the Input; each names the nodes.
    """

    name: ClassVar[str] = "resolve-choices"
    assignment: str = ""
    mix: str = "argmax"

    def __post_init__(self):
        check_choice(self.name, "mix", self.mix, MIX_RULES)
        parse_assignment(self.assignment)

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        given = check_assignment(graph, parse_assignment(self.assignment))
        picks: dict[str, int] = {}
        approximated = []
        for name in choice_nodes(graph):
            node = graph[name]
            if name in given:
                picks[name] = given[name]
            elif self.mix == "refuse":
                raise PassError(f"WeightedMix node {name!r} has no assignment entry and the "
                                f"option mix=refuse is set; assign it a port 0..{node.attrs['k'] - 1}")
            else:
                picks[name] = argmax_port(node.params["alpha"])
                approximated.append(f"{name} -> port {picks[name]}")
        if not picks:
            return False
        for name, p in picks.items():  # first every unselected input, so later checks see the rest
            for e in graph.in_edges(name):
                if e.port != p:
                    graph.remove_edge(e)
        dropped = [n for n, p in picks.items() if p == NOTHING]
        for name in dropped:
            _drop(graph, name)
        kept = []
        for name, p in picks.items():
            if p == NOTHING:
                continue
            for e in graph.in_edges(name):
                graph.remove_edge(e)
                graph.add_edge(e.src, e.dst, 0, e.delay, e.kind)
            node = graph[name]
            node.op, node.attrs, node.params = "Scale", {"scale": 1.0}, {}
            edges, why = bypass_edges(graph, name)
            if why is None:
                replace_by_edges(graph, name, edges)
            else:
                kept.append(f"{name} ({why})")
        notes.append(f"resolved {plural(len(picks), 'choice point')}: " +
                     ", ".join(f"{n} -> {'nothing' if p == NOTHING else f'port {p}'}"
                               for n, p in picks.items()))
        if approximated:
            notes.append("approximated: WeightedMix resolved to the input of its largest alpha "
                         "(the mix weights are dropped, so the output differs from the mixed "
                         "supernet's): " + ", ".join(approximated))
        if kept:
            notes.append("kept as Scale(1.0), since bypassing would duplicate an edge: " +
                         ", ".join(kept))
        RemoveDead().apply(graph, notes)
        cut = sorted(set(graph.nodes) - graph.reachable_from(graph.input_node.name))
        if cut:
            shown = ", ".join(map(repr, cut[:5])) + (", ..." if len(cut) > 5 else "")
            raise PassError(f"under this assignment node(s) {shown} reach the Output but no "
                            f"longer have a path from the Input (their inputs came through "
                            f"unselected ports); the supernet computes them from zeros, which "
                            f"a plain graph cannot express")
        return True


def _drop(graph: Graph, name: str) -> None:
    """Remove a Choice assigned nothing, refusing if a reader would be left without the input
    (of that port) it needs."""
    for o in graph.out_edges(name):
        rest = [e for e in graph.in_edges(o.dst) if e.port == o.port and e.src != name]
        if not rest:
            where = f"port {o.port} of " if op_def(graph[o.dst]).multi_port else ""
            raise PassError(f"choice node {name!r} is assigned -1 (nothing), which would leave "
                            f"{where}node {o.dst!r} ({graph[o.dst].op}) without inputs; an "
                            f"optional Choice must feed a node that has other inputs")
    graph.remove_node_and_edges(name)


def resolve_choices(graph: Graph, assignment: Mapping[str, int] | None = None, *,
                    mix: str = "argmax") -> Graph:
    """``graph`` with every choice point resolved by ``assignment`` (see :class:`ResolveChoices`),
    verified; ``graph`` itself is not modified. The pass's notes are not returned: run
    ``run_pipeline(graph, [ResolveChoices(...)])`` for them.

    Raises:
        AssignmentError: the assignment does not fit the graph (names the node).
        PassError: as :class:`ResolveChoices`.
    """
    from ..ir.verify import verify

    result = ResolveChoices(format_assignment(assignment or {}), mix)(graph)
    return verify(result.graph)
