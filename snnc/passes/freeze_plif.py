"""``freeze-plif``: a trained PLIF neuron becomes the LIF with its learned leak."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..ir.graph import Graph
from ..ir.interpret import plif_gain
from ..ir.ops import LIF
from .base import Pass, plural


@dataclass(frozen=True)
class FreezePLIF(Pass):
    """Replace every PLIF node by a LIF node with the same name and edges.

    A PLIF's leak ``beta`` trains (Fang et al. 2021); once training is over it is a constant and the
    neuron is the canonical LIF, which deployment backends (Lava, NIR) know.

    Expects: a verified graph.
    Changes: each PLIF gets ``op = "LIF"``, keeps ``beta`` and every LIF attribute, and its input
    gain becomes ``alpha`` exactly: ``alpha (1 - beta)`` with ``decay_input``, else ``alpha``
    (:func:`snnc.ir.interpret.plif_gain`, the interpreter's own expression, so the value rounds
    as the interpreter's did); ``decay_input`` is dropped.
    Guarantees: every neuron's spikes and membrane potentials and the Output are unchanged, bit for
    bit.
    """

    name: ClassVar[str] = "freeze-plif"

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        frozen = graph.nodes_of("PLIF")
        for node in frozen:
            gain = plif_gain(node.attrs)
            node.op = "LIF"
            node.attrs = {k: v for k, v in node.attrs.items() if k in LIF.attrs}
            node.attrs["alpha"] = float(gain)
        if frozen:
            notes.append(f"froze {plural(len(frozen), 'PLIF node')} into LIF with the learned leak")
        return bool(frozen)
