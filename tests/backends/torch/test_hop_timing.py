"""The torch backend in hardware timing: on hop-timed graphs (long recurrent loops, every neuron
model) it equals the reference interpreter, multi-step and step by step (float64, eval mode)."""
import pytest
import torch

from snnc.backends.torch import compile
from snnc.ir import run
from snnc.ir.ops import NEURON_OPS
from snnc.passes import HopTiming
from snnc.testing.loops import random_loops
from snnc.testing.random_graph import random_input

from .test_module import assert_matches_trace, probed


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("mode", ["multi", "step"])
def test_hop_timed_graphs_match_interpreter(seed, mode):
    res = HopTiming()(random_loops(seed, neurons=NEURON_OPS))
    g = res.graph
    x = random_input(g, seed=40_000 + seed, batch=2)
    m = compile(g, dtype=torch.float64, mode=mode).eval()
    assert_matches_trace(g, *probed(m, x), run(g, x))
