"""SpikeDHS: spike-based differentiable hierarchical search (Che et al., "Spatial-temporal search
for spiking neural networks", section 4.1, eq. 12-17, Algorithm 1, section 5.1.1).

**Supernet** (:func:`supernet_genome`). A SpikeDHS genome whose cell has every possible edge
(from ``s0``, ``s1`` and every earlier node) as a ``mix`` edge: a ``WeightedMix`` over the
candidate operations with architecture weights alpha (softmax, eq. 13), mixed at the membrane
potential (eq. 16, the paper's choice, ``mixing="membrane"``) or at the spike output (eq. 14,
``mixing="spike"``: every candidate fires its own neuron and the weighted spikes are summed;
this is what the authors' released search code does). The lowering is
:mod:`snnc.frontend.dhs`'s. The network around the cell is, by default, the fixed downsampling
network of section 5.1.1 (``path``, default DARTS's reductions at 1/3 and 2/3 of the depth:
``[0,0,1,1,1,2,2,2]`` for 8 layers, the authors' released path); with ``trellis=True`` it is the
layer-level trellis of section 4.1.2 (a ``trellis`` block: every layer at every level, mixed by
weights beta).

**Shared alpha.** The paper searches one cell ("a discrete architecture is selected by replacing
each mixed operation", one ``cell_arch`` in the released code), so the WeightedMix of an edge
``i -> j`` has one alpha for the whole network: :func:`tie_arch_parameters` makes every layer's
mix of that edge share one ``nn.Parameter``. Beta is per trellis node.

**Bi-level optimisation** (Algorithm 1, first order, section 4.1.2): the training set is split at
random into two disjoint halves A and B; every iteration updates the weights w by
``grad_w L(w, alpha, beta)`` on a batch of A (SGD, momentum 0.9, weight decay 3e-4, cosine from
``lr`` to ``lr_min``, gradient norm clipped at 5, as the authors' code), then, after ``warmup``
epochs of weights only, the architecture parameters by ``grad_{alpha,beta} L`` on a batch of B
(Adam, lr 1e-3, weight decay 1e-3, as the authors' code; betas (0.5, 0.999) as DARTS and
AutoDeepLab, whose code theirs builds on). The loss is the cross-entropy of the time-averaged
output. Alpha starts at ``arch_init * N(0, 1)`` (the code's ``1e-3 * randn``). Defaults are the
paper's CIFAR settings (section 5.1.1: 50 epochs, 15 of warm-up, batch 50, lr 0.025); the
auxiliary head (weight 0.4) is left out, as in the lowering (one output).

**Decoding** (section 4.1.2). Each node keeps its two strongest incoming edges with each edge's
strongest operation (:func:`decode_cell`). ``rank="paper"`` (default): an edge's strength is its
largest operation weight ``softmax(alpha)`` over all candidates and its operation the argmax
(eq. 13's "most likely operation"; the paper names no exception). ``rank="code"``: the authors'
code (AutoDeepLab's decoder, where op 0 was ``none``) ignores op 0, which there is the skip, both
when ranking edges and when picking the operation. Ties go to the earlier source (``s0``, ``s1``,
``n0``, ...) and the earlier candidate. The layer path is the maximum-probability path through the
trellis (:func:`viterbi`): the product of the beta weights along it, head included. Beta is
normalised over a cell's inputs (a WeightedMix's ports; AutoDeepLab normalises over a cell's
outputs), so a cell with a single input passes its path on with weight 1: near-uniform betas
favour paths through such cells (those that go down early).

**Output**: ``best.genome``, a genome of the SpikeDHS family (``cell c dhs`` + ``layer ...
level=``) that ``snnc train`` retrains; ``arch.json`` (final weights, path, history);
``arch.png`` (alpha heatmap and evolution). **Resume**: the search's configuration is in
``store.sqlite`` (:class:`~snnc.runtime.store.ExperimentStore`, search id ``dhs``), the training
state in ``supernet.pt`` (replaced atomically after every epoch); every random draw is a function
of the seed, epoch and batch, so a search killed at any moment and resumed ends bit-identical to an
uninterrupted one (same thread count). The decoded genome is stored as the search's candidate.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from ..atomic import atomic_write, atomic_write_text
from ..errors import RunError, SearchError
from ..frontend.dhs import trellis_inputs, trellis_levels
from ..genome import genome_id, parse, to_text
from ..genome.schema import DHS_OPS
from ..ir.choices import softmax
from ..ir.graph import Graph
from ..runtime.loader import batches, derive_seed, num_batches, torch_threads
from .checkpoint import data_sha256, open_search, restore, stored_config as _stored_config

__all__ = ["DhsConfig", "DhsResult", "RANKS", "decode_cell", "decode_graph", "default_path",
           "run_dhs", "stored_dhs_config", "supernet_genome", "tie_arch_parameters", "viterbi"]

RANKS = ("paper", "code")
MIXINGS = ("membrane", "spike")
SEARCH_ID = "dhs"
STORE_FILE, CHECKPOINT, GENOME_FILE, ARCH_FILE, PLOT_FILE = (
    "store.sqlite", "supernet.pt", "best.genome", "arch.json", "arch.png")
_FORMAT = 1
# derive_seed stream tags (3-5 are the training loop's, 11-22 BCNAS's)
_SPLIT, _ARCH_INIT, _TORCH_RNG, _RATE_W, _RATE_A, _B_ORDER = 31, 32, 33, 34, 35, 36
TRELLIS = "t"  # the trellis block's name in the supernet genome

Progress = Callable[[int, int, dict], None]


# ----------------------------------------------------------------------------- config
@dataclass(frozen=True)
class DhsConfig:
    """Everything that determines a SpikeDHS search's result (defaults: the paper's CIFAR
    search, section 5.1.1, and the authors' code where the paper is silent).

    Attributes:
        dataset, data_root, limit_train: the images (the first ``limit_train`` training images;
            None = all), split into halves A and B with ``seed``.
        nodes (4, "n4"), channels (per node at level 0), layers (8), candidates (the operations
            of every mixed edge, port order), mixing (``membrane``: eq. 16; ``spike``: eq. 14).
        path: the fixed network's level per layer (None: DARTS's reductions at ``layers // 3``
            and ``2 * layers // 3``); trellis: search the path instead (section 4.1.2) over
            ``levels`` levels.
        T (6), neuron, surrogate: the genome's (the authors' ``u = 0.2 u + I``, threshold 0.5,
            Dspike b = 3).
        epochs (50), warmup (15, weight-only epochs), batch_size (50).
        lr (0.025), lr_min (0.001), momentum (0.9), weight_decay (3e-4), grad_clip (5): weights.
        arch_lr (1e-3), arch_weight_decay (1e-3), arch_init (1e-3): alpha and beta.
        rank: decoding rule, ``paper`` or ``code`` (module docstring).
        genome_channels: the decoded genome's channels (None: ``channels``).
        seed, threads (torch threads; results depend on them), dtype.
    Raises:
        SearchError: a value out of range or not one of the choices.
    """

    dataset: str = "cifar10"
    data_root: str | None = None
    limit_train: int | None = None
    nodes: int = 4
    channels: int = 8
    layers: int = 8
    candidates: tuple[str, ...] = DHS_OPS
    mixing: str = "membrane"
    path: tuple[int, ...] | None = None
    trellis: bool = False
    levels: int = 3
    T: int = 6
    neuron: str = "lif leak=0.2 v_th=0.5"
    surrogate: str = "dspike b=3"
    epochs: int = 50
    warmup: int = 15
    batch_size: int = 50
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 1e-3
    arch_weight_decay: float = 1e-3
    arch_init: float = 1e-3
    rank: str = "paper"
    genome_channels: int | None = None
    seed: int = 0
    threads: int = 1
    dtype: str = "float32"

    def __post_init__(self) -> None:
        object.__setattr__(self, "candidates", tuple(self.candidates))
        if self.path is not None:
            object.__setattr__(self, "path", tuple(int(p) for p in self.path))
        for name, allowed in (("mixing", MIXINGS), ("rank", RANKS),
                              ("dtype", ("float32", "float64"))):
            if getattr(self, name) not in allowed:
                raise SearchError(f"{name} must be one of {', '.join(allowed)}, got "
                                  f"{getattr(self, name)!r}")
        bad = [c for c in self.candidates if c not in DHS_OPS]
        if not self.candidates or bad or len(set(self.candidates)) != len(self.candidates):
            raise SearchError(f"candidates must be distinct operations of {', '.join(DHS_OPS)}, "
                              f"got {', '.join(self.candidates) or 'none'}")
        for name in ("nodes", "channels", "layers", "T", "epochs", "batch_size", "threads",
                     "levels"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise SearchError(f"{name} must be an integer >= 1, got {v!r}")
        if self.levels > 4:
            raise SearchError(f"levels must be <= 4, got {self.levels}")
        if not 0 <= self.warmup <= self.epochs:
            raise SearchError(f"warmup must be in [0, epochs={self.epochs}], got {self.warmup}")
        if self.seed < 0:
            raise SearchError(f"seed must be >= 0, got {self.seed}")
        for name in ("lr", "arch_lr"):
            if not 0 < getattr(self, name) <= 10:
                raise SearchError(f"{name} must be in (0, 10], got {getattr(self, name)}")
        for name in ("lr_min", "weight_decay", "arch_weight_decay", "arch_init", "grad_clip"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise SearchError(f"{name} must be a finite number >= 0, got {v}")
        if not 0 <= self.momentum < 1:
            raise SearchError(f"momentum must be in [0, 1), got {self.momentum}")
        if self.lr_min > self.lr:
            raise SearchError(f"lr_min must be <= lr, got {self.lr_min} > {self.lr}")
        if self.limit_train is not None and self.limit_train < 4:
            raise SearchError(f"limit_train must be >= 4 (two halves of two), got "
                              f"{self.limit_train}")
        if self.genome_channels is not None and self.genome_channels < 1:
            raise SearchError(f"genome_channels must be >= 1, got {self.genome_channels}")
        if self.path is not None and self.trellis:
            raise SearchError("give a fixed path or search the trellis, not both")
        if self.path is not None:
            _check_path(self.path, self.layers)
        for name in ("neuron", "surrogate"):
            text = getattr(self, name)
            if not isinstance(text, str) or not text.strip() or any(c in text for c in "\n\r{}"):
                raise SearchError(f"{name} must be one genome spec such as 'lif leak=0.2', got "
                                  f"{text!r}")

    @property
    def fixed_path(self) -> list[int] | None:
        """The fixed network's levels (None when the trellis is searched)."""
        if self.trellis:
            return None
        return list(self.path) if self.path is not None else default_path(self.layers)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["candidates"] = list(self.candidates)
        d["path"] = None if self.path is None else list(self.path)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "DhsConfig":
        unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise SearchError(f"stored SpikeDHS config has unknown fields {unknown}")
        return cls(**d)


def _check_path(path: Sequence[int], layers: int) -> None:
    if len(path) != layers:
        raise SearchError(f"the path gives {len(path)} levels for {layers} layers")
    prev = 0
    for i, s in enumerate(path):
        if not 0 <= s <= 3 or abs(s - prev) > 1:
            raise SearchError(f"path {list(path)}: layer {i + 1} at level {s} after level {prev}; "
                              f"levels are 0..3 and move at most one per layer")
        prev = s


def default_path(layers: int) -> list[int]:
    """The fixed downsampling network (section 5.1.1, DARTS's): the resolution halves at layers
    ``layers // 3`` and ``2 * layers // 3`` (0-based); ``[0,0,1,1,1,2,2,2]`` for 8 layers."""
    cuts = (layers // 3, 2 * layers // 3)
    return [sum(i >= c for c in cuts) for i in range(layers)]


# ----------------------------------------------------------------------------- supernet
def _label(src: int) -> str:
    return {-2: "s0", -1: "s1"}.get(src, f"n{src}")


def _source(label: str) -> int | None:
    """Inverse of :func:`_label`; None for a word that names no cell source."""
    if label in ("s0", "s1"):
        return -2 if label == "s0" else -1
    return int(label[1:]) if label[:1] == "n" and label[1:].isdigit() else None


def _header(config: DhsConfig, input_shape: Sequence[int], classes: int, name: str,
            provenance: str | None = None) -> str:
    shape = "x".join(str(int(s)) for s in input_shape)
    prov = f"provenance {json.dumps(provenance)}\n" if provenance else ""
    return (f"snnc-genome 1\nname {json.dumps(name)}\n{prov}T {config.T}\ninput {shape}\n"
            f"classes {classes}\nneuron {config.neuron}\nsurrogate {config.surrogate}\n\n")


def supernet_genome(config: DhsConfig, input_shape: Sequence[int], classes: int):
    """The search's supernet genome: a dhs cell with every edge ``src -> j`` (``src`` in ``s0``,
    ``s1``, nodes ``< j``) a ``mix`` edge over ``config.candidates`` mixed as ``config.mixing``,
    then the fixed path's ``layer`` blocks or one ``trellis`` block.

    Raises:
        SearchError: a resolution the path's deepest level does not divide.
        GenomeSyntaxError: a neuron or surrogate text the genome refuses.
    """
    edges = "".join(f"  {src} -> {j} mix\n" for j in range(config.nodes)
                    for src in range(-2, j))
    cands = " ".join(config.candidates)
    text = _header(config, input_shape, classes, "dhs-supernet")
    text += (f"cell c dhs channels={config.channels} nodes={config.nodes} mixing={config.mixing} "
             f"candidates={json.dumps(cands)} {{\n{edges}}}\n")
    deepest = config.levels - 1 if config.trellis else max(config.fixed_path)
    if len(input_shape) != 3 or any(int(s) % 2 ** deepest for s in input_shape[1:]):
        raise SearchError(f"input {list(input_shape)}: level {deepest} needs (C, H, W) images "
                          f"whose sides 2**{deepest} divides; lower --levels or the path")
    if config.trellis:
        text += f"trellis {TRELLIS} cell=c layers={config.layers} levels={config.levels}\n"
    else:
        text += "".join(f"layer l{i} cell=c level={s}\n"
                        for i, s in enumerate(config.fixed_path, 1))
    return parse(text)


def _edge_key(name: str) -> tuple[int, int] | None:
    """``(dst, src)`` of a cell edge's mix node ``....n{j}.{src}.mix``; None for other nodes."""
    parts = name.split(".")
    if len(parts) < 3 or parts[-1] != "mix":
        return None
    dst, src = _source(parts[-3]), _source(parts[-2])
    return (dst, src) if dst is not None and dst >= 0 and src is not None else None


def _beta_key(name: str) -> tuple[int, int] | str | None:
    """``(layer, level)`` of a trellis mix ``t.l{l}.L{s}.beta``, ``"head"`` for ``head.beta``."""
    if name == "head.beta":
        return "head"
    parts = name.split(".")
    if len(parts) == 4 and parts[0] == TRELLIS and parts[3] == "beta":
        return int(parts[1][1:]), int(parts[2][1:])
    return None


def init_arch(graph: Graph, scale: float, seed: int) -> Graph:
    """A copy of ``graph`` with every cell mix's alpha ``scale * N(0, 1)``, one draw per edge
    ``i -> j`` shared by all layers (the code's ``1e-3 * randn``); beta stays 0."""
    g = graph.copy()
    rng = np.random.default_rng(derive_seed(_ARCH_INIT, seed))
    draws: dict[tuple[int, int], np.ndarray] = {}
    for node in g.nodes_of("WeightedMix"):
        key = _edge_key(node.name)
        if key is not None:
            if key not in draws:
                draws[key] = scale * rng.standard_normal(node.attrs["k"])
            node.params["alpha"] = draws[key].copy()
    return g


def tie_arch_parameters(module) -> tuple[dict, dict]:
    """Make every cell mix of one edge ``i -> j`` share one alpha ``nn.Parameter`` (the first
    layer's), in place. Returns ``(alphas, betas)``: ``{(j, src): Parameter}`` and
    ``{(layer, level) or "head": Parameter}``.

    Raises:
        SearchError: a WeightedMix that is neither a cell edge's nor a trellis beta.
    """
    alphas: dict[tuple[int, int], torch.nn.Parameter] = {}
    betas: dict[Any, torch.nn.Parameter] = {}
    for node in module.graph.nodes_of("WeightedMix"):
        mod = module.layer(node.name)
        key = _edge_key(node.name)
        if key is not None:
            if key in alphas:
                mod.alpha = alphas[key]
            else:
                alphas[key] = mod.alpha
            continue
        bkey = _beta_key(node.name)
        if bkey is None:
            raise SearchError(f"WeightedMix {node.name!r} is neither a cell edge's mix nor a "
                              f"trellis beta")
        betas[bkey] = mod.alpha
    return alphas, betas


# ----------------------------------------------------------------------------- decoding
def decode_cell(alphas: Mapping[tuple[int, int], np.ndarray], candidates: Sequence[str],
                nodes: int, rank: str = "paper") -> list[tuple[int, int, str]]:
    """The discrete cell: for every node ``j`` its two strongest incoming edges (all, if it has
    fewer), each with its strongest operation (module docstring, "Decoding").

    Args:
        alphas: ``(j, src) -> alpha [k]`` (``src`` -2 for ``s0``, -1 for ``s1``, else a node).
        candidates: the ``k`` operations, port order.
        nodes: nodes per cell.
        rank: ``"paper"`` (every operation counts) or ``"code"`` (operation 0 is ignored, unless
            it is the only candidate).
    Returns:
        ``[(src, dst, op)]`` sorted by ``dst`` then ``src``.
    Raises:
        SearchError: an unknown ``rank``, a node without incoming edges, an alpha of the wrong
            length.
    """
    if rank not in RANKS:
        raise SearchError(f"rank must be one of {', '.join(RANKS)}, got {rank!r}")
    k = len(candidates)
    allowed = list(range(1, k)) if rank == "code" and k > 1 else list(range(k))
    out = []
    for j in range(nodes):
        incoming = sorted(src for (dst, src) in alphas if dst == j)
        if not incoming:
            raise SearchError(f"node {j} has no incoming edge to decode")
        scored = []
        for src in incoming:
            a = np.asarray(alphas[(j, src)], dtype=np.float64)
            if a.shape != (k,):
                raise SearchError(f"edge {_label(src)} -> {j}: alpha has shape {a.shape}, "
                                  f"expected ({k},)")
            w = softmax(a)[allowed]
            best = int(np.argmax(w))  # the first on a tie
            scored.append((-float(w[best]), src, candidates[allowed[best]]))
        scored.sort(key=lambda t: (t[0], t[1]))  # strongest first; a tie: the earlier source
        out += [(src, j, op) for _, src, op in sorted(scored[:2], key=lambda t: t[1])]
    return out


def viterbi(betas: Mapping[Any, np.ndarray], layers: int, levels: int) -> list[int]:
    """The maximum-probability layer path through the trellis (section 4.1.2): the levels
    ``[s_1, .., s_L]`` maximising ``prod_l softmax(beta_{l, s_l})[s_{l-1}] *
    softmax(beta_head)[s_L]`` with ``s_0 = 0`` (the stem), by dynamic programming in log space.
    A tie goes to the lower level.

    Args:
        betas: ``(layer, level) -> beta`` over :func:`~snnc.frontend.dhs.trellis_inputs` (ports
            in that order), and ``"head" -> beta`` over the last layer's levels.
    Raises:
        SearchError: a missing beta or one of the wrong length.
    """
    def weights(key, n):
        b = betas.get(key)
        if b is None or np.shape(b) != (n,):
            raise SearchError(f"trellis beta {key}: expected {n} values, got "
                              f"{None if b is None else np.shape(b)}")
        with np.errstate(divide="ignore"):
            return np.log(softmax(np.asarray(b, dtype=np.float64)))

    score = {0: 0.0}
    back: list[dict[int, int]] = []
    for layer in range(1, layers + 1):
        new, ptr = {}, {}
        for s in trellis_levels(layer, levels):
            srcs = trellis_inputs(layer, s, levels)
            logw = weights((layer, s), len(srcs))
            cands = [(score[p] + logw[i], p) for i, p in enumerate(srcs)]
            best = max(range(len(cands)), key=lambda i: (cands[i][0], -cands[i][1]))
            new[s], ptr[s] = cands[best]
        score = new
        back.append(ptr)
    last = list(trellis_levels(layers, levels))
    logw = weights("head", len(last))
    end = max(last, key=lambda s: (score[s] + logw[last.index(s)], -s))
    path = [end]
    for ptr in reversed(back[1:]):
        path.append(ptr[path[-1]])
    return path[::-1]


def decode_graph(graph: Graph, config: DhsConfig, rank: str | None = None
                 ) -> tuple[list[tuple[int, int, str]], list[int]]:
    """``(cell edges, path)`` of a trained supernet graph (its mixes' alphas): the cell by
    :func:`decode_cell` from the first layer's mixes (all layers share them), the path by
    :func:`viterbi` over the trellis betas, or the fixed path."""
    alphas, betas = {}, {}
    for node in graph.nodes_of("WeightedMix"):
        key = _edge_key(node.name)
        if key is not None:
            alphas.setdefault(key, node.params["alpha"])
        elif _beta_key(node.name) is not None:
            betas[_beta_key(node.name)] = node.params["alpha"]
    cell = decode_cell(alphas, config.candidates, config.nodes, rank or config.rank)
    path = viterbi(betas, config.layers, config.levels) if config.trellis else config.fixed_path
    return cell, path


def decoded_genome(config: DhsConfig, cell: list[tuple[int, int, str]], path: Sequence[int],
                   input_shape: Sequence[int], classes: int):
    """The searched network as a genome of the SpikeDHS family (``cell c dhs`` + ``layer
    ... level=``), at ``config.genome_channels`` (default the search's ``channels``)."""
    channels = config.genome_channels or config.channels
    prov = (f"snnc search dhs: seed {config.seed}, {config.epochs} epochs ({config.warmup} "
            f"warm-up), {config.mixing} mixing, rank {config.rank}, "
            f"{'trellis' if config.trellis else 'fixed path'}, search channels {config.channels}")
    text = _header(config, input_shape, classes, "dhs-searched", prov)
    text += f"cell c dhs channels={channels} nodes={config.nodes} {{\n"
    text += "".join(f"  {src} -> {dst} {op}\n" for src, dst, op in cell) + "}\n"
    text += "".join(f"layer l{i} cell=c level={s}\n" for i, s in enumerate(path, 1))
    return parse(text)


# ----------------------------------------------------------------------------- driver
@dataclass
class DhsResult:
    """What :func:`run_dhs` produced: the decoded cell and path, the genome (text), one history
    row per epoch, the final arch weights (softmaxed), this call's wall time, epochs found in
    the checkpoint, and the output paths."""

    config: DhsConfig
    cell: list[tuple[int, int, str]]
    path: list[int]
    genome: str
    history: list[dict[str, Any]]
    weights: dict[str, Any]
    seconds: float
    resumed_from: int
    paths: dict[str, Path] = field(default_factory=dict)


def stored_dhs_config(out_dir: str | Path) -> DhsConfig:
    """The configuration of the SpikeDHS search stored in ``out_dir``.

    Raises:
        SearchError: no store or no SpikeDHS search there.
    """
    return _stored_config(out_dir, STORE_FILE, SEARCH_ID, DhsConfig, "SpikeDHS")


def _halves(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the disjoint halves A (weights) and B (architecture), each sorted."""
    perm = np.random.default_rng(derive_seed(_SPLIT, seed)).permutation(n)
    return np.sort(perm[n // 2:]), np.sort(perm[:n // 2])


def run_dhs(config: DhsConfig, out_dir: str | Path, *, resume: bool = False,
            progress: Progress | None = None, bars: bool = False) -> DhsResult:
    """Run (or, with ``resume``, continue) a SpikeDHS search and write ``best.genome``,
    ``arch.json`` and ``arch.png`` into ``out_dir`` (atomically).

    Args:
        config: the search; with ``resume`` it must equal the stored one.
        out_dir: folder of ``store.sqlite``, ``supernet.pt`` and the outputs (created).
        resume: continue from the last finished epoch (from scratch if none finished).
        progress: ``progress(epoch, epochs, row)`` after every stored epoch (row: the history
            row; ``epoch`` 0 with an empty row before the first).
        bars: a rich progress bar per epoch on stderr (terminals only).
    Raises:
        SearchError: a search already there without ``resume``, none or another configuration
            with ``resume``; bad configuration values.
        RunError: a damaged checkpoint or one of another supernet or data; a non-finite loss.
        DatasetError: from loading the data.
    """
    from ..backends.torch import compile as compile_torch
    from ..frontend import lower
    from ..runtime.data import load_dataset
    from ..runtime.evaluate import check_fits, default_preprocess, limit_dataset, torch_dtype
    from ..runtime.runs import check_weights
    from ..runtime.store import CandidateRecord, ExperimentStore
    from ..runtime.train import _Progress, ce_loss, graph_sha256

    t_start = time.perf_counter()
    out = Path(out_dir)
    paths = {"store": out / STORE_FILE, "checkpoint": out / CHECKPOINT,
             "genome": out / GENOME_FILE, "arch": out / ARCH_FILE, "plot": out / PLOT_FILE}
    if resume and not paths["store"].exists():
        raise SearchError(f"{out}: no search to resume (no {STORE_FILE})")
    full = limit_dataset(load_dataset(config.dataset, config.data_root), config.limit_train, None)
    n = len(full.train_y)
    if n < 4:
        raise SearchError(f"{config.dataset}: {n} training images; the two halves need >= 2 each")
    idx_a, idx_b = _halves(n, config.seed)
    part = dataclasses.replace(full, train_x=full.train_x[idx_a], train_y=full.train_y[idx_a],
                               mean=None, std=None)
    xb_all, yb_all = full.train_x[idx_b], full.train_y[idx_b]
    genome = supernet_genome(config, full.input_shape, full.classes)
    graph = init_arch(lower(genome, seed=config.seed), config.arch_init, config.seed)
    check_fits(graph, full, "the SpikeDHS supernet")
    pre = default_preprocess(graph, part, T=config.T)
    fingerprint = {"config": config.to_dict(), "graph": graph_sha256(graph),
                   "data": data_sha256(full.train_x, full.train_y)}
    out.mkdir(parents=True, exist_ok=True)
    report = progress or (lambda *a: None)
    with ExperimentStore(paths["store"]) as store:
        attempt = open_search(store, SEARCH_ID, config, resume=resume, path=paths["store"],
                                  what="SpikeDHS")
        with torch_threads(config.threads):
            torch.manual_seed(config.seed)
            module = compile_torch(graph, dtype=torch_dtype(config.dtype))
            alphas, betas = tie_arch_parameters(module)
            arch = list(alphas.values()) + list(betas.values())
            arch_ids = {id(p) for p in arch}
            weights = [p for p in module.parameters() if id(p) not in arch_ids]
            w_opt = torch.optim.SGD(weights, lr=config.lr, momentum=config.momentum,
                                    weight_decay=config.weight_decay)
            a_opt = torch.optim.Adam(arch, lr=config.arch_lr, betas=(0.5, 0.999),
                                     weight_decay=config.arch_weight_decay)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, T_max=config.epochs,
                                                               eta_min=config.lr_min)
            start, history = 0, []
            if resume and paths["checkpoint"].exists():
                start, history = restore(paths["checkpoint"], fingerprint, what="SpikeDHS", fmt=_FORMAT,
                                         parts={"model": module, "w_opt": w_opt, "a_opt": a_opt,
                                                "sched": sched})
            report(start, config.epochs, {})
            steps = min(num_batches(len(part.train_y), config.batch_size),
                        num_batches(len(yb_all), config.batch_size))
            for epoch in range(start, config.epochs):
                t0 = time.perf_counter()
                torch.manual_seed(derive_seed(_TORCH_RNG, config.seed, epoch))
                module.train()
                sums = {"w_loss": 0.0, "w_correct": 0, "a_loss": 0.0, "a_correct": 0, "seen": 0}
                lr = w_opt.param_groups[0]["lr"]
                search = epoch >= config.warmup
                data_a = batches(part.train_x, part.train_y, config.batch_size, shuffle=True,
                                 seed=config.seed, epoch=epoch, mean=pre.mean, std=pre.std)
                data_b = batches(xb_all, yb_all, config.batch_size, shuffle=True,
                                 seed=derive_seed(_B_ORDER, config.seed), epoch=epoch,
                                 mean=pre.mean, std=pre.std)
                with _Progress(bars, epoch + 1, config.epochs, steps) as bar:
                    for k, ((xa, ya), (xb, yb)) in enumerate(zip(data_a, data_b)):
                        # Algorithm 1 line 6: the weights on A
                        out_a = _forward(module, xa, pre, _RATE_W, config, epoch, k)
                        loss = ce_loss(out_a, ya)
                        _finite(loss, epoch, k, "weight")
                        w_opt.zero_grad(set_to_none=True)
                        a_opt.zero_grad(set_to_none=True)
                        loss.backward()
                        for p in arch:  # alpha and beta only move on B
                            p.grad = None
                        if config.grad_clip:
                            torch.nn.utils.clip_grad_norm_(weights, config.grad_clip)
                        w_opt.step()
                        sums["w_loss"] += float(loss.detach()) * len(ya)
                        sums["w_correct"] += int((out_a.detach().mean(0).argmax(-1) == ya)
                                                 .sum())
                        sums["seen"] += len(ya)
                        if search:  # line 8: alpha and beta on B, after the warm-up
                            for p in weights:  # no weight gradients to compute (first order)
                                p.requires_grad_(False)
                            try:
                                out_b = _forward(module, xb, pre, _RATE_A, config, epoch, k)
                                a_loss = ce_loss(out_b, yb)
                                _finite(a_loss, epoch, k, "architecture")
                                a_opt.zero_grad(set_to_none=True)
                                a_loss.backward()
                            finally:
                                for p in weights:
                                    p.requires_grad_(True)
                            a_opt.step()
                            sums["a_loss"] += float(a_loss.detach()) * len(yb)
                            sums["a_correct"] += int((out_b.detach().mean(0).argmax(-1) == yb)
                                                     .sum())
                        bar.update(sums["w_loss"] / sums["seen"],
                                   sums["w_correct"] / sums["seen"],
                                   sums["seen"] / (time.perf_counter() - t0))
                sched.step()
                seen = max(sums["seen"], 1)
                row = {"epoch": epoch + 1, "lr": lr, "search": search,
                       "train_loss": sums["w_loss"] / seen, "train_acc": sums["w_correct"] / seen,
                       "arch_loss": sums["a_loss"] / seen if search else None,
                       "arch_acc": sums["a_correct"] / seen if search else None,
                       "seconds": round(time.perf_counter() - t0, 3),
                       "alpha": _snapshot(alphas, "alpha"), "beta": _snapshot(betas, "beta")}
                history.append(row)
                problem = check_weights(module.state_dict())
                if problem:
                    raise RunError(f"the SpikeDHS supernet diverged in epoch {epoch + 1}: "
                                   f"{problem}")
                state = {"format": _FORMAT, "epoch": epoch + 1, "model": module.state_dict(),
                         "w_opt": w_opt.state_dict(), "a_opt": a_opt.state_dict(),
                         "sched": sched.state_dict(), "history": history,
                         "fingerprint": fingerprint}
                atomic_write(paths["checkpoint"], lambda fh, s=state: torch.save(s, fh))
                report(epoch + 1, config.epochs, row)
            trained = module.to_ir()
        cell, path = decode_graph(trained, config)
        best = decoded_genome(config, cell, path, full.input_shape, full.classes)
        text = to_text(best)
        gid = genome_id(best)
        if gid not in store.genome_ids(SEARCH_ID):
            last = history[-1] if history else {}
            store.add_candidate(SEARCH_ID, CandidateRecord(
                gid, 0, _describe(cell, path), text, float(last.get("arch_acc") or math.nan),
                {"train_acc": float(last.get("train_acc", math.nan))},
                time.perf_counter() - t_start, attempt))
        store.set_status(SEARCH_ID, "done")
        final = {"alpha": _snapshot(alphas, "alpha"), "beta": _snapshot(betas, "beta")}
        atomic_write_text(paths["genome"], text)
        atomic_write_text(paths["arch"], json.dumps(
            {"config": config.to_dict(), "cell": [list(e) for e in cell], "path": path,
             "weights": final, "history": history}, indent=1, sort_keys=True) + "\n")
        _plot(history, config, paths["plot"])
    return DhsResult(config, cell, path, text, history, final, time.perf_counter() - t_start,
                     start, paths)


def _forward(module, xb, pre, tag: int, config: DhsConfig, epoch: int, k: int):
    from ..runtime.evaluate import model_input

    return module(model_input(xb, pre, derive_seed(tag, config.seed, epoch, k)), T=pre.T)


def _finite(loss, epoch: int, k: int, what: str) -> None:
    value = float(loss.detach())
    if not math.isfinite(value):
        raise RunError(f"the SpikeDHS {what} loss is {value} at epoch {epoch + 1}, batch {k + 1}; "
                       f"lower the learning rate")


def _snapshot(params: Mapping[Any, torch.nn.Parameter], kind: str) -> dict[str, list[float]]:
    """Softmax weights of the arch parameters: ``{"s0->n1": [...]}`` for alphas (``kind``
    ``"alpha"``), ``{"l2.L1": [...], "head": [...]}`` for betas."""
    out = {}
    for key, p in params.items():
        if kind == "alpha":
            name = f"{_label(key[1])}->n{key[0]}"
        else:
            name = key if isinstance(key, str) else f"l{key[0]}.L{key[1]}"
        out[name] = [round(float(w), 6) for w in torch.softmax(p.detach().double(), 0)]
    return out


def _describe(cell, path) -> str:
    edges = ", ".join(f"{_label(s)}->n{d} {op}" for s, d, op in cell)
    return f"cell [{edges}] path {path}"


def _plot(history: list[dict], config: DhsConfig, path: Path) -> None:
    """``arch.png``: the final alpha weights (edges x candidates) and each candidate's mean
    weight over the edges per epoch; with a trellis, the final beta weights too. Skipped
    without matplotlib."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return
    if not history:
        return
    final = history[-1]["alpha"]
    edges = sorted(final, key=lambda e: (int(e.split("->n")[1]), _source(e.split("->")[0])))
    grid = np.array([final[e] for e in edges])
    panels = 3 if config.trellis else 2
    fig, axes = plt.subplots(1, panels, figsize=(5 * panels, max(3, 0.35 * len(edges) + 1)))
    ax = axes[0]
    im = ax.imshow(grid, cmap="viridis", aspect="auto")  # early weights differ by a few 1e-3
    for (y, x), w in np.ndenumerate(grid):
        ax.text(x, y, f"{w:.3f}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xticks(range(len(config.candidates)), config.candidates)
    ax.set_yticks(range(len(edges)), edges)
    ax.set_title("final softmax(alpha)")
    fig.colorbar(im, ax=ax)
    ax = axes[1]
    epochs = [r["epoch"] for r in history]
    for i, op in enumerate(config.candidates):
        ax.plot(epochs, [np.mean([w[i] for w in r["alpha"].values()]) for r in history],
                marker="o", label=op)
    ax.axvline(config.warmup + 0.5, color="grey", linestyle=":", label="end of warm-up")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean weight over edges")
    ax.legend()
    if config.trellis:
        ax = axes[2]
        beta = history[-1]["beta"]
        names = sorted(beta)
        for y, name in enumerate(names):
            for x, w in enumerate(beta[name]):
                ax.text(x, y, f"{w:.2f}", ha="center", va="center", fontsize=7)
        ax.set_xlim(-0.5, 2.5)
        ax.set_ylim(-0.5, len(names) - 0.5)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("input port (lower level first)")
        ax.set_title("final softmax(beta)")
    fig.tight_layout()
    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=90))
    plt.close(fig)
