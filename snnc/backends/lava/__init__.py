"""Lava backend: a deploy graph as Lava processes, simulated on Loihi 2's CPU model.

    >>> from snnc.backends.lava import simulate
    >>> res = simulate(graph, x, T=4)        # res.spikes['c1.lif'] [T, B, C, H, W], res.output

Pieces: :mod:`.mapping` (canonical LIF -> Lava LIF parameters, refusals), :mod:`.synapses`
(the affine ops between neurons folded into Conv/Dense/Sparse operators), :mod:`.optable` (the
op table: each op as synaptic terms, or refused with a reason), :mod:`.planning` (host
currents, latency balancing, clean starts; no Lava needed), :mod:`.build` (Lava processes and
running them), :mod:`.simulate` (one call), :mod:`.compat` (lava-nc 0.10.0 on Python 3.11),
:mod:`.alif` / :mod:`.alif_process` (the ALIF neuron's step and snnc's Lava process for it, which
Lava lacks), :mod:`.coverage` (per node: maps, host or refused, without starting Lava).

Importing this package does not import lava: Lava forks worker processes on import, so it is
imported only when a network is built.
"""
# build.py and simulate.py import lava only inside functions; importing them here (eagerly)
# also keeps the names `build` and `simulate` bound to the functions, not the submodules.
from .build import LavaNetwork, build
from .mapping import LavaLIF, LavaMappingError, map_lif
from .planning import LavaPlan, plan
from .simulate import LavaResult, simulate

__all__ = ["LavaLIF", "LavaMappingError", "LavaNetwork", "LavaPlan", "LavaResult", "build",
           "map_lif", "plan", "simulate"]
