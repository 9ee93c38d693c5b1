"""SpikeDHS cells and the SpikeDHS-CLA classification network (Che et al., "Spatial-temporal search
for SNNs", section 4.1, eq. 12-17, and section 5.1.1) -> IR.

**Cell** (``cell c3 dhs nodes=3 channels=C { -2 -> 0 snn_b3 ... }``, section 4.1.1, eq. 12). Node
``j`` receives operations from the previous-previous cell (source ``-2``, written ``s0``), the
previous cell (``-1``, ``s1``) and earlier nodes ``i < j``. Operations are mixed at the membrane
potential (eq. 16, Fig. 2b, the variant the paper adopts): node ``j`` is ONE spiking neuron whose
input current is the sum of its incoming operations' outputs::

    I_j[t] = sum_{i -> j} o_ij(x_i[t])          x_i: s0, s1 (spikes) or node i's spikes
    x_j[t] = f(I_j[t])                          f: the layer's neuron (eq. 3-4 by default)

An edge ``i -> j`` becomes nodes named ``{layer}.n{j}.{src}.*`` with ``src`` in ``s0``, ``s1``,
``n0``, ``n1``, ...:

* ``snn_b3`` / ``snn_b5`` (Table 1, "conv3x3 with g(b=3)" / "g(b=5)"): ``conv`` 3x3 (stride 1,
  padding 1, with bias as in the authors' code) ``C_src -> C`` then ``bn``. The two differ only in
  the Dspike temperature ``b`` of the surrogate gradient (eq. 11). With mixing at the membrane
  there is one surrogate per node ("a unified SG function g(u)", text after eq. 17), so the
  temperature goes to the node's neuron; see :func:`node_surrogate` for the rule.
* ``skip``: the identity (the spikes enter the membrane directly) when ``C_src == C``; from a
  previous cell with another width, a 1x1 ``conv`` + ``bn`` projecting ``C_src -> C``: the paper
  drops DARTS's separate preprocessing of the cell inputs and "merge[s] this step with subsequent
  candidate operations" (end of section 4.1.1), and merging DARTS's 1x1 conv-BN preprocessing with
  the identity gives a 1x1 conv-BN. (The authors' code builds every ``skip_connect`` as a 3x3
  conv-BN; with the published cell, which has no skip, the two agree.)

**Mixed edges** (a supernet, section 4.1.1 eq. 13-16): ``-2 -> 0 mix`` lowers every candidate of
the cell's ``candidates`` (default all of ``DHS_OPS``: skip, snn_b3, snn_b5) on that edge as
above, under ``{layer}.n{j}.{src}.{op}.*``, and feeds their outputs, in that order as ports
0..k-1, into ``{layer}.n{j}.{src}.mix``, a ``WeightedMix`` with ``k`` candidates and ``alpha = 0``
(uniform weights, as DARTS starts) whose output enters node ``j``'s membrane with the node's
other edges. The cell's ``mixing`` says where the candidates meet:

* ``mixing=membrane`` (default; eq. 16, Fig. 2b, the variant the paper adopts): the
  softmax-weighted sum of the candidate currents, before the node's one neuron. For the node's
  surrogate a mixed edge counts as all its candidates (rule 3 of :func:`node_surrogate` then
  applies: mixed temperatures), so resolving a mix to ``snn_b3`` gives the plain genome's forward
  computation but not necessarily its surrogate temperature.
* ``mixing=spike`` (eq. 14, Fig. 2a; what the authors' released search code does): every
  candidate's current fires its own neuron ``{layer}.n{j}.{src}.{op}.lif`` (Dspike with the
  operation's temperature ``b``, the candidates' own surrogates that eq. 15 allows; a projecting
  skip's neuron takes the layer's surrogate; an identity skip carries spikes already and gets
  none), the mix sums their weighted spikes (no longer binary) into node ``j``'s membrane, and the
  node fires again with a fixed surrogate (its plain edges' temperature, else the layer's or
  genome's).

For the same reason there is no 1x1 preprocessing of ``s0``/``s1``: operations read the previous
cells' outputs with their own widths (this is what gives the paper's 14M parameters, Table 2).
The cell output ``{layer}.cat`` is the channel concatenation of all its nodes' spikes in node
order (section 4.1.1, "The cell forms its output by concatenating all the outputs of its nodes"):
``nodes * C`` channels.

**Network** (``layer l1 cell=c3 level=L``, one block per layer, section 4.1.2 and 5.1.1). For
classification the paper uses "an 8 layers fixed downsampling architecture proposed in [25]"
(DARTS): the layers are written out in the genome, and the authors' released path
``[0,0,1,1,1,2,2,2]`` halves the resolution at layers 3 and 6 (DARTS's reductions at 1/3 and 2/3
of the depth). ``level`` counts halvings from the stem's resolution: the CIFAR stem keeps the
input resolution (authors' retrain code: 32x32 cells at level 0, 16x16 at 1, 8x8 at 2), so level
``l`` runs at ``H / 2**l``; its nodes have ``channels * 2**l`` channels (AutoDeepLab's filter
multiplier; the authors' CIFAR code has 48/96/192 per node, 144/288/576 per cell); the schema's
"1/4 .. 1/32" is the dense-prediction trellis, whose stems downsample by 4. Between consecutive
layers the level stays or moves one level down or up (the trellis of [24]). Resolution matching
is nearest resampling (section 4.1.2, "To maintain binary feature maps ... we use nearest
interpolation"): ``{layer}.s1.down`` halves ``s1`` when the layer moves down, ``{layer}.s1.up``
doubles it when it moves up, ``{layer}.s0.down`` / ``.up`` bring ``s0`` to the layer's
resolution; nearest downsampling by ``k`` of a map whose sides ``k`` divides is
``x[:, ::k, ::k]``, an ``AvgPool2d`` with kernel 1 and stride ``k``; upsampling is ``Upsample``.

**Trellis** (``trellis t cell=c layers=L levels=S``, a layer-level supernet, section 4.1.2,
AutoDeepLab [24]): every layer ``l = 1..L`` at every level ``s`` it can reach from the stem
(``0 .. min(l, S-1)``, :func:`trellis_levels`) holds a cell ``t.l{l}.L{s}``. Its ``s1`` is
``t.l{l}.L{s}.beta``, a ``WeightedMix`` (the layer weights beta, ``alpha`` param, zeros) over the
previous layer's outputs at levels ``s-1, s, s+1`` that exist (:func:`trellis_inputs`, ports in
that order), each brought to level ``s`` (``t.l{l}.L{s}.from{s'}.down`` / ``.up``) and, where its
width differs, projected by a 1x1 conv-BN (``.from{s'}.proj.conv`` / ``.bn``) so that the ports
share one shape. Its ``s0`` is layer ``l-2``'s output at level ``s`` (at its highest level below
``s`` where it has none, downsampled; the stem for ``l <= 2``). The head reads every level of the
last layer: ``head.L{s}.pool`` -> ``head.L{s}.lif`` -> ``head.L{s}.fc``, mixed by
``head.beta`` -> ``head.bn`` -> ``output``. The softmax runs over a cell's *inputs* (a
WeightedMix normalises its own ports); AutoDeepLab and LEAStereo normalise over a cell's outputs.
A decoded path (:mod:`snnc.search.dhs`) is written as ``layer`` blocks, which read their
neighbour directly (no projection: the operations read any width), so the trellis resolved to
one path is the plain network up to those projections and the ``s0`` rule.

Around the layers, as the authors' CIFAR code builds them (the paper does not describe them):

* **stem** (before the first layer): ``stem.conv`` 3x3 ``C_in -> nodes * channels`` of the first
  layer's cell (stride 1, bias), ``stem.bn``, ``stem.lif``; the first layer reads it as both ``s0``
  and ``s1``, the second as ``s0``.
* **head** (after the last layer): ``head.pool`` global average pool -> ``head.lif`` (the code's
  "spiking adaptive average pool", so the classifier reads spikes: a fully spike-based network,
  section 4.1.2) -> ``head.fc`` Linear -> ``head.bn`` BatchNorm over the class scores (the code's
  BatchNorm1d; folded into the Linear for deployment) -> ``output``.
* left out: the auxiliary head after layer 6 (weight 0.4, section 5.1.1) is a training-only second
  output that the one-output IR cannot hold; it changes no inference result.

**Neurons.** The head neuron is the genome's ``neuron`` / ``surrogate``; the stem neuron takes the
overrides of the genome's ``stem { neuron ... surrogate ... }`` block when there is one (before the
first layer), else the genome's; a layer's cell nodes take the layer body's overrides (what DGS,
TPS and HNS emit: ``layer l5 cell=c3 level=2 { neuron lif leak=0.3 v_th=0.5 \\n surrogate dspike
b=3.4 }``). Every neuron is created by
:func:`neuron_node`, the one place that maps a neuron model to an IR op.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..genome.ast import Block
from ..genome.schema import DHS_MIX, DHS_OPS
from .builder import Builder, fail

#: Dspike temperature ``b`` of each convolution operation (Table 1).
TEMPERATURE = {"snn_b3": 3.0, "snn_b5": 5.0}
#: Node names the network itself uses; no layer may be called so.
RESERVED = ("stem", "head")


@dataclass(frozen=True)
class Feature:
    """A layer input: the node producing it, its per-sample shape ``(C, H, W)`` and its level."""

    node: str
    shape: tuple[int, int, int]
    level: int


@dataclass
class Trellis:
    """What the SpikeDHS lowering remembers between blocks (kept in ``Builder.state["dhs"]``)."""

    cells: dict[str, Block] = field(default_factory=dict)
    prev_prev: Feature | None = None
    prev: Feature | None = None
    resolution: tuple[int, int] | None = None  # the stem's (H, W): level 0
    stem: Block | None = None  # the genome's ``stem`` block (neuron/surrogate overrides), if any


def _trellis(b: Builder) -> Trellis:
    return b.state.setdefault("dhs", Trellis())


# ----------------------------------------------------------------------------- neurons
def neuron_node(b: Builder, name: str, block: Block,
                surrogate: dict[str, Any] | None = None) -> str:
    """Add the neuron of ``block`` (its ``neuron`` override, else the genome's: LIF, IF, ALIF,
    PLIF or ReLU, see :meth:`Builder.neuron_op`) as node ``name`` and return its name.
    ``surrogate`` (``{"surrogate": ..., "surrogate_arg": ...}``) replaces the block's surrogate
    when given; a ReLU (no spikes, HNS's ANN layer) takes none.

    The one function through which every SpikeDHS neuron (stem, cell nodes, head) is created.
    """
    op, attrs = b.neuron_op(block)
    if surrogate is not None and op != "ReLU":
        attrs.update(surrogate)
    return b.node(name, op, attrs, loc=block.loc)


def node_surrogate(b: Builder, layer: Block, ops: list[str]) -> dict[str, Any]:
    """The surrogate gradient of a cell node fed by operations ``ops`` in layer ``layer``.

    Mixing at the membrane leaves one surrogate per node (eq. 17: a unified ``g(u)``), so:

    1. the layer's ``surrogate`` override, if any (a per-layer DGS result, section 4.2);
    2. else, when the node's convolution operations agree on a temperature (``snn_b3`` only or
       ``snn_b5`` only), Dspike with that ``b`` (eq. 11);
    3. else (mixed temperatures, or only skips) the genome's surrogate, as the authors' retrain
       code fires every node with one fixed Dspike (b = 3).

    Returns ``{"surrogate": kind, "surrogate_arg": value}``.
    """
    if layer.surrogate is not None:
        return b.surrogate_attrs(layer)
    temps = {TEMPERATURE[op] for op in ops if op in TEMPERATURE}
    if len(temps) == 1:
        return {"surrogate": "dspike", "surrogate_arg": temps.pop()}
    return b.surrogate_attrs(layer)


# ----------------------------------------------------------------------------- cell
def lower_cell(b: Builder, block: Block, name: str) -> None:
    """Record cell ``block`` (form ``dhs``) for the layers that name it; adds no nodes.

    Raises:
        LoweringError: another cell form, or a node without an incoming operation (eq. 12 sums
            at least one).
    """
    if block.form != "dhs":
        raise fail(block, f"cell form {block.form!r} is not lowered yet (the frontend lowers "
                          f"cell dhs)")
    fed = {e.dst for e in block.edges}
    for j in range(block["nodes"]):
        if j not in fed:
            raise fail(block, f"node {j} has no incoming operation; every node sums at least one "
                              f"(SpikeDHS eq. 12), e.g. '-1 -> {j} snn_b3'")
    _trellis(b).cells[name] = block


# ----------------------------------------------------------------------------- stem
def lower_stem(b: Builder, block: Block, name: str) -> None:
    """Record the ``stem { neuron ... surrogate ... }`` block, whose overrides the stem neuron
    ``stem.lif`` takes instead of the genome's (a DGS / TPS result for the stem, SpikeDHS
    section 4.2-4.3 and 5.1.2: "DGS is applied to the first stem layer"); adds no nodes.

    Raises:
        LoweringError: the genome has no layer or trellis blocks (the stem belongs to a SpikeDHS
            network).
            A stem block after the first layer is refused by that layer (:func:`lower_layer`:
            only layers and cells follow a layer).
    """
    if not any(x.kind in ("layer", "trellis") for x in b.genome.blocks):
        raise fail(block, "sets the neuron of a SpikeDHS network's stem, but the genome has no "
                          "layer or trellis blocks (a SpikeDHS network); remove it or add layers")
    _trellis(b).stem = block


def _named_cell(b: Builder, block: Block, name: str, kind: str) -> Block:
    """The dhs cell ``block`` (a layer or trellis called ``name``) names.

    Raises:
        LoweringError: ``name`` is reserved; the cell is not a dhs cell.
    """
    if name in RESERVED:
        raise fail(block, f"the {kind} name {name!r} is taken by the network's {name}")
    cell = _trellis(b).cells.get(block["cell"])
    if cell is None:
        raise fail(block, f"cell={block['cell']} is not a dhs cell")
    return cell


# ----------------------------------------------------------------------------- layer
def lower_layer(b: Builder, block: Block, name: str) -> None:
    """Append layer ``block``: one cell at level ``level`` reading the two previous layers (the
    stem before the first). The first layer also builds the stem, the last the head and output.

    Shapes: ``s0 [C0, H0, W0]``, ``s1 [C1, H1, W1]`` -> ``[nodes * channels * 2**level, H/2**level,
    W/2**level]`` with ``H, W`` the stem's (the input's) resolution.

    Raises:
        LoweringError: a reserved layer name (stem, head); a cell that is not a dhs cell; a first
            layer that does not follow the input directly or an input that is not ``(C, H, W)``; a
            level that moves more than one level; a resolution ``2**level`` does not divide; a
            block other than a layer or cell after a layer; the neuron errors of
            :func:`neuron_node`; a cell's bad ``candidates``.
    """
    tr = _trellis(b)
    cell = _named_cell(b, block, name, "layer")
    last = _is_last_layer(b, block)
    if tr.prev is None:
        _stem(b, block, cell, tr)
    level = block["level"]
    _check_level(block, tr, level)
    s0 = _resample(b, block, f"{name}.s0", tr.prev_prev, level)
    s1 = _resample(b, block, f"{name}.s1", tr.prev, level)
    out = cell_nodes(b, block, cell, name, s0, s1, level, tr.resolution)
    tr.prev_prev, tr.prev = tr.prev, out
    b.exit, b.shape = out.node, out.shape
    if last:
        _head(b, block, out)


def candidates_of(cell: Block) -> tuple[str, ...]:
    """The operations a ``mix`` edge of ``cell`` mixes, in port order: its ``candidates``
    attribute (default all of ``DHS_OPS``), words separated by spaces or commas.

    Raises:
        LoweringError: an empty list, an unknown operation or a repeated one.
    """
    words = tuple(w for w in str(cell["candidates"]).replace(",", " ").split() if w)
    bad = [w for w in words if w not in DHS_OPS]
    if not words or bad or len(set(words)) != len(words):
        why = (f"unknown operation(s) {', '.join(map(repr, bad))}" if bad else
               "an operation repeats" if words else "no operation")
        raise fail(cell, f"candidates={cell['candidates']!r}: {why}; give one or more of "
                         f"{', '.join(DHS_OPS)}, each once")
    return words


def cell_nodes(b: Builder, block: Block, cell: Block, name: str, s0: Feature, s1: Feature,
               level: int, resolution: tuple[int, int]) -> Feature:
    """The nodes of one cell (SpikeDHS eq. 12) at ``level`` under prefix ``name``, reading ``s0``
    and ``s1`` (already at the cell's resolution); its neurons take ``block``'s overrides.
    Returns the cell output ``{name}.cat`` ``[nodes * channels * 2**level, H/2**level,
    W/2**level]``."""
    c = cell["channels"] * 2 ** level
    h, w = resolution[0] >> level, resolution[1] >> level
    spike_mix = cell["mixing"] == "spike"
    candidates = candidates_of(cell) if any(e.op == DHS_MIX for e in cell.edges) else ()
    sources: dict[int, tuple[str, str, int]] = {-2: ("s0", s0.node, s0.shape[0]),
                                                -1: ("s1", s1.node, s1.shape[0])}
    cat = b.node(f"{name}.cat", "Concat", loc=block.loc)
    for j in range(cell["nodes"]):
        edges = [e for e in cell.edges if e.dst == j]
        # eq. 14 mixes fired spikes, so a mixed edge's candidates keep their own surrogates and
        # the node fires with a fixed one (eq. 15); eq. 16 pools all temperatures in the node
        ops = [op for e in edges if not (spike_mix and e.op == DHS_MIX)
               for op in (candidates if e.op == DHS_MIX else (e.op,))]
        lif = neuron_node(b, f"{name}.n{j}.lif", block, node_surrogate(b, block, ops))
        for e in edges:
            label, src, c_src = sources[e.src]
            prefix = f"{name}.n{j}.{label}"
            if e.op == DHS_MIX:
                b.edge(_mix(b, block, prefix, src, c_src, c, candidates, spike_mix), lif)
            else:
                b.edge(_operation(b, block, prefix, e.op, src, c_src, c), lif)
        sources[j] = (f"n{j}", lif, c)
        b.graph.add_edge(lif, cat, port=j)
    return Feature(cat, (cell["nodes"] * c, h, w), level)


def _mix(b: Builder, layer: Block, prefix: str, src: str, c_in: int, c_out: int,
         candidates: tuple[str, ...], spike: bool) -> str:
    """Every candidate operation on one edge, mixed by a WeightedMix (alpha = 0: uniform);
    returns the mix node. Membrane mixing (eq. 16): the candidates' currents are mixed and enter
    the node's membrane. Spike mixing (eq. 14): each candidate's current fires its own neuron
    ``{prefix}.{op}.lif`` (Dspike with the operation's temperature; an identity skip already
    carries spikes and adds none) and the mix of their spikes enters the node's membrane."""
    mix = b.node(f"{prefix}.{DHS_MIX}", "WeightedMix", {"k": len(candidates)},
                 {"alpha": np.zeros(len(candidates))}, loc=layer.loc)
    for port, op in enumerate(candidates):
        out = _operation(b, layer, f"{prefix}.{op}", op, src, c_in, c_out)
        if spike and out != src:
            temp = ({"surrogate": "dspike", "surrogate_arg": TEMPERATURE[op]}
                    if op in TEMPERATURE else None)
            lif = neuron_node(b, f"{prefix}.{op}.lif", layer, temp)
            b.edge(out, lif)
            out = lif
        b.graph.add_edge(out, mix, port=port)
    return mix


def _operation(b: Builder, layer: Block, prefix: str, op: str, src: str, c_in: int,
               c_out: int) -> str:
    """The nodes of one operation reading ``src``; returns the node whose output enters the
    membrane (``src`` itself for an identity skip)."""
    loc = layer.loc
    if op in TEMPERATURE:
        kernel = 3
    elif op == "skip":
        if c_in == c_out:
            return src
        kernel = 1
    else:
        raise fail(layer, f"operation {op!r} is not a SpikeDHS operation "
                          f"({', '.join((*TEMPERATURE, 'skip'))})")
    conv = b.conv(f"{prefix}.conv", c_in, c_out, kernel, loc=loc)
    bn = b.batchnorm(f"{prefix}.bn", c_out, loc=loc)
    b.edge(src, conv)
    b.edge(conv, bn)
    return bn


def _stem(b: Builder, layer: Block, cell: Block, tr: Trellis) -> None:
    """conv3x3 -> BN -> spiking neuron at the input resolution; the first layer's s0 and s1."""
    if b.exit != "input":
        raise fail(layer, "the first layer must follow the network input (the SpikeDHS-CLA stem "
                          "is built before it); remove the blocks before it")
    if len(b.shape) != 3:
        raise fail(layer, f"a SpikeDHS network needs a (C, H, W) input, got {b.shape}")
    c_in, h, w = b.shape
    width = cell["nodes"] * cell["channels"]
    stem = tr.stem or Block("stem", loc=layer.loc)
    conv = b.conv("stem.conv", c_in, width, 3, loc=layer.loc)
    bn = b.batchnorm("stem.bn", width, loc=layer.loc)
    lif = neuron_node(b, "stem.lif", stem)
    b.chain(b.exit, conv, bn, lif)
    tr.resolution = (h, w)
    tr.prev_prev = tr.prev = Feature(lif, (width, h, w), 0)


def _check_level(block: Block, tr: Trellis, level: int) -> None:
    step = level - tr.prev.level
    if abs(step) > 1:
        raise fail(block, f"level {level} after level {tr.prev.level}: a layer moves at most one "
                          f"level up or down (the layer trellis, SpikeDHS section 4.1.2)")
    h, w = tr.resolution
    k = 2 ** level
    if h % k or w % k:
        raise fail(block, f"level {level} needs the resolution {h}x{w} to be divisible by {k}")


def _resample(b: Builder, block: Block, name: str, x: Feature, level: int) -> Feature:
    """``x`` brought to ``level`` by nearest resampling (section 4.1.2): ``{name}.down``, an
    ``AvgPool2d`` with kernel 1 and stride ``k = 2**(level - x.level)`` (``x[:, ::k, ::k]``), or
    ``{name}.up``, an ``Upsample`` by ``2**(x.level - level)``; ``x`` itself at its own level."""
    if level == x.level:
        return x
    c, h, w = x.shape
    if level > x.level:
        k = 2 ** (level - x.level)
        node = b.node(f"{name}.down", "AvgPool2d", {"kernel": 1, "stride": k}, loc=block.loc)
        shape = (c, h // k, w // k)
    else:
        k = 2 ** (x.level - level)
        node = b.node(f"{name}.up", "Upsample", {"scale": k}, loc=block.loc)
        shape = (c, h * k, w * k)
    b.edge(x.node, node)
    return Feature(node, shape, level)


def trellis_levels(layer: int, levels: int) -> range:
    """The levels layer ``layer`` (1-based; 0 is the stem, at level 0) takes in a trellis of
    ``levels`` levels: those one step per layer reaches from the stem, ``0 .. min(layer,
    levels - 1)``."""
    return range(min(layer, levels - 1) + 1)


def trellis_inputs(layer: int, level: int, levels: int) -> list[int]:
    """The levels of layer ``layer - 1`` that feed layer ``layer`` at ``level`` in the trellis:
    ``level - 1, level, level + 1`` where they exist, in that order (the ports of its beta mix)."""
    have = trellis_levels(layer - 1, levels)
    return [s for s in (level - 1, level, level + 1) if s in have]


def lower_trellis(b: Builder, block: Block, name: str) -> None:
    """The layer-level supernet ``block`` (see the module docstring, "Trellis"): stem, ``layers``
    layers of cells at every reachable level mixed by beta, and the level-mixing head.

    Raises:
        LoweringError: a reserved name; a cell that is not a dhs cell; a trellis that does not
            follow the input directly, or an input that is not ``(C, H, W)``; a resolution
            ``2**(levels - 1)`` does not divide; the errors of :func:`cell_nodes`.
    """
    tr = _trellis(b)
    cell = _named_cell(b, block, name, "trellis")
    layers, levels = block["layers"], block["levels"]
    _stem(b, block, cell, tr)
    h, w = tr.resolution
    if h % 2 ** (levels - 1) or w % 2 ** (levels - 1):
        raise fail(block, f"levels={levels} needs the resolution {h}x{w} to be divisible by "
                          f"{2 ** (levels - 1)}")
    outs: dict[tuple[int, int], Feature] = {(0, 0): tr.prev}
    for layer in range(1, layers + 1):
        for level in trellis_levels(layer, levels):
            prefix = f"{name}.l{layer}.L{level}"
            width = cell["nodes"] * cell["channels"] * 2 ** level
            k = len(trellis_inputs(layer, level, levels))
            mix = b.node(f"{prefix}.beta", "WeightedMix", {"k": k}, {"alpha": np.zeros(k)},
                         loc=block.loc)
            for port, src in enumerate(trellis_inputs(layer, level, levels)):
                x = _resample(b, block, f"{prefix}.from{src}", outs[(layer - 1, src)], level)
                node = x.node
                if x.shape[0] != width:
                    conv = b.conv(f"{prefix}.from{src}.proj.conv", x.shape[0], width, 1,
                                  loc=block.loc)
                    bn = b.batchnorm(f"{prefix}.from{src}.proj.bn", width, loc=block.loc)
                    b.chain(node, conv, bn)
                    node = bn
                b.graph.add_edge(node, mix, port=port)
            s1 = Feature(mix, (width, h >> level, w >> level), level)
            back = max(layer - 2, 0)
            s0 = outs[(back, min(level, max(trellis_levels(back, levels))))]
            s0 = _resample(b, block, f"{prefix}.s0", s0, level)
            outs[(layer, level)] = cell_nodes(b, block, cell, prefix, s0, s1, level,
                                              tr.resolution)
    finals = [outs[(layers, s)] for s in trellis_levels(layers, levels)]
    classes, loc = b.genome.classes, block.loc
    head = Block("head", loc=loc)
    mix = b.node("head.beta", "WeightedMix", {"k": len(finals)}, {"alpha": np.zeros(len(finals))},
                 loc=loc)
    for port, x in enumerate(finals):
        pool = b.node(f"head.L{x.level}.pool", "GlobalAvgPool", loc=loc)
        lif = neuron_node(b, f"head.L{x.level}.lif", head)
        fc = b.linear(f"head.L{x.level}.fc", x.shape[0], classes, loc=loc)
        b.chain(x.node, pool, lif, fc)
        b.graph.add_edge(fc, mix, port=port)
    bn = b.batchnorm("head.bn", classes, loc=loc)
    out = b.node("output", "Output", loc=loc)
    b.chain(mix, bn, out)
    b.exit, b.shape = out, (classes,)


def _is_last_layer(b: Builder, block: Block) -> bool:
    """Whether ``block`` is the genome's last layer; only layers and cells may follow a layer, and
    nothing follows the last one (the head ends the network there)."""
    blocks = b.genome.blocks
    later = blocks[next(i for i, x in enumerate(blocks) if x is block) + 1:]
    for x in later:
        if x.kind not in ("layer", "cell"):
            raise fail(x, "comes after a SpikeDHS layer; only layers (and their cells) follow "
                          "one, and the SpikeDHS-CLA head ends the network after the last layer")
    last = not any(x.kind == "layer" for x in later)
    if last and later:
        raise fail(later[0], "comes after the last layer, where the SpikeDHS-CLA head ends the "
                             "network; define cells before the layers that use them")
    return last


def _head(b: Builder, last: Block, x: Feature) -> None:
    """GAP -> spiking neuron -> Linear -> BN -> output (the authors' CIFAR head)."""
    loc = last.loc
    classes = b.genome.classes
    head = Block("head", loc=loc)
    pool = b.node("head.pool", "GlobalAvgPool", loc=loc)
    lif = neuron_node(b, "head.lif", head)
    fc = b.linear("head.fc", x.shape[0], classes, loc=loc)
    bn = b.batchnorm("head.bn", classes, loc=loc)
    out = b.node("output", "Output", loc=loc)
    b.chain(x.node, pool, lif, fc, bn, out)
    b.exit, b.shape = out, (classes,)
