"""STTS / TANet stages (Yan et al., "Sampling complex topology structures for spiking neural
networks" (STTS), section 4.1, eq. 6-10) -> IR.

A **spiking convolution node** (SCN, eq. 6-8) sums its inputs, each read ``d`` steps late, and
applies SN -> Conv -> BN::

    X_j[t] = sum_{(i,j) in E} S_i[t - d_ij]                        (eq. 8)
    S_j[t] = BN(Conv2d(SN(X_j[t])))                                (eq. 7)

It becomes the chain ``{p}.lif [-> {p}.dropout] -> {p}.conv -> {p}.bn`` (``conv=separable``:
``{p}.dw`` depthwise kxk, groups = C_in, stride here, then ``{p}.pw`` 1x1; both with bias as in the
reference code). The neuron is the block's model (LIF, IF, ALIF, PLIF or ReLU; the node keeps the
name ``{p}.lif`` whatever the model). ``spiking=false`` drops it (the encoding layer reads the
analog input).
Genome edges enter the node's first op (its neuron) with the genome delay; ``back`` edges have kind
``backward``.

* ``stage s2 node``: one SCN named ``s2.lif``, ``s2.conv``, ``s2.bn`` (stride default 1).
* ``stage s3 graph nodes=N``: SCNs ``s3.n0 .. s3.n{N-1}``. **Input nodes** (no incoming forward
  edge; backward edges do not count) read the stage input, the previous stage's exit (the source,
  eq. 9), use the stage stride (default 2) and map ``C_prev -> channels``; the other nodes use stride
  1 and ``channels -> channels``. **Output nodes** (no outgoing forward edge) are averaged by the
  sink ``s3.sink``, a ``Scale`` by ``1/|T|`` (eq. 10), which is the next stage's source.

Shapes: ``[C_prev, H, W] -> [channels, H/stride, W/stride]``; ``stride`` must divide ``H`` and ``W``
and ``kernel`` must be odd (padding ``kernel // 2`` keeps the resolution).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..genome.ast import Block
from ..ir.graph import BACKWARD, FORWARD
from .builder import Builder, fail


@dataclass(frozen=True)
class StageSpec:
    """A stage's attributes with their defaults filled (``stride`` depends on the form)."""

    channels: int
    stride: int
    kernel: int
    separable: bool
    spiking: bool
    dropout: float

    @classmethod
    def of(cls, block: Block) -> "StageSpec":
        """Read and check ``block``'s attributes. Raises LoweringError naming the attribute."""
        channels = block.get("channels")
        stride = block.get("stride", 2 if block.form == "graph" else 1)
        kernel = block.get("kernel", 3)
        conv = block.get("conv", "standard")
        dropout = block.get("dropout", 0)
        if not _pos_int(channels):
            raise fail(block, f"channels must be an integer >= 1, got {channels!r}")
        if not _pos_int(stride):
            raise fail(block, f"stride must be an integer >= 1, got {stride!r}")
        if not _pos_int(kernel) or kernel % 2 == 0:
            raise fail(block, f"kernel must be an odd integer >= 1 (padding kernel//2 keeps the "
                              f"resolution), got {kernel!r}")
        if conv not in ("standard", "separable"):
            raise fail(block, f"conv must be standard or separable, got {conv!r}")
        if not 0 <= float(dropout) < 1:
            raise fail(block, f"dropout must be in [0, 1), got {dropout!r}")
        return cls(channels, stride, kernel, conv == "separable", bool(block.get("spiking", True)),
                   float(dropout))


def _pos_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x >= 1


def lower_stage(b: Builder, block: Block, name: str) -> None:
    """Append stage ``block`` (named ``name``) after ``b.exit`` and move the cursor to its exit:
    the node stage's BN or the graph stage's sink. ``[C, H, W] -> [channels, H/s, W/s]``.

    Raises:
        LoweringError: a non-image input, a stride that does not divide the resolution, bad
            attributes, or (graph stages) an edge out of range, a forward edge that does not go
            from a lower to a higher node, a backward edge that does not go back or has delay 0,
            a duplicate edge, or a backward edge into an input node whose shape differs.
    """
    spec = StageSpec.of(block)
    if len(b.shape) != 3:
        raise fail(block, f"a stage needs a (C, H, W) input, got shape {b.shape}")
    c_in, h, w = b.shape
    if h % spec.stride or w % spec.stride:
        raise fail(block, f"stride {spec.stride} does not divide the input resolution {h}x{w}")
    out_shape = (spec.channels, h // spec.stride, w // spec.stride)
    if block.form in (None, "node"):
        if block.edges:
            raise fail(block, "a node stage has no edges; use 'stage NAME graph nodes=N { ... }'",
                       block.edges[0].loc)
        entry, exit_ = spiking_conv_node(b, block, spec, name, c_in, spec.stride)
        b.edge(b.exit, entry)
    elif block.form == "graph":
        exit_ = _graph(b, block, spec, name, c_in, out_shape)
    else:
        raise fail(block, f"unknown stage form {block.form!r}; expected node or graph")
    b.exit, b.shape = exit_, out_shape


def spiking_conv_node(b: Builder, block: Block, spec: StageSpec, prefix: str, c_in: int,
                      stride: int) -> tuple[str, str]:
    """One SCN (eq. 7): ``[c_in, H, W] -> [channels, H/stride, W/stride]``. Returns the names of
    its first op (where inputs are summed, eq. 8) and of its BN (its output ``S_j``)."""
    c, k, loc = spec.channels, spec.kernel, block.loc
    names = []
    if spec.spiking:
        names.append(b.neuron(f"{prefix}.lif", block))
    if spec.dropout > 0:
        names.append(b.node(f"{prefix}.dropout", "Dropout", {"p": spec.dropout}, loc=loc))
    if spec.separable:
        names.append(b.conv(f"{prefix}.dw", c_in, c_in, k, stride=stride, groups=c_in, loc=loc))
        names.append(b.conv(f"{prefix}.pw", c_in, c, 1, loc=loc))
    else:
        names.append(b.conv(f"{prefix}.conv", c_in, c, k, stride=stride, loc=loc))
    names.append(b.batchnorm(f"{prefix}.bn", c, loc=loc))
    b.chain(*names)
    return names[0], names[-1]


def _graph(b: Builder, block: Block, spec: StageSpec, name: str, c_in: int,
           out_shape: tuple[int, int, int]) -> str:
    """The connection topology graph of a stage (eq. 8-10); returns the sink's name."""
    n = block.get("nodes")
    if not _pos_int(n):
        raise fail(block, f"nodes must be an integer >= 1, got {n!r}")
    _check_edges(block, n)
    has_in = {e.dst for e in block.edges if not e.backward}
    has_out = {e.src for e in block.edges if not e.backward}
    inputs = [j for j in range(n) if j not in has_in]
    outputs = [i for i in range(n) if i not in has_out]
    for e in block.edges:
        if e.backward and e.dst in inputs and b.shape != out_shape:
            raise fail(block, f"backward edge {e.src} -> {e.dst} enters input node {e.dst}, which "
                              f"reads the stage input of shape {b.shape}, but node {e.src} outputs "
                              f"{out_shape}", e.loc)
    entry, exit_ = {}, {}
    for j in range(n):
        is_input = j in inputs
        entry[j], exit_[j] = spiking_conv_node(b, block, spec, f"{name}.n{j}",
                                               c_in if is_input else spec.channels,
                                               spec.stride if is_input else 1)
    for j in inputs:  # source fan-out, eq. 9
        b.edge(b.exit, entry[j])
    for e in block.edges:  # eq. 8
        b.edge(exit_[e.src], entry[e.dst], e.delay, BACKWARD if e.backward else FORWARD)
    sink = b.node(f"{name}.sink", "Scale", {"scale": 1.0 / len(outputs)}, loc=block.loc)
    for i in outputs:  # eq. 10
        b.edge(exit_[i], sink)
    return sink


def _check_edges(block: Block, n: int) -> None:
    seen = set()
    for e in block.edges:
        label = f"{'back ' if e.backward else ''}{e.src} -> {e.dst} @{e.delay}"
        if e.op is not None:
            raise fail(block, f"edge {label}: stage edges carry no operation (got {e.op!r})", e.loc)
        if not (0 <= e.src < n and 0 <= e.dst < n):
            raise fail(block, f"edge {label}: node out of range 0..{n - 1}", e.loc)
        if not isinstance(e.delay, int) or e.delay < 0:
            raise fail(block, f"edge {label}: delay must be an integer >= 0", e.loc)
        if e.backward and (e.src < e.dst or e.delay < 1):
            raise fail(block, f"edge {label}: a backward edge goes from a node to itself or an "
                              f"earlier node, with delay >= 1", e.loc)
        if not e.backward and e.src >= e.dst:
            raise fail(block, f"edge {label}: a forward edge goes from a lower to a higher node "
                              f"(STTS section 4.1); write 'back {e.src} -> {e.dst} @1' for feedback",
                       e.loc)
        key = (e.src, e.dst, e.delay, e.backward)
        if key in seen:
            raise fail(block, f"edge {label} is listed twice", e.loc)
        seen.add(key)
