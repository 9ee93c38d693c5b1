"""Step 1 of BCNAS-SNN (section 4.2.2): the training-free N-score and E-score of candidate
architectures of a ResNet backbone, for :func:`snnc.search.bcnas_space.select_initial`.

Each architecture becomes its genome (:func:`~snnc.search.bcnas_space.to_genome`), is lowered for
the ``train`` target with weight seed ``seed``, and is scored by
:func:`snnc.search.proxies.score_graph` at initialisation: ``sahd`` is the N-score (Appendix A
eq. 7-8), ``escore`` the E-score (eq. 9-15). The paper does not say how candidates are
initialised; here every candidate carries the same backbone weights (those of the backbone
lowered alone with ``seed``, copied into every node of the same name; only the connections' own
convolutions and BatchNorms are the candidate's), so the scores compare connections, not draws of
the backbone. (Lowering alone would not do it: the head is initialised after the connections, so
its draw would shift with them.)
"""
from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np
import torch

from ..genome import Genome
from .bcnas_space import Architecture, to_genome


def score_architectures(archs: Sequence[Architecture], backbone: Genome,
                        batches: Iterable[tuple[torch.Tensor, np.ndarray]], *,
                        kinds: Iterable[str] = ("sahd", "escore"), seed: int = 0, delay: int = 1,
                        b: int = 2, dtype: torch.dtype = torch.float32,
                        protocol: str = "paper") -> list[dict[str, float]]:
    """``[{kind: score}]``, one per architecture in order (NaN where a score is undefined).

    Args:
        archs: architectures of ``backbone``'s space (at most ``b`` connections).
        backbone: a genome with one ResNet block and no backward connection.
        batches: ``(x [B, C, H, W], labels [B])`` mini-batches, reused for every candidate.
        kinds, dtype, protocol: passed to :func:`~snnc.search.proxies.score_graph`.
        seed: weight seed of every candidate's lowering.
    Raises:
        SearchError: an architecture or backbone that does not fit (:func:`to_genome`); what
            lowering and :func:`~snnc.search.proxies.score_graph` raise.
    """
    from .proxies import score_graph

    batches = list(batches)
    base = candidate_graph(Architecture(), backbone, seed=seed, delay=delay, b=b)
    out = []
    for arch in archs:
        graph = candidate_graph(arch, backbone, seed=seed, delay=delay, b=b, base=base)
        out.append(score_graph(graph, batches, kinds=kinds, dtype=dtype, protocol=protocol))
    return out


def candidate_graph(arch: Architecture, backbone: Genome, *, seed: int = 0, delay: int = 1,
                    b: int = 2, base=None):
    """``arch``'s IR graph for the ``train`` target, its nodes that ``base`` (an IR graph, e.g.
    the backbone's) also has carrying copies of ``base``'s parameters (module docstring)."""
    from ..compiler import compile_genome

    graph = compile_genome(to_genome(arch, backbone, delay=delay, b=b), target="train",
                           seed=seed).graph
    if base is not None:
        names = set(base.nodes)
        for n in graph:
            if n.name in names and n.params.keys() == base[n.name].params.keys():
                n.params = {k: np.array(v, copy=True) for k, v in base[n.name].params.items()}
    return graph
