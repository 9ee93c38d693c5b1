"""``hop-timing``: hardware timing, every synaptic hop one time step, as Loihi 2 and Lava run it.

The IR lets a recurrent loop close in fewer steps than it has synapses; a chip cannot
(:mod:`snnc.ir.hops`: a loop of ``h`` synapse hops whose edges carry total delay ``d < h``
arrives ``h - d`` steps late). This pass makes the IR say what the chip will do, so that a network
is trained as it will be deployed and the Lava backend then runs it spike for spike.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import GraphError, PassError
from ..ir.graph import Edge, Graph
from ..ir.hops import HOP, Unbalanced, hop_latency, neuron_links, neurons_of
from .base import Pass, plural

#: ``TrainConfig.timing`` / ``snnc train --timing``: the IR's own delays, or hardware timing.
TIMINGS = ("ir", "hardware")


@dataclass(frozen=True)
class HopTiming(Pass):
    """Raise the delay of backward edges by exactly the steps a chip's synaptic hops add.

    Latencies ``L`` are the Lava planner's (:func:`snnc.ir.hops.hop_latency`) over the forward
    links (neuron-to-neuron paths through no backward edge), which every graph whose cycles are
    closed by backward edges can meet. Each link through a backward edge must then satisfy
    ``D >= L_src - L_dst + HOP``; the pass gives each backward edge the least extra delay that
    makes every link through it do so (a link through several backward edges is fixed on the last
    one on its path). The Lava planner then finds the same latencies and needs neither port
    connections nor refusals: it runs the result exactly.

    Every link counts as a synapse, as on the chip: the Lava planner's port connections (a unit
    identity LIF -> LIF edge wired without a synapse process, which saves one step in Lava's
    simulation only) are not assumed, so a model trained this way also fits a chip.

    The result is a plain IR graph that the interpreter defines and every backend runs; it does
    not compute what its input did (unlike the folding passes), unless no backward edge needed
    raising. Neurons are every node of kind ``neuron`` (LIF, ALIF, PLIF, ReLU); the folds of the
    ``deploy`` pipeline keep the neurons and the delays of the paths between them, so the
    latencies computed here on a training graph are those the planner finds after folding.

    Expects: a verified graph whose cycles each contain a backward edge.
    Changes: the delay of backward edges that carry a loop with fewer delay steps than hops
    (edge order kept); ``meta["hop_timing"]``: ``[[src, dst, port, old delay, new delay], ...]``
    of the edges raised, accumulated over runs.
    Guarantees: idempotent (a second run changes nothing); forward edges, nodes and params
    untouched.

    Raises:
        PassError: a loop with fewer delay steps than hops made of forward edges only, a cycle
            with no neuron on it, or a raised edge that would duplicate another edge.
    """

    name: ClassVar[str] = "hop-timing"
    preserves_semantics: ClassVar[bool] = False

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        raised = hop_delays(graph)
        if not raised:
            notes.append("every loop has at least as many delay steps as synaptic hops")
            return False
        new = {e: e.delay + k for e, k in raised.items()}
        edges = graph.edges
        for e in edges:
            graph.remove_edge(e)
        for e in edges:
            d = new.get(e, e.delay)
            try:
                graph.add_edge(e.src, e.dst, e.port, d, e.kind)
            except GraphError:
                raise PassError(f"hop-timing: delaying backward edge {e} to @{d} would duplicate "
                                f"an edge of the graph") from None
        record = list(graph.meta.get("hop_timing") or [])
        for e, d in new.items():
            record.append([e.src, e.dst, e.port, e.delay, d])
            notes.append(f"delayed backward edge {e.src} -> {e.dst} from @{e.delay} to @{d} "
                         f"(+{d - e.delay}: one step per synaptic hop)")
        graph.meta["hop_timing"] = record
        notes.append(f"raised {plural(len(new), 'backward edge')}")
        return True


def hop_delays(graph: Graph) -> dict[Edge, int]:
    """Backward edge -> the delay steps :class:`HopTiming` adds to it (only edges that need
    some), in edge order. See :class:`HopTiming` for the rule and the errors."""
    neurons = neurons_of(graph)
    try:
        links = neuron_links(graph, neurons)
    except GraphError as exc:
        raise PassError(f"hop-timing: {exc}") from None
    forward = [k for k in links if not k.backward]
    try:
        L = hop_latency(neurons, forward)
    except Unbalanced as exc:
        raise PassError(f"hop-timing: the loop {' -> '.join(exc.cycle)} has fewer delay steps "
                        f"than synaptic hops and no backward edge to delay; mark its feedback "
                        f"edge backward") from None
    add: dict[Edge, int] = {}
    changed = True
    while changed:  # raising an edge only helps the other links through it: this ends
        changed = False
        for k in links:
            if not k.backward:
                continue
            have = k.delay + sum(add.get(e, 0) for e in k.backward)
            short = L[k.src] - L[k.dst] + HOP - have
            if short > 0:
                last = k.backward[-1]
                add[last] = add.get(last, 0) + short
                changed = True
    order = {e: i for i, e in enumerate(graph.edges)}
    return dict(sorted(add.items(), key=lambda kv: order[kv[0]]))


def apply_timing(graph: Graph, timing: str) -> Graph:
    """``graph`` under ``timing``: itself for ``"ir"``, through :class:`HopTiming` (recorded in
    ``meta["passes"]`` like any pass) for ``"hardware"``.

    Raises:
        PassError: an unknown timing, or the pass's errors.
    """
    if timing not in TIMINGS:
        raise PassError(f"timing must be one of {', '.join(TIMINGS)}, got {timing!r}")
    if timing == "ir":
        return graph
    from .manager import run_pipeline

    return run_pipeline(graph, [HopTiming()])[0]
