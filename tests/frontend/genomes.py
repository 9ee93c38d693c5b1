"""Small genomes for frontend tests (shapes kept tiny so interpreting them is fast)."""
from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np

from snnc.frontend import lower
from snnc.genome import parse
from snnc.genome.ast import Block, Genome

HEADER = """snnc-genome 1
name "{name}"
T {T}
input {input}
classes {classes}
neuron lif tau=3 decay_input=false v_th=1 reset=hard
surrogate atan alpha=2
"""

#: Encoding layer, one node stage, a separable graph stage with delays and a backward edge, and a
#: voting classifier. Stage s3: input nodes 0, 5; output nodes 3, 4, 5.
DEMO = HEADER.format(name="demo", T=3, input="3x8x8", classes=4) + """\
stage s1 node channels=4 stride=1 spiking=false
stage s2 node channels=4
stage s3 graph nodes=6 channels=8 stride=2 conv=separable {
  0 -> 1
  0 -> 2
  0 -> 3 @1
  1 -> 3
  2 -> 4 @1
  back 4 -> 1 @1
  neuron lif tau=2
}
classifier head channels=16 dropout=0.2 vote=3
"""


def genome(text: str = DEMO) -> Genome:
    return parse(text)


def lowered(text: str = DEMO, seed: int = 0):
    return lower(parse(text), seed=seed)


def with_block(g: Genome, index: int, **changes) -> Genome:
    """``g`` with block ``index`` changed: ``attrs={...}`` updates attributes, others replace."""
    blocks = list(g.blocks)
    b = blocks[index]
    if "attrs" in changes:
        attrs = dict(b.attrs)
        attrs.update(changes.pop("attrs"))
        changes["attrs"] = tuple(attrs.items())
    blocks[index] = dataclasses.replace(b, **changes)
    return dataclasses.replace(g, blocks=tuple(blocks))


def insert_block(g: Genome, index: int, block: Block) -> Genome:
    blocks = list(g.blocks)
    blocks.insert(index, block)
    return dataclasses.replace(g, blocks=tuple(blocks))


def random_stage_text(nodes: int = 32, m: int = 4, p_delay: float = 0.25, back: int = 4,
                      seed: int = 15) -> tuple[str, int]:
    """A TANet-like graph stage: Barabasi-Albert topology (edges from lower to higher node id),
    each edge delayed by one step with probability ``p_delay``, plus ``back`` backward edges.
    Returns the stage text and its number of edges."""
    rng = np.random.default_rng(seed)
    ba = nx.barabasi_albert_graph(nodes, m, seed=seed)
    lines = [f"  {min(u, v)} -> {max(u, v)}" + (" @1" if rng.random() < p_delay else "")
             for u, v in sorted(ba.edges)]
    for _ in range(back):
        lo, hi = sorted(rng.choice(np.arange(m + 1, nodes), size=2, replace=False))
        lines.append(f"  back {hi} -> {lo} @1")
    lines = sorted(set(lines))
    body = "\n".join(lines)
    return (f"stage s1 graph nodes={nodes} channels=4 stride=1 {{\n{body}\n}}\n", len(lines))

#: The example of the genome syntax (TANet-Tiny-like, 32x32 input). As written, ``back 9 -> 3``
#: enters node 3, an input node (no forward edge into it), whose input is the stage input.
EXAMPLE = """snnc-genome 1
name "demo"
T 4
input 3x32x32
classes 10
neuron lif tau=3 decay_input=false v_th=1 reset=hard
surrogate atan alpha=2
stage s1 node channels=96 stride=1 spiking=false   # encoding layer: conv-BN on the analog input
stage s2 node channels=96                           # SN -> conv -> BN (stride default 1)
stage s3 graph nodes=32 channels=192 stride=2 conv=separable {
  0 -> 4
  0 -> 7 @1        # synaptic delay 1
  back 9 -> 3 @1   # backward edge, delay >= 1
  neuron lif tau=2 # per-block neuron override
}
classifier head channels=1280 dropout=0.2 vote=0
"""
