"""Check that deploy folding preserves what the network computes, on the example genome.

Both graphs (training form and deploy-folded form) run in the float64 reference interpreter on the
same random images; spikes of every surviving neuron must match exactly and outputs to rounding.
Channels are divided by 16 so the interpreter runs in seconds.
"""
import dataclasses
import sys
from pathlib import Path

import numpy as np

from snnc.compiler import compile_genome
from snnc.genome import parse
from snnc.ir import run

genome = parse(Path(__file__).with_name("tanet-tiny.genome").read_text(), filename="tanet-tiny.genome")
narrow = dataclasses.replace(genome, blocks=tuple(
    dataclasses.replace(b, attrs=tuple((k, max(2, v // 16) if k == "channels" and v else v)
                                       for k, v in b.attrs)) for b in genome.blocks))
plain = compile_genome(narrow, passes="none", seed=1).graph
folded = compile_genome(narrow, passes="deploy", seed=1).graph
x = np.random.default_rng(0).normal(size=(4,) + tuple(genome.input_shape))
a, b = run(plain, x), run(folded, x)
neurons = [n.name for n in folded.nodes_of("LIF")]
same = sum(np.array_equal(a.outputs[n], b.outputs[n]) for n in neurons)
err = float(np.max(np.abs(a.output - b.output)))
rate = float(np.mean([a.outputs[n].mean() for n in neurons]))
print(f"nodes {len(plain)} -> {len(folded)}; neurons with identical spikes: {same}/{len(neurons)}; "
      f"mean firing rate {rate:.3f}; max |output difference| {err:.2e}")
sys.exit(0 if same == len(neurons) and err < 1e-9 else 1)
