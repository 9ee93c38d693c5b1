"""Spiking ResNet-18 / ResNet-19 backbones with global backward connections (BCNAS-SNN) -> IR.

``resnet r depth=19 channels=128 { back 12 -> 0 @1 }`` lowers the convolutional part of the
CIFAR ResNets of the SNN literature; the ``classifier`` block that follows adds the head.

**Structure** (both depths; every conv 3x3 with padding 1 and no bias, every conv followed by a
BatchNorm2d, the LIF neuron of the genome after the BN, as in the tdBN ResNets of Zheng et al.
2021):

* stem: ``conv3x3(C_in -> C, stride 1) -> BN -> LIF`` on the analog input (direct encoding, no
  max-pool: the CIFAR variant of He et al. 2016, section 4.2);
* basic blocks ``conv3x3(stride s) -> BN -> LIF -> conv3x3 -> BN -> (+ shortcut) -> LIF``; the
  shortcut is the block input's spikes, or ``conv1x1(stride s) -> BN`` on them where the stride or
  the width changes (He et al.'s option B). The **residual add is the summed input** of the
  block's second LIF: the IR sums every edge into a node;
* depth 18 (ResNet-18 of He et al. 2016 in its CIFAR form, which BCNAS-SNN section 5.2 cites):
  4 stages of 2 blocks, widths ``C, 2C, 4C, 8C`` (C = 64), strides ``1, 2, 2, 2``;
* depth 19 (ResNet-19 of Zheng et al. 2021, tdBN, also used by TET, Deng et al. 2022, and by
  BCNAS-SNN): 3 stages of 3, 3, 2 blocks, widths ``C, 2C, 4C`` (C = 128), strides ``1, 2, 2``.

The block ends with its last LIF layer: spikes ``[8C, H/8, W/8]`` (depth 18) or
``[4C, H/4, W/4]`` (depth 19) for a ``[C_in, H, W]`` input. The head is the ``classifier``
block, which must be the last block of a genome (:mod:`snnc.genome.validate`): it sees spikes and
adds no neuron of its own. ResNet-18: ``classifier`` (global average pool -> FC to the
classes); ResNet-19: ``classifier hidden=256`` (average pool -> FC 256 -> LIF -> FC to the
classes, Zheng et al. 2021). Parameters for 10 classes (Conv2d/Linear weights and biases,
BatchNorm weights and biases): ResNet-18 (C = 64) 11,173,962; ResNet-19 (C = 128) 12,697,994;
a backward connection ``j -> i`` adds ``C_j * C_i + 2 C_i``.

**Ports** (BCNAS-SNN section 4.1): every LIF layer of the block is a port, numbered in forward
order: 0 the stem, then per block its first and its second LIF
(:func:`snnc.genome.resnet.port_names`). Both depths
have 1 + 2 * 8 = 17 ports. The head's LIF (ResNet-19's FC) is not a port: a backward connection
needs feature maps to interpolate.

**Global backward connections** (BCNAS-SNN eq. 6): ``back j -> i @d`` (``j >= i``, the genome
requires ``d >= 1``; the paper's is 1) adds to the input current of LIF layer ``i`` at step ``t``::

    I_i[t] += BN(conv1x1(up(S_j[t - d])))       up: nearest interpolation to layer i's resolution

and becomes the chain ``S_j -@d-> {r}.back{j}_{i}.up -> .conv -> .bn -> S_i`` (``.up`` only where
the resolutions differ; ``_d{d}`` is added to the name for ``d != 1``). The edge out of LIF ``j``
carries the delay and has kind ``backward``; the rest of the chain is zero-delay and forward. Why
there: the delay applies to the source's output, ``S_j[t - d]``, exactly as eq. 6 writes it (and as
the backward edges of STTS stages and SNASNet cells delay their source node's output), and the
chain is an ordinary feed-forward path that the passes fold (the BN into its conv) and the energy
report counts as accumulates on spikes.
Consequence, tested: at ``t < d`` the chain reads silent spikes, so the connection adds its
constant ``BN(conv(0))`` (the BN shift; 0 at initialisation) rather than nothing, as a
step-by-step implementation with a zero-initialised buffer of layer ``j``'s last spikes does.

**Supernets** (BCNAS-SNN section 4.2.3): ``back j -> i @d choice`` makes the connection optional:
the chain ends in ``{p}.choice``, a ``Choice`` with ``k = 1`` and ``optional``, before LIF ``i``,
so it chooses whether the connection's current is added. The trainer's assignment (port 0: the
connection; -1: none) selects the architecture per batch, the torch backend then skips the whole
chain when it is left out, and ``resolve-choices`` makes one candidate a plain graph.

The nearest interpolation needs layer ``i``'s resolution to be an integer multiple of layer ``j``'s,
the same factor for H and W (true for inputs whose size the strides divide, e.g. 32x32).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..genome.ast import Block, Edge
from ..genome.resnet import DEPTHS
from ..ir.graph import BACKWARD
from .builder import Builder, fail


@dataclass(frozen=True)
class Port:
    """One LIF layer of a ResNet block: its node, index, and output shape ``(C, H, W)``."""

    index: int
    node: str
    shape: tuple[int, int, int]


def _conv_size(size: int, stride: int) -> int:
    return (size + 2 - 3) // stride + 1  # 3x3, padding 1


def lower_resnet(b: Builder, block: Block, name: str) -> None:
    """Append ResNet block ``block`` (named ``name``) after ``b.exit``; the cursor moves to its last
    LIF layer. ``[C_in, H, W] -> [W_last, H', W']`` spikes (module docstring).

    Raises:
        LoweringError: a depth other than 18 or 19, channels < 1, a non-image input, a port out
            of range, or a backward connection whose resolutions are not an integer ratio.
    """
    depth, width = block.get("depth"), block.get("channels")
    if depth not in DEPTHS:
        raise fail(block, f"depth {depth!r} is not lowered; expected one of "
                          f"{', '.join(map(str, DEPTHS))} (the CIFAR ResNet-18 and ResNet-19)")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise fail(block, f"channels must be an integer >= 1, got {width!r}")
    if len(b.shape) != 3:
        raise fail(block, f"a resnet needs a (C, H, W) input, got shape {b.shape}")
    ports = _backbone(b, block, name, depth, width)
    for e in block.edges:
        _backward(b, block, name, e, ports)
    b.exit, b.shape = ports[-1].node, ports[-1].shape


def _backbone(b: Builder, block: Block, name: str, depth: int, width: int) -> list[Port]:
    """Stem and basic blocks; returns the ports in forward order."""
    loc = block.loc
    c_in, h, w = b.shape
    ports: list[Port] = []

    def lif(node: str, shape) -> str:
        b.lif(node, block)
        ports.append(Port(len(ports), node, shape))
        return node

    conv = b.conv(f"{name}.stem.conv", c_in, width, 3, bias=False, loc=loc)
    bn = b.batchnorm(f"{name}.stem.bn", width, loc=loc)
    x = lif(f"{name}.stem.lif", (width, h, w))
    b.chain(b.exit, conv, bn, x)
    c = width
    blocks, strides, mults = DEPTHS[depth]
    for s, (n, stride0, mult) in enumerate(zip(blocks, strides, mults), start=1):
        c_out = width * mult
        for k in range(n):
            stride = stride0 if k == 0 else 1
            p = f"{name}.s{s}.b{k}"
            h, w = _conv_size(h, stride), _conv_size(w, stride)
            conv1 = b.conv(f"{p}.conv1", c, c_out, 3, stride=stride, bias=False, loc=loc)
            bn1 = b.batchnorm(f"{p}.bn1", c_out, loc=loc)
            lif1 = lif(f"{p}.lif1", (c_out, h, w))
            conv2 = b.conv(f"{p}.conv2", c_out, c_out, 3, bias=False, loc=loc)
            bn2 = b.batchnorm(f"{p}.bn2", c_out, loc=loc)
            lif2 = lif(f"{p}.lif2", (c_out, h, w))
            b.chain(x, conv1, bn1, lif1, conv2, bn2, lif2)
            if stride != 1 or c != c_out:  # projection shortcut (option B)
                down = b.conv(f"{p}.down.conv", c, c_out, 1, stride=stride, bias=False, loc=loc)
                down_bn = b.batchnorm(f"{p}.down.bn", c_out, loc=loc)
                b.chain(x, down, down_bn, lif2)
            else:
                b.edge(x, lif2)
            x, c = lif2, c_out
    return ports


def _backward(b: Builder, block: Block, name: str, e: Edge, ports: list[Port]) -> None:
    """One global backward connection ``back j -> i @d`` (BCNAS-SNN eq. 6)."""
    label = f"back {e.src} -> {e.dst} @{e.delay}"
    for port in (e.src, e.dst):
        if not 0 <= port < len(ports):
            raise fail(block, f"{label}: port {port} is out of range 0..{len(ports) - 1} (a "
                              f"depth-{block.get('depth')} resnet has {len(ports)} LIF layers)",
                       e.loc)
    if not e.backward or e.src < e.dst or e.delay < 1:
        raise fail(block, f"{label}: a resnet edge is a backward connection from a later (or the "
                          f"same) LIF layer to an earlier one with delay >= 1", e.loc)
    if e.op not in (None, "choice"):
        raise fail(block, f"{label}: backward connections carry no operation (got {e.op!r}); "
                          f"theirs is fixed: upsample, 1x1 conv, BN", e.loc)
    src, dst = ports[e.src], ports[e.dst]
    (c_j, h_j, w_j), (c_i, h_i, w_i) = src.shape, dst.shape
    scale = h_i // h_j
    if h_i % h_j or w_i % w_j or w_i // w_j != scale:
        raise fail(block, f"{label}: nearest interpolation from {h_j}x{w_j} (port {e.src}) to "
                          f"{h_i}x{w_i} (port {e.dst}) needs one integer factor for H and W; "
                          f"choose an input size the strides divide", e.loc)
    p = f"{name}.back{e.src}_{e.dst}" + (f"_d{e.delay}" if e.delay != 1 else "")
    loc = e.loc or block.loc
    chain = []
    if scale > 1:
        chain.append(b.node(f"{p}.up", "Upsample", {"scale": scale}, loc=loc))
    chain.append(b.conv(f"{p}.conv", c_j, c_i, 1, bias=False, loc=loc))
    chain.append(b.batchnorm(f"{p}.bn", c_i, loc=loc))
    if e.op == "choice":  # last, so that leaving it out leaves the whole chain unused
        chain.append(b.node(f"{p}.choice", "Choice", {"k": 1, "optional": True}, loc=loc))
    b.edge(src.node, chain[0], e.delay, BACKWARD)
    b.chain(*chain, dst.node)
