"""Run a graph on Lava's CPU simulator (``Loihi2SimCfg``, floating point) and collect its spikes.

One compiled network serves the whole batch: each sample gets one period of ``plan.steps`` Lava
steps. The host computes the first layer (and time-varying biases) and sends them through
injectors; each neuron's IR step ``t`` is Lava step ``L + t`` of the period (its latency, see
:mod:`.planning`), where the extractors' spikes are read; ``LIFReset`` clears every neuron once per
period. The non-spiking head (e.g. GAP -> Linear -> Output) is computed on the host from the
spikes. The runtime is stopped at the end.
"""
from __future__ import annotations

import numpy as np

from ...ir.graph import Graph
from .build import build
from .result import LavaResult, as_sequence

__all__ = ["LavaResult", "as_sequence", "simulate"]


def simulate(graph: Graph, x: np.ndarray, T: int | None = None, *, record=None,
             target: str | None = None, conv: str = "sparse",
             processes: str | None = None) -> LavaResult:
    """Simulate ``graph`` on Lava for ``T`` steps (default ``graph.meta['T']``).

    Args:
        graph: a deploy graph: LIF neurons (hard reset) and affine ops between them (BatchNorm,
            Dropout and Scale may still be present; they fold into the synapses).
        x: ``[B, *input_shape]`` (direct encoding) or ``[T, B, *input_shape]``.
        record: LIF names whose spikes to return (default all; those feeding the host head are
            always recorded).
        target: optionally prepare the graph for this target first (``"lava"``; see
            :mod:`snnc.passes.targets`).
        conv: ``"sparse"`` (default: convolutions unrolled into Sparse synapses, float64) or
            ``"conv"`` (Lava's Conv process); see :func:`.build.build`.
        processes: ``"fused"`` (the whole network in one Lava process), ``"layer"`` (one Lava
            process per neuron and synapse), or None: fused where exact (see
            :func:`.build.build`).
    Returns:
        :class:`LavaResult`; its spikes equal :func:`snnc.ir.run`'s on the same graph.
    Raises:
        LavaMappingError: an op, neuron parameter or cycle that Lava cannot express (by name);
            ``processes="fused"`` for what the fused model cannot run exactly.
    """
    if target:
        from ...passes.targets import prepare
        graph, _ = prepare(graph, target)
    net = build(graph, T, record=record, conv=conv, processes=processes)
    with net:
        return net.run(x)
