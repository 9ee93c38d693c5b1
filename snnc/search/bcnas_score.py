"""Step 1 of BCNAS-SNN (section 4.2.2): the training-free N-score and E-score of candidate
architectures of a ResNet backbone, for :func:`snnc.search.bcnas_space.select_initial`.

Each architecture becomes its genome (:func:`~snnc.search.bcnas_space.to_genome`), is lowered for
the ``train`` target with the same weight seed for every candidate (the paper does not say how the
candidates are initialised; one seed makes the backbone's weights the same in all of them, since
the frontend initialises the backbone before the connections, so the scores compare connections,
not draws of the backbone), and is scored by :func:`snnc.search.proxies.score_graph` at
initialisation: ``sahd`` is the N-score (Appendix A eq. 7-8), ``escore`` the E-score (eq. 9-15).
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
    from ..compiler import compile_genome
    from .proxies import score_graph

    batches = list(batches)
    out = []
    for arch in archs:
        graph = compile_genome(to_genome(arch, backbone, delay=delay, b=b), target="train",
                               seed=seed).graph
        out.append(score_graph(graph, batches, kinds=kinds, dtype=dtype, protocol=protocol))
    return out
