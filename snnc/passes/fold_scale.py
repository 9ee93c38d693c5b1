"""``fold-scale``: fold a Scale (the STTS sink mean) into the thresholds of the neurons it feeds."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.graph import Graph, Node
from ..ir.ops import SPIKING_NEURON_OPS
from .base import Pass, bypass_edges, check_choice, plural, replace_by_edges

MODES = ("threshold", "input")


@dataclass(frozen=True)
class FoldScale(Pass):
    """Remove Scale nodes that only feed spiking neurons (LIF, ALIF, PLIF) by rescaling them.

    STTS section 4.1 (after eq. 10): the sink's division by ``|T|`` "can be replaced by scaling
    up the firing threshold by ``|T|`` in the following spiking neurons".

    Expects: a verified graph.
    Matches: a Scale with ``scale = s > 0`` whose consumers are all spiking neuron nodes that
    receive input only from this Scale (over any number of edges, any delays). The Scale is
    removed; each pair of an in-edge ``a -> Scale`` (delay d1) and an out-edge ``Scale -> lif``
    (delay d2) becomes ``a -> lif`` with delay ``d1 + d2`` (backward if either was). With the
    canonical neuron ``H = v_rest + beta (V - v_rest) + alpha s X``:

    - ``mode="threshold"`` (default, the paper): divide the membrane by ``s``: ``v_th' = v_th / s``,
      ``v_reset' = v_reset / s``, ``v_rest' = v_rest / s``; then ``H' = H / s``, ``V' = V / s`` and
      ``H' > v_th'`` exactly when ``H > v_th``, for hard and soft reset alike. ALIF: also
      ``adapt' = adapt / s``, so its threshold ``A' = A / s`` (the increment ``a`` counts spikes
      and is unchanged).
    - ``mode="input"``: ``alpha' = alpha * s`` (PLIF: its gain ``alpha (1 - beta)`` or ``alpha``
      scales with ``alpha``); the membrane potential is unchanged.

    Leaves alone (with a note): ``s <= 0`` (the comparison would flip), consumers that are not
    spiking neurons (a ReLU would need its output scaled: ``max(0, s x) = s max(0, x)``, which
    no attribute of it expresses) or also receive other input, a Scale that feeds itself, and
    bypasses that would need two equal edges.
    Guarantees: the Output and every neuron's spikes are unchanged; membrane potentials of the
    rescaled neurons become ``V / s`` (threshold mode) or stay equal (input mode), up to float
    rounding.
    """

    name: ClassVar[str] = "fold-scale"
    mode: str = "threshold"

    def __post_init__(self):
        check_choice(self.name, "mode", self.mode, MODES)

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        folded, neurons, kept = 0, 0, []
        for sc in graph.nodes_of("Scale"):
            if not graph.out_edges(sc.name):
                continue  # dead: remove-dead's business
            why = self._blocker(graph, sc)
            edges = []
            if why is None:
                edges, why = bypass_edges(graph, sc.name)
            if why:
                kept.append(f"kept {sc.name}: {why}")
                continue
            s = sc.attrs["scale"]
            lifs = [graph[n] for n in graph.successors(sc.name)]
            replace_by_edges(graph, sc.name, edges)
            for lif in lifs:
                rescale(lif, s, self.mode)
            folded, neurons = folded + 1, neurons + len(lifs)
        if folded:
            how = "thresholds (v_th / s)" if self.mode == "threshold" else "input gains (alpha * s)"
            notes.append(f"folded {plural(folded, 'Scale node')} into the {how} of "
                         f"{plural(neurons, 'neuron node')}")
        notes.extend(kept)
        return bool(folded)

    @staticmethod
    def _blocker(graph: Graph, sc: Node) -> str | None:
        s = sc.attrs["scale"]
        if not s > 0:
            return f"scale {s} is not positive"
        for name in graph.successors(sc.name):
            node = graph[name]
            if node.op not in SPIKING_NEURON_OPS:
                return f"it feeds {name} ({node.op}), not only spiking neurons"
            others = [e.src for e in graph.in_edges(name) if e.src != sc.name]
            if others:
                return f"{name} also receives input from {', '.join(dict.fromkeys(others))}"
        return None


def rescale(lif: Node, s: float, mode: str) -> None:
    """Make spiking neuron node ``lif`` (LIF, ALIF or PLIF) take over a preceding ``Scale(s)``
    (attrs edited in place)."""
    a = lif.attrs
    if mode == "threshold":
        for key in ("v_th", "v_reset", "v_rest") + (("adapt",) if lif.op == "ALIF" else ()):
            a[key] = float(a[key]) / s
    else:
        a["alpha"] = float(a["alpha"]) * s
