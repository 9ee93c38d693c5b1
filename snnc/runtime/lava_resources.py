"""Loihi 2 resources of a model as the Lava backend would deploy it (``snnc lava --resources``).

The model (run folder, ``.snnir``, genome or Graph) is prepared for the ``lava`` target, planned
(:func:`snnc.backends.lava.plan`: what Lava cannot run is refused by node name here) and counted
by :func:`snnc.backends.lava.resources.estimate`. Nothing is simulated and Lava is not imported.
"""
from __future__ import annotations

from pathlib import Path

from ..backends.lava.resources import WEIGHT_BITS, Loihi2Limits, ResourceReport, estimate
from ..ir.graph import Graph

__all__ = ["lava_resources"]


def lava_resources(model: str | Path | Graph, *, weight_bits: int = WEIGHT_BITS,
                   delays: str = "relay", limits: Loihi2Limits | None = None) -> ResourceReport:
    """Neurons, synapses, fan-in/out, synaptic memory, cores and chips of ``model`` on Loihi 2.

    Args:
        model: a run folder, ``.snnir`` file, genome file (compiled with untrained weights: the
            counts depend on shapes and on which weights are zero) or Graph.
        weight_bits: bits per stored weight (default 8).
        delays: ``"relay"`` or ``"synaptic"`` (see :func:`~snnc.backends.lava.resources.estimate`).
        limits: per-core/per-chip limits (default :class:`~snnc.backends.lava.resources.Loihi2Limits`).
    Raises:
        LavaMappingError: an op, neuron or cycle the Lava backend refuses (by node name);
        RunError, ArtifactError, GenomeSyntaxError: as the model loaders.
    """
    from ..backends.lava.planning import plan
    from ..passes.targets import prepare
    from .evaluate import load_trained

    graph, _, label = load_trained(model)
    folded, _ = prepare(graph, "lava")
    return estimate(plan(folded), limits=limits, weight_bits=weight_bits, delays=delays,
                    model=label)
