"""What a Lava run returns (:class:`LavaResult`) and how inputs become the ``[T, B, ...]`` sequence
the network is driven with (:func:`as_sequence`); shared by :mod:`.build` and :mod:`.simulate`."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ...ir.graph import Graph
from ...ir.inputs import input_layout
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
    x = np.asarray(x, dtype=np.float64)
    layout = input_layout(graph.input_node.shape, x.shape, T)
    return np.broadcast_to(x, (T,) + x.shape) if layout.direct else x[:T]
