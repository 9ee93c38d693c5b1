"""Small feed-forward graphs for the netx export tests (shared with the Lava-side tests).

``dyadic=True`` draws every weight, bias and threshold as a multiple of 1/16 and leaks that are
multiples of 1/4: Loihi's integers then represent them exactly (``exact`` export), so the integer
model and Lava must reproduce the reference interpreter's spikes element by element.
"""
from __future__ import annotations

import numpy as np

from snnc.ir import Graph, verify


def _q(a, dyadic):
    return np.round(a * 16) / 16 if dyadic else a


def conv_chain(seed=0, dyadic=True, T=5) -> Graph:
    """Input (2, 8, 8) -> Conv 3x3 (+b) -> LIF -> AvgPool 2/2 -> Conv 3x3 (+b) -> LIF -> GAP
    -> Linear (+b) -> Output."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "netx-conv", "T": T})
    g.add_node("in", "Input", {"shape": (2, 8, 8)})
    g.add_node("c1", "Conv2d", {"in_channels": 2, "out_channels": 4, "kernel": 3, "padding": 1,
                                "bias": True},
               {"weight": _q(rng.normal(0, 0.6, (4, 2, 3, 3)), dyadic),
                "bias": _q(rng.normal(0, 0.1, 4), dyadic)})
    g.add_node("l1", "LIF", {"beta": 0.5, "v_th": 0.5})
    g.add_node("pool", "AvgPool2d", {"kernel": 2, "stride": 2})
    g.add_node("c2", "Conv2d", {"in_channels": 4, "out_channels": 6, "kernel": 3, "padding": 1,
                                "bias": True},
               {"weight": _q(rng.normal(0, 1.0, (6, 4, 3, 3)), dyadic),
                "bias": _q(rng.normal(0, 0.1, 6), dyadic)})
    g.add_node("l2", "LIF", {"beta": 0.75, "alpha": 0.5, "v_th": 0.25})
    g.add_node("gap", "GlobalAvgPool")
    g.add_node("fc", "Linear", {"in_features": 6, "out_features": 3, "bias": True},
               {"weight": _q(rng.normal(0, 1, (3, 6)), dyadic),
                "bias": _q(rng.normal(0, 0.1, 3), dyadic)})
    g.add_node("out", "Output")
    for a, b in [("in", "c1"), ("c1", "l1"), ("l1", "pool"), ("pool", "c2"), ("c2", "l2"),
                 ("l2", "gap"), ("gap", "fc"), ("fc", "out")]:
        g.add_edge(a, b)
    return verify(g)


def mlp_delay(seed=0, dyadic=True, T=6) -> Graph:
    """Input (12,) -> Linear (+b) -> LIF -@2-> Linear (no bias) -> LIF -> Linear -> Vote ->
    Output: a dense chain with a synaptic delay of 2 steps on the second block."""
    rng = np.random.default_rng(seed)
    g = Graph({"name": "netx-mlp", "T": T})
    g.add_node("in", "Input", {"shape": (12,)})
    g.add_node("fc1", "Linear", {"in_features": 12, "out_features": 10, "bias": True},
               {"weight": _q(rng.normal(0, 0.8, (10, 12)), dyadic),
                "bias": _q(rng.normal(0, 0.1, 10), dyadic)})
    g.add_node("l1", "LIF", {"beta": 0.5, "v_th": 0.5})
    g.add_node("fc2", "Linear", {"in_features": 10, "out_features": 8, "bias": False},
               {"weight": _q(rng.normal(0, 0.8, (8, 10)), dyadic)})
    g.add_node("l2", "LIF", {"beta": 1.0, "v_th": 0.75})
    g.add_node("fc3", "Linear", {"in_features": 8, "out_features": 6, "bias": True},
               {"weight": _q(rng.normal(0, 1, (6, 8)), dyadic),
                "bias": _q(rng.normal(0, 0.1, 6), dyadic)})
    g.add_node("vote", "Vote", {"classes": 3})
    g.add_node("out", "Output")
    for a, b in [("in", "fc1"), ("fc1", "l1"), ("fc2", "l2"), ("l2", "fc3"), ("fc3", "vote"),
                 ("vote", "out")]:
        g.add_edge(a, b)
    g.add_edge("l1", "fc2", delay=2)
    return verify(g)


def pixels(shape, B=3, seed=1) -> np.ndarray:
    """``[B, *shape]`` intensities on the 8-bit grid ``k / 255``."""
    return np.random.default_rng(seed).integers(0, 256, (B,) + tuple(shape)) / 255.0
