"""SNASNet cell space (SNASNet section 4.3, Fig. 5; NAS-Bench-201 cells with backward connections).

A cell has ``V = 4`` nodes; each node is the sum of its incoming edges, each edge one operation of
``O = {zero, skip, conv1x1, conv3x3, avgpool3x3}`` (codes 0-4, the authors' order). A cell is a
4x4 matrix ``M`` with ``M[i][j]`` the operation on edge ``i -> j``:

* forward-only cells: every pair ``i < j`` draws an operation for ``i -> j`` (upper triangle);
* forward + backward cells: every pair ``i < j`` gets either a forward operation on ``i -> j`` or a
  backward operation on ``j -> i`` (delay 1: node ``j``'s value at ``t - 1`` feeds node ``i`` at
  ``t``), each direction with probability 1/2 — never both ("we do not allow two nodes to have both
  forward and backward connections", section 5.1).

As in the authors' code (REFERENCE-NOTES), a node that cannot reach node 3 or cannot be reached
from node 0 (over forward and backward edges) is cut out, and a cell is drawn again until edge
``0 -> 3`` is not zero. The encoding is the matrix as four rows of digits, e.g. ``0302 0030 3003
0000`` (the authors' form).

:func:`cell_genome` wraps a cell in the SNASNet macro skeleton (``cell`` + ``skeleton snasnet``
blocks of the genome language) with the SNASNet neuron (LIF, tau = 4/3, hard reset to 0, detached
reset, atan surrogate); the codec is :mod:`snnc.genome.snasnet_code`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import SearchError
from ..genome.cells import live_nodes
from ..genome import Edge, Genome, snasnet_code
from ..genome.schema import SNASNET_OPS

__all__ = ["NODES", "OPS", "Cell", "sample_cell", "prune", "cell_genome", "parse_code"]

NODES = 4
#: Operation codes 0-4 (REFERENCE-NOTES, SNASNet code): zero, identity, LIF-conv1x1-BN,
#: LIF-conv3x3-BN, avgpool3x3.
OPS = SNASNET_OPS


@dataclass(frozen=True)
class Cell:
    """A sampled cell: ``matrix[i][j]`` = operation code on edge ``i -> j`` (``i > j``: backward)."""

    matrix: tuple[tuple[int, ...], ...]

    @property
    def code(self) -> str:
        """The authors' encoding: four rows of digits, ``"0302 0030 3003 0000"``."""
        return snasnet_code.format_code(self.matrix)

    @property
    def backward(self) -> bool:
        return any(self.matrix[i][j] for i in range(NODES) for j in range(i))

    def edges(self) -> list[Edge]:
        """Genome edges: ``i -> j op`` for ``i < j``, ``back i -> j @1 op`` for ``i > j``."""
        return list(snasnet_code.edges_of(self.matrix))


def parse_code(code: str) -> Cell:
    """A :class:`Cell` from its encoding (``"0302 0030 3003 0000"``).

    Raises:
        GenomeSyntaxError: see :func:`snnc.genome.snasnet_code.parse_code`.
    """
    return Cell(snasnet_code.parse_code(code))


def _draw(rng: np.random.Generator, backward: bool) -> np.ndarray:
    m = np.zeros((NODES, NODES), dtype=np.int64)
    for i in range(NODES):
        for j in range(i + 1, NODES):
            op = int(rng.integers(len(OPS)))
            if backward and rng.random() < 0.5:
                m[j, i] = op
            else:
                m[i, j] = op
    return m


def prune(m: np.ndarray) -> np.ndarray:
    """Cut out the nodes that cannot reach the last node or cannot be reached from node 0 (the
    authors' sanity check; reachability over forward and backward edges of the drawn cell), with
    the frontend's own rule (:func:`snnc.genome.cells.live_nodes`)."""
    m = np.array(m, dtype=np.int64)
    live = live_nodes(NODES, snasnet_code.edges_of(tuple(tuple(int(v) for v in r) for r in m)))
    dead = [i for i in range(NODES) if i not in live]
    m[dead, :] = 0
    m[:, dead] = 0
    return m


def sample_cell(rng: np.random.Generator, backward: bool, max_tries: int = 10_000) -> Cell:
    """Draw a cell (module docstring): pruned, with a non-zero edge ``0 -> 3``.

    Raises:
        SearchError: no valid cell in ``max_tries`` draws (cannot happen for 4 nodes in practice).
    """
    for _ in range(max_tries):
        m = prune(_draw(rng, backward))
        if m[0, NODES - 1]:
            return Cell(tuple(tuple(int(v) for v in row) for row in m))
    raise SearchError(f"no valid cell in {max_tries} draws")


def cell_genome(cell: Cell, *, channels: int, T: int, input_shape: tuple[int, ...],
                classes: int, hidden: int = 1024, dropout: float = 0.5, vote: int = 10,
                provenance: str | None = None) -> Genome:
    """The SNASNet network around ``cell`` (:func:`snnc.genome.snasnet_code.genome_from_code`):
    stem, cell at ``channels``, reduction, the same cell at ``2 * channels``, ``hidden``
    Linear-LIF, voting (``vote`` neurons per class), with the SNASNet neuron (LIF tau 4/3, hard
    reset, detached reset; atan surrogate). The skeleton is built in the order of the authors'
    search code (``order=code``), whose candidates the paper's scores ranked."""
    kind = "bw" if cell.backward else "fw"
    return snasnet_code.genome_from_code(
        cell.code, name=f"snasnet-{kind}-{cell.code.replace(' ', '-')}", classes=classes,
        channels=channels, T=T, input_shape=tuple(input_shape), vote=vote, hidden=hidden,
        dropout=dropout, order="code", provenance=provenance)
