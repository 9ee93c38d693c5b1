"""Run a graph on Lava's CPU simulator (``Loihi2SimCfg``, floating point) and collect its spikes.

One compiled network serves the whole batch: each sample gets one period of ``plan.steps`` Lava
steps. The host computes the first layer (and time-varying biases) and sends them through
injectors; each neuron's IR step ``t`` is Lava step ``L + t`` of the period (its latency, see
:mod:`.planning`), where the extractors' spikes are read; ``LIFReset`` clears every neuron once per
period. The non-spiking head (e.g. GAP -> Linear -> Output) is computed on the host from the
spikes. The runtime is stopped at the end.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...ir.graph import Graph
from ...ir.interpret import Trace


@dataclass
class LavaResult:
    """What a Lava run produced.

    ``spikes[name]``: each recorded LIF's spikes ``[T, B, *shape]`` (IR layout, 0/1 floats);
    ``output``: the Output node's value ``[T, B, classes]``, computed on the host from the
    spikes; ``latency[name]``: the Lava step of the neuron's IR step 0; ``trace``: the host
    replay (every node's value, with Lava's spikes in place of the neurons); ``timing``: seconds
    spent building, compiling, running and in Var get/set, and the step count.
    """

    spikes: dict[str, np.ndarray]
    output: np.ndarray
    latency: dict[str, int]
    trace: Trace | None = None
    host_s: float = 0.0
    timing: dict[str, float] = field(default_factory=dict)


def as_sequence(graph: Graph, x: np.ndarray, T: int) -> np.ndarray:
    """``x`` as ``[T, B, *input_shape]`` float64: a ``[B, *in]`` batch is repeated over T
    (direct encoding), a longer sequence is cut to T steps."""
    in_shape = tuple(graph.input_node.shape)
    x = np.asarray(x, dtype=np.float64)
    if x.shape[1:] == in_shape:
        return np.broadcast_to(x, (T,) + x.shape)
    if x.shape[2:] == in_shape and x.shape[0] >= T:
        return x[:T]
    raise ValueError(f"input shape {x.shape} fits neither [B, {in_shape}] nor "
                     f"[>={T}, B, {in_shape}]")


def simulate(graph: Graph, x: np.ndarray, T: int | None = None, *, record=None,
             pipeline: str | None = None, conv: str = "sparse") -> LavaResult:
    """Simulate ``graph`` on Lava for ``T`` steps (default ``graph.meta['T']``).

    Args:
        graph: a deploy graph: LIF neurons (hard reset) and affine ops between them (BatchNorm,
            Dropout and Scale may still be present; they fold into the synapses).
        x: ``[B, *input_shape]`` (direct encoding) or ``[T, B, *input_shape]``.
        record: LIF names whose spikes to return (default all; those feeding the host head are
            always recorded).
        pipeline: optionally a pass pipeline to run first (e.g. ``"deploy"``).
        conv: ``"sparse"`` (default: convolutions unrolled into Sparse synapses, float64) or
            ``"conv"`` (Lava's Conv process); see :func:`.build.build`.
    Returns:
        :class:`LavaResult`; its spikes equal :func:`snnc.ir.run`'s on the same graph.
    Raises:
        LavaMappingError: an op, neuron parameter or cycle that Lava cannot express (by name).
    """
    from .build import build
    if pipeline:
        from ...passes import run_pipeline
        graph, _ = run_pipeline(graph, pipeline)
    net = build(graph, T, record=record, conv=conv)
    with net:
        return net.run(x)
