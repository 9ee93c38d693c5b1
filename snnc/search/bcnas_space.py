"""BCNAS-SNN's search space and evolution operators ("Proper backward connection placement boosts
spiking neural networks", anonymous authors; sections 4.2.1-4.2.3,
5.1, Fig. 4-5): the pure logic, numpy only; the supernet training and the search loop build on it.

**Search space** (section 4.2.1). A ResNet backbone has ``m`` LIF layers, its *ports*, numbered in
forward order (:func:`snnc.genome.resnet.port_names`; 17 for both depths). A backward connection
(BC) ``j -> i`` with ``j >= i`` feeds layer ``j``'s spikes, one step late, into layer ``i``'s input
current (``back j -> i @1`` in a ResNet genome); there are ``n = m (m + 1) / 2`` of them. An
architecture is a set of at most ``b`` BCs (``b = 2``, the paper's setting). The paper's count is
``|A| = sum_{i=0}^{b} C(n, i)``: it starts at ``i = 0``, so **the empty set (the plain backbone)
is an architecture** of the space (:class:`BcSpace` ``include_empty=True``, the default;
``False`` gives ``sum_{i=1}^{b}``). ``m = 17, b = 2``: ``n = 153``, ``|A| = 11,782``.

**Uniform sampling** (:meth:`BcSpace.sample`) is uniform over the set of architectures: every
one of the ``|A|`` sets has probability ``1 / |A|`` (a size ``k`` drawn with probability
``C(n, k) / |A|``, then ``k`` distinct connections uniformly). The paper says only "randomly";
uniform over sizes instead would make each 1-BC architecture ~76x likelier than each 2-BC one.

**Mutation** (section 4.2.3, Fig. 4) moves one port of one BC: the output port ``j`` or the input
port ``i``, never both, to a port at distance 1 or 2 (``max_distance``), with probability
inversely proportional to the distance. A move is *valid* when the new port exists
(``0 <= port < m``), the connection keeps ``j >= i`` and is not already in the architecture.
The paper does not say what happens to invalid moves; here they are never drawn: the BC is drawn
uniformly among those with a valid move, then the port uniformly among its ports with a valid
move, then the target among that port's valid targets with weight ``1 / distance``
(:func:`mutation_distribution` lists the result). So where all four targets are valid a distance-1
move has probability 2/3, a distance-2 move 1/3; an architecture with no valid move (or none at
all: the empty set) has no mutant (``None``).

**Crossover** (Fig. 5): with two BCs, they swap their input ports,
``{j1 -> i1, j2 -> i2} -> {j1 -> i2, j2 -> i1}``; with more than two (``b > 2``) two are drawn
uniformly. The swap has no child (``None``) where it changes nothing (``i1 == i2``) or breaks
``j >= i``: the paper is silent, and neither case is an architecture the figure shows. With one BC
crossover is *addition*: a BC drawn uniformly among the ``n - 1`` others is added (no child when
``b < 2``). The empty set has no crossover child (the paper's two cases need a BC).

**Mutation and crossover probabilities** (section 5.1, ``alpha = 0.2``, ``beta = 0.5``). The
paper states them without saying what they gate. Here they gate each *attempt*: a parent is drawn
uniformly from ``P_top`` (section 4.2.3) and, with probability ``alpha`` (``beta``), is mutated
(crossed); otherwise the attempt yields no child (an unchanged parent is a duplicate). Each kind
gets at most ``max_children`` (10) children and ``tries`` (10, SPOS's budget of Guo et al. 2020,
whose evolution BCNAS-SNN follows) attempts per wanted child; random architectures fill
``P_temp`` to its size (20). Children are never duplicates of each other, of ``P_top`` or of the
architectures passed in ``exclude`` (those already evaluated: re-evaluating one with inherited
weights gives the same accuracy).

**Selective initialisation** (section 4.2.2): the best ``n_top`` of ``P_init`` by N-score and the
best ``e_top`` by E-score, taken separately and merged without duplicates. The paper gives no
counts; the defaults are 10 and 10, half of ``P_temp`` (20) each, so the initial pool is at most
the size of the pool it initialises. Duplicates make it smaller; it is not topped up (the paper
merges "after removing duplicate BCs").

All randomness comes from the :class:`numpy.random.Generator` passed in: the same generator state
gives the same result. Errors are :class:`~snnc.errors.SearchError`.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from ..errors import SearchError
from ..genome import Block, Edge, Genome, make_block
from ..genome.resnet import DEPTHS, port_names

Connection = tuple[int, int]  # (j, i): output port j (the source LIF), input port i (j >= i)


def _fmt(c: Connection) -> str:
    return f"{c[0]} -> {c[1]}"


@dataclass(frozen=True, order=True)
class Architecture:
    """A set of backward connections ``(j, i)``, ``j >= i >= 0``, as a sorted tuple (canonical:
    equal sets are equal objects). Build one from any iterable with :meth:`of`.

    Raises:
        SearchError: a connection that is not a pair of integers with ``j >= i >= 0``, an
            unsorted tuple or a duplicate.
    """

    connections: tuple[Connection, ...] = ()

    def __post_init__(self) -> None:
        for c in self.connections:
            if (not isinstance(c, tuple) or len(c) != 2
                    or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool)
                               for p in c)):
                raise SearchError(f"a backward connection is a pair of ports (j, i), got {c!r}")
            if not c[0] >= c[1] >= 0:
                raise SearchError(f"backward connection {_fmt(c)}: needs j >= i >= 0")
        if list(self.connections) != sorted(set(self.connections)):
            raise SearchError(f"connections {self.connections!r} are not sorted and distinct; "
                              "use Architecture.of(...)")

    @classmethod
    def of(cls, connections: Iterable[Sequence[int]]) -> "Architecture":
        """The architecture of ``connections`` in any order. Raises SearchError on a duplicate."""
        conns = [tuple(int(p) for p in c) for c in connections]
        if len(set(conns)) != len(conns):
            raise SearchError(f"duplicate backward connection in {conns!r}")
        return cls(tuple(sorted(conns)))

    def __len__(self) -> int:
        return len(self.connections)

    def __str__(self) -> str:
        return ", ".join(map(_fmt, self.connections)) or "(no backward connection)"


def n_connections(m: int) -> int:
    """``n = m (m + 1) / 2``: the possible backward connections among ``m`` ports (section 4.2.1)."""
    return m * (m + 1) // 2


def space_size(m: int, b: int = 2, include_empty: bool = True) -> int:
    """``|A| = sum_{i=0}^{b} C(n, i)`` (section 4.2.1; from ``i = 1`` when not ``include_empty``)."""
    n = n_connections(m)
    return sum(math.comb(n, i) for i in range(0 if include_empty else 1, b + 1))


@dataclass(frozen=True)
class BcSpace:
    """The architectures of at most ``b`` backward connections among ``m`` ports.

    Raises:
        SearchError: ``m < 1``, ``b < 0``, or an empty space (``b = 0`` without the empty set).
    """

    m: int
    b: int = 2
    include_empty: bool = True

    def __post_init__(self) -> None:
        for k, lo in (("m", 1), ("b", 0)):
            v = getattr(self, k)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
                raise SearchError(f"BCNAS space: {k} must be an integer >= {lo}, got {v!r}")
        if self.size == 0:
            raise SearchError("BCNAS space: b = 0 without the empty set holds no architecture")

    @property
    def n(self) -> int:
        return n_connections(self.m)

    @property
    def size(self) -> int:
        return space_size(self.m, self.b, self.include_empty)

    @property
    def connections(self) -> tuple[Connection, ...]:
        """Every possible connection ``(j, i)``, sorted."""
        return tuple((j, i) for j in range(self.m) for i in range(j + 1))

    def check(self, arch: Architecture) -> Architecture:
        """``arch`` if it belongs to the space; SearchError naming what does not fit otherwise."""
        for c in arch.connections:
            if c[0] >= self.m:
                raise SearchError(f"backward connection {_fmt(c)}: port {c[0]} out of range, "
                                  f"the backbone has {self.m} ports (0..{self.m - 1})")
        if len(arch) > self.b or (not arch.connections and not self.include_empty):
            raise SearchError(f"architecture {arch} has {len(arch)} backward connections; the "
                              f"space allows {0 if self.include_empty else 1}..{self.b}")
        return arch

    def sample(self, rng: np.random.Generator) -> Architecture:
        """One architecture, each of the :attr:`size` with probability ``1 / size``."""
        lo = 0 if self.include_empty else 1
        sizes = np.arange(lo, self.b + 1)
        counts = np.array([math.comb(self.n, int(k)) for k in sizes], dtype=float)
        k = int(rng.choice(sizes, p=counts / counts.sum()))
        conns = self.connections
        picks = rng.choice(len(conns), size=k, replace=False) if k else []
        return Architecture.of(conns[int(p)] for p in picks)

    def sample_distinct(self, rng: np.random.Generator, count: int,
                        exclude: Iterable[Architecture] = ()) -> list[Architecture]:
        """Up to ``count`` distinct uniform architectures not in ``exclude`` (the draws of
        :meth:`sample`, duplicates dropped: uniform over the remaining ones). Fewer when fewer
        remain."""
        seen = set(exclude)
        left = self.size - sum(1 for a in seen if self._member(a))
        out: list[Architecture] = []
        while len(out) < min(count, left):
            a = self.sample(rng)
            if a not in seen:
                seen.add(a)
                out.append(a)
        return out

    def _member(self, arch: Architecture) -> bool:
        try:
            self.check(arch)
        except SearchError:
            return False
        return True


# ------------------------------------------------------------------ mutation and crossover
def mutation_distribution(arch: Architecture, space: BcSpace,
                          max_distance: int = 2) -> dict[Architecture, float]:
    """Every mutant of ``arch`` with its probability under :func:`mutate` (module docstring):
    BC uniform among those with a valid move, port uniform among its ports with one, target
    ``~ 1 / distance`` among its valid targets. Empty when there is no valid move."""
    space.check(arch)
    present = set(arch.connections)
    movable: list[tuple[Connection, list[list[tuple[Connection, int]]]]] = []
    for c in arch.connections:
        ports = []
        for side in (0, 1):  # 0: the output port j, 1: the input port i
            moves = []
            for d in range(1, max_distance + 1):
                for q in (c[side] - d, c[side] + d):
                    new = (q, c[1]) if side == 0 else (c[0], q)
                    if 0 <= q < space.m and new[0] >= new[1] and new not in present:
                        moves.append((new, d))
            if moves:
                ports.append(moves)
        if ports:
            movable.append((c, ports))
    out: dict[Architecture, float] = {}
    for c, ports in movable:
        for moves in ports:
            total = sum(1.0 / d for _, d in moves)
            for new, d in moves:
                child = Architecture.of([x for x in arch.connections if x != c] + [new])
                out[child] = (1.0 / d) / total / len(ports) / len(movable)
    return out


def mutate(arch: Architecture, space: BcSpace, rng: np.random.Generator,
           max_distance: int = 2) -> Architecture | None:
    """A mutant of ``arch`` (one port of one BC moved by at most ``max_distance``, Fig. 4), or
    None when it has none."""
    dist = mutation_distribution(arch, space, max_distance)
    if not dist:
        return None
    children = sorted(dist)
    return children[int(rng.choice(len(children), p=[dist[c] for c in children]))]


def crossover(arch: Architecture, space: BcSpace,
              rng: np.random.Generator) -> Architecture | None:
    """The crossover child of ``arch`` (Fig. 5): two BCs swap their input ports, or, with one BC,
    a different random BC is added. None where the module docstring says there is no child."""
    space.check(arch)
    conns = arch.connections
    if len(conns) == 1:
        if space.b < 2:
            return None
        others = [c for c in space.connections if c != conns[0]]
        return Architecture.of([conns[0], others[int(rng.integers(len(others)))]])
    if len(conns) < 2:
        return None
    a, b = sorted(int(x) for x in rng.choice(len(conns), size=2, replace=False))
    (j1, i1), (j2, i2) = conns[a], conns[b]
    new = [(j1, i2), (j2, i1)]
    if i1 == i2 or j1 < i2 or j2 < i1:
        return None
    rest = [c for k, c in enumerate(conns) if k not in (a, b)]
    if any(c in rest for c in new):
        return None
    return Architecture.of(rest + new)


# ------------------------------------------------------------------ the search's steps
def _ranked(scores: Sequence[float]) -> list[int]:
    """Indices by score, best first; NaN last (EPE-NAS's nanargmax); ties keep list order."""
    s = np.asarray(scores, dtype=float)
    key = np.where(np.isnan(s), np.inf, -s)
    return [int(k) for k in np.argsort(key, kind="stable")]


def select_initial(archs: Sequence[Architecture], n_scores: Sequence[float],
                   e_scores: Sequence[float], n_top: int = 10,
                   e_top: int = 10) -> list[Architecture]:
    """The initial ``P_temp`` (section 4.2.2): the ``n_top`` best of ``archs`` by N-score, then
    the ``e_top`` best by E-score that are not already in, in rank order; at most
    ``n_top + e_top`` architectures (fewer when the two lists share some).

    Raises:
        SearchError: score lists whose lengths differ from ``archs``, negative counts.
    """
    if not len(archs) == len(n_scores) == len(e_scores):
        raise SearchError(f"selective initialisation: {len(archs)} architectures but "
                          f"{len(n_scores)} N-scores and {len(e_scores)} E-scores")
    if n_top < 0 or e_top < 0:
        raise SearchError(f"selective initialisation: n_top and e_top must be >= 0, got "
                          f"{n_top}, {e_top}")
    out: list[Architecture] = []
    for scores, top in ((n_scores, n_top), (e_scores, e_top)):
        taken = 0
        for k in _ranked(scores):
            if taken == top:
                break
            if archs[k] not in out:
                out.append(archs[k])
            taken += 1
    return out


@dataclass(frozen=True)
class Candidate:
    """A member of ``P_temp`` and how it was made: ``mutation``, ``crossover`` or ``random``."""

    arch: Architecture
    origin: str


def evolve(top: Sequence[tuple[Architecture, float]], space: BcSpace, rng: np.random.Generator,
           *, pool: int = 20, max_children: int = 10, alpha: float = 0.2, beta: float = 0.5,
           tries: int = 10, max_distance: int = 2,
           exclude: Iterable[Architecture] = ()) -> list[Candidate]:
    """One evolution step (section 4.2.3, section 5.1's settings): the next ``P_temp`` from
    ``P_top`` (``(architecture, validation accuracy)`` pairs; the accuracies are not used, the
    parents are drawn uniformly). Mutation children first, then crossover children, then random
    architectures up to ``pool`` distinct ones outside ``P_top`` and ``exclude``; fewer only when
    the space has no more. Probabilities and budgets as the module docstring says.

    Raises:
        SearchError: an empty ``P_top``, a probability outside [0, 1], a negative size.
    """
    if not top:
        raise SearchError("evolution step: P_top is empty")
    for k, p in (("alpha", alpha), ("beta", beta)):
        if not 0.0 <= p <= 1.0:
            raise SearchError(f"evolution step: {k} must be in [0, 1], got {p}")
    if min(pool, max_children, tries) < 0:
        raise SearchError("evolution step: pool, max_children and tries must be >= 0")
    parents = [space.check(a) for a, _ in top]
    seen = set(exclude) | set(parents)
    out: list[Candidate] = []
    kinds = (("mutation", alpha, lambda a: mutate(a, space, rng, max_distance)),
             ("crossover", beta, lambda a: crossover(a, space, rng)))
    for origin, p, op in kinds:
        want = min(max_children, pool - len(out))
        made = 0
        for _ in range(want * tries):
            if made == want:
                break
            parent = parents[int(rng.integers(len(parents)))]
            if rng.random() >= p:
                continue
            child = op(parent)
            if child is not None and child not in seen:
                seen.add(child)
                out.append(Candidate(child, origin))
                made += 1
    out += [Candidate(a, "random") for a in space.sample_distinct(rng, pool - len(out), seen)]
    return out


def update_top(top: Sequence[tuple[Architecture, float]],
               evaluated: Sequence[tuple[Architecture, float]],
               k: int = 10) -> list[tuple[Architecture, float]]:
    """The new ``P_top``: the ``k`` best distinct architectures of ``top`` and ``evaluated`` by
    accuracy (an architecture listed twice keeps its best); NaN last; ties broken by the
    architecture's order (deterministic)."""
    best: dict[Architecture, float] = {}
    for a, acc in list(top) + list(evaluated):
        acc = float(acc)
        if a not in best or (not math.isnan(acc) and (math.isnan(best[a]) or acc > best[a])):
            best[a] = acc
    order = sorted(best.items(), key=lambda t: (math.isnan(t[1]), -t[1] if not math.isnan(t[1])
                                                else 0.0, t[0]))
    return order[:k]


# ------------------------------------------------------------------ genomes
def _resnet_block(genome: Genome) -> tuple[int, Block]:
    found = [(k, bk) for k, bk in enumerate(genome.blocks) if bk.kind == "resnet"]
    if len(found) != 1:
        raise SearchError(f"genome {genome.name!r}: a BCNAS backbone has exactly one resnet "
                          f"block, found {len(found)}")
    k, block = found[0]
    if block.get("depth") not in DEPTHS:
        raise SearchError(f"genome {genome.name!r}, block {block.name}: depth "
                          f"{block.get('depth')!r} has no port list; expected one of "
                          f"{', '.join(map(str, DEPTHS))}")
    return k, block


def space_of(backbone: Genome, b: int = 2, include_empty: bool = True) -> BcSpace:
    """The space of ``backbone``'s ResNet block: ``m`` = its number of LIF ports."""
    _, block = _resnet_block(backbone)
    return BcSpace(len(port_names(block.name, block["depth"])), b, include_empty)


def to_genome(arch: Architecture, backbone: Genome, *, delay: int = 1, b: int = 2,
              name: str | None = None) -> Genome:
    """``backbone`` with ``back j -> i @delay`` for every connection of ``arch`` (eq. 6's delay
    is 1). Equal architectures give equal genomes, hence equal ``genome_id``s; the name stays the
    backbone's unless ``name`` is given.

    Raises:
        SearchError: a backbone that is not one ResNet block or already has backward connections,
            an architecture outside :func:`space_of` ``(backbone, b)``.
        GenomeSyntaxError: ``delay < 1`` (the genome's rule).
    """
    k, block = _resnet_block(backbone)
    if block.edges:
        raise SearchError(f"genome {backbone.name!r}, block {block.name}: the backbone already has "
                          f"{len(block.edges)} backward connection(s); pass one without")
    space_of(backbone, b).check(arch)
    edges = [Edge(j, i, delay, backward=True) for j, i in arch.connections]
    new = make_block("resnet", block.name, block.form, edges=edges, neuron=block.neuron,
                     surrogate=block.surrogate, loc=block.loc, **dict(block.attrs))
    blocks = backbone.blocks[:k] + (new,) + backbone.blocks[k + 1:]
    return dataclasses.replace(backbone, blocks=blocks, name=name or backbone.name)


def from_genome(genome: Genome, *, delay: int = 1) -> Architecture:
    """The architecture of a ResNet genome's backward connections (the inverse of
    :func:`to_genome`).

    Raises:
        SearchError: not one ResNet block, an optional (``choice``) connection (a supernet), or a
            delay other than ``delay`` (the architecture does not record delays).
    """
    _, block = _resnet_block(genome)
    for e in block.edges:
        if e.op is not None:
            raise SearchError(f"genome {genome.name!r}, block {block.name}: back {e.src} -> "
                              f"{e.dst} is marked {e.op!r}; a supernet is not one architecture")
        if e.delay != delay:
            raise SearchError(f"genome {genome.name!r}, block {block.name}: back {e.src} -> "
                              f"{e.dst} has delay {e.delay}, the search space's is {delay}")
    return Architecture.of((e.src, e.dst) for e in block.edges)
