"""Candidate samplers for training-free search: a candidate is a genome plus a short description.

A space draws candidate ``i`` of a search from its own seed (``seed_i``), so candidates can be drawn
in any order, in any process, and again after a resume, always the same.

* ``snasnet-fw`` / ``snasnet-bw``: SNASNet cells (:mod:`snnc.search.cells`) in the SNASNet skeleton;
  the description is the authors' cell encoding (``0302 0030 3003 0000``).
* ``stts-small``: a small STTS network (:mod:`snnc.search.stts`) — an encoding layer and one
  5-node Erdos-Renyi stage with Bernoulli synaptic delays — at the given width; the description lists
  the stage's edges. It lowers with today's frontend, so the whole search path runs end to end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol

import numpy as np

from ..errors import SearchError
from ..genome import Genome, genome_id, to_text
from .cells import cell_genome, sample_cell
from .stts import GraphModel, SpaceSpec, StageSpec, sample_stts

__all__ = ["Candidate", "Space", "CellSpace", "SttsSpace", "SPACES", "make_space"]


@dataclass(frozen=True)
class Candidate:
    """A sampled architecture: its genome and a one-line description (for rankings)."""

    genome: Genome
    description: str

    @property
    def text(self) -> str:
        return to_text(self.genome)

    @property
    def id(self) -> str:
        return genome_id(self.genome)


class Space(Protocol):
    """Anything with ``sample(seed) -> Candidate`` (deterministic in ``seed``)."""

    def sample(self, seed: int) -> Candidate: ...


@dataclass(frozen=True)
class CellSpace:
    """SNASNet cells, forward-only or forward + backward, in the SNASNet macro skeleton."""

    backward: bool
    channels: int
    T: int
    input_shape: tuple[int, ...]
    classes: int

    def sample(self, seed: int) -> Candidate:
        cell = sample_cell(np.random.default_rng(seed), self.backward)
        genome = cell_genome(cell, channels=self.channels, T=self.T,
                             input_shape=self.input_shape, classes=self.classes)
        return Candidate(genome, cell.code)


@dataclass(frozen=True)
class SttsSpace:
    """A small STTS network: encoding layer (``channels``, stride 1) and one graph stage of
    ``nodes`` nodes (Erdos-Renyi, p = 0.5, stride 2, synaptic delays with p = 0.3), SNASNet's LIF
    (tau 4/3, decayed input), a plain Linear head."""

    channels: int
    T: int
    input_shape: tuple[int, ...]
    classes: int
    nodes: int = 5

    def spec(self) -> SpaceSpec:
        return SpaceSpec(
            "stts-small",
            (StageSpec(self.channels, None, 1, spiking=False, conv="standard"),
             StageSpec(self.channels, GraphModel("er", self.nodes, p=0.5), 2, conv="standard")),
            input_shape=tuple(self.input_shape), classes=self.classes, T=self.T,
            head_channels=0, dropout=0.0, delay_p=0.3, keep_undelayed=True, tau=4 / 3,
            decay_input=True)

    def sample(self, seed: int) -> Candidate:
        genome = sample_stts(self.spec(), seed)
        stage = next(b for b in genome.blocks if b.form == "graph")
        desc = " ".join(f"{e.src}-{e.dst}" + (f"@{e.delay}" if e.delay else "")
                        for e in stage.edges)
        return Candidate(genome, desc or "(no edges)")


#: Space name -> factory ``(channels, T, input_shape, classes) -> Space``.
SPACES: dict[str, Callable[..., Space]] = {
    "snasnet-fw": lambda **kw: CellSpace(False, **kw),
    "snasnet-bw": lambda **kw: CellSpace(True, **kw),
    "stts-small": lambda **kw: SttsSpace(**kw),
}


def make_space(name: str, *, channels: int, T: int, input_shape: tuple[int, ...],
               classes: int) -> Space:
    """The space ``name`` of :data:`SPACES` for data of ``input_shape`` and ``classes``.

    Raises:
        SearchError: unknown space.
    """
    if name not in SPACES:
        raise SearchError(f"unknown search space {name!r}; known: {', '.join(SPACES)}")
    return SPACES[name](channels=channels, T=T, input_shape=tuple(input_shape), classes=classes)
