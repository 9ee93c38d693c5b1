"""STTS: spatio-temporal topology sampling (STTS section 4.2, Algorithm 1, Appendix A).

For each graph stage: (1) a random graph model (Watts-Strogatz, Barabasi-Albert or Erdos-Renyi, from
networkx) gives an undirected spatial topology, turned into a DAG by a random topological order (every
edge points from the lower to the higher position); (2) each edge's synaptic delay is drawn from
Bernoulli(p) (delay 0 or 1). Every sampled edge and delay is written into the genome; the generator,
its parameters and the seed go into the provenance line.

The authors' code also keeps at least one undelayed input per node (``keep_undelayed``); the paper
does not, so the default here is the paper's plain Bernoulli sampling.

**Paper and code variants of the TANet presets.** The presets follow the paper; ``variant="code"``
gives what the authors' released code builds (``stiger1000/Random-Sampling-SNN``):

==============  ========================================  ======================================
                paper (default)                           code
==============  ========================================  ======================================
neuron          STTS eq. 1: ``H = V + (X - V)/tau``, so   ``decay_input=False``: ``H = V - V/tau
                ``beta = 1 - 1/tau``, ``alpha = 1/tau``   + X`` (``alpha = 1``)
reset           detached (Appendix B.2, after Zenke and   not detached
                Vogels 2021)
dropout         0.2 in TANet-Tiny's classifier only       0.2 in both presets
                (section 5.1)
head            GAP -> voting layer (section 5.1): a      GAP -> dropout -> FC to the classes
                Linear to ``classes * vote`` units, each
                class the mean of its ``vote`` units
==============  ========================================  ======================================

The paper gives no population size for its voting layer; ``vote = 10`` units per class is our
choice for TANet-Tiny (SNASNet's voting layer uses 10 per class for CIFAR-10; the 115k weights it
adds keep Table 2's 7M) and a field of :class:`SpaceSpec`. TANet-Regular keeps a plain FC head:
Table 2's 25M parameters leave no room for a population over 1000 classes (10 per class would add
11.5M).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import networkx as nx
import numpy as np

from ..errors import LimitError, SnncError
from ..frontend import check_genome
from ..genome import Edge, Genome, make_block, make_spec
from ..limits import Limits, resolve

MODELS = ("ws", "ba", "er")


@dataclass(frozen=True)
class GraphModel:
    """Random graph model of one stage. ``k``/``p`` for WS, ``m`` for BA, ``p`` for ER."""

    model: str = "ba"
    nodes: int = 32
    k: int = 4
    p: float = 0.75
    m: int = 8

    def sample(self, rng: np.random.Generator) -> nx.Graph:
        seed = int(rng.integers(2**31 - 1))
        n = self.nodes
        if self.model == "ws":
            return nx.connected_watts_strogatz_graph(n, min(self.k, n - 1), self.p, tries=200,
                                                     seed=seed)
        if self.model == "ba":
            return nx.barabasi_albert_graph(n, min(self.m, n - 1), seed=seed)
        if self.model == "er":
            return nx.gnp_random_graph(n, self.p, seed=seed)
        raise SnncError(f"unknown graph model {self.model!r}; expected one of {', '.join(MODELS)}")


@dataclass(frozen=True)
class StageSpec:
    """One stage of the skeleton: a single node (``graph=None``) or a sampled graph."""

    channels: int
    graph: GraphModel | None = None
    stride: int = 2
    spiking: bool = True
    conv: str = "separable"


@dataclass(frozen=True)
class SpaceSpec:
    """A whole STTS search space: header settings, stages, classifier and delay distribution."""

    name: str
    stages: tuple[StageSpec, ...]
    input_shape: tuple[int, ...] = (3, 32, 32)
    classes: int = 10
    T: int = 4
    head_channels: int = 1280
    dropout: float = 0.2
    delay_p: float = 0.05
    keep_undelayed: bool = False
    tau: float = 3.0  # STTS: LIF tau 3
    decay_input: bool = True  # STTS eq. 1: alpha = 1/tau (the code: False, alpha = 1)
    detach_reset: bool = True  # STTS Appendix B.2 (the code: False)
    vote: int = 10  # units per class of the voting layer (section 5.1); 0: a plain FC head
    variant: str = "paper"  # "paper" or "code": which of the two the fields above follow


#: The authors' released code, where it departs from the paper (module docstring).
VARIANTS = ("paper", "code")
_CODE = {"decay_input": False, "detach_reset": False, "dropout": 0.2}


def variant(space: "SpaceSpec", name: str) -> "SpaceSpec":
    """``space`` as the paper (``"paper"``, the presets' default) or the authors' code
    (``"code"``) builds it; presets without a TANet head (``mnist-small``) are returned unchanged
    except for the recorded variant. Raises SnncError for another name."""
    if name not in VARIANTS:
        raise SnncError(f"unknown STTS variant {name!r}; expected one of {', '.join(VARIANTS)}")
    if name == space.variant:
        return space
    if not space.name.startswith("tanet"):
        return replace(space, variant=name)
    if name == "code":
        return replace(space, variant="code", vote=0, **_CODE)
    return PRESETS[space.name] if space.name in PRESETS else replace(space, variant="paper")


def _tanet(name: str, c: int, graph: GraphModel, regular: bool) -> SpaceSpec:
    """TANet-Tiny / TANet-Regular of STTS Table 1 (C = 96, N = 32)."""
    n = graph.nodes
    if regular:
        stages = (StageSpec(c // 2, None, 2, spiking=False, conv="standard"),
                  StageSpec(c, replace(graph, nodes=n // 2)), StageSpec(2 * c, graph),
                  StageSpec(4 * c, graph), StageSpec(8 * c, graph))
        # Section 5.1: dropout in TANet-Tiny's classifier only. No voting population: Table 2's
        # 25M parameters leave no room for one (10 units per class would add 11.5M weights).
        return SpaceSpec(name, stages, input_shape=(3, 224, 224), classes=1000, dropout=0.0,
                         vote=0)
    stages = (StageSpec(c, None, 1, spiking=False, conv="standard"),
              StageSpec(c, None, 1, conv="standard"),
              StageSpec(2 * c, graph), StageSpec(4 * c, graph))
    return SpaceSpec(name, stages, dropout=0.2)


PRESETS: dict[str, SpaceSpec] = {
    # TANet-Tiny: BA with M = 8 gives 8 * (32 - 8) = 192 edges per 32-node stage (CIFAR).
    "tanet-tiny": _tanet("tanet-tiny", 96, GraphModel("ba", 32, m=8), regular=False),
    # TANet-Regular: connected WS with K = 4, P = 0.75 gives 32 * 4 / 2 = 64 edges (ImageNet).
    "tanet-regular": _tanet("tanet-regular", 96, GraphModel("ws", 32, k=4, p=0.75), regular=True),
    # A few-node network for MNIST: the README's main job trains it in minutes on 2 cores
    # (a strided encoding layer keeps the feature maps at 14x14 and 7x7).
    "mnist-small": SpaceSpec(
        "mnist-small",
        (StageSpec(16, None, 2, spiking=False, conv="standard"),
         StageSpec(32, GraphModel("er", 4, p=0.7), 2, conv="standard")),
        input_shape=(1, 28, 28), T=4, head_channels=0, dropout=0.0, delay_p=0.3,
        keep_undelayed=True, tau=2.0, decay_input=True, detach_reset=False, vote=0),
}


def to_dag(g: nx.Graph, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Edges of ``g`` directed by a random topological order (STTS section 4.2), as
    ``(i, j)`` with ``i < j`` in the new node numbering, sorted."""
    order = rng.permutation(g.number_of_nodes())  # order[v] = position of node v
    return sorted((min(order[u], order[v]), max(order[u], order[v])) for u, v in g.edges)


def sample_delays(edges: list[tuple[int, int]], p: float, rng: np.random.Generator,
                  keep_undelayed: bool) -> list[int]:
    """Bernoulli(p) synaptic delays in {0, 1} (STTS Algorithm 1). With ``keep_undelayed`` (the
    authors' code), a node whose inputs all drew a delay gets its first input undelayed."""
    delays = [int(d) for d in rng.random(len(edges)) < p]
    if keep_undelayed:
        first: dict[int, int] = {}
        undelayed: set[int] = set()
        for idx, (_, j) in enumerate(edges):
            first.setdefault(j, idx)
            if delays[idx] == 0:
                undelayed.add(j)
        for j, idx in first.items():
            if j not in undelayed:
                delays[idx] = 0
    return delays


def sample_stts(space: SpaceSpec | str, seed: int, *, variant_name: str | None = None,
                limits: Limits | dict | str | None = None) -> Genome:
    """Sample one architecture of ``space`` (a :class:`SpaceSpec` or a preset name) with ``seed``.

    The same seed gives the same genome (byte-identical canonical text) for a given networkx
    version; different seeds give different topologies and delays. ``variant_name`` (``"paper"``
    or ``"code"``, see the module docstring) changes the neuron and the head, never the sampled
    topology or delays.

    Raises:
        SnncError: an unknown preset or variant, a bad delay probability, a seed that is not an
            integer >= 0.
        LimitError: the space, or the sampled genome, is over a resource limit (``limits``, see
            :func:`snnc.limits.resolve`) that compiling it would hit; a space whose graphs must be
            too large is refused before sampling them.
    """
    if isinstance(space, str):
        if space not in PRESETS:
            raise SnncError(f"unknown STTS preset {space!r}; expected one of {', '.join(PRESETS)}")
        space = PRESETS[space]
    if variant_name is not None:
        space = variant(space, variant_name)
    if not 0.0 <= space.delay_p <= 1.0:
        raise SnncError(f"delay probability must be in [0, 1], got {space.delay_p}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
        raise SnncError(f"seed must be an integer in [0, 2**63), got {seed!r}")
    lim = resolve(limits)
    _check_space(space, lim)
    rng = np.random.default_rng(seed)
    blocks = []
    for i, st in enumerate(space.stages, start=1):
        if st.graph is None:
            blocks.append(make_block("stage", f"s{i}", "node", channels=st.channels,
                                     stride=st.stride, spiking=st.spiking, conv=st.conv))
            continue
        edges = to_dag(st.graph.sample(rng), rng)
        delays = sample_delays(edges, space.delay_p, rng, space.keep_undelayed)
        blocks.append(make_block(
            "stage", f"s{i}", "graph", nodes=st.graph.nodes, channels=st.channels, stride=st.stride,
            conv=st.conv, edges=[Edge(a, b, d) for (a, b), d in zip(edges, delays)]))
    blocks.append(make_block("classifier", "head", None, channels=space.head_channels,
                             dropout=space.dropout, vote=space.vote))
    graphs = {g.model: g for g in (s.graph for s in space.stages) if g is not None}
    used = {"ws": ("nodes", "k", "p"), "ba": ("nodes", "m"), "er": ("nodes", "p")}
    params = " ".join(f"{k}={v}" for g in graphs.values() for k, v in asdict(g).items()
                      if k == "model" or k in used[g.model])
    genome = Genome(
        name=f"{space.name}-s{seed}", T=space.T, input_shape=tuple(space.input_shape),
        classes=space.classes, neuron=make_spec("lif", tau=space.tau, decay_input=space.decay_input,
                                                detach_reset=space.detach_reset),
        surrogate=make_spec("atan", "surrogate", alpha=2.0), blocks=tuple(blocks),
        provenance=(f"snnc sample stts preset={space.name} variant={space.variant} {params} "
                    f"delay_p={space.delay_p} keep_undelayed={str(space.keep_undelayed).lower()} "
                    f"seed={seed}"))
    try:
        check_genome(genome, limits=lim)
    except LimitError as exc:
        raise exc.located(f"<sampled {space.name} seed={seed}>") from None
    return genome


def _expected_edges(g: GraphModel) -> tuple[float, float]:
    """(expected edges, a count the sample stays above but for odds under 1e-20)."""
    n = g.nodes
    if g.model == "ws":
        e = n * min(g.k, n - 1) // 2
        return e, e
    if g.model == "ba":
        m = min(g.m, n - 1)
        e = m * (n - m)
        return e, e
    mean = g.p * n * (n - 1) / 2
    return mean, mean - 10 * math.sqrt(mean * (1 - g.p))


def _check_space(space: SpaceSpec, lim: Limits) -> None:
    """Refuse a space whose graphs are over the node or edge limit before sampling them (an
    Erdos-Renyi graph of 4096 nodes holds about 5.9M edges and takes long to draw)."""
    nodes = edges = 0.0
    for i, st in enumerate(space.stages, start=1):
        if st.graph is None:
            continue
        nodes += st.graph.nodes
        mean, low = _expected_edges(st.graph)
        edges += low
        where = f"<{space.name}> stage s{i} ({st.graph.model}, nodes={st.graph.nodes})"
        if lim.exceeded("nodes", int(nodes)):
            raise LimitError(lim.message("nodes", int(nodes), "the graph nodes so far"),
                             filename=where, limit="nodes", value=int(nodes))
        if lim.exceeded("edges", int(edges)):
            raise LimitError(lim.message("edges", int(edges), f"the edges so far (this stage "
                                         f"expects about {int(mean):,})"), filename=where,
                             limit="edges", value=int(edges))


@dataclass(frozen=True)
class StageStats:
    """STTS Fig. 2a statistics of one graph stage (source to sink through the DAG)."""

    stage: str
    nodes: int
    edges: int
    delayed_edges: int
    paths: int
    average_path_length: float  # in edges, counting the source and sink hops


def stage_stats(genome: Genome) -> list[StageStats]:
    """Number of source-to-sink paths and their average length for every graph stage, by dynamic
    programming over the DAG (a path enters at an input node from the source and leaves at an
    output node to the sink, so a lone node is a path of length 2)."""
    out = []
    for b in genome.blocks:
        if b.kind != "stage" or b.form != "graph":
            continue
        n = b["nodes"]
        fwd = [e for e in b.edges if not e.backward]
        preds: dict[int, list[int]] = {j: [] for j in range(n)}
        for e in fwd:
            preds[e.dst].append(e.src)
        has_out = {e.src for e in fwd}
        count = [0] * n  # paths from the source to node j
        length = [0] * n  # summed lengths of those paths
        for j in range(n):  # ids are a topological order
            if not preds[j]:
                count[j], length[j] = 1, 1
            for i in preds[j]:
                count[j] += count[i]
                length[j] += length[i] + count[i]
        sinks = [j for j in range(n) if j not in has_out]
        paths = sum(count[j] for j in sinks)
        total = sum(length[j] + count[j] for j in sinks)
        out.append(StageStats(b.name, n, len(fwd), sum(1 for e in fwd if e.delay),
                              paths, total / paths if paths else 0.0))
    return out
