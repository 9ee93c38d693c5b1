"""Firing rates measured from any backend's recorded node outputs.

A rate is a node's mean output per element (neuron) per sample at each time step; for a spiking node
(LIF) that is the fraction of its neurons that spike at step ``t``, i.e. spikes per neuron per step.
The outputs may come from the reference interpreter (``Trace.outputs``), the torch backend's probes
(``SpikingModule.records``) or any other backend (e.g. Lava spikes), as arrays ``[T, B, *shape]``.
Beside the rates, :class:`Rates` keeps each node's output summed over samples per element and step
(``counts``, ``[T, *shape]``): the ``lava`` energy target counts synaptic events exactly from them
(a spike's fan-out depends on where it is). Their memory is ``T`` x the node's size per recorded
node, whatever the number of samples.
This module needs numpy only; torch tensors on the CPU convert through ``numpy.asarray``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np

from ...ir.graph import Graph
from ...ir.verify import verify
from .tables import EnergyError


@dataclass
class Rates:
    """Per-node mean output per element at every step, accumulated over ``samples`` samples.

    Attributes:
        T: time steps of the run.
        samples: number of samples (batch elements) the sums cover.
        sums: node -> ``[T]`` float64, the sum over samples of the sample's mean output per element
            at step ``t`` (so ``sums[n] / samples`` is the per-step rate).
        backend: what produced the outputs (``"torch"``, ``"interpreter"``, ``"lava"``, ...).
        counts: node -> ``[T, *node shape]`` float64, the node's output summed over samples per
            element and step (for a spiking node: its spikes); empty when not recorded.
    """

    T: int
    samples: int
    sums: dict[str, np.ndarray] = field(default_factory=dict)
    backend: str = ""
    counts: dict[str, np.ndarray] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.sums

    def per_step(self, name: str) -> np.ndarray:
        """``[T]``: node ``name``'s mean output per element per sample at each step."""
        try:
            return self.sums[name] / max(self.samples, 1)
        except KeyError:
            raise EnergyError(f"no measured rate for node {name!r}") from None

    def mean(self, name: str) -> float:
        """Node ``name``'s mean output per element per sample per step (its firing rate)."""
        return float(self.per_step(name).mean())

    def merge(self, other: "Rates") -> "Rates":
        """Rates over the samples of both (same T and nodes); ``self`` and ``other`` unchanged."""
        if other.T != self.T or set(other.sums) != set(self.sums):
            raise EnergyError(f"cannot merge rates of T={self.T} and T={other.T} (or of different "
                              f"nodes)")
        if set(other.counts) != set(self.counts):
            raise EnergyError("cannot merge rates with per-element counts of different nodes")
        return Rates(self.T, self.samples + other.samples,
                     {k: self.sums[k] + other.sums[k] for k in self.sums},
                     self.backend or other.backend,
                     {k: self.counts[k] + other.counts[k] for k in self.counts})

    def to_dict(self) -> dict:
        """``{"T", "samples", "backend", "rates": {node: mean rate}}``."""
        return {"T": self.T, "samples": self.samples, "backend": self.backend,
                "rates": {k: self.mean(k) for k in self.sums}}


def rates_from_trace(graph: Graph, outputs: Mapping[str, object], *, backend: str = "",
                     nodes: tuple[str, ...] | None = None) -> Rates:
    """Per-node rates from recorded outputs.

    Args:
        graph: the graph that produced the outputs (shapes are checked against it; verified in
            place first if its shapes are not inferred yet).
        outputs: node name -> its output over time, ``[T, B, *node.shape]`` (numpy array, or
            anything ``numpy.asarray`` converts: a CPU torch tensor). Names not in the graph are
            refused; nodes of the graph that are missing simply have no rate.
        backend: recorded in :attr:`Rates.backend`.
        nodes: use only these nodes (default: every node in ``outputs``).
    Returns:
        :class:`Rates` with ``samples = B`` and ``counts`` of every recorded node.
    Raises:
        EnergyError: an unknown node, a shape that is not ``[T, B, *node.shape]``, or outputs of
            different ``T`` or ``B``.
    """
    if any(n.shape is None for n in graph):
        verify(graph)  # fills in shapes
    sums: dict[str, np.ndarray] = {}
    counts: dict[str, np.ndarray] = {}
    T = B = None
    for name, value in outputs.items():
        if nodes is not None and name not in nodes:
            continue
        if name not in graph.nodes:
            raise EnergyError(f"outputs name node {name!r}, which the graph does not have")
        arr = np.asarray(value)
        shape = tuple(graph.nodes[name].shape)
        if arr.ndim != 2 + len(shape) or tuple(arr.shape[2:]) != shape:
            raise EnergyError(f"output of node {name!r} has shape {tuple(arr.shape)}; expected "
                              f"[T, B, {', '.join(map(str, shape))}]")
        if T is None:
            T, B = arr.shape[0], arr.shape[1]
        elif (arr.shape[0], arr.shape[1]) != (T, B):
            raise EnergyError(f"output of node {name!r} covers T={arr.shape[0]}, B={arr.shape[1]}; "
                              f"other nodes T={T}, B={B}")
        flat = arr.reshape(arr.shape[0], arr.shape[1], -1)
        sums[name] = flat.mean(axis=2, dtype=np.float64).sum(axis=1)
        counts[name] = arr.sum(axis=1, dtype=np.float64)
    if T is None:
        raise EnergyError("no outputs to measure rates from")
    return Rates(int(T), int(B), sums, backend, counts)
