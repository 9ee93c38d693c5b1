"""The classifier block (STTS section 5.1; REFERENCE-NOTES, TANet CIFAR skeleton) -> IR.

``classifier head channels=1280 pool=gap dropout=0.2 hidden=0 vote=0`` becomes::

    head.lif                                   SN between the last stage and the classifier
    [-> head.conv 1x1 -> head.bn -> head.lif2] the conv-BN-SN triplet, when channels > 0
    -> head.pool                               GlobalAvgPool [C, H, W] -> [C]
    [-> head.dropout]                          Dropout(p), when dropout > 0
    [-> head.hidden -> head.hidden_lif]        Linear C -> hidden and its SN, when hidden > 0
                                               (ResNet-19's 256-d FC, Zheng et al. 2021)
    -> head.fc                                 Linear C (or hidden) -> classes (or classes * vote)
    [-> head.vote]                             Vote: mean of each class's population, vote > 0
    -> output                                  Output [classes] per step: [T, B, classes]

The neurons are the block's model (any of LIF, IF, ALIF, PLIF, ReLU; named ``.lif`` whatever the
model). The prefix is the block's name (``head`` when unnamed). A vector input ``[F]`` (no stages)
skips the pool and allows no conv. When the previous block already ends with spikes (a ``resnet``
block ends with its last LIF layer), ``head.lif`` is left out: a second neuron would only
re-threshold binary spikes.
"""
from __future__ import annotations

from ..genome.ast import Block
from ..ir.ops import OPS
from .builder import Builder, fail


def lower_classifier(b: Builder, block: Block, name: str) -> None:
    """Append the classifier after ``b.exit`` and end the graph with the ``output`` node.

    Raises:
        LoweringError: a pool other than ``gap``, negative channels, hidden or vote, dropout outside
            [0, 1), or a conv asked for on a vector input.
    """
    channels = block.get("channels", 0)
    pool = block.get("pool", "gap")
    dropout = block.get("dropout", 0)
    hidden = block.get("hidden", 0)
    vote = block.get("vote", 0)
    classes = b.genome.classes
    for key, value in (("channels", channels), ("hidden", hidden), ("vote", vote)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise fail(block, f"{key} must be an integer >= 0, got {value!r}")
    if pool != "gap":
        raise fail(block, f"pool {pool!r} is not lowered yet; expected gap")
    if not 0 <= float(dropout) < 1:
        raise fail(block, f"dropout must be in [0, 1), got {dropout!r}")
    loc = block.loc
    spiking_input = OPS[b.graph.nodes[b.exit].op].spiking
    names = [] if spiking_input else [b.neuron(f"{name}.lif", block)]
    width = b.shape[0]
    if channels:
        if len(b.shape) != 3:
            raise fail(block, f"channels={channels} needs a (C, H, W) input, got {b.shape}")
        names += [b.conv(f"{name}.conv", width, channels, 1, loc=loc),
                  b.batchnorm(f"{name}.bn", channels, loc=loc),
                  b.neuron(f"{name}.lif2", block)]
        width = channels
    if len(b.shape) == 3:
        names.append(b.node(f"{name}.pool", "GlobalAvgPool", loc=loc))
    if float(dropout) > 0:
        names.append(b.node(f"{name}.dropout", "Dropout", {"p": float(dropout)}, loc=loc))
    if hidden:
        names += [b.linear(f"{name}.hidden", width, hidden, loc=loc),
                  b.lif(f"{name}.hidden_lif", block)]
        width = hidden
    names.append(b.linear(f"{name}.fc", width, classes * vote if vote else classes, loc=loc))
    if vote:
        names.append(b.node(f"{name}.vote", "Vote", {"classes": classes}, loc=loc))
    names.append(b.node("output", "Output", loc=loc))
    b.edge(b.exit, names[0])
    b.chain(*names)
    b.exit, b.shape = "output", (classes,)
