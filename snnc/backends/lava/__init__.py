"""Lava backend: a deploy graph as Lava processes, simulated on Loihi 2's CPU model.

    >>> from snnc.backends.lava import simulate
    >>> res = simulate(graph, x, T=4)        # res.spikes['c1.lif'] [T, B, C, H, W], res.output

Pieces: :mod:`.mapping` (canonical LIF -> Lava LIF parameters, refusals), :mod:`.synapses` (the
affine ops between neurons folded into Conv/Dense/Sparse operators), :mod:`.plan` (host currents,
latency balancing; no Lava needed), :mod:`.build` (Lava processes), :mod:`.simulate` (running),
:mod:`.compat` (lava-nc 0.10.0 on Python 3.11).

Importing this package does not import lava: Lava forks worker processes on import, so it is
imported only when a network is built.
"""
from .mapping import LavaLIF, LavaMappingError, map_lif
from .plan import LavaPlan, plan
from .simulate import LavaResult, simulate


def build(graph_or_plan, T=None, record=None):
    """See :func:`snnc.backends.lava.build.build` (imports lava)."""
    from .build import build as _build
    return _build(graph_or_plan, T, record)


__all__ = ["LavaLIF", "LavaMappingError", "LavaPlan", "LavaResult", "build", "map_lif", "plan",
           "simulate"]
