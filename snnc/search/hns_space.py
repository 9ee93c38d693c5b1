"""The search space of hybrid network search (HNS; Che et al., "Spatial-temporal search for SNNs",
section 4.4, eq. 21 and 28): per layer of a SpikeDHS network, a choice between spiking and
non-spiking neurons, relaxed as a softmax-weighted mix of the candidates' outputs.

**Supernet** (:func:`hybrid_supernet`). The SpikeDHS genome is lowered as usual
(:mod:`snnc.frontend.dhs`); then every cell node ``{layer}.n{j}.lif`` of a searched layer is
replaced by one neuron node per candidate, ``{layer}.n{j}.{label}`` (``lif``, ``relu``,
``alif``), each reading the node's input current, and a ``WeightedMix`` ``{layer}.n{j}.hns``
(``k`` = the number of candidates, ``alpha = 0``: uniform weights) over their outputs, which the
node's readers read instead::

    y_j[t] = sum_k softmax(a^l)_k y_{j,k}[t]        (eq. 21 with HNS's y_k in {y_ann, y_snn})

So the mix sits after the neurons (it mixes spikes with ReLU activations, as the paper writes
it), and :func:`snnc.ir.interpret` defines the relaxed network. All nodes of one layer share the
control parameters ``a^l`` (the paper searches "per layer"; the genome's override is per layer):
the IR holds an equal ``alpha`` in each of the layer's mixes and the search ties them to one
parameter (:mod:`snnc.search.hns`). The stem and head neurons are not searched (the genome has no
stem override yet).

**Candidates.** ``lif`` is the layer's own spiking neuron (its ``neuron`` override, else the
genome's, e.g. SpikeDHS's ``lif leak=0.2 v_th=0.5``); ``relu`` the non-spiking ReLU unit (the
ANN neuron ``y_ann``); ``alif`` the adaptive-threshold LIF with the same leak and threshold and
``rho``/``adapt`` of the genome schema's defaults (SpikeDHS eq. 5-8, Table 4's HNS space);
any other candidate is a genome neuron spec, e.g. ``"alif leak=0.2 v_th=0.5 rho=0.5
adapt=0.3"``. Spiking candidates keep the node's surrogate gradient.

**Energy factors** (eq. 28's rho): LIF 1 and ReLU 4.26 (section 4.4: ``fr T A E_AC = 0.2 * 6 *
0.9 = 1.08 A`` for LIF against ``4.6 A`` for ReLU, "since T = 1"); ALIF (and IF, PLIF) 1, as a
spiking neuron whose readers accumulate. All configurable.

**Layer weights** of the expected energy (:func:`energy_weights`): eq. 28 as the paper writes it
sums ``softmax(a^l)_k rho_k`` over layers and candidates with no operation count (``"layer"``,
every layer weight 1); the option ``"ops"`` weights layer ``l`` by its share of the operations
its neurons drive, ``L * A_l / sum A`` (``A_l``: MACs per step of the synaptic layers that read
the layer's neurons, :func:`layer_operations`), so the total weight is ``L`` in both and lambda
keeps its scale.

Needs numpy (and the genome, frontend and energy-count packages) only.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..errors import GenomeSyntaxError, SearchError
from ..genome import Genome, Spec, make_spec, parse
from ..ir.graph import Graph

__all__ = ["DEFAULT_CANDIDATES", "DEFAULT_FACTORS", "ENERGY_WEIGHTS", "HybridSpace", "LayerChoice",
           "candidate_spec", "decode", "energy_weights", "expected_energy", "hybrid_genome",
           "hybrid_supernet", "layer_alpha", "layer_operations", "mix_name", "parse_neuron"]

DEFAULT_CANDIDATES = ("lif", "relu")
#: Eq. 28's energy factor rho per neuron model (section 4.4); the spiking models cost as LIF.
DEFAULT_FACTORS: dict[str, float] = {"lif": 1.0, "if": 1.0, "plif": 1.0, "alif": 1.0,
                                     "relu": 4.26}
ENERGY_WEIGHTS = ("layer", "ops")
_SHORT = ("lif", "relu", "alif")


def mix_name(layer: str, j: int) -> str:
    """The WeightedMix over node ``j``'s candidate neurons in layer ``layer``."""
    return f"{layer}.n{j}.hns"


@dataclass(frozen=True)
class LayerChoice:
    """One searched layer: its name, its cell nodes' mixes (node order), and the candidates as
    ``(label, neuron spec)`` in port order."""

    name: str
    mixes: tuple[str, ...]
    candidates: tuple[tuple[str, Spec], ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return tuple(label for label, _ in self.candidates)

    def spec(self, label: str) -> Spec:
        return dict(self.candidates)[label]


@dataclass
class HybridSpace:
    """What :func:`hybrid_supernet` built: the supernet graph, the plain network it came from
    (every searched layer with its own neuron), the genome, and the searched layers in genome
    order."""

    genome: Genome
    graph: Graph
    plain: Graph
    layers: tuple[LayerChoice, ...]

    @property
    def labels(self) -> tuple[str, ...]:
        return self.layers[0].labels


# ----------------------------------------------------------------------------- candidates
def parse_neuron(text: str) -> Spec:
    """A genome neuron spec from its text (``"alif leak=0.2 rho=0.5"``), checked by the genome
    parser.

    Raises:
        SearchError: the text is not a neuron spec (the parser's message).
    """
    if "\n" in text:
        raise SearchError(f"a neuron candidate is one line, got {text!r}")
    try:
        return parse(f'snnc-genome 1\nname "candidate"\nT 1\ninput 1\nclasses 1\n'
                     f'neuron {text}\n').neuron
    except GenomeSyntaxError as exc:
        raise SearchError(f"neuron candidate {text!r}: {exc}") from None


def candidate_spec(name: str, base: Spec, *, rho: float = 0.2, adapt: float = 1.8) -> Spec:
    """The neuron spec of candidate ``name`` for a layer whose own neuron is ``base``: ``lif`` is
    ``base``; ``relu`` the ReLU unit; ``alif`` an ALIF with ``base``'s leak and threshold and
    ``rho``, ``adapt`` (SpikeDHS eq. 7-8); anything else is parsed as a neuron spec.

    Raises:
        SearchError: a base that is not spiking (``lif`` needs one), or a bad spec.
    """
    if name == "relu":
        return make_spec("relu")
    if name == "lif":
        if base.kind == "relu":
            raise SearchError("the layer's own neuron is a ReLU; HNS searches from a spiking "
                              "network (give the layer a spiking neuron or drop its override)")
        return base
    if name == "alif":
        if base.kind == "alif":
            return base
        params = dict(base.params)
        if base.kind == "relu":
            raise SearchError("alif takes its leak from the layer's spiking neuron; this layer's "
                              "is a ReLU")
        if base.kind == "if":
            params.update(beta=1.0, alpha=1.0)
        try:
            return make_spec("alif", **params, rho=rho, adapt=adapt)
        except GenomeSyntaxError as exc:
            raise SearchError(f"alif candidate from {base.kind}: {exc}") from None
    return parse_neuron(name)


def _label(name: str, spec: Spec) -> str:
    return name if name in _SHORT else spec.kind


# ----------------------------------------------------------------------------- supernet
def _dhs_layers(genome: Genome) -> list:
    layers = [b for b in genome.blocks if b.kind == "layer"]
    if not layers:
        raise SearchError(f"{genome.name}: HNS searches the layers of a SpikeDHS network "
                          f"(cell ... dhs + layer blocks); this genome has no layer block")
    return layers


def hybrid_supernet(genome: Genome, candidates: Sequence[str] = DEFAULT_CANDIDATES,
                    layers: Sequence[str] | None = None, *, seed: int = 0, rho: float = 0.2,
                    adapt: float = 1.8) -> HybridSpace:
    """The HNS supernet of a SpikeDHS genome (module docstring).

    Args:
        genome: a SpikeDHS network (``cell ... dhs`` and ``layer`` blocks).
        candidates: ``lif``, ``relu``, ``alif`` or neuron spec texts, in port order; one
            candidate gives the plain network with a one-input mix (weight exactly 1) after each
            node.
        layers: names of the layers searched (default: every layer).
        seed: weight initialisation of the lowering (as ``snnc train --seed``).
        rho, adapt: the ``alif`` candidate's threshold adaptation.
    Returns:
        A :class:`HybridSpace`; its ``graph`` is verified.
    Raises:
        SearchError: no layers, an unknown or repeated layer, no or repeated candidates (two of
            one neuron model), a layer whose own neuron is a ReLU.
        LoweringError, GraphError: from lowering the genome.
    """
    from ..frontend import lower
    from ..frontend.builder import Builder
    from ..ir.verify import verify

    names = list(candidates)
    if not names:
        raise SearchError("HNS needs at least one candidate neuron")
    blocks = _dhs_layers(genome)
    by_name = {b.name: b for b in blocks}
    wanted = list(layers) if layers is not None else [b.name for b in blocks]
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise SearchError(f"{genome.name}: no layer {', '.join(unknown)}; layers: "
                          f"{', '.join(by_name)}")
    if len(set(wanted)) != len(wanted) or not wanted:
        raise SearchError(f"the searched layers must be distinct and at least one, got {wanted}")
    plain = lower(genome, seed=seed)
    graph = plain.copy()
    builder = Builder(genome, dry=True)
    cells = {b.name: b for b in genome.blocks if b.kind == "cell"}
    chosen = []
    for lname in wanted:
        block = by_name[lname]
        base = block.neuron or genome.neuron
        specs = [(name, candidate_spec(name, base, rho=rho, adapt=adapt)) for name in names]
        labelled = tuple((_label(n, s), s) for n, s in specs)
        kinds = [s.kind for _, s in labelled]
        if len(set(kinds)) != len(kinds) or len({lb for lb, _ in labelled}) != len(labelled):
            raise SearchError(f"HNS candidates must be distinct neuron models, got "
                              f"{', '.join(kinds)}")
        mixes = []
        for j in range(cells[block["cell"]]["nodes"]):
            mixes.append(_replace_neuron(graph, builder, block, j, labelled))
        chosen.append(LayerChoice(lname, tuple(mixes), labelled))
    graph.meta["name"] = f"{genome.name}-hns-supernet"
    return HybridSpace(genome, verify(graph), plain, tuple(chosen))


def _replace_neuron(graph: Graph, builder, block, j: int, candidates) -> str:
    """Node ``{layer}.n{j}.lif`` -> one node per candidate + a WeightedMix read by its readers."""
    old = f"{block.name}.n{j}.lif"
    node = graph[old]
    surrogate = {k: node.attrs[k] for k in ("surrogate", "surrogate_arg") if k in node.attrs}
    ins, outs = graph.in_edges(old), graph.out_edges(old)
    for e in ins + outs:
        graph.remove_edge(e)
    graph.remove_node(old)
    mix = mix_name(block.name, j)
    graph.add_node(mix, "WeightedMix", {"k": len(candidates)},
                   {"alpha": np.zeros(len(candidates))}, loc=node.loc)
    for port, (label, spec) in enumerate(candidates):
        op, attrs = builder.neuron_op(dataclasses.replace(block, neuron=spec))
        if op != "ReLU":
            attrs.update(surrogate)
        name = f"{block.name}.n{j}.{label}"
        graph.add_node(name, op, attrs, loc=node.loc)
        for e in ins:
            graph.add_edge(e.src, name, e.port, e.delay, e.kind)
        graph.add_edge(name, mix, port=port)
    for e in outs:
        graph.add_edge(mix, e.dst, e.port, e.delay, e.kind)
    return mix


def layer_alpha(graph: Graph, layer: LayerChoice) -> np.ndarray:
    """The layer's control parameters ``a^l`` ``[K]`` (equal in all its mixes).

    Raises:
        SearchError: the layer's mixes disagree (a graph not trained with tied parameters).
    """
    first = np.asarray(graph[layer.mixes[0]].params["alpha"], dtype=np.float64)
    for m in layer.mixes[1:]:
        if not np.array_equal(np.asarray(graph[m].params["alpha"], dtype=np.float64), first):
            raise SearchError(f"layer {layer.name}: the mixes {layer.mixes[0]} and {m} have "
                              f"different alpha; HNS ties one per layer")
    return first


# ----------------------------------------------------------------------------- energy
def layer_operations(space: HybridSpace) -> dict[str, int]:
    """``A_l``: MACs per sample and step of the synaptic layers that read layer ``l``'s cell
    neurons (directly or through Concat, pooling: :func:`snnc.backends.energy.count_layers`'s
    ``sources``), counted on the plain network; what the neuron type of the layer decides the
    cost of (accumulates for spikes, MACs for ReLU activations)."""
    from ..backends.energy import count_layers

    owner = {f"{layer.name}.n{j}.lif": layer.name for layer in space.layers
             for j in range(len(layer.mixes))}
    ops = {layer.name: 0 for layer in space.layers}
    for count in count_layers(space.plain.copy()):
        fed = {owner[s] for s in count.sources if s in owner}
        for name in fed:
            ops[name] += count.macs // len(fed)
    return ops


def energy_weights(space: HybridSpace, mode: str = "layer") -> dict[str, float]:
    """Per-layer weight ``w_l`` of the expected energy: 1 (``"layer"``: eq. 28 as written) or
    ``L * A_l / sum_l A_l`` (``"ops"``).

    Raises:
        SearchError: an unknown mode, or ``"ops"`` with layers that drive no operation.
    """
    if mode not in ENERGY_WEIGHTS:
        raise SearchError(f"energy weighting must be one of {', '.join(ENERGY_WEIGHTS)}, "
                          f"got {mode!r}")
    if mode == "layer":
        return {layer.name: 1.0 for layer in space.layers}
    ops = layer_operations(space)
    total = sum(ops.values())
    if total <= 0:
        raise SearchError("the searched layers drive no synaptic operation; use weighting "
                          "'layer'")
    n = len(ops)
    return {k: n * v / total for k, v in ops.items()}


def factors_for(space: HybridSpace, factors: Mapping[str, float] | None = None) -> np.ndarray:
    """``rho`` per candidate ``[K]`` in port order, by neuron model (:data:`DEFAULT_FACTORS`
    updated with ``factors``).

    Raises:
        SearchError: a candidate model without a factor, or a negative or non-finite factor.
    """
    table = dict(DEFAULT_FACTORS)
    table.update(factors or {})
    out = []
    for _, spec in space.layers[0].candidates:
        if spec.kind not in table:
            raise SearchError(f"no energy factor for neuron model {spec.kind!r}; give one "
                              f"(--energy-factor {spec.kind}=1.0)")
        v = float(table[spec.kind])
        if not np.isfinite(v) or v < 0:
            raise SearchError(f"energy factor of {spec.kind} must be a finite number >= 0, "
                              f"got {v}")
        out.append(v)
    return np.asarray(out, dtype=np.float64)


def expected_energy(alphas: Mapping[str, np.ndarray], rho: np.ndarray,
                    weights: Mapping[str, float]) -> float:
    """Eq. 28's energy term ``sum_l w_l sum_k softmax(a^l)_k rho_k`` (dimensionless: units of a
    LIF layer's energy), for control parameters ``alphas`` (layer -> ``[K]``)."""
    total = 0.0
    for name, a in alphas.items():
        a = np.asarray(a, dtype=np.float64)
        p = np.exp(a - a.max())
        p /= p.sum()
        total += float(weights[name]) * float(p @ rho)
    return total


# ----------------------------------------------------------------------------- decoding
def decode(alphas: Mapping[str, np.ndarray], space: HybridSpace) -> dict[str, str]:
    """Layer -> the label of its largest control parameter (argmax; the first on a tie)."""
    return {layer.name: layer.labels[int(np.argmax(np.asarray(alphas[layer.name])))]
            for layer in space.layers}


def hybrid_genome(space: HybridSpace, choice: Mapping[str, str], *,
                  provenance: str | None = None) -> Genome:
    """The SpikeDHS genome with each searched layer's ``neuron`` override set to its chosen
    candidate (written out for every searched layer), named ``<name>-hns``.

    Raises:
        SearchError: a layer or label not in the space.
    """
    specs = {}
    for layer in space.layers:
        label = choice.get(layer.name)
        if label not in layer.labels:
            raise SearchError(f"layer {layer.name}: {label!r} is not a candidate "
                              f"({', '.join(layer.labels)})")
        specs[layer.name] = layer.spec(label)
    blocks = tuple(dataclasses.replace(b, neuron=specs[b.name])
                   if b.kind == "layer" and b.name in specs else b for b in space.genome.blocks)
    return dataclasses.replace(space.genome, name=f"{space.genome.name}-hns", blocks=blocks,
                               provenance=provenance or space.genome.provenance)
