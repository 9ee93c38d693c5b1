"""``fold-bn``: fold inference-mode BatchNorm into the preceding Conv2d (or Linear)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ..ir.graph import Graph, Node
from .base import Pass

FOLDABLE = ("Conv2d", "Linear")


@dataclass(frozen=True)
class FoldBatchNorm(Pass):
    """Fold each BatchNorm2d into the synapse that feeds it (STTS section 4.1: "During the
    inference, we will merge the BN layer into the precedent convolutional layer").

    Expects: a verified graph.
    Matches: a BatchNorm2d whose only in-edge is one delay-0 edge from a Conv2d (or Linear) that has
    no other out-edge. With ``s = weight / sqrt(running_var + eps)`` per channel the synapse
    becomes ``W' = W * s`` (per output channel) and ``b' = (b - running_mean) * s + bias``
    (``bias=True`` from now on); the BatchNorm's out-edges leave from the synapse, which keeps its
    name and now carries the BatchNorm's value; the BatchNorm is removed. Params are computed in
    float64 and stored in the wider of the two nodes' dtypes.
    Leaves alone (with a note): a BatchNorm fed by several edges, by a delayed edge (``BN(0)`` is
    not 0 at the first steps), by another op, or by a synapse whose output is also used elsewhere.
    Guarantees: the Output and every neuron's spikes and membrane potentials are unchanged (up to
    float rounding).
    """

    name: ClassVar[str] = "fold-bn"

    def apply(self, graph: Graph, notes: list[str]) -> bool:
        folded: dict[str, int] = {}
        kept = []
        for bn in graph.nodes_of("BatchNorm2d"):
            why = self._blocker(graph, bn)
            if why:
                kept.append(f"kept {bn.name}: {why}")
                continue
            syn = graph[graph.in_edges(bn.name)[0].src]
            fold_into(syn, bn)
            graph.remove_edge(graph.in_edges(bn.name)[0])
            graph.replace_uses(bn.name, syn.name)
            graph.remove_node(bn.name)
            folded[syn.op] = folded.get(syn.op, 0) + 1
        for op, n in folded.items():
            notes.append(f"folded {n} BatchNorm2d into {op}")
        notes.extend(kept)
        return bool(folded)

    @staticmethod
    def _blocker(graph: Graph, bn: Node) -> str | None:
        ins = graph.in_edges(bn.name)
        if len(ins) != 1:
            return f"it has {len(ins)} in-edges, not one"
        e = ins[0]
        src = graph[e.src]
        if src.op not in FOLDABLE:
            return f"its input {src.name} is a {src.op}, not a Conv2d or Linear"
        if e.delay:
            return f"its input edge from {src.name} has delay {e.delay}"
        others = [o.dst for o in graph.out_edges(src.name) if o != e]
        if others:
            return f"{src.name} also feeds {', '.join(dict.fromkeys(others))}"
        return None


def fold_into(syn: Node, bn: Node) -> None:
    """Fold BatchNorm node ``bn`` into Conv2d/Linear node ``syn`` in place (params and attrs)."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in bn.params.items()}
    dtype = np.result_type(syn.params["weight"], *bn.params.values())
    scale = p["weight"] / np.sqrt(p["running_var"] + bn.attrs["eps"])
    w = syn.params["weight"].astype(np.float64, copy=False)
    b = syn.params["bias"].astype(np.float64, copy=False) if "bias" in syn.params else np.zeros(len(w))
    syn.params["weight"] = (w * scale.reshape((-1,) + (1,) * (w.ndim - 1))).astype(dtype, copy=False)
    syn.params["bias"] = ((b - p["running_mean"]) * scale + p["bias"]).astype(dtype, copy=False)
    syn.attrs["bias"] = True
